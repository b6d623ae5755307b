// veldctl as a person uses it: the real binary, real store files, exit codes and output.
#include <filesystem>
#include <fstream>
#include <iterator>
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

namespace {

// A device of a collector played by hand: it pushes records that change cases and take slots.
struct HandDevice {
    Uuid id;
    std::uint64_t seq = 0;
    std::pair<std::array<std::uint8_t, 32>, std::array<std::uint8_t, 32>> keys =
        alloc::newBoxKeyPair();

    void push(sync::CollectorStore& store, const Uuid& caseId, std::int64_t ms,
              std::vector<CasePropertyValue> properties, const std::optional<Allocation>& taken,
              const std::string& pseudonym = {}) {
        Record r;
        r.id = makeUuidV7(SystemClock::instance());
        r.deviceId = id;
        r.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(ms), 0);
        r.createdHlc = r.hlc;
        r.finalized = true;
        r.content.formId = "ips_intake";
        r.content.formVersion = 1;
        r.content.caseId = caseId;
        CaseChange change;
        change.action = CaseAction::Open;
        change.caseType = "participant";
        change.pseudonym = pseudonym;
        change.properties = std::move(properties);
        r.content.caseChange = std::move(change);
        r.content.allocation = taken;
        sync::PushBatch batch;
        batch.deviceId = id;
        sync::PushRevision rev;
        rev.seq = ++seq;
        rev.recordId = r.id;
        rev.hlc = r.hlc;
        rev.body = encodeRecord(r).value();
        rev.formId = r.content.formId;
        rev.formVersion = 1;
        batch.revisions.push_back(std::move(rev));
        auto reply = store.push(id, batch, ms);
        REQUIRE_MESSAGE(reply, reply.error().describe());
    }
};

}  // namespace

