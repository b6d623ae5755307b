// The PostgreSQL backend's access domain against a real PostgreSQL 15, with several "processes"
// (each its own connection pool, as two collector processes have) on one database: an
// enrolment code enrols once, credentials and revocations are seen by every process, staff
// credentials, the project key, health and the audit log.
#include "postgres/pg_access.hpp"

#include <atomic>
#include <cctype>
#include <memory>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <veld/project_key.hpp>
#include <veld/sync/collector_store.hpp>

#include "postgres/pg_schema.hpp"
#include "support/pg_cluster.hpp"

// Fails the test with the error's text when `expr` (a Result or Status) failed.
#define REQUIRE_OK(expr)                                                              \
    do {                                                                              \
        const auto& result_ = (expr);                                                 \
        REQUIRE_MESSAGE(result_.ok(),                                                 \
                        (result_.ok() ? std::string() : result_.error().describe())); \
    } while (false)

namespace {

using namespace veld;
using sync::postgres::PgAccess;
using sync::postgres::PgContext;

// One collector process's view of the database: its own connections.
struct Process {
    explicit Process(const std::string& db, sync::CollectorPolicy policy = {})
        : context(pg::ConnectionSettings{db, {}}, 4, policy), access(context) {}
    PgContext context;
    PgAccess access;
};

std::string newCollector() {
    const std::string db = test::sharedPgCluster().createDatabase();
    auto c = pg::Connection::open({db, {}});
    REQUIRE(c.ok());
    REQUIRE_OK(sync::postgres::migrate(c.value(), true));
    return db;
}

sync::EnrolRequest request(const std::string& code, const Uuid& device) {
    sync::EnrolRequest r;
    r.code = code;
    r.deviceId = device;
    r.devicePublicKey.assign(32, 7);
    return r;
}

constexpr std::int64_t kNow = 1'760'000'000'000;

}  // namespace

