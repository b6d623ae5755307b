// The SQLite store's cases: teams, the case list, assignment, property merge and case conflicts,
// and the case part of a pull (CaseStore).
#include "sqlite_cases.hpp"

#include <algorithm>
#include <mutex>

#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "../store_rules.hpp"
#include "sqlite_collector.hpp"
#include "sqlite_records.hpp"

namespace veld::sync::sqlite {

namespace {

struct PropertyRow {
    std::string value;
    std::uint64_t hlc = 0;
    std::uint64_t base = 0;
    Uuid deviceId;
};

Result<std::optional<PropertyRow>> currentProperty(SqliteContext& ctx, const Uuid& caseId,
                                                   std::string_view name);

Status writeProperty(SqliteContext& ctx, const Uuid& caseId, std::string_view name,
                     std::string_view value, std::uint64_t hlc, std::uint64_t base,
                     const Uuid& deviceId, std::optional<std::int64_t> rid);

// One property change, merged by HLC: the newer value is current. Two changes where
// neither device had seen the other's value (each one's base before the other's HLC) and
// whose values differ are also kept as a case conflict, so staff see both.
Status mergeProperty(SqliteContext& ctx, const Uuid& caseId, const CasePropertyValue& p,
                     HlcTimestamp hlc, const Uuid& deviceId, std::int64_t rid, std::int64_t nowMs);

// Gives each case a new change number, so the devices holding it look at it again.
Status touchCase(SqliteContext& ctx, const Uuid& caseId);

Result<std::vector<Uuid>> caseIds(SqliteContext& ctx, std::string_view sql,
                                  const std::function<void(sql::Statement&)>& bind);

}  // namespace

Status SqliteCases::setDeviceTeam(const Uuid& deviceId, const std::string& team, std::int64_t nowMs,
                                  const std::string& actor) {
    if (!rules::validTeam(team)) {
        return makeError(ErrorCode::InvalidArgument,
                         "a team name is up to 64 letters, digits, '.', '-' or '_'");
    }
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto facts = deviceFacts(m_ctx, deviceId);
    if (!facts) return facts.error();
    auto up = m_ctx.db.prepare("UPDATE devices SET team = ? WHERE device_id = ?");
    if (!up) return up.error();
    up->bind(1, team).bindBlob(2, idBytes(deviceId));
    if (auto s = up->run(); !s) return s;
    // The cases the device holds (some may leave it) and the new team's (which reach it)
    // get new change numbers, so its next pull looks at them whatever its cursor.
    auto touched =
        caseIds(m_ctx,
                "SELECT case_id FROM case_holders WHERE device_id = "
                "?1 UNION SELECT case_id FROM "
                "cases WHERE ?2 <> '' AND assigned_team = ?2",
                [&](sql::Statement& st) { st.bindBlob(1, idBytes(deviceId)).bind(2, team); });
    if (!touched) return touched.error();
    for (const auto& id : touched.value()) {
        if (auto s = touchCase(m_ctx, id); !s) return s;
    }
    if (auto s = auditLocked(m_ctx, nowMs, actor, "team", deviceId.toString(),
                             team.empty() ? "no team" : team);
        !s)
        return s;
    return tx->commit();
}

Result<std::vector<CollectorCase>> SqliteCases::cases(const CaseFilter& filter) {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        "SELECT case_id, case_type, pseudonym, "
        "opened_device, assigned_device, assigned_team, "
        "last_contact_utc_ms, change_seq FROM cases WHERE "
        "(?1 IS NULL OR case_type = ?1) AND "
        "(?2 IS NULL OR assigned_device = ?2) AND (?3 IS "
        "NULL OR assigned_team = ?3) ORDER "
        "BY case_id LIMIT ?4");
    if (!st) return st.error();
    if (filter.caseType) {
        st->bind(1, *filter.caseType);
    } else {
        st->bindNull(1);
    }
    if (filter.assignedDevice) {
        st->bindBlob(2, idBytes(*filter.assignedDevice));
    } else {
        st->bindNull(2);
    }
    if (filter.assignedTeam) {
        st->bind(3, *filter.assignedTeam);
    } else {
        st->bindNull(3);
    }
    st->bind(4, static_cast<std::int64_t>(filter.limit));
    std::vector<CollectorCase> out;
    if (auto stepped = st->forEachRow([&] {
            CollectorCase c;
            c.caseId = idFrom(st->columnBlob(0));
            c.caseType = std::string(st->columnText(1));
            c.pseudonym = std::string(st->columnText(2));
            if (!st->columnIsNull(3)) c.openedDevice = idFrom(st->columnBlob(3));
            if (!st->columnIsNull(4)) c.assignedDevice = idFrom(st->columnBlob(4));
            c.assignedTeam = std::string(st->columnText(5));
            if (!st->columnIsNull(6)) c.lastContactUtcMs = st->columnInt(6);
            c.changeSeq = static_cast<std::uint64_t>(st->columnInt(7));
            out.push_back(std::move(c));
        });
        !stepped)
        return stepped.error();
    st.value().reset();
    auto props = m_ctx.db.prepare(
        "SELECT name, value, hlc, base_hlc, device_id "
        "FROM case_properties WHERE case_id = ? "
        "ORDER BY name");
    if (!props) return props.error();
    for (auto& c : out) {
        props->bindBlob(1, idBytes(c.caseId));
        if (auto stepped = props->forEachRow([&] {
                c.properties.push_back(
                    {std::string(props->columnText(0)), std::string(props->columnText(1)),
                     HlcTimestamp{static_cast<std::uint64_t>(props->columnInt(2))},
                     HlcTimestamp{static_cast<std::uint64_t>(props->columnInt(3))},
                     idFrom(props->columnBlob(4))});
            });
            !stepped)
            return stepped.error();
        props->reset();
    }
    return out;
}

