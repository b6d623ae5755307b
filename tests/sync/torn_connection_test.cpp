// Connections torn at random points, in both directions, between devices and a real collector:
// a proxy on loopback cuts requests on their way up and replies on their way down, and devices
// keep retrying. Afterwards every finalized record is at the collector exactly once and every
// outbox is empty.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/proxy.hpp"
#include "support/sync_support.hpp"

using namespace veld;

TEST_CASE("connections torn at random points lose and double nothing") {
    constexpr std::size_t kDevices = 3;
    constexpr int kRecords = 300;
    constexpr int kMinimumCuts = 100;
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    const auto forms = test::pilotFormFiles();
    test::publishPilotForms(collector);
    collector.start();

    const std::uint32_t seed = std::random_device{}();
    CAPTURE(seed);
    test::CuttingProxy proxy(collector.port(), seed, 0.65);

    struct Device {
        std::string path;
        std::vector<Uuid> ids;
        sync::Connection connection;
    };
    std::vector<Device> devices(kDevices);
    for (std::size_t d = 0; d < kDevices; ++d) {
        devices[d].path = dir.file("device" + std::to_string(d) + ".veld");
        auto store = test::openDevice(devices[d].path);
        devices[d].ids = test::addFinalized(store, kRecords, static_cast<int>(d) * 10000);
        devices[d].connection = test::enrolDevice(store, collector);
        devices[d].connection.collector = "http://127.0.0.1:" + std::to_string(proxy.port());
    }

    // Small batches, so that there are many requests to cut.
    sync::SyncOptions options;
    options.maxBatchRecords = 10;
    auto syncAll = [&](Device& device, int& failures) {
        auto store = test::openDevice(device.path);  // one Store per thread
        for (int attempt = 0; attempt < 5000; ++attempt) {
            if (sync::syncOnce(store, device.connection, options)) return true;
            ++failures;
        }
        return false;
    };
    std::vector<int> failures(kDevices, 0);
    std::vector<char> done(kDevices, 0);
    {
        std::vector<std::thread> threads;
        for (std::size_t d = 0; d < kDevices; ++d)
            threads.emplace_back([&, d] { done[d] = syncAll(devices[d], failures[d]) ? 1 : 0; });
        for (auto& t : threads)
            t.join();
    }
    for (std::size_t d = 0; d < kDevices; ++d)
        REQUIRE(done[d] == 1);

    // Should chance have cut fewer than required, the first device makes more records and goes
    // on until it has.
    for (int extra = 0; proxy.cutsUp() + proxy.cutsDown() < kMinimumCuts; ++extra) {
        REQUIRE(extra < 50);
        auto store = test::openDevice(devices[0].path);
        for (const auto& id : test::addFinalized(store, 30, 50000 + extra * 100))
            devices[0].ids.push_back(id);
        REQUIRE(syncAll(devices[0], failures[0]));
    }
    MESSAGE("connections " << proxy.connections() << ", requests cut " << proxy.cutsUp()
                           << ", replies cut " << proxy.cutsDown());
    CHECK(proxy.cutsUp() + proxy.cutsDown() >= kMinimumCuts);
    CHECK(proxy.cutsUp() > 10);
    CHECK(proxy.cutsDown() > 10);

    // Every finalized record exactly once; every outbox empty; forms delivered despite the cuts.
    auto held = collector.open();
    std::map<Uuid, std::size_t> counts;
    for (const auto& [id, n] : test::collectorRevisionCounts(*held))
        counts[id] = n;
    std::size_t total = 0;
    for (auto& device : devices) {
        auto store = test::openDevice(device.path);
        const auto state = store.outboxState();
        REQUIRE(state);
        CHECK(state->pending == 0);
        CHECK(state->ackedThrough == device.ids.size());
        CHECK(store.forms()->size() == forms.size());
        for (const auto& id : device.ids) {
            REQUIRE(counts.count(id) == 1);
            CHECK(counts[id] == 1);
            auto current = held->current(id);
            REQUIRE(current);
            REQUIRE(current->has_value());
            CHECK((*current)->deviceId == store.deviceId());
            CHECK(decodeRecord((*current)->body).value() == store.get(id)->record);
        }
        total += device.ids.size();
    }
    CHECK(counts.size() == total);
    CHECK(held->stats()->revisions == static_cast<std::int64_t>(total));
    CHECK(held->stats()->rejected == 0);
    auto heldDevices = held->devices();
    REQUIRE(heldDevices);
    for (const auto& d : heldDevices.value())
        CHECK(d.revisions == static_cast<std::int64_t>(d.receivedThrough));
}
