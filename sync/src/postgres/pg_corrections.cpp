// The PostgreSQL backend's corrections, as the SQLite store's (sqlite_corrections.cpp): opened and
// withdrawn by staff's reviews, closed by a correcting revision at push, handed to devices at
// pull. A change takes the next number of the meta counter correction_seq, whose row stays locked
// to the commit: changes commit in the order of their numbers, so a device's cursor never passes
// a change still to commit.
#include <algorithm>
#include <map>

#include <veld/record.hpp>

#include "../store_rules.hpp"
#include "pg_collector.hpp"

namespace veld::sync::postgres {

namespace {

std::int64_t i64(std::uint64_t v) {
    return static_cast<std::int64_t>(v);
}

Status changeCorrection(pg::Connection& c, const Uuid& recordId, CorrectionState state,
                        std::uint64_t correctedHlc) {
    auto seq = nextCounter(c, "correction_seq");
    if (!seq) return seq.error();
    return c.run(
        "UPDATE corrections SET state = $1, seq = $2, corrected_hlc = $3 WHERE record_id = $4",
        pg::Params()
            .add(static_cast<std::int64_t>(state))
            .add(i64(seq.value()))
            .add(i64(correctedHlc))
            .add(recordId),
        "changing a correction");
}

}  // namespace

Status reviewChangesCorrection(pg::Connection& c, const Uuid& recordId, ReviewState state,
                               const std::string& comment, std::int64_t nowMs) {
    auto held = c.query("SELECT state FROM corrections WHERE record_id = $1 FOR UPDATE",
                        pg::Params().add(recordId), "reading a correction");
    if (!held) return held.error();
    const bool open =
        !held->empty() && held->integer(0, 0) != static_cast<int>(CorrectionState::Withdrawn);
    switch (rules::correctionStep(state, open)) {
        case rules::CorrectionStep::None:
            return {};
        case rules::CorrectionStep::Withdraw:
            return changeCorrection(c, recordId, CorrectionState::Withdrawn, 0);
        case rules::CorrectionStep::Open:
            break;
    }
    auto cur = c.query(
        "SELECT r.hlc, v.device_id, r.first_device, v.body, v.damaged FROM records r JOIN "
        "revisions v ON v.rid = r.current_rid WHERE r.record_id = $1",
        pg::Params().add(recordId), "reading a record");
    if (!cur) return cur.error();
    if (cur->empty()) return makeError(ErrorCode::NotFound, "no record with that id");
    std::optional<RecordHeader> header;
    if (cur->integer(0, 4) == 0) {
        auto h = inspectRecord(cur->bytes(0, 3));
        if (h) header = std::move(h.value());
    }
    auto seq = nextCounter(c, "correction_seq");
    if (!seq) return seq.error();
    pg::Params p;
    p.add(recordId)
        .add(i64(seq.value()))
        .add(comment)
        .add(nowMs)
        .add(cur->integer(0, 0))
        .add(header ? header->caseId : std::nullopt)
        .add(std::int64_t{header && header->sealed ? 1 : 0})
        .add(cur->uuid(0, 1))
        .add(cur->uuid(0, 2));
    return c.run(
        "WITH k AS (INSERT INTO corrections (record_id, seq, state, comment, review_utc_ms, "
        "about_hlc, case_id, sealed, corrected_hlc) VALUES ($1, $2, 0, $3, $4, $5, $6, $7, 0) ON "
        "CONFLICT (record_id) DO UPDATE SET seq = excluded.seq, state = 0, comment = "
        "excluded.comment, review_utc_ms = excluded.review_utc_ms, about_hlc = "
        "excluded.about_hlc, case_id = excluded.case_id, sealed = excluded.sealed, "
        "corrected_hlc = 0 RETURNING record_id) INSERT INTO correction_devices (record_id, "
        "device_id) SELECT k.record_id, d FROM k, (VALUES ($8::bytea), ($9::bytea)) AS x (d) ON "
        "CONFLICT DO NOTHING",
        p, "sending a record back to the field");
}

Status noteCorrectingRevisions(pg::Connection& c, const Uuid& deviceId,
                               const std::vector<StoredPush>& stored, std::int64_t nowMs) {
    std::vector<Uuid> ids;
    for (const auto& s : stored) {
        if (s.rev->baseHlc != 0) ids.push_back(s.rev->recordId);
    }
    if (ids.empty()) return {};  // first revisions correct nothing
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    pg::Params lp;
    auto open = c.query(
        "SELECT record_id, about_hlc FROM corrections WHERE state = 0 AND "
        "record_id IN (" +
            idList(lp, ids) + ") ORDER BY record_id FOR UPDATE",
        lp, "reading corrections");
    if (!open) return open.error();
    if (open->empty()) return {};
    std::map<Uuid, std::uint64_t> about;
    for (int i = 0; i < open->size(); ++i)
        about[open->uuid(i, 0)] = static_cast<std::uint64_t>(open->integer(i, 1));
    const std::string actor = rules::correctionActor(deviceId);
    const auto code = static_cast<std::int64_t>(ReviewState::Corrected);
    for (const auto& s : stored) {
        const PushRevision& rev = *s.rev;
        const auto it = about.find(rev.recordId);
        if (it == about.end() || !rules::correctsRecord(rev.baseHlc, it->second)) continue;
        about.erase(it);  // the first correcting revision closes it
        if (auto st = changeCorrection(c, rev.recordId, CorrectionState::Corrected, rev.hlc.value);
            !st)
            return st;
        pg::Params p;
        p.add(rev.recordId)
            .add(code)
            .add(nowMs)
            .add(actor)
            .add(rules::correctionComment(rev.hlc))
            .add(i64(rev.hlc.value));
        if (auto st = c.run(
                "WITH h AS (INSERT INTO review_history (record_id, state, comment, utc_ms, actor, "
                "revision_hlc) VALUES ($1, $2, $5, $3, $4, $6)) UPDATE reviews SET state = $2, "
                "changed_utc_ms = $3, changed_by = $4 WHERE record_id = $1",
                p, "noting a correction");
            !st)
            return st;
        if (auto st = audit(c, nowMs, actor, "review", rev.recordId.toString(),
                            std::string(reviewStateName(ReviewState::Corrected)));
            !st)
            return st;
    }
    return {};
}

Status pullCorrections(PgContext& ctx, pg::Connection& c, const Uuid& deviceId,
                       const std::string& team, const PullRequest& request, PullReply& reply) {
    // The counter first: every change numbered up to it has committed (see the top).
    auto counter = counterValue(c, "correction_seq");
    if (!counter) return counter.error();
    const std::size_t limit = std::max<std::size_t>(1, ctx.policy.maxCorrectionsPerPull);
    auto rows = c.query(
        "SELECT k.seq, k.record_id, v.form_id, v.form_version, k.state, k.comment, "
        "k.review_utc_ms, k.case_id, k.sealed, CASE WHEN k.state = 0 AND k.sealed = 0 AND "
        "v.damaged = 0 THEN v.body END FROM corrections k JOIN records r ON r.record_id = "
        "k.record_id JOIN revisions v ON v.rid = r.current_rid WHERE k.seq > $1 AND (EXISTS "
        "(SELECT 1 FROM correction_devices d WHERE d.record_id = k.record_id AND d.device_id = "
        "$2) OR EXISTS (SELECT 1 FROM cases x WHERE x.case_id = k.case_id AND "
        "(x.assigned_device = $2 OR (x.assigned_team <> '' AND x.assigned_team = $3)))) ORDER "
        "BY k.seq LIMIT $4",
        pg::Params()
            .add(i64(request.correctionCursor))
            .add(deviceId)
            .add(team)
            .add(static_cast<std::int64_t>(limit + 1)),
        "reading the corrections for a device");
    if (!rows) return rows.error();
    bool more = false;
    std::size_t bytes = 0;
    for (int i = 0; i < rows->size(); ++i) {
        const auto body = rows->bytes(i, 9);
        if (reply.corrections.size() == limit ||
            (!reply.corrections.empty() &&
             bytes + body.size() > ctx.policy.maxCorrectionBytesPerPull)) {
            more = true;
            break;
        }
        CorrectionIn k;
        k.seq = static_cast<std::uint64_t>(rows->integer(i, 0));
        k.recordId = rows->uuid(i, 1);
        k.formId = std::string(rows->text(i, 2));
        k.formVersion = static_cast<std::uint32_t>(rows->integer(i, 3));
        k.state = static_cast<CorrectionState>(rows->integer(i, 4));
        k.comment = std::string(rows->text(i, 5));
        k.reviewUtcMs = rows->integer(i, 6);
        if (!rows->isNull(i, 7)) k.caseId = rows->uuid(i, 7);
        k.sealed = rows->integer(i, 8) != 0;
        if (body.size() <= ctx.policy.maxCorrectionBytesPerPull) {
            k.body.assign(body.begin(), body.end());
            bytes += body.size();
        }
        reply.corrections.push_back(std::move(k));
    }
    if (more) {
        reply.correctionCursor = reply.corrections.back().seq;
        reply.more = true;
    } else {
        reply.correctionCursor = std::max(request.correctionCursor, counter.value());
    }
    return {};
}

Result<std::optional<CorrectionInfo>> readCorrection(pg::Connection& c, const Uuid& recordId) {
    auto rows = c.query(
        "SELECT k.seq, k.state, k.comment, k.review_utc_ms, k.about_hlc, k.case_id, k.sealed, "
        "k.corrected_hlc, d.device_id FROM corrections k LEFT JOIN correction_devices d ON "
        "d.record_id = k.record_id WHERE k.record_id = $1 ORDER BY d.device_id",
        pg::Params().add(recordId), "reading a correction");
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<CorrectionInfo>();
    CorrectionInfo out;
    out.recordId = recordId;
    out.seq = static_cast<std::uint64_t>(rows->integer(0, 0));
    out.state = static_cast<CorrectionState>(rows->integer(0, 1));
    out.comment = std::string(rows->text(0, 2));
    out.reviewUtcMs = rows->integer(0, 3);
    out.aboutHlc = HlcTimestamp{static_cast<std::uint64_t>(rows->integer(0, 4))};
    if (!rows->isNull(0, 5)) out.caseId = rows->uuid(0, 5);
    out.sealed = rows->integer(0, 6) != 0;
    out.correctedBy = HlcTimestamp{static_cast<std::uint64_t>(rows->integer(0, 7))};
    for (int i = 0; i < rows->size(); ++i) {
        if (!rows->isNull(i, 8)) out.devices.push_back(rows->uuid(i, 8));
    }
    return std::optional<CorrectionInfo>(std::move(out));
}

}  // namespace veld::sync::postgres
