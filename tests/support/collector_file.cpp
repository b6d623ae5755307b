#include "support/collector_file.hpp"

#include <filesystem>
#include <set>
#include <tuple>

#include <veld/hex.hpp>
#include <veld/record.hpp>
#include <veld/sync/study_json.hpp>

namespace veld::test {

namespace {

std::span<const std::uint8_t> idBytes(const Uuid& id) {
    return {id.bytes.data(), id.bytes.size()};
}

Uuid uuidOf(std::span<const std::uint8_t> blob) {
    Uuid id;
    if (blob.size() == id.bytes.size()) std::copy(blob.begin(), blob.end(), id.bytes.begin());
    return id;
}

std::string shortId(const Uuid& id) {
    return id.toString().substr(0, 8);
}

// Counts the numbers in (from, to] not found lost before.
void lostNumbers(DeviceLedger& ledger, std::uint64_t from, std::uint64_t to, const std::string& why,
                 CheckTally& tally) {
    long fresh = 0;
    for (std::uint64_t seq = from + 1; seq <= to; ++seq)
        fresh += ledger.lost.insert(seq).second ? 1 : 0;
    if (fresh > 0) tally.addLost(fresh, why);
}

// Reports a problem of the device's only the first time it is found.
void once(DeviceLedger& ledger, const std::string& why,
          void (CheckTally::*add)(long, const std::string&), CheckTally& tally) {
    if (ledger.reported.insert(why).second) (tally.*add)(1, why);
}

}  // namespace

void CheckTally::addLost(long n, const std::string& why) {
    lost += n;
    problems.push_back("lost " + std::to_string(n) + ": " + why);
}

void CheckTally::addDoubled(long n, const std::string& why) {
    doubled += n;
    problems.push_back("doubled " + std::to_string(n) + ": " + why);
}

void CheckTally::addCorrupt(long n, const std::string& why) {
    corrupt += n;
    problems.push_back("corrupt: " + why);
}

Result<CollectorFile> CollectorFile::open(const std::string& path) {
    if (!std::filesystem::exists(path)) return makeError(ErrorCode::NotFound, "no file " + path);
    auto db = sql::Database::open(path, sql::OpenMode::ReadOnly);
    if (!db) return db.error();
    return CollectorFile(std::move(db.value()));
}

Result<DeviceHeld> CollectorFile::device(const Uuid& deviceId) {
    DeviceHeld held;
    auto st = m_db.prepare(
        "SELECT received_through, revoked_utc_ms IS NOT NULL FROM devices WHERE device_id = ?");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(deviceId));
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return held;
    held.listed = true;
    held.receivedThrough = static_cast<std::uint64_t>(st->columnInt(0));
    held.revoked = st->columnInt(1) != 0;
    auto counts = m_db.prepare(
        "SELECT count(*), coalesce(max(seq), 0), count(DISTINCT record_id) FROM revisions WHERE "
        "device_id = ?");
    if (!counts) return counts.error();
    counts->bindBlob(1, idBytes(deviceId));
    auto c = counts->step();
    if (!c) return c.error();
    held.revisions = counts->columnInt(0);
    held.maxSeq = static_cast<std::uint64_t>(counts->columnInt(1));
    held.distinctRecords = counts->columnInt(2);
    return held;
}

Result<std::vector<Uuid>> CollectorFile::devices() {
    auto st = m_db.prepare("SELECT device_id FROM devices ORDER BY device_id");
    if (!st) return st.error();
    std::vector<Uuid> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        out.push_back(uuidOf(st->columnBlob(0)));
    }
    return out;
}

Result<std::vector<HeldRevision>> CollectorFile::revisionsAfter(const Uuid& deviceId,
                                                                std::uint64_t afterSeq) {
    auto st = m_db.prepare(
        "SELECT seq, record_id, body, damaged FROM revisions WHERE device_id = ? AND seq > ? "
        "ORDER BY seq");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(deviceId)).bind(2, static_cast<std::int64_t>(afterSeq));
    std::vector<HeldRevision> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        HeldRevision r;
        r.seq = static_cast<std::uint64_t>(st->columnInt(0));
        r.recordId = uuidOf(st->columnBlob(1));
        const auto body = st->columnBlob(2);
        r.body.assign(body.begin(), body.end());
        r.damaged = st->columnInt(3) != 0;
        out.push_back(std::move(r));
    }
    return out;
}

