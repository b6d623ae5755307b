// The collector dying or being stopped while devices push: kill -9 between its commit and its
// reply, kill -9 at random moments, and SIGTERM. After a restart on the same store file,
// devices resend and nothing is lost or stored twice.
#include <atomic>
#include <chrono>
#include <csignal>
#include <limits>
#include <memory>
#include <random>
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

TEST_CASE("a collector killed between its commit and its reply loses and doubles nothing") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    collector.start({}, {"VELD_FAULT_EXIT_AFTER_COMMITS=3"});
    auto device = test::openDevice(dir.file("device.veld"));
    const auto ids = test::addFinalized(device, 100);
    auto connection = test::enrolDevice(device, collector);
    sync::SyncOptions options;
    options.maxBatchRecords = 10;

    // The third batch is committed, then the collector dies before answering.
    auto cut = sync::syncOnce(device, connection, options);
    REQUIRE_FALSE(cut);
    CHECK(cut.error().code == ErrorCode::Io);
    CHECK(collector.wait().exitCode == 3);
    const auto state = device.outboxState();
    REQUIRE(state);
    CHECK(state->ackedThrough == 20);  // the device never heard of the third batch
    CHECK(state->pending == 80);
    const Held afterCrash = heldOf(collector, device.deviceId());
    CHECK(afterCrash.receivedThrough == 30);
    checkPrefix(afterCrash, ids, state->ackedThrough);
    checkIntegrity(collector.storePath());

    // Back up on the same file: the device resends 21-30 (duplicates) and the rest.
    collector.restart();
    auto round = sync::syncOnce(device, connection, options);
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 80);
    CHECK(device.outboxState()->pending == 0);
    const Held done = heldOf(collector, device.deviceId());
    CHECK(done.receivedThrough == 100);
    checkPrefix(done, ids, 100);
}

TEST_CASE("a collector killed at random moments while devices push loses and doubles nothing") {
    constexpr int kRounds = 10;
    constexpr int kRecordsPerRound = 150;
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    collector.start();
    struct Device {
        std::string path;
        Uuid id;
        sync::Connection connection;
        std::vector<Uuid> records;  // in outbox order
        std::atomic<bool> finished{false};
        std::atomic<std::int64_t> sent{0};
    };
    std::vector<std::unique_ptr<Device>> devices;
    for (int d = 0; d < 2; ++d) {
        auto device = std::make_unique<Device>();
        device->path = dir.file("device" + std::to_string(d) + ".veld");
        auto store = test::openDevice(device->path);
        device->id = store.deviceId();
        device->connection = test::enrolDevice(store, collector);
        devices.push_back(std::move(device));
    }
    sync::SyncOptions options;
    options.maxBatchRecords = 5;
    std::mt19937 rng(std::random_device{}());
    int killedWhilePushing = 0;

    for (int round = 0; round < kRounds; ++round) {
        CAPTURE(round);
        if (round > 0) collector.restart();
        for (std::size_t d = 0; d < devices.size(); ++d) {
            auto store = test::openDevice(devices[d]->path);
            const int first = round * 1000 + static_cast<int>(d) * 100000;
            for (const auto& id : test::addFinalized(store, kRecordsPerRound, first))
                devices[d]->records.push_back(id);
        }
        // Both devices push at once. The kill comes after a random number of acknowledged
        // records plus up to 3 ms, so it lands anywhere in a request: before, during or after
        // the commit, or in the reply.
        std::vector<std::thread> pushers;
        for (auto& device : devices) {
            device->finished = false;
            device->sent = 0;
            pushers.emplace_back([&options, d = device.get()] {
                auto store = test::openDevice(d->path);
                d->finished = static_cast<bool>(
                    sync::syncOnce(store, d->connection, options,
                                   [d](const sync::Progress& p) { d->sent = p.recordsSent; }));
            });
        }
        const auto target = static_cast<std::int64_t>(rng() % (2 * kRecordsPerRound - 40));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        auto progress = [&] {
            std::int64_t n = 0;
            bool all = true;
            for (auto& device : devices) {
                n += device->sent;
                all = all && device->finished;
            }
            return all ? std::numeric_limits<std::int64_t>::max() : n;
        };
        while (progress() < target && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
        collector.kill(SIGKILL);
        const auto ended = collector.wait();
        for (auto& t : pushers)
            t.join();
        CHECK(ended.signal == SIGKILL);
        bool interrupted = false;
        for (auto& device : devices)
            interrupted = interrupted || !device->finished;
        if (interrupted) ++killedWhilePushing;

        for (auto& device : devices) {
            auto store = test::openDevice(device->path);
            checkPrefix(heldOf(collector, device->id), device->records,
                        store.outboxState()->ackedThrough);
        }
        checkIntegrity(collector.storePath());
    }
    MESSAGE("killed while pushing in " << killedWhilePushing << " of " << kRounds << " rounds");
    CHECK(killedWhilePushing >= kRounds - 1);

    collector.restart();
    for (auto& device : devices) {
        auto store = test::openDevice(device->path);
        REQUIRE(test::syncUntilDone(store, device->connection, options, 3) >= 0);
        CHECK(store.outboxState()->pending == 0);
        const Held held = heldOf(collector, device->id);
        CHECK(held.receivedThrough == device->records.size());
        checkPrefix(held, device->records, device->records.size());
    }
}

TEST_CASE(
    "SIGTERM while a device pushes: exit 0, what was acknowledged is kept, the rest follows") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
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
    checkIntegrity(collector.storePath());

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
    test::CollectorProcess collector(dir.file("collector.db"));
    for (int i = 0; i < 10; ++i) {
        CAPTURE(i);
        collector.start();
        collector.kill(SIGTERM);
        CHECK(waitForExit(collector, 10).exitCode == 0);
    }
}
