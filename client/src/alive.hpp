// The client's side of veld-kiosk-session's watchdog. The session passes one end of a socket in
// the environment variable VELD_ALIVE_FD; a kiosk client writes a byte on it about once a second
// from its frame loop, so a client whose loop hangs is noticed and replaced. A client started
// any other way (no variable, no --kiosk, or a descriptor that is not a socket) reports nothing,
// and so does every client on Windows, which has no session (alive_windows.cpp).
#pragma once

#include <chrono>

namespace veld::client {

class AliveReporter {
  public:
    /// Takes VELD_ALIVE_FD out of the environment (nothing the client starts inherits it) and
    /// uses it when `kiosk` is set and it names a socket.
    static AliveReporter fromEnvironment(bool kiosk);
    AliveReporter(AliveReporter&& other) noexcept;
    AliveReporter& operator=(AliveReporter&&) = delete;
    AliveReporter(const AliveReporter&) = delete;
    AliveReporter& operator=(const AliveReporter&) = delete;
    ~AliveReporter();

    /// Call every frame: writes a byte when a second has passed since the last one. Never
    /// blocks; a session that went away ends the reporting.
    void tick();
    [[nodiscard]] bool active() const { return m_fd >= 0; }

  private:
    explicit AliveReporter(int fd) : m_fd(fd) {}
    int m_fd = -1;
    std::chrono::steady_clock::time_point m_last{};
};

}  // namespace veld::client
