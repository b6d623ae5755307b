// Kiosk mode: a self-administered, anonymous survey on a shared screen. A welcome screen with
// large language buttons, one question per page, a thank-you screen, then the next respondent.
// Answers live only in memory until the response is finished; an abandoned response is thrown
// away after a warning. Nothing else is reachable without the staff PIN, and neither is closing.
//
// Every page is laid out in fixed places (pageLayout): a top bar (progress, the theme and staff
// buttons), the question, a reserved strip for messages, and the back/next buttons at the
// bottom; nothing a parent taps moves when a message appears. A right-to-left language mirrors
// the page.
#include <algorithm>

#include <imgui.h>
#include <imgui_internal.h>

#include <veld/pin.hpp>

#include "../app.hpp"
#include "../keyboard.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

constexpr int kWarnSeconds = 20;  // how long the "are you still there?" warning shows

// The fixed places of a kiosk page, in screen coordinates.
struct Layout {
    float touch = 0;  // height (and least width) of a target
    float margin = 0;
    float left = 0;  // the page's usable width runs from left to right
    float right = 0;
    float topY = 0;    // the top bar: progress, speaker, theme and staff buttons
    float stripY = 0;  // the reserved message strip
    float stripH = 0;
    float footerY = 0;   // back and next
    float contentY = 0;  // the question (and the keypad) between the top bar and the strip
    float contentBottom = 0;
    // Room for a speaker button (read-aloud) next to the progress, on the reading side.
    ImVec2 speakerMin;
    ImVec2 speakerMax;
};

Layout pageLayout(const App& app, bool rtl) {
    Layout l;
    const ImVec2 pos = ImGui::GetWindowPos();
    const ImVec2 size = ImGui::GetWindowSize();
    l.touch = touchSize(app);
    l.margin = kTouchGapPx + 4;
    l.left = pos.x + l.margin;
    l.right = pos.x + size.x - l.margin;
    l.topY = pos.y + l.margin;
    l.footerY = pos.y + size.y - l.margin - l.touch;
    l.stripH = ImGui::GetTextLineHeight() * 2.2f;
    l.stripY = l.footerY - kTouchGapPx - l.stripH;
    l.contentY = l.topY + l.touch + kTouchGapPx;
    l.contentBottom = l.stripY - kTouchGapPx;
    // The speaker sits after the progress text on the reading side.
    const float progressW = std::min(420.0f, (l.right - l.left) / 3);
    const float speakerX =
        rtl ? l.right - progressW - kTouchGapPx - l.touch : l.left + progressW + kTouchGapPx;
    l.speakerMin = ImVec2(speakerX, l.topY);
    l.speakerMax = ImVec2(speakerX + l.touch, l.topY + l.touch);
    return l;
}

KioskTheme staffTheme(const App& app) {
    return themeFromName(app.settings.kioskTheme);
}

bool wantKeypad(const App& app) {
    if (app.settings.kioskKeypad == "always") return true;
    if (app.settings.kioskKeypad == "never") return false;
    return !keyboardAttached();
}

// Forgets everything a respondent typed, including Dear ImGui's copy of the active text field.
void forgetRespondent(KioskState& state) {
    state.view.clear();
    state.pageMessage.clear();
    state.saveError.clear();
    state.idleWarning = false;
    state.keypadPending.clear();
    state.countedChanges = -1;
    state.countedPage = -1;
    ImGui::ClearActiveID();
    ImGuiContext& g = *ImGui::GetCurrentContext();
    g.InputTextState.ClearFreeMemory();
}

// The welcome screen for the next respondent, in staff's look.
void welcomeNext(App& app, KioskState& state) {
    forgetRespondent(state);
    state.view.language.clear();
    state.theme = staffTheme(app);
    state.phase = KioskPhase::Welcome;
}

void noClipboard(void*, const char*) {}

// The platform layer's clipboard writer, put back when the kiosk ends.
void (*g_savedClipboard)(void*, const char*) = nullptr;

void leaveKiosk(App& app, KioskState& state) {
    forgetRespondent(state);
    state.pin = PinPurpose::None;
    state.pinEntry.clear();
    state.formId.clear();
    if (ImGui::GetIO().SetClipboardTextFn == noClipboard) {
        ImGui::GetIO().SetClipboardTextFn = g_savedClipboard;
    }
    app.saveSetting("kiosk.form", "");
    app.screen = Screen::Home;
    app.refreshCounts();
}

