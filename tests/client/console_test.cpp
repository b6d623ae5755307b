// Central staff's console, headless, against a real collector: three devices send records of two
// pilot forms, one record is edited blind on another device (a conflict) and one participant is
// entered twice (a duplicate). Staff settle both, review a record and export through the
// console's tabs; what they did is checked in the collector's store and in the files.
#include "console/console.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/project_key.hpp>
#include <veld/record.hpp>
#include <veld/sealed_record.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"
#include "ui_driver.hpp"
#include "veldctl/demo.hpp"

using namespace veld;
using veld::client::testing::ConsoleDriver;

namespace {

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Names of the first two top-level text answers of `content`, if it has two.
std::vector<std::string> twoTextAnswers(const RecordContent& content) {
    std::vector<std::string> names;
    for (const auto& a : content.answers) {
        if (std::holds_alternative<std::string>(a.value)) names.push_back(a.name);
        if (names.size() == 2) break;
    }
    return names;
}

const Answer* answerOf(const RecordContent& c, const std::string& name) {
    for (const auto& a : c.answers) {
        if (a.name == name) return &a;
    }
    return nullptr;
}

struct Scenario {
    test::TempDir dir;
    std::unique_ptr<test::CollectorProcess> collector;
    std::vector<std::unique_ptr<Store>> devices;
    Record conflicted;                // device 0's record, as it sent it
    std::vector<std::string> edited;  // the two answers device 2 changed blind
    Record duplicated;                // device 0's record whose participant device 2 entered again
    std::map<std::string, int> recordsPerForm;
    std::string admin;

    Scenario() {
        const std::string forms = dir.file("forms");
        std::filesystem::create_directories(forms);
        for (const char* f : {"ips_guidance.json", "mbo_work_transition.json"}) {
            std::filesystem::copy_file(std::string(VELD_SOURCE_DIR) + "/schemas/forms/" + f,
                                       forms + "/" + f);
        }
        collector = std::make_unique<test::CollectorProcess>(test::testCollectorLocation(dir));
        REQUIRE(test::veldctl({"collector", "publish", collector->storePath(),
                               forms + "/ips_guidance.json", forms + "/mbo_work_transition.json"})
                    .exitCode == 0);
        collector->start();
        for (int d = 0; d < 3; ++d) {
            devices.push_back(std::make_unique<Store>(
                test::openDevice(dir.file("device" + std::to_string(d) + ".veld"))));
            Store& device = *devices.back();
            REQUIRE(veldctl::setUpDemo(device, forms));
            const auto added =
                veldctl::addDemoRecords(device, 12, 40 + static_cast<std::uint32_t>(d));
            REQUIRE_MESSAGE(added, added.error().describe());
            test::enrolDevice(device, *collector);
            auto round = sync::syncOnce(device, sync::loadConnection(device).value(), {});
            REQUIRE_MESSAGE(round, round.error().describe());
        }
        // Device 0's records: one with two text answers to edit, one with a pseudonym.
        ListQuery all;
        all.limit = 1000;
        auto pending = devices[0]->list(all);
        REQUIRE(pending);
        bool haveConflict = false, haveDuplicate = false;
        for (const auto& row : pending->rows) {
            auto got = devices[0]->get(row.id);
            REQUIRE(got);
            if (got->meta.status != RecordStatus::Sent) continue;
            const Record& r = got->record;
            ++recordsPerForm[r.content.formId];
            if (!haveConflict && twoTextAnswers(r.content).size() == 2) {
                conflicted = r;
                edited = twoTextAnswers(r.content);
                haveConflict = true;
                continue;
            }
            if (!haveDuplicate) {
                for (const auto& a : r.content.answers) {
                    if (std::holds_alternative<PseudonymAnswer>(a.value)) haveDuplicate = true;
                }
                if (haveDuplicate) duplicated = r;
            }
        }
        REQUIRE(haveConflict);
        REQUIRE(haveDuplicate);
        // Device 2 edits the record blind and enters the same participant again (a new record
        // with the same pseudonym): a conflict and a likely duplicate.
        Store& editor = *devices[2];
        Record edit = conflicted;
        edit.deviceId = editor.deviceId();
        edit.hlc = HlcTimestamp::make(conflicted.hlc.millis() + 5000, 0);
        for (auto& a : edit.content.answers) {
            if (a.name == edited[0]) a.value = std::string("Versie C, eerste");
            if (a.name == edited[1]) a.value = std::string("Versie C, tweede");
        }
        Record again = duplicated;
        again.id = makeUuidV7(SystemClock::instance());
        again.deviceId = editor.deviceId();
        again.hlc = HlcTimestamp::make(duplicated.hlc.millis() + 6000, 0);
        again.createdHlc = again.hlc;
        auto connection = sync::loadConnection(editor);
        REQUIRE(connection);
        // Sequence numbers follow the device's own outbox, gap-free.
        std::uint64_t seq = 0;
        auto held = collector->open()->devices();
        REQUIRE(held);
        for (const auto& d : held.value()) {
            if (d.deviceId == editor.deviceId()) seq = d.receivedThrough + 1;
        }
        REQUIRE(seq > 1);
        const auto reply = test::postPush(
            *collector, connection.value(),
            test::pushBody(editor.deviceId(), {{seq, edit, 0}, {seq + 1, again, 0}}));
        for (const auto& r : reply.results)
            REQUIRE(r.outcome == sync::RevisionOutcome::Stored);
        admin = test::addAdmin(*collector, "fatima");
    }

