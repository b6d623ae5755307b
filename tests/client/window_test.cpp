// Real-window tests: the `veld` program itself, in an X server of its own (Xvfb, started by
// xvfb-run for every run), on a demo store made by veldctl. Each run writes a screenshot into the
// build tree (VELD_SCREENSHOT_DIR), which is decoded and checked here: not blank, every script's
// sample drawn with real glyphs, and the program ends by itself with exit code 0.
//
// When no X server can be started (xvfb-run missing or broken) the program says so loudly and
// exits with 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
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

namespace {

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
std::vector<std::string> childEnvironment() {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
        const std::string entry = *e;
        if (entry.rfind("LIBGL_ALWAYS_SOFTWARE=", 0) != 0) env.push_back(entry);
    }
    env.push_back("LIBGL_ALWAYS_SOFTWARE=1");
    return env;
}

void drain(int& fd, std::string& into) {
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
Run run(const std::vector<std::string>& argv, int timeoutMs = kRunTimeoutMs) {
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
Run underXvfb(std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"xvfb-run", "-a", "-s", kScreen});
    Run r;
    for (int attempt = 0; attempt < 3; ++attempt) {
        r = run(argv);
        if (r.exitCode == 0 || r.err.find("Xvfb failed to start") == std::string::npos) break;
    }
    return r;
}

std::string describe(const Run& r) {
    std::string s = "exit " + std::to_string(r.exitCode);
    if (r.signal) s += ", signal " + std::to_string(r.signal);
    if (r.timedOut) s += ", timed out";
    s += " after " + std::to_string(r.seconds) + " s";
    if (!r.err.empty()) s += "\nstderr:\n" + r.err;
    return s;
}

// --- the demo store and the runs ---

const std::string& screenshotDir() {
    static const std::string dir = [] {
        fs::create_directories(VELD_SCREENSHOT_DIR);
        return std::string(VELD_SCREENSHOT_DIR);
    }();
    return dir;
}

veld::test::TempDir& tempDir() {
    static veld::test::TempDir dir;
    return dir;
}

