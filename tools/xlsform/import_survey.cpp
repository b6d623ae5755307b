// The XLSForm importer's survey sheet: each row's type (kind, type and what the type word
// implies), its columns, the nesting of groups and repeats, range parameters and or_other lists.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include <veld/expression.hpp>

#include "importer.hpp"

namespace veld::xlsform::detail {

namespace {

constexpr std::size_t kMaxNesting = 32;

std::optional<double> parseNumber(std::string_view text) {
    const std::string_view t = v::trim(text);
    double value = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(value))
        return std::nullopt;
    return value;
}

std::optional<std::uint32_t> parseCount(std::string_view text) {
    const auto n = parseNumber(text);
    if (!n || *n < 0 || *n != std::trunc(*n) || *n > 4294967295.0) return std::nullopt;
    return static_cast<std::uint32_t>(*n);
}

TypeWords readType(std::string_view cell) {
    auto w = words(cell);
    TypeWords t;
    if (w.empty()) return t;
    std::size_t used = 1;
    t.word = v::lower(w[0]);
    if ((t.word == "begin" || t.word == "end") && w.size() > 1) {
        const std::string second = v::lower(w[1]);
        if (second == "group" || second == "repeat") {
            t.word += "_" + second;
            used = 2;
        }
    } else if (t.word == "select" && w.size() > 1) {
        const std::string second = v::lower(w[1]);
        if (second == "one" || second == "multiple") {
            t.word += "_" + second;
            used = 2;
        }
    }
    if (t.word == "select_one" || t.word == "select_multiple") {
        if (w.size() > used) t.list = w[used++];
        if (w.size() > used && v::lower(w[used]) == v::kOrOther) {
            t.orOther = true;
            ++used;
        }
    }
    t.extra = w.size() > used;
    return t;
}

}  // namespace

void Importer::readSurvey() {
    const auto& rows = m_survey.sheet->rows;
    if (!m_survey.byKey.count(std::string(v::kType))) {
        error(&m_survey, m_survey.headerRow, kNoColumn, "the survey sheet has no type column");
        return;
    }
    if (!m_survey.byKey.count(std::string(v::kName))) {
        error(&m_survey, m_survey.headerRow, kNoColumn, "the survey sheet has no name column");
        return;
    }
    std::vector<Open> open;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        RowView r(m_survey, rows[i]);
        if (!anyValue(r, m_survey)) continue;
        const std::uint32_t rowNumber = rows[i].number;
        const std::uint32_t typeColumn = r.column(v::kType);
        const std::string typeText = r.trimmed(v::kType);
        if (typeText.empty()) {
            error(&m_survey, rowNumber, typeColumn,
                  "the row has no type (text, integer, select_one LIST, begin_group, ...)");
            continue;
        }
        const TypeWords type = readType(typeText);
        if (type.word == "end_group" || type.word == "end_repeat") {
            const bool repeat = type.word == "end_repeat";
            if (open.empty()) {
                error(&m_survey, rowNumber, typeColumn,
                      type.word + " without a " + (repeat ? "begin_repeat" : "begin_group"));
            } else if (open.back().repeat != repeat) {
                error(&m_survey, rowNumber, typeColumn,
                      type.word + " closes " +
                          (open.back().repeat ? "the repeat '" : "the group '") +
                          open.back().item->name + "' (begun at " + m_survey.sheet->name + "!" +
                          cellName(open.back().column, open.back().row) + ")");
                open.pop_back();
            } else {
                open.pop_back();
            }
            continue;
        }
        if (v::isMetadataType(type.word)) {
            warning(&m_survey, rowNumber, typeColumn,
                    "type '" + type.word + "' is dropped: " + std::string(v::kMetadataWarning));
            continue;
        }
        ItemDraft item;
        item.row = rowNumber;
        item.name = r.trimmed(v::kName);
        if (!mapType(r, type, item)) continue;
        if (item.name.empty()) {
            error(r, v::kName, "the row has no name");
            continue;
        }
        if (auto [it, inserted] = m_itemRows.emplace(item.name, rowNumber); !inserted) {
            error(r, v::kName,
                  "the name '" + item.name + "' is used twice (also " + m_survey.sheet->name + "!" +
                      cellName(r.column(v::kName), it->second) + ")");
            m_duplicates.insert(item.name);
        }
        readColumns(r, item);
        const std::string caseProperty = r.trimmed(v::kCaseProperty);
        if (!caseProperty.empty()) m_form.caseUpdates.emplace_back(caseProperty, item.name);
        if (item.kind != "Question" && open.size() >= kMaxNesting) {
            // Veld's checks allow 16 levels; far deeper nesting only costs stack.
            error(&m_survey, rowNumber, typeColumn,
                  "groups and repeats are nested more than " + std::to_string(kMaxNesting) +
                      " deep; the rows below are not read");
            return;
        }
        auto& siblings = open.empty() ? m_form.items : open.back().item->children;
        siblings.push_back(std::move(item));
        if (siblings.back().kind != "Question")
            open.push_back(
                {&siblings.back(), rowNumber, typeColumn, siblings.back().kind == "Repeat"});
    }
    for (auto it = open.rbegin(); it != open.rend(); ++it) {
        error(&m_survey, it->row, it->column,
              std::string(it->repeat ? "begin_repeat '" : "begin_group '") + it->item->name +
                  "' is never closed: add an " + (it->repeat ? "end_repeat" : "end_group") +
                  " row");
    }
}

