// Tables for evaluators: the shape every export format writes (CSV, SPSS .sav, Stata .dta,
// Excel .xlsx).
// The export engine describes a table (its columns, with labels and value labels), says how
// many rows follow, then streams the rows one at a time: memory stays flat however large the
// export.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <veld/result.hpp>

namespace veld::sync {

/// How a column's values are typed, in every format.
enum class ColumnType {
    Text,      // UTF-8
    Integer,   // whole numbers (also coded answers: choices, 0/1 flags)
    Decimal,   // double
    Date,      // Integer cells: days since 1970-01-01
    Time,      // Integer cells: milliseconds since midnight
    DateTime,  // Integer cells: milliseconds since 1970-01-01 UTC
};

/// text, integer, decimal, date, time, datetime (the codebook's words).
std::string_view columnTypeName(ColumnType type);

struct ValueLabel {
    std::int64_t value = 0;
    std::string label;
};

struct ExportColumn {
    std::string name;   // unique in its table; [A-Za-z_][A-Za-z0-9_.-]*, at most 64 bytes
    std::string label;  // the question's text, in the export's language
    ColumnType type = ColumnType::Text;
    std::vector<ValueLabel> valueLabels;  // for coded Integer columns
    /// Text: the longest value in the export, in bytes and in characters (code points), as the
    /// export's first pass measured them (0: unknown). .sav and .dta size strings by the first;
    /// .xlsx refuses a table whose cells exceed Excel's limit by the second.
    std::size_t maxTextBytes = 0;
    std::size_t maxTextChars = 0;
};

struct ExportTable {
    std::string name;   // the file's stem: "ips_guidance", "ips_guidance-sessions"
    std::string label;  // the form's title
    std::vector<ExportColumn> columns;
    /// The time written into a .sav or .dta header: the newest exported record's (its HLC's
    /// milliseconds), never the clock, so that the same data always gives the same bytes.
    std::int64_t timestampUtcMs = 0;
};

/// A missing value is std::monostate. Integer, Date, Time and DateTime columns take int64_t,
/// Decimal takes double, Text takes std::string.
using Cell = std::variant<std::monostate, std::string, std::int64_t, double>;

class TableWriter {
  public:
    virtual ~TableWriter() = default;
    /// Starts the table; exactly `rowCount` rows follow (.sav and .dta need the count first;
    /// a CSV writer also takes -1: not known).
    virtual Status begin(const ExportTable& table, std::int64_t rowCount) = 0;
    /// One row: one cell per column, in the columns' order.
    virtual Status row(std::span<const Cell> cells) = 0;
    /// Finishes the file. Until it succeeds the file is incomplete and must not be used.
    virtual Status end() = 0;
};

/// How CSV writes dates (days since 1970-01-01) as YYYY-MM-DD, times (ms since midnight) as
/// HH:MM:SS, and date-times (ms since 1970-01-01 UTC) as YYYY-MM-DDTHH:MM:SS.mmmZ.
std::string isoDate(std::int64_t days);
std::string isoTime(std::int64_t ms);
std::string isoDateTime(std::int64_t utcMs);

/// RFC 4180 CSV, UTF-8, a header row of column names; dates as YYYY-MM-DD, times as HH:MM:SS,
/// date-times as ISO 8601 UTC; missing values empty.
std::unique_ptr<TableWriter> csvTableWriter(const std::string& path);
/// SPSS .sav and Stata .dta through ReadStat, with variable labels and value labels. Column
/// names are made valid for the format (letters, digits and '_', length limits, unique); the
/// codebook gives the mapping.
std::unique_ptr<TableWriter> savTableWriter(const std::string& path);
std::unique_ptr<TableWriter> dtaTableWriter(const std::string& path);

/// Excel's limits for one sheet: rows (with the header row), characters in a cell, and the
/// length of a sheet's name.
constexpr std::int64_t kXlsxMaxRows = 1'048'576;
constexpr std::size_t kXlsxMaxCellChars = 32'767;
constexpr std::size_t kXlsxMaxSheetName = 31;

/// An Excel workbook (.xlsx) written sheet by sheet, each sheet a table: a bold header row of
/// column names, frozen; numbers as numbers; dates, times and date-times as Excel dates with a
/// date format (a date before 1900-03-01, which Excel cannot show, as text); missing values
/// empty. Rows stream to temporary files in `tempDir` (libxlsxwriter's constant-memory mode),
/// so memory stays flat; the file is written, mode 0600, by close().
class XlsxWorkbook {
  public:
    virtual ~XlsxWorkbook() = default;
    /// A new sheet for a table; its name is xlsxSheetName's for the table's name. Sheets may be
    /// filled side by side, each in row order. begin() refuses a table of more rows than a sheet
    /// holds, or whose longest text (ExportColumn::maxTextChars) does not fit in a cell.
    virtual std::unique_ptr<TableWriter> sheet() = 0;
    /// Writes the file once every sheet has ended.
    virtual Status close() = 0;
};
std::unique_ptr<XlsxWorkbook> xlsxWorkbook(const std::string& path, const std::string& tempDir);

/// The sheet names a workbook gives tables of these names, in order: the name with []:*?/\ made
/// '_', cut to 31 characters, and made unique (case-insensitively, and never "History") by
/// cutting further and adding "~2", "~3", ...
std::vector<std::string> xlsxSheetNames(const std::vector<std::string>& tableNames);

/// Which file a name is for: .sav (SPSS) or .dta (Stata).
enum class StatisticalFormat { Sav, Dta };

/// The names the columns get in a .sav or .dta file: ASCII letters, digits and '_', starting
/// with a letter, not a reserved word of either program, unique within the table
/// (case-insensitively), at most 64 bytes (.sav) or 32 (.dta). In a .sav, the 8-byte short
/// names the file also carries (ReadStat derives them from these names, and names each
/// 252-byte segment of a string longer than 255 bytes from the first 5) are unique too: a
/// long string column whose segments would clash is renamed with an "sNNN_" prefix.
/// Deterministic (it depends on the columns and their maxTextBytes only), so the codebook shows
/// the names the files have.
std::vector<std::string> statisticalNames(const std::vector<ExportColumn>& columns,
                                          StatisticalFormat format);

}  // namespace veld::sync
