// The client application: shared state (device store through the worker, published forms,
// settings, fonts, UI language) and the screen being shown. It draws with Dear ImGui between
// NewFrame and Render and knows nothing of windows or OpenGL, so tests run it headless.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <veld/form_session.hpp>
#include <veld/store.hpp>
#include <veld/sync/uploader.hpp>

#include "fonts.hpp"
#include "i18n.hpp"
#include "read_aloud.hpp"
#include "screens/screens.hpp"
#include "worker.hpp"

namespace veld::client {

enum class Screen { Home, Fill, Records, Cases, Sync, Settings, Kiosk };

/// A form published to this device.
struct FormEntry {
    std::string id;
    std::uint32_t version = 0;
    std::string pilot;
    std::shared_ptr<const forms::CompiledForm> compiled;
    std::vector<std::string> offered;       // languages whose text this device can draw
    std::vector<std::string> unrenderable;  // languages left out, by their own name
};

/// Per-form record counts for the home screen.
struct FormCounts {
    std::int64_t drafts = 0;
    std::int64_t finalized = 0;  // finalized, sent or not
    std::int64_t waiting = 0;    // finalized and not yet acknowledged by the collector
};

struct Settings {
    std::string uiLanguage = "nl";
    std::string collector;
    bool enrolled = false;  // the store holds a device credential (the secret stays in the store)
    /// Enrolled (or awaiting enrolment) by file, with no collector address: it syncs by USB stick
    /// only, and no uploader runs.
    bool byStick = false;
    std::string pinHash;
    int pinFailures = 0;
    std::int64_t pinLockedUntilMs = 0;
    int kioskResetSeconds = 10;
    int kioskIdleSeconds = 90;
    std::string kioskTheme = "normal";  // the kiosk's look for each new respondent
    std::string kioskKeypad = "auto";   // on-screen keypad: auto (no keyboard), always, never
    std::string pseudonymKey;           // "id:hex" as delivered to the device; empty when none
    bool projectKey = false;            // the device has a project key to seal records to
    std::int64_t lastSyncUtcMs = 0;
};

/// An allocation just taken on this device, shown until the field worker acknowledges it.
struct AllocationNotice {
    std::string study;
    std::string arm;        // empty: it could not be read back
    std::string caseLabel;  // the case's label, or its short id
};

struct AppOptions {
    std::string storePath;
    std::string uiLanguage;  // overrides the setting when not empty
    std::string kioskForm;   // start the kiosk with this form (the PIN must be set)
    float scale = 1;
    std::string fontDir;
    std::function<std::int64_t()> nowMs;  // wall clock in ms; tests pass a manual one
    bool uploader = true;                 // send in the background when enrolled
    std::string audio;  // where read-aloud sound goes (VELD_AUDIO's syntax); empty: VELD_AUDIO
    /// Wakes the window's event loop from another thread (glfwPostEmptyEvent) when background
    /// work has something to show; empty headless, where tests draw frames themselves.
    std::function<void()> wake;
};

class App {
  public:
    explicit App(AppOptions options);
    ~App();
    App(const App&) = delete;
    App& operator=(const App&) = delete;

    /// Draws one frame (call between ImGui::NewFrame and ImGui::Render).
    void frame();
    /// The window's close button (or the system) asks to quit. True when the app may close now;
    /// in kiosk mode the staff PIN is asked first and the answer comes in a later frame.
    bool requestClose();
    [[nodiscard]] bool quitRequested() const { return m_quit; }
    void quit() { m_quit = true; }
    [[nodiscard]] bool wantsFullscreen() const { return screen == Screen::Kiosk; }
    /// Whether background work is running or waiting (tests drain it).
    [[nodiscard]] bool busy() const { return worker.busy(); }
    void drain() { worker.drain(); }
    [[nodiscard]] bool ready() const { return m_store != nullptr; }
    /// Whether a page is being read aloud (a screenshot waits for it).
    [[nodiscard]] bool readingAloud() const { return readAloud.busy(); }

