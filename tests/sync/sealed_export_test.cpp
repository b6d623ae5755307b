// Exports of sealed records, end to end: a device store seals the records of a sealed form to the
// project key it got at enrolment, sends them to a real collector, and central staff export them
// with veldctl (opening them with the key ring) or through the admin API as a records file that
// is exported here, with the keys, exactly as veldctl would.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <doctest/doctest.h>

#include <veld/project_key.hpp>
#include <veld/record.hpp>
#include <veld/sync/admin_client.hpp>
#include <veld/sync/records_file.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

constexpr const char* kPassphrase = "lange zin voor de sleutelring";

using Row = std::map<std::string, std::string>;

// A CSV file as rows by column name.
std::vector<Row> readCsv(const std::string& path) {
    const auto lines = test::parseCsv(test::readFile(path));
    std::vector<Row> rows;
    for (std::size_t l = 1; l < lines.size(); ++l) {
        Row row;
        for (std::size_t i = 0; i < lines[0].size() && i < lines[l].size(); ++i)
            row[lines[0][i]] = lines[l][i];
        rows.push_back(std::move(row));
    }
    return rows;
}

std::map<std::string, Row> byRecord(const std::vector<Row>& rows) {
    std::map<std::string, Row> out;
    for (const auto& r : rows)
        out[r.at("record_id")] = r;
    return out;
}

std::map<std::string, std::string> filesIn(const std::string& folder) {
    std::map<std::string, std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        out[entry.path().filename().string()] = test::readFile(entry.path().string());
    return out;
}

void writeRing(const std::string& path, const std::string& id) {
    auto key =
        projectkey::create(id, kPassphrase, 1'790'000'000'000, projectkey::Strength::Interactive);
    REQUIRE(key);
    std::ofstream(path) << projectkey::formatRing({key.value()});
}

// A collector that hands devices the public key of `ring` (key k1), with the sealed test form
// published, and one device that sent it five sealed records.
struct SealedProject {
    test::TempDir dir;
    test::CollectorProcess collector{test::testCollectorLocation(dir)};
    std::string ring = dir.file("project.ring");
    std::string otherRing = dir.file("other.ring");  // a key k2 only
    std::string passphraseFile = dir.file("passphrase");
    std::map<std::string, RecordContent> entered;  // by record id

    SealedProject() {
        const auto published =
            test::veldctl({"collector", "publish", collector.storePath(),
                           std::string(VELD_SOURCE_DIR) + "/tests/forms/sealed_visit.json"});
        REQUIRE_MESSAGE(published.exitCode == 0, published.err);
        writeRing(ring, "k1");
        writeRing(otherRing, "k2");
        std::ofstream(passphraseFile) << kPassphrase << "\n";
        const auto used = test::veldctl({"collector", "use-key", collector.storePath(), ring});
        REQUIRE_MESSAGE(used.exitCode == 0, used.err);
        collector.start();

        auto device = test::openDevice(dir.file("device.veld"));
        const auto connection = test::enrolDevice(device, collector);
        REQUIRE(test::syncUntilDone(device, connection, {}, 3) >= 0);  // fetches the form
        REQUIRE(device.setting(projectkey::kKeySetting).value().value_or("").rfind("k1:", 0) == 0);
        for (int n = 0; n < 5; ++n) {
            RecordContent c;
            c.formId = "sealed_visit";
            c.formVersion = 1;
            c.answers.push_back({"age", std::int64_t{40 + n}});
            c.answers.push_back({"remark", "bezoek " + std::to_string(n) + ", \"thuis\" ğü"});
            c.answers.push_back({"works", ChoiceAnswer{n % 2 == 0 ? "yes" : "no", {}}});
            Repeat jobs{"jobs", {}};
            for (int i = 0; i < n % 3; ++i) {
                RepeatInstance job;
                job.answers.push_back({"hours", std::int64_t{10 + i}});
                jobs.instances.push_back(std::move(job));
            }
            c.repeats.push_back(std::move(jobs));
            auto made = device.finalizeNew(c);
            REQUIRE_MESSAGE(made, made.error().describe());
            entered[made->id.toString()] = c;
        }
        REQUIRE(test::syncUntilDone(device, connection, {}, 3) >= 0);
        // The collector holds them sealed.
        auto store = collector.open();
        for (const auto& [id, content] : entered) {
            auto current = store->current(Uuid::parse(id).value());
            REQUIRE(current);
            REQUIRE(current.value());
            auto body = decodeRecord(current.value()->body);
            REQUIRE(body);
            CHECK(body->sealed.has_value());
            CHECK(body->content.answers.empty());
        }
    }

