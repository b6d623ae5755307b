// XLSForm workbook -> Veld form (the mapping is docs/forms.md's table). The workbook's cells are
// read into a FormDraft, written as form JSON and compiled with forms::compileFormJson, so a
// workbook passes exactly the checks a JSON form passes. Every problem of one run is reported,
// each with its cell; the form checks' problems (which name an item and a field) are mapped back
// to the cell of that item's row and the field's column.
#include "xlsform_import.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <veld/expression.hpp>
#include <veld/names.hpp>
#include <veld/xlsform.hpp>

#include "form_json_writer.hpp"
#include "vocabulary.hpp"
#include "workbook_reader.hpp"

namespace veld::xlsform {

namespace {

using forms::FormProblem;
using Severity = FormProblem::Severity;
namespace v = vocab;

constexpr std::uint32_t kNoRow = 0;
constexpr std::uint32_t kNoColumn = 0xffffffffu;
constexpr std::size_t kMaxNesting = 32;

// A problem and where it sorts: workbook-level first, then by sheet, row and column.
struct Located {
    FormProblem problem;
    int sheet = -1;
    std::uint32_t row = kNoRow;
    std::uint32_t column = kNoColumn;
};

struct HeaderColumn {
    std::uint32_t column = 0;
    std::string key;       // "relevant", "label::nl"; a choice property keeps its own name
    std::string base;      // "label"
    std::string language;  // the tag, for translatable columns
    std::string text;      // as written
};

// One sheet's header row and the way from a column key to its column.
struct SheetInfo {
    const Sheet* sheet = nullptr;
    int index = -1;
    std::uint32_t headerRow = 0;
    std::vector<HeaderColumn> columns;
    std::unordered_map<std::string, std::uint32_t> byKey;
    std::uint32_t width = 0;
};

// The values of one row by column, as the header row lays them out.
class RowView {
  public:
    RowView(const SheetInfo& info, const Row& row) : m_info(info), m_row(row) {
        m_values.assign(info.width, nullptr);
        for (const auto& c : row.cells) {
            if (c.column < info.width) m_values[c.column] = &c;
        }
    }
    [[nodiscard]] const Cell* cell(std::string_view key) const {
        auto it = m_info.byKey.find(std::string(key));
        return it == m_info.byKey.end() ? nullptr : m_values[it->second];
    }
    [[nodiscard]] std::string text(std::string_view key) const {
        const Cell* c = cell(key);
        return c ? c->text : std::string();
    }
    [[nodiscard]] std::string trimmed(std::string_view key) const {
        return std::string(v::trim(text(key)));
    }
    [[nodiscard]] std::uint32_t column(std::string_view key) const {
        auto it = m_info.byKey.find(std::string(key));
        return it == m_info.byKey.end() ? kNoColumn : it->second;
    }
    [[nodiscard]] const Cell* at(std::uint32_t column) const {
        return column < m_values.size() ? m_values[column] : nullptr;
    }
    [[nodiscard]] const Row& row() const { return m_row; }

  private:
    const SheetInfo& m_info;
    const Row& m_row;
    std::vector<const Cell*> m_values;
};

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

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
            ++i;
        const std::size_t start = i;
        while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])))
            ++i;
        if (i > start) out.emplace_back(text.substr(start, i - start));
    }
    return out;
}

// A survey row's type, read from its words.
struct TypeWords {
    std::string word;  // lower case: "select_one", "begin_group", "integer", ...
    std::string list;
    bool orOther = false;
    bool extra = false;  // more words than the type takes
};

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

class Importer {
  public:
    Importer(const Workbook& workbook, std::string file)
        : m_workbook(workbook), m_file(std::move(file)) {}

    ImportResult run() {
        ImportResult result;
        if (!findSheets()) return finish(result);
        readHeaders(m_survey);
        readHeaders(m_choices);
        readHeaders(m_settings);
        readSettingsRow();
        findLanguages();
        keyColumns(m_survey);
        keyColumns(m_choices);
        keyColumns(m_settings);
        readChoices();
        readSurvey();
        applySettings();
        addOrOther();
        m_form.choiceLists = std::move(m_lists);
        result.json = formJson(m_form);
        auto check = forms::compileFormJson(result.json, m_file);
        result.check.binary = std::move(check.binary);
        for (auto& p : check.problems)
            mapCheckProblem(std::move(p));
        return finish(result);
    }

