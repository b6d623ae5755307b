// The SQLite store's randomisation: studies, dealing blocks, the allocation log, balance and
// verification, and the study part of a pull (StudyStore).
#include "sqlite_studies.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include <sodium.h>

#include <veld/allocation.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "../store_rules.hpp"
#include "../study_balance.hpp"
#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

namespace {

// Every study (or the one named), oldest first; NotFound when a named one is missing.
Result<std::vector<StoredStudy>> loadStudies(SqliteContext& ctx,
                                             const std::optional<std::string>& only = {});

// Deals blocks to a device that runs low (see CollectorStore::pull).
Status topUp(SqliteContext& ctx, const Uuid& deviceId, const PullRequest& request,
             const std::vector<StoredStudy>& studies, std::int64_t nowMs);

// The blocks dealt to a device after its cursor, each slot sealed to its box key.
Status pullBlocks(SqliteContext& ctx, const Uuid& deviceId,
                  const std::array<std::uint8_t, 32>& boxKey, const PullRequest& request,
                  const std::vector<StoredStudy>& studies, PullReply& reply);

// Deals the next `count` undealt blocks of one stratum to a device.
Result<std::vector<DealtBlock>> dealLocked(SqliteContext& ctx, const std::string& study,
                                           const std::string& stratum, const Uuid& deviceId,
                                           std::uint32_t count, std::int64_t nowMs);

Result<std::vector<rules::HeldAllocation>> allocationRowsLocked(SqliteContext& ctx,
                                                                const std::string& study,
                                                                bool withTokens = false);

Result<std::vector<DealtBlock>> dealtBlocksLocked(SqliteContext& ctx, const std::string& study);

// Each device's allocation log numbers over every study, with how often each was used.
Result<rules::DeviceLogs> deviceLogsLocked(SqliteContext& ctx, const std::set<Uuid>& devices);

}  // namespace

Result<bool> SqliteStudies::defineStudy(const StudyDefinition& definition, std::int64_t nowMs,
                                        const std::string& actor) {
    if (auto s = checkStudyDefinition(definition); !s) return s.error();
    const std::string text = studyJson(definition);
    const std::string& id = definition.study.id;
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto existing = m_ctx.db.prepare("SELECT definition, seed FROM studies WHERE id = ?");
    if (!existing) return existing.error();
    existing->bind(1, id);
    auto row = existing->step();
    if (!row) return row.error();
    if (row.value()) {
        const auto seed = existing->columnBlob(1);
        const bool sameSeed = !definition.seedGiven ||
                              std::equal(seed.begin(), seed.end(), definition.study.seed.begin(),
                                         definition.study.seed.end());
        if (existing->columnText(0) != text || !sameSeed) {
            return makeError(ErrorCode::WrongState,
                             "study " + id +
                                 " is defined already, differently; a changed study needs a "
                                 "new id (allocations made under the old one stay valid)");
        }
        return false;
    }
    existing.value().reset();
    std::array<std::uint8_t, alloc::kSeedBytes> seed = definition.study.seed;
    if (!definition.seedGiven) randombytes_buf(seed.data(), seed.size());
    auto ins = m_ctx.db.prepare(
        "INSERT INTO studies (id, pilot, definition, "
        "seed, created_utc_ms) VALUES (?, ?, ?, "
        "?, ?)");
    if (!ins) return ins.error();
    ins->bind(1, id).bind(2, definition.study.pilot).bind(3, text).bindBlob(4, seed).bind(5, nowMs);
    if (auto s = ins->run(); !s) return s.error();
    std::string sizes;
    for (auto size : definition.study.blockSizes)
        sizes += (sizes.empty() ? "" : ",") + std::to_string(size);
    if (auto s = auditLocked(m_ctx, nowMs, actor, "study-define", id,
                             std::to_string(definition.study.arms.size()) + " arms, " +
                                 std::to_string(alloc::strata(definition.study).size()) +
                                 " strata, block sizes " + sizes +
                                 (definition.seedGiven ? ", seed given" : ", seed made here"));
        !s)
        return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return true;
}

Result<std::vector<StudySummary>> SqliteStudies::studies() {
    std::lock_guard lock(m_ctx.mutex);
    auto all = loadStudies(m_ctx);
    if (!all) return all.error();
    std::vector<StudySummary> out;
    for (auto& s : all.value()) {
        StudySummary summary{std::move(s.definition), s.createdUtcMs};
        summary.definition.study.seed = {};
        summary.definition.seedGiven = false;
        out.push_back(std::move(summary));
    }
    return out;
}

