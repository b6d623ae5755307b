// Cases: the participants (and vacancies, schools, employers) this device follows. A search over
// their properties, or by a typed BSN's pseudonym; per case its details, its records on this
// device, and the follow-up and closing forms to start for it. Also the warning shown when
// allocation slots run low, which the home screen shares.
#include <algorithm>

#include <imgui.h>

#include <veld/hex.hpp>
#include <veld/pseudonym.hpp>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

M caseTypeName(std::string_view type) {
    if (type == "vacancy") return M::CaseTypeVacancy;
    if (type == "school") return M::CaseTypeSchool;
    if (type == "employer") return M::CaseTypeEmployer;
    return M::CaseTypeParticipant;
}

std::string caseTypeText(const App& app, std::string_view type) {
    static constexpr std::string_view kKnown[] = {"", "participant", "vacancy", "school",
                                                  "employer"};
    if (std::find(std::begin(kKnown), std::end(kKnown), type) == std::end(kKnown)) {
        return std::string(type);  // a type the client has no word for is shown as named
    }
    return std::string(app.t(caseTypeName(type)));
}

// The pseudonym a typed BSN would have ("KEYID:HEX", as a form's pseudonym question makes it),
// when `text` is a valid BSN and the device has a pseudonym key. The BSN itself goes nowhere.
std::optional<std::string> bsnPseudonym(const App& app, std::string_view text) {
    bool digits = false;
    for (char c : text) {
        if (c >= '0' && c <= '9') {
            digits = true;
        } else if (c != ' ' && c != '.' && c != '-') {
            return std::nullopt;
        }
    }
    if (!digits) return std::nullopt;
    auto normalized = pseudonym::normalize(fb::IdentifierScheme::Bsn, text);
    if (!normalized) return std::nullopt;
    auto key = pseudonym::parseKey(app.settings.pseudonymKey);
    if (!key) return std::nullopt;
    const PseudonymAnswer answer =
        pseudonym::make(key.value(), fb::IdentifierScheme::Bsn, normalized.value());
    std::fill(normalized.value().begin(), normalized.value().end(), '\0');
    return answer.keyId + ":" + toHex(answer.digest);
}

void query(App& app, CasesState& state) {
    CaseQuery byText;
    byText.text = state.search;
    byText.includeClosed = state.showClosed;
    std::optional<CaseQuery> byPseudonym;
    if (auto p = bsnPseudonym(app, state.search)) {
        byPseudonym.emplace();
        byPseudonym->pseudonym = std::move(*p);
        byPseudonym->includeClosed = state.showClosed;
    }
    state.bsnSearch = byPseudonym.has_value();
    state.loading = true;
    state.dirty = false;
    app.withStore(
        [byText, byPseudonym](Store& store) -> Result<std::vector<CaseInfo>> {
            // The person the BSN names first, then whatever the text matches.
            std::vector<CaseInfo> out;
            if (byPseudonym) {
                auto found = store.cases(*byPseudonym);
                if (!found) return found.error();
                out = std::move(found.value());
            }
            auto found = store.cases(byText);
            if (!found) return found.error();
            for (auto& c : found.value()) {
                const bool listed = std::any_of(out.begin(), out.end(),
                                                [&](const CaseInfo& o) { return o.id == c.id; });
                if (!listed) out.push_back(std::move(c));
            }
            return out;
        },
        [&app, &state](Result<std::vector<CaseInfo>> rows) {
            state.loading = false;
            if (!rows) {
                app.toast(rows.error().describe(), true);
                return;
            }
            state.rows = std::move(rows.value());
        });
}

struct CaseDetail {
    Result<CaseInfo> info;
    std::vector<RecordSummary> records;
    std::vector<DeviceCorrection> corrections;
};

