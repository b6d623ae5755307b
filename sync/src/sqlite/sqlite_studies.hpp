// Internal to the SQLite store: see sqlite_collector.hpp.
#pragma once

#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

// A study as stored, with its seed.
struct StoredStudy {
    StudyDefinition definition;
    std::int64_t createdUtcMs = 0;
};

class SqliteStudies : public virtual StudyStore {
  public:
    explicit SqliteStudies(SqliteContext& ctx) : m_ctx(ctx) {}

    Result<bool> defineStudy(const StudyDefinition& definition, std::int64_t nowMs,
                             const std::string& actor) override;
    Result<std::vector<StudySummary>> studies() override;
    Result<std::array<std::uint8_t, alloc::kSeedBytes>> studySeed(
        const std::string& study, std::int64_t nowMs, const std::string& actor) override;
    Result<std::vector<DealtBlock>> allocateBlocks(const std::string& study, const Uuid& deviceId,
                                                   std::uint32_t blocksPerStratum,
                                                   std::int64_t nowMs,
                                                   const std::string& actor) override;
    Result<std::vector<AllocationRow>> allocationLog(const std::string& study) override;
    Result<StudyBalance> balance(const std::string& study) override;
    Result<StudyVerification> verifyAllocations(const std::string& study) override;

  private:
    SqliteContext& m_ctx;
};

Status storeAllocation(SqliteContext& ctx, const Uuid& deviceId, const Uuid& caseId,
                       const Uuid& recordId, const Allocation& a, std::int64_t rid,
                       std::int64_t nowMs);

// The randomisation part of a pull: the studies, then (once the device has said its box key) tops
// the device up and adds the blocks dealt to it after its allocation cursor, each slot sealed to
// its box key.
Status pullStudies(SqliteContext& ctx, const Uuid& deviceId, const DeviceFacts& facts,
                   const PullRequest& request, std::int64_t nowMs, PullReply& reply);

}  // namespace veld::sync::sqlite
