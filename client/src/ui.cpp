#include "ui.hpp"

#include <ctime>
#include <unordered_map>

#include <imgui_internal.h>
#include <imgui_stdlib.h>
#include <sodium.h>

#include "text.hpp"

namespace veld::client::ui {

namespace {

bool g_recording = false;
std::vector<Recorded> g_items;

struct WrapKey {
    std::string text;
    int width;
    bool rtl;
    bool operator==(const WrapKey&) const = default;
};
struct WrapKeyHash {
    std::size_t operator()(const WrapKey& k) const {
        return std::hash<std::string>()(k.text) ^ (static_cast<std::size_t>(k.width) << 1) ^
               (k.rtl ? 0x9e3779b9u : 0u);
    }
};

std::unordered_map<std::string, std::string>& displayCache(bool rtl) {
    static std::unordered_map<std::string, std::string> ltr, rtlCache;
    return rtl ? rtlCache : ltr;
}

std::unordered_map<WrapKey, std::vector<std::string>, WrapKeyHash>& wrapCache() {
    static std::unordered_map<WrapKey, std::vector<std::string>, WrapKeyHash> cache;
    return cache;
}

void add(std::string_view id, std::string_view text, ImVec2 min, ImVec2 max, bool enabled) {
    if (!g_recording) return;
    g_items.push_back(Recorded{std::string(id), std::string(text), min, max, enabled});
}

std::string widgetLabel(std::string_view id, std::string_view shown) {
    std::string label(shown);
    label += "###";
    label += id;
    return label;
}

}  // namespace

void setRecording(bool on) {
    g_recording = on;
    g_items.clear();
}

void beginFrame() {
    g_items.clear();
    // Caches are bounded: a form's labels are a few thousand strings at most.
    if (displayCache(false).size() > 20000) displayCache(false).clear();
    if (displayCache(true).size() > 20000) displayCache(true).clear();
    if (wrapCache().size() > 20000) wrapCache().clear();
}

const std::vector<Recorded>& recorded() {
    return g_items;
}

const Recorded* find(std::string_view id) {
    for (const auto& item : g_items) {
        if (item.id == id) return &item;
    }
    return nullptr;
}

const std::string& display(std::string_view logical, bool rtl) {
    auto& cache = displayCache(rtl);
    auto it = cache.find(std::string(logical));
    if (it != cache.end()) return it->second;
    return cache.emplace(std::string(logical), text::visualLine(logical, rtl)).first->second;
}

void paragraph(std::string_view logical, bool rtl, ImU32 color) {
    const float width = ImGui::GetContentRegionAvail().x;
    const bool needsBidi = rtl || text::hasRtl(logical);
    const ImVec2 start = ImGui::GetCursorScreenPos();
    if (color != 0) ImGui::PushStyleColor(ImGuiCol_Text, color);
    if (!needsBidi) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextUnformatted(logical.data(), logical.data() + logical.size());
        ImGui::PopTextWrapPos();
    } else {
        WrapKey key{std::string(logical), static_cast<int>(width), rtl};
        auto& cache = wrapCache();
        auto it = cache.find(key);
        if (it == cache.end()) {
            std::vector<std::string> lines =
                text::wrapLogical(logical, width, [rtl](std::string_view line) {
                    const std::string shown = text::visualLine(line, rtl);
                    return ImGui::CalcTextSize(shown.c_str()).x;
                });
            for (auto& line : lines)
                line = text::visualLine(line, rtl);
            it = cache.emplace(std::move(key), std::move(lines)).first;
        }
        for (const auto& line : it->second) {
            const float w = ImGui::CalcTextSize(line.c_str()).x;
            if (rtl) ImGui::SetCursorPosX(ImGui::GetCursorPosX() + std::max(0.0f, width - w));
            ImGui::TextUnformatted(line.c_str());
        }
    }
    if (color != 0) ImGui::PopStyleColor();
    add({}, logical, start, ImVec2(start.x + width, ImGui::GetCursorScreenPos().y), true);
}

void hint(std::string_view logical, bool rtl) {
    paragraph(logical, rtl, ImGui::GetColorU32(ImGuiCol_TextDisabled));
}