    [[nodiscard]] sync::Connection connection(const std::string& credential) const {
        sync::Connection c;
        c.collector = collector->url();
        c.credential = credential;
        return c;
    }
};

using test::pushCaseRecord;

// Settles the scenario's conflict through the admin API: the first edited answer from B.
void mergeFirstFromB(const Scenario& s) {
    sync::AdminClient staff(s.connection(s.admin));
    auto open = staff.conflicts();
    REQUIRE(open);
    REQUIRE(open->size() == 1);
    sync::admin::ResolveRequest merge;
    merge.conflictId = open->front().id;
    merge.resolution.kind = sync::ConflictResolution::Kind::Merge;
    merge.resolution.fromB = {s.edited[0]};
    REQUIRE(staff.resolve(merge));
}

}  // namespace

TEST_CASE("console: staff choose a value for a case conflict and see a study's balance checked") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const std::int64_t now = wallMs();
    const auto at = [&](int ms) {
        return HlcTimestamp::make(static_cast<std::uint64_t>(now + ms), 0);
    };
    Uuid a, b;
    const Uuid caseId = makeUuidV4();
    std::optional<alloc::Slot> secondSlot;  // of the block dealt to A, used later
    {
        auto store = collector.open();
        for (auto [device, label] : {std::pair{&a, "tablet-a"}, std::pair{&b, "tablet-b"}}) {
            sync::EnrolRequest request;
            request.code = store->createEnrolCode(label, now, "test").value();
            request.deviceId = makeUuidV4();
            REQUIRE(store->enrol(request, now));
            *device = request.deviceId;
        }
        // Two devices name the participant differently without seeing each other's change.
        pushCaseRecord(*store, a, 1, caseId, at(1), {{"label", "Anna K.", {}}});
        pushCaseRecord(*store, b, 1, caseId, at(2), {{"label", "Anne K.", {}}});
        // A study, and one allocation device A took from the first slot it was dealt.
        sync::StudyDefinition study;
        study.study.id = "trial";
        study.study.pilot = "ips";
        study.study.arms = {{"ips", 1}, {"usual_care", 1}};
        study.study.blockSizes = {2};
        REQUIRE(store->defineStudy(study, now, "test"));
        const auto keys = alloc::newBoxKeyPair();
        sync::PullRequest pull;
        pull.deviceBoxKey.assign(keys.first.begin(), keys.first.end());
        auto pulled = store->pull(a, pull, 16, now);
        REQUIRE(pulled);
        REQUIRE_FALSE(pulled->blocks.empty());
        const auto slot =
            alloc::openSlot(pulled->blocks.front().slots.front().box, keys.first, keys.second)
                .value();
        pushCaseRecord(*store, a, 2, makeUuidV4(), at(3), {{"arm", slot.arm, {}}},
                       alloc::allocationOf(slot, 1, now));
        REQUIRE(pulled->blocks.front().slots.size() == 2);
        secondSlot =
            alloc::openSlot(pulled->blocks.front().slots[1].box, keys.first, keys.second).value();
    }
    collector.start();
    const auto open = collector.open()->caseConflicts(false);
    REQUIRE(open);
    REQUIRE(open->size() == 1);
    const std::string key = "case_conflict." + std::to_string(open->front().id);
    sync::Connection connection;
    connection.collector = collector.url();
    connection.credential = test::addAdmin(collector, "fatima");

    ConsoleDriver ui(connection);
    ui.click("tab.cases");
    // The case, the property, and both values with the device and time that set them.
    REQUIRE(ui.has(key + ".property"));
    CHECK(ui.item(key + ".case")->text == caseId.toString().substr(0, 8));
    CHECK(ui.item(key + ".property")->text == "label");
    CHECK(ui.item(key + ".a")->text.rfind("Anna K. (tablet-a, ", 0) == 0);
    CHECK(ui.item(key + ".b")->text.rfind("Anne K. (tablet-b, ", 0) == 0);
    // The study: one allocation, its stratum's balance, and a log that checks out.
    CHECK(ui.item("study.trial.title")->text == "Studie trial (ips): 1 deelnemer toegewezen");
    const std::string armCell = ui.item("study.trial.stratum.." + std::string("ips"))->text;
    const std::string otherCell = ui.item("study.trial.stratum..usual_care")->text;
    CHECK(((armCell == "1 (doel 0,5)" && otherCell == "0 (doel 0,5)") ||
           (armCell == "0 (doel 0,5)" && otherCell == "1 (doel 0,5)")));
    CHECK(ui.item("study.trial.verify")->text ==
          "Het toewijzingslogboek klopt: 1 toewijzing van 1 apparaat, nagerekend met de reeks.");
    // The block's second slot: a whole target for each arm, shown as a whole number.
    pushCaseRecord(*collector.open(), a, 3, makeUuidV4(), at(4), {{"arm", secondSlot->arm, {}}},
                   alloc::allocationOf(*secondSlot, 2, now));
    ui.click("console.refresh");
    ui.click("tab.cases");
    CHECK(ui.item("study.trial.title")->text == "Studie trial (ips): 2 deelnemers toegewezen");
    CHECK(ui.item("study.trial.stratum..ips")->text == "1 (doel 1)");
    CHECK(ui.item("study.trial.stratum..usual_care")->text == "1 (doel 1)");
    CHECK(ui.item("study.trial.verify")->text ==
          "Het toewijzingslogboek klopt: 2 toewijzingen van 1 apparaat, nagerekend met de reeks.");

    ui.type(key + ".comment", "nagevraagd bij de deelnemer");
    ui.click(key + ".choose_b");
    CHECK_FALSE(ui.has(key + ".property"));
    CHECK(ui.showsText("Geen open conflicten in casussen."));
    auto settled = collector.open()->caseConflicts(true);
    REQUIRE(settled);
    REQUIRE(settled->size() == 1);
    CHECK(settled->front().resolvedBy == "admin:fatima");
    CHECK(settled->front().resolution.find("nagevraagd bij de deelnemer") != std::string::npos);
    // B's value is the case's value now.
    auto cases = collector.open()->cases({});
    REQUIRE(cases);
    const auto it = std::find_if(cases->begin(), cases->end(),
                                 [&](const auto& c) { return c.caseId == caseId; });
    REQUIRE(it != cases->end());
    std::string label;
    for (const auto& p : it->properties) {
        if (p.name == "label") label = p.value;
    }
    CHECK(label == "Anne K.");
}

