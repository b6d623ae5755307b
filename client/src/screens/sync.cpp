// Sync: the uploader's state and progress, what waits to be sent, a button to send now, and
// what the background agent (veld-agent) last told about itself.

#include <algorithm>
#include <ctime>

#include <imgui.h>

#include <veld/sync/agent_state.hpp>
#include <veld/sync/device_replies.hpp>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

// A time today as "10:42", another day's with its date.
std::string shortTime(std::int64_t utcMs, std::int64_t nowMs) {
    const std::string full = ui::localDateTime(utcMs);
    const std::string today = ui::localDateTime(nowMs);
    return full.substr(0, 10) == today.substr(0, 10) ? full.substr(11) : full;
}

M resultName(const std::string& result) {
    if (result == "done") return M::SyncAgentResultDone;
    if (result == "busy") return M::SyncAgentResultBusy;
    if (result == "not-enrolled") return M::SyncAgentResultNotEnrolled;
    if (result == "stopped") return M::SyncAgentResultStopped;
    return M::SyncAgentResultFailed;
}

constexpr std::int64_t kAgentReadMs = 3000;

// The background agent's block: read from the store every few seconds (on the worker), judged
// by the same rule as `veldctl agent status`.
void drawAgent(App& app, SyncState& state) {
    const std::int64_t now = app.now();
    if (!state.agentLoading && (!state.agentLoaded || now - state.agentReadAtMs >= kAgentReadMs)) {
        state.agentLoading = true;
        struct Read {
            std::optional<sync::AgentState> agent;
            bool alive = false;
        };
        app.withStore(
            [](Store& store) {
                Read r;
                if (auto s = sync::loadAgentState(store); s) r.agent = s.value();
                r.alive = r.agent && sync::agentProcessAlive(r.agent->pid);
                return r;
            },
            [&app, &state, now](Read r) {
                // A round of the agent's since the last look changed what waits to be sent.
                const auto roundOf = [](const std::optional<sync::AgentState>& a) {
                    return a ? a->lastRoundUtcMs : 0;
                };
                if (state.agentLoaded && roundOf(r.agent) != roundOf(state.agent)) {
                    app.refreshCounts();
                }
                state.agent = std::move(r.agent);
                state.agentAlive = r.alive;
                state.agentLoaded = true;
                state.agentLoading = false;
                state.agentReadAtMs = now;
            });
    }
    // Read again in a few seconds, also when no input comes.
    if (!state.agentLoading) app.wakeIn(state.agentReadAtMs + kAgentReadMs - now);
    if (!state.agentLoaded) return;
    ImGui::Spacing();
    ui::heading(app.t(M::SyncAgentTitle), false);
    const auto liveness = sync::judgeAgent(state.agent, now, state.agentAlive);
    std::string line;
    const auto lastRound = [&]() -> std::string {
        const auto& a = *state.agent;
        if (a.lastRoundUtcMs <= 0) return std::string(app.t(M::Never));
        return shortTime(a.lastRoundUtcMs, now) + ", " +
               std::string(app.t(resultName(a.lastResult)));
    };
    switch (liveness) {
        case sync::AgentLiveness::Never:
            line = app.t(M::SyncAgentNever);
            break;
        case sync::AgentLiveness::Running: {
            const auto& a = *state.agent;
            line = a.lastRoundUtcMs > 0
                       ? format(app.t(M::SyncAgentRunning),
                                {shortTime(a.lastRoundUtcMs, now),
                                 std::string(app.t(resultName(a.lastResult))),
                                 shortTime(a.nextRoundUtcMs, now)})
                       : format(app.t(M::SyncAgentNoRoundYet), {shortTime(a.startedUtcMs, now)});
            break;
        }
        case sync::AgentLiveness::Stopped:
            line = format(app.t(M::SyncAgentStopped),
                          {shortTime(state.agent->stoppedUtcMs, now), lastRound()});
            break;
        case sync::AgentLiveness::Stale: {
            const std::int64_t minutes =
                std::max<std::int64_t>(0, now - state.agent->heartbeatUtcMs) / 60'000;
            line = plural(M::SyncAgentStale, minutes, app.settings.uiLanguage,
                          {std::to_string(minutes), lastRound()});
        } break;
    }
    ui::paragraph(line, false);
    ui::recordLast("sync.agent", line);
    if (state.agent && !state.agent->lastError.empty() && liveness != sync::AgentLiveness::Never) {
        const std::string error = format(app.t(M::SyncAgentLastError), {state.agent->lastError});
        ui::hint(error, false);
        ui::recordLast("sync.agent_error", error);
    }
}

}  // namespace

