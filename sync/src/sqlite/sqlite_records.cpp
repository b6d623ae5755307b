// The SQLite store's records domain apart from intake: pull, publishing forms, the dashboard's
// figures, revisions and conflicts and their resolution by staff (RecordStore).
#include "sqlite_records.hpp"

#include <algorithm>
#include <mutex>

#include <sodium.h>

#include <veld/allocation.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/record.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "../store_rules.hpp"
#include "sqlite_cases.hpp"
#include "sqlite_collector.hpp"
#include "sqlite_corrections.hpp"
#include "sqlite_studies.hpp"

namespace veld::sync::sqlite {

namespace {

Result<std::vector<StoredRevision>> readRevisions(sql::Statement& st);

}  // namespace

Result<PullReply> SqliteRecords::pull(const Uuid& deviceId, const PullRequest& request,
                                      std::size_t maxForms, std::int64_t nowMs) {
    if (!request.deviceBoxKey.empty() && request.deviceBoxKey.size() != alloc::kBoxKeyBytes)
        return makeError(ErrorCode::InvalidArgument, "a device's box key is 32 bytes");
    std::lock_guard lock(m_ctx.mutex);
    // One transaction: blocks dealt at this pull are recorded together with the answer
    // that carries them, and the cursors say exactly what was looked at.
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "SELECT pub_seq, binary FROM forms WHERE pub_seq "
        "> ? ORDER BY pub_seq LIMIT ?");
    if (!st) return st.error();
    st->bind(1, static_cast<std::int64_t>(request.formCursor))
        .bind(2, static_cast<std::int64_t>(maxForms + 1));
    PullReply reply;
    reply.formCursor = request.formCursor;
    std::size_t formBytes = 0;  // forms with media are large: the answer stays in one message
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        const auto bin = st->columnBlob(1);
        if (reply.forms.size() == maxForms ||
            (!reply.forms.empty() && formBytes + bin.size() > kMaxPullFormBytes)) {
            reply.more = true;
            break;
        }
        formBytes += bin.size();
        PublishedForm f;
        f.seq = static_cast<std::uint64_t>(st->columnInt(0));
        f.binary.assign(bin.begin(), bin.end());
        reply.formCursor = f.seq;
        reply.forms.push_back(std::move(f));
    }
    st.value().reset();
    auto project = metaText(m_ctx, "project_key");
    if (!project) return project.error();
    reply.projectKey = project.value();
    auto up = m_ctx.db.prepare(
        "UPDATE devices SET last_contact_utc_ms = ?, "
        "box_key = coalesce(?, box_key) WHERE "
        "device_id = ?");
    if (!up) return up.error();
    up->bind(1, nowMs);
    if (request.deviceBoxKey.empty()) {
        up->bindNull(2);
    } else {
        up->bindBlob(2, request.deviceBoxKey);
    }
    up->bindBlob(3, idBytes(deviceId));
    if (auto s = up->run(); !s) return s.error();
    auto facts = deviceFacts(m_ctx, deviceId);
    if (!facts) return facts.error();
    if (auto s = pullCases(m_ctx, deviceId, facts->team, request, reply); !s) return s.error();
    if (auto s = pullStudies(m_ctx, deviceId, facts.value(), request, nowMs, reply); !s)
        return s.error();
    if (auto s = pullCorrections(m_ctx, deviceId, facts->team, request, reply); !s)
        return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return reply;
}

