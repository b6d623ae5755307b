// Internal to the PostgreSQL backend: the bundles domain. See store/bundles.hpp for the contract.
#pragma once

#include <veld/sync/store/bundles.hpp>

#include "pg_collector.hpp"

namespace veld::sync::postgres {

class PgBundles : public virtual BundleLedger {
  public:
    explicit PgBundles(PgContext& context) : m_ctx(context) {}

    Result<std::optional<BundleDevice>> bundleDevice(const Uuid& deviceId) override;
    Status markBundle(const Uuid& deviceId, const BundleMark& mark, std::int64_t nowMs,
                      const std::string& actor, const std::string& action,
                      const std::string& detail) override;

  private:
    PgContext& m_ctx;
};

}  // namespace veld::sync::postgres