    [[nodiscard]] test::ProcessResult exportWith(const std::string& out,
                                                 std::vector<std::string> extra = {}) const {
        std::vector<std::string> args{"export", collector.storePath(), "sealed_visit", "--out",
                                      out};
        args.insert(args.end(), extra.begin(), extra.end());
        return test::veldctl(args);
    }
};

// The answers entered on the device, in their cells of the main table.
void checkOpened(const SealedProject& p, const std::string& folder) {
    const auto rows = byRecord(readCsv(folder + "/sealed_visit.csv"));
    REQUIRE(rows.size() == p.entered.size());
    for (const auto& entry : p.entered) {
        const auto& id = entry.first;
        const auto& content = entry.second;
        CAPTURE(id);
        REQUIRE(rows.count(id));
        const Row& row = rows.at(id);
        CHECK(row.at("unreadable") == "0");
        CHECK(row.at("age") == std::to_string(std::get<std::int64_t>(content.answers[0].value)));
        CHECK(row.at("remark") == std::get<std::string>(content.answers[1].value));
        CHECK(row.at("works") ==
              (std::get<ChoiceAnswer>(content.answers[2].value).choice == "yes" ? "1" : "2"));
    }
    // Repeat instances came out of the sealed boxes too.
    std::size_t jobs = 0;
    for (const auto& [id, content] : p.entered)
        jobs += content.repeats[0].instances.size();
    CHECK(readCsv(folder + "/sealed_visit-jobs.csv").size() == jobs);
}

// Rows with only their key: `unreadable` = 2, no answers.
void checkClosed(const SealedProject& p, const std::string& folder) {
    const auto rows = byRecord(readCsv(folder + "/sealed_visit.csv"));
    REQUIRE(rows.size() == p.entered.size());
    for (const auto& entry : rows) {
        const auto& id = entry.first;
        const auto& row = entry.second;
        CAPTURE(id);
        CHECK(row.at("unreadable") == "2");
        CHECK(row.at("age").empty());
        CHECK(row.at("remark").empty());
        CHECK(row.at("works").empty());
    }
    CHECK(readCsv(folder + "/sealed_visit-jobs.csv").empty());
}

}  // namespace

TEST_CASE("veldctl export opens sealed records with the key ring, and counts those it cannot") {
    SealedProject p;

    SUBCASE("with the ring and its passphrase, the answers come back in their cells") {
        const auto made = p.exportWith(p.dir.file("opened"),
                                       {"--ring", p.ring, "--passphrase-file", p.passphraseFile});
        REQUIRE_MESSAGE(made.exitCode == 0, made.err);
        CHECK(made.out.find("sealed_visit: 5 records\n") != std::string::npos);
        CHECK(made.err.find("not opened") == std::string::npos);
        checkOpened(p, p.dir.file("opened"));
        // The passphrase may also come from the environment.
        REQUIRE(::setenv("VELD_KEY_PASSPHRASE", kPassphrase, 1) == 0);
        const auto fromEnv = p.exportWith(p.dir.file("env"), {"--ring", p.ring});
        ::unsetenv("VELD_KEY_PASSPHRASE");
        REQUIRE_MESSAGE(fromEnv.exitCode == 0, fromEnv.err);
        CHECK(filesIn(p.dir.file("env")) == filesIn(p.dir.file("opened")));
    }
    SUBCASE("without a ring, sealed records have unreadable = 2 and stderr counts them") {
        const auto made = p.exportWith(p.dir.file("closed"));
        REQUIRE_MESSAGE(made.exitCode == 0, made.err);
        CHECK(made.out.find("sealed_visit: 5 records, 5 unreadable") != std::string::npos);
        CHECK(made.err.find("5 sealed records were not opened") != std::string::npos);
        CHECK(made.err.find("--ring") != std::string::npos);
        checkClosed(p, p.dir.file("closed"));
    }
    SUBCASE("a ring without the records' key opens none of them and says so") {
        const auto made = p.exportWith(
            p.dir.file("other"), {"--ring", p.otherRing, "--passphrase-file", p.passphraseFile});
        REQUIRE_MESSAGE(made.exitCode == 0, made.err);
        CHECK(made.err.find("5 sealed records were not opened") != std::string::npos);
        CHECK(made.err.find("not in " + p.otherRing) != std::string::npos);
        checkClosed(p, p.dir.file("other"));
    }
}