  private:
    // --- problems ---

    void add(Severity severity, const SheetInfo* sheet, std::uint32_t row, std::uint32_t column,
             std::string message, std::string item = {}) {
        Located l;
        l.problem.severity = severity;
        l.problem.file = m_file;
        l.problem.item = std::move(item);
        l.problem.message = std::move(message);
        if (sheet && sheet->sheet) {
            l.sheet = sheet->index;
            l.row = row;
            l.column = column;
            l.problem.cell = sheet->sheet->name;
            // A problem with a whole row names the row's first cell.
            if (row != kNoRow)
                l.problem.cell += "!" + cellName(column == kNoColumn ? 0 : column, row);
        }
        m_problems.push_back(std::move(l));
    }
    void error(const SheetInfo* sheet, std::uint32_t row, std::uint32_t column,
               std::string message) {
        add(Severity::Error, sheet, row, column, std::move(message));
    }
    void warning(const SheetInfo* sheet, std::uint32_t row, std::uint32_t column,
                 std::string message) {
        add(Severity::Warning, sheet, row, column, std::move(message));
    }
    void error(const RowView& r, std::string_view key, std::string message) {
        error(&m_survey, r.row().number, columnOr(r, key), std::move(message));
    }
    // A column's position, or the type column's when the row has no such column.
    std::uint32_t columnOr(const RowView& r, std::string_view key) const {
        const auto c = r.column(key);
        return c != kNoColumn ? c : r.column(v::kType);
    }

    ImportResult finish(ImportResult& result) {
        std::stable_sort(
            m_problems.begin(), m_problems.end(), [](const Located& a, const Located& b) {
                return std::tie(a.sheet, a.row, a.column) < std::tie(b.sheet, b.row, b.column);
            });
        for (auto& l : m_problems)
            result.check.problems.push_back(std::move(l.problem));
        return std::move(result);
    }

    // --- sheets and headers ---

    bool findSheets() {
        bool any = false;
        for (std::size_t i = 0; i < m_workbook.sheets.size(); ++i) {
            const Sheet& s = m_workbook.sheets[i];
            const std::string name = std::string(v::trim(s.name));
            SheetInfo* target = v::equalsIgnoreCase(name, v::kSurveySheet)     ? &m_survey
                                : v::equalsIgnoreCase(name, v::kChoicesSheet)  ? &m_choices
                                : v::equalsIgnoreCase(name, v::kSettingsSheet) ? &m_settings
                                                                               : nullptr;
            if (!s.rows.empty()) any = true;
            if (!target) {
                SheetInfo other{&s, static_cast<int>(i)};
                if (!s.rows.empty())
                    warning(&other, kNoRow, kNoColumn, "sheet '" + s.name + "' is ignored");
                continue;
            }
            if (target->sheet) {
                SheetInfo again{&s, static_cast<int>(i)};
                error(&again, kNoRow, kNoColumn,
                      "a second " + std::string(name) + " sheet; keep one");
                continue;
            }
            target->sheet = &s;
            target->index = static_cast<int>(i);
        }
        if (!any) {
            error(nullptr, kNoRow, kNoColumn, "the workbook is empty");
            return false;
        }
        if (!m_survey.sheet) {
            error(nullptr, kNoRow, kNoColumn,
                  "the workbook has no survey sheet (a sheet named 'survey' with the questions)");
            return false;
        }
        return true;
    }

    // The header row is the sheet's first row with anything in it.
    void readHeaders(SheetInfo& info) {
        if (!info.sheet || info.sheet->rows.empty()) return;
        const Row& header = info.sheet->rows.front();
        info.headerRow = header.number;
        for (const auto& c : header.cells) {
            HeaderColumn h;
            h.column = c.column;
            h.text = std::string(v::trim(c.text));
            auto split = v::splitHeader(h.text);
            std::replace(split.column.begin(), split.column.end(), ' ', '_');
            h.base = split.column;
            h.language = split.language;  // the language part until findLanguages resolves it
            info.columns.push_back(std::move(h));
            info.width = c.column + 1;
        }
    }

