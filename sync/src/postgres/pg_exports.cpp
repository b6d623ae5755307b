// The PostgreSQL backend's export source: every pass of an export reads one snapshot (a
// repeatable-read, read-only transaction on a connection of its own) and streams its rows one at
// a time, so memory stays bounded however many records there are.
#include "pg_exports.hpp"

#include <algorithm>

#include "../store_rules.hpp"

namespace veld::sync::postgres {

namespace {

// The FROM and WHERE of an export's query, its parameters added to `p`.
std::string recordQueryTail(const RecordQuery& q, pg::Params& p) {
    const auto hlcOf = [](std::int64_t ms) {
        return static_cast<std::int64_t>(
            HlcTimestamp::make(static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)), 0).value);
    };
    const auto next = [&p] { return "$" + std::to_string(p.size()); };
    p.add(q.formId);
    std::string sql =
        "FROM records r JOIN revisions v ON v.rid = r.current_rid "
        "LEFT JOIN reviews w ON w.record_id = r.record_id WHERE r.form_id = " +
        next();
    if (q.formVersion) {
        p.add(static_cast<std::int64_t>(*q.formVersion));
        sql += " AND v.form_version = " + next();
    }
    if (q.fromUtcMs) {
        p.add(hlcOf(*q.fromUtcMs));
        sql += " AND r.hlc >= " + next();
    }
    if (q.untilUtcMs) {
        p.add(hlcOf(*q.untilUtcMs));
        sql += " AND r.hlc < " + next();
    }
    if (q.review) {
        p.add(static_cast<std::int64_t>(*q.review));
        sql += " AND coalesce(w.state, 0) = " + next();
    }
    return sql;
}

}  // namespace

Result<pg::Rows> queryOnce(PgContext& ctx, std::string_view sql, const pg::Params& params,
                           std::string_view context) {
    pg::Rows out;
    auto s = withConnection(ctx, [&](pg::Connection& c) -> Status {
        auto rows = c.query(sql, params, context);
        if (!rows) return rows.error();
        out = std::move(rows.value());
        return {};
    });
    if (!s) return s.error();
    return out;
}

Result<pg::Pool::Lease> beginSnapshot(PgContext& ctx, std::string_view context) {
    for (int attempt = 0;; ++attempt) {
        auto lease = ctx.pool.acquire();
        if (!lease) return lease.error();
        // Read only: such a transaction never fails to serialize.
        auto s = (*lease.value()).exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", context);
        if (s) return std::move(lease.value());
        if (attempt > 0 || s.error().code != ErrorCode::Unavailable || (*lease.value()).healthy())
            return s.error();
    }
}

Result<std::vector<PublishedFormInfo>> readPublishedForms(pg::Connection& c) {
    auto rows = c.query("SELECT form_id, version, pilot, \"binary\" FROM forms ORDER BY pub_seq",
                        {}, "reading published forms");
    if (!rows) return rows.error();
    std::vector<PublishedFormInfo> out;
    for (int i = 0; i < rows->size(); ++i) {
        PublishedFormInfo f;
        f.formId = std::string(rows->text(i, 0));
        f.version = static_cast<std::uint32_t>(rows->integer(i, 1));
        f.pilot = std::string(rows->text(i, 2));
        const auto bin = rows->bytes(i, 3);
        f.binary.assign(bin.begin(), bin.end());
        out.push_back(std::move(f));
    }
    return out;
}

Result<std::vector<PublishedFormInfo>> PgExports::publishedForms() {
    std::vector<PublishedFormInfo> out;
    auto s = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        auto forms = readPublishedForms(c);
        if (!forms) return forms.error();
        out = std::move(forms.value());
        return {};
    });
    if (!s) return s.error();
    return out;
}

Result<std::int64_t> PgExports::countRecords(const RecordQuery& query) {
    pg::Params p;
    const std::string tail = recordQueryTail(query, p);
    auto rows = queryOnce(m_ctx, "SELECT count(*) " + tail, p, "counting records");
    if (!rows) return rows.error();
    return rows->integer(0, 0);
}

Status PgExports::forEachRecord(const RecordQuery& query, int passes,
                                const std::function<Status(int pass)>& startPass,
                                const std::function<Status(const CurrentRecord&)>& visit) {
    // One snapshot for every pass: the export sees one moment of the collector, whatever
    // arrives meanwhile.
    auto lease = beginSnapshot(m_ctx, "starting an export");
    if (!lease) return lease.error();
    pg::Connection& c = *lease.value();
    pg::Params p;
    const std::string sql =
        "SELECT r.record_id, v.device_id, v.form_version, v.hlc, v.body, v.damaged, "
        "v.clock_flagged, coalesce(w.state, 0), v.seq, v.chain_link, (SELECT string_agg(h.state "
        "|| chr(31) || h.utc_ms || chr(31) || h.revision_hlc || chr(31) || h.actor || chr(31) || "
        "h.comment, chr(30) ORDER BY h.hid) FROM review_history h WHERE h.record_id = "
        "r.record_id) " +
        recordQueryTail(query, p) + " ORDER BY r.record_id";
    CurrentRecord rec;
    const auto row = [&](const pg::Rows& r) -> Status {
        rec.recordId = r.uuid(0, 0);
        rec.deviceId = r.uuid(0, 1);
        rec.formVersion = static_cast<std::uint32_t>(r.integer(0, 2));
        rec.hlc = HlcTimestamp{static_cast<std::uint64_t>(r.integer(0, 3))};
        const auto body = r.bytes(0, 4);
        rec.body.assign(body.begin(), body.end());
        rec.damaged = r.integer(0, 5) != 0;
        rec.clockFlagged = r.integer(0, 6) != 0;
        rec.review = static_cast<ReviewState>(r.integer(0, 7));
        rec.chainSeq = static_cast<std::uint64_t>(r.integer(0, 8));
        const auto link = r.bytes(0, 9);
        rec.chainLink.assign(link.begin(), link.end());
        rec.reviewHistory = rules::unpackReviewHistory(r.text(0, 10));
        return visit(rec);
    };
    for (int pass = 0; pass < passes; ++pass) {
        if (startPass) {
            if (auto s = startPass(pass); !s) return s;  // the lease's return rolls back
        }
        if (auto s = c.stream(sql, p, row, "reading records for an export"); !s) return s;
    }
    return c.exec("COMMIT", "ending an export");
}

}  // namespace veld::sync::postgres
