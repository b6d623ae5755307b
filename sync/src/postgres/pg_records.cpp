// The PostgreSQL backend's records domain: intake (push), what devices pull, publication, and
// revisions and conflicts between them.
//
// Exactly once across processes: a push locks its device's row (SELECT ... FOR UPDATE) first, so
// two processes receiving batches from one device take turns; the second sees the first's
// `received_through` and answers duplicates. The revisions and the device's new
// `received_through` commit together. The unique (device_id, seq) constraint is the backstop:
// should it ever fire, the push runs again and answers from what is held.
//
// Round trips per batch: the device's lock, the records' locks, one statement that inserts every
// revision and every new record and reads the current view of the others, one statement that
// writes conflicts, the current view and the device's progress, and the commit. Concurrent
// commits share PostgreSQL's WAL flush (its own group commit), so there is no queue here.
#include "pg_records.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <veld/allocation.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/record.hpp>
#include <veld/sync/chain_check.hpp>
#include <veld/sync/receipt.hpp>

#include "../store_rules.hpp"
#include "pg_exports.hpp"
#include "pg_webhooks.hpp"

namespace veld::sync::postgres {

namespace {

std::int64_t i64(std::uint64_t v) {
    return static_cast<std::int64_t>(v);
}

// Adds a parameter and returns its placeholder ($n).
std::string slot(pg::Params& p) {
    return "$" + std::to_string(p.size());
}
std::string arg(pg::Params& p, std::int64_t v) {
    p.add(v);
    return slot(p);
}
std::string arg(pg::Params& p, std::string_view v) {
    p.add(v);
    return slot(p);
}
std::string arg(pg::Params& p, const Uuid& v) {
    p.add(v);
    return slot(p);
}
std::string argBytes(pg::Params& p, std::span<const std::uint8_t> v) {
    p.addBytes(v);
    return slot(p);
}
std::string argNull(pg::Params& p) {
    p.addNull();
    return slot(p);
}

// What a store of revisions writes about the device besides them.
struct DeviceAdvance {
    std::uint64_t receivedThrough = 0;
    std::optional<std::int64_t> contactUtcMs;
    std::optional<std::int64_t> waiting;
};

struct CurrentView {
    std::int64_t rid = 0;
    std::uint64_t hlc = 0;
    Uuid device;
};

// Locks the records' rows (in id order, as every store does) and reads their current view.
Status lockAndReadRecords(pg::Connection& c, const std::vector<Uuid>& ids,
                          std::map<Uuid, CurrentView>& out) {
    if (ids.empty()) return {};
    pg::Params lp;
    const std::string list = idList(lp, ids);
    if (auto s = c.run("SELECT record_id FROM records WHERE record_id IN (" + list +
                           ") ORDER BY record_id FOR UPDATE",
                       lp, "locking records");
        !s)
        return s;
    // A statement of its own: it sees every change committed before the locks were granted.
    auto rows = c.query(
        "SELECT r.record_id, r.current_rid, r.hlc, v.device_id FROM records r "
        "JOIN revisions v ON v.rid = r.current_rid WHERE r.record_id IN (" +
            list + ")",
        lp, "reading records");
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i)
        out[rows->uuid(i, 0)] = {rows->integer(i, 1),
                                 static_cast<std::uint64_t>(rows->integer(i, 2)), rows->uuid(i, 3)};
    return {};
}

// The device's chain as sent (three parameters: prev, link, intake's note); a link that does not
// recompute is noted, not refused.
std::string chainArgs(pg::Params& p, const PushRevision& r) {
    // One parameter at a time: their numbers follow the order they are added in.
    if (r.chainLink.empty()) {
        std::string out = argNull(p);
        out += "," + argNull(p);
        return out + "," + argNull(p);
    }
    const auto note = chainNoteAtIntake(r);
    std::string out = argBytes(p, r.chainPrev);
    out += "," + argBytes(p, r.chainLink);
    return out + "," + (note ? arg(p, *note) : argNull(p));
}

// Stores revisions of one device (in sequence order, none of them held yet) and updates the
// records' current view and conflicts; then writes `advance` to the device's row (under the
// caller's lock). For a device's revisions (not staff's, whose case changes and allocation are
// copies of a device's), appends to `fromDevice` what applyCasesAndAllocations needs. Sets
// `uniqueViolation` when the (device, seq) backstop fired.
Status storeRevisions(PgContext& ctx, pg::Connection& c, const Uuid& deviceId,
                      const std::vector<const PushRevision*>& revs, std::int64_t nowMs,
                      std::vector<StoredPush>* fromDevice, const DeviceAdvance& advance,
                      bool& uniqueViolation) {
    std::map<std::uint64_t, std::int64_t> ridOf;  // seq -> rid
    std::vector<Uuid> conflictRecord;
    std::vector<std::pair<std::int64_t, std::int64_t>> conflictRids;
    std::map<Uuid, CurrentView> view;
    std::set<Uuid> changed;

    if (!revs.empty()) {
        std::vector<Uuid> ids;
        for (const auto* r : revs)
            ids.push_back(r->recordId);
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

        // Records held already: locked first, in id order, so that pushes of one record from
        // two devices take turns.
        pg::Params lp;
        auto locked = c.query("SELECT record_id FROM records WHERE record_id IN (" +
                                  idList(lp, ids) + ") ORDER BY record_id FOR UPDATE",
                              lp, "locking records");
        if (!locked) return locked.error();
        std::vector<Uuid> held;
        for (int i = 0; i < locked->size(); ++i)
            held.push_back(locked->uuid(i, 0));

        pg::Params p;
        const std::string device = arg(p, deviceId);
        const std::string received = arg(p, nowMs);
        std::string values;
        for (const auto* r : revs) {
            const bool flagged =
                rules::clockFlagged(static_cast<std::int64_t>(r->hlc.millis()), nowMs, ctx.policy);
            if (!values.empty()) values += ",";
            values += "(" + device + "," + arg(p, i64(r->seq)) + "," + arg(p, r->recordId) + "," +
                      arg(p, i64(r->hlc.value)) + "," + arg(p, i64(r->baseHlc)) + "," +
                      arg(p, r->formId) + "," + arg(p, static_cast<std::int64_t>(r->formVersion)) +
                      "," + (r->damaged ? argNull(p) : argBytes(p, r->body)) + "," +
                      arg(p, std::int64_t{r->damaged ? 1 : 0}) + "," + arg(p, r->damageReason) +
                      "," + arg(p, std::int64_t{flagged ? 1 : 0}) + "," + received + "," +
                      chainArgs(p, *r) + ")";
        }
        std::string sql =
            "WITH rev AS (INSERT INTO revisions (device_id, seq, record_id, hlc, base_hlc, "
            "form_id, form_version, body, damaged, damage_reason, clock_flagged, "
            "received_utc_ms, chain_prev, chain_link, chain_note) VALUES " +
            values +
            " RETURNING rid, seq, record_id, hlc, form_id), "
            "ins AS (INSERT INTO records (record_id, current_rid, hlc, first_device, form_id) "
            "SELECT DISTINCT ON (record_id) record_id, rid, hlc, " +
            device +
            ", form_id FROM rev ORDER BY record_id, seq ON CONFLICT (record_id) DO NOTHING "
            "RETURNING record_id) "
            "SELECT 0::bigint, rid, seq, record_id, 0::bigint, NULL::bytea FROM rev "
            "UNION ALL SELECT 1, 0, 0, record_id, 0, NULL FROM ins";
        if (!held.empty()) {
            sql +=
                " UNION ALL SELECT 2, r.current_rid, 0, r.record_id, r.hlc, v.device_id FROM "
                "records r JOIN revisions v ON v.rid = r.current_rid WHERE r.record_id IN (" +
                idList(p, held) + ")";
        }
        auto rows = c.query(sql, p, "storing revisions");
        if (!rows) {
            uniqueViolation = rows.error().code == ErrorCode::WrongState;
            return rows.error();
        }
        std::set<Uuid> inserted;
        for (int i = 0; i < rows->size(); ++i) {
            switch (rows->integer(i, 0)) {
                case 0:
                    ridOf[static_cast<std::uint64_t>(rows->integer(i, 2))] = rows->integer(i, 1);
                    break;
                case 1:
                    inserted.insert(rows->uuid(i, 3));
                    break;
                default:
                    view[rows->uuid(i, 3)] = {rows->integer(i, 1),
                                              static_cast<std::uint64_t>(rows->integer(i, 4)),
                                              rows->uuid(i, 5)};
            }
        }
        // A record another process made after the locks above (its insert won): locked and read
        // now.
        std::vector<Uuid> late;
        for (const auto& id : ids) {
            if (!inserted.count(id) && !view.count(id)) late.push_back(id);
        }
        if (auto s = lockAndReadRecords(c, late, view); !s) return s;

        // The current view, revision by revision in sequence order.
        for (const auto* r : revs) {
            const std::int64_t rid = ridOf[r->seq];
            if (inserted.erase(r->recordId) > 0) {  // this revision made the record
                view[r->recordId] = {rid, r->hlc.value, deviceId};
                continue;
            }
            auto cur = view.find(r->recordId);
            if (cur == view.end())
                return makeError(ErrorCode::Internal, "a record's current view was not read");
            const auto placed = rules::placeRevision(
                cur->second.hlc, cur->second.device == deviceId, r->hlc.value, r->baseHlc);
            if (placed.conflict) {
                conflictRecord.push_back(r->recordId);
                conflictRids.emplace_back(cur->second.rid, rid);
            }
            if (placed.becomesCurrent) {
                cur->second = {rid, r->hlc.value, deviceId};
                changed.insert(r->recordId);
            }
        }
    }

    // Conflicts, the current view and the device's progress: one statement.
    pg::Params p;
    std::string with;
    if (!conflictRecord.empty()) {
        const std::string detected = arg(p, nowMs);
        std::string values;
        for (std::size_t i = 0; i < conflictRecord.size(); ++i) {
            if (!values.empty()) values += ",";
            values += "(" + arg(p, conflictRecord[i]) + "," + arg(p, conflictRids[i].first) + "," +
                      arg(p, conflictRids[i].second) + "," + detected + ")";
        }
        with += "c AS (INSERT INTO conflicts (record_id, rid_a, rid_b, detected_utc_ms) VALUES " +
                values + ")";
    }
    if (!changed.empty()) {
        std::string values;
        for (const auto& id : changed) {
            const auto& v = view[id];
            if (!values.empty()) values += ",";
            values += "(" + arg(p, id) + "," + arg(p, v.rid) + "," + arg(p, i64(v.hlc)) + ")";
        }
        if (!with.empty()) with += ", ";
        with += "u AS (UPDATE records r SET current_rid = x.rid, hlc = x.hlc FROM (VALUES " +
                values + ") AS x (record_id, rid, hlc) WHERE r.record_id = x.record_id)";
    }
    std::string sql = with.empty() ? "" : "WITH " + with + " ";
    sql += "UPDATE devices SET received_through = " + arg(p, i64(advance.receivedThrough)) +
           ", last_contact_utc_ms = coalesce(" +
           (advance.contactUtcMs ? arg(p, *advance.contactUtcMs) : argNull(p)) +
           "::bigint, last_contact_utc_ms), waiting = coalesce(" +
           (advance.waiting ? arg(p, *advance.waiting) : argNull(p)) +
           "::bigint, waiting) WHERE device_id = " + arg(p, deviceId);
    if (auto s = c.run(sql, p, "storing the current view"); !s) return s;

    if (!fromDevice) return {};
    for (const auto* r : revs) {
        if (r->damaged || r->body.empty()) continue;
        fromDevice->push_back({r, ridOf[r->seq]});
    }
    return {};
}

// The revision held under (device, seq), for answering a resend.
struct HeldSeq {
    Uuid recordId;
    std::uint64_t hlc = 0;
    bool rejected = false;
};

Result<std::map<std::uint64_t, HeldSeq>> heldSeqs(pg::Connection& c, const Uuid& deviceId,
                                                  std::uint64_t from, std::uint64_t through) {
    std::map<std::uint64_t, HeldSeq> out;
    pg::Params p;
    p.add(deviceId).add(i64(from)).add(i64(through));
    auto rows = c.query(
        "SELECT seq, record_id, hlc, 0::bigint FROM revisions WHERE device_id = $1 AND seq "
        "BETWEEN $2 AND $3 UNION ALL SELECT seq, record_id, 0, 1 FROM rejected WHERE device_id "
        "= $1 AND seq BETWEEN $2 AND $3",
        p, "reading held revisions");
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i) {
        const auto seq = static_cast<std::uint64_t>(rows->integer(i, 0));
        const bool rejected = rows->integer(i, 3) != 0;
        if (rejected && out.count(seq)) continue;  // a stored revision answers first
        out[seq] = {rows->uuid(i, 1), static_cast<std::uint64_t>(rows->integer(i, 2)), rejected};
    }
    return out;
}

