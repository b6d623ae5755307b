#include "ui.hpp"

#include <algorithm>
#include <ctime>
#include <unordered_map>

#include <imgui_internal.h>
#include <imgui_stdlib.h>
#include <sodium.h>

#include <veld/platform/time.hpp>

#include "shaping.hpp"
#include "text.hpp"

namespace veld::client::ui {

namespace {

bool g_recording = false;
std::vector<Recorded> g_items;
std::vector<shaping::DrawnText> g_texts;

struct WrapKey {
    std::string text;
    int width;
    bool rtl;
    const ImFont* font;
    int fontSize;  // 1/100 px: the window's font scale changes widths
    bool operator==(const WrapKey&) const = default;
};
struct WrapKeyHash {
    std::size_t operator()(const WrapKey& k) const {
        return std::hash<std::string>()(k.text) ^ (static_cast<std::size_t>(k.width) << 1) ^
               (k.rtl ? 0x9e3779b9u : 0u) ^ (std::hash<const void*>()(k.font) << 3) ^
               (static_cast<std::size_t>(k.fontSize) << 7);
    }
};

std::unordered_map<std::string, std::string>& displayCache(bool rtl) {
    static std::unordered_map<std::string, std::string> ltr, rtlCache;
    return rtl ? rtlCache : ltr;
}

std::unordered_map<WrapKey, std::vector<std::string>, WrapKeyHash>& wrapCache() {
    static std::unordered_map<WrapKey, std::vector<std::string>, WrapKeyHash> cache;
    return cache;
}

void add(std::string_view id, std::string_view text, ImVec2 min, ImVec2 max, bool enabled) {
    if (!g_recording) return;
    g_items.push_back(Recorded{std::string(id), std::string(text), min, max, enabled});
}

std::string widgetLabel(std::string_view id, std::string_view shown) {
    std::string label(shown);
    label += "###";
    label += id;
    return label;
}

// The shaped line of `logical` in the current font, or null when Dear ImGui's own path draws it.
const shaping::Line* shapedLine(std::string_view logical, bool rtl) {
    const ImFont* font = ImGui::GetFont();
    if (!shaping::needsShaping(logical, rtl) || !shaping::available(font)) return nullptr;
    return shaping::layout(logical, rtl, font);
}

float fontScale() {
    const ImFont* font = ImGui::GetFont();
    return font && font->FontSize > 0 ? ImGui::GetFontSize() / font->FontSize : 1.0f;
}

void drawLine(ImDrawList* list, const shaping::Line& line, ImVec2 pos, ImU32 color,
              std::string_view logical, std::string_view id, float caret = -1) {
    shaping::DrawnText* record = nullptr;
    if (g_recording) {
        g_texts.emplace_back();
        record = &g_texts.back();
        record->logical = std::string(logical);
        record->id = std::string(id);
    }
    const float scale = fontScale();
    shaping::draw(list, line, ImGui::GetFont(), pos, color, scale, record);
    if (record && caret >= 0) record->caretX = caret;
}

// Lines of a paragraph wrapped to `width` in logical order (cached).
const std::vector<std::string>& wrapped(std::string_view logical, float width, bool rtl) {
    WrapKey key{std::string(logical), static_cast<int>(width), rtl, ImGui::GetFont(),
                static_cast<int>(ImGui::GetFontSize() * 100)};
    auto& cache = wrapCache();
    auto it = cache.find(key);
    if (it == cache.end()) {
        std::vector<std::string> lines = text::wrapLogical(
            logical, width, [rtl](std::string_view line) { return textWidth(line, rtl); });
        it = cache.emplace(std::move(key), std::move(lines)).first;
    }
    return it->second;
}

// Draws wrapped lines as items (one per line), right-aligned when `rtl`.
void wrappedItems(std::string_view logical, bool rtl, float width, ImU32 color) {
    ImDrawList* list = ImGui::GetWindowDrawList();
    for (const auto& line : wrapped(logical, width, rtl)) {
        const ImVec2 p = ImGui::GetCursorScreenPos();
        const float w = textWidth(line, rtl);
        if (ImGui::IsRectVisible(p, ImVec2(p.x + width, p.y + ImGui::GetTextLineHeight()))) {
            drawText(list, ImVec2(rtl ? p.x + std::max(0.0f, width - w) : p.x, p.y), color, line,
                     rtl);
        }
        ImGui::Dummy(ImVec2(std::max(1.0f, std::min(w, width)), ImGui::GetTextLineHeight()));
    }
}

}  // namespace

void setRecording(bool on) {
    g_recording = on;
    g_items.clear();
}

void beginFrame() {
    g_items.clear();
    g_texts.clear();
    shaping::trimCaches();
    // Caches are bounded: a form's labels are a few thousand strings at most.
    if (displayCache(false).size() > 20000) displayCache(false).clear();
    if (displayCache(true).size() > 20000) displayCache(true).clear();
    if (wrapCache().size() > 20000) wrapCache().clear();
}

const std::vector<Recorded>& recorded() {
    return g_items;
}

const std::vector<shaping::DrawnText>& recordedText() {
    return g_texts;
}

void drawText(ImDrawList* list, ImVec2 pos, ImU32 color, std::string_view logical, bool rtl) {
    if (const shaping::Line* line = shapedLine(logical, rtl)) {
        drawLine(list, *line, pos, color, logical, {});
        return;
    }
    const std::string& shown = display(logical, rtl);
    list->AddText(ImGui::GetFont(), ImGui::GetFontSize(), pos, color, shown.data(),
                  shown.data() + shown.size());
}

float textWidth(std::string_view logical, bool rtl) {
    if (const shaping::Line* line = shapedLine(logical, rtl)) return line->width * fontScale();
    const std::string& shown = display(logical, rtl);
    return ImGui::CalcTextSize(shown.data(), shown.data() + shown.size()).x;
}

const Recorded* find(std::string_view id) {
    for (const auto& item : g_items) {
        if (item.id == id) return &item;
    }
    return nullptr;
}

const std::string& display(std::string_view logical, bool rtl) {
    auto& cache = displayCache(rtl);
    auto it = cache.find(std::string(logical));
    if (it != cache.end()) return it->second;
    return cache.emplace(std::string(logical), text::visualLine(logical, rtl)).first->second;
}

void paragraph(std::string_view logical, bool rtl, ImU32 color) {
    const float width = ImGui::GetContentRegionAvail().x;
    const bool needsBidi = rtl || text::hasRtl(logical) || shapedLine(logical, rtl) != nullptr;
    const ImVec2 start = ImGui::GetCursorScreenPos();
    if (color != 0) ImGui::PushStyleColor(ImGuiCol_Text, color);
    if (!needsBidi) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextUnformatted(logical.data(), logical.data() + logical.size());
        ImGui::PopTextWrapPos();
    } else {
        wrappedItems(logical, rtl, width, ImGui::GetColorU32(ImGuiCol_Text));
    }
    if (color != 0) ImGui::PopStyleColor();
    add({}, logical, start, ImVec2(start.x + width, ImGui::GetCursorScreenPos().y), true);
}

