// What only the PostgreSQL backend's records domain has to show, against a real PostgreSQL 15:
// several store objects (as several collector processes would be, each with its own connection
// pool) on one database receive the same device's batches at once and store each revision once;
// concurrent revisions of one record from two devices become one conflict each; an export's
// passes read one snapshot while pushes go on.
#include "postgres/pg_records.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/sync/collector_store.hpp>

#include "postgres/pg.hpp"
#include "postgres/pg_collector.hpp"
#include "postgres/pg_exports.hpp"
#include "postgres/pg_review.hpp"
#include "postgres/pg_schema.hpp"
#include "support/pg_cluster.hpp"

using namespace veld;
using namespace veld::sync::postgres;

namespace {

// The records, review and export domains on a context of their own: one "process".
struct RecordsProcess : PgRecords, PgReview, PgExports {
    explicit RecordsProcess(std::unique_ptr<PgContext> c)
        : PgRecords(*c), PgReview(*c), PgExports(*c), context(std::move(c)) {}
    std::unique_ptr<PgContext> context;
};

std::unique_ptr<RecordsProcess> openProcess(const std::string& location, int connections = 4) {
    auto context = std::make_unique<PgContext>(pg::ConnectionSettings{location, {}}, connections,
                                               sync::CollectorPolicy{});
    return std::make_unique<RecordsProcess>(std::move(context));
}

pg::Connection connect(const std::string& location) {
    auto c = pg::Connection::open({location, {}});
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().describe()));
    return std::move(c.value());
}

// A new collector database with `count` devices (rows as enrolment leaves them).
std::vector<Uuid> makeCollector(const std::string& location, int count, std::int64_t now) {
    auto c = connect(location);
    REQUIRE(migrate(c, true).ok());
    std::vector<Uuid> devices;
    for (int i = 0; i < count; ++i) {
        const Uuid id = makeUuidV4();
        const std::vector<std::uint8_t> hash(32, 7);
        REQUIRE(c.run("INSERT INTO devices (device_id, credential_hash, enrolled_utc_ms) "
                      "VALUES ($1, $2, $3)",
                      pg::Params().add(id).addBytes(hash).add(now))
                    .ok());
        devices.push_back(id);
    }
    return devices;
}

std::int64_t count(pg::Connection& c, const std::string& sql, const Uuid& device) {
    auto rows = c.query(sql, pg::Params().add(device));
    REQUIRE_MESSAGE(rows.ok(), (rows.ok() ? "" : rows.error().describe()));
    return rows->integer(0, 0);
}

sync::PushRevision revision(std::uint64_t seq, const Uuid& recordId, std::uint64_t hlc,
                            std::uint64_t base = 0) {
    sync::PushRevision r;
    r.seq = seq;
    r.recordId = recordId;
    r.hlc = HlcTimestamp{hlc};
    r.baseHlc = base;
    r.body.assign(48, static_cast<std::uint8_t>(seq));
    r.formId = "survey";
    r.formVersion = 1;
    return r;
}

std::uint64_t hlcNow(std::int64_t now, std::uint32_t counter) {
    return HlcTimestamp::make(static_cast<std::uint64_t>(now), counter).value;
}

}  // namespace

