// Cases and randomisation at the collector's store: case changes merged per property with
// conflicts kept for staff, cases and sealed allocation blocks handed to devices by pull, and
// the allocation log checked against the regenerated sequence. Devices are played by the test:
// records are encoded as a device's store would send them, slots opened with the device's key.
#include <algorithm>
#include <map>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/hex.hpp>
#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/study_json.hpp>

#include "support/sync_support.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

CasePropertyValue prop(const std::string& name, const std::string& value, HlcTimestamp base = {}) {
    return {name, value, base};
}

// A collector store with devices that push records as their outboxes would.
struct Collector {
    test::TempDir dir;
    std::string location = test::testCollectorLocation(dir);
    std::unique_ptr<sync::CollectorStore> store;
    std::int64_t now = SystemClock::instance().nowMillis();
    std::map<Uuid, std::uint64_t> sent;  // the last outbox number each device used

    explicit Collector(sync::CollectorPolicy policy = {}) {
        auto opened = sync::openCollector(location, true, policy);
        REQUIRE_MESSAGE(opened, opened.error().describe());
        store = std::move(opened.value());
    }

    Uuid device(const std::string& team = {}) {
        return test::enrolInStore(*store, now, "tablet", team);
    }

    // The HLC `ms` milliseconds after the test began.
    [[nodiscard]] HlcTimestamp at(int ms) const {
        return HlcTimestamp::make(static_cast<std::uint64_t>(now + ms), 0);
    }

    static sync::PushRevision revisionOf(const Record& r, std::uint64_t seq) {
        sync::PushRevision rev;
        rev.seq = seq;
        rev.recordId = r.id;
        rev.hlc = r.hlc;
        auto body = encodeRecord(r);
        REQUIRE_MESSAGE(body, body.error().describe());
        rev.body = std::move(body.value());
        rev.formId = r.content.formId;
        rev.formVersion = r.content.formVersion;
        return rev;
    }

    sync::PushReply push(const Record& r) {
        sync::PushBatch batch;
        batch.deviceId = r.deviceId;
        batch.revisions.push_back(revisionOf(r, ++sent[r.deviceId]));
        auto reply = store->push(r.deviceId, batch, now);
        REQUIRE_MESSAGE(reply, reply.error().describe());
        return reply.value();
    }

    // A record of `caseId` made on `device` at `hlc` that does `action` with these properties.
    static Record caseRecord(const Uuid& device, const Uuid& caseId, HlcTimestamp hlc,
                             CaseAction action, std::vector<CasePropertyValue> properties,
                             const std::string& pseudonym = {}) {
        Record r;
        r.id = makeUuidV7(SystemClock::instance());
        r.deviceId = device;
        r.hlc = hlc;
        r.createdHlc = hlc;
        r.finalized = true;
        r.content.formId = action == CaseAction::Open ? "ips_intake" : "ips_session";
        r.content.formVersion = 1;
        r.content.caseId = caseId;
        CaseChange change;
        change.action = action;
        if (action == CaseAction::Open) change.caseType = "participant";
        change.pseudonym = pseudonym;
        std::sort(properties.begin(), properties.end(),
                  [](const auto& a, const auto& b) { return a.name < b.name; });
        change.properties = std::move(properties);
        r.content.caseChange = std::move(change);
        return r;
    }

    sync::CollectorCase caseOf(const Uuid& caseId) {
        auto all = store->cases({});
        REQUIRE(all);
        for (auto& c : all.value()) {
            if (c.caseId == caseId) return c;
        }
        FAIL("the collector does not hold the case");
        return {};
    }
};

std::string valueOf(const sync::CollectorCase& c, const std::string& name) {
    for (const auto& p : c.properties) {
        if (p.name == name) return p.value;
    }
    return "<absent>";
}

