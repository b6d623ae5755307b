// The device store's randomisation: the box key, studies, slots and the allocation log.
#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/hex.hpp>
#include <veld/store.hpp>

#include "store_internal.hpp"

namespace veld {

using namespace store_detail;

namespace {

std::string slotName(std::string_view study, std::string_view stratum, std::int64_t block,
                     std::int64_t position) {
    return "slot " + std::to_string(block) + "." + std::to_string(position) + " of stratum \"" +
           std::string(stratum) + "\" of study " + std::string(study);
}

bool plainName(std::string_view name) {
    return !name.empty() && std::none_of(name.begin(), name.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
    });
}

std::vector<std::string> splitText(std::string_view text, char separator) {
    std::vector<std::string> out;
    if (text.empty()) return out;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = text.find(separator, start);
        out.emplace_back(
            text.substr(start, end == std::string_view::npos ? text.npos : end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return out;
}

// Every stratum of a study: each combination of its factors' levels, the first factor varying
// slowest, named as the collector names them.
std::vector<std::string> studyStrata(const DeviceStudy& study) {
    std::vector<std::string> out;
    std::vector<std::pair<std::string, std::string>> levels(study.factors.size());
    auto walk = [&](auto&& self, std::size_t f) -> void {
        if (f == study.factors.size()) {
            out.push_back(alloc::stratumKey(levels));
            return;
        }
        for (const auto& level : study.factors[f].second) {
            levels[f] = {study.factors[f].first, level};
            self(self, f + 1);
        }
    };
    walk(walk, 0);
    return out;
}

}  // namespace

// ---- Allocations inside a finalize ----------------------------------------------------------

Result<std::optional<Store::Impl::BoxKeyPair>> Store::Impl::loadBoxKeys() {
    auto pub = settingText(kBoxPublicKeySetting);
    if (!pub) return pub.error();
    auto secret = settingText(kBoxSecretKeySetting);
    if (!secret) return secret.error();
    if (!*pub && !*secret) return std::optional<BoxKeyPair>();
    auto p = *pub ? fromHexFixed<alloc::kBoxKeyBytes>(**pub) : std::nullopt;
    auto k = *secret ? fromHexFixed<alloc::kBoxKeyBytes>(**secret) : std::nullopt;
    if (!p || !k) {
        // A new pair would not open the slots already sealed to the old one.
        return makeError(ErrorCode::Corrupt,
                         "the device's allocation key in " + path +
                             " is damaged, so its allocation slots cannot be opened: ask central "
                             "staff to move this device's slots to another device");
    }
    return std::optional<BoxKeyPair>(BoxKeyPair{*p, *k});
}

Result<bool> Store::Impl::sameSlotContent(std::span<const std::uint8_t> held,
                                          std::span<const std::uint8_t> received) {
    if (std::equal(held.begin(), held.end(), received.begin(), received.end())) return true;
    auto keys = loadBoxKeys();
    if (!keys) return keys.error();
    if (!*keys) return false;
    auto a = alloc::openSlot(held, (*keys)->first, (*keys)->second);
    auto b = alloc::openSlot(received, (*keys)->first, (*keys)->second);
    return a && b && *a == *b;
}

Result<Allocation> Store::Impl::takeAllocation(const Record& record,
                                               const AllocationRequest& request,
                                               const std::string& pseudonym) {
    const Uuid caseId = *record.content.caseId;
    const std::string& study = request.study;
    const std::string& stratum = request.stratum;
    {
        auto st =
            db.prepare("SELECT log_seq FROM allocation_log WHERE study = ?1 AND case_id = ?2");
        if (!st) return st.error();
        st->bind(1, std::string_view(study)).bindBlob(2, idBytes(caseId));
        auto seq = optionalInt(*st);
        if (!seq) return seq.error();
        if (*seq) {
            return makeError(ErrorCode::WrongState, caseName(caseId) +
                                                        " is already randomised in study " + study +
                                                        " (allocation " + std::to_string(**seq) +
                                                        "); a participant is randomised once");
        }
    }
    if (!pseudonym.empty()) {
        auto st = db.prepare(
            "SELECT l.log_seq FROM allocation_log l JOIN cases c ON c.case_id = l.case_id "
            "WHERE l.study = ?1 AND c.pseudonym = ?2 AND c.case_id <> ?3 LIMIT 1");
        if (!st) return st.error();
        st->bind(1, std::string_view(study))
            .bind(2, std::string_view(pseudonym))
            .bindBlob(3, idBytes(caseId));
        auto seq = optionalInt(*st);
        if (!seq) return seq.error();
        if (*seq) {
            return makeError(ErrorCode::WrongState,
                             "this participant is already randomised in study " + study +
                                 " under another case (allocation " + std::to_string(**seq) +
                                 "); find that case in the case list instead of opening a new one");
        }
    }

    // Slots are taken in (block, position) order, and the collector deals a device's blocks in
    // rising order, so the next slot is the first after the last one used: two index lookups,
    // whatever the number used. (A slot that arrived below it would be left unused, and the
    // collector's verification reports it as skipped.)
    std::int64_t lastBlock = -1;
    std::int64_t lastPosition = -1;
    {
        auto last = db.prepare(
            "SELECT block, position FROM allocation_log WHERE study = ?1 AND stratum = ?2 "
            "ORDER BY block DESC, position DESC LIMIT 1");
        if (!last) return last.error();
        last->bind(1, std::string_view(study)).bind(2, std::string_view(stratum));
        auto row = last->step();
        if (!row) return row.error();
        if (*row) {
            lastBlock = last->columnInt(0);
            lastPosition = last->columnInt(1);
        }
    }
    auto next = db.prepare(
        "SELECT s.block, s.position, s.box FROM allocation_slots s WHERE s.study = ?1 AND "
        "s.stratum = ?2 AND (s.block, s.position) > (?3, ?4) ORDER BY s.block, s.position "
        "LIMIT 1");
    if (!next) return next.error();
    next->bind(1, std::string_view(study))
        .bind(2, std::string_view(stratum))
        .bind(3, lastBlock)
        .bind(4, lastPosition);
    auto row = next->step();
    if (!row) return row.error();
    if (!*row) {
        return makeError(ErrorCode::WrongState,
                         "no allocation left for stratum \"" + stratum + "\" of study " + study +
                             ": synchronise with the collector to receive more");
    }
    const std::int64_t block = next->columnInt(0);
    const std::int64_t position = next->columnInt(1);
    auto boxBlob = next->columnBlob(2);
    const std::vector<std::uint8_t> box(boxBlob.begin(), boxBlob.end());
    next->reset();
    const std::string name = slotName(study, stratum, block, position);

    auto keys = loadBoxKeys();
    if (!keys) return keys.error();
    if (!*keys) {
        return makeError(ErrorCode::Corrupt,
                         "this device holds allocation slots but not the key they are sealed to; "
                         "ask central staff to move this device's slots to another device");
    }
    // A slot that does not open is never skipped: skipping would break the sequence the
    // evaluator checks, so randomisation stops here until central staff look at it.
    auto slot = alloc::openSlot(box, (*keys)->first, (*keys)->second);
    if (!slot) {
        return makeError(ErrorCode::Corrupt, name + " does not open with this device's key (" +
                                                 slot.error().message +
                                                 "); randomisation in this stratum stops here: "
                                                 "ask central staff");
    }
    if (slot->study != study || slot->stratum != stratum ||
        static_cast<std::int64_t>(slot->block) != block ||
        static_cast<std::int64_t>(slot->position) != position) {
        return makeError(ErrorCode::Corrupt, name +
                                                 " holds another slot; randomisation in this "
                                                 "stratum stops here: ask central staff");
    }

    auto maxSeq = db.prepare("SELECT max(log_seq) FROM allocation_log");
    if (!maxSeq) return maxSeq.error();
    auto last = optionalInt(*maxSeq);
    if (!last) return last.error();

    // The slot was checked to name this study and stratum above.
    const Allocation a = alloc::allocationOf(
        *slot, static_cast<std::uint64_t>(last->value_or(0) + 1), clock->nowMillis());

    auto insert = db.prepare(
        "INSERT INTO allocation_log (log_seq, study, stratum, block, position, arm, token, "
        "case_id, record_id, taken_utc_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!insert) return insert.error();
    insert->bind(1, static_cast<std::int64_t>(a.logSeq))
        .bind(2, std::string_view(a.study))
        .bind(3, std::string_view(a.stratum))
        .bind(4, block)
        .bind(5, position)
        .bind(6, std::string_view(a.arm))
        .bindBlob(7, a.token)
        .bindBlob(8, idBytes(caseId))
        .bindBlob(9, idBytes(record.id))
        .bind(10, a.takenUtcMs);
    if (Status s = insert->run(); !s) return s.error();
    return a;
}

// ---- Randomisation --------------------------------------------------------------------------

Result<std::array<std::uint8_t, 32>> Store::boxPublicKey() {
    Impl& m = impl();
    auto keys = m.loadBoxKeys();
    if (!keys) return keys.error();
    if (*keys) return (*keys)->first;
    if (Status s = m.requireWritable("making the device's allocation key"); !s) return s.error();
    // Durable at once: the collector seals slots to this key as soon as it has seen it.
    if (Status s = m.setSync(true); !s) return s.error();
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    keys = m.loadBoxKeys();  // another process may have made it meanwhile
    if (!keys) return keys.error();
    if (*keys) return (*keys)->first;
    auto pair = alloc::newBoxKeyPair();
    auto put = m.db.prepare("INSERT INTO settings (key, value) VALUES (?1, ?2)");
    if (!put) return put.error();
    put->bind(1, kBoxPublicKeySetting).bind(2, std::string_view(toHex(pair.first)));
    if (Status s = put->run(); !s) return s.error();
    put->reset();
    put->bind(1, kBoxSecretKeySetting).bind(2, std::string_view(toHex(pair.second)));
    if (Status s = put->run(); !s) return s.error();
    if (Status s = tx->commit(); !s) return s.error();
    return pair.first;
}

Status Store::setStudies(std::span<const DeviceStudy> studies) {
    Impl& m = impl();
    if (Status s = m.requireWritable("receiving studies"); !s) return s;
    std::set<std::string_view> ids;
    for (const auto& study : studies) {
        auto bad = [&](const std::string& what) {
            return makeError(ErrorCode::InvalidArgument,
                             "study '" + study.id + "' cannot be kept: " + what);
        };
        if (!plainName(study.id) || !ids.insert(study.id).second)
            return bad("its id is empty, repeated or holds control characters");
        if (study.arms.empty()) return bad("it has no arms");
        for (const auto& arm : study.arms) {
            if (!plainName(arm)) return bad("an arm's name is empty or holds control characters");
        }
        for (const auto& [name, levels] : study.factors) {
            if (!plainName(name) || levels.empty())
                return bad("a factor has no name, no levels, or control characters");
            for (const auto& level : levels) {
                if (!plainName(level))
                    return bad("a level of factor '" + name +
                               "' is empty or holds control characters");
            }
        }
    }
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    if (Status s = m.db.exec("DELETE FROM studies"); !s) return s;
    auto insert = m.db.prepare(
        "INSERT INTO studies (id, pilot, arms, factors, low_slots) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!insert) return insert.error();
    for (const auto& study : studies) {
        std::string arms, factors;
        for (const auto& arm : study.arms)
            arms += (arms.empty() ? "" : "\n") + arm;
        for (const auto& [name, levels] : study.factors) {
            if (!factors.empty()) factors += '\n';
            factors += name;
            for (const auto& level : levels)
                factors += '\t' + level;
        }
        insert->bind(1, std::string_view(study.id))
            .bind(2, std::string_view(study.pilot))
            .bind(3, std::string_view(arms))
            .bind(4, std::string_view(factors))
            .bind(5, static_cast<std::int64_t>(study.lowSlots));
        if (Status s = insert->run(); !s) return s;
    }
    return tx->commit();
}

Result<std::vector<DeviceStudy>> Store::studies() {
    auto st =
        impl().db.prepare("SELECT id, pilot, arms, factors, low_slots FROM studies ORDER BY id");
    if (!st) return st.error();
    std::vector<DeviceStudy> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        DeviceStudy study;
        study.id = std::string(st->columnText(0));
        study.pilot = std::string(st->columnText(1));
        study.arms = splitText(st->columnText(2), '\n');
        for (const auto& line : splitText(st->columnText(3), '\n')) {
            auto fields = splitText(line, '\t');
            if (fields.empty()) continue;
            std::string name = std::move(fields.front());
            fields.erase(fields.begin());
            study.factors.emplace_back(std::move(name), std::move(fields));
        }
        study.lowSlots = static_cast<std::uint32_t>(st->columnInt(4));
        out.push_back(std::move(study));
    }
    return out;
}

Status Store::addAllocationSlots(std::span<const SealedSlotIn> slots) {
    Impl& m = impl();
    if (Status s = m.requireWritable("receiving allocation slots"); !s) return s;
    for (const auto& slot : slots) {
        if (slot.study.empty() || slot.box.empty())
            return makeError(ErrorCode::InvalidArgument,
                             "an allocation slot without a study or a box cannot be kept");
    }
    // Durable: the collector counts these slots as this device's once it has sent them.
    if (Status s = m.setSync(true); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto find = m.db.prepare(
        "SELECT box FROM allocation_slots WHERE study = ?1 AND stratum = ?2 AND block = ?3 AND "
        "position = ?4");
    if (!find) return find.error();
    auto insert = m.db.prepare(
        "INSERT INTO allocation_slots (study, stratum, block, position, box, received_utc_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!insert) return insert.error();
    const std::int64_t now = m.clock->nowMillis();
    for (const auto& slot : slots) {
        find->bind(1, std::string_view(slot.study))
            .bind(2, std::string_view(slot.stratum))
            .bind(3, static_cast<std::int64_t>(slot.block))
            .bind(4, static_cast<std::int64_t>(slot.position));
        auto row = find->step();
        if (!row) return row.error();
        if (*row) {
            auto heldBlob = find->columnBlob(0);
            const std::vector<std::uint8_t> held(heldBlob.begin(), heldBlob.end());
            find->reset();
            auto same = m.sameSlotContent(held, slot.box);
            if (!same) return same.error();
            if (*same) continue;
            return makeError(ErrorCode::WrongState,
                             slotName(slot.study, slot.stratum, slot.block, slot.position) +
                                 " was received before with other content; the first one is "
                                 "kept and none of these slots were stored: ask central staff");
        }
        find->reset();
        insert->bind(1, std::string_view(slot.study))
            .bind(2, std::string_view(slot.stratum))
            .bind(3, static_cast<std::int64_t>(slot.block))
            .bind(4, static_cast<std::int64_t>(slot.position))
            .bindBlob(5, slot.box)
            .bind(6, now);
        if (Status s = insert->run(); !s) return s;
    }
    return tx->commit();
}

Result<std::vector<AllocationStock>> Store::allocationStock() {
    Impl& m = impl();
    auto known = studies();
    if (!known) return known.error();
    auto left = m.db.prepare(
        "SELECT s.stratum, count(*) FROM allocation_slots s WHERE s.study = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM allocation_log l WHERE l.study = s.study AND l.stratum = s.stratum AND "
        "l.block = s.block AND l.position = s.position) GROUP BY s.stratum");
    if (!left) return left.error();
    auto used = m.db.prepare(
        "SELECT stratum, count(*) FROM allocation_log WHERE study = ?1 GROUP BY stratum");
    if (!used) return used.error();
    auto countBy = [](sql::Statement& st,
                      const std::string& study) -> Result<std::map<std::string, std::int64_t>> {
        std::map<std::string, std::int64_t> out;
        st.bind(1, std::string_view(study));
        for (;;) {
            auto row = st.step();
            if (!row) {
                st.reset();
                return row.error();
            }
            if (!*row) break;
            out[std::string(st.columnText(0))] = st.columnInt(1);
        }
        st.reset();
        return out;
    };
    std::vector<AllocationStock> out;
    for (const auto& study : *known) {
        auto remaining = countBy(*left, study.id);
        if (!remaining) return remaining.error();
        auto taken = countBy(*used, study.id);
        if (!taken) return taken.error();
        for (const auto& stratum : studyStrata(study)) {
            AllocationStock s;
            s.study = study.id;
            s.stratum = stratum;
            if (auto it = remaining->find(stratum); it != remaining->end())
                s.remaining = it->second;
            if (auto it = taken->find(stratum); it != taken->end()) s.used = it->second;
            s.low = s.remaining < std::max<std::int64_t>(study.lowSlots, 1);
            out.push_back(std::move(s));
        }
    }
    return out;
}

Result<std::vector<AllocationLogEntry>> Store::allocationLog() {
    auto st = impl().db.prepare(
        "SELECT log_seq, study, stratum, block, position, arm, token, case_id, record_id, "
        "taken_utc_ms FROM allocation_log ORDER BY log_seq");
    if (!st) return st.error();
    std::vector<AllocationLogEntry> out;
    if (auto stepped = st->forEachRow([&] {
            AllocationLogEntry e;
            Allocation& a = e.allocation;
            a.logSeq = static_cast<std::uint64_t>(st->columnInt(0));
            a.study = std::string(st->columnText(1));
            a.stratum = std::string(st->columnText(2));
            a.block = static_cast<std::uint32_t>(st->columnInt(3));
            a.position = static_cast<std::uint32_t>(st->columnInt(4));
            a.arm = std::string(st->columnText(5));
            auto token = st->columnBlob(6);
            a.token.assign(token.begin(), token.end());
            e.caseId = uuidFromBlob(st->columnBlob(7)).value_or(Uuid{});
            e.recordId = uuidFromBlob(st->columnBlob(8)).value_or(Uuid{});
            a.takenUtcMs = st->columnInt(9);
            out.push_back(std::move(e));
        });
        !stepped)
        return stepped.error();
    return out;
}

}  // namespace veld
