// The console's Forms tab: the forms published at the collector with their versions, and
// publishing a form file (an XLSForm workbook or form JSON). The file is checked here first and
// every problem shown with its cell or line; Publish stays disabled while there are errors, and
// the collector checks the form again before it accepts it.
#include <algorithm>
#include <map>

#include <imgui.h>

#include <veld/fb/form_generated.h>
#include <veld/xlsform.hpp>

#include "../ui.hpp"
#include "console.hpp"

namespace veld::client::console {

namespace {

std::string textIn(const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* texts,
                   const std::string& language, const std::string& fallback) {
    if (!texts) return {};
    std::string other;
    for (const auto* t : *texts) {
        if (!t->lang() || !t->text()) continue;
        if (t->lang()->str() == language) return t->text()->str();
        if (t->lang()->str() == fallback || other.empty()) other = t->text()->str();
    }
    return other;
}

// "survey!D14", "regel 12", or "-": where a problem is.
std::string where(const Console& console, const forms::FormProblem& p) {
    if (!p.cell.empty()) return p.cell;
    if (p.line > 0) return format(console.t(M::ConsoleFormsLine), {std::to_string(p.line)});
    return "-";
}

void drawPublished(Console& console) {
    if (console.forms.empty()) {
        ui::paragraph(console.t(M::ConsoleFormsNone), false);
        return;
    }
    // Every form once, with its versions newest first.
    std::map<std::string, std::vector<const ConsoleForm*>> byId;
    for (const auto& f : console.forms)
        byId[f.id].push_back(&f);
    // At most five rows tall (it scrolls), so the file check below stays in view.
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                  ImGuiTableFlags_SizingStretchProp | ImGuiTableFlags_ScrollY;
    const float rowH = ImGui::GetTextLineHeightWithSpacing() + 2;
    const float rows = static_cast<float>(std::min<std::size_t>(byId.size(), 5) + 1);
    if (!ImGui::BeginTable("forms", 4, flags, ImVec2(0, rowH * rows + 4))) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    const std::pair<M, float> columns[] = {{M::ConsoleFormsForm, 2.5f},
                                           {M::ConsoleFormsTitle, 4},
                                           {M::ConsoleFormsPilot, 3},
                                           {M::ConsoleFormsVersions, 1.2f}};
    for (const auto& [header, weight] : columns)
        ImGui::TableSetupColumn(std::string(console.t(header)).c_str(),
                                ImGuiTableColumnFlags_WidthStretch, weight);
    ImGui::TableHeadersRow();
    for (auto& [id, versions] : byId) {
        std::sort(versions.begin(), versions.end(), [](const ConsoleForm* a, const ConsoleForm* b) {
            return a->version > b->version;
        });
        const ConsoleForm& newest = *versions.front();
        const fb::Form& form = newest.compiled->form();
        const std::string fallback = form.default_language() ? form.default_language()->str() : "";
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(id.c_str());
        ImGui::TableNextColumn();
        const std::string title = textIn(form.titles(), console.language, fallback);
        ImGui::TextUnformatted(title.c_str());
        ui::recordLast("forms." + id + ".title", title);
        ImGui::TableNextColumn();
        const std::string pilot = pilotName(newest.pilot, console.language);
        ImGui::TextUnformatted(pilot.c_str());
        ImGui::TableNextColumn();
        std::string list;
        for (const auto* v : versions) {
            if (!list.empty()) list += ", ";
            list += std::to_string(v->version);
            const std::string label = v->compiled->form().version_label()
                                          ? v->compiled->form().version_label()->str()
                                          : "";
            if (!label.empty()) list += " (" + label + ")";
        }
        ImGui::TextUnformatted(list.c_str());
        ui::recordLast("forms." + id + ".versions", list);
    }
    ImGui::EndTable();
}

void drawProblems(Console& console, const FormsTabState& state) {
    const auto& check = *state.check;
    int errors = 0, warnings = 0;
    for (const auto& p : check.problems)
        (p.severity == forms::FormProblem::Severity::Error ? errors : warnings)++;
    std::string summary;
    if (!check.binary.empty()) {
        const fb::Form* form = fb::GetForm(check.binary.data());
        summary = std::string(form->id() ? form->id()->string_view() : "") + " v" +
                  std::to_string(form->version()) + ": ";
    }
    summary += plural(M::ConsoleFormsErrorCount, errors, console.language) + ", " +
               plural(M::ConsoleFormsWarningCount, warnings, console.language);
    ui::paragraph(summary, false, errors > 0 ? ui::kErrorColor : ui::kOkColor);
    ui::recordLast("forms.summary", summary);
    if (check.problems.empty()) return;
    const ImGuiTableFlags flags =
        ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingStretchProp;
    if (!ImGui::BeginTable("problems", 4, flags)) return;
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleFormsWhere)).c_str(),
                            ImGuiTableColumnFlags_WidthStretch, 1);
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleFormsKind)).c_str(),
                            ImGuiTableColumnFlags_WidthStretch, 1.4f);
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleFormsItem)).c_str(),
                            ImGuiTableColumnFlags_WidthStretch, 1.5f);
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleFormsMessage)).c_str(),
                            ImGuiTableColumnFlags_WidthStretch, 6);
    ImGui::TableHeadersRow();
    int i = 0;
    for (const auto& p : check.problems) {
        const bool error = p.severity == forms::FormProblem::Severity::Error;
        const std::string id = "forms.problem." + std::to_string(i++);
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        const std::string at = where(console, p);
        ImGui::TextUnformatted(at.c_str());
        ui::recordLast(id + ".where", at);
        ImGui::TableNextColumn();
        ImGui::PushStyleColor(ImGuiCol_Text,
                              error ? ui::kErrorColor : ImGui::GetColorU32(ImGuiCol_TextDisabled));
        ImGui::TextUnformatted(
            std::string(console.t(error ? M::ConsoleFormsError : M::ConsoleFormsWarning)).c_str());
        ImGui::PopStyleColor();
        ui::recordLast(id + ".kind", error ? "error" : "warning");
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(p.item.c_str());
        ImGui::TableNextColumn();
        ImGui::TextWrapped("%s", p.message.c_str());
        ui::recordLast(id + ".message", p.message);
    }
    ImGui::EndTable();
}

}  // namespace

