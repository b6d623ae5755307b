// Internal to the PostgreSQL backend: the records domain (see veld/sync/store/records.hpp).
#pragma once

#include <veld/sync/store/records.hpp>

#include "pg_collector.hpp"

namespace veld::sync::postgres {

class PgRecords : public virtual RecordStore {
  public:
    explicit PgRecords(PgContext& context) : m_ctx(context) {}

    Result<PushReply> push(const Uuid& deviceId, const PushBatch& batch,
                           std::int64_t nowMs) override;
    Result<PullReply> pull(const Uuid& deviceId, const PullRequest& request, std::size_t maxForms,
                           std::int64_t nowMs) override;
    Result<bool> publish(const std::vector<std::uint8_t>& binary, std::int64_t nowMs,
                         const std::string& actor) override;
    void observeCommits(std::function<void(std::size_t revisions)> observer) override;
    Result<CollectorStats> stats() override;
    Result<std::vector<DayCount>> recordsPerDay() override;
    Result<std::vector<StoredRevision>> revisionsOf(const Uuid& recordId) override;
    Result<std::vector<Uuid>> recordIds() override;
    Result<std::optional<StoredRevision>> current(const Uuid& recordId) override;
    Result<std::vector<ConflictInfo>> conflicts() override;
    Result<StoredRevision> resolveConflict(std::int64_t conflictId,
                                           const ConflictResolution& resolution, std::int64_t nowMs,
                                           const std::string& actor) override;

  private:
    PgContext& m_ctx;
};

}  // namespace veld::sync::postgres
