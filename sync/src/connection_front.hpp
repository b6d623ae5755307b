// Internal to the collector: how connections are accepted, read and handed to worker threads.
//
// Guarantees:
// - A worker thread is only ever given a connection whose request head has arrived in full (and
//   its body too, up to kPrebufferBytes): a client that trickles its TLS handshake, its headers
//   or a small body holds no worker, only a socket in the front's poll loop.
// - The TLS handshake and the request head must be complete within one --request-timeout window
//   of the connection's start (or, on a kept-alive connection, of the request's first byte). The
//   deadline is fixed when the phase begins: a trickle cannot extend it.
// - A body is read under the window rule: at least kMinBytesPerWindow per window, or complete.
// - At most maxConnections connections are open, and at most maxPerAddress from one address.
//   When a new connection would pass either cap, the connection of that address (or, for the
//   overall cap, of any address) that has waited longest in the front for its handshake or
//   request — at least kEvictAfter — is closed to make room; if there is none, the newcomer is
//   answered 503 (Retry-After) once its request head is in, and closed.
// - Between requests a kept-alive connection waits in the front, not on a worker, and is closed
//   after the keep-alive time.
//
// Thread-safety: one poll thread owns every connection that is not on a worker; workers hand
// connections back through a queue. Everything here is internal to CollectorServer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <httplib.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <veld/uuid.hpp>

namespace veld::sync::detail {

using SteadyClock = std::chrono::steady_clock;

/// A request body moves at least this many bytes per window, or is complete.
inline constexpr std::size_t kMinBytesPerWindow = 16 * 1024;
/// Bytes of a request (head and body) read in the front before a worker takes it over.
inline constexpr std::size_t kPrebufferBytes = 256 * 1024;
/// A connection must have waited this long in the front before a newcomer may displace it.
inline constexpr auto kEvictAfter = std::chrono::milliseconds(1000);

struct FrontLimits {
    std::chrono::milliseconds window{10'000};  // --request-timeout
    int threads = 8;
    int maxConnections = 256;
    int maxPerAddress = 32;
    /// Addresses whose connections are not capped per address (trusted reverse proxies).
    std::function<bool(const std::string& address)> uncapped;
    std::chrono::seconds keepAlive{5};
    std::size_t keepAliveRequests = 100;
    std::atomic<std::int64_t>* openGauge = nullptr;  // kept equal to the open connections
};

/// What the pre-routing check learns about the request being handled on this thread, for the
/// handler and for the connection's fate.
struct RequestState {
    bool closeConnection = false;      // refused before its body was read: the body is unread
    std::optional<Uuid> device;        // authenticated before the body was read
    std::optional<std::string> admin;  // a staff member, authenticated before the body
};
/// The request being handled on this thread (nullptr outside a request).
RequestState*& currentRequest();

/// One client connection, owned by the front's poll thread or, while a request is served, by
/// one worker.
struct Connection {
    enum class Phase { Handshake, Idle, Head, Body, Worker, Draining };
    int sock = -1;
    SSL* ssl = nullptr;
    std::string address;   // the peer's IP address, as text
    std::string buffered;  // bytes received and not yet consumed by a request
    std::size_t requestsLeft = 0;
    Phase phase = Phase::Handshake;
    SteadyClock::time_point since;     // when the current phase began
    SteadyClock::time_point deadline;  // when the current phase must be over
    std::size_t windowBytes = 0;       // body bytes in the current window
    std::size_t scanned = 0;           // how far `buffered` was searched for the head's end
    std::size_t need = 0;              // bytes to buffer before the request goes to a worker
    std::size_t drained = 0;           // bytes read and dropped while draining
    short events = 0;                  // what the poll loop waits for
    bool overLimit = false;            // past a cap with no one to displace: answered 503
    bool closed = false;
};

/// What happens to a connection after a worker served one request on it.
enum class After {
    KeepAlive,  // wait in the front for the next request
    Close,      // close now
    Drain,      // refused with its body unread: stop sending, read and drop what still comes
};

/// One connection's bytes (plain or TLS, on a non-blocking socket) for httplib's parser on a
/// worker: first what the front buffered, then the socket, under the window rule.
class WindowedStream final : public httplib::Stream {
  public:
    WindowedStream(Connection& connection, std::chrono::milliseconds window);

