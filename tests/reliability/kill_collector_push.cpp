// The collector (a real veld-collector process) dying while devices push: SIGKILL at random
// moments while ten devices push at once, and an exit right between a push's commit and its
// reply. After each death the collector's file is checked against the devices' stores, then the
// collector is started again on the same file and the devices resend.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>

#include <signal.h>

#include "reliability/fault_rounds.hpp"
#include "support/sync_world.hpp"

namespace veld::reliability {

namespace {

constexpr int kRoundsPerWorld = 25;

std::uint64_t ackedOf(const test::SyncWorld::Device& d) {
    auto& store = *d.store;
    auto state = store.outboxState();
    return state ? state->ackedThrough : 0;
}

// Checks every device of the world against the collector's file; adds to the outcome.
void checkWorld(test::SyncWorld& world, bool complete, Outcome& out, const Options& o, int round) {
    auto file = world.open();
    test::CheckTally tally;
    test::checkCollector(world, file, tally);
    for (auto& d : world.devices()) {
        auto& store = *d.store;
        test::checkDelivery(file, d.ledger, store, complete, tally);
    }
    addChecks(out, tally, o, round, kRoundsPerWorld);
}

// ---- collector-push-kill --------------------------------------------------------------------

constexpr std::size_t kPushDevices = 10;

Outcome pushKill(const Options& o) {
    Outcome out;
    std::unique_ptr<test::SyncWorld> world;
    int interrupted = 0;
    sync::SyncOptions options;
    options.maxBatchRecords = 2;  // several requests per device, so kills land between and in them
    options.pull = false;
    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        const auto fail = [&](const std::string& what) { out.fail(o.seed, round, what); };
        if (renewWorld(world, o, round, kRoundsPerWorld)) {
            world->collector().start(kScenarioCollectorFlags);
            for (std::size_t d = 0; d < kPushDevices; ++d)
                world->addEnrolledDevice("device-" + std::to_string(d));
        }
        auto& devices = world->devices();

        // New records on every device, then all push at once. The kill comes after a random
        // number of acknowledged records plus up to 3 ms, so it lands anywhere: before, during
        // or after a commit, in a reply, between requests.
        std::int64_t total = 0;
        std::vector<int> counts;
        for (std::size_t d = 0; d < devices.size(); ++d) {
            counts.push_back(1 + static_cast<int>(rng() % 6));
            total += counts.back();
        }
        // Each device's records are made on a thread of its own: finalizing is mostly waiting
        // for the disk.
        test::onThreads(devices.size(), [&](std::size_t d) {
            world->addRecords(devices[d], counts[d], round * 1000 + static_cast<int>(d) * 10);
        });
        std::vector<std::uint64_t> ackedBefore;
        for (auto& d : devices)
            ackedBefore.push_back(ackedOf(d));
        // Up to two thirds in, so that most kills find pushes still going.
        const auto target =
            static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(total * 2 / 3 + 1));
        const auto extra = std::chrono::microseconds(rng() % 3000);

