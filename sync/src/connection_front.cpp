// The collector's connection front: see connection_front.hpp for what it guarantees.
#include "connection_front.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>

namespace veld::sync::detail {

namespace {

// A request head longer than this goes to a worker as it is, for httplib to refuse.
constexpr std::size_t kMaxHeadBytes = 64 * 1024;
// A refused connection's unread body is read and dropped for at most this long, or this much.
constexpr auto kDrainTime = std::chrono::seconds(1);
constexpr std::size_t kDrainBytes = 1u << 20;
// Over-limit connections being answered 503 at once; beyond, a newcomer is closed at once.
constexpr int kMaxBusyAnswers = 64;

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

std::string describe(const sockaddr_storage& addr, int* port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
        ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
        if (port) *port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
        ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
        if (port) *port = ntohs(a->sin6_port);
    }
    return text;
}

// Outcome of one non-blocking read or write on a connection.
enum class Io { Progress, WantRead, WantWrite, Eof, Error };

Io receiveSome(Connection& c, char* buffer, std::size_t size, std::size_t& got) {
    got = 0;
    if (c.ssl) {
        ERR_clear_error();
        const int r =
            SSL_read(c.ssl, buffer, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
        if (r > 0) {
            got = static_cast<std::size_t>(r);
            return Io::Progress;
        }
        switch (SSL_get_error(c.ssl, r)) {
            case SSL_ERROR_WANT_READ:
                return Io::WantRead;
            case SSL_ERROR_WANT_WRITE:
                return Io::WantWrite;
            case SSL_ERROR_ZERO_RETURN:
                return Io::Eof;
            default:
                return Io::Error;
        }
    }
    const ssize_t n = ::recv(c.sock, buffer, size, 0);
    if (n > 0) {
        got = static_cast<std::size_t>(n);
        return Io::Progress;
    }
    if (n == 0) return Io::Eof;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Io::WantRead;
    return Io::Error;
}

// Where the request head in `text` ends (just past its blank line), from `from` on.
std::optional<std::size_t> headEnd(const std::string& text, std::size_t from) {
    const auto at = text.find("\r\n\r\n", from);
    if (at != std::string::npos) return at + 4;
    return std::nullopt;
}

// The value of header `name` (case-insensitive) in a request head, if present.
std::optional<std::string> headerValue(std::string_view head, std::string_view name) {
    std::size_t line = head.find("\r\n");
    while (line != std::string_view::npos && line + 2 < head.size()) {
        const std::size_t start = line + 2;
        const std::size_t end = head.find("\r\n", start);
        if (end == std::string_view::npos || end == start) break;
        const std::string_view field = head.substr(start, end - start);
        const auto colon = field.find(':');
        if (colon == name.size() &&
            std::equal(name.begin(), name.end(), field.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
            })) {
            std::string_view value = field.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                value.remove_suffix(1);
            return std::string(value);
        }
        line = end;
    }
    return std::nullopt;
}

}  // namespace

RequestState*& currentRequest() {
    thread_local RequestState* state = nullptr;
    return state;
}

// ---- WindowedStream ---------------------------------------------------------------------------

WindowedStream::WindowedStream(Connection& connection, std::chrono::milliseconds window)
    : m_c(connection), m_window(window), m_pending(std::move(connection.buffered)) {
    connection.buffered.clear();
}

void WindowedStream::beginRequest() {
    m_writing = false;
    newWindow();
}

std::string WindowedStream::takeUnread() {
    std::string rest = m_pending.substr(std::min(m_off, m_pending.size()));
    m_pending.clear();
    m_off = 0;
    return rest;
}

bool WindowedStream::is_readable() const {
    if (m_off < m_pending.size() || (m_c.ssl && SSL_pending(m_c.ssl) > 0)) return true;
    return waitFor(m_c.sock, POLLIN, m_deadline);
}

bool WindowedStream::is_writable() const {
    return waitFor(m_c.sock, POLLOUT, m_deadline);
}

