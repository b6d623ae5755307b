// The reliability harness's scenarios: each one runs some number of rounds of a fault (a power
// cut, a SIGKILL, a cut connection, a hostile client) against real stores and real processes,
// and counts what a user would notice: operations acknowledged, and of those, lost or doubled,
// and files that came out corrupt (integrity_check, a body failing verification, an outbox or
// allocation log breaking its rules).
//
// A scenario is a plain function over Options; veld-reliability runs each one in a child process
// of its own (so process-wide state, such as a registered VFS or a signal disposition, never
// leaks from one to another) and prints the table. Every round derives its randomness from
// (seed, round), so a failure names the seed and round that replay it:
//
//   veld-reliability --scenario NAME --seed S --first-round R --rounds 1
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace veld::reliability {

struct Options {
    int rounds = 100;
    int firstRound = 0;      // rounds run are firstRound .. firstRound + rounds - 1
    std::uint64_t seed = 1;  // with the round number, decides every random choice
    std::string workDir;     // an empty folder of the scenario's own
    bool verbose = false;    // progress on stderr
};

struct Outcome {
    long rounds = 0;        // rounds actually run
    long acknowledged = 0;  // operations whose success was reported to their caller
    long lost = 0;          // acknowledged operations missing or changed afterwards
    long doubled = 0;       // operations present more than once afterwards
    long corrupt = 0;       // files or tables found breaking their rules afterwards
    /// What went wrong, each with the seed and round that replay it (at most a few are kept).
    std::vector<std::string> failures;
    /// One line about what the rounds did (for the table's last column), e.g. "killed mid-push
    /// in 97 of 100 rounds".
    std::string note;

    /// Records a failure (kept up to 20) with the seed and round that replay it.
    void fail(std::uint64_t seed, int round, const std::string& what);
};

using ScenarioFn = std::function<Outcome(const Options&)>;

struct Scenario {
    std::string name;       // kebab-case, e.g. "device-finalize-power-cut"
    std::string what;       // one line for --list
    int shortRounds = 100;  // what CI runs
    int longRounds = 1000;  // what --long runs
    ScenarioFn run;
};

/// Every scenario, in the order the table shows them (tests/reliability/registry.cpp).
const std::vector<Scenario>& scenarios();

/// A random generator for one round: the same (seed, round, salt) always gives the same stream.
std::uint64_t roundSeed(std::uint64_t seed, int round, std::uint64_t salt = 0);

}  // namespace veld::reliability
