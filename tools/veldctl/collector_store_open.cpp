// Opening the collector's store for veldctl's collector commands.
#include <ostream>

#include <veld/sync/collector_store.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

Result<std::unique_ptr<sync::CollectorStore>> openCollectorStore(const std::string& location,
                                                                 bool create,
                                                                 std::string_view command,
                                                                 std::ostream& err) {
    auto store = sync::openCollector(location, create, {}, storePasswordFileOption());
    if (!store) err << "veldctl " << command << ": " << store.error().describe() << "\n";
    return store;
}

}  // namespace veld::veldctl
