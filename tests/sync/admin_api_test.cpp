// The admin API that central staff's console uses, against a real collector: only a staff
// member's credential opens it (not a device's, not a revoked one), and what staff do through
// it lands in the collector's store and its audit log.
#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/sync/admin_api.hpp>
#include <veld/sync/admin_client.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

test::Headers adminHeaders(const std::string& credential) {
    test::Headers h{{"Content-Type", sync::admin::kContentType}};
    if (!credential.empty()) h.emplace_back("Authorization", "Bearer " + credential);
    return h;
}

test::HttpReply call(const test::CollectorProcess& collector, const char* path,
                     const std::vector<std::uint8_t>& body, const std::string& credential) {
    return test::httpExchange(collector.port(),
                              test::postBytes(path, body, adminHeaders(credential)));
}

std::string addAdmin(const test::CollectorProcess& collector, const std::string& name) {
    const auto made = test::veldctl({"collector", "admin-add", collector.storePath(), name});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    std::string credential = made.out;
    while (!credential.empty() && credential.back() == '\n')
        credential.pop_back();
    return credential;
}

}  // namespace

TEST_CASE("the admin API opens only to a staff member's credential, on every endpoint") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    const std::string anna = addAdmin(collector, "anna");
    const std::string bram = addAdmin(collector, "bram");
    REQUIRE(test::veldctl({"collector", "admin-revoke", collector.storePath(), "bram"}).exitCode ==
            0);

    const std::vector<std::pair<const char*, std::vector<std::uint8_t>>> endpoints{
        {sync::admin::kStatusPath, sync::admin::encodeRequest(sync::admin::Request::Status)},
        {sync::admin::kDevicesPath, sync::admin::encodeRequest(sync::admin::Request::Devices)},
        {sync::admin::kConflictsPath, sync::admin::encodeRequest(sync::admin::Request::Conflicts)},
        {sync::admin::kReviewPath,
         sync::admin::encodeReviewRequest(
             {makeUuidV7(SystemClock::instance()), sync::ReviewState::Approved, "x"})},
        {sync::admin::kResolvePath, sync::admin::encodeResolveRequest({1, {}})},
        {sync::admin::kDuplicatesPath,
         sync::admin::encodeRequest(sync::admin::Request::Duplicates)},
        {sync::admin::kDecidePath,
         sync::admin::encodeDecideRequest(
             {std::string(64, 'a'), sync::DuplicateDecision::SamePerson, ""})},
    };
    std::string wrong = anna;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    for (const auto& [path, body] : endpoints) {
        CAPTURE(path);
        CHECK(call(collector, path, body, "").status == 401);
        CHECK(call(collector, path, body, connection.credential).status == 401);  // a device
        CHECK(call(collector, path, body, wrong).status == 401);
        CHECK(call(collector, path, body, bram).status == 403);  // revoked
        CHECK(call(collector, path, body, "veld-admin.anna").status == 401);
        const int status = call(collector, path, body, anna).status;
        // Review and resolve name a record and a conflict that do not exist: 404.
        if (std::string(path) == sync::admin::kReviewPath ||
            std::string(path) == sync::admin::kResolvePath) {
            CHECK(status == 404);
        } else {
            CHECK(status == 200);
        }
    }
    // A device credential still cannot reach the admin API, and an admin one cannot push.
    CHECK(test::httpExchange(collector.port(),
                             test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                             test::protocolHeaders(anna)))
              .status == 401);
    // A request body for another endpoint, and bytes that are not a message: 400.
    CHECK(call(collector, sync::admin::kStatusPath,
               sync::admin::encodeRequest(sync::admin::Request::Devices), anna)
              .status == 400);
    CHECK(
        call(collector, sync::admin::kStatusPath, std::vector<std::uint8_t>(40, 7), anna).status ==
        400);
    // Nothing secret in the log: no credential, in whole or in part.
    const std::string log = collector.log();
    CHECK(log.find(anna.substr(anna.rfind('.') + 1)) == std::string::npos);
    CHECK(log.find(connection.credential.substr(connection.credential.find('.') + 1)) ==
          std::string::npos);
}

