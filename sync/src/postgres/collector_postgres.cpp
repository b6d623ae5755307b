// The PostgreSQL collector: one class per domain (pg_access.hpp, pg_records.hpp, ...) on a
// shared context (connections and policy), combined into a CollectorStore.
#include <algorithm>
#include <memory>

#include <sodium.h>

#include <veld/sync/collector_store.hpp>

#include "../collector_key.hpp"
#include "pg_access.hpp"
#include "pg_bundles.hpp"
#include "pg_cases.hpp"
#include "pg_collector.hpp"
#include "pg_exports.hpp"
#include "pg_records.hpp"
#include "pg_review.hpp"
#include "pg_schema.hpp"
#include "pg_studies.hpp"
#include "pg_webhooks.hpp"

namespace veld::sync {

namespace postgres {
namespace {

// Base-from-member: the context is built before the domain classes that keep a reference to it.
struct ContextHolder {
    explicit ContextHolder(std::unique_ptr<PgContext> c) : context(std::move(c)) {}
    std::unique_ptr<PgContext> context;
};

class PostgresCollector final : private ContextHolder,
                                public CollectorStore,
                                public detail::HeldCollectorKey,
                                public PgAccess,
                                public PgRecords,
                                public PgCases,
                                public PgStudies,
                                public PgReview,
                                public PgExports,
                                public PgWebhooks,
                                public PgBundles {
  public:
    explicit PostgresCollector(std::unique_ptr<PgContext> c)
        : ContextHolder(std::move(c)),
          HeldCollectorKey(context->signingKey),
          PgAccess(*context),
          PgRecords(*context),
          PgCases(*context),
          PgStudies(*context),
          PgReview(*context),
          PgExports(*context),
          PgWebhooks(*context),
          PgBundles(*context) {}
};

}  // namespace
}  // namespace postgres

Result<std::unique_ptr<CollectorStore>> openPostgresCollector(const PostgresSettings& settings,
                                                              bool create, CollectorPolicy policy) {
    if (sodium_init() < 0) return makeError(ErrorCode::Internal, "libsodium did not initialise");
    if (auto s = pg::checkUri(settings.uri); !s) return s.error();
    pg::ConnectionSettings connection{settings.uri, settings.passwordFile};
    auto context = std::make_unique<postgres::PgContext>(connection,
                                                         std::max(1, settings.connections), policy);
    {
        auto lease = context->pool.acquire();
        if (!lease) return lease.error();
        if (auto s = postgres::migrate(**lease, create); !s) return s.error();
        auto text = postgres::metaText(**lease, detail::kCollectorKeyMeta);
        if (!text) return text.error();
        auto key = detail::collectorKeyFrom(text.value());
        std::fill(text->begin(), text->end(), '\0');
        if (!key) return key.error();
        context->signingKey = key.value();
        auto id = postgres::metaText(**lease, "collector_id");
        if (!id) return id.error();
        context->collectorId = std::move(id.value());
    }
    // Cases a process that stopped left waiting for their numbers.
    if (auto s = postgres::numberChangedCases(*context); !s) return s.error();
    return std::unique_ptr<CollectorStore>(
        std::make_unique<postgres::PostgresCollector>(std::move(context)));
}

}  // namespace veld::sync
