// Internal to the PostgreSQL backend: the review domain (see veld/sync/store/review.hpp).
#pragma once

#include <veld/hlc.hpp>
#include <veld/sync/store/review.hpp>

#include "pg_collector.hpp"

namespace veld::sync::postgres {

class PgReview : public virtual ReviewStore {
  public:
    explicit PgReview(PgContext& context) : m_ctx(context) {}

    Status setReview(const Uuid& recordId, ReviewState state, const std::string& comment,
                     std::int64_t nowMs, const std::string& actor) override;
    Result<RecordReview> review(const Uuid& recordId) override;
    Result<std::optional<CorrectionInfo>> correction(const Uuid& recordId) override;
    Result<std::vector<Uuid>> recordsInReview(ReviewState state) override;
    Result<ReviewQueue> reviewQueue(ReviewState state, int limit,
                                    const std::string& formId) override;
    Result<std::vector<DuplicateGroup>> duplicates() override;
    Status decideDuplicate(const std::string& groupKey, DuplicateDecision decision,
                           const std::string& comment, std::int64_t nowMs,
                           const std::string& actor) override;

  private:
    PgContext& m_ctx;
};

}  // namespace veld::sync::postgres
