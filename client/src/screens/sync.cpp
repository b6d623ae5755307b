// Sync: what waits to be sent, and what has been. Until an uploader runs on this device the
// screen says so, and shows the outbox as it is.
#include <ctime>

#include <imgui.h>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

void drawSync(App& app, SyncState& /*state*/) {
    ui::heading(app.t(M::SyncTitle), false);
    if (app.settings.collector.empty()) {
        ui::paragraph(app.t(M::SyncNoCollector), false);
    } else {
        ui::paragraph(format(app.t(M::SyncCollector), {app.settings.collector}), false);
    }
    ui::paragraph(app.t(M::SyncNotAvailable), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    ImGui::Spacing();

    std::string last = std::string(app.t(M::Never));
    if (app.settings.lastSyncUtcMs > 0) {
        const auto t = static_cast<std::time_t>(app.settings.lastSyncUtcMs / 1000);
        std::tm tm{};
        localtime_r(&t, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
        last = buf;
    }
    ui::paragraph(format(app.t(M::SyncLastSuccess), {last}), false);
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
    if (ui::button("sync.refresh", app.t(M::Refresh))) app.refreshCounts();
}

}  // namespace veld::client