// A page of one text or number question opens the keypad on it at once.
void openKeypadForPage(KioskState& state) {
    FormView& view = state.view;
    view.closeKeypad();
    state.keypadPending.clear();
    if (!view.onScreenKeypad || view.page < 0 || view.page >= static_cast<int>(view.pages.size()))
        return;
    const Page& page = view.pages[static_cast<std::size_t>(view.page)];
    if (page.items.size() != 1) return;
    const PageItem& pi = page.items.front();
    const fb::Item& item = *pi.item;
    if (item.kind() != fb::ItemKind::Question || item.step()) return;
    const auto type = item.type();
    if (type != fb::QuestionType::Text && type != fb::QuestionType::Integer &&
        type != fb::QuestionType::Decimal)
        return;
    if (view.session->isReadOnly(pi.path)) return;
    std::string key = pi.path.name;
    for (std::size_t i : pi.path.instances)
        key += '#' + std::to_string(i);
    view.keypadKey = key;
    view.keypadPath = pi.path;
    view.keypadItem = &item;
}

void showPage(KioskState& state, int page) {
    state.view.page = page;
    state.view.showAll = false;
    state.pageMessage.clear();
    openKeypadForPage(state);
}

void beginRespondent(App& app, KioskState& state, const FormEntry& form, const std::string& lang) {
    forgetRespondent(state);
    state.view.start(form.compiled, forms::FormSession::start(form.compiled, lang), lang, true,
                     true);
    state.view.quietProblems = true;
    state.keypad = wantKeypad(app);
    state.view.onScreenKeypad = state.keypad;
    state.phase = KioskPhase::Questions;
    state.lastActivityMs = app.now();
    showPage(state, state.view.page);
}

void thankYou(App& app, KioskState& state) {
    const std::string lang = state.view.language;
    forgetRespondent(state);
    state.view.language = lang;  // the thank-you screen speaks the respondent's language
    state.phase = KioskPhase::ThankYou;
    state.thankYouSinceMs = app.now();
}

// Where the respondent is, counted over the pages they will see: consent not given yet counts
// as given (the pages after it are what a consenting parent sees), so the count does not jump
// once they consent. Other questions that depend on answers count as the answers stand.
void countPages(KioskState& state) {
    FormView& view = state.view;
    if (state.countedChanges == view.changes && state.countedPage == view.page) return;
    state.countedChanges = view.changes;
    state.countedPage = view.page;
    const int n = static_cast<int>(view.pages.size());
    std::vector<bool> visible(static_cast<std::size_t>(n));
    auto hypothetical = forms::FormSession::open(view.form, view.session->content(), view.language);
    for (int i = 0; i < n; ++i) {
        if (hypothetical) {
            forms::FormSession& h = hypothetical.value();
            for (const auto& pi : view.pages[static_cast<std::size_t>(i)].items) {
                if (pi.item->kind() == fb::ItemKind::Question &&
                    pi.item->type() == fb::QuestionType::Consent && h.isVisible(pi.path) &&
                    !h.answer(pi.path)) {
                    (void)h.setAnswer(pi.path, true);
                }
            }
            visible[static_cast<std::size_t>(i)] = view.pageVisible(i, h);
        } else {
            visible[static_cast<std::size_t>(i)] = view.pageVisible(i);
        }
    }
    int number = 0;
    int total = 0;
    bool later = false;
    for (int i = 0; i < n; ++i) {
        if (!visible[static_cast<std::size_t>(i)] && i != view.page) continue;
        ++total;
        if (i <= view.page) ++number;
        if (i > view.page) later = true;
    }
    state.pageNumber = std::max(1, number);
    state.pageTotal = std::max(total, state.pageNumber);
    state.lastPage = !later && view.neighbour(1) < 0;
}

// Consent refused on this page: the response ends here and nothing of it is kept.
bool consentDeclined(const FormView& view, const std::vector<forms::SessionProblem>& problems) {
    return !problems.empty() && std::all_of(problems.begin(), problems.end(), [&](const auto& p) {
        const auto a = view.session->answer(p.path);
        return p.kind == forms::SessionProblem::Kind::ConsentNeeded && a &&
               std::holds_alternative<bool>(*a) && !std::get<bool>(*a);
    });
}

