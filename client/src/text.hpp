// Text for display: UTF-8 helpers, and right-to-left text (Arabic) turned into what Dear ImGui can
// draw. ImGui draws glyphs left to right with no shaping, so a logical Arabic string must be
// shaped into presentation forms (joined letters) and reordered into visual order first. FriBidi
// does both; lines are wrapped in logical order before each line is reordered.
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

/// Splits a paragraph (logical order) into lines that fit `width`, breaking at spaces (and inside
/// a word only when the word alone is too wide). `measure` gives the drawn width of a logical
/// line. Explicit newlines always break.
std::vector<std::string> wrapLogical(std::string_view logicalUtf8, float width,
                                     const std::function<float(std::string_view)>& measure);

/// Cuts UTF-8 text to at most `maxBytes` without splitting a character.
std::string truncateUtf8(std::string_view utf8, std::size_t maxBytes);

}  // namespace veld::client::text
