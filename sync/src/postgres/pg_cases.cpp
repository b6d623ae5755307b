// The PostgreSQL backend's cases domain: staff's commands on cases, the case part of a push and
// the case part of a pull, with the SQLite store's behaviour.
//
// Concurrency: every change of a case takes a number from the `case_seq` counter first. The
// counter is one row of `meta`, updated in place, so the transaction that took a number holds
// that row until it commits: case changes are serialised across processes, each one reads the
// case as the previous one left it, and change numbers become visible in the order they were
// given. A pull relies on that order: once it sees number N, every change numbered below N is
// visible too, so its cursor never passes a change still on its way. Rows are locked in one
// order, so that no two transactions wait for each other: a device's row (a push, a pull, a team
// change), the staff device's, then the counter.
#include "pg_cases.hpp"

#include <algorithm>

#include <veld/record.hpp>

#include "../store_rules.hpp"

namespace veld::sync::postgres {

namespace {

std::int64_t i64(std::uint64_t v) {
    return static_cast<std::int64_t>(v);
}

Status badTeam() {
    return makeError(ErrorCode::InvalidArgument,
                     "a team name is up to 64 letters, digits, '.', '-' or '_'");
}

// A device's team; NotFound for an unknown device.
Result<std::string> deviceTeam(pg::Connection& c, const Uuid& deviceId) {
    auto rows = c.query("SELECT team FROM devices WHERE device_id = $1", pg::Params().add(deviceId),
                        "reading a device's team");
    if (!rows) return rows.error();
    if (rows->empty()) return makeError(ErrorCode::NotFound, "no device with that id");
    return std::string(rows->text(0, 0));
}

struct PropertyRow {
    std::string value;
    std::uint64_t hlc = 0;
    std::uint64_t base = 0;
    Uuid deviceId;
};

Result<std::optional<PropertyRow>> currentProperty(pg::Connection& c, const Uuid& caseId,
                                                   std::string_view name) {
    auto rows = c.query(
        "SELECT value, hlc, base_hlc, device_id FROM case_properties WHERE case_id = $1 AND "
        "name = $2",
        pg::Params().add(caseId).add(name), "reading a case property");
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<PropertyRow>();
    return std::optional<PropertyRow>(
        PropertyRow{std::string(rows->text(0, 0)), static_cast<std::uint64_t>(rows->integer(0, 1)),
                    static_cast<std::uint64_t>(rows->integer(0, 2)), rows->uuid(0, 3)});
}

Status writeProperty(pg::Connection& c, const Uuid& caseId, std::string_view name,
                     std::string_view value, std::uint64_t hlc, std::uint64_t base,
                     const Uuid& deviceId, std::optional<std::int64_t> rid) {
    return c.run(
        "INSERT INTO case_properties (case_id, name, value, hlc, base_hlc, device_id, rid) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id, name) DO UPDATE SET value = "
        "excluded.value, hlc = excluded.hlc, base_hlc = excluded.base_hlc, device_id = "
        "excluded.device_id, rid = excluded.rid",
        pg::Params()
            .add(caseId)
            .add(name)
            .add(value)
            .add(i64(hlc))
            .add(i64(base))
            .add(deviceId)
            .add(rid),
        "writing a case property");
}

// One property change, merged by the shared rule: the newer value is current, and two
// concurrent changes with different values are also kept as a case conflict.
Status mergeProperty(pg::Connection& c, const Uuid& caseId, const CasePropertyValue& p,
                     HlcTimestamp hlc, const Uuid& deviceId, std::int64_t rid, std::int64_t nowMs) {
    auto current = currentProperty(c, caseId, p.name);
    if (!current) return current.error();
    if (!current->has_value())
        return writeProperty(c, caseId, p.name, p.value, hlc.value, p.base.value, deviceId, rid);
    const PropertyRow& held = **current;
    const auto merge =
        rules::mergeProperty({held.value, held.hlc, held.base}, p.value, hlc.value, p.base.value);
    if (merge.conflict) {
        if (auto s = c.run(
                "INSERT INTO case_conflicts (case_id, name, value_a, hlc_a, device_a, value_b, "
                "hlc_b, device_b, detected_utc_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                pg::Params()
                    .add(caseId)
                    .add(p.name)
                    .add(held.value)
                    .add(i64(held.hlc))
                    .add(held.deviceId)
                    .add(p.value)
                    .add(i64(hlc.value))
                    .add(deviceId)
                    .add(nowMs),
                "recording a case conflict");
            !s)
            return s;
    }
    if (merge.incomingWins)
        return writeProperty(c, caseId, p.name, p.value, hlc.value, p.base.value, deviceId, rid);
    return {};
}

// Gives a case a new change number, so the devices holding it look at it again.
Status touchCase(pg::Connection& c, const Uuid& caseId) {
    auto seq = nextCounter(c, "case_seq");
    if (!seq) return seq.error();
    return c.run("UPDATE cases SET change_seq = $1 WHERE case_id = $2",
                 pg::Params().add(i64(seq.value())).add(caseId), "renumbering a case");
}

Result<bool> caseKnown(pg::Connection& c, const Uuid& caseId) {
    auto rows = c.query("SELECT 1 FROM cases WHERE case_id = $1", pg::Params().add(caseId),
                        "looking up a case");
    if (!rows) return rows.error();
    return !rows->empty();
}

Status applyCase(pg::Connection& c, const Uuid& deviceId, const Uuid& caseId,
                 const std::optional<CaseChange>& change, HlcTimestamp hlc, std::int64_t rid,
                 std::int64_t nowMs) {
    auto known = caseKnown(c, caseId);
    if (!known) return known.error();
    // A record of a case never heard of that changes nothing about it: nothing to note.
    if (!known.value() && !change) return {};
    // The number first: it serialises case changes (see the top of this file). A case not
    // known a moment ago may have been made since by another process: look again.
    auto seq = nextCounter(c, "case_seq");
    if (!seq) return seq.error();
    if (!known.value()) {
        known = caseKnown(c, caseId);
        if (!known) return known.error();
    }
    const auto contact = static_cast<std::int64_t>(hlc.millis());
    const bool opens = change && change->action == CaseAction::Open;
    const std::string_view type = change ? std::string_view(change->caseType) : "";
    const std::string_view pseudonym = change ? std::string_view(change->pseudonym) : "";
    if (!known.value()) {
        // Opened by this record; or, when a later change arrives before the record that opened
        // the case, made from that change so nothing is lost (the opening record fills in what
        // is missing when it comes). Either way it is the sender's for now.
        auto team = deviceTeam(c, deviceId);
        if (!team) return team.error();
        pg::Params params;
        params.add(caseId).add(type).add(pseudonym);
        if (opens) {
            params.add(deviceId);
        } else {
            params.addNull();
        }
        params.add(deviceId).add(team.value()).add(contact).add(i64(seq.value()));
        if (auto s = c.run("INSERT INTO cases (case_id, case_type, pseudonym, opened_device, "
                           "assigned_device, assigned_team, last_contact_utc_ms, change_seq) "
                           "VALUES ($1, $2, $3, $4::bytea, $5, $6, $7, $8)",
                           params, "making a case");
            !s)
            return s;
    } else {
        pg::Params params;
        params.add(type).add(pseudonym);
        if (opens) {
            params.add(deviceId);
        } else {
            params.addNull();
        }
        params.add(contact).add(i64(seq.value())).add(caseId);
        if (auto s = c.run(
                "UPDATE cases SET case_type = CASE WHEN case_type = '' THEN $1 ELSE case_type "
                "END, pseudonym = CASE WHEN pseudonym = '' THEN $2 ELSE pseudonym END, "
                "opened_device = coalesce(opened_device, $3::bytea), last_contact_utc_ms = "
                "greatest(coalesce(last_contact_utc_ms, $4), $4), change_seq = $5 WHERE case_id "
                "= $6",
                params, "changing a case");
            !s)
            return s;
    }
    // The sender holds the case: it is told when the case leaves it.
    if (auto s = c.run("INSERT INTO case_holders (case_id, device_id) VALUES ($1, $2) ON "
                       "CONFLICT (case_id, device_id) DO UPDATE SET released_seq = NULL",
                       pg::Params().add(caseId).add(deviceId), "noting who holds a case");
        !s)
        return s;
    if (!change) return {};
    std::vector<CasePropertyValue> properties = change->properties;
    // The case's status, when the record does not set it itself (the shared rule).
    if (rules::impliesStatus(*change)) {
        auto status = currentProperty(c, caseId, kCaseStatusProperty);
        if (!status) return status.error();
        std::optional<std::uint64_t> heldHlc;
        if (status->has_value()) heldHlc = (*status)->hlc;
        if (auto implied = rules::impliedStatus(*change, heldHlc)) properties.push_back(*implied);
    }
    // A case holds a limited number of property names (rules::admitsNewProperty): known names
    // still merge; the revision is kept whole.
    auto counted = c.query("SELECT count(*) FROM case_properties WHERE case_id = $1",
                           pg::Params().add(caseId), "counting a case's properties");
    if (!counted) return counted.error();
    auto names = static_cast<std::size_t>(counted->integer(0, 0));
    for (const auto& p : properties) {
        auto current = currentProperty(c, caseId, p.name);
        if (!current) return current.error();
        if (!current->has_value()) {
            if (!rules::admitsNewProperty(names, p.name)) continue;
            ++names;
        }
        if (auto s = mergeProperty(c, caseId, p, hlc, deviceId, rid, nowMs); !s) return s;
    }
    return {};
}

Result<std::vector<Uuid>> uuidColumn(Result<pg::Rows> rows) {
    if (!rows) return rows.error();
    std::vector<Uuid> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i)
        out.push_back(rows->uuid(i, 0));
    return out;
}

}  // namespace

