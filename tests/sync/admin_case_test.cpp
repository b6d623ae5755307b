// The admin API's case conflicts and studies, against a real collector: staff see both values of
// a case conflict and settle it, and read a study's balance and verification; only a staff
// member's credential opens these endpoints, and what staff do lands in the audit log.
#include <algorithm>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/sync/admin_api.hpp>
#include <veld/sync/admin_client.hpp>

#include "support/sync_support.hpp"

using namespace veld;

using test::pushCaseRecord;

TEST_CASE(
    "staff settle case conflicts and read a study's balance and verification through the "
    "admin API") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const std::int64_t now = SystemClock::instance().nowMillis();
    const auto at = [&](int ms) {
        return HlcTimestamp::make(static_cast<std::uint64_t>(now + ms), 0);
    };
    Uuid a, b;
    std::string deviceCredential;
    const Uuid caseId = makeUuidV4();
    {
        auto store = collector.open();
        for (Uuid* d : {&a, &b}) {
            sync::EnrolRequest request;
            request.code = store->createEnrolCode("tablet", now, "test").value();
            request.deviceId = makeUuidV4();
            deviceCredential = store->enrol(request, now).value().credential;
            *d = request.deviceId;
        }
        REQUIRE(store->setDeviceTeam(a, "north", now, "test"));
        // Two devices set the case's label without seeing each other's value.
        pushCaseRecord(*store, a, 1, caseId, at(1), {{"label", "Anna K.", {}}});
        pushCaseRecord(*store, b, 1, caseId, at(2), {{"label", "Anne K.", {}}});

        sync::StudyDefinition study;
        study.study.id = "trial";
        study.study.arms = {{"treatment", 1}, {"control", 1}};
        study.study.blockSizes = {2, 4};
        REQUIRE(store->defineStudy(study, now, "test"));
        // Device A receives its blocks and enrols a participant into its first slot.
        const auto keys = alloc::newBoxKeyPair();
        sync::PullRequest request;
        request.deviceBoxKey.assign(keys.first.begin(), keys.first.end());
        auto pulled = store->pull(a, request, 16, now);
        REQUIRE(pulled);
        REQUIRE_FALSE(pulled->blocks.empty());
        const auto& first = pulled->blocks.front();
        const auto slot = alloc::openSlot(first.slots.front().box, keys.first, keys.second).value();
        pushCaseRecord(*store, a, 2, makeUuidV4(), at(3), {{"arm", slot.arm, {}}},
                       alloc::allocationOf(slot, 1, now));
    }
    collector.start();
    const std::string anna = test::addAdmin(collector, "anna");
    sync::Connection connection;
    connection.collector = collector.url();
    connection.credential = anna;
    sync::AdminClient console(connection);

    // The devices' teams and keys.
    auto devices = console.devices();
    REQUIRE(devices);
    const auto deviceA = std::find_if(devices->begin(), devices->end(),
                                      [&](const auto& d) { return d.deviceId == a; });
    REQUIRE(deviceA != devices->end());
    CHECK(deviceA->team == "north");
    CHECK(deviceA->hasBoxKey);

    // Both values of the conflict, and who set them.
    auto open = console.caseConflicts();
    REQUIRE_MESSAGE(open, open.error().describe());
    REQUIRE(open->size() == 1);
    const auto conflict = open->front();
    CHECK(conflict.caseId == caseId);
    CHECK(conflict.property == "label");
    CHECK(conflict.valueA == "Anna K.");
    CHECK(conflict.deviceA == a);
    CHECK(conflict.valueB == "Anne K.");
    CHECK(conflict.deviceB == b);
    CHECK(conflict.hlcB == at(2));
    CHECK_FALSE(conflict.resolvedUtcMs);

    auto left = console.resolveCaseConflict(
        {conflict.id, {sync::CaseChoice::Kind::Value, "Anna Koster"}, "asked her"});
    REQUIRE_MESSAGE(left, left.error().describe());
    CHECK(left->empty());
    auto all = console.caseConflicts(true);
    REQUIRE(all);
    REQUIRE(all->size() == 1);
    CHECK(all->front().resolvedBy == "admin:anna");
    CHECK(all->front().resolution == "typed a value; asked her");
    auto again = console.resolveCaseConflict({conflict.id, {}, ""});
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::WrongState);

    // Studies: their definitions, the balance and the verification.
    auto studies = console.studies();
    REQUIRE_MESSAGE(studies, studies.error().describe());
    REQUIRE(studies->size() == 1);
    CHECK(studies->front().definition.study.id == "trial");
    CHECK(studies->front().definition.study.blockSizes == std::vector<std::uint32_t>{2, 4});
    CHECK(studies->front().definition.blocksPerDevice == 2);
    auto balance = console.studyBalance("trial");
    REQUIRE_MESSAGE(balance, balance.error().describe());
    CHECK(balance->allocated == 1);
    REQUIRE(balance->strata.size() == 1);
    CHECK(balance->strata[0].arms.size() == 2);
    CHECK(balance->strata[0].dealtBlocks == 2);
    REQUIRE(balance->devices.size() == 1);
    CHECK(balance->devices[0].deviceId == a);
    CHECK(balance->devices[0].allocated == 1);
    auto verified = console.verifyStudy("trial");
    REQUIRE_MESSAGE(verified, verified.error().describe());
    CHECK(verified->ok());
    CHECK(verified->allocations == 1);
    auto unknown = console.studyBalance("no_such_study");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message.find("404") != std::string::npos);

    // Only a staff member's credential opens these endpoints.
    const std::vector<std::pair<const char*, std::vector<std::uint8_t>>> endpoints{
        {sync::admin::kCaseConflictsPath, sync::admin::encodeCaseConflictsRequest(false)},
        {sync::admin::kCaseResolvePath, sync::admin::encodeCaseResolveRequest({1, {}, ""})},
        {sync::admin::kStudiesPath, sync::admin::encodeRequest(sync::admin::Request::Studies)},
        {sync::admin::kStudyBalancePath,
         sync::admin::encodeStudyRequest(sync::admin::Request::StudyBalance, "trial")},
        {sync::admin::kStudyVerifyPath,
         sync::admin::encodeStudyRequest(sync::admin::Request::StudyVerify, "trial")},
    };
    for (const auto& entry : endpoints) {
        const auto& path = entry.first;
        const auto& body = entry.second;
        CAPTURE(path);
        test::Headers headers{{"Content-Type", sync::admin::kContentType},
                              {"Authorization", "Bearer " + deviceCredential}};
        CHECK(test::httpExchange(collector.port(), test::postBytes(path, body, headers)).status ==
              401);
    }
    // A request sent to another endpoint's path is refused.
    test::Headers staff{{"Content-Type", sync::admin::kContentType},
                        {"Authorization", "Bearer " + anna}};
    CHECK(test::httpExchange(collector.port(),
                             test::postBytes(sync::admin::kStudiesPath,
                                             sync::admin::encodeCaseConflictsRequest(false), staff))
              .status == 400);

    auto audit = collector.open()->audit();
    REQUIRE(audit);
    CHECK(std::any_of(audit->begin(), audit->end(), [&](const auto& e) {
        return e.action == "case-resolve" && e.actor == "admin:anna" &&
               e.subject == caseId.toString() && e.detail == "property label: typed a value";
    }));
}
