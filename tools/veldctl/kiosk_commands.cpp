// veldctl kiosk: make a device a kiosk that runs itself (veld-kiosk-session).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <ostream>

#include <veld/form_session.hpp>
#include <veld/kiosk_config.hpp>
#include <veld/pin.hpp>
#include <veld/platform/files.hpp>
#include <veld/platform/process.hpp>
#include <veld/store.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kKioskUsage =
    R"(usage: veldctl kiosk setup --store STORE --form FORM [options]

Makes this device a kiosk: checks that FORM is installed in STORE and is a kiosk form, sets the
staff PIN (stored only as a password hash) and the kiosk form in the store, and writes the
configuration veld-kiosk-session reads. The PIN comes from --pin-file (its first line), else from
standard input (asked twice, without echo, on a terminal). A PIN is 4 to 12 digits.

options:
  --store FILE       the device store the kiosk uses (it must exist)
  --form ID          the kiosk form
  --pin-file FILE    read the staff PIN from FILE
  --config FILE      where to write the configuration (default /etc/veld/kiosk.conf)
  --language nl|en   the screens' language for staff (kept in the configuration)
  --look normal|large|contrast
                     the kiosk's look for each new parent (large text, or white on black);
                     a parent can switch with the button on every page
  --keypad auto|always|never
                     the on-screen keypad for numbers and short texts: auto shows it when no
                     keyboard is attached (the default)

Run as root on a store in a folder owned by another user (the kiosk's), the store's files are
given to that user, so that the kiosk can still write them.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl kiosk: " << message << "\n(see veldctl kiosk --help)\n";
    return kExitUsage;
}

int fail(std::ostream& err, const std::string& message) {
    err << "veldctl kiosk setup: " << message << "\n";
    return kExitFailure;
}

std::optional<std::string> readPin(const std::string& file, std::ostream& err) {
    std::string pin;
    if (!file.empty()) {
        std::ifstream in(platform::fsPath(file));
        if (!in || !std::getline(in, pin)) {
            err << "veldctl kiosk setup: cannot read a PIN from " << file << "\n";
            return std::nullopt;
        }
    } else if (platform::inputIsTerminal()) {
        pin = askHidden("staff PIN: ");
        if (askHidden("again: ") != pin) {
            err << "veldctl kiosk setup: the two PINs differ\n";
            return std::nullopt;
        }
    } else if (!std::getline(std::cin, pin)) {
        err << "veldctl kiosk setup: no PIN (give --pin-file or write it to standard input)\n";
        return std::nullopt;
    }
    if (!pin.empty() && pin.back() == '\r') pin.pop_back();
    return pin;
}

// Run as root on a store in another user's folder: the store and its side files go to that user.
void giveStoreToFolderOwner(const std::string& store, std::ostream& err) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal", ".sync-lock", ".agent-lock"}) {
        const std::string path = store + suffix;
        if (!platform::giveToFolderOwner(path)) {
            err << "veldctl kiosk setup: warning: cannot give " << path
                << " to the owner of its folder; the kiosk may not be able to write it\n";
        }
    }
}

