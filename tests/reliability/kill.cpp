// SIGKILL of devices and of the collector at random moments (the scenarios are in kill_*.cpp).
#include "reliability/fault_rounds.hpp"
#include "reliability/scenarios.hpp"

namespace veld::reliability {

void addKillScenarios(std::vector<Scenario>& out) {
    out.push_back(deviceFinalizeKillScenario());
    out.push_back(deviceAllocationKillScenario());
    out.push_back(collectorPushKillScenario());
    out.push_back(collectorCommitReplyKillScenario());
    out.push_back(collectorEnrolKillScenario());
    out.push_back(collectorAllocationKillScenario());
    out.push_back(deviceAgentKillScenario());
}

}  // namespace veld::reliability
