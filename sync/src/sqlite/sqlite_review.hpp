// Internal to the SQLite store: see sqlite_collector.hpp.
#pragma once

#include <veld/sync/collector_store.hpp>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

class SqliteReview : public virtual ReviewStore {
  public:
    explicit SqliteReview(SqliteContext& ctx) : m_ctx(ctx) {}

    Result<std::vector<DuplicateGroup>> duplicates() override;
    Status decideDuplicate(const std::string& groupKey, DuplicateDecision decision,
                           const std::string& comment, std::int64_t nowMs,
                           const std::string& actor) override;
    Status setReview(const Uuid& recordId, ReviewState state, const std::string& comment,
                     std::int64_t nowMs, const std::string& actor) override;
    Result<RecordReview> review(const Uuid& recordId) override;
    Result<std::optional<CorrectionInfo>> correction(const Uuid& recordId) override;
    Result<std::vector<Uuid>> recordsInReview(ReviewState state) override;
    Result<ReviewQueue> reviewQueue(ReviewState state, int limit,
                                    const std::string& formId) override;

  private:
    SqliteContext& m_ctx;
};

}  // namespace veld::sync::sqlite
