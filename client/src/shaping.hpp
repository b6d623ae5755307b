// Shaped text for Dear ImGui: HarfBuzz shapes runs of text (Arabic joining, ligatures such as
// lam-alef, marks placed by the font's GPOS, Ethiopic), FriBidi orders the runs of each line
// (text.hpp), and the glyphs are drawn as quads from Dear ImGui's own font atlas, so shaped text
// costs no extra texture or draw call.
//
// When the fonts load, every glyph a shaper can produce for the scripts' code points (the glyph
// closure of the font's substitutions) is rasterized by glyph index with FreeType into the atlas
// as a custom rectangle, at each of the FontSet's sizes; Latin glyphs Dear ImGui has already
// rasterized are reused. Glyph positions follow HarfBuzz (1/64 px); the em size of each face
// matches the pixel scale Dear ImGui uses for the same font size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <imgui.h>

namespace veld::client::shaping {

/// The font files the shaper uses; empty entries fall back to `latin`.
struct FaceFiles {
    std::string latin;  // also the file Dear ImGui's own glyphs come from
    std::string arabic;
    std::string ethiopic;
    float ethiopicScale = 1;  // drawn this much larger than the Latin font's pixel scale
};

/// Loads the faces and registers the glyphs of each ImGui font (its size) as custom rectangles.
/// Call after the fonts were added to `atlas` and before atlas.Build(); then call finish().
/// False (and no shaping: plain Dear ImGui text) when a face cannot be opened.
bool prepare(ImFontAtlas& atlas, const FaceFiles& files, const std::vector<ImFont*>& fonts);
/// Copies the rasterized glyphs into the built atlas (before the renderer uploads it).
void finish(ImFontAtlas& atlas);
/// No shaping (Dear ImGui's built-in font).
void reset();

/// Whether `font` (an ImGui font at its own size) can draw shaped text.
[[nodiscard]] bool available(const ImFont* font);

/// Whether a string needs the shaper: right-to-left text, a script other than Latin, or
/// combining marks. Plain Latin can take Dear ImGui's own path.
[[nodiscard]] bool needsShaping(std::string_view utf8, bool rtl);

/// One glyph as HarfBuzz placed it (1/64 px at the font's own size).
struct GlyphPosition {
    std::uint32_t id = 0;
    std::uint32_t cluster = 0;  // code point index in the line (logical)
    std::int32_t ax = 0;
    std::int32_t ay = 0;
    std::int32_t dx = 0;
    std::int32_t dy = 0;
};

/// A run shaped with one face and one direction.
struct Run {
    int face = 0;  // 0 Latin, 1 Arabic, 2 Ethiopic
    bool rtl = false;
    std::uint32_t script = 0;  // HarfBuzz script tag
    std::size_t start = 0;     // code points [start, end) of the line, logical
    std::size_t end = 0;
    std::vector<GlyphPosition> glyphs;  // in visual order
    float x = 0;                        // left edge in the line (px at the font's size)
    float width = 0;
};

/// A line of text laid out for one font: runs in visual order, left to right.
struct Line {
    std::u32string text;  // logical
    bool rtl = false;     // paragraph direction
    std::vector<Run> runs;
    float width = 0;
    bool missing = false;  // some glyph is missing (id 0) or not in the atlas
};

/// The laid-out line (cached per string, direction and font; bounded). Null when `font` has no
/// shaper.
const Line* layout(std::string_view logical, bool rtl, const ImFont* font);

/// What one glyph drawn looks like to a test: HarfBuzz's output and where its origin was put on
/// screen (pen position plus offset, in screen pixels).
struct DrawnGlyph {
    std::uint32_t id = 0;
    std::int32_t ax = 0, ay = 0, dx = 0, dy = 0;
    ImVec2 origin;
};
struct DrawnRun {
    std::string font;  // the font file
    int hbScale = 0;   // HarfBuzz scale (the em size in 1/64 px)
    float scale = 1;   // the window's font scale applied when drawing
    bool rtl = false;
    std::string script;    // ISO 15924 tag, e.g. "Arab"
    std::string language;  // BCP 47, as HarfBuzz used it
    std::string text;      // the run's text (UTF-8, logical)
    std::vector<DrawnGlyph> glyphs;
};
struct DrawnText {
    std::string id;  // the widget's test id, empty for plain text
    std::string logical;
    bool rtl = false;
    ImVec2 pos;  // top left of the line
    float width = 0;
    std::vector<DrawnRun> runs;  // visual order
    float caretX = -1;           // screen x of the text cursor when drawn in a field
};

/// Draws a laid-out line with its top left at `pos`, `scale` times the font's size. Appends what
/// was drawn to `record` when given.
void draw(ImDrawList* list, const Line& line, const ImFont* font, ImVec2 pos, ImU32 color,
          float scale, DrawnText* record);

/// The x (px at the font's size, from the line's left) of the caret before logical code point
/// `index` (index == length: after the last).
[[nodiscard]] float caretX(const Line& line, std::size_t index);
/// The logical index of the caret position nearest to `x`.
[[nodiscard]] std::size_t indexAt(const Line& line, float x);

/// Code points of `logical` that shaped text cannot show with the loaded fonts.
[[nodiscard]] std::vector<char32_t> missingGlyphs(std::string_view logical, const ImFont* font);

/// Frees the caches when they have grown past their bound (call once a frame).
void trimCaches();

}  // namespace veld::client::shaping
