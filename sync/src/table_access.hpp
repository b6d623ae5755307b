// Internal to the collector: a store's tables read and written row by row, below the domain
// interfaces, for `veldctl collector copy`. One implementation per backend
// (table_access_sqlite.cpp, postgres/table_access_pg.cpp); the copy and its verification
// (collector_copy.cpp) work on any two.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <veld/result.hpp>

#include "store_tables.hpp"

namespace veld::sync::tables {

/// One column's value. Integer columns use `integer`; text, bytes and Any use `bytes` (Any as
/// its text).
struct Value {
    bool null = true;
    std::int64_t integer = 0;
    std::string bytes;
};
using Row = std::vector<Value>;

class TableAccess {
  public:
    virtual ~TableAccess() = default;

    /// Starts the one transaction everything else runs in: a snapshot for reading, or the
    /// write transaction of a copy's target.
    virtual Status begin(bool write) = 0;
    /// Rows of a table in key order (text keys compared bytewise on both backends).
    virtual Status scan(const Table& table, const std::function<Status(const Row&)>& visit) = 0;
    /// How many rows the table holds.
    virtual Result<std::int64_t> count(const Table& table) = 0;
    /// Removes every row (the target's meta, made when its store was created).
    virtual Status clear(const Table& table) = 0;
    virtual Status insert(const Table& table, const Row& row) = 0;
    /// After inserting: generated row ids continue after the largest copied one.
    virtual Status continueRowIds() = 0;
    virtual Status commit() = 0;
    /// The location as messages may show it (a URI without secrets).
    [[nodiscard]] virtual std::string describe() const = 0;
};

/// An SQLite collector store: made (empty, current schema) when `create` and missing; an
/// existing store is brought to the current schema first.
Result<std::unique_ptr<TableAccess>> openSqliteTables(const std::string& path, bool create);
/// A PostgreSQL collector store at `uri` (a new collector made in an empty database when
/// `create`; an existing one brought up to date first). The password from `passwordFile`, else
/// as libpq finds it.
Result<std::unique_ptr<TableAccess>> openPostgresTables(const std::string& uri, bool create,
                                                        const std::string& passwordFile);

}  // namespace veld::sync::tables
