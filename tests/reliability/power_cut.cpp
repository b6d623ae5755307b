// Power cuts through the power-cut VFS.
#include "reliability/scenarios.hpp"

namespace veld::reliability {

void addPowerCutScenarios(std::vector<Scenario>& out) {
    (void)out;
}

}  // namespace veld::reliability
