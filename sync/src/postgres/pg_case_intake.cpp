// The case part of a push on PostgreSQL: a batch's case changes merged in memory, by the shared
// rules, from one read of the cases they touch, and written back in a few statements: the
// cases' rows locked and read, their properties read, the conflicts, properties and holders
// written, then the cases' new state (numbered after the commit: see pg_cases.cpp). The result is
// the SQLite store's, which applies the same records one by one.
#include <functional>
#include <map>
#include <set>

#include <veld/record.hpp>

#include "../store_rules.hpp"
#include "pg_collector.hpp"

namespace veld::sync::postgres {

namespace {

// Statements carry at most this many rows, well under libpq's 65,535 parameters.
constexpr std::size_t kRowsPerStatement = 1'000;

struct Property {
    std::string value;
    std::uint64_t hlc = 0;
    std::uint64_t base = 0;
    Uuid deviceId;
    std::optional<std::int64_t> rid;
    bool dirty = false;
};

struct CaseRow {
    bool exists = false;  // held before this batch, or opened by an earlier record of it
    std::string type;
    std::string pseudonym;
    std::optional<Uuid> opened;
    std::optional<std::int64_t> lastContact;
    std::map<std::string, Property> properties;
    bool changed = false;
};

struct CaseConflictRow {
    Uuid caseId;
    std::string name;
    Property a;
    std::string valueB;
    std::uint64_t hlcB = 0;
};

// Runs `prefix VALUES (row), ... suffix` for `count` rows, `kRowsPerStatement` at a time. A row
// has one parameter per entry of `types` (each cast to it, so that a column of nulls has a type
// too); `addRow` adds row i's.
Status runRows(pg::Connection& c, std::size_t count, std::initializer_list<std::string_view> types,
               std::string_view prefix, std::string_view suffix,
               const std::function<void(pg::Params&, std::size_t)>& addRow, std::string_view what) {
    for (std::size_t at = 0; at < count; at += kRowsPerStatement) {
        pg::Params params;
        std::string sql(prefix);
        sql += " VALUES ";
        for (std::size_t i = at; i < std::min(count, at + kRowsPerStatement); ++i) {
            const auto first = static_cast<std::size_t>(params.size()) + 1;
            addRow(params, i);
            sql += i > at ? ", (" : "(";
            std::size_t n = first;
            for (const auto type : types) {
                sql += n > first ? ", $" : "$";
                sql += std::to_string(n++) + "::";
                sql += type;
            }
            sql += ")";
        }
        sql += suffix;
        if (auto s = c.run(sql, params, what); !s) return s;
    }
    return {};
}

// Locks the cases of `ids` that exist, in case-id order, and reads their rows into `cases`.
Status lockAndRead(pg::Connection& c, const std::vector<Uuid>& ids,
                   std::map<Uuid, CaseRow>& cases) {
    if (ids.empty()) return {};
    pg::Params params;
    const std::string list = idList(params, ids);
    auto rows = c.query(
        "SELECT case_id, case_type, pseudonym, opened_device, last_contact_utc_ms FROM cases "
        "WHERE case_id IN (" +
            list + ") ORDER BY case_id FOR UPDATE",
        params, "locking cases");
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i) {
        CaseRow& k = cases[rows->uuid(i, 0)];
        k.exists = true;
        k.type = std::string(rows->text(i, 1));
        k.pseudonym = std::string(rows->text(i, 2));
        if (!rows->isNull(i, 3)) k.opened = rows->uuid(i, 3);
        k.lastContact = rows->optionalInteger(i, 4);
    }
    return {};
}

Status readProperties(pg::Connection& c, std::map<Uuid, CaseRow>& cases) {
    std::vector<Uuid> held;
    for (const auto& [id, k] : cases)
        if (k.exists) held.push_back(id);
    if (held.empty()) return {};
    pg::Params params;
    const std::string list = idList(params, held);
    auto rows = c.query(
        "SELECT case_id, name, value, hlc, base_hlc, device_id, rid FROM case_properties WHERE "
        "case_id IN (" +
            list + ")",
        params, "reading case properties");
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i) {
        cases[rows->uuid(i, 0)].properties[std::string(rows->text(i, 1))] = {
            std::string(rows->text(i, 2)),
            static_cast<std::uint64_t>(rows->integer(i, 3)),
            static_cast<std::uint64_t>(rows->integer(i, 4)),
            rows->uuid(i, 5),
            rows->optionalInteger(i, 6),
            false};
    }
    return {};
}

