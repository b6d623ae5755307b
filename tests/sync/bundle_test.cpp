// Sync by USB stick, end to end: a device that is never online enrols, receives forms and
// allocation blocks, randomises participants and delivers its records by bundles only; bundles
// mixed with network pushes on a real collector; and every kind of bad bundle refused with its
// reason, nothing changed. The collector's side runs as veldctl collector import (a real process
// on the real collector store, SQLite or PostgreSQL); the device's through the sync library (as
// the client does) and veldctl bundle.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/sync/admin_client.hpp>
#include <veld/sync/bundle.hpp>
#include <veld/sync/device_bundle.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

// What the collector holds, to compare before and after a refused import.
struct Held {
    sync::CollectorStats stats;
    std::size_t audit = 0;
    std::vector<std::uint64_t> receivedThrough;
    bool operator==(const Held& o) const {
        return stats.devices == o.stats.devices && stats.records == o.stats.records &&
               stats.revisions == o.stats.revisions && stats.rejected == o.stats.rejected &&
               audit == o.audit && receivedThrough == o.receivedThrough;
    }
};

Held heldBy(const test::CollectorProcess& collector) {
    auto store = collector.open();
    Held out;
    out.stats = store->stats().value();
    out.audit = store->audit().value().size();
    const auto devices = store->devices();
    REQUIRE(devices);
    for (const auto& d : devices.value())
        out.receivedThrough.push_back(d.receivedThrough);
    return out;
}

test::ProcessResult importAtCollector(const test::CollectorProcess& collector,
                                      const std::string& bundle, const std::string& reply) {
    return test::veldctl(
        {"collector", "import", collector.storePath(), bundle, "--reply-out", reply});
}

// One round trip by file: the device writes its bundle, the collector imports it, the device
// imports the reply. Returns the reply's import.
sync::ReplyImport roundTrip(Store& device, const test::CollectorProcess& collector,
                            const test::TempDir& dir, const std::string& name) {
    const auto bundle = dir.file(name + ".veldbundle");
    const auto reply = dir.file(name + ".veldreply");
    auto exported = sync::exportBundle(device, bundle, SystemClock::instance().nowMillis());
    REQUIRE_MESSAGE(exported, exported.error().describe());
    const auto imported = importAtCollector(collector, bundle, reply);
    REQUIRE_MESSAGE(imported.exitCode == 0, imported.err);
    auto bytes = sync::bundle::readFile(reply);
    REQUIRE(bytes);
    auto applied = sync::importReply(device, bytes.value());
    REQUIRE_MESSAGE(applied, applied.error().describe());
    return applied.value();
}

std::string provisionOffline(const test::CollectorProcess& collector, const test::TempDir& dir,
                             const std::string& label) {
    const auto file = dir.file(label + ".veldenrol");
    const auto made = test::veldctl({"collector", "provision", collector.storePath(), "--label",
                                     label, "--offline", "-o", file});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    return file;
}

// Staff choose a project key: sealed forms' records are sealed to it on the device.
void useProjectKey(const test::CollectorProcess& collector, const test::TempDir& dir) {
    const std::string ring = dir.file("project.keys");
    const std::string phrase = dir.file("phrase");
    std::ofstream(phrase) << "a long enough passphrase\n";
    const auto made =
        test::veldctl({"keys", "new", ring, "--id", "k1", "--passphrase-file", phrase});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    const auto used = test::veldctl({"collector", "use-key", collector.storePath(), ring});
    REQUIRE_MESSAGE(used.exitCode == 0, used.err);
}

std::string pseudonymOf(int n) {
    char digest[80];
    std::snprintf(digest, sizeof digest, "demo:%064x", static_cast<unsigned>(n));
    return digest;
}

std::int64_t pending(Store& store) {
    auto state = store.outboxState();
    REQUIRE(state);
    return state->pending;
}

}  // namespace

