// The SQLite store's bundles domain (store/bundles.hpp): a device's last imported bundle is a
// meta entry (rules::bundleMarkKey), so this domain adds no table.
#include "sqlite_bundles.hpp"

#include <mutex>

#include <veld/sqlite.hpp>

#include "../store_rules.hpp"

namespace veld::sync::sqlite {

Result<std::optional<BundleDevice>> SqliteBundles::bundleDevice(const Uuid& deviceId) {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        "SELECT public_key, revoked_utc_ms, received_through FROM devices WHERE device_id = ?");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(deviceId));
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return std::optional<BundleDevice>();
    BundleDevice out;
    const auto key = st->columnBlob(0);
    out.publicKey.assign(key.begin(), key.end());
    out.revoked = !st->columnIsNull(1);
    out.receivedThrough = static_cast<std::uint64_t>(st->columnInt(2));
    st->reset();
    auto mark = metaText(m_ctx, rules::bundleMarkKey(deviceId).c_str());
    if (!mark) return mark.error();
    if (!mark->empty()) {
        auto parsed = rules::parseBundleMark(mark.value());
        if (!parsed) return parsed.error();
        out.last = std::move(parsed.value());
    }
    return std::optional<BundleDevice>(std::move(out));
}

Status SqliteBundles::markBundle(const Uuid& deviceId, const BundleMark& mark, std::int64_t nowMs,
                                 const std::string& actor, const std::string& action,
                                 const std::string& detail) {
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO "
        "UPDATE SET value = excluded.value");
    if (!st) return st.error();
    st->bind(1, rules::bundleMarkKey(deviceId)).bind(2, rules::bundleMarkText(mark));
    if (auto s = st->run(); !s) return s;
    if (auto s = auditLocked(m_ctx, nowMs, actor, action, deviceId.toString(), detail); !s)
        return s;
    return tx->commit();
}

}  // namespace veld::sync::sqlite
