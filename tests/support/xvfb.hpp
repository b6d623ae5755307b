// An X server of a test's own: Xvfb on a free display (chosen by Xvfb itself, -displayfd), for
// tests that run the real programs and click in their windows. Stopped when it goes out of scope.
#pragma once

#include <string>

#include <sys/types.h>

namespace veld::test {

class Xvfb {
  public:
    /// Starts Xvfb with one screen of `screen` ("1366x768x24"), its output appended to `logFile`;
    /// throws std::runtime_error (with the log) when it does not start.
    explicit Xvfb(const std::string& logFile, const std::string& screen = "1280x800x24");
    ~Xvfb();
    Xvfb(const Xvfb&) = delete;
    Xvfb& operator=(const Xvfb&) = delete;
    /// ":N", for DISPLAY.
    [[nodiscard]] const std::string& display() const { return m_display; }

  private:
    pid_t m_pid = -1;
    std::string m_display;
};

}  // namespace veld::test