// ---- CaseStore ------------------------------------------------------------------------------

Status PgCases::setDeviceTeam(const Uuid& deviceId, const std::string& team, std::int64_t nowMs,
                              const std::string& actor) {
    if (!rules::validTeam(team)) return badTeam();
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        // The device's row first, then the counter's (see the top of this file): the order a
        // push takes them in.
        auto up = c.query("UPDATE devices SET team = $1 WHERE device_id = $2 RETURNING 1",
                          pg::Params().add(team).add(deviceId), "setting a device's team");
        if (!up) return up.error();
        if (up->empty()) return makeError(ErrorCode::NotFound, "no device with that id");
        auto lock = nextCounter(c, "case_seq");
        if (!lock) return lock.error();
        // The cases the device holds (some may leave it) and the new team's (which reach it) get
        // new change numbers, so its next pull looks at them whatever its cursor.
        auto touched = uuidColumn(c.query(
            "SELECT case_id FROM case_holders WHERE device_id = $1 UNION SELECT case_id FROM "
            "cases WHERE $2 <> '' AND assigned_team = $2",
            pg::Params().add(deviceId).add(team), "finding the cases a team change touches"));
        if (!touched) return touched.error();
        for (const auto& id : touched.value()) {
            if (auto s = touchCase(c, id); !s) return s;
        }
        return audit(c, nowMs, actor, "team", deviceId.toString(), team.empty() ? "no team" : team);
    });
}

