// Records: the device's records with filters and search; drafts open to continue, finalized
// records open read-only, drafts can be deleted after a confirmation.

#include <algorithm>

#include <imgui.h>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

void query(App& app, RecordsState& state, bool append) {
    ListQuery q;
    if (state.formFilter > 0 && state.formFilter <= static_cast<int>(app.forms.size())) {
        q.formId = app.forms[static_cast<std::size_t>(state.formFilter - 1)].id;
    }
    static constexpr std::optional<RecordStatus> kStatus[] = {
        std::nullopt, RecordStatus::Draft, RecordStatus::Finalized, RecordStatus::Sent,
        RecordStatus::Quarantined};
    if (state.statusFilter >= 0 && state.statusFilter < 5) {
        q.status = kStatus[state.statusFilter];
    }
    q.text = state.search;
    q.limit = 50;
    if (append) q.after = state.next;
    state.loading = true;
    state.dirty = false;
    app.withStore([q](Store& store) { return store.list(q); },
                  [&app, &state, append](Result<ListPage> page) {
                      state.loading = false;
                      if (!page) {
                          app.toast(page.error().describe(), true);
                          return;
                      }
                      if (!append) state.rows.clear();
                      for (auto& row : page.value().rows)
                          state.rows.push_back(std::move(row));
                      state.next = page.value().next;
                  });
}

}  // namespace

M shortStatus(RecordStatus s) {
    switch (s) {
        case RecordStatus::Draft:
            return M::StatusDraft;
        case RecordStatus::Finalized:
            return M::StatusWaitingShort;
        case RecordStatus::Sent:
            return M::StatusSent;
        default:
            return M::StatusDamaged;
    }
}

