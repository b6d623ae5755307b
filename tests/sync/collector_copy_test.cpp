// veldctl collector copy: a collector with every kind of data (devices, a revoked one, unused
// enrolment codes, revisions from two devices, a conflict, reviews, a duplicate decision, staff,
// cases, a study with blocks dealt and allocations) copied to a new store gives the same exports
// byte for byte, the same `study verify` and the same listings; a store in use is never a
// target, and a copy killed part-way leaves its target empty.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <doctest/doctest.h>

#include <veld/sqlite.hpp>
#include <veld/sync/collector_copy.hpp>
#include <veld/sync/uploader.hpp>

#include "store_tables.hpp"
#include "support/sync_support.hpp"
#include "veldctl/demo.hpp"

using namespace veld;

namespace veld::test {

void fillCollector(TempDir& dir, CollectorProcess& collector) {
    const std::string study = std::string(VELD_SOURCE_DIR) + "/schemas/studies/ips.json";
    auto defined = veldctl({"study", "define", collector.storePath(), study});
    REQUIRE_MESSAGE(defined.exitCode == 0, defined.err);
    publishPilotForms(collector);
    collector.start();
    addAdmin(collector, "anna");
    addAdmin(collector, "bram");
    // Two devices enrolled first (so they hold the collector's pseudonym key), given the study's
    // blocks, then filled with the same demo seed: the same synthetic participants twice, which
    // the collector groups as likely duplicates.
    for (int d = 0; d < 2; ++d) {
        auto device = openDevice(dir.file("device" + std::to_string(d) + ".veld"));
        enrolDevice(device, collector);
        const auto connection = sync::loadConnection(device).value();
        auto first = sync::syncOnce(device, connection, {});
        REQUIRE_MESSAGE(first, first.error().describe());
        REQUIRE(veldctl::setUpDemo(device, std::string(VELD_SOURCE_DIR) + "/schemas/forms"));
        auto made = veldctl::addDemoRecords(device, 90, 11);
        REQUIRE_MESSAGE(made, made.error().describe());
        auto round = sync::syncOnce(device, connection, {});
        REQUIRE_MESSAGE(round, round.error().describe());
    }
    auto staff = collector.open();
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    auto conflict = veldctl::addDemoConflict(*staff, now, "veldctl:test");
    REQUIRE_MESSAGE(conflict, conflict.error().describe());
    REQUIRE(staff->setReview(*conflict, sync::ReviewState::HasIssues, "two versions", now,
                             "veldctl:test"));
    REQUIRE(staff->setReview(*conflict, sync::ReviewState::Approved, "settled", now + 1,
                             "veldctl:test"));
    auto groups = staff->duplicates();
    REQUIRE(groups);
    REQUIRE_FALSE(groups->empty());
    REQUIRE(staff->decideDuplicate(groups->front().key, sync::DuplicateDecision::SamePerson,
                                   "same school", now, "veldctl:test"));
    REQUIRE(staff->revokeAdmin("bram", now, "veldctl:test"));
    auto unused = staff->createEnrolCode("spare", now, "veldctl:test");
    REQUIRE(unused);
    auto devices = staff->devices();
    REQUIRE(devices);
    REQUIRE(devices->size() >= 2);
    REQUIRE(staff->revoke(devices->back().deviceId, now, "veldctl:test"));
    collector.kill(SIGTERM);
    collector.wait();
}

std::map<std::string, std::string> exportAll(const std::string& store, const std::string& out) {
    std::map<std::string, std::string> files;
    auto opened = sync::openCollector(store, false, {});
    REQUIRE_MESSAGE(opened, opened.error().describe());
    auto forms = opened.value()->publishedForms();
    REQUIRE(forms);
    std::set<std::string> ids;
    for (const auto& f : forms.value())
        ids.insert(f.formId);
    opened.value().reset();
    for (const auto& id : ids) {
        const auto made = veldctl({"export", store, id, "--out", out + "/" + id});
        REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    }
    for (const auto& entry : std::filesystem::recursive_directory_iterator(out)) {
        if (entry.is_regular_file())
            files[std::filesystem::relative(entry.path(), out).string()] =
                readFile(entry.path().string());
    }
    return files;
}

std::string listings(const std::string& store) {
    std::string all;
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"collector", "status", store},
                                               {"collector", "devices", store},
                                               {"collector", "admins", store},
                                               {"collector", "conflicts", store},
                                               {"collector", "duplicates", store},
                                               {"collector", "audit", store},
                                               {"study", "verify", store, "ips"},
                                               {"study", "balance", store, "ips"},
                                               {"study", "log", store, "ips"},
                                               {"case", "list", store}}) {
        const auto r = veldctl(args);
        all += "$ " + args[0] + " " + args[1] + "\n" + std::to_string(r.exitCode) + "\n" + r.out +
               r.err;
    }
    return all;
}