Result<std::vector<CollectorCase>> PgCases::cases(const CaseFilter& filter) {
    std::vector<CollectorCase> out;
    // One snapshot: every case with the properties it had at that moment.
    auto status =
        pg::transact(m_ctx.pool, pg::Isolation::RepeatableRead, [&](pg::Connection& c) -> Status {
            out.clear();
            pg::Params params;
            params.add(filter.caseType);
            params.add(filter.assignedDevice);
            params.add(filter.assignedTeam);
            params.add(static_cast<std::int64_t>(filter.limit));
            auto rows = c.query(
                "SELECT case_id, case_type, pseudonym, opened_device, assigned_device, "
                "assigned_team, last_contact_utc_ms, change_seq FROM cases WHERE ($1::text IS NULL "
                "OR case_type = $1) AND ($2::bytea IS NULL OR assigned_device = $2) AND ($3::text "
                "IS "
                "NULL OR assigned_team = $3) ORDER BY case_id LIMIT $4",
                params, "listing cases");
            if (!rows) return rows.error();
            for (int i = 0; i < rows->size(); ++i) {
                CollectorCase k;
                k.caseId = rows->uuid(i, 0);
                k.caseType = std::string(rows->text(i, 1));
                k.pseudonym = std::string(rows->text(i, 2));
                if (!rows->isNull(i, 3)) k.openedDevice = rows->uuid(i, 3);
                if (!rows->isNull(i, 4)) k.assignedDevice = rows->uuid(i, 4);
                k.assignedTeam = std::string(rows->text(i, 5));
                k.lastContactUtcMs = rows->optionalInteger(i, 6);
                k.changeSeq = static_cast<std::uint64_t>(rows->integer(i, 7));
                out.push_back(std::move(k));
            }
            for (auto& k : out) {
                auto props = c.query(
                    "SELECT name, value, hlc, base_hlc, device_id FROM case_properties WHERE "
                    "case_id "
                    "= $1 ORDER BY name",
                    pg::Params().add(k.caseId), "reading a case's properties");
                if (!props) return props.error();
                for (int i = 0; i < props->size(); ++i) {
                    k.properties.push_back(
                        {std::string(props->text(i, 0)), std::string(props->text(i, 1)),
                         HlcTimestamp{static_cast<std::uint64_t>(props->integer(i, 2))},
                         HlcTimestamp{static_cast<std::uint64_t>(props->integer(i, 3))},
                         props->uuid(i, 4)});
                }
            }
            return {};
        });
    if (!status) return status.error();
    return out;
}