Result<std::array<std::uint8_t, alloc::kSeedBytes>> SqliteStudies::studySeed(
    const std::string& study, std::int64_t nowMs, const std::string& actor) {
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto found = loadStudies(m_ctx, study);
    if (!found) return found.error();
    if (auto s = auditLocked(m_ctx, nowMs, actor, "seed-disclosed", study, {}); !s)
        return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return found->front().definition.study.seed;
}

Result<std::vector<DealtBlock>> SqliteStudies::allocateBlocks(const std::string& study,
                                                              const Uuid& deviceId,
                                                              std::uint32_t blocksPerStratum,
                                                              std::int64_t nowMs,
                                                              const std::string& actor) {
    if (blocksPerStratum < 1 || blocksPerStratum > kMaxBlocksPerDevice) {
        return makeError(
            ErrorCode::InvalidArgument,
            "deal 1 to " + std::to_string(kMaxBlocksPerDevice) + " blocks per stratum");
    }
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto found = loadStudies(m_ctx, study);
    if (!found) return found.error();
    auto facts = deviceFacts(m_ctx, deviceId);
    if (!facts) return facts.error();
    if (facts->revoked) return makeError(ErrorCode::WrongState, "this device has been revoked");
    std::vector<DealtBlock> out;
    const auto strata = alloc::strata(found->front().definition.study);
    for (const auto& stratum : strata) {
        auto dealt = dealLocked(m_ctx, study, stratum, deviceId, blocksPerStratum, nowMs);
        if (!dealt) return dealt.error();
        out.insert(out.end(), dealt->begin(), dealt->end());
    }
    if (auto s = auditLocked(m_ctx, nowMs, actor, "allocate", deviceId.toString(),
                             "study " + study + ": " + std::to_string(blocksPerStratum) +
                                 " blocks in each of " + std::to_string(strata.size()) + " strata");
        !s)
        return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return out;
}

Result<std::vector<AllocationRow>> SqliteStudies::allocationLog(const std::string& study) {
    std::lock_guard lock(m_ctx.mutex);
    auto found = loadStudies(m_ctx, study);
    if (!found) return found.error();
    auto held = allocationRowsLocked(m_ctx, study);
    if (!held) return held.error();
    std::vector<AllocationRow> out;
    out.reserve(held->size());
    for (auto& h : held.value())
        out.push_back(std::move(h.row));
    return out;
}

Result<StudyBalance> SqliteStudies::balance(const std::string& study) {
    std::lock_guard lock(m_ctx.mutex);
    auto found = loadStudies(m_ctx, study);
    if (!found) return found.error();
    const alloc::Study& def = found->front().definition.study;
    auto rows = allocationRowsLocked(m_ctx, study);
    if (!rows) return rows.error();
    auto dealt = dealtBlocksLocked(m_ctx, study);
    if (!dealt) return dealt.error();
    std::vector<AllocationRow> plain;
    plain.reserve(rows->size());
    for (auto& h : *rows)
        plain.push_back(std::move(h.row));
    std::map<Uuid, std::string> labels;
    for (const auto& r : plain)
        labels.emplace(r.deviceId, "");
    for (const auto& d : *dealt)
        labels.emplace(d.deviceId, "");
    auto label = m_ctx.db.prepare("SELECT label FROM devices WHERE device_id = ?");
    if (!label) return label.error();
    for (auto& [id, text] : labels) {
        label->bindBlob(1, idBytes(id));
        auto row = label->step();
        if (!row) return row.error();
        if (row.value()) text = std::string(label->columnText(0));
        label->reset();
    }
    return studyBalance(def, plain, *dealt, labels);
}

Result<StudyVerification> SqliteStudies::verifyAllocations(const std::string& study) {
    std::lock_guard lock(m_ctx.mutex);
    auto found = loadStudies(m_ctx, study);
    if (!found) return found.error();
    const alloc::Study& def = found->front().definition.study;
    auto rows = allocationRowsLocked(m_ctx, study, true);
    if (!rows) return rows.error();
    auto dealt = dealtBlocksLocked(m_ctx, study);
    if (!dealt) return dealt.error();
    auto logs = deviceLogsLocked(m_ctx, rules::devicesOf(*rows));
    if (!logs) return logs.error();
    return rules::verify(def, *rows, *dealt, *logs);
}

