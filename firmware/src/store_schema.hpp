// The device store's schema, as a list of migrations. Each migration runs in its own transaction
// and sets PRAGMA user_version to its number. Never edit a migration that has shipped: append a
// new one, and add a test that opens a file written by the previous version.
#pragma once

#include <span>

#include <veld/sqlite.hpp>

namespace veld::store_schema {

using Migration = sql::Migration;

std::span<const Migration> migrations();

/// The device store's kind of file, for sql::migrate.
sql::Schema schema();

}  // namespace veld::store_schema
