// The collector's embedded store: one SQLite file in WAL mode. One writing connection, used
// under a mutex (SQLite serialises writers anyway), with group commit for pushes; and one reading
// connection for credentials, so that checking a device never waits for another's commit.
#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <sodium.h>
#include <sqlite3.h>

#include <veld/form.hpp>
#include <veld/hex.hpp>
#include <veld/project_key.hpp>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

namespace veld::sync {

namespace {

constexpr int kSchemaVersion = 4;
constexpr std::int32_t kApplicationId = 0x56454C43;  // "VELC"

constexpr const char* kSchema = R"sql(
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value ANY
) STRICT;

CREATE TABLE enrol_codes (
    code_hash      BLOB PRIMARY KEY NOT NULL,
    label          TEXT NOT NULL DEFAULT '',
    created_utc_ms INTEGER NOT NULL,
    expires_utc_ms INTEGER NOT NULL,
    used_utc_ms    INTEGER,
    used_by        BLOB
) STRICT;

CREATE TABLE devices (
    device_id           BLOB PRIMARY KEY NOT NULL CHECK (length(device_id) = 16),
    label               TEXT NOT NULL DEFAULT '',
    credential_hash     BLOB NOT NULL,
    public_key          BLOB,
    enrolled_utc_ms     INTEGER NOT NULL,
    revoked_utc_ms      INTEGER,
    received_through    INTEGER NOT NULL DEFAULT 0,
    last_contact_utc_ms INTEGER
) STRICT;

-- Every revision ever received; nothing is deleted or changed.
CREATE TABLE revisions (
    rid             INTEGER PRIMARY KEY,
    device_id       BLOB NOT NULL REFERENCES devices (device_id),
    seq             INTEGER NOT NULL,
    record_id       BLOB NOT NULL,
    hlc             INTEGER NOT NULL,
    base_hlc        INTEGER NOT NULL DEFAULT 0,
    form_id         TEXT NOT NULL DEFAULT '',
    form_version    INTEGER NOT NULL DEFAULT 0,
    body            BLOB,
    damaged         INTEGER NOT NULL DEFAULT 0,
    damage_reason   TEXT,
    clock_flagged   INTEGER NOT NULL DEFAULT 0,
    received_utc_ms INTEGER NOT NULL,
    UNIQUE (device_id, seq)
) STRICT;
CREATE INDEX revisions_by_record ON revisions (record_id, hlc);

-- Revisions the collector could not read (a newer Veld, damage in transit): kept for staff.
CREATE TABLE rejected (
    device_id       BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    record_id       BLOB NOT NULL,
    reason          TEXT NOT NULL,
    body            BLOB,
    received_utc_ms INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
) STRICT;

-- The current view: per record, its newest revision by HLC.
CREATE TABLE records (
    record_id    BLOB PRIMARY KEY NOT NULL,
    current_rid  INTEGER NOT NULL REFERENCES revisions (rid),
    hlc          INTEGER NOT NULL,
    first_device BLOB NOT NULL,
    form_id      TEXT NOT NULL DEFAULT ''
) STRICT;

-- Two revisions of one record made on different devices without either seeing the other.
CREATE TABLE conflicts (
    cid             INTEGER PRIMARY KEY,
    record_id       BLOB NOT NULL,
    rid_a           INTEGER NOT NULL REFERENCES revisions (rid),
    rid_b           INTEGER NOT NULL REFERENCES revisions (rid),
    detected_utc_ms INTEGER NOT NULL,
    resolved_utc_ms INTEGER,
    resolution      TEXT
) STRICT;

CREATE TABLE forms (
    pub_seq          INTEGER PRIMARY KEY,
    form_id          TEXT NOT NULL,
    version          INTEGER NOT NULL,
    pilot            TEXT NOT NULL DEFAULT '',
    binary           BLOB NOT NULL,
    published_utc_ms INTEGER NOT NULL,
    UNIQUE (form_id, version)
) STRICT;

CREATE TABLE audit (
    aid     INTEGER PRIMARY KEY,
    utc_ms  INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT ''
) STRICT;
)sql";

bool sodiumReady() {
    static const bool ready = sodium_init() >= 0;
    return ready;
}

std::vector<std::uint8_t> digest(std::string_view text) {
    std::vector<std::uint8_t> out(32);
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(text.data()),
                       text.size(), nullptr, 0);
    return out;
}

std::span<const std::uint8_t> idBytes(const Uuid& id) {
    return {id.bytes.data(), id.bytes.size()};
}

Uuid idFrom(std::span<const std::uint8_t> blob) {
    Uuid id;
    if (blob.size() == 16) std::copy(blob.begin(), blob.end(), id.bytes.begin());
    return id;
}

constexpr const char* kAdminPrefix = "veld-admin.";

bool validAdminName(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    });
}

// Enrolment codes are typed by people: no look-alike letters, case and dashes ignored.
std::string normalizeCode(std::string_view code) {
    std::string out;
    for (char c : code) {
        if (c == '-' || c == ' ') continue;
        out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    return out;
}

// Resets a kept statement when the scope that used it ends (a SELECT left stepping would hold
// its read snapshot).
struct Resetting {
    sql::Statement& st;
    ~Resetting() { st.reset(); }
};

// Version 2: central staff's review of each record. A record without a row in `reviews` is
// "received"; every change is kept in `review_history` (nothing is overwritten or deleted).
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE reviews (
    record_id      BLOB PRIMARY KEY NOT NULL REFERENCES records (record_id),
    state          INTEGER NOT NULL CHECK (state BETWEEN 0 AND 3),
    changed_utc_ms INTEGER NOT NULL,
    changed_by     TEXT NOT NULL
) STRICT;
CREATE INDEX reviews_by_state ON reviews (state);

CREATE TABLE review_history (
    hid       INTEGER PRIMARY KEY,
    record_id BLOB NOT NULL REFERENCES records (record_id),
    state     INTEGER NOT NULL CHECK (state BETWEEN 0 AND 3),
    comment   TEXT NOT NULL DEFAULT '',
    utc_ms    INTEGER NOT NULL,
    actor     TEXT NOT NULL
) STRICT;
CREATE INDEX review_history_by_record ON review_history (record_id, hid);
)sql";

// Version 3: staff's decisions on likely duplicate participants, by the group's key (a digest:
// the identifying values themselves are never stored here).
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE duplicate_decisions (
    group_key  BLOB PRIMARY KEY NOT NULL,
    decision   INTEGER NOT NULL CHECK (decision BETWEEN 1 AND 2),
    comment    TEXT NOT NULL DEFAULT '',
    utc_ms     INTEGER NOT NULL,
    actor      TEXT NOT NULL
) STRICT;

-- Central staff who use the admin API (the console). Only a digest of each credential's secret.
CREATE TABLE admins (
    name            TEXT PRIMARY KEY NOT NULL,
    credential_hash BLOB NOT NULL,
    created_utc_ms  INTEGER NOT NULL,
    revoked_utc_ms  INTEGER
) STRICT;
)sql";

// Version 4: the review queue pages through one state in record id order, so the index on
// `reviews` holds the record id after the state (it replaces the index on the state alone).
constexpr const char* kSchemaV4 = R"sql(
CREATE INDEX reviews_by_state_record ON reviews (state, record_id);
DROP INDEX reviews_by_state;
-- What each device said it still held, unacknowledged, after its last push.
ALTER TABLE devices ADD COLUMN waiting INTEGER;
-- The dashboard counts flagged revisions without reading every revision (bodies included).
CREATE INDEX revisions_flagged ON revisions (rid) WHERE clock_flagged != 0;
)sql";

class SqliteCollector final : public CollectorStore {
  public:
    SqliteCollector(std::string path, sql::Database db, sql::Database reader,
                    sql::Database checkpointer, CollectorPolicy policy)
        : m_path(std::move(path)),
          m_db(std::move(db)),
          m_reader(std::move(reader)),
          m_checkpointer(std::move(checkpointer)),
          m_policy(policy) {
        // Checkpoints (copying the WAL back into the database file) run on a thread of their own
        // instead of inside whichever commit crossed SQLite's threshold: a push never waits for
        // one. The hook replaces SQLite's automatic checkpoints on the writing connection.
        sqlite3_wal_hook(m_db.handle(), &SqliteCollector::walGrew, this);
        m_checkpointThread = std::thread([this] { checkpointLoop(); });
    }

    ~SqliteCollector() override {
        {
            std::lock_guard lock(m_checkpointMutex);
            m_closing = true;
        }
        m_checkpointWanted.notify_all();
        m_checkpointThread.join();
        sqlite3_wal_hook(m_db.handle(), nullptr, nullptr);
    }
    SqliteCollector(const SqliteCollector&) = delete;
    SqliteCollector& operator=(const SqliteCollector&) = delete;