Status PgCases::assignCase(const Uuid& caseId, const std::optional<Uuid>& device,
                           const std::string& team, std::int64_t nowMs, const std::string& actor) {
    if (!device && team.empty())
        return makeError(ErrorCode::InvalidArgument, "assign a case to a device or a team");
    if (!rules::validTeam(team)) return badTeam();
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        if (device) {
            auto known = deviceTeam(c, *device);
            if (!known) return known.error();
        }
        auto seq = nextCounter(c, "case_seq");
        if (!seq) return seq.error();
        auto up = c.query(
            "UPDATE cases SET assigned_device = $1::bytea, assigned_team = $2, change_seq = $3 "
            "WHERE case_id = $4 RETURNING 1",
            pg::Params().add(device).add(team).add(i64(seq.value())).add(caseId),
            "assigning a case");
        if (!up) return up.error();
        if (up->empty()) return makeError(ErrorCode::NotFound, "no case with that id");
        std::string detail;
        if (device) detail = "device " + device->toString();
        if (!team.empty()) detail += (detail.empty() ? "team " : ", team ") + team;
        return audit(c, nowMs, actor, "case-assign", caseId.toString(), detail);
    });
}

Result<std::vector<CaseConflictInfo>> PgCases::caseConflicts(bool includeResolved) {
    auto lease = m_ctx.pool.acquire();
    if (!lease) return lease.error();
    auto rows = (*lease)->query(
        std::string("SELECT cid, case_id, name, value_a, hlc_a, device_a, value_b, hlc_b, "
                    "device_b, detected_utc_ms, resolved_utc_ms, coalesce(resolution, ''), "
                    "coalesce(resolved_by, '') FROM case_conflicts") +
            (includeResolved ? "" : " WHERE resolved_utc_ms IS NULL") + " ORDER BY cid",
        {}, "listing case conflicts");
    if (!rows) return rows.error();
    std::vector<CaseConflictInfo> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i) {
        CaseConflictInfo k;
        k.id = rows->integer(i, 0);
        k.caseId = rows->uuid(i, 1);
        k.property = std::string(rows->text(i, 2));
        k.valueA = std::string(rows->text(i, 3));
        k.hlcA = HlcTimestamp{static_cast<std::uint64_t>(rows->integer(i, 4))};
        k.deviceA = rows->uuid(i, 5);
        k.valueB = std::string(rows->text(i, 6));
        k.hlcB = HlcTimestamp{static_cast<std::uint64_t>(rows->integer(i, 7))};
        k.deviceB = rows->uuid(i, 8);
        k.detectedUtcMs = rows->integer(i, 9);
        k.resolvedUtcMs = rows->optionalInteger(i, 10);
        k.resolution = std::string(rows->text(i, 11));
        k.resolvedBy = std::string(rows->text(i, 12));
        out.push_back(std::move(k));
    }
    return out;
}