void hint(std::string_view logical, bool rtl) {
    paragraph(logical, rtl, ImGui::GetColorU32(ImGuiCol_TextDisabled));
}

void error(std::string_view logical, bool rtl) {
    paragraph(logical, rtl, kErrorColor);
}

void heading(std::string_view logical, bool rtl) {
    ImGui::SetWindowFontScale(1.25f);
    paragraph(logical, rtl);
    ImGui::SetWindowFontScale(1.0f);
}

bool button(std::string_view id, std::string_view label, float width, float minHeight,
            bool enabled) {
    const bool rtl = text::hasRtl(label);
    const shaping::Line* line = shapedLine(label, rtl);
    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 textSize = line ? ImVec2(textWidth(label, rtl), ImGui::GetTextLineHeight())
                                 : ImGui::CalcTextSize(display(label, false).c_str());
    ImVec2 size(width, std::max(minHeight, textSize.y + style.FramePadding.y * 2));
    if (width < 0) size.x = ImGui::GetContentRegionAvail().x;
    if (width == 0 && line) size.x = textSize.x + style.FramePadding.x * 2;
    ImGui::BeginDisabled(!enabled);
    const bool pressed = ImGui::Button(
        line ? ("###" + std::string(id)).c_str() : widgetLabel(id, display(label, false)).c_str(),
        size);
    if (line) {
        const ImVec2 min = ImGui::GetItemRectMin();
        const ImVec2 max = ImGui::GetItemRectMax();
        const ImVec2 pos(std::max(min.x + style.FramePadding.x,
                                  min.x + (max.x - min.x - textSize.x) * style.ButtonTextAlign.x),
                         min.y + (max.y - min.y - textSize.y) * style.ButtonTextAlign.y);
        ImDrawList* list = ImGui::GetWindowDrawList();
        list->PushClipRect(min, max, true);
        drawLine(list, *line, pos, ImGui::GetColorU32(ImGuiCol_Text), label, id);
        list->PopClipRect();
    }
    ImGui::EndDisabled();
    add(id, label, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
    return pressed && enabled;
}

float choiceRowWidth(std::string_view label, bool rtl) {
    return textWidth(label, rtl) + ImGui::GetTextLineHeight() +
           ImGui::GetStyle().FramePadding.x * 3 + 1;
}

bool choiceRow(std::string_view id, std::string_view label, bool selected, bool multi, bool rtl,
               float minHeight, bool enabled, float rowWidth) {
    const float width = rowWidth > 0 ? rowWidth : ImGui::GetContentRegionAvail().x;
    const float lineH = ImGui::GetTextLineHeight();
    const float mark = lineH;
    const float pad = ImGui::GetStyle().FramePadding.x;
    const bool shaped = shapedLine(label, rtl) != nullptr;
    const float labelWidth = width - mark - pad * 3;
    // Wrapped size of the label: shaped labels wrap in logical order, others as ImGui wraps.
    ImVec2 textSize;
    const std::vector<std::string>* lines = nullptr;
    if (shaped) {
        lines = &wrapped(label, labelWidth, rtl);
        for (const auto& line : *lines)
            textSize.x = std::max(textSize.x, textWidth(line, rtl));
        textSize.y = lineH * static_cast<float>(lines->size());
    } else {
        textSize = ImGui::CalcTextSize(display(label, rtl).c_str(), nullptr, false, labelWidth);
    }
    const float height = std::max(minHeight, textSize.y + ImGui::GetStyle().FramePadding.y * 2);
    ImGui::PushID(std::string(id).c_str());
    ImGui::BeginDisabled(!enabled);
    const ImVec2 min = ImGui::GetCursorScreenPos();
    const bool pressed = ImGui::InvisibleButton("##row", ImVec2(width, height));
    const bool hovered = ImGui::IsItemHovered();
    ImGui::EndDisabled();
    ImGui::PopID();
    const ImVec2 max(min.x + width, min.y + height);
    ImDrawList* draw = ImGui::GetWindowDrawList();
    const ImU32 bg = ImGui::GetColorU32(selected  ? ImGuiCol_HeaderActive
                                        : hovered ? ImGuiCol_HeaderHovered
                                                  : ImGuiCol_FrameBg);
    draw->AddRectFilled(min, max, bg, ImGui::GetStyle().FrameRounding);
    const float markX = rtl ? max.x - pad - mark : min.x + pad;
    const ImVec2 markMin(markX, min.y + (height - mark) / 2);
    const ImU32 fg = ImGui::GetColorU32(enabled ? ImGuiCol_Text : ImGuiCol_TextDisabled);
    if (multi) {
        draw->AddRect(markMin, ImVec2(markMin.x + mark, markMin.y + mark), fg, 2, 0, 2);
        if (selected) {
            draw->AddRectFilled(ImVec2(markMin.x + 4, markMin.y + 4),
                                ImVec2(markMin.x + mark - 4, markMin.y + mark - 4), fg, 2);
        }
    } else {
        const ImVec2 c(markMin.x + mark / 2, markMin.y + mark / 2);
        draw->AddCircle(c, mark / 2, fg, 20, 2);
        if (selected) draw->AddCircleFilled(c, mark / 2 - 4, fg, 20);
    }
    const float textTop = min.y + (height - textSize.y) / 2;
    if (lines) {
        float y = textTop;
        for (const auto& line : *lines) {
            const float w = textWidth(line, rtl);
            const float x = rtl ? max.x - pad * 2 - mark - w : min.x + pad * 2 + mark;
            if (const shaping::Line* shapedText = shapedLine(line, rtl))
                drawLine(draw, *shapedText, ImVec2(x, y), fg, line, id);
            y += lineH;
        }
    } else {
        const float textX = rtl ? max.x - pad * 2 - mark - textSize.x : min.x + pad * 2 + mark;
        draw->AddText(nullptr, 0, ImVec2(textX, textTop), fg, display(label, rtl).c_str(), nullptr,
                      labelWidth);
    }
    add(id, label, min, max, enabled);
    return pressed && enabled;
}

namespace {

// Shaped text over a Dear ImGui text field: ImGui edits the logical buffer (its own text and
// caret drawn transparent); the text, or the placeholder, is drawn shaped in visual order with
// the caret at its visual place. A click puts ImGui's caret where it lands in the shaped text.
void shapedField(std::string_view id, const std::string& value, std::string_view hintText,
                 bool multiline, bool rtl, bool enabled) {
    ImGuiContext& g = *GImGui;
    const ImGuiID itemId = ImGui::GetItemID();
    ImGuiInputTextState* state =
        g.InputTextState.ID == itemId && g.ActiveId == itemId ? &g.InputTextState : nullptr;
    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 min = ImGui::GetItemRectMin();
    const ImVec2 max = ImGui::GetItemRectMax();
    const ImVec2 innerMin(min.x + style.FramePadding.x, min.y + style.FramePadding.y);
    const ImVec2 innerMax(max.x - style.FramePadding.x, max.y - style.FramePadding.y);
    const float lineH = ImGui::GetTextLineHeight();
    const float scale = fontScale();
    const bool placeholder = value.empty();
    const std::string_view shown = placeholder ? hintText : std::string_view(value);
    const ImU32 color =
        ImGui::GetColorU32(placeholder || !enabled ? ImGuiCol_TextDisabled : ImGuiCol_Text);
    // The caret: a code point index into the text (ImGui counts UTF-16 units; the scripts
    // shaped here are all in the Basic Multilingual Plane).
    const std::size_t caret =
        state ? static_cast<std::size_t>(std::max(0, state->Stb.cursor)) : std::string::npos;
    ImDrawList* list = ImGui::GetWindowDrawList();
    list->PushClipRect(innerMin, innerMax, true);
    std::size_t lineStart = 0;  // code points before the current line
    float y = innerMin.y;
    std::size_t from = 0;
    const bool clicked = state && ImGui::IsItemHovered() && ImGui::IsMouseClicked(0);
    for (;;) {
        const std::size_t nl = multiline ? shown.find('\n', from) : std::string_view::npos;
        const std::string_view lineText =
            shown.substr(from, nl == std::string_view::npos ? std::string_view::npos : nl - from);
        const std::size_t length = text::decodeUtf8(lineText).size();
        const shaping::Line* line = shaping::layout(lineText, rtl, ImGui::GetFont());
        if (!line) break;
        const float w = line->width * scale;
        float x = rtl ? innerMax.x - w : innerMin.x;
        const bool caretHere = !placeholder && caret != std::string::npos && caret >= lineStart &&
                               caret <= lineStart + length;
        float caretScreen = -1;
        if (caretHere) {
            const float at = shaping::caretX(*line, caret - lineStart) * scale;
            // Long text scrolls so that the caret stays in the field.
            if (x + at < innerMin.x) x = innerMin.x - at;
            if (x + at > innerMax.x - 1) x = innerMax.x - 1 - at;
            caretScreen = x + at;
        }
        if (clicked && !placeholder) {
            const ImVec2 mouse = ImGui::GetIO().MousePos;
            if (mouse.y >= y && (mouse.y < y + lineH || nl == std::string_view::npos)) {
                const auto index =
                    static_cast<int>(lineStart + shaping::indexAt(*line, (mouse.x - x) / scale));
                state->Stb.cursor = state->Stb.select_start = state->Stb.select_end = index;
                caretScreen =
                    x + shaping::caretX(*line, static_cast<std::size_t>(index) - lineStart) * scale;
            }
        }
        drawLine(list, *line, ImVec2(x, y), color, lineText, id, caretScreen);
        if (caretScreen >= 0) {
            const bool blinkOn = !g.IO.ConfigInputTextCursorBlink || state->CursorAnim <= 0.0f ||
                                 std::fmod(state->CursorAnim, 1.20f) <= 0.80f;
            if (blinkOn) {
                list->AddLine(ImVec2(caretScreen, y), ImVec2(caretScreen, y + lineH - 1),
                              ImGui::GetColorU32(ImGuiCol_Text));
            }
        }
        if (nl == std::string_view::npos) break;
        lineStart += length + 1;
        from = nl + 1;
        y += lineH;
    }
    list->PopClipRect();
}

}  // namespace

bool input(std::string_view id, std::string& value, std::string_view hintText, bool multiline,
           bool enabled, int flags, int (*filter)(ImGuiInputTextCallbackData*)) {
    // Shaped when the text (or, while empty, the placeholder) needs it; right-aligned when it
    // is right-to-left.
    const bool password = (flags & ImGuiInputTextFlags_Password) != 0;
    const std::string_view shown = value.empty() ? hintText : std::string_view(value);
    const bool rtl = text::hasRtl(shown);
    const bool shaped =
        !password && shaping::available(ImGui::GetFont()) && shaping::needsShaping(shown, false);
    ImGui::PushID(std::string(id).c_str());
    ImGui::BeginDisabled(!enabled);
    ImGui::SetNextItemWidth(-1);
    bool changed = false;
    if (filter) flags |= ImGuiInputTextFlags_CallbackCharFilter;
    if (shaped) {
        ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(0, 0, 0, 0));
        ImGui::PushStyleColor(ImGuiCol_TextSelectedBg, IM_COL32(0, 0, 0, 0));
    }
    if (multiline) {
        changed =
            ImGui::InputTextMultiline("##in", &value, ImVec2(-1, ImGui::GetTextLineHeight() * 4),
                                      flags, filter ? filter : nullptr);
    } else if (!hintText.empty() && !shaped) {
        changed = ImGui::InputTextWithHint("##in", std::string(hintText).c_str(), &value, flags,
                                           filter ? filter : nullptr);
    } else {
        changed = ImGui::InputText("##in", &value, flags, filter ? filter : nullptr);
    }
    if (shaped) {
        ImGui::PopStyleColor(2);
        shapedField(id, value, multiline ? std::string_view{} : hintText, multiline, rtl, enabled);
    }
    ImGui::EndDisabled();
    ImGui::PopID();
    if (password) {
        // Recorded as the screen shows it: one mark per byte.
        if (g_recording) {
            add(id, std::string(value.size(), '*'), ImGui::GetItemRectMin(),
                ImGui::GetItemRectMax(), enabled);
        }
    } else {
        add(id, value, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
    }
    return changed && enabled;
}

void wipeTextEdit() {
    ImGuiContext& g = *GImGui;
    ImGuiInputTextState& state = g.InputTextState;
    if (g.ActiveId != 0 && g.ActiveId == state.ID) ImGui::ClearActiveID();
    auto zero = [](auto& buffer) {
        if (buffer.Data)
            sodium_memzero(buffer.Data,
                           static_cast<std::size_t>(buffer.Capacity) * sizeof(*buffer.Data));
    };
    zero(state.TextW);
    zero(state.TextA);
    zero(state.InitialTextA);
    sodium_memzero(&state.Stb, sizeof state.Stb);  // its undo records hold typed characters
    state.ClearFreeMemory();
    state.ID = 0;  // the next field made active starts from a fresh state
}

bool checkbox(std::string_view id, std::string_view label, bool& value, bool enabled) {
    const bool rtl = text::hasRtl(label);
    const shaping::Line* line = shapedLine(label, rtl);
    ImGui::BeginDisabled(!enabled);
    bool changed = false;
    if (!line) {
        changed = ImGui::Checkbox(widgetLabel(id, display(label, false)).c_str(), &value);
    } else {
        // The box from Dear ImGui, the label shaped beside it; both toggle.
        ImGui::PushID(std::string(id).c_str());
        ImGui::BeginGroup();
        changed = ImGui::Checkbox("##box", &value);
        const ImGuiStyle& style = ImGui::GetStyle();
        ImGui::SameLine(0, style.ItemInnerSpacing.x);
        const ImVec2 pos = ImGui::GetCursorScreenPos();
        const float w = textWidth(label, rtl);
        if (ImGui::InvisibleButton("##label", ImVec2(std::max(1.0f, w), ImGui::GetFrameHeight()))) {
            value = !value;
            changed = true;
        }
        drawLine(ImGui::GetWindowDrawList(), *line, ImVec2(pos.x, pos.y + style.FramePadding.y),
                 ImGui::GetColorU32(ImGuiCol_Text), label, id);
        ImGui::EndGroup();
        ImGui::PopID();
    }
    ImGui::EndDisabled();
    add(id, label, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
    return changed && enabled;
}

std::string localDateTime(std::int64_t utcMs) {
    const auto t = static_cast<std::time_t>(utcMs / 1000);
    const std::tm tm = platform::localCalendar(t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

float messageStripHeight() {
    const ImGuiStyle& style = ImGui::GetStyle();
    return ImGui::GetTextLineHeightWithSpacing() * 2 + style.WindowPadding.y * 2;
}

void messageStrip(const std::string& message, bool isError) {
    // The strip along the bottom that the screens leave free: a message there covers nothing,
    // and it takes no clicks (they fall through to whatever is under it). A message longer than
    // the strip grows it upwards.
    const ImVec2 display = ImGui::GetIO().DisplaySize;
    const float height = messageStripHeight();
    ImGui::SetNextWindowPos(ImVec2(0, display.y), ImGuiCond_Always, ImVec2(0.0f, 1.0f));
    ImGui::SetNextWindowSizeConstraints(ImVec2(display.x, height),
                                        ImVec2(display.x, std::max(height, display.y * 0.5f)));
    ImGui::Begin("##messages", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_AlwaysAutoResize |
                     ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_NoNav |
                     ImGuiWindowFlags_NoInputs | ImGuiWindowFlags_NoSavedSettings);
    ImGui::GetWindowDrawList()->AddLine(
        ImGui::GetWindowPos(), ImVec2(ImGui::GetWindowPos().x + display.x, ImGui::GetWindowPos().y),
        ImGui::GetColorU32(ImGuiCol_Separator));
    if (!message.empty()) {
        if (isError) ImGui::PushStyleColor(ImGuiCol_Text, kErrorColor);
        const bool rtl = text::hasRtl(message);
        const float width = display.x - ImGui::GetStyle().WindowPadding.x * 2;
        if (shapedLine(message, rtl)) {
            wrappedItems(message, rtl, width, ImGui::GetColorU32(ImGuiCol_Text));
            record("toast", message, ImGui::GetWindowPos(),
                   ImVec2(ImGui::GetWindowPos().x + ImGui::GetWindowSize().x,
                          ImGui::GetWindowPos().y + ImGui::GetWindowSize().y));
        } else {
            ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + width);
            ImGui::TextUnformatted(message.c_str());
            ImGui::PopTextWrapPos();
            recordLast("toast", message);
        }
        if (isError) ImGui::PopStyleColor();
    }
    ImGui::End();
}

bool beginDialog(std::string_view id, std::string_view title, bool open) {
    const std::string name =
        title.empty() ? "###" + std::string(id) : display(title, false) + "###" + std::string(id);
    if (open && !ImGui::IsPopupOpen(name.c_str())) ImGui::OpenPopup(name.c_str());
    ImGuiWindowFlags flags = ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoSavedSettings;
    if (title.empty()) flags |= ImGuiWindowFlags_NoTitleBar;
    if (!ImGui::BeginPopupModal(name.c_str(), nullptr, flags)) return false;
    // Closed from outside (its reason went away): a modal left open would still hold the input.
    if (!open) {
        ImGui::CloseCurrentPopup();
        ImGui::EndPopup();
        return false;
    }
    if (!title.empty()) {
        add(std::string(id) + ".title", title, ImGui::GetWindowPos(),
            ImVec2(ImGui::GetWindowPos().x + ImGui::GetWindowSize().x,
                   ImGui::GetWindowPos().y + ImGui::GetFrameHeight()),
            true);
    }
    return true;
}

bool selectable(std::string_view id, std::string_view label, bool selected, bool enabled) {
    const bool rtl = text::hasRtl(label);
    const shaping::Line* line = shapedLine(label, rtl);
    ImGui::BeginDisabled(!enabled);
    const ImVec2 textPos = ImGui::GetCursorScreenPos();
    const bool pressed = ImGui::Selectable(
        line ? ("###" + std::string(id)).c_str() : widgetLabel(id, display(label, false)).c_str(),
        selected, ImGuiSelectableFlags_SpanAllColumns);
    if (line) {
        drawLine(ImGui::GetWindowDrawList(), *line, textPos, ImGui::GetColorU32(ImGuiCol_Text),
                 label, id);
    }
    ImGui::EndDisabled();
    add(id, label, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
    return pressed && enabled;
}

void recordLast(std::string_view id, std::string_view text, bool enabled) {
    add(id, text, ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), enabled);
}

void record(std::string_view id, std::string_view text, ImVec2 min, ImVec2 max) {
    add(id, text, min, max, true);
}

}  // namespace veld::client::ui
