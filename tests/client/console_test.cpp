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

#include <veld/clock.hpp>
#include <veld/record.hpp>
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
        for (const char* f : {"ips_guidance.json", "job_retention_log.json"}) {
            std::filesystem::copy_file(std::string(VELD_SOURCE_DIR) + "/schemas/forms/" + f,
                                       forms + "/" + f);
        }
        collector = std::make_unique<test::CollectorProcess>(dir.file("collector.db"));
        REQUIRE(test::veldctl({"collector", "publish", collector->storePath(),
                               forms + "/ips_guidance.json", forms + "/job_retention_log.json"})
                    .exitCode == 0);
        collector->start();
        for (int d = 0; d < 3; ++d) {
            devices.push_back(std::make_unique<Store>(
                test::openDevice(dir.file("device" + std::to_string(d) + ".veld"))));
            Store& device = *devices.back();
            REQUIRE(veldctl::setUpDemo(device, forms));
            REQUIRE(veldctl::addDemoRecords(device, 12, 40 + static_cast<std::uint32_t>(d)));
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

}  // namespace

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
               id.find("Behoud van werk (hrm)") != std::string::npos));
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
    ui.type("review.comment", "leeftijd klopt niet");
    ui.click("review.set.has-issues");
    CHECK(ui.showsText("Beoordeling opgeslagen"));
    ui.click("review.filter.has-issues");
    REQUIRE(ui.has("review.row.0"));
    CHECK_FALSE(ui.has("review.row.1"));
    ui.click("review.row.0");
    CHECK(ui.item("review.state")->text == "Heeft problemen");
    CHECK(ui.showsText("admin:fatima: Heeft problemen (leeftijd klopt niet)"));
    auto queue = store->reviewQueue(sync::ReviewState::HasIssues, 10);
    REQUIRE(queue);
    CHECK(queue->total == 1);
}

TEST_CASE("console: an export after a merge holds the merged answers, in CSV and in .sav") {
    Scenario s;
    const std::string form = s.conflicted.content.formId;
    const std::string a1 =
        std::get<std::string>(answerOf(s.conflicted.content, s.edited[1])->value);
    // The conflict is merged through the admin API: the first edited answer from B.
    {
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
    const std::string jobs = s.collector->storePath() + ".exports";
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