// The most revisions one statement writes (12 parameters each).
constexpr std::size_t kSlice = 1000;

// One push, inside the caller's transaction.
Status pushIn(PgContext& ctx, pg::Connection& c, const Uuid& deviceId, const PushBatch& batch,
              std::int64_t nowMs, PushReply& reply, bool& uniqueViolation, bool& casesChanged) {
    auto dev = c.query(
        "SELECT received_through, revoked_utc_ms FROM devices WHERE device_id = $1 FOR UPDATE",
        pg::Params().add(deviceId), "locking the device");
    if (!dev) return dev.error();
    if (dev->empty()) return makeError(ErrorCode::NotFound, "unknown device");
    if (!dev->isNull(0, 1)) return makeError(ErrorCode::WrongState, "device revoked");
    std::uint64_t through = static_cast<std::uint64_t>(dev->integer(0, 0));

    std::map<std::uint64_t, HeldSeq> held;
    {
        std::uint64_t lo = UINT64_MAX;
        std::uint64_t hi = 0;
        for (const auto& rev : batch.revisions) {
            if (rev.seq > through) continue;
            lo = std::min(lo, rev.seq);
            hi = std::max(hi, rev.seq);
        }
        if (hi > 0) {
            auto h = heldSeqs(c, deviceId, lo, hi);
            if (!h) return h.error();
            held = std::move(h.value());
        }
    }

    std::vector<const PushRevision*> toStore;
    std::vector<const PushRevision*> rejected;
    reply.results.reserve(batch.revisions.size());
    for (const PushRevision& rev : batch.revisions) {
        if (rev.seq <= through) {
            // A resend carries the revision already held under that number. Another one means
            // the device's numbering went back (its store restored from a backup): answered
            // "duplicate", it would leave the device's outbox unsent.
            const auto h = held.find(rev.seq);
            const bool same =
                h == held.end() || (h->second.recordId == rev.recordId &&
                                    (h->second.rejected || h->second.hlc == rev.hlc.value));
            if (!same) {
                return makeError(ErrorCode::WrongState,
                                 "revision " + std::to_string(rev.seq) +
                                     " from this device is held already with another record: "
                                     "the device's store has gone back (restored from a "
                                     "backup?); nothing is stored, staff must look");
            }
            reply.results.push_back({rev.seq, RevisionOutcome::Duplicate, {}});
            continue;
        }
        if (rev.seq != through + 1) {
            // The device believes the collector holds revisions it does not (a collector
            // restored from an old backup): nothing is stored; staff must look.
            return makeError(ErrorCode::WrongState,
                             "expected revision " + std::to_string(through + 1) +
                                 " from this device next, got " + std::to_string(rev.seq));
        }
        if (!rev.unreadable.empty()) {
            rejected.push_back(&rev);
            reply.results.push_back({rev.seq, RevisionOutcome::Rejected, rev.unreadable});
        } else {
            toStore.push_back(&rev);
            reply.results.push_back({rev.seq, RevisionOutcome::Stored, {}});
        }
        through = rev.seq;
    }

    // A statement takes at most 65,535 parameters: a large batch is written in slices.
    for (std::size_t at = 0; at < rejected.size(); at += kSlice) {
        pg::Params p;
        const std::string device = arg(p, deviceId);
        const std::string received = arg(p, nowMs);
        std::string values;
        const auto end =
            rejected.begin() + static_cast<std::ptrdiff_t>(std::min(rejected.size(), at + kSlice));
        for (auto it = rejected.begin() + static_cast<std::ptrdiff_t>(at); it != end; ++it) {
            const PushRevision* r = *it;
            if (!values.empty()) values += ",";
            values += "(" + device + "," + arg(p, i64(r->seq)) + "," + arg(p, r->recordId) + "," +
                      arg(p, r->unreadable) + "," + argBytes(p, r->body) + "," + received + ")";
        }
        if (auto s = c.run(
                "INSERT INTO rejected (device_id, seq, record_id, reason, body, received_utc_ms) "
                "VALUES " +
                    values,
                p, "setting aside unreadable revisions");
            !s) {
            uniqueViolation = s.error().code == ErrorCode::WrongState;
            return s;
        }
    }
    DeviceAdvance advance;
    advance.receivedThrough = through;
    advance.contactUtcMs = nowMs;
    advance.waiting = batch.waitingAfter;
    std::size_t at = 0;
    std::vector<StoredPush> stored;
    do {
        const std::size_t end = std::min(toStore.size(), at + kSlice);
        const std::vector<const PushRevision*> slice(
            toStore.begin() + static_cast<std::ptrdiff_t>(at),
            toStore.begin() + static_cast<std::ptrdiff_t>(end));
        if (auto s =
                storeRevisions(ctx, c, deviceId, slice, nowMs, &stored, advance, uniqueViolation);
            !s)
            return s;
        at = end;
    } while (at < toStore.size());
    if (auto s = noteCorrectingRevisions(c, deviceId, stored, nowMs); !s) return s;
    // Hooks told of each stored revision: their deliveries commit with it.
    auto hooks = hooksWanting(c, kEventRecordReceived);
    if (!hooks) return hooks.error();
    if (!hooks->empty()) {
        std::vector<webhooks::EventRecord> events;
        events.reserve(toStore.size());
        for (const PushRevision* r : toStore)
            events.push_back(webhooks::receivedEvent(deviceId, *r));
        if (auto s = enqueueEvents(c, hooks.value(), kEventRecordReceived, events, nowMs); !s)
            return s;
    }
    // Cases and allocations last: their change numbers hold a counter until the commit.
    auto cases = applyCasesAndAllocations(ctx, c, deviceId, stored, nowMs);
    if (!cases) return cases.error();
    casesChanged = cases.value();
    reply.receivedThrough = through;
    return {};
}