TEST_CASE("veldctl export with a wrong passphrase, or none, fails clearly and writes nothing") {
    SealedProject p;
    const std::string wrong = p.dir.file("wrong");
    std::ofstream(wrong) << "not the right passphrase\n";
    const std::string out = p.dir.file("never");
    const auto made = p.exportWith(out, {"--ring", p.ring, "--passphrase-file", wrong});
    CHECK(made.exitCode == 1);
    CHECK(made.err.find("cannot unlock the key ring") != std::string::npos);
    CHECK(made.err.find("wrong passphrase") != std::string::npos);
    CHECK(made.err.find("not the right") == std::string::npos);  // never repeated
    CHECK(made.out.empty());
    CHECK_FALSE(std::filesystem::exists(out));

    // No passphrase at all (no file, no VELD_KEY_PASSPHRASE, no terminal).
    ::unsetenv("VELD_KEY_PASSPHRASE");
    const auto none = p.exportWith(out, {"--ring", p.ring});
    CHECK(none.exitCode == 1);
    CHECK(none.err.find("no passphrase") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out));

    // A ring that is not there, and --passphrase-file without --ring.
    CHECK(p.exportWith(
               out, {"--ring", p.dir.file("missing.ring"), "--passphrase-file", p.passphraseFile})
              .exitCode == 1);
    CHECK(p.exportWith(out, {"--passphrase-file", p.passphraseFile}).exitCode == 2);
    CHECK(p.exportWith(out, {"--format", "records"}).exitCode == 2);
    CHECK_FALSE(std::filesystem::exists(out));
}

