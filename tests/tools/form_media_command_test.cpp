// veldctl form media: recordings per language, and a recording script for a coordinator.
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "support/media_forms.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

test::ProcessResult veldctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{std::string(VELD_BIN_DIR) + "/veldctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::runProcess(argv);
}

}  // namespace

TEST_CASE("veldctl form media lists recordings per language and writes a recording script") {
    test::TempDir dir;
    const auto json = test::writeMediaForm(dir.path(), "parents");

    const auto all = veldctl({"form", "media", json});
    REQUIRE_MESSAGE(all.exitCode == 0, all.err);
    // relationship and its two choices: nl and en have the question's recording, so has so
    // and the mother's choice too.
    CHECK(all.out.find("nl: 1 of 3 labels recorded\n  recorded  relationship  rel_nl.wav\n"
                       "  none      relation/mother\n  none      relation/father\n") !=
          std::string::npos);
    CHECK(all.out.find("so: 2 of 3 labels recorded\n") != std::string::npos);
    CHECK(all.out.find("  recorded  relation/mother  mother_so.ogg\n") != std::string::npos);

    // A recording the form names but the folder lacks shows as missing (and as the error).
    std::filesystem::remove(dir.file("parents-media/rel_so.ogg"));
    const auto script = dir.file("so.csv");
    const auto so = veldctl({"form", "media", json, "--lang", "so", "--script", script});
    CHECK(so.exitCode == 0);
    CHECK(so.err.find("media file 'parents-media/rel_so.ogg' is missing") != std::string::npos);
    CHECK(so.out.find("so: 1 of 3 labels recorded\n  missing   relationship  rel_so.ogg\n") !=
          std::string::npos);
    CHECK(so.out.find("nl:") == std::string::npos);
    CHECK(test::readFile(script) ==
          "file,item,text\nrel_so.ogg,relationship,Yaad tahay?\n"
          "relation-father_so.ogg,relation/father,Aabbe\n");

    // A language without its own texts: the default language's, marked to translate.
    auto text = test::mediaFormJson("parents", 1);
    text.replace(text.find("{\"tag\": \"so\""), 0, "{\"tag\": \"ti\", \"name\": \"ትግርኛ\"}, ");
    std::ofstream(json) << text;
    const auto ti =
        veldctl({"form", "media", json, "--lang", "ti", "--script", dir.file("ti.csv")});
    CHECK(ti.exitCode == 0);
    CHECK(test::readFile(dir.file("ti.csv")) ==
          "file,item,text\nrelationship_ti.ogg,relationship,[nl] Wie bent u?\n"
          "relation-mother_ti.ogg,relation/mother,[nl] Moeder\n"
          "relation-father_ti.ogg,relation/father,[nl] Vader\n");

    CHECK(veldctl({"form", "media", json, "--script", script}).exitCode == 2);
    CHECK(veldctl({"form", "media", json, "--lang", "xx"}).exitCode == 1);
}
