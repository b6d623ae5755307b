// The SQLite store's review: staff's review of records and decisions on likely duplicates
// (ReviewStore).
#include "sqlite_review.hpp"

#include <cassert>
#include <mutex>

#include <veld/record.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "../store_rules.hpp"
#include "sqlite_collector.hpp"
#include "sqlite_corrections.hpp"
#include "sqlite_webhooks.hpp"

namespace veld::sync::sqlite {

namespace {

// NotFound unless the collector holds the record (ctx.mutex held).
Status requireRecord(SqliteContext& ctx, const Uuid& recordId) {
    auto known = ctx.db.prepare("SELECT 1 FROM records WHERE record_id = ?");
    if (!known) return known.error();
    known->bindBlob(1, idBytes(recordId));
    auto row = known->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "no record with that id");
    return {};
}

}  // namespace

Result<std::vector<DuplicateGroup>> SqliteReview::duplicates() {
    auto forms = readPublishedForms(m_ctx);
    if (!forms) return forms.error();
    rules::DuplicateGrouping grouping(rules::identifyingQuestions(forms.value()));
    auto db = sql::Database::open(m_ctx.path, sql::OpenMode::ReadOnly);
    if (!db) return db.error();
    if (auto s = db->exec("BEGIN"); !s) return s.error();
    auto st = db->prepare(
        "SELECT r.record_id, v.form_id, v.form_version, v.body FROM records r "
        "JOIN revisions v ON v.rid = r.current_rid WHERE v.damaged = 0 ORDER BY "
        "r.record_id");
    if (!st) return st.error();
    if (auto stepped = st->forEachRow([&] {
            auto record = decodeRecord(st->columnBlob(3));
            if (!record) return;  // unreadable bodies are counted by exports, not here
            grouping.add(idFrom(st->columnBlob(0)), std::string(st->columnText(1)),
                         static_cast<std::uint32_t>(st->columnInt(2)), record->content);
        });
        !stepped)
        return stepped.error();
    st.value().reset();
    (void)db->exec("COMMIT");
    std::lock_guard lock(m_ctx.mutex);
    auto decided = m_ctx.db.prepare(
        "SELECT decision, comment, utc_ms, actor FROM "
        "duplicate_decisions WHERE group_key = ?");
    if (!decided) return decided.error();
    std::vector<DuplicateGroup> out = grouping.groups();
    for (auto& group : out) {
        auto key = rules::parseGroupKey(group.key);
        if (!key) return key.error();
        decided->bindBlob(1, key.value());
        auto row = decided->step();
        if (!row) return row.error();
        if (row.value()) {
            group.decision = static_cast<DuplicateDecision>(decided->columnInt(0));
            group.comment = std::string(decided->columnText(1));
            group.decidedUtcMs = decided->columnInt(2);
            group.decidedBy = std::string(decided->columnText(3));
        }
        decided->reset();
    }
    return out;
}

Status SqliteReview::decideDuplicate(const std::string& groupKey, DuplicateDecision decision,
                                     const std::string& comment, std::int64_t nowMs,
                                     const std::string& actor) {
    auto parsed = rules::parseGroupKey(groupKey);
    if (!parsed) return parsed.error();
    const std::vector<std::uint8_t>& key = parsed.value();
    if (comment.size() > kMaxReviewCommentBytes)
        return makeError(ErrorCode::InvalidArgument, "the comment is too long");
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "INSERT INTO duplicate_decisions (group_key, "
        "decision, comment, utc_ms, actor) VALUES "
        "(?1, ?2, ?3, ?4, ?5) ON CONFLICT (group_key) DO "
        "UPDATE SET decision = ?2, comment = "
        "?3, utc_ms = ?4, actor = ?5");
    if (!st) return st.error();
    st->bindBlob(1, key)
        .bind(2, static_cast<std::int64_t>(decision))
        .bind(3, comment)
        .bind(4, nowMs)
        .bind(5, actor);
    if (auto s = st->run(); !s) return s;
    if (auto s = auditLocked(
            m_ctx, nowMs, actor, "duplicates", groupKey,
            decision == DuplicateDecision::SamePerson ? "same person" : "different people");
        !s)
        return s;
    return tx->commit();
}

