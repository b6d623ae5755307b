// Headless UI tests: the client's real screens over a real device store, driven by clicks and
// typing through Dear ImGui's input, checked against what the store holds afterwards.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

#include <veld/form.hpp>
#include <veld/pin.hpp>
#include <veld/project_key.hpp>
#include <veld/sealed_record.hpp>
#include <veld/store.hpp>
#include <veld/sync/collector_store.hpp>

#include "fonts.hpp"
#include "form_filling.hpp"
#include "i18n.hpp"
#include "screens/samples.hpp"
#include "support/proxy.hpp"
#include "support/sync_support.hpp"
#include "support/test_support.hpp"
#include "text.hpp"
#include "ui_driver.hpp"
#include "veldctl/demo.hpp"

using namespace veld;
using namespace veld::client;
using veld::client::testing::UiDriver;
using namespace veld::client::testing;

namespace {

const std::string kFormsDir = std::string(VELD_SOURCE_DIR) + "/schemas/forms";

// The project key the tests' device stores seal to, and its private half (central staff's).
struct TestProjectKey {
    projectkey::LockedKey locked;
    std::vector<projectkey::SecretKey> secret;
};
constexpr const char* kRingPassphrase = "kiosk tests passphrase";

const TestProjectKey& projectKey() {
    static const TestProjectKey key = [] {
        auto locked = projectkey::create("kiosk-tests", kRingPassphrase, 1'764'000'000'000,
                                         projectkey::Strength::Interactive);
        REQUIRE(locked);
        auto secret = projectkey::unlock(locked.value(), kRingPassphrase);
        REQUIRE(secret);
        return TestProjectKey{locked.value(), {secret.value()}};
    }();
    return key;
}

// A device store with the pilot forms and a pseudonym key, and no records.
std::string pilotStore(const veld::test::TempDir& dir) {
    const std::string path = dir.file("device.veld");
    StoreOptions create;
    create.mode = sql::OpenMode::ReadWriteCreate;
    auto store = Store::open(path, create);
    REQUIRE_MESSAGE(store.ok(), store.error().describe());
    auto setup = veldctl::setUpDemo(store.value(), kFormsDir);
    REQUIRE_MESSAGE(setup.ok(), setup.error().describe());
    REQUIRE(store.value().setSetting(projectkey::kKeySetting,
                                     projectkey::formatPublicKey(projectKey().locked.publicKey)));
    return path;
}

// Makes the store at `path` start as a kiosk of the parents' survey, with staff PIN 2468.
void startsAsKiosk(const std::string& path) {
    auto store = Store::open(path);
    REQUIRE(store.ok());
    auto hashed = pin::hash("2468");
    REQUIRE(hashed.has_value());
    REQUIRE(store.value().setSetting("kiosk.pin_hash", *hashed).ok());
    REQUIRE(store.value().setSetting("kiosk.form", "vmbo_parent_survey").ok());
    // Answers are typed with a keyboard here (the on-screen keypad: kiosk_parent_test.cpp).
    REQUIRE(store.value().setSetting("kiosk.keypad", "never").ok());
}

std::vector<StoredRecord> recordsOf(const std::string& storePath, const std::string& formId,
                                    std::optional<RecordStatus> status) {
    auto store = Store::open(storePath);
    REQUIRE(store.ok());
    ListQuery q;
    q.formId = formId;
    q.status = status;
    q.limit = 1000;
    auto page = store.value().list(q);
    REQUIRE(page.ok());
    std::vector<StoredRecord> out;
    for (const auto& row : page.value().rows) {
        auto r = store.value().get(row.id);
        REQUIRE(r.ok());
        // Sealed records (every kiosk form's) are opened as central staff would.
        auto opened = openRecord(r.value().record, projectKey().secret);
        REQUIRE_MESSAGE(opened.ok(), opened.error().describe());
        r.value().record = std::move(opened.value());
        out.push_back(std::move(r.value()));
    }
    return out;
}

const Answer* findAnswer(const RecordContent& c, const std::string& name) {
    for (const auto& a : c.answers) {
        if (a.name == name) return &a;
    }
    return nullptr;
}

// Whether a line of code holds a string literal with two words (letters) separated by a space.
bool hasWordyLiteral(const std::string& code) {
    bool inString = false;
    std::string literal;
    for (std::size_t i = 0; i < code.size(); ++i) {
        const char c = code[i];
        if (inString && c == '\\') {
            ++i;
            continue;
        }
        if (c == '"') {
            if (inString) {
                int letters = 0;
                bool sawWordThenSpace = false;
                for (char l : literal) {
                    if (std::isalpha(static_cast<unsigned char>(l))) {
                        ++letters;
                        if (sawWordThenSpace && letters >= 2) return true;
                    } else {
                        sawWordThenSpace = l == ' ' && letters >= 2;
                        letters = 0;
                    }
                }
                literal.clear();
            }
            inString = !inString;
            continue;
        }
        if (inString) literal += c;
    }
    return false;
}

}  // namespace