Status storeAllocation(SqliteContext& ctx, const Uuid& deviceId, const Uuid& caseId,
                       const Uuid& recordId, const Allocation& a, std::int64_t rid,
                       std::int64_t nowMs) {
    {
        // Another revision of the same record (edited on another device) carries the same
        // allocation: it is one allocation, not a reuse of its slot.
        auto st = ctx.db.prepare(
            "SELECT 1 FROM allocations WHERE record_id = ? "
            "AND study = ? AND stratum = ? AND "
            "block = ? AND position = ? AND log_seq = ? AND "
            "arm = ? AND token IS ?");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(recordId))
            .bind(2, a.study)
            .bind(3, a.stratum)
            .bind(4, static_cast<std::int64_t>(a.block))
            .bind(5, static_cast<std::int64_t>(a.position))
            .bind(6, i64(a.logSeq))
            .bind(7, a.arm)
            .bindBlob(8, a.token);
        auto row = st->step();
        if (!row) return row.error();
        if (row.value()) return {};
    }
    auto st = ctx.db.prepare(
        "INSERT INTO allocations (study, stratum, block, "
        "position, arm, token, device_id, "
        "log_seq, case_id, record_id, rid, taken_utc_ms, "
        "received_utc_ms) VALUES (?, ?, ?, ?, "
        "?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, a.study)
        .bind(2, a.stratum)
        .bind(3, static_cast<std::int64_t>(a.block))
        .bind(4, static_cast<std::int64_t>(a.position))
        .bind(5, a.arm)
        .bindBlob(6, a.token)
        .bindBlob(7, idBytes(deviceId))
        .bind(8, i64(a.logSeq))
        .bindBlob(9, idBytes(caseId))
        .bindBlob(10, idBytes(recordId))
        .bind(11, rid)
        .bind(12, a.takenUtcMs)
        .bind(13, nowMs);
    return st->run();
}

namespace {

Result<std::vector<StoredStudy>> loadStudies(SqliteContext& ctx,
                                             const std::optional<std::string>& only) {
    auto st =
        ctx.db.prepare(only ? "SELECT id, definition, seed, created_utc_ms FROM studies WHERE id "
                              "= ?"
                            : "SELECT id, definition, seed, created_utc_ms FROM studies ORDER BY "
                              "created_utc_ms, id");
    if (!st) return st.error();
    if (only) st->bind(1, *only);
    std::vector<StoredStudy> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        auto parsed = parseStudyJson(st->columnText(1));
        if (!parsed) {
            return makeError(ErrorCode::Corrupt, "the stored definition of study " +
                                                     std::string(st->columnText(0)) +
                                                     " cannot be read: " + parsed.error().message);
        }
        StoredStudy s{std::move(parsed.value()), st->columnInt(3)};
        const auto seed = st->columnBlob(2);
        if (seed.size() != alloc::kSeedBytes)
            return makeError(ErrorCode::Corrupt, "a study's stored seed is damaged");
        std::copy(seed.begin(), seed.end(), s.definition.study.seed.begin());
        s.definition.seedGiven = true;
        out.push_back(std::move(s));
    }
    if (only && out.empty()) return makeError(ErrorCode::NotFound, "no study " + *only);
    return out;
}

Status topUp(SqliteContext& ctx, const Uuid& deviceId, const PullRequest& request,
             const std::vector<StoredStudy>& studies, std::int64_t nowMs) {
    std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, std::int64_t>> held;
    {
        auto st = ctx.db.prepare(
            "SELECT study, stratum, count(*), sum(assign_seq "
            "> ?2) FROM study_blocks WHERE "
            "device_id = ?1 GROUP BY study, stratum");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(deviceId)).bind(2, i64(request.allocationCursor));
        if (auto stepped = st->forEachRow([&] {
                held[{std::string(st->columnText(0)), std::string(st->columnText(1))}] = {
                    st->columnInt(2), st->columnInt(3)};
            });
            !stepped)
            return stepped;
    }
    std::map<std::pair<std::string, std::string>, std::uint32_t> stock;
    for (const auto& s : request.stock)
        stock[{s.study, s.stratum}] = s.remaining;
    for (const auto& stored : studies) {
        const alloc::Study& study = stored.definition.study;
        int toppedUp = 0;
        for (const auto& stratum : alloc::strata(study)) {
            const auto h = held[{study.id, stratum}];
            // Blocks on their way: the device counts them in its stock once it has them.
            if (h.second > 0) continue;
            const auto reported = stock.find({study.id, stratum});
            if (reported != stock.end()) {
                if (reported->second >= effectiveLowSlots(study)) continue;
            } else if (h.first > 0) {
                continue;  // it holds blocks and says nothing of them (an older Veld)
            }
            auto dealt = dealLocked(ctx, study.id, stratum, deviceId,
                                    stored.definition.blocksPerDevice, nowMs);
            if (!dealt) return dealt.error();
            ++toppedUp;
        }
        if (toppedUp > 0) {
            if (auto s = auditLocked(ctx, nowMs, "collector", "allocate", deviceId.toString(),
                                     "study " + study.id + ": " +
                                         std::to_string(stored.definition.blocksPerDevice) +
                                         " blocks in each of " + std::to_string(toppedUp) +
                                         " strata, at the device's pull");
                !s)
                return s;
        }
    }
    return {};
}