Status SqliteCases::assignCase(const Uuid& caseId, const std::optional<Uuid>& device,
                               const std::string& team, std::int64_t nowMs,
                               const std::string& actor) {
    if (!device && team.empty())
        return makeError(ErrorCode::InvalidArgument, "assign a case to a device or a team");
    if (!rules::validTeam(team)) {
        return makeError(ErrorCode::InvalidArgument,
                         "a team name is up to 64 letters, digits, '.', '-' or '_'");
    }
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    if (device) {
        auto facts = deviceFacts(m_ctx, *device);
        if (!facts) return facts.error();
    }
    auto seq = nextCounter(m_ctx, "case_seq");
    if (!seq) return seq.error();
    auto st = m_ctx.db.prepare(
        "UPDATE cases SET assigned_device = ?, "
        "assigned_team = ?, change_seq = ? WHERE "
        "case_id = ?");
    if (!st) return st.error();
    if (device) {
        st->bindBlob(1, idBytes(*device));
    } else {
        st->bindNull(1);
    }
    st->bind(2, team).bind(3, i64(seq.value())).bindBlob(4, idBytes(caseId));
    if (auto s = st->run(); !s) return s;
    if (m_ctx.db.changes() == 0) return makeError(ErrorCode::NotFound, "no case with that id");
    std::string detail;
    if (device) detail = "device " + device->toString();
    if (!team.empty()) detail += (detail.empty() ? "team " : ", team ") + team;
    if (auto s = auditLocked(m_ctx, nowMs, actor, "case-assign", caseId.toString(), detail); !s)
        return s;
    return tx->commit();
}

Result<std::vector<CaseConflictInfo>> SqliteCases::caseConflicts(bool includeResolved) {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        std::string("SELECT cid, case_id, name, value_a, hlc_a, device_a, value_b, "
                    "hlc_b, "
                    "device_b, detected_utc_ms, resolved_utc_ms, resolution, resolved_by "
                    "FROM case_conflicts") +
        (includeResolved ? "" : " WHERE resolved_utc_ms IS NULL") + " ORDER BY cid");
    if (!st) return st.error();
    std::vector<CaseConflictInfo> out;
    if (auto stepped = st->forEachRow([&] {
            CaseConflictInfo c;
            c.id = st->columnInt(0);
            c.caseId = idFrom(st->columnBlob(1));
            c.property = std::string(st->columnText(2));
            c.valueA = std::string(st->columnText(3));
            c.hlcA = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(4))};
            c.deviceA = idFrom(st->columnBlob(5));
            c.valueB = std::string(st->columnText(6));
            c.hlcB = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(7))};
            c.deviceB = idFrom(st->columnBlob(8));
            c.detectedUtcMs = st->columnInt(9);
            if (!st->columnIsNull(10)) c.resolvedUtcMs = st->columnInt(10);
            c.resolution = std::string(st->columnText(11));
            c.resolvedBy = std::string(st->columnText(12));
            out.push_back(std::move(c));
        });
        !stepped)
        return stepped.error();
    return out;
}