Result<bool> SqliteRecords::publish(const std::vector<std::uint8_t>& binary, std::int64_t nowMs,
                                    const std::string& actor) {
    const auto problems = forms::checkFormBinary(binary, "published form");
    for (const auto& p : problems) {
        if (p.severity == forms::FormProblem::Severity::Error) {
            return makeError(ErrorCode::InvalidArgument, p.describe());
        }
    }
    const fb::Form* form = fb::GetForm(binary.data());
    const std::string id = form->id()->str();
    const auto version = static_cast<std::int64_t>(form->version());
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto existing = m_ctx.db.prepare("SELECT binary FROM forms WHERE form_id = ? AND version = ?");
    if (!existing) return existing.error();
    existing->bind(1, id).bind(2, version);
    auto row = existing->step();
    if (!row) return row.error();
    if (row.value()) {
        const auto held = existing->columnBlob(0);
        if (forms::sameForm(held, binary)) return false;
        return makeError(ErrorCode::WrongState,
                         "form " + id + " version " + std::to_string(version) +
                             " is published with other content; raise the version");
    }
    existing.value().reset();
    auto st = m_ctx.db.prepare(
        "INSERT INTO forms (form_id, version, pilot, binary, published_utc_ms) "
        "VALUES (?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, id)
        .bind(2, version)
        .bind(3, form->pilot() ? form->pilot()->string_view() : std::string_view())
        .bindBlob(4, binary)
        .bind(5, nowMs);
    if (auto s = st->run(); !s) return s.error();
    if (auto s =
            auditLocked(m_ctx, nowMs, actor, "publish", id, "version " + std::to_string(version));
        !s)
        return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return true;
}

// The dashboard's figures read every record: on a connection of their own, in one read
// transaction, so that pushes (on the writing connection) never wait for them.
Result<CollectorStats> SqliteRecords::stats() {
    auto db = sql::Database::open(m_ctx.path, sql::OpenMode::ReadOnly);
    if (!db) return db.error();
    CollectorStats s;
    struct Q {
        const char* sql;
        std::int64_t* out;
    };
    const Q queries[] = {
        // Enrolled devices: not the collector's own staff device (its id is kept in meta as
        // text, the devices' ids as 16 bytes).
        {"SELECT count(*) FROM devices WHERE hex(device_id) NOT IN (SELECT "
         "upper(replace(value, '-', '')) FROM meta WHERE key = 'staff_device')",
         &s.devices},
        {"SELECT count(*) FROM records", &s.records},
        {"SELECT count(*) FROM revisions", &s.revisions},
        {"SELECT count(*) FROM rejected", &s.rejected},
        {"SELECT count(*) FROM conflicts WHERE resolved_utc_ms IS NULL", &s.conflicts},
        {"SELECT count(*) FROM revisions WHERE clock_flagged != 0", &s.flaggedClocks},
        {"SELECT count(*) FROM forms", &s.forms},
    };
    if (auto b = db->exec("BEGIN"); !b) return b.error();
    for (const auto& q : queries) {
        auto v = db->queryInt(q.sql);
        if (!v) return v.error();
        *q.out = v.value();
    }
    (void)db->exec("COMMIT");
    return s;
}

Result<std::vector<DayCount>> SqliteRecords::recordsPerDay() {
    auto db = sql::Database::open(m_ctx.path, sql::OpenMode::ReadOnly);
    if (!db) return db.error();
    auto st = db->prepare(
        "SELECT r.form_id, coalesce((SELECT f.pilot FROM forms f WHERE f.form_id "
        "= r.form_id "
        "ORDER BY f.version DESC LIMIT 1), ''), (r.hlc >> 16) / 86400000 AS day, "
        "count(*) "
        "FROM records r GROUP BY r.form_id, day ORDER BY day, r.form_id");
    if (!st) return st.error();
    std::vector<DayCount> out;
    if (auto stepped = st->forEachRow([&] {
            out.push_back({std::string(st->columnText(0)), std::string(st->columnText(1)),
                           static_cast<std::int32_t>(st->columnInt(2)), st->columnInt(3)});
        });
        !stepped)
        return stepped.error();
    return out;
}

Result<std::vector<StoredRevision>> SqliteRecords::revisionsOf(const Uuid& recordId) {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        "SELECT device_id, seq, record_id, hlc, form_id, "
        "body, damaged, clock_flagged "
        "FROM revisions WHERE record_id = ? ORDER BY hlc");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(recordId));
    return readRevisions(st.value());
}

Status SqliteRecords::visitChain(const Uuid& deviceId,
                                 const std::function<Status(const ChainEntry&)>& visit) {
    // The reading connection: one snapshot, and pushes are not held up meanwhile.
    std::lock_guard lock(m_ctx.readMutex);
    auto st = m_ctx.reader.prepare(
        "SELECT seq, record_id, hlc, body, damaged, chain_prev, chain_link, 0 FROM revisions "
        "WHERE device_id = ?1 UNION ALL SELECT seq, record_id, 0, NULL, 0, NULL, NULL, 1 FROM "
        "rejected WHERE device_id = ?1 ORDER BY 1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(deviceId));
    return st->forEachRow([&]() -> Status {
        ChainEntry e;
        e.seq = static_cast<std::uint64_t>(st->columnInt(0));
        e.recordId = idFrom(st->columnBlob(1));
        e.hlc = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(2))};
        const auto body = st->columnBlob(3);
        e.body.assign(body.begin(), body.end());
        e.damaged = st->columnInt(4) != 0;
        const auto prev = st->columnBlob(5);
        e.chainPrev.assign(prev.begin(), prev.end());
        const auto link = st->columnBlob(6);
        e.chainLink.assign(link.begin(), link.end());
        e.rejected = st->columnInt(7) != 0;
        return visit(e);
    });
}

