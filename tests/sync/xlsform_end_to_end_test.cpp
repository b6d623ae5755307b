// A form written in Excel, all the way: the workbook (made by openpyxl) is published at a real
// collector with veldctl, installed into a device store, filled in through a form session,
// finalized, sent over loopback, and exported; Python's csv module reads the export back.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <doctest/doctest.h>

#include <veld/expression.hpp>
#include <veld/form_session.hpp>
#include <veld/sync/uploader.hpp>
#include <veld/xlsform.hpp>

#include "support/sync_support.hpp"
#include "tools/xlsform_workbooks.hpp"

using namespace veld;

namespace {

// Every cell of a CSV file as "row<TAB>column<TAB>value" lines (values without tabs/newlines).
constexpr const char* kReader = R"py(
import csv, sys
with open(sys.argv[1], newline='', encoding='utf-8') as f:
    for n, row in enumerate(csv.DictReader(f)):
        for column, value in row.items():
            print(n, column, value, sep='\t')
)py";

std::map<std::string, std::string> readRow(const std::string& script, const std::string& csv,
                                           int row) {
    const auto run = test::runProcess({"/usr/bin/python3", script, csv});
    REQUIRE_MESSAGE(run.exitCode == 0, run.err);
    std::map<std::string, std::string> out;
    std::istringstream in(run.out);
    std::string line;
    while (std::getline(in, line)) {
        const auto a = line.find('\t');
        const auto b = line.find('\t', a + 1);
        if (std::stoi(line.substr(0, a)) == row)
            out[line.substr(a + 1, b - a - 1)] = line.substr(b + 1);
    }
    return out;
}

}  // namespace

TEST_CASE("A form from an Excel workbook is filled in, finalized, synced and exported") {
    test::TempDir dir;
    const std::string workbook = test::workbook("e2e.xlsx");
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const auto published = test::veldctl({"collector", "publish", collector.storePath(), workbook});
    REQUIRE_MESSAGE(published.exitCode == 0, std::string(published.out + published.err));
    CHECK(published.out.find("published") != std::string::npos);
    collector.start();

    auto device = test::openDevice(dir.file("device.veld"));
    const auto imported = xlsform::loadAnyFormFile(workbook);
    REQUIRE(imported.ok());
    REQUIRE(device.installForm(imported.binary));
    auto form = forms::CompiledForm::load(imported.binary);
    REQUIRE(form);

    auto session = forms::FormSession::start(form.value(), "en");
    const auto set = [&](const forms::ItemPath& path, AnswerValue value) {
        const Status s = session.setAnswer(path, std::move(value));
        REQUIRE_MESSAGE(s, (s ? std::string() : s.error().describe()));
    };
    const auto visit = expr::parseIsoDate("2024-05-02");
    REQUIRE(visit);
    set({"visit_date", {}}, DateAnswer{static_cast<std::int32_t>(*visit)});
    set({"age", {}}, std::int64_t{34});
    set({"score", {}}, ChoiceAnswer{"3", ""});
    set({"topics", {}}, ChoicesAnswer{{"care", "other"}, "volunteering"});
    set({"remarks", {}}, std::string("Alles goed"));
    auto first = session.addRepeatInstance({"children", {}});
    REQUIRE(first);
    set({"child_name", {0}}, std::string("Sam"));
    set({"child_age", {0}}, std::int64_t{7});
    // The calculate row computed its hidden answer.
    REQUIRE(session.answer({"age_next_year", {}}));
    CHECK(std::get<std::string>(*session.answer({"age_next_year", {}})) == "35");
    CHECK(session.problems().empty());
    auto content = session.finalContent();
    REQUIRE_MESSAGE(content, content.error().describe());
    auto finalized = device.finalizeNew(content.value(), "2024-05-02");
    REQUIRE_MESSAGE(finalized, finalized.error().describe());

    test::enrolDevice(device, collector);
    auto round = sync::syncOnce(device, sync::loadConnection(device).value(), {});
    REQUIRE_MESSAGE(round, round.error().describe());

    const std::string out = dir.file("export");
    const auto exported =
        test::veldctl({"export", collector.storePath(), "visit_xls", "--out", out});
    REQUIRE_MESSAGE(exported.exitCode == 0, std::string(exported.out + exported.err));
    const std::string script = dir.file("read.py");
    std::ofstream(script) << kReader;
    const auto row = readRow(script, out + "/visit_xls.csv", 0);
    INFO(exported.out);
    CHECK(row.at("form_version") == "2024050100");
    CHECK(row.at("visit_date") == "2024-05-02");
    CHECK(row.at("age") == "34");
    CHECK(row.at("remarks") == "Alles goed");
    CHECK(row.at("age_next_year") == "35");
    CHECK(row.at("topics.care") == "1");
    CHECK(row.at("topics.work") == "0");
    CHECK(row.at("topics.other") == "1");
    CHECK(row.at("topics.other_text") == "volunteering");
    CHECK_FALSE(row.at("score").empty());
    const auto child = readRow(script, out + "/visit_xls-children.csv", 0);
    CHECK(child.at("child_name") == "Sam");
    CHECK(child.at("child_age") == "7");
}