SyncStatus syncStatus(const App& app) {
    SyncStatus s;
    s.waiting = app.outbox.pending;
    s.waitingBytes = app.outbox.pendingBytes;
    s.sent = app.info.sent;
    const sync::Progress p = app.syncProgress();
    s.uploaderRuns = app.settings.enrolled && app.uploaderRuns();
    using State = sync::Progress::State;
    if (!app.settings.enrolled && !app.settings.byStick) {
        s.kind = SyncStatus::Kind::NotEnrolled;
    } else if (app.settings.byStick) {
        s.kind = s.waiting > 0 ? SyncStatus::Kind::ByStick
                 : s.sent == 0 ? SyncStatus::Kind::NothingYet
                               : SyncStatus::Kind::AllSent;
    } else if (p.state == State::Sending) {
        s.kind = SyncStatus::Kind::Sending;
    } else if (p.state == State::Pulling) {
        s.kind = SyncStatus::Kind::Pulling;
    } else if (s.waiting == 0) {
        s.kind = s.sent == 0 ? SyncStatus::Kind::NothingYet : SyncStatus::Kind::AllSent;
    } else if (p.state == State::Waiting || p.state == State::Failed) {
        s.kind = SyncStatus::Kind::NoConnection;
    } else if (p.state == State::Busy) {
        s.kind = SyncStatus::Kind::OtherProgram;
    } else {
        s.kind = SyncStatus::Kind::Pending;
    }
    return s;
}

namespace {

// The one line that says where sending stands.
std::string headline(const App& app, const SyncStatus& s) {
    const std::string& lang = app.settings.uiLanguage;
    const std::string n = std::to_string(s.waiting);
    switch (s.kind) {
        case SyncStatus::Kind::NotEnrolled:
            return s.waiting > 0 ? plural(M::SyncNotEnrolledWaiting, s.waiting, lang)
                                 : std::string(app.t(M::SyncNotEnrolledNothing));
        case SyncStatus::Kind::Sending:
            return std::string(app.t(M::SyncSending));
        case SyncStatus::Kind::Pulling:
            return std::string(app.t(M::SyncPulling));
        case SyncStatus::Kind::NothingYet:
            return std::string(app.t(M::SyncNothingYet));
        case SyncStatus::Kind::AllSent:
            return std::string(app.t(M::SyncDone));
        case SyncStatus::Kind::Pending:
            return plural(s.uploaderRuns ? M::SyncPendingSoon : M::SyncPending, s.waiting, lang);
        case SyncStatus::Kind::NoConnection:
            return plural(M::SyncPendingNoConnection, s.waiting, lang);
        case SyncStatus::Kind::OtherProgram:
            return plural(M::SyncPendingOtherProgram, s.waiting, lang);
        case SyncStatus::Kind::ByStick:
            return plural(M::SyncPendingByStick, s.waiting, lang);
    }
    return n;
}

}  // namespace

