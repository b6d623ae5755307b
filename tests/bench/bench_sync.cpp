// veld-bench-sync: how fast finalized records travel from devices to a real veld-collector on
// loopback, each figure next to a baseline measured in the same run:
// - one device pushes N records (100,000 by default) of the pilots' forms, made by the demo
//   filler through form sessions, with the real uploader (batches of at most 500 records or
//   1 MiB, zstd) -- against one plain HTTP POST of the same record bodies with libcurl to a sink
//   that only reads them, and against inserting the same rows into an SQLite table shaped like
//   the collector's revisions table in batches of the same size with the same durability (WAL,
//   synchronous=FULL). Both HTTP runs go through the same counting relay, which measures the
//   bytes on the wire;
// - 100 devices (threads, each enrolled over /v1/enrol, each with its own cases) each pushing
//   batches of 100 records into a collector that already holds 1,000,000 records (written into its
//   file with SQL before it starts: pushing them would take as long as the rest of the run). First
//   all at once, back to back: records/s (capacity), time from sending a batch to its
//   acknowledgement (p50, p99). Then each device on its own schedule at a total of half that
//   capacity: the acknowledgement times a device sees below saturation (p50, p99). Failed requests.
// - one record per request from 1, 10 and 50 clients at once, 30 s each: records/s (a new
//   connection per request, as simple clients send them); at 50 clients also against ODK
//   Central's published figure on this kind of machine.
// - `veldctl export` (CSV) of everything the store then holds: time, records/s and the peak
//   resident memory of the exporting process.
// The 100 devices, the clients and the export run against each store given with --store (an
// SQLite file, or a postgresql:// URI whose figures are printed as ratios of SQLite's, preloaded
// with COPY through psql), or an SQLite file in a temporary folder. On PostgreSQL a second
// closed-loop run spreads the devices over two veld-collector processes on the one database.
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
    "usage: veld-bench-sync [--records N] [--fill N] [--seconds S] [--store LOCATION]... "
    "[--quick]\n"
    "  --records N        records one device pushes (default 100000)\n"
    "  --fill N           records the collector holds before 100 devices push (default 1000000)\n"
    "  --seconds S        seconds per level of one-record-per-request clients (default 30)\n"
    "  --store LOCATION   an empty store for the 100 devices, the clients and the export: an\n"
    "                     SQLite file (made when missing) or a postgresql:// URI; repeat it for\n"
    "                     several (default: an SQLite file in a temporary folder)\n"
    "  --collector-threads N\n"
    "                     veld-collector's --threads for the 100 devices and the clients\n"
    "                     (default: its own default)\n"
    "  --quick            a smoke run of a few seconds (small sizes)\n";

// ODK Central's one submission per request at 50 clients on a 2-core machine like this one, as
// published (about 198 submissions/s); it runs on PostgreSQL too.
constexpr double kOdkCentral50Clients = 198;

