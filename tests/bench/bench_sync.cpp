// veld-bench-sync: how fast finalized records travel from devices to a real veld-collector on
// loopback, each figure next to a baseline measured in the same run:
// - one device pushes N records (100,000 by default) of the pilots' forms, made by the demo
//   filler through form sessions, with the real uploader (batches of at most 500 records or
//   1 MiB, zstd) -- against one plain HTTP POST of the same record bodies with libcurl to a sink
//   that only reads them, and against inserting the same rows into an SQLite table shaped like
//   the collector's revisions table in batches of the same size with the same durability (WAL,
//   synchronous=FULL). Both HTTP runs go through the same counting relay, which measures the
//   bytes on the wire;
// - 100 devices (threads, each enrolled over /v1/enrol) each pushing batches of 100 records
//   into a collector that already holds 1,000,000 records (written into its file with SQL
//   before it starts: pushing them would take as long as the rest of the run). First all at
//   once, back to back: records/s (capacity), time from sending a batch to its acknowledgement
//   (p50, p99). Then each device on its own schedule at a total of 20,000 records/s: the
//   acknowledgement times a device sees below saturation (p50, p99). Failed requests.
// - one record per request from 1, 10 and 50 clients at once, 30 s each: records/s (a new
//   connection per request, as simple clients send them).
// Devices here send as the uploader does: zstd above 512 bytes; a device keeps its connection
// between its batches.
//
// Output on stdout, one line per figure and nothing else:
//   bench NAME: VALUE UNIT (baseline)
//   bench NAME: VALUE UNIT (ratio R vs BASELINE_NAME)
// Progress goes to stderr. Exit status 1 on any error, 2 on a bad command line. Temporary files
// are removed, also after an error or Ctrl-C.

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
// Raw SQLite on purpose: baselines measure SQLite without Veld's wrapper, and fixtures are filled
// behind Veld's back.
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/store.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/uploader.hpp>
#include <veld/uuid.hpp>

#include "bench_output.hpp"
#include "veldctl/demo.hpp"

extern char** environ;

namespace veld::bench {

namespace {

constexpr std::string_view kUsage =
    "usage: veld-bench-sync [--records N] [--fill N] [--seconds S] [--quick]\n"
    "  --records N  records one device pushes (default 100000)\n"
    "  --fill N     records the collector holds before 100 devices push (default 1000000)\n"
    "  --seconds S  seconds per level of one-record-per-request clients (default 30)\n"
    "  --quick      a smoke run of a few seconds (small sizes)\n";

struct Settings {
    std::int64_t records = 100'000;
    std::int64_t fill = 1'000'000;
    int devices = 100;
    int batchesPerDevice = 10;
    std::size_t batchRecords = 100;
    // Then each device sends one batch every devices * batchRecords / pacedRecordsPerSecond
    // seconds, from a random starting moment: a steady total load, to measure acknowledgement
    // times at a rate below saturation.
    int pacedBatchesPerDevice = 10;
    double pacedRecordsPerSecond = 20'000;
    double secondsPerLevel = 30;
    std::vector<int> clientLevels{1, 10, 50};
    bool help = false;
};

// ---- Interruption, time, numbers, output ----------------------------------------------------

volatile std::sig_atomic_t gInterrupted = 0;

void onSignal(int) {
    gInterrupted = 1;
}

void checkInterrupted() {
    if (gInterrupted != 0) throw std::runtime_error("interrupted by a signal");
}

void note(const std::string& text) {
    std::fprintf(stderr, "veld-bench-sync: %s\n", text.c_str());
}

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

// ---- The collector, as a process ------------------------------------------------------------

std::string binDir() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::runtime_error("cannot find where this program is");
    return self.parent_path().string();
}

class CollectorProcess {
  public:
    CollectorProcess(const std::string& store, const std::string& dir) {
        const std::string program = binDir() + "/veld-collector";
        const std::string portFile = dir + "/collector.port";
        const std::string logFile = dir + "/collector.log";
        std::filesystem::remove(portFile);
        // Capacity is measured, not the per-credential limit: a benchmark client sends one
        // record per request far faster than any device would. Its hundred devices all come
        // from this machine's one address, which no real collector sees.
        std::vector<std::string> argv{program,
                                      "--store",
                                      store,
                                      "--port",
                                      "0",
                                      "--port-file",
                                      portFile,
                                      "--rate-limit",
                                      "0",
                                      "--max-connections-per-address",
                                      "0",
                                      "--quiet"};
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        const int log = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log < 0) throw std::runtime_error("cannot write " + logFile);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, log, 2);
        const int rc =
            posix_spawn(&m_pid, program.c_str(), &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(log);
        if (rc != 0) throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
        const auto start = Clock::now();
        for (;;) {
            std::ifstream in(portFile);
            std::string text;
            if (in && std::getline(in, text) && !text.empty()) {
                m_port = std::stoi(text);
                return;
            }
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_pid = -1;
                throw std::runtime_error("veld-collector ended at start-up; see " + logFile);
            }
            if (secondsSince(start) > 60) throw std::runtime_error("veld-collector did not start");
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    ~CollectorProcess() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            int status = 0;
            ::waitpid(m_pid, &status, 0);
        }
    }
    CollectorProcess(const CollectorProcess&) = delete;
    CollectorProcess& operator=(const CollectorProcess&) = delete;

    /// SIGTERM, then waits; an error unless it exits 0.
    void stop() {
        ::kill(m_pid, SIGTERM);
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
        m_pid = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("veld-collector did not stop cleanly");
    }
    [[nodiscard]] int port() const { return m_port; }

  private:
    pid_t m_pid = -1;
    int m_port = 0;
};

