// veld-reliability: runs the reliability scenarios and the fuzzers, and prints one table.
//
//   veld-reliability [--long] [--jobs N] [--only NAME,...] [--seed S] [--no-fuzz | --fuzz-only]
//                    [--fuzz-runs N] [--fuzz-seconds S] [--list]
//   veld-reliability --scenario NAME [--rounds N] [--first-round R] [--seed S] [--verbose]
//
// The first form runs every scenario (each in a child process of its own, `--jobs` at a time)
// and then every fuzzer built next to it (veld-fuzz-*, over seeds made by veld-fuzz-seeds and
// the corpus kept in build/fuzz/corpus), and ends with exactly one line:
//
//   reliability: S scenarios, R rounds, lost L, doubled D, corrupt C, fuzz failures F
//
// It exits 0 only when L, D, C and F are 0 and no scenario failed in any other way. The short
// form (the default) is what CI runs; --long is for a night. The second form runs one scenario in
// this process (to replay a failure from its seed and round) and prints its outcome.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "reliability/scenario.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace veld;
using namespace veld::reliability;

namespace {

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(
        stderr,
        "veld-reliability: %s\n"
        "usage: veld-reliability [--long] [--jobs N] [--only NAME,...] [--seed S]\n"
        "                        [--no-fuzz | --fuzz-only] [--fuzz-runs N] [--fuzz-seconds S]\n"
        "                        [--list]\n"
        "       veld-reliability --scenario NAME [--rounds N] [--first-round R] [--seed "
        "S] [--verbose]\n",
        why.c_str());
    std::exit(2);
}

long number(const std::string& flag, const char* text) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0) usage(flag + " takes a number");
    return static_cast<long>(v);
}

const Scenario* findScenario(const std::string& name) {
    for (const auto& s : scenarios())
        if (s.name == name) return &s;
    return nullptr;
}

// One scenario's outcome as lines of "key value" (between the child and the driver).
std::string serialize(const Outcome& o) {
    std::ostringstream out;
    out << "rounds " << o.rounds << "\nacknowledged " << o.acknowledged << "\nlost " << o.lost
        << "\ndoubled " << o.doubled << "\ncorrupt " << o.corrupt << "\n";
    if (!o.note.empty()) out << "note " << o.note << "\n";
    for (const auto& f : o.failures)
        out << "failure " << f << "\n";
    return out.str();
}

Outcome parse(const std::string& text) {
    Outcome o;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto space = line.find(' ');
        if (space == std::string::npos) continue;
        const std::string key = line.substr(0, space);
        const std::string value = line.substr(space + 1);
        if (key == "rounds") o.rounds = std::atol(value.c_str());
        if (key == "acknowledged") o.acknowledged = std::atol(value.c_str());
        if (key == "lost") o.lost = std::atol(value.c_str());
        if (key == "doubled") o.doubled = std::atol(value.c_str());
        if (key == "corrupt") o.corrupt = std::atol(value.c_str());
        if (key == "note") o.note = value;
        if (key == "failure") o.failures.push_back(value);
    }
    return o;
}

// --scenario: one scenario in this process.
int runOne(const std::string& name, const Options& options, const std::string& reportFile) {
    const Scenario* s = findScenario(name);
    if (!s) usage("no scenario named " + name + " (--list shows them)");
    Options o = options;
    std::optional<test::TempDir> own;
    if (o.workDir.empty()) {
        own.emplace();
        o.workDir = own->path();
    }
    Outcome outcome;
    try {
        outcome = s->run(o);
    } catch (const std::exception& e) {
        outcome.fail(o.seed, o.firstRound, std::string("the scenario stopped: ") + e.what());
    }
    const std::string text = serialize(outcome);
    if (!reportFile.empty()) {
        std::ofstream(reportFile) << text;
    } else {
        std::fputs(text.c_str(), stdout);
    }
    const bool clean = outcome.lost == 0 && outcome.doubled == 0 && outcome.corrupt == 0 &&
                       outcome.failures.empty();
    return clean ? 0 : 1;
}

