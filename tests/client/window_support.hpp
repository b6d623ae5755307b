// What the real-window tests share: running a program (in an X server of its own), demo
// stores, screenshots and reading them back.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stb_image.h>
#include <sys/wait.h>
#include <unistd.h>

#include <veld/record.hpp>
#include <veld/store.hpp>

#include "support/media_forms.hpp"
#include "support/sync_support.hpp"
#include "support/test_support.hpp"

extern char** environ;

namespace veld::test::window {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kScreen = "-screen 0 1280x800x24";
constexpr int kWidth = 1280;
constexpr int kHeight = 800;
constexpr int kRunTimeoutMs = 60'000;

struct Run {
    int exitCode = -1;  // -1 when killed by a signal or timed out
    int signal = 0;
    bool timedOut = false;
    double seconds = 0;
    std::string out;
    std::string err;
};

/// The environment for the programs run here: rendering is always Mesa's software rasterizer,
/// so that pictures do not depend on the machine. Leak checking stays on (in the sanitizer build
/// the programs carry their own suppressions for the graphics stack), so a leak of ours fails.
inline std::vector<std::string> childEnvironment() {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
        const std::string entry = *e;
        if (entry.rfind("LIBGL_ALWAYS_SOFTWARE=", 0) != 0) env.push_back(entry);
    }
    env.push_back("LIBGL_ALWAYS_SOFTWARE=1");
    return env;
}

inline void drain(int& fd, std::string& into) {
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
        into.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fd);
        fd = -1;
    }
}

