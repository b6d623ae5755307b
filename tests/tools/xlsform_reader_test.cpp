// The workbook reader and the shared vocabulary: cell references, version texts, languages,
// yes/no words, and the limits that keep a hostile file from taking the machine's memory.
#include <filesystem>
#include <mutex>

#include <doctest/doctest.h>

#include "support/test_support.hpp"
#include "vocabulary.hpp"
#include "workbook_reader.hpp"
#include "xlsform_workbooks.hpp"

using namespace veld;
using namespace veld::xlsform;

namespace veld::test {

std::string workbook(const std::string& name) {
    static std::once_flag made;
    std::call_once(made, [] {
        if (std::filesystem::exists(std::string(VELD_XLSFORM_WORKBOOKS) + "/done")) return;
        const auto run =
            runProcess({"/usr/bin/python3", VELD_XLSFORM_SCRIPT, VELD_XLSFORM_WORKBOOKS});
        REQUIRE_MESSAGE(run.exitCode == 0, run.err);
    });
    return std::string(VELD_XLSFORM_WORKBOOKS) + "/" + name;
}

}  // namespace veld::test

TEST_CASE("Cell references convert both ways within Excel's grid") {
    CHECK(columnName(0) == "A");
    CHECK(columnName(25) == "Z");
    CHECK(columnName(26) == "AA");
    CHECK(columnName(701) == "ZZ");
    CHECK(columnName(16383) == "XFD");
    CHECK(cellName(3, 14) == "D14");
    CHECK(parseCellReference("AA12") == std::pair<std::uint32_t, std::uint32_t>{26, 12});
    CHECK(parseCellReference("A1") == std::pair<std::uint32_t, std::uint32_t>{0, 1});
    CHECK(parseCellReference("XFD1048576") ==
          std::pair<std::uint32_t, std::uint32_t>{16383, 1048576});
    for (const char* bad :
         {"", "A", "1", "A0", "XFE1", "A1048577", "AAAA1", "A1B", "$A$1", "A-1"}) {
        CAPTURE(bad);
        CHECK_FALSE(parseCellReference(bad));
    }
}

TEST_CASE("Version texts are numbers, dates with a revision or MAJOR.MINOR.PATCH, nothing else") {
    struct Case {
        const char* text;
        std::uint32_t number;
        const char* label;
    };
    const Case good[] = {
        {"3", 3, ""},
        {" 12 ", 12, ""},
        {"007", 7, "007"},
        {"2024031501", 2024031501, ""},
        {"4294967295", 4294967295u, ""},
        {"2024-03-15", 2024031500, "2024-03-15"},
        {"2024-03-15.2", 2024031502, "2024-03-15.2"},
        {"2024-03-15.99", 2024031599, "2024-03-15.99"},
        {"1.4", 1004000, "1.4"},
        {"1.4.2", 1004002, "1.4.2"},
        {"999.999.999", 999999999, "999.999.999"},
    };
    for (const auto& c : good) {
        CAPTURE(c.text);
        auto v = vocab::parseVersion(c.text);
        REQUIRE(v);
        CHECK(v->number == c.number);
        CHECK(v->label == c.label);
    }
    for (const char* bad :
         {"", "0", "0.0.0", "4294967296", "v2", "2024-13-01", "2024-03-32", "2024-03-15.100",
          "2024-03-15-1", "1.1000", "1000.1", "1.2.3.4", "1..2", "1.", "draft"}) {
        CAPTURE(bad);
        auto v = vocab::parseVersion(bad);
        REQUIRE_FALSE(v);
        CHECK(v.error().message.find("is not a number, a date or MAJOR.MINOR.PATCH") !=
              std::string::npos);
    }
}

TEST_CASE("Language headers: a name with its tag, a tag, or a name from the table") {
    struct Case {
        const char* text;
        const char* tag;
        const char* name;
    };
    const Case cases[] = {
        {"Nederlands (nl)", "nl", "Nederlands"},
        {"nl", "nl", "Nederlands"},
        {"English", "en", "English"},
        {"Dutch", "nl", "Nederlands"},
        {"ar", "ar", "العربية"},
        {"ትግርኛ (ti)", "ti", "ትግርኛ"},
        {"Tigrinya", "ti", "ትግርኛ"},
        {"Dari (fa-AF)", "fa-AF", "Dari"},
        {"pt-BR", "pt-BR", "pt-BR"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        auto spec = vocab::parseLanguageSpec(c.text, "label");
        REQUIRE(spec);
        CHECK(spec->tag == c.tag);
        CHECK(spec->name == c.name);
    }
    auto bad = vocab::parseLanguageSpec("Klingon", "hint");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("say which language: hint::Klingon") != std::string::npos);
    CHECK(vocab::languageHeader("label", "Nederlands", "nl") == "label::Nederlands (nl)");
    CHECK(vocab::isRtlTag("ar"));
    CHECK(vocab::isRtlTag("fa-AF"));
    CHECK(vocab::isRtlTag("ckb"));
    CHECK_FALSE(vocab::isRtlTag("ti"));
    CHECK_FALSE(vocab::isRtlTag("en"));
}

TEST_CASE("Yes and no words") {
    for (const char* yes : {"yes", "Yes", "TRUE", "true()", "1", " yes "})
        CHECK(vocab::parseYesNo(yes) == true);
    for (const char* no : {"no", "NO", "false", "false()", "0", "", "  "})
        CHECK(vocab::parseYesNo(no) == false);
    for (const char* neither : {"maybe", "y", "${x} = 1", "2"})
        CHECK_FALSE(vocab::parseYesNo(neither).has_value());
}

TEST_CASE("The reader gives cells as Excel shows them, and refuses hostile files") {
    const auto bytes = test::readFile(test::workbook("full.xlsx"));
    auto workbook =
        readWorkbook(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    REQUIRE(workbook);
    REQUIRE(workbook->sheets.size() == 4);
    CHECK(workbook->sheets[0].name == "survey");
    CHECK(workbook->sheets[3].name == "notes");
    const auto& choices = workbook->sheets[1];
    // likert5's first choice: typed as the number 1, then 2.0.
    const Cell& one = choices.rows[9].cells[1];
    CHECK(one.kind == CellKind::Number);
    CHECK(one.text == "1");
    CHECK(choices.rows[10].cells[1].text == "2");
    CHECK(choices.rows[9].number == 10);

    // Cut-off workbooks are refused with a message, never a crash.
    for (std::size_t n :
         {std::size_t{1}, std::size_t{4}, std::size_t{30}, bytes.size() / 3, bytes.size() / 2}) {
        CAPTURE(n);
        auto cut = readWorkbook(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), n));
        REQUIRE_FALSE(cut);
        CHECK_FALSE(cut.error().message.empty());
    }
    const auto bomb = test::readFile(test::workbook("broken_bomb.xlsx"));
    CHECK(bomb.size() < (1u << 20));
    auto refused =
        readWorkbook(std::span(reinterpret_cast<const std::uint8_t*>(bomb.data()), bomb.size()));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("larger than 16 MiB unpacked") != std::string::npos);
}
