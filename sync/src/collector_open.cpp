// Which backend a store location names, and opening it.
#include <veld/sync/collector_store.hpp>

namespace veld::sync {

bool isPostgresLocation(std::string_view location) {
    return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

Result<std::unique_ptr<CollectorStore>> openCollector(const std::string& location, bool create,
                                                      CollectorPolicy policy) {
    if (isPostgresLocation(location))
        return makeError(ErrorCode::InvalidArgument, "this collector cannot use PostgreSQL yet");
    return openSqliteCollector(location, create, policy);
}

}  // namespace veld::sync
