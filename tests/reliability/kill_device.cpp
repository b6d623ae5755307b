// SIGKILL of a device process at random moments: one that finalizes records, and one that
// enrols participants into a randomised study (veld-test-crash-child, tests/firmware/
// crash_child.cpp). After each kill the store is opened as the next program would open it and
// checked against what the child had reported done.
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <signal.h>

#include <veld/allocation.hpp>
#include <veld/store.hpp>

#include "reliability/fault_rounds.hpp"
#include "support/sync_world.hpp"
#include "support/test_support.hpp"

namespace veld::reliability {

namespace {

// A store lives this many rounds, then a fresh one starts: every round still finds a store that
// earlier kills left behind, and the checks (which read everything acknowledged in the store)
// stay as cheap in round 1,000 as in round 1.
constexpr int kRoundsPerStore = 10;

// The lines of the child's output that ended with a newline: a line cut by the kill was not
// fully reported, so the operation it reports may or may not have returned.
std::vector<std::string> completeLines(const std::string& out) {
    std::vector<std::string> lines;
    std::size_t at = 0;
    for (;;) {
        const auto end = out.find('\n', at);
        if (end == std::string::npos) break;
        lines.push_back(out.substr(at, end - at));
        at = end + 1;
    }
    return lines;
}

std::string killedHow(const test::ProcessResult& r) {
    return r.signal ? "signal " + std::to_string(r.signal)
                    : "exit code " + std::to_string(r.exitCode);
}

std::string storePathFor(const Options& o, int round) {
    return o.workDir + "/device-" + std::to_string(round / kRoundsPerStore) + ".veld";
}

// ---- device-finalize-kill -------------------------------------------------------------------

Outcome finalizeKill(const Options& o) {
    Outcome out;
    struct Acked {
        std::uint64_t seq;
        int n;
    };
    std::map<Uuid, Acked> acked;  // every finalize the child reported returned, in this store
    std::uint64_t ackedThrough = 0;
    std::string path;
    int earlyKills = 0;
    long finalizes = 0;
    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        if (storePathFor(o, round) != path) {
            if (!path.empty()) test::removeDatabase(path);
            path = storePathFor(o, round);
            test::removeDatabase(path);
            acked.clear();
            ackedThrough = 0;
        }
        const auto fail = [&](const std::string& what) { out.fail(o.seed, round, what); };

        // One round in ten kills the child within 20 ms of its start, before it may even have
        // opened (or, in a fresh store's first round, made) the store; the others kill it up to
        // 60 ms into its loop of drafts, updates, finalizes and acknowledgements.
        const bool early = rng() % 10 == 0;
        const auto delay = std::chrono::microseconds(early ? rng() % 20000 : rng() % 60000);
        test::ChildProcess child(
            {test::binary("veld-test-crash-child"), path, std::to_string(round * 100000)});
        if (!early && !child.waitForLine("READY", 30000)) {
            fail("the child did not start: " + child.output());
            continue;
        }
        std::this_thread::sleep_for(delay);
        child.kill(SIGKILL);
        const auto result = child.wait();
        if (result.signal != SIGKILL) {
            fail("the child ended by itself (" + killedHow(result) + ") before the kill");
            ++out.corrupt;
            continue;
        }
        if (early) ++earlyKills;

        for (const auto& line : completeLines(result.out)) {
            std::istringstream fields(line);
            std::string kind;
            fields >> kind;
            if (kind == "F") {
                std::string id;
                Acked a{};
                fields >> id >> a.seq >> a.n;
                auto uuid = Uuid::parse(id);
                if (!uuid) {
                    fail("the child reported an unreadable line: " + line);
                    continue;
                }
                acked[*uuid] = a;
                ++out.acknowledged;
                ++finalizes;
            } else if (kind == "A") {
                std::uint64_t seq = 0;
                fields >> seq;
                ackedThrough = std::max(ackedThrough, seq);
                ++out.acknowledged;
            }
        }

        if (!std::filesystem::exists(path) && acked.empty()) continue;  // killed before making it
        auto store = Store::open(path);
        if (!store) {
            ++out.corrupt;
            fail("the store does not open after the kill: " + store.error().describe());
            continue;
        }
        auto state = store->outboxState();
        auto pending = store->outboxPending(1'000'000, std::size_t{1} << 40);
        if (!state || !pending) {
            ++out.corrupt;
            fail("the outbox cannot be read after the kill");
            continue;
        }
        // Every finalize that returned is there, finalized (or sent, when acknowledged), with
        // exactly the content it was given.
        std::map<std::uint64_t, Uuid> waiting;
        for (const auto& e : pending.value())
            waiting[e.seq] = e.recordId;
        std::vector<Uuid> gone;  // counted lost once, then no longer expected
        for (const auto& [id, a] : acked) {
            auto rec = store->get(id);
            if (!rec) {
                ++out.lost;
                gone.push_back(id);
                fail("lost the finalized record " + id.toString() + " (number " +
                     std::to_string(a.seq) + "): " + rec.error().describe());
                continue;
            }
            if (!rec->record.finalized ||
                !(rec->record.content == test::normalized(test::sampleContent(a.n)))) {
                ++out.lost;
                gone.push_back(id);
                fail("the finalized record " + id.toString() + " came back changed");
                continue;
            }
            const bool sent = a.seq <= state->ackedThrough;
            if (rec->meta.status != (sent ? RecordStatus::Sent : RecordStatus::Finalized) ||
                a.seq > state->lastSeq || (!sent && waiting[a.seq] != id)) {
                ++out.corrupt;
                fail("record " + id.toString() + " (number " + std::to_string(a.seq) +
                     ") has the wrong status or outbox place");
            }
        }
        for (const auto& id : gone)
            acked.erase(id);
        if (state->ackedThrough < ackedThrough) {
            out.lost += static_cast<long>(ackedThrough - state->ackedThrough);
            fail("acknowledged through " + std::to_string(ackedThrough) + ", the store says " +
                 std::to_string(state->ackedThrough));
            ackedThrough = state->ackedThrough;
        }
        // The outbox numbers what waits without gaps, and each finalized record once.
        std::uint64_t expect = state->ackedThrough + 1;
        std::set<Uuid> seen;
        for (const auto& e : pending.value()) {
            if (e.seq != expect || e.damaged) {
                ++out.corrupt;
                fail("outbox gap or damaged entry at number " + std::to_string(expect));
                break;
            }
            if (!seen.insert(e.recordId).second) {
                ++out.doubled;
                fail("record " + e.recordId.toString() + " waits twice in the outbox");
            }
            ++expect;
        }
        if (expect != state->lastSeq + 1) {
            ++out.corrupt;
            fail("the outbox ends at " + std::to_string(expect - 1) + ", numbers were given to " +
                 std::to_string(state->lastSeq));
        }
        std::int64_t finalized = 0;
        if (auto counts = store->counts(); counts) {
            for (const auto& c : counts.value())
                if (c.status != RecordStatus::Draft) finalized += c.count;
        }
        if (finalized != static_cast<std::int64_t>(state->lastSeq)) {
            ++out.corrupt;
            fail(std::to_string(finalized) + " finalized records hold " +
                 std::to_string(state->lastSeq) + " outbox numbers");
        }
        auto report = store->check(false);
        if (!report || !report->ok()) {
            ++out.corrupt;
            fail(report ? "integrity check: " + (report->integrityMessages.empty()
                                                     ? std::string("a body fails verification")
                                                     : report->integrityMessages.front())
                        : "the check did not run: " + report.error().describe());
        }
        if (o.verbose) {
            std::fprintf(stderr,
                         "round %d: %zu finalizes acknowledged in this store, outbox %llu\n", round,
                         acked.size(), static_cast<unsigned long long>(state->lastSeq));
        }
    }
    out.note = "killed " + std::to_string(out.rounds) + " children (" + std::to_string(earlyKills) +
               " at start-up), " + std::to_string(finalizes) + " finalizes acknowledged";
    return out;
}

// ---- device-allocation-kill -----------------------------------------------------------------

// The study the crash child enrols into (crash_child.cpp, kEnrolStudy); the slots are dealt here,
// as the collector would deal them.
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

Outcome allocationKill(const Options& o) {
    Outcome out;
    const alloc::Study study = crashStudy();
    const std::vector<std::string> strata = alloc::strata(study);

    // Per store: the slots dealt so far per stratum, in (block, position) order.
    std::map<std::string, std::vector<alloc::Slot>> dealt;
    std::map<std::string, std::uint32_t> nextBlock;
    struct Reported {
        Uuid caseId;
        int n;
    };
    std::map<Uuid, Reported> reported;  // every enrolment whose finalize returned
    std::size_t checkedEntries = 0;
    std::string path;
    long enrolments = 0;

    // More slots whenever a stratum runs low, as the collector tops devices up.
    const auto topUp = [&](Store& store, std::size_t used, const std::string& stratum) -> Status {
        auto& slots = dealt[stratum];
        if (slots.size() - used >= 150) return {};
        auto key = store.boxPublicKey();
        if (!key) return key.error();
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
        return store.addAllocationSlots(in);
    };

    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        const auto fail = [&](const std::string& what) { out.fail(o.seed, round, what); };
        if (storePathFor(o, round) != path) {
            if (!path.empty()) test::removeDatabase(path);
            path = storePathFor(o, round);
            test::removeDatabase(path);
            dealt.clear();
            nextBlock.clear();
            reported.clear();
            checkedEntries = 0;
            auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate});
            if (!store) throw std::runtime_error(store.error().describe());
            DeviceStudy d{
                study.id, study.pilot, {"treatment", "control"}, {{"site", {"east", "west"}}}};
            if (auto s = store->setStudies(std::vector<DeviceStudy>{d}); !s)
                throw std::runtime_error(s.error().describe());
            for (const auto& stratum : strata) {
                if (auto s = topUp(*store, 0, stratum); !s)
                    throw std::runtime_error(s.error().describe());
            }
        }

        test::ChildProcess child(
            {test::binary("veld-test-crash-child"), path, std::to_string(round * 100000), "enrol"});
        if (!child.waitForLine("WORKING", 30000)) {
            fail("the child did not enrol anyone: " + child.output());
            continue;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
        child.kill(SIGKILL);
        const auto result = child.wait();
        if (result.signal != SIGKILL) {
            ++out.corrupt;
            fail("the child ended by itself (" + killedHow(result) + ") before the kill");
            continue;
        }
        for (const auto& line : completeLines(result.out)) {
            std::istringstream fields(line);
            std::string kind, record, caseId;
            int n = 0;
            fields >> kind;
            if (kind != "E") continue;
            fields >> record >> caseId >> n;
            auto r = Uuid::parse(record);
            auto c = Uuid::parse(caseId);
            if (!r || !c) {
                fail("the child reported an unreadable line: " + line);
                continue;
            }
            reported[*r] = {*c, n};
            ++out.acknowledged;
            ++enrolments;
        }

        auto store = Store::open(path);
        if (!store) {
            ++out.corrupt;
            fail("the store does not open after the kill: " + store.error().describe());
            continue;
        }
        auto log = store->allocationLog();
        if (!log) {
            ++out.corrupt;
            fail("the allocation log cannot be read: " + log.error().describe());
            continue;
        }

        // Log numbers are 1, 2, 3, ...; no record and no case twice; each stratum used exactly
        // the first slots dealt to it, in order.
        std::set<Uuid> records, cases;
        std::map<std::string, std::size_t> used;
        bool logSound = true;
        for (std::size_t i = 0; i < log->size() && logSound; ++i) {
            const auto& entry = log->at(i);
            const std::string at = "log entry " + std::to_string(i + 1);
            if (entry.allocation.logSeq != i + 1) {
                ++out.corrupt;
                fail(at + " carries number " + std::to_string(entry.allocation.logSeq));
                logSound = false;
            }
            if (!records.insert(entry.recordId).second || !cases.insert(entry.caseId).second) {
                ++out.doubled;
                fail(at + " names a record or case allocated before");
            }
            auto& slots = dealt[entry.allocation.stratum];
            std::size_t& k = used[entry.allocation.stratum];
            if (k >= slots.size() || !sameSlot(entry.allocation, slots[k])) {
                ++out.corrupt;
                fail(at + " is not the next slot of its stratum");
                logSound = false;
            }
            ++k;
        }
        // Every enrolment that returned is in the log (one that is not is counted lost once).
        for (auto it = reported.begin(); it != reported.end();) {
            if (records.count(it->first) == 0) {
                ++out.lost;
                fail("lost the allocation of record " + it->first.toString() + " (case " +
                     it->second.caseId.toString() + ")");
                it = reported.erase(it);
            } else {
                ++it;
            }
        }
        // Every new entry belongs to a finalized record of its case that carries exactly it, and
        // the case holds its arm (earlier entries were checked then: finalized records never
        // change, and the log refuses changes).
        for (std::size_t i = checkedEntries; i < log->size(); ++i) {
            const auto& entry = log->at(i);
            auto rec = store->get(entry.recordId);
            auto info = store->caseInfo(entry.caseId);
            bool matches = rec && rec->meta.status == RecordStatus::Finalized &&
                           rec->meta.formId == "crash_intake" &&
                           rec->record.content.caseId == entry.caseId &&
                           rec->record.content.allocation &&
                           *rec->record.content.allocation == entry.allocation && info &&
                           info->property("arm") == entry.allocation.arm;
            if (const auto it = reported.find(entry.recordId); matches && it != reported.end()) {
                matches =
                    it->second.caseId == entry.caseId &&
                    rec->record.content.answers ==
                        test::normalized(test::sampleContent(it->second.n, "crash_intake")).answers;
            }
            if (!matches) {
                ++out.lost;
                fail("log entry " + std::to_string(i + 1) +
                     " does not match its record or case (record " + entry.recordId.toString() +
                     ")");
            }
        }
        checkedEntries = log->size();
        // ... and every finalized intake has its entry.
        std::int64_t finalized = 0;
        if (auto counts = store->counts(); counts) {
            for (const auto& c : counts.value())
                if (c.formId == "crash_intake" && c.status != RecordStatus::Draft)
                    finalized += c.count;
        }
        const auto state = store->outboxState();
        if (finalized != static_cast<std::int64_t>(log->size()) || !state ||
            state->lastSeq != log->size()) {
            ++out.corrupt;
            fail(std::to_string(finalized) + " finalized intakes, " + std::to_string(log->size()) +
                 " log entries, " + (state ? std::to_string(state->lastSeq) : std::string("?")) +
                 " outbox numbers: they must be equal");
        }
        auto report = store->check(false);
        if (!report || !report->ok()) {
            ++out.corrupt;
            fail("the store fails its check after the kill");
        }

        // The next enrolment in each stratum, made here, takes the slot right after the last one
        // used there: a kill never makes the device skip or reuse a slot.
        for (const auto& stratum : strata) {
            if (!logSound) break;
            RecordContent c = test::sampleContent(round, "crash_intake");
            c.caseId = makeUuidV4();
            c.caseChange = CaseChange{CaseAction::Open, "participant", "", {}};
            c.allocate = AllocationRequest{study.id, stratum};
            auto done = store->finalizeNew(c);
            if (!done) {
                ++out.corrupt;
                fail("an enrolment after the kill failed: " + done.error().describe());
                break;
            }
            ++out.acknowledged;
            auto rec = store->get(done->id);
            const auto& slots = dealt[stratum];
            const std::size_t k = used[stratum];
            if (!rec || !rec->record.content.allocation || k >= slots.size() ||
                !sameSlot(*rec->record.content.allocation, slots[k])) {
                ++out.corrupt;
                fail("the enrolment after the kill did not take the next slot of " + stratum);
            }
            used[stratum] = k + 1;
        }
        checkedEntries += logSound ? strata.size() : 0;
        for (const auto& stratum : strata) {
            if (auto s = topUp(*store, used[stratum], stratum); !s) {
                fail("topping the store up failed: " + s.error().describe());
            }
        }
        if (o.verbose) {
            std::fprintf(stderr, "round %d: %zu allocations in this store\n", round,
                         checkedEntries);
        }
    }
    out.note = "killed " + std::to_string(out.rounds) + " enrolling children, " +
               std::to_string(enrolments) + " enrolments acknowledged";
    return out;
}

}  // namespace

Scenario deviceFinalizeKillScenario() {
    return {"device-finalize-kill",
            "a round: a child saves, updates and finalizes records (and acknowledges some) in "
            "a store and gets SIGKILL within 60 ms (one in ten within 20 ms of its start); "
            "every finalize it reported is there, unchanged, outbox gap-free, integrity ok "
            "(a fresh store every 10 rounds)",
            100, 1000, finalizeKill};
}

Scenario deviceAllocationKillScenario() {
    return {"device-allocation-kill",
            "a round: a child enrols participants (finalize opens a case and takes a slot) and "
            "gets SIGKILL within 30 ms of its first; every reported enrolment has its log "
            "entry, the log takes slots in order without gaps, the next enrolment takes the "
            "next slot (a fresh store every 10 rounds)",
            100, 1000, allocationKill};
}

}  // namespace veld::reliability