void drawRecords(App& app, RecordsState& state) {
    ui::heading(app.t(M::RecordsTitle), false);
    // Filters.
    std::vector<std::string> formNames{std::string(app.t(M::AllForms))};
    for (const auto& f : app.forms) {
        formNames.push_back(formTitle(f.compiled->form(), app.settings.uiLanguage));
    }
    // A combo as wide as its longest entry (a form title can be long), at most half the row.
    const auto comboWidth = [](float widest) {
        return std::min(widest + ImGui::GetStyle().FramePadding.x * 2 + ImGui::GetFrameHeight(),
                        ImGui::GetContentRegionAvail().x * 0.5f);
    };
    float widestForm = 0;
    for (const auto& name : formNames)
        widestForm = std::max(widestForm, ImGui::CalcTextSize(name.c_str()).x);
    ImGui::SetNextItemWidth(comboWidth(widestForm));
    if (ImGui::BeginCombo("##formfilter",
                          formNames[static_cast<std::size_t>(state.formFilter)].c_str())) {
        for (std::size_t i = 0; i < formNames.size(); ++i) {
            if (ImGui::Selectable(formNames[i].c_str(), static_cast<int>(i) == state.formFilter)) {
                state.formFilter = static_cast<int>(i);
                state.dirty = true;
            }
            ui::recordLast("records.form." + std::to_string(i), formNames[i]);
        }
        ImGui::EndCombo();
    }
    ui::recordLast("records.form", formNames[static_cast<std::size_t>(state.formFilter)]);
    ImGui::SameLine();
    const M statuses[] = {M::AllStatuses, M::StatusDraft, M::StatusFinalized, M::StatusSent,
                          M::StatusDamaged};
    float widestStatus = 0;
    for (M m : statuses)
        widestStatus = std::max(widestStatus, ImGui::CalcTextSize(app.t(m).data()).x);
    ImGui::SetNextItemWidth(comboWidth(widestStatus));
    if (ImGui::BeginCombo("##statusfilter", app.t(statuses[state.statusFilter]).data())) {
        for (int i = 0; i < 5; ++i) {
            if (ImGui::Selectable(app.t(statuses[i]).data(), i == state.statusFilter)) {
                state.statusFilter = i;
                state.dirty = true;
            }
            ui::recordLast("records.status." + std::to_string(i), app.t(statuses[i]));
        }
        ImGui::EndCombo();
    }
    ui::recordLast("records.status", app.t(statuses[state.statusFilter]));
    ImGui::SameLine();
    ImGui::SetNextItemWidth(-1);
    if (ui::input("records.search", state.search, app.t(M::SearchHint))) state.dirty = true;
    // A search may scan a large store: one query at a time, the newest filters win.
    if (state.dirty && !state.loading) query(app, state, false);

    ImGui::BeginChild("##rows");
    if (state.rows.empty() && !state.loading) ui::hint(app.t(M::RecordsNone), false);
    if (!state.rows.empty() &&
        ImGui::BeginTable("##records", 5,
                          ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp |
                              ImGuiTableFlags_BordersInnerH)) {
        const float unit = ImGui::GetFontSize();
        const std::string changed(app.t(M::RecordsColumnChanged));
        const float timeWidth = std::max(ImGui::CalcTextSize("2026-11-25 14:05").x,
                                         ImGui::CalcTextSize(changed.c_str()).x);
        float statusWidth = 0;
        for (M m : {M::RecordsColumnStatus, M::StatusDraft, M::StatusWaitingShort, M::StatusSent,
                    M::StatusDamaged})
            statusWidth = std::max(statusWidth, ImGui::CalcTextSize(app.t(m).data()).x);
        ImGui::TableSetupColumn(app.t(M::RecordsColumnSummary).data(),
                                ImGuiTableColumnFlags_WidthStretch, 1.0f);
        ImGui::TableSetupColumn(app.t(M::RecordsColumnForm).data(),
                                ImGuiTableColumnFlags_WidthStretch, 1.4f);
        ImGui::TableSetupColumn(app.t(M::RecordsColumnStatus).data(),
                                ImGuiTableColumnFlags_WidthFixed, statusWidth);
        ImGui::TableSetupColumn(changed.c_str(), ImGuiTableColumnFlags_WidthFixed, timeWidth);
        ImGui::TableSetupColumn(app.t(M::RecordsColumnActions).data(),
                                ImGuiTableColumnFlags_WidthFixed, unit * 15);
        // The header row, each header recorded for tests (TableHeadersRow's, one by one).
        ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
        static constexpr const char* kHeaderIds[] = {"summary", "form", "status", "changed",
                                                     "actions"};
        for (int column = 0; column < 5; ++column) {
            ImGui::TableSetColumnIndex(column);
            const char* name = ImGui::TableGetColumnName(column);
            ImGui::PushID(column);
            ImGui::TableHeader(name);
            ImGui::PopID();
            ui::recordLast(std::string("records.header.") + kHeaderIds[column], name);
        }
        for (const RecordSummary& row : state.rows) {
            const std::string idText = row.id.toString();
            ImGui::PushID(idText.c_str());
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            const std::string summary = row.summary.empty() ? "-" : row.summary;
            ImGui::TextUnformatted(ui::display(summary, false).c_str());
            ui::recordLast("records.row." + idText, summary);
            ImGui::TableNextColumn();
            const FormEntry* form = app.findForm(row.formId);
            const std::string title =
                form ? formTitle(form->compiled->form(), app.settings.uiLanguage) : row.formId;
            ImGui::TextUnformatted(title.c_str());
            ImGui::TableNextColumn();
            // A record central staff sent back says so here until it is corrected.
            const DeviceCorrection* back = correctionOf(app, row.id);
            const bool waiting = back && !back->sent && row.status != RecordStatus::Draft;
            const std::string_view status =
                app.t(waiting ? M::StatusSentBack : shortStatus(row.status));
            ImGui::TextUnformatted(status.data(), status.data() + status.size());
            ui::recordLast("records.status." + idText, status);
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(
                ui::localDateTime(static_cast<std::int64_t>(row.hlc.millis())).c_str());
            ImGui::TableNextColumn();
            if (row.status == RecordStatus::Draft) {
                if (ui::button("records.open." + idText, app.t(M::Continue)))
                    openRecord(app, row.id);
                ImGui::SameLine();
                // A correction draft replaces a sent record: the store keeps it (no delete).
                if (ui::button("records.delete." + idText, app.t(M::Delete), 0, 0, !back))
                    state.confirmDelete = row.id;
            } else if (row.status != RecordStatus::Quarantined) {
                if (ui::button("records.view." + idText, app.t(M::View))) openRecord(app, row.id);
            }
            ImGui::PopID();
        }
        ImGui::EndTable();
    }
    if (state.next && ui::button("records.more", app.t(M::LoadMore), 0, 0, !state.loading)) {
        query(app, state, true);
    }
    ImGui::EndChild();

    // The confirmation is asked for inside a row's ID scope; it opens at this level.
    if (ui::beginDialog("records.delete", app.t(M::ConfirmDeleteTitle),
                        state.confirmDelete.has_value())) {
        ui::paragraph(app.t(M::ConfirmDelete), false);
        if (ui::button("records.delete.confirm", app.t(M::Delete))) {
            const Uuid id = *state.confirmDelete;
            state.confirmDelete.reset();
            ImGui::CloseCurrentPopup();
            app.withStore([id](Store& store) { return store.deleteDraft(id); },
                          [&app, &state](Status s) {
                              if (!s) {
                                  app.toast(s.error().describe(), true);
                              } else {
                                  app.toast(std::string(app.t(M::Deleted)));
                              }
                              state.dirty = true;
                              app.refreshCounts();
                          });
        }
        ImGui::SameLine();
        if (ui::button("records.delete.cancel", app.t(M::Cancel))) {
            state.confirmDelete.reset();
            ImGui::CloseCurrentPopup();
        }
        ImGui::EndPopup();
    }
}

}  // namespace veld::client