void finish(App& app, KioskState& state) {
    auto content = state.view.session->finalContent();
    if (!content) {
        const auto problems = state.view.session->problems();
        if (!problems.empty()) showPage(state, state.view.pageOfItem[problems.front().path.name]);
        state.view.showAll = true;
        return;
    }
    RecordContent record = std::move(content.value());
    record.paradata.kiosk = true;
    const std::string summary = state.view.summary();
    state.saving = true;
    app.withStore([record = std::move(record),
                   summary](Store& store) { return store.finalizeNew(record, summary); },
                  [&app, &state](Result<Finalized> result) {
                      state.saving = false;
                      if (!result) {
                          // The answers stay on screen (and in memory) so nothing is lost; staff
                          // help.
                          state.saveError =
                              std::string(tr(M::KioskSaveFailed, state.view.language));
                          return;
                      }
                      ++state.completed;
                      app.recordFinalized();
                      thankYou(app, state);
                  });
}

// --- the parts of a page ---

// A label drawn as a button of at least the touch size.
bool touchButton(const Layout& l, std::string_view id, std::string_view label, ImVec2 at,
                 float width, bool enabled = true) {
    ImGui::SetCursorScreenPos(at);
    return ui::button(id, label, std::max(width, l.touch), l.touch, enabled);
}

float labelWidth(std::string_view label) {
    const std::string& shown = ui::display(label, false);
    return ImGui::CalcTextSize(shown.c_str()).x + ImGui::GetStyle().FramePadding.x * 2;
}

// The theme button: "Aa" and a half-filled circle, then the word in the respondent's language
// (none on the welcome screen, where no language is chosen yet). Each tap moves to the next look.
std::string themeLabel(std::string_view lang) {
    std::string label = "Aa";
    if (!lang.empty()) label += "  " + std::string(tr(M::KioskTheme, lang));
    return label;
}

// The circle's room: its diameter and a gap on each side.
float themeCircleRoom(const Layout& l) {
    return l.touch * 0.44f + ImGui::GetStyle().FramePadding.x;
}

float themeButtonWidth(const Layout& l, std::string_view lang) {
    return std::max(l.touch, labelWidth(themeLabel(lang)) + themeCircleRoom(l));
}

void drawThemeButton(App& app, KioskState& state, const Layout& l, ImVec2 at, float width,
                     std::string_view lang) {
    // The label on the left, the drawn circle in the room kept on the right.
    ImGui::PushStyleVar(ImGuiStyleVar_ButtonTextAlign, ImVec2(0.0f, 0.5f));
    if (touchButton(l, "kiosk.theme", themeLabel(lang), at, width)) {
        const int next = (static_cast<int>(state.theme) + 1) % 3;
        state.theme = kKioskThemes[next];
        state.lastActivityMs = app.now();
    }
    ImGui::PopStyleVar();
    const ImVec2 max = ImGui::GetItemRectMax();
    const float r = l.touch * 0.22f;
    const ImVec2 c(max.x - r - ImGui::GetStyle().FramePadding.x, (at.y + max.y) / 2);
    ImDrawList* draw = ImGui::GetWindowDrawList();
    const ImU32 fg = ImGui::GetColorU32(ImGuiCol_Text);
    draw->AddCircle(c, r, fg, 24, 2);
    draw->PathArcTo(c, r, IM_PI * 0.5f, IM_PI * 1.5f, 16);
    draw->PathFillConvex(fg);
}

void drawStaffButton(App& app, KioskState& state, const Layout& l, ImVec2 at, float width) {
    const std::string_view label = tr(M::KioskStaff, app.settings.uiLanguage);
    ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetColorU32(ImGuiCol_FrameBg));
    if (touchButton(l, "kiosk.staff", label, at, width)) {
        state.pin = PinPurpose::Leave;
        state.pinEntry.clear();
        state.pinMessage.clear();
    }
    ImGui::PopStyleColor();
}

