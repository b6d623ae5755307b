// The PostgreSQL backend's cases domain: staff's commands on cases, the case part of a push and
// the case part of a pull, with the SQLite store's behaviour.
//
// Concurrency: a transaction that changes a case locks the case's row first (SELECT ... FOR
// UPDATE, or the INSERT that makes it), so changes of one case are serialised across processes
// and each reads the case as the previous one left it. It leaves the case's change number at 0,
// "changed, not numbered yet", which no pull delivers. Numbers are given afterwards, by
// numberChangedCases(): one short transaction that locks the `case_seq` counter (one row of
// `meta`), numbers every case waiting for one, and commits, so numbers become visible in the
// order they were given. A pull relies on that order: once it sees number N, every change
// numbered below N is visible too, so its cursor never passes a change still on its way. Pushes
// thus never wait for the counter, and one numbering serves every push that committed before it.
// Rows are locked in one order, so that no two transactions wait for each other: a device's row
// (a push, a pull, a team change), the staff device's, a case conflict, the cases (those already
// known in case-id order); the numbering takes the counter and skips cases locked by others
// (their own numbering comes after them).
#include "pg_cases.hpp"

#include <algorithm>
#include <set>

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

// Marks the cases as changed: numberChangedCases() gives them their numbers after the commit.
Status markChanged(pg::Connection& c, const std::set<Uuid>& changed) {
    if (changed.empty()) return {};
    pg::Params params;
    const std::string list = idList(params, {changed.begin(), changed.end()});
    return c.run("UPDATE cases SET change_seq = 0 WHERE case_id IN (" + list + ")", params,
                 "marking changed cases");
}

// Locks the cases of `ids` that exist, in case-id order, and returns them.
Result<std::set<Uuid>> lockCases(pg::Connection& c, const std::set<Uuid>& ids) {
    std::set<Uuid> known;
    if (ids.empty()) return known;
    pg::Params params;
    const std::string list = idList(params, {ids.begin(), ids.end()});
    auto rows = c.query(
        "SELECT case_id FROM cases WHERE case_id IN (" + list + ") ORDER BY case_id FOR UPDATE",
        params, "locking cases");
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i)
        known.insert(rows->uuid(i, 0));
    return known;
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
    auto changed =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            // The device's row first, then the cases', then the counter's (see the top of this
            // file): the order a push takes them in.
            auto up = c.query("UPDATE devices SET team = $1 WHERE device_id = $2 RETURNING 1",
                              pg::Params().add(team).add(deviceId), "setting a device's team");
            if (!up) return up.error();
            if (up->empty()) return makeError(ErrorCode::NotFound, "no device with that id");
            // The cases the device holds (some may leave it) and the new team's (which reach it)
            // get new change numbers, so its next pull looks at them whatever its cursor.
            auto touched = uuidColumn(c.query(
                "SELECT case_id FROM case_holders WHERE device_id = $1 UNION SELECT case_id FROM "
                "cases WHERE $2 <> '' AND assigned_team = $2",
                pg::Params().add(deviceId).add(team), "finding the cases a team change touches"));
            if (!touched) return touched.error();
            auto locked = lockCases(c, std::set<Uuid>(touched->begin(), touched->end()));
            if (!locked) return locked.error();
            if (auto s = audit(c, nowMs, actor, "team", deviceId.toString(),
                               team.empty() ? "no team" : team);
                !s)
                return s;
            return markChanged(c, locked.value());
        });
    if (!changed) return changed;
    return numberChangedCases(m_ctx, true);
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
    auto changed =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            if (device) {
                auto known = deviceTeam(c, *device);
                if (!known) return known.error();
            }
            auto up = c.query(
                "UPDATE cases SET assigned_device = $1::bytea, assigned_team = $2 WHERE case_id = "
                "$3 "
                "RETURNING 1",
                pg::Params().add(device).add(team).add(caseId), "assigning a case");
            if (!up) return up.error();
            if (up->empty()) return makeError(ErrorCode::NotFound, "no case with that id");
            std::string detail;
            if (device) detail = "device " + device->toString();
            if (!team.empty()) detail += (detail.empty() ? "team " : ", team ") + team;
            if (auto s = audit(c, nowMs, actor, "case-assign", caseId.toString(), detail); !s)
                return s;
            return markChanged(c, {caseId});
        });
    if (!changed) return changed;
    return numberChangedCases(m_ctx, true);
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
    if (auto s = rules::checkCaseChoice(choice, comment); !s) return s;
    auto changed =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            // The staff device first (its row is locked in the order a record conflict's settling
            // takes it), then the conflict's row, so two staff settling one conflict at once are
            // taken one after the other (the second finds it settled), then the case's, so the
            // property read below is the one this change replaces (see the top of this file).
            auto staff = staffDevice(c, nowMs);
            if (!staff) return staff.error();
            auto k = c.query(
                "SELECT case_id, name, value_a, hlc_a, value_b, hlc_b, resolved_utc_ms FROM "
                "case_conflicts WHERE cid = $1 FOR UPDATE",
                pg::Params().add(conflictId), "reading a case conflict");
            if (!k) return k.error();
            if (k->empty())
                return makeError(ErrorCode::NotFound, "no case conflict with that number");
            if (!k->isNull(0, 6))
                return makeError(ErrorCode::WrongState,
                                 "this case conflict has been resolved already");
            const Uuid caseId = k->uuid(0, 0);
            if (auto locked = lockCases(c, {caseId}); !locked) return locked.error();
            const std::string name(k->text(0, 1));
            const std::string value =
                choice.kind == CaseChoice::Kind::A   ? std::string(k->text(0, 2))
                : choice.kind == CaseChoice::Kind::B ? std::string(k->text(0, 4))
                                                     : choice.value;
            const auto hlcA = static_cast<std::uint64_t>(k->integer(0, 3));
            const auto hlcB = static_cast<std::uint64_t>(k->integer(0, 5));
            auto held = currentProperty(c, caseId, name);
            if (!held) return held.error();
            // Staff's value (the shared rule).
            const HlcTimestamp hlc = rules::caseChoiceHlc(
                hlcA, hlcB, held->has_value() ? std::optional((*held)->hlc) : std::nullopt, nowMs);
            if (auto s = writeProperty(c, caseId, name, value, hlc.value, std::max(hlcA, hlcB),
                                       staff->first, std::nullopt);
                !s)
                return s;
            const std::string how(rules::caseChoiceWords(choice));
            if (auto s = c.run("UPDATE case_conflicts SET resolved_utc_ms = $1, resolution = $2, "
                               "resolved_by = "
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
            if (auto s = audit(c, nowMs, actor, "case-resolve", caseId.toString(),
                               "property " + name + ": " + how);
                !s)
                return s;
            return markChanged(c, {caseId});
        });
    if (!changed) return changed;
    return numberChangedCases(m_ctx, true);
}