/// Runs `argv` (looked up in PATH) in a process group of its own, capturing its output; after
/// `timeoutMs` the whole group (xvfb-run, Xvfb and veld) is killed.
inline Run run(const std::vector<std::string>& argv, int timeoutMs = kRunTimeoutMs) {
    int outPipe[2];
    int errPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (pipe2(errPipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const std::vector<std::string> envStrings = childEnvironment();
    std::vector<char*> env;
    for (const auto& e : envStrings)
        env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);

    const auto start = Clock::now();
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    Run result;
    if (rc != 0) {
        ::close(outPipe[0]);
        ::close(errPipe[0]);
        result.err = "cannot start " + argv[0] + ": " + std::strerror(rc);
        result.exitCode = 127;
        return result;
    }
    int fds[2] = {outPipe[0], errPipe[0]};
    const auto deadline = start + std::chrono::milliseconds(timeoutMs);
    while (fds[0] >= 0 || fds[1] >= 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            result.timedOut = true;
            ::kill(-pid, SIGKILL);
            break;
        }
        pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        const int n = ::poll(p, 2, static_cast<int>(std::min<long long>(left, 1000)));
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (p[0].revents != 0) drain(fds[0], result.out);
        if (p[1].revents != 0) drain(fds[1], result.err);
    }
    for (int fd : fds) {
        if (fd >= 0) ::close(fd);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (result.timedOut) {
        result.exitCode = -1;
    } else if (WIFEXITED(status)) {
        result.exitCode = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

/// Runs `argv` under xvfb-run with a display of its own. xvfb-run -a picks a free display
/// number, but two programs may pick the same one at once; that failure is retried.
inline Run underXvfb(std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"xvfb-run", "-a", "-s", kScreen});
    Run r;
    for (int attempt = 0; attempt < 3; ++attempt) {
        r = run(argv);
        if (r.exitCode == 0 || r.err.find("Xvfb failed to start") == std::string::npos) break;
    }
    return r;
}

inline std::string describe(const Run& r) {
    std::string s = "exit " + std::to_string(r.exitCode);
    if (r.signal) s += ", signal " + std::to_string(r.signal);
    if (r.timedOut) s += ", timed out";
    s += " after " + std::to_string(r.seconds) + " s";
    if (!r.err.empty()) s += "\nstderr:\n" + r.err;
    return s;
}

// --- the demo store and the runs ---

inline const std::string& screenshotDir() {
    static const std::string dir = [] {
        fs::create_directories(VELD_SCREENSHOT_DIR);
        return std::string(VELD_SCREENSHOT_DIR);
    }();
    return dir;
}

inline veld::test::TempDir& tempDir() {
    static veld::test::TempDir dir;
    return dir;
}

/// A fresh demo store (the pilots' forms and 40 synthetic records). Kiosk runs each get their
/// own: a kiosk that was running when the program stopped comes back at the next start.
/// The project key ring the demo stores seal to (kiosk forms cannot start without a key).
inline const std::string& demoRing() {
    static const std::string ring = [] {
        const std::string path = tempDir().file("project.ring");
        const std::string phrase = tempDir().file("project.passphrase");
        std::ofstream(phrase) << "window tests passphrase";
        const Run r = run({veld::test::binary("veldctl"), "keys", "new", path, "--id", "window",
                           "--passphrase-file", phrase});
        if (r.exitCode != 0) throw std::runtime_error("veldctl keys new failed: " + describe(r));
        return path;
    }();
    return ring;
}

inline std::string demoStore(const std::string& name) {
    const std::string path = tempDir().file(name + ".veld");
    const Run r =
        run({veld::test::binary("veldctl"), "store", "demo", path, "--records", "40", "--forms",
             std::string(VELD_SOURCE_DIR) + "/schemas/forms", "--ring", demoRing()});
    if (r.exitCode != 0) throw std::runtime_error("veldctl store demo failed: " + describe(r));
    return path;
}

inline const std::string& sharedStore() {
    static const std::string path = demoStore("shared");
    return path;
}

struct Shot {
    Run run;
    std::string png;
};

/// veld on `store` showing `show` (empty: the start screen), screenshot to NAME.png.
inline Shot screenshot(const std::string& store, const std::string& show, const std::string& name) {
    Shot s;
    s.png = screenshotDir() + "/" + name + ".png";
    fs::remove(s.png);
    std::vector<std::string> argv = {veld::test::binary("veld"), "--store", store, "--screenshot",
                                     s.png};
    if (!show.empty()) {
        argv.push_back("--show");
        argv.push_back(show);
    }
    s.run = underXvfb(argv);
    return s;
}

inline void checkClean(const Run& r) {
    INFO(describe(r));
    CHECK_FALSE(r.timedOut);
    CHECK(r.signal == 0);
    CHECK(r.exitCode == 0);
    CHECK(r.err.find("AddressSanitizer") == std::string::npos);
    CHECK(r.err.find("LeakSanitizer") == std::string::npos);
    CHECK(r.err.find("runtime error") == std::string::npos);
}

// --- pictures ---

struct Image {
    int width = 0;
    int height = 0;
    std::vector<unsigned char> rgb;

    [[nodiscard]] const unsigned char* at(int x, int y) const {
        return &rgb[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) +
                     static_cast<std::size_t>(x)) *
                    3];
    }
    [[nodiscard]] std::uint32_t colour(int x, int y) const {
        const unsigned char* p = at(x, y);
        return std::uint32_t{p[0]} << 16 | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]};
    }
    /// Dark enough to be text (glyph ink, not a button or a field).
    [[nodiscard]] bool ink(int x, int y) const {
        const unsigned char* p = at(x, y);
        return 299 * p[0] + 587 * p[1] + 114 * p[2] < 110'000;
    }
};

inline Image load(const std::string& path) {
    Image img;
    int channels = 0;
    std::unique_ptr<unsigned char, void (*)(void*)> data(
        stbi_load(path.c_str(), &img.width, &img.height, &channels, 3), stbi_image_free);
    if (!data) return img;
    img.rgb.assign(data.get(), data.get() + static_cast<std::size_t>(img.width) *
                                                static_cast<std::size_t>(img.height) * 3);
    return img;
}

struct Coverage {
    std::size_t colours = 0;  // distinct colours in the whole picture
    double drawnShare = 0;    // share of pixels in the top third that differ from the background
    double inkShare = 0;      // share of pixels in the top third dark enough to be text
};

