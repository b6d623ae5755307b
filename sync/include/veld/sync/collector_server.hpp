// veld-collector's HTTP(S) front: the protocol's endpoints over a CollectorStore, with limits on
// request size, time per request and concurrent requests. No answer and no secret is logged.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <veld/sync/collector_store.hpp>

namespace veld::sync {

/// How veld-collector posts webhook events (veldctl collector webhook): a worker thread claims
/// due deliveries from the store and posts them; a failed one is tried again after retryBaseMs,
/// doubling to retryCapMs (with jitter), and given up once older than giveUpAfterMs.
struct WebhookDeliverySettings {
    bool enabled = true;
    std::int64_t retryBaseMs = 5000;
    std::int64_t retryCapMs = 3600 * 1000;
    std::int64_t giveUpAfterMs = 3LL * 24 * 3600 * 1000;
    int timeoutSeconds = 10;  // per post, connecting included
};

struct ServerConfig {
    std::string listen = "127.0.0.1";
    int port = 8470;
    std::string tlsCert;  // PEM; with tlsKey, serve HTTPS
    std::string tlsKey;
    std::size_t maxRequestBytes = 32u << 20;
    int requestTimeoutSeconds = 10;  // a request moves 16 KiB (or ends) within this, each way
    int threads = 32;                // requests handled at once
    /// Open connections (idle ones too). A newcomer beyond it displaces the connection that has
    /// waited longest (over a second) for its handshake or request; if none has, it gets 503.
    int maxConnections = 256;
    /// The same, per client address (devices behind one school's NAT share one); 0: no cap.
    int maxConnectionsPerAddress = 32;
    bool logRequests = true;
    /// Wrong credentials one client address may send within a minute before it must wait
    /// (1 s, doubling with each further one, up to 15 minutes); 0: no limit.
    int authFailures = 20;
    /// Requests per second one credential may make (in bursts of ten times as many); 0: none.
    int ratePerCredential = 50;
    /// Where exports started through the admin API are written until staff fetch them (made
    /// 0700 when missing; at start, the job folders an earlier run left in it are removed,
    /// anything else is left alone). Empty: exports through the admin API are refused.
    std::string exportDir;
    /// Address ranges ("10.0.0.0/8,2001:db8::/32") from which /metrics is served without a
    /// credential, besides the machine itself; from anywhere else it needs a staff credential.
    std::string metricsFrom;
    /// Address ranges of reverse proxies (HAProxy) in front of the collector. A request whose
    /// connection comes from one of them counts as coming from the last address in its
    /// X-Forwarded-For (the one the proxy added) for the wrong-credential limit and the log, and
    /// their connections are not capped per address (every device behind the proxy shares its
    /// address; the proxy caps its clients itself). Empty: none is trusted.
    std::string trustedProxies;
    WebhookDeliverySettings webhooks;
};

class CollectorServer {
  public:
    CollectorServer(ServerConfig config, std::shared_ptr<CollectorStore> store,
                    std::function<std::int64_t()> nowMs = {});
    ~CollectorServer();
    CollectorServer(const CollectorServer&) = delete;
    CollectorServer& operator=(const CollectorServer&) = delete;

    /// Binds the port (0: any free port). False with a message on stderr when it cannot.
    bool bind();
    [[nodiscard]] int port() const { return m_port; }
    /// Serves until stop(); returns when every request in flight has been answered.
    void run();
    /// Stops accepting; requests in flight finish (a push commits and is answered).
    void stop();

    /// Handles the requests in `bytes` as if they came on one connection from `remoteAddress`,
    /// without a socket, and returns the bytes of the answers: the same parsing, limits,
    /// credentials and handlers as a real connection, for fuzzing the collector end to end in
    /// one process. bind() need not be called (and no port is opened).
    std::string serveBytes(std::string_view bytes, const std::string& remoteAddress = "192.0.2.1");

    struct Impl;

  private:
    std::unique_ptr<Impl> m_impl;
    int m_port = 0;
};

}  // namespace veld::sync
