// Forms from Excel: reading an XLSForm workbook into a Veld form, and writing a Veld form as an
// XLSForm workbook a researcher can edit. The mapping between the two is docs/forms.md's table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <veld/form.hpp>
#include <veld/result.hpp>

namespace veld::xlsform {

struct ImportResult {
    /// The Veld form as JSON, formatted for people to read and diff (empty when the workbook
    /// could not be read at all).
    std::string json;
    /// The compiled form and every problem: the workbook's own (each with its cell, e.g.
    /// "survey!D14") and the form checks' (mapped to the cell they are about where possible).
    forms::FormCheck check;
};

/// Reads an .xlsx workbook. `fileName` is used in messages and, when the settings give no
/// form_id, for the form's id.
ImportResult importWorkbook(const std::string& path);

/// True when `path` names a workbook by its extension (.xlsx, case-insensitive).
bool isWorkbookPath(const std::string& path);

/// A form file of any kind: a workbook (imported as above), form JSON or a compiled form
/// (forms::loadFormFile). What `veldctl form check|compile|show|install`, `veldctl collector
/// publish` and the console read.
forms::FormCheck loadAnyFormFile(const std::string& path);

/// Writes a compiled form as an XLSForm workbook at `path` (file mode 0644: forms hold no
/// answers), and the media it carries into `<workbook stem>-media/` next to it. Reading it back
/// with importWorkbook gives the same form.
Status exportWorkbook(const std::vector<std::uint8_t>& formBinary, const std::string& path);

}  // namespace veld::xlsform
