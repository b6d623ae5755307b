// Cases between real devices and a real collector: a case opened on one device reaches the other
// devices of its team; both change it offline; the collector merges property by property, keeps
// the property both changed as a conflict with both values, and staff's choice reaches both.
#include <set>

#include <doctest/doctest.h>

#include <veld/clock.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

RecordContent caseRecord(const std::string& form, CaseAction action, const Uuid& caseId,
                         std::vector<CasePropertyValue> properties) {
    RecordContent c;
    c.formId = form;
    c.formVersion = 1;
    c.caseId = caseId;
    c.answers = {{"note", std::string("contact")}};
    CaseChange change;
    change.action = action;
    change.caseType = "participant";
    change.properties = std::move(properties);
    c.caseChange = change;
    return c;
}

void syncRound(Store& store, const sync::Connection& connection) {
    REQUIRE(test::syncUntilDone(store, connection, {}, 3) == 0);
}

void setTeam(const test::CollectorProcess& collector, const Store& device) {
    auto team = test::veldctl(
        {"collector", "team", collector.storePath(), device.deviceId().toString(), "utrecht"});
    REQUIRE_MESSAGE(team.exitCode == 0, team.err);
}

}  // namespace

TEST_CASE("two devices change one case offline: merged by property, the clash kept for staff") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto a = test::openDevice(dir.file("a.veld"));
    auto b = test::openDevice(dir.file("b.veld"));
    auto c = test::openDevice(dir.file("c.veld"));
    const auto connA = test::enrolDevice(a, collector);
    const auto connB = test::enrolDevice(b, collector);
    const auto connC = test::enrolDevice(c, collector);
    setTeam(collector, a);
    setTeam(collector, b);  // c stays in no team

    // A opens the case; after a round each way, B (same team) holds it and C does not.
    SystemClock clock;
    const Uuid caseId = makeUuidV7(clock);
    REQUIRE(a.finalizeNew(caseRecord("ips_intake", CaseAction::Open, caseId,
                                     {{"label", "Deelnemer 7", {}},
                                      {"next_contact", "2026-12-01", {}},
                                      {"phase", "start", {}}})));
    syncRound(a, connA);
    syncRound(b, connB);
    syncRound(c, connC);
    auto atB = b.caseInfo(caseId);
    REQUIRE(atB);
    CHECK(atB->property("label") == "Deelnemer 7");
    CHECK(atB->property("next_contact") == "2026-12-01");
    CHECK(atB->property("status") == "open");
    CHECK_FALSE(c.caseInfo(caseId));

    // Offline, both follow the case up: A plans the next contact and notes an employer; B plans
    // another next contact and moves the phase on.
    REQUIRE(a.finalizeNew(
        caseRecord("ips_session", CaseAction::FollowUp, caseId,
                   {{"employer", "Bakkerij De Korf", {}}, {"next_contact", "2026-12-08", {}}})));
    REQUIRE(b.finalizeNew(
        caseRecord("ips_session", CaseAction::FollowUp, caseId,
                   {{"next_contact", "2026-12-10", {}}, {"phase", "job_search", {}}})));
    syncRound(a, connA);
    syncRound(b, connB);
    syncRound(a, connA);

    // Different properties are both kept; the one both changed is a conflict with both values.
    auto held = collector.open();
    auto conflicts = held->caseConflicts(false);
    REQUIRE(conflicts);
    REQUIRE(conflicts->size() == 1);
    const auto conflict = conflicts->front();
    CHECK(conflict.caseId == caseId);
    CHECK(conflict.property == "next_contact");
    const std::set<std::string> both{conflict.valueA, conflict.valueB};
    CHECK(both == std::set<std::string>{"2026-12-08", "2026-12-10"});
    const std::set<Uuid> devices{conflict.deviceA, conflict.deviceB};
    CHECK(devices == std::set<Uuid>{a.deviceId(), b.deviceId()});
    // The newer change is current meanwhile, the same on both devices and at the collector
    // (both stamped in one millisecond: the greater value).
    const std::string newer = conflict.hlcA > conflict.hlcB ? conflict.valueA
                              : conflict.hlcB > conflict.hlcA
                                  ? conflict.valueB
                                  : std::max(conflict.valueA, conflict.valueB);
    for (Store* device : {&a, &b}) {
        auto info = device->caseInfo(caseId);
        REQUIRE(info);
        CHECK(info->property("employer") == "Bakkerij De Korf");
        CHECK(info->property("phase") == "job_search");
        CHECK(info->property("next_contact") == newer);
        CHECK(info->property("label") == "Deelnemer 7");
    }
    auto listed = test::veldctl({"case", "conflicts", collector.storePath()});
    REQUIRE(listed.exitCode == 0);
    CHECK(listed.out.find("next_contact") != std::string::npos);

    // Staff choose the older value; it reaches both devices and the conflict is settled.
    const std::string older = newer == conflict.valueA ? conflict.valueB : conflict.valueA;
    const std::string side = older == conflict.valueA ? "a" : "b";
    auto resolved = test::veldctl({"case", "resolve", collector.storePath(),
                                   std::to_string(conflict.id), side, "--comment", "agenda"});
    REQUIRE_MESSAGE(resolved.exitCode == 0, resolved.err);
    syncRound(a, connA);
    syncRound(b, connB);
    for (Store* device : {&a, &b}) {
        auto info = device->caseInfo(caseId);
        REQUIRE(info);
        CHECK(info->property("next_contact") == older);
        CHECK(info->property("employer") == "Bakkerij De Korf");
    }
    CHECK(held->caseConflicts(false)->empty());

    // A change made after seeing the settled value is no conflict, and closing works the same.
    REQUIRE(b.finalizeNew(
        caseRecord("ips_placement", CaseAction::Close, caseId, {{"next_contact", "", {}}})));
    syncRound(b, connB);
    syncRound(a, connA);
    CHECK(held->caseConflicts(false)->empty());
    auto closed = a.caseInfo(caseId);
    REQUIRE(closed);
    CHECK(closed->closed);
    CHECK(closed->property("next_contact").empty());
    CaseQuery open;
    CHECK(a.cases(open)->empty());
}
