// Enrolment, revocation and who may send what, against a real veld-collector on loopback with
// real device stores.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <span>

#include <doctest/doctest.h>

#include <veld/device_identity.hpp>
#include <veld/fb/form_generated.h>
#include <veld/pseudonym.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::set<std::string> formIds(Store& store) {
    std::set<std::string> ids;
    auto forms = store.forms();
    REQUIRE(forms);
    for (const auto& f : forms.value())
        ids.insert(f.formId);
    return ids;
}

}  // namespace

TEST_CASE("an enrolment code works once, and used, expired or unknown codes are refused") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto first = test::openDevice(dir.file("first.veld"));
    auto second = test::openDevice(dir.file("second.veld"));

    const std::string code = collector.enrolCode();
    auto enrolled = sync::enrol(first, collector.url(), code);
    REQUIRE_MESSAGE(enrolled, enrolled.error().describe());
    CHECK_FALSE(enrolled->credential.empty());
    CHECK(sync::loadConnection(first));

    // The same code again, even from another device: 409, and the second device stays out.
    auto again = sync::enrol(second, collector.url(), code);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::WrongState);
    CHECK(again.error().message.find("409") != std::string::npos);
    CHECK_FALSE(sync::loadConnection(second));

    // A code made a month ago (valid for a week), written while the server runs.
    std::string expired;
    {
        auto store = collector.open();
        auto made =
            store->createEnrolCode("old laptop", wallMs() - 30LL * 24 * 3600 * 1000, "test");
        REQUIRE(made);
        expired = made.value();
    }
    auto late = sync::enrol(second, collector.url(), expired);
    REQUIRE_FALSE(late);
    CHECK(late.error().code == ErrorCode::WrongState);
    CHECK(late.error().message.find("409") != std::string::npos);
    CHECK(late.error().message.find("expired") != std::string::npos);

    // A code nobody made: 403.
    auto unknown = sync::enrol(second, collector.url(), "ABCD-EFGH-JKLM");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == ErrorCode::Refused);
    CHECK(unknown.error().message.find("403") != std::string::npos);
    CHECK_FALSE(sync::loadConnection(second));

    // Codes are typed by people: case and dashes do not matter; a fresh code lets it in.
    std::string fresh = collector.enrolCode();
    std::transform(fresh.begin(), fresh.end(), fresh.begin(),
                   [](char c) { return static_cast<char>(std::tolower(c)); });
    fresh.erase(std::remove(fresh.begin(), fresh.end(), '-'), fresh.end());
    auto later = sync::enrol(second, collector.url(), fresh);
    REQUIRE_MESSAGE(later, later.error().describe());

    auto devices = collector.open()->devices();
    REQUIRE(devices);
    std::set<Uuid> ids;
    for (const auto& d : devices.value())
        ids.insert(d.deviceId);
    CHECK(ids == std::set<Uuid>{first.deviceId(), second.deviceId()});
}

namespace {

// An enrolment request written by hand: what a client that claims any device id can send.
test::HttpReply postEnrol(const test::CollectorProcess& collector, const std::string& code,
                          const Uuid& deviceId, const std::string& previousCredential = {},
                          std::span<const std::uint8_t> devicePublicKey = {}) {
    sync::EnrolRequest request;
    request.code = code;
    request.deviceId = deviceId;
    request.previousCredential = previousCredential;
    request.devicePublicKey.assign(devicePublicKey.begin(), devicePublicKey.end());
    return test::httpExchange(collector.port(),
                              test::postBytes(sync::kEnrolPath, sync::encodeEnrolRequest(request),
                                              test::protocolHeaders()));
}

std::string credentialIn(const test::HttpReply& reply) {
    REQUIRE(reply.status == 200);
    auto decoded = sync::decodeEnrolResponse(
        {reinterpret_cast<const std::uint8_t*>(reply.body.data()), reply.body.size()});
    REQUIRE_MESSAGE(decoded, decoded.error().describe());
    return decoded->credential;
}

std::size_t auditCount(const test::CollectorProcess& collector, const std::string& action) {
    auto entries = collector.open()->audit();
    REQUIRE(entries);
    return static_cast<std::size_t>(std::count_if(
        entries->begin(), entries->end(), [&](const auto& e) { return e.action == action; }));
}

}  // namespace