TEST_CASE(
    "a device that is never online enrols, randomises and delivers 1,000 records by "
    "bundles only") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));  // never started
    test::publishPilotForms(collector);
    useProjectKey(collector, dir);
    const auto studyFile = dir.file("ips.json");
    std::ofstream(studyFile) << test::kIpsStudyJson;
    const auto defined = test::veldctl({"study", "define", collector.storePath(), studyFile});
    REQUIRE_MESSAGE(defined.exitCode == 0, defined.err);

    // Enrolment by file: the device learns the collector's id and key, and nothing else.
    const auto enrolFile = provisionOffline(collector, dir, "school-7");
    CHECK((std::filesystem::status(enrolFile).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    // Another reader: Python's JSON.
    const auto python = test::runProcess(
        {"/usr/bin/python3", "-c",
         "import json, sys\nd = json.load(open(sys.argv[1]))\n"
         "print(d['version'], d['collector'] == '', len(d['collector_key']), d['label'])\n",
         enrolFile});
    CHECK_MESSAGE(python.out == "2 True 64 school-7\n", python.err);
    const auto devicePath = dir.file("school.veld");
    { auto made = test::openDevice(devicePath); }
    const auto enrolled = test::veldctl({"enrol", devicePath, "--file", enrolFile});
    REQUIRE_MESSAGE(enrolled.exitCode == 0, enrolled.err);
    CHECK(heldBy(collector).stats.devices == 0);

    // The first round trip, by veldctl: it enrols the device and brings forms, study and blocks.
    const auto first = dir.file("first.veldbundle");
    const auto exported = test::veldctl({"bundle", "export", devicePath, "--out", first});
    REQUIRE_MESSAGE(exported.exitCode == 0, exported.err);
    CHECK(exported.out.find("with the device's enrolment") != std::string::npos);
    const auto imported = test::veldctl({"collector", "import", collector.storePath(), first});
    REQUIRE_MESSAGE(imported.exitCode == 0, imported.err);
    CHECK(imported.out.find("(enrolled it)") != std::string::npos);
    const auto replyFile = dir.file("first.veldreply");  // the default name, next to the bundle
    const auto applied = test::veldctl({"bundle", "import", devicePath, replyFile});
    REQUIRE_MESSAGE(applied.exitCode == 0, applied.err);
    CHECK(applied.out.find("the device is now enrolled") != std::string::npos);
    CHECK(heldBy(collector).stats.devices == 1);

    auto device = test::openDevice(devicePath);
    CHECK(device.forms().value().size() >= 10);
    auto stock = device.allocationStock();
    REQUIRE(stock);
    REQUIRE(stock->size() == 6);
    for (const auto& s : stock.value())
        CHECK(s.remaining > 0);
    CHECK(device.setting("pseudonym.key").value().has_value());
    CHECK_FALSE(device.setting(sync::kBundleEnrolCodeSetting).value().has_value());

    // Participants and other records, delivered by bundles only; a stratum that runs out is
    // topped up by the next reply.
    constexpr int kRecords = 1000;
    const std::vector<std::string> municipalities{"utrecht", "amersfoort", "nieuwegein"};
    std::mt19937 random(7);
    int made = 0, participants = 0, rounds = 0;
    std::int64_t acknowledged = 0;
    while (made < kRecords) {
        const int now = std::min(kRecords - made, 150);
        for (int i = 0; i < now; ++i, ++made) {
            if (i % 10 == 0) {
                const auto content = test::ipsIntake(
                    makeUuidV7(SystemClock::instance()), municipalities[random() % 3],
                    random() % 2 ? "vrouw" : "man", pseudonymOf(made));
                if (device.finalizeNew(content)) {
                    ++participants;
                    continue;
                }
            }
            REQUIRE(device.finalizeNew(test::sampleContent(made)));
        }
        const auto reply = roundTrip(device, collector, dir, "round" + std::to_string(++rounds));
        acknowledged += static_cast<std::int64_t>(reply.acknowledged);
        CHECK(reply.rejected == 0);
        CHECK(pending(device) == 0);
    }
    MESSAGE(participants << " participants randomised over " << rounds << " round trips");
    CHECK(participants > 30);
    CHECK(acknowledged == kRecords);
    const auto held = heldBy(collector);
    CHECK(held.stats.records == kRecords);
    CHECK(held.stats.revisions == kRecords);
    REQUIRE(held.receivedThrough.size() == 1);
    CHECK(held.receivedThrough[0] == static_cast<std::uint64_t>(kRecords));
    auto log = device.allocationLog();
    REQUIRE(log);
    CHECK(log->size() == static_cast<std::size_t>(participants));
    const auto verified = test::veldctl({"study", "verify", collector.storePath(), "ips"});
    CHECK_MESSAGE(verified.exitCode == 0, verified.out << verified.err);
    // Every import is audited.
    const auto audit = test::veldctl({"collector", "audit", collector.storePath()});
    CHECK(audit.out.find("bundle-import") != std::string::npos);
}

TEST_CASE(
    "bundles and network pushes mix on one collector, and the same bundle twice changes "
    "nothing") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();  // no forms published: the records need none
    auto device = test::openDevice(dir.file("laptop.veld"));
    const auto connection = test::enrolDevice(device, collector);

    test::addFinalized(device, 30, 0);
    const auto bundle1 = dir.file("b1.veldbundle");
    REQUIRE(sync::exportBundle(device, bundle1, SystemClock::instance().nowMillis()));
    // The network delivers the same 30 first.
    REQUIRE(test::syncUntilDone(device, connection, {}, 5) >= 0);
    CHECK(pending(device) == 0);
    test::addFinalized(device, 20, 30);
    const auto bundle2 = dir.file("b2.veldbundle");
    REQUIRE(sync::exportBundle(device, bundle2, SystemClock::instance().nowMillis()));

    const auto before = heldBy(collector);
    CHECK(before.stats.records == 30);
    auto first = importAtCollector(collector, bundle1, dir.file("r1.veldreply"));
    REQUIRE_MESSAGE(first.exitCode == 0, first.err);
    CHECK(first.out.find("0 stored, 30 held already") != std::string::npos);
    auto afterFirst = heldBy(collector);
    CHECK(afterFirst.stats.records == 30);
    CHECK(afterFirst.stats.revisions == 30);

    auto second = importAtCollector(collector, bundle2, dir.file("r2.veldreply"));
    REQUIRE_MESSAGE(second.exitCode == 0, second.err);
    CHECK(second.out.find("20 stored") != std::string::npos);
    const auto afterSecond = heldBy(collector);
    CHECK(afterSecond.stats.records == 50);

    // The same bundle again: nothing changes but an audit entry, and its reply is written again.
    std::filesystem::remove(dir.file("r2.veldreply"));
    auto again = importAtCollector(collector, bundle2, dir.file("r2.veldreply"));
    REQUIRE_MESSAGE(again.exitCode == 0, again.err);
    CHECK(again.out.find("imported already; nothing changed") != std::string::npos);
    auto afterAgain = heldBy(collector);
    CHECK(afterAgain.stats.records == afterSecond.stats.records);
    CHECK(afterAgain.stats.revisions == afterSecond.stats.revisions);
    CHECK(afterAgain.receivedThrough == afterSecond.receivedThrough);
    REQUIRE(std::filesystem::exists(dir.file("r2.veldreply")));

    // The replies, out of order: the newer acknowledges all; the older is then refused.
    auto r2 = sync::importReply(device, sync::bundle::readFile(dir.file("r2.veldreply")).value());
    REQUIRE_MESSAGE(r2, r2.error().describe());
    CHECK(r2->acknowledged == 20);
    CHECK(pending(device) == 0);
    auto r2again =
        sync::importReply(device, sync::bundle::readFile(dir.file("r2.veldreply")).value());
    REQUIRE(r2again);
    CHECK(r2again->outcome == sync::ReplyImport::Outcome::AlreadyImported);
    auto r1 = sync::importReply(device, sync::bundle::readFile(dir.file("r1.veldreply")).value());
    REQUIRE_FALSE(r1);
    CHECK(r1.error().message.find("older than the reply to bundle 2") != std::string::npos);

    // And the network has nothing left to send.
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE(round);
    CHECK(round->recordsSent == 0);
    CHECK(heldBy(collector).stats.records == 50);

    // Staff see which bundle came last: in the store, with veldctl and through the admin API
    // (the console's device list).
    auto devices = collector.open()->devices();
    REQUIRE(devices);
    REQUIRE(devices->size() == 1);
    CHECK(devices->front().lastBundle == std::optional<std::uint64_t>(2));
    const auto listed = test::veldctl({"collector", "devices", collector.storePath()});
    CHECK_MESSAGE(listed.out.find("last bundle 2") != std::string::npos, listed.out);
    sync::Connection staff;
    staff.collector = collector.url();
    staff.credential = test::addAdmin(collector, "anna");
    auto viaApi = sync::AdminClient(staff).devices();
    REQUIRE_MESSAGE(viaApi, viaApi.error().describe());
    bool seen = false;
    for (const auto& d : viaApi.value()) {
        if (d.staff) continue;
        CHECK(d.lastBundle == std::optional<std::uint64_t>(2));
        seen = true;
    }
    CHECK(seen);
}

