// Slow, stalled and crowding clients against a real collector: they hold no worker thread, their
// deadlines cannot be stretched, one address cannot take every connection, and real devices
// keep being answered within a second or two all the while.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <veld/sync/protocol.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

constexpr int kWindowSeconds = 3;
const std::string kHealth = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const std::string kHealthClose =
    "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sends one byte of `request` to every connection, every `pause`, until told to stop.
class Trickler {
  public:
    Trickler(std::vector<std::unique_ptr<test::RawConnection>>& connections, std::string request,
             std::chrono::milliseconds pause)
        : m_thread([&connections, request = std::move(request), pause, this] {
              for (std::size_t i = 0; i < request.size() && !m_stop; ++i) {
                  for (auto& c : connections)
                      (void)c->send(request.substr(i, 1));
                  std::this_thread::sleep_for(pause);
              }
          }) {}
    ~Trickler() {
        m_stop = true;
        m_thread.join();
    }
    Trickler(const Trickler&) = delete;
    Trickler& operator=(const Trickler&) = delete;

  private:
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
};

// Waits up to `seconds` for every connection to be closed by the server; how many were.
std::size_t closedWithin(std::vector<std::unique_ptr<test::RawConnection>>& connections,
                         double seconds) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
        const auto closed = static_cast<std::size_t>(std::count_if(
            connections.begin(), connections.end(), [](auto& c) { return c->closedByServer(); }));
        if (closed == connections.size() || secondsSince(start) > seconds) return closed;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

}  // namespace

TEST_CASE(
    "forty clients trickling their headers from one address hold no worker: devices sync "
    "and a health probe is answered at once") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--threads", "4", "--request-timeout", std::to_string(kWindowSeconds)});
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 5);
    const auto connection = test::enrolDevice(device, collector);

    // Forty connections from another address, each sending a request one byte every 200 ms:
    // ten times the worker threads.
    std::vector<std::unique_ptr<test::RawConnection>> slow;
    for (int i = 0; i < 40; ++i)
        slow.push_back(std::make_unique<test::RawConnection>(collector.port(), "127.0.0.2"));
    const auto slowStart = std::chrono::steady_clock::now();
    Trickler trickle(slow,
                     test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                     test::protocolHeaders(connection.credential)),
                     std::chrono::milliseconds(200));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));

    auto started = std::chrono::steady_clock::now();
    const auto probe = test::httpExchange(collector.port(), kHealthClose, 10000);
    const double probeSeconds = secondsSince(started);
    CHECK(probe.status == 200);
    CHECK(probeSeconds < 1.0);

    started = std::chrono::steady_clock::now();
    auto round = sync::syncOnce(device, connection, {});
    const double syncSeconds = secondsSince(started);
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 5);
    CHECK(syncSeconds < 2.0);

    // Their headers never complete within the window: every one is cut off at its deadline,
    // trickling or not.
    CHECK(closedWithin(slow, kWindowSeconds + 2.0) == slow.size());
    CHECK(secondsSince(slowStart) < kWindowSeconds + 2.5);
}

TEST_CASE("a trickle cannot stretch the deadline of a request's headers") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--request-timeout", std::to_string(kWindowSeconds)});
    // Headers padded to many KiB, sent 64 bytes every 50 ms: steady progress (over 16 KiB per
    // window would once have renewed the window), never a complete head in time.
    std::string head = "POST /v1/pull HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    while (head.size() < 60 * 1024)
        head += "X-Padding: " + std::string(100, 'a') + "\r\n";
    test::RawConnection c(collector.port());
    std::size_t sent = 0;
    while (sent < head.size() && !c.closedByServer() && c.secondsOpen() < 20) {
        (void)c.send(head.substr(sent, 64));
        sent += 64;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(c.closedByServer());
    CHECK(c.secondsOpen() < kWindowSeconds + 1.0);
    CHECK(c.secondsOpen() > kWindowSeconds - 0.5);
}

TEST_CASE("over HTTPS, twenty half-finished handshakes hold no worker while a device syncs") {
    test::TempDir dir;
    const std::string cert = dir.file("cert.pem");
    const std::string key = dir.file("key.pem");
    test::makeTestCertificate(cert, key);
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--tls-cert", cert, "--tls-key", key, "--threads", "4", "--request-timeout",
                     std::to_string(kWindowSeconds)});

    // The first bytes of a ClientHello, then nothing, twenty times from another address.
    std::vector<std::unique_ptr<test::RawConnection>> stalled;
    for (int i = 0; i < 20; ++i) {
        stalled.push_back(std::make_unique<test::RawConnection>(collector.port(), "127.0.0.2"));
        REQUIRE(
            stalled.back()->send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
    }
    const auto stalledStart = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 2);
    const auto started = std::chrono::steady_clock::now();
    auto enrolled = sync::enrol(device, "https://127.0.0.1:" + std::to_string(collector.port()),
                                collector.enrolCode(), cert);
    REQUIRE_MESSAGE(enrolled, enrolled.error().describe());
    auto round = sync::syncOnce(device, sync::loadConnection(device).value(), {});
    const double seconds = secondsSince(started);
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 2);
    // veldctl's enrol-code runs inside this time too.
    CHECK(seconds < 2.5);

    CHECK(closedWithin(stalled, kWindowSeconds + 2.0) == stalled.size());
    CHECK(secondsSince(stalledStart) < kWindowSeconds + 2.5);
}

