// What the SQLite store's domains share: the meta table, counters, the audit log, device facts.
#include <algorithm>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

std::span<const std::uint8_t> idBytes(const Uuid& id) {
    return {id.bytes.data(), id.bytes.size()};
}

Uuid idFrom(std::span<const std::uint8_t> blob) {
    Uuid id;
    if (blob.size() == 16) std::copy(blob.begin(), blob.end(), id.bytes.begin());
    return id;
}

Result<std::string> metaText(SqliteContext& ctx, const char* key) {
    auto st = ctx.db.prepare("SELECT value FROM meta WHERE key = ?");
    if (!st) return st.error();
    st->bind(1, std::string_view(key));
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return std::string();
    return std::string(st->columnText(0));
}

Status auditLocked(SqliteContext& ctx, std::int64_t nowMs, std::string_view actor,
                   std::string_view action, std::string_view subject, std::string_view detail) {
    auto st = ctx.db.prepare(
        "INSERT INTO audit (utc_ms, actor, action, subject, "
        "detail) VALUES (?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, nowMs).bind(2, actor).bind(3, action).bind(4, subject).bind(5, detail);
    return st->run();
}

Result<std::uint64_t> nextCounter(SqliteContext& ctx, std::string_view key) {
    auto st = ctx.db.prepare(
        "INSERT INTO meta (key, value) VALUES (?1, 1) ON "
        "CONFLICT (key) DO UPDATE SET value = "
        "value + 1 RETURNING value");
    if (!st) return st.error();
    st->bind(1, key);
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::Internal, "a counter gave no number");
    return static_cast<std::uint64_t>(st->columnInt(0));
}

Result<std::uint64_t> counterValue(SqliteContext& ctx, std::string_view key) {
    auto st = ctx.db.prepare("SELECT value FROM meta WHERE key = ?");
    if (!st) return st.error();
    st->bind(1, key);
    auto row = st->step();
    if (!row) return row.error();
    return row.value() ? static_cast<std::uint64_t>(st->columnInt(0)) : 0;
}

Result<DeviceFacts> deviceFacts(SqliteContext& ctx, const Uuid& deviceId) {
    auto st =
        ctx.db.prepare("SELECT team, box_key, revoked_utc_ms FROM devices WHERE device_id = ?");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(deviceId));
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "no device with that id");
    DeviceFacts out;
    out.team = std::string(st->columnText(0));
    const auto key = st->columnBlob(1);
    if (key.size() == alloc::kBoxKeyBytes) {
        out.boxKey.emplace();
        std::copy(key.begin(), key.end(), out.boxKey->begin());
    }
    out.revoked = !st->columnIsNull(2);
    return out;
}

}  // namespace veld::sync::sqlite
