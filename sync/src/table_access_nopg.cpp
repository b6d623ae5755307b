// Until the PostgreSQL backend is built in: a PostgreSQL location is refused clearly.
#include "table_access.hpp"

namespace veld::sync::tables {

Result<std::unique_ptr<TableAccess>> openPostgresTables(const std::string&, bool,
                                                        const std::string&) {
    return makeError(ErrorCode::InvalidArgument, "this collector cannot use PostgreSQL yet");
}

}  // namespace veld::sync::tables
