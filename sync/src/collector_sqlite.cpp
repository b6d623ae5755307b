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
#include <tuple>

#include <sodium.h>
#include <sqlite3.h>

#include <veld/allocation.hpp>
#include <veld/form.hpp>
#include <veld/hex.hpp>
#include <veld/private_files.hpp>
#include <veld/project_key.hpp>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "enrolment.hpp"
#include "store_rules.hpp"

namespace veld::sync {

namespace {

constexpr int kSchemaVersion = kCollectorSchemaVersion;
constexpr std::int32_t kApplicationId = kCollectorApplicationId;  // "VELC"

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

std::span<const std::uint8_t> idBytes(const Uuid& id) {
    return {id.bytes.data(), id.bytes.size()};
}

Uuid idFrom(std::span<const std::uint8_t> blob) {
    Uuid id;
    if (blob.size() == 16) std::copy(blob.begin(), blob.end(), id.bytes.begin());
    return id;
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

// Version 5: cases and randomisation.
// cases: every case the collector has heard of; change_seq is a number from the meta counter
// case_seq, given anew at every change, by which devices page through the cases they hold.
// case_holders: which devices hold which cases (they opened, changed or were sent them), so a
// device is told when a case leaves it; released_seq is the change that told it, and the row
// goes once the device's case cursor shows it received that (an answer may be lost).
// case_properties keep a cleared value (empty) with its HLC. case_conflicts keep both values of a
// property set without either side seeing the other. studies: the definition as canonical JSON
// (without the seed) and the secret seed. study_blocks: which device each dealt block of a stratum
// went to; assign_seq pages pull. allocations: every allocation received, as it came: nothing here
// is unique, because a reused slot or a case allocated twice must be stored (and reported by
// verification), never refused.
constexpr const char* kSchemaV5 = R"sql(
ALTER TABLE devices ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN box_key BLOB;

CREATE TABLE cases (
    case_id             BLOB PRIMARY KEY NOT NULL CHECK (length(case_id) = 16),
    case_type           TEXT NOT NULL DEFAULT '',
    pseudonym           TEXT NOT NULL DEFAULT '',
    opened_device       BLOB,
    assigned_device     BLOB,
    assigned_team       TEXT NOT NULL DEFAULT '',
    last_contact_utc_ms INTEGER,
    change_seq          INTEGER NOT NULL
) STRICT;
CREATE INDEX cases_by_seq ON cases (change_seq);

CREATE TABLE case_holders (
    case_id      BLOB NOT NULL REFERENCES cases (case_id),
    device_id    BLOB NOT NULL,
    released_seq INTEGER,
    PRIMARY KEY (case_id, device_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE case_properties (
    case_id   BLOB NOT NULL REFERENCES cases (case_id),
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    hlc       INTEGER NOT NULL,
    base_hlc  INTEGER NOT NULL DEFAULT 0,
    device_id BLOB NOT NULL,
    rid       INTEGER,
    PRIMARY KEY (case_id, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE case_conflicts (
    cid             INTEGER PRIMARY KEY,
    case_id         BLOB NOT NULL REFERENCES cases (case_id),
    name            TEXT NOT NULL,
    value_a         TEXT NOT NULL,
    hlc_a           INTEGER NOT NULL,
    device_a        BLOB NOT NULL,
    value_b         TEXT NOT NULL,
    hlc_b           INTEGER NOT NULL,
    device_b        BLOB NOT NULL,
    detected_utc_ms INTEGER NOT NULL,
    resolved_utc_ms INTEGER,
    resolution      TEXT,
    resolved_by     TEXT
) STRICT;

CREATE TABLE studies (
    id             TEXT PRIMARY KEY NOT NULL,
    pilot          TEXT NOT NULL DEFAULT '',
    definition     TEXT NOT NULL,
    seed           BLOB NOT NULL CHECK (length(seed) = 32),
    created_utc_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE study_blocks (
    study           TEXT NOT NULL REFERENCES studies (id),
    stratum         TEXT NOT NULL,
    block           INTEGER NOT NULL,
    device_id       BLOB NOT NULL REFERENCES devices (device_id),
    assign_seq      INTEGER NOT NULL UNIQUE,
    assigned_utc_ms INTEGER NOT NULL,
    PRIMARY KEY (study, stratum, block)
) STRICT;
CREATE INDEX study_blocks_by_device ON study_blocks (device_id, assign_seq);

CREATE TABLE allocations (
    aid             INTEGER PRIMARY KEY,
    study           TEXT NOT NULL,
    stratum         TEXT NOT NULL,
    block           INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    arm             TEXT NOT NULL,
    token           BLOB,
    device_id       BLOB NOT NULL,
    log_seq         INTEGER NOT NULL,
    case_id         BLOB,
    record_id       BLOB NOT NULL,
    rid             INTEGER,
    taken_utc_ms    INTEGER,
    received_utc_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX allocations_by_study ON allocations (study, stratum, block, position);
CREATE INDEX allocations_by_device ON allocations (device_id, log_seq);
CREATE INDEX allocations_by_record ON allocations (record_id);
)sql";

// Version 6: a code staff make for one known device (veldctl collector reenrol-code), the only
// way besides the device's own credential to enrol a known device id again.
constexpr const char* kSchemaV6 = R"sql(
ALTER TABLE enrol_codes ADD COLUMN for_device BLOB;
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
                                        const std::string& actor,
                                        std::int64_t validForMs = 0) override {
        if (validForMs < 0 || validForMs > m_policy.enrolCodeTtlMs) {
            return makeError(ErrorCode::InvalidArgument,
                             "an enrolment code is valid for at most " +
                                 std::to_string(m_policy.enrolCodeTtlMs / (24 * 3600 * 1000)) +
                                 " days");
        }
        const std::int64_t validFor = validForMs ? validForMs : m_policy.enrolCodeTtlMs;
        const std::string code = detail::newEnrolCode();
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "INSERT INTO enrol_codes (code_hash, label, created_utc_ms, expires_utc_ms) "
            "VALUES (?, ?, ?, ?)");
        if (!st) return st.error();
        const auto hash = rules::enrolCodeDigest(code);
        st->bindBlob(1, hash).bind(2, label).bind(3, nowMs).bind(4, nowMs + validFor);
        if (auto s = st->run(); !s) return s.error();
        if (auto s = auditLocked(nowMs, actor, "enrol-code", label, {}); !s) return s.error();
        if (auto s = tx->commit(); !s) return s.error();
        return code;
    }

    Result<std::string> createReenrolCode(const Uuid& deviceId, std::int64_t nowMs,
                                          const std::string& actor) override {
        std::string code = detail::newEnrolCode();
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto dev = m_db.prepare("SELECT label, revoked_utc_ms FROM devices WHERE device_id = ?");
        if (!dev) return dev.error();
        dev->bindBlob(1, idBytes(deviceId));
        auto row = dev->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "no device with that id");
        if (!dev->columnIsNull(1)) {
            return makeError(ErrorCode::WrongState,
                             "this device has been revoked; a revoked device stays revoked");
        }
        const std::string label(dev->columnText(0));
        dev->reset();
        auto st = m_db.prepare(
            "INSERT INTO enrol_codes (code_hash, label, created_utc_ms, expires_utc_ms, "
            "for_device) VALUES (?, ?, ?, ?, ?)");
        if (!st) return st.error();
        st->bindBlob(1, rules::enrolCodeDigest(code))
            .bind(2, label)
            .bind(3, nowMs)
            .bind(4, nowMs + m_policy.enrolCodeTtlMs)
            .bindBlob(5, idBytes(deviceId));
        if (auto s = st->run(); !s) return s.error();
        if (auto s = auditLocked(nowMs, actor, "reenrol-code", deviceId.toString(), label); !s)
            return s.error();
        if (auto s = tx->commit(); !s) return s.error();
        return code;
    }

    // The rules are detail::decideEnrolment's (enrolment.hpp); here they meet the tables.
    Result<EnrolReply> enrol(const EnrolRequest& request, std::int64_t nowMs) override {
        const auto hash = rules::enrolCodeDigest(request.code);
        // Unknown codes are refused on the reading connection: guessing never waits for, or
        // holds up, the writer that pushes use.
        {
            std::lock_guard lock(m_readMutex);
            auto known = m_reader.prepare("SELECT 1 FROM enrol_codes WHERE code_hash = ?");
            if (!known) return known.error();
            known->bindBlob(1, hash);
            auto row = known->step();
            if (!row) return row.error();
            if (!row.value()) return makeError(ErrorCode::NotFound, "unknown enrolment code");
        }
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "SELECT label, expires_utc_ms, used_utc_ms, used_by, for_device FROM enrol_codes "
            "WHERE code_hash = ?");
        if (!st) return st.error();
        st->bindBlob(1, hash);
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "unknown enrolment code");
        detail::EnrolCodeState code;
        code.label = std::string(st->columnText(0));
        code.expiresUtcMs = st->columnInt(1);
        if (!st->columnIsNull(2)) code.usedBy = idFrom(st->columnBlob(3));
        if (!st->columnIsNull(4)) code.forDevice = idFrom(st->columnBlob(4));
        st->reset();

        std::optional<detail::KnownDevice> device;
        auto dev = m_db.prepare(
            "SELECT credential_hash, public_key, revoked_utc_ms, last_contact_utc_ms, "
            "enrolled_utc_ms FROM devices WHERE device_id = ?");
        if (!dev) return dev.error();
        dev->bindBlob(1, idBytes(request.deviceId));
        auto existing = dev->step();
        if (!existing) return existing.error();
        if (existing.value()) {
            detail::KnownDevice k;
            const auto h = dev->columnBlob(0);
            k.credentialHash.assign(h.begin(), h.end());
            const auto pk = dev->columnBlob(1);
            k.publicKey.assign(pk.begin(), pk.end());
            k.revoked = !dev->columnIsNull(2);
            k.usedCredential = !dev->columnIsNull(3) && dev->columnInt(3) >= dev->columnInt(4);
            device = std::move(k);
        }
        dev->reset();

        auto key = enrolKeyLocked();
        if (!key) return key.error();
        auto secret = detail::enrolSecret(key.value(), detail::normalizeEnrolCode(request.code),
                                          request.deviceId, request.devicePublicKey);
        sodium_memzero(key->data(), key->size());
        const std::string secretHex = toHex(secret);
        sodium_memzero(secret.data(), secret.size());
        const auto credentialHash = rules::secretDigest(secretHex);
        auto action = detail::decideEnrolment(request, code, device, credentialHash, nowMs);
        if (!action) return action.error();

        if (action.value() != detail::EnrolAction::Repeat) {
            auto up = m_db.prepare(
                "INSERT INTO devices (device_id, label, credential_hash, public_key, "
                "enrolled_utc_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id) DO UPDATE "
                "SET credential_hash = ?3, public_key = ?4, label = ?2, enrolled_utc_ms = ?5");
            if (!up) return up.error();
            up->bindBlob(1, idBytes(request.deviceId))
                .bind(2, code.label)
                .bindBlob(3, credentialHash);
            if (request.devicePublicKey.empty()) {
                up->bindNull(4);
            } else {
                up->bindBlob(4, request.devicePublicKey);
            }
            up->bind(5, nowMs);
            if (auto s = up->run(); !s) return s.error();
            auto mark = m_db.prepare(
                "UPDATE enrol_codes SET used_utc_ms = ?, used_by = ? WHERE code_hash = ?");
            if (!mark) return mark.error();
            mark->bind(1, nowMs).bindBlob(2, idBytes(request.deviceId)).bindBlob(3, hash);
            if (auto s = mark->run(); !s) return s.error();
        }
        const char* audited = "enrol";
        std::string detail = code.label;
        switch (action.value()) {
            case detail::EnrolAction::Enrol:
                break;
            case detail::EnrolAction::Repeat:
                audited = "enrol-repeat";
                break;
            case detail::EnrolAction::ReenrolProved:
                audited = "reenrol";
                detail += " (proved by its credential)";
                break;
            case detail::EnrolAction::ReenrolByStaff:
                audited = "reenrol";
                detail += " (with a code made for it)";
                break;
        }
        if (auto s = auditLocked(nowMs, "device", audited, request.deviceId.toString(), detail); !s)
            return s.error();
        EnrolReply reply;
        reply.credential = request.deviceId.toString() + "." + secretHex;
        auto id = metaText("collector_id");
        if (!id) return id.error();
        reply.collectorId = id.value();
        auto pseudonymKey = metaText("pseudonym_key");
        if (!pseudonymKey) return pseudonymKey.error();
        reply.pseudonymKey = pseudonymKey.value();
        auto project = metaText("project_key");
        if (!project) return project.error();
        reply.projectKey = project.value();
        if (auto s = tx->commit(); !s) return s.error();
        return reply;
    }

    // The collector's enrolment key (enrolment.hpp), made at the first enrolment that needs it.
    Result<std::vector<std::uint8_t>> enrolKeyLocked() {
        auto keyHex = metaText("enrol_key");
        if (!keyHex) return keyHex.error();
        std::vector<std::uint8_t> key;
        if (!keyHex->empty()) {
            auto parsed = fromHex(keyHex.value());
            if (parsed) key = std::move(parsed.value());
        }
        if (key.size() == crypto_generichash_KEYBYTES) return key;
        key.assign(crypto_generichash_KEYBYTES, 0);
        randombytes_buf(key.data(), key.size());
        auto put = m_db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
        if (!put) return put.error();
        put->bind(1, std::string_view("enrol_key")).bind(2, toHex(key));
        if (auto s = put->run(); !s) return s.error();
        return key;
    }

    Result<Uuid> authenticate(std::string_view credential) override {
        auto presented = rules::parseDeviceCredential(credential);
        if (!presented) return presented.error();
        const Uuid& id = presented->deviceId;
        // The reading connection: a revocation committed by anyone (veldctl included) is seen
        // by the next request, and the check never waits behind a push's commit.
        std::lock_guard lock(m_readMutex);
        sql::Statement& st = m_credential;
        Resetting done{st};
        st.bindBlob(1, idBytes(id));
        auto row = st.step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "unknown device");
        if (!rules::sameDigest(st.columnBlob(0), presented->digest))
            return makeError(ErrorCode::NotFound, "wrong credential");
        if (!st.columnIsNull(1)) return makeError(ErrorCode::WrongState, "device revoked");
        return id;
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
        if (!rules::validAdminName(name)) {
            return makeError(ErrorCode::InvalidArgument,
                             "an admin name is 1 to 64 letters, digits, '.', '-' or '_'");
        }
        std::array<std::uint8_t, 32> secret{};
        randombytes_buf(secret.data(), secret.size());
        const std::string credential = rules::adminCredential(name, toHex(secret));
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "INSERT INTO admins (name, credential_hash, created_utc_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET credential_hash = excluded.credential_hash, "
            "created_utc_ms = excluded.created_utc_ms, revoked_utc_ms = NULL");
        if (!st) return st.error();
        st->bind(1, name).bindBlob(2, rules::secretDigest(toHex(secret))).bind(3, nowMs);
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
        auto presented = rules::parseAdminCredential(credential);
        if (!presented) return presented.error();
        const std::string& name = presented->name;
        std::lock_guard lock(m_readMutex);
        auto st =
            m_reader.prepare("SELECT credential_hash, revoked_utc_ms FROM admins WHERE name = ?");
        if (!st) return st.error();
        st->bind(1, name);
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "unknown admin");
        if (!rules::sameDigest(st->columnBlob(0), presented->digest))
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
            "d.device_id), d.waiting, d.team, d.box_key IS NOT NULL FROM devices d "
            "ORDER BY d.enrolled_utc_ms");
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
            d.team = std::string(st->columnText(8));
            d.hasBoxKey = st->columnInt(9) != 0;
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
            const std::size_t stored = storeGroup(group);
            queue.lock();
            if (m_commitObserver && stored > 0) m_commitObserver(stored);
            for (QueuedPush* p : group)
                p->done = true;
            m_leading = false;
            m_queueChanged.notify_all();
        }
        return std::move(*mine.result);
    }

    Result<PullReply> pull(const Uuid& deviceId, const PullRequest& request, std::size_t maxForms,
                           std::int64_t nowMs) override {
        if (!request.deviceBoxKey.empty() && request.deviceBoxKey.size() != alloc::kBoxKeyBytes)
            return makeError(ErrorCode::InvalidArgument, "a device's box key is 32 bytes");
        std::lock_guard lock(m_mutex);
        // One transaction: blocks dealt at this pull are recorded together with the answer
        // that carries them, and the cursors say exactly what was looked at.
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto st = m_db.prepare(
            "SELECT pub_seq, binary FROM forms WHERE pub_seq > ? ORDER BY pub_seq LIMIT ?");
        if (!st) return st.error();
        st->bind(1, static_cast<std::int64_t>(request.formCursor))
            .bind(2, static_cast<std::int64_t>(maxForms + 1));
        PullReply reply;
        reply.formCursor = request.formCursor;
        std::size_t formBytes = 0;  // forms with media are large: the answer stays in one message
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            const auto bin = st->columnBlob(1);
            if (reply.forms.size() == maxForms ||
                (!reply.forms.empty() && formBytes + bin.size() > kMaxPullFormBytes)) {
                reply.more = true;
                break;
            }
            formBytes += bin.size();
            PublishedForm f;
            f.seq = static_cast<std::uint64_t>(st->columnInt(0));
            f.binary.assign(bin.begin(), bin.end());
            reply.formCursor = f.seq;
            reply.forms.push_back(std::move(f));
        }
        st.value().reset();
        auto project = metaText("project_key");
        if (!project) return project.error();
        reply.projectKey = project.value();
        auto up = m_db.prepare(
            "UPDATE devices SET last_contact_utc_ms = ?, box_key = coalesce(?, box_key) WHERE "
            "device_id = ?");
        if (!up) return up.error();
        up->bind(1, nowMs);
        if (request.deviceBoxKey.empty()) {
            up->bindNull(2);
        } else {
            up->bindBlob(2, request.deviceBoxKey);
        }
        up->bindBlob(3, idBytes(deviceId));
        if (auto s = up->run(); !s) return s.error();
        auto facts = deviceFacts(deviceId);
        if (!facts) return facts.error();
        if (auto s = pullCases(deviceId, facts->team, request, reply); !s) return s.error();
        auto studies = loadStudies();
        if (!studies) return studies.error();
        for (const auto& s : studies.value())
            reply.studies.push_back(deviceStudy(s.definition.study));
        reply.allocationCursor = request.allocationCursor;
        // Slots are sealed to the device's box key: none before the device has said it.
        if (facts->boxKey) {
            if (auto s = topUp(deviceId, request, studies.value(), nowMs); !s) return s.error();
            if (auto s = pullBlocks(deviceId, *facts->boxKey, request, studies.value(), reply); !s)
                return s.error();
        }
        if (auto s = tx->commit(); !s) return s.error();
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
            if (forms::sameForm(held, binary)) return false;
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
            if (auto s = rules::mergeFromB(content, b->content, resolution.fromB); !s)
                return s.error();
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
        if (auto s = storeRevision(staff->first, rev, nowMs, false); !s) return s.error();
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

    // ---- cases ------------------------------------------------------------------------------

    Status setDeviceTeam(const Uuid& deviceId, const std::string& team, std::int64_t nowMs,
                         const std::string& actor) override {
        if (!rules::validTeam(team)) {
            return makeError(ErrorCode::InvalidArgument,
                             "a team name is up to 64 letters, digits, '.', '-' or '_'");
        }
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto facts = deviceFacts(deviceId);
        if (!facts) return facts.error();
        auto up = m_db.prepare("UPDATE devices SET team = ? WHERE device_id = ?");
        if (!up) return up.error();
        up->bind(1, team).bindBlob(2, idBytes(deviceId));
        if (auto s = up->run(); !s) return s;
        // The cases the device holds (some may leave it) and the new team's (which reach it)
        // get new change numbers, so its next pull looks at them whatever its cursor.
        auto touched = caseIds(
            "SELECT case_id FROM case_holders WHERE device_id = ?1 UNION SELECT case_id FROM "
            "cases WHERE ?2 <> '' AND assigned_team = ?2",
            [&](sql::Statement& st) { st.bindBlob(1, idBytes(deviceId)).bind(2, team); });
        if (!touched) return touched.error();
        for (const auto& id : touched.value()) {
            if (auto s = touchCase(id); !s) return s;
        }
        if (auto s = auditLocked(nowMs, actor, "team", deviceId.toString(),
                                 team.empty() ? "no team" : team);
            !s)
            return s;
        return tx->commit();
    }

    Result<std::vector<CollectorCase>> cases(const CaseFilter& filter) override {
        std::lock_guard lock(m_mutex);
        auto st = m_db.prepare(
            "SELECT case_id, case_type, pseudonym, opened_device, assigned_device, assigned_team, "
            "last_contact_utc_ms, change_seq FROM cases WHERE (?1 IS NULL OR case_type = ?1) AND "
            "(?2 IS NULL OR assigned_device = ?2) AND (?3 IS NULL OR assigned_team = ?3) ORDER "
            "BY case_id LIMIT ?4");
        if (!st) return st.error();
        if (filter.caseType) {
            st->bind(1, *filter.caseType);
        } else {
            st->bindNull(1);
        }
        if (filter.assignedDevice) {
            st->bindBlob(2, idBytes(*filter.assignedDevice));
        } else {
            st->bindNull(2);
        }
        if (filter.assignedTeam) {
            st->bind(3, *filter.assignedTeam);
        } else {
            st->bindNull(3);
        }
        st->bind(4, static_cast<std::int64_t>(filter.limit));
        std::vector<CollectorCase> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            CollectorCase c;
            c.caseId = idFrom(st->columnBlob(0));
            c.caseType = std::string(st->columnText(1));
            c.pseudonym = std::string(st->columnText(2));
            if (!st->columnIsNull(3)) c.openedDevice = idFrom(st->columnBlob(3));
            if (!st->columnIsNull(4)) c.assignedDevice = idFrom(st->columnBlob(4));
            c.assignedTeam = std::string(st->columnText(5));
            if (!st->columnIsNull(6)) c.lastContactUtcMs = st->columnInt(6);
            c.changeSeq = static_cast<std::uint64_t>(st->columnInt(7));
            out.push_back(std::move(c));
        }
        st.value().reset();
        auto props = m_db.prepare(
            "SELECT name, value, hlc, base_hlc, device_id FROM case_properties WHERE case_id = ? "
            "ORDER BY name");
        if (!props) return props.error();
        for (auto& c : out) {
            props->bindBlob(1, idBytes(c.caseId));
            for (;;) {
                auto row = props->step();
                if (!row) return row.error();
                if (!row.value()) break;
                c.properties.push_back(
                    {std::string(props->columnText(0)), std::string(props->columnText(1)),
                     HlcTimestamp{static_cast<std::uint64_t>(props->columnInt(2))},
                     HlcTimestamp{static_cast<std::uint64_t>(props->columnInt(3))},
                     idFrom(props->columnBlob(4))});
            }
            props->reset();
        }
        return out;
    }

    Status assignCase(const Uuid& caseId, const std::optional<Uuid>& device,
                      const std::string& team, std::int64_t nowMs,
                      const std::string& actor) override {
        if (!device && team.empty())
            return makeError(ErrorCode::InvalidArgument, "assign a case to a device or a team");
        if (!rules::validTeam(team)) {
            return makeError(ErrorCode::InvalidArgument,
                             "a team name is up to 64 letters, digits, '.', '-' or '_'");
        }
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        if (device) {
            auto facts = deviceFacts(*device);
            if (!facts) return facts.error();
        }
        auto seq = nextCounter("case_seq");
        if (!seq) return seq.error();
        auto st = m_db.prepare(
            "UPDATE cases SET assigned_device = ?, assigned_team = ?, change_seq = ? WHERE "
            "case_id = ?");
        if (!st) return st.error();
        if (device) {
            st->bindBlob(1, idBytes(*device));
        } else {
            st->bindNull(1);
        }
        st->bind(2, team).bind(3, i64(seq.value())).bindBlob(4, idBytes(caseId));
        if (auto s = st->run(); !s) return s;
        if (m_db.changes() == 0) return makeError(ErrorCode::NotFound, "no case with that id");
        std::string detail;
        if (device) detail = "device " + device->toString();
        if (!team.empty()) detail += (detail.empty() ? "team " : ", team ") + team;
        if (auto s = auditLocked(nowMs, actor, "case-assign", caseId.toString(), detail); !s)
            return s;
        return tx->commit();
    }

    Result<std::vector<CaseConflictInfo>> caseConflicts(bool includeResolved) override {
        std::lock_guard lock(m_mutex);
        auto st = m_db.prepare(
            std::string("SELECT cid, case_id, name, value_a, hlc_a, device_a, value_b, hlc_b, "
                        "device_b, detected_utc_ms, resolved_utc_ms, resolution, resolved_by "
                        "FROM case_conflicts") +
            (includeResolved ? "" : " WHERE resolved_utc_ms IS NULL") + " ORDER BY cid");
        if (!st) return st.error();
        std::vector<CaseConflictInfo> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            CaseConflictInfo c;
            c.id = st->columnInt(0);
            c.caseId = idFrom(st->columnBlob(1));
            c.property = std::string(st->columnText(2));
            c.valueA = std::string(st->columnText(3));
            c.hlcA = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(4))};
            c.deviceA = idFrom(st->columnBlob(5));
            c.valueB = std::string(st->columnText(6));
            c.hlcB = HlcTimestamp{static_cast<std::uint64_t>(st->columnInt(7))};
            c.deviceB = idFrom(st->columnBlob(8));
            c.detectedUtcMs = st->columnInt(9);
            if (!st->columnIsNull(10)) c.resolvedUtcMs = st->columnInt(10);
            c.resolution = std::string(st->columnText(11));
            c.resolvedBy = std::string(st->columnText(12));
            out.push_back(std::move(c));
        }
        return out;
    }

    Status resolveCaseConflict(std::int64_t conflictId, const CaseChoice& choice,
                               const std::string& comment, std::int64_t nowMs,
                               const std::string& actor) override {
        if (choice.kind == CaseChoice::Kind::Value && choice.value.size() > 4096)
            return makeError(ErrorCode::InvalidArgument,
                             "a case property holds at most 4096 bytes");
        if (comment.size() > kMaxReviewCommentBytes)
            return makeError(ErrorCode::InvalidArgument, "the comment is too long");
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto c = m_db.prepare(
            "SELECT case_id, name, value_a, hlc_a, value_b, hlc_b, resolved_utc_ms FROM "
            "case_conflicts WHERE cid = ?");
        if (!c) return c.error();
        c->bind(1, conflictId);
        auto row = c->step();
        if (!row) return row.error();
        if (!row.value())
            return makeError(ErrorCode::NotFound, "no case conflict with that number");
        if (!c->columnIsNull(6))
            return makeError(ErrorCode::WrongState, "this case conflict has been resolved already");
        const Uuid caseId = idFrom(c->columnBlob(0));
        const std::string name(c->columnText(1));
        const std::string value = choice.kind == CaseChoice::Kind::A ? std::string(c->columnText(2))
                                  : choice.kind == CaseChoice::Kind::B
                                      ? std::string(c->columnText(4))
                                      : choice.value;
        const auto hlcA = static_cast<std::uint64_t>(c->columnInt(3));
        const auto hlcB = static_cast<std::uint64_t>(c->columnInt(5));
        c.value().reset();
        auto held = currentProperty(caseId, name);
        if (!held) return held.error();
        // Staff's value: after everything the property holds, as the collector's resolutions of
        // records are, and based on both sides, so that it is no new disagreement with either.
        // A device that changes it later without having seen it raises a new conflict.
        const std::uint64_t newest =
            std::max({hlcA, hlcB, held->has_value() ? (*held)->hlc : std::uint64_t{0}});
        const auto nowMillis = static_cast<std::uint64_t>(std::max<std::int64_t>(nowMs, 0));
        const HlcTimestamp hlc = HlcTimestamp::make(nowMillis, 0).value > newest
                                     ? HlcTimestamp::make(nowMillis, 0)
                                     : HlcTimestamp{newest + 1};
        auto staff = staffDevice(nowMs);
        if (!staff) return staff.error();
        if (auto s = writeProperty(caseId, name, value, hlc.value, std::max(hlcA, hlcB),
                                   staff->first, std::nullopt);
            !s)
            return s;
        if (auto s = touchCase(caseId); !s) return s;
        const std::string how = choice.kind == CaseChoice::Kind::A   ? "kept A"
                                : choice.kind == CaseChoice::Kind::B ? "kept B"
                                                                     : "typed a value";
        auto done = m_db.prepare(
            "UPDATE case_conflicts SET resolved_utc_ms = ?, resolution = ?, resolved_by = ? "
            "WHERE cid = ?");
        if (!done) return done.error();
        done->bind(1, nowMs)
            .bind(2, how + (comment.empty() ? "" : "; " + comment))
            .bind(3, actor)
            .bind(4, conflictId);
        if (auto s = done->run(); !s) return s;
        // The audit log names the case, the property and the choice, never a value.
        if (auto s = auditLocked(nowMs, actor, "case-resolve", caseId.toString(),
                                 "property " + name + ": " + how);
            !s)
            return s;
        return tx->commit();
    }

    // ---- randomisation ----------------------------------------------------------------------

    Result<bool> defineStudy(const StudyDefinition& definition, std::int64_t nowMs,
                             const std::string& actor) override {
        if (auto s = checkStudyDefinition(definition); !s) return s.error();
        const std::string text = studyJson(definition);
        const std::string& id = definition.study.id;
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto existing = m_db.prepare("SELECT definition, seed FROM studies WHERE id = ?");
        if (!existing) return existing.error();
        existing->bind(1, id);
        auto row = existing->step();
        if (!row) return row.error();
        if (row.value()) {
            const auto seed = existing->columnBlob(1);
            const bool sameSeed = !definition.seedGiven || std::equal(seed.begin(), seed.end(),
                                                                      definition.study.seed.begin(),
                                                                      definition.study.seed.end());
            if (existing->columnText(0) != text || !sameSeed) {
                return makeError(ErrorCode::WrongState,
                                 "study " + id +
                                     " is defined already, differently; a changed study needs a "
                                     "new id (allocations made under the old one stay valid)");
            }
            return false;
        }
        existing.value().reset();
        std::array<std::uint8_t, alloc::kSeedBytes> seed = definition.study.seed;
        if (!definition.seedGiven) randombytes_buf(seed.data(), seed.size());
        auto ins = m_db.prepare(
            "INSERT INTO studies (id, pilot, definition, seed, created_utc_ms) VALUES (?, ?, ?, "
            "?, ?)");
        if (!ins) return ins.error();
        ins->bind(1, id)
            .bind(2, definition.study.pilot)
            .bind(3, text)
            .bindBlob(4, seed)
            .bind(5, nowMs);
        if (auto s = ins->run(); !s) return s.error();
        std::string sizes;
        for (auto size : definition.study.blockSizes)
            sizes += (sizes.empty() ? "" : ",") + std::to_string(size);
        if (auto s = auditLocked(nowMs, actor, "study-define", id,
                                 std::to_string(definition.study.arms.size()) + " arms, " +
                                     std::to_string(alloc::strata(definition.study).size()) +
                                     " strata, block sizes " + sizes +
                                     (definition.seedGiven ? ", seed given" : ", seed made here"));
            !s)
            return s.error();
        if (auto s = tx->commit(); !s) return s.error();
        return true;
    }

    Result<std::vector<StudySummary>> studies() override {
        std::lock_guard lock(m_mutex);
        auto all = loadStudies();
        if (!all) return all.error();
        std::vector<StudySummary> out;
        for (auto& s : all.value()) {
            StudySummary summary{std::move(s.definition), s.createdUtcMs};
            summary.definition.study.seed = {};
            summary.definition.seedGiven = false;
            out.push_back(std::move(summary));
        }
        return out;
    }

    Result<std::array<std::uint8_t, alloc::kSeedBytes>> studySeed(
        const std::string& study, std::int64_t nowMs, const std::string& actor) override {
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto found = loadStudies(study);
        if (!found) return found.error();
        if (auto s = auditLocked(nowMs, actor, "seed-disclosed", study, {}); !s) return s.error();
        if (auto s = tx->commit(); !s) return s.error();
        return found->front().definition.study.seed;
    }

    Result<std::vector<DealtBlock>> allocateBlocks(const std::string& study, const Uuid& deviceId,
                                                   std::uint32_t blocksPerStratum,
                                                   std::int64_t nowMs,
                                                   const std::string& actor) override {
        if (blocksPerStratum < 1 || blocksPerStratum > kMaxBlocksPerDevice) {
            return makeError(
                ErrorCode::InvalidArgument,
                "deal 1 to " + std::to_string(kMaxBlocksPerDevice) + " blocks per stratum");
        }
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) return tx.error();
        auto found = loadStudies(study);
        if (!found) return found.error();
        auto facts = deviceFacts(deviceId);
        if (!facts) return facts.error();
        if (facts->revoked) return makeError(ErrorCode::WrongState, "this device has been revoked");
        std::vector<DealtBlock> out;
        const auto strata = alloc::strata(found->front().definition.study);
        for (const auto& stratum : strata) {
            auto dealt = dealLocked(study, stratum, deviceId, blocksPerStratum, nowMs);
            if (!dealt) return dealt.error();
            out.insert(out.end(), dealt->begin(), dealt->end());
        }
        if (auto s =
                auditLocked(nowMs, actor, "allocate", deviceId.toString(),
                            "study " + study + ": " + std::to_string(blocksPerStratum) +
                                " blocks in each of " + std::to_string(strata.size()) + " strata");
            !s)
            return s.error();
        if (auto s = tx->commit(); !s) return s.error();
        return out;
    }

    Result<std::vector<AllocationRow>> allocationLog(const std::string& study) override {
        std::lock_guard lock(m_mutex);
        auto found = loadStudies(study);
        if (!found) return found.error();
        auto held = allocationRowsLocked(study);
        if (!held) return held.error();
        std::vector<AllocationRow> out;
        out.reserve(held->size());
        for (auto& h : held.value())
            out.push_back(std::move(h.row));
        return out;
    }

    Result<StudyBalance> balance(const std::string& study) override {
        std::lock_guard lock(m_mutex);
        auto found = loadStudies(study);
        if (!found) return found.error();
        const alloc::Study& def = found->front().definition.study;
        auto rows = allocationRowsLocked(study);
        if (!rows) return rows.error();
        auto dealt = dealtBlocksLocked(study);
        if (!dealt) return dealt.error();
        StudyBalance out;
        out.study = study;
        out.allocated = static_cast<std::int64_t>(rows->size());
        std::map<std::string, std::size_t> index;
        const auto stratumAt = [&](const std::string& key, bool known) -> StratumBalance& {
            auto [it, added] = index.emplace(key, out.strata.size());
            if (added) {
                StratumBalance b;
                b.stratum = key;
                b.known = known;
                for (const auto& arm : def.arms)
                    b.arms.push_back({arm.name, 0, 0});
                out.strata.push_back(std::move(b));
            }
            return out.strata[it->second];
        };
        for (const auto& key : alloc::strata(def))
            stratumAt(key, true);
        std::map<std::tuple<std::string, std::uint32_t>, std::set<std::uint32_t>> used;
        std::map<Uuid, DeviceBalance> devices;
        for (const auto& h : *rows) {
            const AllocationRow& r = h.row;
            StratumBalance& b = stratumAt(r.stratum, false);
            ++b.allocated;
            auto arm = std::find_if(b.arms.begin(), b.arms.end(),
                                    [&](const ArmBalance& a) { return a.arm == r.arm; });
            if (arm == b.arms.end()) {
                b.arms.push_back({r.arm, 0, 0});  // an arm the study does not have
                arm = b.arms.end() - 1;
            }
            ++arm->allocated;
            used[{r.stratum, r.block}].insert(r.position);
            auto& d = devices[r.deviceId];
            d.deviceId = r.deviceId;
            ++d.allocated;
        }
        const std::uint32_t sum = alloc::ratioSum(def);
        for (auto& b : out.strata) {
            for (auto& a : b.arms) {
                const auto arm = std::find_if(def.arms.begin(), def.arms.end(),
                                              [&](const alloc::Arm& x) { return x.name == a.arm; });
                const double ratio = arm == def.arms.end() ? 0.0 : arm->ratio;
                a.target = static_cast<double>(b.allocated) * ratio / sum;
            }
        }
        for (const auto& block : *dealt) {
            auto& d = devices[block.deviceId];
            d.deviceId = block.deviceId;
            ++d.dealtBlocks;
            const auto at = index.find(block.stratum);
            if (at == index.end()) continue;
            StratumBalance& b = out.strata[at->second];
            ++b.dealtBlocks;
            const auto size = alloc::generateBlock(def, block.stratum, block.block).arms.size();
            d.dealtSlots += static_cast<std::int64_t>(size);
            const auto u = used.find({block.stratum, block.block});
            const std::size_t n = u == used.end() ? 0 : u->second.size();
            if (n >= size) {
                ++b.completeBlocks;
            } else if (n > 0) {
                ++b.openBlocks;
            }
        }
        auto labels = m_db.prepare("SELECT label FROM devices WHERE device_id = ?");
        if (!labels) return labels.error();
        for (auto& [id, d] : devices) {
            labels->bindBlob(1, idBytes(id));
            auto row = labels->step();
            if (!row) return row.error();
            if (row.value()) d.label = std::string(labels->columnText(0));
            labels->reset();
            out.devices.push_back(d);
        }
        return out;
    }

    Result<StudyVerification> verifyAllocations(const std::string& study) override {
        std::lock_guard lock(m_mutex);
        auto found = loadStudies(study);
        if (!found) return found.error();
        const alloc::Study& def = found->front().definition.study;
        auto rows = allocationRowsLocked(study, true);
        if (!rows) return rows.error();
        auto dealt = dealtBlocksLocked(study);
        if (!dealt) return dealt.error();
        auto logs = deviceLogsLocked(rules::devicesOf(*rows));
        if (!logs) return logs.error();
        return rules::verify(def, *rows, *dealt, *logs);
    }

    Result<std::vector<DuplicateGroup>> duplicates() override {
        auto forms = publishedForms();
        if (!forms) return forms.error();
        rules::DuplicateGrouping grouping(rules::identifyingQuestions(forms.value()));
        auto db = sql::Database::open(m_path, sql::OpenMode::ReadOnly);
        if (!db) return db.error();
        if (auto s = db->exec("BEGIN"); !s) return s.error();
        auto st = db->prepare(
            "SELECT r.record_id, v.form_id, v.form_version, v.body FROM records r "
            "JOIN revisions v ON v.rid = r.current_rid WHERE v.damaged = 0 ORDER BY r.record_id");
        if (!st) return st.error();
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            auto record = decodeRecord(st->columnBlob(3));
            if (!record) continue;  // unreadable bodies are counted by exports, not here
            grouping.add(idFrom(st->columnBlob(0)), std::string(st->columnText(1)),
                         static_cast<std::uint32_t>(st->columnInt(2)), record->content);
        }
        st.value().reset();
        (void)db->exec("COMMIT");
        std::lock_guard lock(m_mutex);
        auto decided = m_db.prepare(
            "SELECT decision, comment, utc_ms, actor FROM duplicate_decisions WHERE group_key = ?");
        if (!decided) return decided.error();
        std::vector<DuplicateGroup> out = grouping.groups();
        for (auto& group : out) {
            auto key = rules::parseGroupKey(group.key);
            if (!key) return key.error();
            decided->bindBlob(1, key.value());
            auto row = decided->step();
            if (!row) return row.error();
            if (row.value()) {
                group.decision = static_cast<DuplicateDecision>(decided->columnInt(0));
                group.comment = std::string(decided->columnText(1));
                group.decidedUtcMs = decided->columnInt(2);
                group.decidedBy = std::string(decided->columnText(3));
            }
            decided->reset();
        }
        return out;
    }

    Status decideDuplicate(const std::string& groupKey, DuplicateDecision decision,
                           const std::string& comment, std::int64_t nowMs,
                           const std::string& actor) override {
        auto parsed = rules::parseGroupKey(groupKey);
        if (!parsed) return parsed.error();
        const std::vector<std::uint8_t>& key = parsed.value();
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

    Result<std::int64_t> health() override {
        std::lock_guard lock(m_readMutex);
        auto meta = m_reader.queryInt("SELECT count(*) FROM meta");
        if (!meta) return meta.error();
        return m_reader.queryInt("PRAGMA user_version");
    }

    void observeCommits(std::function<void(std::size_t)> observer) override {
        std::lock_guard queue(m_queueMutex);
        m_commitObserver = std::move(observer);
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

    // The revisions stored by the group's commit (0 when it failed).
    std::size_t storeGroup(const std::vector<QueuedPush*>& group) {
        std::lock_guard lock(m_mutex);
        auto tx = sql::Transaction::begin(m_db);
        if (!tx) {
            for (QueuedPush* p : group)
                p->result = tx.error();
            return 0;
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
            return 0;
        }
        std::size_t stored = 0;
        for (const QueuedPush* p : group) {
            if (!*p->result) continue;
            for (const auto& r : p->result->value().results)
                stored += r.outcome == RevisionOutcome::Duplicate ? 0 : 1;
        }
        return stored;
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

    // Stores a revision and updates the record's current view and conflicts; for a device's
    // revision (not staff's, whose case changes and allocation are copies of a device's), also
    // applies its case change and stores its allocation, in the same transaction.
    Status storeRevision(const Uuid& deviceId, const PushRevision& rev, std::int64_t nowMs,
                         bool fromDevice = true) {
        std::int64_t rid = 0;
        if (auto s = storeRecordRevision(deviceId, rev, nowMs, rid); !s) return s;
        if (!fromDevice || rev.damaged || rev.body.empty()) return {};
        return applyCaseAndAllocation(deviceId, rev, rid, nowMs);
    }

    Status storeRecordRevision(const Uuid& deviceId, const PushRevision& rev, std::int64_t nowMs,
                               std::int64_t& rid) {
        const auto millis = static_cast<std::int64_t>(rev.hlc.millis());
        const bool flagged = rules::clockFlagged(millis, nowMs, m_policy);
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
        rid = sqlite3LastRowid();

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
        const auto placed =
            rules::placeRevision(currentHlc, sameDevice, rev.hlc.value, rev.baseHlc);
        if (placed.conflict) {
            sql::Statement& c = m_insertConflict;
            c.bindBlob(1, idBytes(rev.recordId)).bind(2, currentRid).bind(3, rid).bind(4, nowMs);
            if (auto s = c.run(); !s) return s;
        }
        if (placed.becomesCurrent) {
            sql::Statement& up = m_updateRecord;
            up.bind(1, rid)
                .bind(2, static_cast<std::int64_t>(rev.hlc.value))
                .bindBlob(3, idBytes(rev.recordId));
            return up.run();
        }
        return Status::success();
    }

    // ---- cases and allocations: helpers (m_mutex held, inside a transaction) ----------------

    static std::int64_t i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

    // The next number of a meta counter (from 1); numbers are never given twice.
    Result<std::uint64_t> nextCounter(std::string_view key) {
        auto st = m_db.prepare(
            "INSERT INTO meta (key, value) VALUES (?1, 1) ON CONFLICT (key) DO UPDATE SET value = "
            "value + 1 RETURNING value");
        if (!st) return st.error();
        st->bind(1, key);
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::Internal, "a counter gave no number");
        return static_cast<std::uint64_t>(st->columnInt(0));
    }

    Result<std::uint64_t> counterValue(std::string_view key) {
        auto st = m_db.prepare("SELECT value FROM meta WHERE key = ?");
        if (!st) return st.error();
        st->bind(1, key);
        auto row = st->step();
        if (!row) return row.error();
        return row.value() ? static_cast<std::uint64_t>(st->columnInt(0)) : 0;
    }

    // A device's team and box key; NotFound for an unknown device.
    struct DeviceFacts {
        std::string team;
        std::optional<std::array<std::uint8_t, alloc::kBoxKeyBytes>> boxKey;
        bool revoked = false;
    };
    Result<DeviceFacts> deviceFacts(const Uuid& deviceId) {
        auto st =
            m_db.prepare("SELECT team, box_key, revoked_utc_ms FROM devices WHERE device_id = ?");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(deviceId));
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "no device with that id");
        DeviceFacts out;
        out.team = std::string(st->columnText(0));
        const auto key = st->columnBlob(1);
        if (key.size() == alloc::kBoxKeyBytes) {
            out.boxKey.emplace();
            std::copy(key.begin(), key.end(), out.boxKey->begin());
        }
        out.revoked = !st->columnIsNull(2);
        return out;
    }

    // A device's revision has been stored as `rid`: applies its case change (or notes the
    // contact with a known case) and stores its allocation.
    Status applyCaseAndAllocation(const Uuid& deviceId, const PushRevision& rev, std::int64_t rid,
                                  std::int64_t nowMs) {
        auto header = inspectRecord(rev.body);
        // The protocol verified the body already; one that is still no record here (written
        // into the store directly) changes no case.
        if (!header || !header->caseId) return {};
        if (auto s = applyCase(deviceId, *header->caseId, header->caseChange, rev.hlc, rid, nowMs);
            !s)
            return s;
        if (!header->allocation) return {};
        return storeAllocation(deviceId, *header->caseId, header->id, *header->allocation, rid,
                               nowMs);
    }

    struct PropertyRow {
        std::string value;
        std::uint64_t hlc = 0;
        std::uint64_t base = 0;
        Uuid deviceId;
    };
    Result<std::optional<PropertyRow>> currentProperty(const Uuid& caseId, std::string_view name) {
        auto st = m_db.prepare(
            "SELECT value, hlc, base_hlc, device_id FROM case_properties WHERE case_id = ? AND "
            "name = ?");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(caseId)).bind(2, name);
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) return std::optional<PropertyRow>();
        return std::optional<PropertyRow>(PropertyRow{
            std::string(st->columnText(0)), static_cast<std::uint64_t>(st->columnInt(1)),
            static_cast<std::uint64_t>(st->columnInt(2)), idFrom(st->columnBlob(3))});
    }

    Status writeProperty(const Uuid& caseId, std::string_view name, std::string_view value,
                         std::uint64_t hlc, std::uint64_t base, const Uuid& deviceId,
                         std::optional<std::int64_t> rid) {
        auto st = m_db.prepare(
            "INSERT INTO case_properties (case_id, name, value, hlc, base_hlc, device_id, rid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (case_id, name) DO UPDATE SET value = "
            "excluded.value, hlc = excluded.hlc, base_hlc = excluded.base_hlc, device_id = "
            "excluded.device_id, rid = excluded.rid");
        if (!st) return st.error();
        st->bindBlob(1, idBytes(caseId))
            .bind(2, name)
            .bind(3, value)
            .bind(4, i64(hlc))
            .bind(5, i64(base))
            .bindBlob(6, idBytes(deviceId));
        if (rid) {
            st->bind(7, *rid);
        } else {
            st->bindNull(7);
        }
        return st->run();
    }

    // One property change, merged by HLC: the newer value is current. Two changes where
    // neither device had seen the other's value (each one's base before the other's HLC) and
    // whose values differ are also kept as a case conflict, so staff see both.
    Status mergeProperty(const Uuid& caseId, const CasePropertyValue& p, HlcTimestamp hlc,
                         const Uuid& deviceId, std::int64_t rid, std::int64_t nowMs) {
        auto current = currentProperty(caseId, p.name);
        if (!current) return current.error();
        if (!current->has_value())
            return writeProperty(caseId, p.name, p.value, hlc.value, p.base.value, deviceId, rid);
        const PropertyRow& held = **current;
        const auto merged = rules::mergeProperty({held.value, held.hlc, held.base}, p.value,
                                                 hlc.value, p.base.value);
        if (merged.conflict) {
            auto st = m_db.prepare(
                "INSERT INTO case_conflicts (case_id, name, value_a, hlc_a, device_a, value_b, "
                "hlc_b, device_b, detected_utc_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
            if (!st) return st.error();
            st->bindBlob(1, idBytes(caseId))
                .bind(2, p.name)
                .bind(3, held.value)
                .bind(4, i64(held.hlc))
                .bindBlob(5, idBytes(held.deviceId))
                .bind(6, p.value)
                .bind(7, i64(hlc.value))
                .bindBlob(8, idBytes(deviceId))
                .bind(9, nowMs);
            if (auto s = st->run(); !s) return s;
        }
        if (merged.incomingWins)
            return writeProperty(caseId, p.name, p.value, hlc.value, p.base.value, deviceId, rid);
        return {};
    }

    Status applyCase(const Uuid& deviceId, const Uuid& caseId,
                     const std::optional<CaseChange>& change, HlcTimestamp hlc, std::int64_t rid,
                     std::int64_t nowMs) {
        bool known = false;
        {
            auto st = m_db.prepare("SELECT 1 FROM cases WHERE case_id = ?");
            if (!st) return st.error();
            st->bindBlob(1, idBytes(caseId));
            auto row = st->step();
            if (!row) return row.error();
            known = row.value();
        }
        // A record of a case never heard of that changes nothing about it: nothing to note.
        if (!known && !change) return {};
        auto seq = nextCounter("case_seq");
        if (!seq) return seq.error();
        const auto contact = static_cast<std::int64_t>(hlc.millis());
        const bool opens = change && change->action == CaseAction::Open;
        const std::string_view type = change ? std::string_view(change->caseType) : "";
        const std::string_view pseudonym = change ? std::string_view(change->pseudonym) : "";
        if (!known) {
            // Opened by this record; or, when a later change arrives before the record that
            // opened the case, made from that change so nothing is lost (the opening record
            // fills in what is missing when it comes). Either way it is the sender's for now.
            auto facts = deviceFacts(deviceId);
            if (!facts) return facts.error();
            auto st = m_db.prepare(
                "INSERT INTO cases (case_id, case_type, pseudonym, opened_device, "
                "assigned_device, assigned_team, last_contact_utc_ms, change_seq) VALUES (?, ?, "
                "?, ?, ?, ?, ?, ?)");
            if (!st) return st.error();
            st->bindBlob(1, idBytes(caseId)).bind(2, type).bind(3, pseudonym);
            if (opens) {
                st->bindBlob(4, idBytes(deviceId));
            } else {
                st->bindNull(4);
            }
            st->bindBlob(5, idBytes(deviceId))
                .bind(6, facts->team)
                .bind(7, contact)
                .bind(8, i64(seq.value()));
            if (auto s = st->run(); !s) return s;
        } else {
            auto st = m_db.prepare(
                "UPDATE cases SET case_type = CASE WHEN case_type = '' THEN ?1 ELSE case_type END, "
                "pseudonym = CASE WHEN pseudonym = '' THEN ?2 ELSE pseudonym END, opened_device = "
                "coalesce(opened_device, ?3), last_contact_utc_ms = "
                "max(coalesce(last_contact_utc_ms, ?4), ?4), change_seq = ?5 WHERE case_id = ?6");
            if (!st) return st.error();
            st->bind(1, type).bind(2, pseudonym);
            if (opens) {
                st->bindBlob(3, idBytes(deviceId));
            } else {
                st->bindNull(3);
            }
            st->bind(4, contact).bind(5, i64(seq.value())).bindBlob(6, idBytes(caseId));
            if (auto s = st->run(); !s) return s;
        }
        {
            // The sender holds the case: it is told when the case leaves it.
            auto st = m_db.prepare(
                "INSERT INTO case_holders (case_id, device_id) VALUES (?, ?) ON CONFLICT "
                "(case_id, device_id) DO UPDATE SET released_seq = NULL");
            if (!st) return st.error();
            st->bindBlob(1, idBytes(caseId)).bindBlob(2, idBytes(deviceId));
            if (auto s = st->run(); !s) return s;
        }
        if (!change) return {};
        std::vector<CasePropertyValue> properties = change->properties;
        if (rules::impliesStatus(*change)) {
            auto status = currentProperty(caseId, kCaseStatusProperty);
            if (!status) return status.error();
            std::optional<std::uint64_t> heldHlc;
            if (status->has_value()) heldHlc = (*status)->hlc;
            if (auto implied = rules::impliedStatus(*change, heldHlc))
                properties.push_back(std::move(*implied));
        }
        // A case holds at most rules::kMaxCaseProperties names: every device holding it receives
        // all of them at each change, so a device (buggy or hostile) that keeps inventing names
        // must not make the case too large to send. Known names still merge; the revision is kept
        // whole.
        auto held = m_db.prepare("SELECT count(*) FROM case_properties WHERE case_id = ?");
        if (!held) return held.error();
        held->bindBlob(1, idBytes(caseId));
        auto counted = held->step();
        if (!counted) return counted.error();
        auto names = held->columnInt(0);
        held.value().reset();
        for (const auto& p : properties) {
            auto current = currentProperty(caseId, p.name);
            if (!current) return current.error();
            if (!current->has_value()) {
                if (!rules::admitsNewProperty(static_cast<std::size_t>(names), p.name)) continue;
                ++names;
            }
            if (auto s = mergeProperty(caseId, p, hlc, deviceId, rid, nowMs); !s) return s;
        }
        return {};
    }

    Status storeAllocation(const Uuid& deviceId, const Uuid& caseId, const Uuid& recordId,
                           const Allocation& a, std::int64_t rid, std::int64_t nowMs) {
        {
            // Another revision of the same record (edited on another device) carries the same
            // allocation: it is one allocation, not a reuse of its slot.
            auto st = m_db.prepare(
                "SELECT 1 FROM allocations WHERE record_id = ? AND study = ? AND stratum = ? AND "
                "block = ? AND position = ? AND log_seq = ? AND arm = ? AND token IS ?");
            if (!st) return st.error();
            st->bindBlob(1, idBytes(recordId))
                .bind(2, a.study)
                .bind(3, a.stratum)
                .bind(4, static_cast<std::int64_t>(a.block))
                .bind(5, static_cast<std::int64_t>(a.position))
                .bind(6, i64(a.logSeq))
                .bind(7, a.arm)
                .bindBlob(8, a.token);
            auto row = st->step();
            if (!row) return row.error();
            if (row.value()) return {};
        }
        auto st = m_db.prepare(
            "INSERT INTO allocations (study, stratum, block, position, arm, token, device_id, "
            "log_seq, case_id, record_id, rid, taken_utc_ms, received_utc_ms) VALUES (?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!st) return st.error();
        st->bind(1, a.study)
            .bind(2, a.stratum)
            .bind(3, static_cast<std::int64_t>(a.block))
            .bind(4, static_cast<std::int64_t>(a.position))
            .bind(5, a.arm)
            .bindBlob(6, a.token)
            .bindBlob(7, idBytes(deviceId))
            .bind(8, i64(a.logSeq))
            .bindBlob(9, idBytes(caseId))
            .bindBlob(10, idBytes(recordId))
            .bind(11, rid)
            .bind(12, a.takenUtcMs)
            .bind(13, nowMs);
        return st->run();
    }

    // A study as stored, with its seed.
    struct StoredStudy {
        StudyDefinition definition;
        std::int64_t createdUtcMs = 0;
    };

    // Every study (or the one named), oldest first; NotFound when a named one is missing.
    Result<std::vector<StoredStudy>> loadStudies(const std::optional<std::string>& only = {}) {
        auto st = m_db.prepare(
            only ? "SELECT id, definition, seed, created_utc_ms FROM studies WHERE id = ?"
                 : "SELECT id, definition, seed, created_utc_ms FROM studies ORDER BY "
                   "created_utc_ms, id");
        if (!st) return st.error();
        if (only) st->bind(1, *only);
        std::vector<StoredStudy> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            auto parsed = parseStudyJson(st->columnText(1));
            if (!parsed) {
                return makeError(ErrorCode::Corrupt,
                                 "the stored definition of study " +
                                     std::string(st->columnText(0)) +
                                     " cannot be read: " + parsed.error().message);
            }
            StoredStudy s{std::move(parsed.value()), st->columnInt(3)};
            const auto seed = st->columnBlob(2);
            if (seed.size() != alloc::kSeedBytes)
                return makeError(ErrorCode::Corrupt, "a study's stored seed is damaged");
            std::copy(seed.begin(), seed.end(), s.definition.study.seed.begin());
            s.definition.seedGiven = true;
            out.push_back(std::move(s));
        }
        if (only && out.empty()) return makeError(ErrorCode::NotFound, "no study " + *only);
        return out;
    }

    // Deals the next `count` undealt blocks of one stratum to a device.
    Result<std::vector<DealtBlock>> dealLocked(const std::string& study, const std::string& stratum,
                                               const Uuid& deviceId, std::uint32_t count,
                                               std::int64_t nowMs) {
        auto next = m_db.prepare(
            "SELECT coalesce(max(block) + 1, 0), (SELECT coalesce(max(assign_seq), 0) FROM "
            "study_blocks) FROM study_blocks WHERE study = ? AND stratum = ?");
        if (!next) return next.error();
        next->bind(1, study).bind(2, stratum);
        auto row = next->step();
        if (!row) return row.error();
        auto block = static_cast<std::uint32_t>(next->columnInt(0));
        auto seq = static_cast<std::uint64_t>(next->columnInt(1));
        next.value().reset();
        auto ins = m_db.prepare(
            "INSERT INTO study_blocks (study, stratum, block, device_id, assign_seq, "
            "assigned_utc_ms) VALUES (?, ?, ?, ?, ?, ?)");
        if (!ins) return ins.error();
        std::vector<DealtBlock> out;
        for (std::uint32_t i = 0; i < count; ++i, ++block) {
            ++seq;
            ins->bind(1, study)
                .bind(2, stratum)
                .bind(3, static_cast<std::int64_t>(block))
                .bindBlob(4, idBytes(deviceId))
                .bind(5, i64(seq))
                .bind(6, nowMs);
            if (auto s = ins->run(); !s) return s.error();
            ins->reset();
            out.push_back({study, stratum, block, deviceId, seq, nowMs});
        }
        return out;
    }

    static DeviceStudy deviceStudy(const alloc::Study& s) {
        DeviceStudy out;
        out.id = s.id;
        out.pilot = s.pilot;
        for (const auto& a : s.arms)
            out.arms.push_back(a.name);
        for (const auto& f : s.factors)
            out.factors.emplace_back(f.name, f.levels);
        out.lowSlots = effectiveLowSlots(s);
        return out;
    }

    // The cases for a device after its cursor: those assigned to it or its team, and (as not
    // assigned) those it holds that are no longer its.
    Status pullCases(const Uuid& deviceId, const std::string& team, const PullRequest& request,
                     PullReply& reply) {
        {
            // Cases the device has been told it no longer holds, and has heard it: forgotten.
            auto done = m_db.prepare(
                "DELETE FROM case_holders WHERE device_id = ? AND released_seq IS NOT NULL AND "
                "released_seq <= ?");
            if (!done) return done.error();
            done->bindBlob(1, idBytes(deviceId)).bind(2, i64(request.caseCursor));
            if (auto s = done->run(); !s) return s;
        }
        auto st = m_db.prepare(
            "SELECT c.case_id, c.case_type, c.pseudonym, c.last_contact_utc_ms, c.change_seq, "
            "coalesce(c.assigned_device = ?1, 0) OR (c.assigned_team <> '' AND c.assigned_team = "
            "?2) FROM cases c WHERE c.change_seq > ?3 AND (c.assigned_device = ?1 OR "
            "(c.assigned_team <> '' AND c.assigned_team = ?2) OR EXISTS (SELECT 1 FROM "
            "case_holders h WHERE h.case_id = c.case_id AND h.device_id = ?1)) ORDER BY "
            "c.change_seq LIMIT ?4");
        if (!st) return st.error();
        const std::size_t limit = std::max<std::size_t>(1, m_policy.maxCasesPerPull);
        st->bindBlob(1, idBytes(deviceId))
            .bind(2, team)
            .bind(3, i64(request.caseCursor))
            .bind(4, static_cast<std::int64_t>(limit + 1));
        bool more = false;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            if (reply.cases.size() == limit) {
                more = true;
                break;
            }
            CaseState c;
            c.update.id = idFrom(st->columnBlob(0));
            c.update.caseType = std::string(st->columnText(1));
            c.update.pseudonym = std::string(st->columnText(2));
            if (!st->columnIsNull(3)) c.update.lastContactUtcMs = st->columnInt(3);
            c.seq = static_cast<std::uint64_t>(st->columnInt(4));
            c.update.assigned = st->columnInt(5) != 0;
            reply.cases.push_back(std::move(c));
        }
        st.value().reset();
        // Written after reading: the holders table is part of the query above.
        auto props = m_db.prepare(
            "SELECT name, value, hlc FROM case_properties WHERE case_id = ? ORDER BY name");
        auto hold = m_db.prepare(
            "INSERT INTO case_holders (case_id, device_id, released_seq) VALUES (?1, ?2, ?3) ON "
            "CONFLICT (case_id, device_id) DO UPDATE SET released_seq = ?3");
        if (!props) return props.error();
        if (!hold) return hold.error();
        std::size_t bytes = 0;
        for (std::size_t i = 0; i < reply.cases.size(); ++i) {
            auto& c = reply.cases[i];
            // A case leaving the device takes none of its properties with it.
            if (c.update.assigned) {
                props->bindBlob(1, idBytes(c.update.id));
                for (;;) {
                    auto row = props->step();
                    if (!row) return row.error();
                    if (!row.value()) break;
                    c.update.properties.push_back(
                        {std::string(props->columnText(0)), std::string(props->columnText(1)),
                         HlcTimestamp{static_cast<std::uint64_t>(props->columnInt(2))}});
                    bytes += c.update.properties.back().name.size() +
                             c.update.properties.back().value.size() + 32;
                }
                props->reset();
            }
            // An answer that grows too large pages here (at least one case per answer); the
            // cases left out are neither held nor released yet, and come with the next page.
            if (i > 0 && bytes > m_policy.maxCaseBytesPerPull) {
                reply.cases.resize(i);
                more = true;
                break;
            }
            hold->bindBlob(1, idBytes(c.update.id)).bindBlob(2, idBytes(deviceId));
            if (c.update.assigned) {
                hold->bindNull(3);
            } else {
                hold->bind(3, i64(c.seq));
            }
            if (auto s = hold->run(); !s) return s;
            hold->reset();
        }
        if (more) {
            reply.caseCursor = reply.cases.back().seq;
            reply.more = true;
        } else {
            // Every case changed up to the counter has been looked at for this device.
            auto counter = counterValue("case_seq");
            if (!counter) return counter.error();
            reply.caseCursor = std::max(request.caseCursor, counter.value());
        }
        return {};
    }

    // Deals blocks to a device that runs low (see CollectorStore::pull).
    Status topUp(const Uuid& deviceId, const PullRequest& request,
                 const std::vector<StoredStudy>& studies, std::int64_t nowMs) {
        std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, std::int64_t>> held;
        {
            auto st = m_db.prepare(
                "SELECT study, stratum, count(*), sum(assign_seq > ?2) FROM study_blocks WHERE "
                "device_id = ?1 GROUP BY study, stratum");
            if (!st) return st.error();
            st->bindBlob(1, idBytes(deviceId)).bind(2, i64(request.allocationCursor));
            for (;;) {
                auto row = st->step();
                if (!row) return row.error();
                if (!row.value()) break;
                held[{std::string(st->columnText(0)), std::string(st->columnText(1))}] = {
                    st->columnInt(2), st->columnInt(3)};
            }
        }
        std::map<std::pair<std::string, std::string>, std::uint32_t> stock;
        for (const auto& s : request.stock)
            stock[{s.study, s.stratum}] = s.remaining;
        for (const auto& stored : studies) {
            const alloc::Study& study = stored.definition.study;
            int toppedUp = 0;
            for (const auto& stratum : alloc::strata(study)) {
                const auto h = held[{study.id, stratum}];
                // Blocks on their way: the device counts them in its stock once it has them.
                if (h.second > 0) continue;
                const auto reported = stock.find({study.id, stratum});
                if (reported != stock.end()) {
                    if (reported->second >= effectiveLowSlots(study)) continue;
                } else if (h.first > 0) {
                    continue;  // it holds blocks and says nothing of them (an older Veld)
                }
                auto dealt = dealLocked(study.id, stratum, deviceId,
                                        stored.definition.blocksPerDevice, nowMs);
                if (!dealt) return dealt.error();
                ++toppedUp;
            }
            if (toppedUp > 0) {
                if (auto s = auditLocked(nowMs, "collector", "allocate", deviceId.toString(),
                                         "study " + study.id + ": " +
                                             std::to_string(stored.definition.blocksPerDevice) +
                                             " blocks in each of " + std::to_string(toppedUp) +
                                             " strata, at the device's pull");
                    !s)
                    return s;
            }
        }
        return {};
    }

    // The blocks dealt to a device after its cursor, each slot sealed to its box key.
    Status pullBlocks(const Uuid& deviceId, const std::array<std::uint8_t, 32>& boxKey,
                      const PullRequest& request, const std::vector<StoredStudy>& studies,
                      PullReply& reply) {
        auto st = m_db.prepare(
            "SELECT study, stratum, block, assign_seq FROM study_blocks WHERE device_id = ? AND "
            "assign_seq > ? ORDER BY assign_seq LIMIT ?");
        if (!st) return st.error();
        const std::size_t limit = std::max<std::size_t>(1, m_policy.maxBlocksPerPull);
        st->bindBlob(1, idBytes(deviceId))
            .bind(2, i64(request.allocationCursor))
            .bind(3, static_cast<std::int64_t>(limit + 1));
        bool more = false;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            if (reply.blocks.size() == limit) {
                more = true;
                break;
            }
            AllocationBlock b;
            b.study = std::string(st->columnText(0));
            b.stratum = std::string(st->columnText(1));
            b.block = static_cast<std::uint32_t>(st->columnInt(2));
            b.seq = static_cast<std::uint64_t>(st->columnInt(3));
            const auto def = std::find_if(
                studies.begin(), studies.end(),
                [&](const StoredStudy& s) { return s.definition.study.id == b.study; });
            if (def == studies.end())
                return makeError(ErrorCode::Corrupt, "a dealt block names no defined study");
            const auto generated = alloc::generateBlock(def->definition.study, b.stratum, b.block);
            for (std::uint32_t pos = 0; pos < generated.arms.size(); ++pos) {
                const alloc::Slot slot{b.study, b.stratum,           b.block,
                                       pos,     generated.arms[pos], generated.tokens[pos]};
                b.slots.push_back({pos, alloc::sealSlot(slot, boxKey)});
            }
            reply.blocks.push_back(std::move(b));
        }
        st.value().reset();
        if (more) {
            reply.allocationCursor = reply.blocks.back().seq;
            reply.more = true;
        } else {
            auto last = m_db.queryInt("SELECT coalesce(max(assign_seq), 0) FROM study_blocks");
            if (!last) return last.error();
            reply.allocationCursor =
                std::max(request.allocationCursor, static_cast<std::uint64_t>(last.value()));
        }
        return {};
    }

    // Gives each case a new change number, so the devices holding it look at it again.
    Status touchCase(const Uuid& caseId) {
        auto seq = nextCounter("case_seq");
        if (!seq) return seq.error();
        auto st = m_db.prepare("UPDATE cases SET change_seq = ? WHERE case_id = ?");
        if (!st) return st.error();
        st->bind(1, i64(seq.value())).bindBlob(2, idBytes(caseId));
        return st->run();
    }

    Result<std::vector<Uuid>> caseIds(std::string_view sql,
                                      const std::function<void(sql::Statement&)>& bind) {
        auto st = m_db.prepare(sql);
        if (!st) return st.error();
        bind(st.value());
        std::vector<Uuid> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            out.push_back(idFrom(st->columnBlob(0)));
        }
        return out;
    }

    Result<std::vector<rules::HeldAllocation>> allocationRowsLocked(const std::string& study,
                                                                    bool withTokens = false) {
        auto st = m_db.prepare(
            "SELECT study, stratum, block, position, arm, device_id, log_seq, case_id, record_id, "
            "coalesce(taken_utc_ms, 0), received_utc_ms, token FROM allocations WHERE study = ? "
            "ORDER BY aid");
        if (!st) return st.error();
        st->bind(1, study);
        std::vector<rules::HeldAllocation> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            rules::HeldAllocation a;
            AllocationRow& r = a.row;
            r.study = std::string(st->columnText(0));
            r.stratum = std::string(st->columnText(1));
            r.block = static_cast<std::uint32_t>(st->columnInt(2));
            r.position = static_cast<std::uint32_t>(st->columnInt(3));
            r.arm = std::string(st->columnText(4));
            r.deviceId = idFrom(st->columnBlob(5));
            r.logSeq = static_cast<std::uint64_t>(st->columnInt(6));
            r.caseId = idFrom(st->columnBlob(7));
            r.recordId = idFrom(st->columnBlob(8));
            r.takenUtcMs = st->columnInt(9);
            r.receivedUtcMs = st->columnInt(10);
            if (withTokens) {
                const auto token = st->columnBlob(11);
                a.token.assign(token.begin(), token.end());
            }
            out.push_back(std::move(a));
        }
        return out;
    }

    Result<std::vector<DealtBlock>> dealtBlocksLocked(const std::string& study) {
        auto st = m_db.prepare(
            "SELECT stratum, block, device_id, assign_seq, assigned_utc_ms FROM study_blocks "
            "WHERE study = ? ORDER BY stratum, block");
        if (!st) return st.error();
        st->bind(1, study);
        std::vector<DealtBlock> out;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            out.push_back({study, std::string(st->columnText(0)),
                           static_cast<std::uint32_t>(st->columnInt(1)), idFrom(st->columnBlob(2)),
                           static_cast<std::uint64_t>(st->columnInt(3)), st->columnInt(4)});
        }
        return out;
    }

    // Each device's allocation log numbers over every study, with how often each was used.
    Result<rules::DeviceLogs> deviceLogsLocked(const std::set<Uuid>& devices) {
        auto logs = m_db.prepare(
            "SELECT log_seq, count(*) FROM allocations WHERE device_id = ? GROUP BY log_seq "
            "ORDER BY log_seq");
        if (!logs) return logs.error();
        rules::DeviceLogs out;
        for (const auto& device : devices) {
            logs->bindBlob(1, idBytes(device));
            auto& uses = out[device];
            for (;;) {
                auto row = logs->step();
                if (!row) return row.error();
                if (!row.value()) break;
                uses.push_back(
                    {static_cast<std::uint64_t>(logs->columnInt(0)), logs->columnInt(1)});
            }
            logs->reset();
        }
        return out;
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
    std::function<void(std::size_t)> m_commitObserver;  // under m_queueMutex

    sql::Statement m_deviceState, m_heldRevision, m_heldRejected, m_insertRejected,
        m_insertRevision, m_currentRecord, m_insertRecord, m_insertConflict, m_updateRecord,
        m_advanceDevice, m_credential;
};

}  // namespace

