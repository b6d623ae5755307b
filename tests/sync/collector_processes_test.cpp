// Collector processes behind HAProxy (Debian's, with a health check on /healthz): ten devices
// push through it at once while a collector is killed with SIGKILL and started again, over and
// over. Afterwards every record is held at the collector exactly once, every outbox is empty and
// the allocation log verifies. With SQLite one process serves the store (it locks the file);
// the PostgreSQL suite runs two on one database.
//
// Also: export jobs live in the process that runs them; a process asked for another's job (here:
// the same collector after a restart) answers 409 naming the process that had it.
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/sync/admin_client.hpp>
#include <veld/sync/uploader.hpp>

#include "support/haproxy.hpp"
#include "support/sync_support.hpp"

using namespace veld;

namespace {

struct Device {
    std::string path;
    sync::Connection connection;
    std::uint64_t lastSeq = 0;
};

std::int64_t pendingOf(const std::string& path) {
    auto store = test::openDevice(path);
    auto state = store.outboxState();
    REQUIRE(state);
    return state->pending;
}

}  // namespace

namespace veld::test {

// The collectors serve one store at `location` (the first one set it up: forms published and the
// IPS study defined). Ten devices push through HAProxy at once while the first collector is
// killed with SIGKILL and started again, at least five times and on until they are done; then every
// record is at the collector once, every outbox is empty and the allocation log verifies.
void pushThroughKills(TempDir& dir, const std::vector<CollectorProcess*>& collectors,
                      const std::string& location, const std::vector<std::string>& flags) {
    constexpr std::size_t kDevices = 10;
    constexpr int kIntakes = 12;
    constexpr int kRecords = 150;
    constexpr int kKills = 5;
    std::vector<int> ports;
    for (auto* c : collectors)
        ports.push_back(c->port());
    HaProxy proxy(dir.path(), ports);
    REQUIRE(proxy.waitForHealthy(collectors.size(), 10000));
    CollectorProcess& victim = *collectors.front();

    // Devices enrol, receive the study's blocks through the proxy, and finalize intakes (each
    // taking an allocation) and other records, all before anything is pushed.
    std::vector<Device> devices(kDevices);
    SystemClock clock;
    for (std::size_t d = 0; d < kDevices; ++d) {
        devices[d].path = dir.file("device" + std::to_string(d) + ".veld");
        auto store = openDevice(devices[d].path);
        devices[d].connection = enrolDevice(store, *collectors.back());
        devices[d].connection.collector = proxy.url();
        REQUIRE(syncUntilDone(store, devices[d].connection, {}, 50) >= 0);
        for (int i = 0; i < kIntakes; ++i) {
            char digest[80];
            std::snprintf(digest, sizeof digest, "demo:%064x",
                          static_cast<unsigned>(d * 1000 + static_cast<std::size_t>(i)));
            const auto made = store.finalizeNew(test::ipsIntake(makeUuidV7(clock),
                                                                i % 2 ? "utrecht" : "amersfoort",
                                                                i % 3 ? "man" : "vrouw", digest));
            REQUIRE_MESSAGE(made, made.error().describe());
        }
        // Other records, of a form the collector does not publish (the pilots' sealed forms
        // would need a project key).
        for (int i = 0; i < kRecords; ++i) {
            const auto made =
                store.finalizeNew(sampleContent(static_cast<int>(d) * 100 + i, "field_notes"));
            REQUIRE_MESSAGE(made, made.error().describe());
        }
        auto state = store.outboxState();
        REQUIRE(state);
        devices[d].lastSeq = state->lastSeq;
        REQUIRE(state->pending == kIntakes + kRecords);
    }

    // All push at once, one record a request (so that pushing lasts long enough for several
    // kills to land in it), retrying after any failure; meanwhile the collector is killed and
    // started again on its port.
    std::atomic<std::size_t> finished{0};
    std::atomic<int> failedRounds{0};
    std::vector<std::thread> pushers;
    for (auto& device : devices) {
        pushers.emplace_back([&device, &finished, &failedRounds] {
            auto store = openDevice(device.path);
            sync::SyncOptions options;
            options.maxBatchRecords = 1;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
            while (std::chrono::steady_clock::now() < deadline) {
                auto round = sync::syncOnce(store, device.connection, options);
                if (!round) {
                    ++failedRounds;
                    std::this_thread::sleep_for(std::chrono::milliseconds(30));
                    continue;
                }
                auto state = store.outboxState();
                if (state && state->pending == 0) break;
            }
            ++finished;
        });
    }
    std::mt19937 random(std::random_device{}());
    int kills = 0;
    int killsDuringPushes = 0;
    // At least kKills kills, and on while devices still push (up to 40).
    while (kills < kKills || (finished.load() < kDevices && kills < 40)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50 + random() % 250));
        const bool pushing = finished.load() < kDevices;
        victim.kill(SIGKILL);
        victim.wait();
        ++kills;
        if (pushing) ++killsDuringPushes;
        std::this_thread::sleep_for(std::chrono::milliseconds(100 + random() % 200));
        victim.restart(flags);
    }
    for (auto& t : pushers)
        t.join();
    CAPTURE(failedRounds.load());
    CHECK(killsDuringPushes >= 3);
    // The kills were felt: by the devices, or by HAProxy, which retried for them.
    CHECK(failedRounds.load() + proxy.backendTrouble() > 0);

    // Every outbox empty; at the collector every device's records exactly once.
    for (const auto& device : devices)
        CHECK(pendingOf(device.path) == 0);
    auto opened = sync::openCollector(location, false, {});
    REQUIRE_MESSAGE(opened, opened.error().describe());
    auto staff = std::move(opened.value());
    auto held = staff->devices();
    REQUIRE(held);
    std::map<Uuid, sync::DeviceInfo> byId;
    for (const auto& d : held.value())
        byId[d.deviceId] = d;
    for (const auto& device : devices) {
        auto store = openDevice(device.path);
        const Uuid id = store.deviceId();
        REQUIRE(byId.count(id));
        CHECK(byId[id].receivedThrough == device.lastSeq);
        CHECK(byId[id].revisions == static_cast<std::int64_t>(device.lastSeq));
    }
    const auto counts = collectorRevisionCounts(*staff);
    CHECK(counts.size() == kDevices * (kIntakes + kRecords));
    for (const auto& c : counts)
        CHECK(c.second == 1);
    staff.reset();
    const auto verify = veldctl({"study", "verify", location, "ips"});
    CHECK_MESSAGE(verify.exitCode == 0, (verify.out + verify.err));
    CHECK(verify.out.find("verified: every allocation") != std::string::npos);
}

}  // namespace veld::test

