// Reading the cells of an .xlsx workbook (Office Open XML spreadsheet): minizip opens the zip
// container, pugixml reads workbook.xml and its relationships (to find each sheet by name),
// sharedStrings.xml (rich text runs joined), styles.xml (which number formats are dates) and the
// worksheets. Values come out as text the way a person reads them in Excel: shared and inline
// strings as written, whole numbers without ".0" (a choice typed as 1 is "1"), other numbers in
// their shortest exact form, date-formatted numbers as YYYY-MM-DD, booleans as TRUE / FALSE.
//
// Hostile files are bounded: a part (one XML file inside the zip) larger than kMaxPartBytes
// when unpacked is refused while it is being unpacked (a zip bomb stops there), as is a workbook
// with more than kMaxCells non-empty cells or a file larger than kMaxFileBytes. Errors say what
// the user can do: an old .xls file, a password-protected workbook, a file that is not a
// workbook at all.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>

namespace veld::xlsform {

inline constexpr std::size_t kMaxFileBytes = 32u << 20;
inline constexpr std::size_t kMaxPartBytes = 16u << 20;
inline constexpr std::size_t kMaxCells = 200000;
inline constexpr std::uint32_t kMaxRows = 1048576;  // Excel's own limits
inline constexpr std::uint32_t kMaxColumns = 16384;

enum class CellKind { Text, Number, Boolean, Date, Error };

struct Cell {
    std::uint32_t column = 0;  // 0-based: A is 0
    CellKind kind = CellKind::Text;
    std::string text;  // never empty: empty cells are left out
};

struct Row {
    std::uint32_t number = 0;  // 1-based, as Excel shows it
    std::vector<Cell> cells;   // by column, ascending
};

struct Sheet {
    std::string name;
    std::vector<Row> rows;  // rows with at least one non-empty cell, ascending
};

struct Workbook {
    std::vector<Sheet> sheets;  // in the workbook's tab order
};

/// Reads a workbook from its bytes.
Result<Workbook> readWorkbook(std::span<const std::uint8_t> bytes);
/// Reads a workbook file (at most kMaxFileBytes).
Result<Workbook> readWorkbookFile(const std::string& path);

/// "A", "Z", "AA", ... for a 0-based column.
std::string columnName(std::uint32_t column);
/// "D14" for column 3, row 14.
std::string cellName(std::uint32_t column, std::uint32_t row);
/// "AA12" -> {26, 12}; nothing for anything else (or beyond Excel's limits).
std::optional<std::pair<std::uint32_t, std::uint32_t>> parseCellReference(std::string_view ref);

}  // namespace veld::xlsform