ssize_t WindowedStream::read(char* ptr, std::size_t size) {
    if (m_writing) {
        m_writing = false;
        newWindow();
    }
    if (m_off >= m_pending.size()) {
        std::array<char, 16 * 1024> chunk{};
        const ssize_t n = receive(chunk.data(), chunk.size());
        if (n <= 0) return n;
        m_pending.assign(chunk.data(), static_cast<std::size_t>(n));
        m_off = 0;
    }
    const std::size_t n = std::min(size, m_pending.size() - m_off);
    std::memcpy(ptr, m_pending.data() + m_off, n);
    m_off += n;
    return static_cast<ssize_t>(n);
}

ssize_t WindowedStream::write(const char* ptr, std::size_t size) {
    // The handler's own time (a commit) is not the client's: the answer gets its own window.
    if (!m_writing) {
        m_writing = true;
        newWindow();
    }
    for (;;) {
        ssize_t n = 0;
        short events = POLLOUT;
        if (m_c.ssl) {
            ERR_clear_error();
            const int r =
                SSL_write(m_c.ssl, ptr, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
            if (r > 0) {
                n = r;
            } else {
                const int e = SSL_get_error(m_c.ssl, r);
                if (e == SSL_ERROR_WANT_READ) {
                    events = POLLIN;
                } else if (e != SSL_ERROR_WANT_WRITE) {
                    return -1;
                }
            }
        } else {
            n = ::send(m_c.sock, ptr, size, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        }
        if (n > 0) {
            progressed(static_cast<std::size_t>(n));
            return n;
        }
        if (!waitFor(m_c.sock, events, m_deadline)) {
            m_timedOut = true;
            return -1;
        }
    }
}

void WindowedStream::get_remote_ip_and_port(std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ip = m_c.address;
    if (::getpeername(m_c.sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        describe(addr, &port);
}

void WindowedStream::get_local_ip_and_port(std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(m_c.sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        ip = describe(addr, &port);
}

void WindowedStream::newWindow() {
    m_deadline = SteadyClock::now() + m_window;
    m_windowBytes = 0;
}

void WindowedStream::progressed(std::size_t n) {
    m_windowBytes += n;
    if (m_windowBytes >= kMinBytesPerWindow) newWindow();
}

ssize_t WindowedStream::receive(char* ptr, std::size_t size) {
    for (;;) {
        std::size_t got = 0;
        const Io io = receiveSome(m_c, ptr, size, got);
        if (io == Io::Progress) {
            progressed(got);
            return static_cast<ssize_t>(got);
        }
        if (io == Io::Eof) return 0;
        if (io == Io::Error) return -1;
        if (!waitFor(m_c.sock, io == Io::WantWrite ? POLLOUT : POLLIN, m_deadline)) {
            m_timedOut = true;
            return -1;
        }
    }
}

// ---- MemoryStream -----------------------------------------------------------------------------

ssize_t MemoryStream::read(char* ptr, std::size_t size) {
    const std::size_t n = std::min(size, m_in.size() - m_at);
    std::memcpy(ptr, m_in.data() + m_at, n);
    m_at += n;
    return static_cast<ssize_t>(n);
}

ssize_t MemoryStream::write(const char* ptr, std::size_t size) {
    m_out.append(ptr, size);
    return static_cast<ssize_t>(size);
}

void MemoryStream::get_remote_ip_and_port(std::string& ip, int& port) const {
    ip = m_address;
    port = 40000;
}

void MemoryStream::get_local_ip_and_port(std::string& ip, int& port) const {
    ip = "127.0.0.1";
    port = 8470;
}

// ---- ConnectionFront --------------------------------------------------------------------------

ConnectionFront::ConnectionFront(FrontLimits limits, SSL_CTX* tls, Serve serve, Stopping stopping)
    : m_limits(limits), m_tls(tls), m_serve(std::move(serve)), m_stopping(std::move(stopping)) {
    if (::pipe2(m_wake, O_CLOEXEC | O_NONBLOCK) != 0) m_wake[0] = m_wake[1] = -1;
    const int threads = std::max(1, m_limits.threads);
    for (int i = 0; i < threads; ++i)
        m_workers.emplace_back([this] { work(); });
    m_poller = std::thread([this] { poll(); });
}

ConnectionFront::~ConnectionFront() {
    shutdown();
    for (int fd : m_wake)
        if (fd >= 0) ::close(fd);
}

void ConnectionFront::adopt(int sock) {
    {
        std::lock_guard lock(m_mutex);
        if (!m_stopped) {
            m_accepted.push_back(sock);
            sock = -1;
        }
    }
    if (sock >= 0) {
        ::close(sock);
        return;
    }
    wake();
}

void ConnectionFront::shutdown() {
    {
        std::lock_guard lock(m_mutex);
        if (m_stopped) return;
        m_stopped = true;
    }
    wake();
    // Workers first: a request on a worker is answered (a push commits and replies) before the
    // poll loop closes what is left, including the connections the workers hand back.
    m_jobsChanged.notify_all();
    for (auto& t : m_workers)
        if (t.joinable()) t.join();
    m_workersDone = true;
    wake();
    if (m_poller.joinable()) m_poller.join();
}

void ConnectionFront::wake() {
    if (m_wake[1] < 0) return;
    const char byte = 1;
    [[maybe_unused]] const auto n = ::write(m_wake[1], &byte, 1);
}

void ConnectionFront::work() {
    for (;;) {
        std::unique_ptr<Connection> c;
        {
            std::unique_lock lock(m_mutex);
            m_jobsChanged.wait(lock, [this] { return !m_jobs.empty() || m_stopped; });
            if (m_jobs.empty()) return;  // stopped, and nothing left to serve
            c = std::move(m_jobs.front());
            m_jobs.pop_front();
        }
        After after = After::Close;
        try {
            after = m_serve(*c);
        } catch (const std::exception&) {
            after = After::Close;
        }
        {
            std::lock_guard lock(m_mutex);
            m_back.emplace_back(std::move(c), after);
        }
        wake();
    }
}

void ConnectionFront::prune() {
    m_waiting.erase(
        std::remove_if(m_waiting.begin(), m_waiting.end(),
                       [](const std::unique_ptr<Connection>& c) { return !c || c->closed; }),
        m_waiting.end());
}

void ConnectionFront::poll() {
    std::vector<pollfd> fds;
    for (;;) {
        std::vector<int> accepted;
        std::vector<std::pair<std::unique_ptr<Connection>, After>> back;
        bool stopped = false;
        {
            std::lock_guard lock(m_mutex);
            accepted.swap(m_accepted);
            back.swap(m_back);
            stopped = m_stopped;
        }
        const bool workersDone = m_workersDone.load();
        auto now = SteadyClock::now();
        for (auto& [c, after] : back)
            returned(std::move(c), stopped ? After::Close : after, now);
        for (int sock : accepted) {
            if (stopped) {
                ::close(sock);
                continue;
            }
            auto c = std::make_unique<Connection>();
            c->sock = sock;
            integrate(std::move(c), now);
        }
        prune();
        if (stopped) {
            // Nothing new is served; what waits in the front is closed. Connections still on
            // workers come back (and are closed) once their requests are answered.
            for (auto& c : m_waiting)
                close(*c);
            m_waiting.clear();
            if (workersDone) {
                std::lock_guard lock(m_mutex);
                for (auto& [c, after] : m_back)
                    close(*c);
                m_back.clear();
                return;
            }
        }

        // Connections with bytes already waiting inside OpenSSL are advanced without polling.
        for (std::size_t i = 0; i < m_waiting.size(); ++i) {
            Connection* c = m_waiting[i].get();
            if (c && !c->closed && c->ssl && c->phase != Connection::Phase::Handshake &&
                SSL_pending(c->ssl) > 0)
                advance(*c, now);
        }
        prune();

        fds.assign(1, pollfd{m_wake[0], POLLIN, 0});
        auto next = now + std::chrono::seconds(1);
        for (const auto& c : m_waiting) {
            fds.push_back(pollfd{c->sock, c->events, 0});
            next = std::min(next, c->deadline);
        }
        const int rc =
            ::poll(fds.data(), fds.size(), millisUntil(next, std::chrono::milliseconds(1000)) + 1);
        if (rc < 0 && errno != EINTR) continue;
        if (fds[0].revents & POLLIN) {
            std::array<char, 64> drainBytes{};
            while (::read(m_wake[0], drainBytes.data(), drainBytes.size()) > 0) {
            }
        }
        now = SteadyClock::now();
        // A connection handed to a worker leaves an empty slot (never touched again here: the
        // worker owns it); m_waiting does not grow during this pass, so fds[i + 1] is slot i's.
        for (std::size_t i = 0; i + 1 < fds.size(); ++i) {
            Connection* c = m_waiting[i].get();
            if (!c || c->closed) continue;
            if (fds[i + 1].revents != 0) advance(*c, now);
            c = m_waiting[i].get();
            if (c && !c->closed && now >= c->deadline) close(*c);
        }
        prune();
    }
}

void ConnectionFront::integrate(std::unique_ptr<Connection> c, SteadyClock::time_point now) {
    const int flags = ::fcntl(c->sock, F_GETFL, 0);
    if (flags >= 0) ::fcntl(c->sock, F_SETFL, flags | O_NONBLOCK);
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(c->sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        c->address = describe(addr, nullptr);
    c->requestsLeft = m_limits.keepAliveRequests;
    c->since = now;
    c->deadline = now + m_limits.window;

    // The caps: make room by displacing whoever has waited longest without finishing a
    // request, or answer this one 503.
    const auto held = m_perAddress.find(c->address);
    const bool addressFull = m_limits.maxPerAddress > 0 && held != m_perAddress.end() &&
                             held->second >= m_limits.maxPerAddress &&
                             !(m_limits.uncapped && m_limits.uncapped(c->address));
    const bool allFull = m_limits.maxConnections > 0 && m_open >= m_limits.maxConnections;
    if (addressFull || allFull) {
        Connection* victim = victimFor(c->address, addressFull, now);
        if (victim) {
            close(*victim);
        } else if (m_busy >= kMaxBusyAnswers) {
            ::close(c->sock);
            return;
        } else {
            c->overLimit = true;
            c->deadline =
                now + std::min<std::chrono::milliseconds>(m_limits.window, std::chrono::seconds(2));
        }
    }
    if (c->overLimit) {
        ++m_busy;
    } else {
        ++m_open;
        if (m_limits.openGauge) m_limits.openGauge->fetch_add(1, std::memory_order_relaxed);
        ++m_perAddress[c->address];
    }
    if (m_tls) {
        c->ssl = SSL_new(m_tls);
        if (!c->ssl || SSL_set_fd(c->ssl, c->sock) != 1) {
            close(*c);
            return;
        }
        SSL_set_accept_state(c->ssl);
        c->phase = Connection::Phase::Handshake;
        c->events = POLLIN;
    } else {
        c->phase = Connection::Phase::Head;
        c->events = POLLIN;
    }
    m_waiting.push_back(std::move(c));
}

Connection* ConnectionFront::victimFor(const std::string& address, bool sameAddressOnly,
                                       SteadyClock::time_point now) {
    Connection* oldest = nullptr;
    for (auto& c : m_waiting) {
        if (c->closed || c->overLimit) continue;
        if (c->phase == Connection::Phase::Worker || c->phase == Connection::Phase::Draining)
            continue;
        if (sameAddressOnly && c->address != address) continue;
        if (now - c->since < kEvictAfter) continue;
        if (!oldest || c->since < oldest->since) oldest = c.get();
    }
    return oldest;
}

void ConnectionFront::returned(std::unique_ptr<Connection> c, After after,
                               SteadyClock::time_point now) {
    if (after == After::Close || c->requestsLeft == 0) {
        if (c->ssl && after == After::Close) SSL_shutdown(c->ssl);
        close(*c);
        return;
    }
    c->since = now;
    if (after == After::Drain) {
        c->phase = Connection::Phase::Draining;
        c->deadline = now + kDrainTime;
        c->drained = 0;
        c->events = POLLIN;
        ::shutdown(c->sock, SHUT_WR);
        m_waiting.push_back(std::move(c));
        return;
    }
    c->scanned = 0;
    c->events = POLLIN;
    if (c->buffered.empty() && !(c->ssl && SSL_pending(c->ssl) > 0)) {
        c->phase = Connection::Phase::Idle;
        c->deadline = now + m_limits.keepAlive;
        m_waiting.push_back(std::move(c));
        return;
    }
    // A pipelined request is there already.
    c->phase = Connection::Phase::Head;
    c->deadline = now + m_limits.window;
    Connection& ref = *c;
    m_waiting.push_back(std::move(c));
    advance(ref, now);
}

void ConnectionFront::advance(Connection& c, SteadyClock::time_point now) {
    switch (c.phase) {
        case Connection::Phase::Handshake: {
            ERR_clear_error();
            const int r = SSL_accept(c.ssl);
            if (r == 1) {
                c.phase = Connection::Phase::Head;  // the deadline still counts from the start
                c.events = POLLIN;
                readRequest(c, now);
                return;
            }
            const int e = SSL_get_error(c.ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                c.events = POLLIN;
            } else if (e == SSL_ERROR_WANT_WRITE) {
                c.events = POLLOUT;
            } else {
                close(c);
            }
            return;
        }
        case Connection::Phase::Idle:
        case Connection::Phase::Head:
        case Connection::Phase::Body:
            readRequest(c, now);
            return;
        case Connection::Phase::Draining:
            drain(c);
            return;
        case Connection::Phase::Worker:
            return;
    }
}

void ConnectionFront::readRequest(Connection& c, SteadyClock::time_point now) {
    std::array<char, 16 * 1024> chunk{};
    const std::size_t cap = kPrebufferBytes + kMaxHeadBytes;
    while (c.buffered.size() < cap) {
        std::size_t got = 0;
        const Io io = receiveSome(c, chunk.data(), chunk.size(), got);
        if (io == Io::Progress) {
            if (c.phase == Connection::Phase::Idle) {
                // The next request has begun: its head has one window from now, fixed.
                c.phase = Connection::Phase::Head;
                c.since = now;
                c.deadline = now + m_limits.window;
            }
            c.buffered.append(chunk.data(), got);
            if (c.phase == Connection::Phase::Body) {
                c.windowBytes += got;
                if (c.windowBytes >= kMinBytesPerWindow) {
                    c.windowBytes = 0;
                    c.deadline = now + m_limits.window;
                }
            }
            continue;
        }
        if (io == Io::WantRead || io == Io::WantWrite) {
            c.events = io == Io::WantWrite ? POLLOUT : POLLIN;
            break;
        }
        // The client stopped sending. Half a request goes to a worker all the same, so that
        // httplib answers it (400) on the still open other direction; nothing at all is a
        // client that went away.
        if (io == Io::Eof && !c.buffered.empty() && !c.overLimit &&
            (c.phase == Connection::Phase::Head || c.phase == Connection::Phase::Body)) {
            dispatch(c);
        } else {
            close(c);
        }
        return;
    }
    checkComplete(c, now);
}

void ConnectionFront::checkComplete(Connection& c, SteadyClock::time_point now) {
    if (c.phase == Connection::Phase::Head) {
        const auto end = headEnd(c.buffered, c.scanned > 3 ? c.scanned - 3 : 0);
        if (!end) {
            c.scanned = c.buffered.size();
            if (c.buffered.size() >= kMaxHeadBytes) dispatch(c);  // httplib refuses it
            return;
        }
        const std::string_view head(c.buffered.data(), *end);
        std::size_t body = 0;
        // A client that waits for "100 Continue" before its body gets it from httplib on a
        // worker: the body is not waited for here.
        if (!headerValue(head, "Transfer-Encoding") && !headerValue(head, "Expect")) {
            if (const auto length = headerValue(head, "Content-Length")) {
                char* stop = nullptr;
                const unsigned long long n = std::strtoull(length->c_str(), &stop, 10);
                if (stop && *stop == '\0' && !length->empty()) body = n <= kPrebufferBytes ? n : 0;
            }
        }
        c.need = *end + body;
        if (c.buffered.size() < c.need) {
            c.phase = Connection::Phase::Body;
            c.windowBytes = 0;
            c.deadline = now + m_limits.window;
            return;
        }
    } else if (c.phase != Connection::Phase::Body || c.buffered.size() < c.need) {
        return;
    }
    if (c.overLimit) {
        answerBusy(c);
    } else {
        dispatch(c);
    }
}

void ConnectionFront::dispatch(Connection& c) {
    if (m_stopping()) {
        close(c);
        return;
    }
    // Moved out of m_waiting: the poll loop drops the empty slot after this pass.
    auto it = std::find_if(m_waiting.begin(), m_waiting.end(),
                           [&](const std::unique_ptr<Connection>& p) { return p.get() == &c; });
    if (it == m_waiting.end()) return;
    c.phase = Connection::Phase::Worker;
    std::unique_ptr<Connection> job = std::move(*it);
    {
        std::lock_guard lock(m_mutex);
        m_jobs.push_back(std::move(job));
    }
    m_jobsChanged.notify_one();
}

void ConnectionFront::answerBusy(Connection& c) {
    static constexpr std::string_view kBody = "the collector is busy; try again shortly\n";
    const std::string answer =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Retry-After: 5\r\nConnection: close\r\nContent-Length: " +
        std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody);
    // Small enough for the socket's buffer: one try, no waiting.
    if (c.ssl) {
        ERR_clear_error();
        (void)SSL_write(c.ssl, answer.data(), static_cast<int>(answer.size()));
    } else {
        (void)::send(c.sock, answer.data(), answer.size(), MSG_NOSIGNAL);
    }
    c.phase = Connection::Phase::Draining;
    c.deadline = SteadyClock::now() + kDrainTime;
    c.drained = 0;
    c.events = POLLIN;
    ::shutdown(c.sock, SHUT_WR);
}

void ConnectionFront::drain(Connection& c) {
    std::array<char, 16 * 1024> scratch{};
    for (;;) {
        const ssize_t n = ::recv(c.sock, scratch.data(), scratch.size(), 0);
        if (n > 0) {
            c.drained += static_cast<std::size_t>(n);
            if (c.drained >= kDrainBytes) break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        break;
    }
    close(c);
}

void ConnectionFront::close(Connection& c) {
    if (c.closed) return;
    c.closed = true;
    if (c.ssl) {
        SSL_free(c.ssl);
        c.ssl = nullptr;
    }
    if (c.sock >= 0) {
        ::shutdown(c.sock, SHUT_RDWR);
        ::close(c.sock);
        c.sock = -1;
    }
    if (c.overLimit) {
        --m_busy;
        return;
    }
    --m_open;
    if (m_limits.openGauge) m_limits.openGauge->fetch_sub(1, std::memory_order_relaxed);
    if (auto it = m_perAddress.find(c.address); it != m_perAddress.end() && --it->second <= 0)
        m_perAddress.erase(it);
}

}  // namespace veld::sync::detail
