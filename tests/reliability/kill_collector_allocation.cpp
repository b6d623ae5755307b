// SIGKILL of the collector while devices pull and get allocation blocks dealt. Devices enrol
// participants (each takes a slot) until strata run low, then sync; the collector deals new
// blocks inside the pull's transaction, and the kill lands before, in or after it. Afterwards no
// block is held by a device it was not dealt to, every block dealt reaches its device whole and
// opens with its key, every device can enrol in every stratum, and the collector's verification
// of every allocation received is clean.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>

#include <signal.h>

#include <veld/allocation.hpp>

#include "reliability/fault_rounds.hpp"
#include "support/sync_world.hpp"

namespace veld::reliability {

namespace {

constexpr int kRoundsPerWorld = 20;
constexpr std::size_t kDevices = 4;
constexpr const char* kStudy = "kill_study";

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// An intake that opens a case and asks for a slot of the stratum.
RecordContent intake(const std::string& site, int n) {
    RecordContent c;
    c.formId = "kill_intake";
    c.formVersion = 1;
    c.caseId = makeUuidV4();
    c.answers = {{"site", ChoiceAnswer{site, {}}}};
    char pseudonym[80];
    std::snprintf(pseudonym, sizeof pseudonym, "demo:%064x", static_cast<unsigned>(n));
    c.caseChange = CaseChange{CaseAction::Open, "participant", pseudonym, {{"site", site, {}}}};
    c.allocate = AllocationRequest{kStudy, alloc::stratumKey({{"site", site}})};
    return c;
}

bool outOfSlots(const Error& e) {
    return e.code == ErrorCode::WrongState &&
           e.message.find("no allocation left") != std::string::npos;
}

Outcome allocationKill(const Options& o) {
    Outcome out;
    std::unique_ptr<test::SyncWorld> world;
    sync::SyncOptions options;
    options.maxBatchRecords = 3;
    int killedMidSync = 0;
    long waitedForSlots = 0;
    long blocksBefore = 0;
    long blocksDealt = 0;
    int dealtUnanswered = 0;
    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        const auto fail = [&](const std::string& what) {
            out.fail(o.seed, round,
                     what + " (state from round " +
                         std::to_string(worldStart(round, kRoundsPerWorld)) + " on)");
        };
        if (renewWorld(world, o, round, kRoundsPerWorld)) {
            if (auto s =
                    world->staff().defineStudy(smallBlocksStudy(kStudy), nowMs(), "reliability");
                !s)
                throw std::runtime_error(s.error().describe());
            world->collector().start(kScenarioCollectorFlags);
            // A first sync brings the study and the first blocks.
            for (std::size_t d = 0; d < kDevices; ++d) {
                auto& device = world->addEnrolledDevice("device-" + std::to_string(d));
                if (auto e = test::syncUntilDone(device, options, 5); !e.empty())
                    throw std::runtime_error("a first sync failed: " + e);
            }
            blocksBefore = 0;
        }
        auto& devices = world->devices();

        // Participants come in: 0-3 per device, each in a random stratum; a device whose stratum
        // is out of slots leaves that one for later, as it would offline.
        std::vector<std::vector<std::string>> sites(devices.size());
        for (auto& s : sites) {
            const int participants = static_cast<int>(rng() % 4);
            for (int p = 0; p < participants; ++p)
                s.push_back(rng() % 2 ? "east" : "west");
        }
        std::vector<long> outOf(devices.size(), 0), enrolled(devices.size(), 0);
        std::vector<std::string> enrolErrors(devices.size());
        test::onThreads(devices.size(), [&](std::size_t d) {
            auto& store = *devices[d].store;
            for (std::size_t p = 0; p < sites[d].size(); ++p) {
                const int n = round * 100 + static_cast<int>(d * 10 + p);
                auto done = store.finalizeNew(intake(sites[d][p], n));
                if (!done && outOfSlots(done.error())) {
                    ++outOf[d];
                } else if (!done) {
                    enrolErrors[d] = done.error().describe();
                } else {
                    devices[d].ledger.records.push_back(done->id);
                    ++enrolled[d];
                }
            }
        });
        for (std::size_t d = 0; d < devices.size(); ++d) {
            waitedForSlots += outOf[d];
            out.acknowledged += enrolled[d];
            if (!enrolErrors[d].empty()) fail("an enrolment failed: " + enrolErrors[d]);
        }

        // All sync at once (push, then pull with the stock that is left). In half the rounds the
        // kill comes after a random number of devices have started pulling, plus up to 4 ms; in
        // the other half as soon as the collector's file shows a pull's dealing committed, plus
        // up to 0.3 ms, so that it often falls between that commit and the pull's reply.
        const bool watchDealing = rng() % 2 == 1;
        const auto pullingBeforeKill = static_cast<int>(rng() % kDevices);
        const auto extra = std::chrono::microseconds(watchDealing ? rng() % 300 : rng() % 4000);
        auto watch = world->open();
        const std::int64_t dealtBefore =
            watch.queryInt("SELECT count(*) FROM study_blocks").value();
        std::atomic<int> pulling{0};
        std::atomic<std::size_t> returned{0};
        std::vector<std::atomic<bool>> finished(devices.size());
        std::vector<std::thread> threads;
        for (std::size_t d = 0; d < devices.size(); ++d) {
            threads.emplace_back([&, d] {
                auto& store = *devices[d].store;
                bool counted = false;
                finished[d] = static_cast<bool>(sync::syncOnce(
                    store, devices[d].connection, options, [&](const sync::Progress& p) {
                        if (p.state == sync::Progress::State::Pulling && !counted) {
                            counted = true;
                            ++pulling;
                        }
                    }));
                if (!counted) ++pulling;
                ++returned;
            });
        }
        if (watchDealing) {
            waitForMoment(
                [&] {
                    auto dealt = watch.queryInt("SELECT count(*) FROM study_blocks");
                    return (dealt && dealt.value() > dealtBefore) || returned == devices.size();
                },
                std::chrono::microseconds(50), extra);
        } else {
            waitForMoment([&] { return pulling >= pullingBeforeKill; },
                          std::chrono::microseconds(100), extra);
        }
        killCollector(*world, threads, out, fail);
        bool cut = false;
        for (std::size_t d = 0; d < devices.size(); ++d)
            cut = cut || !finished[d];
        if (cut) ++killedMidSync;

        test::CheckTally tally;
        // Checks every device; returns the slots dealt that have not reached their device.
        const auto checkAll = [&](bool complete) -> std::size_t {
            auto file = world->open();
            auto dealt = file.dealtBlocks(kStudy);
            auto s = file.study(kStudy);
            if (!dealt || !s) {
                tally.addCorrupt(1, "the collector's study cannot be read");
                return 0;
            }
            test::checkCollector(*world, file, tally);
            std::size_t missing = 0;
            for (auto& d : devices) {
                missing +=
                    test::checkBlocks(dealt.value(), s.value(), d.path, d.ledger, complete, tally);
                auto& store = *d.store;
                test::checkDelivery(file, d.ledger, store, complete, tally);
            }
            if (complete) blocksDealt += static_cast<long>(dealt->size()) - blocksBefore;
            if (complete) blocksBefore = static_cast<long>(dealt->size());
            return missing;
        };
        // Right after the kill: what each device holds was dealt to it, and opens. Slots dealt
        // and not on their device mean a pull committed its dealing and the kill took its reply.
        if (checkAll(false) > 0) ++dealtUnanswered;

        // Back up: every device finishes a round; then every block dealt is on its device.
        world->collector().restart(kScenarioCollectorFlags);
        std::vector<std::string> errors(devices.size());
        test::onThreads(devices.size(), [&](std::size_t d) {
            errors[d] = test::syncUntilDone(devices[d], options, 5);
        });
        for (const auto& e : errors) {
            if (!e.empty()) fail("a device cannot finish after the restart: " + e);
        }
        checkAll(true);

        // Every device can enrol in every stratum, and every allocation it took is at the
        // collector once; the collector's verification finds nothing wrong.
        for (auto& d : devices) {
            auto& store = *d.store;
            auto stock = store.allocationStock();
            if (!stock || stock->size() != 2) {
                tally.addCorrupt(1, "a device does not know the study's two strata");
                continue;
            }
            for (const auto& st : stock.value()) {
                if (st.remaining <= 0)
                    tally.addLost(1, "a device synced, yet has no slot left in " + st.stratum);
            }
            auto log = store.allocationLog();
            auto file = world->open();
            auto held = file.allocationsFrom(kStudy, d.id);
            if (!log || !held) {
                tally.addCorrupt(1, "allocations cannot be read");
                continue;
            }
            const auto mine = static_cast<std::int64_t>(log->size());
            if (held->first > mine) tally.addDoubled(held->first - mine, "allocations held twice");
            if (held->first < mine) tally.addLost(mine - held->first, "allocations not held");
            if (held->second != held->first)
                tally.addDoubled(held->first - held->second, "a log number held twice");
        }
        auto verified = world->staff().verifyAllocations(kStudy);
        if (!verified) {
            tally.addCorrupt(1, "verification did not run: " + verified.error().describe());
        } else if (!verified->ok()) {
            for (const auto& p : verified->problems) {
                tally.addCorrupt(
                    1, "verification: " + std::string(sync::allocationProblemName(p.kind)) + " " +
                           p.detail);
            }
        }
        addChecks(out, tally, o, round, kRoundsPerWorld);
        if (o.verbose) {
            std::fprintf(stderr, "round %d: killed after %d pulls began%s; %ld blocks dealt\n",
                         round, pullingBeforeKill, cut ? ", mid-sync" : "", blocksDealt);
        }
    }
    out.note = "killed mid-sync in " + std::to_string(killedMidSync) + " of " +
               std::to_string(out.rounds) + " rounds (" + std::to_string(dealtUnanswered) +
               " between a dealing's commit and its reply), " + std::to_string(blocksDealt) +
               " blocks dealt, " + std::to_string(waitedForSlots) + " enrolments out of slots";
    return out;
}

}  // namespace

Scenario collectorAllocationKillScenario() {
    return {"collector-allocation-kill",
            "a round: 4 devices enrol 0-3 participants each (2 strata, blocks of 2-4, low mark "
            "2) and sync at once; the collector gets SIGKILL after 0-3 pulls began plus up to "
            "4 ms, or (half the rounds) right after the file shows a dealing committed; no device "
            "holds a block not dealt to it; restarted, every dealt block is on "
            "its device whole and opens, every stratum has a slot, verification is clean",
            100, 1000, allocationKill};
}

}  // namespace veld::reliability
