// Helpers for tests against a real veld-collector on loopback: the collector process, device
// stores enrolled with it, and HTTP spoken byte by byte (for requests no well-behaved client
// would send).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/store.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/uploader.hpp>

#include "support/test_support.hpp"

namespace veld::test {

/// Where a collector test keeps its collector store: `dir`/collector.db, or a fresh database on
/// the shared PostgreSQL cluster (support/pg_cluster.hpp) when the test process runs with
/// VELD_TEST_BACKEND=postgresql. Tests about the SQLite file itself (its modes, backup, the
/// power-cut VFS, WAL) keep the file and are named "sqlite-file: ..." (the PostgreSQL run
/// leaves them out).
std::string testCollectorLocation(const TempDir& dir);

/// How many rows a table of the collector store at `location` holds (either backend).
long long countRows(const std::string& location, const std::string& table);

/// Runs the veldctl built by this project.
ProcessResult veldctl(const std::vector<std::string>& args);

/// A collector store and a veld-collector process serving it on 127.0.0.1. Setup failures throw
/// std::runtime_error (with the collector's log), which fails the test that called.
class CollectorProcess {
  public:
    /// Creates the store (veldctl collector init) unless the file exists (always for a
    /// PostgreSQL location: a fresh database). Its port and log files go next to an SQLite file,
    /// into a temporary folder of its own for PostgreSQL.
    explicit CollectorProcess(std::string storePath);
    /// Another process on a PostgreSQL store a CollectorProcess made: nothing is created; its
    /// port and log files go into a temporary folder of its own.
    struct Joining {};
    CollectorProcess(std::string location, Joining);
    ~CollectorProcess();  // SIGKILL when still running
    CollectorProcess(const CollectorProcess&) = delete;
    CollectorProcess& operator=(const CollectorProcess&) = delete;

    /// Starts veld-collector (--quiet unless `flags` has --log) on `port` (0: any free port; the
    /// same port again after a restart), with extra flags and environment entries, and waits
    /// until it listens.
    void start(const std::vector<std::string>& flags = {}, const std::vector<std::string>& env = {},
               int port = 0);
    /// Starts it again on the port it had.
    void restart(const std::vector<std::string>& flags = {},
                 const std::vector<std::string>& env = {});
    void kill(int signal);
    /// Waits for the process to end.
    ProcessResult wait();
    [[nodiscard]] bool running();

    [[nodiscard]] int port() const { return m_port; }
    [[nodiscard]] pid_t pid() const { return m_process ? m_process->pid() : -1; }
    [[nodiscard]] std::string url() const;
    [[nodiscard]] const std::string& storePath() const { return m_store; }
    /// Where the collector writes exports staff start through the admin API (unless the test
    /// gave --export-dir): next to an SQLite store, in its own folder for PostgreSQL.
    [[nodiscard]] std::string exportDir() const;
    /// What the collector wrote to stderr, over every start.
    [[nodiscard]] std::string log() const;

    /// A one-time enrolment code (veldctl collector enrol-code).
    [[nodiscard]] std::string enrolCode() const;
    /// The collector's store, opened next to the running server (SQLite WAL allows it).
    [[nodiscard]] std::unique_ptr<sync::CollectorStore> open() const;

  private:
    std::string m_store;
    std::unique_ptr<TempDir> m_files;  // for a PostgreSQL store: port, log and export files
    std::string m_portFile;
    std::string m_logFile;
    int m_port = 0;
    std::unique_ptr<ChildProcess> m_process;
};

/// Publishes every pilot form at the collector (veldctl collector publish); throws on failure.
void publishPilotForms(const CollectorProcess& collector);

/// The IPS study the intakes below take allocations in: two arms 1:1, stratified by
/// municipality (three) and gender (two), blocks of 2, 4 or 6, two blocks dealt per device.
inline constexpr const char* kIpsStudyJson = R"({
  "id": "ips",
  "pilot": "ips_long_term_unemployed",
  "arms": [{"name": "ips", "ratio": 1}, {"name": "usual_care", "ratio": 1}],
  "factors": [
    {"name": "municipality", "levels": ["utrecht", "amersfoort", "nieuwegein"]},
    {"name": "gender", "levels": ["man", "vrouw"]}
  ],
  "block_sizes": [2, 4, 6],
  "low_slots": 4,
  "blocks_per_device": 2
})";

/// An IPS intake as the form session hands it to the store: it opens a case and takes an
/// allocation in study "ips", stratified by municipality and gender, from the blocks the device
/// holds (the form engine's own tests cover how a session makes it from answers).
RecordContent ipsIntake(const Uuid& caseId, const std::string& municipality,
                        const std::string& gender, const std::string& pseudonym);