TEST_CASE("console: staff sign in, see the dashboard and devices, and wrong credentials fail") {
    Scenario s;
    // Without a credential the console asks for one; a device's credential is refused.
    ConsoleDriver ui(s.connection(""));
    ui.nowMs = wallMs();
    CHECK_FALSE(ui.console().signedIn());
    CHECK(ui.item("signin.collector")->text == s.collector->url());
    const auto deviceCredential = sync::loadConnection(*s.devices[0]);
    REQUIRE(deviceCredential);
    ui.type("signin.credential", deviceCredential->credential);
    ui.click("signin.go");
    CHECK_FALSE(ui.console().signedIn());
    CHECK(ui.showsText("De collector weigert deze sleutel"));

    ConsoleDriver staff(s.connection(s.admin));
    staff.nowMs = wallMs();
    staff.frame();
    REQUIRE(staff.console().signedIn());
    CHECK(staff.item("console.who")->text.find("fatima") != std::string::npos);
    auto store = s.collector->open();
    const auto stats = store->stats();
    REQUIRE(stats);
    CHECK(staff.item("dash.records")->text == std::to_string(stats->records));
    CHECK(staff.item("dash.conflicts")->text == "1");
    // The bars add up to every record (all were made in the last days), per pilot.
    std::int64_t sum = 0;
    for (const auto& id : staff.ids("dash.bar.")) {
        sum += std::stoll(staff.item(id)->text);
        CHECK((id.find("Intensieve begeleiding (IPS)") != std::string::npos ||
               id.find("Van mbo naar werk") != std::string::npos));
    }
    CHECK(sum == stats->records);
    CHECK(staff.has("dash.legend.Intensieve begeleiding (IPS)"));

    staff.click("tab.devices");
    for (int d = 0; d < 3; ++d) {
        const std::string row = "device." + std::to_string(d);
        REQUIRE(staff.has(row + ".name"));
        CHECK(staff.item(row + ".contact")->text != "nog nooit");
        CHECK(std::stoll(staff.item(row + ".revisions")->text) > 0);
        CHECK(staff.item(row + ".waiting")->text == "0");  // each device sent all it had
        CHECK(staff.item(row + ".bundle")->text == "-");   // none came by USB stick
    }

    // A revoked staff member's console gets nothing more.
    REQUIRE(
        test::veldctl({"collector", "admin-revoke", s.collector->storePath(), "fatima"}).exitCode ==
        0);
    staff.click("console.refresh");
    CHECK(staff.has("toast"));
    ConsoleDriver revoked(s.connection(s.admin));
    CHECK_FALSE(revoked.console().signedIn());
}

TEST_CASE("console: a conflict shown side by side is merged answer by answer") {
    Scenario s;
    ConsoleDriver ui(s.connection(s.admin));
    ui.nowMs = wallMs();
    ui.click("tab.conflicts");
    REQUIRE(ui.has("conflict.row.0"));
    CHECK_FALSE(ui.has("conflict.row.1"));
    ui.click("conflict.row.0");
    // The two changed answers are highlighted, with each side's text; the rest is not.
    const std::string a0 =
        std::get<std::string>(answerOf(s.conflicted.content, s.edited[0])->value);
    const std::string a1 =
        std::get<std::string>(answerOf(s.conflicted.content, s.edited[1])->value);
    for (const auto& name : s.edited) {
        CHECK(ui.has("conflict.diff." + name));
        CHECK(ui.has("conflict.take." + name));
    }
    CHECK(ui.item("conflict.a." + s.edited[0])->text == a0);
    CHECK(ui.item("conflict.b." + s.edited[0])->text == "Versie C, eerste");
    CHECK(ui.item("conflict.b." + s.edited[1])->text == "Versie C, tweede");
    CHECK(ui.ids("conflict.diff.").size() == 2);
    CHECK(ui.ids("conflict.take.").size() == 2);
    std::size_t topLevel = 0;  // rows of repeat instances are "repeat#n/question"
    for (const auto& id : ui.ids("conflict.a.")) {
        if (id.find('/') == std::string::npos) ++topLevel;
    }
    CHECK(topLevel == s.conflicted.content.answers.size());
    CHECK_FALSE(ui.item("conflict.merge")->enabled);

    // Take the first answer from B, keep A's second.
    ui.click("conflict.take." + s.edited[0]);
    REQUIRE(ui.item("conflict.merge")->enabled);
    ui.type("conflict.comment", "gebeld met de coach");
    ui.click("conflict.merge");
    CHECK(ui.showsText("Conflict opgelost"));
    CHECK_FALSE(ui.has("conflict.row.0"));

    auto store = s.collector->open();
    CHECK(store->stats()->conflicts == 0);
    auto current = store->current(s.conflicted.id);
    REQUIRE(current);
    REQUIRE(current->has_value());
    auto merged = decodeRecord(current->value().body);
    REQUIRE(merged);
    CHECK(std::get<std::string>(answerOf(merged->content, s.edited[0])->value) ==
          "Versie C, eerste");
    CHECK(std::get<std::string>(answerOf(merged->content, s.edited[1])->value) == a1);
    // Nothing was deleted: A, B and the merge are all kept.
    CHECK(store->revisionsOf(s.conflicted.id)->size() == 3);
    bool audited = false;
    auto audit = store->audit();
    REQUIRE(audit);
    const std::vector<sync::AuditEntry> entries = audit.value();
    for (const auto& e : entries) {
        if (e.action == "resolve" && e.actor == "admin:fatima") audited = true;
    }
    CHECK(audited);
}