TEST_CASE("client: the home screen lists the pilot forms by pilot with their counts") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    int added = 0;
    {
        auto store = Store::open(path);
        REQUIRE(store.ok());
        auto demo = veldctl::addDemoRecords(store.value(), 16, 7);
        REQUIRE(demo.ok());
        added = demo.value().drafts + demo.value().finalized;
    }
    CHECK(added > 8);
    UiDriver ui(path);
    CHECK(ui.app().screen == Screen::Home);
    // Every pilot form of the source tree is installed.
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(kFormsDir))
        if (entry.path().extension() == ".json") ++files;
    CHECK(ui.app().forms.size() == files);
    // Every form has its "new record" button, and the Dutch UI says so in Dutch.
    for (const auto& f : ui.app().forms)
        CHECK(ui.has("home.new." + f.id));
    CHECK(ui.showsText("Formulieren"));
    CHECK(ui.showsText("Intensieve begeleiding (IPS)"));
    // Counts come from the store: every demo record (follow-ups need an open case, so fewer than
    // asked may be made).
    std::int64_t total = 0;
    for (const auto& [form, c] : ui.app().counts)
        total += c.drafts + c.finalized;
    CHECK(total == added);
    CHECK(ui.showsText("Concepten: "));

    // English is one click away in the settings, and stays chosen after a restart.
    ui.click("nav.settings");
    ui.click("settings.lang.en");
    ui.click("nav.home");
    CHECK(ui.showsText("Forms"));
    CHECK(ui.showsText("Drafts: "));
}

TEST_CASE(
    "client: a field worker fills a pilot form, leaves it as a draft, reopens and finalizes") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    const std::string form = "ips_guidance";
    {
        UiDriver ui(path);
        ui.click("home.new." + form);
        REQUIRE(ui.app().screen == Screen::Fill);
        // The first page: contact type, date and consent.
        FormView& view = ui.app().fill.view;
        CHECK(ui.has("fill.progress"));
        answerPage(ui, view, "eerste bezoek");
        // Autosave: every answer is in the store already, before anything is closed.
        auto drafts = recordsOf(path, form, RecordStatus::Draft);
        REQUIRE(drafts.size() == 1);
        CHECK(findAnswer(drafts[0].record.content, "contact_type") != nullptr);
        CHECK(ui.item("fill.status")->text == "Concept opgeslagen");
        ui.click("fill.close");
        CHECK(ui.app().screen == Screen::Home);
    }
    // A new process: the draft is listed on the records screen and opens where it was.
    UiDriver ui(path);
    auto drafts = recordsOf(path, form, RecordStatus::Draft);
    REQUIRE(drafts.size() == 1);
    const std::string id = drafts[0].meta.id.toString();
    ui.click("nav.records");
    REQUIRE(ui.has("records.row." + id));
    ui.click("records.open." + id);
    REQUIRE(ui.app().screen == Screen::Fill);
    const auto contact = ui.app().fill.view.session->answer(forms::ItemPath{"contact_type", {}});
    CHECK(contact.has_value());

    // Finalizing too early lists what is missing; then everything is answered and it finalizes.
    ui.click("fill.finalize");
    CHECK(!ui.ids("fill.problem.").empty());
    CHECK(ui.app().screen == Screen::Fill);
    fillAndFinalize(ui, "voortgang besproken");
    CHECK(ui.app().screen == Screen::Home);

    auto finalized = recordsOf(path, form, RecordStatus::Finalized);
    REQUIRE(finalized.size() == 1);
    CHECK(finalized[0].meta.id.toString() == id);  // the same record, not a copy
    CHECK(recordsOf(path, form, RecordStatus::Draft).empty());
    const RecordContent& c = finalized[0].record.content;
    CHECK(c.formId == form);
    // The BSN typed into the pseudonym question is stored only as its digest.
    bool sawPseudonym = false;
    for (const auto& a : c.answers) {
        if (const auto* p = std::get_if<PseudonymAnswer>(&a.value)) {
            sawPseudonym = true;
            CHECK(p->digest.size() == 32);
            CHECK(p->keyId == "demo");
        }
    }
    CHECK(sawPseudonym);
    auto store = Store::open(path);
    REQUIRE(store.ok());
    auto pending = store.value().outboxPending(100, 1 << 20);
    REQUIRE(pending.ok());
    REQUIRE(pending.value().size() == 1);
    const std::string body(pending.value()[0].body.begin(), pending.value()[0].body.end());
    CHECK(body.find("111222333") == std::string::npos);

    // The finalized record opens read-only (no inputs), with the answers shown.
    ui.click("nav.records");
    ui.click("records.view." + id);
    CHECK(ui.app().fill.viewing);
    CHECK(ui.ids("q.").empty());
    CHECK(ui.showsText("voortgang besproken"));
}

