// Fonts from Debian's font packages, loaded into Dear ImGui's atlas with the glyph ranges the
// offered languages need: DejaVu Sans for Latin (Dutch, Turkish, Polish, Somali, ...) and Arabic
// presentation forms, merged with Abyssinica SIL for Ge'ez (Tigrinya, Amharic).
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
    /// for (tests); empty means Debian's /usr/share/fonts.
    static FontSet load(float scale, const std::string& fontDir = {});

    /// Code points of `displayText` (already shaped, in visual order) that the normal font has
    /// no glyph for; ImGui would draw them as '?'. Spaces and format characters are ignored.
    [[nodiscard]] std::vector<char32_t> missingGlyphs(std::string_view displayText) const;
};

}  // namespace veld::client