TEST_CASE("console: staff decide on a duplicate and review a record") {
    Scenario s;
    ConsoleDriver ui(s.connection(s.admin));
    ui.nowMs = wallMs();
    auto store = s.collector->open();
    auto before = store->duplicates();
    REQUIRE(before);
    std::size_t index = before->size();
    for (std::size_t i = 0; i < before->size(); ++i) {
        const auto& records = (*before)[i].records;
        if (std::find(records.begin(), records.end(), s.duplicated.id) != records.end()) index = i;
    }
    REQUIRE(index < before->size());
    const std::string key = (*before)[index].key;
    ui.click("tab.duplicates");
    const std::string row = "dup.row." + std::to_string(index);
    REQUIRE(ui.has(row));
    ui.click(row);
    CHECK(ui.showsText(s.duplicated.id.toString()));
    ui.type("dup.comment", "zelfde geboortedatum");
    ui.click("dup.same");
    CHECK(ui.showsText("Besluit opgeslagen"));
    auto groups = store->duplicates();
    REQUIRE(groups);
    const auto decided =
        std::find_if(groups->begin(), groups->end(), [&](const auto& g) { return g.key == key; });
    REQUIRE(decided != groups->end());
    CHECK(decided->decision == sync::DuplicateDecision::SamePerson);
    CHECK(decided->comment == "zelfde geboortedatum");
    CHECK(decided->decidedBy == "admin:fatima");

    ui.click("tab.review");
    REQUIRE(ui.has("review.row.0"));
    ui.click("review.row.0");
    // The record's answers are shown by question.
    CHECK_FALSE(ui.ids("answer.").empty());
    // The record's answers settle their wrapped heights in the first frames; the field is
    // clicked once they have, as a person clicks what they see.
    ui.click("review.comment");
    ui.type("review.comment", "leeftijd klopt niet");
    ui.click("review.set.has-issues");
    CHECK(ui.showsText("Beoordeling opgeslagen"));
    ui.click("review.filter.has-issues");
    REQUIRE(ui.has("review.row.0"));
    CHECK_FALSE(ui.has("review.row.1"));
    ui.click("review.row.0");
    CHECK(ui.item("review.state")->text == "Heeft problemen");
    CHECK(ui.showsText("admin:fatima: Heeft problemen (leeftijd klopt niet)"));
    auto queue = store->reviewQueue(sync::ReviewState::HasIssues, 10, {});
    REQUIRE(queue);
    CHECK(queue->total == 1);
}

TEST_CASE(
    "console: the review queue is a table with whole dates, filtered by form, and ticked "
    "records are approved together") {
    Scenario s;
    ConsoleDriver ui(s.connection(s.admin));
    ui.nowMs = wallMs();
    ui.click("tab.review");
    REQUIRE(ui.has("review.row.0"));
    auto store = s.collector->open();
    const std::int64_t received = store->stats()->records;
    CHECK(ui.item("review.count")->text == std::to_string(received) + " records in deze staat.");
    // Every row shows its form's title, its device and its date in columns, the date whole.
    const auto rows = [&] {
        std::vector<std::string> out;
        for (const auto& id : ui.ids("review.row.")) {
            if (std::count(id.begin(), id.end(), '.') == 2) out.push_back(id);
        }
        return out;
    };
    REQUIRE(rows().size() == static_cast<std::size_t>(received));
    for (const auto& row : rows()) {
        CAPTURE(row);
        const std::string date = ui.item(row + ".date")->text;
        CHECK(date.size() == 16);  // yyyy-mm-dd hh:mm
        CHECK_FALSE(ui.has(row + ".date.cut"));
        CHECK_FALSE(ui.has(row + ".device.cut"));
        CHECK(ui.item(row + ".device")->min.x > ui.item(row + ".form")->min.x);
        CHECK(ui.item(row + ".date")->min.x > ui.item(row + ".device")->min.x);
    }

    // Staff narrow the title column by dragging its right edge: a title that is cut then shows
    // whole in a tooltip under the pointer.
    const std::string first = rows().front();
    const float deviceX = ui.item(first + ".device")->min.x;
    const float dateX = ui.item(first + ".date")->min.x;
    CHECK_FALSE(ui.has(first + ".form.cut"));
    const float edge = deviceX - ImGui::GetStyle().CellPadding.x;
    const float y = ui.item(first + ".device")->min.y + 2;
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = ImVec2(edge, y);
    ui.frame();
    io.MouseDown[0] = true;
    ui.frame();
    for (int step = 1; step <= 10; ++step) {
        io.MousePos = ImVec2(edge - 25.0f * static_cast<float>(step), y);
        ui.frame();
    }
    io.MouseDown[0] = false;
    ui.frame();
    ui.frame();
    CHECK(ui.item(first + ".device")->min.x < deviceX - 100);
    CHECK(ui.item(first + ".date")->min.x <= dateX);
    CHECK_FALSE(ui.has(first + ".date.cut"));
    REQUIRE(ui.has(first + ".form.cut"));
    const std::string title = ui.item(first + ".form")->text;
    io.MousePos = ImVec2(ui.item(first + ".form")->min.x + 5, ui.item(first + ".form")->min.y + 3);
    ui.frame();
    ui.frame();
    REQUIRE(ui.has("tooltip"));
    CHECK(ui.item("tooltip")->text == title);
    io.MousePos = ImVec2(-100, -100);
    ui.frame();

    // Only one form's records.
    const std::string form = "ips_guidance";
    ui.click("review.form");
    ui.click("review.form." + form);
    CHECK(ui.item("review.form")->text == "IPS-begeleiding van langdurig werklozen");
    sync::RecordQuery ofForm;
    ofForm.formId = form;
    const std::int64_t formRecords = store->countRecords(ofForm).value();
    REQUIRE(formRecords > 3);
    REQUIRE(formRecords < received);
    CHECK(ui.item("review.count")->text == std::to_string(formRecords) + " records in deze staat.");
    REQUIRE(rows().size() == static_cast<std::size_t>(formRecords));
    for (const auto& row : rows())
        CHECK(ui.item(row + ".form")->text == "IPS-begeleiding van langdurig werklozen");

    // Three ticked records are approved with one button: a review each, audited each.
    CHECK_FALSE(ui.item("review.approve_checked")->enabled);
    for (int i = 0; i < 3; ++i)
        ui.click("review.row." + std::to_string(i) + ".check");
    CHECK(ui.item("review.approve_checked")->text == "3 records goedkeuren");
    ui.click("review.approve_checked");
    CHECK(ui.showsText("3 records goedgekeurd"));
    CHECK(ui.item("review.count")->text ==
          std::to_string(formRecords - 3) + " records in deze staat.");
    auto approved = store->reviewQueue(sync::ReviewState::Approved, 10, {});
    REQUIRE(approved);
    CHECK(approved->total == 3);
    for (const auto& e : approved->records)
        CHECK(e.formId == form);
    auto audit = store->audit();
    REQUIRE(audit);
    CHECK(std::count_if(audit->begin(), audit->end(), [](const sync::AuditEntry& e) {
              return e.action == "review" && e.actor == "admin:fatima";
          }) == 3);
    ui.click("review.filter.approved");
    CHECK(ui.item("review.count")->text == "3 records in deze staat.");
    CHECK_FALSE(ui.has("review.approve_checked"));  // they are approved already

    // Select all: every listed record of the form, approved in one go.
    ui.click("review.filter.received");
    ui.click("review.check_all");
    CHECK(ui.item("review.approve_checked")->text ==
          std::to_string(formRecords - 3) + " records goedkeuren");
    ui.click("review.approve_checked");
    CHECK(ui.item("review.count")->text == "0 records in deze staat.");
    CHECK(store->reviewQueue(sync::ReviewState::Approved, 1000, form)->total == formRecords);
    // The other form's records are untouched.
    CHECK(store->reviewQueue(sync::ReviewState::Received, 1000, {})->total ==
          received - formRecords);
}

