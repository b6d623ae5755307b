// The collector store's tables as both backends hold them: every table, its columns in order
// with their kind, its key (the order rows are read in) and its generated row id. SQLite's schema
// (collector_sqlite.cpp) and PostgreSQL's (postgres/pg_schema.cpp) have exactly these tables and
// columns; a test holds each schema against this catalogue. `veldctl collector copy` works from
// it alone.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace veld::sync::tables {

/// A column's kind. SQLite INTEGER / PostgreSQL bigint, TEXT / text, BLOB / bytea. `Any` is the
/// meta table's value, which holds text or a counter: it is compared and copied as text (a
/// counter as its decimal digits).
enum class Kind { Integer, Text, Bytes, Any };

struct Column {
    std::string_view name;
    Kind kind;
    bool nullable;
};

struct Table {
    std::string_view name;
    std::span<const Column> columns;
    /// The primary key's columns, in order: rows are read in this order on both sides.
    std::span<const std::string_view> key;
    /// The generated row id column (SQLite INTEGER PRIMARY KEY, PostgreSQL identity), or empty.
    std::string_view rowId;
};

/// Every table of the collector store, parents before the tables that refer to them.
std::span<const Table> collectorTables();

/// The table named `name`, or nullptr.
const Table* findTable(std::string_view name);

/// A name as an SQL identifier, in double quotes (both backends' syntax; `binary` is a keyword
/// in PostgreSQL).
std::string quoted(std::string_view name);

/// "\"a\", \"b\"": the table's columns, quoted, for SELECT and INSERT lists.
std::string columnList(const Table& table);

/// The tables whose rows make a store "in use" (a copy refuses a target with any row in one):
/// every table but meta, whose collector id and keys a new store has from its creation.
bool marksStoreInUse(const Table& table);

}  // namespace veld::sync::tables
