// HTTPS between a device and a real veld-collector: certificates are always verified, a given
// certificate can be trusted explicitly, and plain HTTP is refused except to this machine.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <veld/sync/collector_store.hpp>
#include <veld/sync/uploader.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

std::string waitForPort(const std::string& file) {
    std::string port;
    for (int i = 0; i < 400 && port.empty(); ++i) {
        std::ifstream in(file);
        std::getline(in, port);
        if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return port;
}

std::string enrolCode(const std::string& collector) {
    const auto r =
        test::runProcess({test::binary("veldctl"), "collector", "enrol-code", collector});
    REQUIRE(r.exitCode == 0);
    return r.out.substr(0, r.out.find('\n'));
}

// A new collector store at `collector`, served over HTTPS with this certificate.
std::unique_ptr<test::ChildProcess> serveHttps(const std::string& collector,
                                               const std::string& cert, const std::string& key,
                                               const std::string& portFile) {
    REQUIRE(test::runProcess({test::binary("veldctl"), "collector", "init", collector}).exitCode ==
            0);
    return std::make_unique<test::ChildProcess>(std::vector<std::string>{
        test::binary("veld-collector"), "--store", collector, "--port", "0", "--port-file",
        portFile, "--tls-cert", cert, "--tls-key", key, "--quiet"});
}

}  // namespace

TEST_CASE("sync over HTTPS verifies the collector's certificate") {
    test::TempDir dir;
    const std::string cert = dir.file("cert.pem");
    const std::string key = dir.file("key.pem");
    test::makeTestCertificate(cert, key);
    const std::string collector = dir.file("collector.db");
    auto server = serveHttps(collector, cert, key, dir.file("port"));
    const std::string port = waitForPort(dir.file("port"));
    REQUIRE(!port.empty());
    const std::string url = "https://127.0.0.1:" + port;

    auto store = Store::open(dir.file("device.veld"), {.mode = sql::OpenMode::ReadWriteCreate});
    REQUIRE(store);
    REQUIRE(store->finalizeNew(test::sampleContent(1)));

    // A self-signed certificate nobody said to trust: refused, and nothing is kept.
    const std::string code = enrolCode(collector);
    auto untrusted = sync::enrol(store.value(), url, code);
    REQUIRE_FALSE(untrusted);
    CHECK(untrusted.error().code == ErrorCode::Io);
    CHECK_FALSE(sync::loadConnection(store.value()));

    // Trusted explicitly (as handed out with the device): enrolment, push and pull work.
    auto trusted = sync::enrol(store.value(), url, code, cert);
    REQUIRE_MESSAGE(trusted, trusted.error().describe());
    auto connection = sync::loadConnection(store.value());
    REQUIRE(connection);
    CHECK(connection->caFile == cert);
    auto round = sync::syncOnce(store.value(), connection.value(), {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 1);
    CHECK(store->outboxState()->pending == 0);
    {
        auto c = sync::openSqliteCollector(collector, false);
        REQUIRE(c);
        CHECK(c.value()->stats()->records == 1);
    }
    server->kill(SIGTERM);
    CHECK(server->wait().exitCode == 0);
}

TEST_CASE("veldctl makes a self-signed certificate the collector serves and devices trust") {
    test::TempDir dir;
    const auto made =
        test::runProcess({test::binary("veldctl"), "collector", "tls-selfsigned", dir.file("tls")});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    const std::string cert = dir.file("tls") + "/cert.pem";
    const std::string key = dir.file("tls") + "/key.pem";
    CHECK(std::filesystem::status(key).permissions() ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    // OpenSSL's own tool reads it: the names devices connect by are in it.
    const auto shown =
        test::runProcess({"/usr/bin/openssl", "x509", "-in", cert, "-noout", "-text"});
    REQUIRE(shown.exitCode == 0);
    CHECK(shown.out.find("DNS:localhost") != std::string::npos);
    CHECK(shown.out.find("IP Address:127.0.0.1") != std::string::npos);

    const std::string collector = dir.file("collector.db");
    auto server = serveHttps(collector, cert, key, dir.file("port"));
    const std::string port = waitForPort(dir.file("port"));
    REQUIRE(!port.empty());
    auto store = Store::open(dir.file("device.veld"), {.mode = sql::OpenMode::ReadWriteCreate});
    REQUIRE(store);
    REQUIRE(store->finalizeNew(test::sampleContent(2)));
    const std::string code = enrolCode(collector);
    // Not trusted unless handed to the device; then enrolment and a round work, by name and
    // by address.
    CHECK_FALSE(sync::enrol(store.value(), "https://localhost:" + port, code));
    auto trusted = sync::enrol(store.value(), "https://localhost:" + port, code, cert);
    REQUIRE_MESSAGE(trusted, trusted.error().describe());
    auto round = sync::syncOnce(store.value(), sync::loadConnection(store.value()).value(), {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 1);
    sync::Connection byAddress = sync::loadConnection(store.value()).value();
    byAddress.collector = "https://127.0.0.1:" + port;
    CHECK(sync::syncOnce(store.value(), byAddress, {}));
    server->kill(SIGTERM);
    CHECK(server->wait().exitCode == 0);
}

TEST_CASE("plain HTTP is only for this machine unless development mode allows it") {
    CHECK(sync::checkUrl("https://collector.example.nl:8470", false));
    CHECK(sync::checkUrl("http://127.0.0.1:8470", false));
    CHECK(sync::checkUrl("http://localhost:8470", false));
    CHECK(sync::checkUrl("http://[::1]:8470", false));
    CHECK_FALSE(sync::checkUrl("http://10.0.0.7:8470", false));
    CHECK_FALSE(sync::checkUrl("http://localhost.evil.example:8470", false));
    CHECK_FALSE(sync::checkUrl("ftp://collector.example.nl", false));
    CHECK(sync::checkUrl("http://10.0.0.7:8470", true));
}

TEST_CASE("stopping the uploader ends a request in flight at once") {
    // A "collector" that takes the connection and never answers.
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);

    test::TempDir dir;
    const std::string path = dir.file("device.veld");
    {
        auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate});
        REQUIRE(store);
        REQUIRE(store->finalizeNew(test::sampleContent(1)));
        REQUIRE(store->setSetting("sync.collector",
                                  "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port))));
        REQUIRE(store->setSetting("sync.credential", "not-used"));
    }
    sync::Uploader uploader(path);
    uploader.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto before = std::chrono::steady_clock::now();
    uploader.stop();
    const auto took = std::chrono::steady_clock::now() - before;
    CHECK(took < std::chrono::seconds(3));  // the request's own timeout is 60 s
    ::close(listener);
    // Nothing was acknowledged: the record still waits.
    auto store = Store::open(path);
    REQUIRE(store);
    CHECK(store->outboxState()->pending == 1);
}