std::vector<StoredRevision> readRevisions(const pg::Rows& rows) {
    std::vector<StoredRevision> out;
    for (int i = 0; i < rows.size(); ++i) {
        StoredRevision r;
        r.deviceId = rows.uuid(i, 0);
        r.seq = static_cast<std::uint64_t>(rows.integer(i, 1));
        r.recordId = rows.uuid(i, 2);
        r.hlc = HlcTimestamp{static_cast<std::uint64_t>(rows.integer(i, 3))};
        r.formId = std::string(rows.text(i, 4));
        const auto body = rows.bytes(i, 5);
        r.body.assign(body.begin(), body.end());
        r.damaged = rows.integer(i, 6) != 0;
        r.clockFlagged = rows.integer(i, 7) != 0;
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace

void PgRecords::enterPush() {
    std::unique_lock lock(m_pushMutex);
    const std::uint64_t ticket = m_pushTickets++;
    m_pushTurn.wait(lock,
                    [&] { return ticket == m_pushServing && m_pushesIn < kConcurrentPushes; });
    ++m_pushServing;
    ++m_pushesIn;
    m_pushTurn.notify_all();
}

void PgRecords::leavePush() {
    std::lock_guard lock(m_pushMutex);
    --m_pushesIn;
    m_pushTurn.notify_all();
}

Result<PushReply> PgRecords::push(const Uuid& deviceId, const PushBatch& batch,
                                  std::int64_t nowMs) {
    PushReply reply;
    bool casesChanged = false;
    {
        enterPush();
        struct Leave {
            PgRecords* self;
            ~Leave() { self->leavePush(); }
        } leave{this};
        for (int round = 0;; ++round) {
            bool uniqueViolation = false;
            auto s = pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted,
                                  [&](pg::Connection& c) -> Status {
                                      reply = {};
                                      uniqueViolation = false;
                                      casesChanged = false;
                                      return pushIn(m_ctx, c, deviceId, batch, nowMs, reply,
                                                    uniqueViolation, casesChanged);
                                  });
            if (s) break;
            // The backstop fired (a revision stored under this number meanwhile): answer again
            // from what is held now.
            if (uniqueViolation && round < 2) continue;
            return s.error();
        }
    }
    // The receipt: signed after the commit.
    reply.receipt = makeSignedReceipt(m_ctx.signingKey,
                                      receiptFor(m_ctx.collectorId, deviceId, batch, reply, nowMs));
    std::size_t stored = 0;
    for (const auto& r : reply.results)
        stored += r.outcome == RevisionOutcome::Duplicate ? 0 : 1;
    // The cases this push changed get their numbers now. The push has committed: should this
    // fail, the next pull (by any device) numbers them first.
    if (casesChanged) (void)numberChangedCases(m_ctx, true);
    if (stored > 0) {
        std::function<void(std::size_t)> observer;
        {
            std::lock_guard lock(m_ctx.observerMutex);
            observer = m_ctx.commitObserver;
        }
        if (observer) observer(stored);
    }
    return reply;
}

void PgRecords::observeCommits(std::function<void(std::size_t)> observer) {
    std::lock_guard lock(m_ctx.observerMutex);
    m_ctx.commitObserver = std::move(observer);
}

Result<PullReply> PgRecords::pull(const Uuid& deviceId, const PullRequest& request,
                                  std::size_t maxForms, std::int64_t nowMs) {
    if (!request.deviceBoxKey.empty() && request.deviceBoxKey.size() != alloc::kBoxKeyBytes)
        return makeError(ErrorCode::InvalidArgument, "a device's box key is 32 bytes");
    // Changed cases waiting for their numbers (a push cut short after its commit) first.
    if (auto s = numberChangedCases(m_ctx); !s) return s.error();
    PullReply reply;
    // One transaction: blocks dealt at this pull are recorded together with the answer that
    // carries them, and the cursors say exactly what was looked at.
    auto s =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            reply = {};
            reply.formCursor = request.formCursor;
            auto forms = c.query(
                "SELECT pub_seq, \"binary\" FROM forms WHERE pub_seq > $1 ORDER BY pub_seq LIMIT "
                "$2",
                pg::Params()
                    .add(i64(request.formCursor))
                    .add(static_cast<std::int64_t>(maxForms + 1)),
                "reading forms");
            if (!forms) return forms.error();
            std::size_t formBytes =
                0;  // forms with media are large: the answer stays in one message
            for (int i = 0; i < forms->size(); ++i) {
                const auto bin = forms->bytes(i, 1);
                if (reply.forms.size() == maxForms ||
                    (!reply.forms.empty() && formBytes + bin.size() > kMaxPullFormBytes)) {
                    reply.more = true;
                    break;
                }
                formBytes += bin.size();
                PublishedForm f;
                f.seq = static_cast<std::uint64_t>(forms->integer(i, 0));
                f.binary.assign(bin.begin(), bin.end());
                reply.formCursor = f.seq;
                reply.forms.push_back(std::move(f));
            }
            auto project = metaText(c, "project_key");
            if (!project) return project.error();
            reply.projectKey = project.value();
            pg::Params p;
            p.add(nowMs);
            if (request.deviceBoxKey.empty()) {
                p.addNull();
            } else {
                p.addBytes(request.deviceBoxKey);
            }
            p.add(deviceId);
            auto device = c.query(
                "UPDATE devices SET last_contact_utc_ms = $1, box_key = coalesce($2::bytea, "
                "box_key) "
                "WHERE device_id = $3 RETURNING team",
                p, "noting the device's contact");
            if (!device) return device.error();
            if (device->empty()) return makeError(ErrorCode::NotFound, "no device with that id");
            const std::string team(device->text(0, 0));
            if (auto st = pullCases(m_ctx, c, deviceId, team, request, reply); !st) return st;
            reply.allocationCursor = request.allocationCursor;
            if (auto st = pullStudies(m_ctx, c, deviceId, request, nowMs, reply); !st) return st;
            return pullCorrections(m_ctx, c, deviceId, team, request, reply);
        });
    if (!s) return s.error();
    return reply;
}

