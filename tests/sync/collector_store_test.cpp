// The collector's SQLite store used from many threads at once, as the server's workers use it:
// concurrent pushes are committed together, and a push that is refused undoes only itself.
#include <atomic>
#include <thread>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/sync/collector_store.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

sync::PushRevision revision(std::uint64_t seq) {
    sync::PushRevision r;
    r.seq = seq;
    r.recordId = makeUuidV7(SystemClock::instance());
    r.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(SystemClock::instance().nowMillis()), 0);
    r.body.assign(64, static_cast<std::uint8_t>(seq));
    r.formId = "survey";
    r.formVersion = 1;
    return r;
}

}  // namespace

TEST_CASE("concurrent pushes are all stored, and a refused one undoes only itself") {
    test::TempDir dir;
    auto opened = sync::openSqliteCollector(dir.file("collector.db"), true);
    REQUIRE(opened);
    std::shared_ptr<sync::CollectorStore> store = std::move(opened.value());
    const std::int64_t now = SystemClock::instance().nowMillis();

    constexpr int kDevices = 8;
    constexpr int kRounds = 40;
    constexpr std::uint64_t kBatch = 5;
    std::vector<Uuid> devices;
    for (int d = 0; d < kDevices; ++d) {
        sync::EnrolRequest request;
        request.code = store->createEnrolCode("tablet", now, "test").value();
        request.deviceId = makeUuidV4();
        REQUIRE(store->enrol(request, now));
        devices.push_back(request.deviceId);
    }

    std::atomic<int> wrong{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int d = 0; d < kDevices; ++d) {
        threads.emplace_back([&, d] {
            std::uint64_t through = 0;
            for (int round = 0; round < kRounds; ++round) {
                sync::PushBatch good;
                good.deviceId = devices[static_cast<std::size_t>(d)];
                for (std::uint64_t k = 1; k <= kBatch; ++k)
                    good.revisions.push_back(revision(through + k));
                auto reply = store->push(good.deviceId, good, now);
                if (!reply || reply->receivedThrough != through + kBatch) ++wrong;
                through += kBatch;
                if (round % 3 == 0) {
                    // The next revision, then a gap: the first is stored inside the push's own
                    // savepoint before the gap is found, and must go with it.
                    sync::PushBatch bad;
                    bad.deviceId = good.deviceId;
                    bad.revisions.push_back(revision(through + 1));
                    bad.revisions.push_back(revision(through + 3));
                    auto refusal = store->push(bad.deviceId, bad, now);
                    if (!refusal && refusal.error().code == ErrorCode::WrongState) {
                        ++refused;
                    } else {
                        ++wrong;
                    }
                }
            }
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(wrong == 0);
    CHECK(refused == kDevices * ((kRounds + 2) / 3));

    const auto stats = store->stats();
    REQUIRE(stats);
    CHECK(stats->revisions == kDevices * kRounds * static_cast<std::int64_t>(kBatch));
    CHECK(stats->records == stats->revisions);
    const auto held = store->devices();
    REQUIRE(held);
    for (const auto& device : held.value())
        CHECK(device.receivedThrough == kRounds * kBatch);
}
