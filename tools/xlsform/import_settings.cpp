// The XLSForm importer's choices and settings sheets, and the form checks' problems mapped back
// to the cells they are about (an item's row and a field's column, a choice's row, a setting).
#include <cctype>
#include <filesystem>

#include <veld/names.hpp>

#include "importer.hpp"

namespace veld::xlsform::detail {

namespace {

// The form id a file name gives: its stem, lower case, other characters as '_'.
std::string idFromFileName(const std::string& path) {
    std::string stem = v::lower(std::filesystem::path(path).stem().string());
    for (char& c : stem) {
        const auto u = static_cast<unsigned char>(c);
        if (!(std::isalnum(u) || c == '_')) c = '_';
    }
    if (stem.empty() || std::isdigit(static_cast<unsigned char>(stem[0]))) stem = "form_" + stem;
    return stem.substr(0, 64);
}

}  // namespace

// --- choices ---

void Importer::readChoices() {
    if (!m_choices.sheet) return;
    const auto& rows = m_choices.sheet->rows;
    if (!m_choices.byKey.count(std::string(v::kListName))) {
        if (rows.size() > 1 || !rows.empty())
            error(&m_choices, m_choices.headerRow, kNoColumn,
                  "the choices sheet has no list_name column");
        return;
    }
    if (!m_choices.byKey.count(std::string(v::kName))) {
        error(&m_choices, m_choices.headerRow, kNoColumn, "the choices sheet has no name column");
        return;
    }
    for (std::size_t i = 1; i < rows.size(); ++i) {
        RowView r(m_choices, rows[i]);
        if (!anyValue(r, m_choices)) continue;
        const std::string list = r.trimmed(v::kListName);
        const std::string name = r.trimmed(v::kName);
        if (list.empty()) {
            error(&m_choices, rows[i].number, r.column(v::kListName), "the row has no list_name");
            continue;
        }
        if (name.empty()) {
            error(&m_choices, rows[i].number, r.column(v::kName),
                  "the choice has no name (what records store)");
            continue;
        }
        auto [it, inserted] = m_listIndex.emplace(list, m_lists.size());
        if (inserted) {
            m_lists.push_back({list, {}});
            m_listRows[list] = rows[i].number;
        }
        ChoiceDraft choice;
        choice.name = name;
        choice.labels = texts(r, v::kLabel);
        choice.labelAudio = texts(r, v::kAudio, true);
        choice.labelImages = texts(r, v::kImageColumn, true);
        choice.exclusive = yesNo(r, m_choices, v::kExclusive).value_or(false);
        choice.isOther = yesNo(r, m_choices, v::kOther).value_or(false);
        for (std::uint32_t column : m_properties) {
            const Cell* c = r.at(column);
            if (!c || v::trim(c->text).empty()) continue;
            for (const auto& h : m_choices.columns) {
                if (h.column == column)
                    choice.properties.emplace_back(h.text, std::string(v::trim(c->text)));
            }
        }
        m_choiceRows[list + "\n" + name].push_back(rows[i].number);
        m_lists[it->second].choices.push_back(std::move(choice));
    }
}

bool Importer::anyValue(const RowView& r, const SheetInfo& info) const {
    for (const auto& h : info.columns) {
        if (h.key.empty()) continue;
        const Cell* c = r.at(h.column);
        if (c && !v::trim(c->text).empty()) return true;
    }
    return false;
}

// --- settings ---

std::string Importer::setting(std::string_view key) const {
    if (!m_settingsRow) return {};
    auto it = m_settings.byKey.find(std::string(key));
    if (it == m_settings.byKey.end()) return {};
    for (const auto& c : m_settingsRow->cells) {
        if (c.column == it->second) return c.text;
    }
    return {};
}

std::uint32_t Importer::settingColumn(std::string_view key) const {
    auto it = m_settings.byKey.find(std::string(key));
    return it == m_settings.byKey.end() ? kNoColumn : it->second;
}

std::uint32_t Importer::settingsRow() const {
    return m_settingsRow ? m_settingsRow->number : kNoRow;
}

void Importer::settingError(std::string_view key, std::string message) {
    error(&m_settings, settingsRow(), settingColumn(key), std::move(message));
}

void Importer::applySettings() {
    auto trimmed = [&](std::string_view key) { return std::string(v::trim(setting(key))); };
    m_form.id = trimmed(v::kFormId);
    if (m_form.id.empty()) m_form.id = idFromFileName(m_file);
    const std::string version = trimmed(v::kVersion);
    m_versionReported = true;
    if (version.empty()) {
        error(m_settings.sheet ? &m_settings : nullptr, settingsRow(), settingColumn(v::kVersion),
              "the form has no version: add a settings sheet with a version column (1, "
              "2024-03-15 or 1.0.0) and raise it on every change");
    } else if (auto parsed = v::parseVersion(version); !parsed) {
        settingError(v::kVersion, parsed.error().message);
    } else {
        m_versionReported = false;
        m_form.version = parsed->number;
        m_form.versionLabel = parsed->label;
    }
    m_form.pilot = trimmed(v::kPilot);
    if (m_settingsRow) {
        RowView r(m_settings, *m_settingsRow);
        m_form.titles = texts(r, v::kFormTitle);
        m_form.descriptions = texts(r, v::kDescription);
        m_form.sealed = yesNo(r, m_settings, v::kSealed).value_or(false);
        m_form.kiosk = yesNo(r, m_settings, v::kKiosk).value_or(false);
        m_form.readAloud = yesNo(r, m_settings, v::kReadAloud).value_or(false);
        m_form.anonymous = yesNo(r, m_settings, v::kAnonymous).value_or(false);
    }
    // XLSForm's title defaults to the form id.
    if (m_form.titles.empty()) m_form.titles.emplace_back(m_form.defaultLanguage, m_form.id);
    for (auto key : {v::kPublicKey, v::kSubmissionUrl, v::kStyle}) {
        if (!trimmed(key).empty())
            warning(&m_settings, settingsRow(), settingColumn(key),
                    std::string(key) +
                        " is ignored: Veld encrypts and sends records its own "
                        "way and has one style");
    }
    m_form.summaryQuestion = trimmed(v::kSummaryQuestion);
    const std::string instance = trimmed(v::kInstanceName);
    if (!instance.empty()) {
        if (instance.size() > 3 && instance.starts_with("${") && instance.ends_with("}") &&
            validName(instance.substr(2, instance.size() - 3))) {
            if (m_form.summaryQuestion.empty())
                m_form.summaryQuestion = instance.substr(2, instance.size() - 3);
        } else {
            warning(&m_settings, settingsRow(), settingColumn(v::kInstanceName),
                    "instance_name is ignored unless it is one question, such as ${visit_date}"
                    " (Veld names records by one answer: summary_question)");
        }
    }
    const std::string action = trimmed(v::kCaseAction);
    if (!action.empty()) {
        if (auto a = v::caseActionFromWord(action))
            m_form.caseAction = std::string(*a);
        else
            settingError(v::kCaseAction,
                         "case_action '" + action + "' is not open, follow_up or close");
    }
    m_form.caseType = trimmed(v::kCaseType);
    m_form.casePseudonymQuestion = trimmed(v::kCasePseudonymQuestion);
    m_form.randomiseStudy = trimmed(v::kRandomiseStudy);
    m_form.randomiseWhen = trimmed(v::kRandomiseWhen);
    const std::string strata = trimmed(v::kRandomiseStrata);
    for (const auto& word : words(strata)) {
        const auto eq = word.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == word.size()) {
            settingError(v::kRandomiseStrata,
                         "randomise_strata: '" + word +
                             "' is not factor=question (municipality=municipality)");
            continue;
        }
        m_form.randomiseStrata.emplace_back(word.substr(0, eq), word.substr(eq + 1));
    }
    if (m_form.randomiseStudy.empty() && (!m_form.randomiseWhen.empty() || !strata.empty()))
        settingError(v::kRandomiseStudy,
                     "randomise_when and randomise_strata need a randomise_study");
}