struct Row {
    std::string name;
    Outcome outcome;
    double seconds = 0;
    bool broken = false;  // the child did not report (crashed, or a sanitizer stopped it)
    std::string log;      // its stderr, when it went wrong
};

struct FuzzRow {
    std::string name;
    long executions = 0;
    long edges = 0;
    double seconds = 0;
    int failures = 0;
    std::string detail;
};

std::string self() {
    return fs::read_symlink("/proc/self/exe").string();
}

std::string readFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) return {};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A child process for runChildren: its command line, and the file that takes its stderr (and its
// stdout too, with `stdoutToo`).
struct Child {
    std::vector<std::string> argv;
    std::string log;
    bool stdoutToo = false;
};

// Runs children 0..count-1, `jobs` at a time: start(i) makes child i's command (called just
// before it starts), ended(i, wait status, seconds) is called as each ends.
void runChildren(std::size_t count, int jobs, const std::function<Child(std::size_t)>& start,
                 const std::function<void(std::size_t, int, double)>& ended) {
    struct Running {
        std::size_t index;
        pid_t pid;
        std::chrono::steady_clock::time_point started;
    };
    std::vector<Running> running;
    std::size_t next = 0;
    while (next < count || !running.empty()) {
        while (next < count && static_cast<int>(running.size()) < jobs) {
            Child child = start(next);
            const auto started = std::chrono::steady_clock::now();
            const pid_t pid = ::fork();
            if (pid == 0) {
                std::FILE* log = std::fopen(child.log.c_str(), "w");
                if (log) {
                    if (child.stdoutToo) ::dup2(::fileno(log), 1);
                    ::dup2(::fileno(log), 2);
                }
                std::vector<char*> args;
                for (auto& a : child.argv)
                    args.push_back(a.data());
                args.push_back(nullptr);
                ::execv(args[0], args.data());
                std::_Exit(127);
            }
            running.push_back({next, pid, started});
            ++next;
        }
        int status = 0;
        const pid_t done = ::waitpid(-1, &status, 0);
        if (done < 0) break;
        auto it = std::find_if(running.begin(), running.end(),
                               [&](const Running& r) { return r.pid == done; });
        if (it == running.end()) continue;
        const Running r = *it;
        running.erase(it);
        ended(r.index, status,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count());
    }
}

// Runs every selected scenario, `jobs` child processes at a time.
std::vector<Row> runScenarios(const std::vector<const Scenario*>& chosen, bool longForm,
                              long roundsOverride, std::uint64_t seed, int jobs,
                              const std::string& scratch) {
    std::vector<Row> rows(chosen.size());
    const auto work = [&](std::size_t i) { return scratch + "/" + chosen[i]->name; };
    runChildren(
        chosen.size(), jobs,
        [&](std::size_t i) {
            const Scenario& s = *chosen[i];
            const long rounds =
                roundsOverride > 0 ? roundsOverride : (longForm ? s.longRounds : s.shortRounds);
            fs::create_directories(work(i));
            fs::permissions(work(i), fs::perms::owner_all);
            rows[i].name = s.name;
            std::fprintf(stderr, "reliability: %s (%ld rounds)\n", s.name.c_str(), rounds);
            return Child{
                {self(), "--scenario", s.name, "--rounds", std::to_string(rounds), "--seed",
                 std::to_string(seed), "--work", work(i), "--report", work(i) + ".out"},
                work(i) + ".log",
                false};
        },
        [&](std::size_t i, int status, double seconds) {
            Row& row = rows[i];
            row.seconds = seconds;
            const std::string report = readFile(work(i) + ".out");
            if (report.empty()) {
                row.broken = true;
                row.outcome.failures.push_back(WIFSIGNALED(status)
                                                   ? "the scenario's process died of signal " +
                                                         std::to_string(WTERMSIG(status))
                                                   : "the scenario's process ended (" +
                                                         std::to_string(WEXITSTATUS(status)) +
                                                         ") without a report");
            } else {
                row.outcome = parse(report);
            }
            const bool clean = !row.broken && row.outcome.lost == 0 && row.outcome.doubled == 0 &&
                               row.outcome.corrupt == 0 && row.outcome.failures.empty();
            if (!clean) {
                row.log = readFile(work(i) + ".log");
            } else {
                std::error_code ec;
                fs::remove_all(work(i), ec);
            }
        });
    return rows;
}

// The last value of `key` (e.g. "stat::number_of_executed_units:") in libFuzzer's output.
long lastNumberAfter(const std::string& text, const std::string& key) {
    long value = -1;
    std::size_t at = 0;
    while ((at = text.find(key, at)) != std::string::npos) {
        at += key.size();
        while (at < text.size() && text[at] == ' ')
            ++at;
        value = std::atol(text.c_str() + at);
    }
    return value;
}

std::vector<FuzzRow> runFuzzers(const std::string& binDir, const std::string& fuzzDir,
                                bool longForm, long runs, long seconds, int jobs) {
    std::vector<std::string> fuzzers;
    for (const auto& e : fs::directory_iterator(binDir)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("veld-fuzz-", 0) == 0 && name != "veld-fuzz-seeds" &&
            name != "veld-fuzz-regressions")
            fuzzers.push_back(name);
    }
    std::sort(fuzzers.begin(), fuzzers.end());
    std::vector<FuzzRow> rows;
    if (fuzzers.empty()) return rows;

    // Seeds are made afresh from real data each run; the corpus grows across runs.
    const std::string seeds = fuzzDir + "/seeds";
    std::error_code ec;
    fs::remove_all(seeds, ec);
    fs::create_directories(seeds);
    const auto made = test::runProcess({binDir + "/veld-fuzz-seeds", seeds});
    if (made.exitCode != 0) {
        FuzzRow row;
        row.name = "veld-fuzz-seeds";
        row.failures = 1;
        row.detail = made.err;
        rows.push_back(row);
        return rows;
    }

    rows.resize(fuzzers.size());
    const auto target = [&](std::size_t i) { return fuzzers[i].substr(std::strlen("veld-fuzz-")); };
    const auto log = [&](std::size_t i) { return fuzzDir + "/" + target(i) + ".log"; };
    const auto artifacts = [&](std::size_t i) { return fuzzDir + "/artifacts/" + target(i) + "/"; };
    runChildren(
        fuzzers.size(), jobs,
        [&](std::size_t i) {
            const std::string corpus = fuzzDir + "/corpus/" + target(i);
            fs::create_directories(corpus);
            fs::create_directories(artifacts(i));
            fs::create_directories(seeds + "/" + target(i));
            rows[i].name = target(i);
            Child child{
                {binDir + "/" + fuzzers[i], "-runs=" + std::to_string(runs),
                 "-max_total_time=" + std::to_string(seconds), "-timeout=1", "-rss_limit_mb=384",
                 "-malloc_limit_mb=256", "-print_final_stats=1", "-seed=" + std::to_string(1 + i),
                 "-artifact_prefix=" + artifacts(i), corpus, seeds + "/" + target(i)},
                log(i),
                true};
            if (!longForm) child.argv.insert(child.argv.begin() + 1, "-len_control=0");
            return child;
        },
        [&](std::size_t i, int status, double elapsed) {
            FuzzRow& row = rows[i];
            row.seconds = elapsed;
            const std::string text = readFile(log(i));
            row.executions = std::max(0L, lastNumberAfter(text, "stat::number_of_executed_units:"));
            row.edges = std::max(0L, lastNumberAfter(text, "cov:"));
            int found = 0;
            for (const auto& e : fs::directory_iterator(artifacts(i)))
                if (e.is_regular_file()) ++found;
            const bool exitedCleanly = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            row.failures = found > 0 ? found : (exitedCleanly ? 0 : 1);
            if (row.failures > 0) {
                row.detail = "see " + log(i) + " and " + artifacts(i);
                const auto summary = text.find("SUMMARY:");
                if (summary != std::string::npos)
                    row.detail = text.substr(summary, text.find('\n', summary) - summary) + "; " +
                                 row.detail;
            }
        });
    return rows;
}

