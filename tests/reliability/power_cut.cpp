// Power cuts through the power-cut VFS (tests/support/power_cut_vfs.hpp): device and collector
// operations, each round cut at a moment chosen from its seed, then checked on what the disk
// kept. The scenarios are in power_cut_device.cpp and power_cut_collector.cpp; this file is the
// driver they share (power_cut_round.hpp).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <veld/sqlite.hpp>

#include "reliability/power_cut_round.hpp"
#include "reliability/scenarios.hpp"
#include "support/power_cut_vfs.hpp"

namespace fs = std::filesystem;

namespace veld::reliability {

namespace power_cut {

namespace {

// Salts of roundSeed(): the work's choices, the moment of the cut, and what survives it.
constexpr std::uint64_t kWorkSalt = 0x706f776572;  // "power"
constexpr std::uint64_t kCutSalt = 0x637574;       // "cut"
constexpr std::uint64_t kDiskSalt = 0x6469736b;    // "disk"
// Failed rounds keep their folder for a look, up to this many.
constexpr int kKeptFolders = 5;

// Cuts the power from its own thread once `delay` has passed, unless stopped first.
class TimedCut {
  public:
    explicit TimedCut(std::chrono::microseconds delay)
        : m_thread([this, delay] {
              std::unique_lock lock(m_mutex);
              if (!m_stopped.wait_for(lock, delay, [this] { return m_stop; })) {
                  lock.unlock();
                  test::cutPower();
              }
          }) {}
    ~TimedCut() {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_stopped.notify_all();
        m_thread.join();
    }
    TimedCut(const TimedCut&) = delete;
    TimedCut& operator=(const TimedCut&) = delete;