TEST_CASE("postgres access: a code enrols one device however many processes are asked at once") {
    const std::string db = newCollector();
    std::vector<std::unique_ptr<Process>> processes;
    for (int i = 0; i < 4; ++i)
        processes.push_back(std::make_unique<Process>(db));
    auto code = processes[0]->access.createEnrolCode("tablet 1", kNow, "staff");
    REQUIRE(code.ok());
    std::atomic<int> enrolled{0};
    std::atomic<int> refused{0};
    std::atomic<int> other{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            auto reply = processes[static_cast<std::size_t>(i % 4)]->access.enrol(
                request(code.value(), makeUuidV4()), kNow);
            if (reply) {
                ++enrolled;
            } else if (reply.error().code == ErrorCode::WrongState) {
                ++refused;
            } else {
                ++other;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(enrolled == 1);
    CHECK(refused == 7);
    CHECK(other == 0);
    auto devices = processes[3]->access.devices();
    REQUIRE(devices.ok());
    REQUIRE(devices->size() == 1);
    CHECK(devices->front().label == "tablet 1");
}

TEST_CASE("postgres access: enrolment, credentials and revocation seen by every process") {
    const std::string db = newCollector();
    Process a(db);
    Process b(db);
    auto code = a.access.createEnrolCode("tablet 2", kNow, "staff");
    REQUIRE(code.ok());
    const Uuid device = makeUuidV4();
    // Codes are typed by people: case and dashes do not matter.
    std::string typed = code.value();
    for (char& ch : typed)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto reply = b.access.enrol(request(typed, device), kNow);
    REQUIRE_MESSAGE(reply.ok(), (reply.ok() ? "" : reply.error().describe()));
    CHECK(reply->collectorId.starts_with("veld-collector-"));
    CHECK(!reply->pseudonymKey.empty());
    // The same enrolment again before the credential was used: the same credential.
    auto again = a.access.enrol(request(code.value(), device), kNow + 1);
    REQUIRE(again.ok());
    CHECK(again->credential == reply->credential);
    auto who = a.access.authenticate(reply->credential);
    REQUIRE(who.ok());
    CHECK(who.value() == device);
    // Unknown and wrong credentials are NotFound; another device's id with this secret too.
    CHECK(a.access.authenticate("not-a-credential").error().code == ErrorCode::NotFound);
    std::string wrong = reply->credential;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    CHECK(a.access.authenticate(wrong).error().code == ErrorCode::NotFound);
    CHECK(a.access.enrol(request("ABCD-EFGH-JKLM", makeUuidV4()), kNow).error().code ==
          ErrorCode::NotFound);
    // A second device cannot use the code; a known device cannot enrol again without proof.
    CHECK(a.access.enrol(request(code.value(), makeUuidV4()), kNow).error().code ==
          ErrorCode::WrongState);
    auto second = a.access.createEnrolCode("tablet 3", kNow, "staff");
    REQUIRE(second.ok());
    CHECK(b.access.enrol(request(second.value(), device), kNow).error().code ==
          ErrorCode::WrongState);
    // With its credential it may.
    auto proved = request(second.value(), device);
    proved.previousCredential = reply->credential;
    auto rebound = b.access.enrol(proved, kNow + 2);
    REQUIRE_MESSAGE(rebound.ok(), (rebound.ok() ? "" : rebound.error().describe()));
    CHECK(a.access.authenticate(reply->credential).error().code == ErrorCode::NotFound);
    CHECK(a.access.authenticate(rebound->credential).value() == device);
    // Revoked by one process, refused by the other at once.
    REQUIRE(a.access.revoke(device, kNow + 3, "staff").ok());
    CHECK(b.access.authenticate(rebound->credential).error().code == ErrorCode::WrongState);
    CHECK(b.access.revoke(device, kNow + 4, "staff").error().code == ErrorCode::NotFound);
    CHECK(b.access.createReenrolCode(device, kNow, "staff").error().code == ErrorCode::WrongState);
    CHECK(b.access.createReenrolCode(makeUuidV4(), kNow, "staff").error().code ==
          ErrorCode::NotFound);
    auto devices = b.access.devices();
    REQUIRE(devices.ok());
    REQUIRE(devices->size() == 1);
    CHECK(devices->front().revokedUtcMs == kNow + 3);
    CHECK(devices->front().revisions == 0);
}

TEST_CASE("postgres access: a re-enrolment code made for a device, and code lifetimes") {
    const std::string db = newCollector();
    sync::CollectorPolicy policy;
    policy.enrolCodeTtlMs = 1000;
    Process a(db, policy);
    CHECK(a.access.createEnrolCode("x", kNow, "staff", 2000).error().code ==
          ErrorCode::InvalidArgument);
    auto code = a.access.createEnrolCode("tablet 4", kNow, "staff", 500);
    REQUIRE(code.ok());
    CHECK(a.access.enrol(request(code.value(), makeUuidV4()), kNow + 501).error().code ==
          ErrorCode::WrongState);
    const Uuid device = makeUuidV4();
    auto fresh = a.access.createEnrolCode("tablet 4", kNow, "staff");
    REQUIRE(fresh.ok());
    auto first = a.access.enrol(request(fresh.value(), device), kNow);
    REQUIRE(first.ok());
    auto reenrol = a.access.createReenrolCode(device, kNow, "staff");
    REQUIRE(reenrol.ok());
    // Made for this device only.
    CHECK(a.access.enrol(request(reenrol.value(), makeUuidV4()), kNow).error().code ==
          ErrorCode::WrongState);
    auto again = a.access.enrol(request(reenrol.value(), device), kNow + 10);
    REQUIRE_MESSAGE(again.ok(), (again.ok() ? "" : again.error().describe()));
    CHECK(a.access.authenticate(again->credential).value() == device);
    auto log = a.access.audit();
    REQUIRE(log.ok());
    std::vector<std::string> actions;
    for (const auto& e : log.value())
        actions.push_back(e.action);
    CHECK(actions ==
          std::vector<std::string>{"enrol-code", "enrol-code", "enrol", "reenrol-code", "reenrol"});
    for (const auto& e : log.value()) {
        CHECK(e.detail.find(first->credential.substr(37)) == std::string::npos);
    }
}

TEST_CASE("postgres access: staff credentials, the project key, identity and health") {
    const std::string db = newCollector();
    Process a(db);
    Process b(db);
    CHECK(a.access.addAdmin("no spaces", kNow, "root").error().code == ErrorCode::InvalidArgument);
    auto anna = a.access.addAdmin("anna", kNow, "root");
    REQUIRE(anna.ok());
    CHECK(anna->starts_with("veld-admin.anna."));
    CHECK(b.access.authenticateAdmin(anna.value()).value() == "anna");
    CHECK(b.access.authenticateAdmin("veld-admin.anna.00").error().code == ErrorCode::NotFound);
    // A new credential for the same name replaces the old one.
    auto renewed = b.access.addAdmin("anna", kNow + 1, "root");
    REQUIRE(renewed.ok());
    CHECK(a.access.authenticateAdmin(anna.value()).error().code == ErrorCode::NotFound);
    CHECK(a.access.authenticateAdmin(renewed.value()).value() == "anna");
    REQUIRE(a.access.revokeAdmin("anna", kNow + 2, "root").ok());
    CHECK(b.access.authenticateAdmin(renewed.value()).error().code == ErrorCode::WrongState);
    CHECK(b.access.revokeAdmin("anna", kNow + 3, "root").error().code == ErrorCode::NotFound);
    auto admins = b.access.admins();
    REQUIRE(admins.ok());
    REQUIRE(admins->size() == 1);
    CHECK(admins->front().revokedUtcMs == kNow + 2);

    CHECK(a.access.projectKey().value().empty());
    CHECK(!a.access.setProjectKey("not a key", kNow, "root").ok());
    projectkey::PublicKey key{"k1", {}};
    key.bytes.fill(9);
    const std::string text = projectkey::formatPublicKey(key);
    REQUIRE(a.access.setProjectKey(text, kNow, "root").ok());
    CHECK(b.access.projectKey().value() == text);

    auto id = a.access.collectorId();
    REQUIRE(id.ok());
    CHECK(b.access.collectorId().value() == id.value());
    CHECK(a.access.health().value() == sync::kCollectorSchemaVersion);
    REQUIRE(a.access.appendAudit({kNow + 9, "anna", "export", "survey", "csv"}).ok());
    auto log = b.access.audit();
    REQUIRE(log.ok());
    REQUIRE(!log->empty());
    CHECK(log->back().action == "export");
    for (const auto& e : log.value())
        CHECK(e.detail.find(renewed->substr(16)) == std::string::npos);
}