// ---- A relay that counts the bytes on the wire ----------------------------------------------

class CountingRelay {
  public:
    explicit CountingRelay(int upstream) : m_upstream(upstream) {
        m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (m_listen < 0 || ::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
            ::listen(m_listen, 128) != 0 ||
            ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("cannot start the relay");
        m_port = ntohs(addr.sin_port);
        m_acceptor = std::thread([this] { acceptLoop(); });
    }
    ~CountingRelay() {
        m_stop = true;
        m_acceptor.join();
        std::lock_guard lock(m_mutex);
        for (auto& t : m_relays)
            t.join();
        ::close(m_listen);
    }
    CountingRelay(const CountingRelay&) = delete;
    CountingRelay& operator=(const CountingRelay&) = delete;

    void setUpstream(int port) { m_upstream = port; }
    [[nodiscard]] int port() const { return m_port; }
    [[nodiscard]] std::int64_t bytes() const { return m_up + m_down; }
    void reset() { m_up = m_down = 0; }

  private:
    void acceptLoop() {
        while (!m_stop) {
            pollfd p{m_listen, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int client = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) continue;
            std::lock_guard lock(m_mutex);
            m_relays.emplace_back([this, client] { relay(client); });
        }
    }

    void relay(int client) {
        const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(m_upstream.load()));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (server < 0 ||
            ::connect(server, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            if (server >= 0) ::close(server);
            ::close(client);
            return;
        }
        bool open[2] = {true, true};
        const int fds[2] = {client, server};
        std::vector<char> buf(256 * 1024);
        while ((open[0] || open[1]) && !m_stop) {
            pollfd p[2] = {{client, static_cast<short>(open[0] ? POLLIN : 0), 0},
                           {server, static_cast<short>(open[1] ? POLLIN : 0), 0}};
            if (::poll(p, 2, 50) <= 0) continue;
            for (int side = 0; side < 2; ++side) {
                if (!open[side] || (p[side].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                const ssize_t n = ::recv(fds[side], buf.data(), buf.size(), 0);
                if (n <= 0) {
                    open[side] = false;
                    ::shutdown(fds[1 - side], SHUT_WR);
                    continue;
                }
                (side == 0 ? m_up : m_down) += n;
                for (ssize_t off = 0; off < n;) {
                    const ssize_t w = ::send(fds[1 - side], buf.data() + off,
                                             static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
                    if (w <= 0) {
                        open[0] = open[1] = false;
                        break;
                    }
                    off += w;
                }
            }
        }
        ::close(client);
        ::close(server);
    }

    std::atomic<int> m_upstream;
    int m_listen = -1;
    int m_port = 0;
    std::atomic<bool> m_stop{false};
    std::atomic<std::int64_t> m_up{0};
    std::atomic<std::int64_t> m_down{0};
    std::mutex m_mutex;
    std::thread m_acceptor;
    std::vector<std::thread> m_relays;
};

// ---- HTTP as a device sends it --------------------------------------------------------------

struct Posted {
    long status = 0;
    std::string body;
    std::string error;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

// A device's connection: one libcurl handle whose connection is kept between its requests, as
// the uploader keeps it through a sync round.
class Connection {
  public:
    Connection() : m_curl(curl_easy_init()) {
        if (!m_curl) throw std::runtime_error("libcurl could not start");
    }
    ~Connection() { curl_easy_cleanup(m_curl); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    [[nodiscard]] CURL* handle() const { return m_curl; }

  private:
    CURL* m_curl;
};

// One POST, on `connection` when given, else on a new connection of its own.
Posted post(const std::string& url, const std::string& body,
            const std::vector<std::string>& headers, Connection* connection = nullptr) {
    Posted out;
    CURL* curl = connection ? connection->handle() : curl_easy_init();
    if (!curl) throw std::runtime_error("libcurl could not start");
    curl_easy_reset(curl);
    curl_slist* list = nullptr;
    for (const auto& h : headers)
        list = curl_slist_append(list, h.c_str());
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
    const CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
    if (rc != CURLE_OK) out.error = curl_easy_strerror(rc);
    curl_slist_free_all(list);
    if (!connection) curl_easy_cleanup(curl);
    return out;
}

std::string zstdIfLarge(const std::vector<std::uint8_t>& message, bool& compressed) {
    compressed = false;
    std::string body(message.begin(), message.end());
    if (body.size() <= 512) return body;
    std::string packed(ZSTD_compressBound(body.size()), '\0');
    const std::size_t n = ZSTD_compress(packed.data(), packed.size(), body.data(), body.size(), 3);
    if (ZSTD_isError(n)) return body;
    packed.resize(n);
    compressed = true;
    return packed;
}

std::vector<std::string> protocolHeaders(const std::string& credential, bool compressed) {
    std::vector<std::string> h{std::string("Content-Type: ") + sync::kContentType,
                               "Accept-Encoding: zstd"};
    if (compressed) h.emplace_back("Content-Encoding: zstd");
    if (!credential.empty()) h.push_back("Authorization: Bearer " + credential);
    return h;
}

// Failed requests by what went wrong, for stderr.
class Failures {
  public:
    void add(const Posted& posted) {
        const std::string what = posted.status != 0
                                     ? "status " + std::to_string(posted.status) + ": " +
                                           posted.body.substr(0, posted.body.find('\n'))
                                     : posted.error;
        std::lock_guard lock(m_mutex);
        ++m_counts[what];
    }
    void report(const std::string& name) {
        std::lock_guard lock(m_mutex);
        for (const auto& [what, n] : m_counts)
            note(name + ": " + std::to_string(n) + " failed requests (" + what + ")");
        m_counts.clear();
    }

  private:
    std::mutex m_mutex;
    std::map<std::string, int> m_counts;
};

struct SimulatedDevice {
    Uuid id;
    std::string credential;
};

SimulatedDevice enrolOverHttp(const std::string& url, const std::string& code) {
    SimulatedDevice d;
    d.id = makeUuidV4();
    sync::EnrolRequest request;
    request.code = code;
    request.deviceId = d.id;
    const auto message = sync::encodeEnrolRequest(request);
    const auto posted = post(url + sync::kEnrolPath, std::string(message.begin(), message.end()),
                             protocolHeaders({}, false));
    if (posted.status != 200) throw std::runtime_error("enrolment refused: " + posted.body);
    const auto reply = sync::decodeEnrolResponse(
        {reinterpret_cast<const std::uint8_t*>(posted.body.data()), posted.body.size()});
    d.credential = must(reply, "enrolment reply").credential;
    return d;
}

// A revision of `content` made on `device`, as its outbox would hold it.
OutboxEntry revisionFor(const Uuid& device, std::uint64_t seq, const RecordContent& content) {
    Record r;
    r.id = makeUuidV7(SystemClock::instance());
    r.deviceId = device;
    r.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(SystemClock::instance().nowMillis()),
                               static_cast<std::uint32_t>(seq & 0xffff));
    r.createdHlc = r.hlc;
    r.finalized = true;
    r.content = content;
    OutboxEntry e;
    e.seq = seq;
    e.recordId = r.id;
    e.hlc = r.hlc;
    e.body = must(encodeRecord(r), "encoding a record");
    return e;
}

// ---- (a), (b), (c): one device, 100,000 records ---------------------------------------------

struct OneDevice {
    double pushRecordsPerSecond = 0;
    std::vector<RecordContent> contents;  // some of the pushed records' contents, for later
};

// The same rows as the collector's revisions table, in the same batches, same durability.
double sqliteInsertRecordsPerSecond(const std::string& path, const Uuid& device,
                                    const std::vector<OutboxEntry>& entries, std::size_t batch) {
    RawDb raw(path);
    sqlite3* db = raw.handle();
    auto exec = [&](const char* sql) { raw.exec(sql); };
    exec("PRAGMA journal_mode = WAL");
    exec("PRAGMA synchronous = FULL");
    exec(R"sql(
        CREATE TABLE revisions (
            rid INTEGER PRIMARY KEY, device_id BLOB NOT NULL, seq INTEGER NOT NULL,
            record_id BLOB NOT NULL, hlc INTEGER NOT NULL, base_hlc INTEGER NOT NULL DEFAULT 0,
            form_id TEXT NOT NULL DEFAULT '', form_version INTEGER NOT NULL DEFAULT 0, body BLOB,
            damaged INTEGER NOT NULL DEFAULT 0, damage_reason TEXT,
            clock_flagged INTEGER NOT NULL DEFAULT 0, received_utc_ms INTEGER NOT NULL,
            UNIQUE (device_id, seq)) STRICT;
        CREATE INDEX revisions_by_record ON revisions (record_id, hlc);
    )sql");
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO revisions (device_id, seq, record_id, hlc, form_id, "
                           "form_version, body, received_utc_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, nullptr) != SQLITE_OK)
        throw std::runtime_error(sqlite3_errmsg(db));
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> statement(st, sqlite3_finalize);
    const auto start = Clock::now();
    for (std::size_t i = 0; i < entries.size(); i += batch) {
        exec("BEGIN IMMEDIATE");
        for (std::size_t k = i; k < std::min(entries.size(), i + batch); ++k) {
            const auto& e = entries[k];
            sqlite3_bind_blob(st, 1, device.bytes.data(), 16, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(e.seq));
            sqlite3_bind_blob(st, 3, e.recordId.bytes.data(), 16, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, static_cast<sqlite3_int64>(e.hlc.value));
            sqlite3_bind_text(st, 5, "form", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 6, 1);
            sqlite3_bind_blob(st, 7, e.body.data(), static_cast<int>(e.body.size()), SQLITE_STATIC);
            sqlite3_bind_int64(st, 8, 1);
            if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
            sqlite3_reset(st);
        }
        exec("COMMIT");
    }
    return static_cast<double>(entries.size()) / secondsSince(start);
}

OneDevice benchOneDevice(const TempDir& dir, const Settings& settings) {
    OneDevice result;
    const std::string tag = sizeTag(settings.records);

    // The device: the pilots' forms and demo records filled in through form sessions (about a
    // third of them stay drafts, so more are made until enough are finalized).
    const auto makeStart = Clock::now();
    auto device =
        must(Store::open(dir.file("device.veld"), {.mode = sql::OpenMode::ReadWriteCreate}),
             "device store");
    must(veldctl::setUpDemo(device, std::string(VELD_SOURCE_DIR) + "/schemas/forms"), "demo forms");
    std::int64_t finalized = 0;
    for (std::uint32_t round = 0; finalized < settings.records; ++round) {
        checkInterrupted();
        // About two in three demo records are finalized: asking for as many as are missing
        // never overshoots, and one at a time at the end makes exactly N.
        const auto missing = settings.records - finalized;
        const int count = static_cast<int>(std::min<std::int64_t>(missing, 20'000));
        finalized +=
            must(veldctl::addDemoRecords(device, count, 1'000 + round), "demo records").finalized;
    }
    const auto entries =
        must(device.outboxPending(static_cast<std::size_t>(finalized), SIZE_MAX), "outbox");
    if (static_cast<std::int64_t>(entries.size()) != settings.records)
        throw std::runtime_error("the outbox holds " + std::to_string(entries.size()) +
                                 " records, not " + std::to_string(settings.records) + " (" +
                                 std::to_string(finalized) + " made)");
    note("made " + std::to_string(finalized) + " finalized demo records (and drafts) in " +
         formatNumber(secondsSince(makeStart)) + " s");
    std::int64_t bodyBytes = 0;
    for (const auto& e : entries)
        bodyBytes += static_cast<std::int64_t>(e.body.size());
    for (std::size_t i = 0; i < entries.size() && result.contents.size() < 2'000; i += 7)
        result.contents.push_back(must(decodeRecord(entries[i].body), "decoding").content);

    // (a) The uploader, through the counting relay, to veld-collector.
    const std::string collectorFile = dir.file("collector-a.db");
    { auto c = must(sync::openSqliteCollector(collectorFile, true), "collector store"); }
    CollectorProcess collector(collectorFile, dir.path());
    CountingRelay relay(collector.port());
    const std::string url = "http://127.0.0.1:" + std::to_string(relay.port());
    {
        auto c = must(sync::openSqliteCollector(collectorFile, false), "collector store");
        const auto code =
            must(c->createEnrolCode("bench", SystemClock::instance().nowMillis(), "bench"),
                 "enrolment code");
        must(sync::enrol(device, url, code), "enrolment");
    }
    auto connection = must(sync::loadConnection(device), "connection");
    sync::SyncOptions options;
    options.pull = false;
    relay.reset();
    const auto pushStart = Clock::now();
    const std::int64_t sent = must(sync::syncOnce(device, connection, options), "push").recordsSent;
    const double pushSeconds = secondsSince(pushStart);
    const double wirePerRecord = static_cast<double>(relay.bytes()) / static_cast<double>(sent);
    result.pushRecordsPerSecond = static_cast<double>(sent) / pushSeconds;
    collector.stop();
    {
        auto c = must(sync::openSqliteCollector(collectorFile, false), "collector store");
        if (must(c->stats(), "stats").records != sent)
            throw std::runtime_error("the collector does not hold every pushed record");
    }

    // (b) The same bodies in one plain POST to a sink that only reads them, same relay.
    std::string blob;
    blob.reserve(static_cast<std::size_t>(bodyBytes));
    for (const auto& e : entries)
        blob.append(e.body.begin(), e.body.end());
    httplib::Server sink;
    sink.set_payload_max_length(std::numeric_limits<std::size_t>::max());
    sink.Post("/sink", [](const httplib::Request&, httplib::Response& res,
                          const httplib::ContentReader& reader) {
        std::size_t n = 0;
        reader([&](const char*, std::size_t len) {
            n += len;
            return true;
        });
        res.set_content(std::to_string(n), "text/plain");
    });
    const int sinkPort = sink.bind_to_any_port("127.0.0.1");
    std::thread sinkThread([&] { sink.listen_after_bind(); });
    relay.setUpstream(sinkPort);
    relay.reset();
    const auto postStart = Clock::now();
    const auto posted = post("http://127.0.0.1:" + std::to_string(relay.port()) + "/sink", blob,
                             {"Content-Type: application/octet-stream"});
    const double postSeconds = secondsSince(postStart);
    const double postWirePerRecord =
        static_cast<double>(relay.bytes()) / static_cast<double>(entries.size());
    sink.stop();
    sinkThread.join();
    if (posted.status != 200 || posted.body != std::to_string(blob.size()))
        throw std::runtime_error("the sink did not get the whole body: " + posted.error);
    const double postRecordsPerSecond = static_cast<double>(entries.size()) / postSeconds;

    // (c) The same rows straight into SQLite, in batches of the uploader's size.
    const double sqliteRecordsPerSecond = sqliteInsertRecordsPerSecond(
        dir.file("raw.db"), device.deviceId(), entries, sync::SyncOptions{}.maxBatchRecords);

    printBaseline("record_body_bytes",
                  static_cast<double>(bodyBytes) / static_cast<double>(entries.size()), "B/record");
    printFigure("http_post_wire_bytes", postWirePerRecord, "B/record",
                static_cast<double>(bodyBytes) / static_cast<double>(entries.size()),
                "record_body_bytes");
    printFigure("sync_push_wire_bytes", wirePerRecord, "B/record",
                static_cast<double>(bodyBytes) / static_cast<double>(entries.size()),
                "record_body_bytes");
    printBaseline("http_post_same_bytes_" + tag, postRecordsPerSecond, "records/s");
    printBaseline("sqlite_insert_same_rows_" + tag, sqliteRecordsPerSecond, "records/s");
    printFigure("sync_push_" + tag, result.pushRecordsPerSecond, "records/s", postRecordsPerSecond,
                "http_post_same_bytes_" + tag);
    printFigure("sync_push_" + tag + "_vs_sqlite", result.pushRecordsPerSecond, "records/s",
                sqliteRecordsPerSecond, "sqlite_insert_same_rows_" + tag);
    return result;
}

// ---- (d) 100 devices into a collector holding 1,000,000 records -----------------------------

// Writes `count` revisions (and their current view) into a fresh collector file, as if 100
// devices had sent them, straight through SQL: a push of a million records would take as long
// as everything else here.
void fillCollector(const std::string& path, std::int64_t count,
                   const std::vector<RecordContent>& contents) {
    { auto c = must(sync::openSqliteCollector(path, true), "collector store"); }
    RawDb raw(path);
    sqlite3* db = raw.handle();
    auto exec = [&](const char* sql) { raw.exec(sql); };
    auto prepare = [&](const char* sql) { return raw.prepare(sql); };
    auto step = [&](sqlite3_stmt* st) { raw.step(st); };
    exec("PRAGMA synchronous = OFF");
    exec("BEGIN");
    constexpr int kFillers = 100;
    const std::int64_t now = SystemClock::instance().nowMillis();
    auto device = prepare(
        "INSERT INTO devices (device_id, label, credential_hash, enrolled_utc_ms, "
        "received_through) VALUES (?, 'filler', randomblob(32), ?, ?)");
    auto revision = prepare(
        "INSERT INTO revisions (device_id, seq, record_id, hlc, form_id, form_version, body, "
        "received_utc_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    auto record = prepare(
        "INSERT INTO records (record_id, current_rid, hlc, first_device, form_id) VALUES (?, ?, ?, "
        "?, ?)");
    std::int64_t made = 0;
    for (int f = 0; f < kFillers; ++f) {
        checkInterrupted();
        const Uuid id = makeUuidV4();
        const std::int64_t share = count / kFillers + (f < count % kFillers ? 1 : 0);
        sqlite3_bind_blob(device.get(), 1, id.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(device.get(), 2, now);
        sqlite3_bind_int64(device.get(), 3, share);
        step(device.get());
        for (std::int64_t seq = 1; seq <= share; ++seq, ++made) {
            const auto e = revisionFor(id, static_cast<std::uint64_t>(seq),
                                       contents[static_cast<std::size_t>(made) % contents.size()]);
            const std::string& form =
                contents[static_cast<std::size_t>(made) % contents.size()].formId;
            sqlite3_bind_blob(revision.get(), 1, id.bytes.data(), 16, SQLITE_TRANSIENT);
            sqlite3_bind_int64(revision.get(), 2, seq);
            sqlite3_bind_blob(revision.get(), 3, e.recordId.bytes.data(), 16, SQLITE_TRANSIENT);
            sqlite3_bind_int64(revision.get(), 4, static_cast<sqlite3_int64>(e.hlc.value));
            sqlite3_bind_text(revision.get(), 5, form.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(revision.get(), 6, 1);
            sqlite3_bind_blob(revision.get(), 7, e.body.data(), static_cast<int>(e.body.size()),
                              SQLITE_TRANSIENT);
            sqlite3_bind_int64(revision.get(), 8, now);
            step(revision.get());
            const sqlite3_int64 rid = sqlite3_last_insert_rowid(db);
            sqlite3_bind_blob(record.get(), 1, e.recordId.bytes.data(), 16, SQLITE_TRANSIENT);
            sqlite3_bind_int64(record.get(), 2, rid);
            sqlite3_bind_int64(record.get(), 3, static_cast<sqlite3_int64>(e.hlc.value));
            sqlite3_bind_blob(record.get(), 4, id.bytes.data(), 16, SQLITE_TRANSIENT);
            sqlite3_bind_text(record.get(), 5, form.c_str(), -1, SQLITE_TRANSIENT);
            step(record.get());
        }
    }
    exec("COMMIT");
    exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

std::vector<std::string> enrolCodes(const std::string& collectorFile, int n) {
    auto c = must(sync::openSqliteCollector(collectorFile, false), "collector store");
    std::vector<std::string> codes;
    for (int i = 0; i < n; ++i)
        codes.push_back(must(
            c->createEnrolCode("bench", SystemClock::instance().nowMillis(), "bench"), "code"));
    return codes;
}

void benchManyDevices(const TempDir& dir, const Settings& settings,
                      const std::vector<RecordContent>& contents,
                      double oneDeviceRecordsPerSecond) {
    const std::string tag = std::to_string(settings.devices) + "_devices_" + sizeTag(settings.fill);
    const std::string collectorFile = dir.file("collector-d.db");
    const auto fillStart = Clock::now();
    fillCollector(collectorFile, settings.fill, contents);
    note("filled the collector with " + std::to_string(settings.fill) + " records by SQL in " +
         formatNumber(secondsSince(fillStart)) + " s");
    int levelsClients = 0;
    for (int c : settings.clientLevels)
        levelsClients += c;
    auto codes = enrolCodes(collectorFile, settings.devices + levelsClients);
    CollectorProcess collector(collectorFile, dir.path());
    const std::string url = "http://127.0.0.1:" + std::to_string(collector.port());
    std::size_t nextCode = 0;

    // Each device enrols and prepares its batches (as its outbox would hold them) before the
    // start. Then, first, all push at once, each sending its next batch as soon as the previous
    // one is acknowledged: the collector's capacity. In such a closed loop every device always
    // has a batch waiting, so the time to an acknowledgement is the queue of the other 99
    // devices' batches (Little's law: 100 batches / capacity), whatever the collector does.
    // Second, each device sends a batch on its own schedule, at a total rate below capacity,
    // as devices do when they come online at different moments: the acknowledgement times
    // there are what a device waits. They are counted from the moment a batch was due, so a
    // batch held up behind its own device's previous one counts its delay too.
    const auto devices = static_cast<std::size_t>(settings.devices);
    const int totalBatches = settings.batchesPerDevice + settings.pacedBatchesPerDevice;
    const auto interval = std::chrono::duration<double>(
        static_cast<double>(devices * settings.batchRecords) / settings.pacedRecordsPerSecond);
    std::vector<std::vector<double>> latencies(devices);
    std::vector<std::vector<double>> pacedLatencies(devices);
    std::atomic<int> errors{0};
    std::atomic<std::int64_t> stored{0};
    std::atomic<std::int64_t> pacedStored{0};
    std::atomic<int> setupFailures{0};
    Failures failures;
    Failures pacedFailures;
    std::barrier start(static_cast<std::ptrdiff_t>(devices) + 1);
    Clock::time_point pacedZero;
    const auto markPacedZero = [&pacedZero]() noexcept { pacedZero = Clock::now(); };
    std::barrier pacedStart(static_cast<std::ptrdiff_t>(devices) + 1, markPacedZero);
    std::vector<std::thread> threads;
    for (std::size_t d = 0; d < devices; ++d) {
        threads.emplace_back([&, d, code = codes[nextCode++]] {
            SimulatedDevice device;
            std::vector<std::pair<std::string, bool>> batches;
            try {
                device = enrolOverHttp(url, code);
                std::uint64_t seq = 0;
                for (int b = 0; b < totalBatches; ++b) {
                    std::vector<OutboxEntry> entries;
                    for (std::size_t k = 0; k < settings.batchRecords; ++k) {
                        ++seq;
                        entries.push_back(revisionFor(device.id, seq,
                                                      contents[(d * 131 + seq) % contents.size()]));
                    }
                    bool compressed = false;
                    auto body =
                        zstdIfLarge(sync::encodePushRequest(device.id, entries), compressed);
                    batches.emplace_back(std::move(body), compressed);
                }
            } catch (const std::exception& e) {
                note(std::string("a device could not get ready: ") + e.what());
                ++setupFailures;
                batches.clear();
            }
            Connection connection;
            const auto send = [&](const std::pair<std::string, bool>& batch, Clock::time_point due,
                                  std::vector<double>& times, Failures& failed) {
                for (int attempt = 0; attempt < 5; ++attempt) {
                    const auto posted =
                        post(url + sync::kPushPath, batch.first,
                             protocolHeaders(device.credential, batch.second), &connection);
                    if (posted.status == 200) {
                        times.push_back(secondsSince(due) * 1000);
                        return true;
                    }
                    ++errors;
                    failed.add(posted);
                }
                return false;
            };
            start.arrive_and_wait();
            std::size_t b = 0;
            for (; b < batches.size() && b < static_cast<std::size_t>(settings.batchesPerDevice);
                 ++b) {
                if (send(batches[b], Clock::now(), latencies[d], failures))
                    stored += static_cast<std::int64_t>(settings.batchRecords);
            }
            pacedStart.arrive_and_wait();
            std::mt19937_64 random(d + 1);
            const auto first =
                pacedZero + std::chrono::duration_cast<Clock::duration>(
                                interval * std::uniform_real_distribution<double>(0, 1)(random));
            for (int k = 0; b < batches.size(); ++b, ++k) {
                const auto due = first + std::chrono::duration_cast<Clock::duration>(interval * k);
                std::this_thread::sleep_until(due);
                if (send(batches[b], due, pacedLatencies[d], pacedFailures))
                    pacedStored += static_cast<std::int64_t>(settings.batchRecords);
            }
        });
    }
    start.arrive_and_wait();
    const auto pushStart = Clock::now();
    pacedStart.arrive_and_wait();  // every device has had all its closed-loop batches answered
    const double seconds = secondsSince(pushStart);
    for (auto& t : threads)
        t.join();
    const double pacedSeconds = secondsSince(pacedZero);
    if (setupFailures > 0) throw std::runtime_error("devices could not enrol");
    failures.report("sync_" + tag);
    pacedFailures.report("sync_" + tag + "_paced");
    std::vector<double> all;
    for (const auto& l : latencies)
        all.insert(all.end(), l.begin(), l.end());
    std::vector<double> paced;
    for (const auto& l : pacedLatencies)
        paced.insert(paced.end(), l.begin(), l.end());
    const double recordsPerSecond = static_cast<double>(stored.load()) / seconds;

    printFigure("sync_" + tag, recordsPerSecond, "records/s", oneDeviceRecordsPerSecond,
                "sync_push_" + sizeTag(settings.records));
    printBaseline("sync_" + tag + "_ack_p50", percentile(all, 0.5), "ms");
    printFigure("sync_" + tag + "_ack_p99", percentile(all, 0.99), "ms", percentile(all, 0.5),
                "sync_" + tag + "_ack_p50");
    printBaseline("sync_" + tag + "_paced_offered", settings.pacedRecordsPerSecond, "records/s");
    printFigure("sync_" + tag + "_paced", static_cast<double>(pacedStored.load()) / pacedSeconds,
                "records/s", settings.pacedRecordsPerSecond, "sync_" + tag + "_paced_offered");
    printBaseline("sync_" + tag + "_paced_ack_p50", percentile(paced, 0.5), "ms");
    printFigure("sync_" + tag + "_paced_ack_p99", percentile(paced, 0.99), "ms",
                percentile(paced, 0.5), "sync_" + tag + "_paced_ack_p50");
    printBaseline("sync_" + tag + "_errors", errors.load(), "requests");

    // (e) One record per request, from 1, 10 and 50 clients at once, into the same collector.
    double single = 0;
    for (int clients : settings.clientLevels) {
        checkInterrupted();
        std::atomic<std::int64_t> done{0};
        std::atomic<int> failed{0};
        std::barrier go(clients + 1);
        std::atomic<bool> stop{false};
        std::vector<std::thread> workers;
        for (int c = 0; c < clients; ++c) {
            workers.emplace_back([&, c, code = codes[nextCode++]] {
                SimulatedDevice device;
                bool ready = true;
                try {
                    device = enrolOverHttp(url, code);
                } catch (const std::exception& e) {
                    note(std::string("a client could not enrol: ") + e.what());
                    ++setupFailures;
                    ready = false;
                }
                go.arrive_and_wait();
                if (!ready) return;
                std::uint64_t seq = 0;
                while (!stop) {
                    const OutboxEntry e = revisionFor(
                        device.id, seq + 1,
                        contents[(static_cast<std::size_t>(c) * 17 + seq) % contents.size()]);
                    bool compressed = false;
                    const auto body = zstdIfLarge(
                        sync::encodePushRequest(device.id, std::span(&e, 1)), compressed);
                    const auto posted = post(url + sync::kPushPath, body,
                                             protocolHeaders(device.credential, compressed));
                    if (posted.status == 200) {
                        ++seq;
                        ++done;
                    } else {
                        ++failed;
                        failures.add(posted);
                    }
                }
            });
        }
        go.arrive_and_wait();
        const auto levelStart = Clock::now();
        while (secondsSince(levelStart) < settings.secondsPerLevel && gInterrupted == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const std::int64_t counted = done.load();
        const double elapsed = secondsSince(levelStart);
        stop = true;
        for (auto& w : workers)
            w.join();
        if (setupFailures > 0) throw std::runtime_error("clients could not enrol");
        const double rate = static_cast<double>(counted) / elapsed;
        const std::string name = "sync_one_per_request_" + std::to_string(clients) +
                                 (clients == 1 ? "_client" : "_clients");
        failures.report(name);
        if (clients == settings.clientLevels.front()) {
            single = rate;
            printBaseline(name, rate, "records/s");
        } else {
            printFigure(name, rate, "records/s", single,
                        "sync_one_per_request_" + std::to_string(settings.clientLevels.front()) +
                            "_client");
        }
    }
    collector.stop();
    auto held = must(sync::openSqliteCollector(collectorFile, false), "collector store");
    if (must(held->stats(), "stats").records <
        settings.fill + static_cast<std::int64_t>(stored.load() + pacedStored.load()))
        throw std::runtime_error("the collector lost records of the 100 devices");
}

// ---- Command line ---------------------------------------------------------------------------

std::optional<std::int64_t> number(std::string_view text) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n <= 0) return std::nullopt;
    return n;
}

std::optional<Settings> parseArgs(int argc, char** argv, std::string& error) {
    Settings s;
    std::optional<std::int64_t> records;
    std::optional<std::int64_t> fill;
    std::optional<std::int64_t> seconds;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            s.help = true;
        } else if (arg == "--quick") {
            // Small enough for a smoke test under ASan, big enough to run every code path.
            s.records = 2'000;
            s.fill = 20'000;
            s.devices = 20;
            s.batchesPerDevice = 2;
            s.pacedBatchesPerDevice = 2;
            s.pacedRecordsPerSecond = 2'000;
            s.secondsPerLevel = 1;
        } else if (arg == "--records" || arg == "--fill" || arg == "--seconds") {
            std::optional<std::int64_t> n = i + 1 < argc ? number(argv[i + 1]) : std::nullopt;
            if (!n) {
                error = std::string(arg) + " needs a whole number above 0";
                return std::nullopt;
            }
            ++i;
            (arg == "--records" ? records : arg == "--fill" ? fill : seconds) = n;
        } else {
            error = "unknown argument '" + std::string(arg) + "'";
            return std::nullopt;
        }
    }
    if (records) s.records = *records;
    if (fill) s.fill = *fill;
    if (seconds) s.secondsPerLevel = static_cast<double>(*seconds);
    return s;
}

int run(int argc, char** argv) {
    std::string error;
    const auto settings = parseArgs(argc, argv, error);
    if (!settings) {
        std::fprintf(stderr, "veld-bench-sync: %s\n%.*s", error.c_str(),
                     static_cast<int>(kUsage.size()), kUsage.data());
        return 2;
    }
    if (settings->help) {
        std::fprintf(stderr, "%.*s", static_cast<int>(kUsage.size()), kUsage.data());
        return 0;
    }
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
        std::signal(sig, onSignal);
    std::signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    TempDir dir("veld-bench-sync");
    note("temporary files in " + dir.path() + "; " +
         std::to_string(std::thread::hardware_concurrency()) + " cores");
    const OneDevice one = benchOneDevice(dir, *settings);
    benchManyDevices(dir, *settings, one.contents, one.pushRecordsPerSecond);
    return 0;
}

}  // namespace

}  // namespace veld::bench

int main(int argc, char** argv) {
    try {
        return veld::bench::run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "veld-bench-sync: %s\n", e.what());
        return 1;
    }
}