TEST_CASE("console: the collector's own staff device is not listed or counted as a device") {
    Scenario s;
    // A merge: the collector writes the new revision as its own staff device.
    mergeFirstFromB(s);
    auto store = s.collector->open();
    auto held = store->devices();
    REQUIRE(held);
    REQUIRE(held->size() == 4);  // the three devices and the staff device
    CHECK(std::count_if(held->begin(), held->end(), [](const auto& d) { return d.staff; }) == 1);
    CHECK(store->stats()->devices == 3);
    auto current = store->current(s.conflicted.id);
    REQUIRE(current);
    REQUIRE(current->has_value());

    ConsoleDriver ui(s.connection(s.admin));
    ui.nowMs = wallMs();
    CHECK(ui.item("dash.devices")->text == "3");
    ui.click("tab.devices");
    CHECK(ui.has("device.2.name"));
    CHECK_FALSE(ui.has("device.3.name"));
    CHECK_FALSE(ui.showsText("central staff"));
    // The merged revision is staff's: named so, in the console's language.
    ui.click("tab.review");
    for (const auto& id : ui.ids("review.row.")) {
        if (!id.ends_with(".device")) continue;
        CHECK(ui.item(id)->text != (*current)->deviceId.toString().substr(0, 8));
    }
    CHECK(ui.showsText("centrale medewerkers"));

    // veldctl lists the enrolled devices only, and counts them so.
    const auto listed = test::veldctl({"collector", "devices", s.collector->storePath()});
    REQUIRE(listed.exitCode == 0);
    CHECK(std::count(listed.out.begin(), listed.out.end(), '\n') == 3);
    CHECK(listed.out.find((*current)->deviceId.toString()) == std::string::npos);
    const auto status = test::veldctl({"collector", "status", s.collector->storePath()});
    REQUIRE(status.exitCode == 0);
    CHECK(status.out.find("devices 3") != std::string::npos);
}

