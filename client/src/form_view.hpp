// Drawing a form session: pages, every question type, repeats, problems in place. Shared by the
// field worker's filling screen (a page per group) and the kiosk (one question per page).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <veld/form_session.hpp>

#include "media_images.hpp"

namespace veld::client {

class App;

struct PageItem {
    const fb::Item* item = nullptr;
    forms::ItemPath path;
    std::vector<const fb::Item*> groups;  // enclosing groups, outermost first (kiosk headings)
};

struct Page {
    std::vector<PageItem> items;
    const fb::Item* group = nullptr;  // the top-level group or repeat the page shows, if any
};

struct FormView {
    std::shared_ptr<const forms::CompiledForm> form;
    std::optional<forms::FormSession> session;
    std::string language;
    bool rtl = false;
    bool onePerPage = false;  // kiosk
    bool large = false;       // kiosk: large touch targets
    bool readOnly = false;
    std::vector<Page> pages;
    std::map<std::string, int> pageOfItem;  // item name -> page index
    int page = 0;
    std::map<std::string, std::string> buffers;       // text being typed, per path (+ field suffix)
    std::map<std::string, std::string> typingErrors;  // e.g. "not a number", per path
    std::set<std::string> touched;                    // paths answered or edited in this view
    bool showAll = false;  // show required-answer problems too (after a finalize attempt)
    int changes = 0;       // bumped on every answer change; the owner saves when it moves
    std::vector<std::vector<SignaturePoint>> strokeInProgress;
    // Drawn height of each question, so that questions scrolled out of sight are skipped (a
    // page of a thousand questions costs what its visible part costs).
    std::map<std::string, float> heights;
    MediaImages pictures;  // the choices' pictures, as textures while the form is open
    // Kiosk: problems are shown by the kiosk in a place of their own, not under the question.
    bool quietProblems = false;
    // Kiosk without a keyboard: text and number fields are typed on an on-screen keypad. A tap
    // on a field makes it the keypad's target (pathKey plus the field's suffix, ".other" for the
    // "other, specify" text); the kiosk draws the keypad and types through keypadEdit().
    bool onScreenKeypad = false;
    std::string keypadKey;
    forms::ItemPath keypadPath;
    std::string keypadSuffix;
    const fb::Item* keypadItem = nullptr;

    /// Starts viewing `session` (pages are built, the first visible page is shown).
    void start(std::shared_ptr<const forms::CompiledForm> compiled, forms::FormSession s,
               std::string lang, bool onePerPageMode, bool largeMode);
    /// Forgets the session and everything typed.
    void clear();
    [[nodiscard]] bool active() const { return session.has_value(); }

    [[nodiscard]] bool pageVisible(int index) const;
    /// Whether page `index` shows something in `other` (a session of the same form).
    [[nodiscard]] bool pageVisible(int index, const forms::FormSession& other) const;
    /// The keypad's target takes `text` at its end (or loses its last character with `erase`)
    /// and the answer follows, as typing would.
    void keypadEdit(App& app, std::string_view text, bool erase);
    /// What the keypad's target holds now.
    [[nodiscard]] std::string keypadText() const;
    /// Whether the keypad's target takes a number (Integer or Decimal question).
    [[nodiscard]] bool keypadNumeric() const;
    [[nodiscard]] bool keypadDecimal() const;
    void closeKeypad();
    /// The next visible page after (dir > 0) or before (dir < 0) the current one, or -1.
    [[nodiscard]] int neighbour(int dir) const;
    [[nodiscard]] int visiblePageNumber() const;  // 1-based among visible pages
    [[nodiscard]] int visiblePageCount() const;
    /// Problems on the current page (visible items only), required ones included.
    [[nodiscard]] std::vector<forms::SessionProblem> pageProblems() const;
    void goTo(const forms::ItemPath& path);

    /// The record's list text from the form's summary question.
    [[nodiscard]] std::string summary() const;
};

/// Label of an item in `lang`, falling back to the form's default language, then any.
std::string localized(const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* texts,
                      std::string_view lang, std::string_view fallback);
std::string formTitle(const fb::Form& form, std::string_view lang);
/// The form's version as its author writes it: its version_label ("2024-03-15", "1.4") when it
/// has one, else the number.
std::string formVersionText(const fb::Form& form);
const fb::Language* formLanguage(const fb::Form& form, std::string_view tag);
/// An answer as text for lists and the read-only view (choice labels in `lang`).
std::string formatAnswer(const fb::Form& form, const fb::Item& item, const AnswerValue& value,
                         std::string_view lang);
/// Translated text of a problem as shown next to its question.
std::string problemText(const App& app, const FormView& view, const forms::SessionProblem& p,
                        std::string_view lang);

/// Draws the current page of `view`; answers go into the session as they are given.
void drawPage(App& app, FormView& view);
/// Draws every answered, visible question of a finished record, read-only.
void drawReadOnly(App& app, const forms::CompiledForm& form, const RecordContent& content,
                  std::string_view lang);

}  // namespace veld::client