TEST_CASE(
    "a records file from the admin API, exported here with the keys, is byte for byte what "
    "veldctl export --ring writes") {
    SealedProject p;
    // Two records approved, so a filter has something to choose.
    int approved = 0;
    for (const auto& [id, content] : p.entered) {
        if (approved++ == 2) break;
        REQUIRE(test::veldctl({"collector", "review", p.collector.storePath(), id, "approved"})
                    .exitCode == 0);
    }
    sync::Connection connection;
    connection.collector = p.collector.url();
    connection.credential = test::addAdmin(p.collector, "anna");
    sync::AdminClient client(connection);
    auto ring = test::readFile(p.ring);
    auto locked = projectkey::parseRing(ring);
    REQUIRE(locked);
    auto keys = projectkey::unlockAll(locked.value(), kPassphrase);
    REQUIRE(keys);

    // Runs a job at the collector and waits for it.
    const auto runJob = [&](const sync::admin::ExportRequest& request) {
        auto started = client.startExport(request);
        REQUIRE_MESSAGE(started, (started.error().describe() + "\n" + p.collector.log()));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        for (;;) {
            auto state = client.exportJob(started->job);
            REQUIRE(state);
            if (state->state != sync::admin::ExportJob::State::Running) return state.value();
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    };

    for (const bool filtered : {false, true}) {
        CAPTURE(filtered);
        const std::string tag = filtered ? "approved" : "all";
        sync::admin::ExportRequest request;
        request.formId = "sealed_visit";
        request.format = sync::ExportFormat::Records;
        if (filtered) request.filter.review = sync::ReviewState::Approved;
        const auto job = runJob(request);
        REQUIRE_MESSAGE(job.state == sync::admin::ExportJob::State::Done, job.error);
        REQUIRE(job.files.size() == 1);
        CHECK(job.files[0].name == "sealed_visit.records");
        CHECK(job.records == (filtered ? 2 : 5));
        const std::string fetched = p.dir.file("fetched-" + tag);
        std::filesystem::create_directory(fetched);
        const std::string file = fetched + "/" + job.files[0].name;
        REQUIRE(client.download(job.job, job.files[0], file));
        CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::all) ==
              (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
        REQUIRE(client.exportJob(job.job, true));

        auto source = sync::RecordsFile::open(file);
        REQUIRE_MESSAGE(source, source.error().describe());
        CHECK(source.value()->records() == (filtered ? 2 : 5));
        sync::ExportOptions options;
        options.formId = "sealed_visit";
        options.filter = request.filter;
        options.directory = p.dir.file("here-" + tag);
        options.keys = keys.value();
        std::filesystem::create_directory(options.directory);
        auto made = sync::exportForm(*source.value(), options);
        REQUIRE_MESSAGE(made, made.error().describe());
        CHECK(made->sealedUnopened == 0);

        const std::string theirs = p.dir.file("veldctl-" + tag);
        std::vector<std::string> extra{"--ring", p.ring, "--passphrase-file", p.passphraseFile};
        if (filtered) extra.insert(extra.end(), {"--review", "approved"});
        const auto byVeldctl = p.exportWith(theirs, extra);
        REQUIRE_MESSAGE(byVeldctl.exitCode == 0, byVeldctl.err);
        const auto mine = filesIn(options.directory);
        CHECK(mine.size() == 3);
        CHECK(mine == filesIn(theirs));
        if (!filtered) checkOpened(p, options.directory);
    }

    // A table export at the collector (no keys there) counts the sealed records it left shut.
    sync::admin::ExportRequest tables;
    tables.formId = "sealed_visit";
    const auto job = runJob(tables);
    REQUIRE(job.state == sync::admin::ExportJob::State::Done);
    CHECK(job.records == 5);
    CHECK(job.unreadable == 5);
    CHECK(job.sealedUnopened == 5);
    REQUIRE(client.exportJob(job.job, true));
}

TEST_CASE("after a key rotation devices seal to the new key, and the ring opens old and new") {
    SealedProject p;
    // Staff add a new key to the ring (the old one stays) and hand devices its public half.
    const std::string oldRing = p.dir.file("old.ring");
    std::filesystem::copy_file(p.ring, oldRing);
    auto ring = projectkey::parseRing(test::readFile(p.ring));
    REQUIRE(ring);
    auto k2 = projectkey::create("k2026b", kPassphrase, 1'790'000'000'001,
                                 projectkey::Strength::Interactive);
    REQUIRE(k2);
    ring->push_back(k2.value());
    std::ofstream(p.ring, std::ios::trunc) << projectkey::formatRing(ring.value());
    const auto used = test::veldctl({"collector", "use-key", p.collector.storePath(), p.ring});
    REQUIRE_MESSAGE(used.exitCode == 0, used.err);

    // The device learns the new key at its next round and seals what it makes next to it.
    auto device = Store::open(p.dir.file("device.veld"));
    REQUIRE(device);
    const auto connection = sync::loadConnection(device.value());
    REQUIRE(connection);
    REQUIRE(test::syncUntilDone(device.value(), connection.value(), {}, 3) >= 0);
    CHECK(device->setting(projectkey::kKeySetting).value().value_or("").rfind("k2026b:", 0) == 0);
    RecordContent c;
    c.formId = "sealed_visit";
    c.formVersion = 1;
    c.answers.push_back({"age", std::int64_t{33}});
    c.answers.push_back({"remark", std::string("na de wissel")});
    auto made = device->finalizeNew(c);
    REQUIRE_MESSAGE(made, made.error().describe());
    auto stored = device->get(made->id);
    REQUIRE(stored);
    REQUIRE(stored->record.sealed);
    CHECK(stored->record.sealed->keyId == "k2026b");
    REQUIRE(test::syncUntilDone(device.value(), connection.value(), {}, 3) >= 0);

    // The ring with both keys opens all six; the old ring alone opens the old five only.
    const auto both =
        p.exportWith(p.dir.file("both"), {"--ring", p.ring, "--passphrase-file", p.passphraseFile});
    REQUIRE_MESSAGE(both.exitCode == 0, both.err);
    const auto rows = byRecord(readCsv(p.dir.file("both") + "/sealed_visit.csv"));
    REQUIRE(rows.size() == 6);
    for (const auto& [id, row] : rows)
        CHECK(row.at("unreadable") == "0");
    CHECK(rows.at(made->id.toString()).at("remark") == "na de wissel");

    const auto old =
        p.exportWith(p.dir.file("old"), {"--ring", oldRing, "--passphrase-file", p.passphraseFile});
    REQUIRE_MESSAGE(old.exitCode == 0, old.err);
    CHECK(old.err.find("1 sealed records were not opened") != std::string::npos);
    const auto oldRows = byRecord(readCsv(p.dir.file("old") + "/sealed_visit.csv"));
    REQUIRE(oldRows.size() == 6);
    CHECK(oldRows.at(made->id.toString()).at("unreadable") == "2");
    for (const auto& [id, content] : p.entered)
        CHECK(oldRows.at(id).at("unreadable") == "0");
}
