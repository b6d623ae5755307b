// The workbooks tests/xlsform/make_workbooks.py writes (with openpyxl) for the XLSForm tests.
#pragma once

#include <string>

namespace veld::test {

/// The path of a generated workbook. ctest writes them first (the xlsform_make_workbooks
/// fixture); a test program run by hand writes them itself when they are missing.
std::string workbook(const std::string& name);

}  // namespace veld::test
