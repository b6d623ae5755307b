// The collector being stopped (SIGTERM) while devices push: it finishes what is in flight and
// exits 0, and after a restart on the same store file devices resend and nothing is lost or
// stored twice. SIGKILL at random moments and between commit and reply are reliability scenarios
// (tests/reliability/kill_collector_push.cpp).
#include <chrono>
#include <csignal>
#include <set>
#include <thread>

#include <doctest/doctest.h>

#include <veld/sqlite.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

// What the collector holds of one device (its store opened after the process ended).
struct Held {
    std::uint64_t receivedThrough = 0;
    std::int64_t revisions = 0;
    std::set<Uuid> records;
};

Held heldOf(const test::CollectorProcess& collector, const Uuid& deviceId) {
    auto store = collector.open();
    Held held;
    auto devices = store->devices();
    REQUIRE(devices);
    for (const auto& d : devices.value()) {
        if (d.deviceId != deviceId) continue;
        held.receivedThrough = d.receivedThrough;
        held.revisions = d.revisions;
    }
    auto ids = store->recordIds();
    REQUIRE(ids);
    for (const auto& id : ids.value()) {
        auto revisions = store->revisionsOf(id);
        REQUIRE(revisions);
        CHECK(revisions->size() == 1);  // never stored twice
        if (!revisions->empty() && revisions->front().deviceId == deviceId) held.records.insert(id);
    }
    return held;
}

// The collector holds exactly the device's first `receivedThrough` records (ids in outbox
// order), each once, and at least everything the device was told it holds.
void checkPrefix(const Held& held, const std::vector<Uuid>& ids, std::uint64_t ackedOnDevice) {
    CHECK(ackedOnDevice <= held.receivedThrough);
    REQUIRE(held.receivedThrough <= ids.size());
    CHECK(held.revisions == static_cast<std::int64_t>(held.receivedThrough));
    CHECK(held.records.size() == held.receivedThrough);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        CAPTURE(i);
        CHECK((held.records.count(ids[i]) == 1) == (i < held.receivedThrough));
    }
}

void checkIntegrity(const std::string& path) {
    auto db = sql::Database::open(path, sql::OpenMode::ReadOnly);
    REQUIRE(db);
    auto st = db->prepare("PRAGMA integrity_check");
    REQUIRE(st);
    auto row = st->step();
    REQUIRE(row);
    REQUIRE(row.value());
    CHECK(st->columnText(0) == "ok");
}

// Waits for the collector to end by itself; SIGKILL and a failure when it does not in time.
test::ProcessResult waitForExit(test::CollectorProcess& collector, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (collector.running()) {
        if (std::chrono::steady_clock::now() > deadline) {
            FAIL_CHECK("the collector did not stop within " << seconds << " s");
            collector.kill(SIGKILL);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return collector.wait();
}

}  // namespace

TEST_CASE(
    "SIGTERM while a device pushes: exit 0, what was acknowledged is kept, the rest follows") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    std::vector<Uuid> ids;
    Uuid deviceId;
    {
        auto device = test::openDevice(path);
        deviceId = device.deviceId();
        ids = test::addFinalized(device, 600);
        (void)test::enrolDevice(device, collector);
    }
    sync::SyncOptions options;
    options.maxBatchRecords = 5;
    sync::Uploader uploader(path, options, std::chrono::milliseconds(50));
    uploader.start();
    auto device = test::openDevice(path);
    auto acked = [&] { return device.outboxState().value().ackedThrough; };
    const auto waitUntil = [](auto condition, double seconds) {
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (!condition() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return condition();
    };
    REQUIRE(waitUntil([&] { return acked() >= 20; }, 30));

    // A connection that sits idle must not hold the collector up either.
    test::RawConnection idle(collector.port());
    const auto stopAt = std::chrono::steady_clock::now();
    collector.kill(SIGTERM);
    const auto ended = waitForExit(collector, 15);
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - stopAt).count();
    CHECK(ended.exitCode == 0);
    CHECK(took < 5);
    CHECK(idle.closedByServer());

    // Everything the device was told is held is held, once; nothing beyond what it took.
    const std::uint64_t ackedAtStop = acked();
    const Held held = heldOf(collector, deviceId);
    MESSAGE("stopped after " << held.receivedThrough << " of " << ids.size() << " records");
    CHECK(held.receivedThrough < ids.size());
    checkPrefix(held, ids, ackedAtStop);
    if (!sync::isPostgresLocation(collector.storePath())) checkIntegrity(collector.storePath());

    // Started again: the uploader (woken, instead of waiting out its backoff) finishes the job.
    collector.restart();
    uploader.wake();
    CHECK(waitUntil([&] { return device.outboxState().value().pending == 0; }, 60));
    uploader.stop();
    const Held done = heldOf(collector, deviceId);
    CHECK(done.receivedThrough == ids.size());
    checkPrefix(done, ids, ids.size());
}

TEST_CASE("SIGTERM right after the collector starts listening stops it") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    for (int i = 0; i < 10; ++i) {
        CAPTURE(i);
        collector.start();
        collector.kill(SIGTERM);
        CHECK(waitForExit(collector, 10).exitCode == 0);
    }
}
