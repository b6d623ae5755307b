// veld: the form client. A GLFW window with Dear ImGui's OpenGL 3 renderer around veld::client.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <GLFW/glfw3.h>
#include <imgui.h>

#include <veld/pin.hpp>
#include <veld/platform/files.hpp>
#include <veld/platform/process.hpp>
#include <veld/profile.hpp>
#include <veld/sync/provisioning.hpp>

#include "alive.hpp"
#include "app.hpp"
#include "media_images.hpp"
#include "screens/samples.hpp"
#include "target_log.hpp"
#include "ui.hpp"
#include "window.hpp"

namespace {

constexpr const char* kUsage = R"(usage: veld [options]

The Veld form client.

options:
  --store FILE        the device store to use (created if missing)
  --profile NAME      the store of a named device profile:
                      $XDG_DATA_HOME/veld/profiles/NAME/device.veld (default profile: "default");
                      on Windows %LOCALAPPDATA%\Veld\profiles\NAME\device.veld
  --language nl|en    language of the screens (default: the saved setting, else Dutch)
  --kiosk FORM        start kiosk mode with FORM (a staff PIN must be set in Settings, or
                      with `veldctl kiosk setup`); veld-kiosk-session(1) keeps a kiosk running
  --enrol FILE        enrol the store with a provisioning file (FILE.veldenrol, from
                      veldctl collector provision) before opening; the outcome is printed and
                      shown on the Settings screen. Exit status 1 when the enrolment failed.
                      Without a display it only enrols: exit 0 enrolled, 1 not.
                      Without --enrol (and --kiosk), a store that is not enrolled enrols from
                      a .veldenrol file an installer left in %ProgramData%\Veld (/etc/veld on
                      Linux)
  --scale S           size of text and controls (default: the screen's content scale)
  --size WxH          window size in pixels (default 1280x800)
  --show WHAT         open a screen first: home, cases[:CASE_ID], records, record:RECORD_ID,
                      sync, settings,
                      fill:FORM[:PAGE], kiosk:FORM[:LANGUAGE[:PAGE[:LOOK[:keypad]]]] (LOOK:
                      normal, large, contrast), samples (sample text of every script)
  --screenshot FILE   write a PNG of the window once it has settled (and a page that reads
                      itself aloud has finished), and FILE.widgets (where each control is),
                      then quit
  --bench-frames N    draw N frames as fast as possible, print timings as JSON, then quit
  --bench-empty       with --bench-frames: an empty Dear ImGui frame loop (the baseline)
  --bench-idle S      once the screen has settled, run as usual for S seconds without input,
                      print the frames drawn and the CPU seconds used as JSON, then quit
  --bench-poll S      draw at least every S seconds even when nothing changes (a baseline
                      for --bench-idle: the loop as it was)
  --targets FILE      after each frame that changed, write the screen's targets (test ids and
                      rectangles) and texts to FILE, for tests that click in the real window
  --help              this text
)";

struct Options {
    std::string store;
    std::string profile = "default";
    std::string language;
    std::string kiosk;
    std::string enrol;
    float scale = 0;
    int width = 1280;
    int height = 800;
    std::string show;
    std::string screenshot;
    std::string targets;
    int benchFrames = 0;
    bool benchEmpty = false;
    double benchIdle = 0;  // seconds
    double benchPoll = 0;  // seconds; 0: wait for events
};

