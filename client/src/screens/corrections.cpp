// Records central staff sent back ("Terug van centraal"): the list on the start screen and on a
// case, and the box on a record with staff's comment and the way to correct it. Correcting reopens
// the record as a draft (Store::reopenForCorrection) in the ordinary filling screen.
#include <imgui.h>

#include "../app.hpp"
#include "../ui.hpp"
#include "screens.hpp"

namespace veld::client {

namespace {

// The form's title in the UI language, or its id when the form is not on this device.
std::string titleOf(const App& app, const DeviceCorrection& c) {
    const FormEntry* form = app.findForm(c.formId);
    return form ? formTitle(form->compiled->form(), app.settings.uiLanguage) : c.formId;
}

// A sealed record cannot be reopened: a new record of its form is started instead (from its case
// when the form needs one).
void startAgain(App& app, const DeviceCorrection& c) {
    const FormEntry* form = app.findForm(c.formId);
    if (!form) {
        app.toast(std::string(app.t(M::FormMissing)), true);
        return;
    }
    const CaseAction action = formCaseAction(form->compiled->form());
    if (c.caseId && (action == CaseAction::FollowUp || action == CaseAction::Close)) {
        openCase(app, *c.caseId);
        app.go(Screen::Cases);
        return;
    }
    startNewRecord(app, *form);
}

}  // namespace

const DeviceCorrection* correctionOf(const App& app, const Uuid& recordId) {
    for (const auto& c : app.corrections) {
        if (c.recordId == recordId) return &c;
    }
    return nullptr;
}

void correctRecord(App& app, const Uuid& recordId) {
    app.withStore([recordId](Store& store) { return store.reopenForCorrection(recordId); },
                  [&app](Result<Uuid> reopened) {
                      if (!reopened) {
                          app.toast(reopened.error().describe(), true);
                          return;
                      }
                      app.refreshCounts();
                      openRecord(app, reopened.value());
                  });
}

void drawCorrection(App& app, const DeviceCorrection& c, const std::string& id, bool onRecord) {
    ImGui::PushID(id.c_str());
    if (!onRecord) {
        std::string line = titleOf(app, c) + "  -  " + ui::localDateTime(c.reviewUtcMs);
        if (!c.summary.empty()) line += "  -  " + c.summary;
        ui::paragraph(line, false);
        ui::recordLast(id + ".title", line);
    }
    const std::string from = format(app.t(M::CorrectionFrom), {ui::localDateTime(c.reviewUtcMs)});
    ui::hint(from, false);
    const std::string comment =
        c.comment.empty() ? std::string(app.t(M::CorrectionNoComment)) : "\"" + c.comment + "\"";
    ui::paragraph(comment, false);
    ui::recordLast(id + ".comment", comment);
    if (c.sealed) {
        ui::hint(app.t(M::CorrectionSealed), false);
        ui::recordLast(id + ".sealed", app.t(M::CorrectionSealed));
        if (ui::button(id + ".new", app.t(M::CorrectionNewRecord))) startAgain(app, c);
    } else if (c.sent || c.state == CorrectionState::Corrected) {
        ui::hint(app.t(M::CorrectionSent), false);
        ui::recordLast(id + ".sent", app.t(M::CorrectionSent));
        if (!onRecord && !c.summary.empty()) {
            if (ui::button(id + ".open", app.t(M::CorrectionShow))) openRecord(app, c.recordId);
        }
    } else if (c.editing) {
        if (ui::button(id + ".continue", app.t(M::CorrectionContinue))) openRecord(app, c.recordId);
    } else {
        if (ui::button(id + ".correct", app.t(M::CorrectionCorrect)))
            correctRecord(app, c.recordId);
        if (!onRecord && !c.summary.empty()) {
            ImGui::SameLine();
            if (ui::button(id + ".open", app.t(M::CorrectionShow))) openRecord(app, c.recordId);
        }
    }
    ImGui::PopID();
}

void drawCorrections(App& app, const std::vector<DeviceCorrection>& list,
                     const std::string& idPrefix) {
    if (list.empty()) return;
    ImGui::Spacing();
    ui::paragraph(app.t(M::CorrectionsTitle), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    ui::recordLast(idPrefix, app.t(M::CorrectionsTitle));
    ImGui::Separator();
    // How many wait for this device (those sent already wait for staff, not for it).
    std::int64_t open = 0;
    for (const auto& c : list)
        open += (!c.sent && c.state == CorrectionState::Open) ? 1 : 0;
    if (open > 0) {
        const std::string count = plural(M::CorrectionsCount, open, app.settings.uiLanguage);
        ui::paragraph(count, false);
        ui::recordLast(idPrefix + ".count", count);
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
        drawCorrection(app, list[i], idPrefix + "." + std::to_string(i), false);
        ImGui::Spacing();
    }
    ImGui::Separator();
}

}  // namespace veld::client