Status pullBlocks(SqliteContext& ctx, const Uuid& deviceId,
                  const std::array<std::uint8_t, 32>& boxKey, const PullRequest& request,
                  const std::vector<StoredStudy>& studies, PullReply& reply) {
    auto st = ctx.db.prepare(
        "SELECT study, stratum, block, assign_seq FROM "
        "study_blocks WHERE device_id = ? AND "
        "assign_seq > ? ORDER BY assign_seq LIMIT ?");
    if (!st) return st.error();
    const std::size_t limit = std::max<std::size_t>(1, ctx.policy.maxBlocksPerPull);
    st->bindBlob(1, idBytes(deviceId))
        .bind(2, i64(request.allocationCursor))
        .bind(3, static_cast<std::int64_t>(limit + 1));
    bool more = false;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        if (reply.blocks.size() == limit) {
            more = true;
            break;
        }
        AllocationBlock b;
        b.study = std::string(st->columnText(0));
        b.stratum = std::string(st->columnText(1));
        b.block = static_cast<std::uint32_t>(st->columnInt(2));
        b.seq = static_cast<std::uint64_t>(st->columnInt(3));
        const auto def = std::find_if(studies.begin(), studies.end(), [&](const StoredStudy& s) {
            return s.definition.study.id == b.study;
        });
        if (def == studies.end())
            return makeError(ErrorCode::Corrupt, "a dealt block names no defined study");
        const auto generated = alloc::generateBlock(def->definition.study, b.stratum, b.block);
        for (std::uint32_t pos = 0; pos < generated.arms.size(); ++pos) {
            const alloc::Slot slot{b.study, b.stratum,           b.block,
                                   pos,     generated.arms[pos], generated.tokens[pos]};
            b.slots.push_back({pos, alloc::sealSlot(slot, boxKey)});
        }
        reply.blocks.push_back(std::move(b));
    }
    st.value().reset();
    if (more) {
        reply.allocationCursor = reply.blocks.back().seq;
        reply.more = true;
    } else {
        auto last = ctx.db.queryInt("SELECT coalesce(max(assign_seq), 0) FROM study_blocks");
        if (!last) return last.error();
        reply.allocationCursor =
            std::max(request.allocationCursor, static_cast<std::uint64_t>(last.value()));
    }
    return {};
}

Result<std::vector<DealtBlock>> dealLocked(SqliteContext& ctx, const std::string& study,
                                           const std::string& stratum, const Uuid& deviceId,
                                           std::uint32_t count, std::int64_t nowMs) {
    auto next = ctx.db.prepare(
        "SELECT coalesce(max(block) + 1, 0), (SELECT coalesce(max(assign_seq), "
        "0) FROM "
        "study_blocks) FROM study_blocks WHERE study = ? AND stratum = ?");
    if (!next) return next.error();
    next->bind(1, study).bind(2, stratum);
    auto row = next->step();
    if (!row) return row.error();
    auto block = static_cast<std::uint32_t>(next->columnInt(0));
    auto seq = static_cast<std::uint64_t>(next->columnInt(1));
    next.value().reset();
    auto ins = ctx.db.prepare(
        "INSERT INTO study_blocks (study, stratum, block, device_id, assign_seq, "
        "assigned_utc_ms) VALUES (?, ?, ?, ?, ?, ?)");
    if (!ins) return ins.error();
    std::vector<DealtBlock> out;
    for (std::uint32_t i = 0; i < count; ++i, ++block) {
        ++seq;
        ins->bind(1, study)
            .bind(2, stratum)
            .bind(3, static_cast<std::int64_t>(block))
            .bindBlob(4, idBytes(deviceId))
            .bind(5, i64(seq))
            .bind(6, nowMs);
        if (auto s = ins->run(); !s) return s.error();
        ins->reset();
        out.push_back({study, stratum, block, deviceId, seq, nowMs});
    }
    return out;
}

