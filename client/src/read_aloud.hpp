// Read-aloud in the form screens: the speaker button of a question (its label, hint and choices
// in turn), each choice's own button in the kiosk, the highlight on what is being heard, and the
// kiosk pages that read themselves (FormSettings.read_aloud). Recorded clips the form carries are
// played where a label names one in the page's language; elsewhere espeak-ng speaks.
#pragma once

#include <memory>
#include <string>

#include <veld/speech/speaker.hpp>

#include "form_view.hpp"

namespace veld::client {

class App;

namespace widgets {
struct Ctx;
}

/// The App's one speaker and what the screens read with it.
struct ReadAloud {
    std::unique_ptr<speech::Speaker> speaker;
    std::string scope;    // the button whose reading runs (its test id: "speak." + what it reads)
    std::string pageKey;  // the page drawn last ("" when none was drawn)
    bool pageDrawn = false;

    /// Opens the output VELD_AUDIO names (`spec`; see speech::parseOutput).
    void open(const std::string& spec);
    /// Whether something is being read or waits to be.
    [[nodiscard]] bool busy() const { return speaker && speaker->busy(); }
    /// The test id of the item being heard ("q.school_year", "q.school_year.vmbo_b").
    [[nodiscard]] std::string current() const { return speaker ? speaker->current() : ""; }
};

namespace readaloud {

/// Each frame a page is drawn: a page that opens reads itself when the form asks so (kiosk), and
/// what was read on the page before stops.
void pageShown(App& app, const FormView& view);
/// Once a frame, after the screens: reading stops when no form page is on screen.
void endFrame(App& app);
/// The speaker button of a question: reads its label, hint and offered choices.
void questionButton(widgets::Ctx& c, const fb::Item& item, const forms::ItemPath& path);
/// Around a choice row in the kiosk: returns the row's width, leaving room for the choice's own
/// speaker button (drawn by choiceEnd, after the row on the reading side's end).
float choiceStart(widgets::Ctx& c, const fb::Choice& choice, const std::string& id, float width);
void choiceEnd(widgets::Ctx& c, const fb::Choice& choice, const std::string& id);
/// After a row drawn otherwise (a consent answer): outlined while it is being heard.
void rowDrawn(widgets::Ctx& c, const std::string& id);

}  // namespace readaloud
}  // namespace veld::client
