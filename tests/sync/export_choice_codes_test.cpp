// Choice codes in exports: a select one question whose choices are all named by whole numbers
// (Likert scores, -9 for "don't know") keeps those numbers as its codes in CSV, SPSS and Stata,
// with its labels as value labels; other lists are coded 1, 2, ... in their order. Read back by
// ReadStat's and PSPP's own tools.
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/sync/export.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

class OneFormSource final : public sync::ExportSource {
  public:
    std::vector<sync::PublishedFormInfo> forms;
    std::vector<sync::CurrentRecord> records;

    Result<std::vector<sync::PublishedFormInfo>> publishedForms() override { return forms; }
    Result<std::int64_t> countRecords(const sync::RecordQuery&) override {
        return static_cast<std::int64_t>(records.size());
    }
    Status forEachRecord(const sync::RecordQuery&, int passes,
                         const std::function<Status(int pass)>& startPass,
                         const std::function<Status(const sync::CurrentRecord&)>& visit) override {
        for (int pass = 0; pass < passes; ++pass) {
            if (auto s = startPass(pass); !s) return s;
            for (const auto& r : records) {
                if (auto s = visit(r); !s) return s;
            }
        }
        return {};
    }
};

// One finalized record of tests/forms/xlsform_fields.json, answered through a form session.
OneFormSource fieldsSource() {
    const std::string json =
        test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/xlsform_fields.json");
    auto check = forms::compileFormJson(json, "xlsform_fields.json");
    REQUIRE(check.ok());
    auto form = forms::CompiledForm::load(check.binary);
    REQUIRE(form.ok());
    auto session = forms::FormSession::start(form.value(), "nl");
    REQUIRE(session.setAnswer({"a", {}}, ChoiceAnswer{"4", ""}));
    REQUIRE(session.setAnswer({"b", {}}, ChoiceAnswer{"-9", ""}));
    REQUIRE(session.setAnswer({"contact_by", {}}, ChoiceAnswer{"letter", ""}));
    REQUIRE(session.setAnswer({"children", {}}, std::int64_t{0}));
    auto content = session.finalContent();
    REQUIRE(content.ok());

    ManualClock clock(1'790'000'000'000);
    Record r;
    r.id = makeUuidV7(clock);
    r.deviceId = Uuid::parse("0190a0b0-0000-7000-8000-000000000001").value();
    r.hlc = HlcTimestamp::make(1'790'000'000'000, 0);
    r.createdHlc = r.hlc;
    r.finalized = true;
    r.content = content.value();
    auto body = encodeRecord(r);
    REQUIRE(body);

    OneFormSource source;
    source.forms.push_back({"xlsform_fields", 2024031502, "tests", check.binary});
    sync::CurrentRecord rec;
    rec.recordId = r.id;
    rec.deviceId = r.deviceId;
    rec.formVersion = 2024031502;
    rec.hlc = r.hlc;
    rec.body = std::move(body.value());
    source.records.push_back(std::move(rec));
    return source;
}

std::string exportTo(OneFormSource& source, sync::ExportFormat format, const std::string& dir) {
    std::filesystem::create_directories(dir);
    sync::ExportOptions options;
    options.formId = "xlsform_fields";
    options.format = format;
    options.directory = dir;
    auto result = sync::exportForm(source, options);
    REQUIRE_MESSAGE(result.ok(), result.error().describe());
    return result.value().files.front();
}

// The cell of `column` in the first data row of a simple CSV (no quoted commas before it),
// without its quotes.
std::string csvCell(const std::string& path, const std::string& column) {
    std::istringstream in(test::readFile(path));
    std::string header, row;
    std::getline(in, header);
    std::getline(in, row);
    auto split = [](const std::string& line) {
        std::vector<std::string> out;
        std::stringstream ss(line);
        std::string cell;
        while (std::getline(ss, cell, ',')) {
            cell = cell.substr(0, cell.find('\r'));
            if (cell.size() >= 2 && cell.front() == '"' && cell.back() == '"')
                cell = cell.substr(1, cell.size() - 2);
            out.push_back(cell);
        }
        return out;
    };
    const auto names = split(header);
    const auto cells = split(row);
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == column) return i < cells.size() ? cells[i] : std::string();
    }
    FAIL("no column " << column << " in " << path);
    return {};
}

}  // namespace

TEST_CASE("export: numeric choice names are the codes, other lists count from 1") {
    test::TempDir dir;
    auto source = fieldsSource();

    const std::string csv = exportTo(source, sync::ExportFormat::Csv, dir.file("csv"));
    CHECK(csvCell(csv, "a") == "4");
    CHECK(csvCell(csv, "b") == "-9");
    CHECK(csvCell(csv, "contact_by") == "3");  // letter, the third of phone, email, letter, visit
    const std::string codebook = test::readFile(dir.file("csv/xlsform_fields-codebook.csv"));
    CHECK(codebook.find("xlsform_fields,b,b,b,b,select_one,nl,,-9,Weet niet") != std::string::npos);
    CHECK(codebook.find("xlsform_fields,b,b,b,b,select_one,name,,-9,-9") != std::string::npos);
    CHECK(codebook.find("xlsform_fields,contact_by,contact_by,contact_by,contact_by,select_one,"
                        "name,,3,letter") != std::string::npos);

    // Stata, read back by ReadStat: the same numbers.
    const std::string dta = exportTo(source, sync::ExportFormat::Dta, dir.file("dta"));
    const std::string converted = dir.file("from_dta.csv");
    const auto read = test::runProcess({"/usr/bin/readstat", dta, converted});
    REQUIRE_MESSAGE(read.exitCode == 0, read.err);
    CHECK(std::stod(csvCell(converted, "a")) == 4);
    CHECK(std::stod(csvCell(converted, "b")) == -9);

    // SPSS, read by PSPP: -9 is labelled as the form's "don't know".
    const std::string sav = exportTo(source, sync::ExportFormat::Sav, dir.file("sav"));
    const std::string syntax = dir.file("labels.sps");
    std::ofstream(syntax) << "GET FILE='" << sav << "'.\nDISPLAY DICTIONARY.\n";
    const auto pspp =
        test::runProcess({"/usr/bin/pspp", "-O", "format=txt", "-o", dir.file("pspp.txt"), syntax});
    REQUIRE_MESSAGE(pspp.exitCode == 0, (pspp.out + pspp.err));
    const std::string shown = test::readFile(dir.file("pspp.txt"));
    INFO(shown);
    CHECK(shown.find("-9") != std::string::npos);
    CHECK(shown.find("Weet niet") != std::string::npos);
    CHECK(shown.find("Helemaal eens") != std::string::npos);
}
