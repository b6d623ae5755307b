// Home: the published forms grouped by pilot, with their record counts.
#include <imgui.h>

#include "../app.hpp"
#include "../ui.hpp"
#include "screens.hpp"

namespace veld::client {

void drawHome(App& app, HomeState& state) {
    ui::heading(app.t(M::HomeTitle), false);
    drawStockBanner(app);
    drawCorrections(app, app.corrections, "home.corrections");
    if (app.forms.empty()) {
        ui::paragraph(app.t(M::HomeNoForms), false);
        ui::hint(app.t(M::HomeNoFormsHint), false);
        return;
    }
    ImGui::BeginChild("##forms");
    std::string lastPilot = "\x01";
    for (const FormEntry& form : app.forms) {
        if (form.pilot != lastPilot) {
            lastPilot = form.pilot;
            ImGui::Spacing();
            ui::paragraph(pilotName(form.pilot, app.settings.uiLanguage), false,
                          ImGui::GetColorU32(ImGuiCol_TextDisabled));
            ImGui::Separator();
        }
        const fb::Form& f = form.compiled->form();
        const FormCounts counts = app.counts.count(form.id) ? app.counts.at(form.id) : FormCounts{};
        ImGui::PushID(form.id.c_str());
        const std::string title = formTitle(f, app.settings.uiLanguage);
        ui::paragraph(title, false);
        ui::hint(format(app.t(M::HomeCounts),
                        {std::to_string(counts.drafts), std::to_string(counts.finalized),
                         std::to_string(counts.waiting)}) +
                     "   " + format(app.t(M::HomeVersion), {formVersionText(f)}),
                 false);
        // A follow-up or closing record belongs to a case: it starts from the case screen.
        const CaseAction action = formCaseAction(f);
        const bool needsCase = action == CaseAction::FollowUp || action == CaseAction::Close;
        if (ui::button("home.new." + form.id, app.t(M::HomeNewRecord), 0, 0, !needsCase)) {
            startNewRecord(app, form);
        }
        if (counts.drafts > 0) {
            ImGui::SameLine();
            if (ui::button("home.drafts." + form.id, app.t(M::HomeShowDrafts))) {
                app.records.formFilter = static_cast<int>(&form - app.forms.data()) + 1;
                app.records.statusFilter = 1;
                app.go(Screen::Records);
            }
        }
        if (needsCase) {
            ImGui::SameLine();
            if (ui::button("home.cases." + form.id, app.t(M::NavCases))) app.go(Screen::Cases);
            ImGui::SameLine();
            ImGui::TextDisabled("%s", std::string(app.t(M::HomeStartFromCase)).c_str());
            ui::recordLast("home.needs_case." + form.id, app.t(M::HomeStartFromCase));
        }
        if (f.settings() && f.settings()->kiosk()) {
            ImGui::SameLine();
            if (ui::button("home.kiosk." + form.id, app.t(M::HomeStartKiosk))) {
                state.kioskForm = form.id;
                state.confirmKiosk = true;
            }
        }
        if (!form.unrenderable.empty()) {
            std::string names;
            for (const auto& n : form.unrenderable)
                names += (names.empty() ? "" : ", ") + n;
            ui::hint(format(app.t(M::LanguagesNotShown), {names}), false);
        }
        ImGui::PopID();
        ImGui::Spacing();
    }
    ImGui::EndChild();
    const FormEntry* kioskForm = state.confirmKiosk ? app.findForm(state.kioskForm) : nullptr;
    if (ui::beginDialog("home.kioskconfirm", app.t(M::KioskStart), kioskForm != nullptr)) {
        const std::string title = formTitle(kioskForm->compiled->form(), app.settings.uiLanguage);
        if (app.settings.pinHash.empty()) {
            ui::paragraph(app.t(M::KioskNeedsPin), false);
            if (ui::button("home.kiosk.settings", app.t(M::GoToSettings))) {
                state.confirmKiosk = false;
                ImGui::CloseCurrentPopup();
                app.go(Screen::Settings);
            }
            ImGui::SameLine();
            if (ui::button("home.kiosk.cancel", app.t(M::Cancel))) {
                state.confirmKiosk = false;
                ImGui::CloseCurrentPopup();
            }
        } else {
            ui::paragraph(format(app.t(M::KioskConfirm), {title}), false);
            if (ui::button("home.kiosk.start", app.t(M::KioskStart))) {
                state.confirmKiosk = false;
                ImGui::CloseCurrentPopup();
                // A kiosk form is sealed: without a project key nothing could be kept.
                if (app.settings.projectKey) {
                    startKiosk(app, state.kioskForm);
                } else {
                    app.toast(std::string(app.t(M::SealedNeedsKey)), true);
                }
            }
            ImGui::SameLine();
            if (ui::button("home.kiosk.cancel", app.t(M::Cancel))) {
                state.confirmKiosk = false;
                ImGui::CloseCurrentPopup();
            }
        }
        ImGui::EndPopup();
    }
}

}  // namespace veld::client