// The type column: kind, type and what the type word implies. False (after reporting) when
// the row cannot become an item.
bool Importer::mapType(const RowView& r, const TypeWords& type, ItemDraft& item) {
    const std::string& w = type.word;
    const auto column = r.column(v::kType);
    auto refuse = [&](const std::string& message) {
        error(&m_survey, r.row().number, column, message);
        return false;
    };
    if (type.extra && !(w == "select_one" || w == "select_multiple"))
        return refuse("type '" + r.trimmed(v::kType) + "' has words Veld does not know");
    const std::string appearance = v::lower(r.trimmed(v::kAppearance));
    const auto appearanceWords = words(appearance);
    const auto has = [&](std::string_view word) {
        return std::find(appearanceWords.begin(), appearanceWords.end(), word) !=
               appearanceWords.end();
    };
    item.kind = "Question";
    if (w == v::kText) {
        item.type = "Text";
    } else if (w == v::kInteger) {
        item.type = "Integer";
    } else if (w == v::kDecimal) {
        item.type = "Decimal";
    } else if (w == v::kRange) {
        item.type = "Integer";  // rangeParameters decides
    } else if (w == "select_one" || w == "select_multiple") {
        if (type.list.empty())
            return refuse(w + " needs the name of a choice list: " + w + " LIST");
        if (type.extra)
            return refuse("type '" + r.trimmed(v::kType) +
                          "' has words Veld does not know (after the list only or_other)");
        item.type = w == "select_multiple" ? "SelectMany"
                    : has(v::kLikert)      ? "Likert"
                                           : "SelectOne";
        item.choiceList = type.list;
        item.orOther = type.orOther;
        if (!m_listIndex.count(type.list) && m_unknownLists.insert(item.name).second)
            error(&m_survey, r.row().number, column,
                  "choice list '" + type.list + "' is not on the choices sheet" +
                      (m_choices.sheet ? "" : " (the workbook has no choices sheet)"));
    } else if (w == v::kNote) {
        item.type = "Note";
    } else if (w == v::kDate) {
        item.type = "Date";
    } else if (w == v::kTime) {
        item.type = "Time";
    } else if (w == "datetime") {
        item.type = "DateTime";
    } else if (w == v::kAcknowledge || w == v::kConsent) {
        item.type = "Consent";
    } else if (w == v::kCalculate) {
        item.type = "Text";
        item.hidden = true;
        if (r.trimmed(v::kCalculation).empty()) return refuse("calculate needs a calculation");
    } else if (w == v::kHiddenType) {
        item.type = "Text";
        item.hidden = true;
    } else if (w == v::kPseudonym) {
        item.type = "Pseudonym";
    } else if (w == v::kSignature || (w == v::kImage && has(v::kSignature))) {
        item.type = "Signature";
    } else if (w == v::kBeginGroup) {
        item.kind = "Group";
        if (!has(v::kFieldList))
            warning(&m_survey, r.row().number, columnOr(r, v::kAppearance),
                    "groups are shown as one page (appearance field-list)");
    } else if (w == v::kBeginRepeat) {
        item.kind = "Repeat";
    } else if (v::isUnsupportedType(w)) {
        return refuse("type '" + w + "' is not supported");
    } else {
        return refuse("type '" + r.trimmed(v::kType) + "' is not an XLSForm type Veld knows");
    }
    // Appearance words: the ones that chose a type above are not kept.
    std::string kept;
    for (const auto& word : appearanceWords) {
        const bool used = (word == v::kFieldList && item.kind == "Group") ||
                          (word == v::kLikert && item.type == "Likert") ||
                          (word == v::kMultiline && item.type == "Text" && !item.hidden) ||
                          (word == v::kSignature && item.type == "Signature");
        if (word == v::kMultiline && item.type == "Text" && !item.hidden) item.multiline = true;
        if (used) continue;
        // Words Veld does not show are kept; the form checks warn about them (one list of
        // known words, forms::knownAppearance), and their warning is mapped to this cell.
        kept += (kept.empty() ? "" : " ") + word;
    }
    item.appearance = kept;
    if (w == v::kRange) rangeParameters(r, item);
    return true;
}