TEST_CASE("client: a BSN typed in a form is in no file of the device, nothing sent and no log") {
    veld::test::TempDir dir;
    veld::test::CollectorProcess collector(veld::test::testCollectorLocation(dir));
    veld::test::publishPilotForms(collector);
    collector.start({"--log"});
    const std::string path = pilotStore(dir);
    const std::string bsn = "111222333";  // what answerPage types into pseudonym questions
    {
        UiDriver ui(path);
        ui.click("home.new.ips_guidance");
        fillAndFinalize(ui, "gesprek gevoerd");
        REQUIRE(ui.app().screen == Screen::Home);
    }
    auto finalized = recordsOf(path, "ips_guidance", RecordStatus::Finalized);
    REQUIRE(finalized.size() == 1);
    std::string digest;
    for (const auto& a : finalized[0].record.content.answers) {
        if (const auto* p = std::get_if<PseudonymAnswer>(&a.value))
            digest.assign(p->digest.begin(), p->digest.end());
    }
    REQUIRE(digest.size() == 32);

    // Sent uncompressed through a proxy that keeps every byte that goes up.
    veld::test::CuttingProxy proxy(collector.port(), 1, 0.0);
    {
        auto store = Store::open(path);
        REQUIRE(store);
        auto enrolled =
            sync::enrol(store.value(), "http://127.0.0.1:" + std::to_string(proxy.port()),
                        collector.enrolCode());
        REQUIRE_MESSAGE(enrolled, enrolled.error().describe());
        sync::SyncOptions plain;
        plain.compress = false;
        auto round =
            sync::syncOnce(store.value(), sync::loadConnection(store.value()).value(), plain);
        REQUIRE_MESSAGE(round, round.error().describe());
        CHECK(round->recordsSent == 1);
    }
    const std::string wire = proxy.sentUp();
    CHECK(wire.find(digest) != std::string::npos);  // the record went up, with its pseudonym
    // The number, in plain bytes or as UTF-16, is nowhere: not on the wire, not in the device's
    // files (store, WAL, journal), not in the collector's files or its log.
    std::u16string wide(bsn.begin(), bsn.end());
    const std::string utf16(reinterpret_cast<const char*>(wide.data()), wide.size() * 2);
    std::vector<std::pair<std::string, std::string>> places{
        {"the wire", wire}, {"the collector's log", collector.log()}};
    for (const auto& file : std::filesystem::directory_iterator(dir.path())) {
        if (!file.is_regular_file()) continue;
        std::ifstream in(file.path(), std::ios::binary);
        places.emplace_back(file.path().filename().string(),
                            std::string((std::istreambuf_iterator<char>(in)), {}));
    }
    CHECK(places.size() >= 4);
    for (const auto& entry : places) {
        const auto& where = entry.first;
        const auto& bytes = entry.second;
        CAPTURE(where);
        CHECK(bytes.find(bsn) == std::string::npos);
        CHECK(bytes.find(utf16) == std::string::npos);
    }
}

// Every file of a device profile (store, WAL, shared memory, journal, anything else there), for
// looking for what must not be in them.
static std::vector<std::pair<std::string, std::string>> profileFiles(const std::string& folder) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& file : std::filesystem::directory_iterator(folder)) {
        if (!file.is_regular_file()) continue;
        std::ifstream in(file.path(), std::ios::binary);
        out.emplace_back(file.path().filename().string(),
                         std::string((std::istreambuf_iterator<char>(in)), {}));
    }
    return out;
}

static std::string utf16(const std::string& ascii) {
    std::u16string wide(ascii.begin(), ascii.end());
    return std::string(reinterpret_cast<const char*>(wide.data()), wide.size() * 2);
}

TEST_CASE("client: a stolen kiosk holds no respondent's answer, and central staff open them") {
    veld::test::TempDir dir;
    std::filesystem::create_directories(dir.file("profile"));
    veld::test::TempDir central;
    const std::string path = pilotStore(dir);
    std::filesystem::rename(path, dir.file("profile/device.veld"));
    const std::string device = dir.file("profile/device.veld");
    startsAsKiosk(device);
    const std::vector<std::string> markers{"Zonnebloemveld-4471", "Kastanjelaan-9038"};
    const auto noMarkerIn = [&](const std::string& folder) {
        const auto files = profileFiles(folder);
        CHECK_FALSE(files.empty());
        for (const auto& entry : files) {
            const auto& name = entry.first;
            const auto& bytes = entry.second;
            for (const auto& m : markers) {
                CAPTURE(name);
                CAPTURE(m);
                CHECK(bytes.find(m) == std::string::npos);
                CHECK(bytes.find(utf16(m)) == std::string::npos);
            }
        }
    };
    {
        UiDriver ui(device);
        REQUIRE(ui.app().screen == Screen::Kiosk);
        for (std::size_t n = 0; n < markers.size(); ++n) {
            ui.click(n == 0 ? "kiosk.lang.nl" : "kiosk.lang.ar");
            FormView& view = ui.app().kiosk.view;
            REQUIRE(view.active());
            for (int guard = 0; guard < 100; ++guard) {
                answerPage(ui, view, markers[n]);
                if (ui.has("kiosk.finish")) {
                    // Every answer given, the marker among them, and not yet sent: in memory
                    // only.
                    REQUIRE(view.session->answer(forms::ItemPath{"school_suggestions", {}})
                                .has_value());
                    noMarkerIn(dir.file("profile"));
                    ui.click("kiosk.finish");
                    break;
                }
                ui.click("kiosk.next");
            }
            REQUIRE(ui.app().kiosk.phase == KioskPhase::ThankYou);
            ui.advance(std::int64_t{ui.app().settings.kioskResetSeconds} * 1000 + 100);
        }
    }
    // The thief's view: every file of the profile, after both respondents finished.
    noMarkerIn(dir.file("profile"));
    {
        auto store = Store::open(device, {.mode = sql::OpenMode::ReadOnly});
        REQUIRE(store.ok());
        auto rows = store.value().list({.formId = "vmbo_parent_survey", .limit = 10});
        REQUIRE(rows.ok());
        REQUIRE(rows.value().rows.size() == 2);
        for (const auto& row : rows.value().rows) {
            CHECK(row.summary.empty());
            CHECK(row.status == RecordStatus::Finalized);
        }
    }

    // Central staff: the ring with the private key, the collector handing out its public key.
    const std::string ring = central.file("project.ring");
    std::ofstream(ring) << projectkey::formatRing({projectKey().locked});
    std::ofstream(central.file("right")) << kRingPassphrase;
    std::ofstream(central.file("wrong")) << "not the kiosk tests passphrase";
    veld::test::CollectorProcess collector(veld::test::testCollectorLocation(central));
    veld::test::publishPilotForms(collector);
    REQUIRE(veld::test::veldctl({"collector", "use-key", collector.storePath(), ring}).exitCode ==
            0);
    collector.start({"--log"});
    {
        auto store = Store::open(device);
        REQUIRE(store.ok());
        auto enrolled = sync::enrol(store.value(), collector.url(), collector.enrolCode());
        REQUIRE_MESSAGE(enrolled, enrolled.error().describe());
        auto round = sync::syncOnce(store.value(), sync::loadConnection(store.value()).value(), {});
        REQUIRE_MESSAGE(round, round.error().describe());
        CHECK(round->recordsSent == 2);
    }
    // Sealed at the collector too: its files and log hold no marker.
    for (const auto& entry : profileFiles(central.path())) {
        const auto& name = entry.first;
        const auto& bytes = entry.second;
        if (name == "project.ring" || name == "right" || name == "wrong") continue;
        for (const auto& m : markers) {
            CAPTURE(name);
            CHECK(bytes.find(m) == std::string::npos);
        }
    }
    for (const auto& m : markers)
        CHECK(collector.log().find(m) == std::string::npos);

    // A wrong passphrase: refused clearly, nothing written.
    std::filesystem::create_directories(central.file("out-wrong"));
    auto wrong = veld::test::veldctl({"export", collector.storePath(), "vmbo_parent_survey",
                                      "--out", central.file("out-wrong"), "--ring", ring,
                                      "--passphrase-file", central.file("wrong")});
    CHECK(wrong.exitCode != 0);
    CHECK(wrong.err.find("wrong passphrase") != std::string::npos);
    CHECK(std::filesystem::is_empty(central.file("out-wrong")));

    // The right one: both respondents' answers, in full.
    std::filesystem::create_directories(central.file("out"));
    auto right = veld::test::veldctl({"export", collector.storePath(), "vmbo_parent_survey",
                                      "--out", central.file("out"), "--ring", ring,
                                      "--passphrase-file", central.file("right")});
    REQUIRE_MESSAGE(right.exitCode == 0, right.err);
    std::string csv;
    for (const auto& [name, bytes] : profileFiles(central.file("out"))) {
        if (name == "vmbo_parent_survey.csv") csv = bytes;
    }
    REQUIRE_FALSE(csv.empty());
    for (const auto& m : markers)
        CHECK(csv.find(m) != std::string::npos);
}

