// /metrics and /healthz of a real collector: the metrics read by Prometheus' own text parser
// (Debian's python3-prometheus-client) move by exactly what devices and the test did, and only
// the machine itself, --metrics-from and staff may read them.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

#include <veld/sync/collector_store.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"
#include "support/webhook_receiver.hpp"

using namespace veld;

namespace {

// Every sample as "name<TAB>labels<TAB>value", labels as k=v sorted and joined by commas, and
// every family as "#<TAB>name<TAB>type". The parser raises on anything malformed.
constexpr const char* kParser = R"py(
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding='utf-8').read()
for family in text_string_to_metric_families(text):
    print('#', family.name, family.type, sep='\t')
    for s in family.samples:
        labels = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))
        print(s.name, labels, repr(float(s.value)), sep='\t')
)py";

struct Scrape {
    std::map<std::string, double> samples;     // "name{labels}" -> value
    std::map<std::string, std::string> types;  // family -> type
    std::size_t bytes = 0;
    [[nodiscard]] double at(const std::string& key) const {
        auto it = samples.find(key);
        return it == samples.end() ? 0.0 : it->second;
    }
};

std::string get(const std::string& path, const std::string& extraHeaders = {}) {
    return "GET " + path + " HTTP/1.1\r\nHost: collector\r\n" + extraHeaders +
           "Connection: close\r\n\r\n";
}

Scrape scrape(const test::CollectorProcess& collector, const test::TempDir& dir) {
    const auto reply = test::httpExchange(collector.port(), get("/metrics"));
    REQUIRE(reply.status == 200);
    REQUIRE(reply.head.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    const std::string text = dir.file("metrics.txt");
    std::ofstream(text, std::ios::trunc) << reply.body;
    const std::string script = dir.file("parse.py");
    if (!std::filesystem::exists(script)) std::ofstream(script) << kParser;
    const auto parsed = test::runProcess({"/usr/bin/python3", script, text});
    REQUIRE_MESSAGE(parsed.exitCode == 0, parsed.err);
    Scrape s;
    s.bytes = reply.body.size();
    std::istringstream in(parsed.out);
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::stringstream fields(line);
        std::string part;
        while (std::getline(fields, part, '\t'))
            f.push_back(part);
        if (f.size() == 3 && f[0] == "#") {
            s.types[f[1]] = f[2];
        } else if (f.size() == 3) {
            s.samples[f[0] + "{" + f[1] + "}"] = std::stod(f[2]);
        } else if (f.size() == 2) {
            s.samples[f[0] + "{}"] = std::stod(f[1]);
        }
    }
    return s;
}

// The buckets of a histogram, in the order of their bounds (+Inf last).
std::vector<double> buckets(const Scrape& s, const std::string& name) {
    std::vector<std::pair<double, double>> out;
    const std::string prefix = name + "_bucket{le=";
    for (const auto& [key, value] : s.samples) {
        if (key.rfind(prefix, 0) != 0) continue;
        const std::string le = key.substr(prefix.size(), key.size() - prefix.size() - 1);
        out.emplace_back(le == "+Inf" ? 1e300 : std::stod(le), value);
    }
    std::sort(out.begin(), out.end());
    std::vector<double> values;
    for (const auto& b : out)
        values.push_back(b.second);
    return values;
}

}  // namespace

