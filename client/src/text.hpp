// Text for display: UTF-8 helpers and the direction of text (FriBidi). Lines are wrapped in
// logical order; each line is then split into directional runs in visual order, which the shaper
// (shaping.hpp, HarfBuzz) shapes one by one. visualLine is the plain-ImGui fallback for widgets
// drawn directly with Dear ImGui (combo previews): presentation forms, no marks positioned.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace veld::client::text {

/// Decodes UTF-8 into code points; invalid bytes become U+FFFD.
std::u32string decodeUtf8(std::string_view utf8);
std::string encodeUtf8(std::u32string_view codepoints);

/// Whether the text holds any strong right-to-left character (Hebrew, Arabic, ...).
bool hasRtl(std::string_view utf8);

/// One line in visual order with Arabic joining applied, for drawing left to right. `rtlBase`
/// is the paragraph direction (the form language's); text without RTL characters in an LTR
/// paragraph is returned unchanged.
std::string visualLine(std::string_view logicalUtf8, bool rtlBase);

/// A directional run of one line: code points [start, end) in logical order, at a bidi embedding
/// level (odd: right to left).
struct BidiRun {
    std::size_t start = 0;
    std::size_t end = 0;
    int level = 0;
    [[nodiscard]] bool rtl() const { return (level & 1) != 0; }
};

/// The directional runs of one line in visual order, left to right (Unicode bidi algorithm with
/// the paragraph direction given, rules L1 and L2 applied to the line).
std::vector<BidiRun> visualRuns(std::u32string_view line, bool rtlBase);

/// Splits a paragraph (logical order) into lines that fit `width`, breaking at spaces (and inside
/// a word only when the word alone is too wide). `measure` gives the drawn width of a logical
/// line. Explicit newlines always break.
std::vector<std::string> wrapLogical(std::string_view logicalUtf8, float width,
                                     const std::function<float(std::string_view)>& measure);

/// Cuts UTF-8 text to at most `maxBytes` without splitting a character.
std::string truncateUtf8(std::string_view utf8, std::size_t maxBytes);

}  // namespace veld::client::text