Status PgCases::resolveCaseConflict(std::int64_t conflictId, const CaseChoice& choice,
                                    const std::string& comment, std::int64_t nowMs,
                                    const std::string& actor) {
    if (choice.kind == CaseChoice::Kind::Value && choice.value.size() > 4096)
        return makeError(ErrorCode::InvalidArgument, "a case property holds at most 4096 bytes");
    if (comment.size() > kMaxReviewCommentBytes)
        return makeError(ErrorCode::InvalidArgument, "the comment is too long");
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        // The staff device first (its row is locked in the order a record conflict's settling
        // takes it), then the counter's row lock (see the top of this file): the property read
        // below is then the one this change replaces, and two staff settling one conflict at
        // once are taken one after the other (the second finds it settled).
        auto staff = staffDevice(c, nowMs);
        if (!staff) return staff.error();
        auto seq = nextCounter(c, "case_seq");
        if (!seq) return seq.error();
        auto k = c.query(
            "SELECT case_id, name, value_a, hlc_a, value_b, hlc_b, resolved_utc_ms FROM "
            "case_conflicts WHERE cid = $1 FOR UPDATE",
            pg::Params().add(conflictId), "reading a case conflict");
        if (!k) return k.error();
        if (k->empty()) return makeError(ErrorCode::NotFound, "no case conflict with that number");
        if (!k->isNull(0, 6))
            return makeError(ErrorCode::WrongState, "this case conflict has been resolved already");
        const Uuid caseId = k->uuid(0, 0);
        const std::string name(k->text(0, 1));
        const std::string value = choice.kind == CaseChoice::Kind::A   ? std::string(k->text(0, 2))
                                  : choice.kind == CaseChoice::Kind::B ? std::string(k->text(0, 4))
                                                                       : choice.value;
        const auto hlcA = static_cast<std::uint64_t>(k->integer(0, 3));
        const auto hlcB = static_cast<std::uint64_t>(k->integer(0, 5));
        auto held = currentProperty(c, caseId, name);
        if (!held) return held.error();
        // Staff's value: after everything the property holds, and based on both sides, so that
        // it is no new disagreement with either (see the SQLite store).
        const std::uint64_t newest =
            std::max({hlcA, hlcB, held->has_value() ? (*held)->hlc : std::uint64_t{0}});
        const auto nowMillis = static_cast<std::uint64_t>(std::max<std::int64_t>(nowMs, 0));
        const HlcTimestamp hlc = HlcTimestamp::make(nowMillis, 0).value > newest
                                     ? HlcTimestamp::make(nowMillis, 0)
                                     : HlcTimestamp{newest + 1};
        if (auto s = writeProperty(c, caseId, name, value, hlc.value, std::max(hlcA, hlcB),
                                   staff->first, std::nullopt);
            !s)
            return s;
        if (auto s = c.run("UPDATE cases SET change_seq = $1 WHERE case_id = $2",
                           pg::Params().add(i64(seq.value())).add(caseId), "renumbering a case");
            !s)
            return s;
        const std::string how = choice.kind == CaseChoice::Kind::A   ? "kept A"
                                : choice.kind == CaseChoice::Kind::B ? "kept B"
                                                                     : "typed a value";
        if (auto s = c.run(
                "UPDATE case_conflicts SET resolved_utc_ms = $1, resolution = $2, resolved_by = "
                "$3 WHERE cid = $4",
                pg::Params()
                    .add(nowMs)
                    .add(how + (comment.empty() ? "" : "; " + comment))
                    .add(actor)
                    .add(conflictId),
                "settling a case conflict");
            !s)
            return s;
        // The audit log names the case, the property and the choice, never a value.
        return audit(c, nowMs, actor, "case-resolve", caseId.toString(),
                     "property " + name + ": " + how);
    });
}

// ---- for the records domain -----------------------------------------------------------------

Status applyCaseAndAllocation(PgContext& /*ctx*/, pg::Connection& c, const Uuid& deviceId,
                              const PushRevision& rev, std::int64_t rid, std::int64_t nowMs) {
    auto header = inspectRecord(rev.body);
    // The protocol verified the body already; one that is still no record here changes no case.
    if (!header || !header->caseId) return {};
    if (auto s = applyCase(c, deviceId, *header->caseId, header->caseChange, rev.hlc, rid, nowMs);
        !s)
        return s;
    if (!header->allocation) return {};
    return storeAllocation(c, deviceId, *header->caseId, header->id, *header->allocation, rid,
                           nowMs);
}

