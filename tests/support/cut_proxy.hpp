// A TCP proxy on loopback between devices and a collector that cuts HTTP exchanges at exact
// byte offsets. It reads each message whole (a request from the device, then the collector's
// reply) before passing it on, so it knows the message's length and can pass on exactly the
// first N bytes of it, for any N from nothing to all of it, and then cut the connection (a reset
// or an orderly close). A request passed on whole and then cut reaches the collector complete
// while the device never hears the reply: the hardest case for exactly-once delivery.
//
// Where to cut is decided per request by a plan the test sets, so a round's cuts follow from its
// seed when one device syncs at a time (its requests come one after another).
//
// Unlike tests/support/proxy.hpp (doctest tests), it reports setup failures by exception, for
// the reliability harness.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace veld::test {

class CutProxy {
  public:
    struct Cut {
        bool up = true;      // cut the request (true) or the reply (false)
        double at = 0;       // where, as a share of the message's bytes, in [0, 1]
        bool reset = false;  // a TCP reset rather than an orderly close
    };
    /// Called once per request with its path (e.g. "/v1/push"), on a relay thread; nothing
    /// means pass it and its reply whole.
    using Plan = std::function<std::optional<Cut>(const std::string& path)>;

    /// Listens on a free port of 127.0.0.1 and relays to `upstreamPort` there.
    explicit CutProxy(int upstreamPort);
    ~CutProxy();
    CutProxy(const CutProxy&) = delete;
    CutProxy& operator=(const CutProxy&) = delete;

    void setPlan(Plan plan);
    [[nodiscard]] int port() const { return m_port; }
    /// Requests cut on their way up, at their very end (the collector got all of it), and
    /// replies cut on their way down, so far.
    [[nodiscard]] long cutsUp() const { return m_cutsUp; }
    [[nodiscard]] long cutsUpAtEnd() const { return m_cutsUpAtEnd; }
    [[nodiscard]] long cutsDown() const { return m_cutsDown; }
    [[nodiscard]] long requests() const { return m_requests; }

  private:
    void acceptLoop();
    void relay(int client);
    std::optional<Cut> decide(const std::string& path);

    int m_upstream;
    int m_listen = -1;
    int m_port = 0;
    std::mutex m_mutex;
    Plan m_plan;
    std::atomic<bool> m_stop{false};
    std::atomic<long> m_cutsUp{0};
    std::atomic<long> m_cutsUpAtEnd{0};
    std::atomic<long> m_cutsDown{0};
    std::atomic<long> m_requests{0};
    std::thread m_acceptor;
    struct Relay {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    std::vector<Relay> m_relays;  // finished ones are joined as new connections come
};

}  // namespace veld::test