TEST_CASE("client: a sealed form keeps no draft, asks before discarding, and needs the key") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    const std::string form = "job_retention_log";  // sealed, filled in by staff
    {
        UiDriver ui(path);
        ui.click("home.new." + form);
        REQUIRE(ui.app().screen == Screen::Fill);
        CHECK(ui.showsText("alleen in het geheugen"));
        answerPage(ui, ui.app().fill.view, "teamleider gesproken");
        ui.click("fill.next");
        ui.advance(1000);
        CHECK(recordsOf(path, form, std::nullopt).empty());  // nothing autosaved
        CHECK(ui.app().fill.saveError.empty());              // and no save was tried
        // Leaving by a tab asks first too: the answers stay until the second try.
        ui.click("nav.records");
        CHECK(ui.app().screen == Screen::Fill);
        CHECK(ui.showsText("gaan verloren"));
        CHECK(ui.app().fill.view.changes > 0);
        ui.app().fill.confirmDiscard = false;  // as if asked long ago: the close button asks again
        // Closing loses the answers: the first click asks, the second closes.
        ui.click("fill.close");
        CHECK(ui.app().screen == Screen::Fill);
        CHECK(ui.showsText("de antwoorden weg te gooien"));
        ui.click("fill.close");
        CHECK(ui.app().screen == Screen::Home);
        CHECK(recordsOf(path, form, std::nullopt).empty());

        // Finalized, it is kept sealed: its answers are not shown on the device.
        ui.click("home.new." + form);
        fillAndFinalize(ui, "teamleider gesproken");
        REQUIRE(ui.app().screen == Screen::Home);
    }
    const auto done = recordsOf(path, form, RecordStatus::Finalized);  // opened with the ring
    REQUIRE(done.size() == 1);
    CHECK(done[0].meta.summary.empty());
    {
        UiDriver ui(path);
        ui.click("nav.records");
        ui.click("records.view." + done[0].meta.id.toString());
        REQUIRE(ui.app().screen == Screen::Fill);
        CHECK(ui.showsText("verzegeld"));
        CHECK_FALSE(ui.showsText("teamleider gesproken"));
    }
    // A device without a project key cannot start it.
    {
        auto store = Store::open(path);
        REQUIRE(store.ok());
        REQUIRE(store.value().clearSetting(projectkey::kKeySetting).ok());
    }
    UiDriver ui(path);
    ui.click("home.new." + form);
    CHECK(ui.app().screen == Screen::Home);
    CHECK(ui.showsText("geen projectsleutel"));
}

TEST_CASE("client: a kiosk on a device without a project key stays locked and says why") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    startsAsKiosk(path);
    {
        auto store = Store::open(path);
        REQUIRE(store.ok());
        REQUIRE(store.value().clearSetting(projectkey::kKeySetting).ok());
    }
    UiDriver ui(path);
    // Still the kiosk (no menus for passers-by), but no respondent can begin.
    REQUIRE(ui.app().screen == Screen::Kiosk);
    CHECK(ui.ids("nav.").empty());
    CHECK(ui.ids("kiosk.lang.").empty());
    CHECK(ui.showsText("geen projectsleutel"));
    CHECK(ui.has("kiosk.staff"));
}