    /// A new request begins: both directions start a fresh window.
    void beginRequest();
    [[nodiscard]] bool timedOut() const { return m_timedOut; }
    /// What was received but not read by the request (a pipelined next request).
    [[nodiscard]] std::string takeUnread();

    bool is_readable() const override;
    bool is_writable() const override;
    ssize_t read(char* ptr, std::size_t size) override;
    ssize_t write(const char* ptr, std::size_t size) override;
    using httplib::Stream::write;
    void get_remote_ip_and_port(std::string& ip, int& port) const override;
    void get_local_ip_and_port(std::string& ip, int& port) const override;
    socket_t socket() const override { return m_c.sock; }

  private:
    void newWindow();
    void progressed(std::size_t n);
    ssize_t receive(char* ptr, std::size_t size);

    Connection& m_c;
    std::chrono::milliseconds m_window;
    SteadyClock::time_point m_deadline = SteadyClock::now();
    std::size_t m_windowBytes = 0;
    bool m_writing = false;
    bool m_timedOut = false;
    std::string m_pending;  // what the front had buffered, then what the socket gave
    std::size_t m_off = 0;
};

/// Requests and answers in memory, for serving bytes without a socket (fuzzing).
class MemoryStream final : public httplib::Stream {
  public:
    MemoryStream(std::string_view in, std::string address)
        : m_in(in), m_address(std::move(address)) {}
    bool is_readable() const override { return m_at < m_in.size(); }
    bool is_writable() const override { return true; }
    ssize_t read(char* ptr, std::size_t size) override;
    ssize_t write(const char* ptr, std::size_t size) override;
    using httplib::Stream::write;
    void get_remote_ip_and_port(std::string& ip, int& port) const override;
    void get_local_ip_and_port(std::string& ip, int& port) const override;
    socket_t socket() const override { return INVALID_SOCKET; }
    [[nodiscard]] bool consumed() const { return m_at >= m_in.size(); }
    [[nodiscard]] const std::string& out() const { return m_out; }

  private:
    std::string_view m_in;
    std::size_t m_at = 0;
    std::string m_address;
    std::string m_out;
};

/// The poll loop and the worker threads. Given to httplib as its task queue: httplib's accept
/// loop calls enqueue() once per accepted socket, which hands the socket to the poll loop at
/// once (see Front::process_and_close_socket).
class ConnectionFront final : public httplib::TaskQueue {
  public:
    using Serve = std::function<After(Connection&)>;
    using Stopping = std::function<bool()>;

    ConnectionFront(FrontLimits limits, SSL_CTX* tls, Serve serve, Stopping stopping);
    ~ConnectionFront() override;
    ConnectionFront(const ConnectionFront&) = delete;
    ConnectionFront& operator=(const ConnectionFront&) = delete;

    /// Runs `job` on the calling thread (httplib's accept loop): it only adopts a socket.
    void enqueue(std::function<void()> job) override { job(); }
    /// Closes every connection waiting in the front; requests on workers finish first.
    void shutdown() override;

    /// Takes over a freshly accepted socket.
    void adopt(int sock);

  private:
    void poll();
    void prune();
    void work();
    void wake();
    void integrate(std::unique_ptr<Connection> c, SteadyClock::time_point now);
    void returned(std::unique_ptr<Connection> c, After after, SteadyClock::time_point now);
    void advance(Connection& c, SteadyClock::time_point now);
    void readRequest(Connection& c, SteadyClock::time_point now);
    void checkComplete(Connection& c, SteadyClock::time_point now);
    void drain(Connection& c);
    void answerBusy(Connection& c);
    void dispatch(Connection& c);
    void close(Connection& c);
    Connection* victimFor(const std::string& address, bool sameAddressOnly,
                          SteadyClock::time_point now);

