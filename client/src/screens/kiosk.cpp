// Kiosk mode: a self-administered, anonymous survey on a shared screen. A welcome screen with
// large language buttons, one question per page, a thank-you screen, then the next respondent.
// Answers live only in memory until the response is finished; an abandoned response is thrown
// away after a warning. Nothing else is reachable without the staff PIN, and neither is closing.
#include <algorithm>

#include <imgui.h>
#include <imgui_internal.h>

#include <veld/pin.hpp>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

constexpr int kWarnSeconds = 20;  // how long the "are you still there?" warning shows

float touchHeight(const App& app) {
    return 64.0f * app.fonts.largeSize / 30.0f;
}

// Forgets everything a respondent typed, including Dear ImGui's copy of the active text field.
void forgetRespondent(KioskState& state) {
    state.view.clear();
    state.pageMessage.clear();
    state.saveError.clear();
    state.idleWarning = false;
    ImGui::ClearActiveID();
    ImGuiContext& g = *ImGui::GetCurrentContext();
    g.InputTextState.ClearFreeMemory();
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

void beginRespondent(App& app, KioskState& state, const FormEntry& form, const std::string& lang) {
    forgetRespondent(state);
    state.view.start(form.compiled, forms::FormSession::start(form.compiled, lang), lang, true,
                     true);
    state.phase = KioskPhase::Questions;
    state.lastActivityMs = app.now();
}

void finish(App& app, KioskState& state) {
    auto content = state.view.session->finalContent();
    if (!content) {
        const auto problems = state.view.session->problems();
        if (!problems.empty()) state.view.goTo(problems.front().path);
        state.view.showAll = true;
        state.pageMessage = std::string(tr(M::KioskAnswerFirst, state.view.language));
        return;
    }
    RecordContent record = std::move(content.value());
    record.paradata.kiosk = true;
    const std::string summary = state.view.summary();
    state.saving = true;
    app.withStore(
        [record = std::move(record), summary](Store& store) {
            return store.finalizeNew(record, summary);
        },
        [&app, &state](Result<Finalized> result) {
            state.saving = false;
            if (!result) {
                // The answers stay on screen (and in memory) so nothing is lost; staff help.
                state.saveError = std::string(tr(M::KioskSaveFailed, state.view.language));
                return;
            }
            ++state.completed;
            const std::string lang = state.view.language;
            forgetRespondent(state);
            state.view.language = lang;  // the thank-you screen speaks the respondent's language
            state.phase = KioskPhase::ThankYou;
            state.thankYouSinceMs = app.now();
        });
}

void drawPinPad(App& app, KioskState& state) {
    const std::string& lang = app.settings.uiLanguage;
    ui::heading(tr(M::PinEnter, lang), false);
    std::string dots;
    for (std::size_t i = 0; i < state.pinEntry.size(); ++i)
        dots += "\u25CF ";
    ui::paragraph(dots.empty() ? std::string(" ") : dots, false);
    const std::int64_t lockedMs = app.settings.pinLockedUntilMs - app.now();
    if (lockedMs > 0) {
        ui::error(format(tr(M::PinLocked, lang), {std::to_string((lockedMs + 999) / 1000)}), false);
    } else if (!state.pinMessage.empty()) {
        ui::error(state.pinMessage, false);
    }
    const float h = touchHeight(app);
    const float w = h * 1.6f;
    const char* keys[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9"};
    for (int i = 0; i < 9; ++i) {
        if (i % 3 != 0) ImGui::SameLine();
        if (ui::button(std::string("kiosk.pin.") + keys[i], keys[i], w, h,
                       !state.pinChecking && state.pinEntry.size() < 12)) {
            state.pinEntry += keys[i];
        }
    }
    if (ui::button("kiosk.pin.back", tr(M::PinBackspace, lang), w, h,
                   !state.pinChecking && !state.pinEntry.empty())) {
        state.pinEntry.pop_back();
    }
    ImGui::SameLine();
    if (ui::button("kiosk.pin.0", "0", w, h, !state.pinChecking && state.pinEntry.size() < 12)) {
        state.pinEntry += '0';
    }
    ImGui::SameLine();
    if (ui::button("kiosk.pin.ok", tr(M::Ok, lang), w, h,
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
                               const PinPurpose purpose = state.pin;
                               state.pinMessage.clear();
                               leaveKiosk(app, state);
                               if (purpose == PinPurpose::Close) app.quit();
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
    if (ui::button("kiosk.pin.cancel", tr(M::Cancel, lang),
                   w * 3 + ImGui::GetStyle().ItemSpacing.x * 2, h, !state.pinChecking)) {
        state.pin = PinPurpose::None;
        state.pinEntry.clear();
        state.pinMessage.clear();
        state.lastActivityMs = app.now();
    }
}

void drawStaffButton(App& app, KioskState& state) {
    const float h = touchHeight(app);
    const std::string_view label = tr(M::KioskStaff, app.settings.uiLanguage);
    const float w = ImGui::CalcTextSize(label.data(), label.data() + label.size()).x +
                    ImGui::GetStyle().FramePadding.x * 2;
    ImGui::SetCursorPos(
        ImVec2(ImGui::GetWindowWidth() - w - 12, ImGui::GetWindowHeight() - h - 12));
    ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetColorU32(ImGuiCol_FrameBg));
    if (ui::button("kiosk.staff", label, w, h)) state.pin = PinPurpose::Leave;
    ImGui::PopStyleColor();
}

void drawWelcome(App& app, KioskState& state, const FormEntry& form) {
    const fb::Form& f = form.compiled->form();
    ui::heading(formTitle(f, f.default_language()->str()), false);
    ui::paragraph(std::string(tr(M::KioskChooseLanguage, "nl")) + " / " +
                      std::string(tr(M::KioskChooseLanguage, "en")),
                  false);
    ImGui::Spacing();
    // Without a project key no respondent's answers could be kept (a kiosk form is sealed): the
    // kiosk stays locked, and staff leave it with the PIN to synchronise.
    if (!app.settings.projectKey) {
        ui::paragraph(tr(M::SealedNeedsKey, app.settings.uiLanguage), false);
        return;
    }
    const float h = touchHeight(app);
    const float w = std::min(ImGui::GetContentRegionAvail().x, 520.0f * app.fonts.largeSize / 30);
    for (const auto& tag : form.offered) {
        const fb::Language* l = formLanguage(f, tag);
        const std::string name = l && l->name() ? l->name()->str() : tag;
        ImGui::SetCursorPosX((ImGui::GetWindowWidth() - w) / 2);
        if (ui::button("kiosk.lang." + tag, name, w, h)) {
            beginRespondent(app, state, form, tag);
        }
    }
    if (!form.unrenderable.empty()) {
        std::string names;
        for (const auto& n : form.unrenderable)
            names += (names.empty() ? "" : ", ") + n;
        ImGui::PushFont(app.fonts.normal);
        ui::hint(format(tr(M::LanguagesNotShown, app.settings.uiLanguage), {names}), false);
        ImGui::PopFont();
    }
}

void drawQuestions(App& app, KioskState& state) {
    FormView& view = state.view;
    const std::string& lang = view.language;
    ui::hint(format(tr(M::KioskProgress, lang), {std::to_string(view.visiblePageNumber()),
                                                 std::to_string(view.visiblePageCount())}),
             view.rtl);
    const float h = touchHeight(app);
    const float footer = h + ImGui::GetStyle().ItemSpacing.y * 3 +
                         (state.pageMessage.empty() && state.saveError.empty()
                              ? 0
                              : ImGui::GetTextLineHeightWithSpacing() * 2);
    ImGui::BeginChild("##question", ImVec2(0, -footer - h - 24), false);
    drawPage(app, view);
    ImGui::EndChild();
    if (!state.saveError.empty()) ui::error(state.saveError, view.rtl);
    if (!state.pageMessage.empty()) ui::error(state.pageMessage, view.rtl);
    const int prev = view.neighbour(-1);
    const int next = view.neighbour(1);
    const float w = std::min(ImGui::GetContentRegionAvail().x / 2 - 8, 360.0f);
    auto back = [&] {
        if (ui::button("kiosk.back", tr(M::Back, lang), w, h, prev >= 0 && !state.saving)) {
            view.page = prev;
            view.showAll = false;
            state.pageMessage.clear();
        }
    };
    auto forward = [&] {
        const bool last = next < 0;
        if (ui::button(last ? "kiosk.finish" : "kiosk.next",
                       tr(last ? M::KioskFinish : M::Next, lang), w, h, !state.saving)) {
            const auto problems = view.pageProblems();
            const bool declined = !problems.empty() &&
                                  std::all_of(problems.begin(), problems.end(), [&](const auto& p) {
                                      const auto a = view.session->answer(p.path);
                                      return p.kind == forms::SessionProblem::Kind::ConsentNeeded &&
                                             a && std::holds_alternative<bool>(*a) &&
                                             !std::get<bool>(*a);
                                  });
            if (declined) {
                // Consent refused: nothing of this response is kept; thank them all the same.
                const std::string keep = lang;
                forgetRespondent(state);
                state.view.language = keep;
                state.phase = KioskPhase::ThankYou;
                state.thankYouSinceMs = app.now();
            } else if (!problems.empty()) {
                view.showAll = true;
                state.pageMessage = std::string(tr(M::KioskAnswerFirst, lang));
            } else if (last) {
                finish(app, state);
            } else {
                view.page = next;
                view.showAll = false;
                state.pageMessage.clear();
            }
        }
    };
    // Reading direction decides which side "back" is on.
    if (view.rtl) {
        forward();
        ImGui::SameLine(ImGui::GetContentRegionAvail().x - w + ImGui::GetCursorPosX() - 8);
        back();
    } else {
        back();
        ImGui::SameLine(ImGui::GetWindowWidth() - w - ImGui::GetStyle().WindowPadding.x);
        forward();
    }

    if (state.idleWarning) {
        ImGui::OpenPopup("##idle");
    }
    ImGui::SetNextWindowPos(
        ImVec2(ImGui::GetIO().DisplaySize.x * 0.5f, ImGui::GetIO().DisplaySize.y * 0.5f),
        ImGuiCond_Always, ImVec2(0.5f, 0.5f));
    if (ImGui::BeginPopupModal("##idle", nullptr, ImGuiWindowFlags_AlwaysAutoResize)) {
        const std::int64_t idleMs = app.now() - state.lastActivityMs;
        const std::int64_t leftS = std::max<std::int64_t>(
            0, (std::int64_t{app.settings.kioskIdleSeconds + kWarnSeconds} * 1000 - idleMs + 999) /
                   1000);
        ui::heading(tr(M::KioskStillThere, lang), view.rtl);
        ui::paragraph(format(tr(M::KioskWillClear, lang), {std::to_string(leftS)}), view.rtl);
        if (ui::button("kiosk.continue", tr(M::KioskContinue, lang), 360, h) ||
            !state.idleWarning) {
            state.idleWarning = false;
            state.lastActivityMs = app.now();
            ImGui::CloseCurrentPopup();
        }
        ImGui::EndPopup();
    }
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

void kioskRequestClose(App& app, KioskState& state) {
    (void)app;
    state.pin = PinPurpose::Close;
    state.pinEntry.clear();
}

void kioskTick(App& app, KioskState& state, bool userActive) {
    const std::int64_t now = app.now();
    if (userActive) {
        state.lastActivityMs = now;
        state.idleWarning = false;
    }
    const std::int64_t idleMs = now - state.lastActivityMs;
    if (state.phase == KioskPhase::Questions && !state.saving) {
        const std::int64_t limit = std::int64_t{app.settings.kioskIdleSeconds} * 1000;
        if (idleMs >= limit + kWarnSeconds * 1000) {
            forgetRespondent(state);  // abandoned: nothing of it is kept
            state.phase = KioskPhase::Welcome;
        } else if (idleMs >= limit) {
            state.idleWarning = true;
        }
    } else if (state.phase == KioskPhase::ThankYou &&
               now - state.thankYouSinceMs >= std::int64_t{app.settings.kioskResetSeconds} * 1000) {
        state.view.language.clear();
        state.phase = KioskPhase::Welcome;
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
    ImGui::PushFont(app.fonts.large);
    ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(16, 12));
    if (state.pin != PinPurpose::None) {
        drawPinPad(app, state);
    } else {
        switch (state.phase) {
            case KioskPhase::Welcome:
                drawWelcome(app, state, *form);
                break;
            case KioskPhase::Questions:
                drawQuestions(app, state);
                break;
            case KioskPhase::ThankYou: {
                const std::string lang = state.view.language.empty() ? "nl" : state.view.language;
                const fb::Language* l = formLanguage(form->compiled->form(), lang);
                ImGui::SetCursorPosY(ImGui::GetWindowHeight() * 0.35f);
                ui::heading(tr(M::KioskThanks, lang), l && l->rtl());
                break;
            }
        }
        if (state.phase != KioskPhase::Questions || !state.idleWarning) drawStaffButton(app, state);
    }
    ImGui::PopStyleVar();
    ImGui::PopFont();
}

}  // namespace veld::client
