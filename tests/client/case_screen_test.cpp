// The case screen and randomisation in the client, headless over real device stores: finding a
// participant by text or by a typed BSN, starting a follow-up from a case, the warning before a
// finalize that randomises, the arm shown afterwards, a refusal that keeps the draft, and the
// warning when allocation slots run low.
#include <algorithm>
#include <future>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/expression.hpp>
#include <veld/form.hpp>
#include <veld/pseudonym.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using namespace veld::client;
using veld::client::testing::UiDriver;

namespace {

// Texts of the forms below: Dutch and English, as the pilots' forms have them.
std::string texts(const std::string& nl, const std::string& en) {
    return R"([{"lang": "nl", "text": ")" + nl + R"("}, {"lang": "en", "text": ")" + en + R"("}])";
}

std::string formJson(const std::string& id, const std::string& settings, const std::string& items) {
    return R"({"id": ")" + id + R"(", "version": 1, "pilot": "ips", "titles": )" +
           texts("Formulier " + id, "Form " + id) +
           R"(, "default_language": "nl",
   "languages": [{"tag": "nl", "name": "Nederlands"}, {"tag": "en", "name": "English"}],
   "settings": )" +
           settings + R"(, "items": )" + items + R"(,
   "choice_lists": [
     {"name": "municipalities", "choices": [
       {"name": "utrecht", "labels": )" +
           texts("Utrecht", "Utrecht") + R"(},
       {"name": "amersfoort", "labels": )" +
           texts("Amersfoort", "Amersfoort") + R"(}]},
     {"name": "yesno", "choices": [
       {"name": "yes", "labels": )" +
           texts("Ja", "Yes") + R"(},
       {"name": "no", "labels": )" +
           texts("Nee", "No") + R"(}]}]})";
}

std::string question(const std::string& name, const std::string& type,
                     const std::string& extra = {}) {
    return R"({"name": ")" + name + R"(", "kind": "Question", "type": ")" + type +
           R"(", "labels": )" + texts("Vraag " + name, "Question " + name) + extra + "}";
}

// An intake that opens a participant's case and randomises it into study "trial" when asked.
const std::string kIntake = formJson(
    "t_intake", R"({"summary_question": "name", "case_settings": {
      "action": "Open", "case_type": "participant", "pseudonym_question": "bsn",
      "updates": [{"property": "label", "question": "name"},
                  {"property": "municipality", "question": "municipality"},
                  {"property": "next_contact", "question": "next_contact"}]},
      "randomisation": {"study": "trial", "when": "${randomise} = 'yes'",
                        "strata": [{"factor": "municipality", "question": "municipality"}]}})",
    "[" + question("name", "Text", R"(, "required": true, "max_length": 80)") + "," +
        question("bsn", "Pseudonym", R"(, "identifier_scheme": "Bsn", "identifying": true)") + "," +
        question("municipality", "SelectOne",
                 R"(, "required": true, "choice_list": "municipalities")") +
        "," + question("randomise", "SelectOne", R"(, "required": true, "choice_list": "yesno")") +
        "," + question("next_contact", "Date") + "]");

// A contact with the case: reads its label, and moves its municipality and next contact.
const std::string kVisit = formJson(
    "t_visit", R"({"case_settings": {"action": "FollowUp", "case_type": "participant",
      "updates": [{"property": "municipality", "question": "municipality"},
                  {"property": "next_contact", "question": "next_contact"}]}})",
    "[" +
        question("greeting", "Text",
                 R"j(, "calculation": "concat('Bezoek aan ', ${case.label})")j") +
        "," + question("municipality", "SelectOne", R"(, "choice_list": "municipalities")") + "," +
        question("next_contact", "Date", R"(, "required": true)") + "]");

const std::string kClose =
    formJson("t_close", R"({"case_settings": {"action": "Close", "case_type": "participant"}})",
             "[" + question("reason", "Text", R"(, "required": true, "max_length": 80)") + "]");

// A form without cases, started from the home screen as always.
const std::string kPlain = formJson("t_plain", "{}", "[" + question("note", "Text") + "]");

const pseudonym::Key& testKey() {
    static const pseudonym::Key key = pseudonym::newKey("case-tests");
    return key;
}