    // --- shared with the screens ---
    [[nodiscard]] std::string_view t(M m) const { return tr(m, settings.uiLanguage); }
    [[nodiscard]] std::int64_t now() const { return m_options.nowMs(); }
    /// Runs `work(store)` on the worker; `done(result)` on the UI thread afterwards.
    template <class Work, class Done>
    void withStore(Work work, Done done) {
        worker.run([store = m_store, work = std::move(work)]() mutable { return work(*store); },
                   std::move(done));
    }
    void saveSetting(const std::string& key, const std::string& value);
    void refreshCounts();
    /// Reads the allocation slots left per study and stratum (for the low-stock warning).
    void refreshStock();
    void reloadForms();
    void go(Screen s);
    /// A short message at the bottom of the screen for a few seconds.
    void toast(std::string message, bool isError = false);
    const FormEntry* findForm(std::string_view id) const;
    /// Compiled form of one exact version (older drafts); loaded once, then cached.
    void withFormVersion(
        const std::string& id, std::uint32_t version,
        std::function<void(Result<std::shared_ptr<const forms::CompiledForm>>)> done);
    /// The language a new record of `form` starts in: the UI language when the form has it.
    [[nodiscard]] std::string defaultFormLanguage(const FormEntry& form) const;
    [[nodiscard]] const std::string& storePath() const { return m_options.storePath; }
    void openStore(const std::string& path);
    /// Whether leaving now would throw away the unsaved answers of a sealed form; the first time
    /// it asks (a toast) and says true, so the caller stays.
    bool sealedAnswersWouldBeLost();
    /// Reads the keys the collector hands out (at enrolment, and at a pull after a rotation).
    void reloadKeys();
    /// Starts the background uploader when the device is enrolled (no-op otherwise).
    void startUploader();
    /// The uploader's progress; state Idle when none runs.
    [[nodiscard]] sync::Progress syncProgress() const;
    /// Whether this program's uploader runs (it sends by itself).
    [[nodiscard]] bool uploaderRuns() const { return m_uploader != nullptr; }
    void syncNow();
    /// A record was finalized: the counts follow, and the uploader sends it now unless it is
    /// backing off after a failure.
    void recordFinalized();

    /// Asks for a frame `ms` from now although no input comes (a countdown, a toast that ends,
    /// a poll); call while drawing a frame. Frame by frame: ask again in each frame it holds.
    void wakeIn(std::int64_t ms);
    /// How long the window may sleep waiting for input after the frame just drawn before it
    /// must draw again by itself, in ms; -1: until input or background work arrives.
    [[nodiscard]] std::int64_t wakeDelayMs() const;

    Worker worker;
    FontSet fonts;
    Settings settings;
    Screen screen = Screen::Home;
    std::vector<FormEntry> forms;
    std::map<std::string, FormCounts> counts;
    OutboxState outbox;
    StoreInfo info;
    std::string loadError;  // the store could not be opened
    bool formsLoaded = false;
    std::vector<AllocationStock> stock;         // slots left per study and stratum
    std::vector<DeviceCorrection> corrections;  // records central staff sent back (refreshCounts)
    std::optional<AllocationNotice> allocationNotice;

    /// Reads the device's settings from its store again (on the worker), e.g. after a reply by
    /// USB stick changed them.
    void loadSettings();

    HomeState home;
    FillState fill;
    RecordsState records;
    CasesState cases;
    SyncState sync;
    SettingsState settingsScreen;
    KioskState kiosk;
    ReadAloud readAloud;

  private:
    void drawNav();
    void drawToast();
    void drawAllocationNotice();

    AppOptions m_options;
    std::shared_ptr<Store> m_store;
    std::map<std::string, std::shared_ptr<const forms::CompiledForm>> m_versionCache;
    std::unique_ptr<sync::Uploader> m_uploader;
    sync::Progress::State m_lastSyncState = sync::Progress::State::Idle;
    std::int64_t m_lastSyncSuccessMs = 0;
    Screen m_lastScreen = Screen::Home;  // the screen drawn in the previous frame
    std::string m_toast;
    bool m_toastError = false;
    std::int64_t m_toastUntilMs = 0;
    bool m_quit = false;
    bool m_settingsLoaded = false;
    std::int64_t m_wakeAtMs = -1;  // when the frame just drawn asked to be drawn again; -1 never
};

}  // namespace veld::client
