// Internal to the PostgreSQL backend: what exports read (see veld/sync/store/exports.hpp).
#pragma once

#include <veld/sync/store/exports.hpp>

#include "pg_collector.hpp"

namespace veld::sync::postgres {

class PgExports : public virtual ExportSource {
  public:
    explicit PgExports(PgContext& context) : m_ctx(context) {}

    Result<std::vector<PublishedFormInfo>> publishedForms() override;
    Result<std::int64_t> countRecords(const RecordQuery& query) override;
    Status forEachRecord(const RecordQuery& query, int passes,
                         const std::function<Status(int pass)>& startPass,
                         const std::function<Status(const CurrentRecord&)>& visit) override;

  private:
    PgContext& m_ctx;
};

/// One statement on a pooled connection outside any explicit transaction (its own snapshot),
/// run once more on a fresh connection when a pooled one turns out to have been dropped.
Result<pg::Rows> queryOnce(PgContext& ctx, std::string_view sql, const pg::Params& params,
                           std::string_view context);

/// A pooled connection inside a REPEATABLE READ, READ ONLY transaction (one snapshot for every
/// statement on it), on a fresh connection when a pooled one turns out to have been dropped.
/// Returning the lease ends the transaction.
Result<pg::Pool::Lease> beginSnapshot(PgContext& ctx, std::string_view context);

/// Every published form, oldest publication first, read on `c`.
Result<std::vector<PublishedFormInfo>> readPublishedForms(pg::Connection& c);

}  // namespace veld::sync::postgres