TEST_CASE("/metrics, read by Prometheus' parser, counts what devices and clients did") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const Scrape before = scrape(collector, dir);
    CHECK(before.types.at("veld_collector_requests") == "counter");
    CHECK(before.types.at("veld_collector_revisions_received") == "counter");
    CHECK(before.types.at("veld_collector_push_duration_seconds") == "histogram");
    CHECK(before.types.at("veld_collector_group_commit_revisions") == "histogram");
    CHECK(before.types.at("veld_collector_open_connections") == "gauge");
    CHECK(before.types.at("veld_collector_export_jobs") == "gauge");
    CHECK(before.types.at("process_start_time_seconds") == "gauge");
    CHECK(before.at("process_start_time_seconds{}") > 1.7e9);
    CHECK(before.at("veld_collector_export_jobs{state=running}") == 0);

    // Three devices push 25, 10 and 7 records, in pushes of at most 4; one pushes again with
    // nothing new; the test asks /healthz three times and an unknown path twice.
    constexpr int kRecords[] = {25, 10, 7};
    int pushes = 0;
    int records = 0;
    for (int i = 0; i < 3; ++i) {
        auto device = test::openDevice(dir.file("device" + std::to_string(i) + ".veld"));
        auto connection = test::enrolDevice(device, collector);
        test::addFinalized(device, kRecords[i], i * 100);
        sync::SyncOptions options;
        options.maxBatchRecords = 4;
        auto round = sync::syncOnce(device, connection, options);
        REQUIRE_MESSAGE(round, round.error().describe());
        CHECK(round->recordsSent == kRecords[i]);
        pushes += (kRecords[i] + 3) / 4;
        records += kRecords[i];
        REQUIRE(sync::syncOnce(device, connection, options));  // nothing waits: no push
    }
    for (int i = 0; i < 3; ++i)
        CHECK(test::httpExchange(collector.port(), get("/healthz")).status == 200);
    for (int i = 0; i < 2; ++i)
        CHECK(test::httpExchange(collector.port(), get("/no/such/" + std::to_string(i))).status ==
              404);

    const Scrape after = scrape(collector, dir);
    MESSAGE("/metrics answer: " << after.bytes << " bytes");
    auto grew = [&](const std::string& key) { return after.at(key) - before.at(key); };
    CHECK(grew("veld_collector_requests_total{code=200,route=/v1/push}") == pushes);
    CHECK(grew("veld_collector_requests_total{code=200,route=/v1/enrol}") == 3);
    CHECK(grew("veld_collector_requests_total{code=200,route=/v1/pull}") >= 6);
    CHECK(grew("veld_collector_requests_total{code=200,route=/healthz}") == 3);
    // Unknown paths are counted under one label, never by their raw path.
    CHECK(grew("veld_collector_requests_total{code=404,route=other}") == 2);
    for (const auto& [key, value] : after.samples)
        CHECK(key.find("/no/such") == std::string::npos);
    // The scrape before this one was counted once it was answered.
    CHECK(after.at("veld_collector_requests_total{code=200,route=/metrics}") >= 1);

    CHECK(grew("veld_collector_revisions_received_total{outcome=stored}") == records);
    CHECK(grew("veld_collector_revisions_received_total{outcome=duplicate}") == 0);
    CHECK(grew("veld_collector_revisions_received_total{outcome=rejected}") == 0);

    CHECK(grew("veld_collector_push_duration_seconds_count{}") == pushes);
    CHECK(after.at("veld_collector_push_duration_seconds_sum{}") > 0);
    for (const char* name :
         {"veld_collector_push_duration_seconds", "veld_collector_group_commit_revisions"}) {
        CAPTURE(name);
        const auto b = buckets(after, name);
        REQUIRE(b.size() >= 10);
        for (std::size_t i = 1; i < b.size(); ++i)
            CHECK(b[i] >= b[i - 1]);  // cumulative
        CHECK(b.back() == after.at(std::string(name) + "_count{}"));
    }
    // Every stored revision was in exactly one commit; a commit stored at most one push of 4
    // (bucket 5) here (devices pushed one after another), and at least one.
    CHECK(grew("veld_collector_group_commit_revisions_sum{}") == records);
    CHECK(grew("veld_collector_group_commit_revisions_count{}") == pushes);
    CHECK(after.at("veld_collector_group_commit_revisions_bucket{le=5}") ==
          after.at("veld_collector_group_commit_revisions_count{}"));
    // The scrape's own connection is open while it is answered.
    CHECK(after.at("veld_collector_open_connections{}") >= 1);
    // No credential, device id or answer in any label.
    const std::string body = test::readFile(dir.file("metrics.txt"));
    CHECK(body.find("Kind ") == std::string::npos);
    CHECK(body.find("veld-admin") == std::string::npos);
}

TEST_CASE("/metrics counts webhook deliveries: delivered, failed attempts and those waiting") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::WebhookReceiver receiver;
    receiver.refuse(true);
    const auto added = test::veldctl({"collector", "webhook", "add", collector.storePath(),
                                      "http://127.0.0.1:" + std::to_string(receiver.port()) + "/m",
                                      "--events", "record.received"});
    REQUIRE_MESSAGE(added.exitCode == 0, added.err);
    collector.start({"--webhook-retry-ms", "100"});
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    test::addFinalized(device, 2);
    REQUIRE(test::syncUntilDone(device, connection, {}, 3) >= 0);
    // Refused three times: the first two attempts are counted by now (the third may still be
    // on its way back).
    REQUIRE(receiver.waitFor([](const auto& posts) { return posts.size() >= 3; }, 20000));

    const auto refused = scrape(collector, dir);
    CHECK(refused.types.at("veld_collector_webhook_deliveries") == "counter");
    CHECK(refused.types.at("veld_collector_webhook_undelivered") == "gauge");
    CHECK(refused.at("veld_collector_webhook_deliveries_total{outcome=failed}") >= 2);
    CHECK(refused.at("veld_collector_webhook_deliveries_total{outcome=delivered}") == 0);

    receiver.refuse(false);
    Scrape after;
    for (int i = 0; i < 200; ++i) {
        after = scrape(collector, dir);
        if (after.at("veld_collector_webhook_deliveries_total{outcome=delivered}") == 2 &&
            after.at("veld_collector_webhook_undelivered{}") == 0)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(after.at("veld_collector_webhook_deliveries_total{outcome=delivered}") == 2);
    CHECK(after.at("veld_collector_webhook_undelivered{}") == 0);
    CHECK(after.at("veld_collector_webhook_deliveries_total{outcome=given_up}") == 0);
    CHECK(after.at("veld_collector_webhook_deliveries_total{outcome=failed}") >=
          refused.at("veld_collector_webhook_deliveries_total{outcome=failed}"));
}

