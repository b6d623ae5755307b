// SPSS .sav and Stata .dta tables, read back with ReadStat's own command-line tools (readstat and
// extract_metadata), as an evaluator's script would.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>

#include <doctest/doctest.h>

#include <veld/sync/export_table.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

const std::string kReadstat = "/usr/bin/readstat";
const std::string kExtractMetadata = "/usr/bin/extract_metadata";

using Rows = std::vector<std::vector<std::string>>;
using test::parseCsv;

std::string describe(const Status& status) {
    return status ? "" : status.error().describe();
}

std::unique_ptr<sync::TableWriter> writerFor(const std::string& path) {
    return path.ends_with(".sav") ? sync::savTableWriter(path) : sync::dtaTableWriter(path);
}

void writeTable(const std::string& path, const sync::ExportTable& table,
                const std::vector<std::vector<sync::Cell>>& rows) {
    auto writer = writerFor(path);
    auto begun = writer->begin(table, static_cast<std::int64_t>(rows.size()));
    REQUIRE_MESSAGE(begun, describe(begun));
    for (const auto& row : rows) {
        auto written = writer->row(row);
        REQUIRE_MESSAGE(written, describe(written));
    }
    auto ended = writer->end();
    REQUIRE_MESSAGE(ended, describe(ended));
}

/// The CSV readstat converts `path` to.
Rows readBack(const test::TempDir& dir, const std::string& path) {
    const std::string csv = dir.file(std::filesystem::path(path).filename().string() + ".csv");
    auto converted = test::runProcess({kReadstat, path, csv});
    REQUIRE_MESSAGE(converted.exitCode == 0, converted.err);
    return parseCsv(test::readFile(csv));
}

/// The line of `readstat FILE` (its metadata summary) that starts with `key`.
std::string summaryLine(const std::string& summary, const std::string& key) {
    std::istringstream lines(summary);
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with(key)) return line;
    return "";
}

