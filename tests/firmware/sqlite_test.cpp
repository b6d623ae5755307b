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