Result<bool> PgRecords::publish(const std::vector<std::uint8_t>& binary, std::int64_t nowMs,
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
    const std::string pilot = form->pilot() ? form->pilot()->str() : std::string();
    bool published = false;
    auto s =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            published = false;
            // Publications take turns, so that publication numbers commit in order: a device that
            // pulled number n never misses an n-1 that committed later.
            if (auto st = c.exec("LOCK TABLE forms IN EXCLUSIVE MODE", "waiting to publish"); !st)
                return st;
            auto held = c.query("SELECT \"binary\" FROM forms WHERE form_id = $1 AND version = $2",
                                pg::Params().add(id).add(version), "reading published forms");
            if (!held) return held.error();
            if (!held->empty()) {
                if (forms::sameForm(held->bytes(0, 0), binary)) return {};
                return makeError(ErrorCode::WrongState,
                                 "form " + id + " version " + std::to_string(version) +
                                     " is published with other content; raise the version");
            }
            pg::Params p;
            p.add(id).add(version).add(pilot).addBytes(binary).add(nowMs);
            if (auto st = c.run(
                    "INSERT INTO forms (form_id, version, pilot, \"binary\", published_utc_ms) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    p, "publishing a form");
                !st)
                return st;
            published = true;
            return audit(c, nowMs, actor, "publish", id, "version " + std::to_string(version));
        });
    if (!s) return s.error();
    return published;
}