void Importer::rangeParameters(const RowView& r, ItemDraft& item) {
    double start = 1, end = 10, step = 1;
    std::string text = r.trimmed(v::kParameters);
    std::replace(text.begin(), text.end(), ';', ' ');
    std::replace(text.begin(), text.end(), ',', ' ');
    for (const auto& word : words(text)) {
        const auto eq = word.find('=');
        const std::string key = v::lower(v::trim(word.substr(0, eq)));
        const auto value =
            eq == std::string::npos ? std::nullopt : parseNumber(word.substr(eq + 1));
        if (eq == std::string::npos || !value) {
            error(r, v::kParameters,
                  "parameters: '" + word + "' is not name=number (start=1 end=10 step=1)");
            continue;
        }
        if (key == "start") {
            start = *value;
        } else if (key == "end") {
            end = *value;
        } else if (key == "step") {
            step = *value;
        } else {
            warning(&m_survey, r.row().number, r.column(v::kParameters),
                    "parameters: '" + key + "' is ignored (Veld reads start, end and step)");
        }
    }
    if (step <= 0) error(r, v::kParameters, "parameters: step must be larger than 0");
    const bool whole =
        start == std::trunc(start) && end == std::trunc(end) && step == std::trunc(step);
    item.type = whole ? "Integer" : "Decimal";
    item.minValue = std::min(start, end);
    item.maxValue = std::max(start, end);
    item.step = step;
}