TEST_CASE(
    "a damaged, foreign, replayed or re-ordered bundle is refused with its reason and "
    "changes nothing") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::CollectorProcess other(dir.file("other-collector.db"));
    collector.start();
    auto device = test::openDevice(dir.file("a.veld"));
    test::enrolDevice(device, collector);
    auto intruder = test::openDevice(dir.file("b.veld"));
    test::enrolDevice(intruder, collector);
    test::addFinalized(device, 10, 0);
    const auto now = SystemClock::instance().nowMillis();
    const auto good = dir.file("good.veldbundle");
    REQUIRE(sync::exportBundle(device, good, now));
    const auto bytes = sync::bundle::readFile(good).value();

    const auto refusedWith = [&](const std::vector<std::uint8_t>& content, const std::string& why) {
        const auto path = dir.file("bad.veldbundle");
        std::filesystem::remove(path);
        REQUIRE(sync::bundle::writeFile(path, content));
        const auto before = heldBy(collector);
        const auto done = importAtCollector(collector, path, dir.file("bad.veldreply"));
        CHECK(done.exitCode == 1);
        CHECK_MESSAGE(done.err.find(why) != std::string::npos, done.err);
        CHECK(heldBy(collector) == before);
        CHECK_FALSE(std::filesystem::exists(dir.file("bad.veldreply")));
    };
    SUBCASE("cut short") {
        refusedWith({bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2)},
                    "damaged or cut short");
    }
    SUBCASE("one byte flipped in the sealed payload") {
        auto flipped = bytes;
        flipped[flipped.size() / 2] ^= 0x20;
        refusedWith(flipped, "does not match its digest");
    }
    SUBCASE("signed by another device") {
        auto keys = sync::deviceBundleKeys(intruder);
        REQUIRE(keys);
        const auto forged = dir.file("forged.veldbundle");
        REQUIRE(sync::exportBundle(device, forged, now, keys.value()));
        refusedWith(sync::bundle::readFile(forged).value(), "signature does not match");
    }
    SUBCASE("made for another collector") {
        const auto done = importAtCollector(other, good, dir.file("other.veldreply"));
        CHECK(done.exitCode == 1);
        CHECK(done.err.find("was made for collector") != std::string::npos);
        CHECK(heldBy(other).stats.records == 0);
    }
    SUBCASE("out of order, then replayed") {
        // Bundle 2 carries records from 11 on only once the first 10 were acknowledged; a device
        // that skipped acknowledgement would not make it, so it is made here by acknowledging
        // without the collector.
        REQUIRE(device.acknowledgeThrough(10));
        test::addFinalized(device, 5, 10);
        const auto later = dir.file("later.veldbundle");
        REQUIRE(sync::exportBundle(device, later, now));
        refusedWith(sync::bundle::readFile(later).value(), "import the device's earlier bundle");
        // The first is imported, then the second; now the first again is a replay.
        REQUIRE(importAtCollector(collector, good, dir.file("g.veldreply")).exitCode == 0);
        REQUIRE(importAtCollector(collector, later, dir.file("l.veldreply")).exitCode == 0);
        refusedWith(bytes, "is replayed");
    }
    SUBCASE("a device's reply for another device, on the device") {
        REQUIRE(importAtCollector(collector, good, dir.file("g.veldreply")).exitCode == 0);
        auto reply = sync::bundle::readFile(dir.file("g.veldreply")).value();
        auto wrong = sync::importReply(intruder, reply);
        REQUIRE_FALSE(wrong);
        CHECK(wrong.error().message.find("made for device") != std::string::npos);
        CHECK(pending(device) == 10);
        // A flipped byte in a reply is refused too, and the outbox stays.
        reply[reply.size() / 2] ^= 0x01;
        CHECK_FALSE(sync::importReply(device, reply));
        CHECK(pending(device) == 10);
    }
}