struct Settings {
    std::int64_t records = 100'000;
    std::int64_t fill = 1'000'000;
    int devices = 100;
    // First, unmeasured, each device sends this many batches: the collector and its database
    // reach the state they keep while devices send (caches, the first writes of pages after the
    // preload's checkpoint), so that the figures describe a running collector.
    int warmupBatchesPerDevice = 3;
    int batchesPerDevice = 10;
    std::size_t batchRecords = 100;
    // Then each device sends one batch every devices * batchRecords / (capacity / 2) seconds,
    // from a random starting moment: a steady total load, to measure acknowledgement times at a
    // rate below saturation.
    int pacedBatchesPerDevice = 10;
    double secondsPerLevel = 30;
    std::vector<int> clientLevels{1, 10, 50};
    std::vector<std::string> stores;
    int collectorThreads = 0;  // 0: veld-collector's default
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
    CollectorProcess(const std::string& store, const std::string& dir,
                     const std::string& name = "collector", int threads = 0) {
        const std::string program = binDir() + "/veld-collector";
        const std::string portFile = dir + "/" + name + ".port";
        const std::string logFile = dir + "/" + name + ".log";
        std::filesystem::remove(portFile);
        // Capacity is measured, not the per-credential limit: a benchmark client sends one
        // record per request far faster than any device would. Its hundred devices all come
        // from this machine's one address, which no real collector sees.
        std::vector<std::string> argv{
            program,       "--store", store,          "--port", "0",
            "--port-file", portFile,  "--rate-limit", "0",      "--max-connections-per-address",
            "0",           "--quiet"};
        if (threads > 0) {
            argv.emplace_back("--threads");
            argv.push_back(std::to_string(threads));
        }
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

// Runs a program to its end: its time, and its peak resident memory from its own VmHWM, read
// while it runs (getrusage's ru_maxrss would count this process's memory too).
struct Measured {
    double seconds = 0;
    double peakMiB = 0;
};

Measured runMeasured(const std::vector<std::string>& argv) {
    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    for (auto& a : copy)
        args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const auto start = Clock::now();
    const int rc = posix_spawn(&pid, copy[0].c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + copy[0]);
    int status = 0;
    long peakKiB = 0;
    const std::string statusFile = "/proc/" + std::to_string(pid) + "/status";
    for (;;) {
        std::ifstream in(statusFile);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("VmHWM:", 0) == 0)
                peakKiB = std::max(peakKiB, std::atol(line.c_str() + 6));
        }
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) throw std::runtime_error("waitpid failed");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Measured m;
    m.seconds = secondsSince(start);
    m.peakMiB = static_cast<double>(peakKiB) / 1024.0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(copy[0] + " failed");
    return m;
}

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
// The case `caseId` of the demo device as another device's own case: every device here works
// its own caseload, as field workers do, rather than all of them changing the demo's few cases
// at once. Distinct cases stay distinct (an XOR with the device's id), and keep their version and
// variant bits.
Uuid caseOf(const Uuid& device, const Uuid& caseId) {
    Uuid out = caseId;
    for (std::size_t i = 0; i < out.bytes.size(); ++i)
        out.bytes[i] ^= device.bytes[i];
    out.bytes[6] = static_cast<std::uint8_t>((caseId.bytes[6] & 0xf0) | (out.bytes[6] & 0x0f));
    out.bytes[8] = static_cast<std::uint8_t>((caseId.bytes[8] & 0xc0) | (out.bytes[8] & 0x3f));
    return out;
}

OutboxEntry revisionFor(const Uuid& device, std::uint64_t seq, const RecordContent& content) {
    Record r;
    r.id = makeUuidV7(SystemClock::instance());
    r.deviceId = device;
    r.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(SystemClock::instance().nowMillis()),
                               static_cast<std::uint32_t>(seq & 0xffff));
    r.createdHlc = r.hlc;
    r.finalized = true;
    r.content = content;
    if (r.content.caseId) r.content.caseId = caseOf(device, *r.content.caseId);
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
    std::vector<std::vector<std::uint8_t>> forms;  // the device's forms, compiled
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
    for (auto& f : must(device.forms(), "forms"))
        result.forms.push_back(std::move(f.binary));

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

// The preload's rows: `count` revisions (and their records' current view) of 100 filler
// devices, as if those devices had sent them, handed to a backend's writer in order: devices,
// then revisions (row ids 1, 2, ...), then records. Pushing a million records would take as
// long as everything else here.
struct FillRows {
    std::function<void(const Uuid& device, std::int64_t share)> device;
    std::function<void(std::int64_t rid, const Uuid& device, std::int64_t seq, const OutboxEntry&,
                       const std::string& form)>
        revision;
};