TEST_CASE("veldctl study and case commands run randomisation and cases at a real collector") {
    test::TempDir dir;
    const std::string file = dir.file("collector.db");
    REQUIRE(veldctl({"collector", "init", file}).exitCode == 0);
    const std::int64_t now = SystemClock::instance().nowMillis();
    HandDevice device;
    HandDevice other;
    {
        auto store = sync::openSqliteCollector(file, false).value();
        for (HandDevice* d : {&device, &other}) {
            sync::EnrolRequest request;
            request.code = store->createEnrolCode("tablet", now, "test").value();
            request.deviceId = makeUuidV4();
            REQUIRE(store->enrol(request, now));
            d->id = request.deviceId;
        }
    }
    const std::string ips = std::string(VELD_SOURCE_DIR) + "/schemas/studies/ips.json";

    // Defining: once; the same file again changes nothing; a changed one or a typo is refused.
    auto defined = veldctl({"study", "define", file, ips});
    REQUIRE_MESSAGE(defined.exitCode == 0, defined.err);
    CHECK(contains(defined.out, "study ips defined: 2 arms, 6 strata"));
    CHECK(contains(veldctl({"study", "define", file, ips}).out, "defined already, the same"));
    std::string text = test::readFile(ips);
    const std::string changed = dir.file("changed.json");
    std::ofstream(changed) << text.replace(text.find("[2, 4, 6]"), 9, "[2, 4]");
    auto refused = veldctl({"study", "define", file, changed});
    CHECK(refused.exitCode == 1);
    CHECK(contains(refused.err, "defined already, differently"));
    const std::string typo = dir.file("typo.json");
    std::ofstream(typo) << "{\"id\": \"x\",\n \"armz\": []}";
    auto bad = veldctl({"study", "define", file, typo});
    CHECK(bad.exitCode == 1);
    CHECK(contains(bad.err, "line 2: unknown key \"armz\""));
    auto list = veldctl({"study", "list", file});
    CHECK(list.exitCode == 0);
    CHECK(contains(list.out, "ips  pilot ips_long_term_unemployed"));
    CHECK(contains(list.out, "municipality [utrecht amersfoort nieuwegein]"));

    // Cases of the device reach its team.
    REQUIRE(veldctl({"collector", "team", file, device.id.toString(), "north"}).exitCode == 0);
    CHECK(contains(veldctl({"collector", "devices", file}).out, "team north"));

    // Blocks dealt by hand, received sealed, three participants enrolled in order.
    auto dealt = veldctl(
        {"study", "allocate", file, "ips", "--device", device.id.toString(), "--blocks", "1"});
    REQUIRE_MESSAGE(dealt.exitCode == 0, dealt.err);
    CHECK(contains(dealt.out, "dealt 6 blocks of study ips"));
    const std::string stratum = "municipality=utrecht;gender=man";
    std::vector<alloc::Slot> slots;
    {
        auto store = sync::openSqliteCollector(file, false).value();
        sync::PullRequest request;
        request.deviceBoxKey.assign(device.keys.first.begin(), device.keys.first.end());
        auto reply = store->pull(device.id, request, 16, now);
        REQUIRE(reply);
        CHECK(reply->blocks.size() == 6);
        for (const auto& b : reply->blocks) {
            if (b.stratum != stratum) continue;
            for (const auto& s : b.slots)
                slots.push_back(
                    alloc::openSlot(s.box, device.keys.first, device.keys.second).value());
        }
    }
    REQUIRE(slots.size() >= 2);
    std::vector<Uuid> cases;
    const std::string pseudonym = "p1:" + std::string(64, 'c');
    {
        auto store = sync::openSqliteCollector(file, false).value();
        for (std::size_t k = 0; k < 2; ++k) {
            cases.push_back(makeUuidV4());
            const auto& slot = slots[k];
            device.push(*store, cases.back(), now + static_cast<std::int64_t>(k),
                        {{"arm", slot.arm, {}}, {"label", "participant " + std::to_string(k), {}}},
                        alloc::allocationOf(slot, k + 1, now), pseudonym);
        }
    }
    auto verified = veldctl({"study", "verify", file, "ips"});
    CHECK_MESSAGE(verified.exitCode == 0, verified.out);
    CHECK(contains(verified.out, "2 allocations from 1 devices"));
    CHECK(contains(verified.out, "verified"));
    auto balance = veldctl({"study", "balance", file, "ips"});
    CHECK(balance.exitCode == 0);
    CHECK(contains(balance.out, "stratum " + stratum + "\n  2 allocations; blocks: 1 dealt"));
    CHECK(contains(balance.out, "target"));

    // The log, for the evaluator: a CSV only its owner reads.
    const std::string csv = dir.file("allocations.csv");
    auto log = veldctl({"study", "log", file, "ips", "--out", csv});
    REQUIRE_MESSAGE(log.exitCode == 0, log.err);
    const auto rows = test::parseCsv(test::readFile(csv));
    REQUIRE(rows.size() == 3);
    CHECK(rows[0] == std::vector<std::string>{"study", "stratum", "block", "position", "arm",
                                              "device", "log_seq", "case_id", "record_id",
                                              "taken_utc", "received_utc"});
    CHECK(rows[1][1] == stratum);
    CHECK(rows[1][4] == slots[0].arm);
    CHECK(rows[2][6] == "2");
    CHECK(rows[2][7] == cases[1].toString());
    struct stat st {};
    REQUIRE(::stat(csv.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    // Written over a file anyone could read: the log narrows it, not only a file it creates.
    const std::string shared = dir.file("shared.csv");
    std::ofstream(shared) << "old\n";
    std::filesystem::permissions(shared, std::filesystem::perms(0644));
    REQUIRE(veldctl({"study", "log", file, "ips", "--out", shared}).exitCode == 0);
    REQUIRE(::stat(shared.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(test::parseCsv(test::readFile(shared)).size() == 3);
    CHECK(contains(veldctl({"study", "log", file, "ips"}).out, cases[0].toString()));

    // A slot used again, from a log number that skips one: each problem listed, exit 1.
    {
        auto store = sync::openSqliteCollector(file, false).value();
        const auto& slot = slots[0];
        device.push(*store, makeUuidV4(), now + 10, {}, alloc::allocationOf(slot, 4, now));
    }
    auto problems = veldctl({"study", "verify", file, "ips"});
    CHECK(problems.exitCode == 1);
    CHECK(contains(problems.out, "slot used twice: stratum '" + stratum + "' block"));
    CHECK(contains(problems.out, "missing log entries: device " + device.id.toString() +
                                     ": allocation log entry 3 not received"));

    // The seed, for the evaluator at the end: disclosed, and audited as such.
    auto seed = veldctl({"study", "seed", file, "ips"});
    REQUIRE(seed.exitCode == 0);
    CHECK(seed.out.size() == 65);
    auto audit = veldctl({"collector", "audit", file});
    CHECK(contains(audit.out, "study-define  ips"));
    CHECK(contains(audit.out, "allocate  " + device.id.toString()));
    CHECK(contains(audit.out, "seed-disclosed  ips"));
    CHECK(contains(audit.out, "team  " + device.id.toString() + "  north"));
    CHECK_FALSE(contains(audit.out, seed.out.substr(0, 64)));

    // Cases: listed with their properties, the pseudonym shortened.
    auto cases1 = veldctl({"case", "list", file, "--team", "north"});
    REQUIRE(cases1.exitCode == 0);
    CHECK(contains(cases1.out, cases[0].toString() + "  participant  pseudonym p1:cccccc..."));
    CHECK(contains(cases1.out, "    label = participant 1\n"));
    CHECK_FALSE(contains(cases1.out, pseudonym));
    REQUIRE(veldctl({"case", "assign", file, cases[0].toString(), "--team", "south"}).exitCode ==
            0);
    auto south = veldctl({"case", "list", file, "--team", "south"});
    CHECK(contains(south.out, cases[0].toString()));
    CHECK_FALSE(contains(south.out, cases[1].toString()));
    CHECK(contains(veldctl({"case", "list", file, "--device", device.id.toString()}).out,
                   cases[1].toString()));

    // Two devices set one property without seeing each other: staff settle it.
    {
        auto store = sync::openSqliteCollector(file, false).value();
        other.push(*store, cases[1], now + 20, {{"label", "someone else", {}}}, std::nullopt);
    }
    auto conflicts = veldctl({"case", "conflicts", file});
    REQUIRE(conflicts.exitCode == 0);
    CHECK(contains(conflicts.out, "1  case " + cases[1].toString() + "  property label"));
    CHECK(contains(conflicts.out, "A: participant 1  (device " + device.id.toString()));
    CHECK(contains(conflicts.out, "B: someone else  (device " + other.id.toString()));
    auto resolved = veldctl({"case", "resolve", file, "1", "a", "--comment", "phoned"});
    REQUIRE_MESSAGE(resolved.exitCode == 0, resolved.err);
    CHECK(contains(veldctl({"case", "conflicts", file}).out, "no open case conflicts"));
    CHECK(contains(veldctl({"case", "conflicts", file, "--all"}).out, "kept A; phoned"));
    CHECK(contains(veldctl({"case", "list", file}).out, "    label = participant 1\n"));
    auto twice = veldctl({"case", "resolve", file, "1", "--value", "x"});
    CHECK(twice.exitCode == 1);
    CHECK(contains(twice.err, "resolved already"));
    CHECK(contains(veldctl({"collector", "audit", file}).out,
                   "case-resolve  " + cases[1].toString() + "  property label: kept A"));

    // Usage errors are exit 2 and say why.
    CHECK(veldctl({"study", "allocate", file, "ips"}).exitCode == 2);
    CHECK(veldctl({"case", "resolve", file, "1"}).exitCode == 2);
    CHECK(veldctl({"case", "assign", file, cases[0].toString()}).exitCode == 2);
    CHECK(veldctl({"study", "frobnicate", file}).exitCode == 2);
    // An option of another subcommand is not silently ignored.
    auto misplaced = veldctl({"study", "balance", file, "ips", "--blocks", "3"});
    CHECK(misplaced.exitCode == 2);
    CHECK(contains(misplaced.err, "--blocks is for allocate"));
    CHECK(
        veldctl({"case", "assign", file, cases[0].toString(), "--team", "south", "--comment", "x"})
            .exitCode == 2);
    CHECK(veldctl({"study", "--help"}).exitCode == 0);
    CHECK(veldctl({"case", "--help"}).exitCode == 0);
    CHECK(veldctl({"study", "verify", file, "nope"}).exitCode == 1);
}
