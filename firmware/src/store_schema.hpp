// The device store's schema, as a list of migrations. Each migration runs in its own transaction
// and sets PRAGMA user_version to its number. Never edit a migration that has shipped: append a
// new one, and add a test that opens a file written by the previous version.
#pragma once

#include <span>

namespace veld::store_schema {

struct Migration {
    int version;
    const char* sql;
};

std::span<const Migration> migrations();

}  // namespace veld::store_schema