Status SqliteCases::resolveCaseConflict(std::int64_t conflictId, const CaseChoice& choice,
                                        const std::string& comment, std::int64_t nowMs,
                                        const std::string& actor) {
    if (auto s = rules::checkCaseChoice(choice, comment); !s) return s;
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto c = m_ctx.db.prepare(
        "SELECT case_id, name, value_a, hlc_a, value_b, "
        "hlc_b, resolved_utc_ms FROM "
        "case_conflicts WHERE cid = ?");
    if (!c) return c.error();
    c->bind(1, conflictId);
    auto row = c->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "no case conflict with that number");
    if (!c->columnIsNull(6))
        return makeError(ErrorCode::WrongState, "this case conflict has been resolved already");
    const Uuid caseId = idFrom(c->columnBlob(0));
    const std::string name(c->columnText(1));
    const std::string value = choice.kind == CaseChoice::Kind::A   ? std::string(c->columnText(2))
                              : choice.kind == CaseChoice::Kind::B ? std::string(c->columnText(4))
                                                                   : choice.value;
    const auto hlcA = static_cast<std::uint64_t>(c->columnInt(3));
    const auto hlcB = static_cast<std::uint64_t>(c->columnInt(5));
    c.value().reset();
    auto held = currentProperty(m_ctx, caseId, name);
    if (!held) return held.error();
    // Staff's value (the shared rule).
    const HlcTimestamp hlc = rules::caseChoiceHlc(
        hlcA, hlcB, held->has_value() ? std::optional((*held)->hlc) : std::nullopt, nowMs);
    auto staff = staffDevice(m_ctx, nowMs);
    if (!staff) return staff.error();
    if (auto s = writeProperty(m_ctx, caseId, name, value, hlc.value, std::max(hlcA, hlcB),
                               staff->first, std::nullopt);
        !s)
        return s;
    if (auto s = touchCase(m_ctx, caseId); !s) return s;
    const std::string how(rules::caseChoiceWords(choice));
    auto done = m_ctx.db.prepare(
        "UPDATE case_conflicts SET resolved_utc_ms = ?, "
        "resolution = ?, resolved_by = ? "
        "WHERE cid = ?");
    if (!done) return done.error();
    done->bind(1, nowMs)
        .bind(2, how + (comment.empty() ? "" : "; " + comment))
        .bind(3, actor)
        .bind(4, conflictId);
    if (auto s = done->run(); !s) return s;
    // The audit log names the case, the property and the choice, never a value.
    if (auto s = auditLocked(m_ctx, nowMs, actor, "case-resolve", caseId.toString(),
                             "property " + name + ": " + how);
        !s)
        return s;
    return tx->commit();
}

