#include "samples.hpp"

#include "../app.hpp"
#include "../text.hpp"
#include "../ui.hpp"

namespace veld::client {

std::vector<ScriptSample> scriptSamples() {
    // Real phrases with each language's special letters.
    return {
        {"nl",
         "Één vraag over uw kind: ‘geïnteresseerd’ of ‘tevreden’?",
         false,
         {},
         {},
         {},
         {},
         0,
         {}},
        {"tr", "Çocuğunuzun okulu hakkında: İş, ğüşıöç ĞÜŞİÖÇ", false, {}, {}, {}, {}, 0, {}},
        {"pl", "Zażółć gęślą jaźń: Łódź, Źródło, Śląsk", false, {}, {}, {}, {}, 0, {}},
        {"so", "Su'aalo ku saabsan dugsiga ilmahaaga", false, {}, {}, {}, {}, 0, {}},
        {"ar", "أسئلة حول مدرسة طفلك", true, {}, {}, {}, {}, 0, {}},
        {"ti", "ብዛዕባ ቤት ትምህርቲ ውላድኩም ሕቶታት", false, {}, {}, {}, {}, 0, {}},
    };
}

void drawScriptSamples(App& app, std::vector<ScriptSample>& samples) {
    ImGui::PushFont(app.fonts.large);
    for (auto& s : samples) {
        s.shown = text::visualLine(s.text, s.rtl);
        s.missing = static_cast<int>(app.fonts.missingGlyphs(s.text).size());
        ImGui::TextUnformatted(s.language.c_str());
        ImGui::SameLine(80);
        s.min = ImGui::GetCursorScreenPos();
        const float width = ui::textWidth(s.text, s.rtl);
        ui::drawText(ImGui::GetWindowDrawList(), s.min, ImGui::GetColorU32(ImGuiCol_Text), s.text,
                     s.rtl);
        ImGui::Dummy(ImVec2(width, ImGui::GetTextLineHeight()));
        s.max = ImGui::GetItemRectMax();
        ui::recordLast("sample." + s.language, s.text);
        // What the same length of text would look like if every glyph were missing: Dear ImGui
        // draws its fallback character for each.
        std::u32string boxes(text::decodeUtf8(s.shown).size(), U'\uE000');
        const std::string boxText = text::encodeUtf8(boxes);
        ImGui::SetCursorPosX(80);
        s.boxMin = ImGui::GetCursorScreenPos();
        ImGui::TextUnformatted(boxText.c_str());
        s.boxMax = ImGui::GetItemRectMax();
    }
    ImGui::PopFont();
}

}  // namespace veld::client
