#include "store_schema.hpp"

#include <veld/store.hpp>

namespace veld::store_schema {

namespace {

// Version 1: records, outbox, counts.
constexpr const char* kV1 = R"sql(
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value ANY
) STRICT;

-- One row per record: the current revision's body and the columns lists filter on.
-- status: 0 draft, 1 finalized (in the outbox), 2 sent (acknowledged), 3 quarantined.
CREATE TABLE records (
    rowid        INTEGER PRIMARY KEY,
    id           BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    form_id      TEXT NOT NULL,
    form_version INTEGER NOT NULL,
    case_id      BLOB CHECK (case_id IS NULL OR length(case_id) = 16),
    status       INTEGER NOT NULL CHECK (status BETWEEN 0 AND 3),
    hlc          INTEGER NOT NULL,
    created_hlc  INTEGER NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    body         BLOB NOT NULL
) STRICT;
CREATE INDEX records_by_hlc ON records (hlc);
CREATE INDEX records_by_form ON records (form_id, hlc);
CREATE INDEX records_by_status ON records (status, hlc);
CREATE INDEX records_by_case ON records (case_id, hlc) WHERE case_id IS NOT NULL;

-- Finalized revisions waiting for the collector. seq is gap-free; the highest acknowledged
-- number is kept in meta('acked_through') because acknowledged rows are deleted.
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY,
    record_id     BLOB NOT NULL REFERENCES records (id),
    hlc           INTEGER NOT NULL,
    queued_utc_ms INTEGER NOT NULL
) STRICT;
-- No index on record_id: the outbox holds only waiting rows, so the foreign key check when a
-- draft is deleted scans a short table, and each finalize writes one page less.

-- Records per form and status, kept by triggers so the home screen never scans.
CREATE TABLE record_counts (
    form_id TEXT NOT NULL,
    status  INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (form_id, status)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER records_count_insert AFTER INSERT ON records BEGIN
    INSERT INTO record_counts (form_id, status, n) VALUES (new.form_id, new.status, 1)
        ON CONFLICT (form_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER records_count_delete AFTER DELETE ON records BEGIN
    UPDATE record_counts SET n = n - 1 WHERE form_id = old.form_id AND status = old.status;
END;
CREATE TRIGGER records_count_update AFTER UPDATE OF form_id, status ON records
    WHEN old.form_id IS NOT new.form_id OR old.status IS NOT new.status BEGIN
    UPDATE record_counts SET n = n - 1 WHERE form_id = old.form_id AND status = old.status;
    INSERT INTO record_counts (form_id, status, n) VALUES (new.form_id, new.status, 1)
        ON CONFLICT (form_id, status) DO UPDATE SET n = n + 1;
END;
)sql";

// Version 2: the quarantine. The record row stays (status 3) so that an outbox entry pointing at
// it keeps its place in the sequence; the bad body moves here with the reason.
constexpr const char* kV2 = R"sql(
CREATE TABLE quarantine (
    qid                INTEGER PRIMARY KEY,
    record_id          BLOB NOT NULL REFERENCES records (id),
    previous_status    INTEGER NOT NULL,
    reason             TEXT NOT NULL,
    body               BLOB NOT NULL,
    quarantined_utc_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX quarantine_by_record ON quarantine (record_id);
)sql";

// Version 3: the forms published to this device (immutable per version: a draft reopens with the
// version it was started with) and the device's settings.
constexpr const char* kV3 = R"sql(
CREATE TABLE forms (
    form_id          TEXT NOT NULL,
    version          INTEGER NOT NULL,
    pilot            TEXT NOT NULL DEFAULT '',
    binary           BLOB NOT NULL,
    installed_utc_ms INTEGER NOT NULL,
    PRIMARY KEY (form_id, version)
) STRICT;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
)sql";

// Version 4: cases and randomisation.
// cases: the cases this device holds (opened here, or assigned to it by the collector). A case
// the collector no longer assigns here stays, hidden (assigned = 0): records may still name it.
// case_properties keep an empty value (a cleared property) with its HLC, so that an older value
// merged later cannot bring it back.
// allocation_slots keep every sealed slot received, used or not (receiving one again is then a
// no-op); allocation_log is the device's record of every slot it opened. The log is append-only:
// triggers refuse every UPDATE and DELETE, so no code path (and no careless tool) can rewrite
// which participant got which arm.
constexpr const char* kV4 = R"sql(
CREATE TABLE cases (
    case_id             BLOB PRIMARY KEY CHECK (length(case_id) = 16),
    case_type           TEXT NOT NULL DEFAULT '',
    pseudonym           TEXT NOT NULL DEFAULT '',
    last_contact_utc_ms INTEGER,
    assigned            INTEGER NOT NULL DEFAULT 1 CHECK (assigned IN (0, 1)),
    opened_by           BLOB CHECK (opened_by IS NULL OR length(opened_by) = 16)
) STRICT, WITHOUT ROWID;
CREATE INDEX cases_by_pseudonym ON cases (pseudonym) WHERE pseudonym <> '';

CREATE TABLE case_properties (
    case_id BLOB NOT NULL REFERENCES cases (case_id),
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    hlc     INTEGER NOT NULL,
    PRIMARY KEY (case_id, name)
) STRICT, WITHOUT ROWID;

