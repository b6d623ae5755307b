// Which backend a store location names, and opening it.
#include <veld/sync/collector_store.hpp>

#include "postgres/pg.hpp"

namespace veld::sync {

bool isPostgresLocation(std::string_view location) {
    return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string describeStoreLocation(std::string_view location) {
    return isPostgresLocation(location) ? pg::describeUri(location) : std::string(location);
}

Result<std::unique_ptr<CollectorStore>> openCollector(const std::string& location, bool create,
                                                      CollectorPolicy policy,
                                                      const std::string& passwordFile) {
    if (isPostgresLocation(location))
        return openPostgresCollector({location, passwordFile}, create, policy);
    return openSqliteCollector(location, create, policy);
}

}  // namespace veld::sync
