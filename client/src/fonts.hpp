// Fonts from Debian's font packages, loaded into Dear ImGui's atlas with the glyph ranges the
// offered languages need: DejaVu Sans for Latin (Dutch, Turkish, Polish, Somali, ...) and Arabic
// presentation forms, merged with Abyssinica SIL for Ge'ez (Tigrinya, Amharic). The shaper
// (shaping.hpp) adds the glyphs of DejaVu Sans, Noto Sans Arabic and Abyssinica SIL that shaped
// text needs, at the same three sizes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

struct ImFont;

namespace veld::client {

struct FontSet {
    ImFont* normal = nullptr;  // screens for field workers
    ImFont* large = nullptr;   // kiosk: touch targets and reading at arm's length
    ImFont* larger = nullptr;  // kiosk's large-text theme
    float normalSize = 0;
    float largeSize = 0;
    float largerSize = 0;
    std::vector<std::string> files;  // the font files used (empty: ImGui's built-in ASCII font)

    /// Loads the fonts into the current ImGui context's atlas and builds it. `scale` is the
    /// display's content scale (1 on a 96-dpi screen). `fontDir` overrides where fonts are looked
    /// for (tests); empty means platform::fontFolder() (Debian's /usr/share/fonts on Linux).
    static FontSet load(float scale, const std::string& fontDir = {});

    /// Code points of `logicalText` that cannot be drawn: shaped text whose glyph is missing
    /// (HarfBuzz's glyph 0) or not in the atlas, and, for text Dear ImGui draws itself, code
    /// points the normal font lacks (drawn as '?'). Spaces and format characters are ignored.
    [[nodiscard]] std::vector<char32_t> missingGlyphs(std::string_view logicalText) const;
};

}  // namespace veld::client