// The top bar: `leading` (progress or title) on the reading side, the theme and staff buttons
// on the other.
void drawTopBar(App& app, KioskState& state, const Layout& l, std::string_view leading, bool rtl,
                std::string_view lang) {
    const std::string_view staffLabel = tr(M::KioskStaff, app.settings.uiLanguage);
    const float staffW = std::max(l.touch, labelWidth(staffLabel));
    const float themeW = themeButtonWidth(l, lang);
    const float buttonsW = staffW + kTouchGapPx + themeW;
    // Reading side: LTR left, RTL right; the buttons on the other, the staff button outermost.
    const float themeX = rtl ? l.left + staffW + kTouchGapPx : l.right - buttonsW;
    const float staffX = rtl ? l.left : l.right - staffW;
    drawThemeButton(app, state, l, ImVec2(themeX, l.topY), themeW, lang);
    drawStaffButton(app, state, l, ImVec2(staffX, l.topY), staffW);
    if (!leading.empty()) {
        // The progress leaves room for the speaker; the welcome screen's title takes the bar.
        float x = l.left;
        float w = l.speakerMin.x - l.left - kTouchGapPx;
        if (rtl) {
            x = l.speakerMax.x + kTouchGapPx;
            w = l.right - x;
        }
        if (lang.empty()) {
            x = rtl ? l.left + buttonsW + kTouchGapPx : l.left;
            w = l.right - l.left - buttonsW - kTouchGapPx;
        }
        ImGui::SetCursorScreenPos(ImVec2(x, l.topY + (l.touch - ImGui::GetTextLineHeight()) / 2));
        ImGui::BeginChild("##topbar", ImVec2(w, l.touch), false,
                          ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoBackground |
                              ImGuiWindowFlags_NoInputs);
        ui::hint(leading, rtl);
        ImGui::EndChild();
    }
}

// The one message of a page, in the reserved strip (empty: the strip stays empty).
std::string pageMessage(const App& app, const KioskState& state) {
    const FormView& view = state.view;
    if (!state.saveError.empty()) return state.saveError;
    const Page& page = view.pages[static_cast<std::size_t>(view.page)];
    for (const auto& pi : page.items) {
        auto typing = view.typingErrors.find(pi.path.name);
        if (typing != view.typingErrors.end() && !typing->second.empty()) return typing->second;
    }
    const auto problems = view.pageProblems();
    if (problems.empty()) return {};
    const auto& p = problems.front();
    const bool touched = view.touched.count(p.path.name) > 0;
    const bool quiet = p.kind == forms::SessionProblem::Kind::Required ||
                       p.kind == forms::SessionProblem::Kind::ConsentNeeded;
    if (!view.showAll && (quiet || !touched)) return {};
    if (p.kind == forms::SessionProblem::Kind::Required && p.message.empty())
        return std::string(tr(M::KioskAnswerFirst, view.language));
    return problemText(app, view, p, view.language);
}

void drawMessageStrip(const App& app, KioskState& state, const Layout& l) {
    const std::string message = pageMessage(app, state);
    if (message.empty()) return;
    ImGui::SetCursorScreenPos(ImVec2(l.left, l.stripY));
    warningLine(message, state.view.rtl, themeColours(state.theme).error, l.right - l.left);
}

void drawNavigation(App& app, KioskState& state, const Layout& l) {
    FormView& view = state.view;
    const std::string& lang = view.language;
    const float w = std::min(360.0f, (l.right - l.left - kTouchGapPx) / 2);
    // Reading direction decides which side "back" is on.
    const float backX = view.rtl ? l.right - w : l.left;
    const float forwardX = view.rtl ? l.left : l.right - w;
    if (touchButton(l, "kiosk.back", tr(M::Back, lang), ImVec2(backX, l.footerY), w,
                    !state.saving)) {
        const int prev = view.neighbour(-1);
        if (prev >= 0) {
            showPage(state, prev);
        } else {
            // The first question: back to the language choice (the same parent, the same look).
            forgetRespondent(state);
            state.phase = KioskPhase::Welcome;
            return;
        }
    }
    const bool last = state.lastPage && !consentDeclined(view, view.pageProblems());
    if (touchButton(l, last ? "kiosk.finish" : "kiosk.next",
                    tr(last ? M::KioskFinish : M::Next, lang), ImVec2(forwardX, l.footerY), w,
                    !state.saving)) {
        const auto problems = view.pageProblems();
        const int next = view.neighbour(1);
        if (consentDeclined(view, problems)) {
            // Consent refused: nothing of this response is kept; thank them all the same.
            thankYou(app, state);
        } else if (!problems.empty()) {
            view.showAll = true;
        } else if (next < 0) {
            finish(app, state);
        } else {
            showPage(state, next);
        }
    }
}