Result<CollectorStats> PgRecords::stats() {
    // One statement: one snapshot.
    auto rows = queryOnce(m_ctx,
                          "SELECT (SELECT count(*) FROM devices WHERE device_id NOT IN (SELECT "
                          "decode(replace(value, '-', ''), 'hex') FROM meta WHERE key = "
                          "'staff_device')), "
                          "(SELECT count(*) FROM records), "
                          "(SELECT count(*) FROM revisions), (SELECT count(*) FROM rejected), "
                          "(SELECT count(*) FROM conflicts WHERE resolved_utc_ms IS NULL), "
                          "(SELECT count(*) FROM revisions WHERE clock_flagged <> 0), (SELECT "
                          "count(*) FROM forms)",
                          {}, "counting");
    if (!rows) return rows.error();
    CollectorStats s;
    s.devices = rows->integer(0, 0);
    s.records = rows->integer(0, 1);
    s.revisions = rows->integer(0, 2);
    s.rejected = rows->integer(0, 3);
    s.conflicts = rows->integer(0, 4);
    s.flaggedClocks = rows->integer(0, 5);
    s.forms = rows->integer(0, 6);
    return s;
}

Result<std::vector<DayCount>> PgRecords::recordsPerDay() {
    auto rows = queryOnce(
        m_ctx,
        "SELECT r.form_id, coalesce((SELECT f.pilot FROM forms f WHERE f.form_id = "
        "r.form_id "
        "ORDER BY f.version DESC LIMIT 1), ''), (r.hlc >> 16) / 86400000 AS day, count(*) "
        "FROM records r GROUP BY r.form_id, day ORDER BY day, r.form_id",
        {}, "counting records per day");
    if (!rows) return rows.error();
    std::vector<DayCount> out;
    for (int i = 0; i < rows->size(); ++i)
        out.push_back({std::string(rows->text(i, 0)), std::string(rows->text(i, 1)),
                       static_cast<std::int32_t>(rows->integer(i, 2)), rows->integer(i, 3)});
    return out;
}

