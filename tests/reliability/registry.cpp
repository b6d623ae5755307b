// The table of scenarios veld-reliability runs, in the order it prints them. Each scenario lives
// in a file of its own area (power cuts, kills, connections, hostile clients); add new ones here.
#include "reliability/scenario.hpp"
#include "reliability/scenarios.hpp"

namespace veld::reliability {

const std::vector<Scenario>& scenarios() {
    static const std::vector<Scenario> all = [] {
        std::vector<Scenario> v;
        addPowerCutScenarios(v);
        addKillScenarios(v);
        addConnectionScenarios(v);
        addHostileScenarios(v);
        return v;
    }();
    return all;
}

}  // namespace veld::reliability
