// Internal to the PostgreSQL backend: the schema and its migrations.
//
// The database holds one collector in its current schema (normally `public`). A table
// `schema_version` names the application ("veld-collector") and the schema version, numbered like
// the SQLite store's user_version: version 6 is the schema the SQLite store has at version 6;
// later versions are steps appended to the list in pg_schema.cpp. Each step runs in a transaction
// of its own under an advisory lock, so collector processes started together upgrade once.
#pragma once

#include <cstdint>
#include <string_view>

#include <veld/result.hpp>

#include "pg.hpp"

namespace veld::sync::postgres {

/// What `schema_version.application` holds in a Veld collector's database.
inline constexpr std::string_view kApplicationMarker = "veld-collector";

/// Brings the database to the current schema. An empty database (no tables in its schema) is
/// made a new collector (collector id, pseudonym key) when `create`, else NotAStore; a database
/// of something else is NotAStore; one written by a newer Veld is TooNew.
Status migrate(pg::Connection& c, bool create);

/// The schema version the database holds (0 when it has no Veld schema).
Result<std::int64_t> schemaVersion(pg::Connection& c);

}  // namespace veld::sync::postgres