void checkSameCollector(const std::string& from, const std::string& to, TempDir& dir,
                        const std::string& name) {
    const auto before = exportAll(from, dir.file(name + "-exports-from"));
    const auto after = exportAll(to, dir.file(name + "-exports-to"));
    CHECK(before.size() > 10);
    CHECK(before.size() == after.size());
    for (const auto& entry : before) {
        const std::string& file = entry.first;
        CAPTURE(file);
        REQUIRE(after.count(file));
        CHECK(after.at(file) == entry.second);
    }
    const auto a = listings(from);
    const auto b = listings(to);
    CHECK(a.find("verifies") != std::string::npos);
    CHECK(a == b);
}

}  // namespace veld::test

TEST_CASE("collector copy moves every table into a new store and verifies it") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    test::fillCollector(dir, collector);
    const std::string from = collector.storePath();
    auto counts = sync::digestCollector(from);
    REQUIRE(counts);
    std::map<std::string, std::int64_t> rows;
    for (const auto& t : counts.value())
        rows[t.table] = t.sourceRows;
    // Every kind of data the fixture makes is there to be copied.
    for (const char* table :
         {"meta", "enrol_codes", "devices", "revisions", "records", "conflicts", "forms", "audit",
          "reviews", "review_history", "duplicate_decisions", "admins", "cases", "case_holders",
          "case_properties", "studies", "study_blocks", "allocations"}) {
        CAPTURE(table);
        CHECK(rows[table] > 0);
    }

    const std::string to = dir.file("copy.db");
    const auto copied = test::veldctl({"collector", "copy", "--from", from, "--to", to});
    REQUIRE_MESSAGE(copied.exitCode == 0, (copied.out + copied.err));
    CHECK(copied.out.find("copied and verified 20 tables") != std::string::npos);
    CHECK(copied.out.find("DIFFERS") == std::string::npos);
    CHECK(copied.out.find("allocations") != std::string::npos);
    test::checkSameCollector(from, to, dir, "sqlite");
    // The copy is the same collector: its id and keys came along.
    auto a = sync::openCollector(from, false, {});
    auto b = sync::openCollector(to, false, {});
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a.value()->collectorId().value() == b.value()->collectorId().value());
    CHECK(a.value()->devices().value().size() == b.value()->devices().value().size());
    a.value().reset();
    b.value().reset();

    // And back again, into a third store: the same tables and digests.
    const std::string back = dir.file("back.db");
    const auto again = test::veldctl({"collector", "copy", "--from", to, "--to", back});
    REQUIRE_MESSAGE(again.exitCode == 0, (again.out + again.err));
    auto first = sync::digestCollector(from);
    auto third = sync::digestCollector(back);
    REQUIRE(first);
    REQUIRE(third);
    REQUIRE(first->size() == third->size());
    for (std::size_t i = 0; i < first->size(); ++i) {
        CAPTURE(first.value()[i].table);
        CHECK(first.value()[i].sourceDigest == third.value()[i].sourceDigest);
    }
}

TEST_CASE("collector copy refuses a store in use as its target and changes nothing") {
    test::TempDir dir;
    test::CollectorProcess source(dir.file("source.db"));
    test::fillCollector(dir, source);
    // A target that already serves devices.
    test::CollectorProcess target(dir.file("target.db"));
    target.start();
    auto device = test::openDevice(dir.file("other.veld"));
    test::enrolDevice(device, target);
    target.kill(SIGTERM);
    target.wait();
    auto before = sync::digestCollector(target.storePath());
    REQUIRE(before);
    const auto refused = test::veldctl(
        {"collector", "copy", "--from", source.storePath(), "--to", target.storePath()});
    CHECK(refused.exitCode == 1);
    CHECK(refused.err.find("is not empty (its table ") != std::string::npos);
    auto after = sync::digestCollector(target.storePath());
    REQUIRE(after);
    for (std::size_t i = 0; i < before->size(); ++i)
        CHECK(before.value()[i].sourceDigest == after.value()[i].sourceDigest);
    // A file that is no collector store, and a store copied onto itself.
    const std::string other = dir.file("notes.txt");
    { std::ofstream(other) << "shopping list\n"; }
    const auto notStore =
        test::veldctl({"collector", "copy", "--from", source.storePath(), "--to", other});
    CHECK(notStore.exitCode == 1);
    CHECK(notStore.err.find("is not a Veld collector store") != std::string::npos);
    CHECK(test::readFile(other) == "shopping list\n");
    const auto itself = test::veldctl(
        {"collector", "copy", "--from", source.storePath(), "--to", source.storePath()});
    CHECK(itself.exitCode == 1);
    // A store a collector serves is neither read nor written: the collector must stop first.
    source.start();
    const auto running = test::veldctl(
        {"collector", "copy", "--from", source.storePath(), "--to", dir.file("fresh.db")});
    CHECK(running.exitCode == 1);
    CHECK(running.err.find("held by a running veld-collector") != std::string::npos);
    source.kill(SIGTERM);
    source.wait();
    const auto usage = test::veldctl({"collector", "copy", "--from", source.storePath()});
    CHECK(usage.exitCode == 2);
}

