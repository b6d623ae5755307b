// The PostgreSQL backend's foundation against a real PostgreSQL 15: the libpq wrapper (binary
// parameters and rows, errors, streaming, pooled connections across a server restart,
// serialization retries), the schema and its migration runner, and the counters several
// collector processes share.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <veld/sync/collector_store.hpp>

#include "postgres/pg.hpp"
#include "postgres/pg_collector.hpp"
#include "postgres/pg_schema.hpp"
#include "support/pg_cluster.hpp"
#include "support/sync_support.hpp"
#include "support/test_support.hpp"

// Fails the test with the error's text when `expr` (a Result or Status) failed.
#define REQUIRE_OK(expr)                                                              \
    do {                                                                              \
        const auto& result_ = (expr);                                                 \
        REQUIRE_MESSAGE(result_.ok(),                                                 \
                        (result_.ok() ? std::string() : result_.error().describe())); \
    } while (false)

namespace {

using namespace veld;
using veld::test::PgCluster;

pg::Connection connect(const std::string& location) {
    auto c = pg::Connection::open({location, {}});
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().describe()));
    return std::move(c.value());
}

}  // namespace

TEST_CASE("postgres: values travel in binary and come back as they were") {
    const std::string db = test::sharedPgCluster().createDatabase();
    auto c = connect(db);
    REQUIRE_OK(c.exec("CREATE TABLE t (i bigint, s text, b bytea, f boolean, n bigint)"));
    const std::vector<std::uint8_t> bytes{0, 1, 2, 0xff, 0, 0x7f};
    const Uuid id = makeUuidV4();
    REQUIRE_OK(
        c.run("INSERT INTO t VALUES ($1, $2, $3, $4, $5)", pg::Params()
                                                               .add(std::int64_t{-1234567890123})
                                                               .add("grüße 'quoted' \"x\"")
                                                               .addBytes(bytes)
                                                               .addBool(true)
                                                               .addNull()));
    REQUIRE_OK(
        c.run("INSERT INTO t (i, b) VALUES ($1, $2)", pg::Params().add(std::int64_t{7}).add(id)));
    auto rows =
        c.query("SELECT i, s, b, f, n, (i % 1000)::int4, (i % 100)::int2 FROM t ORDER BY 1");
    REQUIRE_OK(rows);
    REQUIRE(rows->size() == 2);
    CHECK(rows->integer(0, 0) == -1234567890123);
    CHECK(rows->text(0, 1) == "grüße 'quoted' \"x\"");
    const auto back = rows->bytes(0, 2);
    CHECK(std::vector<std::uint8_t>(back.begin(), back.end()) == bytes);
    CHECK(rows->boolean(0, 3));
    CHECK(rows->isNull(0, 4));
    CHECK(!rows->optionalInteger(0, 4).has_value());
    CHECK(rows->uuid(1, 2) == id);
    CHECK(rows->integer(1, 5) == 7);
    CHECK(rows->integer(1, 6) == 7);
    CHECK(rows->integer(0, 5) == -123);
    CHECK(rows->integer(0, 6) == -23);
    // sum() of bigints is numeric: read as an integer too, negative included.
    auto sum = c.query("SELECT sum(i), sum(i) * 100000, count(*) FROM t");
    REQUIRE_OK(sum);
    CHECK(sum->integer(0, 0) == -1234567890116);
    CHECK(sum->integer(0, 2) == 2);
    auto changed = c.query("UPDATE t SET n = 1");
    REQUIRE_OK(changed);
    CHECK(changed->affected() == 2);
}

TEST_CASE("postgres: errors say what was done, never the values, with the right code") {
    const std::string db = test::sharedPgCluster().createDatabase();
    auto c = connect(db);
    REQUIRE_OK(c.exec("CREATE TABLE u (k text PRIMARY KEY)"));
    REQUIRE_OK(c.run("INSERT INTO u VALUES ($1)", pg::Params().add("secret-answer")));
    auto again = c.run("INSERT INTO u VALUES ($1)", pg::Params().add("secret-answer"), "adding");
    REQUIRE(!again.ok());
    CHECK(again.error().code == ErrorCode::WrongState);
    CHECK(again.error().message.find("adding: ") == 0);
    CHECK(again.error().message.find("secret-answer") == std::string::npos);
    auto bad = c.query("SELECT * FROM no_such_table", {}, "reading");
    REQUIRE(!bad.ok());
    CHECK(bad.error().code == ErrorCode::Internal);
    CHECK(bad.error().message.find("no_such_table") != std::string::npos);
}

