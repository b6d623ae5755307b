// The PostgreSQL backend's randomisation domain: studies, dealing blocks, the allocations devices
// report and the randomisation part of a pull, with the SQLite store's behaviour.
//
// Blocks are dealt once across processes. Every deal first takes a number from the
// `block_deals` counter: one row of `meta` updated in place, which the dealing transaction holds
// until it commits, so deals are taken one at a time and each reads the blocks the previous one
// dealt (under REPEATABLE READ a deal that would read an older picture fails to serialise and is
// run again). The primary key (study, stratum, block) and the unique assign_seq are the backstop.
// Assignment numbers therefore become visible in the order they were given, which a pull's
// allocation cursor relies on. A pull or a staff deal for one device also locks that device's
// row, so one device is never topped up twice by two pulls at once.
#include "pg_studies.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <sodium.h>

#include "../store_rules.hpp"
#include "../study_balance.hpp"

namespace veld::sync::postgres {

namespace {

std::int64_t i64(std::uint64_t v) {
    return static_cast<std::int64_t>(v);
}

// A study as stored, with its seed.
struct StoredStudy {
    StudyDefinition definition;
    std::int64_t createdUtcMs = 0;
};

// Every study (or the one named), oldest first; NotFound when a named one is missing.
Result<std::vector<StoredStudy>> loadStudies(pg::Connection& c,
                                             const std::optional<std::string>& only = {}) {
    auto rows = only ? c.query(
                           "SELECT id, definition, seed, created_utc_ms FROM studies WHERE id "
                           "= $1",
                           pg::Params().add(*only), "reading a study")
                     : c.query(
                           "SELECT id, definition, seed, created_utc_ms FROM studies ORDER BY "
                           "created_utc_ms, id",
                           {}, "reading the studies");
    if (!rows) return rows.error();
    std::vector<StoredStudy> out;
    for (int i = 0; i < rows->size(); ++i) {
        auto parsed = parseStudyJson(rows->text(i, 1));
        if (!parsed) {
            return makeError(ErrorCode::Corrupt, "the stored definition of study " +
                                                     std::string(rows->text(i, 0)) +
                                                     " cannot be read: " + parsed.error().message);
        }
        StoredStudy s{std::move(parsed.value()), rows->integer(i, 3)};
        const auto seed = rows->bytes(i, 2);
        if (seed.size() != alloc::kSeedBytes)
            return makeError(ErrorCode::Corrupt, "a study's stored seed is damaged");
        std::copy(seed.begin(), seed.end(), s.definition.study.seed.begin());
        s.definition.seedGiven = true;
        out.push_back(std::move(s));
    }
    if (only && out.empty()) return makeError(ErrorCode::NotFound, "no study " + *only);
    return out;
}

// Locks a device's row for the rest of the transaction; its box key, whether it is revoked.
// NotFound for an unknown device.
struct LockedDevice {
    std::optional<std::array<std::uint8_t, alloc::kBoxKeyBytes>> boxKey;
    bool revoked = false;
};
Result<LockedDevice> lockDevice(pg::Connection& c, const Uuid& deviceId) {
    auto rows = c.query(
        "SELECT box_key, revoked_utc_ms IS NOT NULL FROM devices WHERE device_id = $1 FOR UPDATE",
        pg::Params().add(deviceId), "locking a device");
    if (!rows) return rows.error();
    if (rows->empty()) return makeError(ErrorCode::NotFound, "no device with that id");
    LockedDevice out;
    const auto key = rows->bytes(0, 0);
    if (!rows->isNull(0, 0) && key.size() == alloc::kBoxKeyBytes) {
        out.boxKey.emplace();
        std::copy(key.begin(), key.end(), out.boxKey->begin());
    }
    out.revoked = rows->boolean(0, 1);
    return out;
}

// Deals the next `count` undealt blocks of each of `strata` to a device, in one statement per
// stratum, under the deal lock (see the top of this file).
Result<std::vector<DealtBlock>> deal(pg::Connection& c, const std::string& study,
                                     const std::vector<std::string>& strata, const Uuid& deviceId,
                                     std::uint32_t count, std::int64_t nowMs) {
    auto lock = nextCounter(c, "block_deals");
    if (!lock) return lock.error();
    auto last = c.query("SELECT coalesce(max(assign_seq), 0) FROM study_blocks", {},
                        "reading the last assignment number");
    if (!last) return last.error();
    auto seq = static_cast<std::uint64_t>(last->integer(0, 0));
    std::vector<DealtBlock> out;
    for (const auto& stratum : strata) {
        auto next = c.query(
            "SELECT coalesce(max(block) + 1, 0) FROM study_blocks WHERE study = $1 AND stratum = "
            "$2",
            pg::Params().add(study).add(stratum), "finding the next block to deal");
        if (!next) return next.error();
        auto block = static_cast<std::uint32_t>(next->integer(0, 0));
        std::string sql =
            "INSERT INTO study_blocks (study, stratum, block, device_id, assign_seq, "
            "assigned_utc_ms) VALUES ";
        pg::Params params;
        params.add(study).add(stratum).add(deviceId).add(nowMs);
        int n = 5;
        for (std::uint32_t i = 0; i < count; ++i, ++block) {
            ++seq;
            sql += (i == 0 ? "" : ", ") + std::string("($1, $2, $") + std::to_string(n) +
                   ", $3, $" + std::to_string(n + 1) + ", $4)";
            n += 2;
            params.add(static_cast<std::int64_t>(block)).add(i64(seq));
            out.push_back({study, stratum, block, deviceId, seq, nowMs});
        }
        if (auto s = c.run(sql, params, "dealing blocks"); !s) return s.error();
    }
    return out;
}

// Deals blocks to a device that runs low (see RecordStore::pull).
Status topUp(pg::Connection& c, const Uuid& deviceId, const PullRequest& request,
             const std::vector<StoredStudy>& studies, std::int64_t nowMs) {
    auto rows = c.query(
        "SELECT study, stratum, count(*), count(*) FILTER (WHERE assign_seq > $2) FROM "
        "study_blocks WHERE device_id = $1 GROUP BY study, stratum",
        pg::Params().add(deviceId).add(i64(request.allocationCursor)),
        "reading the blocks a device holds");
    if (!rows) return rows.error();
    std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, std::int64_t>> held;
    for (int i = 0; i < rows->size(); ++i) {
        held[{std::string(rows->text(i, 0)), std::string(rows->text(i, 1))}] = {
            rows->integer(i, 2), rows->integer(i, 3)};
    }
    std::map<std::pair<std::string, std::string>, std::uint32_t> stock;
    for (const auto& s : request.stock)
        stock[{s.study, s.stratum}] = s.remaining;
    for (const auto& stored : studies) {
        const alloc::Study& study = stored.definition.study;
        std::vector<std::string> low;
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
            low.push_back(stratum);
        }
        if (low.empty()) continue;
        auto dealt = deal(c, study.id, low, deviceId, stored.definition.blocksPerDevice, nowMs);
        if (!dealt) return dealt.error();
        if (auto s = audit(c, nowMs, "collector", "allocate", deviceId.toString(),
                           "study " + study.id + ": " +
                               std::to_string(stored.definition.blocksPerDevice) +
                               " blocks in each of " + std::to_string(low.size()) +
                               " strata, at the device's pull");
            !s)
            return s;
    }
    return {};
}

// The blocks dealt to a device after its cursor, each slot sealed to its box key.
Status pullBlocks(PgContext& ctx, pg::Connection& c, const Uuid& deviceId,
                  const std::array<std::uint8_t, alloc::kBoxKeyBytes>& boxKey,
                  const PullRequest& request, const std::vector<StoredStudy>& studies,
                  PullReply& reply) {
    // The last number before the blocks: every block numbered up to it is visible below.
    auto last = c.query("SELECT coalesce(max(assign_seq), 0) FROM study_blocks", {},
                        "reading the last assignment number");
    if (!last) return last.error();
    const std::size_t limit = std::max<std::size_t>(1, ctx.policy.maxBlocksPerPull);
    auto rows = c.query(
        "SELECT study, stratum, block, assign_seq FROM study_blocks WHERE device_id = $1 AND "
        "assign_seq > $2 ORDER BY assign_seq LIMIT $3",
        pg::Params()
            .add(deviceId)
            .add(i64(request.allocationCursor))
            .add(static_cast<std::int64_t>(limit + 1)),
        "reading the blocks dealt to a device");
    if (!rows) return rows.error();
    bool more = false;
    std::uint64_t seen = request.allocationCursor;
    for (int i = 0; i < rows->size(); ++i) {
        if (reply.blocks.size() == limit) {
            more = true;
            break;
        }
        AllocationBlock b;
        b.study = std::string(rows->text(i, 0));
        b.stratum = std::string(rows->text(i, 1));
        b.block = static_cast<std::uint32_t>(rows->integer(i, 2));
        b.seq = static_cast<std::uint64_t>(rows->integer(i, 3));
        seen = std::max(seen, b.seq);
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
    if (more) {
        reply.allocationCursor = reply.blocks.back().seq;
        reply.more = true;
    } else {
        reply.allocationCursor = std::max(
            seen, static_cast<std::uint64_t>(std::max<std::int64_t>(last->integer(0, 0), 0)));
    }
    return {};
}

Result<std::vector<rules::HeldAllocation>> allocationRows(pg::Connection& c,
                                                          const std::string& study,
                                                          bool withTokens = false) {
    auto rows = c.query(
        "SELECT study, stratum, block, position, arm, device_id, log_seq, case_id, record_id, "
        "coalesce(taken_utc_ms, 0), received_utc_ms, token FROM allocations WHERE study = $1 "
        "ORDER BY aid",
        pg::Params().add(study), "reading a study's allocations");
    if (!rows) return rows.error();
    std::vector<rules::HeldAllocation> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i) {
        rules::HeldAllocation a;
        AllocationRow& r = a.row;
        r.study = std::string(rows->text(i, 0));
        r.stratum = std::string(rows->text(i, 1));
        r.block = static_cast<std::uint32_t>(rows->integer(i, 2));
        r.position = static_cast<std::uint32_t>(rows->integer(i, 3));
        r.arm = std::string(rows->text(i, 4));
        r.deviceId = rows->uuid(i, 5);
        r.logSeq = static_cast<std::uint64_t>(rows->integer(i, 6));
        // A case id is always stored with an allocation; a missing one reads as the nil id.
        if (!rows->isNull(i, 7)) r.caseId = rows->uuid(i, 7);
        r.recordId = rows->uuid(i, 8);
        r.takenUtcMs = rows->integer(i, 9);
        r.receivedUtcMs = rows->integer(i, 10);
        if (withTokens && !rows->isNull(i, 11)) {
            const auto token = rows->bytes(i, 11);
            a.token.assign(token.begin(), token.end());
        }
        out.push_back(std::move(a));
    }
    return out;
}

Result<std::vector<DealtBlock>> dealtBlocks(pg::Connection& c, const std::string& study) {
    auto rows = c.query(
        "SELECT stratum, block, device_id, assign_seq, assigned_utc_ms FROM study_blocks WHERE "
        "study = $1 ORDER BY stratum, block",
        pg::Params().add(study), "reading a study's dealt blocks");
    if (!rows) return rows.error();
    std::vector<DealtBlock> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i) {
        out.push_back({study, std::string(rows->text(i, 0)),
                       static_cast<std::uint32_t>(rows->integer(i, 1)), rows->uuid(i, 2),
                       static_cast<std::uint64_t>(rows->integer(i, 3)), rows->integer(i, 4)});
    }
    return out;
}

}  // namespace

