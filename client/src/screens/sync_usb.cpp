// The sync screen's section for sync by USB stick: "Naar USB-stick" writes the device's bundle
// onto a mounted medium (chosen when there are several), "Van USB-stick" reads in the newest reply
// for this device found on the media. The files and the store are touched on the worker; the
// frame only reads the outcome.
#include <algorithm>

#include <imgui.h>

#include <veld/sync/device_bundle.hpp>
#include <veld/sync/provisioning.hpp>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

M problemText(sync::BundleProblem problem) {
    switch (problem) {
        case sync::BundleProblem::Damaged:
            return M::SyncUsbDamaged;
        case sync::BundleProblem::TooNew:
            return M::SyncUsbTooNew;
        case sync::BundleProblem::NotAReply:
            return M::SyncUsbNotAReply;
        case sync::BundleProblem::OtherDevice:
            return M::SyncUsbOtherDevice;
        case sync::BundleProblem::OtherCollector:
            return M::SyncUsbOtherCollector;
        case sync::BundleProblem::NotSigned:
            return M::SyncUsbNotSigned;
        case sync::BundleProblem::NeverMade:
            return M::SyncUsbNeverMade;
        case sync::BundleProblem::Older:
            return M::SyncUsbOlder;
        case sync::BundleProblem::NotEnrolled:
            return M::SyncUsbNotEnrolled;
        case sync::BundleProblem::ReceiptRefused:
            return M::SyncProblemReceipt;
        case sync::BundleProblem::Other:
            break;
    }
    return M::SyncUsbFailed;
}

// A refusal in the user's words; anything else with the error's own.
std::string failure(const App& app, const Error& e, M frame) {
    const auto problem = sync::bundleProblem(e);
    if (problem == sync::BundleProblem::Other) return format(app.t(M::SyncUsbFailed), {e.message});
    return format(app.t(frame), {app.t(problemText(problem))});
}

void outcome(SyncUsbState& state, std::string text, bool isError) {
    state.message = std::move(text);
    state.messageError = isError;
    state.working = false;
}

void exportToMedium(App& app, SyncUsbState& state) {
    state.working = true;
    state.message = std::string(app.t(M::SyncUsbWorking));
    state.messageError = false;
    const std::string medium = state.medium;
    const std::int64_t now = app.now();
    app.withStore([medium, now](Store& store) { return sync::exportBundleTo(store, medium, now); },
                  [&app, &state](Result<sync::BundleExport> exported) {
                      if (!exported) {
                          outcome(state, failure(app, exported.error(), M::SyncUsbFailed), true);
                          return;
                      }
                      std::string text = format(
                          app.t(M::SyncUsbExported),
                          {std::to_string(exported->number), exported->path,
                           plural(M::SyncUsbRecords, exported->records, app.settings.uiLanguage)});
                      if (exported->enrols)
                          text += " " + std::string(app.t(M::SyncUsbExportedEnrol));
                      outcome(state, std::move(text), false);
                  });
}

void importFromMedia(App& app, SyncUsbState& state) {
    state.working = true;
    state.message = std::string(app.t(M::SyncUsbWorking));
    state.messageError = false;
    struct Done {
        bool found = false;
        Result<sync::ReplyImport> imported = makeError(ErrorCode::Internal, "not run");
    };
    app.withStore(
        [](Store& store) {
            Done d;
            const auto file = sync::newestReply(
                store,
                sync::findFilesOnMedia(sync::removableMediaRoots(), sync::bundle::kReplyExtension));
            if (file.empty()) return d;
            d.found = true;
            auto bytes = sync::bundle::readFile(file);
            d.imported = bytes ? sync::importReply(store, bytes.value())
                               : Result<sync::ReplyImport>(bytes.error());
            return d;
        },
        [&app, &state](Done d) {
            if (!d.found) return outcome(state, std::string(app.t(M::SyncUsbNoReply)), true);
            if (!d.imported)
                return outcome(state, failure(app, d.imported.error(), M::SyncUsbRefused), true);
            const auto& r = d.imported.value();
            if (r.outcome == sync::ReplyImport::Outcome::AlreadyImported)
                return outcome(state, format(app.t(M::SyncUsbAlready), {std::to_string(r.number)}),
                               false);
            std::string text =
                format(app.t(M::SyncUsbImported),
                       {std::to_string(r.number),
                        plural(M::SyncUsbRecords, static_cast<std::int64_t>(r.acknowledged),
                               app.settings.uiLanguage),
                        std::to_string(r.progress.formsReceived),
                        std::to_string(r.progress.blocksReceived)});
            if (r.enrolled) {
                text += " " + std::string(app.t(M::SyncUsbImportedEnrolled));
                app.settings.enrolled = true;
                app.reloadKeys();
            }
            outcome(state, std::move(text), false);
            app.refreshCounts();
            app.loadSettings();  // when it last worked
        });
}

}  // namespace

void drawSyncUsb(App& app, SyncUsbState& state) {
    ImGui::Spacing();
    ui::heading(app.t(M::SyncUsbTitle), false);
    ui::hint(app.t(M::SyncUsbIntro), false);
    if (!state.scanned) {
        state.scanned = true;
        app.worker.run([] { return sync::mountedMedia(sync::removableMediaRoots()); },
                       [&state](std::vector<std::string> media) {
                           state.media = std::move(media);
                           if (std::find(state.media.begin(), state.media.end(), state.medium) ==
                               state.media.end())
                               state.medium = state.media.size() == 1 ? state.media.front() : "";
                       });
    }
    if (state.media.empty()) {
        ui::paragraph(app.t(M::SyncUsbNoMedium), false);
        ui::recordLast("sync.usb.media", "none");
    } else if (state.media.size() > 1) {
        ui::paragraph(app.t(M::SyncUsbChoose), false);
        for (std::size_t i = 0; i < state.media.size(); ++i) {
            if (ui::choiceRow("sync.usb.medium." + std::to_string(i), state.media[i],
                              state.medium == state.media[i], false, false, 0))
                state.medium = state.media[i];
        }
    }
    const bool idle = !state.working;
    if (ui::button("sync.usb.export", app.t(M::SyncUsbExport), 0, 0, idle && !state.medium.empty()))
        exportToMedium(app, state);
    ImGui::SameLine();
    if (ui::button("sync.usb.import", app.t(M::SyncUsbImport), 0, 0, idle && !state.media.empty()))
        importFromMedia(app, state);
    ImGui::SameLine();
    if (ui::button("sync.usb.search", app.t(M::SyncUsbSearch), 0, 0, idle)) state.scanned = false;
    if (!state.message.empty()) {
        if (state.messageError) {
            ui::error(state.message, false);
        } else {
            ui::paragraph(state.message, false, ui::kOkColor);
        }
        ui::recordLast("sync.usb.message", state.message);
    }
}

}  // namespace veld::client