TEST_CASE("console: a conflict shows calculated answers as the form shows them, not as codes") {
    test::TempDir dir;
    // A form whose calculations yield a choice name ('yes', 'no') and an expression's truth.
    const std::string form = dir.file("eligibility.json");
    std::ofstream(form) << R"json({
  "id": "eligibility", "version": 1, "pilot": "tests", "default_language": "nl",
  "languages": [{"tag": "nl", "name": "Nederlands"}, {"tag": "en", "name": "English"}],
  "titles": [{"lang": "nl", "text": "Geschiktheid"}, {"lang": "en", "text": "Eligibility"}],
  "choice_lists": [{"name": "yes_no", "choices": [
    {"name": "yes", "labels": [{"lang": "nl", "text": "Ja"}, {"lang": "en", "text": "Yes"}]},
    {"name": "no", "labels": [{"lang": "nl", "text": "Nee"}, {"lang": "en", "text": "No"}]}]}],
  "items": [
    {"name": "wants_work", "kind": "Question", "type": "SelectOne", "choice_list": "yes_no",
     "labels": [{"lang": "nl", "text": "Wil werken"}, {"lang": "en", "text": "Wants work"}]},
    {"name": "eligible", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "if(${wants_work} = 'yes', 'yes', 'no')",
     "labels": [{"lang": "nl", "text": "Geschikt (berekend)"}, {"lang": "en", "text": "Eligible"}]},
    {"name": "working_age", "kind": "Question", "type": "Text", "hidden": true,
     "calculation": "${wants_work} = 'yes'"},
    {"name": "remark", "kind": "Question", "type": "Text",
     "labels": [{"lang": "nl", "text": "Opmerking"}, {"lang": "en", "text": "Remark"}]}
  ]
})json";
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    REQUIRE(test::veldctl({"collector", "publish", collector.storePath(), form}).exitCode == 0);
    collector.start();
    auto deviceA = test::openDevice(dir.file("a.veld"));
    auto deviceB = test::openDevice(dir.file("b.veld"));
    const auto a = test::enrolDevice(deviceA, collector);
    const auto b = test::enrolDevice(deviceB, collector);
    // The same record, answered differently on two devices that never saw each other's.
    Record first;
    first.id = makeUuidV7(SystemClock::instance());
    first.deviceId = deviceA.deviceId();
    first.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(wallMs()), 0);
    first.createdHlc = first.hlc;
    first.finalized = true;
    first.content.formId = "eligibility";
    first.content.formVersion = 1;
    first.content.answers = {{"wants_work", ChoiceAnswer{"yes", {}}},
                             {"eligible", std::string("yes")},
                             {"working_age", std::string("true")},
                             {"remark", std::string("yes")}};
    Record second = first;
    second.deviceId = deviceB.deviceId();
    second.hlc = HlcTimestamp::make(first.hlc.millis() + 5000, 0);
    second.content.answers = {{"wants_work", ChoiceAnswer{"no", {}}},
                              {"eligible", std::string("no")},
                              {"working_age", std::string("false")},
                              {"remark", std::string("no")}};
    test::postPush(collector, a, test::pushBody(deviceA.deviceId(), {{1, first, 0}}));
    test::postPush(collector, b, test::pushBody(deviceB.deviceId(), {{1, second, 0}}));
    REQUIRE(collector.open()->stats()->conflicts == 1);

    sync::Connection staff;
    staff.collector = collector.url();
    staff.credential = test::addAdmin(collector, "fatima");
    ConsoleDriver ui(staff);
    ui.nowMs = wallMs();
    ui.click("tab.conflicts");
    ui.click("conflict.row.0");
    // Calculated codes read as the form's other answers read: the choice's label, yes or no.
    CHECK(ui.item("conflict.a.wants_work")->text == "Ja");
    CHECK(ui.item("conflict.a.eligible")->text == "Ja");
    CHECK(ui.item("conflict.b.eligible")->text == "Nee");
    CHECK(ui.item("conflict.a.working_age")->text == "Ja");
    CHECK(ui.item("conflict.b.working_age")->text == "Nee");
    CHECK(ui.has("conflict.diff.eligible"));
    // Typed text stays as it was typed, even when it looks like a code.
    CHECK(ui.item("conflict.a.remark")->text == "yes");
    CHECK(ui.item("conflict.b.remark")->text == "no");
    // In English, the same labels in English.
    ui.click("console.language");
    CHECK(ui.item("conflict.a.eligible")->text == "Yes");
    CHECK(ui.item("conflict.b.working_age")->text == "No");
}

TEST_CASE("console: an export after a merge holds the merged answers, in CSV and in .sav") {
    Scenario s;
    const std::string form = s.conflicted.content.formId;
    const std::string a1 =
        std::get<std::string>(answerOf(s.conflicted.content, s.edited[1])->value);
    // The conflict is merged through the admin API: the first edited answer from B.
    mergeFirstFromB(s);
    const std::string out = s.dir.file("exports");
    ConsoleDriver ui(s.connection(s.admin), out);
    ui.nowMs = wallMs();
    ui.click("tab.export");
    ui.click("export.form");
    ui.click("export.form." + form);
    std::map<std::string, std::string> files;  // format -> the table's file
    for (const char* format : {"csv", "sav"}) {
        ui.click(std::string("export.format.") + format);
        ui.click("export.start");
        ui.settle();
        CHECK(ui.showsText("Export opgeslagen"));
        REQUIRE(ui.has("export.file.0"));
        files[format] = out + "/" + form + "." + format;
        REQUIRE(std::filesystem::exists(files[format]));
    }
    REQUIRE(std::filesystem::exists(out + "/" + form + "-codebook.csv"));
    // Nothing of the exports stays at the collector once fetched.
    const std::string jobs = s.collector->exportDir();
    REQUIRE(std::filesystem::exists(jobs));
    CHECK(std::filesystem::is_empty(jobs));

    // Read back by Python's csv module: the CSV directly, the .sav through ReadStat's own
    // reader (variables under their .sav names, from the codebook).
    const std::string fromSav = s.dir.file("from-sav.csv");
    const auto converted = test::runProcess({"/usr/bin/readstat", files["sav"], fromSav});
    REQUIRE_MESSAGE(converted.exitCode == 0, converted.err);
    const std::string script = s.dir.file("cells.py");
    std::ofstream(script) << R"py(
import csv, sys
table, codebook, record, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
column = {}
with open(codebook, newline='', encoding='utf-8') as f:
    for row in csv.DictReader(f):
        column[row['variable']] = row['sav_name'] if table.endswith('from-sav.csv') else row['variable']
rows = 0
with open(table, newline='', encoding='utf-8') as f:
    for row in csv.DictReader(f):
        rows += 1
        if row[column['record_id']] == record:
            for n in names:
                print(n + '=' + row[column[n]])
print('rows=' + str(rows))
)py";
    auto store = s.collector->open();
    sync::RecordQuery q;
    q.formId = form;
    const std::int64_t expectedRows = store->countRecords(q).value();
    for (const std::string& table : {files["csv"], fromSav}) {
        CAPTURE(table);
        const auto cells =
            test::runProcess({"/usr/bin/python3", script, table, out + "/" + form + "-codebook.csv",
                              s.conflicted.id.toString(), s.edited[0], s.edited[1]});
        REQUIRE_MESSAGE(cells.exitCode == 0, cells.err);
        CHECK(cells.out.find(s.edited[0] + "=Versie C, eerste\n") != std::string::npos);
        CHECK(cells.out.find(s.edited[1] + "=" + a1 + "\n") != std::string::npos);
        CHECK(cells.out.find("rows=" + std::to_string(expectedRows) + "\n") != std::string::npos);
    }
}