TEST_CASE("/metrics from elsewhere needs a staff credential unless --metrics-from allows it") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    // 127.0.0.2 stands for a monitoring host allowed by configuration. A request forwarded by a
    // proxy on this machine (X-Forwarded-For) counts as coming from elsewhere.
    collector.start({"--metrics-from", "192.0.2.0/24, 127.0.0.2"});
    const std::string staff = test::addAdmin(collector, "monitor");
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    const std::string forwarded = "X-Forwarded-For: 198.51.100.7\r\n";

    const auto fromHere = test::httpExchange(collector.port(), get("/metrics"));
    CHECK(fromHere.status == 200);
    CHECK(fromHere.body.find("veld_collector_requests_total") != std::string::npos);

    const auto proxied = test::httpExchange(collector.port(), get("/metrics", forwarded));
    CHECK(proxied.status == 401);
    CHECK(proxied.body.find("veld_collector") == std::string::npos);
    CHECK(proxied.head.find("WWW-Authenticate: Bearer") != std::string::npos);

    const auto withDevice = test::httpExchange(
        collector.port(),
        get("/metrics", forwarded + "Authorization: Bearer " + connection.credential + "\r\n"));
    CHECK(withDevice.status == 401);
    CHECK(withDevice.body.find("veld_collector") == std::string::npos);

    const auto withStaff = test::httpExchange(
        collector.port(), get("/metrics", forwarded + "Authorization: Bearer " + staff + "\r\n"));
    CHECK(withStaff.status == 200);
    CHECK(withStaff.body.find("veld_collector_requests_total") != std::string::npos);

    REQUIRE(
        test::veldctl({"collector", "admin-revoke", collector.storePath(), "monitor"}).exitCode ==
        0);
    const auto revoked = test::httpExchange(
        collector.port(), get("/metrics", forwarded + "Authorization: Bearer " + staff + "\r\n"));
    CHECK(revoked.status == 403);
    CHECK(revoked.body.find("veld_collector") == std::string::npos);

    const auto allowed =
        test::httpExchange(collector.port(), get("/metrics", forwarded), 20000, "127.0.0.2");
    CHECK(allowed.status == 200);
    CHECK(allowed.body.find("veld_collector_requests_total") != std::string::npos);

    // /healthz is open to anyone and says nothing but that the store answers.
    const auto health = test::httpExchange(collector.port(), get("/healthz", forwarded));
    CHECK(health.status == 200);
    CHECK(health.body == "ok schema " + std::to_string(sync::kCollectorSchemaVersion) + "\n");

    // A bad range stops the collector at start, with the range named.
    REQUIRE(test::veldctl({"collector", "init", dir.file("other.db")}).exitCode == 0);
    const auto bad =
        test::runProcess({std::string(VELD_BIN_DIR) + "/veld-collector", "--store",
                          dir.file("other.db"), "--port", "0", "--metrics-from", "10.0.0.0/33"});
    CHECK(bad.exitCode == 1);
    CHECK(bad.err.find("'10.0.0.0/33'") != std::string::npos);
}

TEST_CASE("sqlite-file: /healthz answers 503 when the store under the collector is gone") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    collector.start();
    CHECK(test::httpExchange(collector.port(), get("/healthz")).status == 200);
    // The disk lost the file's contents under the running collector.
    std::filesystem::resize_file(collector.storePath(), 0);
    const auto reply = test::httpExchange(collector.port(), get("/healthz"));
    CHECK(reply.status == 503);
    CHECK(reply.body == "unavailable\n");
    CHECK(reply.head.find("Retry-After: 5") != std::string::npos);
}