// ---- for the records domain (the case part of a push: pg_case_intake.cpp) ------------------

namespace {

// One numbering (see numberChangedCases); `known` when a caller knows of cases waiting.
Status numberOnce(PgContext& ctx, bool known) {
    if (!known) {
        auto lease = ctx.pool.acquire();
        if (!lease) return lease.error();
        // Most of the time there is nothing to number: no transaction, no lock.
        auto waiting = (*lease)->query("SELECT 1 FROM cases WHERE change_seq = 0 LIMIT 1", {},
                                       "looking for changed cases");
        if (!waiting) return waiting.error();
        if (waiting->empty()) return {};
    }
    bool numbered = false;
    auto s = pg::transact(ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        auto counter = c.query("SELECT value::bigint FROM meta WHERE key = 'case_seq' FOR UPDATE",
                               {}, "locking the case counter");
        if (!counter) return counter.error();
        if (counter->empty()) {
            // The first numbering of this database makes the counter.
            if (auto made = nextCounter(c, "case_seq", 0); !made) return made.error();
            counter = c.query("SELECT value::bigint FROM meta WHERE key = 'case_seq'", {},
                              "reading the case counter");
            if (!counter) return counter.error();
        }
        const std::int64_t from = counter->integer(0, 0);
        // Cases another transaction holds are left to it: it numbers after its commit.
        auto rows = c.query(
            "WITH w AS (SELECT case_id FROM cases WHERE change_seq = 0 ORDER BY case_id FOR "
            "UPDATE SKIP LOCKED), n AS (SELECT case_id, row_number() OVER (ORDER BY case_id) "
            "AS r FROM w) UPDATE cases SET change_seq = $1 + n.r FROM n WHERE cases.case_id "
            "= n.case_id RETURNING change_seq",
            pg::Params().add(from), "numbering changed cases");
        if (!rows) return rows.error();
        if (rows->empty()) return makeError(ErrorCode::NotFound, "nothing to number");
        numbered = true;
        return c.run("UPDATE meta SET value = $1::bigint::text WHERE key = 'case_seq'",
                     pg::Params().add(from + rows->size()), "counting");
    });
    // Nothing to number after all (another numbering came first): rolled back, nothing lost.
    if (!s && !numbered && s.error().code == ErrorCode::NotFound) return {};
    return s;
}

}  // namespace

Status numberChangedCases(PgContext& ctx, bool changedSome) {
    // A numbering that starts after the caller's commit serves it. While one runs, callers
    // queue; the next one, started by one of them, serves them all: one counter lock and one
    // commit for many pushes, rather than a queue of them at the counter.
    auto& n = ctx.numbering;
    std::unique_lock lock(n.mutex);
    const std::uint64_t ticket = ++n.requested;
    n.known = n.known || changedSome;
    while (n.completed < ticket) {
        if (n.running) {
            n.done.wait(lock);
            continue;
        }
        n.running = true;
        const std::uint64_t serves = n.requested;
        const bool known = std::exchange(n.known, false);
        lock.unlock();
        Status s = numberOnce(ctx, known);
        lock.lock();
        n.running = false;
        n.completed = serves;
        n.status = std::move(s);
        n.done.notify_all();
    }
    return n.status;
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