namespace {

// A collector whose devices seal to a project key of a ring on disk, one record of a sealed form
// (tests/forms/sealed_visit.json) sent by device A and, made blind on device B, a second revision
// of it (a sealed conflict).
struct SealedScenario {
    test::TempDir dir;
    const std::string passphrase = "paarse olifant op de fiets";
    std::string ring;
    std::unique_ptr<test::CollectorProcess> collector;
    std::unique_ptr<Store> deviceA;
    std::unique_ptr<Store> deviceB;
    Uuid record;
    std::string admin;
    const std::string remark = "Woont sinds kort bij haar zus";
    const std::string editedRemark = "Heeft weer een eigen kamer";

    SealedScenario() {
        auto locked =
            projectkey::create("k2026", passphrase, wallMs(), projectkey::Strength::Interactive);
        REQUIRE(locked);
        ring = dir.file("project.keys");
        std::ofstream(ring) << projectkey::formatRing({locked.value()});
        const std::string form = std::string(VELD_SOURCE_DIR) + "/tests/forms/sealed_visit.json";
        collector = std::make_unique<test::CollectorProcess>(test::testCollectorLocation(dir));
        REQUIRE(test::veldctl({"collector", "publish", collector->storePath(), form}).exitCode ==
                0);
        REQUIRE(test::veldctl({"collector", "use-key", collector->storePath(), ring}).exitCode ==
                0);
        collector->start();

        // Device A gets the key at enrolment and the form at its first pull, then finalizes.
        deviceA = std::make_unique<Store>(test::openDevice(dir.file("a.veld")));
        const auto a = test::enrolDevice(*deviceA, *collector);
        REQUIRE(test::syncUntilDone(*deviceA, a, {}, 3) >= 0);
        RecordContent content;
        content.formId = "sealed_visit";
        content.formVersion = 1;
        content.answers = {{"age", std::int64_t{34}}, {"remark", remark}};
        auto done = deviceA->finalizeNew(content);
        REQUIRE_MESSAGE(done, done.error().describe());
        record = done->id;
        REQUIRE(test::syncUntilDone(*deviceA, a, {}, 3) >= 0);

        // What the collector holds is sealed: none of the answers is in the body.
        auto store = collector->open();
        auto current = store->current(record);
        REQUIRE(current);
        REQUIRE(current->has_value());
        const auto& body = current->value().body;
        const std::string bytes(body.begin(), body.end());
        CHECK(bytes.find(remark) == std::string::npos);
        auto sealed = decodeRecord(body);
        REQUIRE(sealed);
        REQUIRE(sealed->sealed.has_value());

        // Device B's edit, made blind and sealed as a device seals: from the opened record.
        deviceB = std::make_unique<Store>(test::openDevice(dir.file("b.veld")));
        const auto b = test::enrolDevice(*deviceB, *collector);
        auto secret = projectkey::unlock(locked.value(), passphrase);
        REQUIRE(secret);
        const std::vector<projectkey::SecretKey> keys{secret.value()};
        auto opened = openRecord(sealed.value(), keys);
        REQUIRE(opened);
        Record edit = opened.value();
        edit.deviceId = deviceB->deviceId();
        edit.hlc = HlcTimestamp::make(edit.hlc.millis() + 5000, 0);
        for (auto& answer : edit.content.answers) {
            if (answer.name == "remark") answer.value = editedRemark;
        }
        auto resealed = sealRecord(edit, locked->publicKey);
        REQUIRE(resealed);
        const auto reply =
            test::postPush(*collector, b, test::pushBody(deviceB->deviceId(), {{1, *resealed, 0}}));
        REQUIRE(reply.results.size() == 1);
        REQUIRE(reply.results[0].outcome == sync::RevisionOutcome::Stored);
        REQUIRE(store->stats()->conflicts == 1);
        admin = test::addAdmin(*collector, "fatima");
    }

    [[nodiscard]] sync::Connection connection() const {
        sync::Connection c;
        c.collector = collector->url();
        c.credential = admin;
        return c;
    }
};

// Opens the key ring through the Keys tab's fields.
void unlockThroughUi(ConsoleDriver& ui, const std::string& ring, const std::string& passphrase) {
    ui.click("tab.keys");
    if (ui.item("keys.ring")->text.empty()) ui.type("keys.ring", ring);
    ui.type("keys.passphrase", passphrase);
    // The field shows (and the test recording holds) only marks.
    CHECK(ui.item("keys.passphrase")->text == std::string(passphrase.size(), '*'));
    ui.click("keys.open");                            // settles: the unlocking has finished
    CHECK(ui.item("keys.passphrase")->text.empty());  // wiped, right or wrong
}

}  // namespace