TEST_CASE("a new code with a known device's id does not take the device over") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 3);
    const auto connection = test::enrolDevice(device, collector);
    REQUIRE(sync::syncOnce(device, connection, {}));

    // Someone with a valid code of their own claims the device's id (ids are not secret).
    const auto takeover = postEnrol(collector, collector.enrolCode(), device.deviceId());
    CHECK(takeover.status == 409);
    CHECK(takeover.body.find("enrolled already") != std::string::npos);
    // ... with a made-up credential as "proof": refused too.
    std::string forged = connection.credential;
    forged.back() = forged.back() == '0' ? '1' : '0';
    const auto withForgery = postEnrol(collector, collector.enrolCode(), device.deviceId(), forged);
    CHECK(withForgery.status == 409);

    // The real device is untouched: its credential works and its records keep arriving.
    test::addFinalized(device, 2, 10);
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 2);
    auto store = collector.open();
    CHECK(store->stats()->revisions == 5);
    CHECK(store->devices()->size() == 1);
}

TEST_CASE("a device re-enrols with a new code by proving its current credential") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 3);
    const auto before = test::enrolDevice(device, collector);
    REQUIRE(sync::syncOnce(device, before, {}));

    // The uploader sends the credential it holds with the new code.
    auto again = sync::enrol(device, collector.url(), collector.enrolCode());
    REQUIRE_MESSAGE(again, again.error().describe());
    const auto after = sync::loadConnection(device).value();
    CHECK(after.credential != before.credential);
    CHECK(auditCount(collector, "reenrol") == 1);

    // The old credential is dead, the new one carries on where the device was.
    auto stale = sync::syncOnce(device, before, {});
    REQUIRE_FALSE(stale);
    CHECK(stale.error().code == ErrorCode::Refused);
    test::addFinalized(device, 2, 10);
    auto round = sync::syncOnce(device, after, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 2);
    CHECK(collector.open()->stats()->revisions == 5);
    CHECK(collector.open()->devices()->size() == 1);
}

TEST_CASE("staff let a device that lost its credential enrol again with a code made for it") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 3);
    REQUIRE(sync::syncOnce(device, test::enrolDevice(device, collector), {}));
    auto other = test::openDevice(dir.file("other.veld"));

    // The laptop came back from repair with its store but without its credential.
    REQUIRE(device.setSetting("sync.credential", ""));
    CHECK(postEnrol(collector, collector.enrolCode(), device.deviceId()).status == 409);

    const auto made = test::veldctl(
        {"collector", "reenrol-code", collector.storePath(), device.deviceId().toString()});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    const std::string code = made.out.substr(0, made.out.find('\n'));
    // Made for that device only.
    auto wrongDevice = sync::enrol(other, collector.url(), code);
    REQUIRE_FALSE(wrongDevice);
    CHECK(wrongDevice.error().message.find("another device") != std::string::npos);

    auto enrolled = sync::enrol(device, collector.url(), code);
    REQUIRE_MESSAGE(enrolled, enrolled.error().describe());
    test::addFinalized(device, 2, 10);
    auto round = sync::syncOnce(device, sync::loadConnection(device).value(), {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 2);
    // Both the permission and its use are in the audit log, the permission under staff's name.
    auto audit = collector.open()->audit();
    REQUIRE(audit);
    const auto permission = std::find_if(audit->begin(), audit->end(),
                                         [](const auto& e) { return e.action == "reenrol-code"; });
    REQUIRE(permission != audit->end());
    CHECK(permission->actor.rfind("veldctl:", 0) == 0);
    CHECK(permission->subject == device.deviceId().toString());
    CHECK(auditCount(collector, "reenrol") == 1);
    // Unknown and revoked devices get no such code.
    CHECK(test::veldctl(
              {"collector", "reenrol-code", collector.storePath(), other.deviceId().toString()})
              .exitCode == 1);
}

