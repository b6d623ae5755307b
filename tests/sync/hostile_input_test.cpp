// Requests no Veld device would send, written byte by byte to a real collector: each is refused
// with a clear 4xx (or, for a client that stalls, a closed connection within about
// --request-timeout), nothing is stored, and the collector goes on serving good requests.
#include <algorithm>
#include <atomic>
#include <chrono>
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
    test::CollectorProcess collector{dir.file("collector.db")};
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
    SUBCASE("more tricklers than worker threads do not shut others out for long") {
        std::vector<std::unique_ptr<test::RawConnection>> tricklers;
        for (int i = 0; i < 8; ++i)
            tricklers.push_back(std::make_unique<test::RawConnection>(f.collector.port()));
        std::atomic<bool> stop{false};
        std::thread trickle([&] {
            for (std::size_t i = 0; i < request.size() && !stop; ++i) {
                for (auto& t : tricklers)
                    (void)t->send(request.substr(i, 1));
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        const auto started = std::chrono::steady_clock::now();
        const auto pull = test::httpExchange(
            f.collector.port(),
            test::postBytes(sync::kPullPath, sync::encodePullRequest({}), f.auth()), 20000);
        const double waited =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        stop = true;
        trickle.join();
        CHECK(pull.status == 200);
        // 8 tricklers on 4 threads: two rounds of one window each, then the good request.
        CHECK(waited < 2 * kRequestTimeoutSeconds + 2.5);
        for (auto& t : tricklers)
            CHECK(t->closedByServer());
    }
    f.nothingStoredAndStillServing();
    f.deviceStillSyncs();
}

TEST_CASE("over HTTPS, a connection that never completes its handshake is cut off") {
    test::TempDir dir;
    const std::string cert = dir.file("cert.pem");
    const std::string key = dir.file("key.pem");
    const auto made = test::runProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
                                        "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key,
                                        "-out", cert});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    test::CollectorProcess collector(dir.file("collector.db"));
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

TEST_CASE("many devices connecting at the same moment are all answered") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    // The 200 devices share one credential here, which the per-credential limit would slow.
    collector.start({"--rate-limit", "0"});
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    const std::string request = test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                                test::protocolHeaders(connection.credential));
    // Devices coming back online together (after an outage): 200 at once, three times.
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
                statuses[static_cast<std::size_t>(i)] =
                    test::httpExchange(collector.port(), request, 30000).status;
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
    test::CollectorProcess collector(dir.file("collector.db"));
    collector.start({"--threads", "2", "--max-connections", "7"});
    const std::string health = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    // Five clients each make a request and keep their connection open, idle: more than the two
    // worker threads, and room under the cap for the device's connection (and its enrolment
    // connection, which the collector may not have seen closing yet).
    std::vector<std::unique_ptr<test::RawConnection>> idle;
    for (int i = 0; i < 5; ++i) {
        idle.push_back(std::make_unique<test::RawConnection>(collector.port()));
        REQUIRE(idle.back()->send(health));
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
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 3);
    CHECK(waited < 2.5);
    // ... and an idle connection goes on serving when its client comes back.
    REQUIRE(idle.front()->send(health));
    CHECK(idle.front()->readReply(5000).status == 200);

    // The device's connections are closed (the collector sees that within milliseconds). With
    // seven connections open, an eighth is told the collector is busy, and closed.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    test::RawConnection sixth(collector.port());
    REQUIRE(sixth.send(health));
    CHECK(sixth.readReply(5000).status == 200);
    test::RawConnection seventh(collector.port());
    REQUIRE(seventh.send(health));
    CHECK(seventh.readReply(5000).status == 200);
    test::RawConnection eighth(collector.port());
    REQUIRE(eighth.send(health));
    const auto busy = eighth.finish(5000);
    CHECK(busy.status == 503);
    CHECK(busy.head.find("Retry-After") != std::string::npos);
    CHECK(busy.closedByServer);

    // Once clients go, room is made again.
    idle.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(test::httpExchange(
              collector.port(),
              "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 5000)
              .status == 200);
}

TEST_CASE("wrong credentials from one address are slowed down, and so is a credential in a loop") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
    collector.start({"--auth-failures", "3", "--rate-limit", "2"});
    auto device = test::openDevice(dir.file("device.veld"));
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

    // Three wrong guesses are answered as such; then the address waits, even with a right
    // credential, so guessing cannot go on.
    for (int i = 0; i < 3; ++i)
        CHECK(pull(wrong).status == 401);
    const auto held = pull(connection.credential);
    CHECK(held.status == 429);
    CHECK(held.head.find("Retry-After: 1\r\n") != std::string::npos);
    // The device's own round meanwhile is a temporary failure: it tries again later.
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_FALSE(round);
    CHECK(round.error().code == ErrorCode::Io);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    CHECK(pull(connection.credential).status == 200);
    // Each further wrong guess doubles the wait.
    CHECK(pull(wrong).status == 401);
    const auto longer = pull(connection.credential);
    CHECK(longer.status == 429);
    CHECK(longer.head.find("Retry-After: 2\r\n") != std::string::npos);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));

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
    // Wrong enrolment codes count like wrong credentials: after one more, enrolling waits too,
    // even with a good code.
    auto late = test::openDevice(dir.file("late.veld"));
    CHECK_FALSE(sync::enrol(late, collector.url(), "AAAA-BBBB-CCCC"));
    auto held2 = sync::enrol(late, collector.url(), collector.enrolCode());
    REQUIRE_FALSE(held2);
    CHECK(held2.error().code == ErrorCode::Io);
    CHECK(held2.error().message.find("429") != std::string::npos);
    // The log names the refusals, never a credential.
    CHECK(collector.log().find(connection.credential) == std::string::npos);
    CHECK(collector.log().find(wrong) == std::string::npos);
}

TEST_CASE("the collector's log names requests and who made them, never answers or secrets") {
    test::TempDir dir;
    test::CollectorProcess collector(dir.file("collector.db"));
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
