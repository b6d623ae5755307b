// The watchdog's side where there is no veld-kiosk-session (Windows): the client reports
// nothing. See alive.hpp; the Linux implementation is alive.cpp.
#include "alive.hpp"

namespace veld::client {

AliveReporter AliveReporter::fromEnvironment(bool /*kiosk*/) {
    return AliveReporter(-1);
}

AliveReporter::AliveReporter(AliveReporter&& other) noexcept
    : m_fd(other.m_fd), m_last(other.m_last) {
    other.m_fd = -1;
}

AliveReporter::~AliveReporter() = default;

void AliveReporter::tick() {}

}  // namespace veld::client
