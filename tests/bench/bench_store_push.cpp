// veld-bench-store-push: the collector's store alone (no HTTP), as the server's workers use it:
// 100 devices (threads) each pushing batches of 100 revisions at once, into the embedded SQLite
// store and into a PostgreSQL 15 store (a cluster of its own, started here from Debian's
// packages). Figures: records/s and the p50/p99 time of one batch's push, per backend; the
// PostgreSQL figure as a ratio of SQLite's.
//
//   veld-bench-store-push [--quick] [--devices N] [--batches N] [--connections N]
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <veld/clock.hpp>
#include <veld/sync/collector_store.hpp>

#include "../support/pg_cluster.hpp"
#include "bench_output.hpp"

namespace veld::bench {
namespace {

struct Settings {
    int devices = 100;
    int batches = 20;
    int batchRecords = 100;
    int connections = 16;
};

struct Outcome {
    double recordsPerSecond = 0;
    double p50Ms = 0;
    double p99Ms = 0;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    return v[at];
}

Outcome run(sync::CollectorStore& store, const Settings& s) {
    const std::int64_t now = SystemClock::instance().nowMillis();
    std::vector<Uuid> devices;
    for (int d = 0; d < s.devices; ++d) {
        sync::EnrolRequest request;
        request.code = must(store.createEnrolCode("bench", now, "bench"), "enrolment code");
        request.deviceId = makeUuidV4();
        must(store.enrol(request, now), "enrolment");
        devices.push_back(request.deviceId);
    }
    // The batches, made before the clock starts: bodies of 400 bytes, new records.
    std::vector<std::vector<sync::PushBatch>> batches(devices.size());
    for (std::size_t d = 0; d < devices.size(); ++d) {
        std::uint64_t seq = 0;
        for (int b = 0; b < s.batches; ++b) {
            sync::PushBatch batch;
            batch.deviceId = devices[d];
            for (int r = 0; r < s.batchRecords; ++r) {
                sync::PushRevision rev;
                rev.seq = ++seq;
                rev.recordId = makeUuidV7(SystemClock::instance());
                rev.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(now),
                                             static_cast<std::uint32_t>(seq & 0xffff));
                rev.body.assign(400, static_cast<std::uint8_t>(seq));
                rev.formId = "survey";
                rev.formVersion = 1;
                batch.revisions.push_back(std::move(rev));
            }
            batches[d].push_back(std::move(batch));
        }
    }
    std::vector<std::vector<double>> latencies(devices.size());
    std::atomic<int> failures{0};
    std::barrier start(static_cast<std::ptrdiff_t>(devices.size()) + 1);
    std::vector<std::thread> threads;
    for (std::size_t d = 0; d < devices.size(); ++d) {
        threads.emplace_back([&, d] {
            start.arrive_and_wait();
            for (const auto& batch : batches[d]) {
                const auto t0 = Clock::now();
                auto reply = store.push(batch.deviceId, batch, now);
                latencies[d].push_back(secondsSince(t0) * 1000);
                if (!reply || reply->receivedThrough != batch.revisions.back().seq) ++failures;
            }
        });
    }
    start.arrive_and_wait();
    const auto t0 = Clock::now();
    for (auto& t : threads)
        t.join();
    const double seconds = secondsSince(t0);
    if (failures > 0) throw std::runtime_error("pushes failed");
    std::vector<double> all;
    for (const auto& l : latencies)
        all.insert(all.end(), l.begin(), l.end());
    Outcome out;
    out.recordsPerSecond =
        static_cast<double>(s.devices) * s.batches * s.batchRecords / std::max(seconds, 1e-9);
    out.p50Ms = percentile(all, 0.50);
    out.p99Ms = percentile(all, 0.99);
    return out;
}

int main(int argc, char** argv) {
    Settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&]() -> int {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a number");
            return std::max(1, std::atoi(argv[++i]));
        };
        if (a == "--quick") {
            s.devices = 10;
            s.batches = 3;
        } else if (a == "--devices") {
            s.devices = next();
        } else if (a == "--batches") {
            s.batches = next();
        } else if (a == "--connections") {
            s.connections = next();
        } else {
            std::fprintf(stderr,
                         "usage: veld-bench-store-push [--quick] [--devices N] [--batches N] "
                         "[--connections N]\n");
            return 2;
        }
    }
    const std::string tag = std::to_string(s.devices) + "_devices";
    Outcome sqlite;
    {
        TempDir dir("veld-bench-store-push");
        auto store =
            must(sync::openSqliteCollector(dir.path() + "/collector.db", true), "collector store");
        sqlite = run(*store, s);
    }
    printBaseline("store_push_sqlite_" + tag, sqlite.recordsPerSecond, "records/s");
    printFigure("store_push_sqlite_" + tag + "_p99", sqlite.p99Ms, "ms", sqlite.p50Ms,
                "store_push_sqlite_" + tag + "_p50");
    Outcome postgres;
    {
        test::PgCluster cluster;
        // The test cluster skips fsync; the SQLite store syncs every commit (synchronous =
        // FULL), and so must the server measured against it.
        cluster.execute("ALTER SYSTEM SET fsync = on");
        cluster.execute("ALTER SYSTEM SET full_page_writes = on");
        cluster.restart();
        sync::PostgresSettings settings;
        settings.uri = cluster.createDatabase();
        settings.connections = s.connections;
        auto store = must(sync::openPostgresCollector(settings, true), "PostgreSQL store");
        postgres = run(*store, s);
    }
    printFigure("store_push_postgres_" + tag, postgres.recordsPerSecond, "records/s",
                sqlite.recordsPerSecond, "store_push_sqlite_" + tag);
    printFigure("store_push_postgres_" + tag + "_p99", postgres.p99Ms, "ms", postgres.p50Ms,
                "store_push_postgres_" + tag + "_p50");
    return 0;
}

}  // namespace
}  // namespace veld::bench

int main(int argc, char** argv) {
    try {
        return veld::bench::main(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "veld-bench-store-push: %s\n", e.what());
        return 1;
    }
}
