#include "support/haproxy.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace veld::test {

namespace {

constexpr const char* kHaproxy = "/usr/sbin/haproxy";

// One command to HAProxy's stats socket, its answer.
std::string askSocket(const std::string& path, const std::string& command) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return {};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        ::close(fd);
        return {};
    }
    std::copy(path.begin(), path.end(), addr.sun_path);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return {};
    }
    const std::string line = command + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        ::close(fd);
        return {};
    }
    std::string out;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        out.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

}  // namespace

int freeLoopbackPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("no socket for a free port");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("no free loopback port");
    }
    const int port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

HaProxy::HaProxy(const std::string& folder, const std::vector<int>& backendPorts) {
    if (access(kHaproxy, X_OK) != 0)
        throw std::runtime_error("HAProxy is not installed (apt-get install haproxy)");
    m_config = folder + "/haproxy.cfg";
    m_socket = folder + "/haproxy.sock";
    m_log = folder + "/haproxy.log";
    m_port = freeLoopbackPort();
    {
        std::ofstream cfg(m_config);
        cfg << "global\n"
               "    maxconn 2000\n"
               "    stats socket "
            << m_socket
            << " mode 600 level user\n"
               "\n"
               "defaults\n"
               "    mode http\n"
               "    timeout connect 1s\n"
               "    timeout client 30s\n"
               "    timeout server 30s\n"
               "    retries 3\n"
               "    option redispatch\n"
               "\n"
               "frontend veld\n"
               "    option forwardfor\n"
               "    bind 127.0.0.1:"
            << m_port
            << "\n"
               "    default_backend collectors\n"
               "\n"
               "backend collectors\n"
               "    balance roundrobin\n"
               "    option httpchk GET /healthz\n"
               "    http-check expect status 200\n"
               "    default-server check inter 100ms fall 1 rise 1\n";
        for (std::size_t i = 0; i < backendPorts.size(); ++i)
            cfg << "    server collector" << i + 1 << " 127.0.0.1:" << backendPorts[i] << "\n";
        if (!cfg) throw std::runtime_error("cannot write " + m_config);
    }
    const auto check = runProcess({kHaproxy, "-c", "-f", m_config});
    if (check.exitCode != 0)
        throw std::runtime_error("haproxy -c refused " + m_config + ": " + check.out + check.err);
    ChildOptions options;
    options.errFile = m_log;
    // -db: in the foreground, a child of the test that ends with it.
    m_process = std::make_unique<ChildProcess>(
        std::vector<std::string>{kHaproxy, "-db", "-f", m_config}, options);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (askSocket(m_socket, "show info").empty()) {
        if (m_process->exited() || std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("HAProxy did not start: " + readFile(m_log));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

HaProxy::~HaProxy() {
    if (m_process && !m_process->exited()) {
        m_process->kill(SIGTERM);
        m_process->wait();
    }
}

std::string HaProxy::url() const {
    return "http://127.0.0.1:" + std::to_string(m_port);
}

std::int64_t HaProxy::backendTrouble() const {
    // "show stat" is CSV with a "# pxname,svname,..." header naming the columns.
    const std::string stat = askSocket(m_socket, "show stat");
    const auto split = [](const std::string& line) {
        std::vector<std::string> fields;
        std::size_t at = 0;
        for (;;) {
            const auto comma = line.find(',', at);
            fields.push_back(line.substr(at, comma == std::string::npos ? comma : comma - at));
            if (comma == std::string::npos) return fields;
            at = comma + 1;
        }
    };
    std::vector<std::string> names;
    std::int64_t sum = 0;
    std::size_t at = 0;
    while (at < stat.size()) {
        const auto end = std::min(stat.find('\n', at), stat.size());
        const std::string line = stat.substr(at, end - at);
        at = end + 1;
        if (line.rfind("# ", 0) == 0) {
            names = split(line.substr(2));
            continue;
        }
        if (line.rfind("collectors,collector", 0) != 0) continue;
        const auto fields = split(line);
        for (std::size_t i = 0; i < names.size() && i < fields.size(); ++i) {
            if ((names[i] == "econ" || names[i] == "eresp" || names[i] == "wretr" ||
                 names[i] == "wredis") &&
                !fields[i].empty())
                sum += std::stoll(fields[i]);
        }
    }
    return sum;
}

bool HaProxy::waitForHealthy(std::size_t healthy, int timeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        // "show stat" is CSV: proxy, server, ..., status; one line per server.
        const std::string stat = askSocket(m_socket, "show stat");
        std::size_t up = 0;
        std::size_t at = 0;
        while (at < stat.size()) {
            const auto end = std::min(stat.find('\n', at), stat.size());
            const std::string line = stat.substr(at, end - at);
            if (line.rfind("collectors,collector", 0) == 0 &&
                line.find(",UP,") != std::string::npos)
                ++up;
            at = end + 1;
        }
        if (up >= healthy) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace veld::test