Result<std::int64_t> CollectorFile::revisionsHeldTwice() {
    return m_db.queryInt(
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM revisions GROUP BY "
        "record_id HAVING n > 1)");
}

Result<std::int64_t> CollectorFile::rejected() {
    return m_db.queryInt("SELECT count(*) FROM rejected");
}

Result<std::vector<HeldBlock>> CollectorFile::dealtBlocks(const std::string& study) {
    auto st = m_db.prepare(
        "SELECT stratum, block, device_id FROM study_blocks WHERE study = ? ORDER BY stratum, "
        "block");
    if (!st) return st.error();
    st->bind(1, study);
    std::vector<HeldBlock> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        out.push_back({std::string(st->columnText(0)), static_cast<std::uint32_t>(st->columnInt(1)),
                       uuidOf(st->columnBlob(2))});
    }
    return out;
}

Result<alloc::Study> CollectorFile::study(const std::string& study) {
    auto st = m_db.prepare("SELECT definition, seed FROM studies WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, study);
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "no study " + study);
    auto definition = sync::parseStudyJson(st->columnText(0));
    if (!definition) return definition.error();
    const auto seed = st->columnBlob(1);
    alloc::Study s = definition->study;
    if (seed.size() != s.seed.size()) return makeError(ErrorCode::Corrupt, "a seed of bad size");
    std::copy(seed.begin(), seed.end(), s.seed.begin());
    return s;
}

Result<std::pair<std::int64_t, std::int64_t>> CollectorFile::allocationsFrom(
    const std::string& study, const Uuid& deviceId) {
    auto st = m_db.prepare(
        "SELECT count(*), count(DISTINCT log_seq) FROM allocations WHERE study = ? AND "
        "device_id = ?");
    if (!st) return st.error();
    st->bind(1, study).bindBlob(2, idBytes(deviceId));
    auto row = st->step();
    if (!row) return row.error();
    return std::make_pair(st->columnInt(0), st->columnInt(1));
}

Result<std::map<std::string, std::uint32_t>> CollectorFile::publishedForms() {
    auto st = m_db.prepare("SELECT form_id, max(version) FROM forms GROUP BY form_id");
    if (!st) return st.error();
    std::map<std::string, std::uint32_t> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        out[std::string(st->columnText(0))] = static_cast<std::uint32_t>(st->columnInt(1));
    }
    return out;
}

Result<std::string> CollectorFile::integrityCheck() {
    auto st = m_db.prepare("PRAGMA integrity_check");
    if (!st) return st.error();
    std::string out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        if (!out.empty()) out += "; ";
        out += st->columnText(0);
    }
    return out;
}