TEST_CASE(
    "a reply bundle brings the collector's receipt for what it acknowledges, and a record staff "
    "sent back") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("laptop.veld"));
    test::enrolDevice(device, collector);
    const auto ids = test::addFinalized(device, 12, 0);

    const auto first = roundTrip(device, collector, dir, "one");
    CHECK(first.acknowledged == 12);
    auto kept = device.receipts();
    REQUIRE(kept);
    REQUIRE_FALSE(kept->empty());
    for (const auto& receipt : kept.value()) {
        CHECK(receipt.status == ReceiptStatus::Verified);
        CHECK_FALSE(receipt.bytes.empty());
    }
    CHECK(kept->front().firstSeq == 1);
    CHECK(kept->back().lastSeq == 12);
    // veldctl shows them as it shows the network's.
    const auto listed = test::veldctl({"store", "receipts", dir.file("laptop.veld")});
    CHECK_MESSAGE(listed.out.find("verified") != std::string::npos, listed.out << listed.err);

    // Staff send one record back; the next reply carries it to the device.
    {
        auto store = collector.open();
        REQUIRE(store->setReview(ids[3], sync::ReviewState::HasIssues, "Leeftijd klopt niet",
                                 SystemClock::instance().nowMillis(), "anna"));
    }
    const auto second = roundTrip(device, collector, dir, "two");
    CHECK(second.progress.correctionsReceived == 1);
    auto corrections = device.corrections();
    REQUIRE(corrections);
    REQUIRE(corrections->size() == 1);
    CHECK(corrections->front().recordId == ids[3]);
    CHECK(corrections->front().comment == "Leeftijd klopt niet");
    // The same reply again brings nothing twice.
    const auto again =
        sync::importReply(device, sync::bundle::readFile(dir.file("two.veldreply")).value());
    REQUIRE(again);
    CHECK(again->outcome == sync::ReplyImport::Outcome::AlreadyImported);
    CHECK(device.corrections()->size() == 1);
}