void loadDetail(App& app, CasesState& state) {
    const Uuid id = *state.selected;
    state.detailLoading = true;
    state.detailDirty = false;
    app.withStore(
        [id](Store& store) {
            CaseDetail detail{store.caseInfo(id), {}, {}};
            ListQuery q;
            q.caseId = id;
            q.limit = 200;
            if (auto page = store.list(q)) detail.records = std::move(page.value().rows);
            if (auto back = store.corrections(id)) detail.corrections = std::move(back.value());
            return detail;
        },
        [&app, &state, id](CaseDetail detail) {
            state.detailLoading = false;       // also when stale: the case chosen since loads next
            if (state.selected != id) return;  // another case was chosen meanwhile
            if (!detail.info) {
                state.detail.reset();
                state.records.clear();
                state.detailGone = detail.info.error().code == ErrorCode::NotFound;
                if (!state.detailGone) app.toast(detail.info.error().describe(), true);
                return;
            }
            state.detailGone = false;
            state.detail = std::move(detail.info.value());
            state.records = std::move(detail.records);
            state.corrections = std::move(detail.corrections);
        });
}

// Whether `form` is one to start for `info`: it follows up or closes cases of this type (a
// closed case is not closed again).
bool formFitsCase(const fb::Form& form, const CaseInfo& info) {
    const CaseAction action = formCaseAction(form);
    if (action != CaseAction::FollowUp && action != CaseAction::Close) return false;
    if (action == CaseAction::Close && info.closed) return false;
    const std::string type = info.caseType.empty() ? "participant" : info.caseType;
    return formCaseType(form) == type;
}

