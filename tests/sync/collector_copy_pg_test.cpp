// veldctl collector copy with PostgreSQL on either side: a collector with every kind of data
// copied from SQLite into a new PostgreSQL database and back gives identical exports, listings
// and `study verify`, and the same digests; PostgreSQL's schema is the table catalogue; a
// database in use is refused and a copy killed part-way leaves the database empty.
#include <csignal>
#include <map>
#include <set>
#include <string>

#include <doctest/doctest.h>

#include <veld/sync/collector_copy.hpp>

#include "postgres/pg.hpp"
#include "store_tables.hpp"
#include "support/pg_cluster.hpp"
#include "support/sync_support.hpp"
#include "sync/copy_fixture.hpp"

using namespace veld;

TEST_CASE("collector copy: SQLite into PostgreSQL and back, the same collector") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    test::fillCollector(dir, collector);
    const std::string from = collector.storePath();
    auto& cluster = test::sharedPgCluster();
    const std::string pg = cluster.createDatabase();

    const auto copied = test::veldctl({"collector", "copy", "--from", from, "--to", pg});
    REQUIRE_MESSAGE(copied.exitCode == 0, (copied.out + copied.err));
    CHECK(copied.out.find("copied and verified " +
                          std::to_string(sync::tables::collectorTables().size()) + " tables") !=
          std::string::npos);
    test::checkSameCollector(from, pg, dir, "to-pg");

    // The database is in use now: a second copy into it is refused, and changes nothing.
    auto before = sync::digestCollector(pg);
    REQUIRE(before);
    const auto refused = test::veldctl({"collector", "copy", "--from", from, "--to", pg});
    CHECK(refused.exitCode == 1);
    CHECK(refused.err.find("is not empty (its table ") != std::string::npos);
    auto after = sync::digestCollector(pg);
    REQUIRE(after);
    for (std::size_t i = 0; i < before->size(); ++i)
        CHECK(before.value()[i].sourceDigest == after.value()[i].sourceDigest);

    // Back into a new SQLite file: every table as it was at the start.
    const std::string back = dir.file("back.db");
    const auto again = test::veldctl({"collector", "copy", "--from", pg, "--to", back});
    REQUIRE_MESSAGE(again.exitCode == 0, (again.out + again.err));
    auto first = sync::digestCollector(from);
    auto third = sync::digestCollector(back);
    REQUIRE(first);
    REQUIRE(third);
    REQUIRE(first->size() == third->size());
    for (std::size_t i = 0; i < first->size(); ++i) {
        CAPTURE(first.value()[i].table);
        CHECK(first.value()[i].sourceRows == third.value()[i].sourceRows);
        CHECK(first.value()[i].sourceDigest == third.value()[i].sourceDigest);
    }
    test::checkSameCollector(pg, back, dir, "from-pg");

    // New rows after the copy continue the copied row ids (the identity sequences were set).
    auto store = sync::openCollector(pg, false, {});
    REQUIRE_MESSAGE(store, store.error().describe());
    auto code = store.value()->createEnrolCode("after the move", 1, "test");
    CHECK(code);
    CHECK(store.value()->appendAudit({2, "test", "after-move", "", ""}));
}

TEST_CASE("PostgreSQL's collector schema is the table catalogue, column for column") {
    auto& cluster = test::sharedPgCluster();
    const std::string location = cluster.createDatabase();
    // Making the collector makes the schema (the result is not what this test is about).
    (void)sync::openCollector(location, true, {});
    auto c = pg::Connection::open({location});
    REQUIRE_MESSAGE(c, c.error().describe());
    std::set<std::string> catalogued;
    for (const auto& table : sync::tables::collectorTables()) {
        const std::string name(table.name);
        CAPTURE(name);
        catalogued.insert(name);
        auto columns = c->query(
            "SELECT column_name::text, data_type::text, is_nullable::text, is_identity::text "
            "FROM information_schema.columns WHERE table_schema = current_schema() AND "
            "table_name = $1 ORDER BY ordinal_position",
            pg::Params().add(name));
        REQUIRE_MESSAGE(columns, columns.error().describe());
        REQUIRE(static_cast<std::size_t>(columns->size()) == table.columns.size());
        for (int i = 0; i < columns->size(); ++i) {
            const auto& want = table.columns[static_cast<std::size_t>(i)];
            CAPTURE(want.name);
            CHECK(columns->text(i, 0) == want.name);
            CHECK(columns->text(i, 1) == (want.kind == sync::tables::Kind::Integer ? "bigint"
                                          : want.kind == sync::tables::Kind::Bytes ? "bytea"
                                                                                   : "text"));
            // meta.value is NOT NULL in PostgreSQL (SQLite allows NULL but never stores one).
            if (want.kind != sync::tables::Kind::Any)
                CHECK((columns->text(i, 2) == "YES") == want.nullable);
            CHECK((columns->text(i, 3) == "YES") == (want.name == table.rowId));
        }
        auto key = c->query(
            "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
            "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND "
            "i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
            pg::Params().add(name));
        REQUIRE_MESSAGE(key, key.error().describe());
        REQUIRE(static_cast<std::size_t>(key->size()) == table.key.size());
        for (int k = 0; k < key->size(); ++k)
            CHECK(key->text(k, 0) == table.key[static_cast<std::size_t>(k)]);
    }
    auto all = c->query(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = "
        "current_schema() AND table_type = 'BASE TABLE'");
    REQUIRE(all);
    std::size_t known = 0;
    for (int i = 0; i < all->size(); ++i) {
        const std::string name(all->text(i, 0));
        // The schema's own bookkeeping, if kept in a table, is not collector data.
        if (name == "schema_version") continue;
        CAPTURE(name);
        CHECK(catalogued.count(name) == 1);
        ++known;
    }
    CHECK(known == catalogued.size());
}

TEST_CASE("a copy into PostgreSQL killed part-way leaves the database empty") {
    test::TempDir dir;
    test::CollectorProcess source(dir.file("source.db"));
    test::fillCollector(dir, source);
    auto& cluster = test::sharedPgCluster();
    const std::string pg = cluster.createDatabase();
    test::ChildOptions options;
    options.env = {"VELD_TEST_COPY_PAUSE_MS=200"};
    test::ChildProcess copy(
        {test::binary("veldctl"), "collector", "copy", "--from", source.storePath(), "--to", pg},
        options);
    REQUIRE(copy.waitForLine("copying allocations", 60000));
    copy.kill(SIGKILL);
    const auto killed = copy.wait();
    CHECK(killed.signal == SIGKILL);
    CHECK(killed.out.find("verifying") == std::string::npos);
    auto left = sync::digestCollector(pg);
    REQUIRE_MESSAGE(left, left.error().describe());
    for (const auto& t : left.value()) {
        CAPTURE(t.table);
        if (t.table != "meta") CHECK(t.sourceRows == 0);
    }
    const auto again =
        test::veldctl({"collector", "copy", "--from", source.storePath(), "--to", pg});
    REQUIRE_MESSAGE(again.exitCode == 0, (again.out + again.err));
}