    /// Prepares the statements every push and every request runs, once.
    Status prepare() {
        const std::pair<sql::Statement*, const char*> writer[] = {
            {&m_deviceState,
             "SELECT received_through, revoked_utc_ms FROM devices WHERE device_id = ?"},
            {&m_heldRevision,
             "SELECT record_id, hlc FROM revisions WHERE device_id = ? AND seq = ?"},
            {&m_heldRejected, "SELECT record_id FROM rejected WHERE device_id = ? AND seq = ?"},
            {&m_insertRejected,
             "INSERT INTO rejected (device_id, seq, record_id, reason, body, received_utc_ms) "
             "VALUES (?, ?, ?, ?, ?, ?)"},
            {&m_insertRevision,
             "INSERT INTO revisions (device_id, seq, record_id, hlc, base_hlc, form_id, "
             "form_version, body, damaged, damage_reason, clock_flagged, received_utc_ms) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
            {&m_currentRecord,
             "SELECT r.current_rid, r.hlc, v.device_id FROM records r "
             "JOIN revisions v ON v.rid = r.current_rid WHERE r.record_id = ?"},
            {&m_insertRecord,
             "INSERT INTO records (record_id, current_rid, hlc, first_device, form_id) "
             "VALUES (?, ?, ?, ?, ?)"},
            {&m_insertConflict,
             "INSERT INTO conflicts (record_id, rid_a, rid_b, detected_utc_ms) VALUES (?, ?, ?, "
             "?)"},
            {&m_updateRecord, "UPDATE records SET current_rid = ?, hlc = ? WHERE record_id = ?"},
            {&m_advanceDevice,
             "UPDATE devices SET received_through = ?, last_contact_utc_ms = ?, "
             "waiting = coalesce(?, waiting) WHERE device_id = ?"},
        };
        for (const auto& [st, text] : writer) {
            auto prepared = m_db.prepare(text);
            if (!prepared) return prepared.error();
            *st = std::move(prepared.value());
        }
        auto credential = m_reader.prepare(
            "SELECT credential_hash, revoked_utc_ms FROM devices WHERE device_id = ?");
        if (!credential) return credential.error();
        m_credential = std::move(credential.value());
        return {};
    }

    Result<std::string> createEnrolCode(const std::string& label, std::int64_t nowMs,
                                        const std::string& actor) override {
        static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        std::string code;
        for (int i = 0; i < 12; ++i) {
            if (i > 0 && i % 4 == 0) code += '-';
            code += kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)];
        }
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "INSERT INTO enrol_codes (code_hash, label, created_utc_ms, expires_utc_ms) "
            "VALUES (?, ?, ?, ?)");
        if (!st) return st.error();
        const auto hash = digest(normalizeCode(code));
        st->bindBlob(1, hash).bind(2, label).bind(3, nowMs).bind(4,
                                                                 nowMs + m_policy.enrolCodeTtlMs);
        if (auto s = st->run(); !s) return s.error();
        if (auto s = auditLocked(nowMs, actor, "enrol-code", label, {}); !s) return s.error();
        if (auto s = tx->commit(); !s) return s.error();
        return code;
    }

    Result<EnrolReply> enrol(const EnrolRequest& request, std::int64_t nowMs) override {
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        const auto hash = digest(normalizeCode(request.code));
        auto st = m_db.prepare(
            "SELECT label, expires_utc_ms, used_utc_ms, used_by FROM enrol_codes WHERE code_hash = "
            "?");
        if (!st) return st.error();
        st->bindBlob(1, hash);
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "unknown enrolment code");
        const std::string label(st->columnText(0));
        if (!st->columnIsNull(2)) {
            return makeError(ErrorCode::WrongState, "this enrolment code has been used already");
        }
        if (st->columnInt(1) < nowMs) {
            return makeError(ErrorCode::WrongState, "this enrolment code has expired");
        }
        // A revoked device stays revoked; it needs a new identity (a new store).
        auto dev = m_db.prepare("SELECT revoked_utc_ms FROM devices WHERE device_id = ?");
        if (!dev) return dev.error();
        dev->bindBlob(1, idBytes(request.deviceId));
        auto existing = dev->step();
        if (!existing) return existing.error();
        if (existing.value() && !dev->columnIsNull(0)) {
            return makeError(ErrorCode::WrongState, "this device has been revoked");
        }
        std::array<std::uint8_t, 32> secret{};
        randombytes_buf(secret.data(), secret.size());
        const std::string credential = request.deviceId.toString() + "." + toHex(secret);
        const auto credentialHash = digest(toHex(secret));
        auto up = m_db.prepare(
            "INSERT INTO devices (device_id, label, credential_hash, public_key, enrolled_utc_ms) "
            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id) DO UPDATE SET "
            "credential_hash = ?3, public_key = ?4, label = ?2");
        if (!up) return up.error();
        up->bindBlob(1, idBytes(request.deviceId)).bind(2, label).bindBlob(3, credentialHash);
        if (request.devicePublicKey.empty()) {
            up->bindNull(4);
        } else {
            up->bindBlob(4, request.devicePublicKey);
        }
        up->bind(5, nowMs);
        if (auto s = up->run(); !s) return s.error();
        auto used =
            m_db.prepare("UPDATE enrol_codes SET used_utc_ms = ?, used_by = ? WHERE code_hash = ?");
        if (!used) return used.error();
        used->bind(1, nowMs).bindBlob(2, idBytes(request.deviceId)).bindBlob(3, hash);
        if (auto s = used->run(); !s) return s.error();
        if (auto s = auditLocked(nowMs, "device", "enrol", request.deviceId.toString(), label); !s)
            return s.error();
        EnrolReply reply;
        reply.credential = credential;
        auto id = metaText("collector_id");
        if (!id) return id.error();
        reply.collectorId = id.value();
        auto key = metaText("pseudonym_key");
        if (!key) return key.error();
        reply.pseudonymKey = key.value();
        auto project = metaText("project_key");
        if (!project) return project.error();
        reply.projectKey = project.value();
        if (auto s = tx->commit(); !s) return s.error();
        return reply;
    }

    Result<Uuid> authenticate(std::string_view credential) override {
        const auto dot = credential.find('.');
        if (dot == std::string_view::npos || credential.size() - dot - 1 != 64) {
            return makeError(ErrorCode::NotFound, "not a device credential");
        }
        const auto id = Uuid::parse(credential.substr(0, dot));
        if (!id) return makeError(ErrorCode::NotFound, "not a device credential");
        const auto presented = digest(credential.substr(dot + 1));
        // The reading connection: a revocation committed by anyone (veldctl included) is seen
        // by the next request, and the check never waits behind a push's commit.
        std::lock_guard lock(m_readMutex);
        sql::Statement& st = m_credential;
        Resetting done{st};
        st.bindBlob(1, idBytes(*id));
        auto row = st.step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "unknown device");
        const auto stored = st.columnBlob(0);
        if (stored.size() != presented.size() ||
            sodium_memcmp(stored.data(), presented.data(), presented.size()) != 0) {
            return makeError(ErrorCode::NotFound, "wrong credential");
        }
        if (!st.columnIsNull(1)) return makeError(ErrorCode::WrongState, "device revoked");
        return *id;
    }

    Status revoke(const Uuid& deviceId, std::int64_t nowMs, const std::string& actor) override {
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "UPDATE devices SET revoked_utc_ms = ? WHERE device_id = ? AND revoked_utc_ms IS NULL");
        if (!st) return st.error();
        st->bind(1, nowMs).bindBlob(2, idBytes(deviceId));
        if (auto s = st->run(); !s) return s;
        if (m_db.changes() == 0) {
            return makeError(ErrorCode::NotFound, "no enrolled, unrevoked device with that id");
        }
        if (auto s = auditLocked(nowMs, actor, "revoke", deviceId.toString(), {}); !s) return s;
        return tx->commit();
    }

    Result<std::string> addAdmin(const std::string& name, std::int64_t nowMs,
                                 const std::string& actor) override {
        if (!validAdminName(name)) {
            return makeError(ErrorCode::InvalidArgument,
                             "an admin name is 1 to 64 letters, digits, '.', '-' or '_'");
        }
        std::array<std::uint8_t, 32> secret{};
        randombytes_buf(secret.data(), secret.size());
        const std::string credential = std::string(kAdminPrefix) + name + "." + toHex(secret);
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "INSERT INTO admins (name, credential_hash, created_utc_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET credential_hash = excluded.credential_hash, "
            "created_utc_ms = excluded.created_utc_ms, revoked_utc_ms = NULL");
        if (!st) return st.error();
        st->bind(1, name).bindBlob(2, digest(toHex(secret))).bind(3, nowMs);
        if (auto s = st->run(); !s) return s.error();
        if (auto s = auditLocked(nowMs, actor, "admin-add", name, {}); !s) return s.error();
        if (auto s = tx->commit(); !s) return s.error();
        return credential;
    }

    Status revokeAdmin(const std::string& name, std::int64_t nowMs,
                       const std::string& actor) override {
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "UPDATE admins SET revoked_utc_ms = ? WHERE name = ? AND revoked_utc_ms IS NULL");
        if (!st) return st.error();
        st->bind(1, nowMs).bind(2, name);
        if (auto s = st->run(); !s) return s;
        if (m_db.changes() == 0) return makeError(ErrorCode::NotFound, "no such active admin");
        if (auto s = auditLocked(nowMs, actor, "admin-revoke", name, {}); !s) return s;
        return tx->commit();
    }

    Result<std::string> authenticateAdmin(std::string_view credential) override {
        if (credential.rfind(kAdminPrefix, 0) != 0)
            return makeError(ErrorCode::NotFound, "not an admin credential");
        const auto rest = credential.substr(std::string_view(kAdminPrefix).size());
        const auto dot = rest.rfind('.');
        if (dot == std::string_view::npos || rest.size() - dot - 1 != 64)
            return makeError(ErrorCode::NotFound, "not an admin credential");
        const std::string name(rest.substr(0, dot));
        const auto presented = digest(rest.substr(dot + 1));
        std::lock_guard lock(m_readMutex);
        auto st =
            m_reader.prepare("SELECT credential_hash, revoked_utc_ms FROM admins WHERE name = ?");
        if (!st) return st.error();
        st->bind(1, name);
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "unknown admin");
        const auto stored = st->columnBlob(0);
        if (stored.size() != presented.size() ||
            sodium_memcmp(stored.data(), presented.data(), presented.size()) != 0)
            return makeError(ErrorCode::NotFound, "wrong admin credential");
        if (!st->columnIsNull(1)) return makeError(ErrorCode::WrongState, "admin revoked");
        return name;
    }

    Result<std::vector<AdminInfo>> admins() override {
        std::lock_guard lock(m_mutex);
        auto st =
            m_db.prepare("SELECT name, created_utc_ms, revoked_utc_ms FROM admins ORDER BY name");
        if (!st) return st.error();
        std::vector<AdminInfo> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            AdminInfo a;
            a.name = std::string(st->columnText(0));
            a.createdUtcMs = st->columnInt(1);
            if (!st->columnIsNull(2)) a.revokedUtcMs = st->columnInt(2);
            out.push_back(std::move(a));
        }
        return out;
    }

    Result<std::vector<DeviceInfo>> devices() override {
        std::lock_guard lock(m_mutex);
        auto st = m_db.prepare(
            "SELECT d.device_id, d.label, d.enrolled_utc_ms, d.revoked_utc_ms, d.received_through, "
            "d.last_contact_utc_ms, (SELECT count(*) FROM revisions r WHERE r.device_id = "
            "d.device_id), d.waiting FROM devices d ORDER BY d.enrolled_utc_ms");
        if (!st) return st.error();
        std::vector<DeviceInfo> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            DeviceInfo d;
            d.deviceId = idFrom(st->columnBlob(0));
            d.label = std::string(st->columnText(1));
            d.enrolledUtcMs = st->columnInt(2);
            if (!st->columnIsNull(3)) d.revokedUtcMs = st->columnInt(3);
            d.receivedThrough = static_cast<std::uint64_t>(st->columnInt(4));
            if (!st->columnIsNull(5)) d.lastContactUtcMs = st->columnInt(5);
            d.revisions = st->columnInt(6);
            if (!st->columnIsNull(7)) d.waiting = st->columnInt(7);
            out.push_back(std::move(d));
        }
        return out;
    }

    // Group commit: a push joins a queue; whichever push finds no commit under way leads,
    // takes every push waiting, stores each in its own savepoint (one refused push does not
    // undo the others) and makes them durable with one commit. Nobody is answered before that
    // commit, so the guarantee of a push is unchanged; what is shared is the wait for the disk.
    Result<PushReply> push(const Uuid& deviceId, const PushBatch& batch,
                           std::int64_t nowMs) override {
        QueuedPush mine{&deviceId, &batch, nowMs, std::nullopt, false};
        std::unique_lock queue(m_queueMutex);
        m_queue.push_back(&mine);
        while (!mine.done) {
            if (m_leading) {
                m_queueChanged.wait(queue);
                continue;
            }
            m_leading = true;
            std::vector<QueuedPush*> group;
            group.swap(m_queue);
            queue.unlock();
            storeGroup(group);
            queue.lock();
            for (QueuedPush* p : group)
                p->done = true;
            m_leading = false;
            m_queueChanged.notify_all();
        }
        return std::move(*mine.result);
    }

    Result<PullReply> pull(const Uuid& deviceId, const PullRequest& request, std::size_t maxForms,
                           std::int64_t nowMs) override {
        std::lock_guard lock(m_mutex);
        auto st = m_db.prepare(
            "SELECT pub_seq, binary FROM forms WHERE pub_seq > ? ORDER BY pub_seq LIMIT ?");
        if (!st) return st.error();
        st->bind(1, static_cast<std::int64_t>(request.formCursor))
            .bind(2, static_cast<std::int64_t>(maxForms + 1));
        PullReply reply;
        reply.formCursor = request.formCursor;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            if (reply.forms.size() == maxForms) {
                reply.more = true;
                break;
            }
            PublishedForm f;
            f.seq = static_cast<std::uint64_t>(st->columnInt(0));
            const auto bin = st->columnBlob(1);
            f.binary.assign(bin.begin(), bin.end());
            reply.formCursor = f.seq;
            reply.forms.push_back(std::move(f));
        }
        st.value().reset();
        auto project = metaText("project_key");
        if (!project) return project.error();
        reply.projectKey = project.value();
        auto up = m_db.prepare("UPDATE devices SET last_contact_utc_ms = ? WHERE device_id = ?");
        if (!up) return up.error();
        up->bind(1, nowMs).bindBlob(2, idBytes(deviceId));
        if (auto s = up->run(); !s) return s.error();
        return reply;
    }

    Result<bool> publish(const std::vector<std::uint8_t>& binary, std::int64_t nowMs,
                         const std::string& actor) override {
        const auto problems = forms::checkFormBinary(binary, "published form");
        for (const auto& p : problems) {
            if (p.severity == forms::FormProblem::Severity::Error) {
                return makeError(ErrorCode::InvalidArgument, p.describe());
            }
        }
        const fb::Form* form = fb::GetForm(binary.data());
        const std::string id = form->id()->str();
        const auto version = static_cast<std::int64_t>(form->version());
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto existing = m_db.prepare("SELECT binary FROM forms WHERE form_id = ? AND version = ?");
        if (!existing) return existing.error();
        existing->bind(1, id).bind(2, version);
        auto row = existing->step();
        if (!row) return row.error();
        if (row.value()) {
            const auto held = existing->columnBlob(0);
            if (std::equal(held.begin(), held.end(), binary.begin(), binary.end())) return false;
            return makeError(ErrorCode::WrongState,
                             "form " + id + " version " + std::to_string(version) +
                                 " is published with other content; raise the version");
        }
        existing.value().reset();
        auto st = m_db.prepare(
            "INSERT INTO forms (form_id, version, pilot, binary, published_utc_ms) "
            "VALUES (?, ?, ?, ?, ?)");
        if (!st) return st.error();
        st->bind(1, id)
            .bind(2, version)
            .bind(3, form->pilot() ? form->pilot()->string_view() : std::string_view())
            .bindBlob(4, binary)
            .bind(5, nowMs);
        if (auto s = st->run(); !s) return s.error();
        if (auto s = auditLocked(nowMs, actor, "publish", id, "version " + std::to_string(version));
            !s)
            return s.error();
        if (auto s = tx->commit(); !s) return s.error();
        return true;
    }

    // The dashboard's figures read every record: on a connection of their own, in one read
    // transaction, so that pushes (on the writing connection) never wait for them.
    Result<CollectorStats> stats() override {
        auto db = sql::Database::open(m_path, sql::OpenMode::ReadOnly);
        if (!db) return db.error();
        CollectorStats s;
        struct Q {
            const char* sql;
            std::int64_t* out;
        };
        const Q queries[] = {
            {"SELECT count(*) FROM devices", &s.devices},
            {"SELECT count(*) FROM records", &s.records},
            {"SELECT count(*) FROM revisions", &s.revisions},
            {"SELECT count(*) FROM rejected", &s.rejected},
            {"SELECT count(*) FROM conflicts WHERE resolved_utc_ms IS NULL", &s.conflicts},
            {"SELECT count(*) FROM revisions WHERE clock_flagged != 0", &s.flaggedClocks},
            {"SELECT count(*) FROM forms", &s.forms},
        };
        if (auto b = db->exec("BEGIN"); !b) return b.error();
        for (const auto& q : queries) {
            auto v = db->queryInt(q.sql);
            if (!v) return v.error();
            *q.out = v.value();
        }
        (void)db->exec("COMMIT");
        return s;
    }

    Result<std::vector<DayCount>> recordsPerDay() override {
        auto db = sql::Database::open(m_path, sql::OpenMode::ReadOnly);
        if (!db) return db.error();
        auto st = db->prepare(
            "SELECT r.form_id, coalesce((SELECT f.pilot FROM forms f WHERE f.form_id = r.form_id "
            "ORDER BY f.version DESC LIMIT 1), ''), (r.hlc >> 16) / 86400000 AS day, count(*) "
            "FROM records r GROUP BY r.form_id, day ORDER BY day, r.form_id");
        if (!st) return st.error();
        std::vector<DayCount> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            out.push_back({std::string(st->columnText(0)), std::string(st->columnText(1)),
                           static_cast<std::int32_t>(st->columnInt(2)), st->columnInt(3)});
        }
        return out;
    }

    Result<std::vector<StoredRevision>> revisionsOf(const Uuid& recordId) override {
        std::lock_guard lock(m_mutex);
        auto st = m_db.prepare(
            "SELECT device_id, seq, record_id, hlc, form_id, body, damaged, clock_flagged "
            "FROM revisions WHERE record_id = ? ORDER BY hlc");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(recordId));
        return readRevisions(st.value());
    }

    Result<std::vector<Uuid>> recordIds() override {
        std::lock_guard lock(m_mutex);
        auto st = m_db.prepare("SELECT record_id FROM records ORDER BY record_id");
        if (!st) return st.error();
        std::vector<Uuid> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            out.push_back(idFrom(st->columnBlob(0)));
        }
        return out;
    }

    Result<std::optional<StoredRevision>> current(const Uuid& recordId) override {
        std::lock_guard lock(m_mutex);
        auto st = m_db.prepare(
            "SELECT v.device_id, v.seq, v.record_id, v.hlc, v.form_id, v.body, v.damaged, "
            "v.clock_flagged FROM records r JOIN revisions v ON v.rid = r.current_rid "
            "WHERE r.record_id = ?");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(recordId));
        auto rows = readRevisions(st.value());
        if (!rows) return rows.error();
        if (rows->empty()) return std::optional<StoredRevision>();
        return std::optional<StoredRevision>(std::move(rows->front()));
    }

    Result<std::vector<ConflictInfo>> conflicts() override {
        std::lock_guard lock(m_mutex);
        auto st = m_db.prepare(
            "SELECT c.record_id, a.device_id, a.hlc, b.device_id, b.hlc, c.detected_utc_ms, c.cid "
            "FROM conflicts c JOIN revisions a ON a.rid = c.rid_a JOIN revisions b ON b.rid = "
            "c.rid_b WHERE c.resolved_utc_ms IS NULL ORDER BY c.cid");
        if (!st) return st.error();
        std::vector<ConflictInfo> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            ConflictInfo c;
            c.recordId = idFrom(st->columnBlob(0));
            c.id = st->columnInt(6);
            c.deviceA = idFrom(st->columnBlob(1));
            c.hlcA = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(2))};
            c.deviceB = idFrom(st->columnBlob(3));
            c.hlcB = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(4))};
            c.detectedUtcMs = st->columnInt(5);
            out.push_back(std::move(c));
        }
        return out;
    }

    Result<StoredRevision> resolveConflict(std::int64_t conflictId,
                                           const ConflictResolution& resolution, std::int64_t nowMs,
                                           const std::string& actor) override {
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto c = m_db.prepare(
            "SELECT c.record_id, c.resolved_utc_ms, a.body, a.damaged, a.device_id, b.body, "
            "b.damaged, b.device_id, r.hlc FROM conflicts c JOIN revisions a ON a.rid = c.rid_a "
            "JOIN revisions b ON b.rid = c.rid_b JOIN records r ON r.record_id = c.record_id "
            "WHERE c.cid = ?");
        if (!c) return c.error();
        c->bind(1, conflictId);
        auto row = c->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "no conflict with that number");
        if (!c->columnIsNull(1))
            return makeError(ErrorCode::WrongState, "this conflict has been resolved already");
        const Uuid recordId = idFrom(c->columnBlob(0));
        const HlcTimestamp current{static_cast<std::uint64_t>(c->columnInt(8))};
        // Marks the conflict settled (with staff's comment), audits it and commits.
        const auto settle = [&](const std::string& detail) -> Status {
            auto done = m_db.prepare(
                "UPDATE conflicts SET resolved_utc_ms = ?, resolution = ? WHERE cid = ?");
            if (!done) return done.error();
            done->bind(1, nowMs)
                .bind(2, detail + (resolution.comment.empty() ? "" : "; " + resolution.comment))
                .bind(3, conflictId);
            if (auto s = done->run(); !s) return s;
            if (auto s = auditLocked(nowMs, actor, "resolve", recordId.toString(), detail); !s)
                return s;
            return tx->commit();
        };
        if (resolution.kind == ConflictResolution::Kind::Close) {
            c.value().reset();
            if (auto s = settle("closed; the current revision stays"); !s) return s.error();
            StoredRevision out;
            out.recordId = recordId;
            out.hlc = current;
            return out;
        }
        const auto read = [&](int bodyColumn, int damagedColumn) -> std::optional<Record> {
            if (c->columnInt(damagedColumn) != 0) return std::nullopt;
            auto r = decodeRecord(c->columnBlob(bodyColumn));
            return r ? std::optional<Record>(std::move(r.value())) : std::nullopt;
        };
        const std::optional<Record> a = read(2, 3);
        const std::optional<Record> b = read(5, 6);
        const Uuid deviceA = idFrom(c->columnBlob(4));
        const Uuid deviceB = idFrom(c->columnBlob(7));
        c.value().reset();
        const bool needA = resolution.kind != ConflictResolution::Kind::KeepB;
        const bool needB = resolution.kind != ConflictResolution::Kind::KeepA;
        if ((needA && !a) || (needB && !b)) {
            return makeError(ErrorCode::InvalidArgument,
                             std::string("revision ") + (needA && !a ? "A" : "B") +
                                 " of this conflict cannot be read here; keep the other one");
        }
        // A sealed revision's answers open only with central staff's private key, which never
        // comes here: the collector cannot write a revision made from them.
        if ((needA && a->sealed) || (needB && b->sealed)) {
            return makeError(ErrorCode::InvalidArgument,
                             std::string("revision ") + (needA && a->sealed ? "A" : "B") +
                                 " of this conflict is sealed, and the collector cannot open it "
                                 "to write a resolution; give the record a review state instead");
        }
        RecordContent content =
            resolution.kind == ConflictResolution::Kind::KeepB ? b->content : a->content;
        std::string detail;
        if (resolution.kind == ConflictResolution::Kind::KeepA) {
            detail = "kept A (device " + deviceA.toString() + ")";
        } else if (resolution.kind == ConflictResolution::Kind::KeepB) {
            detail = "kept B (device " + deviceB.toString() + ")";
        } else {
            if (auto s = mergeFromB(content, b->content, resolution.fromB); !s) return s.error();
            detail = "merged; from B:";
            for (const auto& name : resolution.fromB)
                detail += " " + name;
        }
        // The collector's own revision: after everything held, based on the current view.
        const auto staff = staffDevice(nowMs);
        if (!staff) return staff.error();
        const auto nowMillis = static_cast<std::uint64_t>(std::max<std::int64_t>(nowMs, 0));
        Record merged;
        merged.id = recordId;
        merged.deviceId = staff->first;
        merged.hlc = nowMillis > current.millis()
                         ? HlcTimestamp::make(nowMillis, 0)
                         : HlcTimestamp::make(current.millis(), current.counter() + 1);
        merged.createdHlc =
            std::min(a ? a->createdHlc : b->createdHlc, b ? b->createdHlc : a->createdHlc);
        merged.finalized = true;
        merged.content = std::move(content);
        auto body = encodeRecord(merged);
        if (!body) return body.error();
        PushRevision rev;
        rev.seq = staff->second + 1;
        rev.recordId = recordId;
        rev.hlc = merged.hlc;
        rev.baseHlc = current.value;
        rev.body = std::move(body.value());
        rev.formId = merged.content.formId;
        rev.formVersion = merged.content.formVersion;
        if (auto s = storeRevision(staff->first, rev, nowMs); !s) return s.error();
        auto up = m_db.prepare("UPDATE devices SET received_through = ? WHERE device_id = ?");
        if (!up) return up.error();
        up->bind(1, static_cast<std::int64_t>(rev.seq)).bindBlob(2, idBytes(staff->first));
        if (auto s = up->run(); !s) return s.error();
        if (auto s = settle(detail); !s) return s.error();
        StoredRevision out;
        out.deviceId = staff->first;
        out.seq = rev.seq;
        out.recordId = recordId;
        out.hlc = merged.hlc;
        out.formId = rev.formId;
        out.body = std::move(rev.body);
        return out;
    }

    Result<std::vector<DuplicateGroup>> duplicates() override {
        // Which questions identify a person, per form version (from the published forms).
        std::map<std::pair<std::string, std::uint32_t>, std::set<std::string>> identifying;
        {
            auto forms = publishedForms();
            if (!forms) return forms.error();
            for (const auto& f : forms.value()) {
                auto& names = identifying[{f.formId, f.version}];
                collectIdentifying(fb::GetForm(f.binary.data())->items(), names);
            }
        }
        auto db = sql::Database::open(m_path, sql::OpenMode::ReadOnly);
        if (!db) return db.error();
        if (auto s = db->exec("BEGIN"); !s) return s.error();
        auto st = db->prepare(
            "SELECT r.record_id, v.form_id, v.form_version, v.body FROM records r "
            "JOIN revisions v ON v.rid = r.current_rid WHERE v.damaged = 0 ORDER BY r.record_id");
        if (!st) return st.error();
        // key -> records; keys are digests, so memory grows with the records that have one.
        // (Keyed by the digest's bytes as a string: GCC 12 warns falsely on vector keys at -O3.)
        const auto keyOf = [](std::string_view text) {
            const auto d = digest(text);
            return std::string(d.begin(), d.end());
        };
        std::map<std::string, DuplicateGroup> groups;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            auto record = decodeRecord(st->columnBlob(3));
            if (!record) continue;  // unreadable bodies are counted by exports, not here
            const Uuid id = idFrom(st->columnBlob(0));
            const std::string formId(st->columnText(1));
            const auto version = static_cast<std::uint32_t>(st->columnInt(2));
            const auto names = identifying.find({formId, version});
            std::string identity;
            for (const auto& a : record->content.answers) {
                if (const auto* p = std::get_if<PseudonymAnswer>(&a.value)) {
                    // The same person on any form: one scheme, one key, one digest.
                    std::string text = "pseudonym\n" + p->scheme + "\n" + p->keyId + "\n";
                    text.append(p->digest.begin(), p->digest.end());
                    auto& g = groups[keyOf(text)];
                    g.kind = DuplicateGroup::Kind::SamePseudonym;
                    g.question = a.name;
                    g.records.push_back(id);
                } else if (names != identifying.end() && names->second.count(a.name)) {
                    identity += a.name + "=" + canonical(a.value) + "\n";
                }
            }
            if (!identity.empty()) {
                auto& g = groups[keyOf("form\n" + formId + "\n" + identity)];
                g.kind = DuplicateGroup::Kind::SameIdentifyingAnswers;
                g.question = formId;
                g.records.push_back(id);
            }
        }
        st.value().reset();
        (void)db->exec("COMMIT");
        std::lock_guard lock(m_mutex);
        auto decided = m_db.prepare(
            "SELECT decision, comment, utc_ms, actor FROM duplicate_decisions WHERE group_key = ?");
        if (!decided) return decided.error();
        std::vector<DuplicateGroup> out;
        for (auto& [key, group] : groups) {
            if (group.records.size() < 2) continue;
            const std::span<const std::uint8_t> raw(
                reinterpret_cast<const std::uint8_t*>(key.data()), key.size());
            group.key = toHex(raw);
            decided->bindBlob(1, raw);
            auto row = decided->step();
            if (!row) return row.error();
            if (row.value()) {
                group.decision = static_cast<DuplicateDecision>(decided->columnInt(0));
                group.comment = std::string(decided->columnText(1));
                group.decidedUtcMs = decided->columnInt(2);
                group.decidedBy = std::string(decided->columnText(3));
            }
            decided->reset();
            out.push_back(std::move(group));
        }
        return out;
    }

    Status decideDuplicate(const std::string& groupKey, DuplicateDecision decision,
                           const std::string& comment, std::int64_t nowMs,
                           const std::string& actor) override {
        std::vector<std::uint8_t> key;
        if (groupKey.size() != 64) return makeError(ErrorCode::InvalidArgument, "not a group key");
        for (std::size_t i = 0; i < groupKey.size(); i += 2) {
            const auto nibble = [](char c) -> int {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                return -1;
            };
            const int hi = nibble(groupKey[i]);
            const int lo = nibble(groupKey[i + 1]);
            if (hi < 0 || lo < 0) return makeError(ErrorCode::InvalidArgument, "not a group key");
            key.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
        }
        if (comment.size() > kMaxReviewCommentBytes)
            return makeError(ErrorCode::InvalidArgument, "the comment is too long");
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "INSERT INTO duplicate_decisions (group_key, decision, comment, utc_ms, actor) VALUES "
            "(?1, ?2, ?3, ?4, ?5) ON CONFLICT (group_key) DO UPDATE SET decision = ?2, comment = "
            "?3, utc_ms = ?4, actor = ?5");
        if (!st) return st.error();
        st->bindBlob(1, key)
            .bind(2, static_cast<std::int64_t>(decision))
            .bind(3, comment)
            .bind(4, nowMs)
            .bind(5, actor);
        if (auto s = st->run(); !s) return s;
        if (auto s = auditLocked(
                nowMs, actor, "duplicates", groupKey,
                decision == DuplicateDecision::SamePerson ? "same person" : "different people");
            !s)
            return s;
        return tx->commit();
    }

    Result<std::vector<AuditEntry>> audit() override {
        std::lock_guard lock(m_mutex);
        auto st =
            m_db.prepare("SELECT utc_ms, actor, action, subject, detail FROM audit ORDER BY aid");
        if (!st) return st.error();
        std::vector<AuditEntry> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            out.push_back({st->columnInt(0), std::string(st->columnText(1)),
                           std::string(st->columnText(2)), std::string(st->columnText(3)),
                           std::string(st->columnText(4))});
        }
        return out;
    }

    Result<std::string> collectorId() override {
        std::lock_guard lock(m_mutex);
        return metaText("collector_id");
    }

    Status setReview(const Uuid& recordId, ReviewState state, const std::string& comment,
                     std::int64_t nowMs, const std::string& actor) override {
        if (comment.size() > kMaxReviewCommentBytes) {
            return makeError(ErrorCode::InvalidArgument,
                             "a review comment is limited to " +
                                 std::to_string(kMaxReviewCommentBytes) + " bytes");
        }
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto known = m_db.prepare("SELECT 1 FROM records WHERE record_id = ?");
        if (!known) return known.error();
        known->bindBlob(1, idBytes(recordId));
        auto row = known->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "no record with that id");
        known.value().reset();
        const auto code = static_cast<std::int64_t>(state);
        auto up = m_db.prepare(
            "INSERT INTO reviews (record_id, state, changed_utc_ms, changed_by) VALUES (?1, ?2, "
            "?3, ?4) ON CONFLICT (record_id) DO UPDATE SET state = ?2, changed_utc_ms = ?3, "
            "changed_by = ?4");
        if (!up) return up.error();
        up->bindBlob(1, idBytes(recordId)).bind(2, code).bind(3, nowMs).bind(4, actor);
        if (auto s = up->run(); !s) return s;
        auto history = m_db.prepare(
            "INSERT INTO review_history (record_id, state, comment, utc_ms, actor) "
            "VALUES (?, ?, ?, ?, ?)");
        if (!history) return history.error();
        history->bindBlob(1, idBytes(recordId))
            .bind(2, code)
            .bind(3, comment)
            .bind(4, nowMs)
            .bind(5, actor);
        if (auto s = history->run(); !s) return s;
        // The audit log names the record and the new state; the comment stays in the history.
        if (auto s = auditLocked(nowMs, actor, "review", recordId.toString(),
                                 std::string(reviewStateName(state)));
            !s)
            return s;
        return tx->commit();
    }

    Result<RecordReview> review(const Uuid& recordId) override {
        std::lock_guard lock(m_mutex);
        auto known = m_db.prepare(
            "SELECT r.state FROM records x LEFT JOIN reviews r ON r.record_id = x.record_id "
            "WHERE x.record_id = ?");
        if (!known) return known.error();
        known->bindBlob(1, idBytes(recordId));
        auto row = known->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "no record with that id");
        RecordReview out;
        if (!known->columnIsNull(0)) out.state = static_cast<ReviewState>(known->columnInt(0));
        known.value().reset();
        auto st = m_db.prepare(
            "SELECT state, comment, utc_ms, actor FROM review_history WHERE record_id = ? "
            "ORDER BY hid");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(recordId));
        for (;;) {
            auto next = st->step();
            if (!next) return next.error();
            if (!next.value()) break;
            out.history.push_back({static_cast<ReviewState>(st->columnInt(0)),
                                   std::string(st->columnText(1)), st->columnInt(2),
                                   std::string(st->columnText(3))});
        }
        return out;
    }

    Result<std::vector<Uuid>> recordsInReview(ReviewState state) override {
        std::lock_guard lock(m_mutex);
        auto st =
            state == ReviewState::Received
                ? m_db.prepare(
                      "SELECT x.record_id FROM records x LEFT JOIN reviews r ON r.record_id "
                      "= x.record_id WHERE r.state IS NULL OR r.state = 0 ORDER BY "
                      "x.record_id")
                : m_db.prepare("SELECT record_id FROM reviews WHERE state = ? ORDER BY record_id");
        if (!st) return st.error();
        if (state != ReviewState::Received) st->bind(1, static_cast<std::int64_t>(state));
        std::vector<Uuid> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            out.push_back(idFrom(st->columnBlob(0)));
        }
        return out;
    }

    Result<ReviewQueue> reviewQueue(ReviewState state, int limit) override {
        assert(limit > 0);
        std::lock_guard lock(m_mutex);
        ReviewQueue out;
        out.state = state;
        // Received records have no row in `reviews` (or state 0): the records are walked in id
        // order, skipping reviewed ones, until `limit` are found. Any other state is read from
        // the (state, record_id) index, already in order. CROSS JOIN keeps that loop outermost.
        const bool received = state == ReviewState::Received;
        auto st = received
                      ? m_db.prepare(
                            "SELECT x.record_id, x.form_id, v.device_id, x.hlc FROM records x "
                            "JOIN revisions v ON v.rid = x.current_rid WHERE NOT EXISTS (SELECT 1 "
                            "FROM reviews r WHERE r.record_id = x.record_id AND r.state != 0) "
                            "ORDER BY x.record_id LIMIT ?1")
                      : m_db.prepare(
                            "SELECT x.record_id, x.form_id, v.device_id, x.hlc FROM reviews r "
                            "CROSS JOIN records x ON x.record_id = r.record_id CROSS JOIN "
                            "revisions v ON v.rid = x.current_rid WHERE r.state = ?2 "
                            "ORDER BY r.record_id LIMIT ?1");
        if (!st) return st.error();
        st->bind(1, static_cast<std::int64_t>(limit));
        if (!received) st->bind(2, static_cast<std::int64_t>(state));
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            out.records.push_back({idFrom(st->columnBlob(0)), std::string(st->columnText(1)),
                                   idFrom(st->columnBlob(2)),
                                   HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(3))}});
        }
        // Counting the received ones directly would visit every record: all records less the
        // reviewed ones counts only the index entries of the other states.
        auto total = received ? m_db.queryInt(
                                    "SELECT (SELECT count(*) FROM records) - (SELECT count(*) "
                                    "FROM reviews WHERE state > 0)")
                              : m_db.queryInt("SELECT count(*) FROM reviews WHERE state = " +
                                              std::to_string(static_cast<int>(state)));
        if (!total) return total.error();
        out.total = total.value();
        return out;
    }

    Status appendAudit(const AuditEntry& entry) override {
        std::lock_guard lock(m_mutex);
        return auditLocked(entry.utcMs, entry.actor, entry.action, entry.subject, entry.detail);
    }

    Result<std::vector<PublishedFormInfo>> publishedForms() override {
        std::lock_guard lock(m_mutex);
        auto st =
            m_db.prepare("SELECT form_id, version, pilot, binary FROM forms ORDER BY pub_seq");
        if (!st) return st.error();
        std::vector<PublishedFormInfo> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            PublishedFormInfo f;
            f.formId = std::string(st->columnText(0));
            f.version = static_cast<std::uint32_t>(st->columnInt(1));
            f.pilot = std::string(st->columnText(2));
            const auto bin = st->columnBlob(3);
            f.binary.assign(bin.begin(), bin.end());
            out.push_back(std::move(f));
        }
        return out;
    }

    Result<std::int64_t> countRecords(const RecordQuery& query) override {
        auto db = sql::Database::open(m_path, sql::OpenMode::ReadOnly);
        if (!db) return db.error();
        auto st = db->prepare("SELECT count(*) " + recordQueryTail(query));
        if (!st) return st.error();
        bindRecordQuery(st.value(), query);
        auto row = st->step();
        if (!row) return row.error();
        return st->columnInt(0);
    }

    Status forEachRecord(const RecordQuery& query, int passes,
                         const std::function<Status(int pass)>& startPass,
                         const std::function<Status(const CurrentRecord&)>& visit) override {
        auto db = sql::Database::open(m_path, sql::OpenMode::ReadOnly);
        if (!db) return db.error();
        // One read transaction: the export sees one moment of the collector, whatever arrives.
        if (auto s = db->exec("BEGIN"); !s) return s;
        auto st = db->prepare(
            "SELECT r.record_id, v.device_id, v.form_version, v.hlc, v.body, v.damaged, "
            "v.clock_flagged, coalesce(w.state, 0) " +
            recordQueryTail(query) + " ORDER BY r.record_id");
        if (!st) return st.error();
        CurrentRecord rec;
        for (int pass = 0; pass < passes; ++pass) {
            if (startPass) {
                if (auto s = startPass(pass); !s) return s;
            }
            bindRecordQuery(st.value(), query);
            if (auto s = visitRows(st.value(), rec, visit); !s) return s;
            st->reset();
        }
        return db->exec("COMMIT");
    }

    static Status visitRows(sql::Statement& st, CurrentRecord& rec,
                            const std::function<Status(const CurrentRecord&)>& visit) {
        for (;;) {
            auto row = st.step();
            if (!row) return row.error();
            if (!row.value()) return {};
            rec.recordId = idFrom(st.columnBlob(0));
            rec.deviceId = idFrom(st.columnBlob(1));
            rec.formVersion = static_cast<std::uint32_t>(st.columnInt(2));
            rec.hlc = HlcTimestamp{static_cast<std::uint64_t>(st.columnInt(3))};
            const auto body = st.columnBlob(4);
            rec.body.assign(body.begin(), body.end());
            rec.damaged = st.columnInt(5) != 0;
            rec.clockFlagged = st.columnInt(6) != 0;
            rec.review = static_cast<ReviewState>(st.columnInt(7));
            if (auto s = visit(rec); !s) {
                st.reset();
                return s;
            }
        }
    }

  private:
    static void collectIdentifying(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items,
                                   std::set<std::string>& names) {
        if (!items) return;
        for (const auto* item : *items) {
            // Only the record's own level: answers inside repeats describe others (children).
            if (item->kind() == fb::ItemKind::Group) collectIdentifying(item->children(), names);
            if (item->kind() == fb::ItemKind::Question && item->identifying())
                names.insert(item->name()->str());
        }
    }

    // An answer as text for comparing: equal answers give equal text.
    static std::string canonical(const AnswerValue& v) {
        return std::visit(
            [](const auto& x) -> std::string {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    std::string folded;
                    for (char c : x)
                        folded += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
                    return "t:" + folded;
                } else if constexpr (std::is_same_v<T, std::int64_t>) {
                    return "i:" + std::to_string(x);
                } else if constexpr (std::is_same_v<T, DecimalAnswer>) {
                    return "d:" + x.text;
                } else if constexpr (std::is_same_v<T, bool>) {
                    return x ? "b:1" : "b:0";
                } else if constexpr (std::is_same_v<T, ChoiceAnswer>) {
                    return "c:" + x.choice;
                } else if constexpr (std::is_same_v<T, ChoicesAnswer>) {
                    std::string out = "m:";
                    for (const auto& c : x.choices)
                        out += c + ",";
                    return out;
                } else if constexpr (std::is_same_v<T, DateAnswer>) {
                    return "D:" + std::to_string(x.days);
                } else if constexpr (std::is_same_v<T, TimeAnswer>) {
                    return "T:" + std::to_string(x.ms);
                } else if constexpr (std::is_same_v<T, DateTimeAnswer>) {
                    return "Z:" + std::to_string(x.utcMs);
                } else {
                    return "?";
                }
            },
            v);
    }

    // Merge: A's content with the answers and repeats named in `fromB` as B has them (an answer
    // B does not have is removed).
    static Status mergeFromB(RecordContent& content, const RecordContent& b,
                             const std::vector<std::string>& fromB) {
        for (const auto& name : fromB) {
            const auto sameAnswer = [&](const Answer& x) { return x.name == name; };
            const auto sameRepeat = [&](const Repeat& x) { return x.name == name; };
            const auto inA =
                std::find_if(content.answers.begin(), content.answers.end(), sameAnswer);
            const auto inB = std::find_if(b.answers.begin(), b.answers.end(), sameAnswer);
            const auto repA =
                std::find_if(content.repeats.begin(), content.repeats.end(), sameRepeat);
            const auto repB = std::find_if(b.repeats.begin(), b.repeats.end(), sameRepeat);
            if (inA == content.answers.end() && inB == b.answers.end() &&
                repA == content.repeats.end() && repB == b.repeats.end()) {
                return makeError(ErrorCode::InvalidArgument,
                                 "neither revision has an answer named '" + name + "'");
            }
            if (inA != content.answers.end()) content.answers.erase(inA);
            if (inB != b.answers.end()) content.answers.push_back(*inB);
            if (repA != content.repeats.end()) content.repeats.erase(repA);
            if (repB != b.repeats.end()) content.repeats.push_back(*repB);
        }
        return {};
    }

    // The collector's own device, under which staff's resolutions are stored: made on first use,
    // never able to authenticate (its credential hash matches no credential) and revoked from
    // the start. Returns its id and the last sequence number it used.
    Result<std::pair<Uuid, std::uint64_t>> staffDevice(std::int64_t nowMs) {
        auto known = metaText("staff_device");
        if (!known) return known.error();
        if (!known->empty()) {
            const auto id = Uuid::parse(known.value());
            if (!id) return makeError(ErrorCode::Corrupt, "the collector's staff device id is bad");
            auto st = m_db.prepare("SELECT received_through FROM devices WHERE device_id = ?");
            if (!st) return st.error();
            st->bindBlob(1, idBytes(*id));
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) return makeError(ErrorCode::Corrupt, "the staff device is missing");
            return std::make_pair(*id, static_cast<std::uint64_t>(st->columnInt(0)));
        }
        const Uuid id = makeUuidV4();
        std::array<std::uint8_t, 32> unusable{};
        randombytes_buf(unusable.data(), unusable.size());
        auto add = m_db.prepare(
            "INSERT INTO devices (device_id, label, credential_hash, enrolled_utc_ms, "
            "revoked_utc_ms) VALUES (?, 'central staff', ?, ?, ?)");
        if (!add) return add.error();
        add->bindBlob(1, idBytes(id)).bindBlob(2, unusable).bind(3, nowMs).bind(4, nowMs);
        if (auto s = add->run(); !s) return s.error();
        auto meta = m_db.prepare("INSERT INTO meta (key, value) VALUES ('staff_device', ?)");
        if (!meta) return meta.error();
        meta->bind(1, id.toString());
        if (auto s = meta->run(); !s) return s.error();
        return std::make_pair(id, std::uint64_t{0});
    }

    static std::string recordQueryTail(const RecordQuery& q) {
        std::string sql =
            "FROM records r JOIN revisions v ON v.rid = r.current_rid "
            "LEFT JOIN reviews w ON w.record_id = r.record_id WHERE r.form_id = ?1";
        if (q.formVersion) sql += " AND v.form_version = ?2";
        if (q.fromUtcMs) sql += " AND r.hlc >= ?3";
        if (q.untilUtcMs) sql += " AND r.hlc < ?4";
        if (q.review) sql += " AND coalesce(w.state, 0) = ?5";
        return sql;
    }

    static void bindRecordQuery(sql::Statement& st, const RecordQuery& q) {
        const auto hlcOf = [](std::int64_t ms) {
            return static_cast<std::int64_t>(
                HlcTimestamp::make(static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)), 0)
                    .value);
        };
        st.bind(1, q.formId);
        if (q.formVersion) st.bind(2, static_cast<std::int64_t>(*q.formVersion));
        if (q.fromUtcMs) st.bind(3, hlcOf(*q.fromUtcMs));
        if (q.untilUtcMs) st.bind(4, hlcOf(*q.untilUtcMs));
        if (q.review) st.bind(5, static_cast<std::int64_t>(*q.review));
    }

    static constexpr int kCheckpointPages = 2000;  // about 8 MiB of WAL

    static int walGrew(void* self, sqlite3*, const char*, int pages) {
        if (pages >= kCheckpointPages) {
            auto* me = static_cast<SqliteCollector*>(self);
            {
                std::lock_guard lock(me->m_checkpointMutex);
                me->m_checkpointDue = true;
            }
            me->m_checkpointWanted.notify_one();
        }
        return SQLITE_OK;
    }

    void checkpointLoop() {
        std::unique_lock lock(m_checkpointMutex);
        for (;;) {
            m_checkpointWanted.wait(lock, [this] { return m_checkpointDue || m_closing; });
            if (m_closing) return;
            m_checkpointDue = false;
            lock.unlock();
            // PASSIVE: copies what no reader still needs, never blocks the writer. What it
            // cannot copy now is copied by a later round (or when the collector closes).
            (void)sqlite3_wal_checkpoint_v2(m_checkpointer.handle(), nullptr,
                                            SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            lock.lock();
        }
    }

    struct QueuedPush {
        const Uuid* deviceId;
        const PushBatch* batch;
        std::int64_t nowMs;
        std::optional<Result<PushReply>> result;
        bool done;
    };

    void storeGroup(const std::vector<QueuedPush*>& group) {
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) {
            for (QueuedPush* p : group)
                p->result = tx.error();
            return;
        }
        for (QueuedPush* p : group) {
            auto savepoint = sql::Transaction::begin(m_db);
            if (!savepoint) {
                p->result = savepoint.error();
                continue;
            }
            auto stored = pushLocked(*p->deviceId, *p->batch, p->nowMs);
            if (stored) {
                if (auto s = savepoint->commit(); !s) stored = s.error();
            }
            p->result = std::move(stored);  // a refused push's savepoint rolls back here
        }
        if (auto s = tx->commit(); !s) {
            for (QueuedPush* p : group) {
                if (*p->result) p->result = s.error();
            }
        }
    }

    Result<PushReply> pushLocked(const Uuid& deviceId, const PushBatch& batch, std::int64_t nowMs) {
        std::uint64_t through = 0;
        {
            sql::Statement& dev = m_deviceState;
            Resetting done{dev};
            dev.bindBlob(1, idBytes(deviceId));
            auto row = dev.step();
            if (!row) return row.error();
            if (!row.value()) return makeError(ErrorCode::NotFound, "unknown device");
            if (!dev.columnIsNull(1)) return makeError(ErrorCode::WrongState, "device revoked");
            through = static_cast<std::uint64_t>(dev.columnInt(0));
        }

        PushReply reply;
        reply.results.reserve(batch.revisions.size());
        for (const PushRevision& rev : batch.revisions) {
            if (rev.seq <= through) {
                // A resend carries the revision already held under that number. Another one
                // means the device's numbering went back (its store restored from a backup):
                // answered "duplicate", it would leave the device's outbox unsent.
                auto same = holdsSame(deviceId, rev);
                if (!same) return same.error();
                if (!same.value()) {
                    return makeError(ErrorCode::WrongState,
                                     "revision " + std::to_string(rev.seq) +
                                         " from this device is held already with another record: "
                                         "the device's store has gone back (restored from a "
                                         "backup?); nothing is stored, staff must look");
                }
                reply.results.push_back({rev.seq, RevisionOutcome::Duplicate, {}});
                continue;
            }
            if (rev.seq != through + 1) {
                // The device believes the collector holds revisions it does not (a collector
                // restored from an old backup): nothing is stored; staff must look.
                return makeError(ErrorCode::WrongState,
                                 "expected revision " + std::to_string(through + 1) +
                                     " from this device next, got " + std::to_string(rev.seq));
            }
            if (!rev.unreadable.empty()) {
                sql::Statement& st = m_insertRejected;
                st.bindBlob(1, idBytes(deviceId))
                    .bind(2, static_cast<std::int64_t>(rev.seq))
                    .bindBlob(3, idBytes(rev.recordId))
                    .bind(4, rev.unreadable)
                    .bindBlobStatic(5, rev.body)
                    .bind(6, nowMs);
                if (auto s = st.run(); !s) return s.error();
                reply.results.push_back({rev.seq, RevisionOutcome::Rejected, rev.unreadable});
                through = rev.seq;
                continue;
            }
            if (auto s = storeRevision(deviceId, rev, nowMs); !s) return s.error();
            reply.results.push_back({rev.seq, RevisionOutcome::Stored, {}});
            through = rev.seq;
        }
        sql::Statement& up = m_advanceDevice;
        up.bind(1, static_cast<std::int64_t>(through)).bind(2, nowMs);
        if (batch.waitingAfter) {
            up.bind(3, *batch.waitingAfter);
        } else {
            up.bindNull(3);
        }
        up.bindBlob(4, idBytes(deviceId));
        if (auto s = up.run(); !s) return s.error();
        reply.receivedThrough = through;
        return reply;
    }

    Result<std::string> projectKey() override {
        std::lock_guard lock(m_mutex);
        return metaText("project_key");
    }

    Status setProjectKey(const std::string& key, std::int64_t nowMs,
                         const std::string& actor) override {
        auto parsed = projectkey::parsePublicKey(key);
        if (!parsed) return parsed.error();
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "INSERT INTO meta (key, value) VALUES ('project_key', ?) ON CONFLICT (key) DO UPDATE "
            "SET value = excluded.value");
        if (!st) return st.error();
        st->bind(1, key);
        if (auto s = st->run(); !s) return s;
        if (auto s = auditLocked(nowMs, actor, "project-key", parsed->id, key); !s) return s;
        return tx->commit();
    }

    Result<std::string> metaText(const char* key) {
        auto st = m_db.prepare("SELECT value FROM meta WHERE key = ?");
        if (!st) return st.error();
        st->bind(1, std::string_view(key));
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return std::string();
        return std::string(st->columnText(0));
    }

    Status auditLocked(std::int64_t nowMs, std::string_view actor, std::string_view action,
                       std::string_view subject, std::string_view detail) {
        auto st = m_db.prepare(
            "INSERT INTO audit (utc_ms, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)");
        if (!st) return st.error();
        st->bind(1, nowMs).bind(2, actor).bind(3, action).bind(4, subject).bind(5, detail);
        return st->run();
    }

    Result<std::vector<StoredRevision>> readRevisions(sql::Statement& st) {
        std::vector<StoredRevision> out;
        for (;;) {
            auto row = st.step();
            if (!row) return row.error();
            if (!row.value()) break;
            StoredRevision r;
            r.deviceId = idFrom(st.columnBlob(0));
            r.seq = static_cast<std::uint64_t>(st.columnInt(1));
            r.recordId = idFrom(st.columnBlob(2));
            r.hlc = HlcTimestamp{static_cast<std::uint64_t>(st.columnInt(3))};
            r.formId = std::string(st.columnText(4));
            const auto body = st.columnBlob(5);
            r.body.assign(body.begin(), body.end());
            r.damaged = st.columnInt(6) != 0;
            r.clockFlagged = st.columnInt(7) != 0;
            out.push_back(std::move(r));
        }
        return out;
    }

    // Whether the revision held under (device, seq) is this one (same record and HLC; for a
    // revision set aside as unreadable, the same record). True when nothing is held to compare.
    Result<bool> holdsSame(const Uuid& deviceId, const PushRevision& rev) {
        {
            sql::Statement& held = m_heldRevision;
            Resetting done{held};
            held.bindBlob(1, idBytes(deviceId)).bind(2, static_cast<std::int64_t>(rev.seq));
            auto row = held.step();
            if (!row) return row.error();
            if (row.value()) {
                return idFrom(held.columnBlob(0)) == rev.recordId &&
                       static_cast<std::uint64_t>(held.columnInt(1)) == rev.hlc.value;
            }
        }
        sql::Statement& aside = m_heldRejected;
        Resetting done{aside};
        aside.bindBlob(1, idBytes(deviceId)).bind(2, static_cast<std::int64_t>(rev.seq));
        auto rejected = aside.step();
        if (!rejected) return rejected.error();
        if (rejected.value()) return idFrom(aside.columnBlob(0)) == rev.recordId;
        return true;
    }

    Status storeRevision(const Uuid& deviceId, const PushRevision& rev, std::int64_t nowMs) {
        const auto millis = static_cast<std::int64_t>(rev.hlc.millis());
        // A clock a year off, either way, is accepted and flagged for staff, never dropped.
        const bool flagged = millis > nowMs + m_policy.futureToleranceMs ||
                             millis < nowMs - m_policy.pastToleranceMs;
        sql::Statement& ins = m_insertRevision;
        ins.bindBlob(1, idBytes(deviceId))
            .bind(2, static_cast<std::int64_t>(rev.seq))
            .bindBlob(3, idBytes(rev.recordId))
            .bind(4, static_cast<std::int64_t>(rev.hlc.value))
            .bind(5, static_cast<std::int64_t>(rev.baseHlc))
            .bind(6, rev.formId)
            .bind(7, static_cast<std::int64_t>(rev.formVersion));
        if (rev.damaged) {
            ins.bindNull(8);
        } else {
            ins.bindBlobStatic(8, rev.body);
        }
        ins.bind(9, rev.damaged ? 1 : 0)
            .bind(10, rev.damageReason)
            .bind(11, flagged ? 1 : 0)
            .bind(12, nowMs);
        if (auto s = ins.run(); !s) return s;
        const std::int64_t rid = sqlite3LastRowid();

        std::int64_t currentRid = 0;
        std::uint64_t currentHlc = 0;
        bool sameDevice = false;
        {
            sql::Statement& cur = m_currentRecord;
            Resetting done{cur};
            cur.bindBlob(1, idBytes(rev.recordId));
            auto row = cur.step();
            if (!row) return row.error();
            if (!row.value()) {
                sql::Statement& add = m_insertRecord;
                add.bindBlob(1, idBytes(rev.recordId))
                    .bind(2, rid)
                    .bind(3, static_cast<std::int64_t>(rev.hlc.value))
                    .bindBlob(4, idBytes(deviceId))
                    .bind(5, rev.formId);
                return add.run();
            }
            currentRid = cur.columnInt(0);
            currentHlc = static_cast<std::uint64_t>(cur.columnInt(1));
            sameDevice = idFrom(cur.columnBlob(2)) == deviceId;
        }
        // Made without seeing the current revision, on another device: both are kept, and the
        // pair waits for staff. (A revision based on the current one simply follows it.)
        if (!sameDevice && rev.baseHlc != currentHlc) {
            sql::Statement& c = m_insertConflict;
            c.bindBlob(1, idBytes(rev.recordId)).bind(2, currentRid).bind(3, rid).bind(4, nowMs);
            if (auto s = c.run(); !s) return s;
        }
        if (rev.hlc.value > currentHlc) {
            sql::Statement& up = m_updateRecord;
            up.bind(1, rid)
                .bind(2, static_cast<std::int64_t>(rev.hlc.value))
                .bindBlob(3, idBytes(rev.recordId));
            return up.run();
        }
        return Status::success();
    }

    std::int64_t sqlite3LastRowid() { return sqlite3_last_insert_rowid(m_db.handle()); }

    std::string m_path;
    std::mutex m_mutex;  // the writing connection and its statements
    sql::Database m_db;
    std::mutex m_readMutex;  // the reading connection
    sql::Database m_reader;
    sql::Database m_checkpointer;  // used by the checkpoint thread only
    CollectorPolicy m_policy;

    std::mutex m_checkpointMutex;
    std::condition_variable m_checkpointWanted;
    bool m_checkpointDue = false;
    bool m_closing = false;
    std::thread m_checkpointThread;

    std::mutex m_queueMutex;  // pushes waiting for a commit
    std::condition_variable m_queueChanged;
    std::vector<QueuedPush*> m_queue;
    bool m_leading = false;

    sql::Statement m_deviceState, m_heldRevision, m_heldRejected, m_insertRejected,
        m_insertRevision, m_currentRecord, m_insertRecord, m_insertConflict, m_updateRecord,
        m_advanceDevice, m_credential;
};

}  // namespace

