#include "app.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <imgui.h>
#include <imgui_internal.h>

#include <veld/project_key.hpp>
#include <veld/pseudonym.hpp>

#include "text.hpp"
#include "ui.hpp"

namespace veld::client {

namespace {

std::int64_t systemNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int toInt(const std::string& s, int fallback) {
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (end == s.c_str() || v < 0 || v > 1'000'000) return fallback;
    return static_cast<int>(v);
}

struct LoadedForms {
    std::vector<FormEntry> forms;
    std::string error;
};

// Collects every text of `form` shown in `lang`, to check that the fonts can draw them.
void textsOf(const fb::Form& form, std::string_view lang, std::vector<std::string>& out) {
    auto add = [&](const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* v) {
        if (!v) return;
        for (const auto* t : *v) {
            if (t->lang() && t->lang()->string_view() == lang && t->text()) {
                out.emplace_back(t->text()->string_view());
            }
        }
    };
    add(form.titles());
    std::function<void(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>*)> walk =
        [&](const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items) {
            if (!items) return;
            for (const auto* item : *items) {
                add(item->labels());
                add(item->hints());
                add(item->constraint_messages());
                walk(item->children());
            }
        };
    walk(form.items());
    if (form.choice_lists()) {
        for (const auto* list : *form.choice_lists()) {
            if (!list->choices()) continue;
            for (const auto* c : *list->choices())
                add(c->labels());
        }
    }
}

}  // namespace

App::App(AppOptions options) : m_options(std::move(options)) {
    if (!m_options.nowMs) m_options.nowMs = systemNowMs;
    fonts = FontSet::load(m_options.scale, m_options.fontDir);
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;  // window layout is fixed; nothing about use is written to disk
    io.LogFilename = nullptr;
    ImGuiStyle& style = ImGui::GetStyle();
    style.FramePadding = ImVec2(8 * m_options.scale, 6 * m_options.scale);
    style.ItemSpacing = ImVec2(8 * m_options.scale, 8 * m_options.scale);
    style.FrameRounding = 4;
    style.ScrollbarSize = 18 * m_options.scale;
    // The caret does not blink: an idle window draws nothing, so a blink would keep it drawing.
    io.ConfigInputTextCursorBlink = false;
    if (m_options.wake) worker.onDone(m_options.wake);
    if (!m_options.uiLanguage.empty()) settings.uiLanguage = m_options.uiLanguage;
    if (m_options.audio.empty()) {
        const char* audio = std::getenv("VELD_AUDIO");
        m_options.audio = audio ? audio : "";
    }
    readAloud.open(m_options.audio);
    openStore(m_options.storePath);
}

App::~App() {
    // The last answer typed before the window closed is saved too.
    if (m_store && screen == Screen::Fill) closeFill(*this);
    worker.drain();
    m_uploader.reset();
}

void App::openStore(const std::string& path) {
    m_uploader.reset();
    m_settingsLoaded = false;
    m_options.storePath = path;
    m_store.reset();
    formsLoaded = false;
    loadError.clear();
    // The store opens on the worker: a large file or a slow disk never holds up a frame.
    struct Opened {
        std::shared_ptr<Store> store;
        std::string error;
    };
    worker.run(
        [path] {
            // A new device profile starts with an empty store.
            StoreOptions options;
            options.mode = sql::OpenMode::ReadWriteCreate;
            auto store = Store::open(path, options);
            Opened opened;
            if (store) {
                opened.store = std::make_shared<Store>(std::move(store.value()));
            } else {
                opened.error = store.error().describe();
            }
            return opened;
        },
        [this](Opened opened) {
            if (!opened.store) {
                loadError = opened.error;
                return;
            }
            m_store = std::move(opened.store);
            loadSettings();
            reloadForms();
            refreshCounts();
            refreshStock();
        });
}

void App::loadSettings() {
    withStore(
        [](Store& store) {
            std::map<std::string, std::string> values;
            for (const char* key :
                 {"ui.language", "sync.collector", "kiosk.pin_hash", "kiosk.pin_failures",
                  "kiosk.pin_locked_until_ms", "kiosk.reset_seconds", "kiosk.idle_seconds",
                  "pseudonym.key", "project.key", "sync.last_success_utc_ms", "kiosk.form",
                  "sync.credential", "kiosk.theme", "kiosk.keypad", "sync.collector_id"}) {
                auto value = store.setting(key);
                if (value && value.value()) values[key] = *value.value();
            }
            return values;
        },
        [this](std::map<std::string, std::string> values) {
            if (m_options.uiLanguage.empty() && values.count("ui.language")) {
                for (auto lang : kUiLanguages) {
                    if (lang == values["ui.language"]) settings.uiLanguage = std::string(lang);
                }
            }
            settings.collector = values["sync.collector"];
            settings.enrolled = !values["sync.credential"].empty();
            settings.byStick = settings.collector.empty() && !values["sync.collector_id"].empty();
            values["sync.credential"].assign(values["sync.credential"].size(), '\0');
            startUploader();
            settings.pinHash = values["kiosk.pin_hash"];
            settings.pinFailures = toInt(values["kiosk.pin_failures"], 0);
            settings.pinLockedUntilMs = toInt(values["kiosk.pin_locked_until_ms"], 0);
            if (values.count("kiosk.pin_locked_until_ms")) {
                settings.pinLockedUntilMs =
                    std::strtoll(values["kiosk.pin_locked_until_ms"].c_str(), nullptr, 10);
            }
            settings.kioskResetSeconds = toInt(values["kiosk.reset_seconds"], 10);
            settings.kioskIdleSeconds = toInt(values["kiosk.idle_seconds"], 90);
            if (values.count("kiosk.theme")) settings.kioskTheme = values["kiosk.theme"];
            if (values.count("kiosk.keypad")) settings.kioskKeypad = values["kiosk.keypad"];
            settings.pseudonymKey = values["pseudonym.key"];
            settings.projectKey = !values["project.key"].empty();
            // A kiosk that was running when the program stopped comes back as a kiosk.
            if (!m_settingsLoaded && m_options.kioskForm.empty()) {
                m_options.kioskForm = values["kiosk.form"];
            }
            m_settingsLoaded = true;
            settings.lastSyncUtcMs =
                std::strtoll(values["sync.last_success_utc_ms"].c_str(), nullptr, 10);
        });
}

void App::reloadKeys() {
    withStore(
        [](Store& store) {
            std::pair<std::string, std::string> keys;
            if (auto v = store.setting(pseudonym::kKeySetting); v && v.value())
                keys.first = *v.value();
            if (auto v = store.setting(projectkey::kKeySetting); v && v.value())
                keys.second = *v.value();
            return keys;
        },
        [this](std::pair<std::string, std::string> keys) {
            settings.pseudonymKey = keys.first;
            settings.projectKey = !keys.second.empty();
        });
}

void App::saveSetting(const std::string& key, const std::string& value) {
    withStore([key, value](Store& store) { return store.setSetting(key, value); },
              [this](Status status) {
                  if (!status) toast(std::string(t(M::SettingNotSaved)), true);
              });
}

void App::reloadForms() {
    withStore(
        [](Store& store) {
            LoadedForms loaded;
            auto installed = store.forms();
            if (!installed) {
                loaded.error = installed.error().describe();
                return loaded;
            }
            for (auto& f : installed.value()) {
                auto compiled = forms::CompiledForm::load(std::move(f.binary));
                if (!compiled) {
                    loaded.error = compiled.error().describe();
                    continue;
                }
                FormEntry entry;
                entry.id = f.formId;
                entry.version = f.version;
                entry.pilot = f.pilot;
                entry.compiled = std::move(compiled.value());
                loaded.forms.push_back(std::move(entry));
            }
            return loaded;
        },
        [this](LoadedForms loaded) {
            // Which languages can this device draw? Every text of the form in that language,
            // shaped as it will be shown, must have glyphs in the loaded fonts.
            for (auto& entry : loaded.forms) {
                const fb::Form& form = entry.compiled->form();
                if (!form.languages()) continue;
                for (const auto* lang : *form.languages()) {
                    const std::string tag = lang->tag()->str();
                    std::vector<std::string> texts;
                    if (lang->name()) texts.push_back(lang->name()->str());
                    textsOf(form, tag, texts);
                    bool drawable = true;
                    for (const auto& s : texts) {
                        if (!fonts.missingGlyphs(s).empty()) {
                            drawable = false;
                            break;
                        }
                    }
                    if (drawable) {
                        entry.offered.push_back(tag);
                    } else {
                        entry.unrenderable.push_back(lang->name() ? lang->name()->str() : tag);
                    }
                }
            }
            forms = std::move(loaded.forms);
            formsLoaded = true;
            if (!loaded.error.empty()) toast(loaded.error, true);
            if (!m_options.kioskForm.empty()) {
                const std::string id = std::exchange(m_options.kioskForm, {});
                if (!startKiosk(*this, id)) toast(std::string(t(M::KioskNeedsPin)), true);
            }
        });
}

void App::refreshCounts() {
    struct Snapshot {
        std::vector<StatusCount> counts;
        OutboxState outbox;
        StoreInfo info;
        std::optional<std::vector<DeviceCorrection>> corrections;
    };
    withStore(
        [](Store& store) {
            Snapshot s;
            if (auto c = store.counts()) s.counts = std::move(c.value());
            if (auto k = store.corrections()) s.corrections = std::move(k.value());
            if (auto o = store.outboxState()) s.outbox = o.value();
            if (auto i = store.info()) s.info = std::move(i.value());
            return s;
        },
        [this](Snapshot s) {
            // A store that cannot say keeps the last known list.
            if (s.corrections) corrections = std::move(*s.corrections);
            counts.clear();
            for (const auto& c : s.counts) {
                FormCounts& fc = counts[c.formId];
                switch (c.status) {
                    case RecordStatus::Draft:
                        fc.drafts += c.count;
                        break;
                    case RecordStatus::Finalized:
                        fc.finalized += c.count;
                        fc.waiting += c.count;
                        break;
                    case RecordStatus::Sent:
                        fc.finalized += c.count;
                        break;
                    default:
                        break;
                }
            }
            outbox = s.outbox;
            info = std::move(s.info);
        });
}

void App::refreshStock() {
    withStore([](Store& store) { return store.allocationStock(); },
              [this](Result<std::vector<AllocationStock>> result) {
                  // A store that cannot say keeps the last known stock: the warning is advice.
                  if (result) stock = std::move(result.value());
              });
}

bool App::sealedAnswersWouldBeLost() {
    if (screen != Screen::Fill || !fill.sealed || !fill.view.active() || fill.view.changes == 0 ||
        fill.finalizing || fill.confirmDiscard) {
        return false;
    }
    // The first attempt to leave asks; the next one (or the close button) discards.
    fill.confirmDiscard = true;
    toast(std::string(t(M::SealedLeaveConfirm)), true);
    return true;
}

void App::go(Screen s) {
    if (screen == Screen::Fill && s != Screen::Fill && sealedAnswersWouldBeLost()) return;
    if (screen == Screen::Fill && s != Screen::Fill) closeFill(*this);
    screen = s;
    if (s == Screen::Records) records.dirty = true;
    if (s == Screen::Cases) {
        cases.dirty = true;
        cases.detailDirty = cases.selected.has_value();
    }
    if (s == Screen::Home || s == Screen::Sync) refreshCounts();
}

void App::toast(std::string message, bool isError) {
    m_toast = std::move(message);
    m_toastError = isError;
    m_toastUntilMs = now() + (isError ? 8000 : 4000);
}

const FormEntry* App::findForm(std::string_view id) const {
    for (const auto& f : forms) {
        if (f.id == id) return &f;
    }
    return nullptr;
}

void App::withFormVersion(
    const std::string& id, std::uint32_t version,
    std::function<void(Result<std::shared_ptr<const forms::CompiledForm>>)> done) {
    if (const FormEntry* f = findForm(id); f && f->version == version) {
        done(f->compiled);
        return;
    }
    const std::string key = id + "@" + std::to_string(version);
    if (auto it = m_versionCache.find(key); it != m_versionCache.end()) {
        done(it->second);
        return;
    }
    withStore(
        [id, version](Store& store) -> Result<std::shared_ptr<const forms::CompiledForm>> {
            auto installed = store.form(id, version);
            if (!installed) return installed.error();
            return forms::CompiledForm::load(std::move(installed.value().binary));
        },
        [this, key,
         done = std::move(done)](Result<std::shared_ptr<const forms::CompiledForm>> result) {
            if (result) m_versionCache[key] = result.value();
            done(std::move(result));
        });
}

std::string App::defaultFormLanguage(const FormEntry& form) const {
    for (const auto& lang : form.offered) {
        if (lang == settings.uiLanguage) return lang;
    }
    const std::string& def = form.compiled->defaultLanguage();
    for (const auto& lang : form.offered) {
        if (lang == def) return lang;
    }
    return form.offered.empty() ? def : form.offered.front();
}

void App::startUploader() {
    if (!settings.enrolled || settings.byStick || m_uploader || !m_options.uploader) return;
    m_uploader = std::make_unique<sync::Uploader>(m_options.storePath);
    if (m_options.wake) m_uploader->onChange(m_options.wake);
    m_uploader->start();
}

sync::Progress App::syncProgress() const {
    return m_uploader ? m_uploader->progress() : sync::Progress{};
}

void App::syncNow() {
    if (m_uploader) m_uploader->wake();
}

void App::recordFinalized() {
    refreshCounts();
    if (m_uploader) m_uploader->nudge();
}

void App::wakeIn(std::int64_t ms) {
    const std::int64_t at = now() + std::max<std::int64_t>(ms, 0);
    if (m_wakeAtMs < 0 || at < m_wakeAtMs) m_wakeAtMs = at;
}

std::int64_t App::wakeDelayMs() const {
    if (m_wakeAtMs < 0) return -1;
    return std::max<std::int64_t>(m_wakeAtMs - now(), 0);
}

bool App::requestClose() {
    if (screen == Screen::Kiosk) {
        kioskRequestClose(*this, kiosk);
        return false;
    }
    if (sealedAnswersWouldBeLost()) return false;
    m_quit = true;
    return true;
}

void App::drawNav() {
    struct Tab {
        Screen screen;
        M label;
        const char* id;
    };
    const Tab tabs[] = {
        {Screen::Home, M::NavHome, "nav.home"},
        {Screen::Cases, M::NavCases, "nav.cases"},
        {Screen::Records, M::NavRecords, "nav.records"},
        {Screen::Sync, M::NavSync, "nav.sync"},
        {Screen::Settings, M::NavSettings, "nav.settings"},
    };
    // While a finalize runs the filling screen stays: its answer (a refusal to allocate, or the
    // arm taken) must reach the field worker, and leaving would drop it.
    const bool locked = screen == Screen::Fill && fill.finalizing;
    bool first = true;
    for (const auto& tab : tabs) {
        if (!first) ImGui::SameLine();
        first = false;
        const bool current = screen == tab.screen;
        if (current) {
            ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetColorU32(ImGuiCol_ButtonActive));
        }
        if (ui::button(tab.id, t(tab.label), 0, 0, !locked)) go(tab.screen);
        if (current) ImGui::PopStyleColor();
    }
    if (screen == Screen::Fill) {
        ImGui::SameLine();
        ImGui::TextDisabled("|");
        ImGui::SameLine();
        const std::string_view filling = t(M::NavFilling);
        ImGui::TextUnformatted(filling.data(), filling.data() + filling.size());
    }
    ImGui::Separator();
}