TEST_CASE("client: deleting a draft asks first, and cancel keeps it") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    UiDriver ui(path);
    ui.click("home.new.employer_recruitment_nudges");
    answerPage(ui, ui.app().fill.view, "magazijnmedewerker");
    ui.click("fill.close");
    auto drafts = recordsOf(path, "employer_recruitment_nudges", RecordStatus::Draft);
    REQUIRE(drafts.size() == 1);
    const std::string id = drafts[0].meta.id.toString();
    ui.click("nav.records");
    ui.click("records.delete." + id);
    REQUIRE(ui.has("records.delete.cancel"));
    ui.click("records.delete.cancel");
    CHECK(recordsOf(path, "employer_recruitment_nudges", RecordStatus::Draft).size() == 1);
    ui.click("records.delete." + id);
    ui.click("records.delete.confirm");
    CHECK(recordsOf(path, "employer_recruitment_nudges", RecordStatus::Draft).empty());
    CHECK_FALSE(ui.has("records.row." + id));
}

TEST_CASE("client: the records screen filters by status and searches the list text") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    std::size_t added = 0;
    {
        auto store = Store::open(path);
        REQUIRE(store.ok());
        auto demo = veldctl::addDemoRecords(store.value(), 24, 3);
        REQUIRE(demo.ok());
        added = static_cast<std::size_t>(demo.value().drafts + demo.value().finalized);
    }
    REQUIRE(added > 12);
    UiDriver ui(path);
    ui.click("nav.records");
    CHECK(ui.ids("records.row.").size() == added);
    ui.click("records.status");
    ui.click("records.status.1");  // drafts
    const auto drafts = ui.ids("records.row.");
    CHECK(!drafts.empty());
    CHECK(drafts.size() < added);
    CHECK(ui.ids("records.open.").size() == drafts.size());
    CHECK(ui.ids("records.view.").empty());
    ui.type("records.search", "zzz-nothing-like-this");
    CHECK(ui.ids("records.row.").empty());
    CHECK(ui.showsText("Geen records gevonden."));
}

TEST_CASE("client: kiosk mode serves two respondents, forgets the first, and needs the PIN") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    const std::string form = "vmbo_parent_survey";
    UiDriver ui(path);

    // Kiosk mode cannot start before staff set a PIN.
    ui.click("home.kiosk." + form);
    CHECK(ui.has("home.kiosk.settings"));
    ui.click("home.kiosk.settings");
    REQUIRE(ui.app().screen == Screen::Settings);
    ui.type("settings.pin.new", "4821");
    ui.type("settings.pin.repeat", "4821");
    ui.click("settings.pin.save");
    CHECK(ui.showsText("Pincode opgeslagen"));
    CHECK(ui.app().settings.pinHash.rfind("$argon2id$", 0) == 0);
    // Only the hash is stored.
    {
        auto store = Store::open(path);
        REQUIRE(store.ok());
        auto stored = store.value().setting("kiosk.pin_hash");
        REQUIRE(stored.ok());
        REQUIRE(stored.value().has_value());
        CHECK(stored.value()->find("4821") == std::string::npos);
    }
    ui.click("nav.home");
    ui.click("home.kiosk." + form);
    ui.app().settings.kioskKeypad = "never";  // typed with a keyboard
    ui.click("home.kiosk.start");
    REQUIRE(ui.app().screen == Screen::Kiosk);
    CHECK(ui.app().wantsFullscreen());

    auto checkKioskScreen = [&] {
        // No way out to other screens, and every touch target at least 48 px high.
        CHECK(ui.ids("nav.").empty());
        CHECK(ui.ids("home.").empty());
        CHECK(ui.ids("records.").empty());
        for (const auto& r :
             ui.app().screen == Screen::Kiosk ? ui.ids("") : std::vector<std::string>{}) {
            if (r.empty()) continue;
            const auto* it = ui.item(r);
            CHECK_MESSAGE(it->max.y - it->min.y >= 48.0f, r);
        }
    };
    const std::string marker = "MARKER-ONE-7731";
    auto respond = [&](const std::string& lang, const std::string& text) {
        CHECK(ui.has("kiosk.lang.nl"));
        CHECK(ui.has("kiosk.lang.ar"));
        CHECK(ui.has("kiosk.lang.ti"));
        ui.click("kiosk.lang." + lang);
        FormView& view = ui.app().kiosk.view;
        REQUIRE(view.active());
        CHECK(view.onePerPage);
        for (int guard = 0; guard < 100; ++guard) {
            checkKioskScreen();
            answerPage(ui, view, text);
            if (ui.has("kiosk.finish")) {
                ui.click("kiosk.finish");
                break;
            }
            ui.click("kiosk.next");
        }
        CHECK(ui.app().kiosk.phase == KioskPhase::ThankYou);
    };

    respond("nl", marker);
    CHECK(ui.showsText("Hartelijk dank"));
    CHECK(recordsOf(path, form, RecordStatus::Finalized).size() == 1);
    // Thank-you screen, then the welcome screen again after the reset time.
    ui.advance(std::int64_t{ui.app().settings.kioskResetSeconds} * 1000 + 100);
    CHECK(ui.app().kiosk.phase == KioskPhase::Welcome);

    // The second respondent, in Arabic: nothing of the first is anywhere on any of its screens.
    ui.click("kiosk.lang.ar");
    FormView& view = ui.app().kiosk.view;
    CHECK(view.rtl);
    CHECK(view.buffers.empty());
    for (int guard = 0; guard < 100; ++guard) {
        for (const auto& t : ui.texts())
            CHECK(t.find(marker) == std::string::npos);
        // The free-text question starts empty.
        for (const auto& id : ui.ids("q.school_suggestions"))
            CHECK(ui.item(id)->text.empty());
        answerPage(ui, view, "tweede");
        if (ui.has("kiosk.finish")) {
            ui.click("kiosk.finish");
            break;
        }
        ui.click("kiosk.next");
    }
    CHECK(ui.app().kiosk.phase == KioskPhase::ThankYou);
    CHECK(ui.showsText("شكراً"));
    const auto done = recordsOf(path, form, RecordStatus::Finalized);
    REQUIRE(done.size() == 2);
    for (const auto& r : done) {
        CHECK(r.record.content.paradata.kiosk);
        const Answer* a = findAnswer(r.record.content, "school_suggestions");
        REQUIRE(a != nullptr);
        CHECK((std::get<std::string>(a->value) == marker) !=
              (std::get<std::string>(a->value) == "tweede"));
    }
    // Kiosk answers never pass through drafts.
    CHECK(recordsOf(path, form, RecordStatus::Draft).empty());

    // Leaving: the staff button asks for the PIN; a wrong PIN keeps the kiosk.
    ui.advance(std::int64_t{ui.app().settings.kioskResetSeconds} * 1000 + 100);
    ui.click("kiosk.staff");
    for (char d : std::string("1111"))
        ui.click(std::string("kiosk.pin.") + d);
    ui.click("kiosk.pin.ok");
    CHECK(ui.app().screen == Screen::Kiosk);
    CHECK(ui.showsText("Onjuiste pincode"));
    ui.click("kiosk.pin.cancel");
    // Closing the window is refused too, and asks for the PIN instead.
    CHECK_FALSE(ui.app().requestClose());
    ui.frame();
    CHECK(ui.has("kiosk.pin.ok"));
    for (char d : std::string("4821"))
        ui.click(std::string("kiosk.pin.") + d);
    ui.click("kiosk.pin.ok");
    // The right PIN leaves kiosk mode; closing the program is staff's next, own choice.
    CHECK(ui.app().screen == Screen::Home);
    CHECK_FALSE(ui.app().quitRequested());
    CHECK(ui.app().requestClose());
    CHECK(ui.app().quitRequested());
}

