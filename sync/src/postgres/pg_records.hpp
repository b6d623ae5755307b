// Internal to the PostgreSQL backend: the records domain (see veld/sync/store/records.hpp).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

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
    Status visitChain(const Uuid& deviceId,
                      const std::function<Status(const ChainEntry&)>& visit) override;
    Result<std::vector<Uuid>> recordIds() override;
    Result<std::optional<StoredRevision>> current(const Uuid& recordId) override;
    Result<std::vector<ConflictInfo>> conflicts() override;
    Result<StoredRevision> resolveConflict(std::int64_t conflictId,
                                           const ConflictResolution& resolution, std::int64_t nowMs,
                                           const std::string& actor) override;

  private:
    // Pushes take turns in the order they arrive, at most kConcurrentPushes at once: the pool
    // hands out connections in no particular order, and a push that keeps losing the race
    // would wait far longer than the others.
    static constexpr int kConcurrentPushes = 8;
    void enterPush();
    void leavePush();

    PgContext& m_ctx;
    std::mutex m_pushMutex;
    std::condition_variable m_pushTurn;
    std::uint64_t m_pushTickets = 0;  // given
    std::uint64_t m_pushServing = 0;  // the next ticket to go in
    int m_pushesIn = 0;
};

}  // namespace veld::sync::postgres
