// Excel workbooks for evaluators, through libxlsxwriter in its constant-memory mode: each sheet
// keeps one row in memory and streams the rest to a temporary file (in the export's own folder,
// which is the owner's only), and the workbook is assembled when it is closed.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <unordered_set>

#include <xlsxwriter.h>

#include <veld/platform/files.hpp>
#include <veld/sync/export_table.hpp>

namespace veld::sync {

namespace {

// Excel's serial dates count days from 1899-12-30 (for every date from 1900-03-01 on, where its
// 1900 leap-year quirk no longer shows).
constexpr double kExcelEpochDays = 25569.0;      // 1970-01-01
constexpr std::int64_t kFirstExcelDay = -25508;  // 1900-03-01, in days since 1970-01-01
constexpr double kMsPerDay = 86'400'000.0;

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

/// At most `maxChars` characters (code points) of UTF-8 `text`.
std::string firstChars(std::string_view text, std::size_t maxChars) {
    std::size_t chars = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
        if (chars == maxChars) return std::string(text.substr(0, i));
        ++chars;
    }
    return std::string(text);
}

std::size_t charCount(std::string_view text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

Error xlsxError(const std::string& what, lxw_error error) {
    return makeError(ErrorCode::Io, what + ": " + lxw_strerror(error));
}

class Workbook;

class SheetWriter final : public TableWriter {
  public:
    explicit SheetWriter(Workbook& book) : m_book(book) {}
    Status begin(const ExportTable& table, std::int64_t rowCount) override;
    Status row(std::span<const Cell> cells) override;
    Status end() override;

  private:
    Status cell(lxw_row_t row, lxw_col_t col, const Cell& value);

    Workbook& m_book;  // only used between begin() and end()
    lxw_worksheet* m_sheet = nullptr;
    std::string m_name;
    std::vector<ColumnType> m_types;
    std::vector<std::string> m_columns;
    std::int64_t m_expected = -1;
    std::int64_t m_rows = 0;
};

class Workbook final : public XlsxWorkbook {
  public:
    Workbook(std::string path, std::string tempDir)
        : m_path(std::move(path)), m_tempDir(std::move(tempDir)) {}
    ~Workbook() override {
        if (m_book) lxw_workbook_free(m_book);  // not closed: nothing is written
    }
    Workbook(const Workbook&) = delete;
    Workbook& operator=(const Workbook&) = delete;

    std::unique_ptr<TableWriter> sheet() override { return std::make_unique<SheetWriter>(*this); }

    Status close() override {
        if (!m_book)
            return makeError(ErrorCode::WrongState, "the workbook " + m_path + " is closed");
        lxw_workbook* book = m_book;
        m_book = nullptr;
        const lxw_error closed = workbook_close(book);  // frees the workbook either way
        if (closed != LXW_NO_ERROR) return xlsxError("cannot write " + m_path, closed);
        // The file holds personal data: the owner's only, whatever the umask let fopen make
        // (on Windows it keeps the private DACL open() gave it).
        std::error_code ec;
        std::filesystem::permissions(
            platform::fsPath(m_path),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
        if (ec) return makeError(ErrorCode::Io, "cannot restrict " + m_path + ": " + ec.message());
        return {};
    }

    // A new sheet for a table named `tableName` (its name by xlsxSheetNames).
    Result<lxw_worksheet*> addSheet(const std::string& tableName, std::string& sheetName) {
        if (auto s = open(); !s) return s.error();
        m_tables.push_back(tableName);
        sheetName = xlsxSheetNames(m_tables).back();
        lxw_worksheet* sheet = workbook_add_worksheet(m_book, sheetName.c_str());
        if (!sheet) {
            return makeError(ErrorCode::InvalidArgument,
                             "cannot add the sheet '" + sheetName + "' to " + m_path);
        }
        return sheet;
    }

    lxw_format* bold() const { return m_bold; }
    lxw_format* dateFormat() const { return m_date; }
    lxw_format* timeFormat() const { return m_time; }
    lxw_format* dateTimeFormat() const { return m_dateTime; }
    [[nodiscard]] const std::string& path() const { return m_path; }

  private:
    Status open() {
        if (m_book) return {};
        if (m_opened)
            return makeError(ErrorCode::WrongState, "the workbook " + m_path + " is closed");
        m_opened = true;
        // Made here, mode 0600, before libxlsxwriter writes into it.
        if (auto made = platform::File::create(m_path, platform::File::Create::Truncate,
                                               platform::Access::Private);
            !made)
            return made.error();
        lxw_workbook_options options{};
        options.constant_memory = LXW_TRUE;
        options.tmpdir = m_tempDir.empty() ? nullptr : m_tempDir.data();
        options.use_zip64 = LXW_TRUE;  // a sheet's XML may pass 4 GB
        m_book = workbook_new_opt(m_path.c_str(), &options);
        if (!m_book) return makeError(ErrorCode::Io, "cannot start the workbook " + m_path);
        m_bold = workbook_add_format(m_book);
        format_set_bold(m_bold);
        m_date = workbook_add_format(m_book);
        format_set_num_format(m_date, "yyyy-mm-dd");
        m_time = workbook_add_format(m_book);
        format_set_num_format(m_time, "hh:mm:ss");
        m_dateTime = workbook_add_format(m_book);
        format_set_num_format(m_dateTime, "yyyy-mm-dd hh:mm:ss");
        return {};
    }

    std::string m_path;
    std::string m_tempDir;
    lxw_workbook* m_book = nullptr;
    bool m_opened = false;
    std::vector<std::string> m_tables;
    lxw_format* m_bold = nullptr;  // formats are the workbook's
    lxw_format* m_date = nullptr;
    lxw_format* m_time = nullptr;
    lxw_format* m_dateTime = nullptr;
};

Status SheetWriter::begin(const ExportTable& table, std::int64_t rowCount) {
    if (rowCount >= kXlsxMaxRows) {
        return makeError(ErrorCode::InvalidArgument,
                         "the table " + table.name + " has " + std::to_string(rowCount) +
                             " rows, and an Excel sheet holds at most " +
                             std::to_string(kXlsxMaxRows - 1) +
                             " under its header: export it as CSV, .sav or .dta, or in parts");
    }
    for (const auto& c : table.columns) {
        if (c.type == ColumnType::Text && c.maxTextChars > kXlsxMaxCellChars) {
            return makeError(ErrorCode::InvalidArgument,
                             "the column " + c.name + " of " + table.name + " holds a text of " +
                                 std::to_string(c.maxTextChars) +
                                 " characters, and an Excel cell holds at most " +
                                 std::to_string(kXlsxMaxCellChars) +
                                 ": export it as CSV, .sav or .dta");
        }
    }
    auto sheet = m_book.addSheet(table.name, m_name);
    if (!sheet) return sheet.error();
    m_sheet = sheet.value();
    m_expected = rowCount;
    m_rows = 0;
    m_types.clear();
    m_columns.clear();
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
        const ExportColumn& c = table.columns[i];
        const auto col = static_cast<lxw_col_t>(i);
        m_types.push_back(c.type);
        m_columns.push_back(c.name);
        // Wide enough for the name and for dates; text up to 50 characters.
        double width = std::max<double>(8.0, static_cast<double>(charCount(c.name)) + 2.0);
        if (c.type == ColumnType::Date) width = std::max(width, 12.0);
        if (c.type == ColumnType::DateTime) width = std::max(width, 20.0);
        if (c.type == ColumnType::Text)
            width = std::max(width, std::min(50.0, static_cast<double>(c.maxTextChars) + 2.0));
        if (const lxw_error e = worksheet_set_column(m_sheet, col, col, width, nullptr);
            e != LXW_NO_ERROR)
            return xlsxError("cannot set up the sheet " + m_name + " in " + m_book.path(), e);
        if (const lxw_error e =
                worksheet_write_string(m_sheet, 0, col, c.name.c_str(), m_book.bold());
            e != LXW_NO_ERROR)
            return xlsxError("cannot write the header of " + m_name + " in " + m_book.path(), e);
    }
    worksheet_freeze_panes(m_sheet, 1, 0);
    return {};
}

Status SheetWriter::row(std::span<const Cell> cells) {
    if (!m_sheet) return makeError(ErrorCode::WrongState, "a row before begin()");
    if (cells.size() != m_types.size()) {
        return makeError(ErrorCode::InvalidArgument,
                         "a row of " + std::to_string(cells.size()) + " cells for " +
                             std::to_string(m_types.size()) + " columns");
    }
    if ((m_expected >= 0 && m_rows == m_expected) || m_rows + 1 >= kXlsxMaxRows)
        return makeError(ErrorCode::InvalidArgument, "more rows than announced for " + m_name);
    const auto row = static_cast<lxw_row_t>(m_rows + 1);
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (auto s = cell(row, static_cast<lxw_col_t>(i), cells[i]); !s) return s;
    }
    ++m_rows;
    return {};
}

Status SheetWriter::cell(lxw_row_t row, lxw_col_t col, const Cell& value) {
    lxw_error e = LXW_NO_ERROR;
    const ColumnType type = m_types[col];
    if (const auto* text = std::get_if<std::string>(&value)) {
        // A NUL would end the text early: what follows it is kept, without the NUL.
        if (text->find('\0') != std::string::npos) {
            std::string clean = *text;
            clean.erase(std::remove(clean.begin(), clean.end(), '\0'), clean.end());
            e = worksheet_write_string(m_sheet, row, col, clean.c_str(), nullptr);
        } else {
            e = worksheet_write_string(m_sheet, row, col, text->c_str(), nullptr);
        }
        if (e == LXW_ERROR_MAX_STRING_LENGTH_EXCEEDED) {
            return makeError(ErrorCode::InvalidArgument,
                             "row " + std::to_string(m_rows + 1) + " of " + m_name + ", column " +
                                 m_columns[col] + ": more than " +
                                 std::to_string(kXlsxMaxCellChars) +
                                 " characters, which an Excel cell cannot hold");
        }
    } else if (const auto* n = std::get_if<std::int64_t>(&value)) {
        const auto v = static_cast<double>(*n);
        switch (type) {
            case ColumnType::Date:
                e = *n >= kFirstExcelDay
                        ? worksheet_write_number(m_sheet, row, col, v + kExcelEpochDays,
                                                 m_book.dateFormat())
                        : worksheet_write_string(m_sheet, row, col, isoDate(*n).c_str(), nullptr);
                break;
            case ColumnType::Time:
                e = worksheet_write_number(m_sheet, row, col, v / kMsPerDay, m_book.timeFormat());
                break;
            case ColumnType::DateTime:
                e = *n >= kFirstExcelDay * 86'400'000
                        ? worksheet_write_number(m_sheet, row, col, v / kMsPerDay + kExcelEpochDays,
                                                 m_book.dateTimeFormat())
                        : worksheet_write_string(m_sheet, row, col, isoDateTime(*n).c_str(),
                                                 nullptr);
                break;
            default:
                e = worksheet_write_number(m_sheet, row, col, v, nullptr);
        }
    } else if (const auto* d = std::get_if<double>(&value)) {
        if (std::isfinite(*d)) e = worksheet_write_number(m_sheet, row, col, *d, nullptr);
    }
    if (e != LXW_NO_ERROR) {
        return xlsxError("cannot write row " + std::to_string(m_rows + 1) + " of " + m_name +
                             " in " + m_book.path(),
                         e);
    }
    return {};
}

Status SheetWriter::end() {
    if (!m_sheet) return makeError(ErrorCode::WrongState, "end() without begin()");
    if (m_expected >= 0 && m_rows != m_expected) {
        return makeError(ErrorCode::InvalidArgument, std::to_string(m_rows) + " rows written to " +
                                                         m_name + ", " +
                                                         std::to_string(m_expected) + " announced");
    }
    m_sheet = nullptr;
    return {};
}

}  // namespace

std::vector<std::string> xlsxSheetNames(const std::vector<std::string>& tableNames) {
    std::vector<std::string> out;
    std::unordered_set<std::string> taken{"history"};  // Excel keeps that name for itself
    for (const auto& table : tableNames) {
        std::string base = table;
        for (auto& c : base)
            if (std::strchr("[]:*?/\\", c) != nullptr && c != '\0') c = '_';
        if (base.empty()) base = "sheet";
        if (base.front() == '\'') base.front() = '_';
        if (base.back() == '\'') base.back() = '_';
        std::string name = firstChars(base, kXlsxMaxSheetName);
        for (int n = 2; !taken.insert(lowercase(name)).second; ++n) {
            const std::string suffix = "~" + std::to_string(n);
            name = firstChars(base, kXlsxMaxSheetName - suffix.size()) + suffix;
        }
        out.push_back(std::move(name));
    }
    return out;
}

std::unique_ptr<XlsxWorkbook> xlsxWorkbook(const std::string& path, const std::string& tempDir) {
    return std::make_unique<Workbook>(path, tempDir);
}

}  // namespace veld::sync
