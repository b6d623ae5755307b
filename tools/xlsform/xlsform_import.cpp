// XLSForm workbook -> Veld form (the mapping is docs/forms.md's table). The workbook's cells are
// read into a FormDraft, written as form JSON and compiled with forms::compileFormJson, so a
// workbook passes exactly the checks a JSON form passes. Every problem of one run is reported,
// each with its cell; the form checks' problems (which name an item and a field) are mapped back
// to the cell of that item's row and the field's column.
//
// This file holds the import's run, its problems, the sheets and their header rows (columns and
// languages) and the public functions; importer.hpp declares the Importer, import_survey.cpp
// reads the survey sheet and import_settings.cpp the choices and settings sheets.
#include "xlsform_import.hpp"

#include <algorithm>
#include <set>
#include <unordered_set>

#include <veld/form_media_files.hpp>
#include <veld/names.hpp>
#include <veld/xlsform.hpp>

#include "form_json_writer.hpp"
#include "importer.hpp"
#include "vocabulary.hpp"
#include "workbook_reader.hpp"

namespace veld::xlsform {

namespace detail {

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

ImportResult Importer::run() {
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
    auto check = forms::compileFormJson(result.json, m_file, mediaFolder);
    result.check.binary = std::move(check.binary);
    for (auto& p : check.problems)
        mapCheckProblem(std::move(p));
    return finish(result);
}

// --- problems ---

void Importer::add(Severity severity, const SheetInfo* sheet, std::uint32_t row,
                   std::uint32_t column, std::string message, std::string item) {
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
        if (row != kNoRow) l.problem.cell += "!" + cellName(column == kNoColumn ? 0 : column, row);
    }
    m_problems.push_back(std::move(l));
}

void Importer::error(const SheetInfo* sheet, std::uint32_t row, std::uint32_t column,
                     std::string message) {
    add(Severity::Error, sheet, row, column, std::move(message));
}

void Importer::warning(const SheetInfo* sheet, std::uint32_t row, std::uint32_t column,
                       std::string message) {
    add(Severity::Warning, sheet, row, column, std::move(message));
}

void Importer::error(const RowView& r, std::string_view key, std::string message) {
    error(&m_survey, r.row().number, columnOr(r, key), std::move(message));
}

// A column's position, or the type column's when the row has no such column.
std::uint32_t Importer::columnOr(const RowView& r, std::string_view key) const {
    const auto c = r.column(key);
    return c != kNoColumn ? c : r.column(v::kType);
}

ImportResult Importer::finish(ImportResult& result) {
    std::stable_sort(m_problems.begin(), m_problems.end(), [](const Located& a, const Located& b) {
        return std::tie(a.sheet, a.row, a.column) < std::tie(b.sheet, b.row, b.column);
    });
    for (auto& l : m_problems)
        result.check.problems.push_back(std::move(l.problem));
    return std::move(result);
}

// --- sheets and headers ---

bool Importer::findSheets() {
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
            error(&again, kNoRow, kNoColumn, "a second " + std::string(name) + " sheet; keep one");
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
void Importer::readHeaders(SheetInfo& info) {
    if (!info.sheet || info.sheet->rows.empty()) return;
    const Row& header = info.sheet->rows.front();
    info.headerRow = header.number;
    for (const auto& c : header.cells) {
        HeaderColumn h;
        h.column = c.column;
        h.text = std::string(v::trim(c.text));
        auto split = v::splitHeader(v::withoutMediaPrefix(h.text));
        std::replace(split.column.begin(), split.column.end(), ' ', '_');
        h.base = split.column;
        h.language = split.language;  // the language part until findLanguages resolves it
        info.columns.push_back(std::move(h));
        info.width = c.column + 1;
    }
}

bool Importer::translatable(const SheetInfo& info, const HeaderColumn& h) const {
    return v::isTranslatable(sheetKind(info), h.base);
}

std::string_view Importer::sheetKind(const SheetInfo& info) const {
    return &info == &m_survey    ? v::kSurveySheet
           : &info == &m_choices ? v::kChoicesSheet
                                 : v::kSettingsSheet;
}

void Importer::readSettingsRow() {
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
void Importer::findLanguages() {
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
void Importer::keyColumns(SheetInfo& info) {
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
        std::string(v::kRtl),
        std::string(v::kReadAloud)};
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
                        "column '" + h.text + "' is ignored: Veld shows no video");
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
Texts Importer::texts(const RowView& r, std::string_view base, bool trimmed) const {
    Texts out;
    for (const auto& l : m_form.languages) {
        const Cell* c = r.cell(std::string(base) + "::" + l.tag);
        if (!c) continue;
        std::string text = trimmed ? std::string(v::trim(c->text)) : c->text;
        if (!v::trim(text).empty()) out.emplace_back(l.tag, std::move(text));
    }
    return out;
}

std::optional<bool> Importer::yesNo(const RowView& r, const SheetInfo& sheet,
                                    std::string_view key) {
    const Cell* c = r.cell(key);
    if (!c) return false;
    auto b = v::parseYesNo(c->text);
    if (!b)
        error(&sheet, r.row().number, c->column,
              std::string(key) + " must be yes or no, not '" + c->text + "'");
    return b;
}

}  // namespace detail

using detail::Importer;
using detail::Severity;
namespace v = vocab;

ImportResult importWorkbook(const std::string& path) {
    auto workbook = readWorkbookFile(path);
    if (!workbook) {
        ImportResult result;
        result.check.problems.push_back(
            {Severity::Error, path, 0, "", workbook.error().message, ""});
        return result;
    }
    Importer importer(*workbook, path);
    importer.mediaFolder = forms::mediaFolderOf(path);
    return importer.run();
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