Result<std::vector<StoredRevision>> PgRecords::revisionsOf(const Uuid& recordId) {
    auto rows =
        queryOnce(m_ctx,
                  "SELECT device_id, seq, record_id, hlc, form_id, body, damaged, clock_flagged "
                  "FROM revisions WHERE record_id = $1 ORDER BY hlc, rid",
                  pg::Params().add(recordId), "reading revisions");
    if (!rows) return rows.error();
    return readRevisions(rows.value());
}

Status PgRecords::visitChain(const Uuid& deviceId,
                             const std::function<Status(const ChainEntry&)>& visit) {
    auto rows = queryOnce(
        m_ctx,
        "SELECT seq, record_id, hlc, body, damaged, chain_prev, chain_link, 0 FROM revisions "
        "WHERE device_id = $1 UNION ALL SELECT seq, record_id, 0, NULL, 0, NULL, NULL, 1 FROM "
        "rejected WHERE device_id = $1 ORDER BY 1",
        pg::Params().add(deviceId), "reading a device's chain");
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i) {
        ChainEntry e;
        e.seq = static_cast<std::uint64_t>(rows->integer(i, 0));
        e.recordId = rows->uuid(i, 1);
        e.hlc = HlcTimestamp{static_cast<std::uint64_t>(rows->integer(i, 2))};
        const auto body = rows->bytes(i, 3);
        e.body.assign(body.begin(), body.end());
        e.damaged = rows->integer(i, 4) != 0;
        const auto prev = rows->bytes(i, 5);
        e.chainPrev.assign(prev.begin(), prev.end());
        const auto link = rows->bytes(i, 6);
        e.chainLink.assign(link.begin(), link.end());
        e.rejected = rows->integer(i, 7) != 0;
        if (auto s = visit(e); !s) return s;
    }
    return {};
}