struct Device {
    veld::test::TempDir dir;
    std::string path;
    Store store;

    Device() : path(dir.file("device.veld")), store(open(path)) {
        for (const auto* json : {&kIntake, &kVisit, &kClose, &kPlain}) {
            auto compiled = forms::compileFormJson(*json, "test.json");
            std::string problems;
            for (const auto& p : compiled.problems)
                problems += p.describe() + "\n";
            REQUIRE_MESSAGE(compiled.ok(), problems);
            REQUIRE(store.installForm(compiled.binary));
        }
        REQUIRE(store.setSetting(pseudonym::kKeySetting, pseudonym::formatKey(testKey())));
    }

    static Store open(const std::string& path) {
        StoreOptions options;
        options.mode = sql::OpenMode::ReadWriteCreate;
        auto store = Store::open(path, options);
        REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
        return std::move(store.value());
    }

    std::shared_ptr<const forms::CompiledForm> form(const std::string& id) {
        auto installed = store.form(id, 1);
        REQUIRE(installed);
        auto compiled = forms::CompiledForm::load(installed.value().binary);
        REQUIRE(compiled);
        return compiled.value();
    }

    // An intake finalized without the UI (and without randomising): the case it opens.
    Uuid addCase(const std::string& name, const std::string& municipality, const std::string& bsn,
                 const std::string& nextContact = {}) {
        auto session = forms::FormSession::start(form("t_intake"), "nl");
        REQUIRE(session.setAnswer({"name", {}}, name));
        REQUIRE(session.setAnswer({"municipality", {}}, ChoiceAnswer{municipality, {}}));
        REQUIRE(session.setAnswer({"randomise", {}}, ChoiceAnswer{"no", {}}));
        if (!bsn.empty()) {
            auto normalized = pseudonym::normalize(fb::IdentifierScheme::Bsn, bsn);
            REQUIRE(normalized);
            REQUIRE(session.setAnswer(
                {"bsn", {}},
                pseudonym::make(testKey(), fb::IdentifierScheme::Bsn, normalized.value())));
        }
        if (!nextContact.empty()) {
            const auto days = expr::parseIsoDate(nextContact);
            REQUIRE(days);
            REQUIRE(session.setAnswer({"next_contact", {}},
                                      DateAnswer{static_cast<std::int32_t>(*days)}));
        }
        auto content = session.finalContent();
        REQUIRE_MESSAGE(content, (content ? "" : content.error().describe()));
        REQUIRE(content.value().caseId);
        auto done = store.finalizeNew(content.value(), name);
        REQUIRE_MESSAGE(done, (done ? "" : done.error().describe()));
        return *content.value().caseId;
    }

    // Closes a case with the closing form.
    void closeCase(const Uuid& id) {
        auto info = store.caseInfo(id);
        REQUIRE(info);
        const auto context = forms::CaseContext::of(info.value());
        auto session = forms::FormSession::start(form("t_close"), "nl", &context);
        REQUIRE(session.setAnswer({"reason", {}}, std::string("verhuisd")));
        auto content = session.finalContent();
        REQUIRE(content);
        REQUIRE(store.finalizeNew(content.value()));
    }

    // The study "trial" as the collector would describe it, with `blocks` blocks of two slots
    // dealt for each municipality in `municipalities`, sealed to this device's key.
    void giveSlots(const std::vector<std::string>& municipalities, std::uint32_t blocks,
                   std::uint32_t lowSlots) {
        alloc::Study study;
        study.id = "trial";
        study.pilot = "ips";
        study.arms = {{"ips", 1}, {"usual_care", 1}};
        study.factors = {{"municipality", {"utrecht", "amersfoort"}}};
        study.blockSizes = {2};
        for (std::size_t i = 0; i < study.seed.size(); ++i)
            study.seed[i] = static_cast<std::uint8_t>(i * 7 + 3);
        study.lowSlots = lowSlots;
        DeviceStudy device{study.id, study.pilot, {"ips", "usual_care"}, {}, lowSlots};
        device.factors.emplace_back("municipality",
                                    std::vector<std::string>{"utrecht", "amersfoort"});
        REQUIRE(store.setStudies(std::vector<DeviceStudy>{device}));
        auto key = store.boxPublicKey();
        REQUIRE(key);
        std::vector<SealedSlotIn> sealed;
        for (const auto& m : municipalities) {
            const std::string stratum = alloc::stratumKey({{"municipality", m}});
            for (std::uint32_t b = 0; b < blocks; ++b) {
                const auto block = alloc::generateBlock(study, stratum, b);
                for (std::uint32_t p = 0; p < block.arms.size(); ++p) {
                    const alloc::Slot slot{study.id, stratum, b, p, block.arms[p], block.tokens[p]};
                    sealed.push_back({study.id, stratum, b, p, alloc::sealSlot(slot, *key)});
                }
            }
        }
        REQUIRE(store.addAllocationSlots(sealed));
    }

