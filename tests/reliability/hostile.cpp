// Hostile clients against a real collector.
#include "reliability/scenarios.hpp"

namespace veld::reliability {

void addHostileScenarios(std::vector<Scenario>& out) {
    (void)out;
}

}  // namespace veld::reliability
