// The SQLite store as a source of exports: published forms and current records read in one read
// transaction (ExportSource).
#include "sqlite_exports.hpp"

#include <algorithm>
#include <mutex>

#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "../store_rules.hpp"
#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

namespace {

Status visitRows(sql::Statement& st, CurrentRecord& rec,
                 const std::function<Status(const CurrentRecord&)>& visit);

std::string recordQueryTail(const RecordQuery& q);

void bindRecordQuery(sql::Statement& st, const RecordQuery& q);

}  // namespace

Result<std::vector<PublishedFormInfo>> SqliteExports::publishedForms() {
    return readPublishedForms(m_ctx);
}

Result<std::vector<PublishedFormInfo>> readPublishedForms(SqliteContext& ctx) {
    std::lock_guard lock(ctx.mutex);
    auto st = ctx.db.prepare("SELECT form_id, version, pilot, binary FROM forms ORDER BY pub_seq");
    if (!st) return st.error();
    std::vector<PublishedFormInfo> out;
    if (auto stepped = st->forEachRow([&] {
            PublishedFormInfo f;
            f.formId = std::string(st->columnText(0));
            f.version = static_cast<std::uint32_t>(st->columnInt(1));
            f.pilot = std::string(st->columnText(2));
            const auto bin = st->columnBlob(3);
            f.binary.assign(bin.begin(), bin.end());
            out.push_back(std::move(f));
        });
        !stepped)
        return stepped.error();
    return out;
}

Result<std::int64_t> SqliteExports::countRecords(const RecordQuery& query) {
    auto db = sql::Database::open(m_ctx.path, sql::OpenMode::ReadOnly);
    if (!db) return db.error();
    auto st = db->prepare("SELECT count(*) " + recordQueryTail(query));
    if (!st) return st.error();
    bindRecordQuery(st.value(), query);
    auto row = st->step();
    if (!row) return row.error();
    return st->columnInt(0);
}

Status SqliteExports::forEachRecord(const RecordQuery& query, int passes,
                                    const std::function<Status(int pass)>& startPass,
                                    const std::function<Status(const CurrentRecord&)>& visit) {
    auto db = sql::Database::open(m_ctx.path, sql::OpenMode::ReadOnly);
    if (!db) return db.error();
    // One read transaction: the export sees one moment of the collector, whatever arrives.
    if (auto s = db->exec("BEGIN"); !s) return s;
    auto st = db->prepare(
        "SELECT r.record_id, v.device_id, v.form_version, "
        "v.hlc, v.body, v.damaged, "
        "v.clock_flagged, coalesce(w.state, 0), v.seq, v.chain_link, (SELECT group_concat(x, "
        "char(30)) FROM (SELECT h.state || char(31) || h.utc_ms || char(31) || h.revision_hlc || "
        "char(31) || h.actor || char(31) || h.comment AS x FROM review_history h WHERE "
        "h.record_id = r.record_id ORDER BY h.hid)) " +
        recordQueryTail(query) + " ORDER BY r.record_id");
    if (!st) return st.error();
    CurrentRecord rec;
    for (int pass = 0; pass < passes; ++pass) {
        if (startPass) {
            if (auto s = startPass(pass); !s) return s;
        }
        bindRecordQuery(st.value(), query);
        if (auto s = visitRows(st.value(), rec, visit); !s) return s;
        st->reset();
    }
    return db->exec("COMMIT");
}

namespace {

Status visitRows(sql::Statement& st, CurrentRecord& rec,
                 const std::function<Status(const CurrentRecord&)>& visit) {
    for (;;) {
        auto row = st.step();
        if (!row) return row.error();
        if (!row.value()) return {};
        rec.recordId = idFrom(st.columnBlob(0));
        rec.deviceId = idFrom(st.columnBlob(1));
        rec.formVersion = static_cast<std::uint32_t>(st.columnInt(2));
        rec.hlc = HlcTimestamp{static_cast<std::uint64_t>(st.columnInt(3))};
        const auto body = st.columnBlob(4);
        rec.body.assign(body.begin(), body.end());
        rec.damaged = st.columnInt(5) != 0;
        rec.clockFlagged = st.columnInt(6) != 0;
        rec.review = static_cast<ReviewState>(st.columnInt(7));
        rec.chainSeq = static_cast<std::uint64_t>(st.columnInt(8));
        const auto link = st.columnBlob(9);
        rec.chainLink.assign(link.begin(), link.end());
        rec.reviewHistory = rules::unpackReviewHistory(st.columnText(10));
        if (auto s = visit(rec); !s) {
            st.reset();
            return s;
        }
    }
}

std::string recordQueryTail(const RecordQuery& q) {
    std::string sql =
        "FROM records r JOIN revisions v ON v.rid = r.current_rid "
        "LEFT JOIN reviews w ON w.record_id = r.record_id WHERE r.form_id = ?1";
    if (q.formVersion) sql += " AND v.form_version = ?2";
    if (q.fromUtcMs) sql += " AND r.hlc >= ?3";
    if (q.untilUtcMs) sql += " AND r.hlc < ?4";
    if (q.review) sql += " AND coalesce(w.state, 0) = ?5";
    return sql;
}

void bindRecordQuery(sql::Statement& st, const RecordQuery& q) {
    const auto hlcOf = [](std::int64_t ms) {
        return static_cast<std::int64_t>(
            HlcTimestamp::make(static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)), 0).value);
    };
    st.bind(1, q.formId);
    if (q.formVersion) st.bind(2, static_cast<std::int64_t>(*q.formVersion));
    if (q.fromUtcMs) st.bind(3, hlcOf(*q.fromUtcMs));
    if (q.untilUtcMs) st.bind(4, hlcOf(*q.untilUtcMs));
    if (q.review) st.bind(5, static_cast<std::int64_t>(*q.review));
}

}  // namespace

}  // namespace veld::sync::sqlite
