#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>

#include <sqlite3.h>

#include <veld/sqlite.hpp>

namespace veld::sql {

Error errorFromSqlite(int extendedCode, std::string_view context, std::string_view detail) {
    std::string message(context);
    if (!detail.empty()) {
        message += ": ";
        message += detail;
    }
    switch (extendedCode & 0xFF) {
        case SQLITE_FULL:
            return makeError(ErrorCode::StorageFull, message + " (the disk is full)");
        case SQLITE_IOERR:
            if (extendedCode == SQLITE_IOERR_WRITE || extendedCode == SQLITE_IOERR_FSYNC ||
                extendedCode == SQLITE_IOERR_TRUNCATE || extendedCode == SQLITE_IOERR_SHMSIZE) {
                return makeError(ErrorCode::StorageFull,
                                 message + " (writing failed: the disk is full or failing)");
            }
            return makeError(ErrorCode::Io, message);
        case SQLITE_READONLY:
            return makeError(ErrorCode::ReadOnly, message + " (the store cannot be written)");
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return makeError(ErrorCode::InUse,
                             message + " (another program is using the store; try again)");
        case SQLITE_CORRUPT:
            return makeError(ErrorCode::Corrupt, message);
        case SQLITE_NOTADB:
            return makeError(ErrorCode::NotAStore, message);
        case SQLITE_CANTOPEN:
            return makeError(ErrorCode::Io, message + " (cannot open the file)");
        case SQLITE_PERM:
        case SQLITE_AUTH:
            return makeError(ErrorCode::ReadOnly, message);
        case SQLITE_NOMEM:
            return makeError(ErrorCode::Internal, message + " (out of memory)");
        default:
            return makeError(ErrorCode::Internal, message);
    }
}

// ---- StatementCache -------------------------------------------------------------------------

// At most one idle statement per SQL text, and at most kCapacity in all (SQL built from values
// must not fill memory). Statements may be handed back after their Database is gone (it closes
// with sqlite3_close_v2): then they are finalized instead.
class StatementCache {
  public:
    static constexpr std::size_t kCapacity = 128;

    sqlite3_stmt* take(std::string_view sql) {
        std::lock_guard lock(m_mutex);
        const auto it = m_idle.find(sql);
        if (it == m_idle.end()) return nullptr;
        sqlite3_stmt* stmt = it->second;
        m_idle.erase(it);
        return stmt;
    }

    /// Keeps a reset statement for the next prepare() of its text; false when the caller must
    /// finalize it.
    bool give(sqlite3_stmt* stmt) {
        const char* text = sqlite3_sql(stmt);
        if (!text) return false;
        std::lock_guard lock(m_mutex);
        if (m_closed || m_idle.size() >= kCapacity) return false;
        return m_idle.emplace(text, stmt).second;
    }

    void close() {
        std::lock_guard lock(m_mutex);
        m_closed = true;
        for (auto& [text, stmt] : m_idle)
            sqlite3_finalize(stmt);
        m_idle.clear();
    }

  private:
    std::mutex m_mutex;
    std::map<std::string, sqlite3_stmt*, std::less<>> m_idle;
    bool m_closed = false;
};

// ---- Statement ------------------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : m_db(other.m_db), m_stmt(other.m_stmt), m_cache(std::move(other.m_cache)) {
    other.m_stmt = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        release();
        m_db = other.m_db;
        m_stmt = other.m_stmt;
        m_cache = std::move(other.m_cache);
        other.m_stmt = nullptr;
    }
    return *this;
}

Statement::~Statement() {
    release();
}

void Statement::release() {
    if (!m_stmt) return;
    if (m_cache) {
        // Reset first: a statement kept idle holds no read transaction and no bound data.
        sqlite3_reset(m_stmt);
        sqlite3_clear_bindings(m_stmt);
        if (m_cache->give(m_stmt)) m_stmt = nullptr;
        m_cache.reset();
    }
    sqlite3_finalize(m_stmt);
    m_stmt = nullptr;
}

