// veldctl's study, case and collector commands at a real collector store (either backend).
#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/uuid.hpp>

#include "support/sync_support.hpp"
#include "support/test_support.hpp"

using namespace veld;
using test::veldctl;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

namespace {

// A device of a collector played by hand: it pushes records that change cases and take slots.
struct HandDevice {
    Uuid id;
    std::uint64_t seq = 0;
    std::pair<std::array<std::uint8_t, 32>, std::array<std::uint8_t, 32>> keys =
        alloc::newBoxKeyPair();

    void push(sync::CollectorStore& store, const Uuid& caseId, std::int64_t ms,
              std::vector<CasePropertyValue> properties, const std::optional<Allocation>& taken,
              const std::string& pseudonym = {}) {
        Record r;
        r.id = makeUuidV7(SystemClock::instance());
        r.deviceId = id;
        r.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(ms), 0);
        r.createdHlc = r.hlc;
        r.finalized = true;
        r.content.formId = "ips_intake";
        r.content.formVersion = 1;
        r.content.caseId = caseId;
        CaseChange change;
        change.action = CaseAction::Open;
        change.caseType = "participant";
        change.pseudonym = pseudonym;
        change.properties = std::move(properties);
        r.content.caseChange = std::move(change);
        r.content.allocation = taken;
        sync::PushBatch batch;
        batch.deviceId = id;
        sync::PushRevision rev;
        rev.seq = ++seq;
        rev.recordId = r.id;
        rev.hlc = r.hlc;
        rev.body = encodeRecord(r).value();
        rev.formId = r.content.formId;
        rev.formVersion = 1;
        batch.revisions.push_back(std::move(rev));
        auto reply = store.push(id, batch, ms);
        REQUIRE_MESSAGE(reply, reply.error().describe());
    }
};

}  // namespace

