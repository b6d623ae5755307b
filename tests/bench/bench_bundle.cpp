// veld-bench-bundle: what sync by USB stick costs next to a push of the same records. Two devices,
// each with N finalized records (20,000 by default), deliver them to one embedded SQLite
// collector store in this process, so that only the path differs:
// - baseline: the first device's outbox pushed as the uploader sends it (batches of at most 500
//   records or 1 MiB, each encoded, decoded and pushed with CollectorStore::push, then
//   acknowledged on the device), and the size of those push messages;
// - figure: the second device's outbox as bundles: each bundle written to a file (sealed and
//   signed), imported at the collector from the file (checked, opened, pushed, the reply sealed
//   and signed), the reply read back and imported on the device (its receipts checked), until
//   nothing waits; and the bundle files' size.
// Figures: records/s of each path, and bytes per record.
//
//   veld-bench-bundle [--records N] [--quick]
//
// Output on stdout, one line per figure (bench_output.hpp); progress on stderr. Exit status 1 on
// any error, 2 on a bad command line.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <veld/clock.hpp>
#include <veld/device_identity.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>
#include <veld/sync/bundle.hpp>
#include <veld/sync/bundle_import.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/device_bundle.hpp>
#include <veld/sync/device_replies.hpp>
#include <veld/sync/protocol.hpp>

#include "bench_output.hpp"

namespace veld::bench {
namespace {

std::int64_t nowMs() {
    return SystemClock::instance().nowMillis();
}

// A record like a short interview's: a dozen answers of the common types.
RecordContent sample(int n) {
    RecordContent c;
    c.formId = "ips_intake";
    c.formVersion = 1;
    c.answers.push_back({"age", std::int64_t{18 + n % 50}});
    c.answers.push_back({"municipality", ChoiceAnswer{n % 2 ? "utrecht" : "amersfoort", {}}});
    c.answers.push_back({"gender", ChoiceAnswer{n % 3 ? "vrouw" : "man", {}}});
    c.answers.push_back({"consent", true});
    c.answers.push_back({"intake_date", DateAnswer{20000 + n % 2000}});
    c.answers.push_back({"hours_per_week", DecimalAnswer{12.5, "12.5"}});
    c.answers.push_back({"languages", ChoicesAnswer{{"nl", "ar"}, ""}});
    c.answers.push_back({"work_goal", std::string("Werk in de zorg, parttime, dicht bij huis")});
    c.answers.push_back({"notes", std::string("Gesprek " + std::to_string(n) +
                                              ": wil eerst taalles, daarna een werkplek.")});
    c.answers.push_back({"contacts", std::int64_t{n % 7}});
    c.answers.push_back({"next_visit", DateAnswer{20014 + n % 2000}});
    c.answers.push_back({"signed", true});
    return c;
}

// A device store with `records` finalized records, enrolled with `collector` in this process
// (the enrolment a network round would make).
Store enrolledDevice(sync::CollectorStore& collector, const std::string& path, int records) {
    Store device =
        must(Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate}), "opening " + path);
    const std::string code = must(collector.createEnrolCode("bench", nowMs(), "bench"), "code");
    sync::EnrolRequest request;
    request.code = code;
    request.deviceId = device.deviceId();
    const auto key = must(identity::ensureDeviceKey(device), "device key");
    request.devicePublicKey.assign(key.begin(), key.end());
    auto reply = must(collector.enrol(request, nowMs()), "enrolment");
    reply.collectorKey = collector.collectorSigningPublicKey();  // as the server's answer has it
    if (auto s = sync::keepEnrolment(device, reply, "http://127.0.0.1:1"); !s)
        throw std::runtime_error("keeping the enrolment: " + s.error().describe());
    auto batch = must(device.beginBatch(), "a batch");
    for (int i = 0; i < records; ++i)
        (void)must(device.finalizeNew(sample(i)), "finalizing");
    if (auto s = batch.commit(); !s) throw std::runtime_error(s.error().describe());
    return device;
}

std::int64_t waiting(Store& device) {
    return must(device.outboxState(), "outbox").pending;
}

struct Run {
    double seconds = 0;
    std::size_t bytes = 0;
};

