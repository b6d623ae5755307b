#include "form_view.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>

#include <imgui.h>
#include <imgui_internal.h>

#include <veld/expression.hpp>
#include <veld/form.hpp>
#include <veld/hex.hpp>
#include <veld/platform/time.hpp>
#include <veld/pseudonym.hpp>

#include "app.hpp"
#include "form_widgets.hpp"
#include "read_aloud.hpp"
#include "text.hpp"
#include "ui.hpp"

namespace veld::client {

namespace widgets {

using ItemVector = flatbuffers::Vector<flatbuffers::Offset<fb::Item>>;

std::string pathKey(const forms::ItemPath& path) {
    std::string key = path.name;
    for (std::size_t i : path.instances) {
        key += '#';
        key += std::to_string(i);
    }
    return key;
}

forms::ItemPath childPath(const fb::Item& child, const forms::ItemPath& parent,
                          std::optional<std::size_t> instance = std::nullopt) {
    forms::ItemPath path{child.name()->str(), parent.instances};
    if (instance) path.instances.push_back(*instance);
    return path;
}

std::string formatTime(std::int64_t msOfDay) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(msOfDay / 3'600'000),
                  static_cast<long long>(msOfDay / 60'000 % 60));
    return buf;
}

std::optional<std::int32_t> parseTime(std::string_view s) {
    unsigned h = 0, m = 0;
    char tail = 0;
    if (s.size() < 3 || s.size() > 5) return std::nullopt;
    if (std::sscanf(std::string(s).c_str(), "%u:%u%c", &h, &m, &tail) != 2) return std::nullopt;
    if (h > 23 || m > 59) return std::nullopt;
    return static_cast<std::int32_t>((h * 60 + m) * 60'000);
}

// Local offset (minutes east of UTC) at a UTC instant.
std::int16_t localOffsetMinutes(std::int64_t utcMs) {
    const std::time_t t = static_cast<std::time_t>(utcMs / 1000);
    return static_cast<std::int16_t>(platform::localOffsetMinutes(t));
}

std::optional<DateTimeAnswer> parseDateTime(std::string_view s) {
    const auto space = s.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto days = expr::parseIsoDate(s.substr(0, space));
    const auto ms = parseTime(s.substr(space + 1));
    if (!days || !ms) return std::nullopt;
    const std::int64_t localMs = *days * 86'400'000 + *ms;
    // The offset in force at that local time (approximated at the instant read as UTC).
    const std::int16_t offset = localOffsetMinutes(localMs);
    return DateTimeAnswer{localMs - std::int64_t{offset} * 60'000, offset};
}

std::string formatDateTime(const DateTimeAnswer& v) {
    const std::int64_t local = v.utcMs + std::int64_t{v.offsetMinutes} * 60'000;
    const std::int64_t days = local >= 0 ? local / 86'400'000 : (local - 86'399'999) / 86'400'000;
    return expr::formatIsoDate(days) + " " + formatTime(local - days * 86'400'000);
}

std::int64_t localToday(std::int64_t nowMs) {
    const std::int64_t local = nowMs + std::int64_t{localOffsetMinutes(nowMs)} * 60'000;
    return local >= 0 ? local / 86'400'000 : (local - 86'399'999) / 86'400'000;
}

std::string formatDecimal(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

int filterInteger(ImGuiInputTextCallbackData* data) {
    const ImWchar c = data->EventChar;
    return (c >= '0' && c <= '9') || c == '-' ? 0 : 1;
}
int filterDecimal(ImGuiInputTextCallbackData* data) {
    const ImWchar c = data->EventChar;
    return (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ',' ? 0 : 1;
}
int filterTime(ImGuiInputTextCallbackData* data) {
    const ImWchar c = data->EventChar;
    return (c >= '0' && c <= '9') || c == ':' ? 0 : 1;
}
int filterDateTime(ImGuiInputTextCallbackData* data) {
    const ImWchar c = data->EventChar;
    return (c >= '0' && c <= '9') || c == ':' || c == '-' || c == ' ' ? 0 : 1;
}
int filterBsn(ImGuiInputTextCallbackData* data) {
    const ImWchar c = data->EventChar;
    return (c >= '0' && c <= '9') || c == ' ' || c == '.' || c == '-' ? 0 : 1;
}

const fb::ChoiceList* choiceList(const fb::Form& form, const fb::Item& item) {
    if (!item.choice_list() || !form.choice_lists()) return nullptr;
    for (const auto* list : *form.choice_lists()) {
        if (list->name() && list->name()->string_view() == item.choice_list()->string_view()) {
            return list;
        }
    }
    return nullptr;
}

void collectPages(const ItemVector* items, std::vector<const fb::Item*>& groups, FormView& view,
                  bool topLevel) {
    if (!items) return;
    for (const auto* item : *items) {
        const forms::ItemPath path{item->name()->str(), {}};
        if (!view.onePerPage) {
            if (topLevel && item->kind() != fb::ItemKind::Question) {
                view.pages.push_back(Page{{PageItem{item, path, {}}}, item});
                continue;
            }
            if (view.pages.empty() || view.pages.back().group != nullptr) {
                view.pages.push_back(Page{});
            }
            view.pages.back().items.push_back(PageItem{item, path, {}});
            continue;
        }
        if (item->kind() == fb::ItemKind::Group) {
            groups.push_back(item);
            collectPages(item->children(), groups, view, false);
            groups.pop_back();
            continue;
        }
        view.pages.push_back(Page{{PageItem{item, path, groups}}, nullptr});
    }
}

void indexNames(const ItemVector* items, int page, std::map<std::string, int>& out) {
    if (!items) return;
    for (const auto* item : *items) {
        out[item->name()->str()] = page;
        indexNames(item->children(), page, out);
    }
}

bool anyVisible(const forms::FormSession& session, const fb::Item& item,
                const forms::ItemPath& path) {
    return !item.hidden() && session.isVisible(path) &&
           (item.kind() != fb::ItemKind::Question || item.type() != fb::QuestionType::None);
}

void collectProblems(const forms::FormSession& session, const fb::Item& item,
                     const forms::ItemPath& path, std::vector<forms::SessionProblem>& out) {
    if (!session.isVisible(path)) return;
    if (auto p = session.problem(path)) out.push_back(*p);
    if (item.kind() == fb::ItemKind::Group && item.children()) {
        for (const auto* child : *item.children()) {
            collectProblems(session, *child, childPath(*child, path), out);
        }
    } else if (item.kind() == fb::ItemKind::Repeat && item.children()) {
        const std::size_t n = session.repeatCount(path);
        for (std::size_t i = 0; i < n; ++i) {
            for (const auto* child : *item.children()) {
                collectProblems(session, *child, childPath(*child, path, i), out);
            }
        }
    }
}

// --- drawing ---

std::string label(const Ctx& c,
                  const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* v) {
    return localized(v, c.lang, c.fallback);
}

void changed(Ctx& c, const forms::ItemPath& path) {
    c.view.touched.insert(pathKey(path));
    ++c.view.changes;
}

void setAnswer(Ctx& c, const forms::ItemPath& path, std::optional<AnswerValue> value) {
    const std::string key = pathKey(path);
    Status status =
        value ? c.session.setAnswer(path, std::move(*value)) : c.session.clearAnswer(path);
    if (!status) {
        c.view.typingErrors[key] = std::string(tr(M::AnswerRefused, c.lang));
        return;
    }
    c.view.typingErrors.erase(key);
    changed(c, path);
}

std::string& buffer(Ctx& c, const forms::ItemPath& path, const fb::Item& item,
                    std::string_view suffix) {
    const std::string key = pathKey(path) + std::string(suffix);
    auto it = c.view.buffers.find(key);
    if (it != c.view.buffers.end()) return it->second;
    std::string initial;
    if (suffix.empty()) {
        if (auto a = c.session.answer(path)) {
            if (item.type() != fb::QuestionType::Pseudonym) {
                initial = formatAnswer(c.form, item, *a, c.lang);
            }
        }
    } else if (suffix == ".other") {
        if (auto a = c.session.answer(path)) {
            if (auto* one = std::get_if<ChoiceAnswer>(&*a)) initial = one->otherText;
            if (auto* many = std::get_if<ChoicesAnswer>(&*a)) initial = many->otherText;
        }
    }
    return c.view.buffers.emplace(key, std::move(initial)).first->second;
}

void drawItem(Ctx& c, const fb::Item& item, const forms::ItemPath& path);

void commitTyped(Ctx& c, const fb::Item& item, const forms::ItemPath& path) {
    const std::string key = pathKey(path);
    std::string& buf = buffer(c, path, item);
    auto refuse = [&](M reason) {
        setAnswer(c, path, std::nullopt);
        c.view.typingErrors[key] = std::string(tr(reason, c.lang));
    };
    if (buf.empty()) {
        setAnswer(c, path, std::nullopt);
        return;
    }
    switch (item.type()) {
        case fb::QuestionType::Text:
            setAnswer(c, path, buf);
            break;
        case fb::QuestionType::Integer: {
            char* end = nullptr;
            errno = 0;
            const long long v = std::strtoll(buf.c_str(), &end, 10);
            if (*end != '\0' || errno == ERANGE) {
                refuse(M::NotAWholeNumber);
            } else {
                setAnswer(c, path, std::int64_t{v});
            }
            break;
        }
        case fb::QuestionType::Decimal: {
            std::string normalized = buf;
            std::replace(normalized.begin(), normalized.end(), ',', '.');
            char* end = nullptr;
            const double v = std::strtod(normalized.c_str(), &end);
            if (*end != '\0' || !std::isfinite(v) || normalized == "-" || normalized == ".") {
                refuse(M::NotANumber);
            } else {
                setAnswer(c, path, DecimalAnswer{v, normalized});
            }
            break;
        }
        default:
            break;
    }
}

bool textField(Ctx& c, const fb::Item& item, const forms::ItemPath& path, std::string_view suffix,
               std::string_view hintText, bool multiline, bool enabled,
               int (*filter)(ImGuiInputTextCallbackData*)) {
    const std::string key = pathKey(path) + std::string(suffix);
    std::string& buf = buffer(c, path, item, suffix);
    // A choice may be named "other" too: a field of its own ("q.NAME.other.field") differs.
    const std::string id = "q." + key + (suffix.empty() ? "" : ".field");
    if (!c.view.onScreenKeypad) {
        return ui::input(id, buf, hintText, multiline, enabled, 0, filter);
    }
    // A field that shows its text; a tap makes it the keypad's target (a thick frame says so).
    const bool target = c.view.keypadKey == key;
    const bool empty = buf.empty();
    std::string shown =
        empty ? std::string(hintText.empty() ? tr(M::KioskTapToType, c.lang) : hintText) : buf;
    ImGui::PushStyleVar(ImGuiStyleVar_ButtonTextAlign, ImVec2(c.rtl ? 1.0f : 0.0f, 0.5f));
    ImGui::PushStyleVar(ImGuiStyleVar_FrameBorderSize, target ? 4.0f : 2.0f);
    ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetColorU32(ImGuiCol_FrameBg));
    ImGui::PushStyleColor(ImGuiCol_Border,
                          ImGui::GetColorU32(target ? ImGuiCol_NavHighlight : ImGuiCol_Border));
    if (empty) ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetColorU32(ImGuiCol_TextDisabled));
    const float height = multiline ? c.rowHeight * 1.6f : c.rowHeight;
    if (ui::button(id, shown, -1, height, enabled)) {
        c.view.keypadKey = key;
        c.view.keypadPath = path;
        c.view.keypadSuffix = std::string(suffix);
        c.view.keypadItem = &item;
    }
    if (empty) ImGui::PopStyleColor();
    ImGui::PopStyleColor(2);
    ImGui::PopStyleVar(2);
    return false;
}

void drawInput(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool enabled) {
    const std::string key = pathKey(path);
    const std::string id = "q." + key;
    std::string& buf = buffer(c, path, item);
    // What was typed is not a valid answer: the old answer goes, and the reason shows.
    auto refuse = [&](M reason) {
        setAnswer(c, path, std::nullopt);
        c.view.typingErrors[key] = std::string(tr(reason, c.lang));
    };
    const bool slider = item.step() && item.min_value() && item.max_value();
    if (slider &&
        (item.type() == fb::QuestionType::Integer || item.type() == fb::QuestionType::Decimal)) {
        drawSlider(c, item, path, enabled);
        return;
    }
    switch (item.type()) {
        case fb::QuestionType::Text:
            if (textField(c, item, path, {}, {},
                          item.multiline() || forms::hasAppearance(item, "multiline"), enabled)) {
                commitTyped(c, item, path);
            }
            break;
        case fb::QuestionType::Integer:
            if (textField(c, item, path, {}, {}, false, enabled, filterInteger))
                commitTyped(c, item, path);
            break;
        case fb::QuestionType::Decimal:
            if (textField(c, item, path, {}, {}, false, enabled, filterDecimal))
                commitTyped(c, item, path);
            break;
        case fb::QuestionType::Date:
            drawDate(c, item, path, enabled);
            break;
        case fb::QuestionType::Time:
            if (ui::input(id, buf, tr(M::TimeHint, c.lang), false, enabled, 0, filterTime)) {
                const auto ms = parseTime(buf);
                if (buf.empty()) {
                    setAnswer(c, path, std::nullopt);
                } else if (!ms) {
                    refuse(M::NotATime);
                } else {
                    setAnswer(c, path, TimeAnswer{*ms});
                }
            }
            break;
        case fb::QuestionType::DateTime:
            if (ui::input(id, buf, tr(M::DateTimeHint, c.lang), false, enabled, 0,
                          filterDateTime)) {
                const auto v = parseDateTime(buf);
                if (buf.empty()) {
                    setAnswer(c, path, std::nullopt);
                } else if (!v) {
                    refuse(M::NotADateTime);
                } else {
                    setAnswer(c, path, *v);
                }
            }
            if (ui::button(id + ".now", tr(M::Now, c.lang), 0, c.rowHeight, enabled)) {
                const std::int64_t now = c.app.now() / 60'000 * 60'000;
                const DateTimeAnswer v{now, localOffsetMinutes(now)};
                buf = formatDateTime(v);
                setAnswer(c, path, v);
            }
            break;
        case fb::QuestionType::SelectOne:
        case fb::QuestionType::Likert:
            drawChoices(c, item, path, false, enabled);
            break;
        case fb::QuestionType::SelectMany:
            drawChoices(c, item, path, true, enabled);
            break;
        case fb::QuestionType::Consent: {
            const auto current = c.session.answer(path);
            const bool* yes = current ? std::get_if<bool>(&*current) : nullptr;
            if (ui::choiceRow(id + ".yes", tr(M::ConsentYes, c.lang), yes && *yes, false, c.rtl,
                              c.rowHeight, enabled)) {
                setAnswer(c, path, true);
            }
            readaloud::rowDrawn(c, id + ".yes");
            if (ui::choiceRow(id + ".no", tr(M::ConsentNo, c.lang), yes && !*yes, false, c.rtl,
                              c.rowHeight, enabled)) {
                setAnswer(c, path, false);
            }
            readaloud::rowDrawn(c, id + ".no");
            break;
        }
        case fb::QuestionType::Signature:
            drawSignature(c, path, enabled);
            break;
        case fb::QuestionType::Pseudonym:
            drawPseudonym(c, item, path, enabled);
            break;
        case fb::QuestionType::Note:
        case fb::QuestionType::None:
            break;
    }
}

void drawQuestion(Ctx& c, const fb::Item& item, const forms::ItemPath& path) {
    const std::string key = pathKey(path);
    const float top = ImGui::GetCursorPosY();
    if (auto known = c.view.heights.find(key); known != c.view.heights.end()) {
        if (!ImGui::IsRectVisible(ImVec2(1, known->second))) {
            ImGui::Dummy(ImVec2(1, known->second - ImGui::GetStyle().ItemSpacing.y));
            return;
        }
    }
    std::string text = label(c, item.labels());
    const bool required = c.session.isRequired(path);
    if (required) text += " *";
    ImGui::PushID(key.c_str());
    readaloud::questionButton(c, item, path);
    if (item.type() == fb::QuestionType::Note) {
        ui::paragraph(text, c.rtl);
    } else {
        ui::paragraph(text, c.rtl);
    }
    const std::string hintText = label(c, item.hints());
    if (!hintText.empty()) ui::hint(hintText, c.rtl);
    const bool computed = c.session.isReadOnly(path) || c.view.readOnly;
    if (item.type() != fb::QuestionType::Note) {
        if (computed) {
            const auto a = c.session.answer(path);
            const std::string shown = a ? formatAnswer(c.form, item, *a, c.lang) : "-";
            ImGui::Indent();
            ui::paragraph(shown, c.rtl);
            ImGui::Unindent();
        } else {
            drawInput(c, item, path, true);
        }
    }
    const auto typing = c.view.typingErrors.find(key);
    if (c.view.quietProblems) {
        // Shown by the kiosk in its own place.
    } else if (typing != c.view.typingErrors.end() && !typing->second.empty()) {
        ui::error(typing->second, c.rtl);
    } else if (auto p = c.session.problem(path)) {
        const bool quiet = p->kind == forms::SessionProblem::Kind::Required ||
                           p->kind == forms::SessionProblem::Kind::ConsentNeeded;
        if (c.view.showAll || (!quiet && c.view.touched.count(key))) {
            ui::error(problemText(c.app, c.view, *p, c.lang), c.rtl);
        }
    }
    ImGui::PopID();
    ImGui::Spacing();
    c.view.heights[key] = ImGui::GetCursorPosY() - top;
}

void drawRepeat(Ctx& c, const fb::Item& item, const forms::ItemPath& path) {
    const std::string key = pathKey(path);
    ui::heading(label(c, item.labels()), c.rtl);
    const std::string hintText = label(c, item.hints());
    if (!hintText.empty()) ui::hint(hintText, c.rtl);
    const std::size_t n = c.session.repeatCount(path);
    // The instances of a repeat with a repeat_count follow an earlier answer.
    const bool counted = item.repeat_count() && item.repeat_count()->size() > 0;
    for (std::size_t i = 0; i < n; ++i) {
        ImGui::PushID(static_cast<int>(i));
        ImGui::Separator();
        ui::paragraph(format(tr(M::RepeatInstance, c.lang),
                             {label(c, item.labels()), std::to_string(i + 1), std::to_string(n)}),
                      c.rtl, ImGui::GetColorU32(ImGuiCol_TextDisabled));
        if (!c.view.readOnly && !counted &&
            ui::button("q." + key + ".remove." + std::to_string(i), tr(M::RepeatRemove, c.lang), 0,
                       c.rowHeight)) {
            if (c.session.removeRepeatInstance(path, i)) {
                // Instances after it moved down: typed text is re-read from the answers.
                c.view.buffers.clear();
                c.view.typingErrors.clear();
                changed(c, path);
            }
            ImGui::PopID();
            break;
        }
        ImGui::Indent();
        if (item.children()) {
            for (const auto* child : *item.children())
                drawItem(c, *child, childPath(*child, path, i));
        }
        ImGui::Unindent();
        ImGui::PopID();
    }
    ImGui::Separator();
    const bool canAdd = item.max_count() == 0 || n < item.max_count();
    if (!c.view.readOnly && !counted &&
        ui::button("q." + key + ".add", format(tr(M::RepeatAdd, c.lang), {label(c, item.labels())}),
                   0, c.rowHeight, canAdd)) {
        if (c.session.addRepeatInstance(path)) changed(c, path);
    }
    if (auto p = c.session.problem(path); p && c.view.showAll) {
        ui::error(problemText(c.app, c.view, *p, c.lang), c.rtl);
    }
}

void drawItem(Ctx& c, const fb::Item& item, const forms::ItemPath& path) {
    // Hidden questions (XLSForm calculate and hidden) are computed and recorded, never shown.
    if (item.hidden() || !c.session.isVisible(path)) return;
    switch (item.kind()) {
        case fb::ItemKind::Group:
            ui::heading(label(c, item.labels()), c.rtl);
            if (item.children()) {
                for (const auto* child : *item.children())
                    drawItem(c, *child, childPath(*child, path));
            }
            break;
        case fb::ItemKind::Repeat:
            drawRepeat(c, item, path);
            break;
        case fb::ItemKind::Question:
            drawQuestion(c, item, path);
            break;
    }
}

}  // namespace widgets

using namespace widgets;

std::string localized(const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* texts,
                      std::string_view lang, std::string_view fallback) {
    if (!texts) return {};
    const fb::LocalizedText* chosen = nullptr;
    for (const auto* t : *texts) {
        if (!t->lang() || !t->text()) continue;
        if (t->lang()->string_view() == lang) return t->text()->str();
        if (t->lang()->string_view() == fallback || !chosen) chosen = t;
    }
    return chosen ? chosen->text()->str() : std::string();
}

std::string formTitle(const fb::Form& form, std::string_view lang) {
    const std::string def = form.default_language() ? form.default_language()->str() : "";
    std::string title = localized(form.titles(), lang, def);
    return title.empty() ? form.id()->str() : title;
}

std::string formVersionText(const fb::Form& form) {
    if (form.version_label() && form.version_label()->size() > 0)
        return form.version_label()->str();
    return std::to_string(form.version());
}

const fb::Language* formLanguage(const fb::Form& form, std::string_view tag) {
    if (!form.languages()) return nullptr;
    for (const auto* l : *form.languages()) {
        if (l->tag()->string_view() == tag) return l;
    }
    return nullptr;
}

namespace {

// A calculation's text as the form shows the same value in its other answers. Calculations
// usually yield a code: an expression's true or false (shown as yes or no), or a choice name
// such as 'yes' or 'usual_care' (shown as that choice's label, when every list of the form that
// has the name labels it alike). Any other text is shown as it is.
std::string calculatedText(const fb::Form& form, const std::string& text, std::string_view lang,
                           std::string_view fallback) {
    if (text == "true") return std::string(tr(M::Yes, lang));
    if (text == "false") return std::string(tr(M::No, lang));
    std::optional<std::string> label;
    if (form.choice_lists()) {
        for (const auto* list : *form.choice_lists()) {
            if (!list->choices()) continue;
            for (const auto* ch : *list->choices()) {
                if (ch->name()->string_view() != text) continue;
                std::string shown = localized(ch->labels(), lang, fallback);
                if (label && *label != shown) return text;  // the lists disagree: the code
                label = std::move(shown);
            }
        }
    }
    return label && !label->empty() ? *label : text;
}

}  // namespace

std::string formatAnswer(const fb::Form& form, const fb::Item& item, const AnswerValue& value,
                         std::string_view lang) {
    const std::string def = form.default_language() ? form.default_language()->str() : "";
    const bool calculated = item.calculation() && item.calculation()->size() > 0;
    auto choiceLabel = [&](const std::string& name) {
        if (const fb::ChoiceList* list = choiceList(form, item); list && list->choices()) {
            for (const auto* ch : *list->choices()) {
                if (ch->name()->string_view() == name) return localized(ch->labels(), lang, def);
            }
        }
        return name;
    };
    return std::visit(
        [&](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return calculated ? calculatedText(form, v, lang, def) : v;
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                return std::to_string(v);
            } else if constexpr (std::is_same_v<T, DecimalAnswer>) {
                return v.text.empty() ? formatDecimal(v.value) : v.text;
            } else if constexpr (std::is_same_v<T, bool>) {
                return std::string(tr(v ? M::Yes : M::No, lang));
            } else if constexpr (std::is_same_v<T, ChoiceAnswer>) {
                std::string s = choiceLabel(v.choice);
                if (!v.otherText.empty()) s = format("{}: {}", {s, v.otherText});
                return s;
            } else if constexpr (std::is_same_v<T, ChoicesAnswer>) {
                std::string s;
                for (const auto& ch : v.choices) {
                    if (!s.empty()) s += ", ";
                    s += choiceLabel(ch);
                }
                if (!v.otherText.empty()) s = format("{}: {}", {s, v.otherText});
                return s;
            } else if constexpr (std::is_same_v<T, DateAnswer>) {
                return formatDate(v.days);
            } else if constexpr (std::is_same_v<T, TimeAnswer>) {
                return formatTime(v.ms);
            } else if constexpr (std::is_same_v<T, DateTimeAnswer>) {
                return formatDateTime(v);
            } else if constexpr (std::is_same_v<T, SignatureAnswer>) {
                return plural(M::SignatureStrokes, static_cast<std::int64_t>(v.strokes.size()),
                              lang);
            } else {
                return std::string(tr(M::PseudonymStored, lang));
            }
        },
        value);
}

std::string problemText(const App& app, const FormView& view, const forms::SessionProblem& p,
                        std::string_view lang) {
    (void)app;
    using Kind = forms::SessionProblem::Kind;
    switch (p.kind) {
        case Kind::Required:
            // The form's own words when it has them (already in the session's language).
            if (!p.message.empty()) return p.message;
            return std::string(tr(M::ProblemRequired, lang));
        case Kind::ConsentNeeded:
            return std::string(tr(M::ProblemConsent, lang));
        case Kind::Constraint: {
            if (view.form) {
                std::function<const fb::Item*(const ItemVector*)> findItem =
                    [&](const ItemVector* items) -> const fb::Item* {
                    if (!items) return nullptr;
                    for (const auto* it : *items) {
                        if (it->name()->string_view() == p.path.name) return it;
                        if (const auto* found = findItem(it->children())) return found;
                    }
                    return nullptr;
                };
                if (const fb::Item* item = findItem(view.form->form().items())) {
                    std::string msg =
                        localized(item->constraint_messages(), lang, view.form->defaultLanguage());
                    if (!msg.empty()) return msg;
                }
            }
            return std::string(tr(M::ProblemConstraint, lang));
        }
        case Kind::OutOfRange:
            return std::string(tr(M::ProblemRange, lang));
        case Kind::TooLong:
            return std::string(tr(M::ProblemTooLong, lang));
        case Kind::Pattern:
            return std::string(tr(M::ProblemPattern, lang));
        case Kind::TooFewInstances:
            return std::string(tr(M::ProblemTooFew, lang));
    }
    return p.message;
}

void FormView::start(std::shared_ptr<const forms::CompiledForm> compiled, forms::FormSession s,
                     std::string lang, bool onePerPageMode, bool largeMode) {
    clear();
    form = std::move(compiled);
    session.emplace(std::move(s));
    language = std::move(lang);
    const fb::Language* l = formLanguage(form->form(), language);
    rtl = l && l->rtl();
    onePerPage = onePerPageMode;
    large = largeMode;
    std::vector<const fb::Item*> groups;
    collectPages(form->form().items(), groups, *this, true);
    for (std::size_t i = 0; i < pages.size(); ++i) {
        for (const auto& pi : pages[i].items) {
            pageOfItem[pi.item->name()->str()] = static_cast<int>(i);
            indexNames(pi.item->children(), static_cast<int>(i), pageOfItem);
        }
    }
    page = pageVisible(0) ? 0 : std::max(0, neighbour(1));
}

void FormView::clear() {
    // Typed text is overwritten before it is freed: a kiosk must not keep a respondent's words.
    for (auto& [key, value] : buffers)
        std::fill(value.begin(), value.end(), '\0');
    buffers.clear();
    pictures.clear();
    typingErrors.clear();
    touched.clear();
    session.reset();
    form.reset();
    pages.clear();
    pageOfItem.clear();
    strokeInProgress.clear();
    heights.clear();
    closeKeypad();
    page = 0;
    showAll = false;
    changes = 0;
    readOnly = false;
}

bool FormView::pageVisible(int index) const {
    if (!session || index < 0 || index >= static_cast<int>(pages.size())) return false;
    for (const auto& pi : pages[static_cast<std::size_t>(index)].items) {
        if (anyVisible(*session, *pi.item, pi.path)) return true;
    }
    return false;
}

bool FormView::pageVisible(int index, const forms::FormSession& other) const {
    if (index < 0 || index >= static_cast<int>(pages.size())) return false;
    for (const auto& pi : pages[static_cast<std::size_t>(index)].items) {
        if (anyVisible(other, *pi.item, pi.path)) return true;
    }
    return false;
}

void FormView::keypadEdit(App& app, std::string_view text, bool erase) {
    if (!session || !form || !keypadItem || keypadKey.empty()) return;
    Ctx c{app, *this, *session, form->form(), language, form->defaultLanguage(), rtl, 0};
    std::string& buf = buffer(c, keypadPath, *keypadItem, keypadSuffix);
    if (erase) {
        // One character (a whole UTF-8 sequence) off the end.
        while (!buf.empty() && (static_cast<unsigned char>(buf.back()) & 0xC0) == 0x80)
            buf.pop_back();
        if (!buf.empty()) buf.pop_back();
    } else {
        buf += text;
    }
    if (keypadSuffix == ".other") {
        commitOther(c, *keypadItem, keypadPath);
    } else {
        commitTyped(c, *keypadItem, keypadPath);
    }
}

std::string FormView::keypadText() const {
    auto it = buffers.find(keypadKey);
    return it == buffers.end() ? std::string() : it->second;
}

bool FormView::keypadNumeric() const {
    return keypadItem && keypadSuffix.empty() &&
           (keypadItem->type() == fb::QuestionType::Integer ||
            keypadItem->type() == fb::QuestionType::Decimal);
}

bool FormView::keypadDecimal() const {
    return keypadItem && keypadSuffix.empty() && keypadItem->type() == fb::QuestionType::Decimal;
}

void FormView::closeKeypad() {
    keypadKey.clear();
    keypadSuffix.clear();
    keypadPath = {};
    keypadItem = nullptr;
}

int FormView::neighbour(int dir) const {
    for (int i = page + dir; i >= 0 && i < static_cast<int>(pages.size()); i += dir) {
        if (pageVisible(i)) return i;
    }
    return -1;
}

int FormView::visiblePageNumber() const {
    int n = 0;
    for (int i = 0; i <= page && i < static_cast<int>(pages.size()); ++i) {
        if (pageVisible(i)) ++n;
    }
    return std::max(n, 1);
}

int FormView::visiblePageCount() const {
    int n = 0;
    for (int i = 0; i < static_cast<int>(pages.size()); ++i) {
        if (pageVisible(i)) ++n;
    }
    return n;
}

std::vector<forms::SessionProblem> FormView::pageProblems() const {
    std::vector<forms::SessionProblem> out;
    if (!session || page < 0 || page >= static_cast<int>(pages.size())) return out;
    for (const auto& pi : pages[static_cast<std::size_t>(page)].items) {
        collectProblems(*session, *pi.item, pi.path, out);
    }
    return out;
}

void FormView::goTo(const forms::ItemPath& path) {
    auto it = pageOfItem.find(path.name);
    if (it != pageOfItem.end()) page = it->second;
}

std::string FormView::summary() const {
    if (!session || !form) return {};
    const fb::FormSettings* s = form->form().settings();
    if (!s || !s->summary_question() || s->summary_question()->size() == 0) return {};
    const std::string name = s->summary_question()->str();
    const auto answer = session->answer(forms::ItemPath{name, {}});
    if (!answer) return {};
    std::function<const fb::Item*(const ItemVector*)> findItem =
        [&](const ItemVector* items) -> const fb::Item* {
        if (!items) return nullptr;
        for (const auto* it : *items) {
            if (it->name()->string_view() == name) return it;
            if (const auto* found = findItem(it->children())) return found;
        }
        return nullptr;
    };
    const fb::Item* item = findItem(form->form().items());
    if (!item) return {};
    return text::truncateUtf8(formatAnswer(form->form(), *item, *answer, form->defaultLanguage()),
                              kMaxSummaryBytes);
}

void drawPage(App& app, FormView& view) {
    if (!view.session || view.pages.empty()) return;
    view.page = std::clamp(view.page, 0, static_cast<int>(view.pages.size()) - 1);
    Ctx c{app,           view,
          *view.session, view.form->form(),
          view.language, view.form->defaultLanguage(),
          view.rtl,      view.large ? 56.0f * app.fonts.largeSize / 30.0f : 0.0f};
    readaloud::pageShown(app, view);
    const Page& page = view.pages[static_cast<std::size_t>(view.page)];
    for (const auto& pi : page.items) {
        if (view.onePerPage && !pi.groups.empty() && view.session->isVisible(pi.path)) {
            ui::hint(label(c, pi.groups.back()->labels()), c.rtl);
        }
        drawItem(c, *pi.item, pi.path);
    }
}

void drawReadOnly(App& app, const forms::CompiledForm& form, const RecordContent& content,
                  std::string_view lang) {
    (void)app;
    const fb::Form& f = form.form();
    const fb::Language* l = formLanguage(f, lang);
    const bool rtl = l && l->rtl();
    const std::string def = form.defaultLanguage();
    std::function<void(const ItemVector*, const std::vector<Answer>&, const std::vector<Repeat>&)>
        walk = [&](const ItemVector* items, const std::vector<Answer>& answers,
                   const std::vector<Repeat>& repeats) {
            if (!items) return;
            for (const auto* item : *items) {
                const std::string name = item->name()->str();
                if (item->kind() == fb::ItemKind::Group) {
                    ui::heading(localized(item->labels(), lang, def), rtl);
                    walk(item->children(), answers, repeats);
                } else if (item->kind() == fb::ItemKind::Repeat) {
                    for (const auto& r : repeats) {
                        if (r.name != name) continue;
                        for (std::size_t i = 0; i < r.instances.size(); ++i) {
                            ui::heading(
                                format(tr(M::RepeatInstance, lang),
                                       {localized(item->labels(), lang, def), std::to_string(i + 1),
                                        std::to_string(r.instances.size())}),
                                rtl);
                            ImGui::Indent();
                            walk(item->children(), r.instances[i].answers, r.instances[i].repeats);
                            ImGui::Unindent();
                        }
                    }
                } else if (item->type() != fb::QuestionType::Note && !item->hidden()) {
                    for (const auto& a : answers) {
                        if (a.name != name) continue;
                        ui::paragraph(localized(item->labels(), lang, def), rtl,
                                      ImGui::GetColorU32(ImGuiCol_TextDisabled));
                        ImGui::Indent();
                        ui::paragraph(formatAnswer(f, *item, a.value, lang), rtl);
                        ImGui::Unindent();
                    }
                }
            }
        };
    walk(f.items(), content.answers, content.repeats);
}

}  // namespace veld::client