void makeFillRows(std::int64_t count, const std::vector<RecordContent>& contents,
                  const FillRows& out) {
    constexpr int kFillers = 100;
    std::vector<std::pair<Uuid, std::int64_t>> fillers;
    for (int f = 0; f < kFillers; ++f) {
        fillers.emplace_back(makeUuidV4(), count / kFillers + (f < count % kFillers ? 1 : 0));
        out.device(fillers.back().first, fillers.back().second);
    }
    std::int64_t made = 0;
    for (const auto& [id, share] : fillers) {
        checkInterrupted();
        for (std::int64_t seq = 1; seq <= share; ++seq, ++made) {
            const auto& content = contents[static_cast<std::size_t>(made) % contents.size()];
            const auto e = revisionFor(id, static_cast<std::uint64_t>(seq), content);
            out.revision(made + 1, id, seq, e, content.formId);
        }
    }
}

void fillSqlite(const std::string& path, std::int64_t count,
                const std::vector<RecordContent>& contents) {
    RawDb raw(path);
    auto exec = [&](const char* sql) { raw.exec(sql); };
    auto step = [&](sqlite3_stmt* st) { raw.step(st); };
    exec("PRAGMA synchronous = OFF");
    exec("BEGIN");
    const std::int64_t now = SystemClock::instance().nowMillis();
    auto device = raw.prepare(
        "INSERT INTO devices (device_id, label, credential_hash, enrolled_utc_ms, "
        "received_through) VALUES (?, 'filler', randomblob(32), ?, ?)");
    auto revision = raw.prepare(
        "INSERT INTO revisions (rid, device_id, seq, record_id, hlc, form_id, form_version, body, "
        "received_utc_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    auto record = raw.prepare(
        "INSERT INTO records (record_id, current_rid, hlc, first_device, form_id) VALUES (?, ?, ?, "
        "?, ?)");
    FillRows rows;
    rows.device = [&](const Uuid& id, std::int64_t share) {
        sqlite3_bind_blob(device.get(), 1, id.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(device.get(), 2, now);
        sqlite3_bind_int64(device.get(), 3, share);
        step(device.get());
    };
    rows.revision = [&](std::int64_t rid, const Uuid& id, std::int64_t seq, const OutboxEntry& e,
                        const std::string& form) {
        sqlite3_stmt* r = revision.get();
        sqlite3_bind_int64(r, 1, rid);
        sqlite3_bind_blob(r, 2, id.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(r, 3, seq);
        sqlite3_bind_blob(r, 4, e.recordId.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(r, 5, static_cast<sqlite3_int64>(e.hlc.value));
        sqlite3_bind_text(r, 6, form.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(r, 7, 1);
        sqlite3_bind_blob(r, 8, e.body.data(), static_cast<int>(e.body.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(r, 9, now);
        step(r);
        sqlite3_stmt* c = record.get();
        sqlite3_bind_blob(c, 1, e.recordId.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(c, 2, rid);
        sqlite3_bind_int64(c, 3, static_cast<sqlite3_int64>(e.hlc.value));
        sqlite3_bind_blob(c, 4, id.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_text(c, 5, form.c_str(), -1, SQLITE_TRANSIENT);
        step(c);
    };
    makeFillRows(count, contents, rows);
    exec("COMMIT");
    exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// COPY's text format: bytea as \x and hex digits (the backslash itself escaped).
void appendBytea(std::string& out, std::span<const std::uint8_t> bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\\\x";
    for (const std::uint8_t b : bytes) {
        out += kHex[b >> 4];
        out += kHex[b & 15];
    }
}

// psql, reading SQL (and COPY data) from this process; an error unless it ends well.
class Psql {
  public:
    explicit Psql(const std::string& location) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("cannot make a pipe");
        std::vector<std::string> argv{"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", location};
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        const int rc = posix_spawnp(&m_pid, "psql", &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[0]);
        if (rc != 0) {
            ::close(fds[1]);
            throw std::runtime_error(std::string("cannot start psql: ") + std::strerror(rc));
        }
        m_in = fds[1];
    }
    ~Psql() {
        if (m_in >= 0) ::close(m_in);
        if (m_pid > 0) {
            int status = 0;
            ::waitpid(m_pid, &status, 0);
        }
    }
    Psql(const Psql&) = delete;
    Psql& operator=(const Psql&) = delete;

    void write(std::string& text) {
        for (std::size_t off = 0; off < text.size();) {
            const ssize_t n = ::write(m_in, text.data() + off, text.size() - off);
            if (n <= 0) throw std::runtime_error("psql stopped reading (see its message above)");
            off += static_cast<std::size_t>(n);
        }
        text.clear();
    }
    void finish() {
        ::close(m_in);
        m_in = -1;
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
        m_pid = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("psql failed (see its message above)");
    }

  private:
    pid_t m_pid = -1;
    int m_in = -1;
};

// The same rows into PostgreSQL with COPY through psql, in one transaction: devices, then
// revisions with their row ids (records refer to them), then records, and the identity moved
// past the ids used.
void fillPostgres(const std::string& location, std::int64_t count,
                  const std::vector<RecordContent>& contents) {
    const std::string now = std::to_string(SystemClock::instance().nowMillis());
    std::string records;  // COPY rows of records, sent after the revisions
    Psql psql(location);
    std::string text =
        "BEGIN;\nCOPY devices (device_id, label, credential_hash, enrolled_utc_ms, "
        "received_through) FROM STDIN;\n";
    bool inRevisions = false;
    FillRows rows;
    rows.device = [&](const Uuid& id, std::int64_t share) {
        appendBytea(text, id.bytes);
        text += "\tfiller\t";
        std::vector<std::uint8_t> hash(32);
        std::mt19937_64 random(std::hash<std::string>{}(id.toString()));
        for (auto& b : hash)
            b = static_cast<std::uint8_t>(random());
        appendBytea(text, hash);
        text += '\t' + now + '\t' + std::to_string(share) + '\n';
    };
    rows.revision = [&](std::int64_t rid, const Uuid& id, std::int64_t seq, const OutboxEntry& e,
                        const std::string& form) {
        if (!inRevisions) {
            text +=
                "\\.\nCOPY revisions (rid, device_id, seq, record_id, hlc, form_id, "
                "form_version, body, received_utc_ms) FROM STDIN;\n";
            inRevisions = true;
        }
        const std::string hlc = std::to_string(static_cast<std::int64_t>(e.hlc.value));
        text += std::to_string(rid) + '\t';
        appendBytea(text, id.bytes);
        text += '\t' + std::to_string(seq) + '\t';
        appendBytea(text, e.recordId.bytes);
        text += '\t' + hlc + '\t' + form + "\t1\t";
        appendBytea(text, e.body);
        text += '\t' + now + '\n';
        appendBytea(records, e.recordId.bytes);
        records += '\t' + std::to_string(rid) + '\t' + hlc + '\t';
        appendBytea(records, id.bytes);
        records += '\t' + form + '\n';
        if (text.size() > (1u << 20)) psql.write(text);
    };
    makeFillRows(count, contents, rows);
    text += "\\.\nCOPY records (record_id, current_rid, hlc, first_device, form_id) FROM STDIN;\n";
    psql.write(text);
    psql.write(records);
    text += "\\.\nSELECT setval(pg_get_serial_sequence('revisions', 'rid'), " +
            std::to_string(count) + ");\nCOMMIT;\nVACUUM ANALYZE;\nCHECKPOINT;\n";
    psql.write(text);
    psql.finish();
}

// Writes the preload into a fresh, empty store at `location`.
void fillCollector(const std::string& location, std::int64_t count, const OneDevice& one) {
    const auto& contents = one.contents;
    {
        auto c = must(sync::openCollector(location, true), "collector store");
        if (must(c->stats(), "stats").records != 0)
            throw std::runtime_error("the store at " + location +
                                     " is not empty: give the benchmark an empty one");
        // The forms, as staff publish them: the export needs them.
        for (const auto& form : one.forms)
            must(c->publish(form, SystemClock::instance().nowMillis(), "bench"), "publish");
    }
    if (sync::isPostgresLocation(location)) {
        fillPostgres(location, count, contents);
    } else {
        fillSqlite(location, count, contents);
    }
}

std::vector<std::string> enrolCodes(const std::string& location, int n) {
    auto c = must(sync::openCollector(location, false), "collector store");
    std::vector<std::string> codes;
    for (int i = 0; i < n; ++i)
        codes.push_back(must(
            c->createEnrolCode("bench", SystemClock::instance().nowMillis(), "bench"), "code"));
    return codes;
}

struct PushFigures {
    double recordsPerSecond = 0;
    double p50 = 0;
    double p99 = 0;
    double pacedOffered = 0;
    double pacedRecordsPerSecond = 0;
    double pacedP50 = 0;
    double pacedP99 = 0;
    std::int64_t stored = 0;
    int errors = 0;
};

// `settings.devices` devices, spread over the collectors at `urls`, enrol and prepare their
// batches (as their outboxes would hold them) before the start, and send a few unmeasured batches
// (settings.warmupBatchesPerDevice) all at once. Then, first, all push at once,
// each sending its next batch as soon as the previous one is acknowledged: the collectors'
// capacity. In such a closed loop every device always has a batch waiting, so the time to an
// acknowledgement is the queue of the other 99 devices' batches (Little's law: 100 batches /
// capacity), whatever the collector does. Second (when `paced`), each device sends a batch on
// its own schedule, at a total of half the capacity just measured, as devices do when they come
// online at different moments: the acknowledgement times there are what a device waits. They
// are counted from the moment a batch was due, so a batch held up behind its own device's
// previous one counts its delay too.
PushFigures pushFromDevices(const std::vector<std::string>& urls, std::vector<std::string> codes,
                            const Settings& settings, const std::vector<RecordContent>& contents,
                            bool paced, const std::string& name) {
    const auto devices = static_cast<std::size_t>(settings.devices);
    const int warmup = settings.warmupBatchesPerDevice;
    const int totalBatches =
        warmup + settings.batchesPerDevice + (paced ? settings.pacedBatchesPerDevice : 0);
    std::vector<std::vector<double>> latencies(devices);
    std::vector<std::vector<double>> pacedLatencies(devices);
    std::atomic<int> errors{0};
    std::atomic<std::int64_t> stored{0};
    std::atomic<std::int64_t> pacedStored{0};
    std::atomic<std::int64_t> warmupStored{0};
    std::atomic<int> setupFailures{0};
    Failures failures;
    Failures warmupFailures;
    Failures pacedFailures;
    std::barrier start(static_cast<std::ptrdiff_t>(devices) + 1);
    Clock::time_point pushStart;
    Clock::time_point pacedZero;
    std::chrono::duration<double> interval{1};
    const auto markPacedZero = [&]() noexcept {
        pacedZero = Clock::now();
        // Half the capacity just measured, spread evenly over the devices.
        const double seconds = std::chrono::duration<double>(pacedZero - pushStart).count();
        const double capacity = static_cast<double>(stored.load()) / std::max(seconds, 1e-3);
        interval = std::chrono::duration<double>(
            static_cast<double>(devices * settings.batchRecords) / std::max(capacity / 2, 1.0));
    };
    std::barrier pacedStart(static_cast<std::ptrdiff_t>(devices) + 1, markPacedZero);
    const auto markPushStart = [&]() noexcept { pushStart = Clock::now(); };
    std::barrier warmed(static_cast<std::ptrdiff_t>(devices), markPushStart);
    std::vector<std::thread> threads;
    for (std::size_t d = 0; d < devices; ++d) {
        threads.emplace_back([&, d, code = codes[d], url = urls[d % urls.size()]] {
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
            std::vector<double> unmeasured;
            for (; b < batches.size() && b < static_cast<std::size_t>(warmup); ++b) {
                if (send(batches[b], Clock::now(), unmeasured, warmupFailures))
                    warmupStored += static_cast<std::int64_t>(settings.batchRecords);
            }
            warmed.arrive_and_wait();
            for (; b < batches.size() &&
                   b < static_cast<std::size_t>(warmup + settings.batchesPerDevice);
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
    pacedStart.arrive_and_wait();  // every device has had all its closed-loop batches answered
    const double seconds = secondsSince(pushStart);
    for (auto& t : threads)
        t.join();
    const double pacedSeconds = secondsSince(pacedZero);
    if (setupFailures > 0) throw std::runtime_error("devices could not enrol");
    warmupFailures.report(name + "_warmup");
    failures.report(name);
    pacedFailures.report(name + "_paced");
    const auto joined = [](const std::vector<std::vector<double>>& per) {
        std::vector<double> all;
        for (const auto& l : per)
            all.insert(all.end(), l.begin(), l.end());
        return all;
    };
    const auto all = joined(latencies);
    const auto pacedAll = joined(pacedLatencies);
    PushFigures f;
    f.recordsPerSecond = static_cast<double>(stored.load()) / seconds;
    f.p50 = percentile(all, 0.5);
    f.p99 = percentile(all, 0.99);
    f.pacedOffered = static_cast<double>(devices * settings.batchRecords) / interval.count();
    f.pacedRecordsPerSecond = static_cast<double>(pacedStored.load()) / pacedSeconds;
    f.pacedP50 = percentile(pacedAll, 0.5);
    f.pacedP99 = percentile(pacedAll, 0.99);
    f.stored = warmupStored.load() + stored.load() + pacedStored.load();
    f.errors = errors.load();
    return f;
}

// One record per request from `clients` clients at once, each on a new connection per request
// (as simple clients send them), for settings.secondsPerLevel: records/s.
double onePerRequest(const std::vector<std::string>& urls, const std::vector<std::string>& codes,
                     int clients, const Settings& settings,
                     const std::vector<RecordContent>& contents, const std::string& name) {
    std::atomic<std::int64_t> done{0};
    std::atomic<int> setupFailures{0};
    Failures failures;
    std::barrier go(clients + 1);
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int c = 0; c < clients; ++c) {
        workers.emplace_back([&, c, code = codes[static_cast<std::size_t>(c)],
                              url = urls[static_cast<std::size_t>(c) % urls.size()]] {
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
                const auto body =
                    zstdIfLarge(sync::encodePushRequest(device.id, std::span(&e, 1)), compressed);
                const auto posted = post(url + sync::kPushPath, body,
                                         protocolHeaders(device.credential, compressed));
                if (posted.status == 200) {
                    ++seq;
                    ++done;
                } else {
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
    failures.report(name);
    return static_cast<double>(counted) / elapsed;
}

// `veldctl export LOCATION FORM --out DIR` (CSV) for every form the preload used, each as its
// own process: the time of all of them and the largest peak resident memory of one.
using ExportRun = Measured;

ExportRun exportCsv(const std::string& location, const std::vector<RecordContent>& contents,
                    const TempDir& dir, const std::string& name) {
    std::vector<std::string> forms;
    for (const auto& c : contents)
        if (std::find(forms.begin(), forms.end(), c.formId) == forms.end())
            forms.push_back(c.formId);
    ExportRun total;
    for (std::size_t i = 0; i < forms.size(); ++i) {
        checkInterrupted();
        const std::string out = dir.file(name + "-export-" + std::to_string(i));
        const ExportRun one =
            runMeasured({binDir() + "/veldctl", "export", location, forms[i], "--out", out});
        total.seconds += one.seconds;
        total.peakMiB = std::max(total.peakMiB, one.peakMiB);
        std::filesystem::remove_all(out);
    }
    return total;
}

// Every figure of one store: `prefix` names them ("" for the SQLite file the benchmark makes,
// as before; "pg_" for PostgreSQL). `processes` collectors share the store in a second
// closed-loop run when above 1.
void benchManyDevices(const TempDir& dir, const Settings& settings, const OneDevice& one,
                      const std::string& location, const std::string& prefix,
                      std::map<std::string, double>& figures) {
    const auto& contents = one.contents;
    const std::string tag =
        prefix + "sync_" + std::to_string(settings.devices) + "_devices_" + sizeTag(settings.fill);
    const auto fillStart = Clock::now();
    fillCollector(location, settings.fill, one);
    note("filled " + location + " with " + std::to_string(settings.fill) + " records in " +
         formatNumber(secondsSince(fillStart)) + " s");
    int levelsClients = 0;
    for (int c : settings.clientLevels)
        levelsClients += c;
    const bool two = sync::isPostgresLocation(location);
    auto codes = enrolCodes(location, settings.devices * (two ? 2 : 1) + levelsClients);
    const auto take = [&codes](std::size_t n) {
        std::vector<std::string> out(codes.begin(), codes.begin() + static_cast<std::ptrdiff_t>(n));
        codes.erase(codes.begin(), codes.begin() + static_cast<std::ptrdiff_t>(n));
        return out;
    };
    std::int64_t pushed = 0;
    {
        CollectorProcess collector(location, dir.path(), prefix + "collector",
                                   settings.collectorThreads);
        const std::vector<std::string> urls{"http://127.0.0.1:" + std::to_string(collector.port())};
        const PushFigures f = pushFromDevices(
            urls, take(static_cast<std::size_t>(settings.devices)), settings, contents, true, tag);
        pushed += f.stored;
        figures[tag] = f.recordsPerSecond;
        if (prefix.empty()) {
            printFigure(tag, f.recordsPerSecond, "records/s", one.pushRecordsPerSecond,
                        "sync_push_" + sizeTag(settings.records));
        } else {
            const std::string sqliteTag =
                "sync_" + std::to_string(settings.devices) + "_devices_" + sizeTag(settings.fill);
            if (figures.count(sqliteTag) != 0) {
                printFigure(tag, f.recordsPerSecond, "records/s", figures[sqliteTag], sqliteTag);
            } else {
                printBaseline(tag, f.recordsPerSecond, "records/s");
            }
        }
        printBaseline(tag + "_ack_p50", f.p50, "ms");
        printFigure(tag + "_ack_p99", f.p99, "ms", f.p50, tag + "_ack_p50");
        printBaseline(tag + "_paced_offered", f.pacedOffered, "records/s");
        printFigure(tag + "_paced", f.pacedRecordsPerSecond, "records/s", f.pacedOffered,
                    tag + "_paced_offered");
        printBaseline(tag + "_paced_ack_p50", f.pacedP50, "ms");
        printFigure(tag + "_paced_ack_p99", f.pacedP99, "ms", f.pacedP50, tag + "_paced_ack_p50");
        printBaseline(tag + "_errors", f.errors, "requests");

        // (e) One record per request, from 1, 10 and 50 clients at once, into the same store.
        double single = 0;
        for (int clients : settings.clientLevels) {
            checkInterrupted();
            const std::string name = prefix + "sync_one_per_request_" + std::to_string(clients) +
                                     (clients == 1 ? "_client" : "_clients");
            const double rate = onePerRequest(urls, take(static_cast<std::size_t>(clients)),
                                              clients, settings, contents, name);
            figures[name] = rate;
            if (clients == settings.clientLevels.front()) {
                single = rate;
                printBaseline(name, rate, "records/s");
            } else {
                printFigure(name, rate, "records/s", single,
                            prefix + "sync_one_per_request_" +
                                std::to_string(settings.clientLevels.front()) + "_client");
            }
            if (clients == 50) {
                // ODK Central (also on PostgreSQL) on this kind of machine: a published figure,
                // not measured here.
                printFigure(name + "_vs_odk_central", rate, "records/s", kOdkCentral50Clients,
                            "odk_central_one_per_request_50_clients");
            }
        }
        collector.stop();
    }

    if (two) {
        // Two collector processes on the one database, devices spread over both.
        CollectorProcess first(location, dir.path(), prefix + "collector-1",
                               settings.collectorThreads);
        CollectorProcess second(location, dir.path(), prefix + "collector-2",
                                settings.collectorThreads);
        const std::vector<std::string> urls{"http://127.0.0.1:" + std::to_string(first.port()),
                                            "http://127.0.0.1:" + std::to_string(second.port())};
        const PushFigures f =
            pushFromDevices(urls, take(static_cast<std::size_t>(settings.devices)), settings,
                            contents, false, tag + "_2_processes");
        pushed += f.stored;
        printFigure(tag + "_2_processes", f.recordsPerSecond, "records/s", figures[tag], tag);
        printBaseline(tag + "_2_processes_ack_p99", f.p99, "ms");
        printBaseline(tag + "_2_processes_errors", f.errors, "requests");
        first.stop();
        second.stop();
    }

    // The CSV export of the store's records (the preload and what was pushed).
    {
        auto held = must(sync::openCollector(location, false), "collector store");
        const auto records = must(held->stats(), "stats").records;
        if (records < settings.fill + pushed)
            throw std::runtime_error("the collector lost records of the devices");
        held.reset();
        const ExportRun run = exportCsv(location, contents, dir, prefix + "csv");
        const std::string name = prefix + "export_csv_" + sizeTag(records);
        printBaseline(name, run.seconds, "s");
        printBaseline(name + "_records_per_s", static_cast<double>(records) / run.seconds,
                      "records/s");
        printBaseline(name + "_peak_rss", run.peakMiB, "MiB");
    }
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
            s.warmupBatchesPerDevice = 1;
            s.batchesPerDevice = 2;
            s.pacedBatchesPerDevice = 2;
            s.secondsPerLevel = 1;
        } else if (arg == "--store") {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                error = "--store needs a location (a file or a postgresql:// URI)";
                return std::nullopt;
            }
            s.stores.emplace_back(argv[++i]);
        } else if (arg == "--collector-threads") {
            const auto n = i + 1 < argc ? number(argv[i + 1]) : std::nullopt;
            if (!n || *n > 256) {
                error = "--collector-threads needs a whole number from 1 to 256";
                return std::nullopt;
            }
            s.collectorThreads = static_cast<int>(*n);
            ++i;
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
    std::vector<std::string> stores = settings->stores;
    if (stores.empty()) stores.push_back(dir.file("collector-d.db"));
    // SQLite first: PostgreSQL's figures are printed as ratios of SQLite's.
    std::stable_partition(stores.begin(), stores.end(),
                          [](const std::string& s) { return !sync::isPostgresLocation(s); });
    std::map<std::string, double> figures;
    int sqliteStores = 0;
    int pgStores = 0;
    for (const auto& location : stores) {
        checkInterrupted();
        const bool pg = sync::isPostgresLocation(location);
        if (pg) {
            // A build without the PostgreSQL backend says so, and the other stores still run.
            if (auto opened = sync::openCollector(location, true); !opened) {
                if (opened.error().code != ErrorCode::InvalidArgument)
                    throw std::runtime_error(location + ": " + opened.error().describe());
                note("skipping " + location + ": " + opened.error().describe());
                continue;
            }
        }
        const int n = pg ? ++pgStores : ++sqliteStores;
        const std::string prefix =
            std::string(pg ? "pg_" : "") + (n > 1 ? "store" + std::to_string(n) + "_" : "");
        benchManyDevices(dir, *settings, one, location, prefix, figures);
    }
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
