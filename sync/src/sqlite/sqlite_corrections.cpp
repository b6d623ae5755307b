// The SQLite store's corrections: opened and withdrawn by staff's reviews, closed by a correcting
// revision at push, and handed to devices at pull (see sqlite_corrections.hpp).
#include "sqlite_corrections.hpp"

#include <algorithm>

#include <veld/record.hpp>
#include <veld/sqlite.hpp>

#include "../store_rules.hpp"

namespace veld::sync::sqlite {

namespace {

// Gives the correction a new change number and state (and, for Corrected, its revision).
Status changeCorrection(SqliteContext& ctx, const Uuid& recordId, CorrectionState state,
                        std::uint64_t correctedHlc) {
    auto seq = nextCounter(ctx, "correction_seq");
    if (!seq) return seq.error();
    auto st = ctx.db.prepare(
        "UPDATE corrections SET state = ?, seq = ?, corrected_hlc = ? WHERE record_id = ?");
    if (!st) return st.error();
    st->bind(1, static_cast<std::int64_t>(state))
        .bind(2, i64(seq.value()))
        .bind(3, i64(correctedHlc))
        .bindBlob(4, idBytes(recordId));
    return st->run();
}

}  // namespace

Status reviewChangesCorrection(SqliteContext& ctx, const Uuid& recordId, ReviewState state,
                               const std::string& comment, std::int64_t nowMs) {
    auto held = ctx.db.prepare("SELECT state FROM corrections WHERE record_id = ?");
    if (!held) return held.error();
    held->bindBlob(1, idBytes(recordId));
    auto row = held->step();
    if (!row) return row.error();
    const bool open =
        row.value() && held->columnInt(0) != static_cast<int>(CorrectionState::Withdrawn);
    held.value().reset();
    switch (rules::correctionStep(state, open)) {
        case rules::CorrectionStep::None:
            return {};
        case rules::CorrectionStep::Withdraw:
            return changeCorrection(ctx, recordId, CorrectionState::Withdrawn, 0);
        case rules::CorrectionStep::Open:
            break;
    }
    // The revision staff looked at: the current one, its device and the record's first.
    auto cur = ctx.db.prepare(
        "SELECT r.hlc, v.device_id, r.first_device, v.body, v.damaged FROM records r JOIN "
        "revisions v ON v.rid = r.current_rid WHERE r.record_id = ?");
    if (!cur) return cur.error();
    cur->bindBlob(1, idBytes(recordId));
    auto found = cur->step();
    if (!found) return found.error();
    if (!found.value()) return makeError(ErrorCode::NotFound, "no record with that id");
    const auto aboutHlc = static_cast<std::uint64_t>(cur->columnInt(0));
    const Uuid current = idFrom(cur->columnBlob(1));
    const Uuid first = idFrom(cur->columnBlob(2));
    std::optional<RecordHeader> header;
    if (cur->columnInt(4) == 0) {
        auto h = inspectRecord(cur->columnBlob(3));
        if (h) header = std::move(h.value());
    }
    cur.value().reset();
    auto seq = nextCounter(ctx, "correction_seq");
    if (!seq) return seq.error();
    auto up = ctx.db.prepare(
        "INSERT INTO corrections (record_id, seq, state, comment, review_utc_ms, about_hlc, "
        "case_id, sealed, corrected_hlc) VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, 0) ON CONFLICT "
        "(record_id) DO UPDATE SET seq = ?2, state = 0, comment = ?3, review_utc_ms = ?4, "
        "about_hlc = ?5, case_id = ?6, sealed = ?7, corrected_hlc = 0");
    if (!up) return up.error();
    up->bindBlob(1, idBytes(recordId))
        .bind(2, i64(seq.value()))
        .bind(3, comment)
        .bind(4, nowMs)
        .bind(5, i64(aboutHlc));
    if (header && header->caseId) {
        up->bindBlob(6, idBytes(*header->caseId));
    } else {
        up->bindNull(6);
    }
    up->bind(7, header && header->sealed ? 1 : 0);
    if (auto s = up->run(); !s) return s;
    auto dev = ctx.db.prepare(
        "INSERT INTO correction_devices (record_id, device_id) VALUES (?, ?) ON CONFLICT DO "
        "NOTHING");
    if (!dev) return dev.error();
    for (const Uuid& d : {current, first}) {
        dev->bindBlob(1, idBytes(recordId)).bindBlob(2, idBytes(d));
        if (auto s = dev->run(); !s) return s;
        dev->reset();
    }
    return {};
}

Status noteCorrectingRevision(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev,
                              std::int64_t nowMs) {
    if (rev.baseHlc == 0) return {};  // a record's first revision corrects nothing
    std::uint64_t about = 0;
    {
        sql::Statement& st = ctx.openCorrection;
        Resetting done{st};
        st.bindBlob(1, idBytes(rev.recordId));
        auto row = st.step();
        if (!row) return row.error();
        if (!row.value()) return {};
        about = static_cast<std::uint64_t>(st.columnInt(0));
    }
    if (!rules::correctsRecord(rev.baseHlc, about)) return {};
    if (auto s = changeCorrection(ctx, rev.recordId, CorrectionState::Corrected, rev.hlc.value); !s)
        return s;
    const std::string actor = rules::correctionActor(deviceId);
    const auto code = static_cast<std::int64_t>(ReviewState::Corrected);
    auto up = ctx.db.prepare(
        "UPDATE reviews SET state = ?, changed_utc_ms = ?, changed_by = ? WHERE record_id = ?");
    if (!up) return up.error();
    up->bind(1, code).bind(2, nowMs).bind(3, actor).bindBlob(4, idBytes(rev.recordId));
    if (auto s = up->run(); !s) return s;
    auto history = ctx.db.prepare(
        "INSERT INTO review_history (record_id, state, comment, utc_ms, actor, revision_hlc) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    if (!history) return history.error();
    history->bindBlob(1, idBytes(rev.recordId))
        .bind(2, code)
        .bind(3, rules::correctionComment(rev.hlc))
        .bind(4, nowMs)
        .bind(5, actor)
        .bind(6, i64(rev.hlc.value));
    if (auto s = history->run(); !s) return s;
    return auditLocked(ctx, nowMs, actor, "review", rev.recordId.toString(),
                       std::string(reviewStateName(ReviewState::Corrected)));
}

Status pullCorrections(SqliteContext& ctx, const Uuid& deviceId, const std::string& team,
                       const PullRequest& request, PullReply& reply) {
    const std::size_t limit = std::max<std::size_t>(1, ctx.policy.maxCorrectionsPerPull);
    // The body is the record's current revision (a correction made meanwhile included).
    auto st = ctx.db.prepare(
        "SELECT k.seq, k.record_id, v.form_id, v.form_version, k.state, k.comment, "
        "k.review_utc_ms, k.case_id, k.sealed, CASE WHEN k.state = 0 AND k.sealed = 0 AND "
        "v.damaged = 0 THEN v.body END FROM corrections k JOIN records r ON r.record_id = "
        "k.record_id JOIN revisions v ON v.rid = r.current_rid WHERE k.seq > ?1 AND (EXISTS "
        "(SELECT 1 FROM correction_devices d WHERE d.record_id = k.record_id AND d.device_id = "
        "?2) OR EXISTS (SELECT 1 FROM cases c WHERE c.case_id = k.case_id AND "
        "(c.assigned_device = ?2 OR (c.assigned_team <> '' AND c.assigned_team = ?3)))) ORDER "
        "BY k.seq LIMIT ?4");
    if (!st) return st.error();
    st->bind(1, i64(request.correctionCursor))
        .bindBlob(2, idBytes(deviceId))
        .bind(3, team)
        .bind(4, static_cast<std::int64_t>(limit + 1));
    bool more = false;
    std::size_t bytes = 0;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        const auto body = st->columnBlob(9);
        if (reply.corrections.size() == limit ||
            (!reply.corrections.empty() &&
             bytes + body.size() > ctx.policy.maxCorrectionBytesPerPull)) {
            more = true;
            break;
        }
        CorrectionIn c;
        c.seq = static_cast<std::uint64_t>(st->columnInt(0));
        c.recordId = idFrom(st->columnBlob(1));
        c.formId = std::string(st->columnText(2));
        c.formVersion = static_cast<std::uint32_t>(st->columnInt(3));
        c.state = static_cast<CorrectionState>(st->columnInt(4));
        c.comment = std::string(st->columnText(5));
        c.reviewUtcMs = st->columnInt(6);
        if (!st->columnIsNull(7)) c.caseId = idFrom(st->columnBlob(7));
        c.sealed = st->columnInt(8) != 0;
        if (body.size() <= ctx.policy.maxCorrectionBytesPerPull) {
            c.body.assign(body.begin(), body.end());
            bytes += body.size();
        }
        reply.corrections.push_back(std::move(c));
    }
    st.value().reset();
    if (more) {
        reply.correctionCursor = reply.corrections.back().seq;
        reply.more = true;
        return {};
    }
    // Every correction changed up to the counter has been looked at for this device.
    auto counter = counterValue(ctx, "correction_seq");
    if (!counter) return counter.error();
    reply.correctionCursor = std::max(request.correctionCursor, counter.value());
    return {};
}

Result<std::optional<CorrectionInfo>> readCorrection(SqliteContext& ctx, const Uuid& recordId) {
    auto st = ctx.db.prepare(
        "SELECT seq, state, comment, review_utc_ms, about_hlc, case_id, sealed, corrected_hlc "
        "FROM corrections WHERE record_id = ?");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(recordId));
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return std::optional<CorrectionInfo>();
    CorrectionInfo out;
    out.recordId = recordId;
    out.seq = static_cast<std::uint64_t>(st->columnInt(0));
    out.state = static_cast<CorrectionState>(st->columnInt(1));
    out.comment = std::string(st->columnText(2));
    out.reviewUtcMs = st->columnInt(3);
    out.aboutHlc = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(4))};
    if (!st->columnIsNull(5)) out.caseId = idFrom(st->columnBlob(5));
    out.sealed = st->columnInt(6) != 0;
    out.correctedBy = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(7))};
    st.value().reset();
    auto devices = ctx.db.prepare(
        "SELECT device_id FROM correction_devices WHERE record_id = ? ORDER BY device_id");
    if (!devices) return devices.error();
    devices->bindBlob(1, idBytes(recordId));
    if (auto stepped =
            devices->forEachRow([&] { out.devices.push_back(idFrom(devices->columnBlob(0))); });
        !stepped)
        return stepped.error();
    return std::optional<CorrectionInfo>(std::move(out));
}

}  // namespace veld::sync::sqlite
