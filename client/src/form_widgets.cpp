// The answer widgets of the filling screen that need more than a text box: choices in their
// layouts (column, Likert row, grid, side by side, drop-down), the signature pad, the pseudonym
// entry, the slider of a stepped number, and dates with their calendar.
#include "form_widgets.hpp"

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
#include <veld/pseudonym.hpp>

#include "app.hpp"
#include "media_images.hpp"
#include "read_aloud.hpp"
#include "text.hpp"
#include "ui.hpp"

namespace veld::client::widgets {

// How a select question lays out its choices (its type and XLSForm appearance words).
enum class ChoiceLayout { Column, Likert, Grid, Compact, Combo };

ChoiceLayout choiceLayout(const Ctx& c, const fb::Item& item) {
    const bool one = item.type() == fb::QuestionType::SelectOne;
    // A kiosk's large touch targets keep the scale in a column, and a drop-down list's small
    // rows too.
    if (item.type() == fb::QuestionType::Likert || (one && forms::hasAppearance(item, "likert")))
        return c.view.large ? ChoiceLayout::Column : ChoiceLayout::Likert;
    if (one && forms::hasAppearance(item, "minimal"))
        return c.view.large ? ChoiceLayout::Column : ChoiceLayout::Combo;
    if (forms::hasAppearance(item, "horizontal-compact"))
        return c.rtl ? ChoiceLayout::Grid : ChoiceLayout::Compact;
    if (forms::hasAppearance(item, "horizontal")) return ChoiceLayout::Grid;
    return ChoiceLayout::Column;
}

void drawChoices(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool multi,
                 bool enabled) {
    const fb::ChoiceList* list = choiceList(c.form, item);
    if (!list || !list->choices()) return;
    const std::string key = pathKey(path);
    std::optional<AnswerValue> current = c.session.answer(path);
    std::vector<std::string> selected;
    std::string otherText;
    if (current) {
        if (auto* one = std::get_if<ChoiceAnswer>(&*current)) {
            selected.push_back(one->choice);
            otherText = one->otherText;
        } else if (auto* many = std::get_if<ChoicesAnswer>(&*current)) {
            selected = many->choices;
            otherText = many->otherText;
        }
    }
    const auto isSelected = [&](const fb::Choice* choice) {
        return std::find(selected.begin(), selected.end(), choice->name()->str()) != selected.end();
    };
    // A tap on a choice: select many ticks or unticks it (the session keeps exclusive choices
    // alone); select one picks it, and a second tap takes an optional answer back.
    const auto pick = [&](const fb::Choice* choice) {
        const std::string name = choice->name()->str();
        if (multi) {
            if (!c.session.toggleChoice(path, name)) {
                c.view.typingErrors[key] = std::string(tr(M::AnswerRefused, c.lang));
                return;
            }
            c.view.typingErrors.erase(key);
            changed(c, path);
        } else if (isSelected(choice) && !item.required()) {
            setAnswer(c, path, std::nullopt);
        } else if (!isSelected(choice)) {
            setAnswer(c, path, ChoiceAnswer{name, choice->is_other() ? otherText : ""});
        }
    };
    // Only the choices the question's choice_filter offers as the answers stand (all of them
    // without a filter), in the list's order.
    const std::vector<std::size_t> offered = c.session.offeredChoices(path);
    const auto count = static_cast<int>(offered.size());
    const auto choiceAt = [&](int index) {
        return list->choices()->Get(
            static_cast<flatbuffers::uoffset_t>(offered[static_cast<std::size_t>(index)]));
    };
    if (count == 0) return;  // the filter offers nothing as the answers stand
    const auto row = [&](const fb::Choice* choice, float width) {
        const std::string id = "q." + key + "." + choice->name()->str();
        width = readaloud::choiceStart(c, *choice, id, width);
        if (pictureChoiceRow(c, id, *choice, label(c, choice->labels()), isSelected(choice), multi,
                             enabled, width))
            pick(choice);
        readaloud::choiceEnd(c, *choice, id);
    };
    switch (choiceLayout(c, item)) {
        case ChoiceLayout::Column:
            for (int i = 0; i < count; ++i)
                row(choiceAt(i), 0);
            break;
        case ChoiceLayout::Likert:
        case ChoiceLayout::Grid: {
            // Columns as wide as the widest choice (a Likert scale: one row); in a right-to-left
            // form each row runs from the right.
            int columns = count;
            if (choiceLayout(c, item) == ChoiceLayout::Grid) {
                float widest = 1;
                for (int i = 0; i < count; ++i)
                    widest = std::max(widest,
                                      ui::choiceRowWidth(label(c, choiceAt(i)->labels()), c.rtl));
                const float room = ImGui::GetContentRegionAvail().x;
                columns = std::clamp(static_cast<int>(room / widest), 1, count);
            }
            ImGui::BeginTable(("##choices" + key).c_str(), columns,
                              ImGuiTableFlags_SizingStretchSame);
            const int rows = (count + columns - 1) / columns;
            for (int r = 0; r < rows; ++r) {
                for (int col = 0; col < columns; ++col) {
                    ImGui::TableNextColumn();
                    const int index = r * columns + (c.rtl ? columns - 1 - col : col);
                    if (index < count) row(choiceAt(index), 0);
                }
            }
            ImGui::EndTable();
            break;
        }
        case ChoiceLayout::Compact: {
            // Side by side, each as wide as its label, onto the next line when the row is full.
            const float right = ImGui::GetContentRegionAvail().x + ImGui::GetCursorPosX();
            for (int i = 0; i < count; ++i) {
                const float width = ui::choiceRowWidth(label(c, choiceAt(i)->labels()), c.rtl);
                if (i > 0) {
                    ImGui::SameLine();
                    if (ImGui::GetCursorPosX() + width > right) ImGui::NewLine();
                }
                row(choiceAt(i), width);
            }
            break;
        }
        case ChoiceLayout::Combo: {
            std::string preview = std::string(tr(M::ChooseOne, c.lang));
            for (int i = 0; i < count; ++i) {
                if (isSelected(choiceAt(i))) preview = label(c, choiceAt(i)->labels());
            }
            const ImVec2 min = ImGui::GetCursorScreenPos();
            const float width = ImGui::GetContentRegionAvail().x;
            const float height = std::max(c.rowHeight, ImGui::GetFrameHeight());
            ImGui::SetNextItemWidth(width);
            ImGui::BeginDisabled(!enabled);
            ImGui::PushStyleVar(ImGuiStyleVar_FramePadding,
                                ImVec2(ImGui::GetStyle().FramePadding.x,
                                       (height - ImGui::GetTextLineHeight()) / 2));
            const bool open =
                ImGui::BeginCombo(("##combo" + key).c_str(), ui::display(preview, c.rtl).c_str());
            ImGui::PopStyleVar();
            ui::record("q." + key + ".combo", preview, min, ImVec2(min.x + width, min.y + height));
            if (open) {
                for (int i = 0; i < count; ++i) {
                    const fb::Choice* choice = choiceAt(i);
                    if (ui::selectable("q." + key + "." + choice->name()->str(),
                                       label(c, choice->labels()), isSelected(choice)))
                        pick(choice);
                }
                ImGui::EndCombo();
            }
            ImGui::EndDisabled();
            break;
        }
    }
    bool otherSelected = false;
    for (int i = 0; i < count; ++i)
        otherSelected = otherSelected || (choiceAt(i)->is_other() && isSelected(choiceAt(i)));
    if (otherSelected &&
        textField(c, item, path, ".other", tr(M::OtherSpecify, c.lang), false, enabled)) {
        commitOther(c, item, path);
    }
}

void commitOther(Ctx& c, const fb::Item& item, const forms::ItemPath& path) {
    const std::string& other = buffer(c, path, item, ".other");
    if (const auto current = c.session.answer(path)) {
        if (auto* one = std::get_if<ChoiceAnswer>(&*current)) {
            setAnswer(c, path, ChoiceAnswer{one->choice, other});
        } else if (auto* many = std::get_if<ChoicesAnswer>(&*current)) {
            setAnswer(c, path, ChoicesAnswer{many->choices, other});
        }
    }
}

void drawSignature(Ctx& c, const forms::ItemPath& path, bool enabled) {
    const std::string key = pathKey(path);
    std::optional<AnswerValue> current = c.session.answer(path);
    const SignatureAnswer* sig = current ? std::get_if<SignatureAnswer>(&*current) : nullptr;
    const float scale = c.app.fonts.normalSize / 18.0f;
    const ImVec2 size(std::min(ImGui::GetContentRegionAvail().x, 480 * scale), 160 * scale);
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImGui::PushID(key.c_str());
    ImGui::BeginDisabled(!enabled);
    ImGui::InvisibleButton("##pad", size);
    ImGui::EndDisabled();
    ImGui::PopID();
    ui::recordLast("q." + key + ".pad", {}, enabled);
    ImDrawList* draw = ImGui::GetWindowDrawList();
    draw->AddRectFilled(origin, ImVec2(origin.x + size.x, origin.y + size.y),
                        IM_COL32(255, 255, 255, 255));
    draw->AddRect(origin, ImVec2(origin.x + size.x, origin.y + size.y),
                  ImGui::GetColorU32(ImGuiCol_Border));
    auto& stroke = c.view.strokeInProgress;
    if (enabled && ImGui::IsItemActive()) {
        const ImVec2 m = ImGui::GetIO().MousePos;
        const auto x = static_cast<std::uint16_t>(std::clamp(m.x - origin.x, 0.0f, size.x));
        const auto y = static_cast<std::uint16_t>(std::clamp(m.y - origin.y, 0.0f, size.y));
        if (stroke.empty()) stroke.emplace_back();
        if (stroke.back().empty() || stroke.back().back() != SignaturePoint{x, y}) {
            stroke.back().push_back({x, y});
        }
    } else if (!stroke.empty() && !stroke.back().empty()) {
        SignatureAnswer next = sig ? *sig : SignatureAnswer{};
        next.width = static_cast<std::uint16_t>(size.x);
        next.height = static_cast<std::uint16_t>(size.y);
        next.strokes.push_back(std::move(stroke.back()));
        stroke.clear();
        setAnswer(c, path, std::move(next));
        current = c.session.answer(path);
        sig = current ? std::get_if<SignatureAnswer>(&*current) : nullptr;
    }
    auto drawStroke = [&](const std::vector<SignaturePoint>& points) {
        for (std::size_t i = 1; i < points.size(); ++i) {
            draw->AddLine(ImVec2(origin.x + points[i - 1].x, origin.y + points[i - 1].y),
                          ImVec2(origin.x + points[i].x, origin.y + points[i].y),
                          IM_COL32(20, 20, 60, 255), 2.0f);
        }
    };
    if (sig) {
        for (const auto& s : sig->strokes)
            drawStroke(s);
    }
    for (const auto& s : stroke)
        drawStroke(s);
    if (sig &&
        ui::button("q." + key + ".clear", tr(M::SignatureClear, c.lang), 0, c.rowHeight, enabled)) {
        setAnswer(c, path, std::nullopt);
    }
}

void drawPseudonym(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool enabled) {
    const std::string key = pathKey(path);
    if (auto current = c.session.answer(path)) {
        const auto* p = std::get_if<PseudonymAnswer>(&*current);
        std::string shortId;
        if (p) {
            shortId = toHex(std::span(p->digest).first(std::min<std::size_t>(4, p->digest.size())));
        }
        ui::paragraph(format(tr(M::PseudonymRecorded, c.lang), {shortId}), c.rtl, ui::kOkColor);
        if (ui::button("q." + key + ".change", tr(M::PseudonymChange, c.lang), 0, c.rowHeight,
                       enabled)) {
            setAnswer(c, path, std::nullopt);
        }
        return;
    }
    auto keyResult = pseudonym::parseKey(c.app.settings.pseudonymKey);
    if (!keyResult) {
        ui::hint(tr(M::PseudonymNoKey, c.lang), c.rtl);
        return;
    }
    const fb::IdentifierScheme scheme = item.identifier_scheme();
    std::string& primary = buffer(c, path, item);
    auto commit = [&](std::string_view secondary) {
        auto normalized = pseudonym::normalize(scheme, primary, secondary);
        if (!normalized) {
            c.view.typingErrors[key] = std::string(
                tr(scheme == fb::IdentifierScheme::Bsn ? M::BsnInvalid : M::IdentifierInvalid,
                   c.lang));
            return;
        }
        // The raw identifier leaves memory as soon as its pseudonym exists.
        std::fill(primary.begin(), primary.end(), '\0');
        primary.clear();
        c.view.buffers.erase(key + ".school");
        setAnswer(c, path, pseudonym::make(keyResult.value(), scheme, normalized.value()));
    };
    if (scheme == fb::IdentifierScheme::Bsn) {
        if (ui::input("q." + key, primary, tr(M::BsnHint, c.lang), false, enabled, 0, filterBsn)) {
            std::string digits;
            for (char ch : primary) {
                if (ch >= '0' && ch <= '9') digits += ch;
            }
            c.view.typingErrors.erase(key);
            if (digits.size() >= 9) {
                if (pseudonym::bsnValid(digits)) {
                    commit({});
                } else {
                    c.view.typingErrors[key] = std::string(tr(M::BsnInvalid, c.lang));
                }
            }
        }
        return;
    }
    std::string secondaryValue;
    if (scheme == fb::IdentifierScheme::SchoolPupil) {
        std::string& school = buffer(c, path, item, ".school");
        ui::input("q." + key + ".school", school, tr(M::SchoolCodeHint, c.lang), false, enabled);
        secondaryValue = school;
    }
    ui::input(
        "q." + key, primary,
        tr(scheme == fb::IdentifierScheme::SchoolPupil ? M::PupilNumberHint : M::IdentifierHint,
           c.lang),
        false, enabled);
    if (ui::button("q." + key + ".record", tr(M::PseudonymRecord, c.lang), 0, c.rowHeight,
                   enabled && !primary.empty())) {
        commit(secondaryValue);
    }
}

// A number with a step and both ends (XLSForm's range) is a slider over its steps. Until it is
// moved it shows that nothing is chosen; an optional answer can be taken back.
void drawSlider(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool enabled) {
    const std::string key = pathKey(path);
    const double min = *item.min_value();
    const double step = *item.step();
    const int steps = std::max(
        0, static_cast<int>(std::min(std::floor((*item.max_value() - min) / step + 1e-9), 1e6)));
    const auto current = c.session.answer(path);
    std::optional<double> value;
    if (current) {
        if (const auto* i = std::get_if<std::int64_t>(&*current)) value = static_cast<double>(*i);
        if (const auto* d = std::get_if<DecimalAnswer>(&*current)) value = d->value;
    }
    int index =
        value ? std::clamp(static_cast<int>(std::lround((*value - min) / step)), 0, steps) : 0;
    std::string shown = current ? formatAnswer(c.form, item, *current, c.lang)
                                : std::string(tr(M::SliderNotSet, c.lang));
    // The slider draws its text through a printf format.
    std::string format;
    for (char ch : ui::display(shown, c.rtl)) {
        format += ch;
        if (ch == '%') format += '%';
    }
    const float height = std::max(c.rowHeight, ImGui::GetFrameHeight());
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x);
    ImGui::BeginDisabled(!enabled);
    ImGui::PushStyleVar(
        ImGuiStyleVar_FramePadding,
        ImVec2(ImGui::GetStyle().FramePadding.x, (height - ImGui::GetTextLineHeight()) / 2));
    ImGui::PushStyleVar(ImGuiStyleVar_GrabMinSize, height * 0.6f);
    // Until an answer is given the grab is not drawn: its place would look like one.
    if (!current) ImGui::PushStyleColor(ImGuiCol_SliderGrab, IM_COL32(0, 0, 0, 0));
    const bool moved = ImGui::SliderInt(("##slider" + key).c_str(), &index, 0, steps,
                                        format.c_str(), ImGuiSliderFlags_AlwaysClamp);
    if (!current) ImGui::PopStyleColor();
    ImGui::PopStyleVar(2);
    ImGui::EndDisabled();
    ui::recordLast("q." + key + ".slider", shown, enabled);
    // The ends of the scale under the slider, the lower one on the reading side's start.
    {
        const ImVec2 lo = ImGui::GetItemRectMin();
        const ImVec2 hi = ImGui::GetItemRectMax();
        const auto end = [&](double v) {
            return item.type() == fb::QuestionType::Integer ? std::to_string(std::llround(v))
                                                            : formatDecimal(v);
        };
        const std::string first = end(min);
        const std::string last = end(*item.max_value());
        const std::string& left = c.rtl ? last : first;
        const std::string& right = c.rtl ? first : last;
        const ImU32 colour = ImGui::GetColorU32(ImGuiCol_TextDisabled);
        ImDrawList* draw = ImGui::GetWindowDrawList();
        const float y = hi.y + ImGui::GetStyle().ItemInnerSpacing.y;
        draw->AddText(ImVec2(lo.x, y), colour, left.c_str());
        draw->AddText(ImVec2(hi.x - ImGui::CalcTextSize(right.c_str()).x, y), colour,
                      right.c_str());
        ImGui::Dummy(ImVec2(1, ImGui::GetTextLineHeight()));
    }
    if (moved && enabled) {
        const double v = min + index * step;
        if (item.type() == fb::QuestionType::Integer) {
            setAnswer(c, path, std::int64_t{std::llround(v)});
        } else {
            // Through its shortest text, so that 0.1 steps store 0.3, not 0.30000000000000004.
            const std::string text = formatDecimal(v);
            setAnswer(c, path, DecimalAnswer{std::strtod(text.c_str(), nullptr), text});
        }
    }
    if (current && !item.required() &&
        ui::button("q." + key + ".clear", tr(M::AnswerClear, c.lang), 0, c.rowHeight, enabled)) {
        setAnswer(c, path, std::nullopt);
    }
}

