// Internal to the SQLite store: see sqlite_collector.hpp and store/bundles.hpp.
#pragma once

#include <veld/sync/store/bundles.hpp>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

class SqliteBundles : public virtual BundleLedger {
  public:
    explicit SqliteBundles(SqliteContext& ctx) : m_ctx(ctx) {}

    Result<std::optional<BundleDevice>> bundleDevice(const Uuid& deviceId) override;
    Status markBundle(const Uuid& deviceId, const BundleMark& mark, std::int64_t nowMs,
                      const std::string& actor, const std::string& action,
                      const std::string& detail) override;

  private:
    SqliteContext& m_ctx;
};

}  // namespace veld::sync::sqlite
