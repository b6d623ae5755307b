// veld-bench-client: the form client `veld` measured from outside, as people run it: the real
// program in an X server of its own (Xvfb, started here) drawing with Mesa's software renderer
// (llvmpipe, forced with LIBGL_ALWAYS_SOFTWARE=1), the way a cheap laptop without a working GPU
// driver would. veld reports its own timings with --bench-frames; this program runs it and
// compares:
// - start-up: from spawning veld to its first frame on screen (this program's clock, spawn to
//   the "first frame" line), with veld's own figure (from main()) alongside;
// - CPU time per frame while a generated form of 1,000 questions is being filled, against an
//   empty Dear ImGui frame loop (--bench-empty, the baseline), measured in the same run, in
//   alternating rounds. Two shapes: 100 pages of ten questions (like the pilots' forms, which
//   are all groups), and all 1,000 questions on one page (the worst case: one long scroll);
// - peak RSS showing the home screen on a store of 100,000 records, against the empty loop's;
// - CPU time per frame of a kiosk question of the parents' survey in Arabic (shaped by HarfBuzz,
//   right to left) against the same page in Dutch (Dear ImGui's own text path);
// - an idle client (the home screen, nothing happening) over some seconds: frames drawn and CPU
//   seconds, against the loop as it was before it waited for events (--bench-poll 0.25: a frame
//   every quarter second at least).
//
// Output on stdout, one line per figure and nothing else:
//   bench NAME: VALUE UNIT (baseline)
//   bench NAME: VALUE UNIT (ratio R vs BASELINE_NAME)
//   bench NAME: VALUE UNIT (what it is)
// Progress goes to stderr. Exit status 1 on any error, 2 on a bad command line, 77 when no X
// server can be started (the test suite reports that as skipped). Temporary files and the X
// server are always cleaned up, also after Ctrl-C.
//
//   veld-bench-client [--records N] [--frames N] [--quick]
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

volatile std::sig_atomic_t gInterrupted = 0;

void onSignal(int sig) {
    gInterrupted = sig;
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what);
}

// ---- Output -----------------------------------------------------------------------------------

std::string formatNumber(double value) {
    const double magnitude = value < 0 ? -value : value;
    int decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 0.1 ? 2 : 3;
    if (magnitude > 0 && magnitude < 0.01) decimals = 4;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return buf;
}

std::string sizeTag(long records) {
    if (records >= 1'000'000 && records % 1'000'000 == 0)
        return std::to_string(records / 1'000'000) + "m";
    if (records >= 1'000 && records % 1'000 == 0) return std::to_string(records / 1'000) + "k";
    return std::to_string(records);
}

void printLine(const std::string& name, double value, const std::string& unit,
               const std::string& note) {
    std::printf("bench %s: %s %s (%s)\n", name.c_str(), formatNumber(value).c_str(), unit.c_str(),
                note.c_str());
    std::fflush(stdout);
}

void printFigure(const std::string& name, double value, const std::string& unit, double baseline,
                 const std::string& baselineName) {
    printLine(name, value, unit,
              "ratio " + formatNumber(baseline > 0 ? value / baseline : 0) + " vs " + baselineName);
}

void progress(const std::string& text) {
    std::fprintf(stderr, "veld-bench-client: %s\n", text.c_str());
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// ---- Processes --------------------------------------------------------------------------------

std::vector<std::string> gEnvironment;

struct Run {
    int exitCode = -1;
    int signal = 0;
    double seconds = 0;
    std::optional<double> firstLineSeconds;  // when `watch` first appeared on stderr
    long peakAnonKb = 0;  // anonymous memory (heap, stacks, buffers), sampled while it ran
    std::string out;
    std::string err;
};

std::vector<char*> cStrings(const std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (const auto& s : strings)
        out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

/// Resident anonymous memory of a running process: its own allocations, without the mapped
/// files of shared libraries.
long rssAnonKb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("RssAnon:", 0) == 0) return std::atol(line.c_str() + 8);
    }
    return 0;
}

