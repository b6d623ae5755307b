// Kills a process that is finalizing records with SIGKILL at random moments and checks that every
// record whose finalize had returned is present and intact, that the outbox numbering has no
// gaps, and that SQLite's integrity check passes.
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>
#include <signal.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;

TEST_CASE("every acknowledged finalize survives SIGKILL at random moments") {
    constexpr int kRounds = 60;
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    std::mt19937 rng(std::random_device{}());

    struct Acked {
        std::uint64_t seq;
        int n;
    };
    std::map<Uuid, Acked> acked;
    std::uint64_t ackedThrough = 0;
    int killedMidWork = 0;

    for (int round = 0; round < kRounds; ++round) {
        test::ChildProcess child(
            {test::binary("veld-test-crash-child"), path, std::to_string(round * 100000)});
        REQUIRE_MESSAGE(child.waitForLine("READY", 30000),
                        "child did not start: " << child.output());
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 60000));
        child.kill(SIGKILL);
        auto result = child.wait();
        REQUIRE_MESSAGE(result.signal == SIGKILL, "the child stopped by itself: " << result.out);
        ++killedMidWork;

        // Only complete lines count: a line cut by the kill was not fully reported.
        std::istringstream lines(result.out);
        std::string line;
        while (std::getline(lines, line)) {
            if (lines.eof()) break;  // no newline: incomplete
            std::istringstream fields(line);
            std::string kind;
            fields >> kind;
            if (kind == "F") {
                std::string id;
                Acked a{};
                fields >> id >> a.seq >> a.n;
                auto uuid = Uuid::parse(id);
                REQUIRE(uuid);
                acked[*uuid] = a;
            } else if (kind == "A") {
                std::uint64_t seq = 0;
                fields >> seq;
                ackedThrough = std::max(ackedThrough, seq);
            }
        }

        auto store = Store::open(path);
        REQUIRE_MESSAGE(store,
                        "round " << round << ": " << (store ? "" : store.error().describe()));
        for (const auto& entry : acked) {
            const auto& id = entry.first;
            const auto& a = entry.second;
            auto rec = store->get(id);
            REQUIRE_MESSAGE(rec, "round " << round << ": lost " << id.toString() << ": "
                                          << (rec ? "" : rec.error().describe()));
            CHECK(rec->record.finalized);
            CHECK(rec->record.content == test::normalized(test::sampleContent(a.n)));
        }
        auto state = store->outboxState();
        REQUIRE(state);
        CHECK(state->ackedThrough >= ackedThrough);
        auto pending = store->outboxPending(1000000, std::size_t{1} << 40);
        REQUIRE(pending);
        std::uint64_t expectSeq = state->ackedThrough + 1;
        for (const auto& entry : *pending) {
            REQUIRE(entry.seq == expectSeq);
            CHECK_FALSE(entry.damaged);
            ++expectSeq;
        }
        CHECK(expectSeq == state->lastSeq + 1);
        for (const auto& [id, a] : acked) {
            CHECK(a.seq <= state->lastSeq);
            auto status = store->get(id)->meta.status;
            CHECK(status ==
                  (a.seq <= state->ackedThrough ? RecordStatus::Sent : RecordStatus::Finalized));
        }
        auto report = store->check(false);
        REQUIRE(report);
        CHECK(report->integrityOk);
        CHECK(report->badBodies.empty());
    }
    MESSAGE(kRounds << " rounds, " << acked.size() << " acknowledged finalizes checked");
    CHECK(killedMidWork == kRounds);
    CHECK(acked.size() > 100);
}

namespace {

// The study the crash child enrols into (crash_child.cpp, kEnrolStudy).
alloc::Study crashStudy() {
    alloc::Study s;
    s.id = "crash_study";
    s.pilot = "crash";
    s.arms = {{"treatment", 1}, {"control", 1}};
    s.factors = {{"site", {"east", "west"}}};
    s.blockSizes = {2, 4};
    for (std::size_t i = 0; i < s.seed.size(); ++i)
        s.seed[i] = static_cast<std::uint8_t>(i * 31 + 7);
    return s;
}

bool sameSlot(const Allocation& a, const alloc::Slot& s) {
    return a.study == s.study && a.stratum == s.stratum && a.block == s.block &&
           a.position == s.position && a.arm == s.arm &&
           a.token == std::vector<std::uint8_t>(s.token.begin(), s.token.end());
}

}  // namespace

