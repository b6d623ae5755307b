// Settings: UI language, device profile, collector address (by hand, or from a provisioning file
// on a USB stick), and the kiosk's staff PIN and timers.
#include <filesystem>

#include <imgui.h>

#include <veld/pin.hpp>
#include <veld/platform/files.hpp>
#include <veld/sync/provisioning.hpp>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

int filterDigits(ImGuiInputTextCallbackData* data) {
    return data->EventChar >= '0' && data->EventChar <= '9' ? 0 : 1;
}

void message(SettingsState& state, std::string_view text, bool isError) {
    state.message = std::string(text);
    state.messageError = isError;
}

void enrolOutcome(SettingsState& state, std::string_view text, bool isError, bool fromFile) {
    state.enrolMessage = std::string(text);
    state.enrolMessageError = isError;
    state.enrolMessageFromFile = fromFile;
}

void drawEnrolOutcome(const SettingsState& state) {
    if (state.enrolMessage.empty()) return;
    if (state.enrolMessageError) {
        ui::error(state.enrolMessage, false);
    } else {
        ui::paragraph(state.enrolMessage, false, ui::kOkColor);
    }
}

// Enrolment with a provisioning file: from a path, or chosen among those found on removable
// media. The file is read and the collector asked on the worker.
void drawEnrolFromFile(App& app, SettingsState& state) {
    ui::paragraph(app.t(M::EnrolFromFile), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    if (!state.mediaScanned) {
        state.mediaScanned = true;
        app.worker.run(
            [] {
                auto found =
                    sync::findInstalledProvisioningFiles(sync::installedProvisioningFolder());
                for (auto& file : sync::findProvisioningFiles(sync::removableMediaRoots()))
                    found.push_back(std::move(file));
                return found;
            },
            [&state](std::vector<std::string> found) {
                state.mediaFiles = std::move(found);
                if (state.enrolFile.empty() && state.mediaFiles.size() == 1)
                    state.enrolFile = state.mediaFiles.front();
            });
    }
    if (state.mediaFiles.empty()) {
        ui::hint(app.t(M::EnrolFileNoneFound), false);
    } else {
        ui::hint(app.t(M::EnrolFileFound), false);
        for (std::size_t i = 0; i < state.mediaFiles.size(); ++i) {
            const std::string& file = state.mediaFiles[i];
            if (ui::choiceRow("settings.enrolfile.found." + std::to_string(i), file,
                              state.enrolFile == file, false, false, 0)) {
                state.enrolFile = file;
            }
        }
    }
    ui::input("settings.enrolfile.path", state.enrolFile, app.t(M::EnrolFileHint));
    if (ui::button("settings.enrolfile.search", app.t(M::EnrolFileSearch), 0, 0, !state.working)) {
        state.mediaScanned = false;
    }
    ImGui::SameLine();
    if (ui::button("settings.enrolfile.enrol", app.t(M::EnrolFromFileButton), 0, 0,
                   !state.working && !state.enrolFile.empty())) {
        state.working = true;
        enrolOutcome(state, app.t(M::EnrolFileWorking), false, true);
        const std::string file = state.enrolFile;
        const std::int64_t now = app.now();
        app.withStore(
            [file, now](Store& store) { return sync::enrolFromFile(store, file, now); },
            [&app, &state](Result<sync::ProvisionedEnrolment> done) {
                state.working = false;
                if (!done) {
                    enrolOutcome(state, format(app.t(M::EnrolFileFailed), {done.error().message}),
                                 true, true);
                    return;
                }
                state.enrolFile.clear();
                const std::string label = done->label.empty() ? std::string("-") : done->label;
                if (done->collector.empty()) {
                    // Enrolled for sync by USB stick: nobody was contacted, and there is nothing
                    // to send by network.
                    enrolOutcome(state,
                                 format(app.t(M::EnrolFileDoneByUsb), {label, done->collectorId}),
                                 false, true);
                    app.settings.byStick = true;
                    return;
                }
                enrolOutcome(state, format(app.t(M::EnrolFileDone), {label, done->collector}),
                             false, true);
                app.settings.enrolled = true;
                app.settings.byStick = false;
                app.settings.collector = done->collector;
                app.reloadKeys();
                app.startUploader();
            });
    }
    if (state.enrolMessageFromFile) drawEnrolOutcome(state);
}

}  // namespace

