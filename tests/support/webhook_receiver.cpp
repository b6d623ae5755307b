#include "support/webhook_receiver.hpp"

#include <chrono>
#include <stdexcept>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace veld::test {

WebhookReceiver::WebhookReceiver(int port) : m_server(std::make_unique<httplib::Server>()) {
    m_server->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
        Post p;
        p.path = req.path;
        p.eventId = req.get_header_value("Veld-Event-Id");
        p.eventType = req.get_header_value("Veld-Event-Type");
        p.timestamp = req.get_header_value("Veld-Timestamp");
        p.signature = req.get_header_value("Veld-Signature");
        p.contentType = req.get_header_value("Content-Type");
        p.body = req.body;
        {
            std::lock_guard lock(m_mutex);
            p.answered = m_refusing ? 503 : 200;
            m_posts.push_back(p);
        }
        m_arrived.notify_all();
        res.status = p.answered;
        res.set_content(p.answered == 200 ? "ok\n" : "busy\n", "text/plain");
    });
    if (port == 0) {
        m_port = m_server->bind_to_any_port("127.0.0.1");
    } else if (m_server->bind_to_port("127.0.0.1", port)) {
        m_port = port;
    }
    if (m_port <= 0) throw std::runtime_error("the webhook receiver cannot listen");
    m_thread = std::thread([this] { m_server->listen_after_bind(); });
    // cpp-httplib 0.11 has no wait_until_ready().
    for (int i = 0; i < 500 && !m_server->is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

WebhookReceiver::~WebhookReceiver() {
    m_server->stop();
    if (m_thread.joinable()) m_thread.join();
}

void WebhookReceiver::refuse(bool refusing) {
    std::lock_guard lock(m_mutex);
    m_refusing = refusing;
}

std::vector<WebhookReceiver::Post> WebhookReceiver::posts() const {
    std::lock_guard lock(m_mutex);
    return m_posts;
}

bool WebhookReceiver::waitFor(const std::function<bool(const std::vector<Post>&)>& done,
                              int timeoutMs) {
    std::unique_lock lock(m_mutex);
    return m_arrived.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                              [&] { return done(m_posts); });
}

int WebhookReceiver::closedPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("no socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace veld::test
