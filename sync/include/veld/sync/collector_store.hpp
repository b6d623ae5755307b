// The collector's storage: one interface per domain (store/*.hpp), which every backend (the
// embedded SQLite file, PostgreSQL) implements. Every method is safe to call from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <veld/result.hpp>
#include <veld/sync/collector_identity.hpp>
#include <veld/sync/store/access.hpp>
#include <veld/sync/store/bundles.hpp>
#include <veld/sync/store/cases.hpp>
#include <veld/sync/store/exports.hpp>
#include <veld/sync/store/policy.hpp>
#include <veld/sync/store/records.hpp>
#include <veld/sync/store/review.hpp>
#include <veld/sync/store/studies.hpp>
#include <veld/sync/store/webhooks.hpp>

namespace veld::sync {

/// The whole store. The domains are virtual bases, so that a backend can implement each in a
/// class of its own (SqliteRecords : virtual RecordStore, ...) and combine them.
class CollectorStore : public virtual CollectorIdentity,
                       public virtual AccessStore,
                       public virtual RecordStore,
                       public virtual CaseStore,
                       public virtual StudyStore,
                       public virtual ReviewStore,
                       public virtual ExportSource,
                       public virtual WebhookStore,
                       public virtual BundleLedger {
  public:
    ~CollectorStore() override = default;
};

/// The embedded store's file: SQLite's application_id ("VELC") and user_version (the schema
/// version this collector writes; older ones are upgraded when opened). A PostgreSQL store keeps
/// the same schema version in its own table.
inline constexpr std::int32_t kCollectorApplicationId = 0x56454C43;
inline constexpr int kCollectorSchemaVersion = 9;

/// The embedded default: one SQLite file (WAL). `create` makes a new collector (with its id and
/// pseudonym key) when the file does not exist.
Result<std::unique_ptr<CollectorStore>> openSqliteCollector(const std::string& path, bool create,
                                                            CollectorPolicy policy = {});

/// Where a collector's store is: a `postgresql://` (or `postgres://`) connection URI, or else
/// the path of an SQLite file.
[[nodiscard]] bool isPostgresLocation(std::string_view location);

/// A PostgreSQL store: a `postgresql://` URI without a password (refused with one: it would
/// show in process listings and logs). The password comes from `passwordFile` (its first line)
/// when given, else as libpq finds it (PGPASSFILE, ~/.pgpass).
struct PostgresSettings {
    std::string uri;
    std::string passwordFile;
    int connections = 16;  // the most connections this process opens
};

/// Opens the collector in a PostgreSQL database. `create` makes a new collector in an empty
/// database; a database without a Veld collector is otherwise NotAStore. Unavailable when the
/// database cannot be reached.
Result<std::unique_ptr<CollectorStore>> openPostgresCollector(const PostgresSettings& settings,
                                                              bool create,
                                                              CollectorPolicy policy = {});

/// A store location as logs and messages may show it: a PostgreSQL URI reduced to its user,
/// host, port and database (no password, no parameters); a path as it is.
[[nodiscard]] std::string describeStoreLocation(std::string_view location);

/// Opens the store at `location` (see isPostgresLocation). `create` makes a new collector (its
/// id and pseudonym key) in an SQLite file that does not exist, or in an empty PostgreSQL
/// database. `passwordFile` is the PostgreSQL password's file (unused for SQLite).
Result<std::unique_ptr<CollectorStore>> openCollector(const std::string& location, bool create,
                                                      CollectorPolicy policy = {},
                                                      const std::string& passwordFile = {});

}  // namespace veld::sync