namespace {

int filterDate(ImGuiInputTextCallbackData* data) {
    const ImWchar c = data->EventChar;
    return (c >= '0' && c <= '9') || c == '-' || c == '/' || c == '.' ? 0 : 1;
}

struct Civil {
    int year;
    int month;  // 1-12
    int day;
};

Civil civil(std::int64_t days) {
    const std::string iso = expr::formatIsoDate(days);
    return {std::atoi(iso.substr(0, 4).c_str()), std::atoi(iso.substr(5, 2).c_str()),
            std::atoi(iso.substr(8, 2).c_str())};
}

std::optional<std::int64_t> fromCivil(int year, int month, int day) {
    if (year < 0 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31)
        return std::nullopt;
    char iso[32];  // room for any int, so the compiler sees nothing cut off
    std::snprintf(iso, sizeof iso, "%04d-%02d-%02d", year, month, day);
    return expr::parseIsoDate(iso);
}

// The '|'-separated entry `index` of a message ("januari|februari|...").
std::string nth(std::string_view list, int index) {
    for (int i = 0; i < index; ++i) {
        const auto bar = list.find('|');
        if (bar == std::string_view::npos) return {};
        list.remove_prefix(bar + 1);
    }
    return std::string(list.substr(0, list.find('|')));
}

// The calendar under a date question's button: a month of day buttons, weeks from Monday. The
// month shown is kept in Dear ImGui's storage for the popup; it starts at the answer's month,
// else this month. A day picked becomes the answer.
void drawCalendar(Ctx& c, const forms::ItemPath& path, const std::string& id, std::string& buf) {
    const std::string popup = id + ".calendar";
    ImGuiStorage* storage = ImGui::GetStateStorage();
    const ImGuiID monthKey = ImGui::GetID((popup + ".month").c_str());
    if (ui::button(id + ".pick", tr(M::DatePick, c.lang), 0, c.rowHeight)) {
        const auto typed = parseDate(buf);
        const Civil start = civil(typed ? *typed : localToday(c.app.now()));
        storage->SetInt(monthKey, start.year * 12 + start.month - 1);
        ImGui::OpenPopup(popup.c_str());
    }
    if (!ImGui::BeginPopup(popup.c_str())) return;
    int month = storage->GetInt(monthKey, 0);
    const int year = month / 12;
    const std::string title =
        nth(tr(M::DateMonths, c.lang), month % 12) + " " + std::to_string(year);
    if (ui::button(id + ".calendar.prev", "<", c.rowHeight, c.rowHeight)) --month;
    ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(title.c_str());
    ui::recordLast(id + ".calendar.month", title);
    ImGui::SameLine();
    if (ui::button(id + ".calendar.next", ">", c.rowHeight, c.rowHeight)) ++month;
    storage->SetInt(monthKey, month);
    const auto first = fromCivil(month / 12, month % 12 + 1, 1);
    const auto answered = parseDate(buf);
    const std::int64_t today = localToday(c.app.now());
    if (first && ImGui::BeginTable("##days", 7, ImGuiTableFlags_SizingFixedSame)) {
        for (int w = 0; w < 7; ++w) {
            ImGui::TableNextColumn();
            ImGui::TextDisabled("%s", nth(tr(M::DateWeekdays, c.lang), w).c_str());
        }
        // 1970-01-01 was a Thursday: Monday is 0.
        const int lead = static_cast<int>(((*first + 3) % 7 + 7) % 7);
        for (int i = 0; i < lead; ++i)
            ImGui::TableNextColumn();
        for (int day = 1; day <= 31; ++day) {
            const auto date = fromCivil(month / 12, month % 12 + 1, day);
            if (!date) break;
            ImGui::TableNextColumn();
            const bool chosen = answered && *answered == *date;
            if (chosen || *date == today) {
                ImGui::PushStyleColor(
                    ImGuiCol_Button,
                    ImGui::GetColorU32(chosen ? ImGuiCol_ButtonActive : ImGuiCol_FrameBg));
            }
            if (ui::button(id + ".calendar.day." + std::to_string(day), std::to_string(day),
                           c.rowHeight * 1.2f, c.rowHeight)) {
                buf = formatDate(*date);
                c.view.typingErrors.erase(pathKey(path));
                setAnswer(c, path, DateAnswer{static_cast<std::int32_t>(*date)});
                ImGui::CloseCurrentPopup();
            }
            if (chosen || *date == today) ImGui::PopStyleColor();
        }
        ImGui::EndTable();
    }
    ImGui::EndPopup();
}

}  // namespace