        std::vector<std::atomic<std::int64_t>> sent(devices.size());
        std::vector<std::atomic<bool>> finished(devices.size());
        std::thread pushers([&] {
            test::onThreads(devices.size(), [&](std::size_t d) {
                auto& store = *devices[d].store;
                finished[d] = static_cast<bool>(
                    sync::syncOnce(store, devices[d].connection, options,
                                   [&, d](const sync::Progress& p) { sent[d] = p.recordsSent; }));
            });
        });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        for (;;) {
            std::int64_t n = 0;
            bool all = true;
            for (std::size_t d = 0; d < devices.size(); ++d) {
                n += sent[d];
                all = all && finished[d];
            }
            if (n >= target || all || std::chrono::steady_clock::now() > deadline) break;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        std::this_thread::sleep_for(extra);
        world->collector().kill(SIGKILL);
        const auto ended = world->collector().wait();
        pushers.join();
        if (ended.signal != SIGKILL) {
            ++out.corrupt;
            fail("the collector ended by itself before the kill: " + world->collector().log());
        }
        bool cut = false;
        for (std::size_t d = 0; d < devices.size(); ++d)
            cut = cut || !finished[d];
        if (cut) ++interrupted;

        // What the dead collector holds: a prefix of each device's outbox, at least what the
        // device was told, each record once.
        checkWorld(*world, false, out, o, round);

        // Back on the same file: every device resends and finishes.
        world->collector().restart(kScenarioCollectorFlags);
        std::vector<std::string> errors(devices.size());
        test::onThreads(devices.size(), [&](std::size_t d) {
            errors[d] = test::syncUntilDone(devices[d], options, 5);
        });
        for (std::size_t d = 0; d < devices.size(); ++d) {
            if (!errors[d].empty()) {
                fail("device " + std::to_string(d) +
                     " cannot finish after the restart: " + errors[d]);
            }
            out.acknowledged += static_cast<long>(ackedOf(devices[d]) - ackedBefore[d]);
        }
        checkWorld(*world, true, out, o, round);
        if (o.verbose) {
            std::fprintf(stderr, "round %d: killed after %lld of %lld records%s\n", round,
                         static_cast<long long>(target), static_cast<long long>(total),
                         cut ? ", mid-push" : ", after every push had finished");
        }
    }
    out.note = "killed mid-push in " + std::to_string(interrupted) + " of " +
               std::to_string(out.rounds) + " rounds";
    return out;
}

// ---- collector-commit-reply-kill ------------------------------------------------------------

constexpr std::size_t kCommitDevices = 2;

Outcome commitReplyKill(const Options& o) {
    Outcome out;
    std::unique_ptr<test::SyncWorld> world;
    int unanswered = 0;
    const auto converge = [&](int round) {
        // The collector comes back without the fault, and every device finishes.
        world->collector().restart(kScenarioCollectorFlags);
        sync::SyncOptions options;
        options.pull = false;
        for (auto& d : world->devices()) {
            if (auto e = test::syncUntilDone(d, options, 5); !e.empty())
                out.fail(o.seed, round, "a device cannot finish: " + e);
        }
        checkWorld(*world, true, out, o, round);
        world->collector().kill(SIGKILL);
        (void)world->collector().wait();
    };
    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        const auto fail = [&](const std::string& what) { out.fail(o.seed, round, what); };
        if (renewWorld(world, o, round, kRoundsPerWorld)) {
            world->collector().start(kScenarioCollectorFlags);
            for (std::size_t d = 0; d < kCommitDevices; ++d)
                world->addEnrolledDevice("device-" + std::to_string(d));
            world->collector().kill(SIGKILL);
            (void)world->collector().wait();
        }
        auto& devices = world->devices();

        // The collector ends (_exit) right after its N-th push commit, before answering it. Each
        // device has at least N batches to send, so the N-th commit always comes.
        const int commits = 1 + static_cast<int>(rng() % 4);
        sync::SyncOptions options;
        options.maxBatchRecords = 1 + rng() % 3;
        options.pull = false;
        std::vector<std::uint64_t> ackedBefore;
        for (std::size_t d = 0; d < devices.size(); ++d) {
            const int k =
                static_cast<int>(options.maxBatchRecords) * commits + static_cast<int>(rng() % 4);
            world->addRecords(devices[d], k, round * 1000 + static_cast<int>(d) * 100);
            ackedBefore.push_back(ackedOf(devices[d]));
        }
        world->collector().restart(kScenarioCollectorFlags,
                                   {"VELD_FAULT_EXIT_AFTER_COMMITS=" + std::to_string(commits)});
        test::onThreads(devices.size(), [&](std::size_t d) {
            auto& store = *devices[d].store;
            (void)sync::syncOnce(store, devices[d].connection, options);
        });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (world->collector().running() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (world->collector().running()) {
            fail("the collector did not end after " + std::to_string(commits) + " commits");
            world->collector().kill(SIGKILL);
        }
        const auto ended = world->collector().wait();
        if (ended.exitCode != 3) {
            fail("the collector ended with " +
                 (ended.signal ? "signal " + std::to_string(ended.signal)
                               : "exit code " + std::to_string(ended.exitCode)) +
                 ", not at the fault");
        }
        for (std::size_t d = 0; d < devices.size(); ++d)
            out.acknowledged += static_cast<long>(ackedOf(devices[d]) - ackedBefore[d]);

        // The commit that was never answered: some device is behind what the collector holds.
        checkWorld(*world, false, out, o, round);
        auto file = world->open();
        std::uint64_t behind = 0;
        for (auto& d : devices) {
            auto held = file.device(d.id);
            const auto acked = ackedOf(d);
            if (held && held->receivedThrough > acked) behind += held->receivedThrough - acked;
        }
        if (behind > 0) {
            ++unanswered;
        } else {
            fail(
                "no device is behind the collector: the exit did not fall between commit and "
                "reply");
        }
        if (o.verbose) {
            std::fprintf(stderr, "round %d: exit after commit %d, %llu records unanswered\n", round,
                         commits, static_cast<unsigned long long>(behind));
        }
        const bool lastOfWorld = (round + 1) % kRoundsPerWorld == 0;
        if (lastOfWorld || round + 1 == o.firstRound + o.rounds) converge(round);
    }
    out.note = "exit between commit and reply in " + std::to_string(unanswered) + " of " +
               std::to_string(out.rounds) + " rounds; resent and converged every " +
               std::to_string(kRoundsPerWorld) + " rounds";
    return out;
}

}  // namespace

Scenario collectorPushKillScenario() {
    return {"collector-push-kill",
            "a round: 10 devices add 1-6 records each and push at once (2 per request); the "
            "collector gets SIGKILL after a random number of acknowledged records plus up to "
            "3 ms; its file holds a prefix of each outbox, at least what was acknowledged; "
            "restarted, every device finishes: every record exactly once, every outbox empty",
            100, 1000, pushKill};
}

Scenario collectorCommitReplyKillScenario() {
    return {"collector-commit-reply-kill",
            "a round: 2 devices push 1-3 records per request to a collector that exits right "
            "after its N-th commit (N 1-4), before replying; it holds what was acknowledged, "
            "each once, and more than the devices were told; every 25 rounds it restarts "
            "without the fault and everything arrives exactly once",
            100, 1000, commitReplyKill};
}

}  // namespace veld::reliability