// ---- StudyStore -----------------------------------------------------------------------------

Result<bool> PgStudies::defineStudy(const StudyDefinition& definition, std::int64_t nowMs,
                                    const std::string& actor) {
    if (auto s = checkStudyDefinition(definition); !s) return s.error();
    const std::string text = studyJson(definition);
    const std::string& id = definition.study.id;
    if (sodium_init() < 0) return makeError(ErrorCode::Internal, "libsodium did not start");
    std::array<std::uint8_t, alloc::kSeedBytes> seed = definition.study.seed;
    if (!definition.seedGiven) randombytes_buf(seed.data(), seed.size());
    bool made = false;
    auto status =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            // Two processes defining one study at once: one row wins, the other compares.
            auto ins = c.query(
                "INSERT INTO studies (id, pilot, definition, seed, created_utc_ms) VALUES ($1, "
                "$2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING 1",
                pg::Params()
                    .add(id)
                    .add(definition.study.pilot)
                    .add(text)
                    .addBytes(seed)
                    .add(nowMs),
                "defining a study");
            if (!ins) return ins.error();
            if (ins->empty()) {
                auto existing = c.query("SELECT definition, seed FROM studies WHERE id = $1",
                                        pg::Params().add(id), "reading a study");
                if (!existing) return existing.error();
                if (existing->empty())
                    return makeError(ErrorCode::Internal, "a study vanished while defined");
                const auto held = existing->bytes(0, 1);
                const bool sameSeed =
                    !definition.seedGiven ||
                    std::equal(held.begin(), held.end(), definition.study.seed.begin(),
                               definition.study.seed.end());
                if (existing->text(0, 0) != text || !sameSeed) {
                    return makeError(ErrorCode::WrongState,
                                     "study " + id +
                                         " is defined already, differently; a changed study needs "
                                         "a new id (allocations made under the old one stay "
                                         "valid)");
                }
                made = false;
                return {};
            }
            made = true;
            std::string sizes;
            for (auto size : definition.study.blockSizes)
                sizes += (sizes.empty() ? "" : ",") + std::to_string(size);
            return audit(c, nowMs, actor, "study-define", id,
                         std::to_string(definition.study.arms.size()) + " arms, " +
                             std::to_string(alloc::strata(definition.study).size()) +
                             " strata, block sizes " + sizes +
                             (definition.seedGiven ? ", seed given" : ", seed made here"));
        });
    sodium_memzero(seed.data(), seed.size());
    if (!status) return status.error();
    return made;
}

