// The embedded collector store: one SQLite file, its domains combined (see sqlite_collector.hpp).
#include <algorithm>
#include <memory>

#include <sodium.h>

#include <veld/private_files.hpp>
#include <veld/sync/collector_store.hpp>

#include "../collector_key.hpp"
#include "sqlite_access.hpp"
#include "sqlite_bundles.hpp"
#include "sqlite_cases.hpp"
#include "sqlite_collector.hpp"
#include "sqlite_exports.hpp"
#include "sqlite_records.hpp"
#include "sqlite_review.hpp"
#include "sqlite_schema.hpp"
#include "sqlite_studies.hpp"
#include "sqlite_webhooks.hpp"

namespace veld::sync {

namespace sqlite {
namespace {

// The context is made before the domains that refer to it, and outlives them.
struct ContextOwner {
    explicit ContextOwner(std::unique_ptr<SqliteContext> c) : ctx(std::move(c)) {}
    std::unique_ptr<SqliteContext> ctx;
};

class SqliteCollector final : private ContextOwner,
                              public CollectorStore,
                              public detail::HeldCollectorKey,
                              public SqliteAccess,
                              public SqliteRecords,
                              public SqliteCases,
                              public SqliteStudies,
                              public SqliteReview,
                              public SqliteExports,
                              public SqliteWebhooks,
                              public SqliteBundles {
  public:
    explicit SqliteCollector(std::unique_ptr<SqliteContext> context)
        : ContextOwner(std::move(context)),
          HeldCollectorKey(ctx->signingKey),
          SqliteAccess(*ctx),
          SqliteRecords(*ctx),
          SqliteCases(*ctx),
          SqliteStudies(*ctx),
          SqliteReview(*ctx),
          SqliteExports(*ctx),
          SqliteWebhooks(*ctx),
          SqliteBundles(*ctx) {}
};

bool sodiumReady() {
    static const bool ready = sodium_init() >= 0;
    return ready;
}

}  // namespace
}  // namespace sqlite

Result<std::unique_ptr<CollectorStore>> openSqliteCollector(const std::string& path, bool create,
                                                            CollectorPolicy policy) {
    if (!sqlite::sodiumReady())
        return makeError(ErrorCode::Internal, "libsodium did not initialise");
    // A new store is the owner's only (0600, and so are its -wal and -shm), in a folder made
    // 0700 when it is missing.
    if (create) {
        const auto slash = path.find_last_of('/');
        if (slash != std::string::npos && slash > 0) {
            if (auto s = files::makePrivateFolder(path.substr(0, slash)); !s) return s.error();
        }
        if (auto s = files::createPrivateFile(path); !s) return s.error();
    }
    auto db = sql::Database::open(
        path, create ? sql::OpenMode::ReadWriteCreate : sql::OpenMode::ReadWrite);
    if (!db) return db.error();
    // A larger page cache than SQLite's 2 MiB default: the revisions' and records' indexes are
    // touched at random places by every push.
    for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON",
                               "PRAGMA synchronous = FULL", "PRAGMA cache_size = -65536"}) {
        if (auto s = db->exec(pragma); !s) return s.error();
    }
    if (auto s = sqlite::prepareSchema(db.value(), path); !s) return s.error();
    auto reader = sql::Database::open(path, sql::OpenMode::ReadOnly);
    if (!reader) return reader.error();
    auto checkpointer = sql::Database::open(path, sql::OpenMode::ReadWrite);
    if (!checkpointer) return checkpointer.error();
    if (auto s = checkpointer->exec("PRAGMA synchronous = FULL"); !s) return s.error();
    auto context = std::make_unique<sqlite::SqliteContext>(path, std::move(db.value()),
                                                           std::move(reader.value()),
                                                           std::move(checkpointer.value()), policy);
    if (auto s = context->prepare(); !s) return s.error();
    {
        auto text = sqlite::metaText(*context, detail::kCollectorKeyMeta.data());
        if (!text) return text.error();
        auto key = detail::collectorKeyFrom(text.value());
        std::fill(text->begin(), text->end(), '\0');
        if (!key) return key.error();
        context->signingKey = key.value();
        auto id = sqlite::metaText(*context, "collector_id");
        if (!id) return id.error();
        context->collectorId = std::move(id.value());
    }
    return std::unique_ptr<CollectorStore>(
        std::make_unique<sqlite::SqliteCollector>(std::move(context)));
}

}  // namespace veld::sync
