#include <optional>
#include <string>

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <veld/sqlite.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

std::int64_t rows(sql::Database& db) {
    return db.queryInt("SELECT count(*) FROM t").value();
}

}  // namespace

TEST_CASE("a transaction rolls back unless it is committed") {
    test::TempDir dir;
    auto db = sql::Database::open(dir.file("t.db"), sql::OpenMode::ReadWriteCreate);
    REQUIRE(db);
    REQUIRE(db->exec("CREATE TABLE t (x INTEGER)"));
    {
        auto tx = sql::Transaction::begin(*db);
        REQUIRE(tx);
        REQUIRE(db->exec("INSERT INTO t VALUES (1)"));
    }
    CHECK(rows(*db) == 0);
    CHECK_FALSE(db->inTransaction());
    {
        auto tx = sql::Transaction::begin(*db);
        REQUIRE(tx);
        REQUIRE(db->exec("INSERT INTO t VALUES (1)"));
        REQUIRE(tx->commit());
    }
    CHECK(rows(*db) == 1);
}

TEST_CASE("a nested transaction is a savepoint inside its caller's transaction") {
    test::TempDir dir;
    auto db = sql::Database::open(dir.file("t.db"), sql::OpenMode::ReadWriteCreate);
    REQUIRE(db);
    REQUIRE(db->exec("CREATE TABLE t (x INTEGER)"));
    auto outer = sql::Transaction::begin(*db);
    REQUIRE(outer);
    {
        auto inner = sql::Transaction::begin(*db);
        REQUIRE(inner);
        CHECK(inner->nested());
        REQUIRE(db->exec("INSERT INTO t VALUES (1)"));
        // not committed: only the inner work is undone
    }
    {
        auto inner = sql::Transaction::begin(*db);
        REQUIRE(inner);
        REQUIRE(db->exec("INSERT INTO t VALUES (2)"));
        REQUIRE(inner->commit());
    }
    CHECK(rows(*db) == 1);
    SUBCASE("and the caller's rollback undoes committed inner work") {
        outer->rollback();
        CHECK(rows(*db) == 0);
    }
    SUBCASE("and the caller's commit keeps it") {
        REQUIRE(outer->commit());
        CHECK(rows(*db) == 1);
    }
}

TEST_CASE("SQLite errors become Veld errors a user can act on") {
    CHECK(sql::errorFromSqlite(SQLITE_FULL, "finalizing", "").code == ErrorCode::StorageFull);
    // A full disk often shows up as a failed write rather than SQLITE_FULL.
    CHECK(sql::errorFromSqlite(SQLITE_IOERR_WRITE, "finalizing", "").code ==
          ErrorCode::StorageFull);
    CHECK(sql::errorFromSqlite(SQLITE_IOERR_READ, "reading", "").code == ErrorCode::Io);
    CHECK(sql::errorFromSqlite(SQLITE_READONLY, "saving", "").code == ErrorCode::ReadOnly);
    CHECK(sql::errorFromSqlite(SQLITE_BUSY, "saving", "").code == ErrorCode::InUse);
    CHECK(sql::errorFromSqlite(SQLITE_CORRUPT, "reading", "").code == ErrorCode::Corrupt);
    CHECK(sql::errorFromSqlite(SQLITE_NOTADB, "opening", "").code == ErrorCode::NotAStore);
    auto e = sql::errorFromSqlite(SQLITE_FULL, "finalizing record x", "database or disk is full");
    CHECK(e.describe().find("finalizing record x") != std::string::npos);
    CHECK(e.describe().find("disk is full") != std::string::npos);
}

TEST_CASE("after SQLite rolls back a whole transaction by itself, nested work is refused") {
    // After an I/O error SQLite may roll back the outer transaction on its own; work started
    // afterwards must not run outside the caller's transaction and commit on its own.
    test::TempDir dir;
    auto db = sql::Database::open(dir.file("t.db"), sql::OpenMode::ReadWriteCreate);
    REQUIRE(db);
    REQUIRE(db->exec("CREATE TABLE t (x INTEGER)"));
    auto outer = sql::Transaction::begin(*db);
    REQUIRE(outer);
    REQUIRE(db->exec("INSERT INTO t VALUES (1)"));
    REQUIRE(db->exec("ROLLBACK"));  // what SQLite does by itself after some errors
    auto inner = sql::Transaction::begin(*db);
    REQUIRE_FALSE(inner);
    CHECK(inner.error().code == ErrorCode::WrongState);
    auto commit = outer->commit();
    REQUIRE_FALSE(commit);
    CHECK(commit.error().message.find("rolled back") != std::string::npos);
    CHECK(rows(*db) == 0);
    // A new transaction works again.
    auto next = sql::Transaction::begin(*db);
    REQUIRE(next);
    REQUIRE(db->exec("INSERT INTO t VALUES (2)"));
    REQUIRE(next->commit());
    CHECK(rows(*db) == 1);
}