TEST_CASE(
    "postgres: two processes receiving one device's batches at once store each revision "
    "once and answer both") {
    const std::string db = test::sharedPgCluster().createDatabase();
    const std::int64_t now = SystemClock::instance().nowMillis();
    constexpr int kDevices = 3;
    constexpr int kBatches = 12;
    constexpr std::uint64_t kBatch = 50;
    const auto devices = makeCollector(db, kDevices, now);
    auto first = openProcess(db);
    auto second = openProcess(db);

    // Each device's batches, made once: both processes receive the very same ones (a device
    // that timed out resends through the other collector).
    std::vector<std::vector<sync::PushBatch>> batches(kDevices);
    for (int d = 0; d < kDevices; ++d) {
        for (int b = 0; b < kBatches; ++b) {
            sync::PushBatch batch;
            batch.deviceId = devices[static_cast<std::size_t>(d)];
            for (std::uint64_t k = 1; k <= kBatch; ++k) {
                const std::uint64_t seq = static_cast<std::uint64_t>(b) * kBatch + k;
                batch.revisions.push_back(revision(seq, makeUuidV7(SystemClock::instance()),
                                                   hlcNow(now, static_cast<std::uint32_t>(seq))));
            }
            batch.waitingAfter = (kBatches - b - 1) * static_cast<std::int64_t>(kBatch);
            batches[static_cast<std::size_t>(d)].push_back(std::move(batch));
        }
    }

    std::atomic<int> wrong{0};
    std::atomic<int> failed{0};
    // seq -> how many replies said "stored", per device (under a mutex).
    std::mutex storedMutex;
    std::vector<std::map<std::uint64_t, int>> storedAnswers(kDevices);
    std::vector<std::thread> threads;
    for (int d = 0; d < kDevices; ++d) {
        for (RecordsProcess* process : {first.get(), second.get()}) {
            threads.emplace_back([&, d, process] {
                const auto& mine = batches[static_cast<std::size_t>(d)];
                for (int b = 0; b < kBatches; ++b) {
                    const auto& batch = mine[static_cast<std::size_t>(b)];
                    auto reply = process->push(batch.deviceId, batch, now);
                    if (!reply) {
                        ++failed;
                        continue;
                    }
                    // Both answers say the whole batch is held, revision by revision.
                    if (reply->receivedThrough < batch.revisions.back().seq ||
                        reply->results.size() != batch.revisions.size())
                        ++wrong;
                    std::lock_guard lock(storedMutex);
                    for (std::size_t i = 0; i < reply->results.size(); ++i) {
                        const auto& r = reply->results[i];
                        if (r.seq != batch.revisions[i].seq) ++wrong;
                        if (r.outcome == sync::RevisionOutcome::Stored)
                            ++storedAnswers[static_cast<std::size_t>(d)][r.seq];
                        else if (r.outcome != sync::RevisionOutcome::Duplicate)
                            ++wrong;
                    }
                }
            });
        }
    }
    for (auto& t : threads)
        t.join();
    CHECK(failed == 0);
    CHECK(wrong == 0);

    auto c = connect(db);
    const std::uint64_t total = kBatches * kBatch;
    for (int d = 0; d < kDevices; ++d) {
        const Uuid& device = devices[static_cast<std::size_t>(d)];
        const auto& answers = storedAnswers[static_cast<std::size_t>(d)];
        // Exactly one reply stored each revision.
        CHECK(answers.size() == total);
        CHECK(std::all_of(answers.begin(), answers.end(),
                          [](const auto& a) { return a.second == 1; }));
        CHECK(count(c, "SELECT count(*) FROM revisions WHERE device_id = $1", device) ==
              static_cast<std::int64_t>(total));
        CHECK(count(c, "SELECT count(DISTINCT seq) FROM revisions WHERE device_id = $1", device) ==
              static_cast<std::int64_t>(total));
        CHECK(count(c, "SELECT received_through FROM devices WHERE device_id = $1", device) ==
              static_cast<std::int64_t>(total));
        CHECK(count(c, "SELECT count(*) FROM records WHERE first_device = $1", device) ==
              static_cast<std::int64_t>(total));
        CHECK(count(c, "SELECT waiting FROM devices WHERE device_id = $1", device) == 0);
    }
    auto stats = first->stats();
    REQUIRE(stats);
    CHECK(stats->revisions == kDevices * static_cast<std::int64_t>(total));
    CHECK(stats->records == kDevices * static_cast<std::int64_t>(total));
    CHECK(stats->conflicts == 0);
}

TEST_CASE(
    "postgres: one record changed on two devices at once through two processes is one "
    "conflict, and the newer revision is current") {
    const std::string db = test::sharedPgCluster().createDatabase();
    const std::int64_t now = SystemClock::instance().nowMillis();
    const auto devices = makeCollector(db, 2, now);
    auto first = openProcess(db);
    auto second = openProcess(db);
    constexpr int kRecords = 60;
    std::vector<Uuid> records;
    for (int i = 0; i < kRecords; ++i)
        records.push_back(makeUuidV7(SystemClock::instance()));

    // Device A's revisions are older than device B's (counter 1 against 2); neither saw the
    // other. Each pushes its records in batches of 10, A in id order and B backwards, so that
    // the two processes meet on the same rows in both orders.
    std::atomic<int> failed{0};
    const auto pushAll = [&](RecordsProcess& process, std::size_t device, bool backwards,
                             std::uint32_t counter) {
        std::vector<Uuid> order = records;
        if (backwards) std::reverse(order.begin(), order.end());
        std::uint64_t seq = 0;
        for (std::size_t at = 0; at < order.size(); at += 10) {
            sync::PushBatch batch;
            batch.deviceId = devices[device];
            for (std::size_t i = at; i < at + 10; ++i)
                batch.revisions.push_back(revision(++seq, order[i], hlcNow(now, counter)));
            auto reply = process.push(batch.deviceId, batch, now);
            if (!reply || reply->receivedThrough != seq) ++failed;
        }
    };
    std::thread a([&] { pushAll(*first, 0, false, 1); });
    std::thread b([&] { pushAll(*second, 1, true, 2); });
    a.join();
    b.join();
    REQUIRE(failed == 0);

    auto conflicts = first->conflicts();
    REQUIRE(conflicts);
    CHECK(conflicts->size() == kRecords);
    std::set<Uuid> conflicted;
    for (const auto& c : conflicts.value())
        conflicted.insert(c.recordId);
    CHECK(conflicted.size() == kRecords);
    for (const auto& id : records) {
        auto current = second->current(id);
        REQUIRE(current);
        REQUIRE(current->has_value());
        CHECK((*current)->deviceId == devices[1]);
        auto revisions = second->revisionsOf(id);
        REQUIRE(revisions);
        CHECK(revisions->size() == 2);
    }

    // Staff settle one through either process; the other sees it settled.
    const auto id = conflicts->front().id;
    sync::ConflictResolution keepA;
    keepA.kind = sync::ConflictResolution::Kind::Close;
    REQUIRE(first->resolveConflict(id, keepA, now, "staff"));
    auto again = second->resolveConflict(id, keepA, now, "staff");
    REQUIRE(!again);
    CHECK(again.error().code == ErrorCode::WrongState);
    CHECK(second->conflicts()->size() == kRecords - 1);
}

