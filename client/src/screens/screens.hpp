// One file per screen; each has a small state struct (kept by the App) and a draw function.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/store.hpp>
#include <veld/sync/agent_state.hpp>

#include "../form_view.hpp"
#include "../i18n.hpp"
#include "kiosk_look.hpp"

namespace veld::client {

class App;
struct FormEntry;

struct HomeState {
    std::string kioskForm;  // the form chosen for the kiosk (confirm step)
    bool confirmKiosk = false;
};

struct FillState {
    FormView view;
    std::optional<Uuid> recordId;  // once the first draft save has landed
    // The record's id as the worker knows it. Only worker jobs touch it: jobs run in order, so a
    // save posted while the first save is still running already sees the id that save made.
    std::shared_ptr<std::optional<Uuid>> workerId = std::make_shared<std::optional<Uuid>>();
    bool saving = false;
    int savedChanges = 0;
    bool finalizeRequested = false;  // waits for a running save, then finalizes
    bool finalizing = false;
    std::vector<forms::SessionProblem> problems;  // shown after a finalize attempt
    std::string saveError;
    // A sealed form: no drafts; the answers stay in memory until finalized.
    bool sealed = false;
    bool confirmDiscard = false;  // the first click on close asked to confirm
    // Read-only view of a finalized record.
    bool viewing = false;
    std::optional<RecordContent> viewed;
    std::shared_ptr<const forms::CompiledForm> viewedForm;
    RecordStatus viewedStatus = RecordStatus::Finalized;
    bool viewedSealed = false;
    // Cases: the case the record belongs to (its label for the heading), and whether it was
    // started from the case screen (closing goes back there).
    std::optional<Uuid> caseId;
    std::string caseLabel;
    bool fromCase = false;
    // Randomisation: finalizing this record would allocate; asked first, then confirmed.
    std::optional<AllocationRequest> confirmAllocation;
    bool allocationConfirmed = false;
    std::string allocationError;  // why the store refused to allocate (shown until the next try)
    // The record came back from central staff: their comment (on the record, and above the form
    // while it is corrected).
    std::optional<DeviceCorrection> correction;
};

struct RecordsState {
    int formFilter = 0;    // 0: all forms; i: forms[i - 1]
    int statusFilter = 0;  // 0: all; 1 drafts; 2 finalized (waiting); 3 sent; 4 damaged
    std::string search;
    std::vector<RecordSummary> rows;
    std::optional<ListCursor> next;
    bool loading = false;
    bool dirty = true;  // filters changed: query again
    bool append = false;
    std::optional<Uuid> confirmDelete;
};

struct CasesState {
    std::string search;
    bool showClosed = false;
    std::vector<CaseInfo> rows;
    bool loading = false;
    bool dirty = true;       // the search changed: query again
    bool bsnSearch = false;  // the last query also looked for a typed BSN's pseudonym
    std::optional<Uuid> selected;
    std::optional<CaseInfo> detail;      // the selected case as the store holds it now
    std::vector<RecordSummary> records;  // its records on this device
    bool detailLoading = false;
    bool detailDirty = false;
    bool detailGone = false;                    // the selected case is no longer on this device
    std::vector<DeviceCorrection> corrections;  // its records central staff sent back
};

/// What the sync screen says about sending: one state, derived in one place (syncStatus) from
/// what the store's outbox holds and how the uploader's last attempt went, so that no two lines
/// of the screen contradict each other.
struct SyncStatus {
    enum class Kind {
        NotEnrolled,   // no collector: finalized records wait safely on the device
        Sending,       // a round pushes records now
        Pulling,       // a round fetches forms, cases and allocations now
        NothingYet,    // nothing finalized on this device yet
        AllSent,       // the outbox is empty
        Pending,       // records wait and the last attempt worked (or none was made yet)
        NoConnection,  // records wait and the last attempt failed; the uploader tries again
        OtherProgram,  // records wait while another program (veld-agent) syncs this device
        ByStick,       // records wait for the next round by USB stick (no collector address)
    };
    Kind kind = Kind::NothingYet;
    std::int64_t waiting = 0;       // finalized records not yet acknowledged by the collector
    std::int64_t waitingBytes = 0;  //
    std::int64_t sent = 0;          // acknowledged by the collector
    bool uploaderRuns = false;      // whether this program sends by itself
};
SyncStatus syncStatus(const App& app);

// Sync by USB stick (sync_usb.cpp).
struct SyncUsbState {
    std::vector<std::string> media;  // mounted media (sync::mountedMedia)
    std::string medium;              // the one chosen
    bool scanned = false;
    bool working = false;
    std::string message;
    bool messageError = false;
};

struct SyncState {
    SyncUsbState usb;
    // What veld-agent last wrote into the store, read again every few seconds.
    std::optional<sync::AgentState> agent;
    bool agentAlive = false;
    bool agentLoaded = false;
    bool agentLoading = false;
    std::int64_t agentReadAtMs = 0;
};

struct SettingsState {
    std::string collector;
    std::string enrolCode;
    bool collectorLoaded = false;
    std::string newPin;
    std::string repeatPin;
    std::string currentPin;
    std::string message;
    bool messageError = false;
    bool working = false;
    std::vector<std::string> profiles;  // other device stores next to this one
    bool profilesScanned = false;
    std::string enrolMessage;  // what came of the last enrolment, shown with the collector
    bool enrolMessageError = false;
    bool enrolMessageFromFile = false;    // shown under the file's choice, else under the code
    std::string enrolFile;                // a provisioning file (.veldenrol) to enrol with
    std::vector<std::string> mediaFiles;  // provisioning files found on removable media
    bool mediaScanned = false;
};

enum class KioskPhase { Welcome, Questions, ThankYou };
enum class PinPurpose { None, Leave, Close };

struct KioskState {
    std::string formId;
    KioskPhase phase = KioskPhase::Welcome;
    FormView view;
    std::int64_t lastActivityMs = 0;
    std::int64_t thankYouSinceMs = 0;
    bool idleWarning = false;
    bool saving = false;
    std::string saveError;
    std::string pageMessage;  // why "next" did not move on
    int completed = 0;        // respondents finished since the kiosk started
    PinPurpose pin = PinPurpose::None;
    std::string pinEntry;
    std::string pinMessage;
    bool pinChecking = false;
    // The respondent's look (staff's default at every new respondent) and whether text and
    // numbers are typed on the on-screen keypad (decided when a respondent begins).
    KioskTheme theme = KioskTheme::Normal;
    bool keypad = false;
    std::string keypadPending;  // a Ge'ez base letter waiting for its vowel form
    // Where the respondent is, counted as they will see it (cached per answer change and page).
    int countedChanges = -1;
    int countedPage = -1;
    int pageNumber = 1;
    int pageTotal = 1;
    bool lastPage = false;
};

void drawHome(App& app, HomeState& state);
void drawFill(App& app, FillState& state);
void drawRecords(App& app, RecordsState& state);
void drawCases(App& app, CasesState& state);
void drawSync(App& app, SyncState& state);
/// The sync screen's section for sync by USB stick: "Naar USB-stick", "Van USB-stick".
void drawSyncUsb(App& app, SyncUsbState& state);
void drawSettings(App& app, SettingsState& state);
void drawKiosk(App& app, KioskState& state);

/// Starts filling a new record of `form`.
void startNewRecord(App& app, const FormEntry& form);
/// Starts filling a new record of `form` for `info`'s case (a follow-up or closing form): the
/// session gets the case's properties.
void startCaseRecord(App& app, const FormEntry& form, const CaseInfo& info);
/// Shows one case on the case screen (its details and records are read again).
void openCase(App& app, const Uuid& caseId);
/// What a form does with a case (None for a form without case settings).
CaseAction formCaseAction(const fb::Form& form);
/// The case type a form's records belong to ("participant" when the form names none).
std::string formCaseType(const fb::Form& form);
/// A case's name in lists: its `label` property, else the start of its id.
std::string caseLabel(const CaseInfo& info);
/// A stratum ("factor=level;factor=level") as words for people.
std::string stratumText(std::string_view stratum);
/// Whether a case search text may be a typed BSN (kept in memory only while it is typed).
bool searchMayHoldBsn(std::string_view text);
/// The warning about allocation slots running out, when any stratum is low (nothing otherwise).
void drawStockBanner(App& app);
/// Opens a stored record: a draft to continue, a finalized record to read. `fromCase`: opened
/// on the case screen, where closing it goes back to.
void openRecord(App& app, const Uuid& id, bool fromCase = false);
/// Leaves the filling screen (the draft is already saved).
void closeFill(App& app);
/// Starts kiosk mode with `formId` (the staff PIN must be set).
/// `remember` keeps the kiosk running across restarts (off for pictures of kiosk mode).
bool startKiosk(App& app, const std::string& formId, bool remember = true);
/// Called every frame by the App: autosave of the record being filled.
void fillBackground(App& app, FillState& state);
/// Called every frame by the App in kiosk mode, before drawing: idle and reset timers.
void kioskTick(App& app, KioskState& state, bool userActive);
/// A respondent picked `language` on the welcome screen.
void kioskChooseLanguage(App& app, KioskState& state, const std::string& language);
/// Shows page `page` of the respondent's survey (pictures of kiosk mode).
void kioskGoToPage(App& app, KioskState& state, int page);
/// Asks for the PIN before closing the window in kiosk mode.
void kioskRequestClose(App& app, KioskState& state);
/// A record's status in a list of records (Records, and a case's records).
M shortStatus(RecordStatus status);
/// Records central staff sent back ("Terug van centraal"), each with staff's comment and what can
/// be done with it (correct, continue, start a new record for a sealed one). Nothing when empty.
/// `idPrefix` names the lines for tests.
void drawCorrections(App& app, const std::vector<DeviceCorrection>& list,
                     const std::string& idPrefix);
/// One of them; `onRecord`: drawn on the record itself (no title line).
void drawCorrection(App& app, const DeviceCorrection& c, const std::string& id, bool onRecord);
/// The correction of a record, when central staff sent it back (from App::corrections).
const DeviceCorrection* correctionOf(const App& app, const Uuid& recordId);
/// Reopens a record sent back as a correction draft and opens it for filling.
void correctRecord(App& app, const Uuid& recordId);

}  // namespace veld::client