void drawIdleWarning(App& app, KioskState& state, const Layout& l) {
    FormView& view = state.view;
    const std::string& lang = view.language;
    ImGui::SetNextWindowPos(
        ImVec2(ImGui::GetIO().DisplaySize.x * 0.5f, ImGui::GetIO().DisplaySize.y * 0.5f),
        ImGuiCond_Always, ImVec2(0.5f, 0.5f));
    // No title bar: the question it asks is its first line, in the respondent's language.
    if (ui::beginDialog("kiosk.idle", {}, state.idleWarning)) {
        const std::int64_t idleMs = app.now() - state.lastActivityMs;
        const std::int64_t leftS = std::max<std::int64_t>(
            0, (std::int64_t{app.settings.kioskIdleSeconds + kWarnSeconds} * 1000 - idleMs + 999) /
                   1000);
        ui::heading(tr(M::KioskStillThere, lang), view.rtl);
        ui::paragraph(plural(M::KioskWillClear, leftS, lang), view.rtl);
        if (ui::button("kiosk.continue", tr(M::KioskContinue, lang), 360, l.touch)) {
            state.idleWarning = false;
            state.lastActivityMs = app.now();
            ImGui::CloseCurrentPopup();
        }
        ImGui::EndPopup();
    }
}

// A finger dragged over the question scrolls it, as on a phone; the choice the drag began on
// is not chosen when the finger lifts.
void dragToScroll() {
    const ImGuiIO& io = ImGui::GetIO();
    // The scroll bar, when held, scrolls by itself.
    if (ImGui::GetActiveID() == ImGui::GetWindowScrollbarID(ImGui::GetCurrentWindow(), ImGuiAxis_Y))
        return;
    if (ImGui::IsWindowHovered(ImGuiHoveredFlags_ChildWindows |
                               ImGuiHoveredFlags_AllowWhenBlockedByActiveItem) &&
        ImGui::IsMouseDragging(ImGuiMouseButton_Left) && io.MouseDelta.y != 0 &&
        ImGui::GetScrollMaxY() > 0) {
        ImGui::SetScrollY(ImGui::GetScrollY() - io.MouseDelta.y);
        ImGui::ClearActiveID();
    }
}

// --- the screens ---

