// Private to the filling screen (form_view.cpp, form_widgets.cpp): what drawing a question
// needs, and the answer widgets that live in form_widgets.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <veld/fb/form_generated.h>
#include <veld/form_session.hpp>

#include "form_view.hpp"

struct ImGuiInputTextCallbackData;

namespace veld::client {

class App;

namespace widgets {

/// What drawing one page needs: the app, the view and its session, the form and its language.
struct Ctx {
    App& app;
    FormView& view;
    forms::FormSession& session;
    const fb::Form& form;
    std::string lang;
    std::string fallback;
    bool rtl;
    float rowHeight;  // minimum height of touch targets
};

/// "name#0#2": an item in its repeat instances, as ids and buffers name it.
std::string pathKey(const forms::ItemPath& path);
std::string formatDecimal(double v);
/// Lets through what a BSN may be typed with: digits, spaces, dots and hyphens.
int filterBsn(ImGuiInputTextCallbackData* data);
const fb::ChoiceList* choiceList(const fb::Form& form, const fb::Item& item);
std::string label(const Ctx& c,
                  const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* v);
/// Marks the answer at `path` as touched by the person filling in the form.
void changed(Ctx& c, const forms::ItemPath& path);
/// Sets (or, with nothing, clears) an answer; a refusal shows under the question.
void setAnswer(Ctx& c, const forms::ItemPath& path, std::optional<AnswerValue> value);
/// The text being typed for `path` (`suffix` ".other": its "other, specify" text).
std::string& buffer(Ctx& c, const forms::ItemPath& path, const fb::Item& item,
                    std::string_view suffix = {});

/// Reads the typed text of a Text, Integer or Decimal question into its answer.
void commitTyped(Ctx& c, const fb::Item& item, const forms::ItemPath& path);
/// Puts the typed "other, specify" text into the choice answer at `path`.
void commitOther(Ctx& c, const fb::Item& item, const forms::ItemPath& path);
/// A text field: typed with the keyboard, or in a kiosk without one a field that a tap makes the
/// on-screen keypad's target. True when the text changed this frame.
bool textField(Ctx& c, const fb::Item& item, const forms::ItemPath& path, std::string_view suffix,
               std::string_view hintText, bool multiline, bool enabled,
               int (*filter)(ImGuiInputTextCallbackData*) = nullptr);

/// Today's date (days since 1970-01-01) in the device's time zone.
std::int64_t localToday(std::int64_t nowMs);
/// A date as people type it (days since 1970-01-01): day first as the Dutch write it,
/// "25-11-2026", "5-3-2026", "25/11/2026" or "25.11.2026", or ISO "2026-11-25"; a year has four
/// digits. Nothing for anything else or a day the month does not have.
std::optional<std::int64_t> parseDate(std::string_view typed);
/// A date as the form shows it: "25-11-2026" (stored as ISO all the same).
std::string formatDate(std::int64_t days);
/// A date question: typed, or picked from a small calendar (not in the kiosk).
void drawDate(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool enabled);

void drawChoices(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool multi,
                 bool enabled);
void drawSignature(Ctx& c, const forms::ItemPath& path, bool enabled);
void drawPseudonym(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool enabled);
void drawSlider(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool enabled);

}  // namespace widgets
}  // namespace veld::client