TEST_CASE("an enrolment repeated after its reply was lost gets the same credential") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 3);
    const std::string code = collector.enrolCode();

    // The first reply never reached the device (the connection broke after the collector
    // committed): the same request again gives the same outcome. The device sent its signing
    // key, as it does at every enrolment.
    auto key = identity::ensureDeviceKey(device);
    REQUIRE(key);
    const std::string lost =
        credentialIn(postEnrol(collector, code, device.deviceId(), {}, key.value()));
    const std::string again =
        credentialIn(postEnrol(collector, code, device.deviceId(), {}, key.value()));
    CHECK(again == lost);
    // The device's own retry with the same code works, and the collector lists it once.
    auto enrolled = sync::enrol(device, collector.url(), code);
    REQUIRE_MESSAGE(enrolled, enrolled.error().describe());
    CHECK(enrolled->credential == lost);
    auto round = sync::syncOnce(device, sync::loadConnection(device).value(), {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 3);
    CHECK(collector.open()->devices()->size() == 1);
    CHECK(auditCount(collector, "enrol") == 1);

    // Once the device has used its credential the code is spent for good, also for itself.
    CHECK(postEnrol(collector, code, device.deviceId()).status == 409);
    // Another device never gets in with a used code.
    auto other = test::openDevice(dir.file("other.veld"));
    CHECK(postEnrol(collector, code, other.deviceId()).status == 409);
}

TEST_CASE("after enrolment a device's records reach the collector and published forms reach it") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const auto forms = test::pilotFormFiles();
    REQUIRE(forms.size() >= 8);
    test::publishPilotForms(collector);
    collector.start();

    auto device = test::openDevice(dir.file("device.veld"));
    CHECK(formIds(device).empty());
    const auto ids = test::addFinalized(device, 25);
    auto connection = test::enrolDevice(device, collector);

    sync::SyncOptions options;
    options.maxBatchRecords = 10;
    auto round = sync::syncOnce(device, connection, options);
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 25);
    CHECK(round->formsReceived == static_cast<std::int64_t>(forms.size()));

    // Every pilot form is installed on the device now.
    const auto installed = formIds(device);
    CHECK(installed.size() == forms.size());
    for (const char* id : {"ips_guidance", "vmbo_parent_survey", "job_retention_log"})
        CHECK(installed.count(id) == 1);

    // Every record is at the collector, byte for byte, and sent on the device.
    auto store = collector.open();
    auto held = store->recordIds();
    REQUIRE(held);
    CHECK(std::set<Uuid>(held->begin(), held->end()) == std::set<Uuid>(ids.begin(), ids.end()));
    for (const auto& id : ids) {
        auto mine = device.get(id);
        REQUIRE(mine);
        CHECK(mine->meta.status == RecordStatus::Sent);
        auto theirs = store->current(id);
        REQUIRE(theirs);
        REQUIRE(theirs->has_value());
        auto decoded = decodeRecord((*theirs)->body);
        REQUIRE(decoded);
        CHECK(decoded.value() == mine->record);
        CHECK((*theirs)->deviceId == device.deviceId());
    }
    CHECK(device.outboxState()->pending == 0);

    // A form published later arrives with the next round, once.
    const auto more =
        test::veldctl({"collector", "publish", collector.storePath(),
                       std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json"});
    REQUIRE_MESSAGE(more.exitCode == 0, more.err);
    auto next = sync::syncOnce(device, connection, options);
    REQUIRE(next);
    CHECK(next->recordsSent == 0);
    CHECK(next->formsReceived == 1);
    CHECK(formIds(device).size() == forms.size() + 1);
    auto quiet = sync::syncOnce(device, connection, options);
    REQUIRE(quiet);
    CHECK(quiet->formsReceived == 0);
}

TEST_CASE("the collector knows how many records a device still had waiting at its last push") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 25);
    auto connection = test::enrolDevice(device, collector);
    auto waiting = [&]() -> std::optional<std::int64_t> {
        auto devices = collector.open()->devices();
        REQUIRE(devices);
        REQUIRE(devices->size() == 1);
        return devices->front().waiting;
    };
    CHECK_FALSE(waiting().has_value());  // enrolled, never pushed

    // A push of the first 10 saying 15 more wait (a round cut off after its first batch).
    auto first = device.outboxPending(10, SIZE_MAX);
    REQUIRE(first);
    REQUIRE(first->size() == 10);
    test::postPush(collector, connection,
                   sync::encodePushRequest(device.deviceId(), first.value(), 15));
    CHECK(waiting() == 15);
    // A push from a device that does not say (an older one) leaves the figure as it was.
    test::postPush(collector, connection, sync::encodePushRequest(device.deviceId(), {}));
    CHECK(waiting() == 15);

    // The uploader's round sends everything (again, from the start) and says what is left.
    sync::SyncOptions options;
    options.maxBatchRecords = 10;
    auto round = sync::syncOnce(device, connection, options);
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(waiting() == 0);
    const auto listed = test::veldctl({"collector", "devices", collector.storePath()});
    CHECK(listed.out.find("waiting 0") != std::string::npos);
}

