#include "fonts.hpp"

#include <filesystem>

#include <imgui.h>

#include <veld/platform/files.hpp>

#include "shaping.hpp"
#include "text.hpp"

namespace veld::client {

namespace {

// Glyph ranges live as long as the atlas (ImGui keeps the pointers until the atlas is built).
// The Arabic ranges serve text handed to Dear ImGui directly (ui::display: presentation forms in
// visual order, for combo previews); everything else in Arabic is shaped (shaping.hpp).
constexpr ImWchar kMainRanges[] = {
    0x0020, 0x024F,  // Basic Latin, Latin-1, Latin Extended-A and -B (Turkish, Polish, Somali)
    0x0259, 0x0259,  // schwa
    0x02C6, 0x02DD,  // spacing modifiers (diacritics written alone)
    0x0300, 0x036F,  // combining diacritics
    0x0600, 0x06FF,  // Arabic
    0x1E00, 0x1EFF,  // Latin Extended Additional
    0x2000, 0x206F,  // General Punctuation (dashes, quotes, ellipsis)
    0x20AC, 0x20AC,  // euro sign
    0x2190, 0x2193,  // arrows
    0x2713, 0x2717,  // check and cross marks
    0x25CF, 0x25CF,  // black circle (PIN dots)
    0xFB50, 0xFBFF,  // Arabic Presentation Forms-A (Persian and Urdu letters)
    0xFE70, 0xFEFF,  // Arabic Presentation Forms-B (joined letter forms from FriBidi)
    0,
};
constexpr ImWchar kEthiopicRanges[] = {
    0x1200, 0x139F,  // Ethiopic and Ethiopic Supplement
    0x2D80, 0x2DDF,  // Ethiopic Extended
    0,
};

std::string findFile(const std::string& dir, std::initializer_list<const char*> names) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path root = platform::fsPath(dir.empty() ? platform::fontFolder() : dir);
    for (const char* name : names) {
        for (auto it = fs::recursive_directory_iterator(root, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->path().filename() == name) return platform::utf8Path(it->path());
        }
    }
    return {};
}

// Abyssinica's letters are small for their size: drawn a fifth larger, Ge'ez text reads as large
// as the Latin next to it.
constexpr float kEthiopicScale = 1.2f;

ImFont* addFonts(ImFontAtlas& atlas, float size, const std::string& main,
                 const std::string& ethiopic, int oversample) {
    ImFontConfig config;
    config.OversampleH = oversample;
    config.OversampleV = 1;
    config.PixelSnapH = true;
    ImFont* font = atlas.AddFontFromFileTTF(main.c_str(), size, &config, kMainRanges);
    if (font && !ethiopic.empty()) {
        ImFontConfig merge = config;
        merge.MergeMode = true;
        atlas.AddFontFromFileTTF(ethiopic.c_str(), size * kEthiopicScale, &merge, kEthiopicRanges);
    }
    return font;
}

}  // namespace

FontSet FontSet::load(float scale, const std::string& fontDir) {
    if (scale < 0.5f) scale = 1;
    FontSet set;
    ImFontAtlas& atlas = *ImGui::GetIO().Fonts;
    atlas.Clear();
    const std::string main = findFile(fontDir, {"DejaVuSans.ttf", "NotoSans-Regular.ttf"});
    const std::string ethiopic =
        findFile(fontDir, {"AbyssinicaSIL-Regular.ttf", "NotoSansEthiopic-Regular.ttf"});
    // Arabic for the shaper: Noto Sans Arabic places marks (damma, shadda) with its GPOS anchors
    // on every letter; without it DejaVu Sans's Arabic is used.
    const std::string arabic =
        findFile(fontDir, {"NotoSansArabic-Regular.ttf", "NotoNaskhArabic-Regular.ttf"});
    set.normalSize = static_cast<float>(static_cast<int>(18 * scale + 0.5f));
    set.largeSize = static_cast<float>(static_cast<int>(30 * scale + 0.5f));
    set.largerSize = static_cast<float>(static_cast<int>(40 * scale + 0.5f));
    if (!main.empty()) {
        set.normal = addFonts(atlas, set.normalSize, main, ethiopic, 2);
        set.large = addFonts(atlas, set.largeSize, main, ethiopic, 1);
        set.larger = addFonts(atlas, set.largerSize, main, ethiopic, 1);
    }
    bool shaped = false;
    if (set.normal && set.large && set.larger) {
        set.files.push_back(main);
        if (!arabic.empty()) set.files.push_back(arabic);
        if (!ethiopic.empty()) set.files.push_back(ethiopic);
        shaping::FaceFiles faces{main, arabic, ethiopic, kEthiopicScale};
        shaped = shaping::prepare(atlas, faces, {set.normal, set.large, set.larger});
    } else {
        // No usable TTF: ImGui's built-in font, which covers ASCII only. Languages that need
        // more are then not offered (see missingGlyphs).
        atlas.Clear();
        ImFontConfig config;
        config.SizePixels = 13 * scale;
        set.normal = atlas.AddFontDefault(&config);
        config.SizePixels = 26 * scale;
        set.large = atlas.AddFontDefault(&config);
        config.SizePixels = 34 * scale;
        set.larger = atlas.AddFontDefault(&config);
        set.normalSize = 13 * scale;
        set.largeSize = 26 * scale;
        set.largerSize = 34 * scale;
    }
    if (!shaped) shaping::reset();
    atlas.Build();
    if (shaped) shaping::finish(atlas);
    return set;
}

std::vector<char32_t> FontSet::missingGlyphs(std::string_view logicalText) const {
    std::vector<char32_t> missing;
    if (!normal) return missing;
    if (shaping::available(normal) && shaping::needsShaping(logicalText, false))
        return shaping::missingGlyphs(logicalText, normal);
    for (char32_t c : text::decodeUtf8(logicalText)) {
        if (c == ' ' || c == '\n' || c == '\t' || c == 0x00A0) continue;
        if ((c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || c == 0xFEFF) continue;
        if (c > 0xFFFF || normal->FindGlyphNoFallback(static_cast<ImWchar>(c)) == nullptr) {
            missing.push_back(c);
        }
    }
    return missing;
}

}  // namespace veld::client