Result<std::vector<StudySummary>> PgStudies::studies() {
    auto lease = m_ctx.pool.acquire();
    if (!lease) return lease.error();
    auto all = loadStudies(**lease);
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

Result<std::array<std::uint8_t, alloc::kSeedBytes>> PgStudies::studySeed(const std::string& study,
                                                                         std::int64_t nowMs,
                                                                         const std::string& actor) {
    std::array<std::uint8_t, alloc::kSeedBytes> seed{};
    auto status =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            auto found = loadStudies(c, study);
            if (!found) return found.error();
            seed = found->front().definition.study.seed;
            return audit(c, nowMs, actor, "seed-disclosed", study, {});
        });
    if (!status) return status.error();
    return seed;
}

Result<std::vector<DealtBlock>> PgStudies::allocateBlocks(const std::string& study,
                                                          const Uuid& deviceId,
                                                          std::uint32_t blocksPerStratum,
                                                          std::int64_t nowMs,
                                                          const std::string& actor) {
    if (blocksPerStratum < 1 || blocksPerStratum > kMaxBlocksPerDevice) {
        return makeError(
            ErrorCode::InvalidArgument,
            "deal 1 to " + std::to_string(kMaxBlocksPerDevice) + " blocks per stratum");
    }
    std::vector<DealtBlock> out;
    auto status =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            auto found = loadStudies(c, study);
            if (!found) return found.error();
            auto device = lockDevice(c, deviceId);
            if (!device) return device.error();
            if (device->revoked)
                return makeError(ErrorCode::WrongState, "this device has been revoked");
            const auto strata = alloc::strata(found->front().definition.study);
            auto dealt = deal(c, study, strata, deviceId, blocksPerStratum, nowMs);
            if (!dealt) return dealt.error();
            out = std::move(dealt.value());
            return audit(c, nowMs, actor, "allocate", deviceId.toString(),
                         "study " + study + ": " + std::to_string(blocksPerStratum) +
                             " blocks in each of " + std::to_string(strata.size()) + " strata");
        });
    if (!status) return status.error();
    return out;
}

