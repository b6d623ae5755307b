// JSON -> workbook -> form: every pilot form, and a form that uses every part of the mapping,
// written with exportWorkbook and read back with importWorkbook, is the same compiled form.
// Compared as the canonical JSON that FlatBuffers' text generator prints from each binary, so
// neither the order of fields in the JSON nor the layout of the binary matters.
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <flatbuffers/idl.h>

#include <veld/form.hpp>
#include <veld/xlsform.hpp>

#include "support/sync_support.hpp"
#include "support/test_support.hpp"

namespace veld::forms {
extern const char* const kFormSchemaText;  // schemas/form.fbs, compiled into Veld
}

using namespace veld;

namespace {

// The form as FlatBuffers' generator prints it: fields in schema order, defaults left out.
std::string canonical(const std::vector<std::uint8_t>& binary) {
    flatbuffers::IDLOptions options;
    options.strict_json = true;
    flatbuffers::Parser parser(options);
    REQUIRE(parser.Parse(forms::kFormSchemaText, nullptr, "form.fbs"));
    std::string text;
    REQUIRE(flatbuffers::GenerateText(parser, binary.data(), &text));
    return text;
}

std::vector<std::string> formsToTry() {
    auto files = test::pilotFormFiles();
    files.push_back(std::string(VELD_SOURCE_DIR) + "/tests/xlsform/every_feature.json");
    return files;
}

std::size_t errorsIn(const forms::FormCheck& check) {
    std::size_t n = 0;
    for (const auto& p : check.problems)
        n += p.severity == forms::FormProblem::Severity::Error;
    return n;
}

}  // namespace

TEST_CASE("every pilot form survives JSON -> workbook -> form unchanged") {
    test::TempDir dir;
    for (const auto& file : formsToTry()) {
        CAPTURE(file);
        const auto original = forms::loadFormFile(file);
        REQUIRE(original.ok());
        const std::string xlsx = dir.file(std::filesystem::path(file).stem().string() + ".xlsx");
        const Status written = xlsform::exportWorkbook(original.binary, xlsx);
        REQUIRE_MESSAGE(written, written.error().describe());

        const auto imported = xlsform::importWorkbook(xlsx);
        for (const auto& p : imported.check.problems)
            MESSAGE(p.describe());
        REQUIRE(errorsIn(imported.check) == 0);
        REQUIRE(imported.check.ok());
        // The workbook adds no warning of its own (a missing translation stays one warning).
        CHECK(imported.check.problems.size() == original.problems.size());
        CHECK(canonical(imported.check.binary) == canonical(original.binary));

        // The JSON the importer shows compiles to the same form too.
        const auto again = forms::compileFormJson(imported.json, xlsx + ".json");
        REQUIRE(again.ok());
        CHECK(canonical(again.binary) == canonical(original.binary));

        // And writing the read-back form gives the same workbook, byte for byte.
        const std::string second = xlsx + ".again.xlsx";
        REQUIRE(xlsform::exportWorkbook(imported.check.binary, second));
        CHECK(test::readFile(second) == test::readFile(xlsx));
    }
}

TEST_CASE("loadAnyFormFile reads a workbook as the form it was written from") {
    test::TempDir dir;
    const std::string file = test::pilotFormFiles().front();
    const auto original = forms::loadFormFile(file);
    REQUIRE(original.ok());
    const std::string xlsx = dir.file("form.XLSX");
    REQUIRE(xlsform::exportWorkbook(original.binary, xlsx));
    CHECK(xlsform::isWorkbookPath(xlsx));
    CHECK_FALSE(xlsform::isWorkbookPath(file));
    const auto loaded = xlsform::loadAnyFormFile(xlsx);
    REQUIRE(loaded.ok());
    CHECK(canonical(loaded.binary) == canonical(original.binary));
}

TEST_CASE(
    "a pilot's workbook publishes and installs as the JSON form it was made from, and a "
    "changed one under the same version is still refused") {
    test::TempDir dir;
    const std::string json = std::string(VELD_SOURCE_DIR) + "/schemas/forms/job_retention_log.json";
    const std::string xlsx = std::string(VELD_SOURCE_DIR) + "/schemas/forms/job_retention_log.xlsx";
    const std::string collector = dir.file("collector.db");
    REQUIRE(test::veldctl({"collector", "init", collector}).exitCode == 0);
    REQUIRE(test::veldctl({"collector", "publish", collector, json}).exitCode == 0);
    // The same form from Excel: not "other content", nothing new published.
    const auto again = test::veldctl({"collector", "publish", collector, xlsx});
    CHECK_MESSAGE(again.exitCode == 0, std::string(again.out + again.err));

    const std::string store = dir.file("device.veld");
    REQUIRE(test::veldctl({"store", "init", store}).exitCode == 0);
    REQUIRE(test::veldctl({"form", "install", store, json}).exitCode == 0);
    const auto installed = test::veldctl({"form", "install", store, xlsx});
    CHECK_MESSAGE(installed.exitCode == 0, std::string(installed.out + installed.err));

    // One changed label under the same version is another form.
    auto original = forms::loadFormFile(json);
    REQUIRE(original.ok());
    auto text = test::readFile(json);
    const auto at = text.find("\"text\": \"");
    REQUIRE(at != std::string::npos);
    text.insert(at + 9, "Changed: ");
    const std::string changed = dir.file("job_retention_log.json");
    std::ofstream(changed, std::ios::binary) << text;
    CHECK_FALSE(forms::sameForm(original.binary, forms::loadFormFile(changed).binary));
    CHECK(test::veldctl({"collector", "publish", collector, changed}).exitCode == 1);
    CHECK(test::veldctl({"form", "install", store, changed}).exitCode == 1);
}
