// Writing a form as an XLSForm workbook (xlsform::exportWorkbook, veldctl form export): the same
// form always gives the same bytes, the file is readable by everyone (forms hold no answers) and
// replaces an older one whole, and what is not a form is refused without touching anything.
// What the sheets hold is checked by tests/xlsform/read_workbooks.py with openpyxl, and reading
// a workbook back by tests/tools/xlsform_roundtrip_test.cpp.
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <veld/form.hpp>
#include <veld/xlsform.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

const std::string kFeatureForm = std::string(VELD_SOURCE_DIR) + "/tests/xlsform/every_feature.json";

std::vector<std::uint8_t> compiled(const std::string& path) {
    auto check = forms::loadFormFile(path);
    for (const auto& p : check.problems)
        MESSAGE(p.describe());
    REQUIRE(check.ok());
    return check.binary;
}

unsigned modeOf(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 0777u;
}

std::size_t filesIn(const std::string& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
        ++n;
    return n;
}

test::ProcessResult veldctl(std::vector<std::string> args) {
    args.insert(args.begin(), test::binary("veldctl"));
    return test::runProcess(args);
}

}  // namespace

TEST_CASE("a form exported twice gives the same bytes, mode 0644 whatever the umask") {
    test::TempDir dir;
    const auto binary = compiled(kFeatureForm);
    const std::string first = dir.file("first.xlsx");
    const std::string second = dir.file("second.xlsx");
    const mode_t old = ::umask(077);
    const Status a = xlsform::exportWorkbook(binary, first);
    ::umask(old);
    REQUIRE_MESSAGE(a, a.error().describe());
    REQUIRE(xlsform::exportWorkbook(binary, second));
    CHECK(modeOf(first) == 0644);
    CHECK(modeOf(second) == 0644);
    const std::string bytes = test::readFile(first);
    CHECK(bytes.substr(0, 2) == "PK");  // a zip file, as every .xlsx is
    CHECK(bytes == test::readFile(second));
    CHECK(filesIn(dir.path()) == 2);  // no temporary file left behind

    // Another form gives other bytes.
    const auto pilot = compiled(test::pilotFormFiles().front());
    REQUIRE(xlsform::exportWorkbook(pilot, second));
    CHECK(test::readFile(second) != bytes);
}

TEST_CASE("an export replaces an older workbook whole") {
    test::TempDir dir;
    const std::string path = dir.file("form.xlsx");
    std::ofstream(path) << "an older file";
    ::chmod(path.c_str(), 0600);
    REQUIRE(xlsform::exportWorkbook(compiled(kFeatureForm), path));
    CHECK(test::readFile(path).substr(0, 2) == "PK");
    CHECK(modeOf(path) == 0644);
    CHECK(filesIn(dir.path()) == 1);
}

TEST_CASE(
    "what is not a form, or a folder that cannot be written, is refused and touches nothing") {
    test::TempDir dir;
    const std::string path = dir.file("form.xlsx");
    std::ofstream(path) << "keep me";

    struct Case {
        const char* what;
        std::vector<std::uint8_t> binary;
    };
    auto damaged = compiled(kFeatureForm);
    damaged.resize(damaged.size() / 2);
    const Case cases[] = {
        {"nothing", {}},
        {"bytes that are not a form", std::vector<std::uint8_t>(64, 0x41)},
        {"half a form", damaged},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        const Status s = xlsform::exportWorkbook(c.binary, path);
        REQUIRE_FALSE(s);
        CHECK(s.error().code == ErrorCode::Corrupt);
        CHECK(test::readFile(path) == "keep me");
        CHECK(filesIn(dir.path()) == 1);
    }

    const Status missing =
        xlsform::exportWorkbook(compiled(kFeatureForm), dir.file("no/such/x.xlsx"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::Io);
    CHECK(missing.error().message.find("no/such") != std::string::npos);
    CHECK(filesIn(dir.path()) == 1);
}

TEST_CASE("a question that sets two case properties cannot be written as a workbook") {
    // A workbook has one case_property cell per question, so this form has no workbook.
    test::TempDir dir;
    std::string json = test::readFile(kFeatureForm);
    const std::string one = R"("property": "label",)";
    const auto at = json.find(one);
    REQUIRE(at != std::string::npos);
    json.replace(json.find(R"("question": "region")"), 20, R"("question": "label_text")");
    auto check = forms::compileFormJson(json, "two_properties.json");
    REQUIRE_FALSE(check.binary.empty());
    const Status s = xlsform::exportWorkbook(check.binary, dir.file("x.xlsx"));
    REQUIRE_FALSE(s);
    CHECK(s.error().code == ErrorCode::InvalidArgument);
    CHECK(s.error().message.find("label_text") != std::string::npos);
    CHECK(filesIn(dir.path()) == 0);
}

TEST_CASE("veldctl form export writes the workbook, and refuses a form with errors") {
    test::TempDir dir;
    const std::string json = dir.file("every_feature.json");
    std::filesystem::copy_file(kFeatureForm, json);
    auto r = veldctl({"form", "export", json});
    CHECK_MESSAGE(r.exitCode == 0, r.err);
    CHECK(r.out.find("wrote " + dir.file("every_feature.xlsx")) != std::string::npos);
    CHECK(test::readFile(dir.file("every_feature.xlsx")).substr(0, 2) == "PK");

    r = veldctl({"form", "export", json, "-o", dir.file("other.xlsx")});
    CHECK(r.exitCode == 0);
    CHECK(test::readFile(dir.file("other.xlsx")) == test::readFile(dir.file("every_feature.xlsx")));

    // A compiled form exports the same.
    REQUIRE(veldctl({"form", "compile", json, "-o", dir.file("f.vfrm")}).exitCode == 0);
    r = veldctl({"form", "export", dir.file("f.vfrm"), "-o", dir.file("from_binary.xlsx")});
    CHECK(r.exitCode == 0);
    CHECK(test::readFile(dir.file("from_binary.xlsx")) ==
          test::readFile(dir.file("every_feature.xlsx")));

    // A form with an error: its problems are printed, nothing is written.
    std::string broken = test::readFile(json);
    broken.replace(broken.find(R"("name": "notes")"), 15, R"("name": "bsn")");
    std::ofstream(dir.file("broken.json")) << broken;
    r = veldctl({"form", "export", dir.file("broken.json")});
    CHECK(r.exitCode == 1);
    CHECK(r.out.find("error") != std::string::npos);
    CHECK(r.err.find("nothing written") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("broken.xlsx")));

    CHECK(veldctl({"form", "export"}).exitCode == 2);
    CHECK(veldctl({"form", "export", json, json}).exitCode == 2);
    r = veldctl({"form", "export", "--help"});
    CHECK(r.exitCode == 0);
    CHECK(r.out.find("XLSForm") != std::string::npos);
}
