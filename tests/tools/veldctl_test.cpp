// veldctl as a person uses it: the real binary, real store files, exit codes and output.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/project_key.hpp>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>
#include <veld/sealed_record.hpp>
#include <veld/store.hpp>
#include <veld/sync/collector_store.hpp>

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
    CHECK(contains(info.out, "schema:       " + std::to_string(Store::kSchemaVersion)));
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
    CHECK(contains(show.out, "contact_date: date"));
    // Answers never reach the terminal: the demo's free-text answers are not printed.
    auto all = veldctl({"store", "list", path, "--all"});
    CHECK(contains(all.out, "30 record(s)"));
    CHECK_FALSE(contains(all.out, "synthetisch"));
    auto rows = store->list({.limit = 30}).value().rows;
    for (const auto& row : rows) {
        auto one = veldctl({"store", "show", path, row.id.toString()});
        CHECK(one.exitCode == 0);
        CHECK_FALSE(contains(one.out, "synthetisch"));
    }

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

TEST_CASE("veldctl: every option a command parses is in its --help") {
    // The help texts that show the options each source file parses (a file that serves two
    // commands is checked against both texts together).
    using Help = std::vector<std::vector<std::string>>;
    const std::map<std::string, Help> helpOf = {
        {"agent_commands.cpp", {{"agent", "--help"}}},
        {"backup_commands.cpp", {{"collector", "--help"}}},
        {"bundle_commands.cpp", {{"bundle", "--help"}}},
        {"case_commands.cpp", {{"case", "--help"}}},
        {"chain_command.cpp", {{"collector", "--help"}}},
        {"collector_commands.cpp", {{"collector", "--help"}}},
        {"collector_import_command.cpp", {{"collector", "import", "--help"}}},
        {"copy_command.cpp", {{"collector", "--help"}}},
        {"export_commands.cpp", {{"export", "--help"}}},
        {"form_commands.cpp", {{"form", "--help"}}},
        {"form_media_command.cpp", {{"form", "--help"}}},
        {"key_commands.cpp", {{"keys", "--help"}}},
        {"kiosk_commands.cpp", {{"kiosk", "--help"}}},
        {"provision_command.cpp", {{"collector", "--help"}, {"collector", "provision", "--help"}}},
        {"store_commands.cpp", {{"store", "--help"}}},
        {"study_commands.cpp", {{"study", "--help"}}},
        {"sync_commands.cpp", {{"enrol", "--help"}, {"sync", "--help"}}},
        {"webhook_commands.cpp", {{"collector", "webhook", "--help"}}},
    };
    // An option is shown when its name stands there whole ("--from" is not "--from-b").
    const auto shows = [](const std::string& help, const std::string& option) {
        for (auto at = help.find(option); at != std::string::npos; at = help.find(option, at + 1)) {
            const std::size_t end = at + option.size();
            const bool wordEnd =
                end == help.size() || !(std::isalnum(static_cast<unsigned char>(help[end])) ||
                                        help[end] == '-' || help[end] == '_');
            const bool wordStart = at == 0 || help[at - 1] == ' ' || help[at - 1] == '[' ||
                                   help[at - 1] == '(' || help[at - 1] == '|' ||
                                   help[at - 1] == '\n' || help[at - 1] == ',';
            if (wordEnd && wordStart) return true;
        }
        return false;
    };
    const std::regex parsed(R"re(\.(?:option|flag)\("(-[-a-zA-Z0-9]*)")re");
    const std::filesystem::path sources = std::filesystem::path(VELD_SOURCE_DIR) / "tools/veldctl";
    std::size_t checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(sources)) {
        if (entry.path().extension() != ".cpp") continue;
        std::ifstream in(entry.path());
        REQUIRE(in);
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        std::set<std::string> options;
        for (auto it = std::sregex_iterator(text.begin(), text.end(), parsed);
             it != std::sregex_iterator(); ++it) {
            const std::string option = (*it)[1];
            if (option != "--help" && option != "-h") options.insert(option);
        }
        const std::string file = entry.path().filename().string();
        if (options.empty()) continue;
        // A new command's file needs its help named above.
        REQUIRE_MESSAGE(helpOf.count(file), file << " parses options; name its --help above");
        std::string help;
        for (const auto& words : helpOf.at(file)) {
            const auto shown = veldctl(words);
            REQUIRE_MESSAGE(shown.exitCode == 0, words[0]);
            help += shown.out;
        }
        for (const auto& option : options) {
            CHECK_MESSAGE(shows(help, option),
                          file << " parses " << option << ", which its --help does not show");
            ++checked;
        }
    }
    CHECK(checked > 50);
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
    for (const char* sub : {"check", "compile", "show", "install", "installed"}) {
        auto r = veldctl({"form", sub, "--help"});
        CHECK_MESSAGE(r.exitCode == 0, sub);
        CHECK_MESSAGE(contains(r.out, std::string("veldctl form ") + sub), sub);
    }
}

