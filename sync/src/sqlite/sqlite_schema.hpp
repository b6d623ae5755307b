// Internal to the SQLite store: its schema (tables as in the comments of sqlite_schema.cpp, which
// the PostgreSQL schema mirrors) and how a file is brought to it.
#pragma once

#include <string>

#include <veld/result.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

namespace veld::sync::sqlite {

/// The collector's kind of file and its numbered steps, for sql::migrate.
sql::Schema collectorSchema();

/// Makes a new collector's tables (with its id and pseudonym key) in an empty file, or upgrades an
/// older one; NotAStore for another kind of file, TooNew for a newer collector's.
Status prepareSchema(sql::Database& db, const std::string& path);

}  // namespace veld::sync::sqlite