    std::vector<RecordSummary> records(const std::string& formId, RecordStatus status) {
        ListQuery q;
        q.formId = formId;
        q.status = status;
        auto page = store.list(q);
        REQUIRE(page);
        return page.value().rows;
    }
};

// Fills the intake on the filling screen through the UI.
void fillIntake(UiDriver& ui, const std::string& name, const std::string& municipality,
                bool randomise) {
    REQUIRE(ui.app().screen == Screen::Fill);
    ui.type("q.name", name);
    ui.click("q.municipality." + municipality);
    ui.click(std::string("q.randomise.") + (randomise ? "yes" : "no"));
}

// Clicks a widget over three frames without waiting for background work, as a person does
// while it runs.
void clickNow(UiDriver& ui, const std::string& id) {
    const auto* r = ui.item(id);
    REQUIRE_MESSAGE(r, "no widget " << id);
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = ImVec2((r->min.x + r->max.x) / 2, (r->min.y + r->max.y) / 2);
    ui.frame();
    io.MouseDown[0] = true;
    ui.frame();
    io.MouseDown[0] = false;
    ui.frame();
}

}  // namespace

TEST_CASE("cases: the list finds a case by its text and by a typed BSN, closed ones on request") {
    Device d;
    const Uuid anna = d.addCase("Anna", "utrecht", "111222333", "2020-03-01");
    const Uuid bram = d.addCase("Bram", "amersfoort", "123456782", "2099-01-01");
    const Uuid cees = d.addCase("Cees", "utrecht", "");
    d.closeCase(cees);
    const auto row = [](const Uuid& id) { return "cases.row." + id.toString(); };

    UiDriver ui(d.path);
    ui.click("nav.cases");
    CHECK(ui.has(row(anna)));
    CHECK(ui.has(row(bram)));
    CHECK_FALSE(ui.has(row(cees)));
    CHECK(ui.item(row(anna))->text == "Anna");
    // A planned contact in the past is marked overdue; one in the future is not.
    CHECK(ui.item("cases.next." + anna.toString())->text == "2020-03-01 (te laat)");
    CHECK(ui.item("cases.next." + bram.toString())->text == "2099-01-01");

    // Text matches properties, ASCII case-insensitively.
    ui.type("cases.search", "ANN");
    CHECK(ui.has(row(anna)));
    CHECK_FALSE(ui.has(row(bram)));
    CHECK_FALSE(ui.showsText("pseudoniem van dit BSN"));

    // A typed BSN finds its participant by the pseudonym, which no property holds.
    ui.clearText("cases.search");
    ui.type("cases.search", "1234.56.782");
    CHECK(ui.has(row(bram)));
    CHECK_FALSE(ui.has(row(anna)));
    CHECK(ui.showsText("pseudoniem van dit BSN"));
    // A BSN failing the eleven-test is only text: it finds nobody.
    ui.clearText("cases.search");
    ui.type("cases.search", "123456783");
    CHECK(ui.ids("cases.row.").empty());
    CHECK(ui.showsText("Geen casussen gevonden."));

    // Closed cases on request, marked as closed.
    ui.clearText("cases.search");
    ui.click("cases.closed");
    REQUIRE(ui.has(row(cees)));
    CHECK(ui.item(row(cees))->text == "Cees (afgesloten)");

    // A typed BSN does not stay in memory once the screen is left, by a tab or by starting a
    // form for the case it found.
    ui.type("cases.search", "123456782");
    CHECK(ui.has(row(bram)));
    ui.click("nav.home");
    CHECK(ui.app().cases.search.empty());
    ui.click("nav.cases");
    ui.type("cases.search", "123456782");
    ui.click(row(bram));
    ui.click("case.start.t_visit");
    REQUIRE(ui.app().screen == Screen::Fill);
    CHECK(ui.app().cases.search.empty());
}

