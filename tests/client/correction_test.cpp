// Corrections end to end: a real collector on loopback, a device store the real client (headless)
// fills, central staff's verdict through the admin API as the console sends it, the client's
// "Terug van centraal", and the export read by another program (Python's csv module).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include <veld/project_key.hpp>
#include <veld/record.hpp>
#include <veld/store.hpp>
#include <veld/sync/admin_client.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/uploader.hpp>

#include "form_filling.hpp"
#include "support/sync_support.hpp"
#include "support/test_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using namespace veld::client;
using namespace veld::client::testing;

namespace {

// Pushes and pulls once through the real uploader, as the client's background sync does.
void syncDevice(const std::string& path, const sync::Connection& connection) {
    auto store = Store::open(path);
    REQUIRE_MESSAGE(store, store.error().describe());
    REQUIRE(veld::test::syncUntilDone(store.value(), connection, {}, 3) == 0);
}

std::vector<RecordSummary> recordsOfForm(const std::string& path, const std::string& formId) {
    auto store = Store::open(path);
    REQUIRE(store);
    ListQuery q;
    q.formId = formId;
    auto page = store->list(q);
    REQUIRE(page);
    return page->rows;
}

// A collector on loopback with the pilot forms, and a device store (enrolled) whose one record
// of `form` was filled in the client and sent.
struct Field {
    veld::test::TempDir dir;
    veld::test::CollectorProcess collector{veld::test::testCollectorLocation(dir)};
    std::string path;
    sync::Connection device;
    Uuid deviceId;
    RecordSummary made;

    Field(const std::string& form, const std::string& text) {
        veld::test::publishPilotForms(collector);
        collector.start();
        path = pilotFormsStore(dir);
        // Sealed forms need the project key to seal to.
        auto locked = projectkey::create("corrections", "corrections tests passphrase",
                                         1'764'000'000'000, projectkey::Strength::Interactive);
        REQUIRE(locked);
        {
            auto store = Store::open(path);
            REQUIRE(store);
            REQUIRE(store->setSetting(projectkey::kKeySetting,
                                      projectkey::formatPublicKey(locked->publicKey)));
        }
        {
            UiDriver ui(path);
            ui.click("home.new." + form);
            fillAndFinalize(ui, text);
            CHECK_FALSE(ui.has("home.corrections"));  // nothing came back yet
        }
        {
            auto store = Store::open(path);
            REQUIRE(store);
            device = veld::test::enrolDevice(store.value(), collector);
            deviceId = store->deviceId();
        }
        syncDevice(path, device);
        const auto records = recordsOfForm(path, form);
        REQUIRE(records.size() == 1);
        made = records[0];
        CHECK(made.status == RecordStatus::Sent);
    }
};

std::string textAnswer(const RecordContent& content, const std::string& name) {
    for (const auto& a : content.answers) {
        if (a.name == name) {
            if (const auto* s = std::get_if<std::string>(&a.value)) return *s;
        }
    }
    return "<absent>";
}

}  // namespace

