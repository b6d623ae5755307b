#include "support/sync_support.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <veld/allocation.hpp>
#include <veld/fb/sync_generated.h>
#include <veld/sqlite.hpp>
#include <veld/sync/protocol.hpp>

#include "support/pg_cluster.hpp"

namespace veld::test {

namespace {

std::int64_t steadyNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string firstLine(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

}  // namespace

ProcessResult veldctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{binary("veldctl")};
    argv.insert(argv.end(), args.begin(), args.end());
    return runProcess(argv);
}

// ---- CollectorProcess ---------------------------------------------------------------------

std::string testCollectorLocation(const TempDir& dir) {
    if (testingPostgres()) return sharedPgCluster().createDatabase();
    return dir.file("collector.db");
}

long long countRows(const std::string& location, const std::string& table) {
    const std::string query = "SELECT count(*) FROM " + table;
    if (sync::isPostgresLocation(location)) return queryInteger(location, query);
    auto db = sql::Database::open(location, sql::OpenMode::ReadOnly);
    if (!db) throw std::runtime_error("cannot open " + location + ": " + db.error().describe());
    auto n = db->queryInt(query);
    if (!n) throw std::runtime_error(n.error().describe());
    return n.value();
}

CollectorProcess::CollectorProcess(std::string storePath) : m_store(std::move(storePath)) {
    const bool postgres = sync::isPostgresLocation(m_store);
    if (postgres) m_files = std::make_unique<TempDir>();
    const std::string base = postgres ? m_files->file("collector") : m_store;
    m_portFile = base + ".port";
    m_logFile = base + ".log";
    if (postgres || !std::filesystem::exists(m_store)) {
        const auto r = veldctl({"collector", "init", m_store});
        if (r.exitCode != 0) throw std::runtime_error("veldctl collector init failed: " + r.err);
    }
}

CollectorProcess::CollectorProcess(std::string location, Joining)
    : m_store(std::move(location)), m_files(std::make_unique<TempDir>()) {
    m_portFile = m_files->file("collector.port");
    m_logFile = m_files->file("collector.log");
}

CollectorProcess::~CollectorProcess() {
    if (m_process) {
        m_process->kill(SIGKILL);
        (void)m_process->wait();
    }
}

void CollectorProcess::start(const std::vector<std::string>& flags,
                             const std::vector<std::string>& env, int port) {
    if (m_process && !m_process->exited()) throw std::runtime_error("the collector runs already");
    std::filesystem::remove(m_portFile);
    std::vector<std::string> argv{binary("veld-collector"), "--store",     m_store,   "--port",
                                  std::to_string(port),     "--port-file", m_portFile};
    bool logRequests = false;
    for (const auto& f : flags) {
        if (f == "--log") {
            logRequests = true;
        } else {
            argv.push_back(f);
        }
    }
    if (!logRequests) argv.push_back("--quiet");
    // A PostgreSQL store has no folder for exports next to it: give it one, as an operator does.
    if (m_files && std::find(flags.begin(), flags.end(), "--export-dir") == flags.end()) {
        argv.push_back("--export-dir");
        argv.push_back(m_files->file("exports"));
    }
    m_process = std::make_unique<ChildProcess>(argv, ChildOptions{env, m_logFile});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
        std::ifstream in(m_portFile);
        std::string text;
        if (in && std::getline(in, text) && !text.empty()) {
            m_port = std::stoi(text);
            return;
        }
        if (m_process->exited()) {
            throw std::runtime_error("veld-collector ended at start-up: " + log());
        }
        if (std::chrono::steady_clock::now() > deadline) {
            throw std::runtime_error("veld-collector did not start listening: " + log());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void CollectorProcess::restart(const std::vector<std::string>& flags,
                               const std::vector<std::string>& env) {
    // The port is still the old one's: nobody else is likely to take it within a second, and
    // httplib binds with SO_REUSEADDR, so connections in TIME_WAIT do not stand in the way.
    for (int attempt = 0;; ++attempt) {
        try {
            start(flags, env, m_port);
            return;
        } catch (const std::runtime_error&) {
            if (attempt == 20) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

void CollectorProcess::kill(int signal) {
    if (m_process) m_process->kill(signal);
}

ProcessResult CollectorProcess::wait() {
    if (!m_process) throw std::runtime_error("the collector was never started");
    return m_process->wait();
}

bool CollectorProcess::running() {
    return m_process && !m_process->exited();
}

std::string CollectorProcess::url() const {
    return "http://127.0.0.1:" + std::to_string(m_port);
}

std::string CollectorProcess::exportDir() const {
    return m_files ? m_files->file("exports") : m_store + ".exports";
}

std::string CollectorProcess::log() const {
    try {
        return readFile(m_logFile);
    } catch (const std::runtime_error&) {
        return {};
    }
}

std::string CollectorProcess::enrolCode() const {
    const auto r = veldctl({"collector", "enrol-code", m_store});
    if (r.exitCode != 0) throw std::runtime_error("veldctl collector enrol-code failed: " + r.err);
    return firstLine(r.out);
}

std::unique_ptr<sync::CollectorStore> CollectorProcess::open() const {
    auto store = sync::openCollector(m_store, false);
    if (!store) throw std::runtime_error("cannot open the collector: " + store.error().describe());
    return std::move(store.value());
}

// ---- Devices ------------------------------------------------------------------------------

RecordContent ipsIntake(const Uuid& caseId, const std::string& municipality,
                        const std::string& gender, const std::string& pseudonym) {
    RecordContent c;
    c.formId = "ips_intake";
    c.formVersion = 1;
    c.caseId = caseId;
    c.answers = {{"gender", ChoiceAnswer{gender, {}}},
                 {"municipality", ChoiceAnswer{municipality, {}}}};
    CaseChange change;
    change.action = CaseAction::Open;
    change.caseType = "participant";
    change.pseudonym = pseudonym;
    change.properties = {{"gender", gender, {}}, {"municipality", municipality, {}}};
    c.caseChange = change;
    c.allocate = AllocationRequest{
        "ips", alloc::stratumKey({{"municipality", municipality}, {"gender", gender}})};
    return c;
}

Store openDevice(const std::string& path, const Clock* clock) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .clock = clock});
    if (!store) throw std::runtime_error("cannot open " + path + ": " + store.error().describe());
    return std::move(store.value());
}

std::vector<Uuid> addFinalized(Store& store, int count, int first) {
    std::vector<Uuid> ids;
    auto batch = store.beginBatch();
    if (!batch) throw std::runtime_error(batch.error().describe());
    for (int i = 0; i < count; ++i) {
        auto f = store.finalizeNew(sampleContent(first + i));
        if (!f) throw std::runtime_error(f.error().describe());
        ids.push_back(f->id);
    }
    if (auto s = batch->commit(); !s) throw std::runtime_error(s.error().describe());
    return ids;
}

void pushCaseRecord(sync::CollectorStore& store, const Uuid& device, std::uint64_t seq,
                    const Uuid& caseId, HlcTimestamp hlc, std::vector<CasePropertyValue> props,
                    const std::optional<Allocation>& allocation) {
    Record r;
    r.id = makeUuidV7(SystemClock::instance());
    r.deviceId = device;
    r.hlc = hlc;
    r.createdHlc = hlc;
    r.finalized = true;
    r.content.formId = "ips_intake";
    r.content.formVersion = 1;
    r.content.caseId = caseId;
    r.content.caseChange = CaseChange{CaseAction::Open, "participant", "", std::move(props)};
    r.content.allocation = allocation;
    sync::PushBatch batch;
    batch.deviceId = device;
    sync::PushRevision rev;
    rev.seq = seq;
    rev.recordId = r.id;
    rev.hlc = hlc;
    rev.body = encodeRecord(r).value();
    rev.formId = r.content.formId;
    rev.formVersion = 1;
    batch.revisions.push_back(std::move(rev));
    auto reply = store.push(device, batch, SystemClock::instance().nowMillis());
    if (!reply) throw std::runtime_error("push of a case record: " + reply.error().describe());
}

sync::Connection enrolDevice(Store& store, const CollectorProcess& collector) {
    auto reply = sync::enrol(store, collector.url(), collector.enrolCode());
    if (!reply) throw std::runtime_error("enrolment refused: " + reply.error().describe());
    auto connection = sync::loadConnection(store);
    if (!connection) throw std::runtime_error(connection.error().describe());
    return connection.value();
}

void publishPilotForms(const CollectorProcess& collector) {
    std::vector<std::string> publish{"collector", "publish", collector.storePath()};
    for (const auto& f : pilotFormFiles())
        publish.push_back(f);
    const auto done = veldctl(publish);
    if (done.exitCode != 0)
        throw std::runtime_error("publishing the pilot forms failed: " + done.err);
}

Uuid enrolInStore(sync::CollectorStore& store, std::int64_t nowMs, const std::string& label,
                  const std::string& team) {
    sync::EnrolRequest request;
    auto code = store.createEnrolCode(label, nowMs, "test");
    if (!code) throw std::runtime_error("enrolment code: " + code.error().describe());
    request.code = code.value();
    request.deviceId = makeUuidV4();
    if (auto r = store.enrol(request, nowMs); !r)
        throw std::runtime_error("enrolment: " + r.error().describe());
    if (!team.empty()) {
        if (auto s = store.setDeviceTeam(request.deviceId, team, nowMs, "test"); !s)
            throw std::runtime_error("team: " + s.error().describe());
    }
    return request.deviceId;
}

std::string addAdmin(const CollectorProcess& collector, const std::string& name) {
    const auto made = veldctl({"collector", "admin-add", collector.storePath(), name});
    if (made.exitCode != 0) throw std::runtime_error("admin-add failed: " + made.err);
    std::string credential = made.out;
    while (!credential.empty() && credential.back() == '\n')
        credential.pop_back();
    return credential;
}

std::vector<std::uint8_t> pushBody(const Uuid& device,
                                   const std::vector<CraftedRevision>& revisions) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::Revision>> offsets;
    for (const auto& r : revisions) {
        auto body = encodeRecord(r.record);
        if (!body) throw std::runtime_error("crafted record: " + body.error().describe());
        const fb::Uuid id(flatbuffers::span<const std::uint8_t, 16>(r.record.id.bytes.data(), 16));
        auto bytes = b.CreateVector(body.value());
        offsets.push_back(
            fb::CreateRevision(b, r.seq, &id, r.record.hlc.value, bytes, false, 0, r.baseHlc));
    }
    auto vec = b.CreateVector(offsets);
    const fb::Uuid dev(flatbuffers::span<const std::uint8_t, 16>(device.bytes.data(), 16));
    auto request = fb::CreatePushRequest(b, sync::kProtocolVersion, &dev, vec);
    fb::FinishEnvelopeBuffer(b, fb::CreateEnvelope(b, fb::Message::PushRequest, request.Union()));
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

sync::PushReply postPush(const CollectorProcess& collector, const sync::Connection& connection,
                         const std::vector<std::uint8_t>& body) {
    const auto reply = httpExchange(
        collector.port(), postBytes(sync::kPushPath, body, protocolHeaders(connection.credential)));
    if (reply.status != 200) throw std::runtime_error("push refused: " + reply.body);
    auto decoded = sync::decodePushResponse(
        std::span(reinterpret_cast<const std::uint8_t*>(reply.body.data()), reply.body.size()));
    if (!decoded) throw std::runtime_error("push answer: " + decoded.error().describe());
    return decoded.value();
}

int syncUntilDone(Store& store, const sync::Connection& connection,
                  const sync::SyncOptions& options, int attempts) {
    for (int failed = 0; failed < attempts; ++failed) {
        // A round that found another program syncing (Busy) did nothing: it is not done.
        auto round = sync::syncOnce(store, connection, options);
        if (round && round->state != sync::Progress::State::Busy) return failed;
    }
    return -1;
}

std::vector<std::pair<Uuid, std::size_t>> collectorRevisionCounts(sync::CollectorStore& store) {
    std::vector<std::pair<Uuid, std::size_t>> out;
    auto ids = store.recordIds();
    if (!ids) throw std::runtime_error(ids.error().describe());
    for (const auto& id : ids.value()) {
        auto revisions = store.revisionsOf(id);
        if (!revisions) throw std::runtime_error(revisions.error().describe());
        out.emplace_back(id, revisions->size());
    }
    return out;
}

// ---- HTTP, byte by byte -------------------------------------------------------------------

Headers protocolHeaders(const std::string& credential) {
    Headers h{{"Content-Type", sync::kContentType}};
    if (!credential.empty()) h.emplace_back("Authorization", "Bearer " + credential);
    return h;
}

std::string postBytes(const std::string& path, const std::string& body, const Headers& headers) {
    std::string out = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    bool framed = false;
    for (const auto& [name, value] : headers) {
        if (name == "Content-Length" || name == "Transfer-Encoding") framed = true;
        out += name + ": " + value + "\r\n";
    }
    if (!framed) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "\r\n";
    out += body;
    return out;
}

std::string postBytes(const std::string& path, const std::vector<std::uint8_t>& body,
                      const Headers& headers) {
    return postBytes(path, std::string(body.begin(), body.end()), headers);
}

RawConnection::RawConnection(int port, const std::string& from) : m_startNs(steadyNs()) {
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) throw std::runtime_error("socket failed");
    if (!from.empty()) {
        sockaddr_in source{};
        source.sin_family = AF_INET;
        if (::inet_pton(AF_INET, from.c_str(), &source.sin_addr) != 1 ||
            ::bind(m_fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) != 0) {
            ::close(m_fd);
            throw std::runtime_error("cannot connect from " + from);
        }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(m_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(m_fd);
        throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
    const int one = 1;
    ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawConnection::~RawConnection() {
    if (m_fd >= 0) ::close(m_fd);
}

bool RawConnection::send(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = ::send(m_fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

void RawConnection::shutdownWrite() {
    ::shutdown(m_fd, SHUT_WR);
}

bool RawConnection::closedByServer() {
    if (m_closed) return true;
    for (;;) {
        pollfd p{m_fd, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        char buf[4096];
        const ssize_t n = ::recv(m_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            m_received.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
        m_closed = true;
        return true;
    }
}

double RawConnection::secondsOpen() const {
    return static_cast<double>(steadyNs() - m_startNs) / 1e9;
}

bool RawConnection::receiveSome(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) return false;
        pollfd p{m_fd, POLLIN, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(left));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        char buf[16384];
        const ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
        if (n > 0) {
            m_received.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            m_closed = true;
        }
        return true;
    }
}

HttpReply RawConnection::finish(int timeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    HttpReply reply;
    while (!m_closed) {
        if (!receiveSome(deadline)) break;
    }
    reply.closedByServer = m_closed;
    reply.seconds = secondsOpen();
    const auto end = m_received.find("\r\n\r\n");
    if (m_received.rfind("HTTP/1.1 ", 0) == 0 && end != std::string::npos) {
        reply.status = std::atoi(m_received.c_str() + 9);
        reply.head = m_received.substr(0, end);
        reply.body = m_received.substr(end + 4);
    }
    return reply;
}

HttpReply RawConnection::readReply(int timeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    HttpReply reply;
    for (;;) {
        const auto end = m_received.find("\r\n\r\n");
        if (end != std::string::npos) {
            std::string head = m_received.substr(0, end);
            std::size_t length = 0;
            std::string lower = head;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (const auto at = lower.find("\r\ncontent-length:"); at != std::string::npos)
                length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
            if (m_received.size() >= end + 4 + length) {
                reply.status = std::atoi(m_received.c_str() + 9);
                reply.head = std::move(head);
                reply.body = m_received.substr(end + 4, length);
                m_received.erase(0, end + 4 + length);
                break;
            }
        }
        if (m_closed || !receiveSome(deadline)) break;
    }
    reply.closedByServer = m_closed;
    reply.seconds = secondsOpen();
    return reply;
}

HttpReply httpExchange(int port, const std::string& request, int timeoutMs,
                       const std::string& from) {
    RawConnection c(port, from);
    (void)c.send(request);  // the server may answer (and close) before taking the whole body
    return c.finish(timeoutMs);
}

}  // namespace veld::test