// Bind errors are programmer mistakes (wrong index, statement not reset): assert, do not return.
Statement& Statement::bind(int index, std::int64_t value) {
    [[maybe_unused]] int rc = sqlite3_bind_int64(m_stmt, index, value);
    assert(rc == SQLITE_OK);
    return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
    // An empty string_view may have a null data(): that would bind NULL, not ''.
    [[maybe_unused]] int rc = sqlite3_bind_text64(m_stmt, index, text.data() ? text.data() : "",
                                                  text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    assert(rc == SQLITE_OK);
    return *this;
}

Statement& Statement::bindBlob(int index, std::span<const std::uint8_t> data) {
    // A zero-length blob must stay a blob, not NULL: pass a valid pointer.
    static const std::uint8_t kEmpty = 0;
    [[maybe_unused]] int rc = sqlite3_bind_blob64(
        m_stmt, index, data.empty() ? &kEmpty : data.data(), data.size(), SQLITE_TRANSIENT);
    assert(rc == SQLITE_OK);
    return *this;
}

Statement& Statement::bindBlobStatic(int index, std::span<const std::uint8_t> data) {
    static const std::uint8_t kEmpty = 0;
    [[maybe_unused]] int rc = sqlite3_bind_blob64(
        m_stmt, index, data.empty() ? &kEmpty : data.data(), data.size(), SQLITE_STATIC);
    assert(rc == SQLITE_OK);
    return *this;
}

Statement& Statement::bindNull(int index) {
    [[maybe_unused]] int rc = sqlite3_bind_null(m_stmt, index);
    assert(rc == SQLITE_OK);
    return *this;
}

Result<bool> Statement::step() {
    int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return errorFromSqlite(sqlite3_extended_errcode(m_db), "database step", sqlite3_errmsg(m_db));
}

Status Statement::run() {
    for (;;) {
        auto row = step();
        if (!row) {
            reset();
            return row.error();
        }
        if (!*row) break;
    }
    reset();
    return {};
}

void Statement::reset() {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

std::int64_t Statement::columnInt(int index) const {
    return sqlite3_column_int64(m_stmt, index);
}

bool Statement::columnIsNull(int index) const {
    return sqlite3_column_type(m_stmt, index) == SQLITE_NULL;
}

std::string_view Statement::columnText(int index) const {
    auto* text = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, index));
    auto size = static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, index));
    return text ? std::string_view(text, size) : std::string_view();
}

std::span<const std::uint8_t> Statement::columnBlob(int index) const {
    auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(m_stmt, index));
    auto size = static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, index));
    return data ? std::span<const std::uint8_t>(data, size) : std::span<const std::uint8_t>();
}

// ---- Database -------------------------------------------------------------------------------

Result<Database> Database::open(const std::string& path, OpenMode mode, int busyTimeoutMs,
                                const char* vfs) {
    int flags = SQLITE_OPEN_NOMUTEX;  // each connection belongs to one thread
    switch (mode) {
        case OpenMode::ReadWriteCreate:
            flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
            break;
        case OpenMode::ReadWrite:
            flags |= SQLITE_OPEN_READWRITE;
            break;
        case OpenMode::ReadOnly:
            flags |= SQLITE_OPEN_READONLY;
            break;
    }
    Database db;
    db.m_path = path;
    int rc = sqlite3_open_v2(path.c_str(), &db.m_db, flags, vfs);
    if (rc != SQLITE_OK) {
        Error error = db.m_db
                          ? db.lastError("opening " + path)
                          : makeError(ErrorCode::Internal, "opening " + path + ": out of memory");
        return error;
    }
    sqlite3_extended_result_codes(db.m_db, 1);
    sqlite3_busy_timeout(db.m_db, busyTimeoutMs);
    db.m_cache = std::make_shared<StatementCache>();
    return db;
}

Database::Database(Database&& other) noexcept
    : m_db(other.m_db), m_path(std::move(other.m_path)), m_cache(std::move(other.m_cache)) {
    std::copy(std::begin(other.m_controls), std::end(other.m_controls), std::begin(m_controls));
    std::fill(std::begin(other.m_controls), std::end(other.m_controls), nullptr);
    m_depth = other.m_depth;
    other.m_depth = 0;
    other.m_db = nullptr;
    m_walHook = std::move(other.m_walHook);
}

void Database::finalizeControls() {
    if (m_cache) m_cache->close();
    for (auto*& stmt : m_controls) {
        sqlite3_finalize(stmt);
        stmt = nullptr;
    }
}