Result<std::vector<Uuid>> SqliteRecords::recordIds() {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare("SELECT record_id FROM records ORDER BY record_id");
    if (!st) return st.error();
    std::vector<Uuid> out;
    if (auto stepped = st->forEachRow([&] { out.push_back(idFrom(st->columnBlob(0))); }); !stepped)
        return stepped.error();
    return out;
}

Result<std::optional<StoredRevision>> SqliteRecords::current(const Uuid& recordId) {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        "SELECT v.device_id, v.seq, v.record_id, v.hlc, "
        "v.form_id, v.body, v.damaged, "
        "v.clock_flagged FROM records r JOIN revisions v "
        "ON v.rid = r.current_rid "
        "WHERE r.record_id = ?");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(recordId));
    auto rows = readRevisions(st.value());
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<StoredRevision>();
    return std::optional<StoredRevision>(std::move(rows->front()));
}

Result<std::vector<ConflictInfo>> SqliteRecords::conflicts() {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        "SELECT c.record_id, a.device_id, a.hlc, b.device_id, b.hlc, "
        "c.detected_utc_ms, c.cid "
        "FROM conflicts c JOIN revisions a ON a.rid = c.rid_a JOIN revisions b "
        "ON b.rid = "
        "c.rid_b WHERE c.resolved_utc_ms IS NULL ORDER BY c.cid");
    if (!st) return st.error();
    std::vector<ConflictInfo> out;
    if (auto stepped = st->forEachRow([&] {
            ConflictInfo c;
            c.recordId = idFrom(st->columnBlob(0));
            c.id = st->columnInt(6);
            c.deviceA = idFrom(st->columnBlob(1));
            c.hlcA = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(2))};
            c.deviceB = idFrom(st->columnBlob(3));
            c.hlcB = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(4))};
            c.detectedUtcMs = st->columnInt(5);
            out.push_back(std::move(c));
        });
        !stepped)
        return stepped.error();
    return out;
}

