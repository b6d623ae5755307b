// SIGKILL of the collector while devices enrol. An enrolment that returned must work (the device
// can push); one that failed (the kill cut it, before or after the collector committed it) is
// tried again with the same code once the collector is back, and must succeed, as a field worker
// would type the same code again; and the collector never lists a device twice, or a device
// that nobody holds a working credential for.
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

constexpr int kRoundsPerWorld = 50;
constexpr std::size_t kDevices = 4;

Outcome enrolKill(const Options& o) {
    Outcome out;
    std::unique_ptr<test::SyncWorld> world;
    std::size_t listedBefore = 0;  // devices the collector listed at the start of the round
    int committedUnanswered = 0;
    int cutEnrolments = 0;
    sync::SyncOptions options;
    options.pull = false;
    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        const auto fail = [&](const std::string& what) { out.fail(o.seed, round, what); };
        if (renewWorld(world, o, round, kRoundsPerWorld)) {
            world->collector().start(kScenarioCollectorFlags);
            listedBefore = 0;
        }

        // Four new devices, each with one finalized record and a code of its own.
        std::vector<std::string> names;
        for (std::size_t i = 0; i < kDevices; ++i)
            names.push_back("r" + std::to_string(round) + "-" + std::to_string(i));
        const auto devices = world->addDevices(names);
        test::onThreads(kDevices, [&](std::size_t i) {
            world->addRecords(*devices[i], 1, round * 10 + static_cast<int>(i));
        });
        std::vector<std::string> codes;
        for (std::size_t i = 0; i < kDevices; ++i)
            codes.push_back(world->newCode());
        const std::string url = world->collector().url();

        // All enrol at once. In half the rounds the kill comes after a random number of them
        // returned, plus up to 5 ms, so it lands anywhere; in the other half it comes as soon as
        // the collector's file shows the k-th enrolment committed, plus up to 0.3 ms, so that it
        // often falls between a commit and its reply (rare by chance: the window is short).
        const bool watchCommits = rng() % 2 == 1;
        const auto returnedBeforeKill = static_cast<int>(rng() % kDevices);
        const auto extra = std::chrono::microseconds(watchCommits ? rng() % 300 : rng() % 5000);
        std::vector<char> enrolled(kDevices, 0);
        std::vector<std::string> firstError(kDevices);
        std::atomic<int> returned{0};
        std::vector<std::thread> threads;
        for (std::size_t i = 0; i < kDevices; ++i) {
            threads.emplace_back([&, i] {
                auto& store = *devices[i]->store;
                auto r = sync::enrol(store, url, codes[i]);
                enrolled[i] = r ? 1 : 0;
                if (!r) firstError[i] = r.error().describe();
                ++returned;
            });
        }
        if (watchCommits) {
            auto file = world->open();
            const auto wanted = static_cast<std::int64_t>(listedBefore) + returnedBeforeKill + 1;
            waitForMoment(
                [&] {
                    auto listed = file.queryInt("SELECT count(*) FROM devices");
                    return (listed && listed.value() >= wanted) || returned == kDevices;
                },
                std::chrono::microseconds(50), extra);
        } else {
            waitForMoment([&] { return returned >= returnedBeforeKill; },
                          std::chrono::microseconds(100), extra);
        }
        killCollector(*world, threads, out, fail);

        // What the dead collector committed.
        std::vector<char> listed(kDevices, 0);
        {
            auto file = world->open();
            for (std::size_t i = 0; i < kDevices; ++i) {
                auto held = file.device(devices[i]->id);
                listed[i] = held && held->listed ? 1 : 0;
                if (enrolled[i] && !listed[i]) {
                    ++out.lost;
                    fail("device " + std::to_string(i) +
                         " was told it is enrolled; the collector does not list it");
                }
                if (!enrolled[i]) ++cutEnrolments;
                if (!enrolled[i] && listed[i]) ++committedUnanswered;
            }
        }

        // Back up: a device whose enrolment failed tries again with the same code.
        world->collector().restart(kScenarioCollectorFlags);
        std::vector<char> works(kDevices, 0);
        for (std::size_t i = 0; i < kDevices; ++i) {
            auto& store = *devices[i]->store;
            if (enrolled[i]) {
                ++out.acknowledged;
            } else {
                std::string why;
                for (int attempt = 0; attempt < 3 && !enrolled[i]; ++attempt) {
                    auto r = sync::enrol(store, url, codes[i]);
                    enrolled[i] = r ? 1 : 0;
                    if (!r) why = r.error().describe();
                }
                if (!enrolled[i]) {
                    fail("device " + std::to_string(i) + " cannot enrol again with its code (" +
                         (listed[i] ? "the collector had committed its enrolment"
                                    : "the collector had not committed its enrolment") +
                         "; first attempt: " + firstError[i] + "): " + why);
                    continue;
                }
                ++out.acknowledged;
            }
            // Enrolled means usable: its record goes up with the credential it holds.
            auto connection = sync::loadConnection(store);
            if (!connection) {
                fail("device " + std::to_string(i) + " holds no connection after enrolling");
                continue;
            }
            devices[i]->connection = connection.value();
            auto pushed = sync::syncOnce(store, devices[i]->connection, options);
            if (!pushed) {
                ++out.lost;
                fail("device " + std::to_string(i) +
                     " enrolled but cannot push: " + pushed.error().describe());
                continue;
            }
            works[i] = 1;
        }

        // The collector lists each device once, and only devices that work.
        auto file = world->open();
        test::CheckTally tally;
        for (std::size_t i = 0; i < kDevices; ++i) {
            auto held = file.device(devices[i]->id);
            const bool isListed = held && held->listed;
            if (isListed && !works[i]) {
                tally.addCorrupt(
                    1, "device " + std::to_string(i) + " is listed, yet no credential of it works");
            }
            if (works[i]) {
                auto& store = *devices[i]->store;
                test::checkDelivery(file, devices[i]->ledger, store, true, tally);
            }
        }
        auto all = file.devices();
        std::size_t listedNow = 0;
        for (std::size_t i = 0; i < kDevices; ++i) {
            auto held = file.device(devices[i]->id);
            if (held && held->listed) ++listedNow;
        }
        if (!all || all->size() != listedBefore + listedNow) {
            tally.addDoubled(1, "the collector lists " + std::to_string(all ? all->size() : 0) +
                                    " devices, expected " +
                                    std::to_string(listedBefore + listedNow));
        }
        listedBefore = all ? all->size() : listedBefore;
        test::checkCollector(*world, file, tally);
        addChecks(out, tally, o, round, kRoundsPerWorld);
        if (o.verbose) {
            std::fprintf(stderr, "round %d: killed after %s %d; listed %d%d%d%d\n", round,
                         watchCommits ? "commit" : "returned",
                         returnedBeforeKill + (watchCommits ? 1 : 0), listed[0], listed[1],
                         listed[2], listed[3]);
        }
    }
    out.note = std::to_string(cutEnrolments) + " enrolments cut by the kill, " +
               std::to_string(committedUnanswered) + " of them committed but unanswered";
    return out;
}

}  // namespace

Scenario collectorEnrolKillScenario() {
    return {"collector-enrol-kill",
            "a round: 4 new devices enrol at once and the collector gets SIGKILL after 0-3 of "
            "them returned plus up to 5 ms, or (half the rounds) right after the file shows the "
            "1st-4th enrolment committed; restarted, each failed one enrols again with the "
            "same code and must succeed; every enrolled device pushes a record; the collector "
            "lists each once and none that cannot be used",
            100, 1000, enrolKill};
}

}  // namespace veld::reliability