Status Database::control(Control what) {
    static constexpr const char* kSql[] = {"BEGIN IMMEDIATE",
                                           "COMMIT",
                                           "ROLLBACK",
                                           "SAVEPOINT veld_nested",
                                           "RELEASE veld_nested",
                                           "ROLLBACK TO veld_nested"};
    auto index = static_cast<std::size_t>(what);
    sqlite3_stmt*& stmt = m_controls[index];
    if (!stmt && sqlite3_prepare_v3(m_db, kSql[index], -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                                    nullptr) != SQLITE_OK) {
        return lastError(kSql[index]);
    }
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return lastError(kSql[index]);
    return {};
}

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        finalizeControls();
        sqlite3_close_v2(m_db);
        m_db = other.m_db;
        m_path = std::move(other.m_path);
        m_cache = std::move(other.m_cache);
        std::copy(std::begin(other.m_controls), std::end(other.m_controls), std::begin(m_controls));
        std::fill(std::begin(other.m_controls), std::end(other.m_controls), nullptr);
        m_depth = other.m_depth;
        other.m_depth = 0;
        other.m_db = nullptr;
        m_walHook = std::move(other.m_walHook);
    }
    return *this;
}

Database::~Database() {
    finalizeControls();
    // close_v2 defers the close until every statement is finalized, so member order in owners
    // does not matter.
    sqlite3_close_v2(m_db);
}

std::int64_t Database::lastInsertRowid() const {
    return sqlite3_last_insert_rowid(m_db);
}

namespace {

int walCommitted(void* hook, sqlite3*, const char*, int pages) {
    (*static_cast<std::function<void(int)>*>(hook))(pages);
    return SQLITE_OK;
}

}  // namespace

void Database::onWalCommit(std::function<void(int pages)> hook) {
    if (!hook) {
        sqlite3_wal_hook(m_db, nullptr, nullptr);
        m_walHook.reset();
        return;
    }
    auto held = std::make_unique<std::function<void(int)>>(std::move(hook));
    sqlite3_wal_hook(m_db, &walCommitted, held.get());
    m_walHook = std::move(held);
}

Status Database::backupFrom(Database& source, std::string_view context) {
    sqlite3_backup* backup = sqlite3_backup_init(m_db, "main", source.m_db, "main");
    if (!backup) return lastError("starting " + std::string(context));
    int rc = SQLITE_OK;
    for (int attempt = 0; attempt < 100; ++attempt) {
        rc = sqlite3_backup_step(backup, -1);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
        sqlite3_sleep(50);  // the source's read lock could not be had yet
    }
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) return errorFromSqlite(rc, context, sqlite3_errstr(rc));
    return {};
}

Status Database::checkpointPassive() {
    const int rc =
        sqlite3_wal_checkpoint_v2(m_db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK) return lastError("checkpoint");
    return {};
}

Status Database::exec(std::string_view sql) {
    std::string text(sql);
    char* message = nullptr;
    int rc = sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string detail = message ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        return errorFromSqlite(sqlite3_extended_errcode(m_db), "database", detail);
    }
    return {};
}

Result<Statement> Database::prepare(std::string_view sql) {
    if (m_cache) {
        if (sqlite3_stmt* idle = m_cache->take(sql)) return Statement(m_db, idle, m_cache);
    }
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(m_db, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return lastError("preparing a statement");
    return Statement(m_db, stmt, m_cache);
}

Result<std::int64_t> Database::queryInt(std::string_view sql) {
    auto stmt = prepare(sql);
    if (!stmt) return stmt.error();
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) return makeError(ErrorCode::Internal, "query returned no row");
    return stmt->columnInt(0);
}

int Database::changes() const {
    return sqlite3_changes(m_db);
}

bool Database::readOnly() const {
    return sqlite3_db_readonly(m_db, "main") == 1;
}

bool Database::inTransaction() const {
    return sqlite3_get_autocommit(m_db) == 0;
}

Error Database::lastError(std::string_view context) const {
    return errorFromSqlite(sqlite3_extended_errcode(m_db), context, sqlite3_errmsg(m_db));
}

// ---- Transaction ----------------------------------------------------------------------------

Result<Transaction> Transaction::begin(Database& db) {
    // Nesting follows the Transaction objects alive on this connection, not SQLite's own state:
    // after an I/O error SQLite may roll back the whole outer transaction by itself, and work
    // that then ran in autocommit mode would escape the caller's batch.
    bool nested = db.m_depth > 0;
    if (nested && !db.inTransaction()) {
        return makeError(ErrorCode::WrongState,
                         "an earlier error rolled back the enclosing transaction; start it again");
    }
    Status status = db.control(nested ? Database::Control::Savepoint : Database::Control::Begin);
    if (!status) return status.error();
    ++db.m_depth;
    return Transaction(db, nested);
}