bool parse(const std::vector<std::string>& args, Options& o) {
    const std::size_t count = args.size();
    for (std::size_t i = 1; i < count; ++i) {
        const std::string a = args[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= count) {
                std::fprintf(stderr, "veld: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return args[++i].c_str();
        };
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (a == "--store") {
            o.store = value();
        } else if (a == "--profile") {
            o.profile = value();
        } else if (a == "--language") {
            o.language = value();
            if (o.language != "nl" && o.language != "en") {
                std::fprintf(stderr, "veld: --language must be nl or en\n");
                return false;
            }
        } else if (a == "--kiosk") {
            o.kiosk = value();
        } else if (a == "--enrol") {
            o.enrol = value();
        } else if (a == "--scale") {
            o.scale = std::strtof(value(), nullptr);
        } else if (a == "--size") {
            if (std::sscanf(value(), "%dx%d", &o.width, &o.height) != 2 || o.width < 320 ||
                o.height < 240) {
                std::fprintf(stderr, "veld: --size must look like 1280x800\n");
                return false;
            }
        } else if (a == "--show") {
            o.show = value();
        } else if (a == "--screenshot") {
            o.screenshot = value();
        } else if (a == "--targets") {
            o.targets = value();
        } else if (a == "--bench-frames") {
            o.benchFrames = std::atoi(value());
        } else if (a == "--bench-empty") {
            o.benchEmpty = true;
        } else if (a == "--bench-idle") {
            o.benchIdle = std::strtod(value(), nullptr);
        } else if (a == "--bench-poll") {
            o.benchPoll = std::strtod(value(), nullptr);
        } else {
            std::fprintf(stderr, "veld: unknown option %s (see --help)\n", a.c_str());
            return false;
        }
    }
    return true;
}

// The outcome of --enrol, printed at once and shown on the Settings screen once it is open.
struct EnrolOutcome {
    bool requested = false;
    bool ok = false;
    std::string file;
    std::string label;
    std::string collector;
    std::string error;
};

EnrolOutcome enrolFromFile(const std::string& storePath, const std::string& file) {
    EnrolOutcome outcome;
    outcome.requested = true;
    outcome.file = file;
    veld::StoreOptions storeOptions;
    storeOptions.mode = veld::sql::OpenMode::ReadWriteCreate;
    auto store = veld::Store::open(storePath, storeOptions);
    if (!store) {
        outcome.error = store.error().describe();
    } else {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        auto done = veld::sync::enrolFromFile(store.value(), file, now);
        if (done) {
            outcome.ok = true;
            outcome.label = done->label;
            outcome.collector = done->collector;
        } else {
            outcome.error = done.error().message;
        }
    }
    if (outcome.ok) {
        std::printf("veld: enrolled %s as \"%s\" with %s\n", storePath.c_str(),
                    outcome.label.c_str(), outcome.collector.c_str());
    } else {
        std::fprintf(stderr, "veld: %s: enrolment failed: %s\n", file.c_str(),
                     outcome.error.c_str());
    }
    return outcome;
}

// A first start without --enrol: a store that is not enrolled enrols from a provisioning file
// an installer left for the machine (the MSI's VELDENROL; see docs/windows.md).
EnrolOutcome enrolFromInstalledFile(const std::string& storePath) {
    EnrolOutcome outcome;
    const std::string folder = veld::sync::installedProvisioningFolder();
    if (veld::sync::findInstalledProvisioningFiles(folder).empty()) return outcome;
    veld::StoreOptions storeOptions;
    storeOptions.mode = veld::sql::OpenMode::ReadWriteCreate;
    auto store = veld::Store::open(storePath, storeOptions);
    if (!store) return outcome;  // the client reports the store itself once it is open
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto done = veld::sync::enrolFromInstalledFiles(store.value(), folder, now);
    if (done.file.empty()) return outcome;
    outcome.requested = true;
    outcome.file = done.file;
    outcome.ok = done.ok;
    outcome.label = done.enrolment.label;
    outcome.collector = done.enrolment.collector;
    outcome.error = done.error;
    if (outcome.ok) {
        std::printf("veld: enrolled %s as \"%s\" with %s (from %s)\n", storePath.c_str(),
                    outcome.label.c_str(), outcome.collector.c_str(), outcome.file.c_str());
    } else {
        std::fprintf(stderr, "veld: %s: enrolment failed: %s\n", outcome.file.c_str(),
                     outcome.error.c_str());
    }
    return outcome;
}

void showEnrolOutcome(veld::client::App& app, const EnrolOutcome& outcome) {
    using namespace veld::client;
    app.go(Screen::Settings);
    app.settingsScreen.enrolMessageError = !outcome.ok;
    app.settingsScreen.enrolMessageFromFile = true;
    if (!outcome.ok) app.settingsScreen.enrolFile = outcome.file;  // to try again from here
    app.settingsScreen.enrolMessage =
        outcome.ok ? format(app.t(M::EnrolFileDone), {outcome.label, outcome.collector})
                   : format(app.t(M::EnrolFileFailed), {outcome.error});
}

// Whether the frame just begun saw input (Dear ImGui's view of it, after NewFrame).
bool inputArrived() {
    const ImGuiIO& io = ImGui::GetIO();
    bool input = io.MouseDelta.x != 0 || io.MouseDelta.y != 0 || io.MouseWheel != 0 ||
                 io.MouseWheelH != 0 || io.InputQueueCharacters.Size > 0;
    for (int i = 0; i < IM_ARRAYSIZE(io.MouseDown); ++i)
        input = input || io.MouseDown[i] || io.MouseReleased[i];
    for (bool down : io.KeysDown)
        input = input || down;
    return input;
}

// Applies --show once the store and forms are loaded.
void applyShow(veld::client::App& app, const std::string& show) {
    using namespace veld::client;
    auto parts = [&] {
        std::vector<std::string> out;
        std::size_t start = 0;
        for (;;) {
            const std::size_t colon = show.find(':', start);
            out.push_back(show.substr(start, colon - start));
            if (colon == std::string::npos) break;
            start = colon + 1;
        }
        return out;
    }();
    if (parts[0] == "home") app.go(Screen::Home);
    if (parts[0] == "records") app.go(Screen::Records);
    if (parts[0] == "record" && parts.size() > 1) {
        if (auto id = veld::Uuid::parse(parts[1])) openRecord(app, *id);
    }
    if (parts[0] == "cases") {
        app.go(Screen::Cases);
        if (parts.size() > 1) {
            if (auto id = veld::Uuid::parse(parts[1])) openCase(app, *id);
        }
    }
    if (parts[0] == "sync") app.go(Screen::Sync);
    if (parts[0] == "settings") app.go(Screen::Settings);
    if (parts[0] == "fill" && parts.size() > 1) {
        if (const FormEntry* form = app.findForm(parts[1])) {
            startNewRecord(app, *form);
            if (parts.size() > 2) app.fill.view.page = std::atoi(parts[2].c_str());
        }
    }
    if (parts[0] == "kiosk" && parts.size() > 1) {
        // For pictures of kiosk mode on a store without a PIN: a throwaway one, in memory only.
        if (app.settings.pinHash.empty())
            app.settings.pinHash = veld::pin::hash("000000").value_or("");
        // kiosk:FORM:LANGUAGE:PAGE:LOOK:keypad, PAGE a number or a question's name, LOOK
        // normal, large or contrast; "keypad" shows the on-screen keypad whatever is attached.
        if (startKiosk(app, parts[1], false) && parts.size() > 2) {
            if (parts.size() > 5 && parts[5] == "keypad") app.settings.kioskKeypad = "always";
            if (parts.size() > 4) app.kiosk.theme = themeFromName(parts[4]);
            kioskChooseLanguage(app, app.kiosk, parts[2]);
            if (parts.size() > 3 && !parts[3].empty()) {
                const auto named = app.kiosk.view.pageOfItem.find(parts[3]);
                kioskGoToPage(app, app.kiosk,
                              named != app.kiosk.view.pageOfItem.end()
                                  ? named->second
                                  : std::atoi(parts[3].c_str()));
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    const auto startTime = std::chrono::steady_clock::now();
    Options options;
    veld::platform::useUtf8Console();
    const std::vector<std::string> args = veld::platform::utf8Arguments(argc, argv);
    if (!parse(args, options)) return 2;
    if (options.store.empty()) options.store = veld::profileStorePath(options.profile, true);
    // Under veld-kiosk-session: tell its watchdog, once a second, that the frame loop runs.
    auto alive = veld::client::AliveReporter::fromEnvironment(!options.kiosk.empty());
    EnrolOutcome enrolled;
    if (!options.enrol.empty()) {
        enrolled = enrolFromFile(options.store, options.enrol);
    } else if (options.show.empty() && options.kiosk.empty() && options.benchFrames <= 0) {
        // Not in kiosk mode: its public must never be shown the Settings screen.
        enrolled = enrolFromInstalledFile(options.store);
    }

    veld::client::WindowSetup setup;
    setup.program = "veld";
    setup.title = "Veld";
    setup.width = options.width;
    setup.height = options.height;
    setup.scale = options.scale;
    setup.vsync = options.benchFrames <= 0;
    auto window = veld::client::Window::open(setup);
    if (!window) return enrolled.requested ? (enrolled.ok ? 0 : 1) : 1;
    GLFWwindow* handle = window->handle();
    const float scale = window->scale();
    veld::client::useTextures({veld::client::uploadTexture, veld::client::freeTexture});

    int exitCode = 0;
    {
        veld::client::AppOptions appOptions;
        appOptions.storePath = options.store;
        appOptions.uiLanguage = options.language;
        appOptions.kioskForm = options.kiosk;
        appOptions.scale = scale;
        // Background work (the worker's results, the uploader's progress) wakes the loop below
        // from its wait; glfwPostEmptyEvent may be called from any thread.
        appOptions.wake = [] { glfwPostEmptyEvent(); };
        veld::client::App app(std::move(appOptions));
        std::vector<veld::client::ScriptSample> samples = veld::client::scriptSamples();
        const bool samplesOnly = options.show == "samples";
        bool showApplied = (options.show.empty() && !enrolled.requested) || samplesOnly;
        bool fullscreen = false;
        int settledFrames = 0;
        bool firstFrame = true;
        std::vector<double> frameCpu;
        std::vector<double> frameUiCpu;  // the UI thread alone, without the renderer's threads
        const bool bench = options.benchFrames > 0;
        // Where each widget of the pictured frame is, for tests that click them (FILE.widgets).
        if (!options.screenshot.empty()) veld::client::ui::setRecording(true);
        std::optional<veld::client::TargetLog> targets;
        if (!options.targets.empty()) targets.emplace(options.targets);
        // After input two more frames: Dear ImGui shows what a click did, opens a popup or sizes
        // a window over the frame or two after the one that saw it. After another wake (work
        // done, a timer) one more, for a popup it opened.
        constexpr int kSettleFrames = 2;
        int framesToDraw = 1;
        // --bench-idle: frames and CPU time from the moment the screen settled.
        std::optional<std::chrono::steady_clock::time_point> idleSince;
        long idleFrames = 0;
        double idleCpuStart = 0;

        while (true) {
            if (glfwWindowShouldClose(handle)) {
                if (app.requestClose()) break;
                glfwSetWindowShouldClose(handle, GLFW_FALSE);
            }
            if (app.quitRequested()) break;
            alive.tick();
            // An idle window draws nothing: it sleeps until input comes, background work hands
            // something back (the worker and the uploader post an empty event), or a moment
            // the screens asked for arrives (a countdown, a toast that ends: App::wakeIn).
            // (--bench-idle draws until the screen has settled, then measures.)
            if (bench || !options.screenshot.empty() || framesToDraw > 0 ||
                (options.benchIdle > 0 && !idleSince)) {
                glfwPollEvents();
            } else {
                double timeout = -1;  // seconds; < 0: none
                if (const std::int64_t ms = app.wakeDelayMs(); ms >= 0)
                    timeout = static_cast<double>(ms) / 1000.0;
                // The kiosk session's watchdog hears from the loop once a second.
                if (alive.active() && (timeout < 0 || timeout > 1.0)) timeout = 1.0;
                if (options.benchPoll > 0 && (timeout < 0 || timeout > options.benchPoll))
                    timeout = options.benchPoll;
                if (idleSince && options.benchIdle > 0) {
                    const double left =
                        options.benchIdle -
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - *idleSince)
                            .count();
                    if (left <= 0) break;
                    if (timeout < 0 || timeout > left) timeout = left;
                }
                if (timeout < 0) {
                    glfwWaitEvents();
                } else {
                    glfwWaitEventsTimeout(timeout);
                }
                // The --bench-poll baseline draws one frame per timeout, as the old loop did.
                framesToDraw = options.benchPoll > 0 ? 1 : 2;
            }
            if (framesToDraw > 0) --framesToDraw;
            if (app.wantsFullscreen() != fullscreen && !bench) {
                fullscreen = app.wantsFullscreen();
                window->setKiosk(fullscreen);
            }
            const double cpuBefore = veld::client::processCpuSeconds();
            const double uiCpuBefore = veld::client::threadCpuSeconds();
            window->beginFrame();
            if (inputArrived()) framesToDraw = std::max(framesToDraw, kSettleFrames);
            if (options.benchEmpty) {
                ImGui::Begin("##empty");
                ImGui::End();
            } else if (samplesOnly) {
                ImGui::SetNextWindowPos(ImVec2(0, 0));
                ImGui::SetNextWindowSize(ImGui::GetIO().DisplaySize);
                ImGui::Begin("##samples", nullptr, ImGuiWindowFlags_NoDecoration);
                veld::client::drawScriptSamples(app, samples);
                ImGui::End();
                app.worker.pump();
            } else {
                app.frame();
                if (targets) targets->write(app);
            }
            window->render();

            const bool settled = samplesOnly || options.benchEmpty ||
                                 (app.ready() && app.formsLoaded && !app.busy() && showApplied &&
                                  !app.readingAloud());
            if (!showApplied && app.ready() && app.formsLoaded && !app.busy()) {
                if (enrolled.requested) showEnrolOutcome(app, enrolled);
                applyShow(app, options.show);
                showApplied = true;
                framesToDraw = kSettleFrames;  // the screen it opened
            }
            settledFrames = settled ? settledFrames + 1 : 0;
            if (idleSince) {
                ++idleFrames;
            } else if (options.benchIdle > 0 && settledFrames >= 4) {
                idleSince = std::chrono::steady_clock::now();
                idleCpuStart = veld::client::processCpuSeconds();
            }
            if (!options.screenshot.empty() && settledFrames >= 4) {
                const bool ok = window->screenshot(options.screenshot);
                if (!ok) {
                    std::fprintf(stderr, "veld: could not write %s\n", options.screenshot.c_str());
                    exitCode = 1;
                } else if (!samplesOnly) {
                    std::ofstream widgets(veld::platform::fsPath(options.screenshot + ".widgets"));
                    for (const auto& widget : veld::client::ui::recorded()) {
                        if (widget.id.empty()) continue;
                        widgets << widget.id << ' ' << widget.min.x << ' ' << widget.min.y << ' '
                                << widget.max.x << ' ' << widget.max.y << ' '
                                << (widget.enabled ? 1 : 0) << '\n';
                    }
                } else {
                    // Where each sample was drawn, for the screenshot test.
                    std::ofstream report(veld::platform::fsPath(options.screenshot + ".txt"));
                    for (const auto& s : samples) {
                        report << s.language << ' ' << s.missing << ' ' << s.min.x << ' ' << s.min.y
                               << ' ' << s.max.x << ' ' << s.max.y << ' ' << s.boxMin.x << ' '
                               << s.boxMin.y << ' ' << s.boxMax.x << ' ' << s.boxMax.y << '\n';
                    }
                }
                break;
            }
            window->present();
            if (firstFrame) {
                firstFrame = false;
                // The font atlas is on the GPU now: its pixels need not stay in memory too.
                ImGui::GetIO().Fonts->ClearTexData();
                const double ms = std::chrono::duration<double, std::milli>(
                                      std::chrono::steady_clock::now() - startTime)
                                      .count();
                if (bench) std::fprintf(stderr, "veld: first frame after %.1f ms\n", ms);
                if (bench) frameCpu.reserve(static_cast<std::size_t>(options.benchFrames));
                if (bench) std::printf("{\"first_frame_ms\": %.2f", ms);
            }
            if (bench && settled) {
                frameCpu.push_back(veld::client::processCpuSeconds() - cpuBefore);
                frameUiCpu.push_back(veld::client::threadCpuSeconds() - uiCpuBefore);
                if (static_cast<int>(frameCpu.size()) >= options.benchFrames) break;
            }
        }
        if (idleSince) {
            const double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - *idleSince)
                    .count();
            std::printf("{\"idle_seconds\": %.2f, \"frames\": %ld, \"cpu_seconds\": %.3f}\n",
                        seconds, idleFrames, veld::client::processCpuSeconds() - idleCpuStart);
        }
        if (bench && !frameCpu.empty()) {
            std::sort(frameCpu.begin(), frameCpu.end());
            std::sort(frameUiCpu.begin(), frameUiCpu.end());
            // The means too: where the system counts CPU time in ticks (10-16 ms on Windows and
            // under Wine) single frames read 0 or a tick, but the mean over many frames holds.
            const auto mean = [](const std::vector<double>& v) {
                double sum = 0;
                for (double x : v)
                    sum += x;
                return sum / static_cast<double>(v.size());
            };
            std::printf(
                ", \"frames\": %zu, \"cpu_frame_median_us\": %.1f, \"cpu_frame_p90_us\": "
                "%.1f, \"ui_cpu_frame_median_us\": %.1f, \"ui_cpu_frame_p90_us\": %.1f, "
                "\"cpu_frame_mean_us\": %.1f, \"ui_cpu_frame_mean_us\": %.1f, "
                "\"peak_rss_kb\": %ld}\n",
                frameCpu.size(), frameCpu[frameCpu.size() / 2] * 1e6,
                frameCpu[frameCpu.size() * 9 / 10] * 1e6, frameUiCpu[frameUiCpu.size() / 2] * 1e6,
                frameUiCpu[frameUiCpu.size() * 9 / 10] * 1e6, mean(frameCpu) * 1e6,
                mean(frameUiCpu) * 1e6, veld::platform::peakMemoryKiB());
        }
    }
    window.reset();
    if (enrolled.requested && !enrolled.ok && exitCode == 0) exitCode = 1;
    return exitCode;
}
