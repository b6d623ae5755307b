// How the kiosk looks and where its targets are: the touch size, the three themes (normal, large
// text, high contrast) with their colours, and the on-screen keypad's keys per language.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <imgui.h>

namespace veld::client {

class App;
struct FormView;

// A touch target is at least 12 mm on the pilots' kiosk screens, 15-inch 1366x768 panels: the
// diagonal is sqrt(1366^2 + 768^2) = 1567 px over 15 x 25.4 = 381 mm, 4.11 px per mm, so 12 mm
// is 49.4 px. 50 px at scale 1 (the check below is the same sum, squared to stay in integers).
constexpr float kTouchPx = 50;
static_assert(50LL * 50 * 381 * 381 >= 12LL * 12 * (1366LL * 1366 + 768LL * 768));
// Room between two targets, so that a finger between them hits neither.
constexpr float kTouchGapPx = 12;

enum class KioskTheme { Normal, LargeText, HighContrast };
inline constexpr KioskTheme kKioskThemes[] = {KioskTheme::Normal, KioskTheme::LargeText,
                                              KioskTheme::HighContrast};

/// "normal", "large", "contrast" (settings and the kiosk configuration).
std::string_view themeName(KioskTheme theme);
/// The theme named `name`; Normal for anything else.
KioskTheme themeFromName(std::string_view name);

/// The colours a theme draws with (0: Dear ImGui's light style as the rest of the client).
struct ThemeColours {
    ImU32 background = 0;
    ImU32 text = 0;
    ImU32 textDisabled = 0;
    ImU32 button = 0;
    ImU32 buttonHovered = 0;
    ImU32 buttonActive = 0;
    ImU32 frame = 0;     // fields and choice rows
    ImU32 selected = 0;  // a chosen choice's row
    ImU32 border = 0;
    ImU32 focus = 0;  // the field the keypad types into, keyboard focus
    ImU32 error = 0;  // the kiosk's own messages
};
ThemeColours themeColours(KioskTheme theme);

/// WCAG 2 contrast ratio of two colours (1 to 21).
double contrastRatio(ImU32 a, ImU32 b);

/// Applies a theme for one frame (font, colours, spacing); undone by popTheme().
void pushTheme(App& app, KioskTheme theme);
void popTheme();

/// The height (and least width) of every kiosk target with the current font.
float touchSize(const App& app);

/// A warning sign drawn at the cursor (a triangle with "!": a symbol, not only a colour), then
/// the message beside it on the reading side, in `colour`.
void warningLine(std::string_view message, bool rtl, ImU32 colour, float width);

/// The keys of the on-screen keypad for `language`, row by row (text answers; numbers have
/// their own pad). Keys are UTF-8 strings. Languages written in Ge'ez show the base letters; a
/// tap on one offers its seven vowel forms (geezForms).
std::vector<std::vector<std::string>> keypadRows(std::string_view language);
/// The seven forms (orders) of a Ge'ez base letter ("ለ": ለ ሉ ሊ ላ ሌ ል ሎ).
std::vector<std::string> geezForms(std::string_view base);
/// Whether `key` is a Ge'ez base letter (a tap asks for its vowel form).
bool isGeezBase(std::string_view key);

}  // namespace veld::client

namespace veld::client {

/// The on-screen keypad's height for `view`'s target with keys of `key` px.
float keypadHeight(const FormView& view, float key);
/// Draws the on-screen keypad for `view`'s target in the rectangle from `min`, `width` wide; a
/// key types into the target at once. `pending` holds a Ge'ez base letter waiting for its vowel.
void drawKeypad(App& app, FormView& view, std::string& pending, ImVec2 min, float width, float key);

}  // namespace veld::client
