// The SQLite store's intake: pushes with group commit, and storing each revision with its record's
// current view, conflicts, case change and allocation in one transaction.
#include <mutex>

#include <veld/record.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/chain_check.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/receipt.hpp>

#include "../store_rules.hpp"
#include "sqlite_cases.hpp"
#include "sqlite_collector.hpp"
#include "sqlite_corrections.hpp"
#include "sqlite_records.hpp"
#include "sqlite_studies.hpp"
#include "sqlite_webhooks.hpp"

namespace veld::sync::sqlite {

namespace {

// The revisions stored by the group's commit (0 when it failed).
std::size_t storeGroup(SqliteContext& ctx, const std::vector<QueuedPush*>& group);

Result<PushReply> pushLocked(SqliteContext& ctx, const Uuid& deviceId, const PushBatch& batch,
                             std::int64_t nowMs);

// Whether the revision held under (device, seq) is this one (same record and HLC; for a
// revision set aside as unreadable, the same record). True when nothing is held to compare.
Result<bool> holdsSame(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev);

Status storeRecordRevision(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev,
                           std::int64_t nowMs, std::int64_t& rid);

// A device's revision has been stored as `rid`: applies its case change (or notes the
// contact with a known case) and stores its allocation.
Status applyCaseAndAllocation(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev,
                              std::int64_t rid, std::int64_t nowMs);

}  // namespace

// Group commit: a push joins a queue; whichever push finds no commit under way leads,
// takes every push waiting, stores each in its own savepoint (one refused push does not
// undo the others) and makes them durable with one commit. Nobody is answered before that
// commit, so the guarantee of a push is unchanged; what is shared is the wait for the disk.
Result<PushReply> SqliteRecords::push(const Uuid& deviceId, const PushBatch& batch,
                                      std::int64_t nowMs) {
    QueuedPush mine{&deviceId, &batch, nowMs, std::nullopt, false};
    std::unique_lock queue(m_ctx.queueMutex);
    m_ctx.queue.push_back(&mine);
    while (!mine.done) {
        if (m_ctx.leading) {
            m_ctx.queueChanged.wait(queue);
            continue;
        }
        m_ctx.leading = true;
        std::vector<QueuedPush*> group;
        group.swap(m_ctx.queue);
        queue.unlock();
        const std::size_t stored = storeGroup(m_ctx, group);
        queue.lock();
        if (m_ctx.commitObserver && stored > 0) m_ctx.commitObserver(stored);
        for (QueuedPush* p : group)
            p->done = true;
        m_ctx.leading = false;
        m_ctx.queueChanged.notify_all();
    }
    // The receipt: signed after the commit, outside the writer's lock.
    if (*mine.result) {
        PushReply& reply = mine.result->value();
        reply.receipt = makeSignedReceipt(
            m_ctx.signingKey, receiptFor(m_ctx.collectorId, deviceId, batch, reply, nowMs));
    }
    return std::move(*mine.result);
}

void SqliteRecords::observeCommits(std::function<void(std::size_t)> observer) {
    std::lock_guard queue(m_ctx.queueMutex);
    m_ctx.commitObserver = std::move(observer);
}

Status storeRevision(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev,
                     std::int64_t nowMs, bool fromDevice) {
    std::int64_t rid = 0;
    if (auto s = storeRecordRevision(ctx, deviceId, rev, nowMs, rid); !s) return s;
    if (!fromDevice || rev.damaged || rev.body.empty()) return {};
    if (auto s = noteCorrectingRevision(ctx, deviceId, rev, nowMs); !s) return s;
    return applyCaseAndAllocation(ctx, deviceId, rev, rid, nowMs);
}

namespace {

std::size_t storeGroup(SqliteContext& ctx, const std::vector<QueuedPush*>& group) {
    std::lock_guard lock(ctx.mutex);
    auto tx = sql::Transaction::begin(ctx.db);
    if (!tx) {
        for (QueuedPush* p : group)
            p->result = tx.error();
        return 0;
    }
    for (QueuedPush* p : group) {
        auto savepoint = sql::Transaction::begin(ctx.db);
        if (!savepoint) {
            p->result = savepoint.error();
            continue;
        }
        auto stored = pushLocked(ctx, *p->deviceId, *p->batch, p->nowMs);
        if (stored) {
            if (auto s = savepoint->commit(); !s) stored = s.error();
        }
        p->result = std::move(stored);  // a refused push's savepoint rolls back here
    }
    if (auto s = tx->commit(); !s) {
        for (QueuedPush* p : group) {
            if (*p->result) p->result = s.error();
        }
        return 0;
    }
    std::size_t stored = 0;
    for (const QueuedPush* p : group) {
        if (!*p->result) continue;
        for (const auto& r : p->result->value().results)
            stored += r.outcome == RevisionOutcome::Duplicate ? 0 : 1;
    }
    return stored;
}

Result<PushReply> pushLocked(SqliteContext& ctx, const Uuid& deviceId, const PushBatch& batch,
                             std::int64_t nowMs) {
    std::uint64_t through = 0;
    {
        sql::Statement& dev = ctx.deviceState;
        Resetting done{dev};
        dev.bindBlob(1, idBytes(deviceId));
        auto row = dev.step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "unknown device");
        if (!dev.columnIsNull(1)) return makeError(ErrorCode::WrongState, "device revoked");
        through = static_cast<std::uint64_t>(dev.columnInt(0));
    }