void App::drawAllocationNotice() {
    // Drawn over whatever screen follows the finalize, until the field worker says it was seen:
    // the arm decides what happens next with the participant.
    if (ui::beginDialog("allocated", t(M::AllocatedTitle), allocationNotice.has_value())) {
        if (!allocationNotice->caseLabel.empty()) {
            ui::hint(format(t(M::AllocatedCase), {allocationNotice->caseLabel}), false);
        }
        if (allocationNotice->arm.empty()) {
            ui::error(t(M::AllocatedUnknown), false);
        } else {
            ui::paragraph(format(t(M::AllocatedArm), {allocationNotice->study}), false);
            ui::heading(allocationNotice->arm, false);
            ui::recordLast("allocated.arm", allocationNotice->arm);
        }
        if (ui::button("allocated.ok", t(M::AllocatedOk), 0, ImGui::GetFrameHeight() * 1.5f)) {
            allocationNotice.reset();
            ImGui::CloseCurrentPopup();
        }
        ImGui::EndPopup();
    }
}

void App::drawToast() {
    static const std::string kNone;
    const bool shown = !m_toast.empty() && now() <= m_toastUntilMs;
    if (shown) wakeIn(m_toastUntilMs - now() + 1);  // to take it away again
    ui::messageStrip(shown ? m_toast : kNone, m_toastError);
}