const sync::CaseState* findCase(const sync::PullReply& reply, const Uuid& id) {
    for (const auto& c : reply.cases) {
        if (c.update.id == id) return &c;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("case changes merge per property: disjoint changes are kept, concurrent ones conflict") {
    Collector c;
    const Uuid a = c.device();
    const Uuid b = c.device();
    const Uuid caseId = makeUuidV4();

    // A opens the case; B has received it (the values at 1) and changes other things.
    c.push(Collector::caseRecord(a, caseId, c.at(1), CaseAction::Open,
                                 {prop("label", "R. de Vries"), prop("municipality", "utrecht")},
                                 "p1:00ff"));
    c.push(Collector::caseRecord(b, caseId, c.at(3), CaseAction::FollowUp,
                                 {prop("phone_known", "yes"),
                                  // B saw A's label and changed it: causally later, no conflict.
                                  prop("label", "Rianne de Vries", c.at(1))}));
    // A and B each change the municipality without seeing the other's change.
    c.push(Collector::caseRecord(a, caseId, c.at(2), CaseAction::FollowUp,
                                 {prop("municipality", "amersfoort", c.at(1))}));
    c.push(Collector::caseRecord(b, caseId, c.at(4), CaseAction::FollowUp,
                                 {prop("municipality", "nieuwegein", c.at(1))}));
    // The same again, the older change arriving last: still a conflict, the newer value stays.
    c.push(Collector::caseRecord(b, caseId, c.at(6), CaseAction::FollowUp,
                                 {prop("next_contact", "2026-12-01", c.at(1))}));
    c.push(Collector::caseRecord(a, caseId, c.at(5), CaseAction::FollowUp,
                                 {prop("next_contact", "2026-12-08")}));

    const auto held = c.caseOf(caseId);
    CHECK(held.caseType == "participant");
    CHECK(held.pseudonym == "p1:00ff");
    REQUIRE(held.openedDevice);
    CHECK(*held.openedDevice == a);
    CHECK(held.assignedDevice == a);
    CHECK(valueOf(held, "status") == "open");
    CHECK(valueOf(held, "phone_known") == "yes");
    CHECK(valueOf(held, "label") == "Rianne de Vries");
    CHECK(valueOf(held, "municipality") == "nieuwegein");
    CHECK(valueOf(held, "next_contact") == "2026-12-01");
    CHECK(held.lastContactUtcMs == static_cast<std::int64_t>(c.at(6).millis()));

    auto conflicts = c.store->caseConflicts(false);
    REQUIRE(conflicts);
    REQUIRE(conflicts->size() == 2);
    const auto& first = conflicts->at(0);
    CHECK(first.caseId == caseId);
    CHECK(first.property == "municipality");
    CHECK(first.valueA == "amersfoort");
    CHECK(first.hlcA == c.at(2));
    CHECK(first.deviceA == a);
    CHECK(first.valueB == "nieuwegein");
    CHECK(first.hlcB == c.at(4));
    CHECK(first.deviceB == b);
    const auto& second = conflicts->at(1);
    CHECK(second.property == "next_contact");
    CHECK(second.valueA == "2026-12-01");
    CHECK(second.valueB == "2026-12-08");

    // Closing the case is no disagreement with the status it ends.
    c.push(Collector::caseRecord(a, caseId, c.at(7), CaseAction::Close, {}));
    CHECK(valueOf(c.caseOf(caseId), "status") == "closed");
    CHECK(c.store->caseConflicts(false)->size() == 2);
}

TEST_CASE("regression: two changes with one HLC converge on the greater value in any order") {
    for (const bool greaterFirst : {false, true}) {
        CAPTURE(greaterFirst);
        Collector c;
        const Uuid a = c.device();
        const Uuid b = c.device();
        const Uuid caseId = makeUuidV4();
        c.push(Collector::caseRecord(a, caseId, c.at(1), CaseAction::Open, {prop("phase", "s")}));
        // Both devices stamp the same HLC (the same millisecond, each its counter at 0).
        Record small = Collector::caseRecord(a, caseId, c.at(5), CaseAction::FollowUp,
                                             {prop("phase", "job_search", c.at(1))});
        Record large = Collector::caseRecord(b, caseId, c.at(5), CaseAction::FollowUp,
                                             {prop("phase", "placed", c.at(1))});
        c.push(greaterFirst ? large : small);
        c.push(greaterFirst ? small : large);
        CHECK(valueOf(c.caseOf(caseId), "phase") == "placed");
        CHECK(c.store->caseConflicts(false)->size() == 1);  // still a clash for staff
    }
}

TEST_CASE("a resent revision with a case change and an allocation is applied once") {
    Collector c;
    const Uuid a = c.device();
    const Uuid b = c.device();
    const Uuid caseId = makeUuidV4();
    c.push(Collector::caseRecord(a, caseId, c.at(2), CaseAction::Open, {prop("eligible", "yes")}));
    Record change =
        Collector::caseRecord(b, caseId, c.at(1), CaseAction::FollowUp, {prop("eligible", "no")});
    change.content.allocation =
        Allocation{"ips", "", 0, 0, "ips", std::vector<std::uint8_t>(16, 7), 1, c.now};

    sync::PushBatch batch;
    batch.deviceId = b;
    batch.revisions.push_back(Collector::revisionOf(change, 1));
    REQUIRE(c.store->push(b, batch, c.now));
    const auto seq = c.caseOf(caseId).changeSeq;
    REQUIRE(c.store->caseConflicts(false)->size() == 1);

    // The device did not hear the answer and sends the same batch again.
    auto again = c.store->push(b, batch, c.now);
    REQUIRE(again);
    CHECK(again->results.at(0).outcome == sync::RevisionOutcome::Duplicate);
    CHECK(c.caseOf(caseId).changeSeq == seq);
    CHECK(c.store->caseConflicts(false)->size() == 1);
    CHECK(c.store->allocationLog("ips").error().code == ErrorCode::NotFound);  // no such study
    CHECK(test::countRows(c.location, "allocations") == 1);
}

TEST_CASE(
    "a follow-up that arrives before the case's opening record makes the case, losing "
    "nothing") {
    Collector c;
    const Uuid a = c.device("team-north");
    const Uuid b = c.device();
    const Uuid caseId = makeUuidV4();
    // B's follow-up arrives first (the opening record from A is still on its way).
    c.push(Collector::caseRecord(b, caseId, c.at(5), CaseAction::FollowUp,
                                 {prop("employment", "part-time", c.at(1))}));
    auto early = c.caseOf(caseId);
    CHECK(early.caseType.empty());
    CHECK_FALSE(early.openedDevice);
    CHECK(valueOf(early, "employment") == "part-time");

    c.push(Collector::caseRecord(a, caseId, c.at(1), CaseAction::Open,
                                 {prop("employment", "none"), prop("label", "J. Bakker")},
                                 "p1:abcd"));
    const auto held = c.caseOf(caseId);
    CHECK(held.caseType == "participant");
    CHECK(held.pseudonym == "p1:abcd");
    REQUIRE(held.openedDevice);
    CHECK(*held.openedDevice == a);
    CHECK(valueOf(held, "employment") == "part-time");  // B's change was based on the open
    CHECK(valueOf(held, "label") == "J. Bakker");
    CHECK(valueOf(held, "status") == "open");
    CHECK(c.store->caseConflicts(false)->empty());
}

TEST_CASE("staff settle a case conflict: the chosen value wins over both and reaches devices") {
    Collector c;
    const Uuid a = c.device("team-west");
    const Uuid b = c.device("team-west");
    const Uuid caseId = makeUuidV4();
    c.push(Collector::caseRecord(a, caseId, c.at(1), CaseAction::Open, {prop("phone", "")}));
    c.push(Collector::caseRecord(a, caseId, c.at(2), CaseAction::FollowUp,
                                 {prop("phone", "yes", c.at(1))}));
    c.push(Collector::caseRecord(b, caseId, c.at(3), CaseAction::FollowUp,
                                 {prop("phone", "no", c.at(1))}));
    auto open = c.store->caseConflicts(false);
    REQUIRE(open);
    REQUIRE(open->size() == 1);
    const auto conflict = open->front();

    // Both devices are up to date before staff decide.
    auto before = c.store->pull(b, {}, 16, c.now);
    REQUIRE(before);
    const auto cursor = before->caseCursor;
    CHECK(findCase(before.value(), caseId) != nullptr);

    SUBCASE("keeping A's value") {
        REQUIRE(c.store->resolveCaseConflict(conflict.id, {sync::CaseChoice::Kind::A, {}},
                                             "checked by phone", c.now + 10, "anna"));
        const auto held = c.caseOf(caseId);
        CHECK(valueOf(held, "phone") == "yes");
        const auto& p = *std::find_if(held.properties.begin(), held.properties.end(),
                                      [](const auto& x) { return x.name == "phone"; });
        CHECK(p.hlc > conflict.hlcA);
        CHECK(p.hlc > conflict.hlcB);
        CHECK(p.base == std::max(conflict.hlcA, conflict.hlcB));

        // It flows to the devices holding the case at their next pull.
        sync::PullRequest next;
        next.caseCursor = cursor;
        auto after = c.store->pull(b, next, 16, c.now + 20);
        REQUIRE(after);
        const auto* state = findCase(after.value(), caseId);
        REQUIRE(state != nullptr);
        const auto phone =
            std::find_if(state->update.properties.begin(), state->update.properties.end(),
                         [](const auto& x) { return x.name == "phone"; });
        REQUIRE(phone != state->update.properties.end());
        CHECK(phone->value == "yes");
        CHECK(phone->hlc == p.hlc);

        // Settled once; kept in the list of all conflicts with how and by whom.
        auto twice = c.store->resolveCaseConflict(conflict.id, {}, "", c.now + 30, "anna");
        REQUIRE_FALSE(twice);
        CHECK(twice.error().code == ErrorCode::WrongState);
        CHECK(c.store->caseConflicts(false)->empty());
        auto all = c.store->caseConflicts(true);
        REQUIRE(all->size() == 1);
        CHECK(all->front().resolvedBy == "anna");
        CHECK(all->front().resolution == "kept A; checked by phone");
        bool audited = false;
        const auto audit = c.store->audit();
        REQUIRE(audit);
        for (const auto& e : audit.value()) {
            if (e.action != "case-resolve") continue;
            audited = e.subject == caseId.toString() && e.detail == "property phone: kept A";
            CHECK(e.detail.find("yes") == std::string::npos);
        }
        CHECK(audited);

        // A device that changes it after seeing staff's value follows it; one that had not
        // seen it disagrees again, and staff hear of it.
        c.push(Collector::caseRecord(a, caseId, HlcTimestamp{p.hlc.value + 5}, CaseAction::FollowUp,
                                     {prop("phone", "yes, mobile", p.hlc)}));
        CHECK(c.store->caseConflicts(false)->empty());
        c.push(Collector::caseRecord(b, caseId, HlcTimestamp{p.hlc.value + 9}, CaseAction::FollowUp,
                                     {prop("phone", "no", conflict.hlcB)}));
        CHECK(c.store->caseConflicts(false)->size() == 1);
    }
    SUBCASE("a typed value") {
        REQUIRE(c.store->resolveCaseConflict(
            conflict.id, {sync::CaseChoice::Kind::Value, "only landline"}, "", c.now, "bram"));
        CHECK(valueOf(c.caseOf(caseId), "phone") == "only landline");
    }
    auto missing = c.store->resolveCaseConflict(999, {}, "", c.now, "anna");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::NotFound);
}

TEST_CASE(
    "regression: a device inventing case property names cannot make a case too large to pull") {
    sync::CollectorPolicy policy;
    policy.maxCaseBytesPerPull = 20000;
    Collector c(policy);
    const Uuid a = c.device();
    const Uuid caseId = makeUuidV4();
    std::vector<CasePropertyValue> many;
    for (int i = 0; i < 300; ++i)
        many.push_back(prop("p" + std::to_string(1000 + i), "x"));
    const Record open = Collector::caseRecord(a, caseId, c.at(1), CaseAction::Open, many);
    // The whole revision is stored; the case keeps a bounded number of names.
    CHECK(c.push(open).results.at(0).outcome == sync::RevisionOutcome::Stored);
    auto held = c.caseOf(caseId);
    CHECK(held.properties.size() == 257);  // 256 of the form's, and status
    CHECK(valueOf(held, "status") == "open");
    // Names the case holds still change; new ones beyond the bound do not get in.
    c.push(Collector::caseRecord(a, caseId, c.at(2), CaseAction::FollowUp,
                                 {prop("p1000", "y", c.at(1)), prop("zz_new", "z")}));
    held = c.caseOf(caseId);
    CHECK(valueOf(held, "p1000") == "y");
    CHECK(valueOf(held, "zz_new") == "<absent>");
    CHECK(held.properties.size() == 257);

    // Large cases page the pull by bytes, so no answer outgrows the protocol's limit.
    std::vector<Uuid> big;
    for (int i = 0; i < 3; ++i) {
        big.push_back(makeUuidV4());
        c.push(Collector::caseRecord(
            a, big.back(), c.at(10 + i), CaseAction::Open,
            {prop("notes", std::string(4000, 'n')), prop("notes2", std::string(4000, 'm')),
             prop("notes3", std::string(4000, 'o'))}));
    }
    std::map<Uuid, std::size_t> seen;
    std::uint64_t cursor = 0;
    int pages = 0;
    for (; pages < 10; ++pages) {
        sync::PullRequest request;
        request.caseCursor = cursor;
        auto reply = c.store->pull(a, request, 16, c.now);
        REQUIRE_MESSAGE(reply, reply.error().describe());
        CHECK_FALSE(reply->cases.empty());
        for (const auto& k : reply->cases) {
            CHECK(k.seq > cursor);
            seen[k.update.id] = k.update.properties.size();
        }
        cursor = reply->caseCursor;
        if (!reply->more) break;
    }
    CHECK(pages >= 2);
    REQUIRE(seen.size() == 4);  // nothing skipped across the pages
    for (const auto& id : big)
        CHECK(seen[id] == 4);
}

TEST_CASE(
    "pull hands a device the cases of it and its team, in pages, and takes back those it "
    "lost") {
    sync::CollectorPolicy policy;
    policy.maxCasesPerPull = 2;
    Collector c(policy);
    const Uuid a = c.device("utrecht");
    const Uuid b = c.device("utrecht");
    const Uuid other = c.device("amersfoort");
    std::vector<Uuid> cases;
    for (int i = 0; i < 5; ++i) {
        cases.push_back(makeUuidV4());
        c.push(Collector::caseRecord(a, cases.back(), c.at(i + 1), CaseAction::Open,
                                     {prop("label", "case " + std::to_string(i))}));
    }

    // Pages until `more` is false; the cases seen (and whether still assigned), and the cursor.
    const auto pullAll = [&](const Uuid& device, std::uint64_t& cursor) {
        std::map<Uuid, bool> seen;
        for (int round = 0; round < 10; ++round) {
            sync::PullRequest request;
            request.caseCursor = cursor;
            auto reply = c.store->pull(device, request, 16, c.now);
            REQUIRE_MESSAGE(reply, reply.error().describe());
            CHECK(reply->cases.size() <= 2);
            for (const auto& k : reply->cases) {
                CHECK(k.seq > cursor);
                seen[k.update.id] = k.update.assigned;
                if (k.update.assigned) {
                    CHECK(k.update.caseType == "participant");
                    CHECK_FALSE(k.update.properties.empty());
                } else {
                    CHECK(k.update.properties.empty());
                }
            }
            CHECK(reply->caseCursor >= cursor);
            cursor = reply->caseCursor;
            if (!reply->more) return seen;
        }
        FAIL("pull never said it was done");
        return seen;
    };

    std::uint64_t cursorA = 0, cursorB = 0, cursorOther = 0;
    CHECK(pullAll(a, cursorA).size() == 5);
    const auto atB = pullAll(b, cursorB);
    CHECK(atB.size() == 5);  // the team's cases, opened on A
    CHECK(std::all_of(atB.begin(), atB.end(), [](const auto& x) { return x.second; }));
    CHECK(pullAll(other, cursorOther).empty());
    CHECK(pullAll(b, cursorB).empty());  // nothing new

    // Staff give case 0 to the other device alone: A and B are told it left them.
    REQUIRE(c.store->assignCase(cases[0], other, "", c.now, "anna"));
    const auto cursorBefore = cursorA;
    auto gone = pullAll(a, cursorA);
    REQUIRE(gone.size() == 1);
    CHECK(gone.at(cases[0]) == false);
    // That answer was lost on the way: asked again from the old cursor, the same is said again.
    std::uint64_t cursorAgain = cursorBefore;
    CHECK(pullAll(a, cursorAgain) == gone);
    CHECK(pullAll(a, cursorA).empty());
    gone = pullAll(b, cursorB);
    REQUIRE(gone.size() == 1);
    CHECK(gone.at(cases[0]) == false);
    auto came = pullAll(other, cursorOther);
    REQUIRE(came.size() == 1);
    CHECK(came.at(cases[0]) == true);
    CHECK(pullAll(b, cursorB).empty());  // told once

    // B leaves the team: the team's cases leave it; the other device joins: they reach it.
    REQUIRE(c.store->setDeviceTeam(b, "", c.now, "anna"));
    REQUIRE(c.store->setDeviceTeam(other, "utrecht", c.now, "anna"));
    gone = pullAll(b, cursorB);
    CHECK(gone.size() == 4);
    CHECK(std::none_of(gone.begin(), gone.end(), [](const auto& x) { return x.second; }));
    came = pullAll(other, cursorOther);
    CHECK(came.size() == 5);  // its own case 0 again, and the team's four
    CHECK(std::all_of(came.begin(), came.end(), [](const auto& x) { return x.second; }));

    // A new device of the team with a fresh cursor gets every case of the team, none of others.
    const Uuid fresh = c.device("utrecht");
    std::uint64_t cursorFresh = 0;
    CHECK(pullAll(fresh, cursorFresh).size() == 4);

    sync::CaseFilter byTeam;
    byTeam.assignedTeam = "utrecht";
    CHECK(c.store->cases(byTeam)->size() == 4);
    sync::CaseFilter byDevice;
    byDevice.assignedDevice = other;
    CHECK(c.store->cases(byDevice)->size() == 1);
    CHECK(c.store->assignCase(makeUuidV4(), other, "", c.now, "anna").error().code ==
          ErrorCode::NotFound);
}

namespace {

sync::StudyDefinition smallStudy() {
    sync::StudyDefinition d;
    d.study.id = "trial";
    d.study.pilot = "test";
    d.study.arms = {{"treatment", 1}, {"control", 1}};
    d.study.factors = {{"site", {"north", "south"}}};
    d.study.blockSizes = {4, 6};
    d.study.lowSlots = 3;
    d.blocksPerDevice = 2;
    return d;
}

// A device as the collector sees it: its box key pair, cursors, and the slots it opened.
struct Device {
    Uuid id;
    std::pair<std::array<std::uint8_t, 32>, std::array<std::uint8_t, 32>> keys =
        alloc::newBoxKeyPair();
    std::uint64_t allocationCursor = 0;
    std::map<std::string, std::vector<alloc::Slot>> slots;  // per stratum, (block, position)
    std::uint64_t logSeq = 0;

    sync::PullReply pull(sync::CollectorStore& store, std::int64_t now,
                         std::vector<sync::StratumStock> stock = {}, bool sayKey = true) {
        sync::PullRequest request;
        request.allocationCursor = allocationCursor;
        if (sayKey) request.deviceBoxKey.assign(keys.first.begin(), keys.first.end());
        request.stock = std::move(stock);
        auto reply = store.pull(id, request, 16, now);
        REQUIRE_MESSAGE(reply, reply.error().describe());
        for (const auto& b : reply->blocks) {
            for (const auto& s : b.slots) {
                auto opened = alloc::openSlot(s.box, keys.first, keys.second);
                REQUIRE_MESSAGE(opened, opened.error().describe());
                CHECK(opened->study == b.study);
                CHECK(opened->stratum == b.stratum);
                CHECK(opened->block == b.block);
                CHECK(opened->position == s.position);
                slots[b.stratum].push_back(opened.value());
            }
        }
        for (auto& [stratum, list] : slots) {
            std::sort(list.begin(), list.end(), [](const auto& x, const auto& y) {
                return std::pair(x.block, x.position) < std::pair(y.block, y.position);
            });
        }
        allocationCursor = reply->allocationCursor;
        return reply.value();
    }
};

// The record that enrols a case into a slot, as a device's finalize writes it.
Record allocationRecord(const Uuid& device, const Uuid& caseId, HlcTimestamp hlc,
                        const alloc::Slot& slot, std::uint64_t logSeq) {
    Record r =
        Collector::caseRecord(device, caseId, hlc, CaseAction::Open, {prop("arm", slot.arm)});
    r.content.allocation =
        alloc::allocationOf(slot, logSeq, static_cast<std::int64_t>(hlc.millis()));
    return r;
}

bool hasProblem(const sync::StudyVerification& v, sync::AllocationProblem::Kind kind) {
    return std::any_of(v.problems.begin(), v.problems.end(),
                       [&](const auto& p) { return p.kind == kind; });
}

std::string describe(const sync::StudyVerification& v) {
    std::string out;
    for (const auto& p : v.problems)
        out += std::string(sync::allocationProblemName(p.kind)) + ": " + p.detail + "\n";
    return out;
}

}  // namespace

TEST_CASE("blocks reach a device sealed to its own key, and it is topped up when it runs low") {
    sync::CollectorPolicy policy;
    policy.maxBlocksPerPull = 3;
    Collector c(policy);
    REQUIRE(c.store->defineStudy(smallStudy(), c.now, "anna").value());
    Device d;
    d.id = c.device();

    // Without its key the device learns of the study but gets no slots.
    auto first = d.pull(*c.store, c.now, {}, false);
    REQUIRE(first.studies.size() == 1);
    CHECK(first.studies[0].id == "trial");
    CHECK(first.studies[0].arms == std::vector<std::string>{"treatment", "control"});
    CHECK(first.studies[0].lowSlots == 3);
    CHECK(first.blocks.empty());
    CHECK(first.allocationCursor == 0);

    // With it: two blocks of each stratum, in pages of three blocks.
    auto second = d.pull(*c.store, c.now);
    CHECK(second.blocks.size() == 3);
    CHECK(second.more);
    auto third = d.pull(*c.store, c.now);
    CHECK(third.blocks.size() == 1);
    CHECK_FALSE(third.more);
    const auto seed = c.store->studySeed("trial", c.now, "evaluator").value();
    auto study = smallStudy().study;
    study.seed = seed;
    for (const auto& stratum : alloc::strata(study)) {
        const auto& held = d.slots[stratum];
        const auto b0 = alloc::generateBlock(study, stratum, 0);
        const auto b1 = alloc::generateBlock(study, stratum, 1);
        REQUIRE(held.size() == b0.arms.size() + b1.arms.size());
        for (std::size_t k = 0; k < held.size(); ++k) {
            const auto& block = k < b0.arms.size() ? b0 : b1;
            const auto pos = k < b0.arms.size() ? k : k - b0.arms.size();
            CHECK(held[k].block == block.number);
            CHECK(held[k].arm == block.arms[pos]);
            CHECK(held[k].token == block.tokens[pos]);
        }
    }
    // Another device's key opens none of them.
    const auto stranger = alloc::newBoxKeyPair();
    const auto box = alloc::sealSlot(d.slots["site=north"].front(), d.keys.first);
    CHECK_FALSE(alloc::openSlot(box, stranger.first, stranger.second));

    const auto stock = [&](std::uint32_t north, std::uint32_t south) {
        return std::vector<sync::StratumStock>{{"trial", "site=north", north},
                                               {"trial", "site=south", south}};
    };
    // Enough left: nothing more is dealt.
    CHECK(d.pull(*c.store, c.now, stock(8, 8)).blocks.empty());
    // North runs low: two more blocks of north only, the next ones of its sequence.
    auto topped = d.pull(*c.store, c.now, stock(2, 8));
    REQUIRE(topped.blocks.size() == 2);
    for (const auto& b : topped.blocks) {
        CHECK(b.stratum == "site=north");
        CHECK(b.block >= 2);
    }
    // A pull that has not received them yet (an old cursor) gets them again, not more.
    sync::PullRequest stale;
    stale.allocationCursor = third.allocationCursor;
    stale.stock = stock(2, 8);
    auto again = c.store->pull(d.id, stale, 16, c.now);
    REQUIRE(again);
    CHECK(again->blocks.size() == 2);
    auto balance = c.store->balance("trial");
    REQUIRE(balance);
    REQUIRE(balance->devices.size() == 1);
    CHECK(balance->devices[0].dealtBlocks == 6);

    // Staff deal blocks by hand too; the device receives them at its next pull.
    auto dealt = c.store->allocateBlocks("trial", d.id, 1, c.now, "anna");
    REQUIRE(dealt);
    CHECK(dealt->size() == 2);
    CHECK(d.pull(*c.store, c.now, stock(8, 8)).blocks.size() == 2);
    const auto audit = c.store->audit().value();
    CHECK(std::count_if(audit.begin(), audit.end(),
                        [](const auto& e) { return e.action == "allocate"; }) == 3);
    CHECK(std::count_if(audit.begin(), audit.end(), [](const auto& e) {
              return e.action == "seed-disclosed" && e.subject == "trial" && e.actor == "evaluator";
          }) == 1);
    for (const auto& e : audit)
        CHECK(e.detail.find(toHex(seed)) == std::string::npos);
}

TEST_CASE("a study is defined once, and its seed stays at the collector") {
    Collector c;
    auto def = smallStudy();
    REQUIRE(c.store->defineStudy(def, c.now, "anna").value() == true);
    CHECK(c.store->defineStudy(def, c.now, "anna").value() == false);  // the same: no-op
    auto changed = def;
    changed.study.blockSizes = {2, 4};
    auto refused = c.store->defineStudy(changed, c.now, "anna");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::WrongState);
    auto invalid = def;
    invalid.study.id = "other";
    invalid.study.blockSizes = {3};  // not a multiple of the ratios' sum
    CHECK(c.store->defineStudy(invalid, c.now, "anna").error().code == ErrorCode::InvalidArgument);

    auto list = c.store->studies();
    REQUIRE(list);
    REQUIRE(list->size() == 1);
    CHECK(list->front().definition.study.seed == std::array<std::uint8_t, 32>{});
    CHECK(list->front().definition.study.arms.size() == 2);
    CHECK(list->front().definition.blocksPerDevice == 2);
    // A made seed is random: two collectors, two sequences.
    Collector other;
    REQUIRE(other.store->defineStudy(def, other.now, "anna"));
    CHECK(c.store->studySeed("trial", c.now, "x").value() !=
          other.store->studySeed("trial", other.now, "x").value());
    CHECK(c.store->studySeed("nope", c.now, "x").error().code == ErrorCode::NotFound);
}

