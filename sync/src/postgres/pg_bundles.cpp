// The PostgreSQL backend's bundles domain (store/bundles.hpp): a device's last imported bundle is
// a meta entry (rules::bundleMarkKey), as in the SQLite store.
#include "pg_bundles.hpp"

#include "../store_rules.hpp"

namespace veld::sync::postgres {

Result<std::optional<BundleDevice>> PgBundles::bundleDevice(const Uuid& deviceId) {
    std::optional<BundleDevice> out;
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        out.reset();
        auto rows = c.query(
            "SELECT public_key, revoked_utc_ms, received_through, "
            "(SELECT value FROM meta WHERE key = $2) FROM devices WHERE device_id = $1",
            pg::Params().add(deviceId).add(rules::bundleMarkKey(deviceId)), "reading the device");
        if (!rows) return rows.error();
        if (rows->empty()) return {};
        BundleDevice d;
        const auto key = rows->bytes(0, 0);
        d.publicKey.assign(key.begin(), key.end());
        d.revoked = !rows->isNull(0, 1);
        d.receivedThrough = static_cast<std::uint64_t>(rows->integer(0, 2));
        if (!rows->isNull(0, 3)) {
            auto mark = rules::parseBundleMark(rows->text(0, 3));
            if (!mark) return mark.error();
            d.last = std::move(mark.value());
        }
        out = std::move(d);
        return {};
    });
    if (!done) return done.error();
    return out;
}

Status PgBundles::markBundle(const Uuid& deviceId, const BundleMark& mark, std::int64_t nowMs,
                             const std::string& actor, const std::string& action,
                             const std::string& detail) {
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        if (auto s = c.run(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO "
                "UPDATE SET value = excluded.value",
                pg::Params().add(rules::bundleMarkKey(deviceId)).add(rules::bundleMarkText(mark)),
                "keeping the device's last bundle");
            !s)
            return s;
        return postgres::audit(c, nowMs, actor, action, deviceId.toString(), detail);
    });
}

}  // namespace veld::sync::postgres
