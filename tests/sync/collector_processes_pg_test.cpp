// Two veld-collector processes on one PostgreSQL database behind HAProxy: ten devices push through
// both while one is killed with SIGKILL and restarted; and PostgreSQL itself stopped and started
// again while devices push: the collectors answer 503 with Retry-After meanwhile, devices retry,
// and everything arrives exactly once.
#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <thread>

#include <doctest/doctest.h>

#include <veld/sync/uploader.hpp>

#include "support/haproxy.hpp"
#include "support/pg_cluster.hpp"
#include "support/sync_support.hpp"

using namespace veld;

namespace veld::test {
void pushThroughKills(TempDir& dir, const std::vector<CollectorProcess*>& collectors,
                      const std::string& location, const std::vector<std::string>& flags);
}

TEST_CASE("two collectors on one PostgreSQL database: ten devices push while one is killed") {
    test::TempDir dir;
    const std::string location = test::sharedPgCluster().createDatabase();
    test::CollectorProcess first(location);
    test::CollectorProcess second(location, test::CollectorProcess::Joining{});
    test::publishPilotForms(first);
    const auto defined = test::veldctl(
        {"study", "define", location, std::string(VELD_SOURCE_DIR) + "/schemas/studies/ips.json"});
    REQUIRE_MESSAGE(defined.exitCode == 0, defined.err);
    // As docs/operations.md runs them behind HAProxy: its address trusted, every limit on.
    const std::vector<std::string> flags{"--trusted-proxies", "127.0.0.1"};
    first.start(flags);
    second.start(flags);
    test::pushThroughKills(dir, {&first, &second}, location, flags);
    // The one that was never killed served throughout.
    CHECK(second.running());
}

TEST_CASE("PostgreSQL stopped and started again while devices push: 503s, then everything") {
    constexpr std::size_t kDevices = 6;
    constexpr int kRecords = 40;
    test::TempDir dir;
    test::PgCluster cluster;  // of its own: this test stops it
    const std::string location = cluster.createDatabase();
    test::CollectorProcess first(location);
    test::CollectorProcess second(location, test::CollectorProcess::Joining{});
    const std::vector<std::string> flags{"--auth-failures", "0", "--rate-limit", "0"};
    first.start(flags);
    second.start(flags);
    test::HaProxy proxy(dir.path(), {first.port(), second.port()});
    REQUIRE(proxy.waitForHealthy(2, 10000));

    struct Device {
        std::string path;
        sync::Connection connection;
        std::uint64_t lastSeq = 0;
    };
    std::vector<Device> devices(kDevices);
    for (std::size_t d = 0; d < kDevices; ++d) {
        devices[d].path = dir.file("device" + std::to_string(d) + ".veld");
        auto store = test::openDevice(devices[d].path);
        devices[d].connection = test::enrolDevice(store, first);
        devices[d].connection.collector = proxy.url();
        test::addFinalized(store, kRecords, static_cast<int>(d) * 1000);
        devices[d].lastSeq = store.outboxState()->lastSeq;
    }

    // The database goes away: a push straight to a collector is answered 503 with Retry-After.
    cluster.stop(test::PgCluster::StopMode::Fast);
    const auto body = test::pushBody(test::openDevice(devices[0].path).deviceId(), {});
    for (auto* collector : {&first, &second}) {
        const auto reply = test::httpExchange(
            collector->port(),
            test::postBytes(sync::kPushPath, body,
                            test::protocolHeaders(devices[0].connection.credential)));
        CHECK(reply.status == 503);
        CHECK(reply.head.find("Retry-After: 5") != std::string::npos);
    }
    // /healthz says so too, and HAProxy stops sending to either.
    CHECK(test::httpExchange(first.port(),
                             "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                             "Connection: close\r\n\r\n")
              .status == 503);

    // Devices push meanwhile, and keep trying; the database comes back after a while.
    std::atomic<std::size_t> finished{0};
    std::atomic<int> failedRounds{0};
    std::vector<std::thread> pushers;
    for (auto& device : devices) {
        pushers.emplace_back([&device, &finished, &failedRounds] {
            auto store = test::openDevice(device.path);
            sync::SyncOptions options;
            options.maxBatchRecords = 5;
            options.pull = false;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
            while (std::chrono::steady_clock::now() < deadline) {
                auto round = sync::syncOnce(store, device.connection, options);
                if (round) {
                    auto state = store.outboxState();
                    if (state && state->pending == 0) break;
                    continue;
                }
                ++failedRounds;
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            ++finished;
        });
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    CHECK(finished.load() == 0);  // nothing could arrive while the database was down
    cluster.start();
    for (auto& t : pushers)
        t.join();
    CHECK(failedRounds.load() >= static_cast<int>(kDevices));
    // Both collectors serve again without a restart.
    CHECK(first.running());
    CHECK(second.running());

    auto opened = sync::openCollector(location, false, {});
    REQUIRE_MESSAGE(opened, opened.error().describe());
    auto held = opened.value()->devices();
    REQUIRE(held);
    std::map<Uuid, sync::DeviceInfo> byId;
    for (const auto& d : held.value())
        byId[d.deviceId] = d;
    for (const auto& device : devices) {
        auto store = test::openDevice(device.path);
        CHECK(store.outboxState()->pending == 0);
        const Uuid id = store.deviceId();
        REQUIRE(byId.count(id));
        CHECK(byId[id].receivedThrough == device.lastSeq);
        CHECK(byId[id].revisions == static_cast<std::int64_t>(device.lastSeq));
    }
    const auto counts = test::collectorRevisionCounts(*opened.value());
    CHECK(counts.size() == kDevices * kRecords);
    for (const auto& c : counts)
        CHECK(c.second == 1);
}