TEST_CASE("ten devices push through HAProxy while the collector is killed and restarted") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    test::publishPilotForms(collector);
    const auto defined =
        test::veldctl({"study", "define", collector.storePath(),
                       std::string(VELD_SOURCE_DIR) + "/schemas/studies/ips.json"});
    REQUIRE_MESSAGE(defined.exitCode == 0, defined.err);
    // As docs/operations.md runs them behind HAProxy: its address trusted, every limit on.
    const std::vector<std::string> flags{"--trusted-proxies", "127.0.0.1"};
    collector.start(flags);
    // SQLite: one process serves the store (it locks the file).
    test::pushThroughKills(dir, {&collector}, collector.storePath(), flags);
}

TEST_CASE("a collector process asked for another process's export job answers 409 naming it") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    test::publishPilotForms(collector);
    collector.start({}, {"VELD_TEST_HOLD_EXPORTS=1"});
    const std::string anna = test::addAdmin(collector, "anna");
    sync::Connection c;
    c.collector = collector.url();
    c.credential = anna;
    sync::AdminClient console(c);
    sync::admin::ExportRequest request;
    request.formId = "ips_guidance";
    auto started = console.startExport(request);
    REQUIRE_MESSAGE(started, started.error().describe());
    const std::string job = started->job;
    REQUIRE(job.size() == 32);
    const std::string process = job.substr(0, 8);
    // Known to its own process; an id with this process's tag that it never gave: unknown.
    CHECK(console.exportJob(job));
    auto unknown = console.exportJob(process + std::string(24, 'a'));
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message.find("409") == std::string::npos);

    // Another process (this collector started again: a new process, a new tag) says where the
    // job is, and why staff must stay on one process.
    collector.kill(SIGTERM);
    collector.wait();
    collector.restart({}, {"VELD_TEST_HOLD_EXPORTS=1"});
    sync::AdminClient again(c);
    auto elsewhere = again.exportJob(job);
    REQUIRE_FALSE(elsewhere);
    CHECK(elsewhere.error().code == ErrorCode::WrongState);
    CHECK(elsewhere.error().message.find("409") != std::string::npos);
    CHECK(elsewhere.error().message.find("this export runs in collector process " + process) !=
          std::string::npos);
    CHECK(elsewhere.error().message.find("keep a staff member on one process") !=
          std::string::npos);
    // A new job there carries the new process's tag.
    auto fresh = again.startExport(request);
    REQUIRE_MESSAGE(fresh, fresh.error().describe());
    CHECK(fresh->job.substr(0, 8) != process);
}