TEST_CASE("veldctl form install puts forms into a device store and form installed lists them") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    std::string valid = std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json";
    std::string pilot = std::string(VELD_SOURCE_DIR) + "/schemas/forms/ips_guidance.json";
    REQUIRE(veldctl({"store", "init", path}).exitCode == 0);

    auto install = veldctl({"form", "install", path, valid, pilot});
    CHECK(install.exitCode == 0);
    CHECK(contains(install.out, "valid_minimal v1: installed\n"));
    CHECK(contains(install.out, "ips_guidance v1: installed\n"));
    auto again = veldctl({"form", "install", path, valid});
    CHECK(again.exitCode == 0);
    CHECK(contains(again.out, "valid_minimal v1: already installed\n"));

    // The same id and version with other content is refused; what was installed stays.
    std::string changed = dir.file("changed.json");
    std::string broken = dir.file("broken.json");
    {
        std::string text = test::readFile(valid);
        std::string other = text;
        other.replace(other.find("\"Datum\""), 7, "\"Dag\"");
        std::ofstream(changed) << other;
        text.replace(text.find("${age} >= 16"), 12, "${agee} >= 16");
        std::ofstream(broken) << text;
    }
    auto conflict = veldctl({"form", "install", path, changed});
    CHECK(conflict.exitCode == 1);
    CHECK(contains(conflict.err, "wrong-state"));
    CHECK(contains(conflict.out, "1 of 1 form(s) not installed"));
    auto bad = veldctl({"form", "install", path, broken});
    CHECK(bad.exitCode == 1);
    CHECK(contains(bad.out, "relevance refers to ${agee}"));
    CHECK(contains(bad.err, "not installed"));
    {
        auto store = Store::open(path, {.mode = sql::OpenMode::ReadOnly});
        REQUIRE(store);
        CHECK(store->form("valid_minimal", 1)->binary == forms::loadFormFile(valid).binary);
        CHECK(store->forms()->size() == 2);
    }

    auto installed = veldctl({"form", "installed", path});
    CHECK(installed.exitCode == 0);
    CHECK(contains(installed.out, "ips_guidance   v1    ips_long_term_unemployed\n"));
    CHECK(contains(installed.out, "valid_minimal  v1    tests\n"));
    CHECK(contains(installed.out, "2 form(s)"));
    CHECK(installed.out.find("ips_guidance") < installed.out.find("valid_minimal"));

    auto missing = veldctl({"form", "install", dir.file("none.veld"), valid});
    CHECK(missing.exitCode == 1);
    CHECK(contains(missing.err, "not-found"));
    CHECK(veldctl({"form", "installed", dir.file("none.veld")}).exitCode == 1);
    CHECK(veldctl({"form", "install"}).exitCode == 2);
    CHECK(veldctl({"form", "install", path}).exitCode == 2);
    CHECK(veldctl({"form", "install", path, valid, "--bogus"}).exitCode == 2);
    CHECK(veldctl({"form", "installed"}).exitCode == 2);
    CHECK(veldctl({"form", "installed", path, path}).exitCode == 2);
}