TEST_CASE("cases: a follow-up starts from its case, prefilled, and changes the case at finalize") {
    Device d;
    const Uuid anna = d.addCase("Anna", "utrecht", "111222333", "2020-03-01");

    UiDriver ui(d.path);
    // Forms that need a case are not started from the home screen; open ones are.
    REQUIRE(ui.has("home.new.t_visit"));
    CHECK_FALSE(ui.item("home.new.t_visit")->enabled);
    CHECK_FALSE(ui.item("home.new.t_close")->enabled);
    CHECK(ui.has("home.needs_case.t_visit"));
    CHECK(ui.item("home.new.t_intake")->enabled);
    CHECK(ui.item("home.new.t_plain")->enabled);

    ui.click("home.cases.t_visit");
    REQUIRE(ui.app().screen == Screen::Cases);
    ui.click("cases.row." + anna.toString());
    CHECK(ui.item("case.title")->text == "Anna");
    CHECK(ui.item("case.prop.municipality")->text == "utrecht");
    CHECK(ui.item("case.prop.status")->text == "open");
    // The intake that opened the case is its record on this device.
    CHECK(ui.ids("case.record.").size() == 1);
    // The follow-up and closing forms of this case type; not the intake, nor the plain form.
    CHECK(ui.has("case.start.t_visit"));
    CHECK(ui.has("case.start.t_close"));
    CHECK_FALSE(ui.has("case.start.t_intake"));
    CHECK_FALSE(ui.has("case.start.t_plain"));

    ui.click("case.start.t_visit");
    REQUIRE(ui.app().screen == Screen::Fill);
    CHECK(ui.showsText("Casus: Anna"));
    auto& session = *ui.app().fill.view.session;
    CHECK(session.caseId() == anna);
    // The question that sets a property starts with the case's value; ${case.label} is read.
    const auto municipality = session.answer({"municipality", {}});
    REQUIRE(municipality);
    CHECK(std::get<ChoiceAnswer>(*municipality).choice == "utrecht");
    const auto greeting = session.answer({"greeting", {}});
    REQUIRE(greeting);
    CHECK(std::get<std::string>(*greeting) == "Bezoek aan Anna");

    // The planned contact shows the case's date (day first, as the field shows dates); the field
    // worker plans the next one, here typed as ISO.
    CHECK(ui.item("q.next_contact")->text == "01-03-2020");
    ui.click("q.municipality.amersfoort");
    ui.clearText("q.next_contact");
    ui.type("q.next_contact", "2099-06-01");
    ui.click("fill.finalize");
    // Back on the case, which the finalize changed; its new record is listed.
    REQUIRE(ui.app().screen == Screen::Cases);
    CHECK(ui.item("case.prop.municipality")->text == "amersfoort");
    CHECK(ui.item("case.prop.next_contact")->text == "2099-06-01");
    CHECK(ui.ids("case.record.").size() == 2);
    CHECK(ui.item("cases.next." + anna.toString())->text == "2099-06-01");
    auto info = d.store.caseInfo(anna);
    REQUIRE(info);
    CHECK(info.value().property("municipality") == "amersfoort");
    CHECK(d.records("t_visit", RecordStatus::Finalized).size() == 1);

    // Closing it: it leaves the list of open cases, and cannot be closed again.
    ui.click("case.start.t_close");
    ui.type("q.reason", "werk gevonden");
    ui.click("fill.finalize");
    REQUIRE(ui.app().screen == Screen::Cases);
    CHECK_FALSE(ui.has("cases.row." + anna.toString()));
    CHECK(ui.showsText("Deze casus is afgesloten."));
    CHECK_FALSE(ui.has("case.start.t_close"));
    CHECK(d.store.caseInfo(anna).value().closed);
}