/// Runs a program to its end with output captured; stderr is timestamped at `watch`. Killed
/// after `timeoutSeconds` or on Ctrl-C.
Run run(const std::vector<std::string>& argv, double timeoutSeconds,
        const std::string& watch = {}) {
    int outPipe[2];
    int errPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0) fail("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2);
    auto args = cStrings(argv);
    auto env = cStrings(gEnvironment);
    Run r;
    const auto start = Clock::now();
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    if (rc != 0) {
        ::close(outPipe[0]);
        ::close(errPipe[0]);
        fail("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    int fds[2] = {outPipe[0], errPipe[0]};
    std::string* into[2] = {&r.out, &r.err};
    bool killed = false;
    while (fds[0] >= 0 || fds[1] >= 0) {
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        if (!killed && (elapsed > timeoutSeconds || gInterrupted != 0)) {
            ::kill(pid, SIGKILL);
            killed = true;
        }
        pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        const int n = ::poll(p, 2, 20);
        r.peakAnonKb = std::max(r.peakAnonKb, rssAnonKb(pid));
        if (n < 0 && errno != EINTR) break;
        const auto now = Clock::now();
        for (int i = 0; i < 2; ++i) {
            if (fds[i] < 0 || p[i].revents == 0) continue;
            char buf[4096];
            const ssize_t got = ::read(fds[i], buf, sizeof buf);
            if (got > 0) {
                into[i]->append(buf, static_cast<std::size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                ::close(fds[i]);
                fds[i] = -1;
            }
        }
        if (!watch.empty() && !r.firstLineSeconds && r.err.find(watch) != std::string::npos) {
            r.firstLineSeconds = std::chrono::duration<double>(now - start).count();
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (WIFEXITED(status)) r.exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    if (gInterrupted != 0) fail("interrupted by a signal");
    if (killed) fail(argv[0] + " did not finish within " + formatNumber(timeoutSeconds) + " s");
    return r;
}

Run runOk(const std::vector<std::string>& argv, double timeoutSeconds,
          const std::string& watch = {}) {
    Run r = run(argv, timeoutSeconds, watch);
    if (r.exitCode != 0) {
        std::string command;
        for (const auto& a : argv)
            command += (command.empty() ? "" : " ") + a;
        fail(command + " failed (exit " + std::to_string(r.exitCode) + ", signal " +
             std::to_string(r.signal) + ")\n" + r.err);
    }
    return r;
}

std::string findOnPath(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const std::string candidate = dir + "/" + program;
        if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

/// An X server of our own: Xvfb picks a free display itself (-displayfd), so several runs never
/// collide. Stopped at destruction.
class XServer {
  public:
    XServer() = default;
    XServer(const XServer&) = delete;
    XServer& operator=(const XServer&) = delete;
    ~XServer() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            int status = 0;
            while (waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }

    /// The display name (":N"), or an error text.
    bool start(std::string& display, std::string& error) {
        const std::string xvfb = findOnPath("Xvfb");
        if (xvfb.empty()) {
            error = "Xvfb is not installed";
            return false;
        }
        int fdPipe[2];
        if (pipe2(fdPipe, O_CLOEXEC) != 0) {
            error = "pipe failed";
            return false;
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fdPipe[1], 3);  // dup2 clears close-on-exec
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        const std::vector<std::string> argv = {xvfb, "-displayfd",  "3",         "-screen",
                                               "0",  "1280x800x24", "-nolisten", "tcp"};
        auto args = cStrings(argv);
        const int rc = posix_spawn(&m_pid, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fdPipe[1]);
        if (rc != 0) {
            m_pid = -1;
            ::close(fdPipe[0]);
            error = std::string("cannot start Xvfb: ") + std::strerror(rc);
            return false;
        }
        std::string number;
        const auto deadline = Clock::now() + std::chrono::seconds(20);
        while (number.find('\n') == std::string::npos && Clock::now() < deadline) {
            pollfd p{fdPipe[0], POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) continue;
            char buf[32];
            const ssize_t got = ::read(fdPipe[0], buf, sizeof buf);
            if (got <= 0) break;
            number.append(buf, static_cast<std::size_t>(got));
        }
        ::close(fdPipe[0]);
        if (number.find('\n') == std::string::npos) {
            error = "Xvfb did not start";
            return false;
        }
        display = ":" + number.substr(0, number.find('\n'));
        return true;
    }

  private:
    pid_t m_pid = -1;
};

class TempDir {
  public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/veld-bench-XXXXXX";
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        if (!mkdtemp(buf.data())) fail("cannot make a temporary folder");
        m_path = buf.data();
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(m_path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] std::string file(const std::string& name) const { return m_path + "/" + name; }

  private:
    std::string m_path;
};

// ---- The generated forms ----------------------------------------------------------------------

/// A form of `questions` questions, shaped like veld-bench-forms' form: in blocks of ten, the
/// first question of each block a gate for the other nine, every question with a constraint,
/// types mixed as in the pilots' forms. `paged`: each block is a group, so a page of its own;
/// otherwise all questions are on one page.
std::string generateForm(const std::string& id, int questions, bool paged) {
    static const char* kTypes[] = {"Integer", "SelectOne", "Text", "Decimal", "Date"};
    std::string json = "{\"id\": \"" + id + R"(", "version": 1, "default_language": "nl",
  "languages": [{"tag": "nl", "name": "Nederlands"}],
  "titles": [{"lang": "nl", "text": "Benchmark: )" +
                       std::to_string(questions) + R"( vragen"}],
  "choice_lists": [{"name": "scale", "choices": [
    {"name": "a", "labels": [{"lang": "nl", "text": "Helemaal mee eens"}]},
    {"name": "b", "labels": [{"lang": "nl", "text": "Mee eens"}]},
    {"name": "c", "labels": [{"lang": "nl", "text": "Niet mee eens"}]}]}],
  "items": [)";
    auto question = [&](int i) {
        const std::string name = "q" + std::to_string(i);
        const std::string type = i % 10 == 0 ? "Integer" : kTypes[i % 5];
        std::string q = "{\"name\": \"" + name + "\", \"kind\": \"Question\", \"type\": \"" + type +
                        "\", \"labels\": [{\"lang\": \"nl\", \"text\": \"Vraag " +
                        std::to_string(i) + ": hoe vaak gebeurt dit in een gewone week?\"}]";
        if (type == "SelectOne") q += ", \"choice_list\": \"scale\"";
        if (i % 10 != 0) {
            const std::string gate = "${q" + std::to_string(i - i % 10) + "}";
            q += ", \"relevance\": \"" + gate + " = '' or " + gate + " < 100\"";
        }
        if (type == "Integer" || type == "Decimal") {
            q +=
                R"(, "constraint": ". >= 0 and . <= 1000", "constraint_messages": [{"lang": "nl", "text": "Tussen 0 en 1000"}])";
        } else if (type == "Text") {
            q +=
                R"(, "constraint": "string-length(.) <= 200", "constraint_messages": [{"lang": "nl", "text": "Te lang"}])";
        }
        return q + "}";
    };
    for (int block = 0; block * 10 < questions; ++block) {
        if (block > 0) json += ",";
        if (paged) {
            json += "\n    {\"name\": \"page" + std::to_string(block) +
                    "\", \"kind\": \"Group\", \"labels\": [{\"lang\": \"nl\", \"text\": \"Deel " +
                    std::to_string(block + 1) + "\"}], \"children\": [";
        }
        for (int i = block * 10; i < std::min(questions, block * 10 + 10); ++i) {
            json += i > block * 10 ? ",\n      " : "\n      ";
            json += question(i);
        }
        if (paged) json += "]}";
    }
    json += "\n  ]\n}\n";
    return json;
}

// ---- veld's own report ------------------------------------------------------------------------

struct Report {
    double firstFrameMs = 0;
    double cpuMedianUs = 0;
    double cpuP90Us = 0;
    double uiCpuMedianUs = 0;
    double uiCpuP90Us = 0;
    double peakRssKb = 0;
    int frames = 0;
};

double jsonNumber(const std::string& json, const std::string& key) {
    const std::string quoted = "\"" + key + "\":";
    const auto at = json.find(quoted);
    if (at == std::string::npos) fail("veld's report has no " + key + ": " + json);
    return std::strtod(json.c_str() + at + quoted.size(), nullptr);
}

Report parseReport(const std::string& out) {
    const auto start = out.find("{\"first_frame_ms\"");
    if (start == std::string::npos) fail("veld printed no report: " + out);
    const std::string json = out.substr(start, out.find('}', start) - start + 1);
    Report r;
    r.firstFrameMs = jsonNumber(json, "first_frame_ms");
    r.frames = static_cast<int>(jsonNumber(json, "frames"));
    r.cpuMedianUs = jsonNumber(json, "cpu_frame_median_us");
    r.cpuP90Us = jsonNumber(json, "cpu_frame_p90_us");
    r.uiCpuMedianUs = jsonNumber(json, "ui_cpu_frame_median_us");
    r.uiCpuP90Us = jsonNumber(json, "ui_cpu_frame_p90_us");
    r.peakRssKb = jsonNumber(json, "peak_rss_kb");
    return r;
}

struct Settings {
    long records = 100'000;
    int frames = 600;
    int rounds = 3;
    int startups = 7;
    int questions = 1000;
    int idleSeconds = 10;
};

std::string binDir() {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) fail("cannot find where this program is");
    return self.parent_path().string();
}

int benchmark(const Settings& settings) {
    const std::string bin = binDir();
    const std::string veld = bin + "/veld";
    const std::string veldctl = bin + "/veldctl";
    for (const auto& p : {veld, veldctl}) {
        if (::access(p.c_str(), X_OK) != 0) fail(p + " is missing: build veld and veldctl first");
    }

    XServer xserver;
    std::string display;
    std::string error;
    if (!xserver.start(display, error)) {
        std::fprintf(stderr,
                     "\n"
                     "******************************************************************\n"
                     "* veld-bench-client: NO X SERVER, THE CLIENT WAS NOT MEASURED    *\n"
                     "******************************************************************\n"
                     "%s. Install Debian's xvfb package (tools/dev installs it).\n\n",
                     error.c_str());
        return 77;
    }
    // veld's environment: our display and Mesa's software renderer (under AddressSanitizer veld
    // carries its own leak suppressions for the graphics stack).
    for (char** e = environ; *e; ++e) {
        const std::string entry = *e;
        if (entry.rfind("DISPLAY=", 0) != 0 && entry.rfind("WAYLAND_DISPLAY=", 0) != 0 &&
            entry.rfind("LIBGL_ALWAYS_SOFTWARE=", 0) != 0) {
            gEnvironment.push_back(entry);
        }
    }
    gEnvironment.push_back("DISPLAY=" + display);
    gEnvironment.push_back("LIBGL_ALWAYS_SOFTWARE=1");
    progress("X server " + display + " (Xvfb, 1280x800), Mesa software rendering");

    TempDir dir;
    const std::string formsDir = std::string(VELD_SOURCE_DIR) + "/schemas/forms";
    const std::string small = dir.file("small.veld");
    runOk({veldctl, "store", "demo", small, "--records", "40", "--forms", formsDir}, 120);

    const std::string q = std::to_string(settings.questions);
    const std::string pagedId = "bench_" + q + "q";
    const std::string flatId = "bench_" + q + "q_one_page";
    for (const auto& [id, paged] : {std::pair{pagedId, true}, std::pair{flatId, false}}) {
        const std::string file = dir.file(id + ".json");
        std::ofstream(file) << generateForm(id, settings.questions, paged);
        runOk({veldctl, "form", "check", file}, 120);
        runOk({veldctl, "form", "install", small, file}, 120);
    }

    // The kiosk needs the project's key ring on the store.
    const std::string kiosk = dir.file("kiosk.veld");
    std::ofstream(dir.file("passphrase")) << "bench passphrase";
    runOk({veldctl, "keys", "new", dir.file("project.ring"), "--id", "bench", "--passphrase-file",
           dir.file("passphrase")},
          120);
    runOk({veldctl, "store", "demo", kiosk, "--records", "1", "--forms", formsDir, "--ring",
           dir.file("project.ring")},
          120);

    const std::string tag = sizeTag(settings.records);
    const std::string big = dir.file("big.veld");
    progress("making a store of " + std::to_string(settings.records) + " records (veldctl)");
    const Run made = runOk({veldctl, "store", "demo", big, "--records",
                            std::to_string(settings.records), "--forms", formsDir},
                           3600);
    progress("  made in " + formatNumber(made.seconds) + " s");

    // Start-up: spawn to the first frame, on the home screen of the small store.
    std::vector<double> spawnToFrame;
    std::vector<double> mainToFrame;
    for (int i = 0; i < settings.startups; ++i) {
        const Run r =
            runOk({veld, "--store", small, "--bench-frames", "1"}, 120, "veld: first frame after");
        if (!r.firstLineSeconds) fail("veld did not report its first frame");
        spawnToFrame.push_back(*r.firstLineSeconds * 1000);
        mainToFrame.push_back(parseReport(r.out).firstFrameMs);
    }
    printLine("client_first_frame", median(spawnToFrame), "ms",
              "spawn to first frame; " + formatNumber(median(mainToFrame)) + " ms from main()");

    // Frames: alternating rounds, so that drifts of the machine's speed hit every variant alike.
    // Two CPU figures per frame: the whole process (with the software renderer's threads, which
    // rasterize the window) and the UI thread alone (Dear ImGui, the screens, the form session).
    const std::string frames = std::to_string(settings.frames);
    struct Variant {
        std::string name;
        std::vector<std::string> args;
        std::vector<Report> reports;
        std::vector<double> peakAnonKb;
        [[nodiscard]] double med(double Report::*field) const {
            std::vector<double> v;
            for (const auto& r : reports)
                v.push_back(r.*field);
            return median(v);
        }
    };
    std::vector<Variant> variants = {
        {"empty", {"--bench-empty"}, {}, {}},
        {"home", {"--show", "home"}, {}, {}},
        {q + "q", {"--show", "fill:" + pagedId}, {}, {}},
        {q + "q_one_page", {"--show", "fill:" + flatId}, {}, {}},
        {"kiosk_nl", {"--store", kiosk, "--show", "kiosk:vmbo_parent_survey:nl:1"}, {}, {}},
        {"kiosk_ar", {"--store", kiosk, "--show", "kiosk:vmbo_parent_survey:ar:1"}, {}, {}},
    };
    for (int round = 0; round < settings.rounds; ++round) {
        for (auto& v : variants) {
            std::vector<std::string> argv = {veld, "--store", small, "--bench-frames", frames};
            argv.insert(argv.end(), v.args.begin(), v.args.end());
            const Run r = runOk(argv, 300);
            v.reports.push_back(parseReport(r.out));
            v.peakAnonKb.push_back(static_cast<double>(r.peakAnonKb));
            if (v.reports.back().frames != settings.frames) fail(v.name + ": too few frames");
        }
    }
    const Variant& empty = variants[0];
    for (const auto& [prefix, median, p90] :
         {std::tuple{"client_frame_", &Report::cpuMedianUs, &Report::cpuP90Us},
          std::tuple{"client_frame_ui_", &Report::uiCpuMedianUs, &Report::uiCpuP90Us}}) {
        const std::string base = prefix + empty.name;
        printLine(base, empty.med(median), "us", "baseline");
        for (std::size_t i = 1; i < 5; ++i) {
            printFigure(prefix + variants[i].name, variants[i].med(median), "us", empty.med(median),
                        base);
        }
        printFigure(prefix + variants[2].name + "_p90", variants[2].med(p90), "us", empty.med(p90),
                    base + "_p90");
        // Shaped right-to-left text against the same page drawn by Dear ImGui's own text path.
        printFigure(prefix + variants[5].name, variants[5].med(median), "us",
                    variants[4].med(median), prefix + variants[4].name);
    }

    // Idle: the same seconds with nothing happening, the event loop as it is against the loop
    // that drew at least every 0.25 s.
    const std::string idleSeconds = std::to_string(settings.idleSeconds);
    double idleFrames[2] = {0, 0};
    double idleCpu[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
        std::vector<std::string> argv = {veld,   "--store",      small,      "--show",
                                         "home", "--bench-idle", idleSeconds};
        if (i == 0) argv.insert(argv.end(), {"--bench-poll", "0.25"});
        const Run r = runOk(argv, 120 + settings.idleSeconds);
        const auto start = r.out.find("{\"idle_seconds\"");
        if (start == std::string::npos) fail("veld printed no idle report: " + r.out);
        const std::string json = r.out.substr(start, r.out.find('}', start) - start + 1);
        idleFrames[i] = jsonNumber(json, "frames");
        idleCpu[i] = jsonNumber(json, "cpu_seconds");
    }
    printLine("client_idle_frames_poll", idleFrames[0], "frames",
              "baseline: " + idleSeconds + " s idle, a frame every 0.25 s");
    printFigure("client_idle_frames", idleFrames[1], "frames", idleFrames[0],
                "client_idle_frames_poll");
    printLine("client_idle_cpu_poll", idleCpu[0], "s", "baseline: CPU seconds of the same");
    printFigure("client_idle_cpu", idleCpu[1], "s", idleCpu[0], "client_idle_cpu_poll");

    // Memory: the home screen of the big store against the empty frame loop. Peak RSS counts
    // the shared libraries' pages too (Mesa's software renderer maps LLVM: tens of MB); the
    // anonymous part is what the program itself allocated.
    std::vector<double> bigRss;
    std::vector<double> bigAnon;
    for (int round = 0; round < std::min(settings.rounds, 2); ++round) {
        const Run r =
            runOk({veld, "--store", big, "--show", "home", "--bench-frames", frames}, 300);
        bigRss.push_back(parseReport(r.out).peakRssKb / 1024);
        bigAnon.push_back(static_cast<double>(r.peakAnonKb) / 1024);
    }
    const double emptyRss = empty.med(&Report::peakRssKb) / 1024;
    const double emptyAnon = median(empty.peakAnonKb) / 1024;
    printLine("client_peak_rss_empty", emptyRss, "MB", "baseline");
    printFigure("client_peak_rss_home_" + tag, median(bigRss), "MB", emptyRss,
                "client_peak_rss_empty");
    printLine("client_peak_anon_empty", emptyAnon, "MB", "baseline");
    printFigure("client_peak_anon_home_" + tag, median(bigAnon), "MB", emptyAnon,
                "client_peak_anon_empty");
    return 0;
}

constexpr const char* kUsage =
    "usage: veld-bench-client [--records N] [--frames N] [--quick]\n"
    "  --records N  records in the store whose home screen is measured (default 100000)\n"
    "  --frames N   frames per measured run (default 600)\n"
    "  --quick      a small, fast run (the test suite's smoke test)\n";

}  // namespace

int main(int argc, char** argv) {
    Settings settings;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--quick") {
            settings.records = 1000;
            settings.frames = 30;
            settings.rounds = 1;
            settings.startups = 1;
            settings.questions = 100;
            settings.idleSeconds = 3;
        } else if (arg == "--records" && i + 1 < argc) {
            settings.records = std::max(1L, std::atol(argv[++i]));
        } else if (arg == "--frames" && i + 1 < argc) {
            settings.frames = std::max(10, std::atoi(argv[++i]));
        } else {
            std::fputs(kUsage, stderr);
            return 2;
        }
    }
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
        std::signal(sig, onSignal);
    try {
        return benchmark(settings);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "veld-bench-client: %s\n", e.what());
        return 1;
    }
}