Status applyCase(SqliteContext& ctx, const Uuid& deviceId, const Uuid& caseId,
                 const std::optional<CaseChange>& change, HlcTimestamp hlc, std::int64_t rid,
                 std::int64_t nowMs) {
    bool known = false;
    {
        auto st = ctx.db.prepare("SELECT 1 FROM cases WHERE case_id = ?");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(caseId));
        auto row = st->step();
        if (!row) return row.error();
        known = row.value();
    }
    // A record of a case never heard of that changes nothing about it: nothing to note.
    if (!known && !change) return {};
    auto seq = nextCounter(ctx, "case_seq");
    if (!seq) return seq.error();
    const auto contact = static_cast<std::int64_t>(hlc.millis());
    const bool opens = change && change->action == CaseAction::Open;
    const std::string_view type = change ? std::string_view(change->caseType) : "";
    const std::string_view pseudonym = change ? std::string_view(change->pseudonym) : "";
    if (!known) {
        // Opened by this record; or, when a later change arrives before the record that
        // opened the case, made from that change so nothing is lost (the opening record
        // fills in what is missing when it comes). Either way it is the sender's for now.
        auto facts = deviceFacts(ctx, deviceId);
        if (!facts) return facts.error();
        auto st = ctx.db.prepare(
            "INSERT INTO cases (case_id, case_type, pseudonym, opened_device, "
            "assigned_device, assigned_team, last_contact_utc_ms, change_seq) "
            "VALUES (?, ?, "
            "?, ?, ?, ?, ?, ?)");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(caseId)).bind(2, type).bind(3, pseudonym);
        if (opens) {
            st->bindBlob(4, idBytes(deviceId));
        } else {
            st->bindNull(4);
        }
        st->bindBlob(5, idBytes(deviceId))
            .bind(6, facts->team)
            .bind(7, contact)
            .bind(8, i64(seq.value()));
        if (auto s = st->run(); !s) return s;
    } else {
        auto st = ctx.db.prepare(
            "UPDATE cases SET case_type = CASE WHEN case_type = '' "
            "THEN ?1 ELSE case_type END, "
            "pseudonym = CASE WHEN pseudonym = '' THEN ?2 ELSE "
            "pseudonym END, opened_device = "
            "coalesce(opened_device, ?3), last_contact_utc_ms = "
            "max(coalesce(last_contact_utc_ms, ?4), ?4), change_seq "
            "= ?5 WHERE case_id = ?6");
        if (!st) return st.error();
        st->bind(1, type).bind(2, pseudonym);
        if (opens) {
            st->bindBlob(3, idBytes(deviceId));
        } else {
            st->bindNull(3);
        }
        st->bind(4, contact).bind(5, i64(seq.value())).bindBlob(6, idBytes(caseId));
        if (auto s = st->run(); !s) return s;
    }
    {
        // The sender holds the case: it is told when the case leaves it.
        auto st = ctx.db.prepare(
            "INSERT INTO case_holders (case_id, device_id) VALUES (?, ?) ON "
            "CONFLICT "
            "(case_id, device_id) DO UPDATE SET released_seq = NULL");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(caseId)).bindBlob(2, idBytes(deviceId));
        if (auto s = st->run(); !s) return s;
    }
    if (!change) return {};
    std::vector<CasePropertyValue> properties = change->properties;
    if (rules::impliesStatus(*change)) {
        auto status = currentProperty(ctx, caseId, kCaseStatusProperty);
        if (!status) return status.error();
        std::optional<std::uint64_t> heldHlc;
        if (status->has_value()) heldHlc = (*status)->hlc;
        if (auto implied = rules::impliedStatus(*change, heldHlc))
            properties.push_back(std::move(*implied));
    }
    // A case holds at most rules::kMaxCaseProperties names: every device holding it receives
    // all of them at each change, so a device (buggy or hostile) that keeps inventing names
    // must not make the case too large to send. Known names still merge; the revision is kept
    // whole.
    auto held = ctx.db.prepare("SELECT count(*) FROM case_properties WHERE case_id = ?");
    if (!held) return held.error();
    held->bindBlob(1, idBytes(caseId));
    auto counted = held->step();
    if (!counted) return counted.error();
    auto names = held->columnInt(0);
    held.value().reset();
    for (const auto& p : properties) {
        auto current = currentProperty(ctx, caseId, p.name);
        if (!current) return current.error();
        if (!current->has_value()) {
            if (!rules::admitsNewProperty(static_cast<std::size_t>(names), p.name)) continue;
            ++names;
        }
        if (auto s = mergeProperty(ctx, caseId, p, hlc, deviceId, rid, nowMs); !s) return s;
    }
    return {};
}

