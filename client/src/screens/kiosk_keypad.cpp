// The kiosk's on-screen keypad: digits for number answers, the language's letters for text. Keys
// are touch targets; a tap types into the field the parent chose (FormView::keypadEdit).
#include <algorithm>

#include <imgui.h>

#include "../app.hpp"
#include "../ui.hpp"
#include "kiosk_look.hpp"

namespace veld::client {

namespace {

std::vector<std::vector<std::string>> numberRows(const FormView& view) {
    return {{"1", "2", "3"},
            {"4", "5", "6"},
            {"7", "8", "9"},
            {"-", "0", view.keypadDecimal() ? "," : ""}};
}

// The rows of letter keys now: the language's letters, or a Ge'ez letter's vowel forms.
std::vector<std::vector<std::string>> letterRows(const FormView& view, const std::string& pending) {
    if (!pending.empty()) return {geezForms(pending)};
    return keypadRows(view.language);
}

std::string punctuation(std::string_view language, bool comma) {
    if (language == "ar") return comma ? "\u060C" : ".";
    if (language == "ti" || language == "am") return comma ? "\u1363" : "\u1362";
    return comma ? "," : ".";
}

}  // namespace

// The line over the keys that shows what the field holds (the field itself may have scrolled
// out of sight above the keypad).
float displayHeight() {
    return ImGui::GetTextLineHeight() + 16;
}

float keypadHeight(const FormView& view, float key) {
    const float step = key + kTouchGapPx;
    const float display = displayHeight() + kTouchGapPx;
    if (view.keypadNumeric()) return display + step * 5;  // four rows of digits and the done row
    return display + step * 4;  // three rows of letters and the bottom row
}

void drawKeypad(App& app, FormView& view, std::string& pending, ImVec2 min, float width,
                float key) {
    const float gap = kTouchGapPx;
    const bool numeric = view.keypadNumeric();
    const auto rows = numeric ? numberRows(view) : letterRows(view, pending);
    std::size_t columns = 1;
    for (const auto& row : rows)
        columns = std::max(columns, row.size());
    const float keyW =
        numeric
            ? std::max(key, std::min(key * 2.4f, (width - gap * 2) / 3))
            : std::max(key, std::min(key * 1.6f, (width - gap * static_cast<float>(columns - 1)) /
                                                     static_cast<float>(columns)));
    float y = min.y;
    {
        const ImVec2 max(min.x + width, y + displayHeight());
        ImDrawList* draw = ImGui::GetWindowDrawList();
        draw->AddRectFilled(ImVec2(min.x, y), max, ImGui::GetColorU32(ImGuiCol_FrameBg));
        draw->AddRect(ImVec2(min.x, y), max, ImGui::GetColorU32(ImGuiCol_NavHighlight), 0, 0, 3);
        const std::string text = view.keypadText() + pending;
        const std::string& shown = ui::display(text, view.rtl);
        const float textW = ImGui::CalcTextSize(shown.c_str()).x;
        const float x = view.rtl ? max.x - 12 - textW : min.x + 12;
        draw->PushClipRect(ImVec2(min.x, y), max, true);
        draw->AddText(ImVec2(x, y + 8), ImGui::GetColorU32(ImGuiCol_Text), shown.c_str());
        draw->PopClipRect();
        ui::record("kiosk.keypad.text", text, ImVec2(min.x, y), max);
        y = max.y + kTouchGapPx;
    }
    const float keysTop = y;
    int index = 0;
    for (const auto& row : rows) {
        const float rowW = static_cast<float>(row.size()) * (keyW + gap) - gap;
        float x = min.x + (width - rowW) / 2;
        for (const auto& k : row) {
            ImGui::SetCursorScreenPos(ImVec2(x, y));
            ImGui::PushID(index++);
            if (!k.empty() && ui::button("kiosk.key." + k, k, keyW, key)) {
                if (!numeric && pending.empty() && isGeezBase(k)) {
                    pending = k;  // its vowel forms come next
                } else {
                    view.keypadEdit(app, k, false);
                    pending.clear();
                }
            }
            ImGui::PopID();
            x += keyW + gap;
        }
        y += key + gap;
    }
    // The bottom row: punctuation and space for text, delete and done; mirrored in a
    // right-to-left form.
    if (!numeric && !pending.empty()) y = keysTop + (key + gap) * 3;
    struct Key {
        std::string id;
        std::string label;
        std::string text;  // typed; empty for delete and done
        float width;
    };
    std::vector<Key> bottom;
    if (!numeric) {
        bottom.push_back({"kiosk.key.comma", punctuation(view.language, true),
                          punctuation(view.language, true), keyW});
        bottom.push_back({"kiosk.key.stop", punctuation(view.language, false),
                          punctuation(view.language, false), keyW});
        bottom.push_back({"kiosk.key.space", std::string(tr(M::KioskKeySpace, view.language)), " ",
                          std::max(key * 3, keyW * 3)});
    }
    const float wideKey = std::max(key * 3, numeric ? keyW * 1.5f : keyW * 2.5f);
    bottom.push_back(
        {"kiosk.key.delete", std::string(tr(M::KioskKeyDelete, view.language)), {}, wideKey});
    bottom.push_back(
        {"kiosk.key.done", std::string(tr(M::KioskKeyDone, view.language)), {}, wideKey});
    if (view.rtl) std::reverse(bottom.begin(), bottom.end());
    float rowW = -gap;
    for (const auto& k : bottom)
        rowW += k.width + gap;
    float x = min.x + (width - rowW) / 2;
    for (const auto& k : bottom) {
        ImGui::SetCursorScreenPos(ImVec2(x, y));
        if (ui::button(k.id, k.label, k.width, key)) {
            if (k.id == "kiosk.key.delete") {
                if (!pending.empty()) {
                    pending.clear();
                } else {
                    view.keypadEdit(app, {}, true);
                }
            } else if (k.id == "kiosk.key.done") {
                pending.clear();
                view.closeKeypad();
            } else {
                pending.clear();
                view.keypadEdit(app, k.text, false);
            }
        }
        x += k.width + gap;
    }
}

}  // namespace veld::client