void drawDetail(App& app, CasesState& state) {
    if (state.detailGone) {
        ui::hint(app.t(M::CaseGone), false);
        return;
    }
    if (!state.detail) {
        if (state.detailLoading) ui::hint(app.t(M::Opening), false);
        return;
    }
    const CaseInfo& info = *state.detail;
    const std::string idText = info.id.toString();
    ui::heading(caseLabel(info), false);
    ui::recordLast("case.title", caseLabel(info));
    ui::hint(caseTypeText(app, info.caseType) + "  " + idText, false);
    if (info.closed) ui::hint(app.t(M::CaseIsClosed), false);
    // A record of this case that central staff sent back (from any device of the case's team).
    drawCorrections(app, state.corrections, "case.corrections");

    ImGui::Spacing();
    ui::paragraph(app.t(M::CaseForms), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    bool anyForm = false;
    for (const FormEntry& form : app.forms) {
        const fb::Form& f = form.compiled->form();
        if (!formFitsCase(f, info)) continue;
        if (anyForm) ImGui::SameLine();
        anyForm = true;
        if (ui::button("case.start." + form.id, formTitle(f, app.settings.uiLanguage))) {
            startCaseRecord(app, form, info);
            return;
        }
    }
    if (!anyForm) ui::hint(app.t(M::CaseNoForms), false);

    ImGui::Spacing();
    ui::paragraph(app.t(M::CaseProperties), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    if (info.properties.empty()) ui::hint(app.t(M::CaseNoProperties), false);
    if (!info.properties.empty() &&
        ImGui::BeginTable("##properties", 2,
                          ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp)) {
        ImGui::TableSetupColumn("##name", ImGuiTableColumnFlags_WidthStretch, 1.0f);
        ImGui::TableSetupColumn("##value", ImGuiTableColumnFlags_WidthStretch, 2.0f);
        for (const CaseProperty& p : info.properties) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(p.name.c_str());
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(ui::display(p.value, false).c_str());
            ui::recordLast("case.prop." + p.name, p.value);
        }
        ImGui::EndTable();
    }

    ImGui::Spacing();
    ui::paragraph(app.t(M::CaseRecords), false, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    if (state.records.empty()) ui::hint(app.t(M::CaseNoRecords), false);
    if (!state.records.empty() &&
        ImGui::BeginTable("##caserecords", 4,
                          ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp)) {
        const float unit = ImGui::GetFontSize();
        ImGui::TableSetupColumn("##form", ImGuiTableColumnFlags_WidthStretch, 1.0f);
        ImGui::TableSetupColumn("##status", ImGuiTableColumnFlags_WidthFixed, unit * 6);
        ImGui::TableSetupColumn("##time", ImGuiTableColumnFlags_WidthFixed, unit * 9);
        ImGui::TableSetupColumn("##open", ImGuiTableColumnFlags_WidthFixed, unit * 8);
        for (const RecordSummary& row : state.records) {
            const std::string rowId = row.id.toString();
            ImGui::PushID(rowId.c_str());
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            const FormEntry* form = app.findForm(row.formId);
            const std::string title =
                form ? formTitle(form->compiled->form(), app.settings.uiLanguage) : row.formId;
            ImGui::TextUnformatted(title.c_str());
            ui::recordLast("case.record." + rowId, title);
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(app.t(shortStatus(row.status)).data());
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(
                ui::localDateTime(static_cast<std::int64_t>(row.hlc.millis())).c_str());
            ImGui::TableNextColumn();
            if (row.status == RecordStatus::Draft) {
                if (ui::button("case.open." + rowId, app.t(M::Continue))) {
                    openRecord(app, row.id, true);
                }
            } else if (row.status != RecordStatus::Quarantined) {
                if (ui::button("case.view." + rowId, app.t(M::View))) openRecord(app, row.id, true);
            }
            ImGui::PopID();
        }
        ImGui::EndTable();
    }
}

}  // namespace

CaseAction formCaseAction(const fb::Form& form) {
    const auto* settings = form.settings();
    if (!settings || !settings->case_settings()) return CaseAction::None;
    return static_cast<CaseAction>(settings->case_settings()->action());
}

std::string formCaseType(const fb::Form& form) {
    const auto* settings = form.settings();
    if (settings && settings->case_settings() && settings->case_settings()->case_type() &&
        settings->case_settings()->case_type()->size() > 0) {
        return settings->case_settings()->case_type()->str();
    }
    return "participant";
}

std::string caseLabel(const CaseInfo& info) {
    std::string label = info.property(kCaseLabelProperty);
    if (!label.empty()) return label;
    return info.id.toString().substr(0, 8);
}

std::string stratumText(std::string_view stratum) {
    // "municipality=rotterdam;gender=f" -> "municipality rotterdam, gender f"
    std::string out;
    for (char c : stratum) {
        if (c == ';') {
            out += ", ";
        } else if (c == '=') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

void drawStockBanner(App& app) {
    int n = 0;
    for (const AllocationStock& s : app.stock) {
        if (!s.low && s.remaining > 0) continue;
        const M m = s.remaining == 0 ? M::StockEmpty : M::StockLow;
        const std::string text = format(app.t(m), {s.study, stratumText(s.stratum)});
        ui::error(text, false);
        ui::recordLast("stock.low." + std::to_string(n++), text);
    }
    if (n > 0) ImGui::Separator();
}

bool searchMayHoldBsn(std::string_view text) {
    // Eight digits or more, with at most the separators people type in a BSN: whether or not it
    // passes the eleven-test or found anyone, it may be someone's number.
    int digits = 0;
    for (char c : text) {
        if (c >= '0' && c <= '9') {
            ++digits;
        } else if (c != ' ' && c != '.' && c != '-') {
            return false;
        }
    }
    return digits >= 8;
}

void openCase(App& app, const Uuid& caseId) {
    CasesState& state = app.cases;
    state.selected = caseId;
    state.detail.reset();
    state.records.clear();
    state.corrections.clear();
    state.detailGone = false;
    state.detailDirty = true;
    state.dirty = true;
}

void drawCases(App& app, CasesState& state) {
    ui::heading(app.t(M::CasesTitle), false);
    drawStockBanner(app);
    if (ui::input("cases.search", state.search, app.t(M::CasesSearchHint))) state.dirty = true;
    if (ui::checkbox("cases.closed", app.t(M::CasesShowClosed), state.showClosed)) {
        state.dirty = true;
    }
    // Forms that open a case start here too; the new case is shown once finalized.
    for (const FormEntry& form : app.forms) {
        if (formCaseAction(form.compiled->form()) != CaseAction::Open) continue;
        ImGui::SameLine();
        if (ui::button("cases.new." + form.id,
                       format(app.t(M::CasesNewCase),
                              {formTitle(form.compiled->form(), app.settings.uiLanguage)}))) {
            startNewRecord(app, form);
            return;
        }
    }
    if (state.bsnSearch) ui::hint(app.t(M::CasesBsnSearched), false);
    // A search may scan many cases: one query at a time, the newest text wins.
    if (state.dirty && !state.loading) query(app, state);
    if (state.detailDirty && state.selected && !state.detailLoading) loadDetail(app, state);

    const std::string today = ui::localDateTime(app.now()).substr(0, 10);
    // The list is as tall as its rows (with room for the header), up to 45% of the screen.
    const float rowHeight = ImGui::GetTextLineHeight() + ImGui::GetStyle().CellPadding.y * 2;
    const float rows = static_cast<float>(std::max<std::size_t>(state.rows.size(), 2) + 1);
    const float wanted = rowHeight * rows + ImGui::GetStyle().WindowPadding.y * 2;
    const float listHeight =
        std::min(wanted, std::max(ImGui::GetContentRegionAvail().y * 0.45f, rowHeight * 6));
    ImGui::BeginChild("##caselist", ImVec2(0, listHeight), true);
    if (state.rows.empty() && !state.loading) ui::hint(app.t(M::CasesNone), false);
    if (!state.rows.empty() &&
        ImGui::BeginTable(
            "##cases", 5,
            ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp | ImGuiTableFlags_ScrollY)) {
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn(app.t(M::CaseColumnName).data(), ImGuiTableColumnFlags_WidthStretch,
                                1.6f);
        ImGui::TableSetupColumn(app.t(M::CaseColumnType).data(), ImGuiTableColumnFlags_WidthStretch,
                                0.8f);
        ImGui::TableSetupColumn(app.t(M::CaseColumnLastContact).data(),
                                ImGuiTableColumnFlags_WidthStretch, 0.9f);
        ImGui::TableSetupColumn(app.t(M::CaseColumnNextContact).data(),
                                ImGuiTableColumnFlags_WidthStretch, 1.0f);
        ImGui::TableSetupColumn(app.t(M::CaseColumnArm).data(), ImGuiTableColumnFlags_WidthStretch,
                                0.8f);
        ImGui::TableHeadersRow();
        for (const CaseInfo& c : state.rows) {
            const std::string idText = c.id.toString();
            ImGui::PushID(idText.c_str());
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            std::string label = caseLabel(c);
            if (c.closed) label += " (" + std::string(app.t(M::CaseClosed)) + ")";
            if (ui::selectable("cases.row." + idText, label, state.selected == c.id)) {
                openCase(app, c.id);
                state.dirty = false;  // the list stays; only the details are read
            }
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(caseTypeText(app, c.caseType).c_str());
            ImGui::TableNextColumn();
            const std::string last =
                c.lastContactUtcMs ? ui::localDateTime(*c.lastContactUtcMs).substr(0, 10) : "-";
            ImGui::TextUnformatted(last.c_str());
            ImGui::TableNextColumn();
            // An ISO date compares as text; a planned contact before today is overdue.
            const std::string next = c.property(kCaseNextContactProperty);
            if (!next.empty() && c.nextContactDays() && next < today && !c.closed) {
                const std::string overdue = format(app.t(M::CaseOverdue), {next});
                ImGui::PushStyleColor(ImGuiCol_Text, ui::kErrorColor);
                ImGui::TextUnformatted(overdue.c_str());
                ImGui::PopStyleColor();
                ui::recordLast("cases.next." + idText, overdue);
            } else {
                ImGui::TextUnformatted(next.c_str());
                ui::recordLast("cases.next." + idText, next);
            }
            ImGui::TableNextColumn();
            const std::string arm = c.property(kCaseArmProperty);
            ImGui::TextUnformatted(ui::display(arm, false).c_str());
            ui::recordLast("cases.arm." + idText, arm);
            ImGui::PopID();
        }
        ImGui::EndTable();
    }
    ImGui::EndChild();

    ImGui::BeginChild("##casedetail");
    if (!state.selected) {
        ui::hint(app.t(M::CaseChoose), false);
    } else {
        drawDetail(app, state);
    }
    ImGui::EndChild();
}

}  // namespace veld::client
