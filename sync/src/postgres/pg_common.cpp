// Helpers every domain of the PostgreSQL backend uses inside its transactions (pg_collector.hpp).
#include "pg_collector.hpp"

namespace veld::sync::postgres {

Status withConnection(PgContext& ctx, const std::function<Status(pg::Connection&)>& body) {
    for (int attempt = 0;; ++attempt) {
        auto lease = ctx.pool.acquire();
        if (!lease) return lease.error();
        Status s = body(**lease);
        if (s || attempt > 0 || s.error().code != ErrorCode::Unavailable || (*lease)->healthy())
            return s;
    }
}

Status audit(pg::Connection& c, std::int64_t nowMs, std::string_view actor, std::string_view action,
             std::string_view subject, std::string_view detail) {
    return c.run(
        "INSERT INTO audit (utc_ms, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
        pg::Params().add(nowMs).add(actor).add(action).add(subject).add(detail),
        "writing the audit log");
}

Result<std::uint64_t> nextCounter(pg::Connection& c, std::string_view key, std::size_t count) {
    // One statement: the row lock it takes makes a second process wait for this transaction and
    // then count on from its number.
    auto rows = c.query(
        "INSERT INTO meta (key, value) VALUES ($1, $2::bigint::text) ON CONFLICT (key) DO UPDATE "
        "SET value = (meta.value::bigint + $2::bigint)::text RETURNING value::bigint",
        pg::Params().add(key).add(static_cast<std::int64_t>(count)), "counting");
    if (!rows) return rows.error();
    return static_cast<std::uint64_t>(rows->integer(0, 0));
}

Result<std::uint64_t> counterValue(pg::Connection& c, std::string_view key) {
    auto rows = c.query("SELECT value::bigint FROM meta WHERE key = $1", pg::Params().add(key),
                        "reading a counter");
    if (!rows) return rows.error();
    return rows->empty() ? 0 : static_cast<std::uint64_t>(rows->integer(0, 0));
}

std::string idList(pg::Params& params, const std::vector<Uuid>& ids) {
    std::string out;
    for (const auto& id : ids) {
        params.add(id);
        out += (out.empty() ? "$" : ", $") + std::to_string(params.size());
    }
    return out;
}

Result<std::string> metaText(pg::Connection& c, std::string_view key) {
    auto rows = c.query("SELECT value FROM meta WHERE key = $1", pg::Params().add(key),
                        "reading the collector's settings");
    if (!rows) return rows.error();
    return rows->empty() ? std::string() : std::string(rows->text(0, 0));
}

}  // namespace veld::sync::postgres