Run pushAll(sync::CollectorStore& collector, Store& device) {
    Run run;
    const auto start = Clock::now();
    for (;;) {
        auto batch = must(device.outboxPending(500, 1u << 20, 0), "outbox");
        if (batch.empty()) break;
        const auto body = sync::encodePushRequest(device.deviceId(), batch, 0);
        run.bytes += body.size();
        const auto decoded = must(sync::decodePushRequest(body), "decoding a push");
        const auto reply = must(collector.push(device.deviceId(), decoded, nowMs()), "push");
        const auto through =
            must(sync::acknowledgedThrough(reply, batch.front().seq, batch.back().seq), "reply");
        if (auto s = device.acknowledgeThrough(through); !s)
            throw std::runtime_error("acknowledging: " + s.error().describe());
    }
    run.seconds = secondsSince(start);
    return run;
}

std::vector<std::uint8_t> readAll(const std::string& path) {
    return must(sync::bundle::readFile(path), "reading " + path);
}

Run bundleAll(sync::CollectorStore& collector, Store& device, const TempDir& dir) {
    Run run;
    const auto start = Clock::now();
    for (int round = 1; waiting(device) > 0; ++round) {
        const std::string path = dir.file("device-" + std::to_string(round) + ".veldbundle");
        const auto exported = must(sync::exportBundle(device, path, nowMs()), "bundle export");
        run.bytes += exported.bytes;
        const auto imported =
            must(sync::importBundle(collector, readAll(path), nowMs(), "bench"), "bundle import");
        const std::string replyPath = dir.file("device-" + std::to_string(round) + ".veldreply");
        if (auto s = sync::bundle::writeFile(replyPath, imported.reply); !s)
            throw std::runtime_error("writing the reply: " + s.error().describe());
        const auto applied = must(sync::importReply(device, readAll(replyPath)), "reply import");
        if (applied.acknowledged == 0) throw std::runtime_error("a reply acknowledged nothing");
    }
    run.seconds = secondsSince(start);
    return run;
}

int runBench(int records) {
    TempDir dir("veld-bench-bundle");
    auto collector =
        must(sync::openSqliteCollector(dir.file("collector.db"), true), "opening the collector");
    std::fprintf(stderr, "veld-bench-bundle: making 2 x %d records\n", records);
    Store pushed = enrolledDevice(*collector, dir.file("pushed.veld"), records);
    Store bundled = enrolledDevice(*collector, dir.file("bundled.veld"), records);
    const std::string tag = sizeTag(records);

    std::fprintf(stderr, "veld-bench-bundle: pushing\n");
    const Run push = pushAll(*collector, pushed);
    std::fprintf(stderr, "veld-bench-bundle: by bundles\n");
    const Run bundle = bundleAll(*collector, bundled, dir);
    if (waiting(pushed) != 0 || waiting(bundled) != 0)
        throw std::runtime_error("records were left in an outbox");
    const auto held = must(collector->stats(), "stats").records;
    if (held != 2 * static_cast<std::int64_t>(records))
        throw std::runtime_error("the collector holds " + std::to_string(held) + " records");

    const double perRecord = static_cast<double>(records);
    printBaseline("push_in_process_" + tag, perRecord / push.seconds, "records/s");
    printFigure("bundle_round_trip_" + tag, perRecord / bundle.seconds, "records/s",
                perRecord / push.seconds, "push_in_process_" + tag);
    printBaseline("push_bytes_per_record", static_cast<double>(push.bytes) / perRecord, "B");
    printFigure("bundle_bytes_per_record", static_cast<double>(bundle.bytes) / perRecord, "B",
                static_cast<double>(push.bytes) / perRecord, "push_bytes_per_record");
    return 0;
}

}  // namespace
}  // namespace veld::bench

int main(int argc, char** argv) {
    int records = 20'000;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            records = 300;
        } else if (a == "--records" && i + 1 < argc) {
            records = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: veld-bench-bundle [--records N] [--quick]\n");
            return 2;
        }
    }
    if (records <= 0) {
        std::fprintf(stderr, "veld-bench-bundle: --records takes a positive number\n");
        return 2;
    }
    try {
        return veld::bench::runBench(records);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "veld-bench-bundle: %s\n", e.what());
        return 1;
    }
}