void checkFormFile(Console& console, FormsTabState& state) {
    state.checking = true;
    state.check.reset();
    state.checkedPath = state.path;
    state.error.clear();
    console.worker.run([path = state.path] { return xlsform::loadAnyFormFile(path); },
                       [&state](forms::FormCheck check) {
                           state.checking = false;
                           state.check = std::move(check);
                       });
}

void drawForms(Console& console, FormsTabState& state) {
    ui::heading(console.t(M::ConsoleTabForms), false);
    ui::hint(console.t(M::ConsoleFormsHint), false);
    ImGui::Spacing();
    drawPublished(console);

    ImGui::Spacing();
    ImGui::Separator();
    ui::heading(console.t(M::ConsoleFormsPublishHeading), false);
    ui::hint(console.t(M::ConsoleFormsPublishHint), false);
    ImGui::PushItemWidth(-1);
    ui::paragraph(console.t(M::ConsoleFormsFile), false);
    ui::input("forms.path", state.path, "formulier.xlsx", false,
              !state.checking && !state.publishing);
    ImGui::PopItemWidth();
    // A check belongs to the file it was made of: another path needs its own.
    if (state.check && state.path != state.checkedPath) state.check.reset();
    if (ui::button("forms.check", console.t(M::ConsoleFormsCheck), 0, 0,
                   !state.path.empty() && !state.checking && !state.publishing))
        checkFormFile(console, state);
    if (state.checking) ui::hint(console.t(M::ConsoleWorking), false);
    if (state.check) {
        drawProblems(console, state);
        const bool ready = state.check->ok() && !state.publishing;
        if (ui::button("forms.publish", console.t(M::ConsoleFormsPublish), 0, 0, ready)) {
            state.publishing = true;
            state.error.clear();
            console.api(
                [binary = state.check->binary](sync::AdminClient& c) { return c.publish(binary); },
                [&console, &state](Result<sync::admin::Published> published) {
                    state.publishing = false;
                    if (!published) {
                        state.error = format(console.t(M::ConsoleFormsPublishFailed),
                                             {published.error().message});
                        return;
                    }
                    const std::string version = std::to_string(published->version);
                    console.toast(
                        format(console.t(published->published ? M::ConsoleFormsPublished
                                                              : M::ConsoleFormsAlreadyPublished),
                               {published->formId, version}));
                    console.refreshAll();
                });
        }
        if (!state.check->ok()) ui::hint(console.t(M::ConsoleFormsFixFirst), false);
    }
    if (state.publishing) ui::hint(console.t(M::ConsoleWorking), false);
    if (!state.error.empty()) {
        ui::error(state.error, false);
        ui::recordLast("forms.error", state.error);
    }
}

}  // namespace veld::client::console