// --- the form checks' problems, mapped to cells ---

// The survey column a check message is about.
std::string_view Importer::columnOfMessage(const std::string& m) const {
    auto starts = [&](std::string_view p) { return m.starts_with(p); };
    if (starts("relevance") || m.starts_with("whether it is shown")) return v::kRelevant;
    if (starts("the constraint has no message")) return v::kConstraintMessage;
    if (starts("constraint") || starts("a group or repeat cannot have a constraint"))
        return v::kConstraint;
    if (starts("calculation") || starts("calculations depend") ||
        starts("a group or repeat cannot have a calculation") || starts("consent must be"))
        return v::kCalculation;
    if (starts("default") || m.find("cannot have a default") != std::string::npos)
        return v::kDefault;
    if (starts("no label in") || starts("the label")) return v::kLabel;
    if (starts("the hint")) return v::kHint;
    if (starts("min_value") || starts("max_value")) return v::kMinValue;
    if (starts("max_count") || starts("min_count")) return v::kMinCount;
    if (starts("max_length")) return v::kMaxLength;
    if (starts("pattern")) return v::kPattern;
    if (starts("appearance")) return v::kAppearance;
    if (starts("choice_filter")) return v::kChoiceFilter;
    if (starts("repeat_count")) return v::kRepeatCount;
    if (starts("step")) return v::kParameters;
    if (starts("the required message")) return v::kRequiredMessage;
    if (starts("identifier_scheme") || starts("a pseudonym question needs"))
        return v::kIdentifierScheme;
    if (m.find("is not a valid item name") != std::string::npos || starts("names starting") ||
        starts("the name"))
        return v::kName;
    if (starts("a note cannot be required")) return v::kRequired;
    if (starts("a note cannot be identifying")) return v::kIdentifying;
    if (starts("case_settings")) return v::kCaseProperty;
    return v::kType;
}

// The label-like column of a message that names a language ("no label in 'en'").
std::string Importer::languageOf(const std::string& m) const {
    const auto q = m.rfind("in '");
    if (q == std::string::npos) return m_form.defaultLanguage;
    const auto end = m.find('\'', q + 4);
    return end == std::string::npos ? m_form.defaultLanguage : m.substr(q + 4, end - q - 4);
}

