// Requests no Veld device would send, written byte by byte to a real collector: each is refused
// with a clear 4xx (or, for a client that stalls, a closed connection within about
// --request-timeout), nothing is stored, and the collector goes on serving good requests.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include <doctest/doctest.h>
#include <zlib.h>
#include <zstd.h>

#include <veld/sync/admin_client.hpp>
#include <veld/sync/protocol.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

constexpr int kRequestTimeoutSeconds = 2;
constexpr std::size_t kMaxRequestBytes = 64 * 1024;

// Peak resident memory of a process, in KiB.
long peakKiB(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

std::string zstdOfZeros(std::size_t bytes) {
    std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    const std::string zeros(1 << 20, '\0');
    std::string out;
    std::string chunk(ZSTD_CStreamOutSize(), '\0');
    for (std::size_t done = 0; done < bytes; done += zeros.size()) {
        const bool last = done + zeros.size() >= bytes;
        ZSTD_inBuffer in{zeros.data(), zeros.size(), 0};
        for (;;) {
            ZSTD_outBuffer o{chunk.data(), chunk.size(), 0};
            const std::size_t left =
                ZSTD_compressStream2(ctx.get(), &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
            REQUIRE_FALSE(ZSTD_isError(left));
            out.append(chunk.data(), o.pos);
            if (last ? left == 0 : in.pos == in.size) break;
        }
    }
    return out;
}

std::string gzipOfZeros(std::size_t bytes) {
    z_stream z{};
    REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string zeros(1 << 20, '\0');
    std::string out;
    std::string chunk(1 << 16, '\0');
    for (std::size_t done = 0; done < bytes; done += zeros.size()) {
        const bool last = done + zeros.size() >= bytes;
        z.next_in = reinterpret_cast<Bytef*>(zeros.data());
        z.avail_in = static_cast<uInt>(zeros.size());
        do {
            z.next_out = reinterpret_cast<Bytef*>(chunk.data());
            z.avail_out = static_cast<uInt>(chunk.size());
            REQUIRE(deflate(&z, last ? Z_FINISH : Z_NO_FLUSH) != Z_STREAM_ERROR);
            out.append(chunk.data(), chunk.size() - z.avail_out);
        } while (z.avail_out == 0);
    }
    deflateEnd(&z);
    return out;
}

// A collector with small limits and an enrolled device holding three records it has not sent.
struct Fixture {
    test::TempDir dir;
    test::CollectorProcess collector{test::testCollectorLocation(dir)};
    Store device = test::openDevice(dir.file("device.veld"));
    sync::Connection connection;
    std::vector<std::uint8_t> goodPush;

    Fixture() {
        collector.start({"--max-request-bytes", std::to_string(kMaxRequestBytes),
                         "--request-timeout", std::to_string(kRequestTimeoutSeconds), "--threads",
                         "4"});
        test::addFinalized(device, 3);
        connection = test::enrolDevice(device, collector);
        auto pending = device.outboxPending(100, 1 << 20);
        REQUIRE(pending);
        goodPush = sync::encodePushRequest(device.deviceId(), pending.value());
    }

    [[nodiscard]] test::Headers auth() const {
        return test::protocolHeaders(connection.credential);
    }

    test::HttpReply push(const std::string& body, const test::Headers& headers) {
        return test::httpExchange(collector.port(),
                                  test::postBytes(sync::kPushPath, body, headers));
    }

    // Nothing was stored, and a good request is answered at once.
    void nothingStoredAndStillServing() {
        auto store = collector.open();
        CHECK(store->stats()->revisions == 0);
        CHECK(store->stats()->rejected == 0);
        const auto pull = test::httpExchange(
            collector.port(), test::postBytes(sync::kPullPath, sync::encodePullRequest({}), auth()),
            5000);
        CHECK(pull.status == 200);
    }

    // The device sends its records normally: exactly its three are stored.
    void deviceStillSyncs() {
        auto round = sync::syncOnce(device, connection, {});
        REQUIRE_MESSAGE(round, round.error().describe());
        CHECK(round->recordsSent == 3);
        auto store = collector.open();
        CHECK(store->stats()->revisions == 3);
        CHECK(store->stats()->records == 3);
    }
};

}  // namespace

TEST_CASE("a truncated request is refused with 400 and stores nothing") {
    Fixture f;
    const std::string body(f.goodPush.begin(), f.goodPush.end());
    {
        // The connection ends halfway through the announced body.
        std::string request = test::postBytes(sync::kPushPath, body, f.auth());
        request.resize(request.size() - body.size() / 2);
        test::RawConnection c(f.collector.port());
        REQUIRE(c.send(request));
        c.shutdownWrite();
        const auto reply = c.finish(5000);
        CHECK(reply.status == 400);
        CHECK(reply.closedByServer);
    }
    f.nothingStoredAndStillServing();
    {
        // Half a message, announced as such.
        const auto reply = f.push(body.substr(0, body.size() / 2), f.auth());
        CHECK(reply.status == 400);
        CHECK(reply.body.find("malformed") != std::string::npos);
    }
    f.nothingStoredAndStillServing();
    f.deviceStillSyncs();
}

TEST_CASE("a body over --max-request-bytes is refused with 413 before it is read") {
    Fixture f;
    const auto big = f.push(std::string(kMaxRequestBytes + 1000, 'x'), f.auth());
    CHECK(big.status == 413);
    f.nothingStoredAndStillServing();

    // Announcing 10 GB is answered at once, without waiting for (or reading) any of it.
    test::Headers headers = f.auth();
    headers.emplace_back("Content-Length", "10000000000");
    test::RawConnection c(f.collector.port());
    REQUIRE(c.send(test::postBytes(sync::kPushPath, std::string(100, 'x'), headers)));
    const auto reply = c.finish(5000);
    CHECK(reply.status == 413);
    CHECK(reply.seconds < 1.5);
    f.nothingStoredAndStillServing();
    f.deviceStillSyncs();
}

TEST_CASE("bytes that are not a valid sync message are refused with 400") {
    Fixture f;
    const auto text = f.push("this is not a FlatBuffer, just some text of some length", f.auth());
    CHECK(text.status == 400);
    CHECK(text.body.find("not a Veld sync message") != std::string::npos);

    // A FlatBuffer with the right identifier whose root points outside the buffer.
    std::string broken(f.goodPush.begin(), f.goodPush.end());
    broken[0] = '\xf0';
    broken[1] = '\xff';
    broken[2] = '\xff';
    broken[3] = '\x0f';
    const auto verifier = f.push(broken, f.auth());
    CHECK(verifier.status == 400);
    CHECK(verifier.body.find("verifier") != std::string::npos);

    // A valid message of another kind.
    const auto pull = sync::encodePullRequest({});
    const auto wrongKind = f.push(std::string(pull.begin(), pull.end()), f.auth());
    CHECK(wrongKind.status == 400);
    CHECK(wrongKind.body.find("unexpected message type") != std::string::npos);

    // The right identifier and nothing else.
    const auto bare = f.push(std::string("\x08\x00\x00\x00VSYN", 8), f.auth());
    CHECK(bare.status == 400);
    f.nothingStoredAndStillServing();
    f.deviceStillSyncs();
}

TEST_CASE("a request without a valid credential is refused with 401, on push and on pull") {
    Fixture f;
    const std::string body(f.goodPush.begin(), f.goodPush.end());
    const auto pullBytes = sync::encodePullRequest({});
    const std::string pullBody(pullBytes.begin(), pullBytes.end());
    const std::string deviceId = f.device.deviceId().toString();
    for (const std::string& authorization :
         {std::string(), std::string("Bearer nonsense"),
          "Bearer " + deviceId + "." + std::string(64, '0'), std::string("Basic dXNlcjpwYXNz"),
          "Bearer " + f.connection.credential.substr(0, f.connection.credential.size() - 1)}) {
        CAPTURE(authorization);
        test::Headers headers = test::protocolHeaders();
        if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
        CHECK(f.push(body, headers).status == 401);
        const auto pull = test::httpExchange(f.collector.port(),
                                             test::postBytes(sync::kPullPath, pullBody, headers));
        CHECK(pull.status == 401);
        CHECK(pull.body.find("form") == std::string::npos);  // no published form leaks out
    }
    f.nothingStoredAndStillServing();
    f.deviceStillSyncs();
}

TEST_CASE("a wrong Content-Type or Content-Encoding is refused with 415") {
    Fixture f;
    const std::string body(f.goodPush.begin(), f.goodPush.end());
    const std::string authorization = "Bearer " + f.connection.credential;
    const auto json =
        f.push(body, {{"Content-Type", "application/json"}, {"Authorization", authorization}});
    CHECK(json.status == 415);
    const auto none = f.push(body, {{"Authorization", authorization}});
    CHECK(none.status == 415);
    test::Headers brotli = f.auth();
    brotli.emplace_back("Content-Encoding", "br");
    CHECK(f.push(body, brotli).status == 415);
    f.nothingStoredAndStillServing();
    f.deviceStillSyncs();
}

TEST_CASE("compressed bombs and unbounded bodies are refused without being taken in") {
    Fixture f;
    const long before = peakKiB(f.collector.pid());
    REQUIRE(before > 0);

    // zstd (the protocol's encoding): 256 MiB of zeros in a few KiB, over the 64 KiB limit.
    const std::string zstdBomb = zstdOfZeros(256u << 20);
    REQUIRE(zstdBomb.size() < kMaxRequestBytes);
    test::Headers zstd = f.auth();
    zstd.emplace_back("Content-Encoding", "zstd");
    const auto z = f.push(zstdBomb, zstd);
    CHECK(z.status == 400);
    CHECK(z.body.find("too large") != std::string::npos);

    // gzip, which the HTTP library would otherwise inflate into memory before any check.
    const std::string gzipBomb = gzipOfZeros(60u << 20);
    REQUIRE(gzipBomb.size() < kMaxRequestBytes);
    test::Headers gzip = f.auth();
    gzip.emplace_back("Content-Encoding", "gzip");
    CHECK(f.push(gzipBomb, gzip).status == 415);

    // A chunked body has no length to check up front: refused before it is read.
    test::Headers chunked = f.auth();
    chunked.emplace_back("Transfer-Encoding", "chunked");
    test::RawConnection c(f.collector.port());
    std::string request = test::postBytes(sync::kPushPath, std::string(), chunked);
    const std::string chunk(1 << 20, 'x');
    bool open = c.send(request);
    for (int i = 0; i < 64 && open; ++i)
        open = c.send("100000\r\n" + chunk + "\r\n");
    const auto reply = c.finish(5000);
    CHECK(reply.status == 411);
    CHECK_FALSE(open);  // it stopped taking bytes long before 64 MiB

    const long after = peakKiB(f.collector.pid());
    MESSAGE("collector peak memory " << before / 1024 << " MiB before, " << after / 1024
                                     << " MiB after");
    CHECK(after - before < 24 * 1024);
    f.nothingStoredAndStillServing();
    f.deviceStillSyncs();
}

TEST_CASE("a client that trickles its headers or stalls its body is cut off") {
    Fixture f;
    const double limit = kRequestTimeoutSeconds + 1.5;
    const std::string request = test::postBytes(
        sync::kPushPath, std::string(f.goodPush.begin(), f.goodPush.end()), f.auth());

    SUBCASE("headers one byte at a time, 5 per second") {
        test::RawConnection c(f.collector.port());
        std::size_t sent = 0;
        while (sent < request.size() && !c.closedByServer() && c.secondsOpen() < 20) {
            (void)c.send(request.substr(sent++, 1));
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        CHECK(c.closedByServer());
        CHECK(c.secondsOpen() < limit);
    }
    SUBCASE("a body that stops coming") {
        test::RawConnection c(f.collector.port());
        REQUIRE(c.send(request.substr(0, request.size() - 100)));
        const auto reply = c.finish(20000);
        CHECK(reply.closedByServer);
        CHECK(reply.seconds < limit);
        CHECK(reply.seconds > kRequestTimeoutSeconds - 0.5);
    }
    SUBCASE("a connection that never sends anything") {
        test::RawConnection c(f.collector.port());
        const auto reply = c.finish(20000);
        CHECK(reply.closedByServer);
        CHECK(reply.seconds < limit);
    }
    f.nothingStoredAndStillServing();
    f.deviceStillSyncs();
}

TEST_CASE("over HTTPS, a connection that never completes its handshake is cut off") {
    test::TempDir dir;
    const std::string cert = dir.file("cert.pem");
    const std::string key = dir.file("key.pem");
    test::makeTestCertificate(cert, key);
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--tls-cert", cert, "--tls-key", key, "--request-timeout",
                     std::to_string(kRequestTimeoutSeconds)});
    {
        test::RawConnection silent(collector.port());
        const auto reply = silent.finish(20000);
        CHECK(reply.closedByServer);
        CHECK(reply.seconds < kRequestTimeoutSeconds + 1.5);
    }
    {
        // The first bytes of a ClientHello, then nothing.
        test::RawConnection stalled(collector.port());
        REQUIRE(stalled.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
        const auto reply = stalled.finish(20000);
        CHECK(reply.closedByServer);
        CHECK(reply.seconds < kRequestTimeoutSeconds + 1.5);
    }
    // A real device still gets through.
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 2);
    auto enrolled = sync::enrol(device, "https://127.0.0.1:" + std::to_string(collector.port()),
                                collector.enrolCode(), cert);
    REQUIRE_MESSAGE(enrolled, enrolled.error().describe());
    auto round = sync::syncOnce(device, sync::loadConnection(device).value(), {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 2);
}

TEST_CASE(
    "wrong credentials from one address are slowed down, never a valid one, and a "
    "credential in a loop is slowed too") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--auth-failures", "3", "--rate-limit", "2"});
    auto device = test::openDevice(dir.file("device.veld"));
    test::addFinalized(device, 2);
    const auto connection = test::enrolDevice(device, collector);
    auto other = test::openDevice(dir.file("other.veld"));
    const auto otherConnection = test::enrolDevice(other, collector);
    const auto pull = [&](const std::string& credential) {
        return test::httpExchange(collector.port(),
                                  test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                                  test::protocolHeaders(credential)));
    };
    std::string wrong = connection.credential;
    wrong.back() = wrong.back() == '0' ? '1' : '0';

    // Three wrong guesses are answered as such; then the address must wait before its next
    // wrong one is even answered.
    for (int i = 0; i < 3; ++i)
        CHECK(pull(wrong).status == 401);
    const auto held = pull(wrong);
    CHECK(held.status == 429);
    CHECK(held.head.find("Retry-After: 2\r\n") != std::string::npos);
    // Devices with valid credentials behind the same address (a school's NAT) go on at once:
    // someone else's failures never slow them down.
    CHECK(pull(connection.credential).status == 200);
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 2);
    CHECK(pull(otherConnection.credential).status == 200);
    // Each further wrong guess doubles the wait (1, 2, 4, 8 s ...).
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    CHECK(pull(wrong).status == 401);
    const auto longer = pull(wrong);
    CHECK(longer.status == 429);
    CHECK(longer.head.find("Retry-After: 8\r\n") != std::string::npos);
    CHECK(pull(connection.credential).status == 200);

    // Wrong enrolment codes count like wrong credentials; a good code is honoured all the same.
    auto late = test::openDevice(dir.file("late.veld"));
    auto guessed = sync::enrol(late, collector.url(), "AAAA-BBBB-CCCC");
    REQUIRE_FALSE(guessed);
    CHECK(guessed.error().message.find("429") != std::string::npos);
    auto good = sync::enrol(late, collector.url(), collector.enrolCode());
    REQUIRE_MESSAGE(good, good.error().describe());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));

    // One credential in a loop: 2 requests a second, in bursts of 20. Past the burst it is
    // told to wait; another device's credential is not.
    int refused = 0;
    for (int i = 0; i < 40; ++i) {
        const auto reply = pull(connection.credential);
        if (reply.status == 429) {
            ++refused;
            CHECK(reply.head.find("Retry-After: ") != std::string::npos);
        } else {
            CHECK(reply.status == 200);
        }
    }
    CHECK(refused >= 5);
    CHECK(pull(otherConnection.credential).status == 200);
    // The log names the refusals, never a credential.
    CHECK(collector.log().find(connection.credential) == std::string::npos);
    CHECK(collector.log().find(wrong) == std::string::npos);
}