TEST_CASE(
    "the allocation log verifies when devices followed the sequence, and every misuse is "
    "reported, never refused") {
    Collector c;
    REQUIRE(c.store->defineStudy(smallStudy(), c.now, "anna"));
    Device d;
    d.id = c.device();
    d.pull(*c.store, c.now);
    const std::string north = "site=north";
    const auto& slots = d.slots[north];
    REQUIRE(slots.size() >= 8);
    std::vector<Uuid> cases;
    // Enrols a new participant into slot `k` with log number `log`.
    const auto enrol = [&](std::size_t k, std::uint64_t log, const Uuid& device) {
        cases.push_back(makeUuidV4());
        c.push(
            allocationRecord(device, cases.back(), c.at(static_cast<int>(log) + 1), slots[k], log));
    };

    SUBCASE("a clean run verifies, and the balance counts it") {
        for (std::size_t k = 0; k < 5; ++k)
            enrol(k, k + 1, d.id);
        auto v = c.store->verifyAllocations("trial");
        REQUIRE(v);
        CHECK_MESSAGE(v->ok(), describe(v.value()));
        CHECK(v->allocations == 5);
        CHECK(v->devices == 1);

        auto b = c.store->balance("trial");
        REQUIRE(b);
        CHECK(b->allocated == 5);
        REQUIRE(b->strata.size() == 2);
        const auto& s = b->strata[0];
        CHECK(s.stratum == north);
        CHECK(s.allocated == 5);
        std::map<std::string, std::int64_t> expect;
        for (std::size_t k = 0; k < 5; ++k)
            ++expect[slots[k].arm];
        for (const auto& a : s.arms) {
            CHECK(a.allocated == expect[a.arm]);
            CHECK(a.target == doctest::Approx(2.5));
        }
        CHECK(s.dealtBlocks == 2);
        const auto firstSize =
            std::count_if(slots.begin(), slots.end(), [](const auto& x) { return x.block == 0; });
        CHECK(s.completeBlocks == (firstSize <= 5 ? 1 : 0));
        CHECK(s.openBlocks == 1);
        CHECK(b->strata[1].allocated == 0);
        CHECK(b->strata[1].dealtBlocks == 2);

        auto log = c.store->allocationLog("trial");
        REQUIRE(log);
        REQUIRE(log->size() == 5);
        CHECK(log->at(2).caseId == cases[2]);
        CHECK(log->at(2).arm == slots[2].arm);
        CHECK(log->at(2).logSeq == 3);
        CHECK(log->at(2).deviceId == d.id);
    }
    SUBCASE("a tampered arm") {
        enrol(0, 1, d.id);
        auto slot = slots[1];
        slot.arm = slot.arm == "treatment" ? "control" : "treatment";
        cases.push_back(makeUuidV4());
        c.push(allocationRecord(d.id, cases.back(), c.at(5), slot, 2));
        auto v = c.store->verifyAllocations("trial").value();
        CHECK(hasProblem(v, sync::AllocationProblem::Kind::ArmMismatch));
        CHECK(v.problems.size() == 1);
        CHECK(v.problemAllocations == 1);
    }
    SUBCASE("a token that is not the slot's") {
        auto slot = slots[0];
        slot.token[3] ^= 1;
        cases.push_back(makeUuidV4());
        c.push(allocationRecord(d.id, cases.back(), c.at(5), slot, 1));
        auto v = c.store->verifyAllocations("trial").value();
        CHECK(hasProblem(v, sync::AllocationProblem::Kind::TokenMismatch));
        CHECK(v.problems.size() == 1);
    }
    SUBCASE("a slot used twice") {
        enrol(0, 1, d.id);
        enrol(0, 2, d.id);
        auto v = c.store->verifyAllocations("trial").value();
        CHECK_MESSAGE(hasProblem(v, sync::AllocationProblem::Kind::SlotReused), describe(v));
        CHECK(v.problems.size() == 1);
        CHECK(v.problemAllocations == 2);
        CHECK(c.store->allocationLog("trial")->size() == 2);  // both stored
    }
    SUBCASE("a skipped slot") {
        enrol(0, 1, d.id);
        enrol(2, 2, d.id);
        auto v = c.store->verifyAllocations("trial").value();
        REQUIRE(v.problems.size() == 1);
        CHECK(v.problems[0].kind == sync::AllocationProblem::Kind::Skipped);
        CHECK(v.problems[0].detail.find("position 1") != std::string::npos);
    }
    SUBCASE("a gap in the device's log numbers") {
        enrol(0, 1, d.id);
        enrol(1, 2, d.id);
        enrol(2, 4, d.id);
        auto v = c.store->verifyAllocations("trial").value();
        REQUIRE(v.problems.size() == 1);
        CHECK(v.problems[0].kind == sync::AllocationProblem::Kind::LogGap);
        CHECK(v.problems[0].detail.find("entry 3 not received") != std::string::npos);
    }
    SUBCASE("one case allocated twice") {
        enrol(0, 1, d.id);
        c.push(allocationRecord(d.id, cases.back(), c.at(9), slots[1], 2));
        auto v = c.store->verifyAllocations("trial").value();
        CHECK(hasProblem(v, sync::AllocationProblem::Kind::CaseTwice));
        CHECK(v.problems.size() == 1);
    }
    SUBCASE("a slot of a block dealt to another device") {
        const Uuid thief = c.device();
        enrol(0, 1, thief);
        auto v = c.store->verifyAllocations("trial").value();
        CHECK(hasProblem(v, sync::AllocationProblem::Kind::NotDealt));
        CHECK(v.problems.size() == 1);
    }
}