TEST_CASE("corrections: a record sent back by staff is corrected in the client and exported") {
    const std::string form = "diversity_barometer_intake";
    Field f(form, "Bakkerij De Korenaar");
    veld::test::CollectorProcess& collector = f.collector;
    const std::string& path = f.path;
    const sync::Connection& device = f.device;
    const RecordSummary& made = f.made;
    const Uuid recordId = made.id;

    // Staff send it back through the admin API, as the console does.
    sync::Connection console;
    console.collector = collector.url();
    console.credential = veld::test::addAdmin(collector, "anna");
    sync::AdminClient staff(console);
    const std::string comment = "Graag de statutaire naam van de organisatie";
    auto marked = staff.review({recordId, sync::ReviewState::HasIssues, comment});
    REQUIRE_MESSAGE(marked, marked.error().describe());
    syncDevice(path, device);

    {
        UiDriver ui(path);
        ui.settle();
        // The start screen: what came back, with staff's comment.
        REQUIRE(ui.has("home.corrections.count"));
        CHECK(ui.showsText("Terug van centraal"));
        CHECK(ui.item("home.corrections.count")->text == "1 record om te corrigeren");
        CHECK(ui.item("home.corrections.0.comment")->text == "\"" + comment + "\"");
        // The record itself shows the comment, then "Corrigeren".
        ui.click("home.corrections.0.open");
        ui.settle();
        REQUIRE(ui.app().fill.viewing);
        CHECK(ui.item("fill.correction.comment")->text == "\"" + comment + "\"");
        ui.click("fill.correction.correct");
        ui.settle();
        // A draft of the same record, on its form, with the answers it had.
        REQUIRE(ui.app().screen == Screen::Fill);
        CHECK_FALSE(ui.app().fill.viewing);
        CHECK(ui.app().fill.recordId == recordId);
        REQUIRE(ui.has("fill.correcting"));
        CHECK(ui.item("fill.correcting")->text.find(comment) != std::string::npos);
        ui.clearText("q.organisation_name");
        ui.type("q.organisation_name", "Bakkerij Het Korenaar B.V.");
        fillAndFinalize(ui, "unused");
        ui.settle();
        CHECK(ui.app().screen == Screen::Home);
        // Sent from here on: waiting for staff, no second correction.
        REQUIRE(ui.has("home.corrections.0.sent"));
        CHECK_FALSE(ui.has("home.corrections.0.correct"));
        CHECK(ui.has("home.corrections"));
        CHECK_FALSE(ui.has("home.corrections.count"));
    }
    {
        // One record still, its new revision waiting to go up with the revision it came from.
        auto store = Store::open(path);
        REQUIRE(store);
        auto pending = store->outboxPending(10, 1 << 20);
        REQUIRE(pending);
        REQUIRE(pending->size() == 1);
        CHECK(pending->front().recordId == recordId);
        CHECK(pending->front().baseHlc == made.hlc.value);
        // The draft could not be thrown away meanwhile, and it cannot be reopened twice.
        auto again = store->reopenForCorrection(recordId);
        REQUIRE_FALSE(again);
        CHECK(again.error().code == ErrorCode::WrongState);
    }
    syncDevice(path, device);

    // The collector: a new revision of the record, the review "corrected", history kept.
    auto review = staff.review({recordId, std::nullopt, {}});
    REQUIRE(review);
    CHECK(review->state == sync::ReviewState::Corrected);
    REQUIRE(review->history.size() == 2);
    CHECK(review->history[0].actor == "admin:anna");
    CHECK(review->history[1].state == sync::ReviewState::Corrected);
    auto detail = staff.record(recordId);
    REQUIRE(detail);
    CHECK(detail->revisions.size() == 2);
    auto current = collector.open()->current(recordId);
    REQUIRE(current);
    REQUIRE(current->has_value());
    auto decoded = decodeRecord((*current)->body);
    REQUIRE(decoded);
    CHECK(textAnswer(decoded->content, "organisation_name") == "Bakkerij Het Korenaar B.V.");

    // The export holds the corrected values and the review's history (read by Python).
    const std::string out = f.dir.file("export");
    const auto exported =
        veld::test::veldctl({"export", collector.storePath(), form, "--out", out});
    REQUIRE_MESSAGE(exported.exitCode == 0, exported.err);
    const std::string script = f.dir.file("read.py");
    std::ofstream(script) << R"py(import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8')))
assert len(rows) == 1, rows
row = rows[0]
print(row['organisation_name'])
print(row['review'])
print(row['review_history'])
)py";
    const auto read =
        veld::test::runProcess({"/usr/bin/python3", script, out + "/" + form + ".csv"});
    REQUIRE_MESSAGE(read.exitCode == 0, read.err);
    std::istringstream lines(read.out);
    std::string name, state, history;
    std::getline(lines, name);
    std::getline(lines, state);
    std::getline(lines, history);
    CHECK(name == "Bakkerij Het Korenaar B.V.");
    CHECK(state == "4");
    CHECK(history.find("has-issues (admin:anna): " + comment) != std::string::npos);
    CHECK(history.find("corrected (device " + f.deviceId.toString() + ")") != std::string::npos);

    // Staff approve it: the device drops it at its next pull.
    REQUIRE(staff.review({recordId, sync::ReviewState::Approved, "akkoord"}));
    syncDevice(path, device);
    UiDriver ui(path);
    ui.settle();
    CHECK_FALSE(ui.has("home.corrections"));
}

TEST_CASE("corrections: a sealed record comes back with the comment and cannot be reopened") {
    const std::string form = "job_retention_log";  // a sealed form
    Field f(form, "gesprek met werkgever");
    const std::string& path = f.path;
    const sync::Connection& device = f.device;
    const RecordSummary& sent = f.made;
    auto staff = f.collector.open();
    REQUIRE(staff->setReview(sent.id, sync::ReviewState::HasIssues, "Dubbel ingevoerd?",
                             static_cast<std::int64_t>(sent.hlc.millis()), "anna"));
    syncDevice(path, device);

    {
        auto store = Store::open(path);
        REQUIRE(store);
        auto reopened = store->reopenForCorrection(sent.id);
        REQUIRE_FALSE(reopened);
        CHECK(reopened.error().code == ErrorCode::WrongState);
        CHECK(store->get(sent.id)->meta.status == RecordStatus::Sent);  // nothing changed
    }
    UiDriver ui(path);
    ui.settle();
    REQUIRE(ui.has("home.corrections.0.sealed"));
    CHECK(ui.item("home.corrections.0.comment")->text == "\"Dubbel ingevoerd?\"");
    CHECK_FALSE(ui.has("home.corrections.0.correct"));
    // A new record of the form can be started from here.
    ui.click("home.corrections.0.new");
    ui.settle();
    CHECK(ui.app().screen == Screen::Fill);
    CHECK_FALSE(ui.app().fill.viewing);
    CHECK(ui.app().fill.view.form->form().id()->str() == form);
}