// One record's case part, in memory (the SQLite store's applyCase, step by step).
void applyRecord(CaseRow& k, const Uuid& caseId, const Uuid& deviceId,
                 const std::optional<CaseChange>& change, HlcTimestamp hlc, std::int64_t rid,
                 std::vector<CaseConflictRow>& conflicts) {
    const auto contact = static_cast<std::int64_t>(hlc.millis());
    const bool opens = change && change->action == CaseAction::Open;
    const std::string type = change ? change->caseType : "";
    const std::string pseudonym = change ? change->pseudonym : "";
    if (!k.exists) {
        // Opened by this record; or, when a later change arrives before the record that opened
        // the case, made from that change so nothing is lost (the opening record fills in what
        // is missing when it comes).
        k.exists = true;
        k.type = type;
        k.pseudonym = pseudonym;
        if (opens) k.opened = deviceId;
        k.lastContact = contact;
    } else {
        if (k.type.empty()) k.type = type;
        if (k.pseudonym.empty()) k.pseudonym = pseudonym;
        if (!k.opened && opens) k.opened = deviceId;
        k.lastContact = std::max(k.lastContact.value_or(contact), contact);
    }
    k.changed = true;
    if (!change) return;
    std::vector<CasePropertyValue> properties = change->properties;
    // The case's status, when the record does not set it itself (the shared rule).
    if (rules::impliesStatus(*change)) {
        std::optional<std::uint64_t> heldHlc;
        if (auto it = k.properties.find(std::string(kCaseStatusProperty)); it != k.properties.end())
            heldHlc = it->second.hlc;
        if (auto implied = rules::impliedStatus(*change, heldHlc)) properties.push_back(*implied);
    }
    for (const auto& p : properties) {
        auto it = k.properties.find(p.name);
        if (it == k.properties.end()) {
            // A case holds a limited number of property names: known names still merge.
            if (!rules::admitsNewProperty(k.properties.size(), p.name)) continue;
            k.properties[p.name] = {p.value, hlc.value, p.base.value, deviceId, rid, true};
            continue;
        }
        Property& held = it->second;
        const auto merge = rules::mergeProperty({held.value, held.hlc, held.base}, p.value,
                                                hlc.value, p.base.value);
        if (merge.conflict) conflicts.push_back({caseId, p.name, held, p.value, hlc.value});
        if (merge.incomingWins) held = {p.value, hlc.value, p.base.value, deviceId, rid, true};
    }
}

}  // namespace