Status pullCases(PgContext& ctx, pg::Connection& c, const Uuid& deviceId, const std::string& team,
                 const PullRequest& request, PullReply& reply) {
    // Cases the device has been told it no longer holds, and has heard it: forgotten.
    if (auto s = c.run(
            "DELETE FROM case_holders WHERE device_id = $1 AND released_seq IS NOT NULL AND "
            "released_seq <= $2",
            pg::Params().add(deviceId).add(i64(request.caseCursor)), "forgetting released cases");
        !s)
        return s;
    // The counter before the cases: every change numbered up to it is visible to the query below
    // whatever the transaction's isolation (see the top of this file), so the cursor can move to
    // it.
    auto counter = counterValue(c, "case_seq");
    if (!counter) return counter.error();
    const std::size_t limit = std::max<std::size_t>(1, ctx.policy.maxCasesPerPull);
    // One statement: the cases and the properties of those still the device's, in one snapshot.
    auto rows = c.query(
        "WITH picked AS (SELECT c.case_id, c.case_type, c.pseudonym, c.last_contact_utc_ms, "
        "c.change_seq, coalesce(c.assigned_device = $1, false) OR (c.assigned_team <> '' AND "
        "c.assigned_team = $2) AS assigned FROM cases c WHERE c.change_seq > $3 AND "
        "(c.assigned_device = $1 OR (c.assigned_team <> '' AND c.assigned_team = $2) OR EXISTS "
        "(SELECT 1 FROM case_holders h WHERE h.case_id = c.case_id AND h.device_id = $1)) ORDER "
        "BY c.change_seq LIMIT $4) SELECT k.case_id, k.case_type, k.pseudonym, "
        "k.last_contact_utc_ms, k.change_seq, k.assigned, p.name, p.value, p.hlc FROM picked k "
        "LEFT JOIN case_properties p ON k.assigned AND p.case_id = k.case_id ORDER BY "
        "k.change_seq, p.name",
        pg::Params()
            .add(deviceId)
            .add(team)
            .add(i64(request.caseCursor))
            .add(static_cast<std::int64_t>(limit + 1)),
        "reading the cases for a device");
    if (!rows) return rows.error();
    bool more = false;
    const std::size_t first = reply.cases.size();
    for (int i = 0; i < rows->size(); ++i) {
        const auto seq = static_cast<std::uint64_t>(rows->integer(i, 4));
        if (reply.cases.size() == first || reply.cases.back().seq != seq) {
            if (reply.cases.size() - first == limit) {
                more = true;
                break;
            }
            CaseState k;
            k.seq = seq;
            k.update.id = rows->uuid(i, 0);
            k.update.caseType = std::string(rows->text(i, 1));
            k.update.pseudonym = std::string(rows->text(i, 2));
            k.update.lastContactUtcMs = rows->optionalInteger(i, 3);
            k.update.assigned = rows->boolean(i, 5);
            reply.cases.push_back(std::move(k));
        }
        if (rows->isNull(i, 6)) continue;
        reply.cases.back().update.properties.push_back(
            {std::string(rows->text(i, 6)), std::string(rows->text(i, 7)),
             HlcTimestamp{static_cast<std::uint64_t>(rows->integer(i, 8))}});
    }
    // An answer that grows too large pages here (at least one case per answer); the cases left
    // out are neither held nor released yet, and come with the next page.
    std::size_t bytes = 0;
    for (std::size_t i = first; i < reply.cases.size(); ++i) {
        for (const auto& p : reply.cases[i].update.properties)
            bytes += p.name.size() + p.value.size() + 32;
        if (i > first && bytes > ctx.policy.maxCaseBytesPerPull) {
            reply.cases.resize(i);
            more = true;
            break;
        }
    }
    // Who holds what, in one statement: a case that left the device is released at its number.
    if (reply.cases.size() > first) {
        std::string sql = "INSERT INTO case_holders (case_id, device_id, released_seq) VALUES ";
        pg::Params params;
        params.add(deviceId);
        int n = 2;
        for (std::size_t i = first; i < reply.cases.size(); ++i) {
            const auto& k = reply.cases[i];
            sql += (i == first ? "($" : ", ($") + std::to_string(n) + ", $1, $" +
                   std::to_string(n + 1) + "::bigint)";
            n += 2;
            params.add(k.update.id);
            if (k.update.assigned) {
                params.addNull();
            } else {
                params.add(i64(k.seq));
            }
        }
        sql +=
            " ON CONFLICT (case_id, device_id) DO UPDATE SET released_seq = "
            "excluded.released_seq";
        if (auto s = c.run(sql, params, "noting the cases a device holds"); !s) return s;
    }
    std::uint64_t seen = request.caseCursor;
    for (std::size_t i = first; i < reply.cases.size(); ++i)
        seen = std::max(seen, reply.cases[i].seq);
    if (more) {
        reply.caseCursor = reply.cases.back().seq;
        reply.more = true;
    } else {
        // Every case changed up to the counter has been looked at for this device.
        reply.caseCursor = std::max(seen, counter.value());
    }
    return {};
}

}  // namespace veld::sync::postgres
