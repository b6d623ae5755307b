// veldctl as a person uses it: the real binary, real store files, exit codes and output.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;
using test::runProcess;

namespace {

test::ProcessResult veldctl(std::vector<std::string> args) {
    args.insert(args.begin(), test::binary("veldctl"));
    return runProcess(args);
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("veldctl store init, demo, info, list, show and check work on a real store") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");

    auto init = veldctl({"store", "init", path});
    CHECK(init.exitCode == 0);
    CHECK(contains(init.out, "device id: "));
    auto again = veldctl({"store", "init", path});
    CHECK(again.exitCode == 1);
    CHECK(contains(again.err, "already exists"));

    auto demo = veldctl({"store", "demo", path, "--records", "30"});
    REQUIRE(demo.exitCode == 0);

    auto info = veldctl({"store", "info", path});
    CHECK(info.exitCode == 0);
    CHECK(contains(info.out, "schema:       2"));
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadOnly});
    REQUIRE(store);
    auto facts = store->info().value();
    CHECK(facts.drafts + facts.finalized == 30);
    CHECK(contains(info.out, std::to_string(facts.finalized) + " finalized"));
    CHECK(contains(info.out, store->deviceId().toString()));

    auto list = veldctl({"store", "list", path, "--status", "draft", "--all", "--limit", "4"});
    CHECK(list.exitCode == 0);
    CHECK(contains(list.out, std::to_string(facts.drafts) + " record(s)"));
    CHECK_FALSE(contains(list.out, "finalized "));

    auto first = store->list({.formId = "ips_guidance", .limit = 1}).value().rows.at(0);
    auto show = veldctl({"store", "show", path, first.id.toString()});
    CHECK(show.exitCode == 0);
    CHECK(contains(show.out, "ips_guidance v1"));
    CHECK(contains(show.out, "remarks: text"));
    // Answers never reach the terminal: the demo's free-text answers are not printed.
    CHECK_FALSE(contains(show.out, "Demo-opmerking"));
    CHECK_FALSE(contains(list.out, "Demo-opmerking"));

    auto check = veldctl({"store", "check", path});
    CHECK(check.exitCode == 0);
    CHECK(contains(check.out, "integrity:   ok"));
    CHECK(contains(check.out, "30 checked, 0 bad"));
}

TEST_CASE("veldctl store check exits 1 on a damaged body and quarantines it on request") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    Uuid victim;
    {
        auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate});
        REQUIRE(store);
        for (int i = 0; i < 3; ++i)
            victim = store->finalizeNew(test::sampleContent(i))->id;
    }
    {
        auto db = sql::Database::open(path, sql::OpenMode::ReadWrite);
        REQUIRE(db);
        REQUIRE(
            db->exec("UPDATE records SET body = x'0000000056524543' WHERE rowid = "
                     "(SELECT max(rowid) FROM records)"));
    }
    auto check = veldctl({"store", "check", path});
    CHECK(check.exitCode == 1);
    CHECK(contains(check.out, "1 bad"));
    CHECK(contains(check.out, victim.toString()));
    CHECK(contains(check.out, "--quarantine"));

    auto fix = veldctl({"store", "check", path, "--quarantine"});
    CHECK(fix.exitCode == 1);
    CHECK(contains(fix.out, "moved to the quarantine"));
    auto after = veldctl({"store", "check", path});
    CHECK(after.exitCode == 0);
    CHECK(contains(after.out, "1 already quarantined"));
    auto info = veldctl({"store", "info", path});
    CHECK(contains(info.out, "1 quarantined"));
}

TEST_CASE("veldctl explains its usage and uses exit code 2 for usage errors") {
    CHECK(veldctl({}).exitCode == 2);
    auto help = veldctl({"--help"});
    CHECK(help.exitCode == 0);
    CHECK(contains(help.out, "store"));
    for (const char* sub : {"init", "info", "list", "show", "check", "demo"}) {
        auto r = veldctl({"store", sub, "--help"});
        CHECK_MESSAGE(r.exitCode == 0, sub);
        CHECK_MESSAGE(contains(r.out, std::string("veldctl store ") + sub), sub);
    }
    CHECK(veldctl({"frobnicate"}).exitCode == 2);
    CHECK(veldctl({"store", "frobnicate", "x"}).exitCode == 2);
    CHECK(veldctl({"store", "list"}).exitCode == 2);
    CHECK(veldctl({"store", "list", "x.veld", "--status", "lost"}).exitCode == 2);
    CHECK(veldctl({"store", "list", "x.veld", "--limit"}).exitCode == 2);
    CHECK(veldctl({"store", "list", "x.veld", "--bogus"}).exitCode == 2);
    CHECK(veldctl({"store", "show", "x.veld", "not-a-uuid"}).exitCode == 2);
}

TEST_CASE("veldctl reports a missing or foreign file as a failure, not a crash") {
    test::TempDir dir;
    auto missing = veldctl({"store", "info", dir.file("none.veld")});
    CHECK(missing.exitCode == 1);
    CHECK(contains(missing.err, "not-found"));
    auto self = veldctl({"store", "info", test::binary("veldctl")});
    CHECK(self.exitCode == 1);
    CHECK(contains(self.err, "not a Veld store"));
}

TEST_CASE("veldctl form check, compile and show work on form files") {
    test::TempDir dir;
    std::string valid = std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json";
    auto check = veldctl({"form", "check", valid});
    CHECK(check.exitCode == 0);
    CHECK(contains(check.out, "valid_minimal.json: ok"));

    std::string broken = dir.file("broken.json");
    {
        std::ifstream in(valid);
        std::stringstream text;
        text << in.rdbuf();
        std::string s = text.str();
        s.replace(s.find("${age} >= 16"), 12, "${agee} >= 16");
        std::ofstream(broken) << s;
    }
    auto bad = veldctl({"form", "check", valid, broken});
    CHECK(bad.exitCode == 1);
    CHECK(contains(bad.out, "broken.json:"));
    CHECK(contains(bad.out, ": error: item 'works': relevance refers to ${agee}"));
    CHECK(contains(bad.out, "1 of 2 form(s) have errors"));

    std::string compiled = dir.file("valid.vfrm");
    auto compile = veldctl({"form", "compile", valid, "-o", compiled});
    CHECK(compile.exitCode == 0);
    CHECK(veldctl({"form", "check", compiled}).exitCode == 0);
    auto refused = veldctl({"form", "compile", broken, "-o", dir.file("broken.vfrm")});
    CHECK(refused.exitCode == 1);
    CHECK_FALSE(std::filesystem::exists(dir.file("broken.vfrm")));

    auto show = veldctl({"form", "show", compiled, "--lang", "en"});
    CHECK(show.exitCode == 0);
    CHECK(contains(show.out, "select one works [yes_no]  \"Do you work?\""));
    CHECK(contains(show.out, "    relevant if: ${age} >= 16"));

    CHECK(veldctl({"form"}).exitCode == 2);
    CHECK(veldctl({"form", "check"}).exitCode == 2);
    CHECK(veldctl({"form", "show", valid, "--lang"}).exitCode == 2);
    for (const char* sub : {"check", "compile", "show"}) {
        auto r = veldctl({"form", sub, "--help"});
        CHECK_MESSAGE(r.exitCode == 0, sub);
        CHECK_MESSAGE(contains(r.out, std::string("veldctl form ") + sub), sub);
    }
}