Result<bool> applyCasesAndAllocations(PgContext& /*ctx*/, pg::Connection& c, const Uuid& deviceId,
                                      const std::vector<StoredPush>& stored, std::int64_t nowMs) {
    struct Item {
        const StoredPush* stored;
        RecordHeader header;
    };
    std::vector<Item> items;
    std::set<Uuid> ids;
    std::set<Uuid> opening;  // cases some record of the batch changes
    for (const auto& s : stored) {
        auto header = inspectRecord(s.rev->body);
        // The protocol verified the body already; one that is still no record here changes no
        // case.
        if (!header || !header->caseId) continue;
        ids.insert(*header->caseId);
        if (header->caseChange) opening.insert(*header->caseId);
        items.push_back({&s, std::move(header.value())});
    }
    if (items.empty()) return false;

    // The cases held, locked; then the ones this batch makes, made at once (another process may
    // be making one of them: the INSERT waits for it, finds it made, and it is locked and read as
    // held). A case never heard of that no record here changes stays unknown.
    std::map<Uuid, CaseRow> cases;
    if (auto s = lockAndRead(c, {ids.begin(), ids.end()}, cases); !s) return s.error();
    std::vector<Uuid> toMake;
    for (const auto& id : opening)
        if (!cases.count(id)) toMake.push_back(id);
    if (!toMake.empty()) {
        auto team = c.query("SELECT team FROM devices WHERE device_id = $1",
                            pg::Params().add(deviceId), "reading a device's team");
        if (!team) return team.error();
        if (team->empty()) return makeError(ErrorCode::NotFound, "no device with that id");
        pg::Params params;
        params.add(deviceId).add(team->text(0, 0));
        std::string values;
        for (const auto& id : toMake) {
            params.add(id);
            values += (values.empty() ? "($" : ", ($") + std::to_string(params.size()) +
                      "::bytea, '', '', $1::bytea, $2::text, 0)";
        }
        // It is the sender's for now.
        auto made = c.query(
            "INSERT INTO cases (case_id, case_type, pseudonym, assigned_device, assigned_team, "
            "change_seq) VALUES " +
                values + " ON CONFLICT (case_id) DO NOTHING RETURNING case_id",
            params, "making cases");
        if (!made) return made.error();
        std::set<Uuid> madeHere;
        for (int i = 0; i < made->size(); ++i)
            madeHere.insert(made->uuid(i, 0));
        std::vector<Uuid> raced;
        for (const auto& id : toMake)
            if (!madeHere.count(id)) raced.push_back(id);
        if (auto s = lockAndRead(c, raced, cases); !s) return s.error();
        for (const auto& id : madeHere)
            cases[id].exists = false;
    }
    if (auto s = readProperties(c, cases); !s) return s.error();

    // Every record in order, in memory.
    std::vector<CaseConflictRow> conflicts;
    for (const auto& item : items) {
        const auto& h = item.header;
        auto k = cases.find(*h.caseId);
        // A record of a case never heard of that changes nothing about it: nothing to note.
        if (k == cases.end() || (!k->second.exists && !h.caseChange)) continue;
        applyRecord(k->second, *h.caseId, deviceId, h.caseChange, item.stored->rev->hlc,
                    item.stored->rid, conflicts);
    }

    // The writes.
    if (auto s = runRows(
            c, conflicts.size(),
            {"bytea", "text", "text", "bigint", "bytea", "text", "bigint", "bytea", "bigint"},
            "INSERT INTO case_conflicts (case_id, name, value_a, hlc_a, device_a, value_b, hlc_b, "
            "device_b, detected_utc_ms)",
            "",
            [&](pg::Params& p, std::size_t i) {
                const auto& k = conflicts[i];
                p.add(k.caseId)
                    .add(k.name)
                    .add(k.a.value)
                    .add(static_cast<std::int64_t>(k.a.hlc))
                    .add(k.a.deviceId)
                    .add(k.valueB)
                    .add(static_cast<std::int64_t>(k.hlcB))
                    .add(deviceId)
                    .add(nowMs);
            },
            "recording case conflicts");
        !s)
        return s.error();
    std::vector<std::pair<const Uuid*, std::pair<const std::string*, const Property*>>> dirty;
    std::vector<const Uuid*> changed;
    for (const auto& [id, k] : cases) {
        if (!k.changed) continue;
        changed.push_back(&id);
        for (const auto& [name, p] : k.properties)
            if (p.dirty) dirty.push_back({&id, {&name, &p}});
    }
    if (auto s = runRows(
            c, dirty.size(), {"bytea", "text", "text", "bigint", "bigint", "bytea", "bigint"},
            "INSERT INTO case_properties (case_id, name, value, hlc, base_hlc, device_id, rid)",
            " ON CONFLICT (case_id, name) DO UPDATE SET value = excluded.value, hlc = "
            "excluded.hlc, base_hlc = excluded.base_hlc, device_id = excluded.device_id, rid = "
            "excluded.rid",
            [&](pg::Params& p, std::size_t i) {
                const auto& prop = *dirty[i].second.second;
                p.add(*dirty[i].first)
                    .add(*dirty[i].second.first)
                    .add(prop.value)
                    .add(static_cast<std::int64_t>(prop.hlc))
                    .add(static_cast<std::int64_t>(prop.base))
                    .add(prop.deviceId)
                    .add(prop.rid);
            },
            "writing case properties");
        !s)
        return s.error();
    // The sender holds the cases it changed: it is told when one leaves it.
    if (auto s = runRows(
            c, changed.size(), {"bytea", "bytea"}, "INSERT INTO case_holders (case_id, device_id)",
            " ON CONFLICT (case_id, device_id) DO UPDATE SET released_seq = NULL",
            [&](pg::Params& p, std::size_t i) { p.add(*changed[i]).add(deviceId); },
            "noting who holds cases");
        !s)
        return s.error();
    for (const auto& item : items) {
        const auto& h = item.header;
        if (!h.allocation) continue;
        if (auto s = storeAllocation(c, deviceId, *h.caseId, h.id, *h.allocation, item.stored->rid,
                                     nowMs);
            !s)
            return s.error();
    }

    // Last, the cases' new state, marked as changed (numberChangedCases() numbers them after
    // the commit).
    if (auto s = runRows(
            c, changed.size(), {"bytea", "text", "text", "bytea", "bigint"},
            "UPDATE cases SET case_type = x.t, pseudonym = x.p, opened_device = x.o, "
            "last_contact_utc_ms = x.l, change_seq = 0 FROM (",
            ") AS x (id, t, p, o, l) WHERE cases.case_id = x.id",
            [&](pg::Params& p, std::size_t i) {
                const CaseRow& k = cases[*changed[i]];
                p.add(*changed[i]).add(k.type).add(k.pseudonym).add(k.opened).add(k.lastContact);
            },
            "writing changed cases");
        !s)
        return s.error();
    return !changed.empty();
}

}  // namespace veld::sync::postgres
