// The SIGKILL scenarios (one factory each, in kill_*.cpp; kill.cpp adds them to the table in this
// order) and what they share with the cut-connection scenarios (connections.cpp): worlds of a
// collector and devices that live some rounds, and the way checks become an outcome.
#pragma once

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <veld/sync/study_json.hpp>

#include "reliability/scenario.hpp"
#include "support/collector_file.hpp"
#include "support/sync_world.hpp"

namespace veld::reliability {

Scenario deviceFinalizeKillScenario();        // kill_device.cpp
Scenario deviceAllocationKillScenario();      // kill_device.cpp
Scenario collectorPushKillScenario();         // kill_collector_push.cpp
Scenario collectorCommitReplyKillScenario();  // kill_collector_push.cpp
Scenario collectorEnrolKillScenario();        // kill_collector_enrol.cpp
Scenario collectorAllocationKillScenario();   // kill_collector_allocation.cpp
Scenario deviceAgentKillScenario();           // kill_agent.cpp

/// Scenarios send far more requests, and far faster, than devices in the field: the collector's
/// guards against guessing and loops would only get in the way.
inline const std::vector<std::string> kScenarioCollectorFlags = {"--auth-failures", "0",
                                                                 "--rate-limit", "0"};

/// The first round of the world that `round` belongs to, when worlds live `roundsPerWorld` rounds.
inline int worldStart(int round, int roundsPerWorld) {
    return round - round % roundsPerWorld;
}

/// A world (a collector file and its devices) lives `roundsPerWorld` rounds, so that checks stay
/// as cheap in round 1,000 as in round 1. Replaces `world` (removing the old one's files) when
/// `round` starts a new one; true when it did.
inline bool renewWorld(std::unique_ptr<test::SyncWorld>& world, const Options& o, int round,
                       int roundsPerWorld) {
    const std::string folder = o.workDir + "/world-" + std::to_string(round / roundsPerWorld);
    if (world && world->folder() == folder) return false;
    if (world) {
        const std::string old = world->folder();
        world.reset();
        std::error_code ec;
        std::filesystem::remove_all(old, ec);
    }
    world = std::make_unique<test::SyncWorld>(folder);
    return true;
}

/// The study of the scenarios that deal allocation blocks: two strata, blocks of 2 or 4 dealt one
/// at a time, a low mark of 2, so that a device enrolling a few participants runs low and most
/// pulls deal.
inline sync::StudyDefinition smallBlocksStudy(const std::string& id) {
    sync::StudyDefinition d;
    d.study.id = id;
    d.study.pilot = "reliability";
    d.study.arms = {{"a", 1}, {"b", 1}};
    d.study.factors = {{"site", {"east", "west"}}};
    d.study.blockSizes = {2, 4};
    d.study.lowSlots = 2;
    d.blocksPerDevice = 1;
    return d;
}

/// How a kill scenario picks its moment: polls `reached` every `every` until it holds (or 30 s
/// passed), then waits `extra` more.
inline void waitForMoment(const std::function<bool()>& reached, std::chrono::microseconds every,
                          std::chrono::microseconds extra) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!reached() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(every);
    std::this_thread::sleep_for(extra);
}

/// Kills the world's collector with SIGKILL, waits for it, and joins the threads that were
/// talking to it. A collector that had ended by itself counts as corrupt.
inline void killCollector(test::SyncWorld& world, std::vector<std::thread>& threads, Outcome& out,
                          const std::function<void(const std::string&)>& fail) {
    world.collector().kill(SIGKILL);
    const auto ended = world.collector().wait();
    for (auto& t : threads)
        t.join();
    if (ended.signal != SIGKILL) {
        ++out.corrupt;
        fail("the collector ended by itself before the kill");
    }
}

/// Adds what checks found to the outcome; each problem becomes a failure naming the seed and
/// round, and the round the world's state was built from (a replay starts there).
inline void addChecks(Outcome& out, const test::CheckTally& tally, const Options& o, int round,
                      int roundsPerWorld) {
    out.lost += tally.lost;
    out.doubled += tally.doubled;
    out.corrupt += tally.corrupt;
    for (const auto& p : tally.problems) {
        out.fail(
            o.seed, round,
            p + " (state from round " + std::to_string(worldStart(round, roundsPerWorld)) + " on)");
    }
}

}  // namespace veld::reliability
