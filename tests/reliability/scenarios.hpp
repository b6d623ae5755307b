// Each area of the reliability harness adds its scenarios to the table (registry.cpp).
#pragma once

#include <vector>

#include "reliability/scenario.hpp"

namespace veld::reliability {

/// Power cuts through the power-cut VFS: device and collector operations (power_cut.cpp).
void addPowerCutScenarios(std::vector<Scenario>& out);
/// SIGKILL of devices and of the collector at random moments (kill.cpp).
void addKillScenarios(std::vector<Scenario>& out);
/// Connections cut at random offsets, both ways, through the cutting proxy (connections.cpp).
void addConnectionScenarios(std::vector<Scenario>& out);
/// Hostile clients: slow headers, half TLS handshakes, takeovers, repeated enrolments
/// (hostile.cpp).
void addHostileScenarios(std::vector<Scenario>& out);

}  // namespace veld::reliability
