// Real-window tests: the `veld` program itself, in an X server of its own (Xvfb, started by
// xvfb-run for every run), on a demo store made by veldctl. Each run writes a screenshot into the
// build tree (VELD_SCREENSHOT_DIR), which is decoded and checked here: not blank, every script's
// sample drawn with real glyphs, and the program ends by itself with exit code 0.
//
// When no X server can be started (xvfb-run missing or broken) the program says so loudly and
// exits with 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "window_support.hpp"

using namespace veld::test::window;

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