void checkDelivery(CollectorFile& held, DeviceLedger& ledger, Store& device, bool complete,
                   CheckTally& tally) {
    const std::string who = "device " + shortId(ledger.deviceId);
    auto state = device.outboxState();
    if (!state) {
        tally.addCorrupt(1, who + ": outbox unreadable: " + state.error().describe());
        return;
    }
    if (state->lastSeq != ledger.records.size()) {
        tally.addCorrupt(1, who + ": outbox numbers end at " + std::to_string(state->lastSeq) +
                                " after " + std::to_string(ledger.records.size()) + " finalizes");
    }
    auto pending = device.outboxPending(1'000'000, std::size_t{1} << 40);
    if (!pending) {
        tally.addCorrupt(1, who + ": outbox unreadable: " + pending.error().describe());
        return;
    }
    std::uint64_t expect = state->ackedThrough + 1;
    for (const auto& e : pending.value()) {
        if (e.seq != expect || e.damaged ||
            (e.seq <= ledger.records.size() && e.recordId != ledger.records[e.seq - 1])) {
            tally.addCorrupt(1, who + ": outbox entry " + std::to_string(e.seq) +
                                    " out of order, damaged or not the record finalized under "
                                    "that number");
            break;
        }
        ++expect;
    }

    auto h = held.device(ledger.deviceId);
    if (!h) {
        tally.addCorrupt(1, who + ": collector unreadable: " + h.error().describe());
        return;
    }
    const std::uint64_t rt = h->receivedThrough;
    if (state->ackedThrough > rt) {
        lostNumbers(ledger, rt, state->ackedThrough,
                    who + " was told the collector holds through " +
                        std::to_string(state->ackedThrough) + ", it holds through " +
                        std::to_string(rt),
                    tally);
    }
    if (h->revisions != static_cast<std::int64_t>(rt) || h->maxSeq != rt) {
        tally.addCorrupt(1, who + ": received_through " + std::to_string(rt) + " but " +
                                std::to_string(h->revisions) + " revisions up to number " +
                                std::to_string(h->maxSeq));
    }
    if (h->revisions - h->distinctRecords > ledger.doubled) {
        tally.addDoubled(static_cast<long>(h->revisions - h->distinctRecords - ledger.doubled),
                         who + ": a record held under two numbers");
        ledger.doubled = h->revisions - h->distinctRecords;
    }
    if (rt > ledger.records.size()) {
        tally.addCorrupt(1, who + ": the collector holds through " + std::to_string(rt) +
                                ", beyond the " + std::to_string(ledger.records.size()) +
                                " records finalized");
    }

    // Revisions held since the last check: each the ledger's record, with the device's body.
    auto fresh = held.revisionsAfter(ledger.deviceId, ledger.checkedThrough);
    if (!fresh) {
        tally.addCorrupt(1, who + ": collector unreadable: " + fresh.error().describe());
        return;
    }
    bool sound = true;
    for (const auto& r : fresh.value()) {
        if (r.seq == 0 || r.seq > ledger.records.size()) {
            sound = false;
            continue;  // counted above (beyond what was finalized)
        }
        const Uuid& expected = ledger.records[r.seq - 1];
        if (r.recordId != expected) {
            tally.addCorrupt(1, who + ": number " + std::to_string(r.seq) + " holds record " +
                                    shortId(r.recordId) + ", finalized there was " +
                                    shortId(expected));
            sound = false;
            continue;
        }
        auto mine = device.get(expected);
        auto theirs = decodeRecord(r.body);
        if (!mine || r.damaged || !theirs || !(theirs.value() == mine->record)) {
            lostNumbers(ledger, r.seq - 1, r.seq,
                        who + ": record " + shortId(expected) + " (number " +
                            std::to_string(r.seq) + ") arrived changed or unreadable",
                        tally);
            sound = false;
        }
    }
    if (sound && rt <= ledger.records.size()) ledger.checkedThrough = rt;

    if (complete) {
        if (state->pending != 0 || rt < ledger.records.size()) {
            tally.addLost(static_cast<long>(ledger.records.size() -
                                            std::min<std::uint64_t>(rt, ledger.records.size())),
                          who + " synced, yet " + std::to_string(state->pending) +
                              " records wait and the collector holds through " +
                              std::to_string(rt) + " of " + std::to_string(ledger.records.size()));
        }
    }
}