TEST_CASE("veldctl study and case commands run randomisation and cases at a real collector") {
    test::TempDir dir;
    const std::string file = test::testCollectorLocation(dir);
    REQUIRE(veldctl({"collector", "init", file}).exitCode == 0);
    const std::int64_t now = SystemClock::instance().nowMillis();
    HandDevice device;
    HandDevice other;
    {
        auto store = sync::openCollector(file, false).value();
        for (HandDevice* d : {&device, &other}) {
            sync::EnrolRequest request;
            request.code = store->createEnrolCode("tablet", now, "test").value();
            request.deviceId = makeUuidV4();
            REQUIRE(store->enrol(request, now));
            d->id = request.deviceId;
        }
    }
    const std::string ips = std::string(VELD_SOURCE_DIR) + "/schemas/studies/ips.json";

    // Defining: once; the same file again changes nothing; a changed one or a typo is refused.
    auto defined = veldctl({"study", "define", file, ips});
    REQUIRE_MESSAGE(defined.exitCode == 0, defined.err);
    CHECK(contains(defined.out, "study ips defined: 2 arms, 6 strata"));
    CHECK(contains(veldctl({"study", "define", file, ips}).out, "defined already, the same"));
    std::string text = test::readFile(ips);
    const std::string changed = dir.file("changed.json");
    std::ofstream(changed) << text.replace(text.find("[2, 4, 6]"), 9, "[2, 4]");
    auto refused = veldctl({"study", "define", file, changed});
    CHECK(refused.exitCode == 1);
    CHECK(contains(refused.err, "defined already, differently"));
    const std::string typo = dir.file("typo.json");
    std::ofstream(typo) << "{\"id\": \"x\",\n \"armz\": []}";
    auto bad = veldctl({"study", "define", file, typo});
    CHECK(bad.exitCode == 1);
    CHECK(contains(bad.err, "line 2: unknown key \"armz\""));
    auto list = veldctl({"study", "list", file});
    CHECK(list.exitCode == 0);
    CHECK(contains(list.out, "ips  pilot ips_long_term_unemployed"));
    CHECK(contains(list.out, "municipality [utrecht amersfoort nieuwegein]"));

    // Cases of the device reach its team.
    REQUIRE(veldctl({"collector", "team", file, device.id.toString(), "north"}).exitCode == 0);
    CHECK(contains(veldctl({"collector", "devices", file}).out, "team north"));

    // Blocks dealt by hand, received sealed, three participants enrolled in order.
    auto dealt = veldctl(
        {"study", "allocate", file, "ips", "--device", device.id.toString(), "--blocks", "1"});
    REQUIRE_MESSAGE(dealt.exitCode == 0, dealt.err);
    CHECK(contains(dealt.out, "dealt 6 blocks of study ips"));
    const std::string stratum = "municipality=utrecht;gender=man";
    std::vector<alloc::Slot> slots;
    {
        auto store = sync::openCollector(file, false).value();
        sync::PullRequest request;
        request.deviceBoxKey.assign(device.keys.first.begin(), device.keys.first.end());
        auto reply = store->pull(device.id, request, 16, now);
        REQUIRE(reply);
        CHECK(reply->blocks.size() == 6);
        for (const auto& b : reply->blocks) {
            if (b.stratum != stratum) continue;
            for (const auto& s : b.slots)
                slots.push_back(
                    alloc::openSlot(s.box, device.keys.first, device.keys.second).value());
        }
    }
    REQUIRE(slots.size() >= 2);
    std::vector<Uuid> cases;
    const std::string pseudonym = "p1:" + std::string(64, 'c');
    {
        auto store = sync::openCollector(file, false).value();
        for (std::size_t k = 0; k < 2; ++k) {
            cases.push_back(makeUuidV4());
            const auto& slot = slots[k];
            device.push(*store, cases.back(), now + static_cast<std::int64_t>(k),
                        {{"arm", slot.arm, {}}, {"label", "participant " + std::to_string(k), {}}},
                        alloc::allocationOf(slot, k + 1, now), pseudonym);
        }
    }
    auto verified = veldctl({"study", "verify", file, "ips"});
    CHECK_MESSAGE(verified.exitCode == 0, verified.out);
    CHECK(contains(verified.out, "2 allocations from 1 devices"));
    CHECK(contains(verified.out, "verified"));
    auto balance = veldctl({"study", "balance", file, "ips"});
    CHECK(balance.exitCode == 0);
    CHECK(contains(balance.out, "stratum " + stratum + "\n  2 allocations; blocks: 1 dealt"));
    CHECK(contains(balance.out, "target"));

    // The log, for the evaluator: a CSV only its owner reads.
    const std::string csv = dir.file("allocations.csv");
    auto log = veldctl({"study", "log", file, "ips", "--out", csv});
    REQUIRE_MESSAGE(log.exitCode == 0, log.err);
    const auto rows = test::parseCsv(test::readFile(csv));
    REQUIRE(rows.size() == 3);
    CHECK(rows[0] == std::vector<std::string>{"study", "stratum", "block", "position", "arm",
                                              "device", "log_seq", "case_id", "record_id",
                                              "taken_utc", "received_utc"});
    CHECK(rows[1][1] == stratum);
    CHECK(rows[1][4] == slots[0].arm);
    CHECK(rows[2][6] == "2");
    CHECK(rows[2][7] == cases[1].toString());
    struct stat st {};
    REQUIRE(::stat(csv.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    // Written over a file anyone could read: the log narrows it, not only a file it creates.
    const std::string shared = dir.file("shared.csv");
    std::ofstream(shared) << "old\n";
    std::filesystem::permissions(shared, std::filesystem::perms(0644));
    REQUIRE(veldctl({"study", "log", file, "ips", "--out", shared}).exitCode == 0);
    REQUIRE(::stat(shared.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(test::parseCsv(test::readFile(shared)).size() == 3);
    CHECK(contains(veldctl({"study", "log", file, "ips"}).out, cases[0].toString()));

    // A slot used again, from a log number that skips one: each problem listed, exit 1.
    {
        auto store = sync::openCollector(file, false).value();
        const auto& slot = slots[0];
        device.push(*store, makeUuidV4(), now + 10, {}, alloc::allocationOf(slot, 4, now));
    }
    auto problems = veldctl({"study", "verify", file, "ips"});
    CHECK(problems.exitCode == 1);
    CHECK(contains(problems.out, "slot used twice: stratum '" + stratum + "' block"));
    CHECK(contains(problems.out, "missing log entries: device " + device.id.toString() +
                                     ": allocation log entry 3 not received"));

    // The seed, for the evaluator at the end: disclosed, and audited as such.
    auto seed = veldctl({"study", "seed", file, "ips"});
    REQUIRE(seed.exitCode == 0);
    CHECK(seed.out.size() == 65);
    auto audit = veldctl({"collector", "audit", file});
    CHECK(contains(audit.out, "study-define  ips"));
    CHECK(contains(audit.out, "allocate  " + device.id.toString()));
    CHECK(contains(audit.out, "seed-disclosed  ips"));
    CHECK(contains(audit.out, "team  " + device.id.toString() + "  north"));
    CHECK_FALSE(contains(audit.out, seed.out.substr(0, 64)));

    // Cases: listed with their properties, the pseudonym shortened.
    auto cases1 = veldctl({"case", "list", file, "--team", "north"});
    REQUIRE(cases1.exitCode == 0);
    CHECK(contains(cases1.out, cases[0].toString() + "  participant  pseudonym p1:cccccc..."));
    CHECK(contains(cases1.out, "    label = participant 1\n"));
    CHECK_FALSE(contains(cases1.out, pseudonym));
    REQUIRE(veldctl({"case", "assign", file, cases[0].toString(), "--team", "south"}).exitCode ==
            0);
    auto south = veldctl({"case", "list", file, "--team", "south"});
    CHECK(contains(south.out, cases[0].toString()));
    CHECK_FALSE(contains(south.out, cases[1].toString()));
    CHECK(contains(veldctl({"case", "list", file, "--device", device.id.toString()}).out,
                   cases[1].toString()));

    // Two devices set one property without seeing each other: staff settle it.
    {
        auto store = sync::openCollector(file, false).value();
        other.push(*store, cases[1], now + 20, {{"label", "someone else", {}}}, std::nullopt);
    }
    auto conflicts = veldctl({"case", "conflicts", file});
    REQUIRE(conflicts.exitCode == 0);
    CHECK(contains(conflicts.out, "1  case " + cases[1].toString() + "  property label"));
    CHECK(contains(conflicts.out, "A: participant 1  (device " + device.id.toString()));
    CHECK(contains(conflicts.out, "B: someone else  (device " + other.id.toString()));
    auto resolved = veldctl({"case", "resolve", file, "1", "a", "--comment", "phoned"});
    REQUIRE_MESSAGE(resolved.exitCode == 0, resolved.err);
    CHECK(contains(veldctl({"case", "conflicts", file}).out, "no open case conflicts"));
    CHECK(contains(veldctl({"case", "conflicts", file, "--all"}).out, "kept A; phoned"));
    CHECK(contains(veldctl({"case", "list", file}).out, "    label = participant 1\n"));
    auto twice = veldctl({"case", "resolve", file, "1", "--value", "x"});
    CHECK(twice.exitCode == 1);
    CHECK(contains(twice.err, "resolved already"));
    CHECK(contains(veldctl({"collector", "audit", file}).out,
                   "case-resolve  " + cases[1].toString() + "  property label: kept A"));

    // Usage errors are exit 2 and say why.
    CHECK(veldctl({"study", "allocate", file, "ips"}).exitCode == 2);
    CHECK(veldctl({"case", "resolve", file, "1"}).exitCode == 2);
    CHECK(veldctl({"case", "assign", file, cases[0].toString()}).exitCode == 2);
    CHECK(veldctl({"study", "frobnicate", file}).exitCode == 2);
    // An option of another subcommand is not silently ignored.
    auto misplaced = veldctl({"study", "balance", file, "ips", "--blocks", "3"});
    CHECK(misplaced.exitCode == 2);
    CHECK(contains(misplaced.err, "--blocks is for allocate"));
    CHECK(
        veldctl({"case", "assign", file, cases[0].toString(), "--team", "south", "--comment", "x"})
            .exitCode == 2);
    CHECK(veldctl({"study", "--help"}).exitCode == 0);
    CHECK(veldctl({"case", "--help"}).exitCode == 0);
    CHECK(veldctl({"study", "verify", file, "nope"}).exitCode == 1);
}