void App::frame() {
    m_wakeAtMs = -1;
    worker.pump();
    // When a sync round ends, the counts on screen follow.
    if (m_uploader) {
        const sync::Progress p = m_uploader->progress();
        // A quick round can start and end between two frames (an idle screen draws four a
        // second): Done to Done is a new round when its success time moved.
        const bool roundEnded =
            p.state == sync::Progress::State::Done &&
            (p.state != m_lastSyncState || p.lastSuccessUtcMs != m_lastSyncSuccessMs);
        m_lastSyncState = p.state;
        m_lastSyncSuccessMs = p.lastSuccessUtcMs;
        if (roundEnded) {
            refreshCounts();
            refreshStock();  // a pull may bring allocation slots, and cases
            cases.dirty = true;
            cases.detailDirty = cases.selected.has_value();
            reloadKeys();  // a pull may bring a new project key
            // Forms are compiled again only when the round brought new ones.
            if (p.formsReceived > 0) reloadForms();
        }
    }
    ui::beginFrame();
    const ImGuiIO& io = ImGui::GetIO();
    bool userActive = io.MouseDelta.x != 0 || io.MouseDelta.y != 0 ||
                      io.InputQueueCharacters.Size > 0 || io.MouseWheel != 0;
    for (bool down : io.MouseDown)
        userActive = userActive || down;
    for (bool down : io.KeysDown)
        userActive = userActive || down;

    // Kiosk mode counts idle seconds and thank-you seconds, and shows countdowns.
    if (screen == Screen::Kiosk) wakeIn(1000);
    // The word being read is highlighted as the reading moves on.
    if (readingAloud()) wakeIn(100);

    // Below the screens a strip of their own for short messages (toasts), so a message never
    // covers a button or an answer; the kiosk has none and uses the whole screen.
    const bool strip = screen != Screen::Kiosk;
    ImGui::SetNextWindowPos(ImVec2(0, 0));
    ImGui::SetNextWindowSize(
        ImVec2(io.DisplaySize.x, io.DisplaySize.y - (strip ? ui::messageStripHeight() : 0.0f)));
    ImGui::Begin("##veld", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                     ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus);
    if (!loadError.empty()) {
        ui::heading(t(M::StoreOpenFailed), false);
        ui::error(loadError, false);
        ui::hint(t(M::StoreOpenFailedHint), false);
    } else if (!ready() || !formsLoaded) {
        ui::paragraph(t(M::Opening), false);
    } else if (screen == Screen::Kiosk) {
        kioskTick(*this, kiosk, userActive);
        if (screen == Screen::Kiosk) drawKiosk(*this, kiosk);
    } else {
        drawNav();
        fillBackground(*this, fill);
        switch (screen) {
            case Screen::Home:
                drawHome(*this, home);
                break;
            case Screen::Fill:
                drawFill(*this, fill);
                break;
            case Screen::Records:
                drawRecords(*this, records);
                break;
            case Screen::Cases:
                drawCases(*this, cases);
                break;
            case Screen::Sync:
                drawSync(*this, sync);
                break;
            case Screen::Settings:
                drawSettings(*this, settingsScreen);
                break;
            case Screen::Kiosk:
                break;
        }
    }
    drawAllocationNotice();
    readaloud::endFrame(*this);
    // However the case screen was left (a tab, a form started from a case), a BSN typed to find
    // a participant does not stay in memory: neither the field's text nor Dear ImGui's copy.
    // The text is judged itself: the last query may predate the BSN's last digit, and a device
    // without a pseudonym key searches a BSN as text only.
    if (m_lastScreen == Screen::Cases && screen != Screen::Cases &&
        (cases.bsnSearch || searchMayHoldBsn(cases.search))) {
        std::fill(cases.search.begin(), cases.search.end(), '\0');
        cases.search.clear();
        cases.bsnSearch = false;
        cases.dirty = true;
        ui::wipeTextEdit();
    }
    m_lastScreen = screen;
    ImGui::End();
    if (strip) drawToast();
}

}  // namespace veld::client