Status pullCases(SqliteContext& ctx, const Uuid& deviceId, const std::string& team,
                 const PullRequest& request, PullReply& reply) {
    {
        // Cases the device has been told it no longer holds, and has heard it: forgotten.
        auto done = ctx.db.prepare(
            "DELETE FROM case_holders WHERE device_id = ? "
            "AND released_seq IS NOT NULL AND "
            "released_seq <= ?");
        if (!done) return done.error();
        done->bindBlob(1, idBytes(deviceId)).bind(2, i64(request.caseCursor));
        if (auto s = done->run(); !s) return s;
    }
    auto st = ctx.db.prepare(
        "SELECT c.case_id, c.case_type, c.pseudonym, c.last_contact_utc_ms, "
        "c.change_seq, "
        "coalesce(c.assigned_device = ?1, 0) OR (c.assigned_team <> '' AND "
        "c.assigned_team = "
        "?2) FROM cases c WHERE c.change_seq > ?3 AND (c.assigned_device = ?1 OR "
        "(c.assigned_team <> '' AND c.assigned_team = ?2) OR EXISTS (SELECT 1 "
        "FROM "
        "case_holders h WHERE h.case_id = c.case_id AND h.device_id = ?1)) ORDER "
        "BY "
        "c.change_seq LIMIT ?4");
    if (!st) return st.error();
    const std::size_t limit = std::max<std::size_t>(1, ctx.policy.maxCasesPerPull);
    st->bindBlob(1, idBytes(deviceId))
        .bind(2, team)
        .bind(3, i64(request.caseCursor))
        .bind(4, static_cast<std::int64_t>(limit + 1));
    bool more = false;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        if (reply.cases.size() == limit) {
            more = true;
            break;
        }
        CaseState c;
        c.update.id = idFrom(st->columnBlob(0));
        c.update.caseType = std::string(st->columnText(1));
        c.update.pseudonym = std::string(st->columnText(2));
        if (!st->columnIsNull(3)) c.update.lastContactUtcMs = st->columnInt(3);
        c.seq = static_cast<std::uint64_t>(st->columnInt(4));
        c.update.assigned = st->columnInt(5) != 0;
        reply.cases.push_back(std::move(c));
    }
    st.value().reset();
    // Written after reading: the holders table is part of the query above.
    auto props = ctx.db.prepare(
        "SELECT name, value, hlc FROM case_properties "
        "WHERE case_id = ? ORDER BY name");
    auto hold = ctx.db.prepare(
        "INSERT INTO case_holders (case_id, device_id, released_seq) VALUES (?1, "
        "?2, ?3) ON "
        "CONFLICT (case_id, device_id) DO UPDATE SET released_seq = ?3");
    if (!props) return props.error();
    if (!hold) return hold.error();
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < reply.cases.size(); ++i) {
        auto& c = reply.cases[i];
        // A case leaving the device takes none of its properties with it.
        if (c.update.assigned) {
            props->bindBlob(1, idBytes(c.update.id));
            if (auto stepped = props->forEachRow([&] {
                    c.update.properties.push_back(
                        {std::string(props->columnText(0)), std::string(props->columnText(1)),
                         HlcTimestamp{static_cast<std::uint64_t>(props->columnInt(2))}});
                    bytes += c.update.properties.back().name.size() +
                             c.update.properties.back().value.size() + 32;
                });
                !stepped)
                return stepped;
            props->reset();
        }
        // An answer that grows too large pages here (at least one case per answer); the
        // cases left out are neither held nor released yet, and come with the next page.
        if (i > 0 && bytes > ctx.policy.maxCaseBytesPerPull) {
            reply.cases.resize(i);
            more = true;
            break;
        }
        hold->bindBlob(1, idBytes(c.update.id)).bindBlob(2, idBytes(deviceId));
        if (c.update.assigned) {
            hold->bindNull(3);
        } else {
            hold->bind(3, i64(c.seq));
        }
        if (auto s = hold->run(); !s) return s;
        hold->reset();
    }
    if (more) {
        reply.caseCursor = reply.cases.back().seq;
        reply.more = true;
    } else {
        // Every case changed up to the counter has been looked at for this device.
        auto counter = counterValue(ctx, "case_seq");
        if (!counter) return counter.error();
        reply.caseCursor = std::max(request.caseCursor, counter.value());
    }
    return {};
}