TEST_CASE("console: a sealed record's answers show only while the key ring is open") {
    SealedScenario s;
    ConsoleDriver ui(s.connection());
    ui.nowMs = wallMs();
    ui.click("tab.review");
    REQUIRE(ui.has("review.row.0"));
    CHECK_FALSE(ui.has("review.row.1"));
    ui.click("review.row.0");
    const std::string shut =
        "Verzegeld met sleutel k2026: open de sleutelring om de antwoorden te zien.";
    const auto showsNoAnswers = [&] {
        CHECK(ui.ids("answer.").empty());
        CHECK_FALSE(ui.showsText(s.remark));
        CHECK_FALSE(ui.showsText(s.editedRemark));
    };
    REQUIRE(ui.has("review.answers.sealed"));
    CHECK(ui.item("review.answers.sealed")->text == shut);
    CHECK_FALSE(ui.showsText("kan niet worden gelezen"));
    showsNoAnswers();

    // A wrong passphrase opens nothing and says so; the passphrase is shown nowhere.
    ui.click("review.answers.sealed.keys");  // the way from the record to the key ring
    REQUIRE(ui.has("keys.passphrase"));
    unlockThroughUi(ui, s.ring, "niet de goede wachtwoordzin");
    CHECK(ui.item("keys.error")->text ==
          "Verkeerde wachtwoordzin: de sleutelring gaat er niet mee open.");
    CHECK(ui.console().projectKeys() == nullptr);
    CHECK_FALSE(ui.has("keys.ids"));
    CHECK_FALSE(ui.showsText("niet de goede"));
    ui.click("tab.review");
    CHECK(ui.item("review.answers.sealed")->text == shut);
    showsNoAnswers();

    // The right one opens the ring: the answers are shown, marked as sealed.
    unlockThroughUi(ui, s.ring, s.passphrase);
    CHECK_FALSE(ui.has("keys.error"));
    REQUIRE(ui.console().projectKeys() != nullptr);
    CHECK(ui.item("keys.ids")->text == "k2026");
    CHECK(ui.item("tab.keys")->text == "Sleutels (1 open)");
    CHECK_FALSE(ui.showsText(s.passphrase));
    ui.click("tab.review");  // the current revision: device B's, the newer
    CHECK(ui.item("answer.remark")->text == s.editedRemark);
    CHECK(ui.item("answer.age")->text == "34");
    CHECK(ui.item("review.answers.sealed")->text ==
          "Verzegeld met sleutel k2026; hier geopend met de sleutelring.");

    // Closing the keys shuts the record again.
    ui.click("tab.keys");
    ui.click("keys.close");
    CHECK(ui.console().projectKeys() == nullptr);
    CHECK(ui.item("tab.keys")->text == "Sleutels");
    ui.click("tab.review");
    CHECK(ui.item("review.answers.sealed")->text == shut);
    showsNoAnswers();
}

TEST_CASE(
    "console: a sealed conflict is compared with the keys open, and closed, never merged or kept") {
    SealedScenario s;
    ConsoleDriver ui(s.connection());
    ui.nowMs = wallMs();
    ui.click("tab.conflicts");
    REQUIRE(ui.has("conflict.row.0"));
    ui.click("conflict.row.0");
    // Shut: no answers of either side, and nothing offered that the collector would refuse.
    CHECK(ui.item("conflict.sealed_a")->text ==
          "Verzegeld met sleutel k2026: open de sleutelring om de antwoorden te zien.");
    CHECK(ui.ids("conflict.a.").empty());
    CHECK(ui.ids("conflict.b.").empty());
    CHECK_FALSE(ui.showsText(s.remark));
    CHECK_FALSE(ui.showsText(s.editedRemark));
    CHECK(ui.has("conflict.sealed"));
    CHECK_FALSE(ui.item("conflict.keep_a")->enabled);
    CHECK_FALSE(ui.item("conflict.keep_b")->enabled);
    CHECK_FALSE(ui.item("conflict.merge")->enabled);

    // Open: both sides side by side with the difference, still no merge or keep.
    unlockThroughUi(ui, s.ring, s.passphrase);
    ui.click("tab.conflicts");
    CHECK(ui.item("conflict.a.remark")->text == s.remark);
    CHECK(ui.item("conflict.b.remark")->text == s.editedRemark);
    CHECK(ui.item("conflict.b.age")->text == "34");
    CHECK(ui.has("conflict.diff.remark"));
    CHECK_FALSE(ui.has("conflict.diff.age"));
    CHECK(ui.ids("conflict.take.").empty());
    CHECK(ui.has("conflict.sealed"));
    CHECK_FALSE(ui.item("conflict.keep_a")->enabled);
    CHECK_FALSE(ui.item("conflict.keep_b")->enabled);
    CHECK_FALSE(ui.item("conflict.merge")->enabled);

    // The collector refuses it too, whoever asks.
    sync::AdminClient staff(s.connection());
    auto open = staff.conflicts();
    REQUIRE(open);
    REQUIRE(open->size() == 1);
    sync::admin::ResolveRequest keep;
    keep.conflictId = open->front().id;
    keep.resolution.kind = sync::ConflictResolution::Kind::KeepB;
    auto refused = staff.resolve(keep);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("sealed") != std::string::npos);

    // What staff can do: close it without a new revision, the current view staying.
    auto store = s.collector->open();
    auto before = store->current(open->front().recordId);
    REQUIRE(before);
    REQUIRE(before->has_value());
    REQUIRE(ui.item("conflict.close")->enabled);
    ui.type("conflict.comment", "beide bezoeken kloppen");
    ui.click("conflict.close");
    ui.settle();
    auto after = staff.conflicts();
    REQUIRE(after);
    CHECK(after->empty());
    auto still = store->current(open->front().recordId);
    REQUIRE(still);
    REQUIRE(still->has_value());
    CHECK((*still)->hlc == (*before)->hlc);
    CHECK((*still)->body == (*before)->body);
    auto audit = store->audit();
    REQUIRE(audit);
    CHECK(std::any_of(audit->begin(), audit->end(), [](const sync::AuditEntry& e) {
        return e.action == "resolve" && e.detail.find("closed") != std::string::npos;
    }));
}

TEST_CASE("console: a key ring given at start opens in the background and reaches the screen") {
    SealedScenario s;
    client::console::ConsoleOptions options;
    options.connection = s.connection();
    options.ringFile = s.ring;
    options.ringPassphrase = s.passphrase;
    ConsoleDriver ui(std::move(options));
    ui.nowMs = wallMs();
    ui.framesUntilIdle();  // frames only: the key worker's outcome is pumped by frame()
    REQUIRE(ui.console().projectKeys() != nullptr);
    CHECK(ui.item("tab.keys")->text == "Sleutels (1 open)");
    ui.click("tab.review");
    ui.click("review.row.0");
    CHECK(ui.item("answer.remark")->text == s.editedRemark);
}
