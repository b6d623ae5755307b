// The SQLite store's schema: every version's DDL and the opening checks and upgrades.
#include "sqlite_schema.hpp"

#include <algorithm>
#include <iterator>

#include <veld/pseudonym.hpp>
#include <veld/uuid.hpp>

#include "../collector_key.hpp"

namespace veld::sync::sqlite {

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

constexpr sql::Migration kSteps[] = {
    {1, kSchema}, {2, kSchemaV2}, {3, kSchemaV3}, {4, kSchemaV4}, {5, kSchemaV5}, {6, kSchemaV6},
};
static_assert(std::size(kSteps) == kSchemaVersion, "one step per schema version");

}  // namespace

sql::Schema collectorSchema() {
    return {"Veld collector store", "Veld collector", kApplicationId, kSteps};
}

Status prepareSchema(sql::Database& db, const std::string& path) {
    if (auto s = sql::migrate(db, collectorSchema(), path); !s) return s;
    // A new collector's id and pseudonym key, made once (in a transaction of their own after the
    // tables: a collector stopped in between makes them at its next start).
    auto tx = sql::Transaction::begin(db);
    if (!tx) return tx.error();
    auto meta =
        db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING");
    if (!meta) return meta.error();
    // The identity key: with a new collector, or at the first open of one made before keys.
    {
        std::string key = detail::newCollectorKeyText();
        meta->bind(1, detail::kCollectorKeyMeta).bind(2, std::string_view(key));
        std::fill(key.begin(), key.end(), '\0');
        if (auto s = meta->run(); !s) return s;
        meta->reset();
    }
    auto made = db.queryInt("SELECT count(*) FROM meta WHERE key = 'collector_id'");
    if (!made) return made.error();
    if (made.value() != 0) return tx->commit();
    const std::string id = "veld-collector-" + makeUuidV4().toString().substr(0, 8);
    meta->bind(1, std::string_view("collector_id")).bind(2, id);
    if (auto s = meta->run(); !s) return s;
    meta->reset();
    meta->bind(1, std::string_view("pseudonym_key"))
        .bind(2, pseudonym::formatKey(pseudonym::newKey("p1")));
    if (auto s = meta->run(); !s) return s;
    return tx->commit();
}

}  // namespace veld::sync::sqlite