Result<std::vector<Uuid>> PgRecords::recordIds() {
    auto rows = queryOnce(m_ctx, "SELECT record_id FROM records ORDER BY record_id", {},
                          "reading record ids");
    if (!rows) return rows.error();
    std::vector<Uuid> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i)
        out.push_back(rows->uuid(i, 0));
    return out;
}

Result<std::optional<StoredRevision>> PgRecords::current(const Uuid& recordId) {
    auto rows =
        queryOnce(m_ctx,
                  "SELECT v.device_id, v.seq, v.record_id, v.hlc, v.form_id, v.body, v.damaged, "
                  "v.clock_flagged FROM records r JOIN revisions v ON v.rid = r.current_rid "
                  "WHERE r.record_id = $1",
                  pg::Params().add(recordId), "reading a record");
    if (!rows) return rows.error();
    auto revisions = readRevisions(rows.value());
    if (revisions.empty()) return std::optional<StoredRevision>();
    return std::optional<StoredRevision>(std::move(revisions.front()));
}

Result<std::vector<ConflictInfo>> PgRecords::conflicts() {
    auto rows = queryOnce(
        m_ctx,
        "SELECT c.record_id, a.device_id, a.hlc, b.device_id, b.hlc, c.detected_utc_ms, "
        "c.cid "
        "FROM conflicts c JOIN revisions a ON a.rid = c.rid_a JOIN revisions b ON b.rid = "
        "c.rid_b WHERE c.resolved_utc_ms IS NULL ORDER BY c.cid",
        {}, "reading conflicts");
    if (!rows) return rows.error();
    std::vector<ConflictInfo> out;
    for (int i = 0; i < rows->size(); ++i) {
        ConflictInfo c;
        c.recordId = rows->uuid(i, 0);
        c.id = rows->integer(i, 6);
        c.deviceA = rows->uuid(i, 1);
        c.hlcA = HlcTimestamp{static_cast<std::uint64_t>(rows->integer(i, 2))};
        c.deviceB = rows->uuid(i, 3);
        c.hlcB = HlcTimestamp{static_cast<std::uint64_t>(rows->integer(i, 4))};
        c.detectedUtcMs = rows->integer(i, 5);
        out.push_back(std::move(c));
    }
    return out;
}

