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
#include "sync/copy_fixture.hpp"
#include "veldctl/demo.hpp"

using namespace veld;

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
    CHECK(copied.out.find("copied and verified " +
                          std::to_string(sync::tables::collectorTables().size()) + " tables") !=
          std::string::npos);
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
    CHECK(notStore.err.find("not-a-store: " + other + ": ") != std::string::npos);
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