std::string withThousands(long n) {
    std::string digits = std::to_string(n);
    std::string out;
    const int len = static_cast<int>(digits.size());
    for (int i = 0; i < len; ++i) {
        if (i > 0 && (len - i) % 3 == 0) out += ',';
        out += digits[static_cast<std::size_t>(i)];
    }
    return out;
}

}  // namespace

void veld::reliability::Outcome::fail(std::uint64_t seed, int round, const std::string& what) {
    if (failures.size() < 20) {
        failures.push_back("seed " + std::to_string(seed) + " round " + std::to_string(round) +
                           ": " + what);
    }
}

std::uint64_t veld::reliability::roundSeed(std::uint64_t seed, int round, std::uint64_t salt) {
    // SplitMix64 over the three inputs: well-spread, and the same everywhere.
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL +
                      static_cast<std::uint64_t>(round) * 0xBF58476D1CE4E5B9ULL +
                      salt * 0x94D049BB133111EBULL + 0x632BE59BD9B4E019ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int main(int argc, char** argv) {
    bool longForm = false;
    bool fuzz = true;
    bool scenariosToo = true;
    bool list = false;
    int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    long roundsOverride = 0;
    long fuzzRuns = -1;
    long fuzzSeconds = -1;
    std::uint64_t seed = 0;
    bool seedGiven = false;
    std::string only;
    std::string scenario;
    std::string reportFile;
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--long") {
            longForm = true;
        } else if (a == "--no-fuzz") {
            fuzz = false;
        } else if (a == "--fuzz-only") {
            scenariosToo = false;
        } else if (a == "--list") {
            list = true;
        } else if (a == "--jobs") {
            jobs = static_cast<int>(std::max(1L, number(a, value())));
        } else if (a == "--only") {
            only = value();
        } else if (a == "--seed") {
            seed = static_cast<std::uint64_t>(number(a, value()));
            seedGiven = true;
        } else if (a == "--rounds") {
            roundsOverride = number(a, value());
        } else if (a == "--first-round") {
            options.firstRound = static_cast<int>(number(a, value()));
        } else if (a == "--fuzz-runs") {
            fuzzRuns = number(a, value());
        } else if (a == "--fuzz-seconds") {
            fuzzSeconds = number(a, value());
        } else if (a == "--scenario") {
            scenario = value();
        } else if (a == "--work") {
            options.workDir = value();
        } else if (a == "--report") {
            reportFile = value();
        } else if (a == "--verbose") {
            options.verbose = true;
        } else if (a == "--help" || a == "-h") {
            usage("runs the reliability scenarios and fuzzers");
        } else {
            usage("unknown argument " + a);
        }
    }
    if (!seedGiven) {
        seed = static_cast<std::uint64_t>(
                   std::chrono::system_clock::now().time_since_epoch().count()) %
               1'000'000'000;
    }
    if (list) {
        for (const auto& s : scenarios())
            std::printf("%-34s %5d/%-5d %s\n", s.name.c_str(), s.shortRounds, s.longRounds,
                        s.what.c_str());
        return 0;
    }
    if (!scenario.empty()) {
        const Scenario* s = findScenario(scenario);
        if (!s) usage("no scenario named " + scenario + " (--list shows them)");
        options.rounds = static_cast<int>(roundsOverride > 0 ? roundsOverride : s->shortRounds);
        options.seed = seed;
        return runOne(scenario, options, reportFile);
    }

    std::vector<const Scenario*> chosen;
    if (!scenariosToo) {
        // No scenario: the fuzzers alone.
    } else if (only.empty()) {
        for (const auto& s : scenarios())
            chosen.push_back(&s);
    } else {
        std::istringstream names(only);
        std::string name;
        while (std::getline(names, name, ',')) {
            const Scenario* s = findScenario(name);
            if (!s) usage("no scenario named " + name + " (--list shows them)");
            chosen.push_back(s);
        }
    }
    const std::string binDir = fs::path(self()).parent_path().string();
    const std::string fuzzDir = fs::path(binDir).parent_path().string() + "/fuzz";
    // Scenarios' folders hold collector files: the owner's only, as veld-collector demands.
    const std::string scratch = fs::path(binDir).parent_path().string() + "/reliability-run";
    std::error_code ec;
    fs::remove_all(scratch, ec);
    fs::create_directories(scratch);
    fs::permissions(scratch, fs::perms::owner_all);
    std::fprintf(stderr, "reliability: seed %" PRIu64 ", %s form, %d at a time\n", seed,
                 longForm ? "long" : "short", jobs);

    const auto rows = runScenarios(chosen, longForm, roundsOverride, seed, jobs, scratch);
    std::vector<FuzzRow> fuzzRows;
    if (fuzz && only.empty()) {
        // Short: a few seconds each (CI). Long: 10^7 executions, or half an hour for the slow
        // targets (a whole form parsed and checked per input), so that a night is enough.
        if (fuzzRuns < 0) fuzzRuns = longForm ? 10'000'000 : 200'000;
        if (fuzzSeconds < 0) fuzzSeconds = longForm ? 1800 : 8;
        fuzzRows = runFuzzers(binDir, fuzzDir, longForm, fuzzRuns, fuzzSeconds, jobs);
    }

    long totalRounds = 0, lost = 0, doubled = 0, corrupt = 0, broken = 0, fuzzFailures = 0;
    std::printf("\n%-34s %7s %13s %5s %8s %8s %8s  %s\n", "scenario", "rounds", "acknowledged",
                "lost", "doubled", "corrupt", "time", "");
    for (const auto& r : rows) {
        totalRounds += r.outcome.rounds;
        lost += r.outcome.lost;
        doubled += r.outcome.doubled;
        corrupt += r.outcome.corrupt;
        if (r.broken || !r.outcome.failures.empty()) ++broken;
        std::printf("%-34s %7ld %13s %5ld %8ld %8ld %7.1fs  %s\n", r.name.c_str(), r.outcome.rounds,
                    withThousands(r.outcome.acknowledged).c_str(), r.outcome.lost,
                    r.outcome.doubled, r.outcome.corrupt, r.seconds, r.outcome.note.c_str());
    }
    if (!fuzzRows.empty()) {
        std::printf("\n%-34s %13s %8s %7s %8s\n", "fuzzer", "executions", "time", "edges",
                    "failures");
        for (const auto& f : fuzzRows) {
            fuzzFailures += f.failures;
            std::printf("%-34s %13s %7.1fs %7ld %8d\n", f.name.c_str(),
                        withThousands(f.executions).c_str(), f.seconds, f.edges, f.failures);
        }
    }
    bool anyProblem = false;
    for (const auto& r : rows) {
        if (r.outcome.failures.empty() && !r.broken && r.outcome.lost == 0 &&
            r.outcome.doubled == 0 && r.outcome.corrupt == 0)
            continue;
        anyProblem = true;
        std::printf("\n%s:\n", r.name.c_str());
        for (const auto& f : r.outcome.failures)
            std::printf("  %s\n", f.c_str());
        std::printf("  replay: veld-reliability --scenario %s --seed %" PRIu64
                    " --first-round ROUND --rounds 1 --verbose\n",
                    r.name.c_str(), seed);
        if (!r.log.empty()) {
            // The end of its stderr: where a sanitizer report or an exception would be.
            const std::size_t keep = 4000;
            std::printf("  its log ends:\n%s\n", r.log.size() > keep
                                                     ? r.log.substr(r.log.size() - keep).c_str()
                                                     : r.log.c_str());
        }
    }
    for (const auto& f : fuzzRows) {
        if (f.failures == 0) continue;
        anyProblem = true;
        std::printf("\nfuzzer %s: %s\n", f.name.c_str(), f.detail.c_str());
    }
    std::printf(
        "\nreliability: %zu scenarios, %ld rounds, lost %ld, doubled %ld, corrupt %ld, "
        "fuzz failures %ld\n",
        rows.size(), totalRounds, lost, doubled, corrupt, fuzzFailures);
    std::fflush(stdout);
    return (anyProblem || broken > 0) ? 1 : 0;
}