Status SqliteReview::setReview(const Uuid& recordId, ReviewState state, const std::string& comment,
                               std::int64_t nowMs, const std::string& actor) {
    if (auto s = rules::checkStaffReview(state, comment.size()); !s) return s;
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    if (auto s = requireRecord(m_ctx, recordId); !s) return s;
    const auto code = static_cast<std::int64_t>(state);
    auto up = m_ctx.db.prepare(
        "INSERT INTO reviews (record_id, state, "
        "changed_utc_ms, changed_by) VALUES (?1, ?2, "
        "?3, ?4) ON CONFLICT (record_id) DO UPDATE SET "
        "state = ?2, changed_utc_ms = ?3, "
        "changed_by = ?4");
    if (!up) return up.error();
    up->bindBlob(1, idBytes(recordId)).bind(2, code).bind(3, nowMs).bind(4, actor);
    if (auto s = up->run(); !s) return s;
    auto history = m_ctx.db.prepare(
        "INSERT INTO review_history (record_id, state, comment, utc_ms, actor) "
        "VALUES (?, ?, ?, ?, ?)");
    if (!history) return history.error();
    history->bindBlob(1, idBytes(recordId))
        .bind(2, code)
        .bind(3, comment)
        .bind(4, nowMs)
        .bind(5, actor);
    if (auto s = history->run(); !s) return s;
    if (auto s = reviewChangesCorrection(m_ctx, recordId, state, comment, nowMs); !s) return s;
    // The audit log names the record and the new state; the comment stays in the history.
    if (auto s = auditLocked(m_ctx, nowMs, actor, "review", recordId.toString(),
                             std::string(reviewStateName(state)));
        !s)
        return s;
    // Hooks told of review changes (never the comment): their deliveries commit with it.
    auto hooks = hooksWanting(m_ctx, kEventReviewChanged);
    if (!hooks) return hooks.error();
    if (!hooks->empty()) {
        auto cur = m_ctx.db.prepare(
            "SELECT x.form_id, v.form_version, v.device_id, x.hlc, v.body FROM records x JOIN "
            "revisions v ON v.rid = x.current_rid WHERE x.record_id = ?");
        if (!cur) return cur.error();
        cur->bindBlob(1, idBytes(recordId));
        auto found = cur->step();
        if (!found) return found.error();
        webhooks::EventRecord r;
        r.recordId = recordId;
        r.formId = std::string(cur->columnText(0));
        r.formVersion = static_cast<std::uint32_t>(cur->columnInt(1));
        r.deviceId = idFrom(cur->columnBlob(2));
        r.hlc = HlcTimestamp{static_cast<std::uint64_t>(cur->columnInt(3))};
        r.body = cur->columnBlob(4);  // read before the statement is reset
        r.reviewState = std::string(reviewStateName(state));
        r.reviewedBy = actor;
        if (auto s = enqueueEvent(m_ctx, hooks.value(), kEventReviewChanged, r, nowMs); !s)
            return s;
    }
    return tx->commit();
}

Result<RecordReview> SqliteReview::review(const Uuid& recordId) {
    std::lock_guard lock(m_ctx.mutex);
    auto known = m_ctx.db.prepare(
        "SELECT r.state FROM records x LEFT JOIN "
        "reviews r ON r.record_id = x.record_id "
        "WHERE x.record_id = ?");
    if (!known) return known.error();
    known->bindBlob(1, idBytes(recordId));
    auto row = known->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "no record with that id");
    RecordReview out;
    if (!known->columnIsNull(0)) out.state = static_cast<ReviewState>(known->columnInt(0));
    known.value().reset();
    auto st = m_ctx.db.prepare(
        "SELECT state, comment, utc_ms, actor, revision_hlc FROM review_history WHERE record_id "
        "= ? ORDER BY hid");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(recordId));
    for (;;) {
        auto next = st->step();
        if (!next) return next.error();
        if (!next.value()) break;
        out.history.push_back({static_cast<ReviewState>(st->columnInt(0)),
                               std::string(st->columnText(1)), st->columnInt(2),
                               std::string(st->columnText(3)),
                               static_cast<std::uint64_t>(st->columnInt(4))});
    }
    return out;
}

Result<std::optional<CorrectionInfo>> SqliteReview::correction(const Uuid& recordId) {
    std::lock_guard lock(m_ctx.mutex);
    if (auto s = requireRecord(m_ctx, recordId); !s) return s.error();
    return readCorrection(m_ctx, recordId);
}

