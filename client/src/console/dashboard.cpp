// Dashboard: the collector's counts, and records per pilot per day over the last four weeks as a
// stacked bar chart drawn with Dear ImGui's draw list.
#include <algorithm>
#include <cstdint>
#include <map>

#include <imgui.h>

#include "../ui.hpp"
#include "console.hpp"

namespace veld::client::console {

namespace {

constexpr int kDays = 28;

constexpr ImU32 kPalette[] = {
    IM_COL32(31, 119, 180, 255),  IM_COL32(255, 127, 14, 255),  IM_COL32(44, 160, 44, 255),
    IM_COL32(214, 39, 40, 255),   IM_COL32(148, 103, 189, 255), IM_COL32(140, 86, 75, 255),
    IM_COL32(227, 119, 194, 255), IM_COL32(127, 127, 127, 255), IM_COL32(188, 189, 34, 255),
};

// The smallest of 1, 2, 5 x 10^k at or above `v`: the chart's top line.
std::int64_t niceCeiling(std::int64_t v) {
    std::int64_t step = 1;
    while (step <= INT64_MAX / 50) {
        for (std::int64_t m : {1, 2, 5}) {
            if (m * step >= v) return m * step;
        }
        step *= 10;
    }
    return v;
}

void stat(const char* id, std::string_view label, std::int64_t value, bool warn = false) {
    ImGui::BeginGroup();
    ImGui::TextDisabled("%s", std::string(label).c_str());
    if (warn && value > 0) ImGui::PushStyleColor(ImGuiCol_Text, ui::kErrorColor);
    ImGui::Text("%lld", static_cast<long long>(value));
    if (warn && value > 0) ImGui::PopStyleColor();
    ImGui::EndGroup();
    ui::recordLast(id, std::to_string(value));
    ImGui::SameLine(0, 32);
}

}  // namespace

void drawDashboard(Console& console, DashboardState& state) {
    ui::heading(console.t(M::ConsoleTabDashboard), false);
    if (!state.status) {
        ui::hint(console.t(M::ConsoleWorking), false);
        return;
    }
    const auto& s = state.status->stats;
    stat("dash.devices", console.t(M::ConsoleStatDevices), s.devices);
    stat("dash.records", console.t(M::ConsoleStatRecords), s.records);
    stat("dash.revisions", console.t(M::ConsoleStatRevisions), s.revisions);
    stat("dash.conflicts", console.t(M::ConsoleStatConflicts), s.conflicts, true);
    stat("dash.rejected", console.t(M::ConsoleStatRejected), s.rejected, true);
    stat("dash.clocks", console.t(M::ConsoleStatClocks), s.flaggedClocks, true);
    stat("dash.forms", console.t(M::ConsoleStatForms), s.forms);
    ImGui::NewLine();
    ImGui::Spacing();

    // Records per pilot per day, the last kDays days up to today (UTC).
    const auto today = static_cast<std::int32_t>(console.now() / 86'400'000);
    const std::int32_t first = today - kDays + 1;
    std::map<std::string, std::vector<std::int64_t>> perPilot;  // by pilot name
    std::map<std::string, std::int64_t> totals;
    for (const auto& d : state.status->perDay) {
        const std::string pilot = pilotName(d.pilot, console.language);
        totals[pilot] += d.records;
        if (d.day < first || d.day > today) continue;
        auto& days = perPilot[pilot];
        days.resize(kDays, 0);
        days[static_cast<std::size_t>(d.day - first)] += d.records;
    }
    std::vector<std::int64_t> dayTotals(kDays, 0);
    for (const auto& [pilot, days] : perPilot) {
        for (int i = 0; i < kDays; ++i)
            dayTotals[static_cast<std::size_t>(i)] += days[static_cast<std::size_t>(i)];
    }
    const std::int64_t top = niceCeiling(
        std::max<std::int64_t>(1, *std::max_element(dayTotals.begin(), dayTotals.end())));

    ui::paragraph(format(console.t(M::ConsoleChartTitle), {dayText(first), dayText(today)}), false);
    const float lineH = ImGui::GetTextLineHeight();
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const float width = ImGui::GetContentRegionAvail().x;
    const float axisW = ImGui::CalcTextSize("000000").x;
    const float height = std::max(160.0f, lineH * 14);
    const float plotH = height - lineH * 2;
    const float barSlot = (width - axisW) / kDays;
    ImDrawList* draw = ImGui::GetWindowDrawList();
    const ImVec2 plotMin(origin.x + axisW, origin.y + lineH * 0.5f);
    const ImVec2 plotMax(origin.x + width, plotMin.y + plotH);
    const ImU32 grid = ImGui::GetColorU32(ImGuiCol_Separator);
    const ImU32 textColor = ImGui::GetColorU32(ImGuiCol_Text);
    for (int g = 0; g <= 4; ++g) {
        const float y = plotMax.y - plotH * static_cast<float>(g) / 4;
        draw->AddLine(ImVec2(plotMin.x, y), ImVec2(plotMax.x, y), grid);
        const std::string label = std::to_string(top * g / 4);
        const float w = ImGui::CalcTextSize(label.c_str()).x;
        draw->AddText(ImVec2(plotMin.x - w - 4, y - lineH / 2), textColor, label.c_str());
    }
    std::string tooltip;
    for (int i = 0; i < kDays; ++i) {
        const float x0 = plotMin.x + barSlot * static_cast<float>(i) + barSlot * 0.15f;
        const float x1 = x0 + barSlot * 0.7f;
        float y = plotMax.y;
        std::size_t colour = 0;
        std::string dayTip;
        for (const auto& [pilot, days] : perPilot) {
            const std::int64_t n = days[static_cast<std::size_t>(i)];
            const ImU32 c = kPalette[colour++ % std::size(kPalette)];
            if (n == 0) continue;
            const float h = plotH * static_cast<float>(n) / static_cast<float>(top);
            draw->AddRectFilled(ImVec2(x0, y - h), ImVec2(x1, y), c);
            ui::record("dash.bar." + dayText(first + i) + "." + pilot, std::to_string(n),
                       ImVec2(x0, y - h), ImVec2(x1, y));
            dayTip += "\n" + pilot + ": " + std::to_string(n);
            y -= h;
        }
        if (ImGui::IsMouseHoveringRect(
                ImVec2(plotMin.x + barSlot * static_cast<float>(i), plotMin.y),
                ImVec2(plotMin.x + barSlot * static_cast<float>(i + 1), plotMax.y)) &&
            !dayTip.empty()) {
            tooltip = dayText(first + i) + dayTip;
        }
        if (i % 7 == 0 || i == kDays - 1) {
            const std::string label = dayText(first + i).substr(5);
            // The last day's label ends at the plot's edge instead of running past it.
            const float w = ImGui::CalcTextSize(label.c_str()).x;
            const float x = i == kDays - 1 ? plotMax.x - w : x0;
            draw->AddText(ImVec2(x, plotMax.y + 2), textColor, label.c_str());
        }
    }
    ImGui::Dummy(ImVec2(width, height));
    if (!tooltip.empty()) ImGui::SetTooltip("%s", tooltip.c_str());

    // Legend: every pilot with records, with its total over all time.
    std::size_t colour = 0;
    for (const auto& [pilot, days] : perPilot) {
        const ImU32 c = kPalette[colour++ % std::size(kPalette)];
        const ImVec2 p = ImGui::GetCursorScreenPos();
        ImGui::GetWindowDrawList()->AddRectFilled(p, ImVec2(p.x + lineH, p.y + lineH), c);
        ImGui::Dummy(ImVec2(lineH, lineH));
        ImGui::SameLine();
        const std::string line = plural(M::ConsoleLegend, totals[pilot], console.language,
                                        {pilot, std::to_string(totals[pilot])});
        ImGui::TextUnformatted(line.c_str());
        ui::recordLast("dash.legend." + pilot, line);
    }
    if (perPilot.empty()) ui::hint(console.t(M::ConsoleNoRecentRecords), false);
}

}  // namespace veld::client::console
