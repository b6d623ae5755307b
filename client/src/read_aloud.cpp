#include "read_aloud.hpp"

#include <algorithm>
#include <cstdio>
#include <span>

#include <imgui.h>

#include <veld/fb/form_generated.h>
#include <veld/form_media.hpp>

#include "app.hpp"
#include "form_widgets.hpp"
#include "ui.hpp"

namespace veld::client {

void ReadAloud::open(const std::string& spec) {
    auto output = speech::parseOutput(spec);
    if (!output) {
        std::fprintf(stderr, "veld: VELD_AUDIO=%s is not %s\n", spec.c_str(),
                     speech::outputForms().c_str());
        output = speech::Output{speech::Output::Kind::None, {}, 1};
    }
    speaker = std::make_unique<speech::Speaker>(std::move(*output));
}

namespace readaloud {

namespace {

using widgets::pathKey;

// One thing to say, its clip still inside the form.
struct Part {
    std::string key;
    std::string text;
    std::string language;
    std::span<const std::uint8_t> clip;
};

struct Source {
    const fb::Form& form;
    const forms::FormSession& session;
    const std::string& lang;
    const std::string& fallback;
};

// The text in `lang` with its recording; a text missing in `lang` is read in the language it is
// shown in (the form's default), never with another language's voice.
void addPart(const Source& s, std::vector<Part>& out, std::string key,
             const forms::LocalizedTexts* texts) {
    if (!texts) return;
    const std::string shown = localized(texts, s.lang, s.fallback);
    if (shown.empty()) return;
    std::string language = s.lang;
    bool exact = false;
    for (const auto* t : *texts) {
        if (t->lang() && t->text() && t->lang()->string_view() == s.lang) exact = true;
    }
    if (!exact) {
        for (const auto* t : *texts) {
            if (t->lang() && t->text() && t->text()->str() == shown) language = t->lang()->str();
        }
    }
    Part part{std::move(key), shown, language, {}};
    if (const auto* file = forms::mediaFile(s.form, forms::labelAudio(texts, language));
        file && file->kind() == fb::MediaKind::Audio)
        part.clip = forms::mediaBytes(*file);
    out.push_back(std::move(part));
}

// A translation-table text, in the language it really is in (English when `lang` has none).
void addMessage(const Source& s, std::vector<Part>& out, std::string key, M m) {
    const std::string_view text = tr(m, s.lang);
    const bool english = s.lang != "en" && s.lang != "nl" && text == tr(m, "en");
    out.push_back(Part{std::move(key), std::string(text), english ? "en" : s.lang, {}});
}

void addChoice(const Source& s, std::vector<Part>& out, const std::string& id,
               const fb::Choice& choice) {
    addPart(s, out, id, choice.labels());
}

// The question's label, its hint, then each choice offered as the answers stand.
std::vector<Part> questionParts(const Source& s, const fb::Item& item,
                                const forms::ItemPath& path) {
    std::vector<Part> out;
    const std::string key = "q." + pathKey(path);
    addPart(s, out, key, item.labels());
    addPart(s, out, key + ".hint", item.hints());
    switch (item.type()) {
        case fb::QuestionType::SelectOne:
        case fb::QuestionType::SelectMany:
        case fb::QuestionType::Likert: {
            const fb::ChoiceList* list = widgets::choiceList(s.form, item);
            if (!list || !list->choices()) break;
            for (std::size_t i : s.session.offeredChoices(path)) {
                const fb::Choice* choice =
                    list->choices()->Get(static_cast<flatbuffers::uoffset_t>(i));
                addChoice(s, out, key + "." + choice->name()->str(), *choice);
            }
            break;
        }
        case fb::QuestionType::Consent:
            addMessage(s, out, key + ".yes", M::ConsentYes);
            addMessage(s, out, key + ".no", M::ConsentNo);
            break;
        default:
            break;
    }
    return out;
}

std::vector<speech::Utterance> utterances(const std::vector<Part>& parts) {
    std::vector<speech::Utterance> out;
    for (const auto& p : parts)
        out.push_back(speech::Utterance{p.key, p.text, p.language, {p.clip.begin(), p.clip.end()}});
    return out;
}

enum class Look { Read, Stop, NoSound, CannotRead };

// What a speaker button for `parts` shows.
Look lookFor(const App& app, const std::vector<Part>& parts, const std::string& scope) {
    const auto& r = app.readAloud;
    if (!r.speaker) return Look::NoSound;
    const auto status = r.speaker->status();
    if (status == speech::Status::NoDevice || status == speech::Status::Off) return Look::NoSound;
    const bool audible = std::any_of(parts.begin(), parts.end(), [&](const Part& p) {
        return r.speaker->canRead(p.language, !p.clip.empty());
    });
    if (!audible) return Look::CannotRead;
    return r.scope == scope && r.speaker->busy() ? Look::Stop : Look::Read;
}

// A loudspeaker (a box and a cone) in the square at `min` of side `side`, with sound waves, or a
// cross (no sound), or a stop square instead of the waves.
void drawSymbol(ImDrawList* draw, ImVec2 min, float side, Look look, ImU32 fg) {
    const float u = side / 10;
    const float t = std::max(2.0f, u * 0.7f);
    if (look == Look::Stop) {
        draw->AddRectFilled(ImVec2(min.x + 3 * u, min.y + 3 * u),
                            ImVec2(min.x + 7 * u, min.y + 7 * u), fg, u * 0.4f);
        return;
    }
    draw->AddRectFilled(ImVec2(min.x + 1.5f * u, min.y + 4 * u),
                        ImVec2(min.x + 3 * u, min.y + 6 * u), fg);
    draw->AddQuadFilled(
        ImVec2(min.x + 3 * u, min.y + 4 * u), ImVec2(min.x + 5.5f * u, min.y + 2 * u),
        ImVec2(min.x + 5.5f * u, min.y + 8 * u), ImVec2(min.x + 3 * u, min.y + 6 * u), fg);
    const ImVec2 c(min.x + 5.5f * u, min.y + 5 * u);
    if (look == Look::Read) {
        for (float r : {1.6f * u, 3.0f * u}) {
            draw->PathArcTo(c, r, -0.8f, 0.8f, 12);
            draw->PathStroke(fg, 0, t);
        }
    } else {
        draw->AddLine(ImVec2(min.x + 6.5f * u, min.y + 3.5f * u),
                      ImVec2(min.x + 9.0f * u, min.y + 6.5f * u), fg, t);
        draw->AddLine(ImVec2(min.x + 9.0f * u, min.y + 3.5f * u),
                      ImVec2(min.x + 6.5f * u, min.y + 6.5f * u), fg, t);
    }
}

M wordFor(Look look) {
    switch (look) {
        case Look::Read:
            return M::ReadAloud;
        case Look::Stop:
            return M::ReadAloudStop;
        case Look::NoSound:
            return M::ReadAloudNoSound;
        case Look::CannotRead:
            return M::ReadAloudCannot;
    }
    return M::ReadAloud;
}

// A speaker button `height` tall: the symbol, and the word when `withWord`. True when tapped.
bool speakerButton(const std::string& id, Look look, const std::string& lang, bool rtl,
                   float height, bool withWord) {
    const bool enabled = look == Look::Read || look == Look::Stop;
    const std::string_view word = tr(wordFor(look), lang);
    const std::string& shown = ui::display(word, rtl);
    const float pad = ImGui::GetStyle().FramePadding.x;
    const float width = withWord ? height + ImGui::CalcTextSize(shown.c_str()).x + pad * 2 : height;
    ImGui::PushID(id.c_str());
    ImGui::BeginDisabled(!enabled);
    const bool pressed = ImGui::Button("##speaker", ImVec2(width, height));
    ImGui::EndDisabled();
    ImGui::PopID();
    const ImVec2 min = ImGui::GetItemRectMin();
    ImDrawList* draw = ImGui::GetWindowDrawList();
    const ImU32 fg = ImGui::GetColorU32(enabled ? ImGuiCol_Text : ImGuiCol_TextDisabled);
    // The symbol on the reading side, the word after it.
    const float symbolX = rtl && withWord ? min.x + width - height : min.x;
    drawSymbol(draw, ImVec2(symbolX, min.y), height, look, fg);
    if (withWord) {
        const float textX = rtl ? min.x + pad : min.x + height;
        draw->AddText(ImVec2(textX, min.y + (height - ImGui::GetTextLineHeight()) / 2), fg,
                      shown.c_str());
    }
    ui::recordLast(id, word, enabled);
    return pressed && enabled;
}

void toggle(App& app, const std::string& scope, const std::vector<Part>& parts) {
    auto& r = app.readAloud;
    if (!r.speaker) return;
    if (r.scope == scope && r.speaker->busy()) {
        r.speaker->stop();
        r.scope.clear();
        return;
    }
    r.scope = scope;
    r.speaker->say(utterances(parts));
}

// The item being heard gets a thick outline around `min`..`max`, recorded for tests as "reading".
void markReading(ImVec2 min, ImVec2 max, const std::string& key) {
    const float t = 4;
    ImGui::GetWindowDrawList()->AddRect(ImVec2(min.x + t / 2, min.y + t / 2),
                                        ImVec2(max.x - t / 2, max.y - t / 2),
                                        ImGui::GetColorU32(ImGuiCol_Text), 4, 0, t);
    ui::record("reading", key, min, max);
}

Source sourceOf(widgets::Ctx& c) {
    return Source{c.form, c.session, c.lang, c.fallback};
}

float buttonHeight(const widgets::Ctx& c) {
    // A kiosk's buttons are at least 50 px square, whatever the scale.
    return c.view.large ? std::max(c.rowHeight, 56.0f) : ImGui::GetFrameHeight();
}

// A choice's own button: reads just that choice; lit while the choice is heard.
void choiceButton(widgets::Ctx& c, const fb::Choice& choice, const std::string& id) {
    std::vector<Part> parts;
    addChoice(sourceOf(c), parts, id, choice);
    const std::string scope = "speak." + id;
    const bool heard = c.app.readAloud.current() == id;
    if (heard) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetColorU32(ImGuiCol_ButtonActive));
    if (speakerButton(scope, lookFor(c.app, parts, scope), c.lang, c.rtl, buttonHeight(c), false))
        toggle(c.app, scope, parts);
    if (heard) ImGui::PopStyleColor();
}

}  // namespace

void pageShown(App& app, const FormView& view) {
    auto& r = app.readAloud;
    r.pageDrawn = true;
    if (!view.session || !view.form) return;
    const std::string key = std::string(view.onePerPage ? "kiosk:" : "fill:") +
                            view.form->form().id()->str() + ":" + view.language + ":" +
                            std::to_string(view.page);
    if (key == r.pageKey) return;
    r.pageKey = key;
    if (r.speaker) r.speaker->stop();
    r.scope.clear();
    const auto* settings = view.form->form().settings();
    if (!r.speaker || !view.onePerPage || view.readOnly || !settings || !settings->read_aloud())
        return;
    if (view.page < 0 || view.page >= static_cast<int>(view.pages.size())) return;
    const std::string fallback = view.form->defaultLanguage();
    const Source s{view.form->form(), *view.session, view.language, fallback};
    std::vector<Part> parts;
    std::string scope;
    for (const auto& pi : view.pages[static_cast<std::size_t>(view.page)].items) {
        if (pi.item->kind() != fb::ItemKind::Question || pi.item->hidden() ||
            !view.session->isVisible(pi.path))
            continue;
        if (scope.empty()) scope = "speak.q." + pathKey(pi.path);
        auto more = questionParts(s, *pi.item, pi.path);
        parts.insert(parts.end(), std::make_move_iterator(more.begin()),
                     std::make_move_iterator(more.end()));
    }
    if (parts.empty()) return;
    r.scope = scope;
    r.speaker->say(utterances(parts));
}

void endFrame(App& app) {
    auto& r = app.readAloud;
    if (!r.pageDrawn && !r.pageKey.empty()) {
        if (r.speaker) r.speaker->stop();
        r.scope.clear();
        r.pageKey.clear();
    }
    r.pageDrawn = false;
}

void questionButton(widgets::Ctx& c, const fb::Item& item, const forms::ItemPath& path) {
    if (item.type() == fb::QuestionType::None) return;
    const std::string id = "speak.q." + pathKey(path);
    const std::vector<Part> parts = questionParts(sourceOf(c), item, path);
    if (parts.empty()) return;
    const Look look = lookFor(c.app, parts, id);
    const float h = buttonHeight(c);
    if (c.rtl) {
        const std::string& shown = ui::display(tr(wordFor(look), c.lang), true);
        const float w =
            h + ImGui::CalcTextSize(shown.c_str()).x + ImGui::GetStyle().FramePadding.x * 2;
        ImGui::SetCursorPosX(std::max(
            ImGui::GetCursorPosX(), ImGui::GetCursorPosX() + ImGui::GetContentRegionAvail().x - w));
    }
    if (speakerButton(id, look, c.lang, c.rtl, h, true)) toggle(c.app, id, parts);
    const std::string heard = c.app.readAloud.current();
    const std::string key = "q." + pathKey(path);
    if (!heard.empty() && (heard == key || heard == key + ".hint"))
        markReading(ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), heard);
}

float choiceStart(widgets::Ctx& c, const fb::Choice& choice, const std::string& id, float width) {
    if (!c.view.large) return width;
    const float h = buttonHeight(c);
    const float spacing = ImGui::GetStyle().ItemSpacing.x;
    if (c.rtl) {
        // The end of a right-to-left row is on the left: the button comes first.
        choiceButton(c, choice, id);
        ImGui::SameLine();
        return width > 0 ? std::max(h, width - h - spacing) : 0;
    }
    const float room = width > 0 ? width : ImGui::GetContentRegionAvail().x;
    return std::max(h, room - h - spacing);
}

void rowDrawn(widgets::Ctx& c, const std::string& id) {
    if (c.app.readAloud.current() == id)
        markReading(ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), id);
}

void choiceEnd(widgets::Ctx& c, const fb::Choice& choice, const std::string& id) {
    rowDrawn(c, id);
    if (c.view.large && !c.rtl) {
        ImGui::SameLine();
        choiceButton(c, choice, id);
    }
}

}  // namespace readaloud
}  // namespace veld::client
