// A webhook receiver for tests: a real HTTP server (cpp-httplib) on 127.0.0.1 that keeps every
// post it is sent, and answers 200, or 503 while told to refuse.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace veld::test {

class WebhookReceiver {
  public:
    struct Post {
        std::string path;
        std::string eventId;  // the headers Veld sends
        std::string eventType;
        std::string timestamp;
        std::string signature;
        std::string contentType;
        std::string body;
        int answered = 0;  // the status this receiver answered with
    };

    /// Listens on `port` (0: any free one); throws std::runtime_error when it cannot.
    explicit WebhookReceiver(int port = 0);
    ~WebhookReceiver();
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    [[nodiscard]] int port() const { return m_port; }
    /// While refusing, every post is kept and answered 503.
    void refuse(bool refusing);
    [[nodiscard]] std::vector<Post> posts() const;
    /// Waits until `done(posts)` holds; false when `timeoutMs` passed first.
    bool waitFor(const std::function<bool(const std::vector<Post>&)>& done, int timeoutMs);

    /// A loopback port nothing listens on (bound to a free port, then closed).
    static int closedPort();

  private:
    std::unique_ptr<httplib::Server> m_server;
    std::thread m_thread;
    int m_port = 0;
    mutable std::mutex m_mutex;
    std::condition_variable m_arrived;
    std::vector<Post> m_posts;
    bool m_refusing = false;
};

}  // namespace veld::test
