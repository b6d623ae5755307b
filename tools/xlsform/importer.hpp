// The XLSForm importer's inner parts, shared by its three source files: the Importer class,
// which reads one workbook's cells into a FormDraft and reports every problem with its cell, and
// the small types it reads rows with. Its member functions are defined in xlsform_import.cpp
// (problems, sheets and headers, the public functions), import_survey.cpp (survey rows, their
// types and columns, or_other) and import_settings.cpp (choices, settings, and the form checks'
// problems mapped to cells).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <veld/xlsform.hpp>

#include "form_json_writer.hpp"
#include "vocabulary.hpp"
#include "workbook_reader.hpp"

namespace veld::xlsform::detail {

using forms::FormProblem;
using Severity = FormProblem::Severity;
namespace v = vocab;

constexpr std::uint32_t kNoRow = 0;
constexpr std::uint32_t kNoColumn = 0xffffffffu;

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

// The words of a text, split at white space.
std::vector<std::string> words(std::string_view text);

// A survey row's type, read from its words.
struct TypeWords {
    std::string word;  // lower case: "select_one", "begin_group", "integer", ...
    std::string list;
    bool orOther = false;
    bool extra = false;  // more words than the type takes
};

class Importer {
  public:
    Importer(const Workbook& workbook, std::string file)
        : m_workbook(workbook), m_file(std::move(file)) {}

    ImportResult run();

    /// Where the media files that labels name are read from (empty: the workbook came without
    /// a folder, as bytes).
    std::string mediaFolder;

  private:
    // --- problems ---

    void add(Severity severity, const SheetInfo* sheet, std::uint32_t row, std::uint32_t column,
             std::string message, std::string item = {});
    void error(const SheetInfo* sheet, std::uint32_t row, std::uint32_t column,
               std::string message);
    void warning(const SheetInfo* sheet, std::uint32_t row, std::uint32_t column,
                 std::string message);
    void error(const RowView& r, std::string_view key, std::string message);
    std::uint32_t columnOr(const RowView& r, std::string_view key) const;
    ImportResult finish(ImportResult& result);

    // --- sheets and headers ---

    bool findSheets();
    void readHeaders(SheetInfo& info);
    bool translatable(const SheetInfo& info, const HeaderColumn& h) const;
    std::string_view sheetKind(const SheetInfo& info) const;
    void readSettingsRow();
    void findLanguages();
    void keyColumns(SheetInfo& info);
    Texts texts(const RowView& r, std::string_view base, bool trimmed = false) const;
    std::optional<bool> yesNo(const RowView& r, const SheetInfo& sheet, std::string_view key);

    // --- choices ---

    void readChoices();
    bool anyValue(const RowView& r, const SheetInfo& info) const;

    // --- survey ---

    struct Open {
        ItemDraft* item;
        std::uint32_t row;
        std::uint32_t column;
        bool repeat;
    };

    void readSurvey();
    bool mapType(const RowView& r, const TypeWords& type, ItemDraft& item);
    void rangeParameters(const RowView& r, ItemDraft& item);
    void readColumns(const RowView& r, ItemDraft& item);
    void addOrOther();

    template <class F>
    void walk(std::vector<ItemDraft>& items, F&& f) {
        for (auto& item : items) {
            f(item);
            walk(item.children, f);
        }
    }

    // --- settings ---

    std::string setting(std::string_view key) const;
    std::uint32_t settingColumn(std::string_view key) const;
    std::uint32_t settingsRow() const;
    void settingError(std::string_view key, std::string message);
    void applySettings();

    // --- the form checks' problems, mapped to cells ---

    std::string_view columnOfMessage(const std::string& m) const;
    std::string languageOf(const std::string& m) const;
    void mapCheckProblem(FormProblem p);

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

}  // namespace veld::xlsform::detail