TEST_CASE("the collector's log names requests and who made them, never answers or secrets") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::publishPilotForms(collector);
    collector.start({"--log"});
    auto device = test::openDevice(dir.file("device.veld"));
    RecordContent content = test::sampleContent(7, "ips_guidance");
    const std::string marker = "Marker-answer-5b1e9d";
    content.answers.push_back({"intake_remarks", marker});
    auto made = device.finalizeNew(content);
    REQUIRE(made);
    const std::string code = collector.enrolCode();
    auto enrolled = sync::enrol(device, collector.url(), code);
    REQUIRE_MESSAGE(enrolled, enrolled.error().describe());
    const auto connection = sync::loadConnection(device).value();
    REQUIRE(sync::syncOnce(device, connection, {}));
    // Staff read the record, comment on it and export its form through the admin API.
    const std::string admin = test::addAdmin(collector, "anna");
    sync::Connection staff;
    staff.collector = collector.url();
    staff.credential = admin;
    sync::AdminClient console(staff);
    REQUIRE(console.record(made->id));
    sync::admin::ReviewRequest review;
    review.recordId = made->id;
    review.set = sync::ReviewState::HasIssues;
    review.comment = "Comment-marker-77c2";
    REQUIRE(console.review(review));
    sync::admin::ExportRequest exportRequest;
    exportRequest.formId = "ips_guidance";
    auto job = console.startExport(exportRequest);
    REQUIRE(job);
    // A wrong credential too: refused requests are logged as well.
    std::string wrong = connection.credential;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    CHECK(test::httpExchange(collector.port(),
                             test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                             test::protocolHeaders(wrong)))
              .status == 401);
    (void)console.exportJob(job->job, true);

    const std::string log = collector.log();
    CHECK(log.find("POST /v1/push 200") != std::string::npos);  // the log is on
    CHECK(log.find("admin:anna") != std::string::npos);
    const std::string deviceSecret =
        connection.credential.substr(connection.credential.find('.') + 1);
    const std::string adminSecret = admin.substr(admin.rfind('.') + 1);
    for (const std::string& secret : {connection.credential, deviceSecret, admin, adminSecret, code,
                                      wrong, marker, std::string("Comment-marker-77c2")}) {
        CHECK_MESSAGE(log.find(secret) == std::string::npos,
                      "the log holds " << secret.size() << " secret bytes");
    }
}