void drawSettings(App& app, SettingsState& state) {
    ui::heading(app.t(M::SettingsTitle), false);
    ImGui::BeginChild("##settings");

    // Language of the screens.
    ui::paragraph(app.t(M::SettingsLanguage), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    for (auto lang : kUiLanguages) {
        const bool current = app.settings.uiLanguage == lang;
        if (ui::choiceRow("settings.lang." + std::string(lang),
                          lang == "nl" ? "Nederlands" : "English", current, false, false, 0)) {
            app.settings.uiLanguage = std::string(lang);
            app.saveSetting("ui.language", std::string(lang));
        }
    }
    ImGui::Separator();

    // Device profile.
    ui::paragraph(app.t(M::SettingsProfile), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    ui::paragraph(format(app.t(M::SettingsStorePath), {app.storePath()}), false);
    ui::paragraph(format(app.t(M::SettingsDeviceId), {app.info.deviceId.toString()}), false);
    if (!state.profilesScanned) {
        state.profilesScanned = true;
        const std::string current = app.storePath();
        app.worker.run(
            [current] {
                namespace fs = std::filesystem;
                std::vector<std::string> found;
                std::error_code ec;
                // Profiles are folders side by side, each holding a device.veld.
                const fs::path file = platform::fsPath(current);
                const fs::path root = file.parent_path().parent_path();
                if (file.filename() != "device.veld" || root.filename() != "profiles") {
                    return found;
                }
                for (auto it = fs::directory_iterator(root, ec);
                     !ec && it != fs::directory_iterator(); it.increment(ec)) {
                    const fs::path candidate = it->path() / "device.veld";
                    if (it->is_directory(ec) && fs::exists(candidate, ec)) {
                        found.push_back(platform::utf8Path(candidate));
                    }
                }
                std::sort(found.begin(), found.end());
                return found;
            },
            [&state](std::vector<std::string> found) { state.profiles = std::move(found); });
    }
    for (const auto& profile : state.profiles) {
        if (profile == app.storePath()) continue;
        const std::string name =
            platform::utf8Path(platform::fsPath(profile).parent_path().filename());
        if (ui::button("settings.profile." + name,
                       format(app.t(M::SettingsSwitchProfile), {name}))) {
            closeFill(app);
            state.profilesScanned = false;
            state.collectorLoaded = false;
            app.openStore(profile);
        }
    }
    ImGui::Separator();

    // Collector: enrolment with a provisioning file, or with an address and a one-time code from
    // central staff. What came of it is shown here, next to where it was asked for.
    ui::paragraph(app.t(M::SettingsCollector), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    if (app.settings.enrolled) {
        ui::paragraph(format(app.t(M::EnrolledWith), {app.settings.collector}), false);
    } else {
        drawEnrolFromFile(app, state);
        if (!state.collectorLoaded) {
            state.collector = app.settings.collector;
            state.collectorLoaded = true;
        }
        ui::hint(app.t(M::EnrolByCode), false);
        ui::input("settings.collector", state.collector, "https://");
        ui::input("settings.enrol.code", state.enrolCode, app.t(M::EnrolCodeHint));
        if (ui::button("settings.enrol", app.t(M::Enrol), 0, 0,
                       !state.working && !state.enrolCode.empty())) {
            if (!sync::checkUrl(state.collector, false)) {
                enrolOutcome(state, app.t(M::CollectorNeedsHttps), true, false);
            } else {
                state.working = true;
                const std::string url = state.collector;
                const std::string code = std::exchange(state.enrolCode, {});
                app.withStore([url, code](Store& store) { return sync::enrol(store, url, code); },
                              [&app, &state](Result<sync::EnrolReply> reply) {
                                  state.working = false;
                                  if (!reply) {
                                      enrolOutcome(
                                          state,
                                          format(app.t(M::EnrolFailed), {reply.error().message}),
                                          true, false);
                                      return;
                                  }
                                  enrolOutcome(state, app.t(M::EnrolDone), false, false);
                                  app.settings.enrolled = true;
                                  app.settings.byStick = false;
                                  app.settings.collector = state.collector;
                                  app.reloadKeys();
                                  app.startUploader();
                              });
            }
        }
    }
    if (app.settings.enrolled || !state.enrolMessageFromFile) drawEnrolOutcome(state);
    ImGui::Separator();

    // Kiosk.
    ui::paragraph(app.t(M::SettingsKiosk), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    const bool pinSet = !app.settings.pinHash.empty();
    ui::paragraph(app.t(pinSet ? M::PinIsSet : M::PinNotSet), false);
    constexpr int kPinFlags = ImGuiInputTextFlags_Password;
    if (pinSet) {
        ui::input("settings.pin.current", state.currentPin, app.t(M::PinCurrent), false, true,
                  kPinFlags, filterDigits);
    }
    ui::input("settings.pin.new", state.newPin, app.t(M::PinNew), false, true, kPinFlags,
              filterDigits);
    ui::input("settings.pin.repeat", state.repeatPin, app.t(M::PinRepeat), false, true, kPinFlags,
              filterDigits);
    if (ui::button("settings.pin.save", app.t(pinSet ? M::PinChange : M::PinSet), 0, 0,
                   !state.working)) {
        if (!pin::acceptable(state.newPin)) {
            message(state, app.t(M::PinRules), true);
        } else if (state.newPin != state.repeatPin) {
            message(state, app.t(M::PinMismatch), true);
        } else {
            state.working = true;
            const std::string stored = app.settings.pinHash;
            const std::string current = std::exchange(state.currentPin, {});
            const std::string next = std::exchange(state.newPin, {});
            state.repeatPin.clear();
            // Hashing takes a noticeable moment by design: off the UI thread.
            app.withStore(
                [stored, current, next](Store& store) -> Result<std::string> {
                    if (!stored.empty() && !pin::verify(stored, current)) {
                        return makeError(ErrorCode::InvalidArgument, "pin");
                    }
                    auto hashed = pin::hash(next);
                    if (!hashed) return makeError(ErrorCode::Internal, "pwhash");
                    Status s = store.setSetting("kiosk.pin_hash", *hashed);
                    if (!s) return s.error();
                    return *hashed;
                },
                [&app, &state](Result<std::string> result) {
                    state.working = false;
                    if (!result) {
                        message(state,
                                app.t(result.error().code == ErrorCode::InvalidArgument
                                          ? M::PinWrong
                                          : M::SettingNotSaved),
                                true);
                        return;
                    }
                    app.settings.pinHash = result.value();
                    message(state, app.t(M::PinSaved), false);
                });
        }
    }
    int reset = app.settings.kioskResetSeconds;
    ImGui::SetNextItemWidth(300);
    ImGui::SliderInt("##reset", &reset, 3, 120, app.t(M::KioskResetSeconds).data());
    ui::recordLast("settings.kiosk.reset", std::to_string(reset));
    app.settings.kioskResetSeconds = reset;
    if (ImGui::IsItemDeactivatedAfterEdit()) {
        app.saveSetting("kiosk.reset_seconds", std::to_string(reset));
    }
    int idle = app.settings.kioskIdleSeconds;
    ImGui::SetNextItemWidth(300);
    ImGui::SliderInt("##idle", &idle, 30, 900, app.t(M::KioskIdleSeconds).data());
    ui::recordLast("settings.kiosk.idle", std::to_string(idle));
    app.settings.kioskIdleSeconds = idle;
    if (ImGui::IsItemDeactivatedAfterEdit()) {
        app.saveSetting("kiosk.idle_seconds", std::to_string(idle));
    }
    // The kiosk's look for each new respondent, and when the on-screen keypad shows.
    ui::paragraph(app.t(M::SettingsKioskTheme), false);
    const std::pair<KioskTheme, M> themes[] = {{KioskTheme::Normal, M::KioskThemeNormal},
                                               {KioskTheme::LargeText, M::KioskThemeLarge},
                                               {KioskTheme::HighContrast, M::KioskThemeContrast}};
    for (const auto& [theme, label] : themes) {
        if (theme != KioskTheme::Normal) ImGui::SameLine();
        const std::string name(themeName(theme));
        const bool current = themeFromName(app.settings.kioskTheme) == theme;
        bool shown = current;
        if (ui::checkbox("settings.kiosk.theme." + name, app.t(label), shown) && !current) {
            app.settings.kioskTheme = name;
            app.saveSetting("kiosk.theme", name);
        }
    }
    ui::paragraph(app.t(M::SettingsKeypad), false);
    const std::pair<const char*, M> keypads[] = {
        {"auto", M::KeypadAuto}, {"always", M::KeypadAlways}, {"never", M::KeypadNever}};
    for (const auto& [name, label] : keypads) {
        if (std::string_view(name) != "auto") ImGui::SameLine();
        const bool current = app.settings.kioskKeypad == name;
        bool shown = current;
        if (ui::checkbox(std::string("settings.kiosk.keypad.") + name, app.t(label), shown) &&
            !current) {
            app.settings.kioskKeypad = name;
            app.saveSetting("kiosk.keypad", name);
        }
    }

    if (!state.message.empty()) {
        ImGui::Separator();
        if (state.messageError) {
            ui::error(state.message, false);
        } else {
            ui::paragraph(state.message, false, ui::kOkColor);
        }
    }
    ImGui::EndChild();
}

}  // namespace veld::client
