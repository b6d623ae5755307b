// A screen of sample text in every script the pilots' languages use, drawn next to what a
// missing glyph looks like. The screenshot test uses it to prove that each script renders.
#pragma once

#include <string>
#include <vector>

#include <imgui.h>

namespace veld::client {

class App;

struct ScriptSample {
    std::string language;  // BCP 47 tag
    std::string text;      // logical order
    bool rtl = false;
    ImVec2 min, max;        // where the sample was drawn (screen pixels)
    ImVec2 boxMin, boxMax;  // the same number of missing glyphs, drawn for comparison
    int missing = 0;        // code points the font has no glyph for
    std::string shown;      // what was drawn (shaped, visual order)
};

std::vector<ScriptSample> scriptSamples();
void drawScriptSamples(App& app, std::vector<ScriptSample>& samples);

}  // namespace veld::client
