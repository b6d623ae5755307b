#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <veld/hex.hpp>
#include <veld/sync/admin_api.hpp>
#include <veld/sync/collector_server.hpp>
#include <veld/sync/export.hpp>

#include "request_limits.hpp"

namespace veld::sync {

namespace {

std::int64_t systemNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void fail(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(message + "\n", "text/plain; charset=utf-8");
}

int statusFor(const Error& e) {
    switch (e.code) {
        case ErrorCode::InvalidArgument:
        case ErrorCode::Corrupt:
            return 400;
        case ErrorCode::NotFound:
            return 403;
        case ErrorCode::WrongState:
            return 409;
        case ErrorCode::StorageFull:
        case ErrorCode::InUse:
            return 503;
        default:
            return 500;
    }
}

// A zstd body, decompressed with a hard limit (a small body must not expand into gigabytes).
std::optional<std::string> unzstd(const std::string& in, std::size_t limit) {
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    if (!ctx) return std::nullopt;
    std::string out;
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    std::vector<char> chunk(64 * 1024);
    bool ok = true;
    while (input.pos < input.size) {
        ZSTD_outBuffer output{chunk.data(), chunk.size(), 0};
        const std::size_t r = ZSTD_decompressStream(ctx, &output, &input);
        if (ZSTD_isError(r)) {
            ok = false;
            break;
        }
        out.append(chunk.data(), output.pos);
        if (out.size() > limit) {
            ok = false;
            break;
        }
        if (r == 0 && input.pos == input.size) break;
    }
    ZSTD_freeDCtx(ctx);
    if (!ok) return std::nullopt;
    return out;
}

// ---- Connections --------------------------------------------------------------------------
//
// cpp-httplib bounds each single read or write on a connection by a timeout, but not a request
// as a whole: a client sending one byte of its headers every few seconds, or its body a trickle
// at a time, would hold one of the few worker threads for hours. So the collector runs each
// connection itself (over httplib's request parser) with one rule for both directions: within
// every window of --request-timeout seconds, a request must move at least kMinBytesPerWindow
// bytes or be complete; each time it does, a new window begins. Headers (far smaller) must thus
// arrive within one window, a stalled or trickled body is cut off after about one window, and a
// slow but steady link (16 KiB per window) may take as long as it needs.

using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kMinBytesPerWindow = 16 * 1024;
constexpr auto kStopCheck = std::chrono::milliseconds(100);

// What the pre-routing check learns about the request being handled on this thread, for the
// handler and for the connection loop.
struct RequestState {
    bool closeConnection = false;      // refused before its body was read: the body is still unread
    std::optional<Uuid> device;        // authenticated before the body was read
    std::optional<std::string> admin;  // a staff member, authenticated before the body
    bool overLimit = false;            // its connection is one more than --max-connections allows
};
thread_local RequestState* tRequest = nullptr;

int millisUntil(SteadyClock::time_point deadline, std::chrono::milliseconds cap) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    return static_cast<int>(std::clamp(left, std::chrono::milliseconds(0), cap).count());
}

// Waits until `sock` is ready for `events` or the deadline passes.
bool waitFor(int sock, short events, SteadyClock::time_point deadline) {
    for (;;) {
        const int ms = millisUntil(deadline, std::chrono::milliseconds(60'000));
        pollfd p{sock, events, 0};
        const int rc = ::poll(&p, 1, ms);
        if (rc > 0) return true;
        if (rc < 0 && errno == EINTR) continue;
        if (rc == 0 && SteadyClock::now() < deadline) continue;
        return false;
    }
}

bool tlsAccept(SSL* ssl, int sock, SteadyClock::time_point deadline) {
    for (;;) {
        ERR_clear_error();
        const int r = SSL_accept(ssl);
        if (r == 1) return true;
        const int e = SSL_get_error(ssl, r);
        const short events = e == SSL_ERROR_WANT_READ    ? POLLIN
                             : e == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                         : 0;
        if (events == 0 || !waitFor(sock, events, deadline)) return false;
    }
}

// One connection's bytes (plain or TLS, on a non-blocking socket), under the window rule above.
class WindowedStream final : public httplib::Stream {
  public:
    WindowedStream(int sock, SSL* ssl, std::chrono::milliseconds window)
        : m_sock(sock), m_ssl(ssl), m_window(window) {}

    /// Waits up to `idle` for the first byte of the next request; false when none comes, the
    /// peer closed, or `stopping` turns true (checked every 100 ms).
    bool waitForRequest(std::chrono::milliseconds idle, const std::function<bool()>& stopping) {
        const auto deadline = SteadyClock::now() + idle;
        for (;;) {
            if (m_off < m_len || (m_ssl && SSL_pending(m_ssl) > 0)) return true;
            pollfd p{m_sock, POLLIN, 0};
            const int rc = ::poll(&p, 1, millisUntil(deadline, kStopCheck));
            if (rc > 0) return (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
            if (rc < 0 && errno != EINTR) return false;
            if (stopping() || SteadyClock::now() >= deadline) return false;
        }
    }

    /// Bytes of a next request have been read already (a client that pipelines).
    [[nodiscard]] bool buffered() const {
        return m_off < m_len || (m_ssl && SSL_pending(m_ssl) > 0);
    }

    /// A new request begins: both directions start a fresh window.
    void beginRequest() {
        m_writing = false;
        newWindow();
    }
    [[nodiscard]] bool timedOut() const { return m_timedOut; }

    bool is_readable() const override {
        if (m_off < m_len || (m_ssl && SSL_pending(m_ssl) > 0)) return true;
        return waitFor(m_sock, POLLIN, m_deadline);
    }
    bool is_writable() const override { return waitFor(m_sock, POLLOUT, m_deadline); }

    ssize_t read(char* ptr, std::size_t size) override {
        if (m_writing) {
            m_writing = false;
            newWindow();
        }
        if (m_off == m_len) {
            const ssize_t n = receive(m_buffer.data(), m_buffer.size());
            if (n <= 0) return n;
            m_off = 0;
            m_len = static_cast<std::size_t>(n);
        }
        const std::size_t n = std::min(size, m_len - m_off);
        std::memcpy(ptr, m_buffer.data() + m_off, n);
        m_off += n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, std::size_t size) override {
        // The handler's own time (a commit) is not the client's: the answer gets its own window.
        if (!m_writing) {
            m_writing = true;
            newWindow();
        }
        for (;;) {
            ssize_t n = 0;
            short events = POLLOUT;
            if (m_ssl) {
                ERR_clear_error();
                const int r =
                    SSL_write(m_ssl, ptr, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
                if (r > 0) {
                    n = r;
                } else {
                    const int e = SSL_get_error(m_ssl, r);
                    if (e == SSL_ERROR_WANT_READ) {
                        events = POLLIN;
                    } else if (e != SSL_ERROR_WANT_WRITE) {
                        return -1;
                    }
                }
            } else {
                n = ::send(m_sock, ptr, size, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
            }
            if (n > 0) {
                progressed(static_cast<std::size_t>(n));
                return n;
            }
            if (!waitFor(m_sock, events, m_deadline)) {
                m_timedOut = true;
                return -1;
            }
        }
    }
    using httplib::Stream::write;

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        if (::getpeername(m_sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
            describe(addr, ip, port);
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        if (::getsockname(m_sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
            describe(addr, ip, port);
    }
    socket_t socket() const override { return m_sock; }

  private:
    static void describe(const sockaddr_storage& addr, std::string& ip, int& port) {
        char text[INET6_ADDRSTRLEN] = {};
        if (addr.ss_family == AF_INET) {
            const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
            ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
            port = ntohs(a->sin_port);
        } else if (addr.ss_family == AF_INET6) {
            const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
            ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
            port = ntohs(a->sin6_port);
        }
        ip = text;
    }

    void newWindow() {
        m_deadline = SteadyClock::now() + m_window;
        m_windowBytes = 0;
    }

    void progressed(std::size_t n) {
        m_windowBytes += n;
        if (m_windowBytes >= kMinBytesPerWindow) newWindow();
    }

    ssize_t receive(char* ptr, std::size_t size) {
        for (;;) {
            ssize_t n = 0;
            short events = POLLIN;
            if (m_ssl) {
                ERR_clear_error();
                const int r =
                    SSL_read(m_ssl, ptr, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
                if (r > 0) {
                    n = r;
                } else {
                    const int e = SSL_get_error(m_ssl, r);
                    if (e == SSL_ERROR_ZERO_RETURN) return 0;
                    if (e == SSL_ERROR_WANT_WRITE) {
                        events = POLLOUT;
                    } else if (e != SSL_ERROR_WANT_READ) {
                        return -1;
                    }
                }
            } else {
                n = ::recv(m_sock, ptr, size, 0);
                if (n == 0) return 0;
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
            }
            if (n > 0) {
                progressed(static_cast<std::size_t>(n));
                return n;
            }
            if (!waitFor(m_sock, events, m_deadline)) {
                m_timedOut = true;
                return -1;
            }
        }
    }

    int m_sock;
    SSL* m_ssl;
    std::chrono::milliseconds m_window;
    SteadyClock::time_point m_deadline = SteadyClock::now();
    std::size_t m_windowBytes = 0;
    bool m_writing = false;
    bool m_timedOut = false;
    std::array<char, 16 * 1024> m_buffer{};
    std::size_t m_off = 0;
    std::size_t m_len = 0;
};

// ---- Workers and idle connections ----------------------------------------------------------
//
// A worker thread serves a connection only while a request is on it. Between requests a
// keep-alive connection is parked: one thread watches every parked socket and hands a connection
// back to the workers when its next request starts arriving, or closes it when it stays idle
// past the keep-alive time. So a device that keeps its connection between batches (as the
// uploader does) holds no thread while it reads its next batch, and a few clients holding idle
// connections cannot starve everyone else. Connections are counted from accept to close; beyond
// --max-connections a new connection gets one answer, 503, and is closed.

struct Parked {
    int sock = -1;
    SSL* ssl = nullptr;
    std::size_t requestsLeft = 0;
    SteadyClock::time_point idleUntil;
};

void closeConnection(const Parked& c) {
    if (c.ssl) SSL_free(c.ssl);
    ::shutdown(c.sock, SHUT_RDWR);
    ::close(c.sock);
}

class Workers final : public httplib::TaskQueue {
  public:
    using Resume = std::function<void(Parked)>;

    Workers(std::size_t threads, std::atomic<int>& open, Resume resume)
        : m_open(open), m_resume(std::move(resume)) {
        if (::pipe2(m_wake, O_CLOEXEC | O_NONBLOCK) != 0) m_wake[0] = m_wake[1] = -1;
        for (std::size_t i = 0; i < threads; ++i)
            m_threads.emplace_back([this] { work(); });
        m_parker = std::thread([this] { watch(); });
    }
    ~Workers() override {
        shutdown();
        for (int fd : m_wake)
            if (fd >= 0) ::close(fd);
    }
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    void enqueue(std::function<void()> job) override {
        {
            std::lock_guard lock(m_mutex);
            m_jobs.push_back(std::move(job));
        }
        m_jobsChanged.notify_one();
    }

    /// Idle connections are closed; jobs already queued (requests already arriving) are served.
    void shutdown() override {
        {
            std::lock_guard lock(m_mutex);
            if (m_stopped) return;
            m_stopped = true;
        }
        wake();
        if (m_parker.joinable()) m_parker.join();
        m_jobsChanged.notify_all();
        for (auto& t : m_threads)
            if (t.joinable()) t.join();
    }

    /// Keeps an idle connection until its next request starts (or its time is up).
    void park(Parked connection) {
        {
            std::lock_guard lock(m_mutex);
            if (!m_stopped) {
                m_parked.push_back(connection);
                connection.sock = -1;
            }
        }
        if (connection.sock >= 0) {
            closeConnection(connection);
            --m_open;
            return;
        }
        wake();
    }

  private:
    void wake() {
        if (m_wake[1] < 0) return;
        const char byte = 1;
        [[maybe_unused]] const auto n = ::write(m_wake[1], &byte, 1);
    }

    void work() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(m_mutex);
                m_jobsChanged.wait(lock, [this] { return !m_jobs.empty() || m_stopped; });
                if (m_jobs.empty()) return;  // stopped, and nothing left to serve
                job = std::move(m_jobs.front());
                m_jobs.pop_front();
            }
            job();
        }
    }

    void watch() {
        std::vector<pollfd> fds;
        std::vector<Parked> watched;
        for (;;) {
            {
                std::lock_guard lock(m_mutex);
                if (m_stopped) {
                    for (const auto& c : m_parked) {
                        closeConnection(c);
                        --m_open;
                    }
                    m_parked.clear();
                    return;
                }
                watched = m_parked;
            }
            fds.assign(1, pollfd{m_wake[0], POLLIN, 0});
            auto next = SteadyClock::now() + std::chrono::seconds(1);
            for (const auto& c : watched) {
                fds.push_back(pollfd{c.sock, POLLIN, 0});
                next = std::min(next, c.idleUntil);
            }
            const int rc = ::poll(fds.data(), fds.size(),
                                  millisUntil(next, std::chrono::milliseconds(1000)) + 1);
            if (rc < 0 && errno != EINTR) continue;
            if (fds[0].revents & POLLIN) {
                std::array<char, 64> drain{};
                while (::read(m_wake[0], drain.data(), drain.size()) > 0) {
                }
            }
            const auto now = SteadyClock::now();
            std::vector<Parked> ready;
            std::vector<Parked> expired;
            {
                std::lock_guard lock(m_mutex);
                for (std::size_t i = 0; i < watched.size(); ++i) {
                    const bool readable = (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
                    const bool late = now >= watched[i].idleUntil;
                    if (!readable && !late) continue;
                    auto it = std::find_if(m_parked.begin(), m_parked.end(), [&](const Parked& c) {
                        return c.sock == watched[i].sock;
                    });
                    if (it == m_parked.end()) continue;
                    (readable ? ready : expired).push_back(*it);
                    m_parked.erase(it);
                }
            }
            for (const auto& c : expired) {
                closeConnection(c);
                --m_open;
            }
            for (const auto& c : ready)
                enqueue([this, c] { m_resume(c); });
        }
    }

    std::atomic<int>& m_open;
    Resume m_resume;
    std::mutex m_mutex;
    std::condition_variable m_jobsChanged;
    std::deque<std::function<void()>> m_jobs;
    std::vector<Parked> m_parked;
    bool m_stopped = false;
    int m_wake[2] = {-1, -1};
    std::vector<std::thread> m_threads;
    std::thread m_parker;
};

// httplib's server (plain or TLS) with the collector's own connection loop, and a stop that
// also works when it comes before the server has started listening.
template <class Base>
class Front final : public Base {
  public:
    template <class... Args>
    explicit Front(const ServerConfig& config, std::atomic<int>& open, Args&&... args)
        : Base(std::forward<Args>(args)...),
          m_window(std::chrono::seconds(std::max(1, config.requestTimeoutSeconds))),
          m_open(open) {
        const auto threads = static_cast<std::size_t>(std::max(1, config.threads));
        this->new_task_queue = [this, threads] {
            auto* workers = new Workers(threads, m_open, [this](Parked c) { resume(c); });
            m_workers = workers;
            return workers;
        };
    }

    // httplib listens with a backlog of 5 connections: when more devices than that connect at
    // the same moment (all coming back online after an outage), the kernel drops the rest, which
    // retry after a second or fail. The kernel's own limit is used instead.
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

  private:
    bool process_and_close_socket(socket_t sock) override {
        ++m_open;
        const int flags = ::fcntl(sock, F_GETFL, 0);
        if (flags >= 0) ::fcntl(sock, F_SETFL, flags | O_NONBLOCK);
        Parked c;
        c.sock = sock;
        c.requestsLeft = this->keep_alive_max_count_;
        bool ready = true;
        if constexpr (std::is_same_v<Base, httplib::SSLServer>) {
            c.ssl = SSL_new(this->ssl_context());
            ready = c.ssl && SSL_set_fd(c.ssl, sock) == 1 &&
                    tlsAccept(c.ssl, sock, SteadyClock::now() + m_window);
        }
        if (!ready) {
            closeConnection(c);
            --m_open;
            return false;
        }
        return serveOrPark(c);
    }

    void resume(Parked c) { serveOrPark(c); }

    // Serves the requests that are there; then parks the connection, or closes it.
    bool serveOrPark(Parked c) {
        WindowedStream stream(c.sock, c.ssl, m_window);
        const auto stopping = [this] { return this->svr_sock_ == INVALID_SOCKET; };
        bool ok = true;
        bool keep = false;
        bool bodyUnread = false;
        while (c.requestsLeft > 0) {
            // The first request of a connection (or of a resumed one) is arriving already.
            if (!stream.waitForRequest(m_window, stopping)) break;
            stream.beginRequest();
            RequestState state;
            state.overLimit = m_open.load() > m_maxConnections;
            tRequest = &state;
            bool closed = false;
            --c.requestsLeft;
            ok = this->process_request(stream, c.requestsLeft == 0 || stopping() || state.overLimit,
                                       closed, {});
            tRequest = nullptr;
            bodyUnread = state.closeConnection;
            if (!ok || closed || state.closeConnection || state.overLimit || stream.timedOut())
                break;
            if (!stream.buffered()) {
                keep = !stopping();
                break;
            }
        }
        if (keep && m_workers && c.requestsLeft > 0) {
            c.idleUntil = SteadyClock::now() +
                          std::chrono::seconds(std::max<time_t>(1, this->keep_alive_timeout_sec_));
            m_workers->park(c);
            return ok;
        }
        if (c.ssl && ok) SSL_shutdown(c.ssl);
        if (bodyUnread) drain(c.sock);
        closeConnection(c);
        --m_open;
        return ok;
    }

    // After a refusal the client may still be sending the body: closing with unread bytes would
    // reset the connection, and the client could lose the answer before reading it. So the
    // sending side is closed first and what still comes is read and dropped for a short while.
    static void drain(int sock) {
        ::shutdown(sock, SHUT_WR);
        const auto deadline = SteadyClock::now() + std::chrono::seconds(1);
        std::array<char, 16 * 1024> scratch{};
        std::size_t total = 0;
        while (total < (1u << 20) && waitFor(sock, POLLIN, deadline)) {
            const ssize_t n = ::recv(sock, scratch.data(), scratch.size(), 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
            if (n > 0) total += static_cast<std::size_t>(n);
        }
    }

  public:
    void setMaxConnections(int n) { m_maxConnections = n; }

  private:
    std::chrono::milliseconds m_window;
    std::atomic<int>& m_open;
    int m_maxConnections = 256;
    Workers* m_workers = nullptr;
};

using PlainFront = Front<httplib::Server>;
using TlsFront = Front<httplib::SSLServer>;

// ---- Exports through the admin API ---------------------------------------------------------
//
// An export of a large form takes minutes, far longer than a request may: the export runs on a
// thread of its own, into a folder of its own under --export-dir, and staff poll its state and
// then fetch its files a chunk at a time. A job is seen only by the staff member who started it
// (to anyone else it does not exist), and its files are deleted when it is discarded, an hour
// after it finished, and when the collector stops: the folder holds nothing across restarts.

constexpr int kMaxRunningExports = 2;
constexpr std::int64_t kExportKeepMs = 3600LL * 1000;

struct ExportTask {
    std::string id;         // 32 hex digits, also its folder's name
    std::string owner;      // the staff member who started it
    std::string directory;  // exportDir/id
    std::atomic<std::int64_t> done{0};
    std::atomic<std::int64_t> total{0};
    std::atomic<bool> cancel{false};
    std::thread thread;
    // Under Impl::exportsMutex:
    admin::ExportJob::State state = admin::ExportJob::State::Running;
    bool finished = false;           // its thread has done its work (it may still be joined)
    std::int64_t finishedUtcMs = 0;  // when it finished, or was last asked about since
    std::vector<admin::ExportFileInfo> files;
    std::int64_t records = 0;
    std::int64_t unreadable = 0;
    std::int64_t sealedUnopened = 0;
    std::string error;
};

bool isJobFolderName(const std::string& name) {
    return name.size() == 32 && std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

std::string newJobId() {
    std::array<std::uint8_t, 16> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    return toHex(bytes);
}

// What an export takes, for the audit log (the form is its subject).
std::string describeExport(const std::string& job, const admin::ExportRequest& r) {
    std::string out = "job " + job + ", " + std::string(exportFormatName(r.format));
    if (r.filter.formVersion) out += ", version " + std::to_string(*r.filter.formVersion);
    if (r.filter.fromUtcMs) out += ", from " + std::to_string(*r.filter.fromUtcMs);
    if (r.filter.untilUtcMs) out += ", until " + std::to_string(*r.filter.untilUtcMs);
    if (r.filter.review) out += ", review " + std::string(reviewStateName(*r.filter.review));
    return out;
}

}  // namespace

struct CollectorServer::Impl {
    ServerConfig config;
    std::shared_ptr<CollectorStore> store;
    std::function<std::int64_t()> now;
    std::unique_ptr<httplib::Server> http;
    std::function<void()> stopListening;
    std::function<void()> widenBacklog;
    std::atomic<bool> stopping{false};
    std::atomic<int> open{0};  // connections, from accept to close
    std::mutex logMutex;
    // Test hook for the kill-between-commit-and-reply test: with VELD_FAULT_EXIT_AFTER_COMMITS=N
    // in the environment at start-up, the process ends (_exit(3)) right after the N-th push has
    // committed and before its reply is sent, as a power cut or kill -9 there would.
    long faultExitAfterCommits = 0;
    std::atomic<long> commits{0};
    // Test hook: with VELD_TEST_HOLD_EXPORTS=1 in the environment at start-up, an export waits
    // before its first record until it is cancelled (discarded, or the collector stops), so a
    // test can hold jobs running for as long as it needs.
    bool holdExports = false;

    // Wrong credentials per client address, and requests per credential (see ServerConfig).
    std::unique_ptr<detail::FailureThrottle> throttle;
    std::unique_ptr<detail::RateLimit> rate;

    std::mutex exportsMutex;
    std::map<std::string, std::shared_ptr<ExportTask>> exports;
    bool exportsClosed = false;  // the server is going away: no new export starts

    void log(const httplib::Request& req, int status, const std::string& who, std::size_t bytes) {
        if (!config.logRequests) return;
        // Method, path, status, device and size: never a body, a credential or a code.
        std::lock_guard lock(logMutex);
        std::fprintf(stderr, "veld-collector: %s %s %d %s %zu bytes\n", req.method.c_str(),
                     req.path.c_str(), status, who.empty() ? "-" : who.c_str(), bytes);
    }

    // The body as sent (zstd undone), or an answer already written to `res`.
    static bool isAdminPath(const std::string& path) { return path.rfind("/v1/admin/", 0) == 0; }

    std::optional<std::string> body(const httplib::Request& req, httplib::Response& res) {
        const std::string type = req.get_header_value("Content-Type");
        const char* expected = isAdminPath(req.path) ? admin::kContentType : kContentType;
        if (type != expected) {
            fail(res, 415, std::string("expected Content-Type ") + expected);
            return std::nullopt;
        }
        const std::string encoding = req.get_header_value("Content-Encoding");
        if (encoding.empty() || encoding == "identity") return req.body;
        if (encoding == "zstd") {
            auto plain = unzstd(req.body, config.maxRequestBytes);
            if (!plain) {
                fail(res, 400, "the zstd body is damaged or too large");
                return std::nullopt;
            }
            return plain;
        }
        fail(res, 415, "unsupported Content-Encoding " + encoding);
        return std::nullopt;
    }

    // The Bearer credential checked by `check` (a device's or a staff member's): its owner, or
    // an answer already written to `res` (401 missing or unknown, 403 revoked).
    template <class Owner, class Check>
    std::optional<Owner> bearer(const httplib::Request& req, httplib::Response& res,
                                const char* who, Check check) {
        // An address that sent too many wrong credentials waits, whatever it sends now.
        if (throttle) {
            if (const std::int64_t wait = throttle->wait(req.remote_addr, now()); wait > 0) {
                tooMany(res, wait, "too many wrong credentials from this address; try again later");
                return std::nullopt;
            }
        }
        const std::string auth = req.get_header_value("Authorization");
        if (auth.rfind("Bearer ", 0) != 0) {
            fail(res, 401,
                 std::string("a ") + who + " credential is needed (Authorization: Bearer ...)");
            res.set_header("WWW-Authenticate", "Bearer");
            return std::nullopt;
        }
        auto owner = check(std::string_view(auth).substr(7));
        if (!owner && throttle &&
            (owner.error().code == ErrorCode::WrongState ||
             owner.error().code == ErrorCode::NotFound)) {
            throttle->failed(req.remote_addr, now());
        }
        if (!owner) {
            if (owner.error().code == ErrorCode::WrongState) {
                fail(res, 403, std::string("this ") + who + " credential has been revoked");
            } else if (owner.error().code == ErrorCode::NotFound) {
                fail(res, 401, std::string("unknown ") + who + " credential");
            } else {
                fail(res, 503, "the collector cannot check credentials now");
            }
            return std::nullopt;
        }
        if (rate) {
            const std::string key = std::string(who) + ":" + keyText(owner.value());
            if (const std::int64_t wait = rate->take(key, now()); wait > 0) {
                tooMany(res, wait, "too many requests with this credential; slow down");
                return std::nullopt;
            }
        }
        return std::move(owner.value());
    }

    static std::string keyText(const Uuid& id) { return id.toString(); }
    static std::string keyText(const std::string& name) { return name; }

    // 429 with the seconds to wait (at least one).
    static void tooMany(httplib::Response& res, std::int64_t waitMs, const std::string& why) {
        fail(res, 429, why);
        res.set_header("Retry-After",
                       std::to_string(std::max<std::int64_t>(1, (waitMs + 999) / 1000)));
    }

    std::optional<Uuid> device(const httplib::Request& req, httplib::Response& res) {
        if (tRequest && tRequest->device) return tRequest->device;
        return bearer<Uuid>(req, res, "device",
                            [this](std::string_view c) { return store->authenticate(c); });
    }

    // A staff member's admin credential (never a device's).
    std::optional<std::string> staff(const httplib::Request& req, httplib::Response& res) {
        if (tRequest && tRequest->admin) return tRequest->admin;
        return bearer<std::string>(
            req, res, "admin", [this](std::string_view c) { return store->authenticateAdmin(c); });
    }

    void adminRequest(const httplib::Request& req, httplib::Response& res, admin::Request want) {
        auto who = staff(req, res);
        if (!who) return log(req, res.status, {}, req.body.size());
        const std::string actor = "admin:" + *who;
        auto raw = body(req, res);
        if (!raw) return log(req, res.status, actor, req.body.size());
        const std::span<const std::uint8_t> bytes(
            reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size());
        auto kind = admin::requestKind(bytes);
        if (!kind || kind.value() != want) {
            fail(res, 400, kind ? "this endpoint takes another request" : kind.error().message);
            return log(req, res.status, actor, req.body.size());
        }
        Result<std::vector<std::uint8_t>> answer = makeError(ErrorCode::Internal, "no answer");
        const char* answerType = admin::kContentType;
        bool tooManyExports = false;
        switch (want) {
            case admin::Request::Status: {
                admin::StatusInfo info;
                auto id = store->collectorId();
                auto stats = store->stats();
                auto days = store->recordsPerDay();
                if (!id || !stats || !days) {
                    answer = !id ? id.error() : !stats ? stats.error() : days.error();
                    break;
                }
                info.collectorId = id.value();
                info.stats = stats.value();
                info.perDay = std::move(days.value());
                answer = admin::encodeStatus(info);
                break;
            }
            case admin::Request::Devices: {
                auto list = store->devices();
                answer = list ? Result<std::vector<std::uint8_t>>(admin::encodeDevices(*list))
                              : list.error();
                break;
            }
            case admin::Request::Review: {
                auto r = admin::decodeReviewRequest(bytes);
                if (!r) {
                    answer = r.error();
                    break;
                }
                if (r->set) {
                    if (auto s = store->setReview(r->recordId, *r->set, r->comment, now(), actor);
                        !s) {
                        answer = s.error();
                        break;
                    }
                }
                auto review = store->review(r->recordId);
                answer = review ? Result<std::vector<std::uint8_t>>(admin::encodeReview(*review))
                                : review.error();
                break;
            }
            case admin::Request::Conflicts: {
                auto list = store->conflicts();
                answer = list ? Result<std::vector<std::uint8_t>>(admin::encodeConflicts(*list))
                              : list.error();
                break;
            }
            case admin::Request::Duplicates:
            case admin::Request::Decide: {
                if (want == admin::Request::Decide) {
                    auto r = admin::decodeDecideRequest(bytes);
                    if (!r) {
                        answer = r.error();
                        break;
                    }
                    if (auto s =
                            store->decideDuplicate(r->key, r->decision, r->comment, now(), actor);
                        !s) {
                        answer = s.error();
                        break;
                    }
                }
                auto groups = store->duplicates();
                answer = groups
                             ? Result<std::vector<std::uint8_t>>(admin::encodeDuplicates(*groups))
                             : groups.error();
                break;
            }
            case admin::Request::Resolve: {
                auto r = admin::decodeResolveRequest(bytes);
                if (!r) {
                    answer = r.error();
                    break;
                }
                auto done = store->resolveConflict(r->conflictId, r->resolution, now(), actor);
                answer = done ? Result<std::vector<std::uint8_t>>(
                                    admin::encodeResolved({done->recordId, done->hlc}))
                              : done.error();
                break;
            }
            case admin::Request::Forms: {
                auto forms = store->publishedForms();
                answer = forms ? Result<std::vector<std::uint8_t>>(admin::encodeForms(*forms))
                               : forms.error();
                break;
            }
            case admin::Request::Record: {
                auto id = admin::decodeRecordRequest(bytes);
                answer = id ? recordDetail(id.value()) : id.error();
                break;
            }
            case admin::Request::Queue: {
                auto r = admin::decodeQueueRequest(bytes);
                if (!r) {
                    answer = r.error();
                    break;
                }
                auto queue = store->reviewQueue(r->state, r->limit);
                answer = queue ? Result<std::vector<std::uint8_t>>(admin::encodeQueue(*queue))
                               : queue.error();
                break;
            }
            case admin::Request::Export: {
                auto r = admin::decodeExportRequest(bytes);
                answer = r ? startExport(r.value(), *who, actor, tooManyExports) : r.error();
                break;
            }
            case admin::Request::ExportJob: {
                auto r = admin::decodeExportJobRequest(bytes);
                answer = r ? exportJob(r.value(), *who) : r.error();
                break;
            }
            case admin::Request::ExportFile: {
                auto r = admin::decodeExportFileRequest(bytes);
                answer = r ? exportFile(r.value(), *who) : r.error();
                answerType = admin::kFileContentType;
                break;
            }
            case admin::Request::CaseConflicts:
            case admin::Request::CaseResolve: {
                bool includeResolved = false;
                if (want == admin::Request::CaseResolve) {
                    auto r = admin::decodeCaseResolveRequest(bytes);
                    if (!r) {
                        answer = r.error();
                        break;
                    }
                    if (auto s = store->resolveCaseConflict(r->conflictId, r->choice, r->comment,
                                                            now(), actor);
                        !s) {
                        answer = s.error();
                        break;
                    }
                } else {
                    auto r = admin::decodeCaseConflictsRequest(bytes);
                    if (!r) {
                        answer = r.error();
                        break;
                    }
                    includeResolved = r.value();
                }
                auto list = store->caseConflicts(includeResolved);
                answer = list ? Result<std::vector<std::uint8_t>>(admin::encodeCaseConflicts(*list))
                              : list.error();
                break;
            }
            case admin::Request::Studies: {
                auto list = store->studies();
                answer = list ? Result<std::vector<std::uint8_t>>(admin::encodeStudies(*list))
                              : list.error();
                break;
            }
            case admin::Request::StudyBalance: {
                auto study = admin::decodeStudyRequest(bytes, want);
                if (!study) {
                    answer = study.error();
                    break;
                }
                auto balance = store->balance(study.value());
                answer =
                    balance ? Result<std::vector<std::uint8_t>>(admin::encodeStudyBalance(*balance))
                            : balance.error();
                break;
            }
            case admin::Request::StudyVerify: {
                auto study = admin::decodeStudyRequest(bytes, want);
                if (!study) {
                    answer = study.error();
                    break;
                }
                auto report = store->verifyAllocations(study.value());
                answer =
                    report
                        ? Result<std::vector<std::uint8_t>>(admin::encodeStudyVerification(*report))
                        : report.error();
                break;
            }
        }
        if (!answer) {
            // Here NotFound is an unknown record, conflict or export job, not a credential: 404.
            const int code = tooManyExports ? 429
                             : answer.error().code == ErrorCode::NotFound
                                 ? 404
                                 : statusFor(answer.error());
            fail(res, code, answer.error().message);
            if (tooManyExports) res.set_header("Retry-After", "30");
            return log(req, res.status, actor, req.body.size());
        }
        reply(req, res, answer.value(), answerType);
        log(req, 200, actor, req.body.size());
    }

    // A record with every revision, which of them is its current view, and its review.
    Result<std::vector<std::uint8_t>> recordDetail(const Uuid& recordId) {
        admin::RecordDetail detail;
        auto revisions = store->revisionsOf(recordId);
        if (!revisions) return revisions.error();
        if (revisions->empty()) return makeError(ErrorCode::NotFound, "no record with that id");
        detail.revisions = std::move(revisions.value());
        auto current = store->current(recordId);
        if (!current) return current.error();
        if (const auto& c = current.value()) {
            // The same revision: by (device, seq), else (should ids ever differ) by its HLC.
            const auto& all = detail.revisions;
            auto at = std::find_if(all.begin(), all.end(), [&](const StoredRevision& r) {
                return r.deviceId == c->deviceId && r.seq == c->seq;
            });
            if (at == all.end()) {
                at = std::find_if(all.begin(), all.end(),
                                  [&](const StoredRevision& r) { return r.hlc == c->hlc; });
            }
            if (at != all.end()) detail.current = static_cast<int>(at - all.begin());
        }
        auto review = store->review(recordId);
        if (!review) return review.error();
        detail.review = std::move(review.value());
        return admin::encodeRecord(detail);
    }

    // --- exports (see ExportTask) ---

    // Makes --export-dir (0700) when it is missing, and removes the job folders an earlier run
    // left behind. Only folders named like a job are removed: whatever else someone keeps
    // there (a wrong --export-dir) is left alone.
    bool prepareExportDir() {
        namespace fs = std::filesystem;
        const std::string& dir = config.exportDir;
        if (dir.empty()) return true;
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
            std::fprintf(stderr, "veld-collector: cannot make the export folder %s: %s\n",
                         dir.c_str(), std::strerror(errno));
            return false;
        }
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            std::fprintf(stderr, "veld-collector: the export folder %s is not a folder\n",
                         dir.c_str());
            return false;
        }
        std::vector<fs::path> leftovers;
        try {
            for (const auto& entry : fs::directory_iterator(dir)) {
                if (isJobFolderName(entry.path().filename().string()))
                    leftovers.push_back(entry.path());
            }
        } catch (const fs::filesystem_error& e) {
            std::fprintf(stderr, "veld-collector: cannot read the export folder %s: %s\n",
                         dir.c_str(), e.code().message().c_str());
            return false;
        }
        for (const auto& path : leftovers) {
            fs::remove_all(path, ec);
            if (ec) {
                std::fprintf(stderr, "veld-collector: cannot remove the old export %s: %s\n",
                             path.c_str(), ec.message().c_str());
                return false;
            }
        }
        return true;
    }

    // Deletes the jobs that finished (or were last asked about) more than an hour ago, with
    // their files.
    void sweepExportsLocked() {
        const std::int64_t t = now();
        for (auto it = exports.begin(); it != exports.end();) {
            ExportTask& task = *it->second;
            if (!task.finished || t - task.finishedUtcMs < kExportKeepMs) {
                ++it;
                continue;
            }
            std::error_code ec;
            std::filesystem::remove_all(task.directory, ec);
            // Its thread has done its work: it only has to end.
            if (task.thread.joinable()) task.thread.join();
            it = exports.erase(it);
        }
    }

    static admin::ExportJob describeLocked(const ExportTask& task) {
        admin::ExportJob job;
        job.job = task.id;
        job.state = task.state;
        job.done = task.done.load();
        job.total = task.total.load();
        if (task.state == admin::ExportJob::State::Done) job.files = task.files;
        job.records = task.records;
        job.unreadable = task.unreadable;
        job.sealedUnopened = task.sealedUnopened;
        job.error = task.error;
        return job;
    }

    // The job, if it exists and `who` started it: to anyone else it does not exist.
    std::shared_ptr<ExportTask> findLocked(const std::string& job, const std::string& who) {
        auto it = exports.find(job);
        if (it == exports.end() || it->second->owner != who) return nullptr;
        return it->second;
    }

    Result<std::vector<std::uint8_t>> startExport(const admin::ExportRequest& request,
                                                  const std::string& who, const std::string& actor,
                                                  bool& tooMany) {
        if (config.exportDir.empty()) {
            return makeError(ErrorCode::WrongState,
                             "exports are not enabled at this collector (see --export-dir)");
        }
        // An unknown form is refused now rather than as a failed job.
        auto forms = store->publishedForms();
        if (!forms) return forms.error();
        if (std::none_of(forms->begin(), forms->end(),
                         [&](const PublishedFormInfo& f) { return f.formId == request.formId; })) {
            return makeError(ErrorCode::NotFound,
                             "no form '" + request.formId + "' is published at this collector");
        }
        std::lock_guard lock(exportsMutex);
        if (exportsClosed) return makeError(ErrorCode::InUse, "the collector is stopping");
        sweepExportsLocked();
        const auto running = std::count_if(exports.begin(), exports.end(),
                                           [](const auto& e) { return !e.second->finished; });
        if (running >= kMaxRunningExports) {
            tooMany = true;
            return makeError(ErrorCode::InUse,
                             "two exports are running at this collector; try again when one has "
                             "finished");
        }
        auto task = std::make_shared<ExportTask>();
        task->id = newJobId();
        task->owner = who;
        task->directory = config.exportDir + "/" + task->id;
        if (::mkdir(task->directory.c_str(), 0700) != 0) {
            return makeError(ErrorCode::Io, "cannot make a folder for the export: " +
                                                std::string(std::strerror(errno)));
        }
        const auto removeFolder = [&] {
            std::error_code ec;
            std::filesystem::remove_all(task->directory, ec);
        };
        if (auto s = store->appendAudit(
                {now(), actor, "export", request.formId, describeExport(task->id, request)});
            !s) {
            removeFolder();
            return s.error();
        }
        ExportOptions options;
        options.formId = request.formId;
        options.filter = request.filter;
        options.format = request.format;
        options.language = request.language;
        options.directory = task->directory;
        try {
            // The map owns the task and joins the thread before letting it go.
            task->thread = std::thread([this, raw = task.get(), options = std::move(options)] {
                runExport(*raw, options);
            });
        } catch (const std::system_error&) {
            removeFolder();
            return makeError(ErrorCode::InUse, "cannot start the export now; try again later");
        }
        exports.emplace(task->id, task);
        return admin::encodeExportJob(describeLocked(*task));
    }

    // The job's thread: the export, then its outcome recorded for staff to see.
    void runExport(ExportTask& task, ExportOptions options) {  // a copy: progress is set here
        options.progress = [&task](std::int64_t done, std::int64_t total) {
            task.done = done;
            task.total = total;
        };
        options.cancel = &task.cancel;
        while (holdExports && !task.cancel)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        Result<ExportResult> result = makeError(ErrorCode::Internal, "the export did not run");
        try {
            result = exportForm(*store, options);
        } catch (const std::exception& e) {
            result = makeError(ErrorCode::Internal, std::string("the export failed: ") + e.what());
        }
        std::vector<admin::ExportFileInfo> files;
        if (result) {
            for (const auto& f : result->files) {
                std::error_code ec;
                const auto bytes = std::filesystem::file_size(f, ec);
                if (ec) {
                    result = makeError(ErrorCode::Io, "cannot read an exported file's size");
                    break;
                }
                files.push_back({std::filesystem::path(f).filename().string(),
                                 static_cast<std::int64_t>(bytes)});
            }
        }
        std::lock_guard lock(exportsMutex);
        task.finished = true;
        task.finishedUtcMs = now();
        // Discarded while it ran, or failed: nothing in its folder is of use.
        if (task.state == admin::ExportJob::State::Discarded || !result) {
            std::error_code ec;
            std::filesystem::remove_all(task.directory, ec);
        }
        if (task.state == admin::ExportJob::State::Discarded) return;
        if (!result) {
            task.state = admin::ExportJob::State::Failed;
            task.error = result.error().message;
            return;
        }
        task.state = admin::ExportJob::State::Done;
        task.files = std::move(files);
        task.records = result->records;
        task.unreadable = result->unreadable;
        task.sealedUnopened = result->sealedUnopened;
    }

    // A job's state; with `discard`, its files are deleted. A job still running is cancelled
    // and answered as discarded at once: its thread stops at its next record and deletes the
    // folder itself (until then it still counts against the limit of running exports).
    Result<std::vector<std::uint8_t>> exportJob(const admin::ExportJobRequest& request,
                                                const std::string& who) {
        std::lock_guard lock(exportsMutex);
        sweepExportsLocked();
        auto task = findLocked(request.job, who);
        if (!task) return makeError(ErrorCode::NotFound, "no export job with that id");
        if (task->finished) task->finishedUtcMs = now();  // in use: kept another hour
        if (request.discard && task->state != admin::ExportJob::State::Discarded) {
            task->state = admin::ExportJob::State::Discarded;
            task->files.clear();
            if (task->finished) {
                std::error_code ec;
                std::filesystem::remove_all(task->directory, ec);
            } else {
                task->cancel = true;
            }
        }
        return admin::encodeExportJob(describeLocked(*task));
    }

    // Up to kMaxFileChunk bytes of a finished job's file, from `offset`.
    Result<std::vector<std::uint8_t>> exportFile(const admin::ExportFileRequest& request,
                                                 const std::string& who) {
        std::string path;
        std::int64_t size = 0;
        {
            std::lock_guard lock(exportsMutex);
            sweepExportsLocked();
            auto task = findLocked(request.job, who);
            if (!task) return makeError(ErrorCode::NotFound, "no export job with that id");
            if (task->finished) task->finishedUtcMs = now();  // a long download keeps its files
            if (task->state != admin::ExportJob::State::Done) {
                return makeError(ErrorCode::WrongState,
                                 task->state == admin::ExportJob::State::Running
                                     ? "the export is still running"
                                     : "the export has no files to fetch (it failed or was "
                                       "discarded)");
            }
            auto file = std::find_if(task->files.begin(), task->files.end(),
                                     [&](const auto& f) { return f.name == request.name; });
            if (file == task->files.end())
                return makeError(ErrorCode::NotFound, "the export has no file by that name");
            path = task->directory + "/" + file->name;
            size = file->bytes;
        }
        if (request.offset > size)
            return makeError(ErrorCode::InvalidArgument, "the offset is beyond the file's end");
        // Read without holding the lock: a discard meanwhile unlinks the file, and an open
        // stream keeps reading what it had.
        std::ifstream in(path, std::ios::binary);
        if (!in) return makeError(ErrorCode::NotFound, "the export's file is gone");
        const auto length = std::min(admin::kMaxFileChunk, size - request.offset);
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(length));
        in.seekg(request.offset);
        in.read(reinterpret_cast<char*>(bytes.data()), length);
        if (in.gcount() != length) return makeError(ErrorCode::Io, "cannot read the export's file");
        return bytes;
    }

    // Stops every export at its next record (the server is stopping).
    void cancelExports() {
        std::lock_guard lock(exportsMutex);
        exportsClosed = true;
        for (auto& [id, task] : exports)
            task->cancel = true;
    }

    // Waits for every export's thread and deletes every job's files.
    void finishExports() {
        std::map<std::string, std::shared_ptr<ExportTask>> tasks;
        {
            std::lock_guard lock(exportsMutex);
            exportsClosed = true;
            for (auto& [id, task] : exports)
                task->cancel = true;
            tasks.swap(exports);
        }
        for (auto& [id, task] : tasks) {
            if (task->thread.joinable()) task->thread.join();
            std::error_code ec;
            std::filesystem::remove_all(task->directory, ec);
        }
    }

    void reply(const httplib::Request& req, httplib::Response& res,
               const std::vector<std::uint8_t>& message, const char* type = kContentType) {
        const std::string accept = req.get_header_value("Accept-Encoding");
        if (accept.find("zstd") != std::string::npos && message.size() > 1024) {
            std::string packed(ZSTD_compressBound(message.size()), '\0');
            const std::size_t n =
                ZSTD_compress(packed.data(), packed.size(), message.data(), message.size(), 3);
            if (!ZSTD_isError(n)) {
                packed.resize(n);
                res.set_header("Content-Encoding", "zstd");
                res.set_content(packed, type);
                return;
            }
        }
        res.set_content(std::string(message.begin(), message.end()), type);
    }

    void enrol(const httplib::Request& req, httplib::Response& res) {
        // Enrolment codes are guessed no faster than credentials.
        if (throttle) {
            if (const std::int64_t wait = throttle->wait(req.remote_addr, now()); wait > 0) {
                tooMany(res, wait,
                        "too many wrong codes or credentials from this address; try "
                        "again later");
                return log(req, res.status, {}, req.body.size());
            }
        }
        auto raw = body(req, res);
        if (!raw) return log(req, res.status, {}, req.body.size());
        auto request =
            decodeEnrolRequest({reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size()});
        if (!request) {
            fail(res, 400, request.error().message);
            return log(req, res.status, {}, req.body.size());
        }
        if (request->protocolVersion != kProtocolVersion) {
            fail(res, 400, "unsupported protocol version");
            return log(req, res.status, {}, req.body.size());
        }
        auto result = store->enrol(request.value(), now());
        if (!result && throttle &&
            (result.error().code == ErrorCode::NotFound ||
             result.error().code == ErrorCode::WrongState)) {
            throttle->failed(req.remote_addr, now());
        }
        if (!result) {
            fail(res, statusFor(result.error()), result.error().message);
            return log(req, res.status, request->deviceId.toString(), req.body.size());
        }
        reply(req, res, encodeEnrolResponse(result.value()));
        log(req, 200, request->deviceId.toString(), req.body.size());
    }

    void push(const httplib::Request& req, httplib::Response& res) {
        auto who = device(req, res);
        if (!who) return log(req, res.status, {}, req.body.size());
        auto raw = body(req, res);
        if (!raw) return log(req, res.status, who->toString(), req.body.size());
        auto batch =
            decodePushRequest({reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size()});
        if (!batch) {
            fail(res, 400, batch.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
        if (batch->deviceId != *who) {
            fail(res, 403, "a device can only send its own records");
            return log(req, res.status, who->toString(), req.body.size());
        }
        if (batch->protocolVersion != kProtocolVersion) {
            fail(res, 400, "unsupported protocol version");
            return log(req, res.status, who->toString(), req.body.size());
        }
        auto result = store->push(*who, batch.value(), now());
        if (!result) {
            fail(res, statusFor(result.error()), result.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
        if (faultExitAfterCommits > 0 && ++commits == faultExitAfterCommits) _exit(3);
        // Sent only now: the batch is committed, so a lost reply costs a harmless resend.
        reply(req, res, encodePushResponse(result.value()));
        log(req, 200, who->toString(), req.body.size());
    }

    // Checks made when the headers are in, before any of the body is read: how the body is
    // framed and encoded, its size and type, and for push and pull the device's credential. A
    // request refused here is answered at once and its connection closed, its body unread.
    // (httplib itself would read a chunked body or one without a length without any limit, and
    // inflate a gzip or brotli body into memory without any limit, before a handler could refuse
    // it.)
    bool refusedBeforeBody(const httplib::Request& req, httplib::Response& res) {
        if (req.has_header("Transfer-Encoding")) {
            fail(res, 411, "chunked bodies are not accepted; send Content-Length");
        } else if (req.method != "POST") {
            if (!req.has_header("Content-Length") || req.get_header_value("Content-Length") == "0")
                return false;
            fail(res, 400, "only POST requests carry a body");
        } else if (!req.has_header("Content-Length")) {
            fail(res, 411, "Content-Length is required");
        } else if (!lengthWithin(req.get_header_value("Content-Length"), config.maxRequestBytes)) {
            fail(res, 413, "request too large");
        } else if (const std::string e = req.get_header_value("Content-Encoding");
                   !e.empty() && e != "identity" && e != "zstd") {
            fail(res, 415, "unsupported Content-Encoding " + e);
        } else if (req.get_header_value("Content-Type") != kContentType &&
                   (req.path == kEnrolPath || req.path == kPushPath || req.path == kPullPath)) {
            fail(res, 415, std::string("expected Content-Type ") + kContentType);
        } else if (isAdminPath(req.path) &&
                   req.get_header_value("Content-Type") != admin::kContentType) {
            fail(res, 415, std::string("expected Content-Type ") + admin::kContentType);
        } else if (isAdminPath(req.path)) {
            auto who = staff(req, res);
            if (!who) {
                if (tRequest) tRequest->closeConnection = true;
                res.set_header("Connection", "close");
                log(req, res.status, {}, 0);
                return true;
            }
            if (tRequest) tRequest->admin = who;
            return false;
        } else if (req.path == kPushPath || req.path == kPullPath) {
            auto who = device(req, res);
            if (!who) {
                if (tRequest) tRequest->closeConnection = true;
                res.set_header("Connection", "close");
                log(req, res.status, {}, 0);
                return true;
            }
            if (tRequest) tRequest->device = who;
            return false;
        } else {
            return false;
        }
        if (tRequest) tRequest->closeConnection = true;
        res.set_header("Connection", "close");
        log(req, res.status, {}, 0);
        return true;
    }

    static bool lengthWithin(const std::string& text, std::size_t limit) {
        if (text.empty() || text.size() > 19) return false;
        std::size_t n = 0;
        for (char c : text) {
            if (c < '0' || c > '9') return false;
            n = n * 10 + static_cast<std::size_t>(c - '0');
        }
        return n <= limit;
    }

    void pull(const httplib::Request& req, httplib::Response& res) {
        auto who = device(req, res);
        if (!who) return log(req, res.status, {}, req.body.size());
        auto raw = body(req, res);
        if (!raw) return log(req, res.status, who->toString(), req.body.size());
        auto request =
            decodePullRequest({reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size()});
        if (!request) {
            fail(res, 400, request.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
        if (request->protocolVersion != kProtocolVersion) {
            fail(res, 400, "unsupported protocol version");
            return log(req, res.status, who->toString(), req.body.size());
        }
        auto result = store->pull(*who, request.value(), 16, now());
        if (!result) {
            fail(res, statusFor(result.error()), result.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
        reply(req, res, encodePullResponse(result.value()));
        log(req, 200, who->toString(), req.body.size());
    }
};

CollectorServer::CollectorServer(ServerConfig config, std::shared_ptr<CollectorStore> store,
                                 std::function<std::int64_t()> nowMs)
    : m_impl(std::make_unique<Impl>()) {
    m_impl->config = std::move(config);
    m_impl->store = std::move(store);
    m_impl->now = nowMs ? std::move(nowMs) : systemNowMs;
    if (m_impl->config.authFailures > 0) {
        detail::FailureThrottle::Policy p;
        p.freeFailures = m_impl->config.authFailures;
        m_impl->throttle = std::make_unique<detail::FailureThrottle>(p);
    }
    if (m_impl->config.ratePerCredential > 0) {
        detail::RateLimit::Policy p;
        p.perSecond = m_impl->config.ratePerCredential;
        p.burst = m_impl->config.ratePerCredential * 10.0;
        m_impl->rate = std::make_unique<detail::RateLimit>(p);
    }
    if (const char* n = std::getenv("VELD_FAULT_EXIT_AFTER_COMMITS"); n && *n) {
        m_impl->faultExitAfterCommits = std::strtol(n, nullptr, 10);
    }
    if (const char* h = std::getenv("VELD_TEST_HOLD_EXPORTS"); h && std::strcmp(h, "1") == 0)
        m_impl->holdExports = true;
    // Export job ids come from libsodium's generator (sodium_init is safe to call again).
    if (sodium_init() < 0) std::abort();
}

CollectorServer::~CollectorServer() {
    stop();
    // An export stops at its next record once cancelled: this waits for that, not for the rest.
    m_impl->finishExports();
}

bool CollectorServer::bind() {
    Impl& im = *m_impl;
    if (!im.prepareExportDir()) return false;
    if (!im.config.tlsCert.empty()) {
        auto tls = std::make_unique<TlsFront>(im.config, im.open, im.config.tlsCert.c_str(),
                                              im.config.tlsKey.c_str());
        tls->setMaxConnections(im.config.maxConnections);
        if (!tls->is_valid()) {
            std::fprintf(stderr, "veld-collector: cannot use the TLS certificate or key\n");
            return false;
        }
        im.stopListening = [front = tls.get()] { front->stopListening(); };
        im.widenBacklog = [front = tls.get()] { front->widenBacklog(); };
        im.http = std::move(tls);
    } else {
        auto plain = std::make_unique<PlainFront>(im.config, im.open);
        plain->setMaxConnections(im.config.maxConnections);
        im.stopListening = [front = plain.get()] { front->stopListening(); };
        im.widenBacklog = [front = plain.get()] { front->widenBacklog(); };
        im.http = std::move(plain);
    }
    httplib::Server& http = *im.http;
    http.set_payload_max_length(im.config.maxRequestBytes);
    http.set_read_timeout(im.config.requestTimeoutSeconds, 0);
    http.set_write_timeout(im.config.requestTimeoutSeconds, 0);
    http.set_keep_alive_timeout(5);
    http.set_keep_alive_max_count(100);
    http.set_tcp_nodelay(true);
    http.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                              {"Cache-Control", "no-store"},
                              {"Strict-Transport-Security", "max-age=31536000"}});
    http.set_pre_routing_handler([&im](const httplib::Request& req, httplib::Response& res) {
        if (tRequest && tRequest->overLimit) {
            fail(res, 503, "the collector is busy; try again shortly");
            res.set_header("Retry-After", "5");
            res.set_header("Connection", "close");
            tRequest->closeConnection = true;
            im.log(req, res.status, {}, 0);
            return httplib::Server::HandlerResponse::Handled;
        }
        if (im.refusedBeforeBody(req, res)) return httplib::Server::HandlerResponse::Handled;
        return httplib::Server::HandlerResponse::Unhandled;
    });
    auto guarded = [&im](void (Impl::*handler)(const httplib::Request&, httplib::Response&)) {
        return [&im, handler](const httplib::Request& req, httplib::Response& res) {
            try {
                (im.*handler)(req, res);
            } catch (const std::exception&) {
                fail(res, 500, "internal error");
            }
        };
    };
    http.Post(kEnrolPath, guarded(&Impl::enrol));
    http.Post(kPushPath, guarded(&Impl::push));
    http.Post(kPullPath, guarded(&Impl::pull));
    const std::pair<const char*, admin::Request> adminRoutes[] = {
        {admin::kStatusPath, admin::Request::Status},
        {admin::kDevicesPath, admin::Request::Devices},
        {admin::kReviewPath, admin::Request::Review},
        {admin::kConflictsPath, admin::Request::Conflicts},
        {admin::kResolvePath, admin::Request::Resolve},
        {admin::kDuplicatesPath, admin::Request::Duplicates},
        {admin::kDecidePath, admin::Request::Decide},
        {admin::kFormsPath, admin::Request::Forms},
        {admin::kRecordPath, admin::Request::Record},
        {admin::kQueuePath, admin::Request::Queue},
        {admin::kExportPath, admin::Request::Export},
        {admin::kExportJobPath, admin::Request::ExportJob},
        {admin::kExportFilePath, admin::Request::ExportFile},
        {admin::kCaseConflictsPath, admin::Request::CaseConflicts},
        {admin::kCaseResolvePath, admin::Request::CaseResolve},
        {admin::kStudiesPath, admin::Request::Studies},
        {admin::kStudyBalancePath, admin::Request::StudyBalance},
        {admin::kStudyVerifyPath, admin::Request::StudyVerify},
    };
    for (const auto& [path, kind] : adminRoutes) {
        http.Post(path, [&im, want = kind](const httplib::Request& req, httplib::Response& res) {
            try {
                im.adminRequest(req, res, want);
            } catch (const std::exception&) {
                fail(res, 500, "internal error");
            }
        });
    }
    http.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("ok\n", "text/plain");
    });
    http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.body.empty()) {
            res.set_content(res.status == 404   ? "no such endpoint\n"
                            : res.status == 413 ? "request too large\n"
                                                : "bad request\n",
                            "text/plain");
        }
    });
    if (im.config.port == 0) {
        m_port = http.bind_to_any_port(im.config.listen);
        if (m_port <= 0) {
            std::fprintf(stderr, "veld-collector: cannot listen on %s\n", im.config.listen.c_str());
            return false;
        }
    } else {
        if (!http.bind_to_port(im.config.listen, im.config.port)) {
            std::fprintf(stderr, "veld-collector: cannot listen on %s:%d\n",
                         im.config.listen.c_str(), im.config.port);
            return false;
        }
        m_port = im.config.port;
    }
    im.widenBacklog();
    return true;
}

void CollectorServer::run() {
    // A stop() that came first (a signal right after bind) is not lost: the listening socket is
    // closed already, and listen_after_bind() returns at once.
    if (m_impl->http && !m_impl->stopping) m_impl->http->listen_after_bind();
}

void CollectorServer::stop() {
    if (!m_impl) return;
    // Exports first: once the listening socket is closed, run() returns and the server may be
    // destroyed at once (veld-collector stops from a thread of its own).
    m_impl->cancelExports();
    m_impl->stopping = true;
    if (m_impl->stopListening) m_impl->stopListening();
}

}  // namespace veld::sync
