// Internal to the SQLite store: see sqlite_collector.hpp.
#pragma once

#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

class SqliteRecords : public virtual RecordStore {
  public:
    explicit SqliteRecords(SqliteContext& ctx) : m_ctx(ctx) {}

    Result<PullReply> pull(const Uuid& deviceId, const PullRequest& request, std::size_t maxForms,
                           std::int64_t nowMs) override;
    Result<bool> publish(const std::vector<std::uint8_t>& binary, std::int64_t nowMs,
                         const std::string& actor) override;
    Result<CollectorStats> stats() override;
    Result<std::vector<DayCount>> recordsPerDay() override;
    Result<std::vector<StoredRevision>> revisionsOf(const Uuid& recordId) override;
    Status visitChain(const Uuid& deviceId,
                      const std::function<Status(const ChainEntry&)>& visit) override;
    Result<std::vector<Uuid>> recordIds() override;
    Result<std::optional<StoredRevision>> current(const Uuid& recordId) override;
    Result<std::vector<ConflictInfo>> conflicts() override;
    Result<StoredRevision> resolveConflict(std::int64_t conflictId,
                                           const ConflictResolution& resolution, std::int64_t nowMs,
                                           const std::string& actor) override;
    Result<PushReply> push(const Uuid& deviceId, const PushBatch& batch,
                           std::int64_t nowMs) override;
    void observeCommits(std::function<void(std::size_t)> observer) override;

  private:
    SqliteContext& m_ctx;
};

// The collector's own device, under which staff's resolutions are stored: made on first use,
// never able to authenticate (its credential hash matches no credential) and revoked from
// the start. Returns its id and the last sequence number it used.
Result<std::pair<Uuid, std::uint64_t>> staffDevice(SqliteContext& ctx, std::int64_t nowMs);

// Stores a revision and updates the record's current view and conflicts; for a device's
// revision (not staff's, whose case changes and allocation are copies of a device's), also
// applies its case change and stores its allocation, in the same transaction.
Status storeRevision(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev,
                     std::int64_t nowMs, bool fromDevice = true);

}  // namespace veld::sync::sqlite