TEST_CASE("veldctl store demo installs the pilots' forms and a key, and its records reopen") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    // A project key ring: records of the sealed forms are sealed to its public key.
    auto locked = projectkey::create("demo-project", "demo ring passphrase", 0,
                                     projectkey::Strength::Interactive);
    REQUIRE(locked);
    const std::string ring = dir.file("project.ring");
    std::ofstream(ring) << projectkey::formatRing({locked.value()});
    auto secret = projectkey::unlock(locked.value(), "demo ring passphrase");
    REQUIRE(secret);
    const std::vector<projectkey::SecretKey> keys{secret.value()};

    auto demo = veldctl({"store", "demo", path, "--records", "24", "--ring", ring});
    REQUIRE_MESSAGE(demo.exitCode == 0, demo.err);
    const auto pilotForms = std::to_string(test::pilotFormCount());
    CHECK(contains(demo.out, "forms: " + pilotForms + " installed, 0 already installed"));
    CHECK(contains(demo.out, "stored a demo pseudonym key (id demo)"));
    CHECK_FALSE(contains(demo.out, "no records"));

    auto store = Store::open(path, {.mode = sql::OpenMode::ReadOnly});
    REQUIRE(store);
    auto keyText = store->setting(pseudonym::kKeySetting).value();
    REQUIRE(keyText);
    auto key = pseudonym::parseKey(*keyText);
    REQUIRE(key);
    CHECK(key->id == "demo");
    auto installed = store->forms().value();
    CHECK(installed.size() == test::pilotFormCount());

    // Every record names an installed form version, and opens in a session on it.
    int pseudonyms = 0;
    int sealedRecords = 0;
    std::set<std::string> formIds;
    auto rows = store->list({.limit = 100}).value().rows;
    REQUIRE(rows.size() == 24);
    for (const auto& row : rows) {
        CAPTURE(row.formId);
        formIds.insert(row.formId);
        auto form = store->form(row.formId, row.formVersion);
        REQUIRE(form);
        auto compiled = forms::CompiledForm::load(form->binary);
        REQUIRE(compiled);
        auto stored = store->get(row.id);
        REQUIRE(stored);
        // Sealed forms: finalized, no summary, answers only inside the sealed content.
        const bool sealed = formIsSealed(form->binary);
        CHECK(stored->record.sealed.has_value() == sealed);
        if (sealed) {
            CHECK(row.status == RecordStatus::Finalized);
            CHECK(row.summary.empty());
            CHECK(stored->record.content.answers.empty());
            ++sealedRecords;
        }
        auto record = openRecord(stored->record, keys);
        REQUIRE_MESSAGE(record, (record ? "" : record.error().describe()));
        auto session = forms::FormSession::open(*compiled, record->content);
        REQUIRE_MESSAGE(session, (session ? "" : session.error().describe()));
        if (row.status == RecordStatus::Finalized) CHECK(session->problems().empty());
        for (const auto& a : record->content.answers) {
            if (const auto* p = std::get_if<PseudonymAnswer>(&a.value)) {
                CHECK(p->keyId == "demo");
                CHECK(p->digest.size() == pseudonym::kDigestBytes);
                ++pseudonyms;
            }
        }
    }
    // Every form that needs no case has records (those that follow a case up need an open one:
    // this store has no allocation blocks, so only intakes that do not randomise open cases).
    for (const auto& f : installed) {
        auto compiled = forms::CompiledForm::load(f.binary);
        REQUIRE(compiled);
        const auto* settings = compiled.value()->form().settings();
        const bool needsCase = settings && settings->case_settings() &&
                               (settings->case_settings()->action() == fb::CaseAction::FollowUp ||
                                settings->case_settings()->action() == fb::CaseAction::Close);
        CAPTURE(f.formId);
        if (!needsCase) CHECK(formIds.count(f.formId) == 1);
    }
    CHECK(pseudonyms > 0);
    CHECK(sealedRecords > 0);
    // `store show` says a sealed record is sealed, and to which key.
    for (const auto& row : rows) {
        auto got = store->get(row.id);
        REQUIRE(got);
        if (!got->record.sealed) continue;
        auto shown = veldctl({"store", "show", path, row.id.toString()});
        CHECK(shown.exitCode == 0);
        CHECK(contains(shown.out, "sealed:     to project key demo-project"));
        break;
    }

    // Without a project key, the sealed forms get no records, and the output says so.
    auto unkeyed = veldctl({"store", "demo", dir.file("unkeyed.veld"), "--records", "16"});
    REQUIRE_MESSAGE(unkeyed.exitCode == 0, unkeyed.err);
    CHECK(contains(unkeyed.out, "vmbo_parent_survey: sealed form, no records"));
    CHECK(contains(unkeyed.out, "(0 sealed)"));
    CHECK(veldctl({"store", "demo", dir.file("k.veld"), "--id", "x"}).exitCode == 2);
    CHECK(veldctl({"store", "demo", dir.file("k.veld"), "--ring", dir.file("none")}).exitCode == 1);

    // Again: the forms are there already and the key is kept.
    auto more = veldctl({"store", "demo", path, "--records", "2"});
    CHECK(more.exitCode == 0);
    CHECK(contains(more.out, "forms: 0 installed, " + pilotForms + " already installed"));
    CHECK_FALSE(contains(more.out, "pseudonym key"));
    CHECK(store->setting(pseudonym::kKeySetting).value() == keyText);

    // Another forms folder.
    test::TempDir formsDir;
    std::ofstream(formsDir.file("valid_minimal.json"))
        << test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json");
    std::string other = dir.file("other.veld");
    auto small = veldctl({"store", "demo", other, "--records", "3", "--forms", formsDir.path()});
    CHECK(small.exitCode == 0);
    CHECK(contains(small.out, "forms: 1 installed"));
    auto listed = veldctl({"form", "installed", other});
    CHECK(contains(listed.out, "valid_minimal"));
    CHECK(contains(listed.out, "1 form(s)"));

    auto none = veldctl({"store", "demo", dir.file("x.veld"), "--forms", dir.file("no-such-dir")});
    CHECK(none.exitCode == 1);
    CHECK(contains(none.err, "not-found"));
    CHECK(veldctl({"store", "demo", path, "--forms"}).exitCode == 2);
}