    bool translatable(const SheetInfo& info, const HeaderColumn& h) const {
        return v::isTranslatable(sheetKind(info), h.base);
    }
    std::string_view sheetKind(const SheetInfo& info) const {
        return &info == &m_survey    ? v::kSurveySheet
               : &info == &m_choices ? v::kChoicesSheet
                                     : v::kSettingsSheet;
    }

    void readSettingsRow() {
        if (!m_settings.sheet) return;
        const auto& rows = m_settings.sheet->rows;
        if (rows.size() < 2) return;
        m_settingsRow = &rows[1];
        if (rows.size() > 2)
            warning(&m_settings, rows[2].number, kNoColumn,
                    "only the first row under the headers is read; the settings have one row");
        for (const auto& h : m_settings.columns) {
            if (h.base == v::kRtl) m_hasRtl = true;
            for (const auto& c : m_settingsRow->cells) {
                if (c.column != h.column) continue;
                if (h.base == v::kDefaultLanguage) {
                    m_defaultSetting = std::string(v::trim(c.text));
                    m_defaultColumn = h.column;
                } else if (h.base == v::kRtl) {
                    m_rtlSetting = std::string(v::trim(c.text));
                }
            }
        }
    }

    // Languages in order of first appearance (survey columns left to right, then choices and
    // settings); a plain `label` is the default language.
    void findLanguages() {
        struct Seen {
            LanguageDraft language;
            std::string headerName;  // the name as the header wrote it
        };
        // First pass: resolve every `::` part.
        std::vector<std::pair<SheetInfo*, HeaderColumn*>> translated;
        for (SheetInfo* info : {&m_survey, &m_choices, &m_settings}) {
            if (!info->sheet) continue;
            for (auto& h : info->columns) {
                if (!translatable(*info, h)) continue;
                if (h.language.empty()) continue;
                auto spec = v::parseLanguageSpec(h.language, h.base);
                if (!spec) {
                    error(info, info->headerRow, h.column, spec.error().message);
                    h.language.clear();
                    h.base = "\x01";  // not a column any more
                    continue;
                }
                const std::string headerName = h.language;
                h.language = spec->tag;
                if (!m_languageIndex.count(spec->tag)) {
                    m_languageIndex[spec->tag] = m_languages.size();
                    m_languages.push_back({spec->tag, spec->name, v::isRtlTag(spec->tag)});
                    m_headerNames.push_back(headerName);
                    m_languageCells.push_back({info, h.column});
                }
            }
        }
        // The default language.
        std::string tag;
        if (!m_defaultSetting.empty()) {
            for (std::size_t i = 0; i < m_languages.size() && tag.empty(); ++i) {
                const auto& l = m_languages[i];
                if (v::equalsIgnoreCase(l.tag, m_defaultSetting) ||
                    v::equalsIgnoreCase(l.name, m_defaultSetting) ||
                    v::equalsIgnoreCase(m_headerNames[i], m_defaultSetting))
                    tag = l.tag;
            }
            if (tag.empty()) {
                auto spec = v::parseLanguageSpec(m_defaultSetting, v::kLabel);
                if (spec) {
                    tag = spec->tag;
                } else {
                    error(&m_settings, m_settingsRow->number, m_defaultColumn,
                          "default_language '" + m_defaultSetting +
                              "' is not a language of the label columns; write its tag (such "
                              "as nl or en) or the name as the headers write it");
                }
            }
        }
        const SheetInfo* plainSheet = nullptr;  // the first column without a language
        std::uint32_t plainColumn = kNoColumn;
        for (SheetInfo* info : {&m_survey, &m_choices, &m_settings}) {
            if (!info->sheet || plainSheet) continue;
            for (const auto& h : info->columns) {
                if (translatable(*info, h) && h.language.empty() && h.base != "\x01") {
                    plainSheet = info;
                    plainColumn = h.column;
                    break;
                }
            }
        }
        if (tag.empty() && !m_languages.empty()) tag = m_languages.front().tag;
        if (tag.empty()) {
            tag = "en";
            if (plainSheet)
                warning(plainSheet, plainSheet->headerRow, plainColumn,
                        "no column names its language; the labels are taken as English (en): "
                        "name it, for example label::Nederlands (nl), or set default_language");
        }
        m_form.defaultLanguage = tag;
        // Order: the first appearance of each language, counting plain columns as the default.
        std::vector<LanguageDraft> ordered;
        std::set<std::string> placed;
        auto place = [&](const std::string& t) {
            if (!placed.insert(t).second) return;
            if (auto it = m_languageIndex.find(t); it != m_languageIndex.end()) {
                ordered.push_back(m_languages[it->second]);
            } else {
                const auto* known = v::languageByTag(t);
                ordered.push_back({t, known ? std::string(known->name) : t, v::isRtlTag(t)});
            }
        };
        for (SheetInfo* info : {&m_survey, &m_choices, &m_settings}) {
            if (!info->sheet) continue;
            for (auto& h : info->columns) {
                if (!translatable(*info, h) || h.base == "\x01") continue;
                if (h.language.empty()) h.language = tag;
                place(h.language);
            }
        }
        place(tag);
        // rtl: by tag, unless the settings name the right-to-left languages themselves.
        if (m_hasRtl) {
            std::set<std::string> rtl;
            for (const auto& w : words(m_rtlSetting))
                rtl.insert(v::lower(w));
            for (auto& l : ordered)
                l.rtl = rtl.count(v::lower(l.tag)) > 0;
        }
        m_form.languages = std::move(ordered);
    }