/// A fresh demo store (the pilots' forms and 40 synthetic records). Kiosk runs each get their
/// own: a kiosk that was running when the program stopped comes back at the next start.
/// The project key ring the demo stores seal to (kiosk forms cannot start without a key).
const std::string& demoRing() {
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

std::string demoStore(const std::string& name) {
    const std::string path = tempDir().file(name + ".veld");
    const Run r =
        run({veld::test::binary("veldctl"), "store", "demo", path, "--records", "40", "--forms",
             std::string(VELD_SOURCE_DIR) + "/schemas/forms", "--ring", demoRing()});
    if (r.exitCode != 0) throw std::runtime_error("veldctl store demo failed: " + describe(r));
    return path;
}

const std::string& sharedStore() {
    static const std::string path = demoStore("shared");
    return path;
}

struct Shot {
    Run run;
    std::string png;
};

/// veld on `store` showing `show` (empty: the start screen), screenshot to NAME.png.
Shot screenshot(const std::string& store, const std::string& show, const std::string& name) {
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

void checkClean(const Run& r) {
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

Image load(const std::string& path) {
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

Coverage coverage(const Image& img) {
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
void checkNotBlank(const std::string& png) {
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

std::map<std::string, SampleLine> readSampleReport(const std::string& path) {
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

std::size_t inkIn(const Image& img, const Rect& r) {
    std::size_t n = 0;
    for (int y = r.y0; y < r.y1; ++y) {
        for (int x = r.x0; x < r.x1; ++x)
            n += img.ink(x, y) ? 1u : 0u;
    }
    return n;
}

/// How alike two drawn lines are: the ink of both, laid over each other from their top-left
/// corners, as intersection over union (1: the same pixels, 0: no ink in common).
double inkOverlap(const Image& img, const Rect& a, const Rect& b) {
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

bool inside(const Image& img, const Rect& r) {
    return r.x0 >= 0 && r.y0 >= 0 && r.x1 <= img.width && r.y1 <= img.height && r.x0 < r.x1 &&
           r.y0 < r.y1;
}

}  // namespace

TEST_CASE("veld draws its start screen in a real window and writes a screenshot") {
    const Shot s = screenshot(sharedStore(), "", "window-home");
    checkClean(s.run);
    checkNotBlank(s.png);
}

TEST_CASE("every script of the pilots' languages is drawn with real glyphs") {
    const Shot s = screenshot(sharedStore(), "samples", "window-samples");
    checkClean(s.run);
    REQUIRE(fs::exists(s.png));
    const Image img = load(s.png);
    REQUIRE(!img.rgb.empty());
    const auto report = readSampleReport(s.png + ".txt");
    for (const char* lang : {"nl", "tr", "pl", "so", "ar", "ti"}) {
        INFO("language " << lang);
        const auto found = report.find(lang);
        REQUIRE(found != report.end());
        const SampleLine& line = found->second;
        CHECK(line.missing == 0);
        REQUIRE(inside(img, line.sample));
        REQUIRE(inside(img, line.boxes));
        CHECK(line.sample.width() >= 100);
        CHECK(line.sample.height() >= 10);
        // Ink in the sample's rectangle: something was drawn there, not just background.
        const std::size_t ink = inkIn(img, line.sample);
        const double area = static_cast<double>(line.sample.width() * line.sample.height());
        INFO("ink pixels " << ink << " of " << area);
        CHECK(ink >= 200);
        CHECK(static_cast<double>(ink) / area >= 0.02);
        // The comparison line of missing-glyph marks has ink too, else the next check proves
        // nothing.
        CHECK(inkIn(img, line.boxes) >= 200);
        // A script drawn as missing glyphs looks exactly like the comparison line (overlap 1);
        // real letters share little of its ink.
        const double overlap = inkOverlap(img, line.sample, line.boxes);
        INFO("ink overlap with the missing-glyph line " << overlap);
        CHECK(overlap < 0.4);
    }
}

TEST_CASE("the kiosk's welcome screen and an Arabic question page are drawn") {
    const Shot welcome =
        screenshot(demoStore("kiosk"), "kiosk:vmbo_parent_survey", "window-kiosk-welcome");
    checkClean(welcome.run);
    checkNotBlank(welcome.png);
    const Shot arabic =
        screenshot(demoStore("kiosk-ar"), "kiosk:vmbo_parent_survey:ar", "window-kiosk-ar");
    checkClean(arabic.run);
    checkNotBlank(arabic.png);
    // Two different screens.
    const Image a = load(welcome.png);
    const Image b = load(arabic.png);
    REQUIRE(a.rgb.size() == b.rgb.size());
    CHECK(a.rgb != b.rgb);
}

TEST_CASE("veld ends by itself with exit code 0 once the screenshot is written") {
    // A form being filled in: the draft is saved in the background while the picture is taken,
    // and the program must still end on its own, promptly, without a sanitizer report.
    const Shot s = screenshot(sharedStore(), "fill:ips_guidance", "window-fill");
    checkClean(s.run);
    CHECK(s.run.seconds < 30);
    checkNotBlank(s.png);
}

TEST_CASE("veld-console shows a conflict side by side in a real window, against a collector") {
    // A collector with the pilots' forms, one demo device's records, and a conflict made by a
    // second demo device; a staff member's credential in a file only the user can read.
    veld::test::CollectorProcess collector(tempDir().file("console-collector.db"));
    veld::test::publishPilotForms(collector);
    collector.start();
    const std::string device = demoStore("console-device");
    const std::string ctl = veld::test::binary("veldctl");
    REQUIRE(run({ctl, "enrol", device, collector.url(), collector.enrolCode()}).exitCode == 0);
    REQUIRE(run({ctl, "sync", device}).exitCode == 0);
    const Run conflict = run({ctl, "collector", "demo-conflict", collector.storePath()});
    REQUIRE_MESSAGE(conflict.exitCode == 0, describe(conflict));
    CHECK(collector.open()->conflicts()->size() == 1);
    const Run staff = run({ctl, "collector", "admin-add", collector.storePath(), "anna"});
    REQUIRE(staff.exitCode == 0);
    const std::string credentialFile = tempDir().file("anna.credential");
    std::ofstream(credentialFile) << staff.out;
    const std::string credential = staff.out.substr(0, staff.out.find('\n'));

    const std::string png = screenshotDir() + "/console-conflict.png";
    fs::remove(png);
    const Run r = underXvfb({veld::test::binary("veld-console"), "--collector", collector.url(),
                             "--credential-file", credentialFile, "--show", "conflicts:0",
                             "--screenshot", png});
    checkClean(r);
    checkNotBlank(png);
    // The credential never reaches the program's output.
    CHECK(r.out.find(credential) == std::string::npos);
    CHECK(r.err.find(credential) == std::string::npos);
}

TEST_CASE("a record sent back by staff: the start screen, the record, and the console's review") {
    // A demo device's records at a collector; staff send one back with a comment.
    veld::test::CollectorProcess collector(tempDir().file("corrections-collector.db"));
    veld::test::publishPilotForms(collector);
    collector.start();
    const std::string device = demoStore("corrections-device");
    const std::string ctl = veld::test::binary("veldctl");
    REQUIRE(run({ctl, "enrol", device, collector.url(), collector.enrolCode()}).exitCode == 0);
    REQUIRE(run({ctl, "sync", device}).exitCode == 0);
    std::string recordId;
    {
        auto store = collector.open();
        const auto ids = store->recordIds().value();
        for (const auto& id : ids) {
            auto current = store->current(id).value();
            if (!current || current->formId != "ips_guidance") continue;
            auto header = veld::inspectRecord(current->body);
            if (header && !header->sealed) recordId = id.toString();
        }
    }
    REQUIRE_FALSE(recordId.empty());
    const Run review =
        run({ctl, "collector", "review", collector.storePath(), recordId, "has-issues", "--comment",
             "Het aantal uren klopt niet met het verslag: graag nakijken."});
    REQUIRE_MESSAGE(review.exitCode == 0, describe(review));
    REQUIRE(run({ctl, "sync", device}).exitCode == 0);

    const Shot home = screenshot(device, "home", "corrections-home");
    checkClean(home.run);
    checkNotBlank(home.png);
    const Shot record = screenshot(device, "record:" + recordId, "corrections-record");
    checkClean(record.run);
    checkNotBlank(record.png);

    // The device corrects it (as the client's "Corrigeren" and finalize do) and sends it.
    {
        auto store = veld::test::openDevice(device);
        const auto id = veld::Uuid::parse(recordId).value();
        REQUIRE(store.reopenForCorrection(id));
        auto draft = store.get(id);
        REQUIRE(draft);
        REQUIRE(store.finalize(id, draft->record.content, draft->meta.summary));
    }
    REQUIRE(run({ctl, "sync", device}).exitCode == 0);
    const Run staff = run({ctl, "collector", "admin-add", collector.storePath(), "anna"});
    REQUIRE(staff.exitCode == 0);
    const std::string credentialFile = tempDir().file("corrections-anna.credential");
    std::ofstream(credentialFile) << staff.out;
    const std::string png = screenshotDir() + "/console-review-corrected.png";
    fs::remove(png);
    const Run r = underXvfb({veld::test::binary("veld-console"), "--collector", collector.url(),
                             "--credential-file", credentialFile, "--show", "review:corrected:0",
                             "--screenshot", png});
    checkClean(r);
    checkNotBlank(png);
}

TEST_CASE("a device that syncs by USB stick only: its Sync screen in a real window") {
    // Enrolled with an offline provisioning file; a stick is in; nothing went to the collector.
    veld::test::CollectorProcess collector(tempDir().file("usb-collector.db"));  // not started yet
    veld::test::publishPilotForms(collector);
    const std::string ctl = veld::test::binary("veldctl");
    const std::string enrolFile = tempDir().file("school-7.veldenrol");
    const Run made = run({ctl, "collector", "provision", collector.storePath(), "--label",
                          "school-7", "--offline", "-o", enrolFile});
    REQUIRE_MESSAGE(made.exitCode == 0, describe(made));
    const std::string device = demoStore("usb-device");
    const Run enrolled = run({ctl, "enrol", device, "--file", enrolFile});
    REQUIRE_MESSAGE(enrolled.exitCode == 0, describe(enrolled));
    const std::string media = tempDir().file("usb-media");
    fs::create_directories(media + "/SCHOOL-STICK");
    ::setenv("VELD_MEDIA_ROOTS", media.c_str(), 1);
    const Shot sync = screenshot(device, "sync", "sync-usb");
    ::unsetenv("VELD_MEDIA_ROOTS");
    checkClean(sync.run);
    checkNotBlank(sync.png);
    // What the screen said: how this device sends, and no network round offered.
    const std::string widgets = veld::test::readFile(sync.png + ".widgets");
    CHECK(widgets.find("sync.usb.export") != std::string::npos);
    CHECK(widgets.find("sync.now") == std::string::npos);
    fs::remove(sync.png + ".widgets");

    // The stick goes to central staff and back; the console's device list shows the bundle.
    const std::string bundle = media + "/SCHOOL-STICK/school-7-1.veldbundle";
    const Run exported = run({ctl, "bundle", "export", device, "--out", bundle});
    REQUIRE_MESSAGE(exported.exitCode == 0, describe(exported));
    const Run imported = run({ctl, "collector", "import", collector.storePath(), bundle});
    REQUIRE_MESSAGE(imported.exitCode == 0, describe(imported));
    const Run replied =
        run({ctl, "bundle", "import", device, media + "/SCHOOL-STICK/school-7-1.veldreply"});
    REQUIRE_MESSAGE(replied.exitCode == 0, describe(replied));
    collector.start();
    const Run staff = run({ctl, "collector", "admin-add", collector.storePath(), "anna"});
    REQUIRE(staff.exitCode == 0);
    const std::string credentialFile = tempDir().file("usb-anna.credential");
    std::ofstream(credentialFile) << staff.out;
    const std::string png = screenshotDir() + "/console-devices-usb.png";
    fs::remove(png);
    const Run console =
        underXvfb({veld::test::binary("veld-console"), "--collector", collector.url(),
                   "--credential-file", credentialFile, "--show", "devices", "--screenshot", png});
    checkClean(console);
    checkNotBlank(png);
}

TEST_CASE("read-aloud in a real window: a kiosk page reads itself, and no sound device is quiet") {
    // The parents' survey with read_aloud on, beside the other pilot forms.
    const std::string formsDir = tempDir().file("read-aloud-forms");
    fs::create_directories(formsDir);
    for (const auto& entry :
         fs::directory_iterator(std::string(VELD_SOURCE_DIR) + "/schemas/forms")) {
        if (entry.path().extension() != ".json") continue;
        std::string json = veld::test::readFile(entry.path().string());
        if (entry.path().stem() == "vmbo_parent_survey") {
            const auto at = json.find("\"kiosk\": true");
            REQUIRE(at != std::string::npos);
            json.insert(at, "\"read_aloud\": true, ");
        }
        std::ofstream(formsDir + "/" + entry.path().filename().string()) << json;
    }
    const std::string store = tempDir().file("read-aloud.veld");
    const Run made = run({veld::test::binary("veldctl"), "store", "demo", store, "--records", "0",
                          "--forms", formsDir, "--ring", demoRing()});
    REQUIRE_MESSAGE(made.exitCode == 0, describe(made));

    // The consent page opens and reads itself: the question, then its two answers. The picture
    // is taken once the reading is over.
    const std::string wav = tempDir().file("read-aloud.wav");
    ::setenv("VELD_AUDIO", ("wav:" + wav).c_str(), 1);
    const Shot page = screenshot(store, "kiosk:vmbo_parent_survey:nl:1", "window-kiosk-read-aloud");
    ::unsetenv("VELD_AUDIO");
    checkClean(page.run);
    checkNotBlank(page.png);
    std::vector<std::string> keys;
    {
        std::ifstream in(wav + ".keys");
        long long at = 0;
        std::string key;
        while (in >> at >> key)
            keys.push_back(key);
    }
    CHECK(keys == std::vector<std::string>{"q.consent_participation", "q.consent_participation.yes",
                                           "q.consent_participation.no"});
    CHECK(fs::file_size(wav) > 22050 * 2 * 3);  // seconds of sound, not an empty file

    // No such sound device: the program draws its frames as ever and ends by itself.
    ::setenv("VELD_AUDIO", "alsa:veld_no_such_device", 1);
    const Run bench = underXvfb({veld::test::binary("veld"), "--store", store, "--show",
                                 "kiosk:vmbo_parent_survey:nl:1", "--bench-frames", "120"});
    ::unsetenv("VELD_AUDIO");
    checkClean(bench);
    CHECK(bench.out.find("\"frames\": 120") != std::string::npos);
    CHECK(bench.seconds < 30);
    CHECK(bench.err.find("ALSA") == std::string::npos);  // quiet: no device errors on stderr
    MESSAGE("120 frames without a sound device: " << bench.out);
}

namespace {

// A kiosk form of one question with three choices, in Dutch.
constexpr const char* kSpeechForm = R"({
  "id": "speech_window", "version": 1, "pilot": "vmbo",
  "titles": [{"lang": "nl", "text": "Voorlezen"}], "default_language": "nl",
  "settings": {"sealed": true, "kiosk": true, "anonymous": true},
  "languages": [{"tag": "nl", "name": "Nederlands"}],
  "items": [{"name": "travel", "type": "SelectOne", "choice_list": "travel",
             "labels": [{"lang": "nl", "text": "Hoe komt uw kind naar school?"}]}],
  "choice_lists": [{"name": "travel", "choices": [
    {"name": "walk", "labels": [{"lang": "nl", "text": "Lopend"}]},
    {"name": "bike", "labels": [{"lang": "nl", "text": "Met de fiets"}]},
    {"name": "bus", "labels": [{"lang": "nl", "text": "Met de bus"}]}]}]
})";

struct Widget {
    float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int enabled = 0;
};

std::map<std::string, Widget> readWidgets(const std::string& path) {
    std::map<std::string, Widget> out;
    std::ifstream in(path);
    std::string id;
    Widget w;
    while (in >> id >> w.x0 >> w.y0 >> w.x1 >> w.y1 >> w.enabled)
        out[id] = w;
    return out;
}

std::string centre(const Widget& w) {
    return std::to_string(static_cast<int>((w.x0 + w.x1) / 2)) + " " +
           std::to_string(static_cast<int>((w.y0 + w.y1) / 2));
}

}  // namespace

TEST_CASE(
    "read-aloud in a real window: a click on the speaker reads the question, then each choice") {
    REQUIRE_MESSAGE(veld::test::onPath("xdotool"),
                    "install Debian's xdotool (tools/dev installs it)");
    const std::string formsDir = tempDir().file("speech-window-forms");
    fs::create_directories(formsDir);
    std::ofstream(formsDir + "/speech_window.json") << kSpeechForm;
    const std::string store = tempDir().file("speech-window.veld");
    const Run made = run({veld::test::binary("veldctl"), "store", "demo", store, "--records", "0",
                          "--forms", formsDir, "--ring", demoRing()});
    REQUIRE_MESSAGE(made.exitCode == 0, describe(made));
    const std::string show = "kiosk:speech_window:nl";

    // Where the buttons are, from a picture of the page.
    ::setenv("VELD_AUDIO", "none", 1);
    const Shot page = screenshot(store, show, "window-kiosk-speaker");
    ::unsetenv("VELD_AUDIO");
    checkClean(page.run);
    const auto widgets = readWidgets(page.png + ".widgets");
    REQUIRE(widgets.count("speak.q.travel"));
    REQUIRE(widgets.count("speak.q.travel.bike"));
    const Widget& speak = widgets.at("speak.q.travel");
    CHECK(speak.x1 - speak.x0 >= 50);
    CHECK(speak.y1 - speak.y0 >= 50);

    // The program itself, clicked as a person would: the question's speaker, and once its
    // reading is over, the bike's own speaker.
    const std::string wav = tempDir().file("speech-window.wav");
    const std::string keys = wav + ".keys";
    const std::string script =
        "export VELD_AUDIO='wav:" + wav + "'\n" + "'" + veld::test::binary("veld") + "' --store '" +
        store + "' --show " + show + " &\n" +
        "pid=$!\n"
        "xdotool search --sync --name '^Veld$' >/dev/null\n"
        "lines() { [ -f '" +
        keys + "' ] && wc -l < '" + keys +
        "' || echo 0; }\n"
        "waitfor() { for i in $(seq 1 400); do [ \"$(lines)\" -ge \"$1\" ] && return 0; "
        "sleep 0.1; done; return 1; }\n"
        // Until the page is up, a click may miss: click again while nothing was read.
        "for i in $(seq 1 15); do sleep 2; [ \"$(lines)\" -gt 0 ] && break; "
        "xdotool mousemove " +
        centre(speak) +
        " click 1; done\n"
        "waitfor 4; sleep 3\n"
        "xdotool mousemove " +
        centre(widgets.at("speak.q.travel.bike")) +
        " click 1\n"
        "waitfor 5; sleep 2\n"
        "kill $pid; wait $pid\n"
        "exit 0\n";
    const Run clicked = underXvfb({"/bin/sh", "-c", script});
    INFO(describe(clicked));
    CHECK(clicked.exitCode == 0);
    CHECK(clicked.err.find("AddressSanitizer") == std::string::npos);
    std::vector<std::string> heard;
    {
        std::ifstream in(keys);
        long long at = 0;
        std::string key;
        while (in >> at >> key)
            heard.push_back(key);
    }
    CHECK(heard == std::vector<std::string>{"q.travel", "q.travel.walk", "q.travel.bike",
                                            "q.travel.bus", "q.travel.bike"});
}

namespace {

double jsonField(const std::string& out, const std::string& key) {
    const std::string quoted = "\"" + key + "\":";
    const auto at = out.find(quoted);
    return at == std::string::npos ? -1 : std::strtod(out.c_str() + at + quoted.size(), nullptr);
}

}  // namespace

TEST_CASE("an idle veld draws (almost) no frames, yet shows background work's result at once") {
    const std::string store = demoStore("idle");
    // The home screen with nothing happening: the old loop drew four frames a second.
    const Run polled = underXvfb({veld::test::binary("veld"), "--store", store, "--show", "home",
                                  "--bench-idle", "4", "--bench-poll", "0.25"});
    checkClean(polled);
    const Run idle = underXvfb(
        {veld::test::binary("veld"), "--store", store, "--show", "home", "--bench-idle", "4"});
    checkClean(idle);
    MESSAGE("4 s idle, polled: " << polled.out << "waiting for events: " << idle.out);
    CHECK(jsonField(polled.out, "frames") >= 12);
    CHECK(jsonField(idle.out, "frames") >= 0);
    CHECK(jsonField(idle.out, "frames") <= 2);

    // The Sync screen reads veld-agent's state on the worker every few seconds, also when no
    // input comes: an agent that ran meanwhile shows within that time, not later.
    const std::string targets = tempDir().file("idle.targets");
    const std::string out = tempDir().file("idle.out");
    const std::string script = "'" + veld::test::binary("veld") + "' --store '" + store +
                               "' --show sync --bench-idle 10 --targets '" + targets + "' > '" +
                               out +
                               "' &\n"
                               "pid=$!\n"
                               "for i in $(seq 1 400); do grep -q 'nog nooit gedraaid' '" +
                               targets +
                               "' 2>/dev/null && break; sleep 0.05; done\n"
                               "sleep 2\n'" +
                               veld::test::binary("veld-agent") + "' --store '" + store +
                               "' --once >/dev/null 2>&1\n"
                               "t0=$(date +%s%N)\n"
                               "for i in $(seq 1 500); do grep -q 'veld-agent is gestopt' '" +
                               targets +
                               "' && break; sleep 0.02; done\n"
                               "t1=$(date +%s%N)\n"
                               "echo \"\\\"shown_after_ms\\\": $(( (t1 - t0) / 1000000 ))\"\n"
                               "wait $pid\n"
                               "cat '" +
                               out + "'\n";
    const Run watched = underXvfb({"/bin/sh", "-c", script});
    checkClean(watched);
    MESSAGE(watched.out);
    const double shownAfterMs = jsonField(watched.out, "shown_after_ms");
    CHECK(shownAfterMs >= 0);
    CHECK(shownAfterMs <= 4000);  // one read every 3 s, and the frame its result wakes
    // Two or so frames per read, against 40 for the old loop in 10 s.
    CHECK(jsonField(watched.out, "frames") <= 15);
}

int main(int argc, char** argv) {
    // Without an X server nothing here can run: say so where nobody can miss it, and let ctest
    // count the test as skipped.
    const bool haveXvfbRun = veld::test::onPath("xvfb-run");
    Run probe;
    if (haveXvfbRun) probe = underXvfb({"true"});
    if (!haveXvfbRun || probe.exitCode != 0) {
        std::fprintf(stderr,
                     "\n"
                     "********************************************************************\n"
                     "* veld-window-tests: NO X SERVER, THE REAL-WINDOW TESTS DID NOT RUN *\n"
                     "********************************************************************\n"
                     "%s\n"
                     "Install Debian's xvfb and xauth packages (tools/dev installs them).\n\n",
                     haveXvfbRun ? ("xvfb-run could not run a program: " + describe(probe)).c_str()
                                 : "xvfb-run is not installed.");
        return 77;
    }
    doctest::Context context(argc, argv);
    return context.run();
}

TEST_CASE("veld --enrol enrols before its window opens, and without a display only enrols") {
    veld::test::CollectorProcess collector(tempDir().file("enrol-collector.db"));
    collector.start();
    const auto provision = [&](const std::string& label) {
        const std::string file = tempDir().file(label + ".veldenrol");
        const Run r =
            run({veld::test::binary("veldctl"), "collector", "provision", collector.storePath(),
                 "--label", label, "--url", collector.url(), "-o", file});
        REQUIRE_MESSAGE(r.exitCode == 0, describe(r));
        return file;
    };
    const std::string file = provision("window-laptop");

    // With a display: enrolled, said on stdout, and the client opens (on Settings).
    const std::string store = demoStore("enrol");
    const std::string png = screenshotDir() + "/window-enrol-settings.png";
    fs::remove(png);
    const Run shown = underXvfb(
        {veld::test::binary("veld"), "--store", store, "--enrol", file, "--screenshot", png});
    checkClean(shown);
    CHECK(shown.out.find("as \"window-laptop\" with " + collector.url()) != std::string::npos);
    checkNotBlank(png);
    CHECK(run({veld::test::binary("veldctl"), "sync", store}).exitCode == 0);

    // Without a display: the same file again is refused (exit 1, the reason on stderr) ...
    const std::string other = demoStore("enrol-other");
    const Run refused = run({"env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY",
                             veld::test::binary("veld"), "--store", other, "--enrol", file});
    CHECK_FALSE(refused.timedOut);
    CHECK(refused.exitCode == 1);
    CHECK(refused.err.find("used already") != std::string::npos);
    CHECK(run({veld::test::binary("veldctl"), "sync", other}).exitCode == 1);
    // ... and a fresh file enrols (exit 0) with no window at all.
    const Run enrolled =
        run({"env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY", veld::test::binary("veld"), "--store",
             other, "--enrol", provision("headless-laptop")});
    CHECK_MESSAGE(enrolled.exitCode == 0, describe(enrolled));
    CHECK(enrolled.out.find("as \"headless-laptop\"") != std::string::npos);
    CHECK(run({veld::test::binary("veldctl"), "sync", other}).exitCode == 0);
}

TEST_CASE("veld's first start enrols from a provisioning file an installer left, once") {
    veld::test::CollectorProcess collector(tempDir().file("installed-collector.db"));
    collector.start();
    const std::string file = tempDir().file("installed-laptop.veldenrol");
    const Run made =
        run({veld::test::binary("veldctl"), "collector", "provision", collector.storePath(),
             "--label", "installed-laptop", "--url", collector.url(), "-o", file});
    REQUIRE_MESSAGE(made.exitCode == 0, describe(made));
    // What the Windows installer does with VELDENROL, into a machine folder of the test's own.
    const std::string machine = tempDir().file("machine-folder");
    const Run installed =
        run({veld::test::binary("veldctl"), "enrol", "--install", file, "--folder", machine});
    REQUIRE_MESSAGE(installed.exitCode == 0, describe(installed));
    const auto headless = [&](const std::string& store) {
        return run({"env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY",
                    "VELD_PROVISIONING_FOLDER=" + machine, veld::test::binary("veld"), "--store",
                    store});
    };

    // The first start of a store that is not enrolled enrols it, without a window.
    const std::string first = demoStore("installed-first");
    const Run enrolled = headless(first);
    CHECK_MESSAGE(enrolled.exitCode == 0, describe(enrolled));
    CHECK(enrolled.out.find("as \"installed-laptop\" with " + collector.url()) !=
          std::string::npos);
    CHECK(enrolled.out.find("installed-laptop.veldenrol") != std::string::npos);
    CHECK(run({veld::test::binary("veldctl"), "sync", first}).exitCode == 0);
    CHECK(collector.open()->devices()->size() == 1);
    // Enrolled: the next start leaves the file alone.
    const Run again = headless(first);
    CHECK(again.out.find("enrol") == std::string::npos);
    CHECK(again.err.find("enrol") == std::string::npos);

    // Another user's store: the spent code is refused once, and not tried at every start.
    const std::string second = demoStore("installed-second");
    const Run refused = headless(second);
    CHECK(refused.exitCode == 1);
    CHECK(refused.err.find("used already") != std::string::npos);
    const Run quiet = headless(second);
    CHECK(quiet.err.find("used already") == std::string::npos);
    CHECK(run({veld::test::binary("veldctl"), "sync", second}).exitCode == 1);
    CHECK(collector.open()->devices()->size() == 1);

    // Uninstalling removes the file again.
    const Run removed =
        run({veld::test::binary("veldctl"), "enrol", "--uninstall", "--folder", machine});
    CHECK_MESSAGE(removed.exitCode == 0, describe(removed));
    CHECK(removed.out.find("removed 1 ") != std::string::npos);
    CHECK(fs::is_empty(machine));
}

// --- pictures on choices ---

/// A store with a kiosk form whose choices carry pictures (mother: red, father: blue), in nl, en,
/// so and, mirrored, ar.
std::string pictureStore(const std::string& name) {
    const std::string forms = tempDir().file(name + "-forms");
    fs::create_directories(forms);
    const std::string json = veld::test::writeMediaForm(forms, "pictures");
    std::string text = veld::test::mediaFormJson("pictures", 1);
    const auto put = [&](const std::string& after, const std::string& extra) {
        const auto at = text.find(after);
        REQUIRE(at != std::string::npos);
        text.insert(at + after.size(), extra);
    };
    put(R"({"tag": "so", "name": "Soomaali"})",
        R"(, {"tag": "ar", "name": "العربية", "rtl": true})");
    put(R"({"lang": "en", "text": "Mother"})", R"(, {"lang": "ar", "text": "الأم"})");
    put(R"({"lang": "en", "text": "Father"})", R"(, {"lang": "ar", "text": "الأب"})");
    put(R"({"lang": "so", "text": "Yaad tahay?", "audio": "rel_so.ogg"})",
        R"(, {"lang": "ar", "text": "من أنت؟"})");
    std::ofstream(json) << text;
    const std::string path = tempDir().file(name + ".veld");
    const Run r = run({veld::test::binary("veldctl"), "store", "demo", path, "--records", "0",
                       "--forms", forms, "--ring", demoRing()});
    if (r.exitCode != 0) throw std::runtime_error("veldctl store demo failed: " + describe(r));
    return path;
}

/// Where pixels of exactly `rgb` are: how many, and their mean position.
struct Spot {
    std::size_t count = 0;
    double x = 0;
    double y = 0;
};
Spot spotOf(const Image& img, std::uint32_t rgb) {
    Spot s;
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x)
            if (img.colour(x, y) == rgb) {
                ++s.count;
                s.x += x;
                s.y += y;
            }
    if (s.count) {
        s.x /= static_cast<double>(s.count);
        s.y /= static_cast<double>(s.count);
    }
    return s;
}

TEST_CASE("choices show the pictures their form carries, on the reading side") {
    const std::uint32_t red = 0xD02020;
    const std::uint32_t blue = 0x2040D0;

    const Shot so =
        screenshot(pictureStore("pictures-so"), "kiosk:pictures:so:1", "window-kiosk-pictures-so");
    checkClean(so.run);
    const Image a = load(so.png);
    REQUIRE(a.width == kWidth);
    const Spot mother = spotOf(a, red);
    const Spot father = spotOf(a, blue);
    // Each picture fills most of a square at least four text lines high (88 px inside a 96 px
    // picture with a white frame, drawn at 100 px or more): thousands of pixels of its colour.
    CHECK(mother.count > 5000);
    CHECK(father.count > 5000);
    // Left of the rows, the mother's above the father's, as the choices are listed.
    CHECK(mother.x < 200);
    CHECK(father.x < 200);
    CHECK(mother.y < father.y);

    const Shot filled =
        screenshot(pictureStore("pictures-fill"), "fill:pictures", "window-fill-pictures");
    checkClean(filled.run);
    const Image f = load(filled.png);
    CHECK(spotOf(f, red).count > 2000);
    CHECK(spotOf(f, blue).count > 2000);
    CHECK(spotOf(f, red).x < 200);

    // Arabic: the layout is mirrored, the pictures on the right.
    const Shot ar =
        screenshot(pictureStore("pictures-ar"), "kiosk:pictures:ar:1", "window-kiosk-pictures-ar");
    checkClean(ar.run);
    const Image b = load(ar.png);
    const Spot motherAr = spotOf(b, red);
    CHECK(motherAr.count > 5000);
    CHECK(motherAr.x > kWidth - 200);
    CHECK(spotOf(b, blue).x > kWidth - 200);
}