void Importer::readColumns(const RowView& r, ItemDraft& item) {
    item.labels = texts(r, v::kLabel);
    item.labelAudio = texts(r, v::kAudio, true);
    item.labelImages = texts(r, v::kImageColumn, true);
    item.hints = texts(r, v::kHint);
    item.constraintMessages = texts(r, v::kConstraintMessage);
    item.requiredMessages = texts(r, v::kRequiredMessage);
    if (const Cell* c = r.cell(v::kRequired)) {
        const auto b = v::parseYesNo(c->text);
        if (!b)
            error(r, v::kRequired,
                  "required must be yes or no (Veld takes no expression here), not '" + c->text +
                      "'");
        else
            item.required = *b;
    }
    item.readOnly = yesNo(r, m_survey, v::kReadOnly).value_or(false);
    item.identifying = yesNo(r, m_survey, v::kIdentifying).value_or(false);
    if (yesNo(r, m_survey, v::kHidden).value_or(false)) item.hidden = true;
    item.relevance = r.trimmed(v::kRelevant);
    item.constraint = r.trimmed(v::kConstraint);
    item.calculation = r.trimmed(v::kCalculation);
    item.defaultValue = r.trimmed(v::kDefault);
    item.choiceFilter = r.trimmed(v::kChoiceFilter);
    item.pattern = r.trimmed(v::kPattern);
    if (!r.trimmed(v::kParameters).empty() && item.step == std::nullopt)
        warning(&m_survey, r.row().number, r.column(v::kParameters),
                "parameters are read for range questions only; ignored");
    auto number = [&](std::string_view key, std::optional<double>& out) {
        const std::string t = r.trimmed(key);
        if (t.empty()) return;
        if (auto n = parseNumber(t))
            out = *n;
        else
            error(r, key, std::string(key) + " '" + t + "' is not a number");
    };
    auto count = [&](std::string_view key, std::optional<std::uint32_t>& out) {
        const std::string t = r.trimmed(key);
        if (t.empty()) return;
        if (auto n = parseCount(t))
            out = *n;
        else
            error(r, key, std::string(key) + " '" + t + "' is not a whole number");
    };
    number(v::kMinValue, item.minValue);
    number(v::kMaxValue, item.maxValue);
    count(v::kMaxLength, item.maxLength);
    count(v::kMinCount, item.minCount);
    count(v::kMaxCount, item.maxCount);
    const std::string scheme = r.trimmed(v::kIdentifierScheme);
    if (!scheme.empty()) {
        if (auto s = v::identifierSchemeFromWord(scheme))
            item.identifierScheme = std::string(*s);
        else
            error(r, v::kIdentifierScheme,
                  "identifier_scheme '" + scheme + "' is not bsn, school_pupil or other");
    }
    const std::string repeatCount = r.trimmed(v::kRepeatCount);
    if (!repeatCount.empty()) {
        if (item.kind != "Repeat") {
            error(r, v::kRepeatCount, "repeat_count is only for begin_repeat");
        } else if (auto n = parseCount(repeatCount)) {
            item.minCount = *n;
            item.maxCount = *n;
        } else if (auto e = expr::Expression::parse(repeatCount); !e) {
            error(r, v::kRepeatCount, "repeat_count: " + e.error().message);
        } else {
            item.repeatCount = repeatCount;
        }
    }
}

// or_other: an `other` choice at the end of the list, in a copy when the list is also used
// without or_other.
void Importer::addOrOther() {
    std::unordered_map<std::string, std::pair<bool, bool>> uses;  // with, without
    walk(m_form.items, [&](ItemDraft& item) {
        if (item.choiceList.empty()) return;
        auto& u = uses[item.choiceList];
        (item.orOther ? u.first : u.second) = true;
    });
    std::unordered_map<std::string, std::string> target;  // list -> the list with `other`
    for (const auto& [list, use] : uses) {
        if (!use.first) continue;
        auto index = m_listIndex.find(list);
        if (index == m_listIndex.end()) continue;
        ChoiceListDraft copy = m_lists[index->second];
        const bool taken = std::any_of(copy.choices.begin(), copy.choices.end(),
                                       [](const ChoiceDraft& c) { return c.name == v::kOther; });
        if (taken) {
            error(&m_choices, m_listRows[list], kNoColumn,
                  "list '" + list +
                      "' has a choice named 'other' already, and a question adds one with "
                      "or_other; mark that choice with other = yes instead");
            continue;
        }
        ChoiceDraft other;
        other.name = std::string(v::kOther);
        other.isOther = true;
        for (const auto& l : m_form.languages)
            other.labels.emplace_back(l.tag, std::string(v::otherLabel(l.tag)));
        copy.choices.push_back(std::move(other));
        if (use.second) {
            copy.name = list + "_or_other";
            // Problems with the copy's choices point at the original's rows.
            m_listRows[copy.name] = m_listRows[list];
            for (const auto& c : copy.choices) {
                if (auto rows = m_choiceRows.find(list + "\n" + c.name); rows != m_choiceRows.end())
                    m_choiceRows[copy.name + "\n" + c.name] = rows->second;
            }
            target[list] = copy.name;
            m_lists.push_back(std::move(copy));
        } else {
            target[list] = list;
            m_lists[index->second] = std::move(copy);
        }
    }
    walk(m_form.items, [&](ItemDraft& item) {
        if (!item.orOther) return;
        if (auto it = target.find(item.choiceList); it != target.end())
            item.choiceList = it->second;
    });
}

}  // namespace veld::xlsform::detail