void Importer::mapCheckProblem(FormProblem p) {
    Located l;
    l.problem = std::move(p);
    l.problem.line = 0;  // lines of the generated JSON mean nothing to the author
    const std::string& m = l.problem.message;
    const std::string& item = l.problem.item;
    auto place = [&](const SheetInfo& sheet, std::uint32_t row, std::uint32_t column) {
        if (!sheet.sheet) return;
        l.sheet = sheet.index;
        l.row = row;
        l.column = column;
        l.problem.cell = sheet.sheet->name;
        if (row != kNoRow && column != kNoColumn) l.problem.cell += "!" + cellName(column, row);
    };
    auto placeSetting = [&](std::string_view key) {
        place(m_settings, settingsRow(), settingColumn(key));
    };
    // Reported already, with better cells.
    if (m.starts_with("the name '") && m.ends_with("is used by two items") &&
        m_duplicates.count(item))
        return;
    if (m.starts_with("the form has no version") && m_versionReported) return;
    if (m.starts_with("choice list '") && m.ends_with("' does not exist") &&
        m_unknownLists.count(item))
        return;
    const bool listProblem = m.starts_with("choice '") ||
                             m.ends_with("is not a valid choice list name") ||
                             m.ends_with("has no choices");
    if (listProblem && m_listRows.count(item)) {
        std::uint32_t row = m_listRows[item];
        std::uint32_t column = m_choices.byKey.count(std::string(v::kListName))
                                   ? m_choices.byKey.at(std::string(v::kListName))
                                   : kNoColumn;
        if (m.starts_with("choice '")) {
            const auto end = m.find('\'', 8);
            const std::string choice = m.substr(8, end == std::string::npos ? 0 : end - 8);
            auto rows = m_choiceRows.find(item + "\n" + choice);
            if (rows != m_choiceRows.end()) {
                const bool twice = m.find("appears twice") != std::string::npos;
                row = twice && rows->second.size() > 1 ? rows->second[1] : rows->second[0];
                std::string key(v::kName);
                if (m.find("label") != std::string::npos) {
                    key = std::string(v::kLabel) + "::" + languageOf(m);
                    if (!m_choices.byKey.count(key)) key = v::kName;
                }
                column = m_choices.byKey.at(key);
            }
        }
        place(m_choices, row, column);
    } else if (m.starts_with("randomisation")) {
        placeSetting(m.starts_with("randomisation: when")    ? v::kRandomiseWhen
                     : m.find("factor") != std::string::npos ? v::kRandomiseStrata
                                                             : v::kRandomiseStudy);
    } else if (m.starts_with("case_settings") &&
               (item.empty() || m.find("pseudonym_question") != std::string::npos ||
                !m_itemRows.count(item))) {
        placeSetting(m.find("pseudonym_question") != std::string::npos ? v::kCasePseudonymQuestion
                                                                       : v::kCaseAction);
    } else if (m.starts_with("summary_question") || m.starts_with("the summary question") ||
               m.starts_with("an anonymous form cannot name")) {
        placeSetting(settingColumn(v::kSummaryQuestion) != kNoColumn ? v::kSummaryQuestion
                                                                     : v::kInstanceName);
    } else if (!item.empty() && m_itemRows.count(item)) {
        const std::uint32_t row = m_itemRows[item];
        std::string key(columnOfMessage(m));
        if (v::isTranslatable(v::kSurveySheet, key)) key += "::" + languageOf(m);
        if (key == v::kMinValue && !m_survey.byKey.count(key)) key = v::kParameters;
        auto column = m_survey.byKey.find(key);
        if (column == m_survey.byKey.end()) column = m_survey.byKey.find(std::string(v::kName));
        place(m_survey, row, column == m_survey.byKey.end() ? kNoColumn : column->second);
    } else if (m.starts_with("the form id")) {
        placeSetting(v::kFormId);
    } else if (m.starts_with("the form has no version")) {
        placeSetting(v::kVersion);
    } else if (m.starts_with("the form has no title") || m.starts_with("the title")) {
        std::string key = std::string(v::kFormTitle) + "::" + languageOf(m);
        placeSetting(key);
    } else if (m.starts_with("the description")) {
        placeSetting(std::string(v::kDescription) + "::" + m_form.defaultLanguage);
    } else if (m.starts_with("the form has no items")) {
        place(m_survey, kNoRow, kNoColumn);
    } else if (m.find("language") != std::string::npos) {
        // A tag from a header (label::xx) or the default_language setting.
        for (std::size_t i = 0; i < m_languages.size(); ++i) {
            if (m.find("'" + m_languages[i].tag + "'") != std::string::npos) {
                const auto& [sheet, column] = m_languageCells[i];
                place(*sheet, sheet->headerRow, column);
                break;
            }
        }
        if (l.problem.cell.empty()) placeSetting(v::kDefaultLanguage);
    }
    m_problems.push_back(std::move(l));
}

}  // namespace veld::xlsform::detail
