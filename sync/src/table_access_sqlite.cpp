// A collector store's tables in an SQLite file, row by row (table_access.hpp).
#include <map>

#include <unistd.h>

#include <veld/sqlite.hpp>
#include <veld/sync/collector_backup.hpp>
#include <veld/sync/collector_store.hpp>

#include "table_access.hpp"

namespace veld::sync::tables {

namespace {

// A decimal integer as SQLite would print it: the meta table's counters are stored as
// integers, everything else in it as text.
bool counterText(const std::string& text) {
    if (text.empty() || text.size() > 18) return false;
    if (text.size() > 1 && text[0] == '0') return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

class SqliteTables final : public TableAccess {
  public:
    SqliteTables(FileLock lock, sql::Database db) : m_lock(std::move(lock)), m_db(std::move(db)) {}
    ~SqliteTables() override {
        if (m_open) (void)m_db.exec("ROLLBACK");
    }

    Status begin(bool write) override {
        // IMMEDIATE takes the write lock at once: a target another program writes is refused
        // before anything is copied. A reader's deferred transaction holds one snapshot from
        // its first read.
        if (auto s = m_db.exec(write ? "BEGIN IMMEDIATE" : "BEGIN"); !s) return s;
        m_open = true;
        return {};
    }

    Status scan(const Table& table, const std::function<Status(const Row&)>& visit) override {
        std::string select = "SELECT ";
        bool first = true;
        for (const auto& c : table.columns) {
            if (!first) select += ", ";
            first = false;
            // Any: a counter is read as its decimal text, as PostgreSQL keeps it.
            select += c.kind == Kind::Any ? "CAST(" + quoted(c.name) + " AS TEXT)" : quoted(c.name);
        }
        select += " FROM " + quoted(table.name) + " ORDER BY ";
        first = true;
        for (const auto& k : table.key) {
            if (!first) select += ", ";
            first = false;
            select += quoted(k);
        }
        auto st = m_db.prepare(select);
        if (!st) return st.error();
        Row row(table.columns.size());
        for (;;) {
            auto more = st->step();
            if (!more) return more.error();
            if (!more.value()) break;
            for (std::size_t i = 0; i < table.columns.size(); ++i) {
                const int at = static_cast<int>(i);
                Value& v = row[i];
                v.null = st->columnIsNull(at);
                v.integer = 0;
                v.bytes.clear();
                if (v.null) continue;
                if (table.columns[i].kind == Kind::Integer) {
                    v.integer = st->columnInt(at);
                } else if (table.columns[i].kind == Kind::Bytes) {
                    const auto b = st->columnBlob(at);
                    v.bytes.assign(reinterpret_cast<const char*>(b.data()), b.size());
                } else {
                    v.bytes = std::string(st->columnText(at));
                }
            }
            if (auto s = visit(row); !s) return s;
        }
        return {};
    }

    Result<std::int64_t> count(const Table& table) override {
        return m_db.queryInt("SELECT count(*) FROM " + quoted(table.name));
    }

    Status clear(const Table& table) override {
        return m_db.exec("DELETE FROM " + quoted(table.name));
    }

    Status insert(const Table& table, const Row& row) override {
        auto& st = m_inserts[std::string(table.name)];
        if (!st.valid()) {
            std::string sql =
                "INSERT INTO " + quoted(table.name) + " (" + columnList(table) + ") VALUES (";
            for (std::size_t i = 0; i < table.columns.size(); ++i)
                sql += i ? ", ?" : "?";
            sql += ")";
            auto prepared = m_db.prepare(sql);
            if (!prepared) return prepared.error();
            st = std::move(prepared.value());
        }
        for (std::size_t i = 0; i < table.columns.size(); ++i) {
            const int at = static_cast<int>(i) + 1;
            const Value& v = row[i];
            if (v.null) {
                st.bindNull(at);
                continue;
            }
            switch (table.columns[i].kind) {
                case Kind::Integer:
                    st.bind(at, v.integer);
                    break;
                case Kind::Bytes:
                    st.bindBlob(at, {reinterpret_cast<const std::uint8_t*>(v.bytes.data()),
                                     v.bytes.size()});
                    break;
                case Kind::Text:
                    st.bind(at, std::string_view(v.bytes));
                    break;
                case Kind::Any:
                    if (counterText(v.bytes)) {
                        st.bind(at, static_cast<std::int64_t>(std::stoll(v.bytes)));
                    } else {
                        st.bind(at, std::string_view(v.bytes));
                    }
                    break;
            }
        }
        auto s = st.run();
        st.reset();
        return s;
    }

    // SQLite's row ids continue after the largest one by themselves.
    Status continueRowIds() override { return {}; }

    Status commit() override {
        m_inserts.clear();
        if (auto s = m_db.exec("COMMIT"); !s) return s;
        m_open = false;
        return {};
    }

    [[nodiscard]] std::string describe() const override { return m_db.path(); }

  private:
    FileLock m_lock;  // released after the connection closes (members go in reverse order)
    sql::Database m_db;
    std::map<std::string, sql::Statement> m_inserts;
    bool m_open = false;
};

}  // namespace

Result<std::unique_ptr<TableAccess>> openSqliteTables(const std::string& path, bool create) {
    const bool exists = access(path.c_str(), F_OK) == 0;
    if (!exists && !create) return makeError(ErrorCode::NotFound, path + " does not exist");
    if (!exists) {
        // The store's own code makes the file (current schema, a collector id and keys).
        auto made = openSqliteCollector(path, true);
        if (!made) return makeError(made.error().code, path + ": " + made.error().message);
    }
    // No collector may serve either side while a copy reads or writes it.
    auto lock = takeCollectorStoreLock(path);
    if (!lock) {
        if (lock.error().code == ErrorCode::InUse) {
            return makeError(ErrorCode::InUse, path +
                                                   " is held by a running veld-collector: stop it "
                                                   "before copying");
        }
        return lock.error();
    }
    {
        // The store's own code checks the file and brings its schema up to date.
        auto store = openSqliteCollector(path, false);
        if (!store) return makeError(store.error().code, path + ": " + store.error().message);
    }
    auto db = sql::Database::open(path, sql::OpenMode::ReadWrite);
    if (!db) return db.error();
    for (const char* pragma : {"PRAGMA foreign_keys = ON", "PRAGMA synchronous = FULL"}) {
        if (auto s = db->exec(pragma); !s) return s.error();
    }
    return std::unique_ptr<TableAccess>(
        std::make_unique<SqliteTables>(std::move(lock.value()), std::move(db.value())));
}

}  // namespace veld::sync::tables