TEST_CASE(
    "one address gets at most its share of connections, and a newcomer displaces the one that "
    "waited longest") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--max-connections-per-address", "4", "--request-timeout", "20"});

    // Four silent connections from one address fill its share.
    std::vector<std::unique_ptr<test::RawConnection>> silent;
    for (int i = 0; i < 4; ++i)
        silent.push_back(std::make_unique<test::RawConnection>(collector.port(), "127.0.0.3"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    // A fifth at once: nobody has waited a second yet, so it is told to come back.
    auto busy = test::httpExchange(collector.port(), kHealth, 5000, "127.0.0.3");
    CHECK(busy.status == 503);
    CHECK(busy.head.find("Retry-After") != std::string::npos);
    CHECK(busy.closedByServer);
    // Other addresses are not affected.
    CHECK(test::httpExchange(collector.port(), kHealthClose, 5000).status == 200);

    // A little later the silent ones have waited over a second: a newcomer takes the place of
    // the oldest, which is closed.
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    CHECK(test::httpExchange(collector.port(), kHealthClose, 5000, "127.0.0.3").status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(silent.front()->closedByServer());
    CHECK_FALSE(silent.back()->closedByServer());
}

TEST_CASE("many devices connecting at the same moment are all answered") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    // The 200 devices share one credential here, which the per-credential limit would slow.
    collector.start({"--rate-limit", "0"});
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    const std::string request = test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                                test::protocolHeaders(connection.credential));
    // Devices coming back online together (after an outage) from fifty schools' addresses, four
    // behind each: 200 at once, three times.
    constexpr int kDevices = 200;
    for (int wave = 0; wave < 3; ++wave) {
        CAPTURE(wave);
        std::vector<int> statuses(kDevices, 0);
        std::vector<std::thread> threads;
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        for (int i = 0; i < kDevices; ++i) {
            threads.emplace_back([&, i] {
                ++ready;
                while (!go)
                    std::this_thread::yield();
                const std::string from = "127.0.1." + std::to_string(10 + i % 50);
                statuses[static_cast<std::size_t>(i)] =
                    test::httpExchange(collector.port(), request, 30000, from).status;
            });
        }
        while (ready < kDevices)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        go = true;
        for (auto& t : threads)
            t.join();
        CHECK(std::count(statuses.begin(), statuses.end(), 200) == kDevices);
    }
}

TEST_CASE("idle keep-alive connections hold no worker, and --max-connections caps them") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--threads", "2", "--max-connections", "7", "--request-timeout", "20"});

    // Five clients each make a request and keep their connection open, idle: more than the two
    // worker threads.
    std::vector<std::unique_ptr<test::RawConnection>> idle;
    for (int i = 0; i < 5; ++i) {
        idle.push_back(std::make_unique<test::RawConnection>(collector.port()));
        REQUIRE(idle.back()->send(kHealth));
        const auto reply = idle.back()->readReply(5000);
        REQUIRE(reply.status == 200);
        CHECK_FALSE(reply.closedByServer);
    }
    // A device is answered at once, not after an idle connection's keep-alive time (5 s) ...
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 3);
    const auto connection = test::enrolDevice(device, collector);
    const auto started = std::chrono::steady_clock::now();
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 3);
    CHECK(secondsSince(started) < 2.5);
    // ... and an idle connection goes on serving when its client comes back.
    REQUIRE(idle.front()->send(kHealth));
    CHECK(idle.front()->readReply(5000).status == 200);
    idle.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    // Seven fresh connections fill the cap; an eighth, while none of them has waited a second,
    // is told the collector is busy, and closed.
    std::vector<std::unique_ptr<test::RawConnection>> fresh;
    for (int i = 0; i < 7; ++i)
        fresh.push_back(std::make_unique<test::RawConnection>(collector.port()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto busy = test::httpExchange(collector.port(), kHealth, 5000);
    CHECK(busy.status == 503);
    CHECK(busy.head.find("Retry-After") != std::string::npos);
    CHECK(busy.closedByServer);

    // Once they have waited over a second without a request, a newcomer displaces the oldest.
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    CHECK(test::httpExchange(collector.port(), kHealthClose, 5000).status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(fresh.front()->closedByServer());
}

TEST_CASE("a client that waits for 100 Continue gets it at once and then its answer") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    const auto body = sync::encodePullRequest({});
    auto headers = test::protocolHeaders(connection.credential);
    headers.emplace_back("Expect", "100-continue");
    const std::string request = test::postBytes(sync::kPullPath, body, headers);
    const auto headEnd = request.find("\r\n\r\n") + 4;

    test::RawConnection c(collector.port());
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(c.send(request.substr(0, headEnd)));
    const auto interim = c.readReply(5000);
    CHECK(interim.status == 100);
    CHECK(secondsSince(started) < 0.5);
    REQUIRE(c.send(request.substr(headEnd)));
    CHECK(c.readReply(5000).status == 200);
}
