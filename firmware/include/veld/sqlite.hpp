// The one SQLite wrapper in Veld: connections, prepared statements and transactions.
//
// Not thread-safe: a Database and its Statements belong to one thread at a time. Several
// connections (in one process or several) may use the same file; SQLite's locking keeps them
// consistent and a writer that cannot get the lock in time gets ErrorCode::InUse.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <veld/result.hpp>

struct sqlite3;
struct sqlite3_stmt;

namespace veld::sql {

enum class OpenMode {
    ReadWriteCreate,  // create the file if missing
    ReadWrite,        // the file must exist; falls back to read-only if it cannot be written
    ReadOnly,
};

/// Turns an SQLite result code into a Veld error. `context` says what Veld was doing
/// ("finalizing record ..."). A failed write is reported as StorageFull: SQLite often reports a
/// full disk as SQLITE_IOERR_WRITE rather than SQLITE_FULL.
Error errorFromSqlite(int extendedCode, std::string_view context, std::string_view detail);

/// A connection's prepared statements not in use, by their SQL text (see Database::prepare).
class StatementCache;

class Statement {
  public:
    Statement() = default;
    Statement(sqlite3* db, sqlite3_stmt* stmt) : m_db(db), m_stmt(stmt) {}
    Statement(sqlite3* db, sqlite3_stmt* stmt, std::shared_ptr<StatementCache> cache)
        : m_db(db), m_stmt(stmt), m_cache(std::move(cache)) {}
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    // Parameters are 1-based, as in SQLite. Text and blobs are copied (SQLITE_TRANSIENT) unless
    // the *Static variant is used, which requires the data to outlive the next step()/reset().
    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::string_view text);
    Statement& bindBlob(int index, std::span<const std::uint8_t> data);
    Statement& bindBlobStatic(int index, std::span<const std::uint8_t> data);
    Statement& bindNull(int index);

    /// Runs one step: true when a row is ready, false when done.
    Result<bool> step();
    /// Runs to completion, for statements that return no rows.
    Status run();
    /// Resets the statement and clears its bindings so it can be reused.
    void reset();

    /// Steps through every row, calling `each()` with the row's columns ready to read. `each`
    /// returns void, or a Status whose failure stops the loop. Returns the first failure (each's
    /// or SQLite's). The statement is left as it ended: reset it (or let a Resetting guard do so)
    /// before binding it again.
    template <typename Each>
    Status forEachRow(Each&& each) {
        for (;;) {
            auto row = step();
            if (!row) return row.error();
            if (!*row) return {};
            if constexpr (std::is_void_v<std::invoke_result_t<Each&>>) {
                each();
            } else if (Status s = each(); !s) {
                return s;
            }
        }
    }

    [[nodiscard]] std::int64_t columnInt(int index) const;
    [[nodiscard]] bool columnIsNull(int index) const;
    /// Valid until the next step(), reset() or column call on the same column.
    [[nodiscard]] std::string_view columnText(int index) const;
    [[nodiscard]] std::span<const std::uint8_t> columnBlob(int index) const;

    [[nodiscard]] bool valid() const { return m_stmt != nullptr; }

  private:
    void release();

    sqlite3* m_db = nullptr;
    sqlite3_stmt* m_stmt = nullptr;
    std::shared_ptr<StatementCache> m_cache;  // where it goes back to when done; may be null
};

class Database {
  public:
    /// Opens (or creates) a database file with extended result codes and a busy timeout.
    /// `vfs` names a registered SQLite VFS (tests inject faults through one); nullptr is the
    /// default.
    static Result<Database> open(const std::string& path, OpenMode mode, int busyTimeoutMs = 5000,
                                 const char* vfs = nullptr);

    Database() = default;
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database();

    /// Runs one or more statements that return no rows.
    Status exec(std::string_view sql);

    /// Transaction control, run from statements prepared once per connection (these run on
    /// every write, so they skip the parser).
    enum class Control { Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Count };
    Status control(Control what);
    /// Prepares a statement meant to be kept and reused. A statement of the same text that was
    /// prepared on this connection before and is no longer in use is handed out again (reset,
    /// bindings cleared) instead of being parsed anew: code that prepares its statements where
    /// it runs them (once per revision of a push) does not pay SQLite's parser each time.
    Result<Statement> prepare(std::string_view sql);
    /// Runs a query whose first column of the first row is an integer (PRAGMA user_version, ...).
    Result<std::int64_t> queryInt(std::string_view sql);

