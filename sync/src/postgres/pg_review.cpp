// The PostgreSQL backend's review domain: staff's verdicts on records, and their decisions
// about likely duplicate participants (grouped by the rules both backends share).
#include "pg_review.hpp"

#include <cassert>
#include <map>

#include <veld/hex.hpp>
#include <veld/record.hpp>

#include "../store_rules.hpp"
#include "pg_exports.hpp"
#include "pg_webhooks.hpp"

namespace veld::sync::postgres {

Status PgReview::setReview(const Uuid& recordId, ReviewState state, const std::string& comment,
                           std::int64_t nowMs, const std::string& actor) {
    if (auto s = rules::checkStaffReview(state, comment.size()); !s) return s;
    const auto code = static_cast<std::int64_t>(state);
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        auto known = c.query("SELECT 1 FROM records WHERE record_id = $1",
                             pg::Params().add(recordId), "reading a record");
        if (!known) return known.error();
        if (known->empty()) return makeError(ErrorCode::NotFound, "no record with that id");
        pg::Params p;
        p.add(recordId).add(code).add(nowMs).add(actor).add(comment);
        if (auto s = c.run(
                "WITH h AS (INSERT INTO review_history (record_id, state, comment, utc_ms, actor) "
                "VALUES ($1, $2, $5, $3, $4)) INSERT INTO reviews (record_id, state, "
                "changed_utc_ms, changed_by) VALUES ($1, $2, $3, $4) ON CONFLICT (record_id) DO "
                "UPDATE SET state = excluded.state, changed_utc_ms = excluded.changed_utc_ms, "
                "changed_by = excluded.changed_by",
                p, "reviewing a record");
            !s)
            return s;
        if (auto s = reviewChangesCorrection(c, recordId, state, comment, nowMs); !s) return s;
        // The audit log names the record and the new state; the comment stays in the history.
        if (auto s = audit(c, nowMs, actor, "review", recordId.toString(),
                           std::string(reviewStateName(state)));
            !s)
            return s;
        // Hooks told of review changes (never the comment): their deliveries commit with it.
        auto hooks = hooksWanting(c, kEventReviewChanged);
        if (!hooks) return hooks.error();
        if (hooks->empty()) return {};
        auto cur = c.query(
            "SELECT x.form_id, v.form_version, v.device_id, x.hlc, v.body FROM records x JOIN "
            "revisions v ON v.rid = x.current_rid WHERE x.record_id = $1",
            pg::Params().add(recordId), "reading a record");
        if (!cur) return cur.error();
        if (cur->empty()) return makeError(ErrorCode::NotFound, "no record with that id");
        webhooks::EventRecord r;
        r.recordId = recordId;
        r.formId = std::string(cur->text(0, 0));
        r.formVersion = static_cast<std::uint32_t>(cur->integer(0, 1));
        r.deviceId = cur->uuid(0, 2);
        r.hlc = HlcTimestamp{static_cast<std::uint64_t>(cur->integer(0, 3))};
        r.body = cur->bytes(0, 4);
        r.reviewState = std::string(reviewStateName(state));
        r.reviewedBy = actor;
        return enqueueEvents(c, hooks.value(), kEventReviewChanged, {r}, nowMs);
    });
}

Result<RecordReview> PgReview::review(const Uuid& recordId) {
    // One statement: the state and its history from one snapshot.
    auto rows = queryOnce(
        m_ctx,
        "SELECT 0::bigint, r.state, NULL::text, 0::bigint, NULL::text, 0::bigint, 0::bigint FROM "
        "records x LEFT JOIN reviews r ON r.record_id = x.record_id WHERE x.record_id = $1 "
        "UNION ALL SELECT 1, state, comment, utc_ms, actor, hid, revision_hlc FROM "
        "review_history WHERE record_id = $1 ORDER BY 1, 6",
        pg::Params().add(recordId), "reading a review");
    if (!rows) return rows.error();
    if (rows->empty() || rows->integer(0, 0) != 0)
        return makeError(ErrorCode::NotFound, "no record with that id");
    RecordReview out;
    if (!rows->isNull(0, 1)) out.state = static_cast<ReviewState>(rows->integer(0, 1));
    for (int i = 1; i < rows->size(); ++i)
        out.history.push_back({static_cast<ReviewState>(rows->integer(i, 1)),
                               std::string(rows->text(i, 2)), rows->integer(i, 3),
                               std::string(rows->text(i, 4)),
                               static_cast<std::uint64_t>(rows->integer(i, 6))});
    return out;
}