// The staff PIN pad, in the staff's language, every key in a fixed place: a message (wrong PIN,
// locked) has its own line and moves nothing.
void drawPinPad(App& app, KioskState& state, const Layout& l) {
    const std::string& lang = app.settings.uiLanguage;
    const float h = l.touch;
    const float w = h * 1.6f;
    const float padW = w * 3 + kTouchGapPx * 2;
    const float x0 = l.left + (l.right - l.left - padW) / 2;
    const float lineH = ImGui::GetTextLineHeightWithSpacing();
    float y = l.topY;
    ImGui::SetCursorScreenPos(ImVec2(x0, y));
    ui::heading(tr(M::PinEnter, lang), false);
    y += lineH * 1.5f;
    std::string dots;
    for (std::size_t i = 0; i < state.pinEntry.size(); ++i)
        dots += "\u25CF ";
    ImGui::SetCursorScreenPos(ImVec2(x0, y));
    ui::paragraph(dots.empty() ? std::string(" ") : dots, false);
    y += lineH;
    const std::int64_t lockedMs = app.settings.pinLockedUntilMs - app.now();
    std::string message = state.pinMessage;
    if (lockedMs > 0) message = plural(M::PinLocked, (lockedMs + 999) / 1000, lang);
    ImGui::SetCursorScreenPos(ImVec2(l.left, y));
    warningLine(message, false, themeColours(state.theme).error, l.right - l.left);
    y += l.stripH + kTouchGapPx;
    const bool typing = !state.pinChecking && state.pinEntry.size() < 12;
    const char* keys[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9"};
    for (int i = 0; i < 9; ++i) {
        const ImVec2 at(x0 + static_cast<float>(i % 3) * (w + kTouchGapPx),
                        y + static_cast<float>(i / 3) * (h + kTouchGapPx));
        if (touchButton(l, std::string("kiosk.pin.") + keys[i], keys[i], at, w, typing))
            state.pinEntry += keys[i];
    }
    const float row4 = y + 3 * (h + kTouchGapPx);
    if (touchButton(l, "kiosk.pin.back", tr(M::PinBackspace, lang), ImVec2(x0, row4), w,
                    !state.pinChecking && !state.pinEntry.empty())) {
        state.pinEntry.pop_back();
    }
    if (touchButton(l, "kiosk.pin.0", "0", ImVec2(x0 + w + kTouchGapPx, row4), w, typing))
        state.pinEntry += '0';
    if (touchButton(l, "kiosk.pin.ok", tr(M::Ok, lang), ImVec2(x0 + 2 * (w + kTouchGapPx), row4), w,
                    !state.pinChecking && lockedMs <= 0 && !state.pinEntry.empty())) {
        state.pinChecking = true;
        const std::string entered = std::exchange(state.pinEntry, {});
        const std::string stored = app.settings.pinHash;
        app.worker.run([stored, entered] { return pin::verify(stored, entered); },
                       [&app, &state](bool ok) {
                           state.pinChecking = false;
                           if (ok) {
                               app.settings.pinFailures = 0;
                               app.settings.pinLockedUntilMs = 0;
                               app.saveSetting("kiosk.pin_failures", "0");
                               app.saveSetting("kiosk.pin_locked_until_ms", "0");
                               state.pinMessage.clear();
                               // Also when the window was asked to close: the right PIN leaves
                               // kiosk mode, and closing the program is staff's next choice.
                               leaveKiosk(app, state);
                               return;
                           }
                           ++app.settings.pinFailures;
                           app.settings.pinLockedUntilMs =
                               app.now() + pin::lockoutMs(app.settings.pinFailures);
                           app.saveSetting("kiosk.pin_failures",
                                           std::to_string(app.settings.pinFailures));
                           app.saveSetting("kiosk.pin_locked_until_ms",
                                           std::to_string(app.settings.pinLockedUntilMs));
                           state.pinMessage = std::string(tr(M::PinWrong, app.settings.uiLanguage));
                       });
    }
    if (touchButton(l, "kiosk.pin.cancel", tr(M::Cancel, lang), ImVec2(x0, row4 + h + kTouchGapPx),
                    padW, !state.pinChecking)) {
        state.pin = PinPurpose::None;
        state.pinEntry.clear();
        state.pinMessage.clear();
        state.lastActivityMs = app.now();
    }
}

// "Choose your language" in every language the form offers, two to a row, each in its own
// direction.
void drawChooseLanguage(const FormEntry& form, const Layout& l, float y) {
    const fb::Form& f = form.compiled->form();
    std::vector<std::pair<std::string, bool>> lines;
    for (const auto& tag : form.offered) {
        const fb::Language* lang = formLanguage(f, tag);
        const std::string text(tr(M::KioskChooseLanguage, tag));
        const bool seen = std::any_of(lines.begin(), lines.end(),
                                      [&](const auto& line) { return line.first == text; });
        if (!seen) lines.emplace_back(text, lang && lang->rtl());
    }
    const float colW = (l.right - l.left - kTouchGapPx) / 2;
    const float lineH = ImGui::GetTextLineHeightWithSpacing();
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const float x = l.left + static_cast<float>(i % 2) * (colW + kTouchGapPx);
        ImGui::SetCursorScreenPos(ImVec2(x, y + static_cast<float>(i / 2) * lineH));
        ImGui::PushID(static_cast<int>(i));
        ImGui::BeginChild("##choose", ImVec2(colW, lineH), false,
                          ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoBackground |
                              ImGuiWindowFlags_NoInputs);
        ui::paragraph(lines[i].first, lines[i].second);
        ImGui::EndChild();
        ImGui::PopID();
    }
}

