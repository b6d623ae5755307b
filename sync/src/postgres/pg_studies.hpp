// Internal to the PostgreSQL backend: the randomisation domain (see veld/sync/store/studies.hpp).
#pragma once

#include <veld/sync/store/studies.hpp>

#include "pg_collector.hpp"

namespace veld::sync::postgres {

class PgStudies : public virtual StudyStore {
  public:
    explicit PgStudies(PgContext& context) : m_ctx(context) {}

    Result<bool> defineStudy(const StudyDefinition& definition, std::int64_t nowMs,
                             const std::string& actor) override;
    Result<std::vector<StudySummary>> studies() override;
    Result<std::array<std::uint8_t, alloc::kSeedBytes>> studySeed(
        const std::string& study, std::int64_t nowMs, const std::string& actor) override;
    Result<std::vector<DealtBlock>> allocateBlocks(const std::string& study, const Uuid& deviceId,
                                                   std::uint32_t blocksPerStratum,
                                                   std::int64_t nowMs,
                                                   const std::string& actor) override;
    Result<StudyBalance> balance(const std::string& study) override;
    Result<StudyVerification> verifyAllocations(const std::string& study) override;
    Result<std::vector<AllocationRow>> allocationLog(const std::string& study) override;

  private:
    PgContext& m_ctx;
};

}  // namespace veld::sync::postgres