TEST_CASE("postgres: a location with a password is refused and logs show no secrets") {
    CHECK(!pg::checkUri("postgresql://veld:hunter2@db.example/veld").ok());
    CHECK(!pg::checkUri("postgresql://veld@db.example/veld?password=hunter2").ok());
    CHECK(!pg::checkUri("/var/lib/veld/collector.db").ok());
    CHECK(pg::checkUri("postgresql://veld@db.example:5433/veld?sslmode=require").ok());
    CHECK(pg::describeUri("postgresql://veld@db.example:5433/veld?sslmode=require") ==
          "postgresql://veld@db.example:5433/veld");
    CHECK(pg::describeUri("postgresql://veld:hunter2@db.example/veld").find("hunter2") ==
          std::string::npos);
    auto opened = sync::openCollector("postgresql://veld:hunter2@/veld", true);
    REQUIRE(!opened.ok());
    CHECK(opened.error().code == ErrorCode::InvalidArgument);
    CHECK(opened.error().message.find("hunter2") == std::string::npos);
}

TEST_CASE("postgres: a password comes from a password file, and a wrong one is refused") {
    PgCluster& cluster = test::sharedPgCluster();
    const std::string name =
        "veld_pw_" + std::to_string(::getpid()) + "_" + std::to_string(makeUuidV4().bytes[0]);
    cluster.execute("CREATE DATABASE " + name + " OWNER " + PgCluster::kPasswordRole);
    test::TempDir dir;
    const std::string uri = cluster.location(name, PgCluster::kPasswordRole);
    {
        std::FILE* f = std::fopen(dir.file("pw").c_str(), "w");
        std::fputs((std::string(PgCluster::kPassword) + "\n").c_str(), f);
        std::fclose(f);
    }
    auto c = pg::Connection::open({uri, dir.file("pw")});
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().describe()));
    CHECK(c->query("SELECT 1").ok());
    {
        std::FILE* f = std::fopen(dir.file("wrong").c_str(), "w");
        std::fputs("not-the-password\n", f);
        std::fclose(f);
    }
    auto wrong = pg::Connection::open({uri, dir.file("wrong")});
    REQUIRE(!wrong.ok());
    CHECK(wrong.error().message.find("not-the-password") == std::string::npos);
    auto missing = pg::Connection::open({uri, dir.file("absent")});
    REQUIRE(!missing.ok());
    CHECK(missing.error().code == ErrorCode::InvalidArgument);
}

TEST_CASE("postgres: rows stream one at a time and a visitor may stop the stream") {
    const std::string db = test::sharedPgCluster().createDatabase();
    auto c = connect(db);
    std::int64_t total = 0;
    int seen = 0;
    REQUIRE(c.stream("SELECT g FROM generate_series(1, $1) g", pg::Params().add(std::int64_t{5000}),
                     [&](const pg::Rows& row) -> Status {
                         CHECK(row.size() == 1);
                         total += row.integer(0, 0);
                         ++seen;
                         return {};
                     })
                .ok());
    CHECK(seen == 5000);
    CHECK(total == 5000LL * 5001 / 2);
    seen = 0;
    auto stopped =
        c.stream("SELECT g FROM generate_series(1, 1000000) g", {}, [&](const pg::Rows&) -> Status {
            if (++seen == 10) return makeError(ErrorCode::Io, "enough");
            return {};
        });
    REQUIRE(!stopped.ok());
    CHECK(stopped.error().message == "enough");
    CHECK(seen == 10);
    // The connection is usable afterwards.
    auto after = c.query("SELECT 42");
    REQUIRE(after.ok());
    CHECK(after->integer(0, 0) == 42);
}

