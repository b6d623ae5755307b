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

/// Every published form, oldest publication first, read on `c`.
Result<std::vector<PublishedFormInfo>> readPublishedForms(pg::Connection& c);

}  // namespace veld::sync::postgres