TEST_CASE("staff see the dashboard, review a record and settle a conflict through the admin API") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    collector.start();
    const std::string anna = addAdmin(collector, "anna");
    auto first = test::openDevice(dir.file("first.veld"));
    auto second = test::openDevice(dir.file("second.veld"));
    test::addFinalized(first, 4);
    test::enrolDevice(first, collector);
    test::enrolDevice(second, collector);
    REQUIRE(sync::syncOnce(first, sync::loadConnection(first).value(), {}));

    // The console's client, as a staff member's console uses it.
    sync::Connection console;
    console.collector = collector.url();
    console.credential = anna;
    sync::AdminClient client(console);

    // The dashboard: counts and records per form per day.
    auto status = client.status();
    REQUIRE_MESSAGE(status, status.error().describe());
    CHECK(status->stats.records == 4);
    CHECK(status->stats.devices == 2);
    std::int64_t perDay = 0;
    for (const auto& d : status->perDay)
        perDay += d.records;
    CHECK(perDay == 4);
    auto devices = client.devices();
    REQUIRE(devices);
    CHECK(devices->size() == 2);

    // A review, recorded under the staff member's name.
    const Uuid record = collector.open()->recordIds()->front();
    auto review = client.review({record, sync::ReviewState::HasIssues, "age looks wrong"});
    REQUIRE(review);
    CHECK(review->state == sync::ReviewState::HasIssues);
    REQUIRE(review->history.size() == 1);
    CHECK(review->history[0].actor == "admin:anna");
    CHECK(review->history[0].comment == "age looks wrong");

    // A conflict: the second device edits the same record without having seen the first's.
    {
        auto held = collector.open();
        const auto current = held->current(record).value().value();
        Record edited = decodeRecord(current.body).value();
        edited.deviceId = second.deviceId();
        edited.hlc = HlcTimestamp::make(edited.hlc.millis() + 1, 0);
        sync::PushBatch batch;
        batch.deviceId = second.deviceId();
        sync::PushRevision rev;
        rev.seq = 1;
        rev.recordId = record;
        rev.hlc = edited.hlc;
        rev.body = encodeRecord(edited).value();
        rev.formId = edited.content.formId;
        batch.revisions.push_back(rev);
        REQUIRE(held->push(second.deviceId(), batch, SystemClock::instance().nowMillis()));
    }
    auto conflicts = client.conflicts();
    REQUIRE(conflicts);
    REQUIRE(conflicts->size() == 1);
    CHECK(conflicts->front().recordId == record);
    auto resolved =
        client.resolve({conflicts->front().id, {sync::ConflictResolution::Kind::KeepA, {}, ""}});
    REQUIRE(resolved);
    CHECK(resolved->recordId == record);
    // Likely duplicates: two records with the same pseudonym, decided on through the API.
    {
        auto held = collector.open();
        sync::PushBatch batch;
        batch.deviceId = second.deviceId();
        for (std::uint64_t seq = 2; seq <= 3; ++seq) {
            Record r;
            r.id = makeUuidV7(SystemClock::instance());
            r.deviceId = second.deviceId();
            r.hlc =
                HlcTimestamp::make(static_cast<std::uint64_t>(SystemClock::instance().nowMillis()),
                                   static_cast<std::uint32_t>(seq));
            r.createdHlc = r.hlc;
            r.finalized = true;
            r.content = test::sampleContent(77);
            sync::PushRevision rev;
            rev.seq = seq;
            rev.recordId = r.id;
            rev.hlc = r.hlc;
            rev.body = encodeRecord(r).value();
            rev.formId = r.content.formId;
            batch.revisions.push_back(rev);
        }
        REQUIRE(held->push(second.deviceId(), batch, SystemClock::instance().nowMillis()));
    }
    auto groups = client.duplicates();
    REQUIRE(groups);
    REQUIRE(groups->size() == 1);
    CHECK(groups->front().records.size() == 2);
    CHECK(groups->front().decision == sync::DuplicateDecision::Undecided);
    groups =
        client.decide({groups->front().key, sync::DuplicateDecision::DifferentPeople, "twins"});
    REQUIRE(groups);
    REQUIRE(groups->size() == 1);
    CHECK(groups->front().decision == sync::DuplicateDecision::DifferentPeople);
    CHECK(groups->front().decidedBy == "admin:anna");

    // A revoked staff member's console is refused at once, with a clear error.
    REQUIRE(test::veldctl({"collector", "admin-revoke", collector.storePath(), "anna"}).exitCode ==
            0);
    auto refused = client.status();
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::NotFound);
    CHECK(refused.error().message.find("403") != std::string::npos);

    auto held = collector.open();
    CHECK(held->conflicts()->empty());
    CHECK(held->revisionsOf(record)->size() == 3);
    bool audited = false;
    const auto audit = held->audit();
    REQUIRE(audit);
    for (const auto& e : *audit)
        audited = audited || (e.action == "resolve" && e.actor == "admin:anna");
    CHECK(audited);
}