TEST_CASE("cases: a randomising intake warns before finalize and shows the arm the store took") {
    Device d;
    d.giveSlots({"utrecht", "amersfoort"}, 1, 2);  // two slots each; low below two

    UiDriver ui(d.path);
    ui.click("nav.cases");
    CHECK(ui.ids("stock.low.").empty());
    ui.click("cases.new.t_intake");
    fillIntake(ui, "Dirk", "utrecht", true);
    ui.click("fill.finalize");
    // The confirmation names the study and says it cannot be undone; nothing is finalized yet.
    REQUIRE(ui.has("fill.randomise.text"));
    CHECK(ui.item("fill.randomise.text")->text ==
          "De deelnemer wordt bij afronden ingedeeld in studie trial; dit kan niet ongedaan "
          "worden gemaakt.");
    CHECK_FALSE(ui.has("fill.randomise.no_stock"));
    CHECK(d.records("t_intake", RecordStatus::Finalized).empty());
    ui.click("fill.randomise.cancel");
    CHECK(ui.app().screen == Screen::Fill);
    CHECK_FALSE(ui.has("fill.randomise.text"));
    CHECK(d.records("t_intake", RecordStatus::Finalized).empty());

    ui.click("fill.finalize");
    ui.click("fill.randomise.confirm");
    // The arm as the store wrote it into the log and the case, until acknowledged.
    auto log = d.store.allocationLog();
    REQUIRE(log);
    REQUIRE(log.value().size() == 1);
    const std::string arm = log.value()[0].allocation.arm;
    CHECK((arm == "ips" || arm == "usual_care"));
    REQUIRE(ui.has("allocated.arm"));
    CHECK(ui.item("allocated.arm")->text == arm);
    CHECK(ui.showsText("trial"));
    const Uuid caseId = log.value()[0].caseId;
    CHECK(d.store.caseInfo(caseId).value().property("arm") == arm);
    ui.click("allocated.ok");
    CHECK_FALSE(ui.has("allocated.arm"));
    // Back on the case screen, with the new case and its arm; one slot of utrecht is left, which
    // is below the low mark: the warning appears at once.
    REQUIRE(ui.app().screen == Screen::Cases);
    CHECK(ui.item("cases.arm." + caseId.toString())->text == arm);
    CHECK(ui.item("case.prop.arm")->text == arm);
    REQUIRE(ui.ids("stock.low.").size() == 1);
    CHECK(ui.item("stock.low.0")->text ==
          "Bijna geen toewijzingen meer voor trial municipality utrecht: synchroniseer met de "
          "centrale server");
    ui.click("nav.home");
    CHECK(ui.has("stock.low.0"));

    // An intake that does not randomise finalizes without asking.
    ui.click("home.new.t_intake");
    fillIntake(ui, "Eva", "amersfoort", false);
    ui.click("fill.finalize");
    CHECK_FALSE(ui.has("fill.randomise.text"));
    CHECK_FALSE(ui.has("allocated.arm"));
    CHECK(ui.app().screen == Screen::Home);
    CHECK(d.records("t_intake", RecordStatus::Finalized).size() == 2);
}

TEST_CASE("cases: with no allocation left, finalizing says why in Dutch and keeps the draft") {
    Device d;
    d.giveSlots({"amersfoort"}, 1, 0);  // nothing for utrecht

    UiDriver ui(d.path);
    // The home screen warns about the empty stratum before anyone is enrolled.
    REQUIRE(ui.has("stock.low.0"));
    CHECK(ui.item("stock.low.0")->text ==
          "Geen toewijzingen meer voor trial municipality utrecht: synchroniseer met de centrale "
          "server voordat u iemand indeelt");
    CHECK(ui.ids("stock.low.").size() == 1);

    ui.click("home.new.t_intake");
    fillIntake(ui, "Fenna", "utrecht", true);
    ui.click("fill.finalize");
    CHECK(ui.has("fill.randomise.no_stock"));
    ui.click("fill.randomise.confirm");
    // The store's reason in a Dutch frame; still filling, with the draft kept and no case.
    CHECK(ui.app().screen == Screen::Fill);
    REQUIRE(ui.has("fill.allocation_error"));
    const std::string shown = ui.item("fill.allocation_error")->text;
    CHECK(shown ==
          "Kan niet indelen: dit apparaat heeft geen toewijzingen meer voor dit stratum "
          "(synchroniseer met de centrale server). Het concept is bewaard.");
    CHECK_FALSE(ui.has("allocated.arm"));
    CHECK(d.records("t_intake", RecordStatus::Finalized).empty());
    const auto drafts = d.records("t_intake", RecordStatus::Draft);
    REQUIRE(drafts.size() == 1);
    auto draft = d.store.get(drafts[0].id);
    REQUIRE(draft);
    CHECK(draft.value().record.content.answers.size() >= 3);
    CaseQuery all;
    all.includeClosed = true;
    CHECK(d.store.cases(all).value().empty());
    CHECK(d.store.allocationLog().value().empty());

    // Not randomising after all: the same draft finalizes, the message goes.
    ui.click("q.randomise.no");
    ui.click("fill.finalize");
    CHECK(ui.app().screen == Screen::Home);
    CHECK(d.records("t_intake", RecordStatus::Finalized).size() == 1);
    CHECK(d.records("t_intake", RecordStatus::Draft).empty());
}

