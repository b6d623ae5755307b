// The device's sync over the in-process loopback transport: the same uploader, enrolment and
// admin client as over HTTP, against a collector server in this process (no socket), so the
// transport interface carries everything a device needs.
#include <doctest/doctest.h>

#include <veld/sync/admin_client.hpp>
#include <veld/sync/collector_server.hpp>
#include <veld/sync/loopback_transport.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct InProcessCollector {
    test::TempDir dir;
    std::shared_ptr<sync::CollectorStore> store;
    std::unique_ptr<sync::CollectorServer> server;

    InProcessCollector() {
        auto opened = sync::openCollector(test::testCollectorLocation(dir), true);
        REQUIRE(opened);
        store = std::move(opened.value());
        sync::ServerConfig config;
        config.logRequests = false;
        config.exportDir = dir.file("exports");
        server = std::make_unique<sync::CollectorServer>(config, store);
    }
};

}  // namespace

TEST_CASE("loopback transport: a device enrols, sends its records and pulls, with no socket") {
    InProcessCollector collector;
    auto code = collector.store->createEnrolCode("laptop", wallMs(), "test");
    REQUIRE(code);
    test::TempDir deviceDir;
    Store device = test::openDevice(deviceDir.file("device.veld"));
    const auto transport = sync::loopbackTransport(*collector.server);

    // Enrolment through the transport stores the connection, as over HTTP.
    auto reply = sync::enrol(device, "http://127.0.0.1", code.value(), {}, false, transport);
    REQUIRE_MESSAGE(reply, reply.error().describe());
    auto connection = sync::loadConnection(device);
    REQUIRE(connection);

    // 1,200 records go in three push batches (500 a batch), compressed, and all arrive.
    const auto ids = test::addFinalized(device, 1200);
    sync::SyncOptions options;
    options.transport = transport;
    auto round = sync::syncOnce(device, connection.value(), options);
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->state == sync::Progress::State::Done);
    CHECK(round->recordsSent == 1200);
    CHECK(device.outboxState().value().pending == 0);
    auto held = collector.store->recordIds();
    REQUIRE(held);
    CHECK(held->size() == ids.size());

    // A second code cannot be used by a device that guesses it, and the same code twice fails.
    test::TempDir otherDir;
    Store other = test::openDevice(otherDir.file("device.veld"));
    auto again = sync::enrol(other, "http://127.0.0.1", code.value(), {}, false, transport);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::WrongState);
}

TEST_CASE("loopback transport: a wrong credential is refused, and nothing is acknowledged") {
    InProcessCollector collector;
    auto code = collector.store->createEnrolCode("laptop", wallMs(), "test");
    REQUIRE(code);
    test::TempDir deviceDir;
    Store device = test::openDevice(deviceDir.file("device.veld"));
    const auto transport = sync::loopbackTransport(*collector.server);
    REQUIRE(sync::enrol(device, "http://127.0.0.1", code.value(), {}, false, transport));
    test::addFinalized(device, 3);
    auto connection = sync::loadConnection(device).value();
    connection.credential = "veld-device.not-a-real-credential";
    sync::SyncOptions options;
    options.transport = transport;
    auto round = sync::syncOnce(device, connection, options);
    REQUIRE_FALSE(round);
    CHECK(round.error().code == ErrorCode::Refused);
    CHECK(device.outboxState().value().pending == 3);
    CHECK(collector.store->recordIds().value().empty());
}

TEST_CASE("loopback transport: the admin client reads the collector like the console does") {
    InProcessCollector collector;
    auto staff = collector.store->addAdmin("beheer", wallMs(), "test");
    REQUIRE(staff);
    sync::Connection c;
    c.collector = "http://127.0.0.1";
    c.credential = staff.value();
    sync::AdminClient admin(c, sync::loopbackTransport(*collector.server));
    auto status = admin.status();
    REQUIRE_MESSAGE(status, status.error().describe());
    auto devices = admin.devices();
    REQUIRE(devices);
    CHECK(devices->empty());

    c.credential = "veld-admin.beheer.wrong";
    sync::AdminClient stranger(c, sync::loopbackTransport(*collector.server));
    auto refused = stranger.status();
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::Refused);
}