TEST_CASE("postgres: serialization failures are retried until every transaction counted once") {
    const std::string db = test::sharedPgCluster().createDatabase();
    {
        auto c = connect(db);
        REQUIRE(c.exec("CREATE TABLE n (v bigint); INSERT INTO n VALUES (0)").ok());
    }
    pg::Pool pool({db, {}}, 4);
    std::atomic<int> failures{0};
    std::atomic<int> attempts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                auto s = pg::transact(
                    pool, pg::Isolation::Serializable,
                    [&](pg::Connection& c) -> Status {
                        ++attempts;
                        auto v = c.query("SELECT v FROM n");
                        if (!v) return v.error();
                        return c.run("UPDATE n SET v = $1", pg::Params().add(v->integer(0, 0) + 1));
                    },
                    100);
                if (!s) ++failures;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(failures == 0);
    auto c = connect(db);
    auto v = c.query("SELECT v FROM n");
    REQUIRE(v.ok());
    CHECK(v->integer(0, 0) == 100);
    MESSAGE("100 serializable increments took " << attempts.load() << " attempts");
}

TEST_CASE("postgres: a stopped server is Unavailable and the pool reconnects after a restart") {
    PgCluster cluster;  // its own: this test stops it
    MESSAGE("a PostgreSQL cluster of its own started in " << cluster.lastStartMs() << " ms");
    const std::string db = cluster.createDatabase();
    pg::Pool pool({db, {}, std::chrono::milliseconds(2000)}, 2);
    auto ok = pg::transact(pool, pg::Isolation::ReadCommitted, [](pg::Connection& c) -> Status {
        return c.exec("CREATE TABLE k (v bigint)");
    });
    REQUIRE(ok.ok());
    cluster.stop(PgCluster::StopMode::Immediate);
    auto down = pg::transact(pool, pg::Isolation::ReadCommitted, [](pg::Connection& c) -> Status {
        return c.run("INSERT INTO k VALUES (1)");
    });
    REQUIRE(!down.ok());
    CHECK(down.error().code == ErrorCode::Unavailable);
    cluster.start();
    // The pooled connections died with the old server: the next transaction opens a new one.
    auto up = pg::transact(pool, pg::Isolation::ReadCommitted, [](pg::Connection& c) -> Status {
        return c.run("INSERT INTO k VALUES (2)");
    });
    REQUIRE_MESSAGE(up.ok(), (up.ok() ? "" : up.error().describe()));
    cluster.restart();
    auto again = pg::transact(pool, pg::Isolation::ReadCommitted, [](pg::Connection& c) -> Status {
        return c.run("INSERT INTO k VALUES (3)");
    });
    REQUIRE_MESSAGE(again.ok(), (again.ok() ? "" : again.error().describe()));
    auto c = connect(db);
    auto rows = c.query("SELECT array_agg(v ORDER BY v)::text FROM k");
    REQUIRE_OK(rows);
    // Binary text of an array cast to text is its text form.
    CHECK(rows->text(0, 0) == "{2,3}");
}