TEST_CASE("cases: leaving while an allocating finalize runs is not possible, the arm is shown") {
    Device d;
    d.giveSlots({"utrecht"}, 1, 0);

    UiDriver ui(d.path);
    ui.click("home.new.t_intake");
    fillIntake(ui, "Gijs", "utrecht", true);
    ui.click("fill.finalize");
    REQUIRE(ui.has("fill.randomise.confirm"));
    // The store is slow: the finalize waits behind other work.
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    ui.app().worker.run(
        [gate] {
            gate.wait();
            return 0;
        },
        [](int) {});
    clickNow(ui, "fill.randomise.confirm");
    ui.frame();  // the finalize is posted
    ui.frame();
    REQUIRE(ui.app().fill.finalizing);
    CHECK_FALSE(ui.item("nav.home")->enabled);
    CHECK_FALSE(ui.item("nav.cases")->enabled);
    CHECK_FALSE(ui.item("fill.close")->enabled);
    clickNow(ui, "nav.records");  // a click anyway changes nothing
    CHECK(ui.app().screen == Screen::Fill);
    release.set_value();
    ui.settle();

    // The arm reaches the field worker.
    auto log = d.store.allocationLog();
    REQUIRE(log);
    REQUIRE(log.value().size() == 1);
    REQUIRE(ui.has("allocated.arm"));
    CHECK(ui.item("allocated.arm")->text == log.value()[0].allocation.arm);
    ui.click("allocated.ok");
    CHECK(ui.item("nav.home")->enabled);
}

TEST_CASE("cases: a BSN typed in search is wiped on leaving, also without a pseudonym key") {
    Device d;
    const Uuid bram = d.addCase("Bram", "amersfoort", "123456782");
    REQUIRE(d.store.setSetting(pseudonym::kKeySetting, ""));

    UiDriver ui(d.path);
    ui.click("nav.cases");
    REQUIRE(ui.has("cases.row." + bram.toString()));
    // Without the key the number cannot be turned into a pseudonym: it is searched as text only.
    ui.type("cases.search", "123456782");
    CHECK_FALSE(ui.app().cases.bsnSearch);
    ui.click("nav.home");
    CHECK(ui.app().cases.search.empty());
    // A search by name stays when the screen is left.
    ui.click("nav.cases");
    ui.type("cases.search", "Bram 2");
    ui.click("nav.home");
    CHECK(ui.app().cases.search == "Bram 2");
}

TEST_CASE("cases: choosing another case while the first one's details load shows the second") {
    Device d;
    const Uuid anna = d.addCase("Anna", "utrecht", "");
    const Uuid bram = d.addCase("Bram", "amersfoort", "");

    UiDriver ui(d.path);
    ui.click("nav.cases");
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    ui.app().worker.run(
        [gate] {
            gate.wait();
            return 0;
        },
        [](int) {});
    clickNow(ui, "cases.row." + anna.toString());
    ui.frame();  // Anna's details are asked for
    clickNow(ui, "cases.row." + bram.toString());
    release.set_value();
    ui.settle();
    REQUIRE(ui.has("case.title"));
    CHECK(ui.item("case.title")->text == "Bram");
}