  private:
    std::mutex m_mutex;
    std::condition_variable m_stopped;
    bool m_stop = false;
    std::thread m_thread;  // last: started once the members above exist
};

// Makes the power-cut VFS the default for the work of a round, and gives it back after.
struct DefaultVfs {
    explicit DefaultVfs(bool on) : m_on(on) {
        if (m_on) test::setPowerCutVfsDefault(true);
    }
    ~DefaultVfs() {
        if (m_on) test::setPowerCutVfsDefault(false);
    }
    DefaultVfs(const DefaultVfs&) = delete;
    DefaultVfs& operator=(const DefaultVfs&) = delete;
    bool m_on;
};

std::string percent(long part, long whole) {
    if (whole <= 0) return "0%";
    return std::to_string((part * 100 + whole / 2) / whole) + "%";
}

Outcome run(const Parts& parts, const Options& options) {
    Outcome outcome;
    test::registerPowerCutVfs();
    const fs::path work = options.workDir;
    const fs::path prepared = work / "prepared";
    fs::remove_all(prepared);
    fs::create_directories(prepared);
    parts.prepare(prepared.string());

    auto fresh = [&](const std::string& name) {
        const fs::path dir = work / name;
        fs::remove_all(dir);
        fs::copy(prepared, dir, fs::copy_options::recursive);
        return dir.string();
    };

    // Calibration: the whole work once without a cut, to learn how many operations it makes
    // (the cut is chosen among them) and how long it takes (for timed cuts).
    long span = 1;
    std::int64_t spanMicros = 1;
    {
        Round calibration(outcome, options.seed, -1, fresh("calibration"),
                          /*calibrating=*/true);
        calibration.rng().seed(roundSeed(options.seed, -1, kWorkSalt));
        test::armPowerCut(-1, 0);
        {
            DefaultVfs vfs(parts.viaDefaultVfs);
            parts.work(calibration);
        }
        const auto stats = test::endPowerCutRound();
        if (calibration.operationsAtPowerOff() < 0)
            calibration.fail("the work did not call powerOff()");
        span = std::max(1L, calibration.operationsAtPowerOff());
        spanMicros = std::max<std::int64_t>(1, calibration.microsAtPowerOff());
        if (stats.openFiles > 0)
            calibration.fail("the work left " + std::to_string(stats.openFiles) +
                             " files open through the VFS");
        if (calibration.failed()) return outcome;
        fs::remove_all(calibration.dir());
    }

    long minCut = -1, maxCut = -1, timed = 0, atEnd = 0;
    test::PowerCutStats total;
    int kept = 0;
    for (int number = options.firstRound; number < options.firstRound + options.rounds; ++number) {
        const std::uint64_t cutSeed = roundSeed(options.seed, number, kCutSalt);
        const bool timedRound = parts.timedCuts && (cutSeed & 1) != 0;
        // A few rounds cut after the last operation: everything was answered, and what was
        // not synced must go without taking anything acknowledged with it.
        const long cutAfter =
            timedRound ? -1
                       : 1 + static_cast<long>((cutSeed >> 8) %
                                               static_cast<std::uint64_t>(span + span / 8 + 1));
        Round round(outcome, options.seed, number, fresh("round-" + std::to_string(number)), false);
        round.rng().seed(roundSeed(options.seed, number, kWorkSalt));
        test::armPowerCut(cutAfter, roundSeed(options.seed, number, kDiskSalt));
        {
            DefaultVfs vfs(parts.viaDefaultVfs);
            std::optional<TimedCut> timer;
            if (timedRound)
                timer.emplace(std::chrono::microseconds(static_cast<std::int64_t>(
                    (cutSeed >> 8) % static_cast<std::uint64_t>(spanMicros + spanMicros / 8))));
            parts.work(round);
        }
        if (!test::powerIsCut()) test::cutPower();  // the work did not; its connections are closed
        const auto stats = test::endPowerCutRound();
        if (stats.openFiles > 0)
            round.fail("the work left " + std::to_string(stats.openFiles) +
                       " files open through the VFS");
        if (!round.failed()) parts.verify(round);

        outcome.rounds++;
        outcome.acknowledged += round.acknowledged();
        if (timedRound) ++timed;
        if (!stats.cutAtOperation && !timedRound) ++atEnd;
        minCut = minCut < 0 ? stats.cutAt : std::min(minCut, stats.cutAt);
        maxCut = std::max(maxCut, stats.cutAt);
        total.unsyncedWrites += stats.unsyncedWrites;
        total.dropped += stats.dropped;
        total.kept += stats.kept;
        total.torn += stats.torn;
        total.vanished += stats.vanished;
        total.revived += stats.revived;
        if (options.verbose) {
            std::fprintf(stderr,
                         "%s round %d: %s after %ld of %ld operations; %ld acknowledged; %ld "
                         "unsynced writes (%ld dropped, %ld torn); %ld vanished, %ld revived%s\n",
                         parts.name.c_str(), number, timedRound ? "timed cut" : "cut", stats.cutAt,
                         stats.operations, round.acknowledged(), stats.unsyncedWrites,
                         stats.dropped, stats.torn, stats.vanished, stats.revived,
                         round.failed() ? "; FAILED" : "");
        }
        if (!round.failed() || ++kept > kKeptFolders) fs::remove_all(round.dir());
    }
    outcome.note = "cut after " + std::to_string(minCut) + ".." + std::to_string(maxCut) + " of ~" +
                   std::to_string(span) + " ops";
    if (timed > 0 || atEnd > 0)
        outcome.note +=
            " (" + std::to_string(timed) + " timed, " + std::to_string(atEnd) + " after the last)";
    outcome.note += "; " + std::to_string(total.unsyncedWrites) +
                    " unsynced writes: " + percent(total.dropped, total.unsyncedWrites) +
                    " dropped, " + percent(total.torn, total.unsyncedWrites) + " torn";
    if (total.vanished + total.revived > 0)
        outcome.note += "; " + std::to_string(total.vanished) + " files vanished, " +
                        std::to_string(total.revived) + " came back";
    return outcome;
}

}  // namespace

Round::Round(Outcome& outcome, std::uint64_t seed, int number, std::string dir, bool calibrating)
    : m_outcome(outcome),
      m_seed(seed),
      m_number(number),
      m_dir(std::move(dir)),
      m_calibrating(calibrating) {}

void Round::powerOff() {
    if (!m_calibrating) {
        test::cutPower();
        return;
    }
    m_operationsAtPowerOff = test::powerCutOperations();
    m_microsAtPowerOff = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - m_started)
                             .count();
}

void Round::lost(long n, const std::string& what) {
    m_outcome.lost += n;
    m_failed = true;
    m_outcome.fail(m_seed, m_number, "lost: " + what);
}

void Round::doubled(long n, const std::string& what) {
    m_outcome.doubled += n;
    m_failed = true;
    m_outcome.fail(m_seed, m_number, "doubled: " + what);
}

void Round::corrupt(const std::string& what) {
    m_outcome.corrupt += 1;
    m_failed = true;
    m_outcome.fail(m_seed, m_number, "corrupt: " + what);
}

void Round::fail(const std::string& what) {
    m_failed = true;
    m_outcome.fail(m_seed, m_number, (m_calibrating ? "calibration: " : "") + what);
}

void leaveWalFilled(const std::string& path, long frames, const std::string& insertSql) {
    auto fail = [&](const std::string& what) {
        throw std::runtime_error("filling the WAL of " + path + ": " + what);
    };
    auto db = sql::Database::open(path, sql::OpenMode::ReadWrite);
    if (!db) fail(db.error().describe());
    // No automatic checkpoint, and no syncs: this is only the starting point of the rounds.
    if (Status s = db->exec("PRAGMA wal_autocheckpoint = 0; PRAGMA synchronous = OFF"); !s)
        fail(s.error().describe());
    auto pageSize = db->queryInt("PRAGMA page_size");
    if (!pageSize) fail(pageSize.error().describe());
    const std::string wal = path + "-wal";
    auto walFrames = [&] {
        std::error_code ec;
        const auto bytes = static_cast<std::int64_t>(fs::file_size(wal, ec));
        return ec ? 0 : (bytes - 32) / (*pageSize + 24);
    };
    auto insert = db->prepare(insertSql);
    if (!insert) fail(insert.error().describe());
    for (int k = 0; walFrames() < frames; ++k) {
        insert->bind(1, "power_cut.filler." + std::to_string(k))
            .bind(2, std::string(static_cast<std::size_t>(*pageSize) / 2, 'f'));
        if (Status s = insert->run(); !s) fail(s.error().describe());
        insert->reset();
    }
    // Copied while the connection is open: closing it would checkpoint and delete the WAL.
    for (const auto& name : {path, wal}) {
        std::error_code ec;
        fs::copy_file(name, name + ".keep", fs::copy_options::overwrite_existing, ec);
        if (ec) fail(ec.message());
    }
    db.value() = sql::Database();
    for (const auto& name : {path, wal}) {
        std::error_code ec;
        fs::rename(name + ".keep", name, ec);
        if (ec) fail(ec.message());
    }
    fs::remove(path + "-shm");
}

Scenario makeScenario(Parts parts) {
    Scenario s;
    s.name = parts.name;
    s.what = parts.what;
    s.shortRounds = 100;
    s.longRounds = 1000;
    s.run = [parts = std::move(parts)](const Options& options) { return run(parts, options); };
    return s;
}

}  // namespace power_cut

void addPowerCutScenarios(std::vector<Scenario>& out) {
    power_cut::addDeviceScenarios(out);
    power_cut::addCollectorScenarios(out);
}

}  // namespace veld::reliability