Result<StoredRevision> PgRecords::resolveConflict(std::int64_t conflictId,
                                                  const ConflictResolution& resolution,
                                                  std::int64_t nowMs, const std::string& actor) {
    StoredRevision out;
    auto s =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            out = {};
            auto row = c.query(
                "SELECT c.record_id, c.resolved_utc_ms, a.body, a.damaged, a.device_id, b.body, "
                "b.damaged, b.device_id FROM conflicts c JOIN revisions a ON a.rid = c.rid_a "
                "JOIN revisions b ON b.rid = c.rid_b WHERE c.cid = $1 FOR UPDATE OF c",
                pg::Params().add(conflictId), "reading a conflict");
            if (!row) return row.error();
            if (row->empty()) return makeError(ErrorCode::NotFound, "no conflict with that number");
            if (!row->isNull(0, 1))
                return makeError(ErrorCode::WrongState, "this conflict has been resolved already");
            const Uuid recordId = row->uuid(0, 0);
            auto record = c.query("SELECT hlc FROM records WHERE record_id = $1 FOR UPDATE",
                                  pg::Params().add(recordId), "locking the record");
            if (!record) return record.error();
            if (record->empty())
                return makeError(ErrorCode::Corrupt, "a conflict's record is missing");
            const HlcTimestamp current{static_cast<std::uint64_t>(record->integer(0, 0))};

            // Marks the conflict settled (with staff's comment) and audits it.
            const auto settle = [&](const std::string& detail) -> Status {
                pg::Params p;
                p.add(nowMs)
                    .add(detail + (resolution.comment.empty() ? "" : "; " + resolution.comment))
                    .add(conflictId);
                if (auto st = c.run(
                        "UPDATE conflicts SET resolved_utc_ms = $1, resolution = $2 WHERE cid = $3",
                        p, "settling a conflict");
                    !st)
                    return st;
                return audit(c, nowMs, actor, "resolve", recordId.toString(), detail);
            };
            if (resolution.kind == ConflictResolution::Kind::Close) {
                out.recordId = recordId;
                out.hlc = current;
                return settle("closed; the current revision stays");
            }
            const std::optional<Record> a =
                rules::readableRevision(row->integer(0, 3) != 0, row->bytes(0, 2));
            const std::optional<Record> b =
                rules::readableRevision(row->integer(0, 6) != 0, row->bytes(0, 5));
            const auto staff = staffDevice(c, nowMs);
            if (!staff) return staff.error();
            auto settled =
                rules::settleConflict(resolution, recordId, a, b, row->uuid(0, 4), row->uuid(0, 7),
                                      current, staff->first, staff->second, nowMs);
            if (!settled) return settled.error();
            const std::string& detail = settled->detail;
            PushRevision& rev = settled->revision;
            DeviceAdvance advance;
            advance.receivedThrough = rev.seq;
            bool unique = false;
            if (auto st =
                    storeRevisions(m_ctx, c, staff->first, {&rev}, nowMs, nullptr, advance, unique);
                !st)
                return st;
            if (auto st = settle(detail); !st) return st;
            out.deviceId = staff->first;
            out.seq = rev.seq;
            out.recordId = recordId;
            out.hlc = rev.hlc;
            out.formId = rev.formId;
            out.body = std::move(rev.body);
            return {};
        });
    if (!s) return s.error();
    return out;
}

}  // namespace veld::sync::postgres
