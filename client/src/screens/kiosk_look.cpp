#include "kiosk_look.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

std::string_view themeName(KioskTheme theme) {
    switch (theme) {
        case KioskTheme::Normal:
            return "normal";
        case KioskTheme::LargeText:
            return "large";
        case KioskTheme::HighContrast:
            return "contrast";
    }
    return "normal";
}

KioskTheme themeFromName(std::string_view name) {
    for (KioskTheme t : kKioskThemes) {
        if (themeName(t) == name) return t;
    }
    return KioskTheme::Normal;
}

ThemeColours themeColours(KioskTheme theme) {
    ThemeColours c;
    if (theme == KioskTheme::HighContrast) {
        // White on black; what is chosen is dark blue with its mark, the focus is yellow.
        c.background = IM_COL32(0, 0, 0, 255);
        c.text = IM_COL32(255, 255, 255, 255);
        c.textDisabled = IM_COL32(210, 210, 210, 255);
        c.button = IM_COL32(40, 40, 40, 255);
        c.buttonHovered = IM_COL32(60, 60, 60, 255);
        c.buttonActive = IM_COL32(0, 50, 140, 255);
        c.frame = IM_COL32(45, 45, 45, 255);
        c.selected = IM_COL32(0, 50, 140, 255);
        c.border = IM_COL32(255, 255, 255, 255);
        c.focus = IM_COL32(255, 255, 0, 255);
        c.error = IM_COL32(255, 150, 150, 255);
        return c;
    }
    // Dear ImGui's light look, with darker grey text and solid buttons (its hint grey and
    // see-through blue buttons are too faint for a parent at arm's length).
    c.background = IM_COL32(240, 240, 240, 255);
    c.text = IM_COL32(0, 0, 0, 255);
    c.textDisabled = IM_COL32(85, 85, 85, 255);
    c.button = IM_COL32(185, 210, 245, 255);
    c.buttonHovered = IM_COL32(160, 195, 240, 255);
    c.buttonActive = IM_COL32(120, 170, 235, 255);
    c.frame = IM_COL32(255, 255, 255, 255);
    c.selected = IM_COL32(150, 190, 240, 255);
    c.border = IM_COL32(90, 90, 90, 255);
    c.focus = IM_COL32(0, 80, 190, 255);
    c.error = IM_COL32(170, 20, 20, 255);
    return c;
}

double contrastRatio(ImU32 a, ImU32 b) {
    const auto luminance = [](ImU32 colour) {
        const auto channel = [](unsigned v) {
            const double s = v / 255.0;
            return s <= 0.03928 ? s / 12.92 : std::pow((s + 0.055) / 1.055, 2.4);
        };
        return 0.2126 * channel(colour >> IM_COL32_R_SHIFT & 0xFF) +
               0.7152 * channel(colour >> IM_COL32_G_SHIFT & 0xFF) +
               0.0722 * channel(colour >> IM_COL32_B_SHIFT & 0xFF);
    };
    const double la = luminance(a);
    const double lb = luminance(b);
    return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

namespace {
int g_pushedColours = 0;
}

void pushTheme(App& app, KioskTheme theme) {
    ImFont* font = app.fonts.large;
    if (theme == KioskTheme::LargeText && app.fonts.larger) font = app.fonts.larger;
    ImGui::PushFont(font);
    const ThemeColours c = themeColours(theme);
    const std::pair<ImGuiCol, ImU32> colours[] = {
        {ImGuiCol_Text, c.text},
        {ImGuiCol_TextDisabled, c.textDisabled},
        {ImGuiCol_PopupBg, c.background},
        {ImGuiCol_ChildBg, IM_COL32(0, 0, 0, 0)},
        {ImGuiCol_Button, c.button},
        {ImGuiCol_ButtonHovered, c.buttonHovered},
        {ImGuiCol_ButtonActive, c.buttonActive},
        {ImGuiCol_FrameBg, c.frame},
        {ImGuiCol_FrameBgHovered, c.frame},
        {ImGuiCol_FrameBgActive, c.frame},
        {ImGuiCol_Header, c.selected},
        {ImGuiCol_HeaderHovered, c.frame},
        {ImGuiCol_HeaderActive, c.selected},
        {ImGuiCol_Border, c.border},
        {ImGuiCol_NavHighlight, c.focus},
        {ImGuiCol_CheckMark, c.text},
    };
    for (const auto& [id, colour] : colours)
        ImGui::PushStyleColor(id, colour);
    g_pushedColours = static_cast<int>(std::size(colours));
    ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(16, 12));
    ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(kTouchGapPx, kTouchGapPx));
    ImGui::PushStyleVar(ImGuiStyleVar_FrameBorderSize,
                        theme == KioskTheme::HighContrast ? 2.0f : 1.0f);
    // The whole screen in the theme's background (the window was begun before the theme).
    const ImVec2 pos = ImGui::GetWindowPos();
    const ImVec2 size = ImGui::GetWindowSize();
    ImGui::GetWindowDrawList()->AddRectFilled(pos, ImVec2(pos.x + size.x, pos.y + size.y),
                                              c.background);
}

