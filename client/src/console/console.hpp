// The central-staff console (`veld-console`): a Dear ImGui program that works against a
// collector through the admin API only (never its database file). Tabs: a dashboard with records
// per pilot per day, devices, the review queue, conflicts side by side, likely duplicates,
// exports fetched with a progress bar, and the project key ring that opens sealed records. Like
// the form client it draws between NewFrame and Render and knows nothing of windows, so tests
// drive it headless against a real collector.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/project_key.hpp>
#include <veld/sync/admin_client.hpp>

#include "../fonts.hpp"
#include "../i18n.hpp"
#include "../worker.hpp"

namespace veld::client::console {

using sync::ReviewState;

enum class Tab { Dashboard, Devices, Forms, Review, Conflicts, Cases, Duplicates, Export, Keys };

struct ConsoleOptions {
    /// The collector and the staff member's credential; when the credential is empty the
    /// console starts on its sign-in screen.
    sync::Connection connection;
    std::string uiLanguage = "nl";
    float scale = 1;
    std::string fontDir;
    std::string exportDir;                // where exports are saved (the folder field's start)
    std::function<std::int64_t()> nowMs;  // wall clock in ms; tests pass a manual one
    /// A project key ring to open at start (its field's start value otherwise), and its
    /// passphrase: when given, the console takes it and wipes this copy.
    std::string ringFile;
    std::string ringPassphrase;
};

/// A published form version, compiled for showing its questions.
struct ConsoleForm {
    std::string id;
    std::uint32_t version = 0;
    std::string pilot;
    std::shared_ptr<const forms::CompiledForm> compiled;
};

/// One line of a record as the console shows it: a question (inside repeats: with the instance)
/// and its answer as text. `top` is the top-level answer or repeat it belongs to, which is what
/// a merge takes from one side or the other.
struct AnswerRow {
    std::string key;  // "name", or "repeat#1/name" inside repeats
    std::string top;
    std::string label;
    std::string text;
};

/// A record's revision decoded for showing: its rows, or why it cannot be shown.
struct ShownRevision {
    std::string formId;
    std::uint32_t formVersion = 0;
    std::vector<AnswerRow> rows;
    std::string problem;  // damaged, unreadable, sealed shut, or its form version is unknown
    // A sealed revision (to project key `keyId`): `rows` are what the key ring opened, or
    // `locked` when no unlocked key has that id (`problem` says so).
    bool sealed = false;
    bool locked = false;
    std::string keyId;
};

struct SignInState {
    std::string collector;
    std::string credential;
    std::string caFile;
    std::string error;
    bool working = false;
};

/// The Forms tab: publishing a form file after checking it here.
struct FormsTabState {
    std::string path;         // the form file (.xlsx or .json), as typed
    std::string checkedPath;  // the file `check` was made of
    std::optional<forms::FormCheck> check;
    std::string error;  // why the collector did not publish it
    bool checking = false;
    bool publishing = false;
};

/// The key ring section. The passphrase field's buffer is wiped once an unlocking has taken it.
struct KeysState {
    std::string ringFile;
    std::string passphrase;
    std::string error;
    bool unlocking = false;
};

struct DashboardState {
    std::optional<sync::admin::StatusInfo> status;
    bool loading = false;
};

struct DevicesState {
    bool loading = false;
};

struct ReviewTabState {
    int filter = 0;          // a ReviewState
    std::string formFilter;  // only this form's records; empty: every form
    std::optional<sync::ReviewQueue> queue;
    std::set<Uuid> checked;  // records ticked in the list, to approve together
    bool approving = false;  // the ticked records' approvals are on their way
    std::optional<Uuid> selected;
    std::optional<sync::admin::RecordDetail> detail;
    std::string comment;
    bool loading = false;
    bool saving = false;  // a review change is on its way
    bool dirty = true;
};

struct ConflictsState {
    std::vector<sync::ConflictInfo> list;
    std::optional<std::int64_t> selected;  // conflict id
    std::optional<sync::admin::RecordDetail> detail;
    std::set<std::string> fromB;  // top-level answers and repeats taken from B in a merge
    std::string comment;
    bool loading = false;
    bool dirty = true;
};

/// Case conflicts to settle, and the randomised studies with their balance and log check.
struct CaseTabState {
    std::vector<sync::CaseConflictInfo> conflicts;
    std::map<std::int64_t, std::string> comments;  // per conflict, as typed
    struct Study {
        sync::StudySummary summary;
        std::optional<sync::StudyBalance> balance;
        std::optional<sync::StudyVerification> verification;
        std::string error;  // why the balance or the check could not be read
    };
    std::vector<Study> studies;
    bool loading = false;
    bool dirty = true;
};

struct DuplicatesState {
    std::vector<sync::DuplicateGroup> groups;
    std::string selected;  // group key
    std::string comment;
    bool loading = false;
    bool dirty = true;
};

/// An export's run: at the collector first, then the files come down one after another.
struct ExportRun {
    // 0 at the collector, 1 downloading, 2 done, 3 failed, 4 exporting here (with keys)
    std::atomic<int> phase{0};
    std::atomic<std::int64_t> done{0};
    std::atomic<std::int64_t> total{0};
    std::atomic<std::int64_t> bytesDone{0};
    std::atomic<std::int64_t> bytesTotal{0};
    std::atomic<bool> cancel{false};
};

struct ExportState {
    std::string form;  // the form's id; empty: the first
    int format = 0;    // a sync::ExportFormat
    int values = 0;    // a sync::ExportValues
    int language = 0;  // index into the form's languages
    int review = 0;    // 0: every record; i: ReviewState i - 1
    std::string from;
    std::string until;
    std::string folder;
    std::shared_ptr<ExportRun> run;
    bool running = false;
    std::vector<std::string> saved;  // the files written by the last export
    std::int64_t records = 0;
    std::int64_t unreadable = 0;      // rows without answers, sealed ones included
    std::int64_t sealedUnopened = 0;  // of those, sealed records not opened
    bool openedHere = false;          // made here with the console's project keys
    std::string error;
};

class Console {
  public:
    explicit Console(ConsoleOptions options);
    ~Console();
    Console(const Console&) = delete;
    Console& operator=(const Console&) = delete;