TEST_CASE("a revoked device is refused from its next request on and nothing more is stored") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 5);
    auto connection = test::enrolDevice(device, collector);
    REQUIRE(sync::syncOnce(device, connection, {}));
    REQUIRE(collector.open()->stats()->revisions == 5);

    const auto revoked =
        test::veldctl({"collector", "revoke", collector.storePath(), device.deviceId().toString()});
    REQUIRE_MESSAGE(revoked.exitCode == 0, revoked.err);

    test::addFinalized(device, 5, 100);
    auto refused = sync::syncOnce(device, connection, {});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::Refused);
    CHECK(refused.error().message.find("403") != std::string::npos);
    CHECK(refused.error().message.find("revoked") != std::string::npos);
    // veldctl says so in its own words.
    const auto cli = test::veldctl({"sync", device.path()});
    CHECK(cli.exitCode == 1);
    CHECK(cli.err.find("refused: ") != std::string::npos);

    // The same request by hand, and a pull: 403 too.
    auto pending = device.outboxPending(100, 1 << 20);
    REQUIRE(pending);
    const auto push = test::httpExchange(
        collector.port(),
        test::postBytes(sync::kPushPath, sync::encodePushRequest(device.deviceId(), *pending),
                        test::protocolHeaders(connection.credential)));
    CHECK(push.status == 403);
    const auto pull = test::httpExchange(
        collector.port(), test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                          test::protocolHeaders(connection.credential)));
    CHECK(pull.status == 403);

    // Nothing more was stored, and the device still holds what it could not send.
    auto store = collector.open();
    CHECK(store->stats()->revisions == 5);
    auto devices = store->devices();
    REQUIRE(devices);
    REQUIRE(devices->size() == 1);
    CHECK(devices->front().revokedUtcMs.has_value());
    CHECK(devices->front().receivedThrough == 5);
    CHECK(device.outboxState()->pending == 5);

    // A revoked device cannot come back with a new code either.
    auto back = sync::enrol(device, collector.url(), collector.enrolCode());
    REQUIRE_FALSE(back);
    CHECK(back.error().code == ErrorCode::WrongState);
}

TEST_CASE("a device cannot send another device's records") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto a = test::openDevice(dir.file("a.veld"));
    auto b = test::openDevice(dir.file("b.veld"));
    test::addFinalized(a, 3);
    auto connectionA = test::enrolDevice(a, collector);
    auto connectionB = test::enrolDevice(b, collector);
    auto pendingA = a.outboxPending(100, 1 << 20);
    REQUIRE(pendingA);

    // A's batch, as A made it, sent with B's credential: 403.
    const auto asA = test::httpExchange(
        collector.port(),
        test::postBytes(sync::kPushPath, sync::encodePushRequest(a.deviceId(), *pendingA),
                        test::protocolHeaders(connectionB.credential)));
    CHECK(asA.status == 403);
    CHECK(asA.body.find("own records") != std::string::npos);

    // A batch naming B whose revisions carry A's records: 400.
    const auto asB = test::httpExchange(
        collector.port(),
        test::postBytes(sync::kPushPath, sync::encodePushRequest(b.deviceId(), *pendingA),
                        test::protocolHeaders(connectionB.credential)));
    CHECK(asB.status == 400);
    CHECK(asB.body.find("does not match") != std::string::npos);

    {
        auto store = collector.open();
        CHECK(store->stats()->revisions == 0);
        CHECK(store->stats()->records == 0);
        auto devices = store->devices();
        REQUIRE(devices);
        for (const auto& d : devices.value())
            CHECK(d.receivedThrough == 0);
    }

    // A itself sends them normally afterwards.
    auto round = sync::syncOnce(a, connectionA, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 3);
    CHECK(collector.open()->stats()->revisions == 3);
}

