// The cases tab: conflicts between devices over a case's properties, settled by choosing one
// value, and the randomised studies: the balance of arms per stratum, and whether the
// allocations received check out against the regenerated sequence.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <imgui.h>

#include "../ui.hpp"
#include "console.hpp"

namespace veld::client::console {

namespace {

struct Loaded {
    Result<std::vector<sync::CaseConflictInfo>> conflicts;
    std::vector<CaseTabState::Study> studies;
    std::string error;  // the studies could not be listed
};

void load(Console& console, CaseTabState& state) {
    state.dirty = false;
    state.loading = true;
    console.api(
        [](sync::AdminClient& client) {
            Loaded out{client.caseConflicts(), {}, {}};
            auto studies = client.studies();
            if (!studies) {
                out.error = studies.error().message;
                return out;
            }
            // The check regenerates each study's sequence at the collector: a few hundred
            // allocations take milliseconds, so the tab asks each time it is opened.
            for (auto& summary : studies.value()) {
                CaseTabState::Study study{std::move(summary), std::nullopt, std::nullopt, {}};
                const std::string& id = study.summary.definition.study.id;
                if (auto balance = client.studyBalance(id)) {
                    study.balance = std::move(balance.value());
                } else {
                    study.error = balance.error().message;
                }
                if (auto verified = client.verifyStudy(id)) {
                    study.verification = std::move(verified.value());
                } else {
                    study.error = verified.error().message;
                }
                out.studies.push_back(std::move(study));
            }
            return out;
        },
        [&console, &state](Loaded loaded) {
            state.loading = false;
            if (!loaded.conflicts) {
                console.toast(loaded.conflicts.error().message, true);
            } else {
                state.conflicts = std::move(loaded.conflicts.value());
            }
            if (!loaded.error.empty()) console.toast(loaded.error, true);
            state.studies = std::move(loaded.studies);
        });
}

// An arm's target (the stratum's allocations times its share of the ratios) as staff read a
// count: whole when it is whole ("40"), else with one decimal written the language's way
// ("0,5" in Dutch).
std::string targetText(double target, std::string_view language) {
    const double whole = std::round(target);
    if (std::fabs(target - whole) < 0.05) return std::to_string(static_cast<long long>(whole));
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", target);
    std::string out = text;
    if (language == "nl") std::replace(out.begin(), out.end(), '.', ',');
    return out;
}

M problemName(sync::AllocationProblem::Kind kind) {
    using K = sync::AllocationProblem::Kind;
    switch (kind) {
        case K::UnknownStratum:
            return M::ConsoleProblemUnknownStratum;
        case K::NoSuchSlot:
            return M::ConsoleProblemNoSuchSlot;
        case K::ArmMismatch:
            return M::ConsoleProblemArmMismatch;
        case K::TokenMismatch:
            return M::ConsoleProblemTokenMismatch;
        case K::NotDealt:
            return M::ConsoleProblemNotDealt;
        case K::SlotReused:
            return M::ConsoleProblemSlotReused;
        case K::CaseTwice:
            return M::ConsoleProblemCaseTwice;
        case K::Skipped:
            return M::ConsoleProblemSkipped;
        case K::LogGap:
            return M::ConsoleProblemLogGap;
        case K::LogReused:
            return M::ConsoleProblemLogReused;
    }
    return M::ConsoleProblemArmMismatch;
}

std::string valueText(const Console& console, const std::string& value, const Uuid& device,
                      HlcTimestamp hlc) {
    return format(
        console.t(M::ConsoleValueBy),
        {value.empty() ? std::string(console.t(M::ConsoleValueEmpty)) : value,
         console.deviceName(device), ui::localDateTime(static_cast<std::int64_t>(hlc.millis()))});
}

void drawConflicts(Console& console, CaseTabState& state) {
    ui::heading(console.t(M::ConsoleCaseConflicts), false);
    if (state.conflicts.empty()) {
        ui::paragraph(console.t(state.loading ? M::ConsoleWorking : M::ConsoleNoCaseConflicts),
                      false);
        return;
    }
    ui::hint(console.t(M::ConsoleCaseConflictsHint), false);
    const ImGuiTableFlags flags =
        ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingStretchProp;
    if (!ImGui::BeginTable("case.conflicts", 6, flags)) return;
    for (M h : {M::ConsoleCaseColumn, M::ConsolePropertyColumn, M::ConsoleValueA, M::ConsoleValueB,
                M::ConsoleComment}) {
        ImGui::TableSetupColumn(std::string(console.t(h)).c_str());
    }
    ImGui::TableSetupColumn("##choose", ImGuiTableColumnFlags_WidthFixed);
    ImGui::TableHeadersRow();
    std::optional<std::pair<std::int64_t, sync::CaseChoice::Kind>> chosen;
    for (const auto& c : state.conflicts) {
        const std::string key = "case_conflict." + std::to_string(c.id);
        ImGui::PushID(key.c_str());
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        const std::string caseShort = c.caseId.toString().substr(0, 8);
        ImGui::TextUnformatted(caseShort.c_str());
        ui::recordLast(key + ".case", caseShort);
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(c.property.c_str());
        ui::recordLast(key + ".property", c.property);
        ImGui::TableNextColumn();
        const std::string a = valueText(console, c.valueA, c.deviceA, c.hlcA);
        ImGui::TextWrapped("%s", a.c_str());
        ui::recordLast(key + ".a", a);
        ImGui::TableNextColumn();
        const std::string b = valueText(console, c.valueB, c.deviceB, c.hlcB);
        ImGui::TextWrapped("%s", b.c_str());
        ui::recordLast(key + ".b", b);
        ImGui::TableNextColumn();
        ui::input(key + ".comment", state.comments[c.id]);
        ImGui::TableNextColumn();
        if (ui::button(key + ".choose_a", console.t(M::ConsoleChooseA), 0, 0, !state.loading)) {
            chosen.emplace(c.id, sync::CaseChoice::Kind::A);
        }
        ImGui::SameLine();
        if (ui::button(key + ".choose_b", console.t(M::ConsoleChooseB), 0, 0, !state.loading)) {
            chosen.emplace(c.id, sync::CaseChoice::Kind::B);
        }
        ImGui::PopID();
    }
    ImGui::EndTable();
    if (!chosen) return;
    sync::admin::CaseResolveRequest request;
    request.conflictId = chosen->first;
    request.choice.kind = chosen->second;
    request.comment = state.comments[chosen->first];
    state.loading = true;
    console.api([request](sync::AdminClient& c) { return c.resolveCaseConflict(request); },
                [&console, &state,
                 id = request.conflictId](Result<std::vector<sync::CaseConflictInfo>> open) {
                    state.loading = false;
                    if (!open) return console.toast(open.error().message, true);
                    state.conflicts = std::move(open.value());
                    state.comments.erase(id);
                    console.toast(std::string(console.t(M::ConsoleCaseConflictResolved)));
                });
}

void drawStudy(Console& console, const CaseTabState::Study& study, std::size_t index) {
    const sync::StudyDefinition& def = study.summary.definition;
    const alloc::Study& s = def.study;
    const std::string key = "study." + s.id;
    const std::int64_t allocated = study.balance ? study.balance->allocated : 0;
    ImGui::PushID(static_cast<int>(index));
    ImGui::Spacing();
    const std::string title = plural(M::ConsoleStudyTitle, allocated, console.language,
                                     {s.id, s.pilot, std::to_string(allocated)});
    ui::paragraph(title, false);
    ui::recordLast(key + ".title", title);
    std::string arms;
    for (const auto& arm : s.arms)
        arms += (arms.empty() ? "" : ", ") + arm.name + " (" + std::to_string(arm.ratio) + ")";
    ui::hint(format(console.t(M::ConsoleStudyArms), {arms}), false);
    if (!study.error.empty())
        ui::error(format(console.t(M::ConsoleVerifyFailed), {study.error}), false);

    if (study.balance) {
        const sync::StudyBalance& balance = *study.balance;
        const int columns = static_cast<int>(s.arms.size()) + 2;
        const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                      ImGuiTableFlags_SizingStretchProp;
        if (ImGui::BeginTable("balance", columns, flags)) {
            ImGui::TableSetupColumn(std::string(console.t(M::ConsoleStratum)).c_str());
            for (const auto& arm : s.arms)
                ImGui::TableSetupColumn(arm.name.c_str());
            ImGui::TableSetupColumn(std::string(console.t(M::ConsoleBlocks)).c_str());
            ImGui::TableHeadersRow();
            for (const sync::StratumBalance& st : balance.strata) {
                ImGui::TableNextRow();
                ImGui::TableNextColumn();
                std::string name =
                    st.stratum.empty() ? std::string(console.t(M::ConsoleStratumNone)) : st.stratum;
                if (!st.known) name = format(console.t(M::ConsoleStratumUnknown), {st.stratum});
                if (!st.known) ImGui::PushStyleColor(ImGuiCol_Text, ui::kErrorColor);
                ImGui::TextUnformatted(name.c_str());
                if (!st.known) ImGui::PopStyleColor();
                const std::string rowKey = key + ".stratum." + st.stratum;
                ui::recordLast(rowKey, name);
                for (const auto& arm : s.arms) {
                    ImGui::TableNextColumn();
                    std::string cell = "-";
                    for (const sync::ArmBalance& ab : st.arms) {
                        if (ab.arm != arm.name) continue;
                        cell = format(console.t(M::ConsoleArmCount),
                                      {std::to_string(ab.allocated),
                                       targetText(ab.target, console.language)});
                    }
                    ImGui::TextUnformatted(cell.c_str());
                    ui::recordLast(rowKey + "." + arm.name, cell);
                }
                ImGui::TableNextColumn();
                const std::string blocks = std::to_string(st.dealtBlocks) + " / " +
                                           std::to_string(st.completeBlocks) + " / " +
                                           std::to_string(st.openBlocks);
                ImGui::TextUnformatted(blocks.c_str());
            }
            ImGui::EndTable();
        }
        for (const sync::DeviceBalance& d : balance.devices) {
            ui::hint(format(console.t(M::ConsoleStudyDevice),
                            {d.label.empty() ? console.deviceName(d.deviceId) : d.label,
                             plural(M::ConsoleBlockCount, d.dealtBlocks, console.language),
                             plural(M::ConsoleSlotCount, d.dealtSlots, console.language),
                             std::to_string(d.allocated)}),
                     false);
        }
    }

    if (study.verification) {
        const sync::StudyVerification& v = *study.verification;
        if (v.ok()) {
            const std::string ok =
                format(console.t(M::ConsoleVerifyOk),
                       {plural(M::ConsoleAllocationCount, v.allocations, console.language),
                        plural(M::ConsoleDeviceCount, v.devices, console.language)});
            ui::paragraph(ok, false, ui::kOkColor);
            ui::recordLast(key + ".verify", ok);
        } else {
            const std::string bad =
                format(console.t(M::ConsoleVerifyProblems),
                       {plural(M::ConsoleProblemCount, static_cast<std::int64_t>(v.problems.size()),
                               console.language),
                        plural(M::ConsoleAllocationCount, v.problemAllocations, console.language)});
            ui::error(bad, false);
            ui::recordLast(key + ".verify", bad);
            int n = 0;
            for (const sync::AllocationProblem& p : v.problems) {
                const std::string line =
                    std::string(console.t(problemName(p.kind))) + ": " + p.detail;
                ImGui::BulletText("%s", line.c_str());
                ui::recordLast(key + ".problem." + std::to_string(n++), line);
            }
        }
    }
    ImGui::Separator();
    ImGui::PopID();
}

}  // namespace

void drawCaseTab(Console& console, CaseTabState& state) {
    if (state.dirty && !state.loading) load(console, state);
    ImGui::BeginChild("##cases");
    drawConflicts(console, state);
    ImGui::Spacing();
    ImGui::Separator();
    ui::heading(console.t(M::ConsoleStudies), false);
    if (state.studies.empty()) {
        ui::paragraph(console.t(state.loading ? M::ConsoleWorking : M::ConsoleNoStudies), false);
    }
    for (std::size_t i = 0; i < state.studies.size(); ++i)
        drawStudy(console, state.studies[i], i);
    ImGui::EndChild();
}

}  // namespace veld::client::console
