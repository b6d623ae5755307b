// The power-cut scenarios' shared driver: a scenario is made of a preparation (the starting files,
// once per run), the work of one round (under the power-cut VFS, until the power goes) and the
// checks of one round (with the normal VFS, on what the disk kept). The driver copies the
// prepared files into a fresh folder for every round, picks the moment of the cut from the
// round's seed, and adds up the outcome.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "reliability/scenario.hpp"

namespace veld::reliability::power_cut {

/// Contents of records the scenarios write: test::sampleContent(n, form), told apart by n.
inline constexpr std::int64_t kSampleEpochMs = 1764000000000;  // its paradata.startedUtcMs - n

/// One round, as a scenario's work and checks see it.
class Round {
  public:
    Round(Outcome& outcome, std::uint64_t seed, int number, std::string dir, bool calibrating);

    [[nodiscard]] int number() const { return m_number; }
    [[nodiscard]] const std::string& dir() const { return m_dir; }
    [[nodiscard]] std::string file(const std::string& name) const { return m_dir + "/" + name; }
    /// The calibration run: the work runs to its end without a cut, to count its operations.
    [[nodiscard]] bool calibrating() const { return m_calibrating; }
    /// Every random choice of the round's work (contents, operations) comes from here.
    std::mt19937_64& rng() { return m_rng; }
    std::uint64_t pick(std::uint64_t below) { return below == 0 ? 0 : m_rng() % below; }

    /// The end of the work, before its connections close: cuts the power unless it is off
    /// already, so what was not synced is lost (not when calibrating).
    void powerOff();

    /// An operation of the kind the scenario is about returned success.
    void acknowledge(long n = 1) { m_acknowledged += n; }
    [[nodiscard]] long acknowledged() const { return m_acknowledged; }

    // What the checks found. Each records a failure with the seed and round that replay it.
    void lost(long n, const std::string& what);
    void doubled(long n, const std::string& what);
    void corrupt(const std::string& what);
    /// Anything else that went wrong (an operation that failed with the power still on).
    void fail(const std::string& what);
    [[nodiscard]] bool failed() const { return m_failed; }

    /// When calibrating: the operations counted, and the microseconds since the round began,
    /// when the work called powerOff() (-1 before). Closing the connections afterwards (a
    /// checkpoint) is not part of the work.
    [[nodiscard]] long operationsAtPowerOff() const { return m_operationsAtPowerOff; }
    [[nodiscard]] std::int64_t microsAtPowerOff() const { return m_microsAtPowerOff; }

  private:
    Outcome& m_outcome;
    std::uint64_t m_seed;
    int m_number;
    std::string m_dir;
    bool m_calibrating;
    std::mt19937_64 m_rng;
    long m_acknowledged = 0;
    bool m_failed = false;
    std::chrono::steady_clock::time_point m_started = std::chrono::steady_clock::now();
    long m_operationsAtPowerOff = -1;
    std::int64_t m_microsAtPowerOff = -1;
};

struct Parts {
    std::string name;
    std::string what;
    /// Open through SQLite's default VFS (the collector's store names none): the power-cut VFS
    /// is made the default during the work.
    bool viaDefaultVfs = false;
    /// Every other round, the power is cut from another thread at a random moment of the work
    /// instead of after a chosen operation.
    bool timedCuts = false;
    /// Makes the starting files in an empty folder (normal VFS), once per run.
    std::function<void(const std::string& dir)> prepare;
    /// One round's work in round.dir() (a copy of the prepared folder): through kPowerCutVfs
    /// (or the default VFS) until an operation fails because the power is off, or to its end;
    /// then round.powerOff(), and every connection closed before it returns.
    std::function<void(Round&)> work;
    /// The checks of one round, on what the disk kept, with the normal VFS.
    std::function<void(Round&)> verify;
};

Scenario makeScenario(Parts parts);

/// Leaves about `frames` frames in the WAL of the (closed) database at `path`, as a file in use
/// has between checkpoints: filler rows inserted by `insertSql` (parameters ?1 key, ?2 value,
/// into a table the checks ignore). A round's commits then cross the checkpoint threshold, so
/// the cut can fall inside a checkpoint (the database file written and synced, the WAL
/// restarted).
void leaveWalFilled(const std::string& path, long frames, const std::string& insertSql);

void addDeviceScenarios(std::vector<Scenario>& out);
void addCollectorScenarios(std::vector<Scenario>& out);

}  // namespace veld::reliability::power_cut
