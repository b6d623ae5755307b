// SIGKILL of veld-agent (a real process) at random moments while it shares a device store with
// the client's uploader (in this process) and a `veldctl sync` process, and records are being
// finalized all the while. Only one of them syncs at a time (the sync lock); after each round the
// device syncs to the end and the collector must hold every finalized record exactly once.
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>

#include <signal.h>

#include <veld/sync/uploader.hpp>

#include "reliability/fault_rounds.hpp"
#include "support/sync_world.hpp"

namespace veld::reliability {

namespace {

constexpr int kRoundsPerWorld = 10;

Outcome agentKill(const Options& o) {
    Outcome out;
    std::unique_ptr<test::SyncWorld> world;
    sync::SyncOptions options;
    options.maxBatchRecords = 2;  // many requests per round, so kills land between and in them
    long agentsKilled = 0, clisKilled = 0, finalized = 0;
    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        const auto fail = [&](const std::string& what) { out.fail(o.seed, round, what); };
        if (renewWorld(world, o, round, kRoundsPerWorld)) {
            world->collector().start(kScenarioCollectorFlags);
            world->addEnrolledDevice("laptop");
        }
        auto& device = world->devices().front();

        // The field worker finalizes records for the whole round (the device's store handle is
        // this thread's until it is joined).
        std::atomic<bool> finalizing{true};
        std::atomic<long> made{0};
        std::thread worker([&, first = round * 10000] {
            int n = first;
            while (finalizing) {
                const int count = 1 + n % 3;
                world->addRecords(device, count, n);
                made += count;
                n += count;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        });
        sync::Uploader uploader(device.path, options, std::chrono::milliseconds(50));
        uploader.start();
        test::ChildProcess agent(
            {test::binary("veld-agent"), "--store", device.path, "--interval", "0.1"},
            {{}, world->folder() + "/agent.log"});
        std::unique_ptr<test::ChildProcess> cli;
        if (rng() % 2) {
            cli = std::make_unique<test::ChildProcess>(
                std::vector<std::string>{test::binary("veldctl"), "sync", device.path, "--quiet"},
                test::ChildOptions{{}, world->folder() + "/veldctl.log"});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 400));
        agent.kill(SIGKILL);
        if (cli && rng() % 2) cli->kill(SIGKILL);
        const auto agentEnded = agent.wait();
        if (agentEnded.signal == SIGKILL) {
            ++agentsKilled;
        } else {
            ++out.corrupt;
            fail("veld-agent ended by itself before the kill: exit code " +
                 std::to_string(agentEnded.exitCode));
        }
        if (cli) {
            const auto r = cli->wait();
            if (r.signal == SIGKILL) ++clisKilled;
            // 0 done, 1 a failed round, 3 another program was syncing; nothing else.
            if (!r.signal && r.exitCode != 0 && r.exitCode != 1 && r.exitCode != 3) {
                fail("veldctl sync ended with exit code " + std::to_string(r.exitCode));
            }
        }
        finalizing = false;
        worker.join();
        uploader.stop();
        out.acknowledged += made;
        finalized += made;

        // What is left goes now; then the collector must hold each record once.
        const std::string error = test::syncUntilDone(device, options, 10);
        if (!error.empty()) fail("the device could not sync after the round: " + error);
        auto file = world->open();
        test::CheckTally tally;
        test::checkCollector(*world, file, tally);
        test::checkDelivery(file, device.ledger, *device.store, error.empty(), tally);
        addChecks(out, tally, o, round, kRoundsPerWorld);
        if (o.verbose) {
            std::fprintf(stderr, "round %d: %ld records finalized\n", round, made.load());
        }
    }
    out.note = "killed " + std::to_string(agentsKilled) + " agents and " +
               std::to_string(clisKilled) + " veldctl sync mid-sync; " + std::to_string(finalized) +
               " records finalized meanwhile";
    return out;
}

}  // namespace

Scenario deviceAgentKillScenario() {
    return {"device-agent-kill",
            "a round: records are finalized while veld-agent, the client's uploader and (half "
            "the rounds) veldctl sync sync one store; the agent gets SIGKILL within 420 ms, "
            "veldctl sync in half of those rounds; after a last sync the collector holds every "
            "record once (a fresh world every 10 rounds)",
            30, 300, agentKill};
}

}  // namespace veld::reliability