std::size_t checkBlocks(const std::vector<HeldBlock>& dealt, const alloc::Study& study,
                        const std::string& devicePath, DeviceLedger& ledger, bool complete,
                        CheckTally& tally) {
    const Uuid& deviceId = ledger.deviceId;
    const std::string who = "device " + shortId(deviceId);
    std::map<std::pair<std::string, std::uint32_t>, Uuid> owner;
    for (const auto& b : dealt)
        owner[{b.stratum, b.block}] = b.deviceId;

    auto store = Store::open(devicePath, {.mode = sql::OpenMode::ReadOnly});
    if (!store) {
        tally.addCorrupt(1, who + ": store unreadable: " + store.error().describe());
        return 0;
    }
    auto pub = store->setting(Store::kBoxPublicKeySetting);
    auto sec = store->setting(Store::kBoxSecretKeySetting);
    std::optional<std::vector<std::uint8_t>> pubBytes, secBytes;
    if (pub && pub.value()) pubBytes = fromHex(*pub.value());
    if (sec && sec.value()) secBytes = fromHex(*sec.value());

    auto db = sql::Database::open(devicePath, sql::OpenMode::ReadOnly);
    if (!db) {
        tally.addCorrupt(1, who + ": store unreadable: " + db.error().describe());
        return 0;
    }
    auto st = db->prepare(
        "SELECT stratum, block, position, box FROM allocation_slots WHERE study = ? ORDER BY "
        "stratum, block, position");
    if (!st) {
        tally.addCorrupt(1, who + ": " + st.error().describe());
        return 0;
    }
    st->bind(1, study.id);
    std::set<std::tuple<std::string, std::uint32_t, std::uint32_t>> held;
    std::map<std::pair<std::string, std::uint32_t>, alloc::Block> blocks;
    for (;;) {
        auto row = st->step();
        if (!row) {
            tally.addCorrupt(1, who + ": " + row.error().describe());
            return 0;
        }
        if (!row.value()) break;
        const std::string stratum(st->columnText(0));
        const auto block = static_cast<std::uint32_t>(st->columnInt(1));
        const auto position = static_cast<std::uint32_t>(st->columnInt(2));
        const auto box = st->columnBlob(3);
        held.insert({stratum, block, position});
        const auto it = owner.find({stratum, block});
        const std::string where =
            "slot " + stratum + "/" + std::to_string(block) + "/" + std::to_string(position);
        if (it == owner.end()) {
            tally.addCorrupt(1, who + " holds " + where + " of a block dealt to nobody");
            continue;
        }
        if (it->second != deviceId) {
            tally.addDoubled(
                1, who + " holds " + where + " of a block dealt to device " + shortId(it->second));
            continue;
        }
        if (!pubBytes || !secBytes || pubBytes->size() != alloc::kBoxKeyBytes ||
            secBytes->size() != alloc::kBoxKeyBytes) {
            tally.addCorrupt(1, who + " holds slots but no box key pair");
            continue;
        }
        std::array<std::uint8_t, alloc::kBoxKeyBytes> pk{}, sk{};
        std::copy(pubBytes->begin(), pubBytes->end(), pk.begin());
        std::copy(secBytes->begin(), secBytes->end(), sk.begin());
        auto slot = alloc::openSlot(box, pk, sk);
        auto& generated = blocks[{stratum, block}];
        if (generated.arms.empty()) generated = alloc::generateBlock(study, stratum, block);
        if (!slot || position >= generated.arms.size() ||
            !(slot.value() == alloc::Slot{study.id, stratum, block, position,
                                          generated.arms[position], generated.tokens[position]})) {
            once(ledger, who + ": " + where + " does not open to the sequence's slot",
                 &CheckTally::addCorrupt, tally);
        }
    }
    std::size_t missing = 0;
    for (const auto& b : dealt) {
        if (b.deviceId != deviceId) continue;
        auto& generated = blocks[{b.stratum, b.block}];
        if (generated.arms.empty()) generated = alloc::generateBlock(study, b.stratum, b.block);
        for (std::uint32_t p = 0; p < generated.arms.size(); ++p) {
            if (held.count({b.stratum, b.block, p}) != 0) continue;
            ++missing;
            if (complete) {
                once(ledger,
                     who + " pulled, yet lacks slot " + b.stratum + "/" + std::to_string(b.block) +
                         "/" + std::to_string(p) + " of a block dealt to it",
                     &CheckTally::addLost, tally);
            }
        }
    }
    return missing;
}

void checkHeldOnce(CollectorFile& held, std::int64_t& reported, CheckTally& tally) {
    auto twice = held.revisionsHeldTwice();
    if (!twice) {
        tally.addCorrupt(1,
                         "the collector's revisions cannot be read: " + twice.error().describe());
    } else if (twice.value() > reported) {
        tally.addDoubled(static_cast<long>(twice.value() - reported),
                         "records held in more than one revision");
        reported = twice.value();
    }
}

}  // namespace veld::test