TEST_CASE("postgres: a new collector's schema, and databases that are not a collector's") {
    PgCluster& cluster = test::sharedPgCluster();
    const std::string db = cluster.createDatabase();
    {
        auto c = connect(db);
        auto refused = sync::postgres::migrate(c, false);
        REQUIRE(!refused.ok());
        CHECK(refused.error().code == ErrorCode::NotAStore);
        REQUIRE_OK(sync::postgres::migrate(c, true));
        auto version = sync::postgres::schemaVersion(c);
        REQUIRE(version.ok());
        CHECK(version.value() == sync::kCollectorSchemaVersion);
        auto id = sync::postgres::metaText(c, "collector_id");
        REQUIRE(id.ok());
        CHECK(id->starts_with("veld-collector-"));
        auto key = sync::postgres::metaText(c, "pseudonym_key");
        REQUIRE(key.ok());
        CHECK(!key->empty());
        // Opening again keeps the collector (no second id, no new key).
        REQUIRE_OK(sync::postgres::migrate(c, true));
        CHECK(sync::postgres::metaText(c, "collector_id").value() == id.value());
        CHECK(sync::postgres::metaText(c, "pseudonym_key").value() == key.value());
        // Every table of the SQLite store's schema is there.
        auto tables = c.query(
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM "
            "information_schema.tables WHERE table_schema = current_schema()");
        REQUIRE(tables.ok());
        CHECK(tables->text(0, 0) ==
              "admins,allocations,audit,case_conflicts,case_holders,case_properties,cases,"
              "conflicts,correction_devices,corrections,devices,duplicate_decisions,enrol_codes,"
              "forms,meta,records,rejected,"
              "review_history,reviews,revisions,schema_version,studies,study_blocks,"
              "webhook_deliveries,webhooks");
        // A database written by a newer Veld is refused.
        REQUIRE_OK(c.exec("UPDATE schema_version SET version = 99"));
        auto newer = sync::postgres::migrate(c, true);
        REQUIRE(!newer.ok());
        CHECK(newer.error().code == ErrorCode::TooNew);
        REQUIRE_OK(c.exec("UPDATE schema_version SET application = 'something-else'"));
        auto other = sync::postgres::migrate(c, true);
        REQUIRE(!other.ok());
        CHECK(other.error().code == ErrorCode::NotAStore);
    }
    const std::string foreign = cluster.createDatabase();
    auto c = connect(foreign);
    REQUIRE_OK(c.exec("CREATE TABLE invoices (id bigint)"));
    auto refused = sync::postgres::migrate(c, true);
    REQUIRE(!refused.ok());
    CHECK(refused.error().code == ErrorCode::NotAStore);
    // Nothing of the collector's was added to it.
    auto version = sync::postgres::schemaVersion(c);
    REQUIRE(version.ok());
    CHECK(version.value() == 0);
}

TEST_CASE("postgres: collectors started together on one empty database make one collector") {
    const std::string db = test::sharedPgCluster().createDatabase();
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&] {
            auto c = pg::Connection::open({db, {}});
            if (!c || !sync::postgres::migrate(c.value(), true)) ++failed;
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(failed == 0);
    auto c = connect(db);
    auto ids = c.query("SELECT count(*) FROM meta WHERE key = 'collector_id'");
    REQUIRE(ids.ok());
    CHECK(ids->integer(0, 0) == 1);
}

TEST_CASE("postgres: counters never give a number twice across connections") {
    const std::string db = test::sharedPgCluster().createDatabase();
    {
        auto c = connect(db);
        REQUIRE_OK(sync::postgres::migrate(c, true));
        CHECK(sync::postgres::counterValue(c, "case_seq").value() == 0);
    }
    pg::Pool pool({db, {}}, 4);
    std::mutex mutex;
    std::vector<std::uint64_t> numbers;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                std::uint64_t got = 0;
                auto s = pg::transact(
                    pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
                        auto n = sync::postgres::nextCounter(c, "case_seq");
                        if (!n) return n.error();
                        got = n.value();
                        return sync::postgres::audit(c, 1, "test", "count", "", "");
                    });
                REQUIRE(s.ok());
                std::lock_guard lock(mutex);
                numbers.push_back(got);
            }
        });
    }
    for (auto& t : threads)
        t.join();
    std::sort(numbers.begin(), numbers.end());
    REQUIRE(numbers.size() == 200);
    CHECK(numbers.front() == 1);
    CHECK(numbers.back() == 200);
    CHECK(std::set<std::uint64_t>(numbers.begin(), numbers.end()).size() == 200);
    auto c = connect(db);
    CHECK(sync::postgres::counterValue(c, "case_seq").value() == 200);
    auto audited = c.query("SELECT count(*) FROM audit");
    REQUIRE(audited.ok());
    CHECK(audited->integer(0, 0) == 200);
}