    [[nodiscard]] bool readOnly() const;
    /// Rows changed by the last INSERT, UPDATE or DELETE.
    [[nodiscard]] int changes() const;
    [[nodiscard]] bool inTransaction() const;
    /// How many Transaction objects are open on this connection (0: none).
    [[nodiscard]] int transactionDepth() const { return m_depth; }
    /// The error of the last failed call on this connection, described for `context`.
    [[nodiscard]] Error lastError(std::string_view context) const;
    /// The row id of the row the last INSERT on this connection made.
    [[nodiscard]] std::int64_t lastInsertRowid() const;
    /// Called after every commit that wrote to the write-ahead log, with the log's size in
    /// pages; it replaces SQLite's automatic checkpoints on this connection (an empty function
    /// removes it and restores none). For a connection in WAL mode.
    void onWalCommit(std::function<void(int pages)> hook);
    /// Copies the whole of `source` into this database (SQLite's online backup, in one step under
    /// one read transaction of the source, so the copy holds the source as it was at one moment
    /// however busy it is); waits up to about 5 s for the source's read lock. `context` names
    /// what is copied in errors.
    Status backupFrom(Database& source, std::string_view context);
    /// A passive checkpoint: copies what no reader still needs from the write-ahead log into the
    /// database file, never waiting for or blocking a writer.
    Status checkpointPassive();
    [[nodiscard]] sqlite3* handle() const { return m_db; }
    [[nodiscard]] const std::string& path() const { return m_path; }

  private:
    void finalizeControls();

    sqlite3* m_db = nullptr;
    std::string m_path;
    std::shared_ptr<StatementCache> m_cache;
    sqlite3_stmt* m_controls[static_cast<int>(Control::Count)] = {};
    int m_depth = 0;  // Transaction objects alive on this connection
    // On the heap, so that SQLite's pointer to it survives a move of the Database.
    std::unique_ptr<std::function<void(int)>> m_walHook;
    friend class Transaction;
};

/// One numbered step of a file's schema: the SQL that brings it from the step before to
/// `version`. A step that has shipped is never edited: a change is a new step.
struct Migration {
    int version;
    const char* sql;
};

/// A kind of SQLite file Veld writes: its name in messages, the program that writes it, its
/// application_id and its steps (versions 1..n, in order).
struct Schema {
    std::string_view kind;     // "Veld store"
    std::string_view program;  // "Veld"
    std::int32_t applicationId = 0;
    std::span<const Migration> steps;
    [[nodiscard]] int version() const { return steps.empty() ? 0 : steps.back().version; }
};

/// What a file says of itself, read in one statement (one snapshot: another process may be
/// creating the same file).
struct SchemaHeader {
    std::int64_t applicationId = 0;
    std::int64_t version = 0;
    std::int64_t tables = 0;
    [[nodiscard]] bool fresh() const { return applicationId == 0 && version == 0 && tables == 0; }
};

/// Reads the header; NotAStore (naming the schema's kind) for a file SQLite cannot read as a
/// database.
Result<SchemaHeader> readSchemaHeader(Database& db, const Schema& schema, const std::string& path);

/// NotAStore for a file that is neither new nor of the schema's kind; TooNew for one written by a
/// newer program (left untouched).
Status checkSchema(const SchemaHeader& header, const Schema& schema, const std::string& path);

/// Brings the file to the schema's version: every step after the file's version, each in its own
/// transaction, which reads user_version again (another process may have run the step meanwhile)
/// and sets it to the step's number; the first step also sets the application_id. A process
/// stopped half-way leaves the file at its last whole step, and the next open goes on from there.
/// Checks the file (checkSchema) first.
Status migrate(Database& db, const Schema& schema, const std::string& path);

/// RAII transaction: rolls back unless commit() succeeded. The outermost one is BEGIN IMMEDIATE
/// (it takes the write lock at once, so a busy store fails early and cleanly instead of at
/// commit); nested ones are savepoints, so a function that needs a transaction can be called
/// inside a caller's batch.
class Transaction {
  public:
    static Result<Transaction> begin(Database& db);

    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();

    Status commit();
    /// Rolls back now (the destructor would too); for callers that want the error of a rollback.
    void rollback();

    [[nodiscard]] bool nested() const { return m_nested; }

  private:
    Transaction(Database& db, bool nested) : m_db(&db), m_nested(nested) {}
    void finish();

    Database* m_db = nullptr;
    bool m_nested = false;
    bool m_done = false;
};

}  // namespace veld::sql