TEST_CASE("migrate runs each numbered step once, in its own transaction, and refuses other files") {
    test::TempDir dir;
    const std::string path = dir.file("m.db");
    constexpr sql::Migration kSteps[] = {
        {1, "CREATE TABLE t (x INTEGER)"},
        {2, "INSERT INTO t VALUES (2)"},
        {3, "INSERT INTO t VALUES (3); INSERT INTO nowhere VALUES (1)"},  // fails
    };
    const sql::Schema two{"test file", "Tester", 0x54455354, std::span(kSteps).first(2)};
    const sql::Schema three{"test file", "Tester", 0x54455354, kSteps};
    {
        auto db = sql::Database::open(path, sql::OpenMode::ReadWriteCreate);
        REQUIRE(db);
        REQUIRE(sql::migrate(*db, two, path));
        CHECK(db->queryInt("PRAGMA user_version").value() == 2);
        CHECK(db->queryInt("PRAGMA application_id").value() == 0x54455354);
        // Again: nothing to do, nothing run twice.
        REQUIRE(sql::migrate(*db, two, path));
        CHECK(rows(*db) == 1);
        // A failing step leaves the file at the last whole step.
        auto failed = sql::migrate(*db, three, path);
        REQUIRE_FALSE(failed);
        CHECK(failed.error().message.find("to schema 3") != std::string::npos);
        CHECK(db->queryInt("PRAGMA user_version").value() == 2);
        CHECK(rows(*db) == 1);
    }
    SUBCASE("a file written by a newer program is refused, untouched") {
        auto db = sql::Database::open(path, sql::OpenMode::ReadWrite);
        REQUIRE(db);
        const sql::Schema one{"test file", "Tester", 0x54455354, std::span(kSteps).first(1)};
        auto refused = sql::migrate(*db, one, path);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().code == ErrorCode::TooNew);
        CHECK(refused.error().message.find("newer Tester") != std::string::npos);
        CHECK(db->queryInt("PRAGMA user_version").value() == 2);
    }
    SUBCASE("another kind of file is refused") {
        auto db = sql::Database::open(path, sql::OpenMode::ReadWrite);
        REQUIRE(db);
        const sql::Schema other{"other file", "Other", 0x4F544852, std::span(kSteps).first(2)};
        auto refused = sql::migrate(*db, other, path);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().code == ErrorCode::NotAStore);
        CHECK(refused.error().message.find("not a other file") != std::string::npos);
    }
}

TEST_CASE("forEachRow visits every row and stops at the first failure") {
    test::TempDir dir;
    auto db = sql::Database::open(dir.file("r.db"), sql::OpenMode::ReadWriteCreate);
    REQUIRE(db);
    REQUIRE(db->exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3)"));
    auto st = db->prepare("SELECT x FROM t ORDER BY x");
    REQUIRE(st);
    std::int64_t sum = 0;
    REQUIRE(st->forEachRow([&] { sum += st->columnInt(0); }));
    CHECK(sum == 6);
    st->reset();
    int seen = 0;
    auto stopped = st->forEachRow([&]() -> Status {
        ++seen;
        if (st->columnInt(0) == 2) return makeError(ErrorCode::InvalidArgument, "two");
        return {};
    });
    REQUIRE_FALSE(stopped);
    CHECK(stopped.error().message == "two");
    CHECK(seen == 2);
}