TEST_CASE("study definitions are read strictly from JSON, and the IPS study file parses") {
    const auto ips = sync::parseStudyJson(
        test::readFile(std::string(VELD_SOURCE_DIR) + "/schemas/studies/ips.json"));
    REQUIRE_MESSAGE(ips, ips.error().describe());
    CHECK(ips->study.id == "ips");
    CHECK(ips->study.pilot == "ips_long_term_unemployed");
    CHECK(alloc::strata(ips->study).size() == 6);
    CHECK_FALSE(ips->seedGiven);  // a seed in the repository would defeat concealment
    CHECK(ips->blocksPerDevice == 2);
    CHECK(ips->study.lowSlots == 4);

    // Written and read back, the same.
    auto again = sync::parseStudyJson(sync::studyJson(ips.value()));
    REQUIRE(again);
    CHECK(sync::studyJson(again.value()) == sync::studyJson(ips.value()));
    auto withSeed = ips.value();
    withSeed.study.seed.fill(0xab);
    withSeed.seedGiven = true;
    auto seeded = sync::parseStudyJson(sync::studyJson(withSeed, true));
    REQUIRE(seeded);
    CHECK(seeded->seedGiven);
    CHECK(seeded->study.seed == withSeed.study.seed);

    const auto error = [](const std::string& text) {
        auto r = sync::parseStudyJson(text);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::InvalidArgument);
        return r.error().message;
    };
    const std::string arms = R"("arms": [{"name": "a"}, {"name": "b"}], "block_sizes": [2])";
    CHECK(error("{\"id\": \"s\",\n" + arms + ",\n\"ratoi\": 2}").find("line 3: unknown key") == 0);
    CHECK(error(R"({"id": "s", "arms": [{"name": "a", "ratio": 1.5}, {"name": "b"}],
                "block_sizes": [2]})")
              .find("ratio") != std::string::npos);
    CHECK(error("{\"id\": \"s\", " + arms + ", \"seed\": \"abc\"}").find("64 hex") !=
          std::string::npos);
    CHECK(error("{\"id\": \"s\", \"id\": \"t\", " + arms + "}").find("twice") != std::string::npos);
    CHECK(error(R"({"id": "s", "arms": [{"name": "a"}, {"name": "b"}], "block_sizes": [3]})")
              .find("multiple") != std::string::npos);
    CHECK(error("{\"id\": \"s\", " + arms).find("expected") != std::string::npos);
    CHECK(error("[1, 2]").find("object") != std::string::npos);
    // Every device is dealt blocks of every stratum: their number is bounded.
    std::string levels;
    for (int i = 0; i < 32; ++i)
        levels += std::string(i ? ", " : "") + "\"l" + std::to_string(i) + "\"";
    std::string factors;
    for (const char* f : {"f1", "f2", "f3"})
        factors += std::string(factors.empty() ? "" : ", ") + "{\"name\": \"" + f +
                   "\", \"levels\": [" + levels + "]}";
    CHECK(error("{\"id\": \"s\", " + arms + ", \"factors\": [" + factors + "]}")
              .find("32768 strata; at most 1024") != std::string::npos);
    CHECK(sync::parseStudyJson("{\"id\": \"s\", " + arms + ", \"blocks_per_device\": 0}")
              .error()
              .message.find("at least 1") != std::string::npos);
}