std::optional<std::int64_t> parseDate(std::string_view typed) {
    while (!typed.empty() && typed.front() == ' ')
        typed.remove_prefix(1);
    while (!typed.empty() && typed.back() == ' ')
        typed.remove_suffix(1);
    // Three runs of digits with one kind of separator between them.
    std::string_view parts[3];
    char separator = 0;
    std::size_t part = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= typed.size(); ++i) {
        const bool end = i == typed.size();
        const char ch = end ? '\0' : typed[i];
        if (!end && ch >= '0' && ch <= '9') continue;
        if (!end && ch != '-' && ch != '/' && ch != '.') return std::nullopt;
        if (!end && separator != 0 && ch != separator) return std::nullopt;
        if (!end) separator = ch;
        if (part >= 3 || i == start) return std::nullopt;
        parts[part++] = typed.substr(start, i - start);
        start = i + 1;
    }
    if (part != 3) return std::nullopt;
    const auto number = [](std::string_view digits) {
        int v = 0;
        for (char ch : digits)
            v = v * 10 + (ch - '0');
        return v;
    };
    // ISO: a four-digit year first, with hyphens and two-digit month and day.
    if (parts[0].size() == 4) {
        if (separator != '-' || parts[1].size() != 2 || parts[2].size() != 2) return std::nullopt;
        return fromCivil(number(parts[0]), number(parts[1]), number(parts[2]));
    }
    // Day first, as the Dutch write it; the year in full.
    if (parts[0].size() > 2 || parts[1].size() > 2 || parts[2].size() != 4) return std::nullopt;
    return fromCivil(number(parts[2]), number(parts[1]), number(parts[0]));
}

