// Tables for evaluators: the shape every export format writes (CSV, SPSS .sav, Stata .dta).
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
    std::size_t maxTextBytes = 0;         // Text: the longest value that can occur (0: unknown)
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

/// RFC 4180 CSV, UTF-8, a header row of column names; dates as YYYY-MM-DD, times as HH:MM:SS,
/// date-times as ISO 8601 UTC; missing values empty.
std::unique_ptr<TableWriter> csvTableWriter(const std::string& path);
/// SPSS .sav and Stata .dta through ReadStat, with variable labels and value labels. Column
/// names are made valid for the format (letters, digits and '_', length limits, unique); the
/// codebook gives the mapping.
std::unique_ptr<TableWriter> savTableWriter(const std::string& path);
std::unique_ptr<TableWriter> dtaTableWriter(const std::string& path);

/// The names the columns get in a .sav (maxBytes 64) or .dta (32) file: ASCII letters, digits
/// and '_', starting with a letter, unique within the table (case-insensitively), at most
/// maxBytes long. Deterministic, so that the codebook can show them.
std::vector<std::string> statisticalNames(const std::vector<ExportColumn>& columns,
                                          std::size_t maxBytes);

}  // namespace veld::sync