    FrontLimits m_limits;
    SSL_CTX* m_tls;
    Serve m_serve;
    Stopping m_stopping;

    std::mutex m_mutex;
    std::condition_variable m_jobsChanged;
    std::vector<int> m_accepted;                                        // new sockets
    std::vector<std::pair<std::unique_ptr<Connection>, After>> m_back;  // from workers
    std::deque<std::unique_ptr<Connection>> m_jobs;                     // for workers
    bool m_stopped = false;
    std::atomic<bool> m_workersDone{false};
    int m_wake[2] = {-1, -1};

    // The poll thread's own state.
    std::vector<std::unique_ptr<Connection>> m_waiting;  // connections in the front
    std::map<std::string, int> m_perAddress;             // open connections per address
    int m_open = 0;                                      // open connections (workers' too)
    int m_busy = 0;                                      // over-limit ones being answered

    std::vector<std::thread> m_workers;
    std::thread m_poller;
};

/// httplib's server (plain or TLS) with the front above instead of its own connection handling,
/// and a stop that also works when it comes before the server has started listening.
template <class Base>
class Front final : public Base {
  public:
    template <class... Args>
    explicit Front(const FrontLimits& limits, Args&&... args)
        : Base(std::forward<Args>(args)...), m_limits(limits) {
        this->new_task_queue = [this] {
            SSL_CTX* tls = nullptr;
            if constexpr (std::is_same_v<Base, httplib::SSLServer>) tls = this->ssl_context();
            auto* front = new ConnectionFront(
                m_limits, tls, [this](Connection& c) { return serve(c); },
                [this] { return this->svr_sock_ == INVALID_SOCKET; });
            m_front = front;
            return front;
        };
    }

    // httplib listens with a backlog of 5 connections: when more devices than that connect at
    // the same moment (all coming back online after an outage), the kernel drops the rest. The
    // kernel's own limit is used instead.
    void widenBacklog() {
        const socket_t sock = this->svr_sock_;
        if (sock != INVALID_SOCKET) ::listen(sock, SOMAXCONN);
    }

    void stopListening() {
        const socket_t sock = this->svr_sock_.exchange(INVALID_SOCKET);
        if (sock != INVALID_SOCKET) {
            ::shutdown(sock, SHUT_RDWR);
            ::close(sock);
        }
    }

    /// Handles the requests in `bytes` as one connection's, in memory; the answers' bytes.
    std::string serveMemory(std::string_view bytes, const std::string& address) {
        MemoryStream stream(bytes, address);
        for (int i = 0; i < 100 && !stream.consumed(); ++i) {
            RequestState state;
            currentRequest() = &state;
            bool closed = false;
            const bool ok = this->process_request(stream, false, closed, {});
            currentRequest() = nullptr;
            if (!ok || closed || state.closeConnection) break;
        }
        return stream.out();
    }

  private:
    bool process_and_close_socket(socket_t sock) override {
        if (ConnectionFront* front = m_front.load()) {
            front->adopt(sock);
            return true;
        }
        ::close(sock);
        return false;
    }

    // On a worker: one request whose head (and small body) is buffered already.
    After serve(Connection& c) {
        WindowedStream stream(c, m_limits.window);
        stream.beginRequest();
        RequestState state;
        currentRequest() = &state;
        if (c.requestsLeft > 0) --c.requestsLeft;
        const bool last = c.requestsLeft == 0 || this->svr_sock_ == INVALID_SOCKET;
        bool closed = false;
        const bool ok = this->process_request(stream, last, closed, {});
        currentRequest() = nullptr;
        c.buffered = stream.takeUnread();
        if (state.closeConnection) return After::Drain;
        if (!ok || closed || last || stream.timedOut()) return After::Close;
        return After::KeepAlive;
    }

    FrontLimits m_limits;
    std::atomic<ConnectionFront*> m_front{nullptr};
};

using PlainFront = Front<httplib::Server>;
using TlsFront = Front<httplib::SSLServer>;

}  // namespace veld::sync::detail