Result<std::vector<rules::HeldAllocation>> allocationRowsLocked(SqliteContext& ctx,
                                                                const std::string& study,
                                                                bool withTokens) {
    auto st = ctx.db.prepare(
        "SELECT study, stratum, block, position, arm, "
        "device_id, log_seq, case_id, record_id, "
        "coalesce(taken_utc_ms, 0), received_utc_ms, token "
        "FROM allocations WHERE study = ? "
        "ORDER BY aid");
    if (!st) return st.error();
    st->bind(1, study);
    std::vector<rules::HeldAllocation> out;
    if (auto stepped = st->forEachRow([&] {
            rules::HeldAllocation a;
            AllocationRow& r = a.row;
            r.study = std::string(st->columnText(0));
            r.stratum = std::string(st->columnText(1));
            r.block = static_cast<std::uint32_t>(st->columnInt(2));
            r.position = static_cast<std::uint32_t>(st->columnInt(3));
            r.arm = std::string(st->columnText(4));
            r.deviceId = idFrom(st->columnBlob(5));
            r.logSeq = static_cast<std::uint64_t>(st->columnInt(6));
            r.caseId = idFrom(st->columnBlob(7));
            r.recordId = idFrom(st->columnBlob(8));
            r.takenUtcMs = st->columnInt(9);
            r.receivedUtcMs = st->columnInt(10);
            if (withTokens) {
                const auto token = st->columnBlob(11);
                a.token.assign(token.begin(), token.end());
            }
            out.push_back(std::move(a));
        });
        !stepped)
        return stepped.error();
    return out;
}

Result<std::vector<DealtBlock>> dealtBlocksLocked(SqliteContext& ctx, const std::string& study) {
    auto st = ctx.db.prepare(
        "SELECT stratum, block, device_id, assign_seq, "
        "assigned_utc_ms FROM study_blocks "
        "WHERE study = ? ORDER BY stratum, block");
    if (!st) return st.error();
    st->bind(1, study);
    std::vector<DealtBlock> out;
    if (auto stepped = st->forEachRow([&] {
            out.push_back({study, std::string(st->columnText(0)),
                           static_cast<std::uint32_t>(st->columnInt(1)), idFrom(st->columnBlob(2)),
                           static_cast<std::uint64_t>(st->columnInt(3)), st->columnInt(4)});
        });
        !stepped)
        return stepped.error();
    return out;
}

Result<rules::DeviceLogs> deviceLogsLocked(SqliteContext& ctx, const std::set<Uuid>& devices) {
    auto logs = ctx.db.prepare(
        "SELECT log_seq, count(*) FROM allocations WHERE "
        "device_id = ? GROUP BY log_seq "
        "ORDER BY log_seq");
    if (!logs) return logs.error();
    rules::DeviceLogs out;
    for (const auto& device : devices) {
        logs->bindBlob(1, idBytes(device));
        auto& uses = out[device];
        if (auto stepped = logs->forEachRow([&] {
                uses.push_back(
                    {static_cast<std::uint64_t>(logs->columnInt(0)), logs->columnInt(1)});
            });
            !stepped)
            return stepped.error();
        logs->reset();
    }
    return out;
}

}  // namespace

Status pullStudies(SqliteContext& ctx, const Uuid& deviceId, const DeviceFacts& facts,
                   const PullRequest& request, std::int64_t nowMs, PullReply& reply) {
    auto studies = loadStudies(ctx);
    if (!studies) return studies.error();
    for (const auto& s : studies.value())
        reply.studies.push_back(rules::deviceStudy(s.definition.study));
    reply.allocationCursor = request.allocationCursor;
    // Slots are sealed to the device's box key: none before the device has said it.
    if (!facts.boxKey) return {};
    if (auto s = topUp(ctx, deviceId, request, studies.value(), nowMs); !s) return s;
    return pullBlocks(ctx, deviceId, *facts.boxKey, request, studies.value(), reply);
}

}  // namespace veld::sync::sqlite