TEST_CASE("a collector copy killed part-way leaves its target empty, and a new copy succeeds") {
    test::TempDir dir;
    test::CollectorProcess source(dir.file("source.db"));
    test::fillCollector(dir, source);
    const std::string to = dir.file("target.db");
    test::ChildOptions options;
    // Test hook: veldctl waits this long after announcing each table.
    options.env = {"VELD_TEST_COPY_PAUSE_MS=200"};
    test::ChildProcess copy(
        {test::binary("veldctl"), "collector", "copy", "--from", source.storePath(), "--to", to},
        options);
    REQUIRE(copy.waitForLine("copying revisions", 30000));
    copy.kill(SIGKILL);
    const auto killed = copy.wait();
    CHECK(killed.signal == SIGKILL);
    CHECK(killed.out.find("copying conflicts") == std::string::npos);
    auto left = sync::digestCollector(to);
    REQUIRE_MESSAGE(left, left.error().describe());
    for (const auto& t : left.value()) {
        CAPTURE(t.table);
        if (t.table != "meta") CHECK(t.sourceRows == 0);
    }
    const auto again =
        test::veldctl({"collector", "copy", "--from", source.storePath(), "--to", to});
    REQUIRE_MESSAGE(again.exitCode == 0, (again.out + again.err));
    CHECK(again.out.find("copied and verified") != std::string::npos);
}

TEST_CASE("the table catalogue is the SQLite store's schema, column for column") {
    test::TempDir dir;
    const std::string path = dir.file("new.db");
    REQUIRE(sync::openSqliteCollector(path, true));
    auto db = sql::Database::open(path, sql::OpenMode::ReadOnly);
    REQUIRE(db);
    std::set<std::string> catalogued;
    for (const auto& table : sync::tables::collectorTables()) {
        const std::string name(table.name);
        CAPTURE(name);
        catalogued.insert(name);
        auto info = db->prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)");
        REQUIRE(info);
        info->bind(1, name);
        std::vector<std::string> columns;
        std::vector<std::string> key;
        std::map<int, std::string> keyAt;
        std::size_t i = 0;
        while (info->step().value()) {
            const std::string column(info->columnText(0));
            const std::string type(info->columnText(1));
            CAPTURE(column);
            REQUIRE(i < table.columns.size());
            CHECK(table.columns[i].name == column);
            const auto kind = table.columns[i].kind;
            CHECK(type == (kind == sync::tables::Kind::Integer ? "INTEGER"
                           : kind == sync::tables::Kind::Text  ? "TEXT"
                           : kind == sync::tables::Kind::Bytes ? "BLOB"
                                                               : "ANY"));
            // A primary key column is NOT NULL whether or not SQLite says so.
            if (info->columnInt(3) == 0)
                CHECK(table.columns[i].nullable == (info->columnInt(2) == 0));
            if (info->columnInt(3) > 0) keyAt[static_cast<int>(info->columnInt(3))] = column;
            ++i;
        }
        CHECK(i == table.columns.size());
        for (const auto& k : keyAt)
            key.push_back(k.second);
        REQUIRE(key.size() == table.key.size());
        for (std::size_t k = 0; k < key.size(); ++k)
            CHECK(table.key[k] == key[k]);
        CHECK((table.rowId.empty() || (key.size() == 1 && key[0] == table.rowId &&
                                       table.columns[0].kind == sync::tables::Kind::Integer)));
    }
    // Every table of the store is in the catalogue.
    auto all = db->prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
    REQUIRE(all);
    std::size_t tables = 0;
    while (all->step().value()) {
        ++tables;
        CHECK(catalogued.count(std::string(all->columnText(0))) == 1);
    }
    CHECK(tables == catalogued.size());
}
