// A simulated experiment, end to end: devices enrol participants offline into a stratified study,
// take allocations from the sealed blocks they hold, and sync at random moments through a proxy
// that tears connections. Afterwards every participant has exactly one allocation, the
// collector's log verifies against the sequence regenerated from the seed, and every stratum is
// within one block of its target.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>

#include "support/proxy.hpp"
#include "support/sync_support.hpp"

using namespace veld;

namespace {

bool outOfSlots(const Error& e) {
    return e.code == ErrorCode::WrongState &&
           e.message.find("no allocation left") != std::string::npos;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name) {
    const auto at = std::find(header.begin(), header.end(), name);
    REQUIRE_MESSAGE(at != header.end(), "no column " << name);
    return static_cast<std::size_t>(at - header.begin());
}

}  // namespace

TEST_CASE("an experiment: five offline devices enrol 2,000 participants in six strata") {
    constexpr std::size_t kDevices = 5;
    constexpr int kParticipants = 2000;
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::publishPilotForms(collector);
    const std::string studyFile = dir.file("ips.json");
    std::ofstream(studyFile) << test::kIpsStudyJson;
    auto defined = test::veldctl({"study", "define", collector.storePath(), studyFile});
    REQUIRE_MESSAGE(defined.exitCode == 0, defined.err);
    collector.start({"--auth-failures", "0", "--rate-limit", "0"});

    const std::uint32_t seed = std::random_device{}();
    CAPTURE(seed);
    std::mt19937 random(seed);
    test::CuttingProxy proxy(collector.port(), seed, 0.3);

    struct Device {
        std::string path;
        sync::Connection connection;
        std::vector<Uuid> cases;
        int refills = 0;
    };
    std::vector<Device> devices(kDevices);
    sync::SyncOptions options;
    options.maxBatchRecords = 40;
    for (std::size_t d = 0; d < kDevices; ++d) {
        devices[d].path = dir.file("device" + std::to_string(d) + ".veld");
        auto store = test::openDevice(devices[d].path);
        devices[d].connection = test::enrolDevice(store, collector);
        devices[d].connection.collector = "http://127.0.0.1:" + std::to_string(proxy.port());
        // The first round brings the forms, the study and the first blocks.
        REQUIRE(test::syncUntilDone(store, devices[d].connection, options, 200) >= 0);
        auto stock = store.allocationStock();
        REQUIRE(stock);
        REQUIRE(stock->size() == 6);
        for (const auto& s : stock.value())
            CHECK(s.remaining > 0);
    }

    // Participants come in at random devices, unevenly over the strata (one municipality is
    // small); devices sync now and then, and whenever a stratum has run out.
    const std::vector<std::string> municipalities{"utrecht", "amersfoort", "nieuwegein"};
    std::discrete_distribution<int> whereFrom{5, 3, 1};
    std::uniform_int_distribution<std::size_t> whichDevice(0, kDevices - 1);
    std::bernoulli_distribution female(0.45);
    std::bernoulli_distribution syncNow(1.0 / 60);
    SystemClock clock;
    std::map<std::string, std::string> strataOf;  // case id -> stratum
    int tornRounds = 0;
    std::vector<Store> stores;
    for (const auto& d : devices)
        stores.push_back(test::openDevice(d.path));
    for (int p = 0; p < kParticipants; ++p) {
        const std::size_t d = whichDevice(random);
        Device& device = devices[d];
        Store& store = stores[d];
        const std::string municipality =
            municipalities[static_cast<std::size_t>(whereFrom(random))];
        const std::string gender = female(random) ? "vrouw" : "man";
        const Uuid caseId = makeUuidV7(clock);
        char digest[80];
        std::snprintf(digest, sizeof digest, "demo:%064x", static_cast<unsigned>(p));
        const auto content = test::ipsIntake(caseId, municipality, gender, digest);
        auto done = store.finalizeNew(content);
        for (int attempt = 0; !done && outOfSlots(done.error()); ++attempt) {
            REQUIRE(attempt < 50);
            ++device.refills;
            if (!sync::syncOnce(store, device.connection, options)) ++tornRounds;
            done = store.finalizeNew(content);
        }
        REQUIRE_MESSAGE(done, done.error().describe());
        device.cases.push_back(caseId);
        strataOf[caseId.toString()] = content.allocate->stratum;
        if (syncNow(random) && !sync::syncOnce(store, device.connection, options)) ++tornRounds;
    }
    for (std::size_t d = 0; d < kDevices; ++d)
        REQUIRE(test::syncUntilDone(stores[d], devices[d].connection, options, 500) >= 0);
    MESSAGE("rounds torn " << tornRounds << ", requests cut " << proxy.cutsUp() << ", replies cut "
                           << proxy.cutsDown());
    CHECK(proxy.cutsUp() + proxy.cutsDown() > 10);

    // On each device: one log entry per participant enrolled there, numbered without gaps, each
    // in the record that enrolled them.
    std::set<std::string> allocatedCases;
    for (std::size_t d = 0; d < kDevices; ++d) {
        auto log = stores[d].allocationLog();
        REQUIRE(log);
        REQUIRE(log->size() == devices[d].cases.size());
        for (std::size_t i = 0; i < log->size(); ++i) {
            const auto& entry = log.value()[i];
            CHECK(entry.allocation.logSeq == i + 1);
            CHECK(allocatedCases.insert(entry.caseId.toString()).second);
            auto record = stores[d].get(entry.recordId);
            REQUIRE(record);
            REQUIRE(record->record.content.allocation);
            CHECK(*record->record.content.allocation == entry.allocation);
            auto info = stores[d].caseInfo(entry.caseId);
            REQUIRE(info);
            CHECK(info->property("arm") == entry.allocation.arm);
        }
        auto state = stores[d].outboxState();
        REQUIRE(state);
        CHECK(state->pending == 0);
    }
    CHECK(allocatedCases.size() == static_cast<std::size_t>(kParticipants));

    // At the collector: the log verifies against the sequence regenerated from the seed.
    auto verified = test::veldctl({"study", "verify", collector.storePath(), "ips"});
    CHECK_MESSAGE(verified.exitCode == 0, verified.out << verified.err);

    // The exported log: every participant exactly once, with the stratum they were enrolled in.
    const std::string csvFile = dir.file("log.csv");
    auto exported = test::veldctl({"study", "log", collector.storePath(), "ips", "--out", csvFile});
    REQUIRE_MESSAGE(exported.exitCode == 0, exported.err);
    const auto rows = test::parseCsv(test::readFile(csvFile));
    REQUIRE(rows.size() == static_cast<std::size_t>(kParticipants) + 1);
    const auto caseCol = column(rows[0], "case_id");
    const auto stratumCol = column(rows[0], "stratum");
    const auto armCol = column(rows[0], "arm");
    std::map<std::string, std::map<std::string, int>> perStratum;
    std::set<std::string> seen;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        const auto& row = rows[i];
        CHECK(seen.insert(row[caseCol]).second);
        CHECK(strataOf[row[caseCol]] == row[stratumCol]);
        ++perStratum[row[stratumCol]][row[armCol]];
    }
    CHECK(seen == allocatedCases);

    // Balance: each stratum's arms within one block (the largest, 6) of the 1:1 target.
    REQUIRE(perStratum.size() == 6);
    for (const auto& entry : perStratum) {
        const auto& stratum = entry.first;
        const auto& arms = entry.second;
        const int total = arms.count("ips") ? arms.at("ips") : 0;
        const int control = arms.count("usual_care") ? arms.at("usual_care") : 0;
        const double target = (total + control) / 2.0;
        CAPTURE(stratum);
        CAPTURE(total);
        CAPTURE(control);
        CHECK(std::abs(total - target) <= 6.0);
        CHECK(std::abs(control - target) <= 6.0);
    }
    auto balance = test::veldctl({"study", "balance", collector.storePath(), "ips"});
    CHECK_MESSAGE(balance.exitCode == 0, balance.err);
    std::int64_t refills = 0;
    for (const auto& d : devices)
        refills += d.refills;
    MESSAGE("enrolments that waited for a sync: " << refills);
}