int cmdSetup(Args& args, std::ostream& out, std::ostream& err) {
    if (args.flag("--help") || args.flag("-h")) {
        out << kKioskUsage;
        return kExitOk;
    }
    std::string storePath, formId, pinFile, language, look, keypad;
    std::string configPath = kiosk::kDefaultConfigPath;
    args.option("--store", storePath);
    args.option("--form", formId);
    args.option("--pin-file", pinFile);
    args.option("--config", configPath);
    args.option("--language", language);
    args.option("--look", look);
    args.option("--keypad", keypad);
    if (!args.error.empty()) return usage(err, args.error);
    if (const auto unknown = args.unknownOption(); !unknown.empty()) {
        return usage(err, "unknown option " + unknown);
    }
    if (!args.positionals().empty()) return usage(err, "setup takes no positional arguments");
    if (storePath.empty() || formId.empty()) return usage(err, "setup needs --store and --form");
    if (!language.empty() && language != "nl" && language != "en") {
        return usage(err, "--language must be nl or en");
    }
    if (!look.empty() && look != "normal" && look != "large" && look != "contrast") {
        return usage(err, "--look must be normal, large or contrast");
    }
    if (!keypad.empty() && keypad != "auto" && keypad != "always" && keypad != "never") {
        return usage(err, "--keypad must be auto, always or never");
    }

    std::error_code ec;
    const std::string absoluteStore = platform::utf8Path(
        std::filesystem::absolute(platform::fsPath(storePath), ec).lexically_normal());
    if (!std::filesystem::exists(platform::fsPath(absoluteStore), ec)) {
        return fail(err, "no store at " + absoluteStore + " (enrol the device first)");
    }
    auto store = Store::open(absoluteStore, {.mode = sql::OpenMode::ReadWrite});
    if (!store) return fail(err, store.error().describe());

    auto installed = store->forms();
    if (!installed) return fail(err, installed.error().describe());
    const InstalledForm* found = nullptr;
    std::string kioskForms;
    for (const auto& f : installed.value()) {
        if (f.formId == formId) found = &f;
        auto compiled = forms::CompiledForm::load(f.binary);
        if (!compiled) continue;
        const auto* s = compiled.value()->form().settings();
        if (s && s->kiosk()) kioskForms += (kioskForms.empty() ? "" : ", ") + f.formId;
    }
    const std::string offer = kioskForms.empty() ? " (this store has no kiosk form)"
                                                 : " (kiosk forms: " + kioskForms + ")";
    if (!found)
        return fail(err, "form '" + formId + "' is not installed in " + absoluteStore + offer);
    auto compiled = forms::CompiledForm::load(found->binary);
    if (!compiled) return fail(err, compiled.error().describe());
    const auto* settings = compiled.value()->form().settings();
    if (!settings || !settings->kiosk()) {
        return fail(err, "form '" + formId + "' is not a kiosk form" + offer);
    }

    const auto pin = readPin(pinFile, err);
    if (!pin) return kExitFailure;
    if (!pin::acceptable(*pin)) return fail(err, "a staff PIN is 4 to 12 digits");
    const auto hashed = pin::hash(*pin);
    if (!hashed) return fail(err, "cannot hash the PIN (out of memory)");

    for (const auto& [key, value] : {std::pair<const char*, std::string>{"kiosk.pin_hash", *hashed},
                                     {"kiosk.pin_failures", "0"},
                                     {"kiosk.pin_locked_until_ms", "0"},
                                     {"kiosk.form", formId}}) {
        if (auto s = store->setSetting(key, value); !s) return fail(err, s.error().describe());
    }
    for (const auto& [key, value] :
         {std::pair<const char*, std::string>{"kiosk.theme", look}, {"kiosk.keypad", keypad}}) {
        if (value.empty()) continue;
        if (auto s = store->setSetting(key, value); !s) return fail(err, s.error().describe());
    }
    auto projectKey = store->setting("project.key");
    const bool hasKey = projectKey && projectKey.value() && !projectKey.value()->empty();
    store = makeError(ErrorCode::Internal, "closed");  // close the store before handing it over
    giveStoreToFolderOwner(absoluteStore, err);

    kiosk::Config config;
    config.form = formId;
    config.store = absoluteStore;
    config.language = language;
    if (auto existing = kiosk::readConfig(configPath)) {
        // Keep what else an administrator set (client, watchdog).
        config.client = existing->client;
        config.watchdogSeconds = existing->watchdogSeconds;
        if (language.empty()) config.language = existing->language;
    }
    if (auto s = kiosk::writeConfig(configPath, config); !s) return fail(err, s.error().describe());

    out << "kiosk form: " << formId << "\nstore: " << absoluteStore
        << "\nstaff PIN: set\nconfiguration: " << configPath << "\n";
    if (!hasKey) {
        err << "veldctl kiosk setup: warning: the store has no project key yet; the kiosk stays "
               "locked until the device is enrolled and has synchronised\n";
    }
    return kExitOk;
}

}  // namespace

int kioskCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    if (args.empty()) return usage(err, "missing subcommand");
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        out << kKioskUsage;
        return kExitOk;
    }
    Args rest(std::vector<std::string>(args.begin() + 1, args.end()));
    if (args[0] == "setup") return cmdSetup(rest, out, err);
    return usage(err, "unknown subcommand '" + args[0] + "'");
}

}  // namespace veld::veldctl
