#include "store_schema.hpp"

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

constexpr Migration kMigrations[] = {
    {1, kV1},
    {2, kV2},
    {3, kV3},
};

}  // namespace

std::span<const Migration> migrations() {
    return kMigrations;
}

}  // namespace veld::store_schema