std::string formatDate(std::int64_t days) {
    const Civil d = civil(days);
    char text[16];
    std::snprintf(text, sizeof text, "%02d-%02d-%04d", d.day, d.month, d.year);
    return text;
}

void drawDate(Ctx& c, const fb::Item& item, const forms::ItemPath& path, bool enabled) {
    const std::string key = pathKey(path);
    const std::string id = "q." + key;
    std::string& buf = buffer(c, path, item);
    if (ui::input(id, buf, tr(M::DateHint, c.lang), false, enabled, 0, filterDate)) {
        const auto days = buf.empty() ? std::nullopt : parseDate(buf);
        if (buf.empty()) {
            c.view.typingErrors.erase(key);
            setAnswer(c, path, std::nullopt);
        } else if (!days || *days < INT32_MIN || *days > INT32_MAX) {
            setAnswer(c, path, std::nullopt);
            c.view.typingErrors[key] = std::string(tr(M::NotADate, c.lang));
        } else {
            setAnswer(c, path, DateAnswer{static_cast<std::int32_t>(*days)});
        }
    }
    if (ui::button(id + ".today", tr(M::Today, c.lang), 0, c.rowHeight, enabled)) {
        const std::int64_t today = localToday(c.app.now());
        buf = formatDate(today);
        c.view.typingErrors.erase(key);
        setAnswer(c, path, DateAnswer{static_cast<std::int32_t>(today)});
    }
    // The kiosk's respondents type the date or take today's: the calendar's month and day names
    // exist in the field worker's languages only.
    if (enabled && c.app.screen != Screen::Kiosk) {
        ImGui::SameLine();
        drawCalendar(c, path, id, buf);
    }
}

}  // namespace veld::client::widgets
