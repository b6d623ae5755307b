// Importing a workbook held in memory (the fuzz target reads its input this way); importWorkbook
// in <veld/xlsform.hpp> reads a file and calls the same code.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include <veld/xlsform.hpp>

namespace veld::xlsform {

/// `fileName` is used in messages and, when the settings give no form_id, for the form's id.
ImportResult importWorkbookData(std::span<const std::uint8_t> bytes, const std::string& fileName);

}  // namespace veld::xlsform