void popTheme() {
    ImGui::PopStyleVar(3);
    ImGui::PopStyleColor(g_pushedColours);
    ImGui::PopFont();
}

float touchSize(const App& app) {
    const float scale = std::max(1.0f, app.fonts.largeSize / 30.0f);
    return std::max(kTouchPx * scale, std::round(ImGui::GetFontSize() * 2.1f));
}

void warningLine(std::string_view message, bool rtl, ImU32 colour, float width) {
    if (message.empty()) return;
    const float s = ImGui::GetTextLineHeight();
    const ImVec2 at = ImGui::GetCursorScreenPos();
    const float iconX = rtl ? at.x + width - s : at.x;
    ImDrawList* draw = ImGui::GetWindowDrawList();
    draw->AddTriangleFilled(ImVec2(iconX + s / 2, at.y), ImVec2(iconX + s, at.y + s),
                            ImVec2(iconX, at.y + s), colour);
    const ImU32 mark = ImGui::GetColorU32(ImGuiCol_WindowBg) | IM_COL32_A_MASK;
    draw->AddRectFilled(ImVec2(iconX + s / 2 - 2, at.y + s * 0.3f),
                        ImVec2(iconX + s / 2 + 2, at.y + s * 0.7f), mark);
    draw->AddRectFilled(ImVec2(iconX + s / 2 - 2, at.y + s * 0.78f),
                        ImVec2(iconX + s / 2 + 2, at.y + s * 0.9f), mark);
    const float textW = width - s - kTouchGapPx;
    ImGui::SetCursorScreenPos(ImVec2(rtl ? at.x : at.x + s + kTouchGapPx, at.y));
    ImGui::BeginChild(
        "##warning", ImVec2(textW, s * 2.2f), false,
        ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoBackground | ImGuiWindowFlags_NoInputs);
    ui::paragraph(message, rtl, colour);
    ImGui::EndChild();
}

std::vector<std::vector<std::string>> keypadRows(std::string_view language) {
    const auto split = [](std::string_view keys) {
        // Keys separated by spaces.
        std::vector<std::string> out;
        std::size_t pos = 0;
        while (pos < keys.size()) {
            std::size_t end = keys.find(' ', pos);
            if (end == std::string_view::npos) end = keys.size();
            if (end > pos) out.emplace_back(keys.substr(pos, end - pos));
            pos = end + 1;
        }
        return out;
    };
    if (language == "ar") {
        // The Arabic keyboard's letter rows.
        return {split("ض ص ث ق ف غ ع ه خ ح ج د"), split("ش س ي ب ل ا ت ن م ك ط أ إ"),
                split("ئ ء ؤ ر لا ى ة و ز ظ ذ آ")};
    }
    if (language == "ti" || language == "am") {
        // Base letters of the Ge'ez script as Tigrinya uses them.
        return {split("ሀ ለ ሐ መ ረ ሰ ሸ ቀ ቐ በ ቨ"), split("ተ ቸ ነ ኘ አ ከ ኸ ወ ዐ ዘ ዠ"),
                split("የ ደ ጀ ገ ጠ ጨ ጰ ጸ ፀ ፈ ፐ")};
    }
    std::vector<std::vector<std::string>> rows = {
        split("q w e r t y u i o p"), split("a s d f g h j k l"), split("z x c v b n m")};
    std::string_view extra;
    if (language == "tr") extra = "ç ğ ı ö ş ü";
    if (language == "pl") extra = "ą ć ę ł ń ó ś ź ż";
    if (language == "nl") extra = "é ë '";
    if (language == "so") extra = "'";
    for (auto& key : split(extra))
        rows[2].push_back(key);
    return rows;
}

namespace {

char32_t firstCodePoint(std::string_view s) {
    if (s.size() == 3 && (static_cast<unsigned char>(s[0]) & 0xF0) == 0xE0) {
        return static_cast<char32_t>((s[0] & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F));
    }
    return 0;
}

std::string utf8(char32_t c) {
    std::string out;
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
    return out;
}

}  // namespace

bool isGeezBase(std::string_view key) {
    const char32_t c = firstCodePoint(key);
    // Syllables U+1200..U+135A come in rows of eight; the first of a row is the base letter.
    return c >= 0x1200 && c <= 0x1357 && (c - 0x1200) % 8 == 0;
}

std::vector<std::string> geezForms(std::string_view base) {
    std::vector<std::string> out;
    if (!isGeezBase(base)) return out;
    const char32_t c = firstCodePoint(base);
    for (char32_t order = 0; order < 7; ++order)
        out.push_back(utf8(c + order));
    return out;
}

}  // namespace veld::client