void error(std::string_view logical, bool rtl) {
    paragraph(logical, rtl, kErrorColor);
}

void heading(std::string_view logical, bool rtl) {
    ImGui::SetWindowFontScale(1.25f);
    paragraph(logical, rtl);
    ImGui::SetWindowFontScale(1.0f);
}

bool button(std::string_view id, std::string_view label, float width, float minHeight,
            bool enabled) {
    const std::string& shown = display(label, false);
    const ImVec2 textSize = ImGui::CalcTextSize(shown.c_str());
    const ImGuiStyle& style = ImGui::GetStyle();
    ImVec2 size(width, std::max(minHeight, textSize.y + style.FramePadding.y * 2));
    if (width < 0) size.x = ImGui::GetContentRegionAvail().x;
    ImGui::BeginDisabled(!enabled);
    const bool pressed = ImGui::Button(widgetLabel(id, shown).c_str(), size);
    ImGui::EndDisabled();
    add(id, label, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
    return pressed && enabled;
}

float choiceRowWidth(std::string_view label, bool rtl) {
    return ImGui::CalcTextSize(display(label, rtl).c_str()).x + ImGui::GetTextLineHeight() +
           ImGui::GetStyle().FramePadding.x * 3 + 1;
}

bool choiceRow(std::string_view id, std::string_view label, bool selected, bool multi, bool rtl,
               float minHeight, bool enabled, float rowWidth) {
    const float width = rowWidth > 0 ? rowWidth : ImGui::GetContentRegionAvail().x;
    const float lineH = ImGui::GetTextLineHeight();
    const float mark = lineH;
    const float pad = ImGui::GetStyle().FramePadding.x;
    const std::string& shown = display(label, rtl);
    const float textWidth = width - mark - pad * 3;
    // Wrapped height of the label (LTR wrapping is ImGui's; RTL labels are short choice texts).
    const ImVec2 textSize = ImGui::CalcTextSize(shown.c_str(), nullptr, false, textWidth);
    const float height = std::max(minHeight, textSize.y + ImGui::GetStyle().FramePadding.y * 2);
    ImGui::PushID(std::string(id).c_str());
    ImGui::BeginDisabled(!enabled);
    const ImVec2 min = ImGui::GetCursorScreenPos();
    const bool pressed = ImGui::InvisibleButton("##row", ImVec2(width, height));
    const bool hovered = ImGui::IsItemHovered();
    ImGui::EndDisabled();
    ImGui::PopID();
    const ImVec2 max(min.x + width, min.y + height);
    ImDrawList* draw = ImGui::GetWindowDrawList();
    const ImU32 bg = ImGui::GetColorU32(selected  ? ImGuiCol_HeaderActive
                                        : hovered ? ImGuiCol_HeaderHovered
                                                  : ImGuiCol_FrameBg);
    draw->AddRectFilled(min, max, bg, ImGui::GetStyle().FrameRounding);
    const float markX = rtl ? max.x - pad - mark : min.x + pad;
    const ImVec2 markMin(markX, min.y + (height - mark) / 2);
    const ImU32 fg = ImGui::GetColorU32(enabled ? ImGuiCol_Text : ImGuiCol_TextDisabled);
    if (multi) {
        draw->AddRect(markMin, ImVec2(markMin.x + mark, markMin.y + mark), fg, 2, 0, 2);
        if (selected) {
            draw->AddRectFilled(ImVec2(markMin.x + 4, markMin.y + 4),
                                ImVec2(markMin.x + mark - 4, markMin.y + mark - 4), fg, 2);
        }
    } else {
        const ImVec2 c(markMin.x + mark / 2, markMin.y + mark / 2);
        draw->AddCircle(c, mark / 2, fg, 20, 2);
        if (selected) draw->AddCircleFilled(c, mark / 2 - 4, fg, 20);
    }
    const float textX = rtl ? max.x - pad * 2 - mark - textSize.x : min.x + pad * 2 + mark;
    draw->AddText(nullptr, 0, ImVec2(textX, min.y + (height - textSize.y) / 2), fg, shown.c_str(),
                  nullptr, textWidth);
    add(id, label, min, max, enabled);
    return pressed && enabled;
}

bool input(std::string_view id, std::string& value, std::string_view hintText, bool multiline,
           bool enabled, int flags, int (*filter)(ImGuiInputTextCallbackData*)) {
    ImGui::PushID(std::string(id).c_str());
    ImGui::BeginDisabled(!enabled);
    ImGui::SetNextItemWidth(-1);
    bool changed = false;
    if (filter) flags |= ImGuiInputTextFlags_CallbackCharFilter;
    if (multiline) {
        changed =
            ImGui::InputTextMultiline("##in", &value, ImVec2(-1, ImGui::GetTextLineHeight() * 4),
                                      flags, filter ? filter : nullptr);
    } else if (!hintText.empty()) {
        changed = ImGui::InputTextWithHint("##in", std::string(hintText).c_str(), &value, flags,
                                           filter ? filter : nullptr);
    } else {
        changed = ImGui::InputText("##in", &value, flags, filter ? filter : nullptr);
    }
    ImGui::EndDisabled();
    ImGui::PopID();
    if (flags & ImGuiInputTextFlags_Password) {
        // Recorded as the screen shows it: one mark per byte.
        if (g_recording) {
            add(id, std::string(value.size(), '*'), ImGui::GetItemRectMin(),
                ImGui::GetItemRectMax(), enabled);
        }
    } else {
        add(id, value, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
    }
    return changed && enabled;
}

void wipeTextEdit() {
    ImGuiContext& g = *GImGui;
    ImGuiInputTextState& state = g.InputTextState;
    if (g.ActiveId != 0 && g.ActiveId == state.ID) ImGui::ClearActiveID();
    auto zero = [](auto& buffer) {
        if (buffer.Data)
            sodium_memzero(buffer.Data,
                           static_cast<std::size_t>(buffer.Capacity) * sizeof(*buffer.Data));
    };
    zero(state.TextW);
    zero(state.TextA);
    zero(state.InitialTextA);
    sodium_memzero(&state.Stb, sizeof state.Stb);  // its undo records hold typed characters
    state.ClearFreeMemory();
    state.ID = 0;  // the next field made active starts from a fresh state
}

bool checkbox(std::string_view id, std::string_view label, bool& value, bool enabled) {
    ImGui::BeginDisabled(!enabled);
    const bool changed = ImGui::Checkbox(widgetLabel(id, display(label, false)).c_str(), &value);
    ImGui::EndDisabled();
    add(id, label, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
    return changed && enabled;
}

std::string localDateTime(std::int64_t utcMs) {
    const auto t = static_cast<std::time_t>(utcMs / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

void toast(const std::string& message, bool isError) {
    const ImVec2 display = ImGui::GetIO().DisplaySize;
    ImGui::SetNextWindowPos(ImVec2(display.x / 2, display.y - 20), ImGuiCond_Always,
                            ImVec2(0.5f, 1.0f));
    ImGui::SetNextWindowBgAlpha(0.92f);
    ImGui::Begin("##toast", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_AlwaysAutoResize |
                     ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_NoNav |
                     ImGuiWindowFlags_NoInputs);
    ImGui::PushTextWrapPos(display.x * 0.6f);
    if (isError) ImGui::PushStyleColor(ImGuiCol_Text, kErrorColor);
    ImGui::TextUnformatted(message.c_str());
    if (isError) ImGui::PopStyleColor();
    ImGui::PopTextWrapPos();
    recordLast("toast", message);
    ImGui::End();
}

bool selectable(std::string_view id, std::string_view label, bool selected, bool enabled) {
    ImGui::BeginDisabled(!enabled);
    const bool pressed = ImGui::Selectable(widgetLabel(id, display(label, false)).c_str(), selected,
                                           ImGuiSelectableFlags_SpanAllColumns);
    ImGui::EndDisabled();
    add(id, label, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
    return pressed && enabled;
}

void recordLast(std::string_view id, std::string_view text, bool enabled) {
    add(id, text, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
}

void record(std::string_view id, std::string_view text, ImVec2 min, ImVec2 max) {
    add(id, text, min, max, true);
}

}  // namespace veld::client::ui
