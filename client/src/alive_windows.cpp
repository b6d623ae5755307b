// On Windows there is no veld-kiosk-session (Shell Launcher starts the kiosk again when it
// exits; docs/windows.md), so there is no watchdog to tell and nothing is reported.
#include "alive.hpp"

namespace veld::client {

AliveReporter AliveReporter::fromEnvironment(bool kiosk) {
    (void)kiosk;
    return AliveReporter(-1);
}

AliveReporter::AliveReporter(AliveReporter&& other) noexcept
    : m_fd(other.m_fd), m_last(other.m_last) {
    other.m_fd = -1;
}

AliveReporter::~AliveReporter() = default;

void AliveReporter::tick() {}

}  // namespace veld::client