TEST_CASE("client: kiosk mode throws an abandoned response away after a warning") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    startsAsKiosk(path);
    // A kiosk that was running comes back as a kiosk after a restart.
    UiDriver ui(path);
    REQUIRE(ui.app().screen == Screen::Kiosk);
    ui.click("kiosk.lang.tr");
    CHECK(ui.showsText("İleri"));
    FormView& view = ui.app().kiosk.view;
    answerPage(ui, view, "x");
    ui.click("kiosk.next");
    answerPage(ui, view, "x");
    CHECK(view.session->answer(forms::ItemPath{"consent_participation", {}}).has_value());
    const int idle = ui.app().settings.kioskIdleSeconds;
    ui.advance(std::int64_t{idle} * 1000 + 500);
    CHECK(ui.has("kiosk.continue"));
    CHECK(ui.showsText("Hâlâ orada mısınız?"));
    ui.advance(25'000);
    CHECK(ui.app().kiosk.phase == KioskPhase::Welcome);
    CHECK_FALSE(ui.app().kiosk.view.active());
    CHECK(recordsOf(path, "vmbo_parent_survey", std::nullopt).empty());

    // Wrong PINs lock the pad for a while, kept across restarts.
    for (int i = 0; i < 3; ++i) {
        ui.click("kiosk.staff");
        for (char d : std::string("0000"))
            ui.click(std::string("kiosk.pin.") + d);
        ui.click("kiosk.pin.ok");
        ui.click("kiosk.pin.cancel");
    }
    ui.click("kiosk.staff");
    for (char d : std::string("2468"))
        ui.click(std::string("kiosk.pin.") + d);
    CHECK_FALSE(ui.item("kiosk.pin.ok")->enabled);
    CHECK(ui.showsText("Te veel pogingen"));
    ui.advance(31'000);
    ui.click("kiosk.pin.ok");
    CHECK(ui.app().screen == Screen::Home);
}

TEST_CASE("client: Arabic is shaped and reordered, wrapping keeps logical order per line") {
    // "سلام" in isolated letters, logical order.
    const std::string logical = "\u0633\u0644\u0627\u0645";
    const std::u32string shown = text::decodeUtf8(text::visualLine(logical, true));
    REQUIRE(!shown.empty());
    // Joined presentation forms (the lam-alef ligature among them), in visual (reversed) order.
    for (char32_t c : shown)
        CHECK((c >= 0xFE70 && c <= 0xFEFF));
    CHECK(shown.size() < 4);  // lam + alef became one ligature
    CHECK(text::hasRtl(logical));
    CHECK_FALSE(text::hasRtl("Türkçe Łódź"));
    CHECK(text::visualLine("Türkçe", false) == "Türkçe");
    auto lines = text::wrapLogical("een twee drie vier", 9,
                                   [](std::string_view s) { return static_cast<float>(s.size()); });
    CHECK(lines == std::vector<std::string>{"een twee", "drie vier"});
    CHECK(text::truncateUtf8("ééé", 3) == "é");
}

TEST_CASE("client: a mixed right-to-left line splits into directional runs in visual order") {
    // "in Het Baken since 2026": Arabic words, a Latin name and a number, right to left.
    const std::u32string line = text::decodeUtf8("في Het Baken منذ 2026");
    const auto runs = text::visualRuns(line, true);
    REQUIRE(runs.size() == 4);
    // Left to right on screen: the number, "since", the name, "in".
    CHECK(text::encodeUtf8(line.substr(runs[0].start, runs[0].end - runs[0].start)) == "2026");
    CHECK_FALSE(runs[0].rtl());
    CHECK(runs[1].rtl());
    CHECK(text::encodeUtf8(line.substr(runs[2].start, runs[2].end - runs[2].start)) == "Het Baken");
    CHECK_FALSE(runs[2].rtl());
    CHECK(runs[3].start == 0);
    CHECK(runs[3].rtl());
    // A left-to-right paragraph of Latin text is one run.
    const auto latin = text::visualRuns(text::decodeUtf8("Het Baken"), false);
    REQUIRE(latin.size() == 1);
    CHECK(latin[0].level == 0);
}

TEST_CASE("client: fonts cover every pilot language, a script without a font is not offered") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    // A form with a language no installed font can draw (Chinese).
    const std::string json = R"({
      "id": "script_check", "version": 1, "pilot": "test", "default_language": "nl",
      "languages": [{"tag": "nl", "name": "Nederlands"}, {"tag": "zh", "name": "中文"},
                    {"tag": "ar", "name": "العربية", "rtl": true}],
      "titles": [{"lang": "nl", "text": "Schrifttest"}, {"lang": "zh", "text": "文字测试"},
                 {"lang": "ar", "text": "اختبار"}],
      "items": [{"name": "q1", "type": "Text",
                 "labels": [{"lang": "nl", "text": "Vraag"}, {"lang": "zh", "text": "问题"},
                            {"lang": "ar", "text": "سؤال"}]}]
    })";
    auto compiled = forms::compileFormJson(json, "script_check.json");
    REQUIRE_MESSAGE(compiled.ok(), compiled.problems.front().describe());
    {
        auto store = Store::open(path);
        REQUIRE(store.ok());
        REQUIRE(store.value().installForm(compiled.binary).ok());
    }
    UiDriver ui(path);
    REQUIRE(!ui.app().fonts.files.empty());
    const FormEntry* vmbo = ui.app().findForm("vmbo_parent_survey");
    REQUIRE(vmbo != nullptr);
    CHECK(vmbo->offered == std::vector<std::string>{"nl", "en", "tr", "ar", "pl", "ti", "so"});
    CHECK(vmbo->unrenderable.empty());
    const FormEntry* check = ui.app().findForm("script_check");
    REQUIRE(check != nullptr);
    CHECK(check->offered == std::vector<std::string>{"nl", "ar"});
    CHECK(check->unrenderable == std::vector<std::string>{"中文"});
    // Every sample script has all its glyphs (Latin with Turkish and Polish letters, Somali,
    // Arabic shaped by HarfBuzz, Ge'ez).
    for (const auto& s : scriptSamples()) {
        CHECK_MESSAGE(ui.app().fonts.missingGlyphs(s.text).empty(), s.language);
    }
}

