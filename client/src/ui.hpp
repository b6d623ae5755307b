// Widgets shared by the screens. Every interactive widget is made through these helpers with a
// stable test id, so that tests can find it (its rectangle is recorded per frame when recording is
// on) and so that right-to-left text is shaped and aligned in one place.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <imgui.h>

#include "shaping.hpp"

namespace veld::client::ui {

/// What one frame drew, for tests: widgets with their ids and rectangles, and every text shown.
struct Recorded {
    std::string id;    // empty for plain text
    std::string text;  // label, shown value or paragraph (logical order)
    ImVec2 min;
    ImVec2 max;
    bool enabled = true;
};

void setRecording(bool on);
/// Starts a frame's record (call after ImGui::NewFrame).
void beginFrame();
const std::vector<Recorded>& recorded();
const Recorded* find(std::string_view id);

/// Shaped text drawn in the last frame when recording is on: HarfBuzz's glyphs per run and where
/// they were put, in the order drawn.
const std::vector<shaping::DrawnText>& recordedText();

/// Draws one line of text given in logical order with the current font and size (the window's
/// font scale included), top left at `pos`: shaped by HarfBuzz and in visual order when it needs
/// it (right-to-left, a script other than Latin, combining marks), else Dear ImGui's own path.
/// `rtl` is the paragraph direction. For widgets drawn directly on a draw list.
void drawText(ImDrawList* list, ImVec2 pos, ImU32 color, std::string_view logical, bool rtl);
/// The width drawText gives the line.
float textWidth(std::string_view logical, bool rtl);

/// Presentation forms in visual order (FriBidi, cached), for text handed to Dear ImGui directly
/// (combo previews): joined letters, but no ligatures beyond lam-alef and no placed marks.
/// Prefer drawText; unchanged for plain LTR text.
const std::string& display(std::string_view logical, bool rtl);

/// Wrapped text in the available width; right-aligned when `rtl`.
void paragraph(std::string_view logical, bool rtl, ImU32 color = 0);
/// A paragraph in the disabled-text colour (hints, explanations).
void hint(std::string_view logical, bool rtl);
/// A paragraph in the error colour.
void error(std::string_view logical, bool rtl);
/// A larger heading line.
void heading(std::string_view logical, bool rtl);

/// A push button; `width` 0 fits the label, < 0 fills the row. Height at least `minHeight`.
bool button(std::string_view id, std::string_view label, float width = 0, float minHeight = 0,
            bool enabled = true);
/// A selectable row with a radio mark (or a check box when `multi`) on the reading side; at
/// least `minHeight` tall, `width` wide (0: the rest of the row).
bool choiceRow(std::string_view id, std::string_view label, bool selected, bool multi, bool rtl,
               float minHeight, bool enabled = true, float width = 0);
/// The width a choice row needs to show `label` on one line.
float choiceRowWidth(std::string_view label, bool rtl);
/// A single-line text input bound to `value`; true when edited this frame. Text that needs
/// shaping (Arabic, Ge'ez) is shown shaped in visual order with the caret where it belongs,
/// right-aligned when it is right-to-left; so is the placeholder.
bool input(std::string_view id, std::string& value, std::string_view hintText = {},
           bool multiline = false, bool enabled = true, int flags = 0,
           int (*filter)(ImGuiInputTextCallbackData*) = nullptr);
/// Wipes Dear ImGui's own copy of the text field edited last (its edit and undo buffers), and
/// ends its editing: for a passphrase, once it has been used.
void wipeTextEdit();
/// A check box.
bool checkbox(std::string_view id, std::string_view label, bool& value, bool enabled = true);

/// The height of the strip along the bottom of the screen that the form client and the console
/// keep free for short messages.
float messageStripHeight();
/// That strip with a short message (test id "toast"), or empty. It takes no input.
void messageStrip(const std::string& message, bool isError);

/// A modal dialog, called every frame at the same place: opens it when `open` and it is not open
/// yet, closes it when not `open`, and begins it (true: draw its content, then ImGui::EndPopup).
/// `title` is shown in its title bar (test id `id` + ".title"); an empty title means no title
/// bar.
bool beginDialog(std::string_view id, std::string_view title, bool open);

/// A selectable line spanning the row (lists where one entry is chosen).
bool selectable(std::string_view id, std::string_view label, bool selected, bool enabled = true);

/// Records the last ImGui item under `id` (for widgets drawn directly with ImGui).
void recordLast(std::string_view id, std::string_view text, bool enabled = true);
/// Records something drawn directly on a draw list (a chart's bar, say).
void record(std::string_view id, std::string_view text, ImVec2 min, ImVec2 max);

/// "2026-11-25 14:05" in the device's time zone, for lists and the sync screen.
std::string localDateTime(std::int64_t utcMs);

constexpr ImU32 kErrorColor = IM_COL32(200, 40, 40, 255);
constexpr ImU32 kOkColor = IM_COL32(30, 130, 60, 255);

}  // namespace veld::client::ui