    /// Draws one frame (call between ImGui::NewFrame and ImGui::Render).
    void frame();
    [[nodiscard]] bool busy() const {
        return worker.busy() || exportWorker.busy() || keyWorker.busy();
    }
    void drain() {
        worker.drain();
        exportWorker.drain();
        keyWorker.drain();
    }
    [[nodiscard]] bool signedIn() const { return m_signedIn; }

    // --- shared with the tabs ---
    [[nodiscard]] std::string_view t(M m) const { return tr(m, language); }
    [[nodiscard]] std::int64_t now() const { return m_options.nowMs(); }
    /// Runs `call(client)` on the worker (calls keep their order); `done(result)` in a later
    /// frame on the UI thread.
    template <class Call, class Done>
    void api(Call call, Done done) {
        worker.run([client = m_client, call = std::move(call)]() mutable { return call(*client); },
                   std::move(done));
    }
    /// The admin client of the export worker (made on first use).
    std::shared_ptr<sync::AdminClient> exportClient();
    void toast(std::string message, bool isError = false);
    void go(Tab tab);
    /// The compiled form of one version, or null when it is not published here.
    [[nodiscard]] const ConsoleForm* form(const std::string& id, std::uint32_t version) const;
    /// The newest version of every form, by form id.
    [[nodiscard]] std::vector<const ConsoleForm*> newestForms() const;
    [[nodiscard]] std::string deviceName(const Uuid& id) const;
    /// A revision's answers as rows in the UI language (or the form's default language). Kept
    /// for the revisions on screen, so a frame does not decode them again.
    const ShownRevision& show(const sync::StoredRevision& revision);
    [[nodiscard]] const std::string& staffName() const { return m_staff; }
    [[nodiscard]] const sync::Connection& connection() const { return m_options.connection; }
    void signIn(sync::Connection connection);
    /// Fetches what every tab needs again (forms, devices, the dashboard).
    void refreshAll();