TEST_CASE("the same batch posted three times is stored once") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    const auto ids = test::addFinalized(device, 10);
    auto connection = test::enrolDevice(device, collector);
    auto pending = device.outboxPending(100, 1 << 20);
    REQUIRE(pending);
    REQUIRE(pending->size() == 10);
    const std::string request =
        test::postBytes(sync::kPushPath, sync::encodePushRequest(device.deviceId(), *pending),
                        test::protocolHeaders(connection.credential));

    for (int attempt = 0; attempt < 3; ++attempt) {
        CAPTURE(attempt);
        const auto reply = test::httpExchange(collector.port(), request);
        REQUIRE(reply.status == 200);
        auto decoded = sync::decodePushResponse(
            std::span(reinterpret_cast<const std::uint8_t*>(reply.body.data()), reply.body.size()));
        REQUIRE(decoded);
        CHECK(decoded->receivedThrough == 10);
        REQUIRE(decoded->results.size() == 10);
        const auto expected =
            attempt == 0 ? sync::RevisionOutcome::Stored : sync::RevisionOutcome::Duplicate;
        for (const auto& r : decoded->results)
            CHECK(r.outcome == expected);
        auto store = collector.open();
        CHECK(store->stats()->revisions == 10);
        CHECK(store->stats()->records == 10);
    }

    // The device never saw those answers: its own round resends, gets duplicates, and clears.
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(device.outboxState()->pending == 0);
    auto store = collector.open();
    CHECK(store->stats()->revisions == 10);
    for (const auto& [id, count] : test::collectorRevisionCounts(*store))
        CHECK(count == 1);
}

TEST_CASE("a device store restored from a backup cannot have its new records taken as resends") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    sync::Connection connection;
    {
        auto device = test::openDevice(path);
        test::addFinalized(device, 5);
        connection = test::enrolDevice(device, collector);
        REQUIRE(sync::syncOnce(device, connection, {}));
    }
    // A backup of the laptop, taken now (the store closed, so the file is complete).
    std::filesystem::copy_file(path, dir.file("backup.veld"));
    {
        auto device = test::openDevice(path);
        test::addFinalized(device, 5, 100);  // numbers 6-10
        REQUIRE(sync::syncOnce(device, connection, {}));
    }
    // The laptop is restored from the backup, and new interviews are finalized: they get the
    // numbers 6-8 again, for other records.
    for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(path + suffix);
    std::filesystem::copy_file(dir.file("backup.veld"), path);
    auto device = test::openDevice(path);
    const auto fresh = test::addFinalized(device, 3, 200);
    CHECK(device.outboxState()->lastSeq == 8);

    // The collector must not answer "already held" for records it has never seen: the round
    // is refused, and the new records stay on the device.
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_FALSE(round);
    CHECK(round.error().code == ErrorCode::WrongState);
    CHECK(round.error().message.find("409") != std::string::npos);
    CHECK(device.outboxState()->pending == 3);
    auto store = collector.open();
    CHECK(store->stats()->revisions == 10);
    for (const auto& id : fresh) {
        auto mine = device.get(id);
        REQUIRE(mine);
        CHECK(mine->meta.status == RecordStatus::Finalized);
    }
}