void drawSync(App& app, SyncState& state) {
    const std::string& lang = app.settings.uiLanguage;
    ui::heading(app.t(M::SyncTitle), false);
    if (app.settings.byStick) {
        ui::paragraph(app.t(M::SyncByStick), false);
        ui::recordLast("sync.collector", std::string(app.t(M::SyncByStick)));
    } else if (app.settings.enrolled) {
        ui::paragraph(format(app.t(M::SyncCollector), {app.settings.collector}), false);
    }
    const SyncStatus status = syncStatus(app);
    const sync::Progress p = app.syncProgress();
    const std::string line = headline(app, status);
    ui::paragraph(line, false, status.kind == SyncStatus::Kind::NoConnection ? ui::kErrorColor : 0);
    ui::recordLast("sync.state", line);
    if (status.kind == SyncStatus::Kind::NotEnrolled) ui::hint(app.t(M::SyncNotEnrolled), false);
    // Why the last attempt failed, and when the next one comes; also when nothing waits (a pull
    // that failed), said as the last attempt's outcome, not as the state of what waits.
    if (app.settings.enrolled && !app.settings.byStick &&
        (p.state == sync::Progress::State::Waiting || p.state == sync::Progress::State::Failed)) {
        const sync::SyncProblem problem = sync::syncProblem(p.lastError);
        if (problem != sync::SyncProblem::Other) {
            // Said in the worker's words, in the error colour; the technical words (with the
            // keys' fingerprints) follow for central staff.
            const std::string error = std::string(app.t(problem == sync::SyncProblem::ReceiptRefused
                                                            ? M::SyncProblemReceipt
                                                            : M::SyncProblemKeyChanged));
            ui::paragraph(error, false, ui::kErrorColor);
            ui::recordLast("sync.error", error);
            ui::hint(format(app.t(M::SyncProblemDetails), {p.lastError}), false);
        } else if (!p.lastError.empty()) {
            const std::string error = format(app.t(M::SyncLastAttemptFailed), {p.lastError});
            ui::hint(error, false);
            ui::recordLast("sync.error", error);
        }
        if (p.retryInMs > 0) {
            ui::hint(plural(M::SyncRetryIn, (p.retryInMs + 999) / 1000, lang), false);
        }
    }
    // One bar: the round's own progress while it sends, else what the store has sent of all.
    if (status.kind == SyncStatus::Kind::Sending && p.recordsTotal > 0) {
        const float f = static_cast<float>(p.recordsSent) / static_cast<float>(p.recordsTotal);
        ImGui::ProgressBar(f, ImVec2(-1, 0),
                           plural(M::SyncRoundProgress, p.recordsTotal, lang,
                                  {std::to_string(p.recordsSent), std::to_string(p.recordsTotal),
                                   std::to_string((p.bytesSent + 1023) / 1024),
                                   std::to_string((p.bytesTotal + 1023) / 1024)})
                               .c_str());
    } else {
        const std::int64_t total = status.sent + status.waiting;
        const float fraction =
            total > 0 ? static_cast<float>(status.sent) / static_cast<float>(total) : 1.0f;
        const std::string text = status.waiting > 0
                                     ? plural(M::SyncSentOfWaiting, status.waiting, lang,
                                              {std::to_string(status.sent), std::to_string(total),
                                               std::to_string(status.waiting),
                                               std::to_string((status.waitingBytes + 1023) / 1024)})
                                     : plural(M::SyncSentOf, total, lang,
                                              {std::to_string(status.sent), std::to_string(total)});
        ImGui::ProgressBar(fraction, ImVec2(-1, 0), text.c_str());
        ui::recordLast("sync.progress", text);
    }
    ui::recordLast("sync.waiting", std::to_string(status.waiting));
    ImGui::Spacing();
    const std::int64_t last =
        p.lastSuccessUtcMs > 0 ? p.lastSuccessUtcMs : app.settings.lastSyncUtcMs;
    ui::paragraph(format(app.t(M::SyncLastSuccess),
                         {last > 0 ? ui::localDateTime(last) : std::string(app.t(M::Never))}),
                  false);
    if (app.settings.enrolled && !app.settings.byStick) {
        if (ui::button("sync.now", app.t(M::SyncNow))) app.syncNow();
        ImGui::SameLine();
    }
    if (ui::button("sync.refresh", app.t(M::Refresh))) app.refreshCounts();
    if (!app.settings.byStick) drawAgent(app, state);  // veld-agent syncs by network only
    drawSyncUsb(app, state.usb);
}

}  // namespace veld::client