TEST_CASE("postgres: an export that runs while pushes go on sees one snapshot in every pass") {
    const std::string db = test::sharedPgCluster().createDatabase();
    const std::int64_t now = SystemClock::instance().nowMillis();
    const auto devices = makeCollector(db, 1, now);
    auto exporter = openProcess(db);
    auto intake = openProcess(db);
    std::uint64_t seq = 0;
    const auto pushSome = [&](int n) {
        sync::PushBatch batch;
        batch.deviceId = devices[0];
        for (int i = 0; i < n; ++i) {
            ++seq;
            batch.revisions.push_back(revision(seq, makeUuidV7(SystemClock::instance()),
                                               hlcNow(now, static_cast<std::uint32_t>(seq))));
        }
        auto reply = intake->push(batch.deviceId, batch, now);
        REQUIRE(reply);
        REQUIRE(reply->receivedThrough == seq);
    };
    pushSome(300);

    sync::RecordQuery query;
    query.formId = "survey";
    std::vector<std::vector<Uuid>> seen(3);
    int pass = -1;
    std::atomic<bool> stop{false};
    // Pushes go on in another thread, through another process, the whole time.
    std::atomic<int> pushedMeanwhile{0};
    std::thread pusher([&] {
        std::uint64_t s = 0;
        auto c = pg::Connection::open({db, {}});
        const Uuid device = makeUuidV4();
        const bool enrolled =
            c.ok() &&
            c->run(
                 "INSERT INTO devices (device_id, credential_hash, enrolled_utc_ms) VALUES "
                 "($1, $2, $3)",
                 pg::Params().add(device).addBytes(std::vector<std::uint8_t>(32, 1)).add(now))
                .ok();
        while (enrolled && !stop) {
            sync::PushBatch batch;
            batch.deviceId = device;
            for (int i = 0; i < 20; ++i) {
                ++s;
                batch.revisions.push_back(revision(s, makeUuidV7(SystemClock::instance()),
                                                   hlcNow(now, static_cast<std::uint32_t>(s))));
            }
            if (intake->push(device, batch, now)) pushedMeanwhile += 20;
        }
    });
    const auto status = exporter->forEachRecord(
        query, 3,
        [&](int p) -> Status {
            pass = p;
            // Between passes, more records arrive and commit before the next pass starts.
            const int before = pushedMeanwhile;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (pushedMeanwhile < before + 40) {
                if (std::chrono::steady_clock::now() > deadline)
                    return makeError(ErrorCode::Internal, "no pushes went on during the export");
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            return {};
        },
        [&](const sync::CurrentRecord& r) -> Status {
            seen[static_cast<std::size_t>(pass)].push_back(r.recordId);
            return {};
        });
    stop = true;
    pusher.join();
    REQUIRE(status);
    CHECK(pushedMeanwhile >= 120);
    REQUIRE(seen[0].size() >= 300);
    CHECK(seen[1] == seen[0]);
    CHECK(seen[2] == seen[0]);
    CHECK(std::is_sorted(seen[0].begin(), seen[0].end()));
    // Afterwards, the records pushed meanwhile are there.
    auto counted = exporter->countRecords(query);
    REQUIRE(counted);
    CHECK(*counted >= static_cast<std::int64_t>(seen[0].size()) + 120);
}