Result<std::optional<CorrectionInfo>> PgReview::correction(const Uuid& recordId) {
    std::optional<CorrectionInfo> out;
    auto s =
        pg::transact(m_ctx.pool, pg::Isolation::RepeatableRead, [&](pg::Connection& c) -> Status {
            auto known = c.query("SELECT 1 FROM records WHERE record_id = $1",
                                 pg::Params().add(recordId), "reading a record");
            if (!known) return known.error();
            if (known->empty()) return makeError(ErrorCode::NotFound, "no record with that id");
            auto read = readCorrection(c, recordId);
            if (!read) return read.error();
            out = std::move(read.value());
            return {};
        });
    if (!s) return s.error();
    return out;
}

Result<std::vector<Uuid>> PgReview::recordsInReview(ReviewState state) {
    auto rows =
        state == ReviewState::Received
            ? queryOnce(m_ctx,
                        "SELECT x.record_id FROM records x LEFT JOIN reviews r ON "
                        "r.record_id = x.record_id WHERE r.state IS NULL OR r.state = 0 "
                        "ORDER BY x.record_id",
                        {}, "reading the review queue")
            : queryOnce(m_ctx, "SELECT record_id FROM reviews WHERE state = $1 ORDER BY record_id",
                        pg::Params().add(static_cast<std::int64_t>(state)),
                        "reading the review queue");
    if (!rows) return rows.error();
    std::vector<Uuid> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i)
        out.push_back(rows->uuid(i, 0));
    return out;
}

Result<ReviewQueue> PgReview::reviewQueue(ReviewState state, int limit, const std::string& formId) {
    assert(limit > 0);
    ReviewQueue out;
    auto s =
        pg::transact(m_ctx.pool, pg::Isolation::RepeatableRead, [&](pg::Connection& c) -> Status {
            out = {};
            out.state = state;
            // Received records have no row in `reviews` (or state 0): the records in id order,
            // skipping reviewed ones. Any other state comes from the (state, record_id) index.
            // $2 is the form ('' for every form).
            const bool received = state == ReviewState::Received;
            pg::Params p;
            p.add(static_cast<std::int64_t>(limit)).add(formId);
            if (!received) p.add(static_cast<std::int64_t>(state));
            auto rows =
                received ? c.query(
                               "SELECT x.record_id, x.form_id, v.device_id, x.hlc FROM records x "
                               "JOIN revisions v ON v.rid = x.current_rid WHERE NOT EXISTS "
                               "(SELECT 1 FROM reviews r WHERE r.record_id = x.record_id AND "
                               "r.state <> 0) AND ($2 = '' OR x.form_id = $2) "
                               "ORDER BY x.record_id LIMIT $1",
                               p, "reading the review queue")
                         : c.query(
                               "SELECT x.record_id, x.form_id, v.device_id, x.hlc FROM reviews r "
                               "JOIN records x ON x.record_id = r.record_id JOIN revisions v ON "
                               "v.rid = x.current_rid WHERE r.state = $3 AND ($2 = '' OR "
                               "x.form_id = $2) ORDER BY r.record_id LIMIT $1",
                               p, "reading the review queue");
            if (!rows) return rows.error();
            for (int i = 0; i < rows->size(); ++i)
                out.records.push_back(
                    {rows->uuid(i, 0), std::string(rows->text(i, 1)), rows->uuid(i, 2),
                     HlcTimestamp{static_cast<std::uint64_t>(rows->integer(i, 3))}});
            // Counting the received ones directly would visit every record: all records less
            // the reviewed ones counts only the index entries of the other states. One form's
            // records are counted the same way among that form's records.
            pg::Params q;
            q.add(formId);
            if (!received) q.add(static_cast<std::int64_t>(state));
            const char* sql =
                formId.empty()
                    ? (received ? "SELECT (SELECT count(*) FROM records) - (SELECT count(*) "
                                  "FROM reviews WHERE state > 0 AND $1 = '')"
                                : "SELECT count(*) FROM reviews WHERE state = $2 AND $1 = ''")
                    : (received ? "SELECT (SELECT count(*) FROM records WHERE form_id = $1) - "
                                  "(SELECT count(*) FROM reviews r JOIN records x ON x.record_id "
                                  "= r.record_id WHERE r.state > 0 AND x.form_id = $1)"
                                : "SELECT count(*) FROM reviews r JOIN records x ON x.record_id "
                                  "= r.record_id WHERE r.state = $2 AND x.form_id = $1");
            auto total = c.query(sql, q, "counting the review queue");
            if (!total) return total.error();
            out.total = total->integer(0, 0);
            return {};
        });
    if (!s) return s.error();
    return out;
}