    /// Reads and unlocks a key ring on the key worker (Argon2id takes about a second per key);
    /// the outcome arrives in `keyRing` on a later frame. `passphrase` is wiped here.
    void openRing(const std::string& ringFile, std::string& passphrase);
    /// Drops the unlocked keys, and the outcome of an unlocking still under way.
    void closeKeys();
    /// The unlocked project keys (nullptr when no ring is unlocked); exports open sealed
    /// records with them, here. Kept in memory only; a shared vector is never changed, so a
    /// worker may keep using it after the keys are closed.
    std::shared_ptr<const std::vector<projectkey::SecretKey>> projectKeys() const;
    /// Replaces the unlocked keys (null or empty: none); revisions on screen are decoded again.
    void setProjectKeys(std::shared_ptr<const std::vector<projectkey::SecretKey>> keys);

    Worker worker;        // admin API calls, one at a time, in order
    Worker exportWorker;  // a long export never holds up the other tabs
    Worker keyWorker;     // unlocking a key ring (seconds) holds up nothing else
    FontSet fonts;
    std::string language;
    Tab tab = Tab::Dashboard;
    std::vector<ConsoleForm> forms;
    std::vector<sync::DeviceInfo> devices;

    SignInState signInScreen;
    DashboardState dashboard;
    DevicesState devicesTab;
    FormsTabState formsTab;
    ReviewTabState review;
    ConflictsState conflicts;
    CaseTabState cases;
    DuplicatesState duplicates;
    ExportState exports;
    KeysState keyRing;

  private:
    [[nodiscard]] ShownRevision decodeForShow(const sync::StoredRevision& revision) const;
    void drawTop();
    void drawToast();

    ConsoleOptions m_options;
    std::shared_ptr<sync::AdminClient> m_client;
    std::shared_ptr<sync::AdminClient> m_exportClient;
    std::shared_ptr<const std::vector<projectkey::SecretKey>> m_projectKeys;
    std::string m_staff;
    // show()'s results by device, outbox number and language (a few revisions at a time).
    std::map<std::tuple<Uuid, std::uint64_t, std::string>, ShownRevision> m_shown;
    std::uint64_t m_unlockGeneration = 0;  // an unlocking's outcome counts only if still current
    bool m_signedIn = false;
    std::string m_toast;
    bool m_toastError = false;
    std::int64_t m_toastUntilMs = 0;
};

void drawSignIn(Console& console, SignInState& state);
void drawDashboard(Console& console, DashboardState& state);
void drawDevices(Console& console, DevicesState& state);
void drawReview(Console& console, ReviewTabState& state);
void drawConflicts(Console& console, ConflictsState& state);
void drawDuplicates(Console& console, DuplicatesState& state);
void drawCaseTab(Console& console, CaseTabState& state);
/// Opens the conflict at `index` of the list: its revisions are fetched for the side-by-side view.
void selectConflict(Console& console, ConflictsState& state, std::size_t index);
/// Opens entry `index` of the review queue on screen (its record's answers and history).
void selectReviewEntry(Console& console, ReviewTabState& state, std::size_t index);
void drawExport(Console& console, ExportState& state);
void drawKeys(Console& console, KeysState& state);
void drawForms(Console& console, FormsTabState& state);
/// Loads and checks `state.path` on the worker; the outcome arrives in `state.check`.
void checkFormFile(Console& console, FormsTabState& state);

/// Zeroes a secret's bytes (sodium_memzero) and empties it, keeping its capacity.
void wipe(std::string& secret);

/// "2026-11-25" for a day number (days since 1970-01-01).
std::string dayText(std::int32_t day);
/// Parses "yyyy-mm-dd" into UTC ms at the start of that day.
std::optional<std::int64_t> parseDay(std::string_view text);

}  // namespace veld::client::console