inline Coverage coverage(const Image& img) {
    Coverage c;
    std::unordered_map<std::uint32_t, std::size_t> counts;
    for (int y = 0; y < img.height; ++y) {
        for (int x = 0; x < img.width; ++x)
            ++counts[img.colour(x, y)];
    }
    c.colours = counts.size();
    const auto background =
        std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
            return a.second < b.second;
        })->first;
    const int top = img.height / 3;
    std::size_t drawn = 0;
    std::size_t ink = 0;
    for (int y = 0; y < top; ++y) {
        for (int x = 0; x < img.width; ++x) {
            const std::uint32_t px = img.colour(x, y);
            int diff = 0;
            for (int shift : {0, 8, 16}) {
                diff = std::max(diff, std::abs(static_cast<int>((px >> shift) & 0xff) -
                                               static_cast<int>((background >> shift) & 0xff)));
            }
            drawn += diff > 24 ? 1u : 0u;
            ink += img.ink(x, y) ? 1u : 0u;
        }
    }
    const double area = static_cast<double>(top) * img.width;
    c.drawnShare = static_cast<double>(drawn) / area;
    c.inkShare = static_cast<double>(ink) / area;
    return c;
}

/// A screenshot of a real screen: the window's size, antialiased text in many shades, and a
/// good part of the top third (where every screen starts) drawn on, some of it text.
inline void checkNotBlank(const std::string& png) {
    INFO(png);
    REQUIRE(fs::exists(png));
    const Image img = load(png);
    REQUIRE(!img.rgb.empty());
    CHECK(img.width == kWidth);
    CHECK(img.height == kHeight);
    const Coverage c = coverage(img);
    INFO("colours " << c.colours << ", drawn " << c.drawnShare << ", ink " << c.inkShare);
    CHECK(c.colours >= 24);
    CHECK(c.drawnShare >= 0.03);
    CHECK(c.inkShare >= 0.005);
}

struct Rect {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    [[nodiscard]] int width() const { return x1 - x0; }
    [[nodiscard]] int height() const { return y1 - y0; }
};

struct SampleLine {
    int missing = -1;
    Rect sample;
    Rect boxes;
};

inline std::map<std::string, SampleLine> readSampleReport(const std::string& path) {
    std::map<std::string, SampleLine> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string lang;
        float v[8] = {};
        SampleLine s;
        fields >> lang >> s.missing;
        for (float& f : v)
            fields >> f;
        if (!fields) continue;
        auto px = [](float f) { return static_cast<int>(f + 0.5f); };
        s.sample = {px(v[0]), px(v[1]), px(v[2]), px(v[3])};
        s.boxes = {px(v[4]), px(v[5]), px(v[6]), px(v[7])};
        out[lang] = s;
    }
    return out;
}

inline std::size_t inkIn(const Image& img, const Rect& r) {
    std::size_t n = 0;
    for (int y = r.y0; y < r.y1; ++y) {
        for (int x = r.x0; x < r.x1; ++x)
            n += img.ink(x, y) ? 1u : 0u;
    }
    return n;
}

/// How alike two drawn lines are: the ink of both, laid over each other from their top-left
/// corners, as intersection over union (1: the same pixels, 0: no ink in common).
inline double inkOverlap(const Image& img, const Rect& a, const Rect& b) {
    const int w = std::min(a.width(), b.width());
    const int h = std::min(a.height(), b.height());
    std::size_t both = 0;
    std::size_t either = 0;
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            const bool p = img.ink(a.x0 + x, a.y0 + y);
            const bool q = img.ink(b.x0 + x, b.y0 + y);
            both += p && q ? 1u : 0u;
            either += p || q ? 1u : 0u;
        }
    }
    return either == 0 ? 1.0 : static_cast<double>(both) / static_cast<double>(either);
}

inline bool inside(const Image& img, const Rect& r) {
    return r.x0 >= 0 && r.y0 >= 0 && r.x1 <= img.width && r.y1 <= img.height && r.x0 < r.x1 &&
           r.y0 < r.y1;
}

}  // namespace veld::test::window