TEST_CASE("veldctl keys makes a key ring that only its passphrase opens, keeping old keys") {
    test::TempDir dir;
    const std::string ring = dir.file("project.keys");
    const std::string phrase = dir.file("phrase");
    const std::string wrongPhrase = dir.file("wrong");
    std::ofstream(phrase) << "a long enough passphrase\n";
    std::ofstream(wrongPhrase) << "not the passphrase at all\n";
    auto made = veldctl({"keys", "new", ring, "--id", "k2025", "--passphrase-file", phrase});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    CHECK(made.out.rfind("k2025:", 0) == 0);  // the public key, for the collector
    auto second = veldctl({"keys", "new", ring, "--id", "k2026", "--passphrase-file", phrase});
    REQUIRE(second.exitCode == 0);
    CHECK(std::filesystem::status(ring).permissions() ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    // The ring shows public keys only, and never the passphrase.
    auto list = veldctl({"keys", "list", ring});
    REQUIRE(list.exitCode == 0);
    CHECK(contains(list.out, made.out.substr(0, made.out.size() - 1)));
    CHECK(contains(list.out, "k2026"));
    std::ifstream in(ring);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK_FALSE(contains(text, "passphrase"));
    // Both keys open with the passphrase; with another one, each says so and the exit is 1.
    auto check = veldctl({"keys", "check", ring, "--passphrase-file", phrase});
    CHECK(check.exitCode == 0);
    CHECK(contains(check.out, "k2025  opens"));
    CHECK(contains(check.out, "k2026  opens"));
    auto wrong = veldctl({"keys", "check", ring, "--passphrase-file", wrongPhrase});
    CHECK(wrong.exitCode == 1);
    CHECK(contains(wrong.out, "wrong passphrase for project key k2025"));
    CHECK_FALSE(contains(wrong.out + wrong.err, "not the passphrase"));
    // An id is used once; a short passphrase is refused.
    CHECK(veldctl({"keys", "new", ring, "--id", "k2026", "--passphrase-file", phrase}).exitCode ==
          1);
    // A new key joins only with the ring's passphrase: one passphrase opens every key.
    auto stranger =
        veldctl({"keys", "new", ring, "--id", "k2027", "--passphrase-file", wrongPhrase});
    CHECK(stranger.exitCode == 1);
    CHECK(contains(stranger.err, "one passphrase for all its keys"));
    CHECK_FALSE(contains(veldctl({"keys", "list", ring}).out, "k2027"));
    std::ofstream(wrongPhrase) << "short\n";
    CHECK(veldctl({"keys", "new", ring, "--id", "k2027", "--passphrase-file", wrongPhrase})
              .exitCode == 1);
    CHECK(veldctl({"keys", "list", dir.file("missing.keys")}).exitCode == 1);
}