-- arms: one name per line; factors: one per line, "name<TAB>level<TAB>level...".
CREATE TABLE studies (
    id        TEXT PRIMARY KEY,
    pilot     TEXT NOT NULL DEFAULT '',
    arms      TEXT NOT NULL,
    factors   TEXT NOT NULL,
    low_slots INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE allocation_slots (
    study           TEXT NOT NULL,
    stratum         TEXT NOT NULL,
    block           INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    box             BLOB NOT NULL,
    received_utc_ms INTEGER NOT NULL,
    PRIMARY KEY (study, stratum, block, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE allocation_log (
    log_seq      INTEGER PRIMARY KEY,
    study        TEXT NOT NULL,
    stratum      TEXT NOT NULL,
    block        INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    arm          TEXT NOT NULL,
    token        BLOB NOT NULL,
    case_id      BLOB NOT NULL CHECK (length(case_id) = 16),
    record_id    BLOB NOT NULL CHECK (length(record_id) = 16),
    taken_utc_ms INTEGER NOT NULL,
    UNIQUE (study, stratum, block, position),
    UNIQUE (study, case_id)
) STRICT;
-- INSERT OR REPLACE would delete an entry without firing a delete trigger, so an insert must
-- be the next number and must not collide with an entry; that also keeps the numbers gap-free.
CREATE TRIGGER allocation_log_next_only BEFORE INSERT ON allocation_log
    WHEN new.log_seq IS NOT (SELECT coalesce(max(log_seq), 0) + 1 FROM allocation_log) BEGIN
    SELECT RAISE(ABORT, 'the allocation log is append-only: an entry takes the next number');
END;
CREATE TRIGGER allocation_log_no_replace BEFORE INSERT ON allocation_log
    WHEN EXISTS (SELECT 1 FROM allocation_log WHERE study = new.study AND
                 stratum = new.stratum AND block = new.block AND position = new.position)
      OR EXISTS (SELECT 1 FROM allocation_log WHERE study = new.study AND case_id = new.case_id)
BEGIN
    SELECT RAISE(ABORT, 'the allocation log is append-only: entries are never replaced');
END;
CREATE TRIGGER allocation_log_no_update BEFORE UPDATE ON allocation_log BEGIN
    SELECT RAISE(ABORT, 'the allocation log is append-only: entries are never changed');
END;
CREATE TRIGGER allocation_log_no_delete BEFORE DELETE ON allocation_log BEGIN
    SELECT RAISE(ABORT, 'the allocation log is append-only: entries are never deleted');
END;
)sql";

// Version 5: proof of what was sent. Each finalized revision's link in the device's hash chain
// (veld/chain.hpp): in its outbox row (sent with it) and in its record's row (the current
// revision's, kept after the outbox row goes); the newest link is the meta row chain_last_link.
// receipts: what the collector answered each push with (store_proof.cpp), append-only like the
// allocation log.
constexpr const char* kV5 = R"sql(
ALTER TABLE outbox ADD COLUMN chain_prev BLOB;
ALTER TABLE outbox ADD COLUMN chain_link BLOB;
ALTER TABLE records ADD COLUMN chain_seq INTEGER;
ALTER TABLE records ADD COLUMN chain_link BLOB;

CREATE TABLE receipts (
    id          INTEGER PRIMARY KEY,
    kept_utc_ms INTEGER NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    status      INTEGER NOT NULL CHECK (status BETWEEN 0 AND 3),
    reason      TEXT NOT NULL DEFAULT '',
    receipt     BLOB
) STRICT;
-- INSERT OR REPLACE would delete a receipt without firing the delete trigger.
CREATE TRIGGER receipts_no_replace BEFORE INSERT ON receipts
    WHEN EXISTS (SELECT 1 FROM receipts WHERE id = new.id) BEGIN
    SELECT RAISE(ABORT, 'the receipts are append-only: receipts are never replaced');
END;
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts BEGIN
    SELECT RAISE(ABORT, 'the receipts are append-only: receipts are never changed');
END;
CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts BEGIN
    SELECT RAISE(ABORT, 'the receipts are append-only: receipts are never deleted');
END;
)sql";

// Version 6: corrections (records central staff sent back, veld/correction.hpp). corrections:
// the collector's newest change per record (Open or Corrected; a Withdrawn one deletes the row),
// with its copy of the record for a device that never held it, and done_hlc, the correcting
// revision finalized here (0: not yet). records.base_hlc: for a correction draft, the revision it
// was reopened from (0 for every other record); outbox.base_hlc carries it to the collector.
constexpr const char* kV6 = R"sql(
CREATE TABLE corrections (
    record_id     BLOB PRIMARY KEY NOT NULL CHECK (length(record_id) = 16),
    seq           INTEGER NOT NULL,
    state         INTEGER NOT NULL CHECK (state BETWEEN 0 AND 2),
    form_id       TEXT NOT NULL DEFAULT '',
    form_version  INTEGER NOT NULL DEFAULT 0,
    comment       TEXT NOT NULL DEFAULT '',
    review_utc_ms INTEGER NOT NULL DEFAULT 0,
    case_id       BLOB CHECK (case_id IS NULL OR length(case_id) = 16),
    sealed        INTEGER NOT NULL DEFAULT 0,
    body          BLOB NOT NULL DEFAULT x'',
    done_hlc      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX corrections_by_case ON corrections (case_id) WHERE case_id IS NOT NULL;
ALTER TABLE records ADD COLUMN base_hlc INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN base_hlc INTEGER NOT NULL DEFAULT 0;
)sql";

constexpr Migration kMigrations[] = {
    {1, kV1}, {2, kV2}, {3, kV3}, {4, kV4}, {5, kV5}, {6, kV6},
};

}  // namespace

std::span<const Migration> migrations() {
    return kMigrations;
}

sql::Schema schema() {
    return {"Veld store", "Veld", Store::kApplicationId, kMigrations};
}

}  // namespace veld::store_schema
