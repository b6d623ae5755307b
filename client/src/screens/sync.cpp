// Sync: the uploader's state and progress, what waits to be sent, and a button to send now.

#include <imgui.h>

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
        case sync::Progress::State::Idle:
            break;
    }
    return M::SyncIdle;
}

}  // namespace

void drawSync(App& app, SyncState& /*state*/) {
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
}

}  // namespace veld::client