Result<StoredRevision> SqliteRecords::resolveConflict(std::int64_t conflictId,
                                                      const ConflictResolution& resolution,
                                                      std::int64_t nowMs,
                                                      const std::string& actor) {
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto c = m_ctx.db.prepare(
        "SELECT c.record_id, c.resolved_utc_ms, a.body, "
        "a.damaged, a.device_id, b.body, "
        "b.damaged, b.device_id, r.hlc FROM conflicts c "
        "JOIN revisions a ON a.rid = c.rid_a "
        "JOIN revisions b ON b.rid = c.rid_b JOIN records "
        "r ON r.record_id = c.record_id "
        "WHERE c.cid = ?");
    if (!c) return c.error();
    c->bind(1, conflictId);
    auto row = c->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "no conflict with that number");
    if (!c->columnIsNull(1))
        return makeError(ErrorCode::WrongState, "this conflict has been resolved already");
    const Uuid recordId = idFrom(c->columnBlob(0));
    const HlcTimestamp current{static_cast<std::uint64_t>(c->columnInt(8))};
    // Marks the conflict settled (with staff's comment), audits it and commits.
    const auto settle = [&](const std::string& detail) -> Status {
        auto done = m_ctx.db.prepare(
            "UPDATE conflicts SET resolved_utc_ms = ?, "
            "resolution = ? WHERE cid = ?");
        if (!done) return done.error();
        done->bind(1, nowMs)
            .bind(2, detail + (resolution.comment.empty() ? "" : "; " + resolution.comment))
            .bind(3, conflictId);
        if (auto s = done->run(); !s) return s;
        if (auto s = auditLocked(m_ctx, nowMs, actor, "resolve", recordId.toString(), detail); !s)
            return s;
        return tx->commit();
    };
    if (resolution.kind == ConflictResolution::Kind::Close) {
        c.value().reset();
        if (auto s = settle("closed; the current revision stays"); !s) return s.error();
        StoredRevision out;
        out.recordId = recordId;
        out.hlc = current;
        return out;
    }
    const std::optional<Record> a = rules::readableRevision(c->columnInt(3) != 0, c->columnBlob(2));
    const std::optional<Record> b = rules::readableRevision(c->columnInt(6) != 0, c->columnBlob(5));
    const Uuid deviceA = idFrom(c->columnBlob(4));
    const Uuid deviceB = idFrom(c->columnBlob(7));
    c.value().reset();
    const auto staff = staffDevice(m_ctx, nowMs);
    if (!staff) return staff.error();
    auto settled = rules::settleConflict(resolution, recordId, a, b, deviceA, deviceB, current,
                                         staff->first, staff->second, nowMs);
    if (!settled) return settled.error();
    const std::string& detail = settled->detail;
    PushRevision& rev = settled->revision;
    if (auto s = storeRevision(m_ctx, staff->first, rev, nowMs, false); !s) return s.error();
    auto up = m_ctx.db.prepare("UPDATE devices SET received_through = ? WHERE device_id = ?");
    if (!up) return up.error();
    up->bind(1, static_cast<std::int64_t>(rev.seq)).bindBlob(2, idBytes(staff->first));
    if (auto s = up->run(); !s) return s.error();
    if (auto s = settle(detail); !s) return s.error();
    StoredRevision out;
    out.deviceId = staff->first;
    out.seq = rev.seq;
    out.recordId = recordId;
    out.hlc = rev.hlc;
    out.formId = rev.formId;
    out.body = std::move(rev.body);
    return out;
}

Result<std::pair<Uuid, std::uint64_t>> staffDevice(SqliteContext& ctx, std::int64_t nowMs) {
    auto known = metaText(ctx, "staff_device");
    if (!known) return known.error();
    if (!known->empty()) {
        const auto id = Uuid::parse(known.value());
        if (!id) return makeError(ErrorCode::Corrupt, "the collector's staff device id is bad");
        auto st = ctx.db.prepare("SELECT received_through FROM devices WHERE device_id = ?");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(*id));
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::Corrupt, "the staff device is missing");
        return std::make_pair(*id, static_cast<std::uint64_t>(st->columnInt(0)));
    }
    const Uuid id = makeUuidV4();
    std::array<std::uint8_t, 32> unusable{};
    randombytes_buf(unusable.data(), unusable.size());
    auto add = ctx.db.prepare(
        "INSERT INTO devices (device_id, label, credential_hash, "
        "enrolled_utc_ms, "
        "revoked_utc_ms) VALUES (?, 'central staff', ?, ?, ?)");
    if (!add) return add.error();
    add->bindBlob(1, idBytes(id)).bindBlob(2, unusable).bind(3, nowMs).bind(4, nowMs);
    if (auto s = add->run(); !s) return s.error();
    auto meta = ctx.db.prepare("INSERT INTO meta (key, value) VALUES ('staff_device', ?)");
    if (!meta) return meta.error();
    meta->bind(1, id.toString());
    if (auto s = meta->run(); !s) return s.error();
    return std::make_pair(id, std::uint64_t{0});
}

namespace {

Result<std::vector<StoredRevision>> readRevisions(sql::Statement& st) {
    std::vector<StoredRevision> out;
    if (auto stepped = st.forEachRow([&] {
            StoredRevision r;
            r.deviceId = idFrom(st.columnBlob(0));
            r.seq = static_cast<std::uint64_t>(st.columnInt(1));
            r.recordId = idFrom(st.columnBlob(2));
            r.hlc = HlcTimestamp{static_cast<std::uint64_t>(st.columnInt(3))};
            r.formId = std::string(st.columnText(4));
            const auto body = st.columnBlob(5);
            r.body.assign(body.begin(), body.end());
            r.damaged = st.columnInt(6) != 0;
            r.clockFlagged = st.columnInt(7) != 0;
            out.push_back(std::move(r));
        });
        !stepped)
        return stepped.error();
    return out;
}

}  // namespace

}  // namespace veld::sync::sqlite