TEST_CASE("client: without a font for a script, its languages are left out and named") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    veld::test::TempDir emptyFonts;  // no TTF at all: Dear ImGui's built-in ASCII font
    UiDriver ui(path, "nl", emptyFonts.path());
    CHECK(ui.app().fonts.files.empty());
    const FormEntry* vmbo = ui.app().findForm("vmbo_parent_survey");
    REQUIRE(vmbo != nullptr);
    CHECK(std::find(vmbo->offered.begin(), vmbo->offered.end(), "ar") == vmbo->offered.end());
    CHECK(std::find(vmbo->offered.begin(), vmbo->offered.end(), "ti") == vmbo->offered.end());
    CHECK(std::find(vmbo->unrenderable.begin(), vmbo->unrenderable.end(), "العربية") !=
          vmbo->unrenderable.end());
    CHECK(ui.showsText("Niet beschikbaar op dit apparaat"));
}

TEST_CASE("client: the translation table is complete and screens hold no literal texts") {
    for (std::size_t i = 0; i < static_cast<std::size_t>(M::Count_); ++i) {
        const auto m = static_cast<M>(i);
        CHECK_MESSAGE(!tr(m, "nl").empty(), i);
        CHECK_MESSAGE(!tr(m, "en").empty(), i);
    }
    CHECK(format("{} van {}", {"3", "7"}) == "3 van 7");
    CHECK(tr(M::Next, "tr") == "İleri");
    CHECK(tr(M::Next, "xx") == "Next");  // unknown languages fall back to English
    // Screen code passes ids and format strings only: a literal with words separated by a
    // space would be a text that skipped the table.
    for (const char* file :
         {"app.cpp", "form_view.cpp", "screens/home.cpp", "screens/fill.cpp", "screens/records.cpp",
          "screens/sync.cpp", "screens/settings.cpp", "screens/kiosk.cpp", "screens/cases.cpp",
          "console/console.cpp", "console/dashboard.cpp", "console/cases.cpp",
          "console/records.cpp", "console/exports.cpp", "console/keys.cpp"}) {
        std::ifstream in(std::string(VELD_SOURCE_DIR) + "/client/src/" + file);
        REQUIRE(in.good());
        std::string line;
        int n = 0;
        while (std::getline(in, line)) {
            ++n;
            const auto comment = line.find("//");
            const std::string code = comment == std::string::npos ? line : line.substr(0, comment);
            CHECK_MESSAGE(!hasWordyLiteral(code), std::string(file) << ":" << n << ": " << line);
        }
    }
}