Result<std::vector<AllocationRow>> PgStudies::allocationLog(const std::string& study) {
    std::vector<AllocationRow> out;
    auto status =
        pg::transact(m_ctx.pool, pg::Isolation::RepeatableRead, [&](pg::Connection& c) -> Status {
            auto found = loadStudies(c, study);
            if (!found) return found.error();
            auto held = allocationRows(c, study);
            if (!held) return held.error();
            out.clear();
            out.reserve(held->size());
            for (auto& h : held.value())
                out.push_back(std::move(h.row));
            return {};
        });
    if (!status) return status.error();
    return out;
}

Result<StudyBalance> PgStudies::balance(const std::string& study) {
    StudyBalance out;
    auto status =
        pg::transact(m_ctx.pool, pg::Isolation::RepeatableRead, [&](pg::Connection& c) -> Status {
            auto found = loadStudies(c, study);
            if (!found) return found.error();
            auto held = allocationRows(c, study);
            if (!held) return held.error();
            auto dealt = dealtBlocks(c, study);
            if (!dealt) return dealt.error();
            auto labelRows = c.query(
                "SELECT device_id, label FROM devices WHERE device_id IN (SELECT device_id FROM "
                "study_blocks WHERE study = $1 UNION SELECT device_id FROM allocations WHERE "
                "study = $1)",
                pg::Params().add(study), "reading devices' labels");
            if (!labelRows) return labelRows.error();
            std::map<Uuid, std::string> labels;
            for (int i = 0; i < labelRows->size(); ++i)
                labels[labelRows->uuid(i, 0)] = std::string(labelRows->text(i, 1));
            std::vector<AllocationRow> rows;
            rows.reserve(held->size());
            for (auto& h : held.value())
                rows.push_back(std::move(h.row));
            out = studyBalance(found->front().definition.study, rows, dealt.value(), labels);
            return {};
        });
    if (!status) return status.error();
    return out;
}