void drawWelcome(App& app, KioskState& state, const FormEntry& form) {
    const fb::Form& f = form.compiled->form();
    const Layout l = pageLayout(app, false);
    drawTopBar(app, state, l, formTitle(f, f.default_language()->str()), false, {});
    // Without a project key no respondent's answers could be kept (a kiosk form is sealed): the
    // kiosk stays locked, and staff leave it with the PIN to synchronise.
    if (!app.settings.projectKey) {
        ImGui::SetCursorScreenPos(ImVec2(l.left, l.contentY));
        ui::paragraph(tr(M::SealedNeedsKey, app.settings.uiLanguage), false);
        return;
    }
    const float lineH = ImGui::GetTextLineHeightWithSpacing();
    const std::size_t lines = (form.offered.size() + 1) / 2;
    drawChooseLanguage(form, l, l.contentY);
    float y = l.contentY + static_cast<float>(lines) * lineH + kTouchGapPx * 2;
    // One column of language buttons, or two when one does not fit (large text).
    const float bottom = l.footerY + l.touch;
    const auto count = static_cast<float>(form.offered.size());
    const bool twoColumns = y + count * (l.touch + kTouchGapPx) > bottom;
    const float w = twoColumns ? (l.right - l.left - kTouchGapPx) / 2
                               : std::min(l.right - l.left, 560.0f * l.touch / 64);
    for (std::size_t i = 0; i < form.offered.size(); ++i) {
        const std::string& tag = form.offered[i];
        const fb::Language* lang = formLanguage(f, tag);
        const std::string name = lang && lang->name() ? lang->name()->str() : tag;
        const float x = twoColumns ? l.left + static_cast<float>(i % 2) * (w + kTouchGapPx)
                                   : l.left + (l.right - l.left - w) / 2;
        const float row = static_cast<float>(twoColumns ? i / 2 : i);
        if (touchButton(l, "kiosk.lang." + tag, name, ImVec2(x, y + row * (l.touch + kTouchGapPx)),
                        w)) {
            beginRespondent(app, state, form, tag);
        }
    }
    if (!form.unrenderable.empty()) {
        std::string names;
        for (const auto& n : form.unrenderable)
            names += (names.empty() ? "" : ", ") + n;
        ImGui::PushFont(app.fonts.normal);
        ImGui::SetCursorScreenPos(ImVec2(l.left, l.stripY));
        ui::hint(format(tr(M::LanguagesNotShown, app.settings.uiLanguage), {names}), false);
        ImGui::PopFont();
    }
}

void drawQuestions(App& app, KioskState& state) {
    FormView& view = state.view;
    const Layout l = pageLayout(app, view.rtl);
    countPages(state);
    drawTopBar(app, state, l,
               format(tr(M::KioskProgress, view.language),
                      {std::to_string(state.pageNumber), std::to_string(state.pageTotal)}),
               view.rtl, view.language);
    // The keypad (when a field is its target) takes the lower part of the question's room.
    const bool keypadOpen = view.onScreenKeypad && !view.keypadKey.empty();
    const float keypadH = keypadOpen ? keypadHeight(view, l.touch) : 0;
    const float questionBottom = l.contentBottom - keypadH;
    // A question longer than its room scrolls: by dragging it, or with a scroll bar as wide as
    // a touch target.
    ImGui::SetCursorScreenPos(ImVec2(l.left, l.contentY));
    ImGui::PushStyleVar(ImGuiStyleVar_ScrollbarSize, l.touch);
    ImGui::BeginChild("##question", ImVec2(l.right - l.left, questionBottom - l.contentY), false);
    drawPage(app, view);
    dragToScroll();
    ImGui::EndChild();
    ImGui::PopStyleVar();
    if (keypadOpen) {
        drawKeypad(app, view, state.keypadPending, ImVec2(l.left, questionBottom + kTouchGapPx),
                   l.right - l.left, l.touch);
    }
    drawMessageStrip(app, state, l);
    drawNavigation(app, state, l);
    drawIdleWarning(app, state, l);
}

void drawThankYou(App& app, KioskState& state, const FormEntry& form) {
    const std::string lang = state.view.language.empty() ? "nl" : state.view.language;
    const fb::Language* l = formLanguage(form.compiled->form(), lang);
    const bool rtl = l && l->rtl();
    const Layout layout = pageLayout(app, rtl);
    drawTopBar(app, state, layout, {}, rtl, lang);
    ImGui::SetCursorScreenPos(
        ImVec2(layout.left, ImGui::GetWindowPos().y + ImGui::GetWindowHeight() * 0.35f));
    ImGui::BeginChild("##thanks", ImVec2(layout.right - layout.left, layout.touch * 2), false,
                      ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoBackground);
    ui::heading(tr(M::KioskThanks, lang), rtl);
    ImGui::EndChild();
}

}  // namespace

