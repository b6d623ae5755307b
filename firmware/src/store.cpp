// The device store: open and migrate, the plumbing every domain shares, check, info, batches.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include <veld/clock.hpp>
#include <veld/platform/files.hpp>
#include <veld/private_files.hpp>
#include <veld/store.hpp>

#include "store_internal.hpp"
#include "store_schema.hpp"

namespace veld {

using namespace store_detail;

namespace {

// A body must agree with the columns the store keeps next to it; a mismatch means the row or the
// body was damaged (or swapped) after it was written.
std::optional<std::string> metadataMismatch(const RecordSummary& meta, const RecordHeader& record) {
    if (record.id != meta.id) return "the body belongs to another record";
    if (record.formId != meta.formId || record.formVersion != meta.formVersion)
        return "the body names another form";
    if (record.hlc != meta.hlc) return "the body is another revision";
    if (record.caseId != meta.caseId) return "the body names another case";
    bool finalizedRow = meta.status == RecordStatus::Finalized || meta.status == RecordStatus::Sent;
    if (record.finalized != finalizedRow) return "the body's status does not match the store's";
    return std::nullopt;
}

std::optional<std::string> metadataMismatch(const RecordSummary& meta, const Record& record) {
    return metadataMismatch(
        meta, RecordHeader{record.id, record.deviceId, record.hlc, record.content.formId,
                           record.content.formVersion, record.content.caseId, record.finalized,
                           record.sealed.has_value()});
}

}  // namespace

// ---- Shared plumbing ------------------------------------------------------------------------

Status Store::Impl::prepareAll() {
    struct Item {
        sql::Statement* stmt;
        std::string sql;
    };
    const std::string cols = kRecordColumns;
    const Item items[] = {
        {&insertRecord,
         "INSERT INTO records (id, form_id, form_version, case_id, status, hlc, created_hlc, "
         "summary, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
        {&updateRecord,
         "UPDATE records SET form_id = ?2, form_version = ?3, case_id = ?4, status = ?5, hlc = ?6, "
         "summary = ?7, body = ?8 WHERE id = ?1"},
        {&selectById, "SELECT " + cols + " FROM records WHERE id = ?1"},
        {&selectBody, "SELECT " + cols + ", body FROM records WHERE id = ?1"},
        {&deleteRecord, "DELETE FROM records WHERE id = ?1 AND status = 0"},
        {&maxHlc, "SELECT max(hlc) FROM records"},
        {&lastSeq, "SELECT max(seq) FROM outbox"},
        {&metaGet, "SELECT value FROM meta WHERE key = ?1"},
        {&metaPut,
         "INSERT INTO meta (key, value) VALUES (?1, ?2) "
         "ON CONFLICT (key) DO UPDATE SET value = excluded.value"},
        {&insertOutbox,
         "INSERT INTO outbox (seq, record_id, hlc, queued_utc_ms) VALUES (?1, ?2, ?3, ?4)"},
        {&outboxPending,
         "SELECT o.seq, o.record_id, o.hlc, r.rowid, r.id, r.form_id, r.form_version, r.case_id, "
         "r.status, r.hlc, r.created_hlc, r.summary, length(r.body), r.body FROM outbox o "
         "LEFT JOIN records r ON r.id = o.record_id WHERE o.seq > ?2 ORDER BY o.seq LIMIT ?1"},
        {&outboxMarkSent,
         // Driven by the acknowledged outbox rows, not by the status index: "+status" keeps the
         // planner from scanning every waiting record on each acknowledgement.
         "UPDATE records SET status = 2 WHERE +status = 1 AND id IN "
         "(SELECT record_id FROM outbox WHERE seq <= ?1)"},
        {&outboxAck, "DELETE FROM outbox WHERE seq <= ?1"},
        {&insertQuarantine,
         "INSERT INTO quarantine (record_id, previous_status, reason, body, quarantined_utc_ms) "
         "VALUES (?1, ?2, ?3, ?4, ?5)"},
        {&markQuarantined,
         "UPDATE records SET status = 3, body = x'' WHERE id = ?1 AND hlc = ?2 AND status = ?3"},
        {&quarantineReason,
         "SELECT reason FROM quarantine WHERE record_id = ?1 ORDER BY qid DESC LIMIT 1"},
    };
    for (const auto& item : items) {
        auto st = db.prepare(item.sql);
        if (!st) return st.error();
        *item.stmt = std::move(st.value());
    }
    return {};
}

Result<std::int64_t> Store::Impl::metaInt(const char* key, std::int64_t fallback) {
    metaGet.bind(1, std::string_view(key));
    auto row = metaGet.step();
    std::int64_t value = fallback;
    if (row && *row) value = metaGet.columnInt(0);
    metaGet.reset();
    if (!row) return row.error();
    return value;
}

Status Store::Impl::putMeta(const char* key, std::int64_t value) {
    metaPut.bind(1, std::string_view(key)).bind(2, value);
    return metaPut.run();
}

// A new HLC timestamp for a write. Called inside the write transaction: the largest timestamp in
// the file is read again, so that timestamps stay increasing across restarts and across several
// processes writing the same store.
Result<HlcTimestamp> Store::Impl::stamp() {
    auto row = maxHlc.step();
    if (!row) {
        maxHlc.reset();
        return row.error();
    }
    if (*row && !maxHlc.columnIsNull(0))
        hlc.restore(HlcTimestamp{static_cast<std::uint64_t>(maxHlc.columnInt(0))});
    maxHlc.reset();
    return hlc.now();
}

// The next outbox sequence number, inside the write transaction: one past the highest ever given
// out, whether still waiting (in the outbox) or already acknowledged (meta).
Result<std::uint64_t> Store::Impl::nextSeq() {
    auto row = lastSeq.step();
    if (!row) {
        lastSeq.reset();
        return row.error();
    }
    std::int64_t waiting = (*row && !lastSeq.columnIsNull(0)) ? lastSeq.columnInt(0) : 0;
    lastSeq.reset();
    auto acked = metaInt("acked_through", 0);
    if (!acked) return acked.error();
    return static_cast<std::uint64_t>(std::max(waiting, *acked)) + 1;
}

Result<std::optional<RecordSummary>> Store::Impl::findSummary(const Uuid& id) {
    selectById.bindBlob(1, idBytes(id));
    auto row = selectById.step();
    std::optional<RecordSummary> out;
    if (row && *row) out = readSummary(selectById);
    selectById.reset();
    if (!row) return row.error();
    return out;
}

Result<std::string> Store::Impl::reasonFor(const Uuid& id) {
    quarantineReason.bindBlob(1, idBytes(id));
    auto row = quarantineReason.step();
    std::string reason = "unknown reason";
    if (row && *row) reason = std::string(quarantineReason.columnText(0));
    quarantineReason.reset();
    if (!row) return row.error();
    return reason;
}

Result<Record> Store::Impl::verifyRow(const RecordSummary& meta,
                                      std::span<const std::uint8_t> body) {
    auto decoded = decodeRecord(body);
    if (!decoded) return decoded.error();
    if (auto mismatch = metadataMismatch(meta, *decoded))
        return makeError(ErrorCode::Corrupt, "record " + meta.id.toString() + ": " + *mismatch);
    return decoded;
}

Status Store::Impl::verifyRowHeader(const RecordSummary& meta, std::span<const std::uint8_t> body) {
    auto header = inspectRecord(body);
    if (!header) return header.error();
    if (auto mismatch = metadataMismatch(meta, *header))
        return makeError(ErrorCode::Corrupt, "record " + meta.id.toString() + ": " + *mismatch);
    return {};
}

// Moves a bad body aside. The record row stays with status quarantined and an empty body, so an
// outbox entry that points at it keeps its sequence number.
Result<bool> Store::Impl::quarantineRecord(const RecordSummary& meta,
                                           std::span<const std::uint8_t> body,
                                           const std::string& reason) {
    if (readOnly) return false;
    auto tx = sql::Transaction::begin(db);
    if (!tx) return tx.error();
    // Only the revision that was read and found bad: if another process changed the row since
    // (finalized it, acknowledged it), the newer row is left alone.
    markQuarantined.bindBlob(1, idBytes(meta.id))
        .bind(2, static_cast<std::int64_t>(meta.hlc.value))
        .bind(3, static_cast<std::int64_t>(meta.status));
    if (Status s = markQuarantined.run(); !s) return s.error();
    if (db.changes() != 1) return false;
    insertQuarantine.bindBlob(1, idBytes(meta.id))
        .bind(2, static_cast<std::int64_t>(meta.status))
        .bind(3, std::string_view(reason))
        .bindBlob(4, body)
        .bind(5, clock->nowMillis());
    if (Status s = insertQuarantine.run(); !s) return s.error();
    if (Status s = tx->commit(); !s) return s.error();
    return true;
}

// ---- Store ----------------------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Store::Impl& Store::impl() const {
    assert(m_impl && "use of a moved-from Store");
    return *m_impl;
}

const Uuid& Store::deviceId() const {
    return impl().deviceId;
}
bool Store::readOnly() const {
    return impl().readOnly;
}
const std::string& Store::path() const {
    return impl().path;
}

Result<Store> Store::open(const std::string& path, StoreOptions options) {
    const Clock& clock = options.clock ? *options.clock : SystemClock::instance();
    if (options.mode == sql::OpenMode::ReadWriteCreate) {
        // Made private before SQLite opens it: answers are personal data, and SQLite gives the
        // -wal and -shm files the database's mode.
        if (Status s = files::createPrivateFile(path); !s) return s.error();
    } else if (std::error_code ec; !std::filesystem::exists(platform::fsPath(path), ec)) {
        return makeError(ErrorCode::NotFound, "no store at " + path);
    }

    auto db = sql::Database::open(path, options.mode, options.busyTimeoutMs, options.vfs);
    if (!db) return db.error();
    auto impl = std::make_unique<Impl>(clock);
    impl->path = path;
    impl->db = std::move(db.value());
    sql::Database& d = impl->db;
    impl->readOnly = d.readOnly();

    // One statement, so one snapshot: another process may be creating the same store right now.
    const sql::Schema schema = store_schema::schema();
    auto header = sql::readSchemaHeader(d, schema, path);
    if (!header) return header.error();
    if (Status s = sql::checkSchema(*header, schema, path); !s) return s.error();
    const bool fresh = header->fresh();
    const std::optional<std::int64_t> version = header->version;

    if (impl->readOnly) {
        if (fresh) return makeError(ErrorCode::ReadOnly, path + " is empty and cannot be written");
        if (*version < kSchemaVersion)
            return makeError(ErrorCode::ReadOnly, path + " needs upgrading to schema " +
                                                      std::to_string(kSchemaVersion) +
                                                      " but cannot be written");
    } else {
        // Changing the journal mode needs the file to itself and does not wait in SQLite's busy
        // handler, so when several processes open a new store at once, wait here instead.
        auto setup = [&](const std::string& pragma) -> Status {
            auto deadline =
                std::chrono::steady_clock::now() + std::chrono::milliseconds(options.busyTimeoutMs);
            for (;;) {
                Status s = d.exec(pragma);
                if (s || s.error().code != ErrorCode::InUse ||
                    std::chrono::steady_clock::now() >= deadline)
                    return s;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        };
        // WAL lets readers (the uploader, veldctl) work while the client writes.
        if (fresh) {
            // 2 KiB pages: a finalize dirties about eight pages (the record, four indexes, the
            // counts, the outbox), and the fsync that makes it durable costs by the byte. Halving
            // the page size took finalize from 0.66 to about 0.8 of a raw SQLite insert in
            // tests/bench while a typical body (about 1 KiB) still fits a page.
            if (Status s = setup("PRAGMA page_size=2048"); !s) return s.error();
        }
        if (Status s = setup("PRAGMA journal_mode=WAL"); !s) return s.error();
        if (fresh) {
            if (Status s = setup("PRAGMA application_id = " + std::to_string(kApplicationId)); !s)
                return s.error();
        }
        if (Status s = sql::migrate(d, schema, path); !s) return s.error();
    }
    // temp_store=MEMORY: savepoints inside a batch keep their undo data in memory instead of
    // spilling it to temporary files (tens of KB of writes per record in a batch).
    if (Status s =
            d.exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY");
        !s)
        return s.error();
    if (Status s = impl->prepareAll(); !s) return s.error();

    // The device id is made once, when the store (the device profile) is made.
    auto readDeviceId = [&]() -> Result<std::optional<Uuid>> {
        impl->metaGet.bind(1, std::string_view("device_id"));
        auto row = impl->metaGet.step();
        std::optional<Uuid> id;
        if (row && *row) id = uuidFromBlob(impl->metaGet.columnBlob(0));
        impl->metaGet.reset();
        if (!row) return row.error();
        return id;
    };
    auto existing = readDeviceId();
    if (!existing) return existing.error();
    if (!*existing) {
        if (impl->readOnly) return makeError(ErrorCode::Corrupt, path + " has no device id");
        auto tx = sql::Transaction::begin(d);
        if (!tx) return tx.error();
        auto again = readDeviceId();  // another process may have made it meanwhile
        if (!again) return again.error();
        if (!*again) {
            Uuid id = makeUuidV4();
            impl->metaPut.bind(1, std::string_view("device_id")).bindBlob(2, idBytes(id));
            if (Status s = impl->metaPut.run(); !s) return s.error();
            if (Status s = impl->putMeta("created_utc_ms", clock.nowMillis()); !s) return s.error();
        }
        if (Status s = tx->commit(); !s) return s.error();
        existing = readDeviceId();
        if (!existing) return existing.error();
        if (!*existing) return makeError(ErrorCode::Internal, "device id was not saved");
    }
    impl->deviceId = **existing;

    // Restore the clock from the file so that it never goes back across restarts.
    auto row = impl->maxHlc.step();
    if (!row) return row.error();
    if (*row && !impl->maxHlc.columnIsNull(0))
        impl->hlc.restore(HlcTimestamp{static_cast<std::uint64_t>(impl->maxHlc.columnInt(0))});
    impl->maxHlc.reset();

    return Store(std::move(impl));
}

// ---- Maintenance ----------------------------------------------------------------------------

Result<std::vector<QuarantineEntry>> Store::quarantine() {
    auto st = impl().db.prepare(
        "SELECT qid, record_id, previous_status, reason, quarantined_utc_ms, length(body) "
        "FROM quarantine ORDER BY qid");
    if (!st) return st.error();
    std::vector<QuarantineEntry> out;
    if (auto stepped = st->forEachRow([&] {
            QuarantineEntry q;
            q.quarantineId = st->columnInt(0);
            q.recordId = uuidFromBlob(st->columnBlob(1)).value_or(Uuid{});
            q.previousStatus = static_cast<RecordStatus>(st->columnInt(2));
            q.reason = std::string(st->columnText(3));
            q.quarantinedUtcMs = st->columnInt(4);
            q.bodyBytes = st->columnInt(5);
            out.push_back(std::move(q));
        });
        !stepped)
        return stepped.error();
    return out;
}

Result<CheckReport> Store::check(bool moveBad) {
    Impl& m = impl();
    CheckReport report;
    {
        auto st = m.db.prepare("PRAGMA integrity_check");
        if (!st) return st.error();
        if (auto stepped =
                st->forEachRow([&] { report.integrityMessages.emplace_back(st->columnText(0)); });
            !stepped)
            return stepped.error();
        report.integrityOk =
            report.integrityMessages.size() == 1 && report.integrityMessages[0] == "ok";
        if (report.integrityOk) report.integrityMessages.clear();
    }

    struct Bad {
        RecordSummary meta;
        std::vector<std::uint8_t> body;
        std::string reason;
    };
    std::vector<Bad> bad;
    {
        auto st = m.db.prepare(std::string("SELECT ") + kRecordColumns + ", body FROM records");
        if (!st) return st.error();
        if (auto stepped = st->forEachRow([&] {
                RecordSummary meta = readSummary(*st);
                if (meta.status == RecordStatus::Quarantined) {
                    ++report.alreadyQuarantined;
                    return;
                }
                ++report.bodiesChecked;
                auto blob = st->columnBlob(10);
                std::string reason;
                if (st->columnBlob(1).size() != 16) {
                    reason = "the record's id column is damaged";
                } else if (auto record = m.verifyRow(meta, blob); !record) {
                    if (record.error().code == ErrorCode::TooNew) {
                        ++report.newerBodies;  // readable by a newer Veld; not damage
                        return;
                    }
                    reason = record.error().message;
                } else {
                    return;
                }
                bad.push_back({meta, std::vector<std::uint8_t>(blob.begin(), blob.end()), reason});
            });
            !stepped)
            return stepped.error();
    }
    for (auto& b : bad) {
        QuarantineEntry q;
        q.recordId = b.meta.id;
        q.previousStatus = b.meta.status;
        q.reason = b.reason;
        q.bodyBytes = static_cast<std::int64_t>(b.body.size());
        report.badBodies.push_back(std::move(q));
    }
    if (moveBad && !m.readOnly) {
        for (auto& b : bad) {
            if (auto moved = m.quarantineRecord(b.meta, b.body, b.reason); !moved)
                return moved.error();
        }
        report.moved = !bad.empty();
    }
    return report;
}

Result<StoreInfo> Store::info() {
    Impl& m = impl();
    StoreInfo info;
    info.path = m.path;
    info.deviceId = m.deviceId;
    info.readOnly = m.readOnly;
    auto version = m.db.queryInt("PRAGMA user_version");
    if (!version) return version.error();
    info.schemaVersion = static_cast<int>(*version);
    auto created = m.metaInt("created_utc_ms", 0);
    if (!created) return created.error();
    info.createdUtcMs = *created;
    auto row = m.maxHlc.step();
    if (row && *row && !m.maxHlc.columnIsNull(0))
        info.lastHlc = HlcTimestamp{static_cast<std::uint64_t>(m.maxHlc.columnInt(0))};
    m.maxHlc.reset();
    if (!row) return row.error();

    auto counts = this->counts();
    if (!counts) return counts.error();
    for (const auto& c : *counts) {
        switch (c.status) {
            case RecordStatus::Draft:
                info.drafts += c.count;
                break;
            case RecordStatus::Finalized:
                info.finalized += c.count;
                break;
            case RecordStatus::Sent:
                info.sent += c.count;
                break;
            case RecordStatus::Quarantined:
                info.quarantined += c.count;
                break;
        }
    }
    auto outbox = outboxState();
    if (!outbox) return outbox.error();
    info.outbox = *outbox;
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(platform::fsPath(m.path), ec);
    if (!ec) info.fileBytes = static_cast<std::int64_t>(bytes);
    return info;
}

// ---- Batch ----------------------------------------------------------------------------------

struct Store::Batch::State {
    sql::Transaction tx;
};

Store::Batch::Batch(std::unique_ptr<State> state) : m_state(std::move(state)) {}
Store::Batch::Batch(Batch&&) noexcept = default;
Store::Batch::~Batch() = default;

Status Store::Batch::commit() {
    assert(m_state && "commit() on a moved-from batch");
    return m_state->tx.commit();
}

Result<Store::Batch> Store::beginBatch() {
    Impl& m = impl();
    if (Status s = m.requireWritable("starting a batch"); !s) return s.error();
    if (m.db.transactionDepth() > 0) {
        return makeError(ErrorCode::WrongState,
                         "a batch is already open on this store; commit or drop it first");
    }
    // A batch may hold finalizes, so its commit is a durable one.
    if (Status s = m.setSync(true); !s) return s.error();
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    return Batch(std::make_unique<Batch::State>(Batch::State{std::move(tx.value())}));
}

}  // namespace veld
