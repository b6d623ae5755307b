// Connections cut at random offsets, both ways.
#include "reliability/scenarios.hpp"

namespace veld::reliability {

void addConnectionScenarios(std::vector<Scenario>& out) {
    (void)out;
}

}  // namespace veld::reliability