namespace {

Result<std::optional<PropertyRow>> currentProperty(SqliteContext& ctx, const Uuid& caseId,
                                                   std::string_view name) {
    auto st = ctx.db.prepare(
        "SELECT value, hlc, base_hlc, device_id FROM "
        "case_properties WHERE case_id = ? AND "
        "name = ?");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(caseId)).bind(2, name);
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return std::optional<PropertyRow>();
    return std::optional<PropertyRow>(
        PropertyRow{std::string(st->columnText(0)), static_cast<std::uint64_t>(st->columnInt(1)),
                    static_cast<std::uint64_t>(st->columnInt(2)), idFrom(st->columnBlob(3))});
}

Status writeProperty(SqliteContext& ctx, const Uuid& caseId, std::string_view name,
                     std::string_view value, std::uint64_t hlc, std::uint64_t base,
                     const Uuid& deviceId, std::optional<std::int64_t> rid) {
    auto st = ctx.db.prepare(
        "INSERT INTO case_properties (case_id, name, value, "
        "hlc, base_hlc, device_id, rid) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (case_id, "
        "name) DO UPDATE SET value = "
        "excluded.value, hlc = excluded.hlc, base_hlc = "
        "excluded.base_hlc, device_id = "
        "excluded.device_id, rid = excluded.rid");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(caseId))
        .bind(2, name)
        .bind(3, value)
        .bind(4, i64(hlc))
        .bind(5, i64(base))
        .bindBlob(6, idBytes(deviceId));
    if (rid) {
        st->bind(7, *rid);
    } else {
        st->bindNull(7);
    }
    return st->run();
}

Status mergeProperty(SqliteContext& ctx, const Uuid& caseId, const CasePropertyValue& p,
                     HlcTimestamp hlc, const Uuid& deviceId, std::int64_t rid, std::int64_t nowMs) {
    auto current = currentProperty(ctx, caseId, p.name);
    if (!current) return current.error();
    if (!current->has_value())
        return writeProperty(ctx, caseId, p.name, p.value, hlc.value, p.base.value, deviceId, rid);
    const PropertyRow& held = **current;
    const auto merged =
        rules::mergeProperty({held.value, held.hlc, held.base}, p.value, hlc.value, p.base.value);
    if (merged.conflict) {
        auto st = ctx.db.prepare(
            "INSERT INTO case_conflicts (case_id, name, value_a, hlc_a, device_a, "
            "value_b, "
            "hlc_b, device_b, detected_utc_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(caseId))
            .bind(2, p.name)
            .bind(3, held.value)
            .bind(4, i64(held.hlc))
            .bindBlob(5, idBytes(held.deviceId))
            .bind(6, p.value)
            .bind(7, i64(hlc.value))
            .bindBlob(8, idBytes(deviceId))
            .bind(9, nowMs);
        if (auto s = st->run(); !s) return s;
    }
    if (merged.incomingWins)
        return writeProperty(ctx, caseId, p.name, p.value, hlc.value, p.base.value, deviceId, rid);
    return {};
}

Status touchCase(SqliteContext& ctx, const Uuid& caseId) {
    auto seq = nextCounter(ctx, "case_seq");
    if (!seq) return seq.error();
    auto st = ctx.db.prepare("UPDATE cases SET change_seq = ? WHERE case_id = ?");
    if (!st) return st.error();
    st->bind(1, i64(seq.value())).bindBlob(2, idBytes(caseId));
    return st->run();
}

Result<std::vector<Uuid>> caseIds(SqliteContext& ctx, std::string_view sql,
                                  const std::function<void(sql::Statement&)>& bind) {
    auto st = ctx.db.prepare(sql);
    if (!st) return st.error();
    bind(st.value());
    std::vector<Uuid> out;
    if (auto stepped = st->forEachRow([&] { out.push_back(idFrom(st->columnBlob(0))); }); !stepped)
        return stepped.error();
    return out;
}

}  // namespace

}  // namespace veld::sync::sqlite