TEST_CASE(
    "the project's public key reaches devices at enrolment, and a new one at their next pull") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string ring = dir.file("project.keys");
    const std::string phrase = dir.file("phrase");
    std::ofstream(phrase) << "a long enough passphrase\n";
    const auto first =
        test::veldctl({"keys", "new", ring, "--id", "k2025", "--passphrase-file", phrase});
    REQUIRE_MESSAGE(first.exitCode == 0, first.err);
    const std::string firstKey = first.out.substr(0, first.out.find('\n'));
    auto setting = [](Store& store) {
        auto v = store.setting(sync::kProjectKeySetting);
        REQUIRE(v);
        return v->value_or("");
    };

    // Before staff choose a key, devices get none.
    auto early = test::openDevice(dir.file("early.veld"));
    const auto earlyConnection = test::enrolDevice(early, collector);
    CHECK(setting(early).empty());

    const auto used = test::veldctl({"collector", "use-key", collector.storePath(), ring});
    REQUIRE_MESSAGE(used.exitCode == 0, used.err);
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    CHECK(setting(device) == firstKey);
    // A device enrolled earlier gets it with its next pull.
    REQUIRE(sync::syncOnce(early, earlyConnection, {}));
    CHECK(setting(early) == firstKey);

    // Staff rotate: a new key in the ring, handed out from then on; the old one stays in the ring.
    const auto second =
        test::veldctl({"keys", "new", ring, "--id", "k2026", "--passphrase-file", phrase});
    REQUIRE(second.exitCode == 0);
    const std::string secondKey = second.out.substr(0, second.out.find('\n'));
    REQUIRE(test::veldctl({"collector", "use-key", collector.storePath(), ring}).exitCode == 0);
    REQUIRE(sync::syncOnce(device, connection, {}));
    CHECK(setting(device) == secondKey);
    CHECK(test::veldctl({"keys", "list", ring}).out.find(firstKey) != std::string::npos);
    // Choosing a key by id, and an unknown id refused.
    REQUIRE(test::veldctl({"collector", "use-key", collector.storePath(), ring, "--id", "k2025"})
                .exitCode == 0);
    REQUIRE(sync::syncOnce(device, connection, {}));
    CHECK(setting(device) == firstKey);
    CHECK(test::veldctl({"collector", "use-key", collector.storePath(), ring, "--id", "k9"})
              .exitCode == 1);
    // The change is audited.
    const auto audit = test::veldctl({"collector", "audit", collector.storePath()});
    CHECK(audit.out.find("project-key") != std::string::npos);
}

TEST_CASE(
    "the same BSN entered on two devices of a project gives one pseudonym, found as a duplicate") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string bsn = "111222333";
    std::vector<Uuid> ids;
    std::vector<std::vector<std::uint8_t>> digests;
    for (int d = 0; d < 2; ++d) {
        auto device = test::openDevice(dir.file("device" + std::to_string(d) + ".veld"));
        const auto connection = test::enrolDevice(device, collector);
        // The key came with the enrolment; the device computes the digest itself.
        auto keyText = device.setting(pseudonym::kKeySetting);
        REQUIRE(keyText);
        REQUIRE(keyText->has_value());
        auto key = pseudonym::parseKey(**keyText);
        REQUIRE(key);
        auto normalized = pseudonym::normalize(fb::IdentifierScheme::Bsn,
                                               d == 0 ? bsn : "1112.22.333");  // typed otherwise
        REQUIRE(normalized);
        const PseudonymAnswer answer =
            pseudonym::make(key.value(), fb::IdentifierScheme::Bsn, normalized.value());
        digests.push_back(answer.digest);
        RecordContent c;
        c.formId = "benefit_outflow_interview";
        c.formVersion = 1;
        c.answers.push_back({"client_bsn", answer});
        auto made = device.finalizeNew(c);
        REQUIRE(made);
        ids.push_back(made->id);
        REQUIRE(test::syncUntilDone(device, connection, {}, 3) >= 0);
        // The number is nowhere in the device's file.
        const std::string bytes = test::readFile(dir.file("device" + std::to_string(d) + ".veld"));
        CHECK(bytes.find(bsn) == std::string::npos);
    }
    CHECK(digests[0] == digests[1]);
    auto store = collector.open();
    auto groups = store->duplicates();
    REQUIRE(groups);
    REQUIRE(groups->size() == 1);
    CHECK(groups->front().kind == sync::DuplicateGroup::Kind::SamePseudonym);
    std::set<Uuid> grouped(groups->front().records.begin(), groups->front().records.end());
    CHECK(grouped == std::set<Uuid>(ids.begin(), ids.end()));
}
