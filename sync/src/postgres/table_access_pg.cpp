// A collector store's tables in a PostgreSQL database, row by row (table_access.hpp).
#include <veld/sync/collector_store.hpp>

#include "../table_access.hpp"
#include "pg.hpp"

namespace veld::sync::tables {

namespace {

// Rows per INSERT statement: fewer round trips, well under PostgreSQL's 65,535 parameters.
constexpr std::size_t kRowsPerInsert = 200;

class PostgresTables final : public TableAccess {
  public:
    PostgresTables(std::string uri, pg::Connection connection)
        : m_uri(std::move(uri)), m_c(std::move(connection)) {}
    ~PostgresTables() override {
        if (m_open) (void)m_c.exec("ROLLBACK");
    }

    Status begin(bool write) override {
        if (!write) {
            if (auto s = m_c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !s) return s;
            m_open = true;
            return {};
        }
        if (auto s = m_c.exec("BEGIN"); !s) return s;
        m_open = true;
        // No collector writes to the target while it is checked and filled.
        std::string lock = "LOCK TABLE ";
        bool first = true;
        for (const auto& t : collectorTables()) {
            if (!first) lock += ", ";
            first = false;
            lock += quoted(t.name);
        }
        lock += " IN SHARE ROW EXCLUSIVE MODE";
        return m_c.exec(lock, "locking the target's tables");
    }

    Status scan(const Table& table, const std::function<Status(const Row&)>& visit) override {
        std::string select = "SELECT ";
        bool first = true;
        for (const auto& c : table.columns) {
            if (!first) select += ", ";
            first = false;
            select += c.kind == Kind::Any ? quoted(c.name) + "::text" : quoted(c.name);
        }
        select += " FROM " + quoted(table.name) + " ORDER BY ";
        first = true;
        for (const auto& k : table.key) {
            if (!first) select += ", ";
            first = false;
            select += quoted(k);
            // Text in byte order, as SQLite compares it, whatever the database's collation.
            for (const auto& c : table.columns) {
                if (c.name == k && c.kind != Kind::Integer && c.kind != Kind::Bytes)
                    select += " COLLATE \"C\"";
            }
        }
        Row row(table.columns.size());
        return m_c.stream(
            select, {},
            [&](const pg::Rows& r) {
                for (std::size_t i = 0; i < table.columns.size(); ++i) {
                    const int at = static_cast<int>(i);
                    Value& v = row[i];
                    v.null = r.isNull(0, at);
                    v.integer = 0;
                    v.bytes.clear();
                    if (v.null) continue;
                    if (table.columns[i].kind == Kind::Integer) {
                        v.integer = r.integer(0, at);
                    } else if (table.columns[i].kind == Kind::Bytes) {
                        const auto b = r.bytes(0, at);
                        v.bytes.assign(reinterpret_cast<const char*>(b.data()), b.size());
                    } else {
                        v.bytes = std::string(r.text(0, at));
                    }
                }
                return visit(row);
            },
            "reading table " + std::string(table.name));
    }

    Result<std::int64_t> count(const Table& table) override {
        if (auto s = flush(); !s) return s.error();
        auto r = m_c.query("SELECT count(*) FROM " + quoted(table.name), {},
                           "counting table " + std::string(table.name));
        if (!r) return r.error();
        return r->integer(0, 0);
    }

    Status clear(const Table& table) override {
        if (auto s = flush(); !s) return s;
        return m_c.exec("DELETE FROM " + quoted(table.name),
                        "emptying table " + std::string(table.name));
    }

    Status insert(const Table& table, const Row& row) override {
        if (m_pendingTable && m_pendingTable != &table) {
            if (auto s = flush(); !s) return s;
        }
        m_pendingTable = &table;
        m_pending.push_back(row);
        if (m_pending.size() >= kRowsPerInsert) return flush();
        return {};
    }

    Status continueRowIds() override {
        if (auto s = flush(); !s) return s;
        for (const auto& t : collectorTables()) {
            if (t.rowId.empty()) continue;
            const std::string table(t.name);
            const std::string column(t.rowId);
            const std::string sql = "SELECT setval(pg_get_serial_sequence('" + table + "', '" +
                                    column + "'), COALESCE((SELECT max(" + quoted(column) +
                                    ") FROM " + quoted(table) + "), 0) + 1, false)";
            if (auto r = m_c.query(sql, {}, "continuing the row ids of " + table); !r)
                return r.error();
        }
        return {};
    }

    Status commit() override {
        if (auto s = flush(); !s) return s;
        if (auto s = m_c.exec("COMMIT", "committing"); !s) return s;
        m_open = false;
        return {};
    }

    [[nodiscard]] std::string describe() const override { return pg::describeUri(m_uri); }

  private:
    Status flush() {
        if (m_pending.empty()) return {};
        const Table& table = *m_pendingTable;
        std::string sql = "INSERT INTO " + quoted(table.name) + " (" + columnList(table) + ")";
        if (!table.rowId.empty()) sql += " OVERRIDING SYSTEM VALUE";
        sql += " VALUES ";
        pg::Params params;
        int n = 0;
        for (std::size_t r = 0; r < m_pending.size(); ++r) {
            sql += r ? ", (" : "(";
            for (std::size_t i = 0; i < table.columns.size(); ++i) {
                sql += (i ? ", $" : "$") + std::to_string(++n);
                const Value& v = m_pending[r][i];
                if (v.null) {
                    params.addNull();
                } else if (table.columns[i].kind == Kind::Integer) {
                    params.add(v.integer);
                } else if (table.columns[i].kind == Kind::Bytes) {
                    params.addBytes(
                        {reinterpret_cast<const std::uint8_t*>(v.bytes.data()), v.bytes.size()});
                } else {
                    params.add(std::string_view(v.bytes));
                }
            }
            sql += ")";
        }
        m_pending.clear();
        return m_c.run(sql, params, "copying into table " + std::string(table.name));
    }

    std::string m_uri;
    pg::Connection m_c;
    bool m_open = false;
    const Table* m_pendingTable = nullptr;
    std::vector<Row> m_pending;
};

}  // namespace

Result<std::unique_ptr<TableAccess>> openPostgresTables(const std::string& uri, bool create,
                                                        const std::string& passwordFile) {
    if (auto s = pg::checkUri(uri); !s) return s.error();
    {
        // The store's own code checks the database and makes or brings up to date its schema.
        PostgresSettings settings{uri, passwordFile};
        settings.connections = 1;
        auto store = openPostgresCollector(settings, false);
        if (!store && create && store.error().code == ErrorCode::NotAStore)
            store = openPostgresCollector(settings, true);
        if (!store) return store.error();
    }
    auto c = pg::Connection::open({uri, passwordFile});
    if (!c) return c.error();
    return std::unique_ptr<TableAccess>(
        std::make_unique<PostgresTables>(uri, std::move(c.value())));
}

}  // namespace veld::sync::tables