bool startKiosk(App& app, const std::string& formId, bool remember) {
    const FormEntry* form = app.findForm(formId);
    if (!form || app.settings.pinHash.empty()) return false;
    const auto* s = form->compiled->form().settings();
    if (!s || !s->kiosk()) return false;
    closeFill(app);
    KioskState& state = app.kiosk;
    forgetRespondent(state);
    state.formId = formId;
    state.phase = KioskPhase::Welcome;
    state.pin = PinPurpose::None;
    state.theme = staffTheme(app);
    state.completed = 0;
    state.lastActivityMs = app.now();
    // Nothing a respondent selects can be copied out for the next one to paste.
    if (ImGui::GetIO().SetClipboardTextFn != noClipboard) {
        g_savedClipboard = ImGui::GetIO().SetClipboardTextFn;
        ImGui::GetIO().SetClipboardTextFn = noClipboard;
    }
    // A restart comes back to the kiosk, not the menus.
    if (remember) app.saveSetting("kiosk.form", formId);
    app.screen = Screen::Kiosk;
    return true;
}

void kioskChooseLanguage(App& app, KioskState& state, const std::string& language) {
    const FormEntry* form = app.findForm(state.formId);
    if (!form) return;
    for (const auto& tag : form->offered) {
        if (tag == language) beginRespondent(app, state, *form, tag);
    }
}

void kioskGoToPage(App& app, KioskState& state, int page) {
    (void)app;
    if (state.phase != KioskPhase::Questions) return;
    FormView& view = state.view;
    page = std::clamp(page, 0, static_cast<int>(view.pages.size()) - 1);
    // A picture of a later page shows what a consenting parent sees.
    for (int i = 0; i < page; ++i) {
        for (const auto& pi : view.pages[static_cast<std::size_t>(i)].items) {
            if (pi.item->kind() == fb::ItemKind::Question &&
                pi.item->type() == fb::QuestionType::Consent && view.session->isVisible(pi.path) &&
                !view.session->answer(pi.path)) {
                (void)view.session->setAnswer(pi.path, true);
            }
        }
    }
    ++view.changes;
    showPage(state, page);
}

void kioskRequestClose(App& app, KioskState& state) {
    (void)app;
    state.pin = PinPurpose::Close;
    state.pinEntry.clear();
    state.pinMessage.clear();
}

void kioskTick(App& app, KioskState& state, bool userActive) {
    const std::int64_t now = app.now();
    // A parent listening to a page is not idle: the clock starts when the reading ends.
    if (userActive || app.readingAloud()) {
        state.lastActivityMs = now;
        state.idleWarning = false;
    }
    const std::int64_t idleMs = now - state.lastActivityMs;
    if (state.phase == KioskPhase::Questions && !state.saving) {
        const std::int64_t limit = std::int64_t{app.settings.kioskIdleSeconds} * 1000;
        if (idleMs >= limit + kWarnSeconds * 1000) {
            welcomeNext(app, state);  // abandoned: nothing of it is kept
        } else if (idleMs >= limit) {
            state.idleWarning = true;
        }
    } else if (state.phase == KioskPhase::ThankYou &&
               now - state.thankYouSinceMs >= std::int64_t{app.settings.kioskResetSeconds} * 1000) {
        welcomeNext(app, state);
    }
    // An unattended PIN pad closes by itself too.
    if (state.pin != PinPurpose::None && !state.pinChecking &&
        idleMs >= std::int64_t{app.settings.kioskIdleSeconds} * 1000) {
        state.pin = PinPurpose::None;
        state.pinEntry.clear();
    }
}

void drawKiosk(App& app, KioskState& state) {
    const FormEntry* form = app.findForm(state.formId);
    if (!form) {
        leaveKiosk(app, state);
        return;
    }
    pushTheme(app, state.theme);
    if (state.pin != PinPurpose::None) {
        drawPinPad(app, state, pageLayout(app, false));
    } else {
        switch (state.phase) {
            case KioskPhase::Welcome:
                drawWelcome(app, state, *form);
                break;
            case KioskPhase::Questions:
                drawQuestions(app, state);
                break;
            case KioskPhase::ThankYou:
                drawThankYou(app, state, *form);
                break;
        }
    }
    popTheme();
}

}  // namespace veld::client
