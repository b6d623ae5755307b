// A Windows build has no ReadStat: asking it for SPSS or Stata files fails at once with the
// reason and leaves no file, while CSV is written as everywhere.
#include <filesystem>

#include <doctest/doctest.h>

#include <veld/platform/files.hpp>
#include <veld/sync/export_table.hpp>

#include "support/test_support.hpp"

using namespace veld;

TEST_CASE("windows: .sav and .dta are refused plainly, CSV is written") {
    test::TempDir dir;
    sync::ExportTable table;
    table.name = "answers";
    sync::ExportColumn column;
    column.name = "age";
    column.type = sync::ColumnType::Integer;
    table.columns.push_back(column);

    for (const bool sav : {true, false}) {
        const std::string path = dir.file(sav ? "answers.sav" : "answers.dta");
        auto writer = sav ? sync::savTableWriter(path) : sync::dtaTableWriter(path);
        auto begun = writer->begin(table, 1);
        REQUIRE_FALSE(begun);
        CHECK(begun.error().code == ErrorCode::InvalidArgument);
        CHECK(begun.error().message.find(sav ? "SPSS (.sav)" : "Stata (.dta)") !=
              std::string::npos);
        CHECK(begun.error().message.find("not written by this build") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(platform::fsPath(path)));
    }

    const std::string csv = dir.file("answers.csv");
    auto writer = sync::csvTableWriter(csv);
    REQUIRE(writer->begin(table, 1));
    const sync::Cell cells[] = {sync::Cell(std::int64_t{42})};
    REQUIRE(writer->row(cells));
    REQUIRE(writer->end());
    CHECK(test::readFile(csv) == "age\r\n42\r\n");
}