/// extract_metadata's JSON, one variable a line: the line of the variable `name`.
std::string metadataLine(const std::string& json, const std::string& name) {
    std::istringstream lines(json);
    for (std::string line; std::getline(lines, line);)
        if (line.find("\"name\": \"" + name + "\"") != std::string::npos) return line;
    return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

const std::string kName = "Zoë Çelik — مرحبا بالعالم";
const std::string kQuoted = "plain, with a comma and \"quotes\"";

sync::ExportTable surveyTable() {
    sync::ExportTable table;
    table.name = "parent_survey";
    table.label = "Parent survey";
    table.columns = {
        {.name = "name", .label = "Naam", .type = sync::ColumnType::Text, .maxTextBytes = 64},
        {.name = "agree",
         .label = "Agrees",
         .type = sync::ColumnType::Integer,
         .valueLabels = {{1, "yes"}, {2, "no"}}},
        {.name = "score", .label = "Score", .type = sync::ColumnType::Decimal},
        {.name = "visit.date", .label = "Visit date", .type = sync::ColumnType::Date},
        {.name = "visit-time", .label = "Visit time", .type = sync::ColumnType::Time},
        {.name = "submitted", .label = "Submitted", .type = sync::ColumnType::DateTime},
    };
    return table;
}

std::vector<std::vector<sync::Cell>> surveyRows() {
    using sync::Cell;
    const Cell missing = std::monostate{};
    return {
        // 2022-01-08, 12:34:56, 2023-11-14 22:13:20 UTC
        {Cell{kName}, Cell{std::int64_t{1}}, Cell{3.25}, Cell{std::int64_t{19000}},
         Cell{std::int64_t{45296000}}, Cell{std::int64_t{1700000000000}}},
        {missing, Cell{std::int64_t{2}}, missing, missing, missing, missing},
        // 1969-12-31, 00:00:01.500, 1970-01-01 00:00:00 UTC
        {Cell{kQuoted}, missing, Cell{-0.5}, Cell{std::int64_t{-1}}, Cell{std::int64_t{1500}},
         Cell{std::int64_t{0}}},
    };
}

bool validName(const std::string& name, std::size_t maxBytes) {
    if (name.empty() || name.size() > maxBytes) return false;
    if (!std::isalpha(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

std::string lower(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

TEST_CASE("sav and dta tables read back with readstat value by value") {
    test::TempDir dir;
    const auto table = surveyTable();
    const auto rows = surveyRows();
    const std::string sav = dir.file("parent_survey.sav");
    const std::string dta = dir.file("parent_survey.dta");
    writeTable(sav, table, rows);
    writeTable(dta, table, rows);

    const std::vector<std::string> header{"name",       "agree",      "score",
                                          "visit_date", "visit_time", "submitted"};
    SUBCASE("SPSS: dates as seconds since 1582-10-14, times as seconds since midnight") {
        const Rows csv = readBack(dir, sav);
        REQUIRE(csv.size() == 4);
        CHECK(csv[0] == header);
        CHECK(csv[1] == std::vector<std::string>{kName, "1.000000", "3.250000",
                                                 "13860979200.000000", "45296.000000",
                                                 "13919379200.000000"});
        CHECK(csv[2] == std::vector<std::string>{"", "2.000000", "", "", "", ""});
        CHECK(csv[3] == std::vector<std::string>{kQuoted, "", "-0.500000", "12219292800.000000",
                                                 "1.500000", "12219379200.000000"});
    }
    SUBCASE("Stata: dates as ISO dates, times and date-times as ms since 1960-01-01") {
        const Rows csv = readBack(dir, dta);
        REQUIRE(csv.size() == 4);
        CHECK(csv[0] == header);
        CHECK(csv[1] == std::vector<std::string>{kName, "1.000000", "3.250000", "2022-01-08",
                                                 "45296000.000000", "2015619200000.000000"});
        CHECK(csv[2] == std::vector<std::string>{"", "2.000000", "", "", "", ""});
        CHECK(csv[3] == std::vector<std::string>{kQuoted, "", "-0.500000", "1969-12-31",
                                                 "1500.000000", "315619200000.000000"});
    }
    SUBCASE("the metadata summary counts the rows and columns") {
        for (const auto& path : {sav, dta}) {
            CAPTURE(path);
            auto summary = test::runProcess({kReadstat, path});
            REQUIRE_MESSAGE(summary.exitCode == 0, summary.err);
            CHECK(summaryLine(summary.out, "Columns:") == "Columns: 6");
            CHECK(summaryLine(summary.out, "Rows:") == "Rows: 3");
            CHECK(summaryLine(summary.out, "Table label:") == "Table label: Parent survey");
        }
        auto savSummary = test::runProcess({kReadstat, sav});
        CHECK(summaryLine(savSummary.out, "Format:") == "Format: SPSS binary file (SAV)");
        CHECK(summaryLine(savSummary.out, "Text encoding:") == "Text encoding: UTF-8");
        auto dtaSummary = test::runProcess({kReadstat, dta});
        CHECK(summaryLine(dtaSummary.out, "Format:") == "Format: Stata binary file (DTA)");
        CHECK(summaryLine(dtaSummary.out, "Format version:") == "Format version: 118");
    }
    SUBCASE("a table without rows is a valid file") {
        for (const std::string file : {"empty.sav", "empty.dta"}) {
            const std::string path = dir.file(file);
            writeTable(path, table, {});
            auto summary = test::runProcess({kReadstat, path});
            REQUIRE_MESSAGE(summary.exitCode == 0, summary.err);
            CHECK(summaryLine(summary.out, "Rows:") == "Rows: 0");
            CHECK(summaryLine(summary.out, "Columns:") == "Columns: 6");
            const Rows csv = readBack(dir, path);
            REQUIRE(csv.size() == 1);
            CHECK(csv[0] == header);
        }
    }
    SUBCASE("the files are private to their owner") {
        for (const auto& path : {sav, dta}) {
            const auto perms = std::filesystem::status(path).permissions();
            CHECK((perms & (std::filesystem::perms::group_all |
                            std::filesystem::perms::others_all)) == std::filesystem::perms::none);
        }
    }
}

TEST_CASE("variable labels and value labels survive in sav and dta") {
    test::TempDir dir;
    auto table = surveyTable();
    // 81 bytes whose 80th byte is inside a two-byte character: Stata keeps 79 bytes.
    const std::string longLabel = std::string(79, 'q') + "é";
    table.columns[2].label = longLabel;
    table.columns[0].label = "Naam van de ouder — اسم الوالد";
    const std::string sav = dir.file("labels.sav");
    const std::string dta = dir.file("labels.dta");
    writeTable(sav, table, surveyRows());
    writeTable(dta, table, surveyRows());

    for (const auto& path : {sav, dta}) {
        CAPTURE(path);
        const bool isSav = path.ends_with(".sav");
        const std::string jsonPath = path + ".json";
        auto extracted = test::runProcess({kExtractMetadata, path, jsonPath});
        REQUIRE_MESSAGE(extracted.exitCode == 0, extracted.err);
        const std::string json = test::readFile(jsonPath);

        CHECK(
            contains(metadataLine(json, "name"), "\"label\": \"Naam van de ouder — اسم الوالد\""));
        CHECK(contains(metadataLine(json, "visit_date"), "\"label\": \"Visit date\""));
        CHECK(contains(metadataLine(json, "submitted"), "\"label\": \"Submitted\""));
        const std::string agree = metadataLine(json, "agree");
        CHECK(contains(agree, "\"label\": \"Agrees\""));
        if (isSav) {
            CHECK(contains(agree, "{ \"code\": 1.000000, \"label\": \"yes\"}"));
            CHECK(contains(agree, "{ \"code\": 2.000000, \"label\": \"no\"}"));
        } else {
            CHECK(contains(agree, "{ \"code\": 1, \"label\": \"yes\"}"));
            CHECK(contains(agree, "{ \"code\": 2, \"label\": \"no\"}"));
        }
        // Only the coded column has value labels.
        CHECK_FALSE(contains(metadataLine(json, "score"), "categories"));
        const std::string score = metadataLine(json, "score");
        if (isSav) {
            CHECK(contains(score, "\"label\": \"" + longLabel + "\""));
            CHECK(contains(metadataLine(json, "visit_date"), "\"format\": \"DATE\""));
            CHECK(contains(metadataLine(json, "visit_time"), "\"format\": \"TIME\""));
            CHECK(contains(metadataLine(json, "submitted"), "\"format\": \"DATE_TIME\""));
        } else {
            CHECK(contains(score, "\"label\": \"" + std::string(79, 'q') + "\""));
        }
    }
}

TEST_CASE("statisticalNames gives valid unique deterministic names within the limit") {
    const std::string longName(70, 'a');
    std::vector<sync::ExportColumn> columns;
    for (const std::string& name :
         std::vector<std::string>{"q1.a", "q1-a", "Q1_A", "1st", "_hidden", "in", "With", "str5",
                                  "vraag_é", "x", "X", "x_2", longName, longName + "b", "plain"}) {
        columns.push_back({.name = name, .type = sync::ColumnType::Integer});
    }

    SUBCASE("sav: 64 bytes") {
        const auto names = sync::statisticalNames(columns, sync::StatisticalFormat::Sav);
        REQUIRE(names.size() == columns.size());
        CHECK(names == std::vector<std::string>{"q1_a", "q1_a_2", "Q1_A_3", "v_1st", "v__hidden",
                                                "v_in", "v_With", "v_str5", "vraag___", "x", "X_3",
                                                "x_2", std::string(64, 'a'),
                                                std::string(62, 'a') + "_2", "plain"});
        CHECK(sync::statisticalNames(columns, sync::StatisticalFormat::Sav) == names);
    }
    for (const auto format : {sync::StatisticalFormat::Sav, sync::StatisticalFormat::Dta}) {
        const std::size_t limit = format == sync::StatisticalFormat::Sav ? 64 : 32;
        CAPTURE(limit);
        const auto names = sync::statisticalNames(columns, format);
        REQUIRE(names.size() == columns.size());
        std::set<std::string> seen;
        for (const auto& name : names) {
            CAPTURE(name);
            CHECK(validName(name, limit));
            CHECK(seen.insert(lower(name)).second);
        }
        CHECK(sync::statisticalNames(columns, format) == names);
    }
    SUBCASE("dta: 32 bytes") {
        const auto names = sync::statisticalNames(columns, sync::StatisticalFormat::Dta);
        CHECK(names[12] == std::string(32, 'a'));
        CHECK(names[13] == std::string(30, 'a') + "_2");
    }
    SUBCASE("clashing names are written to real files") {
        test::TempDir dir;
        sync::ExportTable table;
        table.name = "clash";
        for (const auto& column : columns)
            table.columns.push_back({.name = column.name, .type = sync::ColumnType::Integer});
        std::vector<sync::Cell> row(columns.size(), sync::Cell{std::int64_t{7}});
        for (const std::string file : {"clash.sav", "clash.dta"}) {
            const std::string path = dir.file(file);
            writeTable(path, table, {row});
            const Rows csv = readBack(dir, path);
            REQUIRE(csv.size() == 2);
            CHECK(csv[0] == sync::statisticalNames(columns, file.ends_with(".sav")
                                                                ? sync::StatisticalFormat::Sav
                                                                : sync::StatisticalFormat::Dta));
        }
    }
}

TEST_CASE("a readstat table refuses a wrong row count and an unwritable path") {
    test::TempDir dir;
    const auto table = surveyTable();
    const auto rows = surveyRows();
    for (const std::string ext : {".sav", ".dta"}) {
        CAPTURE(ext);
        {  // fewer rows than announced
            auto writer = writerFor(dir.file("short" + ext));
            REQUIRE(writer->begin(table, 3));
            REQUIRE(writer->row(rows[0]));
            REQUIRE(writer->row(rows[1]));
            auto ended = writer->end();
            REQUIRE_FALSE(ended);
            CHECK(ended.error().code == ErrorCode::InvalidArgument);
            CHECK(contains(ended.error().message, "3 rows were announced"));
            CHECK(contains(ended.error().message, "2 were written"));
        }
        {  // more rows than announced
            auto writer = writerFor(dir.file("long" + ext));
            REQUIRE(writer->begin(table, 1));
            REQUIRE(writer->row(rows[0]));
            auto extra = writer->row(rows[1]);
            REQUIRE_FALSE(extra);
            CHECK(extra.error().code == ErrorCode::InvalidArgument);
            CHECK(contains(extra.error().message, "more rows than the 1 announced"));
            CHECK_FALSE(writer->end());
        }
        {  // too few cells
            auto writer = writerFor(dir.file("cells" + ext));
            REQUIRE(writer->begin(table, 1));
            auto row = rows[0];
            row.pop_back();
            auto written = writer->row(row);
            REQUIRE_FALSE(written);
            CHECK(written.error().code == ErrorCode::InvalidArgument);
        }
        {  // text in a date column
            auto writer = writerFor(dir.file("types" + ext));
            REQUIRE(writer->begin(table, 1));
            auto row = rows[0];
            row[3] = std::string("2022-01-08");
            auto written = writer->row(row);
            REQUIRE_FALSE(written);
            CHECK(written.error().code == ErrorCode::InvalidArgument);
            CHECK(contains(written.error().message, "visit.date"));
        }
        {  // a folder that does not exist
            const std::string path = dir.file("no/such/folder/t" + ext);
            auto writer = writerFor(path);
            auto begun = writer->begin(table, 3);
            REQUIRE_FALSE(begun);
            CHECK(begun.error().code == ErrorCode::NotFound);
            CHECK(contains(begun.error().message, "cannot create " + path));
            CHECK(contains(begun.error().message, "No such file or directory"));
            CHECK_FALSE(writer->row(rows[0]));
            CHECK_FALSE(writer->end());
            CHECK_FALSE(std::filesystem::exists(path));
        }
        if (std::filesystem::exists("/dev/full")) {  // a full disk
            auto writer = writerFor("/dev/full");
            REQUIRE(writer->begin(table, 3));
            Status status;
            for (const auto& row : rows)
                if (status) status = writer->row(row);
            if (status) status = writer->end();
            REQUIRE_FALSE(status);
            CHECK(status.error().code == ErrorCode::StorageFull);
            CHECK(contains(status.error().message, "cannot write /dev/full"));
        }
    }
}