Transaction::Transaction(Transaction&& other) noexcept
    : m_db(other.m_db), m_nested(other.m_nested), m_done(other.m_done) {
    other.m_done = true;
}

Transaction::~Transaction() {
    rollback();
}

void Transaction::finish() {
    m_done = true;
    --m_db->m_depth;
    assert(m_db->m_depth >= 0);
}

Status Transaction::commit() {
    assert(!m_done && "commit() after the transaction ended");
    if (!m_db->inTransaction()) {
        finish();
        return makeError(ErrorCode::WrongState,
                         "an earlier error rolled back this transaction; nothing was saved");
    }
    Status status =
        m_db->control(m_nested ? Database::Control::Release : Database::Control::Commit);
    if (status) finish();
    // On failure the destructor rolls back whatever SQLite left open.
    return status;
}

void Transaction::rollback() {
    if (m_done) return;
    finish();
    // After an I/O error or a full disk SQLite may already have rolled the whole transaction
    // back; then there is nothing left to undo.
    if (!m_db->inTransaction()) return;
    if (m_nested) {
        // If the savepoint cannot be undone, releasing it would keep its work: undo everything
        // instead (the enclosing transaction then reports that at its commit).
        if (m_db->control(Database::Control::RollbackTo)) {
            (void)m_db->control(Database::Control::Release);
        } else {
            (void)m_db->control(Database::Control::Rollback);
        }
    } else {
        (void)m_db->control(Database::Control::Rollback);
    }
}

}  // namespace veld::sql

namespace veld::sql {

Result<SchemaHeader> readSchemaHeader(Database& db, const Schema& schema, const std::string& path) {
    auto st = db.prepare(
        "SELECT (SELECT application_id FROM pragma_application_id), "
        "(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)");
    Result<bool> row = st ? st->step() : Result<bool>(st.error());
    if (!row || !*row) {
        Error e = row ? makeError(ErrorCode::Internal, "reading the file's header") : row.error();
        if (e.code == ErrorCode::NotAStore || e.code == ErrorCode::Corrupt)
            return makeError(ErrorCode::NotAStore, path + " is not a " + std::string(schema.kind) +
                                                       " (" + e.message + ")");
        return e;
    }
    SchemaHeader out;
    out.applicationId = st->columnInt(0);
    out.version = st->columnInt(1);
    out.tables = st->columnInt(2);
    return out;
}

Status checkSchema(const SchemaHeader& header, const Schema& schema, const std::string& path) {
    if (header.fresh()) return {};
    if (header.applicationId != schema.applicationId)
        return makeError(ErrorCode::NotAStore, path + " is not a " + std::string(schema.kind));
    if (header.version > schema.version()) {
        const std::string program(schema.program);
        return makeError(ErrorCode::TooNew, path + " was written by a newer " + program +
                                                " (schema " + std::to_string(header.version) +
                                                ", this " + program + " knows " +
                                                std::to_string(schema.version()) +
                                                "); install the newer " + program + " to open it");
    }
    return {};
}

Status migrate(Database& db, const Schema& schema, const std::string& path) {
    auto header = readSchemaHeader(db, schema, path);
    if (!header) return header.error();
    if (Status s = checkSchema(*header, schema, path); !s) return s;
    for (const auto& step : schema.steps) {
        if (step.version <= header->version) continue;
        auto tx = Transaction::begin(db);
        if (!tx) return tx.error();
        auto current = db.queryInt("PRAGMA user_version");
        if (!current) return current.error();
        if (*current >= step.version) continue;
        if (*current == 0) {
            if (Status s =
                    db.exec("PRAGMA application_id = " + std::to_string(schema.applicationId));
                !s)
                return s;
        }
        if (Status s = db.exec(step.sql); !s) {
            return makeError(s.error().code, "upgrading " + path + " to schema " +
                                                 std::to_string(step.version) + ": " +
                                                 s.error().message);
        }
        if (Status s = db.exec("PRAGMA user_version = " + std::to_string(step.version)); !s)
            return s;
        if (Status s = tx->commit(); !s) return s;
    }
    return {};
}

}  // namespace veld::sql