std::string_view allocationProblemName(AllocationProblem::Kind kind) {
    using Kind = AllocationProblem::Kind;
    switch (kind) {
        case Kind::UnknownStratum:
            return "unknown stratum";
        case Kind::NoSuchSlot:
            return "no such slot";
        case Kind::ArmMismatch:
            return "arm mismatch";
        case Kind::TokenMismatch:
            return "token mismatch";
        case Kind::NotDealt:
            return "not dealt to the device";
        case Kind::SlotReused:
            return "slot used twice";
        case Kind::CaseTwice:
            return "case allocated twice";
        case Kind::Skipped:
            return "skipped";
        case Kind::LogGap:
            return "missing log entries";
        case Kind::LogReused:
            return "log number used twice";
    }
    return "problem";
}

Result<std::unique_ptr<CollectorStore>> openSqliteCollector(const std::string& path, bool create,
                                                            CollectorPolicy policy) {
    if (!sodiumReady()) return makeError(ErrorCode::Internal, "libsodium did not initialise");
    // A new store is the owner's only (0600, and so are its -wal and -shm), in a folder made
    // 0700 when it is missing.
    if (create) {
        const auto slash = path.find_last_of('/');
        if (slash != std::string::npos && slash > 0) {
            if (auto s = files::makePrivateFolder(path.substr(0, slash)); !s) return s.error();
        }
        if (auto s = files::createPrivateFile(path); !s) return s.error();
    }
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
        if (auto s = db->exec(kSchemaV5); !s) return s.error();
        if (auto s = db->exec(kSchemaV6); !s) return s.error();
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
            if (version.value() < 5) {
                if (auto s = db->exec(kSchemaV5); !s) return s.error();
            }
            if (version.value() < 6) {
                if (auto s = db->exec(kSchemaV6); !s) return s.error();
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
