// HAProxy from Debian in front of collector processes, for tests: a configuration written into a
// test's folder (HTTP mode, round-robin, a health check on /healthz every 100 ms), run in the
// foreground as a child of the test, listening on a free loopback port.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace veld::test {

class HaProxy {
  public:
    /// Writes `folder`/haproxy.cfg for the collectors on `backendPorts` (127.0.0.1), checks it
    /// with `haproxy -c` and starts HAProxy; throws std::runtime_error (with HAProxy's words)
    /// when it cannot.
    HaProxy(const std::string& folder, const std::vector<int>& backendPorts);
    ~HaProxy();
    HaProxy(const HaProxy&) = delete;
    HaProxy& operator=(const HaProxy&) = delete;

    [[nodiscard]] int port() const { return m_port; }
    [[nodiscard]] std::string url() const;
    /// Waits until HAProxy sees `healthy` backends up (from its stats socket), at most
    /// `timeoutMs`; true when it did.
    bool waitForHealthy(std::size_t healthy, int timeoutMs);
    /// What HAProxy met on its way to the collectors so far: failed connections and answers,
    /// retries and redispatches (econ + eresp + wretr + wredis of its servers).
    [[nodiscard]] std::int64_t backendTrouble() const;
    /// The configuration file, for messages.
    [[nodiscard]] const std::string& config() const { return m_config; }

  private:
    std::string m_config;
    std::string m_socket;
    std::string m_log;
    int m_port = 0;
    std::unique_ptr<ChildProcess> m_process;
};

/// A TCP port on 127.0.0.1 that was free a moment ago.
int freeLoopbackPort();

}  // namespace veld::test
