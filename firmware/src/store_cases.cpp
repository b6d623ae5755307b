// The device store's cases: case changes at finalize, the case list, cases from the collector.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <veld/case_merge.hpp>
#include <veld/store.hpp>

#include "store_internal.hpp"

namespace veld {

using namespace store_detail;

// ---- Case changes inside a finalize ---------------------------------------------------------

Status Store::Impl::raiseClockForCase(const Uuid& caseId) {
    auto st = db.prepare("SELECT max(hlc) FROM case_properties WHERE case_id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(caseId));
    auto newest = optionalInt(*st);
    if (!newest) return newest.error();
    if (*newest) hlc.restore(HlcTimestamp{static_cast<std::uint64_t>(**newest)});
    return {};
}

Status Store::Impl::applyCaseChange(Record& record,
                                    const std::optional<AllocationRequest>& allocate) {
    const Uuid caseId = *record.content.caseId;
    auto& content = record.content;
    if (content.caseChange && content.caseChange->action == CaseAction::None)
        content.caseChange.reset();  // nothing to apply; an allocation adds its own change below
    const CaseAction action = content.caseChange ? content.caseChange->action : CaseAction::None;

    auto findCase = db.prepare("SELECT pseudonym, opened_by FROM cases WHERE case_id = ?1");
    if (!findCase) return findCase.error();
    findCase->bindBlob(1, idBytes(caseId));
    auto found = findCase->step();
    if (!found) return found.error();
    std::string pseudonym;
    if (*found) {
        pseudonym = std::string(findCase->columnText(0));
        auto openedBy = uuidFromBlob(findCase->columnBlob(1));
        // A finalize happens once per record, so an Open of a case that exists was made by
        // another record (or the case came from the collector): two cases under one id.
        if (action == CaseAction::Open && openedBy != record.id) {
            return makeError(ErrorCode::WrongState,
                             caseName(caseId) +
                                 " is already on this device; a form that opens a case must "
                                 "give it a new case id");
        }
    } else if (action == CaseAction::Open) {
        pseudonym = content.caseChange->pseudonym;
        auto insert = db.prepare(
            "INSERT INTO cases (case_id, case_type, pseudonym, last_contact_utc_ms, assigned, "
            "opened_by) VALUES (?1, ?2, ?3, NULL, 1, ?4)");
        if (!insert) return insert.error();
        insert->bindBlob(1, idBytes(caseId))
            .bind(2, std::string_view(content.caseChange->caseType))
            .bind(3, std::string_view(pseudonym))
            .bindBlob(4, idBytes(record.id));
        if (Status s = insert->run(); !s) return s;
    } else {
        return makeError(ErrorCode::NotFound,
                         caseName(caseId) +
                             " is not on this device: synchronise with the collector to receive "
                             "it, or open the case first");
    }
    findCase->reset();

    // The values this record sets, by name. Veld's own properties are set here, never by a form.
    std::map<std::string, std::string> values;
    if (content.caseChange) {
        for (const auto& p : content.caseChange->properties) {
            if (p.name == kCaseStatusProperty || p.name == kCaseArmProperty) {
                return makeError(ErrorCode::InvalidArgument,
                                 "the case property '" + p.name +
                                     "' is set by Veld itself (at open, close and randomisation), "
                                     "never by a form");
            }
            values[p.name] = p.value;
        }
    }
    if (action == CaseAction::Open) values[std::string(kCaseStatusProperty)] = "open";
    if (action == CaseAction::Close) values[std::string(kCaseStatusProperty)] = "closed";
    if (allocate) {
        auto taken = takeAllocation(record, *allocate, pseudonym);
        if (!taken) return taken.error();
        values[std::string(kCaseArmProperty)] = taken->arm;
        content.allocation = std::move(taken.value());
        if (!content.caseChange) content.caseChange = CaseChange{CaseAction::FollowUp, {}, {}, {}};
    }

    auto base = db.prepare("SELECT hlc FROM case_properties WHERE case_id = ?1 AND name = ?2");
    if (!base) return base.error();
    auto put = db.prepare(
        "INSERT INTO case_properties (case_id, name, value, hlc) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (case_id, name) DO UPDATE SET value = excluded.value, hlc = excluded.hlc");
    if (!put) return put.error();
    // The bases the form session gave (what the case held when the form started), where it knew
    // them; otherwise, and for Veld's own properties, what the device holds now.
    std::map<std::string, HlcTimestamp, std::less<>> given;
    if (content.caseChange && content.caseChange->basesKnown) {
        for (const auto& p : content.caseChange->properties)
            given.emplace(p.name, p.base);
    }
    std::vector<CasePropertyValue> written;
    for (const auto& [name, value] : values) {
        base->bindBlob(1, idBytes(caseId)).bind(2, std::string_view(name));
        auto held = optionalInt(*base);
        base->reset();
        if (!held) return held.error();
        HlcTimestamp heldClock{static_cast<std::uint64_t>(held->value_or(0))};
        auto known = given.find(name);
        const bool ownProperty = name == kCaseStatusProperty || name == kCaseArmProperty;
        if (known != given.end() && !ownProperty) heldClock = known->second;
        written.push_back({name, value, heldClock});
        put->bindBlob(1, idBytes(caseId))
            .bind(2, std::string_view(name))
            .bind(3, std::string_view(value))
            .bind(4, static_cast<std::int64_t>(record.hlc.value));
        if (Status s = put->run(); !s) return s;
    }
    content.caseChange->properties = std::move(written);  // sorted by name, as encoded

    auto contact = db.prepare(
        "UPDATE cases SET last_contact_utc_ms = max(coalesce(last_contact_utc_ms, ?2), ?2) "
        "WHERE case_id = ?1");
    if (!contact) return contact.error();
    contact->bindBlob(1, idBytes(caseId)).bind(2, static_cast<std::int64_t>(record.hlc.millis()));
    return contact->run();
}

// ---- Cases ----------------------------------------------------------------------------------

namespace {

constexpr const char* kCaseColumns =
    "c.case_id, c.case_type, c.pseudonym, c.last_contact_utc_ms, "
    "(SELECT value FROM case_properties s WHERE s.case_id = c.case_id AND s.name = 'status')";
// Cleared properties (empty values) are kept for their HLC but not shown.
constexpr const char* kCaseProperties =
    "SELECT name, value, hlc FROM case_properties WHERE case_id = ?1 AND value <> '' "
    "ORDER BY name";

}  // namespace

Result<CaseInfo> Store::Impl::readCase(const sql::Statement& row, sql::Statement& properties) {
    CaseInfo info;
    info.id = uuidFromBlob(row.columnBlob(0)).value_or(Uuid{});
    info.caseType = std::string(row.columnText(1));
    info.pseudonym = std::string(row.columnText(2));
    if (!row.columnIsNull(3)) info.lastContactUtcMs = row.columnInt(3);
    info.closed = row.columnText(4) == "closed";
    properties.bindBlob(1, idBytes(info.id));
    for (;;) {
        auto next = properties.step();
        if (!next) {
            properties.reset();
            return next.error();
        }
        if (!*next) break;
        info.properties.push_back(
            {std::string(properties.columnText(0)), std::string(properties.columnText(1)),
             HlcTimestamp{static_cast<std::uint64_t>(properties.columnInt(2))}});
    }
    properties.reset();
    return info;
}

Result<std::vector<CaseInfo>> Store::cases(const CaseQuery& query) {
    Impl& m = impl();
    // A planned next contact first, soonest first; then the latest contact first. A planned
    // contact is a real yyyy-mm-dd date: one that survives the trip through julianday() unchanged
    // (date() alone keeps 2026-02-30), as CaseInfo::nextContactDays() reads it.
    std::string sql = std::string("SELECT ") + kCaseColumns +
                      ", CASE WHEN nc.value IS NOT NULL AND date(julianday(nc.value)) IS nc.value "
                      "THEN nc.value END AS planned"
                      " FROM cases c LEFT JOIN case_properties nc ON nc.case_id = c.case_id AND "
                      "nc.name = 'next_contact' WHERE c.assigned = 1";
    if (!query.includeClosed)
        sql +=
            " AND NOT EXISTS (SELECT 1 FROM case_properties s WHERE s.case_id = c.case_id AND "
            "s.name = 'status' AND s.value = 'closed')";
    if (query.caseType) sql += " AND c.case_type = :type";
    if (query.pseudonym) sql += " AND c.pseudonym = :pseudonym";
    if (!query.text.empty())
        sql +=
            " AND (c.pseudonym LIKE :text ESCAPE '\\' OR EXISTS (SELECT 1 FROM case_properties p "
            "WHERE p.case_id = c.case_id AND p.value LIKE :text ESCAPE '\\'))";
    sql +=
        " ORDER BY planned IS NULL, planned, "
        "c.last_contact_utc_ms DESC NULLS LAST, c.case_id LIMIT :limit";
    auto st = m.db.prepare(sql);
    if (!st) return st.error();
    int p = 1;
    if (query.caseType) st->bind(p++, std::string_view(*query.caseType));
    if (query.pseudonym) st->bind(p++, std::string_view(*query.pseudonym));
    const std::string pattern = likePattern(query.text);
    if (!query.text.empty()) st->bind(p++, std::string_view(pattern));
    st->bind(p++, static_cast<std::int64_t>(std::clamp<std::size_t>(query.limit, 1, 100000)));
    auto properties = m.db.prepare(kCaseProperties);
    if (!properties) return properties.error();
    std::vector<CaseInfo> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        auto info = m.readCase(*st, *properties);
        if (!info) return info.error();
        out.push_back(std::move(info.value()));
    }
    return out;
}

Result<CaseInfo> Store::caseInfo(const Uuid& caseId) {
    Impl& m = impl();
    auto st =
        m.db.prepare(std::string("SELECT ") + kCaseColumns + " FROM cases c WHERE c.case_id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(caseId));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return makeError(ErrorCode::NotFound, caseName(caseId) + " is not on this device");
    auto properties = m.db.prepare(kCaseProperties);
    if (!properties) return properties.error();
    return m.readCase(*st, *properties);
}

Status Store::mergeCases(std::span<const CaseUpdateIn> cases) {
    Impl& m = impl();
    if (Status s = m.requireWritable("receiving cases"); !s) return s;
    for (const auto& c : cases) {
        for (const auto& p : c.properties) {
            if (p.name.empty())
                return makeError(ErrorCode::InvalidArgument,
                                 caseName(c.id) + " has a property without a name");
        }
    }
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto exists = m.db.prepare("SELECT 1 FROM cases WHERE case_id = ?1");
    if (!exists) return exists.error();
    // Type and pseudonym never change in practice; an empty one from the collector keeps ours.
    auto upsert = m.db.prepare(
        "INSERT INTO cases (case_id, case_type, pseudonym, last_contact_utc_ms, assigned) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (case_id) DO UPDATE SET "
        "case_type = CASE WHEN excluded.case_type <> '' THEN excluded.case_type ELSE case_type "
        "END, "
        "pseudonym = CASE WHEN excluded.pseudonym <> '' THEN excluded.pseudonym ELSE pseudonym "
        "END, "
        "last_contact_utc_ms = max(coalesce(last_contact_utc_ms, excluded.last_contact_utc_ms), "
        "coalesce(excluded.last_contact_utc_ms, last_contact_utc_ms)), "
        "assigned = excluded.assigned");
    if (!upsert) return upsert.error();
    // A received value replaces the one held by the rule the collector applies too
    // (veld::caseValueWins), so every device converges on the collector's value.
    auto held =
        m.db.prepare("SELECT value, hlc FROM case_properties WHERE case_id = ?1 AND name = ?2");
    if (!held) return held.error();
    auto property = m.db.prepare(
        "INSERT INTO case_properties (case_id, name, value, hlc) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (case_id, name) DO UPDATE SET value = excluded.value, hlc = excluded.hlc");
    if (!property) return property.error();
    for (const auto& c : cases) {
        if (!c.assigned) {
            // Not ours and never was: nothing to keep.
            exists->bindBlob(1, idBytes(c.id));
            auto row = exists->step();
            exists->reset();
            if (!row) return row.error();
            if (!*row) continue;
        }
        upsert->bindBlob(1, idBytes(c.id))
            .bind(2, std::string_view(c.caseType))
            .bind(3, std::string_view(c.pseudonym));
        if (c.lastContactUtcMs) {
            upsert->bind(4, *c.lastContactUtcMs);
        } else {
            upsert->bindNull(4);
        }
        upsert->bind(5, std::int64_t{c.assigned ? 1 : 0});
        if (Status s = upsert->run(); !s) return s;
        for (const auto& p : c.properties) {
            const auto hlc = std::min<std::uint64_t>(p.hlc.value, HlcTimestamp::kMaxValue);
            held->bindBlob(1, idBytes(c.id)).bind(2, std::string_view(p.name));
            auto row = held->step();
            if (!row) {
                held->reset();
                return row.error();
            }
            const bool wins =
                !*row || caseValueWins(hlc, p.value, static_cast<std::uint64_t>(held->columnInt(1)),
                                       held->columnText(0));
            held->reset();
            if (!wins) continue;
            property->bindBlob(1, idBytes(c.id))
                .bind(2, std::string_view(p.name))
                .bind(3, std::string_view(p.value))
                .bind(4, static_cast<std::int64_t>(hlc));
            if (Status s = property->run(); !s) return s;
        }
    }
    return tx->commit();
}

}  // namespace veld