TEST_CASE("client: PIN rules and lockout") {
    CHECK(pin::acceptable("1234"));
    CHECK_FALSE(pin::acceptable("123"));
    CHECK_FALSE(pin::acceptable("12a4"));
    CHECK_FALSE(pin::acceptable("1234567890123"));
    const auto h = pin::hash("975310");
    REQUIRE(h.has_value());
    CHECK(pin::verify(*h, "975310"));
    CHECK_FALSE(pin::verify(*h, "975311"));
    CHECK_FALSE(pin::verify("", "975310"));
    CHECK(pin::lockoutMs(2) == 0);
    CHECK(pin::lockoutMs(3) == 30'000);
    CHECK(pin::lockoutMs(4) == 60'000);
    CHECK(pin::lockoutMs(40) == 15 * 60'000);
}

TEST_CASE("client: enrolling in settings starts sending, the sync screen shows it arrive") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    const std::string collector = veld::test::testCollectorLocation(dir);
    REQUIRE(veld::test::runProcess({veld::test::binary("veldctl"), "collector", "init", collector})
                .exitCode == 0);
    const auto code = veld::test::runProcess(
        {veld::test::binary("veldctl"), "collector", "enrol-code", collector});
    REQUIRE(code.exitCode == 0);
    const std::string portFile = dir.file("port");
    veld::test::ChildProcess server({veld::test::binary("veld-collector"), "--store", collector,
                                     "--port", "0", "--port-file", portFile, "--quiet"});
    std::string port;
    for (int i = 0; i < 200 && port.empty(); ++i) {
        std::ifstream in(portFile);
        std::getline(in, port);
        if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    REQUIRE(!port.empty());

    UiDriver ui(path);
    ui.click("home.new.employer_recruitment_nudges");
    fillAndFinalize(ui, "magazijnmedewerker");
    ui.click("nav.sync");
    CHECK(ui.showsText("niet aangemeld"));
    CHECK(ui.item("sync.waiting")->text == "1");

    ui.click("nav.settings");
    ui.type("settings.collector", "http://127.0.0.1:" + port);
    ui.type("settings.enrol.code", code.out.substr(0, code.out.find('\n')));
    ui.click("settings.enrol");
    CHECK(ui.showsText("Aangemeld"));
    REQUIRE(ui.app().settings.enrolled);

    // The uploader works in the background; the screen follows without blocking a frame.
    ui.click("nav.sync");
    bool sent = false;
    for (int i = 0; i < 400 && !sent; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        ui.frame();
        ui.settle();
        sent = ui.item("sync.waiting") && ui.item("sync.waiting")->text == "0";
    }
    CHECK(sent);
    CHECK(ui.showsText("Alles is verzonden"));
    auto opened = veld::sync::openCollector(collector, false);
    REQUIRE(opened.ok());
    auto stats = opened.value()->stats();
    REQUIRE(stats.ok());
    CHECK(stats->records == 1);
    CHECK(stats->devices == 1);
    server.kill(SIGTERM);
    CHECK(server.wait().exitCode == 0);
}

TEST_CASE("client: a kiosk respondent who declines consent is thanked and nothing is kept") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    startsAsKiosk(path);
    UiDriver ui(path);
    REQUIRE(ui.app().screen == Screen::Kiosk);
    ui.click("kiosk.lang.pl");
    ui.click("kiosk.next");  // past the introduction
    ui.click("q.consent_participation.no");
    // Everything after the consent question is hidden now: forward ends the survey, but nothing
    // is sent, so the button does not say Send.
    REQUIRE(ui.has("kiosk.next"));
    CHECK_FALSE(ui.has("kiosk.finish"));
    ui.click("kiosk.next");
    CHECK(ui.app().kiosk.phase == KioskPhase::ThankYou);
    CHECK(ui.showsText("Dziękujemy"));
    CHECK_FALSE(ui.app().kiosk.view.active());
    CHECK(recordsOf(path, "vmbo_parent_survey", std::nullopt).empty());
}

TEST_CASE("client: a Somali-speaking parent gets the survey and the kiosk's own words in Somali") {
    veld::test::TempDir dir;
    const std::string path = pilotStore(dir);
    startsAsKiosk(path);
    UiDriver ui(path);
    REQUIRE(ui.app().screen == Screen::Kiosk);
    REQUIRE(ui.has("kiosk.lang.so"));
    CHECK(ui.item("kiosk.lang.so")->text == "Soomaali");
    ui.click("kiosk.lang.so");
    CHECK(ui.showsText("Ku soo dhawoow"));
    CHECK(ui.showsText("Su'aalahan waxay ku saabsan yihiin"));
    CHECK(ui.item("kiosk.next")->text == "Xiga");
    CHECK(ui.item("kiosk.back")->text == "Dib u noqo");
    ui.click("kiosk.next");
    CHECK(ui.showsText("Waan akhriyay sharaxaadda"));
    CHECK(ui.item("q.consent_participation.yes")->text == "Haa, waan ogolahay");
    // Forward without an answer to the consent question: the kiosk says why, in Somali.
    ui.click("kiosk.next");
    CHECK(ui.showsText("Su'aalahan lama dhammaystiri karo haddii aadan ogolaan"));
    CHECK_FALSE(ui.showsText("without consent"));
    CHECK_FALSE(ui.showsText("Zonder toestemming"));
}

TEST_CASE(
    "test names hold no semicolon, which would split them into ctest tests that run nothing") {
    namespace fs = std::filesystem;
    int files = 0;
    for (const auto& entry :
         fs::recursive_directory_iterator(std::string(VELD_SOURCE_DIR) + "/tests")) {
        if (entry.path().extension() != ".cpp") continue;
        ++files;
        std::ifstream in(entry.path());
        std::string line;
        while (std::getline(in, line)) {
            const auto at = line.find("TEST_CASE(\"");
            if (at == std::string::npos) continue;
            const auto end = line.find('"', at + 11);
            CHECK_MESSAGE(line.substr(at + 11, end - at - 11).find(';') == std::string::npos,
                          entry.path().string() << ": " << line);
        }
    }
    CHECK(files > 10);
}