    // Column keys: `label::nl` for translated columns, the column name for the others. Reports
    // unknown and repeated columns.
    void keyColumns(SheetInfo& info) {
        if (!info.sheet) return;
        const bool survey = &info == &m_survey;
        const bool choices = &info == &m_choices;
        static const std::unordered_set<std::string> kSettings = {
            std::string(v::kFormTitle),
            std::string(v::kFormId),
            std::string(v::kVersion),
            std::string(v::kDefaultLanguage),
            std::string(v::kInstanceName),
            std::string(v::kPublicKey),
            std::string(v::kSubmissionUrl),
            std::string(v::kStyle),
            std::string(v::kPilot),
            std::string(v::kDescription),
            std::string(v::kSealed),
            std::string(v::kKiosk),
            std::string(v::kAnonymous),
            std::string(v::kSummaryQuestion),
            std::string(v::kCaseAction),
            std::string(v::kCaseType),
            std::string(v::kCasePseudonymQuestion),
            std::string(v::kRandomiseStudy),
            std::string(v::kRandomiseWhen),
            std::string(v::kRandomiseStrata),
            std::string(v::kRtl)};
        for (auto& h : info.columns) {
            if (h.base == "\x01") continue;
            if (translatable(info, h)) {
                h.key = h.base + "::" + h.language;
            } else if (survey) {
                const auto known = [&](std::span<const std::string_view> list) {
                    return std::find(list.begin(), list.end(), h.base) != list.end();
                };
                if (!known(v::surveyColumns()) && !known(v::surveyExtensionColumns())) {
                    warning(&info, info.headerRow, h.column, "column '" + h.text + "' is ignored");
                    continue;
                }
                h.key = h.base;
            } else if (choices) {
                if (h.base == v::kListName || h.base == v::kName || h.base == v::kExclusive ||
                    h.base == v::kOther) {
                    h.key = h.base;
                } else if (v::isMediaColumn(h.text)) {
                    warning(&info, info.headerRow, h.column,
                            "column '" + h.text + "' is ignored: Veld shows no media");
                    continue;
                } else if (!validName(h.text) || !h.language.empty()) {
                    warning(&info, info.headerRow, h.column,
                            "column '" + h.text +
                                "' is ignored: a choice property needs a name of letters, digits "
                                "and '_' (for choice_filter)");
                    continue;
                } else {
                    h.key = "property:" + h.text;
                    m_properties.push_back(h.column);
                }
            } else {
                if (!kSettings.count(h.base)) {
                    warning(&info, info.headerRow, h.column, "column '" + h.text + "' is ignored");
                    continue;
                }
                h.key = h.base;
            }
            auto [it, inserted] = info.byKey.emplace(h.key, h.column);
            if (!inserted) {
                error(&info, info.headerRow, h.column,
                      "column '" + h.text + "' says what " + info.sheet->name + "!" +
                          cellName(it->second, info.headerRow) + " says already; keep one");
            }
        }
    }