Result<StudyVerification> PgStudies::verifyAllocations(const std::string& study) {
    StudyVerification out;
    auto status =
        pg::transact(m_ctx.pool, pg::Isolation::RepeatableRead, [&](pg::Connection& c) -> Status {
            auto found = loadStudies(c, study);
            if (!found) return found.error();
            auto held = allocationRows(c, study, true);
            if (!held) return held.error();
            auto dealt = dealtBlocks(c, study);
            if (!dealt) return dealt.error();
            // Each device's log numbers over every study (a device numbers its log once).
            auto logRows = c.query(
                "SELECT device_id, log_seq, count(*) FROM allocations WHERE device_id IN (SELECT "
                "device_id FROM allocations WHERE study = $1) GROUP BY device_id, log_seq ORDER "
                "BY device_id, log_seq",
                pg::Params().add(study), "reading devices' allocation logs");
            if (!logRows) return logRows.error();
            rules::DeviceLogs logs;
            for (int i = 0; i < logRows->size(); ++i) {
                logs[logRows->uuid(i, 0)].push_back(
                    {static_cast<std::uint64_t>(logRows->integer(i, 1)), logRows->integer(i, 2)});
            }
            out = rules::verify(found->front().definition.study, held.value(), dealt.value(), logs);
            return {};
        });
    if (!status) return status.error();
    return out;
}

// ---- for the records domain -----------------------------------------------------------------

Status storeAllocation(pg::Connection& c, const Uuid& deviceId, const Uuid& caseId,
                       const Uuid& recordId, const Allocation& a, std::int64_t rid,
                       std::int64_t nowMs) {
    // Another revision of the same record (edited on another device) carries the same
    // allocation: it is one allocation, not a reuse of its slot.
    auto same = c.query(
        "SELECT 1 FROM allocations WHERE record_id = $1 AND study = $2 AND stratum = $3 AND "
        "block = $4 AND position = $5 AND log_seq = $6 AND arm = $7 AND token IS NOT DISTINCT "
        "FROM $8::bytea",
        pg::Params()
            .add(recordId)
            .add(a.study)
            .add(a.stratum)
            .add(static_cast<std::int64_t>(a.block))
            .add(static_cast<std::int64_t>(a.position))
            .add(i64(a.logSeq))
            .add(a.arm)
            .addBytes(a.token),
        "looking for an allocation received before");
    if (!same) return same.error();
    if (!same->empty()) return {};
    return c.run(
        "INSERT INTO allocations (study, stratum, block, position, arm, token, device_id, "
        "log_seq, case_id, record_id, rid, taken_utc_ms, received_utc_ms) VALUES ($1, $2, $3, "
        "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        pg::Params()
            .add(a.study)
            .add(a.stratum)
            .add(static_cast<std::int64_t>(a.block))
            .add(static_cast<std::int64_t>(a.position))
            .add(a.arm)
            .addBytes(a.token)
            .add(deviceId)
            .add(i64(a.logSeq))
            .add(caseId)
            .add(recordId)
            .add(rid)
            .add(a.takenUtcMs)
            .add(nowMs),
        "storing an allocation");
}

Status pullStudies(PgContext& ctx, pg::Connection& c, const Uuid& deviceId,
                   const PullRequest& request, std::int64_t nowMs, PullReply& reply) {
    auto studies = loadStudies(c);
    if (!studies) return studies.error();
    for (const auto& s : studies.value())
        reply.studies.push_back(rules::deviceStudy(s.definition.study));
    reply.allocationCursor = request.allocationCursor;
    // The device's row stays locked to the end of the pull: two pulls of one device at once are
    // taken one after the other, so it is topped up once.
    auto device = lockDevice(c, deviceId);
    if (!device) return device.error();
    auto boxKey = device->boxKey;
    if (request.deviceBoxKey.size() == alloc::kBoxKeyBytes) {
        boxKey.emplace();
        std::copy(request.deviceBoxKey.begin(), request.deviceBoxKey.end(), boxKey->begin());
    }
    // Slots are sealed to the device's box key: none before the device has said it.
    if (!boxKey) return {};
    if (auto s = topUp(c, deviceId, request, studies.value(), nowMs); !s) return s;
    return pullBlocks(ctx, c, deviceId, *boxKey, request, studies.value(), reply);
}

}  // namespace veld::sync::postgres
