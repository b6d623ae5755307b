// Moving a collector between stores: every table of one store (SQLite file or PostgreSQL
// database) copied into another that holds nothing yet, in one transaction on the target, then
// both sides' row counts and digests compared table by table.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>

namespace veld::sync {

/// One table on both sides after a copy: rows and a BLAKE2b-256 digest (hex) of every row in key
/// order, encoded the same way whatever the backend.
struct TableCheck {
    std::string table;
    std::int64_t sourceRows = 0;
    std::int64_t targetRows = 0;
    std::string sourceDigest;
    std::string targetDigest;
    [[nodiscard]] bool same() const {
        return sourceRows == targetRows && sourceDigest == targetDigest;
    }
};

struct CopyReport {
    std::vector<TableCheck> tables;
    [[nodiscard]] bool verified() const;
};

/// Copies the store at `from` into `to` (an SQLite path or a `postgresql://` URI each; a missing
/// SQLite target file is made). Refused (WrongState, nothing written) when the target holds any
/// row besides its store's own meta values. The target's meta (collector id, pseudonym and
/// enrolment keys, counters) becomes the source's. `progress` hears "copying TABLE" before each
/// table. The copy is one transaction: a copy stopped part-way leaves the target as it was.
/// After the commit both sides are read again and compared; a difference is reported in the
/// result (verified() false), not as an error. A PostgreSQL side's password comes from
/// `passwordFile` (its first line) when given, else as libpq finds it (PGPASSFILE, ~/.pgpass).
Result<CopyReport> copyCollector(const std::string& from, const std::string& to,
                                 const std::function<void(std::string_view)>& progress = {},
                                 const std::string& passwordFile = {});

/// Row counts and digests of every table of one store, as copyCollector compares them.
Result<std::vector<TableCheck>> digestCollector(const std::string& location,
                                                const std::string& passwordFile = {});

}  // namespace veld::sync