TEST_CASE("the wrapper reports inserted row ids, WAL commits and checkpoints") {
    test::TempDir dir;
    auto db = sql::Database::open(dir.file("w.db"), sql::OpenMode::ReadWriteCreate);
    REQUIRE(db);
    REQUIRE(db->exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER PRIMARY KEY, y)"));
    int commits = 0;
    int lastPages = 0;
    db->onWalCommit([&](int pages) {
        ++commits;
        lastPages = pages;
    });
    REQUIRE(db->exec("INSERT INTO t (x, y) VALUES (41, 'a')"));
    CHECK(db->lastInsertRowid() == 41);
    CHECK(commits == 1);
    CHECK(lastPages > 0);
    // The hook replaces SQLite's automatic checkpoints: the log keeps growing until asked.
    REQUIRE(db->checkpointPassive());
    db->onWalCommit({});
    REQUIRE(db->exec("INSERT INTO t (y) VALUES ('b')"));
    CHECK(commits == 1);
    CHECK(db->lastInsertRowid() == 42);

    auto copy = sql::Database::open(dir.file("copy.db"), sql::OpenMode::ReadWriteCreate);
    REQUIRE(copy);
    REQUIRE(copy->backupFrom(*db, "copying w.db"));
    CHECK(copy->queryInt("SELECT count(*) FROM t").value() == 2);
}

namespace {

// Statements prepared on a connection and not yet finalized (the cache's idle ones included).
int liveStatements(sql::Database& db) {
    int n = 0;
    for (sqlite3_stmt* s = sqlite3_next_stmt(db.handle(), nullptr); s;
         s = sqlite3_next_stmt(db.handle(), s))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("a statement prepared again is reused, clean, and the cache stays bounded") {
    test::TempDir dir;
    auto db = sql::Database::open(dir.file("t.db"), sql::OpenMode::ReadWriteCreate);
    REQUIRE(db);
    REQUIRE(db->exec("CREATE TABLE t (x INTEGER)"));
    const int before = liveStatements(*db);
    constexpr const char* kInsert = "INSERT INTO t VALUES (?)";
    for (int i = 0; i < 100; ++i) {
        auto st = db->prepare(kInsert);
        REQUIRE(st);
        st->bind(1, std::int64_t{i});
        REQUIRE(st->run());
    }
    // One parsed statement served all hundred inserts.
    CHECK(liveStatements(*db) == before + 1);
    CHECK(rows(*db) == 100);

    // A statement handed out again has no bindings left from its last use: NULL, not 99.
    {
        auto st = db->prepare(kInsert);
        REQUIRE(st);
        REQUIRE(st->run());
    }
    CHECK(db->queryInt("SELECT count(*) FROM t WHERE x IS NULL").value() == 1);

    // Two at once of the same text are two statements, stepped independently.
    {
        auto a = db->prepare("SELECT x FROM t WHERE x IS NOT NULL ORDER BY x");
        auto b = db->prepare("SELECT x FROM t WHERE x IS NOT NULL ORDER BY x");
        REQUIRE(a);
        REQUIRE(b);
        REQUIRE(a->step().value());
        REQUIRE(a->step().value());
        REQUIRE(b->step().value());
        CHECK(a->columnInt(0) == 1);
        CHECK(b->columnInt(0) == 0);
    }

    // A statement half-stepped and dropped holds no read transaction: another connection can
    // still write and the first then sees the change.
    {
        auto st = db->prepare("SELECT x FROM t");
        REQUIRE(st);
        REQUIRE(st->step().value());
    }
    {
        auto other = sql::Database::open(dir.file("t.db"), sql::OpenMode::ReadWrite, 100);
        REQUIRE(other);
        REQUIRE(other->exec("INSERT INTO t VALUES (1000)"));
    }
    CHECK(rows(*db) == 102);

    // SQL made from values does not fill memory: idle statements are capped.
    for (int i = 0; i < 1000; ++i)
        REQUIRE(db->prepare("SELECT " + std::to_string(i) + " FROM t"));
    CHECK(liveStatements(*db) <= before + 140);
}

TEST_CASE("a statement may outlive its connection's Database object") {
    test::TempDir dir;
    std::optional<sql::Statement> kept;
    {
        auto db = sql::Database::open(dir.file("t.db"), sql::OpenMode::ReadWriteCreate);
        REQUIRE(db);
        REQUIRE(db->exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)"));
        { REQUIRE(db->prepare("SELECT x FROM t")); }  // idle in the cache when the db closes
        auto st = db->prepare("SELECT x + 1 FROM t");
        REQUIRE(st);
        kept = std::move(st.value());
    }
    REQUIRE(kept->step().value());
    CHECK(kept->columnInt(0) == 8);
    kept.reset();  // finalized now, and the connection closed with it
}
