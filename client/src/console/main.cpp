// veld-console: central staff's console in a GLFW window (see console.hpp).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <sodium.h>

#include <veld/platform/files.hpp>
#include <veld/platform/process.hpp>

#include "../window.hpp"
#include "console.hpp"

namespace {

constexpr const char* kUsage = R"(usage: veld-console [options]

Central staff's console: dashboard, devices, review, conflicts, duplicates and exports of a Veld
collector, through its admin API. Without a credential it starts on its sign-in screen.

options:
  --collector URL        the collector (https://..., or http:// on this machine)
  --credential-file FILE a file holding the staff credential (veld-admin.NAME....); the
                         environment variable VELD_ADMIN_CREDENTIAL is read when not given
  --ca FILE              PEM certificate (or CA) of the collector, for a self-signed collector
  --ring FILE            the project key ring (veldctl keys new) to open at start, so sealed
                         records show their answers; its keys are kept in memory only
  --passphrase-file FILE a file whose first line is the ring's passphrase; the environment
                         variable VELD_KEY_PASSPHRASE is read when not given; without either,
                         the ring is opened under Keys in the console
  --export-dir DIR       where exports are saved (default: ~/veld-exports)
  --language nl|en       language of the screens (default Dutch)
  --scale S              size of text and controls (default: the screen's content scale)
  --size WxH             window size in pixels (default 1280x800)
  --show WHAT            open a tab first: dashboard, devices, forms[:FILE] (FILE checked
                         for publishing), review[:STATE[:N]] (STATE received, has-issues,
                         approved, rejected or corrected; N opens its Nth record),
                         conflicts[:N], cases, duplicates, export, keys
  --screenshot FILE      write a PNG of the window once it has settled, then quit
  --help                 this text
)";

struct Options {
    veld::sync::Connection connection;
    std::string exportDir;
    std::string language = "nl";
    float scale = 0;
    int width = 1280;
    int height = 800;
    std::string show;
    std::string screenshot;
    std::string ringFile;
    std::string passphrase;  // wiped once the console has it
};

// The first line of a file, without the line end.
bool readCredential(const std::string& path, std::string& out) {
    std::ifstream in(veld::platform::fsPath(path));
    if (!in || !std::getline(in, out)) return false;
    while (!out.empty() && (out.back() == '\r' || out.back() == ' '))
        out.pop_back();
    return !out.empty();
}

// A passphrase: the first line of `path` (as veldctl reads it), else VELD_KEY_PASSPHRASE,
// whose bytes are then wiped from the environment. Room is made first, so reading moves no
// copy of it around the heap.
bool readPassphrase(const std::string& path, std::string& out) {
    out.reserve(1024);
    if (!path.empty()) {
        std::ifstream in(veld::platform::fsPath(path));
        return in && std::getline(in, out) && !out.empty();
    }
    if (char* env = std::getenv("VELD_KEY_PASSPHRASE"); env && *env) {
        out.append(env);
        sodium_memzero(env, std::strlen(env));
        veld::platform::unsetEnvironment("VELD_KEY_PASSPHRASE");
    }
    return true;
}

bool parse(const std::vector<std::string>& args, Options& o) {
    std::string passphraseFile;
    const std::size_t count = args.size();
    for (std::size_t i = 1; i < count; ++i) {
        const std::string a = args[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= count) {
                std::fprintf(stderr, "veld-console: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return args[++i].c_str();
        };
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (a == "--collector") {
            o.connection.collector = value();
        } else if (a == "--credential-file") {
            const std::string path = value();
            if (!readCredential(path, o.connection.credential)) {
                std::fprintf(stderr, "veld-console: cannot read a credential from %s\n",
                             path.c_str());
                return false;
            }
        } else if (a == "--ca") {
            o.connection.caFile = value();
        } else if (a == "--ring") {
            o.ringFile = value();
        } else if (a == "--passphrase-file") {
            passphraseFile = value();
        } else if (a == "--export-dir") {
            o.exportDir = value();
        } else if (a == "--language") {
            o.language = value();
            if (o.language != "nl" && o.language != "en") {
                std::fprintf(stderr, "veld-console: --language must be nl or en\n");
                return false;
            }
        } else if (a == "--scale") {
            o.scale = std::strtof(value(), nullptr);
        } else if (a == "--size") {
            if (std::sscanf(value(), "%dx%d", &o.width, &o.height) != 2 || o.width < 320 ||
                o.height < 240) {
                std::fprintf(stderr, "veld-console: --size must look like 1280x800\n");
                return false;
            }
        } else if (a == "--show") {
            o.show = value();
        } else if (a == "--screenshot") {
            o.screenshot = value();
        } else {
            std::fprintf(stderr, "veld-console: unknown option %s (see --help)\n", a.c_str());
            return false;
        }
    }
    if (o.connection.credential.empty()) {
        if (const char* env = std::getenv("VELD_ADMIN_CREDENTIAL")) o.connection.credential = env;
    }
    if (!passphraseFile.empty() && o.ringFile.empty()) {
        std::fprintf(stderr, "veld-console: --passphrase-file needs --ring\n");
        return false;
    }
    if (!o.ringFile.empty() && !readPassphrase(passphraseFile, o.passphrase)) {
        std::fprintf(stderr, "veld-console: cannot read a passphrase from %s\n",
                     passphraseFile.c_str());
        return false;
    }
    if (o.exportDir.empty()) {
        o.exportDir = veld::platform::utf8Path(
            veld::platform::fsPath(veld::platform::homeFolder()) / "veld-exports");
    }
    return true;
}

// Applies --show once signed in and loaded; true when a screenshot may follow.
void applyShow(veld::client::console::Console& console, const std::string& show) {
    using veld::client::console::Tab;
    const std::string what = show.substr(0, show.find(':'));
    if (what == "devices") console.go(Tab::Devices);
    if (what == "review") {
        console.go(Tab::Review);
        const std::size_t colon = show.find(':');
        if (colon != std::string::npos) {
            const std::string rest = show.substr(colon + 1);
            if (auto state = veld::sync::parseReviewState(rest.substr(0, rest.find(':')))) {
                console.review.filter = static_cast<int>(*state);
                console.review.dirty = true;
            }
        }
    }
    if (what == "cases") console.go(Tab::Cases);
    if (what == "duplicates") console.go(Tab::Duplicates);
    if (what == "export") console.go(Tab::Export);
    if (what == "conflicts") console.go(Tab::Conflicts);
    if (what == "keys") console.go(Tab::Keys);
    if (what == "forms") {
        console.go(Tab::Forms);
        if (show.size() > 6) {
            console.formsTab.path = show.substr(6);
            checkFormFile(console, console.formsTab);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    veld::platform::useUtf8Console();
    if (!parse(veld::platform::utf8Arguments(argc, argv), options)) return 2;
    veld::client::WindowSetup setup;
    setup.program = "veld-console";
    setup.title = "Veld console";
    setup.width = options.width;
    setup.height = options.height;
    setup.scale = options.scale;
    auto window = veld::client::Window::open(setup);
    if (!window) return 1;
    int exitCode = 0;
    {
        veld::client::console::ConsoleOptions consoleOptions;
        consoleOptions.connection = options.connection;
        consoleOptions.uiLanguage = options.language;
        consoleOptions.scale = window->scale();
        consoleOptions.exportDir = options.exportDir;
        consoleOptions.ringFile = options.ringFile;
        // On the heap (past the small-string buffer), so the moves below leave no copy.
        consoleOptions.ringPassphrase.reserve(256);
        consoleOptions.ringPassphrase.append(options.passphrase);
        veld::client::console::wipe(options.passphrase);
        veld::client::console::Console console(std::move(consoleOptions));
        options.connection.credential.clear();
        bool showApplied = options.show.empty();
        int settledFrames = 0;
        int frames = 0;
        // A conflict to open for --show conflicts:N, once the list is in.
        int openConflict = -1;
        if (options.show.rfind("conflicts:", 0) == 0)
            openConflict = std::atoi(options.show.c_str() + 10);
        // A review queue entry to open for --show review:STATE:N, once the queue is in.
        int openReview = -1;
        if (options.show.rfind("review:", 0) == 0) {
            const std::size_t second = options.show.find(':', 7);
            if (second != std::string::npos)
                openReview = std::atoi(options.show.c_str() + second + 1);
        }
        while (!glfwWindowShouldClose(window->handle())) {
            if (!options.screenshot.empty() || console.busy()) {
                glfwPollEvents();
            } else {
                glfwWaitEventsTimeout(0.25);
            }
            window->beginFrame();
            console.frame();
            window->render();
            ++frames;
            const bool loaded = console.signedIn() && !console.busy() && !console.forms.empty();
            if (!showApplied && loaded) {
                applyShow(console, options.show);
                showApplied = true;
            }
            if (showApplied && openConflict >= 0 && loaded && !console.conflicts.dirty &&
                static_cast<int>(console.conflicts.list.size()) > openConflict) {
                selectConflict(console, console.conflicts, static_cast<std::size_t>(openConflict));
                openConflict = -1;
            }
            if (showApplied && openReview >= 0 && loaded && !console.review.dirty &&
                console.review.queue &&
                static_cast<int>(console.review.queue->records.size()) > openReview) {
                selectReviewEntry(console, console.review, static_cast<std::size_t>(openReview));
                openReview = -1;
            }
            const bool settled = showApplied && openConflict < 0 && openReview < 0 &&
                                 !console.busy() && (console.signedIn() || frames > 2);
            settledFrames = settled ? settledFrames + 1 : 0;
            if (!options.screenshot.empty() && (settledFrames >= 4 || frames > 3000)) {
                if (!window->screenshot(options.screenshot)) {
                    std::fprintf(stderr, "veld-console: could not write %s\n",
                                 options.screenshot.c_str());
                    exitCode = 1;
                }
                break;
            }
            window->present();
        }
    }
    window.reset();
    return exitCode;
}