TEST_CASE("postgres: programs refuse a password in the location and never print it") {
    const std::string withPassword = "postgresql://veld:hunter2@/veld?host=%2Ftmp";
    const auto collector =
        test::runProcess({test::binary("veld-collector"), "--store", withPassword, "--port", "0"});
    CHECK(collector.exitCode == 2);
    CHECK(collector.err.find("password") != std::string::npos);
    CHECK(collector.err.find("hunter2") == std::string::npos);
    const auto init = test::veldctl({"collector", "init", withPassword});
    CHECK(init.exitCode == 1);
    CHECK(init.err.find("hunter2") == std::string::npos);
    // Backups of a PostgreSQL store are PostgreSQL's business.
    test::TempDir dir;
    const auto backup = test::veldctl(
        {"collector", "backup", test::sharedPgCluster().createDatabase(), dir.file("copy.db")});
    CHECK(backup.exitCode == 2);
    CHECK(backup.err.find("pg_dump") != std::string::npos);
    // A database that is not a collector's is refused by name, without its parameters.
    const std::string empty = test::sharedPgCluster().createDatabase();
    const auto serve =
        test::runProcess({test::binary("veld-collector"), "--store", empty, "--port", "0"});
    CHECK(serve.exitCode == 1);
    CHECK(serve.err.find("not-a-store") != std::string::npos);
    CHECK(serve.err.find("veldctl collector init postgresql://postgres@") != std::string::npos);
    CHECK(serve.err.find("?host") == std::string::npos);
    // A password file that cannot be read is named; nothing is tried without it.
    const auto noFile =
        test::runProcess({test::binary("veld-collector"), "--store", empty, "--port", "0",
                          "--store-password-file", dir.file("absent")});
    CHECK(noFile.exitCode == 1);
    CHECK(noFile.err.find("cannot read the database password file") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.file("copy.db")));
}

TEST_CASE(
    "postgres: statements are prepared once per connection, and hundreds of different ones, "
    "inside a transaction or not, still give their own answers") {
    const std::string db = test::sharedPgCluster().createDatabase();
    auto c = connect(db);
    const auto count = [&]() {
        auto rows = c.query("SELECT count(*) FROM pg_prepared_statements");
        REQUIRE_OK(rows);
        return rows->integer(0, 0);
    };
    // The same statement again and again: prepared once.
    for (std::int64_t i = 0; i < 10; ++i) {
        auto rows = c.query("SELECT $1::bigint * 2", pg::Params().add(i));
        REQUIRE_OK(rows);
        CHECK(rows->integer(0, 0) == i * 2);
    }
    const auto afterOne = count();
    CHECK(afterOne >= 1);
    CHECK(afterOne <= 2);  // with the counting statement itself
    // The same text with a null has a type of the server's choosing: a statement of its own,
    // and a value after it still reads as a value.
    auto null = c.query("SELECT $1::bigint IS NULL", pg::Params().addNull());
    REQUIRE_OK(null);
    CHECK(null->boolean(0, 0));
    auto value = c.query("SELECT $1::bigint * 2", pg::Params().add(std::int64_t{21}));
    REQUIRE_OK(value);
    CHECK(value->integer(0, 0) == 42);
    // More different statements than a connection keeps, outside a transaction and inside one
    // (where the cache cannot be emptied and they run unprepared): each answers for itself.
    for (int i = 0; i < 300; ++i) {
        auto rows = c.query("SELECT $1::bigint + " + std::to_string(i),
                            pg::Params().add(std::int64_t{1000}));
        REQUIRE_OK(rows);
        CHECK(rows->integer(0, 0) == 1000 + i);
    }
    CHECK(count() <= 200);
    REQUIRE_OK(c.exec("BEGIN"));
    for (int i = 0; i < 300; ++i) {
        auto rows = c.query("SELECT $1::bigint - " + std::to_string(i),
                            pg::Params().add(std::int64_t{1000}));
        REQUIRE_OK(rows);
        CHECK(rows->integer(0, 0) == 1000 - i);
    }
    REQUIRE_OK(c.exec("COMMIT"));
    CHECK(count() <= 200);
    // A failed statement inside a transaction leaves the cache usable after the rollback.
    REQUIRE_OK(c.exec("BEGIN"));
    CHECK_FALSE(c.query("SELECT 1 / $1::bigint", pg::Params().add(std::int64_t{0})));
    REQUIRE_OK(c.exec("ROLLBACK"));
    auto after = c.query("SELECT 1 / $1::bigint", pg::Params().add(std::int64_t{1}));
    REQUIRE_OK(after);
    CHECK(after->integer(0, 0) == 1);
}
