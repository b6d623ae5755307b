#include "support/cut_proxy.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace veld::test {

namespace {

enum class Read { Complete, Closed, Stopped };

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Where the HTTP/1.1 message at the start of `buf` ends, or npos while it is incomplete. Bodies
// are framed by Content-Length (none: empty) or chunked.
std::size_t messageEnd(const std::string& buf) {
    const auto headEnd = buf.find("\r\n\r\n");
    if (headEnd == std::string::npos) return std::string::npos;
    const std::size_t bodyStart = headEnd + 4;
    const std::string head = lower(buf.substr(0, headEnd + 2));
    if (const auto te = head.find("\r\ntransfer-encoding:");
        te != std::string::npos && head.find("chunked", te) < head.find("\r\n", te + 2)) {
        std::size_t at = bodyStart;
        for (;;) {
            const auto lineEnd = buf.find("\r\n", at);
            if (lineEnd == std::string::npos) return std::string::npos;
            const auto size = std::strtoull(buf.c_str() + at, nullptr, 16);
            if (size == 0) {
                const auto end = buf.find("\r\n", lineEnd + 2);
                return end == std::string::npos ? std::string::npos : end + 2;
            }
            at = lineEnd + 2 + size + 2;
            if (at > buf.size()) return std::string::npos;
        }
    }
    std::size_t length = 0;
    if (const auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos)
        length = std::strtoull(head.c_str() + cl + 17, nullptr, 10);
    return buf.size() >= bodyStart + length ? bodyStart + length : std::string::npos;
}

// Reads from `fd` into `buf` until a whole message is in it; the message is moved to `out` and
// what follows it stays in `buf`.
Read readMessage(int fd, std::string& buf, std::string& out, const std::atomic<bool>& stop) {
    for (;;) {
        if (const auto end = messageEnd(buf); end != std::string::npos) {
            out = buf.substr(0, end);
            buf.erase(0, end);
            return Read::Complete;
        }
        if (stop) return Read::Stopped;
        pollfd p{fd, POLLIN, 0};
        const int rc = ::poll(&p, 1, 50);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) continue;
        char chunk[65536];
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Read::Closed;
        buf.append(chunk, static_cast<std::size_t>(n));
    }
}

bool sendAll(int fd, const char* data, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        data += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

void closeBoth(int a, int b, bool reset) {
    if (reset) {
        const linger l{1, 0};
        ::setsockopt(a, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::setsockopt(b, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    } else {
        ::shutdown(a, SHUT_RDWR);
        ::shutdown(b, SHUT_RDWR);
    }
    ::close(a);
    ::close(b);
}

std::string pathOf(const std::string& request) {
    const auto a = request.find(' ');
    const auto b = a == std::string::npos ? a : request.find(' ', a + 1);
    return b == std::string::npos ? std::string() : request.substr(a + 1, b - a - 1);
}

}  // namespace

CutProxy::CutProxy(int upstreamPort) : m_upstream(upstreamPort) {
    m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_listen < 0) throw std::runtime_error("cut proxy: no socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(m_listen, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(m_listen, 64) != 0 ||
        ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(m_listen);
        throw std::runtime_error("cut proxy: cannot listen");
    }
    m_port = ntohs(addr.sin_port);
    m_acceptor = std::thread([this] { acceptLoop(); });
}

CutProxy::~CutProxy() {
    m_stop = true;
    m_acceptor.join();
    std::vector<Relay> relays;
    {
        std::lock_guard lock(m_mutex);
        relays.swap(m_relays);
    }
    for (auto& r : relays)
        r.thread.join();
    ::close(m_listen);
}

void CutProxy::setPlan(Plan plan) {
    std::lock_guard lock(m_mutex);
    m_plan = std::move(plan);
}

std::optional<CutProxy::Cut> CutProxy::decide(const std::string& path) {
    std::lock_guard lock(m_mutex);
    return m_plan ? m_plan(path) : std::nullopt;
}

void CutProxy::acceptLoop() {
    while (!m_stop) {
        pollfd p{m_listen, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int client = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        std::lock_guard lock(m_mutex);
        for (auto it = m_relays.begin(); it != m_relays.end();) {
            if (*it->done) {
                it->thread.join();
                it = m_relays.erase(it);
            } else {
                ++it;
            }
        }
        auto done = std::make_shared<std::atomic<bool>>(false);
        m_relays.push_back({std::thread([this, client, done] {
                                relay(client);
                                *done = true;
                            }),
                            done});
    }
}

void CutProxy::relay(int client) {
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(m_upstream));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (server < 0 ||
        ::connect(server, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        if (server >= 0) ::close(server);
        ::close(client);
        return;
    }
    const int one = 1;
    ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string fromClient, fromServer, request, reply;
    for (;;) {
        if (readMessage(client, fromClient, request, m_stop) != Read::Complete) break;
        ++m_requests;
        const auto cut = decide(pathOf(request));
        if (cut && cut->up) {
            // Any offset from nothing to the whole request.
            const auto offset = std::min(
                request.size(), static_cast<std::size_t>(
                                    std::floor(cut->at * static_cast<double>(request.size() + 1))));
            (void)sendAll(server, request.data(), offset);
            ++m_cutsUp;
            if (offset == request.size()) ++m_cutsUpAtEnd;
            closeBoth(client, server, cut->reset);
            return;
        }
        if (!sendAll(server, request.data(), request.size())) break;
        const Read r = readMessage(server, fromServer, reply, m_stop);
        if (r != Read::Complete) {
            // The collector closed without a whole reply: the device sees what it sent.
            (void)sendAll(client, fromServer.data(), fromServer.size());
            break;
        }
        if (cut && !cut->up) {
            // Any offset short of the whole reply: the device never gets all of it.
            const auto offset = std::min(
                reply.size() - 1,
                static_cast<std::size_t>(std::floor(cut->at * static_cast<double>(reply.size()))));
            (void)sendAll(client, reply.data(), offset);
            ++m_cutsDown;
            closeBoth(client, server, cut->reset);
            return;
        }
        if (!sendAll(client, reply.data(), reply.size())) break;
        const auto headEnd = reply.find("\r\n\r\n");
        if (lower(reply.substr(0, headEnd)).find("\r\nconnection: close") != std::string::npos)
            break;
    }
    closeBoth(client, server, false);
}

}  // namespace veld::test
