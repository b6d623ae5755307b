// Internal to the SQLite store: see sqlite_collector.hpp.
#pragma once

#include <veld/sync/collector_store.hpp>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

class SqliteExports : public virtual ExportSource {
  public:
    explicit SqliteExports(SqliteContext& ctx) : m_ctx(ctx) {}

    Result<std::vector<PublishedFormInfo>> publishedForms() override;
    Result<std::int64_t> countRecords(const RecordQuery& query) override;
    Status forEachRecord(const RecordQuery& query, int passes,
                         const std::function<Status(int pass)>& startPass,
                         const std::function<Status(const CurrentRecord&)>& visit) override;

  private:
    SqliteContext& m_ctx;
};

}  // namespace veld::sync::sqlite
