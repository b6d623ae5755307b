// XLSForm workbooks as `veldctl form check|import` reads them: the .xlsx container (minizip),
// its XML (pugixml), the mapping to form JSON and Veld's checks. Properties: every problem can
// be described; a workbook that imports without errors gives JSON that compiles to the same
// form on its own, and the form is then loaded and filled in as a device would.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <unistd.h>
#include <xlsxwriter.h>

#include <veld/form.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"
#include "targets/form_exercise.hpp"
#include "xlsform_import.hpp"

namespace veld::fuzz {

int workbook(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    const auto imported =
        xlsform::importWorkbookData(std::span<const std::uint8_t>(data, size), "fuzz.xlsx");
    for (const auto& p : imported.check.problems)
        (void)p.describe();
    if (!imported.check.ok()) return 0;
    FUZZ_CHECK(!imported.json.empty());
    const auto again = forms::compileFormJson(imported.json, "fuzz.json");
    FUZZ_CHECK(again.binary == imported.check.binary);
    exerciseForm(imported.check.binary);
    return 0;
}

namespace {

// A workbook libxlsxwriter writes from rows of cells (a number where the text parses as one).
std::string writeWorkbook(
    const std::vector<std::pair<const char*, std::vector<std::vector<std::string>>>>& sheets) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("veld-fuzz-seed-" + std::to_string(::getpid()) + ".xlsx");
    lxw_workbook* wb = workbook_new(path.c_str());
    if (!wb) return {};
    for (const auto& [name, rows] : sheets) {
        lxw_worksheet* ws = workbook_add_worksheet(wb, name);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            for (std::size_t c = 0; c < rows[r].size(); ++c) {
                const std::string& v = rows[r][c];
                if (v.empty()) continue;
                char* end = nullptr;
                const double n = std::strtod(v.c_str(), &end);
                const auto row = static_cast<lxw_row_t>(r);
                const auto col = static_cast<lxw_col_t>(c);
                if (end && *end == '\0' && v.find_first_not_of("0123456789.-") == std::string::npos)
                    worksheet_write_number(ws, row, col, n, nullptr);
                else
                    worksheet_write_string(ws, row, col, v.c_str(), nullptr);
            }
        }
    }
    if (workbook_close(wb) != LXW_NO_ERROR) return {};
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::filesystem::remove(path);
    return bytes;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> workbookSeeds() {
    std::vector<std::pair<std::string, std::string>> out;
    out.emplace_back(
        "visit.xlsx",
        writeWorkbook({{"survey",
                        {{"type", "name", "label::Nederlands (nl)", "label::English (en)",
                          "required", "relevant", "constraint",
                          "constraint_message::Nederlands (nl)", "calculation", "appearance"},
                         {"date", "visit_date", "Datum", "Date", "yes", "", ". <= today()",
                          "Niet in de toekomst"},
                         {"integer", "age", "Leeftijd", "Age", "yes"},
                         {"select_one score", "score", "Score", "Score", "", "${age} > 17", "", "",
                          "", "likert"},
                         {"select_multiple topics or_other", "topics", "Onderwerpen", "Topics"},
                         {"begin_repeat", "children", "Kinderen", "Children"},
                         {"text", "child_name", "Naam", "Name"},
                         {"end_repeat"},
                         {"calculate", "next_age", "", "", "", "", "", "", "${age} + 1"}}},
                       {"choices",
                        {{"list_name", "name", "label::Nederlands (nl)", "label::English (en)"},
                         {"score", "1", "Slecht", "Bad"},
                         {"score", "2", "Goed", "Good"},
                         {"topics", "work", "Werk", "Work"},
                         {"topics", "care", "Zorg", "Care"}}},
                       {"settings",
                        {{"form_id", "version", "form_title::Nederlands (nl)", "instance_name"},
                         {"visit", "2024-03-15", "Bezoek", "${visit_date}"}}}}));
    out.emplace_back("broken.xlsx", writeWorkbook({{"survey",
                                                    {{"type", "name", "label"},
                                                     {"geopoint", "where", "Where"},
                                                     {"begin_group", "g", "G"},
                                                     {"text", "q", "Q"}}}}));
    return out;
}

}  // namespace veld::fuzz
