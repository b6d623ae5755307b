// Sync: the uploader's state and progress, what waits to be sent, a button to send now, and
// what the background agent (veld-agent) last told about itself.

#include <algorithm>
#include <ctime>

#include <imgui.h>

#include <veld/sync/agent_state.hpp>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

M stateName(sync::Progress::State s) {
    switch (s) {
        case sync::Progress::State::Sending:
            return M::SyncSending;
        case sync::Progress::State::Pulling:
            return M::SyncPulling;
        case sync::Progress::State::Waiting:
            return M::SyncWaitingRetry;
        case sync::Progress::State::Done:
            return M::SyncDone;
        case sync::Progress::State::Failed:
            return M::SyncFailed;
        case sync::Progress::State::Busy:
            return M::SyncBusy;
        case sync::Progress::State::Idle:
            break;
    }
    return M::SyncIdle;
}

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

// The background agent's block: read from the store every few seconds (on the worker), judged
// by the same rule as `veldctl agent status`.
void drawAgent(App& app, SyncState& state) {
    const std::int64_t now = app.now();
    if (!state.agentLoading && (!state.agentLoaded || now - state.agentReadAtMs >= 3000)) {
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
        case sync::AgentLiveness::Stale:
            line =
                format(app.t(M::SyncAgentStale),
                       {std::to_string(
                            std::max<std::int64_t>(0, now - state.agent->heartbeatUtcMs) / 60'000),
                        lastRound()});
            break;
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

void drawSync(App& app, SyncState& state) {
    ui::heading(app.t(M::SyncTitle), false);
    if (!app.settings.enrolled) {
        ui::paragraph(app.t(M::SyncNotEnrolled), false);
    } else {
        ui::paragraph(format(app.t(M::SyncCollector), {app.settings.collector}), false);
    }
    const sync::Progress p = app.syncProgress();
    if (app.settings.enrolled) {
        ui::paragraph(app.t(stateName(p.state)), false);
        ui::recordLast("sync.state", app.t(stateName(p.state)));
        if (p.state == sync::Progress::State::Sending && p.recordsTotal > 0) {
            const float f = static_cast<float>(p.recordsSent) / static_cast<float>(p.recordsTotal);
            ImGui::ProgressBar(
                f, ImVec2(-1, 0),
                format(app.t(M::SyncRoundProgress),
                       {std::to_string(p.recordsSent), std::to_string(p.recordsTotal),
                        std::to_string((p.bytesSent + 1023) / 1024),
                        std::to_string((p.bytesTotal + 1023) / 1024)})
                    .c_str());
        }
        if (!p.lastError.empty()) ui::error(p.lastError, false);
        if (p.state == sync::Progress::State::Waiting && p.retryInMs > 0) {
            ui::hint(format(app.t(M::SyncRetryIn), {std::to_string((p.retryInMs + 999) / 1000)}),
                     false);
        }
    }
    ImGui::Spacing();
    const std::int64_t last =
        p.lastSuccessUtcMs > 0 ? p.lastSuccessUtcMs : app.settings.lastSyncUtcMs;
    ui::paragraph(format(app.t(M::SyncLastSuccess),
                         {last > 0 ? ui::localDateTime(last) : std::string(app.t(M::Never))}),
                  false);
    const OutboxState& o = app.outbox;
    ui::paragraph(format(app.t(M::SyncWaiting), {std::to_string(o.pending),
                                                 std::to_string((o.pendingBytes + 1023) / 1024)}),
                  false);
    ui::recordLast("sync.waiting", std::to_string(o.pending));
    const std::int64_t sent = app.info.sent;
    const std::int64_t total = sent + o.pending;
    const float fraction = total > 0 ? static_cast<float>(sent) / static_cast<float>(total) : 1.0f;
    ImGui::ProgressBar(
        fraction, ImVec2(-1, 0),
        format(app.t(M::SyncSentOf), {std::to_string(sent), std::to_string(total)}).c_str());
    ui::recordLast("sync.progress", std::to_string(sent) + "/" + std::to_string(total));
    if (app.settings.enrolled && ui::button("sync.now", app.t(M::SyncNow))) app.syncNow();
    ImGui::SameLine();
    if (ui::button("sync.refresh", app.t(M::Refresh))) app.refreshCounts();
    drawAgent(app, state);
    drawSyncUsb(app, state.usb);
}

}  // namespace veld::client