/// Opens (creating) a device store, optionally on a given clock.
Store openDevice(const std::string& path, const Clock* clock = nullptr);

/// Finalizes `count` sample records (test::sampleContent(first), ...) in one batch; their ids.
std::vector<Uuid> addFinalized(Store& store, int count, int first = 0);

/// Pushes, straight into the collector's store, one finalized record of `device` (its outbox
/// number `seq`) that opens case `caseId` with `props`, and may carry an allocation; throws when
/// the collector refuses.
void pushCaseRecord(sync::CollectorStore& store, const Uuid& device, std::uint64_t seq,
                    const Uuid& caseId, HlcTimestamp hlc, std::vector<CasePropertyValue> props,
                    const std::optional<Allocation>& allocation = {});

/// A new device enrolled straight in `store` (no server) with a fresh code labelled `label`, in
/// `team` when not empty; its id. Throws when the store refuses.
Uuid enrolInStore(sync::CollectorStore& store, std::int64_t nowMs, const std::string& label,
                  const std::string& team = {});

/// A staff member's console credential (veldctl collector admin-add); throws on failure.
std::string addAdmin(const CollectorProcess& collector, const std::string& name);

/// Enrols the device with a fresh code; throws when the collector refuses.
sync::Connection enrolDevice(Store& store, const CollectorProcess& collector);

/// Pushes and pulls until a round succeeds (at most `attempts` rounds); the number of failed
/// rounds before it, or -1 when none succeeded.
int syncUntilDone(Store& store, const sync::Connection& connection,
                  const sync::SyncOptions& options, int attempts);

/// A revision as a device would send it, made by hand: devices do not hand records to each
/// other, so another device's edit of a record can only be made this way.
struct CraftedRevision {
    std::uint64_t seq = 0;
    Record record;
    std::uint64_t baseHlc = 0;  // 0: made blind, not from the collector's current revision
};

/// The body of a push of crafted revisions from `device`.
std::vector<std::uint8_t> pushBody(const Uuid& device,
                                   const std::vector<CraftedRevision>& revisions);

/// Posts a push body with the device's credential; fails the test unless the answer is 200.
sync::PushReply postPush(const CollectorProcess& collector, const sync::Connection& connection,
                         const std::vector<std::uint8_t>& body);

/// Every record id the collector holds, with how many revisions it holds of each.
std::vector<std::pair<Uuid, std::size_t>> collectorRevisionCounts(sync::CollectorStore& store);

using Headers = std::vector<std::pair<std::string, std::string>>;

/// The headers of a protocol request: Content-Type, and Authorization when a credential is given.
Headers protocolHeaders(const std::string& credential = {});

/// The bytes of an HTTP/1.1 POST with `Connection: close`; Content-Length is added unless
/// `headers` has one or a Transfer-Encoding.
std::string postBytes(const std::string& path, const std::string& body, const Headers& headers);
std::string postBytes(const std::string& path, const std::vector<std::uint8_t>& body,
                      const Headers& headers);

struct HttpReply {
    int status = 0;  // 0: no answer (the connection was closed or timed out first)
    std::string head;
    std::string body;
    bool closedByServer = false;  // the server closed the connection (EOF or reset)
    double seconds = 0;           // from connecting until the answer ended or the close
};

/// A raw TCP connection to the collector, for requests written a piece at a time.
class RawConnection {
  public:
    /// Connects to 127.0.0.1:`port`, from the loopback address `from` when given (another
    /// client address, e.g. "127.0.0.2": every 127.x.y.z is this machine).
    explicit RawConnection(int port, const std::string& from = {});
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    /// Sends bytes; false once the server has closed or reset the connection.
    bool send(const std::string& bytes);
    /// Reads until the server closes the connection or `timeoutMs` passes; parses the answer.
    HttpReply finish(int timeoutMs);
    /// Reads one whole answer (headers and a Content-Length body) and leaves the connection
    /// open for the next request; status 0 when none came within `timeoutMs`.
    HttpReply readReply(int timeoutMs);
    /// Ends the request: the server reads end-of-file after what was sent.
    void shutdownWrite();
    /// Whether the server has closed the connection (checked without waiting).
    bool closedByServer();
    [[nodiscard]] double secondsOpen() const;

  private:
    /// Waits until `deadline` for bytes (or the close); false when none came in time.
    bool receiveSome(std::chrono::steady_clock::time_point deadline);

    int m_fd = -1;
    std::string m_received;
    bool m_closed = false;
    std::int64_t m_startNs = 0;
};

/// Sends a whole request on a new connection and reads the answer.
HttpReply httpExchange(int port, const std::string& request, int timeoutMs = 20000,
                       const std::string& from = {});

}  // namespace veld::test