Result<std::vector<DuplicateGroup>> PgReview::duplicates() {
    // One snapshot for the forms, the records and the decisions; the records stream.
    auto lease = beginSnapshot(m_ctx, "reading duplicates");
    if (!lease) return lease.error();
    pg::Connection& c = *lease.value();
    auto forms = readPublishedForms(c);
    if (!forms) return forms.error();
    rules::DuplicateGrouping grouping(rules::identifyingQuestions(forms.value()));
    forms.value().clear();
    auto streamed = c.stream(
        "SELECT r.record_id, v.form_id, v.form_version, v.body FROM records r "
        "JOIN revisions v ON v.rid = r.current_rid WHERE v.damaged = 0 ORDER BY r.record_id",
        {},
        [&](const pg::Rows& row) -> Status {
            auto record = decodeRecord(row.bytes(0, 3));
            if (!record) return {};  // unreadable bodies are counted by exports, not here
            grouping.add(row.uuid(0, 0), std::string(row.text(0, 1)),
                         static_cast<std::uint32_t>(row.integer(0, 2)), record->content);
            return {};
        },
        "reading records for duplicates");
    if (!streamed) return streamed.error();
    auto decided =
        c.query("SELECT group_key, decision, comment, utc_ms, actor FROM duplicate_decisions", {},
                "reading duplicate decisions");
    if (!decided) return decided.error();
    if (auto s = c.exec("COMMIT", "reading duplicates"); !s) return s.error();
    std::map<std::string, int> decisionRow;
    for (int i = 0; i < decided->size(); ++i)
        decisionRow[toHex(decided->bytes(i, 0))] = i;
    auto out = grouping.groups();
    for (auto& group : out) {
        const auto d = decisionRow.find(group.key);
        if (d == decisionRow.end()) continue;
        const int i = d->second;
        group.decision = static_cast<DuplicateDecision>(decided->integer(i, 1));
        group.comment = std::string(decided->text(i, 2));
        group.decidedUtcMs = decided->integer(i, 3);
        group.decidedBy = std::string(decided->text(i, 4));
    }
    return out;
}

Status PgReview::decideDuplicate(const std::string& groupKey, DuplicateDecision decision,
                                 const std::string& comment, std::int64_t nowMs,
                                 const std::string& actor) {
    auto key = rules::parseGroupKey(groupKey);
    if (!key) return key.error();
    if (comment.size() > kMaxReviewCommentBytes)
        return makeError(ErrorCode::InvalidArgument, "the comment is too long");
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        pg::Params p;
        p.addBytes(key.value())
            .add(static_cast<std::int64_t>(decision))
            .add(comment)
            .add(nowMs)
            .add(actor);
        if (auto s = c.run(
                "INSERT INTO duplicate_decisions (group_key, decision, comment, utc_ms, actor) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (group_key) DO UPDATE SET decision = "
                "excluded.decision, comment = excluded.comment, utc_ms = excluded.utc_ms, actor = "
                "excluded.actor",
                p, "deciding on duplicates");
            !s)
            return s;
        return audit(
            c, nowMs, actor, "duplicates", groupKey,
            decision == DuplicateDecision::SamePerson ? "same person" : "different people");
    });
}

}  // namespace veld::sync::postgres
