// A TCP proxy on loopback between devices and a real collector, for tests: it can cut
// connections at random points, and it keeps every byte sent up, so a test can check what
// actually went over the wire.
#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace veld::test {

// A TCP proxy that cuts connections: for each request it picks, at random, to pass it whole,
// to cut the request after some of its bytes, or to cut the reply after some of its bytes. Offsets
// are drawn up to the largest request (reply) of that endpoint seen so far, so cuts land inside
// real messages, also exactly at their end (the collector then has the whole request, and the
// device gets no reply).
class CuttingProxy {
  public:
    CuttingProxy(int upstreamPort, std::uint32_t seed, double cutShare)
        : m_upstream(upstreamPort), m_random(seed), m_cutShare(cutShare) {
        m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(m_listen >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(m_listen, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(m_listen, 64) == 0);
        socklen_t len = sizeof addr;
        REQUIRE(::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        m_port = ntohs(addr.sin_port);
        m_acceptor = std::thread([this] { acceptLoop(); });
    }

    ~CuttingProxy() {
        m_stop = true;
        m_acceptor.join();
        std::vector<std::thread> relays;
        {
            std::lock_guard lock(m_mutex);
            relays.swap(m_relays);
        }
        for (auto& t : relays)
            t.join();
        ::close(m_listen);
    }

    [[nodiscard]] int port() const { return m_port; }
    [[nodiscard]] int cutsUp() const { return m_cutsUp; }
    [[nodiscard]] int cutsDown() const { return m_cutsDown; }
    [[nodiscard]] int connections() const { return m_connections; }
    void setCutting(bool on) { m_cutting = on; }
    /// Every byte that went up from clients to the server so far, in the order relayed.
    [[nodiscard]] std::string sentUp() {
        std::lock_guard lock(m_mutex);
        return m_up;
    }

  private:
    enum class Cut { None, Up, Down };
    struct Plan {
        Cut cut = Cut::None;
        std::size_t offset = 0;
    };

    struct Sizes {
        std::size_t up = 256;
        std::size_t down = 256;
    };

    // The endpoint of a request, from its first bytes ("POST /v1/push HTTP/1.1").
    static std::string endpoint(const char* data, std::size_t n) {
        const std::string start(data, std::min<std::size_t>(n, 64));
        const auto a = start.find(' ');
        const auto b = start.find(' ', a + 1);
        return a == std::string::npos || b == std::string::npos ? std::string()
                                                                : start.substr(a + 1, b - a - 1);
    }

    Plan plan(const std::string& path) {
        std::lock_guard lock(m_mutex);
        Plan p;
        if (!m_cutting || std::uniform_real_distribution<double>(0, 1)(m_random) >= m_cutShare)
            return p;
        p.cut = m_random() % 2 == 0 ? Cut::Up : Cut::Down;
        const Sizes& sizes = m_largest[path];
        p.offset = std::uniform_int_distribution<std::size_t>(
            0, p.cut == Cut::Up ? sizes.up : sizes.down)(m_random);
        return p;
    }

    void seen(const std::string& path, std::size_t up, std::size_t down) {
        std::lock_guard lock(m_mutex);
        Sizes& sizes = m_largest[path];
        sizes.up = std::max(sizes.up, up);
        sizes.down = std::max(sizes.down, down);
    }

    void acceptLoop() {
        while (!m_stop) {
            pollfd p{m_listen, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int client = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) continue;
            ++m_connections;
            std::lock_guard lock(m_mutex);
            m_relays.emplace_back([this, client] { relay(client); });
        }
    }

    int connectUpstream() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(m_upstream));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
            return fd;
        if (fd >= 0) ::close(fd);
        return -1;
    }

    static bool sendAll(int fd, const char* data, std::size_t n) {
        while (n > 0) {
            const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
            if (w <= 0) return false;
            data += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }

    void relay(int client) {
        const int server = connectUpstream();
        if (server < 0) {
            ::close(client);
            return;
        }
        std::size_t up = 0;
        std::size_t down = 0;
        bool clientOpen = true;  // still sending to us
        bool serverOpen = true;
        bool cut = false;
        std::string path;
        Plan p;
        while ((clientOpen || serverOpen) && !cut && !m_stop) {
            pollfd fds[2] = {{client, static_cast<short>(clientOpen ? POLLIN : 0), 0},
                             {server, static_cast<short>(serverOpen ? POLLIN : 0), 0}};
            if (::poll(fds, 2, 50) <= 0) continue;
            char buf[8192];
            for (int side = 0; side < 2 && !cut; ++side) {
                if ((fds[side].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                const int from = side == 0 ? client : server;
                const int to = side == 0 ? server : client;
                const ssize_t n = ::recv(from, buf, sizeof buf, 0);
                if (n <= 0) {
                    (side == 0 ? clientOpen : serverOpen) = false;
                    ::shutdown(to, SHUT_WR);
                    continue;
                }
                std::size_t count = static_cast<std::size_t>(n);
                // Devices keep their connection between requests, and send the next request only
                // after the reply to the last: bytes going up after bytes came down begin a new
                // request, with a plan of its own.
                if (side == 0 && (up == 0 || down > 0)) {
                    if (down > 0) seen(path, up, down);
                    up = down = 0;
                    path = endpoint(buf, count);
                    p = plan(path);
                }
                std::size_t& moved = side == 0 ? up : down;
                const bool cutHere = p.cut == (side == 0 ? Cut::Up : Cut::Down);
                if (cutHere && moved + count >= p.offset) {
                    count = p.offset - moved;
                    cut = true;
                }
                if (side == 0) {
                    std::lock_guard lock(m_mutex);
                    m_up.append(buf, count);
                }
                if (!sendAll(to, buf, count)) {
                    clientOpen = serverOpen = false;  // one end is gone: the relay ends too
                    break;
                }
                moved += count;
            }
        }
        if (cut) {
            (p.cut == Cut::Up ? m_cutsUp : m_cutsDown) += 1;
            // Half the cuts are resets, half orderly closes.
            if ((up + down) % 2 == 0) {
                const linger reset{1, 0};
                ::setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
                ::setsockopt(server, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
            }
        } else if (down > 0) {
            seen(path, up, down);
        }
        ::close(client);
        ::close(server);
    }

    int m_upstream;
    int m_listen = -1;
    int m_port = 0;
    std::mutex m_mutex;
    std::mt19937 m_random;
    double m_cutShare;
    std::map<std::string, Sizes> m_largest;
    std::string m_up;
    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_cutting{true};
    std::atomic<int> m_cutsUp{0};
    std::atomic<int> m_cutsDown{0};
    std::atomic<int> m_connections{0};
    std::thread m_acceptor;
    std::vector<std::thread> m_relays;
};

}  // namespace veld::test