Result<std::unique_ptr<CollectorStore>> openSqliteCollector(const std::string& path, bool create,
                                                            CollectorPolicy policy) {
    if (!sodiumReady()) return makeError(ErrorCode::Internal, "libsodium did not initialise");
    auto db = sql::Database::open(
        path, create ? sql::OpenMode::ReadWriteCreate : sql::OpenMode::ReadWrite);
    if (!db) return db.error();
    // A larger page cache than SQLite's 2 MiB default: the revisions' and records' indexes are
    // touched at random places by every push.
    for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON",
                               "PRAGMA synchronous = FULL", "PRAGMA cache_size = -65536"}) {
        if (auto s = db->exec(pragma); !s) return s.error();
    }
    auto version = db->queryInt("PRAGMA user_version");
    if (!version) return version.error();
    if (version.value() == 0) {
        auto app = db->queryInt("PRAGMA application_id");
        if (!app) return app.error();
        auto tables = db->queryInt("SELECT count(*) FROM sqlite_schema");
        if (!tables) return tables.error();
        if (tables.value() != 0) {
            return makeError(ErrorCode::NotAStore, path + " is not a Veld collector store");
        }
        auto tx = sql::Transaction::begin(db.value());
        if (!tx) return tx.error();
        if (auto s = db->exec(kSchema); !s) return s.error();
        if (auto s = db->exec(kSchemaV2); !s) return s.error();
        if (auto s = db->exec(kSchemaV3); !s) return s.error();
        if (auto s = db->exec(kSchemaV4); !s) return s.error();
        auto meta = db->prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
        if (!meta) return meta.error();
        const std::string id = "veld-collector-" + makeUuidV4().toString().substr(0, 8);
        meta->bind(1, std::string_view("collector_id")).bind(2, id);
        if (auto s = meta->run(); !s) return s.error();
        meta->reset();
        meta->bind(1, std::string_view("pseudonym_key"))
            .bind(2, pseudonym::formatKey(pseudonym::newKey("p1")));
        if (auto s = meta->run(); !s) return s.error();
        if (auto s = db->exec("PRAGMA application_id = " + std::to_string(kApplicationId) +
                              "; PRAGMA user_version = " + std::to_string(kSchemaVersion));
            !s)
            return s.error();
        if (auto s = tx->commit(); !s) return s.error();
    } else if (version.value() > kSchemaVersion) {
        return makeError(ErrorCode::TooNew, path + " was written by a newer Veld collector");
    } else {
        auto app = db->queryInt("PRAGMA application_id");
        if (!app) return app.error();
        if (app.value() != kApplicationId) {
            return makeError(ErrorCode::NotAStore, path + " is not a Veld collector store");
        }
        if (version.value() < kSchemaVersion) {
            // One transaction: a collector stopped half-way keeps its old version and is
            // upgraded again at its next start.
            auto tx = sql::Transaction::begin(db.value());
            if (!tx) return tx.error();
            if (version.value() < 2) {
                if (auto s = db->exec(kSchemaV2); !s) return s.error();
            }
            if (version.value() < 3) {
                if (auto s = db->exec(kSchemaV3); !s) return s.error();
            }
            if (version.value() < 4) {
                if (auto s = db->exec(kSchemaV4); !s) return s.error();
            }
            if (auto s = db->exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)); !s)
                return s.error();
            if (auto s = tx->commit(); !s) return s.error();
        }
    }
    auto reader = sql::Database::open(path, sql::OpenMode::ReadOnly);
    if (!reader) return reader.error();
    auto checkpointer = sql::Database::open(path, sql::OpenMode::ReadWrite);
    if (!checkpointer) return checkpointer.error();
    if (auto s = checkpointer->exec("PRAGMA synchronous = FULL"); !s) return s.error();
    auto store =
        std::make_unique<SqliteCollector>(path, std::move(db.value()), std::move(reader.value()),
                                          std::move(checkpointer.value()), policy);
    if (auto s = store->prepare(); !s) return s.error();
    return std::unique_ptr<CollectorStore>(std::move(store));
}

}  // namespace veld::sync
