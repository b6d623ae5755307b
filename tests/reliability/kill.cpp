// SIGKILL of devices and of the collector at random moments.
#include "reliability/scenarios.hpp"

namespace veld::reliability {

void addKillScenarios(std::vector<Scenario>& out) {
    (void)out;
}

}  // namespace veld::reliability