    // Hooks told of each stored revision: their deliveries commit with it.
    auto hooks = hooksWanting(ctx, kEventRecordReceived);
    if (!hooks) return hooks.error();

    PushReply reply;
    reply.results.reserve(batch.revisions.size());
    for (const PushRevision& rev : batch.revisions) {
        if (rev.seq <= through) {
            // A resend carries the revision already held under that number. Another one
            // means the device's numbering went back (its store restored from a backup):
            // answered "duplicate", it would leave the device's outbox unsent.
            auto same = holdsSame(ctx, deviceId, rev);
            if (!same) return same.error();
            if (!same.value()) {
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
            sql::Statement& st = ctx.insertRejected;
            st.bindBlob(1, idBytes(deviceId))
                .bind(2, static_cast<std::int64_t>(rev.seq))
                .bindBlob(3, idBytes(rev.recordId))
                .bind(4, rev.unreadable)
                .bindBlobStatic(5, rev.body)
                .bind(6, nowMs);
            if (auto s = st.run(); !s) return s.error();
            reply.results.push_back({rev.seq, RevisionOutcome::Rejected, rev.unreadable});
            through = rev.seq;
            continue;
        }
        if (auto s = storeRevision(ctx, deviceId, rev, nowMs); !s) return s.error();
        if (auto s = enqueueEvent(ctx, hooks.value(), kEventRecordReceived,
                                  webhooks::receivedEvent(deviceId, rev), nowMs);
            !s)
            return s.error();
        reply.results.push_back({rev.seq, RevisionOutcome::Stored, {}});
        through = rev.seq;
    }
    sql::Statement& up = ctx.advanceDevice;
    up.bind(1, static_cast<std::int64_t>(through)).bind(2, nowMs);
    if (batch.waitingAfter) {
        up.bind(3, *batch.waitingAfter);
    } else {
        up.bindNull(3);
    }
    up.bindBlob(4, idBytes(deviceId));
    if (auto s = up.run(); !s) return s.error();
    reply.receivedThrough = through;
    return reply;
}

Result<bool> holdsSame(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev) {
    {
        sql::Statement& held = ctx.heldRevision;
        Resetting done{held};
        held.bindBlob(1, idBytes(deviceId)).bind(2, static_cast<std::int64_t>(rev.seq));
        auto row = held.step();
        if (!row) return row.error();
        if (row.value()) {
            return idFrom(held.columnBlob(0)) == rev.recordId &&
                   static_cast<std::uint64_t>(held.columnInt(1)) == rev.hlc.value;
        }
    }
    sql::Statement& aside = ctx.heldRejected;
    Resetting done{aside};
    aside.bindBlob(1, idBytes(deviceId)).bind(2, static_cast<std::int64_t>(rev.seq));
    auto rejected = aside.step();
    if (!rejected) return rejected.error();
    if (rejected.value()) return idFrom(aside.columnBlob(0)) == rev.recordId;
    return true;
}

Status storeRecordRevision(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev,
                           std::int64_t nowMs, std::int64_t& rid) {
    const auto millis = static_cast<std::int64_t>(rev.hlc.millis());
    const bool flagged = rules::clockFlagged(millis, nowMs, ctx.policy);
    sql::Statement& ins = ctx.insertRevision;
    ins.bindBlob(1, idBytes(deviceId))
        .bind(2, static_cast<std::int64_t>(rev.seq))
        .bindBlob(3, idBytes(rev.recordId))
        .bind(4, static_cast<std::int64_t>(rev.hlc.value))
        .bind(5, static_cast<std::int64_t>(rev.baseHlc))
        .bind(6, rev.formId)
        .bind(7, static_cast<std::int64_t>(rev.formVersion));
    if (rev.damaged) {
        ins.bindNull(8);
    } else {
        ins.bindBlobStatic(8, rev.body);
    }
    ins.bind(9, rev.damaged ? 1 : 0)
        .bind(10, rev.damageReason)
        .bind(11, flagged ? 1 : 0)
        .bind(12, nowMs);
    // The device's chain as sent; a link that does not recompute is noted, not refused.
    if (rev.chainLink.empty()) {
        ins.bindNull(13).bindNull(14);
    } else {
        ins.bindBlobStatic(13, rev.chainPrev).bindBlobStatic(14, rev.chainLink);
    }
    const auto note = chainNoteAtIntake(rev);
    if (note) {
        ins.bind(15, std::string_view(*note));
    } else {
        ins.bindNull(15);
    }
    if (auto s = ins.run(); !s) return s;
    rid = ctx.db.lastInsertRowid();

    std::int64_t currentRid = 0;
    std::uint64_t currentHlc = 0;
    bool sameDevice = false;
    {
        sql::Statement& cur = ctx.currentRecord;
        Resetting done{cur};
        cur.bindBlob(1, idBytes(rev.recordId));
        auto row = cur.step();
        if (!row) return row.error();
        if (!row.value()) {
            sql::Statement& add = ctx.insertRecord;
            add.bindBlob(1, idBytes(rev.recordId))
                .bind(2, rid)
                .bind(3, static_cast<std::int64_t>(rev.hlc.value))
                .bindBlob(4, idBytes(deviceId))
                .bind(5, rev.formId);
            return add.run();
        }
        currentRid = cur.columnInt(0);
        currentHlc = static_cast<std::uint64_t>(cur.columnInt(1));
        sameDevice = idFrom(cur.columnBlob(2)) == deviceId;
    }
    const auto placed = rules::placeRevision(currentHlc, sameDevice, rev.hlc.value, rev.baseHlc);
    if (placed.conflict) {
        sql::Statement& c = ctx.insertConflict;
        c.bindBlob(1, idBytes(rev.recordId)).bind(2, currentRid).bind(3, rid).bind(4, nowMs);
        if (auto s = c.run(); !s) return s;
    }
    if (placed.becomesCurrent) {
        sql::Statement& up = ctx.updateRecord;
        up.bind(1, rid)
            .bind(2, static_cast<std::int64_t>(rev.hlc.value))
            .bindBlob(3, idBytes(rev.recordId));
        return up.run();
    }
    return Status::success();
}

Status applyCaseAndAllocation(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev,
                              std::int64_t rid, std::int64_t nowMs) {
    auto header = inspectRecord(rev.body);
    // The protocol verified the body already; one that is still no record here (written
    // into the store directly) changes no case.
    if (!header || !header->caseId) return {};
    if (auto s = applyCase(ctx, deviceId, *header->caseId, header->caseChange, rev.hlc, rid, nowMs);
        !s)
        return s;
    if (!header->allocation) return {};
    return storeAllocation(ctx, deviceId, *header->caseId, header->id, *header->allocation, rid,
                           nowMs);
}

}  // namespace

}  // namespace veld::sync::sqlite