    // Texts of a translatable column in every language, in the form's language order.
    Texts texts(const RowView& r, std::string_view base, bool trimmed = false) const {
        Texts out;
        for (const auto& l : m_form.languages) {
            const Cell* c = r.cell(std::string(base) + "::" + l.tag);
            if (!c) continue;
            std::string text = trimmed ? std::string(v::trim(c->text)) : c->text;
            if (!v::trim(text).empty()) out.emplace_back(l.tag, std::move(text));
        }
        return out;
    }

    std::optional<bool> yesNo(const RowView& r, const SheetInfo& sheet, std::string_view key) {
        const Cell* c = r.cell(key);
        if (!c) return false;
        auto b = v::parseYesNo(c->text);
        if (!b)
            error(&sheet, r.row().number, c->column,
                  std::string(key) + " must be yes or no, not '" + c->text + "'");
        return b;
    }

    // --- choices ---

    void readChoices() {
        if (!m_choices.sheet) return;
        const auto& rows = m_choices.sheet->rows;
        if (!m_choices.byKey.count(std::string(v::kListName))) {
            if (rows.size() > 1 || !rows.empty())
                error(&m_choices, m_choices.headerRow, kNoColumn,
                      "the choices sheet has no list_name column");
            return;
        }
        if (!m_choices.byKey.count(std::string(v::kName))) {
            error(&m_choices, m_choices.headerRow, kNoColumn,
                  "the choices sheet has no name column");
            return;
        }
        for (std::size_t i = 1; i < rows.size(); ++i) {
            RowView r(m_choices, rows[i]);
            if (!anyValue(r, m_choices)) continue;
            const std::string list = r.trimmed(v::kListName);
            const std::string name = r.trimmed(v::kName);
            if (list.empty()) {
                error(&m_choices, rows[i].number, r.column(v::kListName),
                      "the row has no list_name");
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

    bool anyValue(const RowView& r, const SheetInfo& info) const {
        for (const auto& h : info.columns) {
            if (h.key.empty()) continue;
            const Cell* c = r.at(h.column);
            if (c && !v::trim(c->text).empty()) return true;
        }
        return false;
    }

    // --- survey ---

    struct Open {
        ItemDraft* item;
        std::uint32_t row;
        std::uint32_t column;
        bool repeat;
    };

    void readSurvey() {
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
                      "the name '" + item.name + "' is used twice (also " + m_survey.sheet->name +
                          "!" + cellName(r.column(v::kName), it->second) + ")");
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
    bool mapType(const RowView& r, const TypeWords& type, ItemDraft& item) {
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

    void rangeParameters(const RowView& r, ItemDraft& item) {
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

    void readColumns(const RowView& r, ItemDraft& item) {
        item.labels = texts(r, v::kLabel);
        item.hints = texts(r, v::kHint);
        item.constraintMessages = texts(r, v::kConstraintMessage);
        item.requiredMessages = texts(r, v::kRequiredMessage);
        if (const Cell* c = r.cell(v::kRequired)) {
            const auto b = v::parseYesNo(c->text);
            if (!b)
                error(r, v::kRequired,
                      "required must be yes or no (Veld takes no expression here), not '" +
                          c->text + "'");
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
    void addOrOther() {
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
            const bool taken =
                std::any_of(copy.choices.begin(), copy.choices.end(),
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
                    if (auto rows = m_choiceRows.find(list + "\n" + c.name);
                        rows != m_choiceRows.end())
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

    template <class F>
    void walk(std::vector<ItemDraft>& items, F&& f) {
        for (auto& item : items) {
            f(item);
            walk(item.children, f);
        }
    }

    // --- settings ---

    std::string setting(std::string_view key) const {
        if (!m_settingsRow) return {};
        auto it = m_settings.byKey.find(std::string(key));
        if (it == m_settings.byKey.end()) return {};
        for (const auto& c : m_settingsRow->cells) {
            if (c.column == it->second) return c.text;
        }
        return {};
    }
    std::uint32_t settingColumn(std::string_view key) const {
        auto it = m_settings.byKey.find(std::string(key));
        return it == m_settings.byKey.end() ? kNoColumn : it->second;
    }
    std::uint32_t settingsRow() const { return m_settingsRow ? m_settingsRow->number : kNoRow; }
    void settingError(std::string_view key, std::string message) {
        error(&m_settings, settingsRow(), settingColumn(key), std::move(message));
    }

    void applySettings() {
        auto trimmed = [&](std::string_view key) { return std::string(v::trim(setting(key))); };
        m_form.id = trimmed(v::kFormId);
        if (m_form.id.empty()) m_form.id = idFromFileName(m_file);
        const std::string version = trimmed(v::kVersion);
        m_versionReported = true;
        if (version.empty()) {
            error(m_settings.sheet ? &m_settings : nullptr, settingsRow(),
                  settingColumn(v::kVersion),
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
    std::string_view columnOfMessage(const std::string& m) const {
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
    std::string languageOf(const std::string& m) const {
        const auto q = m.rfind("in '");
        if (q == std::string::npos) return m_form.defaultLanguage;
        const auto end = m.find('\'', q + 4);
        return end == std::string::npos ? m_form.defaultLanguage : m.substr(q + 4, end - q - 4);
    }

    void mapCheckProblem(FormProblem p) {
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
            placeSetting(m.find("pseudonym_question") != std::string::npos
                             ? v::kCasePseudonymQuestion
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

    const Workbook& m_workbook;
    std::string m_file;
    SheetInfo m_survey, m_choices, m_settings;
    const Row* m_settingsRow = nullptr;
    std::string m_defaultSetting;
    std::uint32_t m_defaultColumn = kNoColumn;
    std::string m_rtlSetting;
    bool m_hasRtl = false;
    std::vector<LanguageDraft> m_languages;  // as the headers name them
    std::vector<std::string> m_headerNames;
    std::vector<std::pair<SheetInfo*, std::uint32_t>> m_languageCells;
    std::unordered_map<std::string, std::size_t> m_languageIndex;
    std::vector<std::uint32_t> m_properties;  // choices columns that are choice properties
    std::vector<ChoiceListDraft> m_lists;
    std::unordered_map<std::string, std::size_t> m_listIndex;
    std::unordered_map<std::string, std::uint32_t> m_listRows;  // first row of each list
    std::unordered_map<std::string, std::vector<std::uint32_t>> m_choiceRows;
    std::unordered_map<std::string, std::uint32_t> m_itemRows;
    std::unordered_set<std::string> m_duplicates;
    std::unordered_set<std::string> m_unknownLists;  // items whose list was reported missing
    bool m_versionReported = false;
    FormDraft m_form;
    std::vector<Located> m_problems;
};

}  // namespace

ImportResult importWorkbook(const std::string& path) {
    auto workbook = readWorkbookFile(path);
    if (!workbook) {
        ImportResult result;
        result.check.problems.push_back(
            {Severity::Error, path, 0, "", workbook.error().message, ""});
        return result;
    }
    return Importer(*workbook, path).run();
}

ImportResult importWorkbookData(std::span<const std::uint8_t> bytes, const std::string& fileName) {
    auto workbook = readWorkbook(bytes);
    if (!workbook) {
        ImportResult result;
        result.check.problems.push_back(
            {Severity::Error, fileName, 0, "", workbook.error().message, ""});
        return result;
    }
    return Importer(*workbook, fileName).run();
}

bool isWorkbookPath(const std::string& path) {
    return path.size() >= 5 &&
           v::equalsIgnoreCase(std::string_view(path).substr(path.size() - 5), ".xlsx");
}

forms::FormCheck loadAnyFormFile(const std::string& path) {
    if (isWorkbookPath(path)) return importWorkbook(path).check;
    return forms::loadFormFile(path);
}

}  // namespace veld::xlsform
