// One file per screen; each has a small state struct (kept by the App) and a draw function.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <veld/store.hpp>

#include "../form_view.hpp"

namespace veld::client {

class App;
struct FormEntry;

struct HomeState {
    std::string kioskForm;  // the form chosen for the kiosk (confirm step)
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

struct SyncState {};

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
};

void drawHome(App& app, HomeState& state);
void drawFill(App& app, FillState& state);
void drawRecords(App& app, RecordsState& state);
void drawSync(App& app, SyncState& state);
void drawSettings(App& app, SettingsState& state);
void drawKiosk(App& app, KioskState& state);

/// Starts filling a new record of `form`.
void startNewRecord(App& app, const FormEntry& form);
/// Opens a stored record: a draft to continue, a finalized record to read.
void openRecord(App& app, const Uuid& id);
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
/// Asks for the PIN before closing the window in kiosk mode.
void kioskRequestClose(App& app, KioskState& state);

}  // namespace veld::client