Result<std::vector<Uuid>> SqliteReview::recordsInReview(ReviewState state) {
    std::lock_guard lock(m_ctx.mutex);
    auto st = state == ReviewState::Received
                  ? m_ctx.db.prepare(
                        "SELECT x.record_id FROM records x LEFT JOIN reviews r ON "
                        "r.record_id "
                        "= x.record_id WHERE r.state IS NULL OR r.state = 0 ORDER BY "
                        "x.record_id")
                  : m_ctx.db.prepare(
                        "SELECT record_id FROM reviews WHERE state = ? "
                        "ORDER BY record_id");
    if (!st) return st.error();
    if (state != ReviewState::Received) st->bind(1, static_cast<std::int64_t>(state));
    std::vector<Uuid> out;
    if (auto stepped = st->forEachRow([&] { out.push_back(idFrom(st->columnBlob(0))); }); !stepped)
        return stepped.error();
    return out;
}

Result<ReviewQueue> SqliteReview::reviewQueue(ReviewState state, int limit,
                                              const std::string& formId) {
    assert(limit > 0);
    std::lock_guard lock(m_ctx.mutex);
    ReviewQueue out;
    out.state = state;
    // Received records have no row in `reviews` (or state 0): the records are walked in id
    // order, skipping reviewed ones, until `limit` are found. Any other state is read from
    // the (state, record_id) index, already in order. CROSS JOIN keeps that loop outermost.
    // ?3 is the form ('' for every form).
    const bool received = state == ReviewState::Received;
    auto st = received ? m_ctx.db.prepare(
                             "SELECT x.record_id, x.form_id, v.device_id, "
                             "x.hlc FROM records x "
                             "JOIN revisions v ON v.rid = x.current_rid WHERE "
                             "NOT EXISTS (SELECT 1 "
                             "FROM reviews r WHERE r.record_id = x.record_id "
                             "AND r.state != 0) AND (?3 = '' OR x.form_id = ?3) "
                             "ORDER BY x.record_id LIMIT ?1")
                       : m_ctx.db.prepare(
                             "SELECT x.record_id, x.form_id, v.device_id, x.hlc FROM "
                             "reviews r "
                             "CROSS JOIN records x ON x.record_id = r.record_id CROSS JOIN "
                             "revisions v ON v.rid = x.current_rid WHERE r.state = ?2 "
                             "AND (?3 = '' OR x.form_id = ?3) "
                             "ORDER BY r.record_id LIMIT ?1");
    if (!st) return st.error();
    st->bind(1, static_cast<std::int64_t>(limit));
    if (!received) st->bind(2, static_cast<std::int64_t>(state));
    st->bind(3, formId);
    if (auto stepped = st->forEachRow([&] {
            out.records.push_back({idFrom(st->columnBlob(0)), std::string(st->columnText(1)),
                                   idFrom(st->columnBlob(2)),
                                   HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(3))}});
        });
        !stepped)
        return stepped.error();
    if (formId.empty()) {
        // Counting the received ones directly would visit every record: all records less the
        // reviewed ones counts only the index entries of the other states.
        auto total = received ? m_ctx.db.queryInt(
                                    "SELECT (SELECT count(*) FROM records) - (SELECT count(*) "
                                    "FROM reviews WHERE state > 0)")
                              : m_ctx.db.queryInt("SELECT count(*) FROM reviews WHERE state = " +
                                                  std::to_string(static_cast<int>(state)));
        if (!total) return total.error();
        out.total = total.value();
        return out;
    }
    // One form's records: the same difference, counted among that form's records.
    auto count = m_ctx.db.prepare(
        received ? "SELECT (SELECT count(*) FROM records WHERE form_id = ?1) - (SELECT count(*) "
                   "FROM reviews r JOIN records x ON x.record_id = r.record_id WHERE r.state > 0 "
                   "AND x.form_id = ?1)"
                 : "SELECT count(*) FROM reviews r JOIN records x ON x.record_id = r.record_id "
                   "WHERE r.state = ?2 AND x.form_id = ?1");
    if (!count) return count.error();
    count->bind(1, formId);
    if (!received) count->bind(2, static_cast<std::int64_t>(state));
    auto row = count->step();
    if (!row) return row.error();
    out.total = row.value() ? count->columnInt(0) : 0;
    return out;
}

}  // namespace veld::sync::sqlite