TEST_CASE(
    "behind a trusted proxy wrong credentials count per forwarded client, and a forged "
    "forwarding header helps no one") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--auth-failures", "2", "--trusted-proxies", "127.0.0.1"});
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    std::string wrong = connection.credential;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    const auto pull = [&](const std::string& credential, const std::string& client) {
        auto headers = test::protocolHeaders(credential);
        headers.emplace_back("X-Forwarded-For", client);
        return test::httpExchange(
            collector.port(),
            test::postBytes(sync::kPullPath, sync::encodePullRequest({}), headers));
    };

    // Through the proxy (this machine), each device is its own client: one guessing does not
    // slow down another behind the same proxy.
    CHECK(pull(wrong, "203.0.113.5").status == 401);
    CHECK(pull(wrong, "203.0.113.5").status == 401);
    CHECK(pull(wrong, "203.0.113.5").status == 429);
    CHECK(pull(wrong, "203.0.113.6").status == 401);
    // The proxy appends the address it saw: what the client wrote before it is not believed.
    CHECK(pull(wrong, "203.0.113.6, 203.0.113.5").status == 429);
    CHECK(pull(connection.credential, "203.0.113.5").status == 200);
    collector.kill(SIGTERM);
    collector.wait();

    // Without --trusted-proxies the header is ignored: changing it does not escape the limit.
    collector.restart({"--auth-failures", "2"});
    CHECK(pull(wrong, "198.51.100.1").status == 401);
    CHECK(pull(wrong, "198.51.100.2").status == 401);
    CHECK(pull(wrong, "198.51.100.3").status == 429);
}