TEST_CASE("enrolments killed at random moments leave every allocation with exactly its record") {
    constexpr int kRounds = 50;
    test::TempDir dir;
    const std::string path = dir.file("device.veld");
    std::mt19937 rng(std::random_device{}());
    const alloc::Study study = crashStudy();
    const std::vector<std::string> strata = alloc::strata(study);

    // The slots dealt to the device so far, per stratum, in (block, position) order; more are
    // dealt whenever a stratum runs low, as the collector would.
    std::map<std::string, std::vector<alloc::Slot>> dealt;
    std::map<std::string, std::uint32_t> nextBlock;
    auto topUp = [&](Store& store, std::size_t used, const std::string& stratum) {
        auto& slots = dealt[stratum];
        if (slots.size() - used >= 150) return;
        auto key = store.boxPublicKey();
        REQUIRE(key);
        std::vector<SealedSlotIn> in;
        for (int i = 0; i < 60; ++i) {
            const std::uint32_t b = nextBlock[stratum]++;
            auto block = alloc::generateBlock(study, stratum, b);
            for (std::uint32_t p = 0; p < block.arms.size(); ++p) {
                alloc::Slot slot{study.id, stratum, b, p, block.arms[p], block.tokens[p]};
                in.push_back({study.id, stratum, b, p, alloc::sealSlot(slot, *key)});
                slots.push_back(slot);
            }
        }
        REQUIRE(store.addAllocationSlots(in));
    };
    {
        auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate});
        REQUIRE(store);
        DeviceStudy d{
            study.id, study.pilot, {"treatment", "control"}, {{"site", {"east", "west"}}}};
        REQUIRE(store->setStudies(std::vector<DeviceStudy>{d}));
        for (const auto& stratum : strata)
            topUp(*store, 0, stratum);
    }

    struct Reported {
        Uuid caseId;
        int n;
    };
    std::map<Uuid, Reported> reported;  // every enrolment whose finalize returned
    std::size_t checkedEntries = 0;
    for (int round = 0; round < kRounds; ++round) {
        CAPTURE(round);
        test::ChildProcess child(
            {test::binary("veld-test-crash-child"), path, std::to_string(round * 100000), "enrol"});
        REQUIRE_MESSAGE(child.waitForLine("WORKING", 30000),
                        "child did not enrol anyone: " << child.output());
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
        child.kill(SIGKILL);
        auto result = child.wait();
        REQUIRE_MESSAGE(result.signal == SIGKILL, "the child stopped by itself: " << result.out);

        std::istringstream lines(result.out);
        std::string line;
        while (std::getline(lines, line)) {
            if (lines.eof()) break;  // no newline: cut by the kill
            std::istringstream fields(line);
            std::string kind, record, caseId;
            int n = 0;
            fields >> kind;
            if (kind != "E") continue;
            fields >> record >> caseId >> n;
            auto r = Uuid::parse(record);
            auto c = Uuid::parse(caseId);
            REQUIRE((r && c));
            reported[*r] = {*c, n};
        }

        auto store = Store::open(path);
        REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
        auto log = store->allocationLog();
        REQUIRE(log);

        // Log numbers are 1, 2, 3, ...; no record and no case appears twice; each stratum used
        // exactly the first slots dealt to it, in order.
        std::set<Uuid> records, cases;
        std::map<std::string, std::size_t> used;
        for (std::size_t i = 0; i < log->size(); ++i) {
            const auto& entry = log->at(i);
            REQUIRE(entry.allocation.logSeq == i + 1);
            CHECK(records.insert(entry.recordId).second);
            CHECK(cases.insert(entry.caseId).second);
            auto& slots = dealt[entry.allocation.stratum];
            std::size_t& k = used[entry.allocation.stratum];
            REQUIRE(k < slots.size());
            CHECK_MESSAGE(sameSlot(entry.allocation, slots[k]),
                          "log entry " << i + 1 << " is not the next slot of its stratum");
            ++k;
        }
        // Every enrolment that returned is in the log.
        for (const auto& entry : reported) {
            const auto& id = entry.first;
            CHECK_MESSAGE(records.count(id) == 1, "lost the allocation of " << id.toString());
        }
        // Every entry belongs to a finalized record of its case that carries exactly it (the
        // entries of earlier rounds were checked then: finalized records never change).
        for (std::size_t i = checkedEntries; i < log->size(); ++i) {
            const auto& entry = log->at(i);
            auto rec = store->get(entry.recordId);
            REQUIRE_MESSAGE(rec, (rec ? "" : rec.error().describe()));
            CHECK(rec->meta.status == RecordStatus::Finalized);
            CHECK(rec->meta.formId == "crash_intake");
            CHECK(rec->record.content.caseId == entry.caseId);
            REQUIRE(rec->record.content.allocation);
            CHECK(*rec->record.content.allocation == entry.allocation);
            auto info = store->caseInfo(entry.caseId);
            REQUIRE(info);
            CHECK(info->property("arm") == entry.allocation.arm);
            if (auto it = reported.find(entry.recordId); it != reported.end()) {
                CHECK(it->second.caseId == entry.caseId);
                auto expected = test::normalized(test::sampleContent(it->second.n, "crash_intake"));
                CHECK(rec->record.content.answers == expected.answers);
            }
        }
        checkedEntries = log->size();
        // ...and every finalized intake has its entry: as many as there are log entries, and
        // each entry names a different one.
        std::int64_t finalized = 0;
        auto counts = store->counts();
        REQUIRE(counts);
        for (const auto& c : *counts) {
            if (c.formId == "crash_intake" && c.status != RecordStatus::Draft) finalized += c.count;
        }
        CHECK(finalized == static_cast<std::int64_t>(log->size()));
        CHECK(store->outboxState()->lastSeq == log->size());
        auto report = store->check(false);
        REQUIRE(report);
        CHECK(report->integrityOk);
        CHECK(report->badBodies.empty());

        for (const auto& stratum : strata)
            topUp(*store, used[stratum], stratum);
    }

    // The next enrolment in each stratum continues right after the last slot used there.
    ManualClock clock(1'764'000'000'000);
    auto store = Store::open(path, {.clock = &clock});
    REQUIRE(store);
    std::map<std::string, std::size_t> used;
    auto log = store->allocationLog();
    REQUIRE(log);
    for (const auto& entry : *log)
        ++used[entry.allocation.stratum];
    for (const auto& stratum : strata) {
        RecordContent c = test::sampleContent(1, "crash_intake");
        c.caseId = makeUuidV4();
        c.caseChange = CaseChange{CaseAction::Open, "participant", "", {}};
        c.allocate = AllocationRequest{study.id, stratum};
        auto done = store->finalizeNew(c);
        REQUIRE_MESSAGE(done, (done ? "" : done.error().describe()));
        CHECK(sameSlot(*store->get(done->id)->record.content.allocation,
                       dealt[stratum].at(used[stratum])));
    }
    MESSAGE(kRounds << " rounds, " << store->allocationLog()->size() << " allocations checked");
    CHECK(reported.size() >= static_cast<std::size_t>(kRounds));
}
