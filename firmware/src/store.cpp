#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <veld/clock.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/sealed_record.hpp>
#include <veld/store.hpp>

#include "store_schema.hpp"

namespace veld {

namespace {

constexpr const char* kRecordColumns =
    "rowid, id, form_id, form_version, case_id, status, hlc, created_hlc, summary, length(body)";

std::span<const std::uint8_t> idBytes(const Uuid& id) {
    return {id.bytes.data(), id.bytes.size()};
}

std::optional<Uuid> uuidFromBlob(std::span<const std::uint8_t> blob) {
    if (blob.size() != 16) return std::nullopt;
    Uuid id;
    std::copy(blob.begin(), blob.end(), id.bytes.begin());
    return id;
}

// Reads the kRecordColumns of a row, starting at column `first` (0 when the query selects them
// first).
RecordSummary readSummary(const sql::Statement& st, int first = 0) {
    RecordSummary s;
    s.id = uuidFromBlob(st.columnBlob(first + 1)).value_or(Uuid{});
    s.formId = std::string(st.columnText(first + 2));
    s.formVersion = static_cast<std::uint32_t>(st.columnInt(first + 3));
    if (!st.columnIsNull(first + 4)) s.caseId = uuidFromBlob(st.columnBlob(first + 4));
    s.status = static_cast<RecordStatus>(st.columnInt(first + 5));
    s.hlc = HlcTimestamp{static_cast<std::uint64_t>(st.columnInt(first + 6))};
    s.createdHlc = HlcTimestamp{static_cast<std::uint64_t>(st.columnInt(first + 7))};
    s.summary = std::string(st.columnText(first + 8));
    s.bodyBytes = st.columnInt(first + 9);
    return s;
}

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

// Summaries name a record in lists; longer text is cut at a character boundary so a careless
// caller cannot bloat every list row.
std::string_view shortSummary(std::string_view summary) {
    if (summary.size() <= kMaxSummaryBytes) return summary;
    std::size_t end = kMaxSummaryBytes;
    while (end > 0 && (static_cast<unsigned char>(summary[end]) & 0xC0) == 0x80)
        --end;
    return summary.substr(0, end);
}

// Creates the file with mode 0600 before SQLite opens it: answers are personal data, and SQLite
// gives the -wal and -shm files the same mode as the database.
Status createPrivateFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ::close(fd);
        return {};
    }
    if (errno == EEXIST) return {};
    int err = errno;
    ErrorCode code = (err == EACCES || err == EROFS || err == EPERM) ? ErrorCode::ReadOnly
                     : err == ENOSPC                                 ? ErrorCode::StorageFull
                     : err == ENOENT                                 ? ErrorCode::NotFound
                                                                     : ErrorCode::Io;
    return makeError(code, "cannot create " + path + ": " + std::strerror(err));
}

}  // namespace

struct Store::Impl {
    sql::Database db;
    std::string path;
    const Clock* clock = nullptr;
    Hlc hlc;
    Uuid deviceId;
    bool readOnly = false;
    bool fullSync = false;  // current PRAGMA synchronous is FULL

    // Statements reused on every call.
    sql::Statement insertRecord, updateRecord, selectById, selectBody, deleteRecord, maxHlc,
        lastSeq, metaGet, metaPut, insertOutbox, outboxPending, outboxAck, outboxMarkSent,
        insertQuarantine, markQuarantined, quarantineReason;

    // Whether each installed form version seals its records; a version never changes once
    // installed, so what is found stays true.
    std::map<std::pair<std::string, std::uint32_t>, bool> sealedForms;

    Impl(const Clock& c) : clock(&c), hlc(c) {}

    /// Whether records of this form version are sealed (false when it is not installed).
    Result<bool> formSealed(const std::string& formId, std::uint32_t version);
    /// Refuses a draft of a sealed form: its answers must not reach the disk in clear.
    Status refuseSealedDraft(const RecordContent& content);
    /// The record as it is written: sealed to the project key when its form is sealed.
    Result<Record> sealIfNeeded(Record record, std::string_view& summary);

    Status requireWritable(std::string_view what) const {
        if (readOnly)
            return makeError(ErrorCode::ReadOnly,
                             std::string(what) + ": the store " + path + " is open read-only");
        return {};
    }

    // Inside a batch the batch's own setting (FULL) holds until its commit.
    Status setSync(bool full) {
        if (full == fullSync || db.inTransaction()) return {};
        Status s = db.exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        if (s) fullSync = full;
        return s;
    }

    Status prepareAll();
    Result<std::int64_t> metaInt(const char* key, std::int64_t fallback);
    Status putMeta(const char* key, std::int64_t value);
    Result<HlcTimestamp> stamp();
    Result<std::uint64_t> nextSeq();
    Result<std::optional<RecordSummary>> findSummary(const Uuid& id);
    Result<Finalized> writeFinalized(const std::optional<Uuid>& draftId,
                                     const RecordContent& content, std::string_view summary);
    /// Moves a bad body to the quarantine; false when the row changed since it was read (or the
    /// store is read-only) and nothing was moved.
    Result<bool> quarantineRecord(const RecordSummary& meta, std::span<const std::uint8_t> body,
                                  const std::string& reason);
    Result<std::string> reasonFor(const Uuid& id);
    Result<Record> verifyRow(const RecordSummary& meta, std::span<const std::uint8_t> body);
    /// The same checks as verifyRow(), for a body that is passed on rather than read.
    Status verifyRowHeader(const RecordSummary& meta, std::span<const std::uint8_t> body);
};

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

Result<bool> Store::Impl::formSealed(const std::string& formId, std::uint32_t version) {
    const auto key = std::make_pair(formId, version);
    if (auto it = sealedForms.find(key); it != sealedForms.end()) return it->second;
    auto st = db.prepare("SELECT binary FROM forms WHERE form_id = ?1 AND version = ?2");
    if (!st) return st.error();
    st->bind(1, std::string_view(formId)).bind(2, static_cast<std::int64_t>(version));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return false;
    const bool sealed = formIsSealed(st->columnBlob(0));
    sealedForms.emplace(key, sealed);
    return sealed;
}

Status Store::Impl::refuseSealedDraft(const RecordContent& content) {
    auto sealed = formSealed(content.formId, content.formVersion);
    if (!sealed) return sealed.error();
    if (*sealed) {
        return makeError(ErrorCode::WrongState,
                         "form " + content.formId +
                             " is sealed: its answers are kept in memory until finalized, never "
                             "saved as a draft");
    }
    return {};
}

Result<Record> Store::Impl::sealIfNeeded(Record record, std::string_view& summary) {
    auto sealed = formSealed(record.content.formId, record.content.formVersion);
    if (!sealed) return sealed.error();
    if (!*sealed) return record;
    auto st = db.prepare("SELECT value FROM settings WHERE key = ?1");
    if (!st) return st.error();
    st->bind(1, projectkey::kKeySetting);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) {
        return makeError(ErrorCode::WrongState,
                         "form " + record.content.formId +
                             " is sealed and this device has no project key yet: synchronise "
                             "with the collector first");
    }
    auto key = projectkey::parsePublicKey(st->columnText(0));
    if (!key) {
        return makeError(ErrorCode::Corrupt,
                         "the project key on this device cannot be read: synchronise with the "
                         "collector again");
    }
    summary = {};  // a summary may quote an answer
    return sealRecord(record, key.value());
}

Result<Finalized> Store::Impl::writeFinalized(const std::optional<Uuid>& draftId,
                                              const RecordContent& content,
                                              std::string_view summary) {
    if (Status s = requireWritable("finalizing a record"); !s) return s.error();
    if (Status s = setSync(true); !s) return s.error();

    auto tx = sql::Transaction::begin(db);
    if (!tx) return tx.error();

    Record record;
    record.deviceId = deviceId;
    record.finalized = true;
    record.content = content;
    if (draftId) {
        auto existing = findSummary(*draftId);
        if (!existing) return existing.error();
        if (!*existing)
            return makeError(ErrorCode::NotFound,
                             "no record " + draftId->toString() + " to finalize");
        if ((*existing)->status != RecordStatus::Draft)
            return makeError(ErrorCode::WrongState,
                             "record " + draftId->toString() + " is " +
                                 std::string(recordStatusName((*existing)->status)) +
                                 ", not a draft");
        record.id = *draftId;
        record.createdHlc = (*existing)->createdHlc;
    } else {
        record.id = makeUuidV7(*clock);
    }
    auto ts = stamp();
    if (!ts) return ts.error();
    record.hlc = *ts;
    if (!draftId) record.createdHlc = record.hlc;
    auto seq = nextSeq();
    if (!seq) return seq.error();

    auto written = sealIfNeeded(std::move(record), summary);
    if (!written) return written.error();
    record = std::move(written.value());
    auto body = encodeRecord(record);
    if (!body) return body.error();

    sql::Statement& st = draftId ? updateRecord : insertRecord;
    int p = 1;
    st.bindBlobStatic(p++, idBytes(record.id));
    st.bind(p++, std::string_view(content.formId));
    st.bind(p++, static_cast<std::int64_t>(content.formVersion));
    if (content.caseId) {
        st.bindBlob(p++, idBytes(*content.caseId));
    } else {
        st.bindNull(p++);
    }
    st.bind(p++, static_cast<std::int64_t>(RecordStatus::Finalized));
    st.bind(p++, static_cast<std::int64_t>(record.hlc.value));
    if (!draftId) st.bind(p++, static_cast<std::int64_t>(record.createdHlc.value));
    st.bind(p++, shortSummary(summary));
    st.bindBlobStatic(p++, *body);
    if (Status s = st.run(); !s) return s.error();

    insertOutbox.bind(1, static_cast<std::int64_t>(*seq))
        .bindBlobStatic(2, idBytes(record.id))
        .bind(3, static_cast<std::int64_t>(record.hlc.value))
        .bind(4, clock->nowMillis());
    if (Status s = insertOutbox.run(); !s) return s.error();

    if (Status s = tx->commit(); !s) return s.error();
    return Finalized{record.id, *seq, record.hlc};
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

namespace {

// Brings the file to the current schema, one migration per transaction. The version is read again
// inside each transaction, so two processes opening a new store at once do not both migrate it.
Status migrate(sql::Database& db, int from, const std::string& path) {
    for (const auto& m : store_schema::migrations()) {
        if (m.version <= from) continue;
        auto tx = sql::Transaction::begin(db);
        if (!tx) return tx.error();
        auto current = db.queryInt("PRAGMA user_version");
        if (!current) return current.error();
        if (*current >= m.version) continue;
        if (Status s = db.exec(m.sql); !s) {
            return makeError(s.error().code, "upgrading " + path + " to schema " +
                                                 std::to_string(m.version) + ": " +
                                                 s.error().message);
        }
        if (Status s = db.exec("PRAGMA user_version = " + std::to_string(m.version)); !s) return s;
        if (Status s = tx->commit(); !s) return s;
    }
    return {};
}

}  // namespace

Result<Store> Store::open(const std::string& path, StoreOptions options) {
    const Clock& clock = options.clock ? *options.clock : SystemClock::instance();
    if (options.mode == sql::OpenMode::ReadWriteCreate) {
        if (Status s = createPrivateFile(path); !s) return s.error();
    } else if (::access(path.c_str(), F_OK) != 0) {
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
    auto header = d.prepare(
        "SELECT (SELECT application_id FROM pragma_application_id), "
        "(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)");
    Result<bool> headerRow = header ? header->step() : Result<bool>(header.error());
    if (!headerRow || !*headerRow) {
        Error e = headerRow ? makeError(ErrorCode::Internal, "reading the store header")
                            : headerRow.error();
        if (e.code == ErrorCode::NotAStore || e.code == ErrorCode::Corrupt)
            return makeError(ErrorCode::NotAStore,
                             path + " is not a Veld store (" + e.message + ")");
        return e;
    }
    std::optional<std::int64_t> appId = header->columnInt(0);
    std::optional<std::int64_t> version = header->columnInt(1);
    std::optional<std::int64_t> tables = header->columnInt(2);
    header->reset();
    bool fresh = *tables == 0 && *version == 0 && *appId == 0;
    if (!fresh && *appId != kApplicationId)
        return makeError(ErrorCode::NotAStore, path + " is an SQLite file, but not a Veld store");
    if (*version > kSchemaVersion) {
        return makeError(ErrorCode::TooNew, path + " was written by a newer Veld (schema " +
                                                std::to_string(*version) + ", this Veld knows " +
                                                std::to_string(kSchemaVersion) +
                                                "); install the newer Veld to open it");
    }

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
        if (Status s = migrate(d, static_cast<int>(*version), path); !s) return s.error();
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

Result<Uuid> Store::saveDraft(const RecordContent& content, std::string_view summary) {
    Impl& m = impl();
    if (Status s = m.requireWritable("saving a draft"); !s) return s.error();
    if (Status s = m.refuseSealedDraft(content); !s) return s.error();
    if (Status s = m.setSync(false); !s) return s.error();
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();

    Record record;
    record.id = makeUuidV7(*m.clock);
    record.deviceId = m.deviceId;
    record.content = content;
    auto ts = m.stamp();
    if (!ts) return ts.error();
    record.hlc = record.createdHlc = *ts;
    auto body = encodeRecord(record);
    if (!body) return body.error();

    auto& st = m.insertRecord;
    st.bindBlobStatic(1, idBytes(record.id))
        .bind(2, std::string_view(content.formId))
        .bind(3, static_cast<std::int64_t>(content.formVersion));
    if (content.caseId) {
        st.bindBlob(4, idBytes(*content.caseId));
    } else {
        st.bindNull(4);
    }
    st.bind(5, static_cast<std::int64_t>(RecordStatus::Draft))
        .bind(6, static_cast<std::int64_t>(record.hlc.value))
        .bind(7, static_cast<std::int64_t>(record.createdHlc.value))
        .bind(8, shortSummary(summary))
        .bindBlobStatic(9, *body);
    if (Status s = st.run(); !s) return s.error();
    if (Status s = tx->commit(); !s) return s.error();
    return record.id;
}

Status Store::updateDraft(const Uuid& id, const RecordContent& content, std::string_view summary) {
    Impl& m = impl();
    if (Status s = m.requireWritable("updating a draft"); !s) return s;
    if (Status s = m.refuseSealedDraft(content); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto existing = m.findSummary(id);
    if (!existing) return existing.error();
    if (!*existing) return makeError(ErrorCode::NotFound, "no record " + id.toString());
    if ((*existing)->status != RecordStatus::Draft)
        return makeError(ErrorCode::WrongState,
                         "record " + id.toString() + " is " +
                             std::string(recordStatusName((*existing)->status)) + ", not a draft");

    Record record;
    record.id = id;
    record.deviceId = m.deviceId;
    record.content = content;
    record.createdHlc = (*existing)->createdHlc;
    auto ts = m.stamp();
    if (!ts) return ts.error();
    record.hlc = *ts;
    auto body = encodeRecord(record);
    if (!body) return body.error();

    auto& st = m.updateRecord;
    st.bindBlobStatic(1, idBytes(id))
        .bind(2, std::string_view(content.formId))
        .bind(3, static_cast<std::int64_t>(content.formVersion));
    if (content.caseId) {
        st.bindBlob(4, idBytes(*content.caseId));
    } else {
        st.bindNull(4);
    }
    st.bind(5, static_cast<std::int64_t>(RecordStatus::Draft))
        .bind(6, static_cast<std::int64_t>(record.hlc.value))
        .bind(7, shortSummary(summary))
        .bindBlobStatic(8, *body);
    if (Status s = st.run(); !s) return s;
    return tx->commit();
}

Result<Finalized> Store::finalize(const Uuid& id, const RecordContent& content,
                                  std::string_view summary) {
    return impl().writeFinalized(id, content, summary);
}

Result<Finalized> Store::finalizeNew(const RecordContent& content, std::string_view summary) {
    return impl().writeFinalized(std::nullopt, content, summary);
}

Status Store::deleteDraft(const Uuid& id) {
    Impl& m = impl();
    if (Status s = m.requireWritable("deleting a draft"); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto existing = m.findSummary(id);
    if (!existing) return existing.error();
    if (!*existing) return makeError(ErrorCode::NotFound, "no record " + id.toString());
    if ((*existing)->status != RecordStatus::Draft)
        return makeError(ErrorCode::WrongState,
                         "record " + id.toString() + " is " +
                             std::string(recordStatusName((*existing)->status)) +
                             "; only drafts can be deleted");
    m.deleteRecord.bindBlob(1, idBytes(id));
    if (Status s = m.deleteRecord.run(); !s) return s;
    return tx->commit();
}

Result<StoredRecord> Store::get(const Uuid& id) {
    return getRecord(id, 2);
}

Result<StoredRecord> Store::getRecord(const Uuid& id, int retriesLeft) {
    Impl& m = impl();
    auto& st = m.selectBody;
    st.bindBlob(1, idBytes(id));
    auto row = st.step();
    if (!row) {
        st.reset();
        return row.error();
    }
    if (!*row) {
        st.reset();
        return makeError(ErrorCode::NotFound, "no record " + id.toString());
    }
    RecordSummary meta = readSummary(st);
    auto blob = st.columnBlob(10);
    std::vector<std::uint8_t> body(blob.begin(), blob.end());
    st.reset();

    if (meta.status == RecordStatus::Quarantined) {
        auto reason = m.reasonFor(id);
        if (!reason) return reason.error();
        return makeError(ErrorCode::Corrupt,
                         "record " + id.toString() + " is quarantined: " + *reason);
    }
    auto record = m.verifyRow(meta, body);
    if (record) return StoredRecord{std::move(meta), std::move(record.value())};
    // A body from a newer Veld is not damaged: say so and leave it where it is.
    if (record.error().code == ErrorCode::TooNew) return record.error();
    std::string reason = record.error().message;
    auto moved = m.quarantineRecord(meta, body, reason);
    if (!moved) {
        return makeError(ErrorCode::Corrupt, reason + " (moving it to the quarantine failed: " +
                                                 moved.error().message + ")");
    }
    if (!*moved && !m.readOnly && retriesLeft > 0) {
        // Another process rewrote the record meanwhile: read the new revision.
        return getRecord(id, retriesLeft - 1);
    }
    return makeError(ErrorCode::Corrupt,
                     reason + (*moved ? "; the record was moved to the quarantine" : ""));
}

Result<ListPage> Store::list(const ListQuery& query) {
    Impl& m = impl();
    std::string sql = std::string("SELECT ") + kRecordColumns + " FROM records";
    // With both a form and a status, SQLite cannot know which index finds rows sooner. On a device
    // the sent records are the bulk and the other states are few: walk the (few) rows of a rare
    // status, but walk the form's rows when asking for sent ones.
    if (query.formId && query.status) {
        sql += *query.status == RecordStatus::Sent ? " INDEXED BY records_by_form"
                                                   : " INDEXED BY records_by_status";
    }
    std::vector<std::string> where;
    if (query.formId) where.emplace_back("form_id = :form");
    if (query.status) where.emplace_back("status = :status");
    if (query.caseId) where.emplace_back("case_id = :case");
    if (!query.text.empty()) where.emplace_back("summary LIKE :text ESCAPE '\\'");
    if (query.after) where.emplace_back("(hlc, rowid) < (:hlc, :rowid)");
    for (std::size_t i = 0; i < where.size(); ++i)
        sql += (i == 0 ? " WHERE " : " AND ") + where[i];
    sql += " ORDER BY hlc DESC, rowid DESC LIMIT :limit";

    auto st = m.db.prepare(sql);
    if (!st) return st.error();
    int p = 1;
    if (query.formId) st->bind(p++, std::string_view(*query.formId));
    if (query.status) st->bind(p++, static_cast<std::int64_t>(*query.status));
    if (query.caseId) st->bindBlob(p++, idBytes(*query.caseId));
    if (!query.text.empty()) {
        std::string pattern = "%";
        for (char c : query.text) {
            if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
            pattern.push_back(c);
        }
        pattern.push_back('%');
        st->bind(p++, std::string_view(pattern));
    }
    if (query.after) {
        st->bind(p++, static_cast<std::int64_t>(query.after->hlc.value));
        st->bind(p++, query.after->rowid);
    }
    std::size_t limit = std::clamp<std::size_t>(query.limit, 1, 10000);
    st->bind(p++, static_cast<std::int64_t>(limit + 1));

    ListPage page;
    std::int64_t lastRowid = 0;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        if (page.rows.size() == limit) {
            page.next = ListCursor{page.rows.back().hlc, lastRowid};
            break;
        }
        page.rows.push_back(readSummary(*st));
        lastRowid = st->columnInt(0);
    }
    return page;
}

Result<std::vector<StatusCount>> Store::counts() {
    auto st = impl().db.prepare(
        "SELECT form_id, status, n FROM record_counts WHERE n > 0 ORDER BY form_id, status");
    if (!st) return st.error();
    std::vector<StatusCount> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        out.push_back({std::string(st->columnText(0)), static_cast<RecordStatus>(st->columnInt(1)),
                       st->columnInt(2)});
    }
    return out;
}

// ---- Forms ----------------------------------------------------------------------------------

namespace {

constexpr const char* kFormColumns = "form_id, version, pilot, binary, installed_utc_ms";

InstalledForm readForm(const sql::Statement& st) {
    InstalledForm f;
    f.formId = std::string(st.columnText(0));
    f.version = static_cast<std::uint32_t>(st.columnInt(1));
    f.pilot = std::string(st.columnText(2));
    auto blob = st.columnBlob(3);
    f.binary.assign(blob.begin(), blob.end());
    f.installedUtcMs = st.columnInt(4);
    return f;
}

std::string formName(std::string_view formId, std::uint32_t version) {
    return "form " + std::string(formId) + " version " + std::to_string(version);
}

}  // namespace

Status Store::installForm(std::span<const std::uint8_t> binary) {
    Impl& m = impl();
    if (Status s = m.requireWritable("installing a form"); !s) return s;
    // Devices load what is installed without asking again, so a form with errors never gets in.
    std::vector<veld::forms::FormProblem> errors;
    for (auto& p : veld::forms::checkFormBinary(binary, "form")) {
        if (p.severity == veld::forms::FormProblem::Severity::Error) errors.push_back(std::move(p));
    }
    if (!errors.empty()) {
        const auto& first = errors.front();
        std::string message = "the form cannot be installed: ";
        if (!first.item.empty()) message += "item '" + first.item + "': ";
        message += first.message;
        if (errors.size() > 1)
            message += " (and " + std::to_string(errors.size() - 1) + " more error(s))";
        return makeError(ErrorCode::InvalidArgument, std::move(message));
    }
    const fb::Form* form = fb::GetForm(binary.data());
    std::string_view formId = form->id()->string_view();
    std::uint32_t version = form->version();
    std::string_view pilot = form->pilot() ? form->pilot()->string_view() : std::string_view{};

    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    {
        auto st = m.db.prepare("SELECT binary FROM forms WHERE form_id = ?1 AND version = ?2");
        if (!st) return st.error();
        st->bind(1, formId).bind(2, static_cast<std::int64_t>(version));
        auto row = st->step();
        if (!row) return row.error();
        if (*row) {
            auto stored = st->columnBlob(0);
            if (std::equal(stored.begin(), stored.end(), binary.begin(), binary.end())) return {};
            return makeError(ErrorCode::WrongState,
                             formName(formId, version) +
                                 " is already installed with other content; a published version "
                                 "never changes, so give the changed form a new version");
        }
    }
    auto insert = m.db.prepare(
        "INSERT INTO forms (form_id, version, pilot, binary, installed_utc_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!insert) return insert.error();
    insert->bind(1, formId)
        .bind(2, static_cast<std::int64_t>(version))
        .bind(3, pilot)
        .bindBlobStatic(4, binary)
        .bind(5, m.clock->nowMillis());
    if (Status s = insert->run(); !s) return s;
    return tx->commit();
}

Result<std::vector<InstalledForm>> Store::forms() {
    auto st = impl().db.prepare(std::string("SELECT ") + kFormColumns +
                                " FROM forms f WHERE version = (SELECT max(version) FROM forms g "
                                "WHERE g.form_id = f.form_id) ORDER BY pilot, form_id");
    if (!st) return st.error();
    std::vector<InstalledForm> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        out.push_back(readForm(*st));
    }
    return out;
}

Result<InstalledForm> Store::form(std::string_view formId, std::uint32_t version) {
    auto st = impl().db.prepare(std::string("SELECT ") + kFormColumns +
                                " FROM forms WHERE form_id = ?1 AND version = ?2");
    if (!st) return st.error();
    st->bind(1, formId).bind(2, static_cast<std::int64_t>(version));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row)
        return makeError(ErrorCode::NotFound,
                         formName(formId, version) + " is not installed on this device");
    return readForm(*st);
}

// ---- Settings -------------------------------------------------------------------------------

namespace {

Status checkSettingKey(std::string_view key) {
    if (key.empty()) return makeError(ErrorCode::InvalidArgument, "a setting needs a name");
    return {};
}

}  // namespace

Result<std::optional<std::string>> Store::setting(std::string_view key) {
    if (Status s = checkSettingKey(key); !s) return s.error();
    auto st = impl().db.prepare("SELECT value FROM settings WHERE key = ?1");
    if (!st) return st.error();
    st->bind(1, key);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(std::string(st->columnText(0)));
}

Status Store::setSetting(std::string_view key, std::string_view value) {
    Impl& m = impl();
    if (Status s = checkSettingKey(key); !s) return s;
    if (Status s = m.requireWritable("changing a setting"); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto st = m.db.prepare(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!st) return st.error();
    st->bind(1, key).bind(2, value);
    if (Status s = st->run(); !s) return s;
    return tx->commit();
}

Status Store::clearSetting(std::string_view key) {
    Impl& m = impl();
    if (Status s = checkSettingKey(key); !s) return s;
    if (Status s = m.requireWritable("changing a setting"); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto st = m.db.prepare("DELETE FROM settings WHERE key = ?1");
    if (!st) return st.error();
    st->bind(1, key);
    if (Status s = st->run(); !s) return s;
    return tx->commit();
}

// ---- Outbox ---------------------------------------------------------------------------------

Result<std::vector<OutboxEntry>> Store::outboxPending(std::size_t maxEntries, std::size_t maxBytes,
                                                      std::uint64_t afterSeq) {
    Impl& m = impl();
    std::vector<OutboxEntry> out;
    if (maxEntries == 0) return out;

    // Read first; quarantine bad bodies after the read statement is reset.
    struct Bad {
        RecordSummary meta;
        std::vector<std::uint8_t> body;
        std::string reason;
        std::size_t index;
    };
    std::vector<Bad> bad;
    auto& st = m.outboxPending;
    st.bind(1, static_cast<std::int64_t>(maxEntries))
        .bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(afterSeq, INT64_MAX)));
    std::size_t bytes = 0;
    for (;;) {
        auto row = st.step();
        if (!row) {
            st.reset();
            return row.error();
        }
        if (!*row) break;
        auto blob = st.columnBlob(13);
        // The byte limit is decided before anything else, so that every entry looked at below is
        // one that is returned.
        if (!out.empty() && bytes + blob.size() > maxBytes) break;

        OutboxEntry entry;
        entry.seq = static_cast<std::uint64_t>(st.columnInt(0));
        entry.recordId = uuidFromBlob(st.columnBlob(1)).value_or(Uuid{});
        entry.hlc = HlcTimestamp{static_cast<std::uint64_t>(st.columnInt(2))};
        if (st.columnIsNull(3)) {
            // The foreign key makes this impossible unless the file was damaged.
            entry.damaged = true;
            entry.damageReason = "the record of this outbox entry is missing from the store";
            out.push_back(std::move(entry));
            continue;
        }
        RecordSummary meta = readSummary(st, 3);  // the record's columns follow the outbox's three
        if (meta.status == RecordStatus::Quarantined) {
            entry.damaged = true;
        } else if (meta.hlc != entry.hlc) {
            // Finalized records never change on a device, so the revision must still be there.
            entry.damaged = true;
            entry.damageReason = "the outbox revision is no longer in the store";
        } else {
            entry.body.assign(blob.begin(), blob.end());
            bytes += entry.body.size();
            auto decoded = m.verifyRowHeader(meta, entry.body);
            // A body from a newer Veld is sent as it is: the collector can read it.
            if (!decoded && decoded.error().code != ErrorCode::TooNew)
                bad.push_back({meta, entry.body, decoded.error().message, out.size()});
        }
        out.push_back(std::move(entry));
    }
    st.reset();

    for (auto& b : bad) {
        if (auto moved = m.quarantineRecord(b.meta, b.body, b.reason); !moved) return moved.error();
        auto& entry = out.at(b.index);
        entry.body.clear();
        entry.damaged = true;
        entry.damageReason = b.reason;
    }
    for (auto& entry : out) {
        if (entry.damaged && entry.damageReason.empty()) {
            auto reason = m.reasonFor(entry.recordId);
            if (!reason) return reason.error();
            entry.damageReason = *reason;
        }
    }
    return out;
}

Status Store::acknowledgeThrough(std::uint64_t seq) {
    Impl& m = impl();
    if (Status s = m.requireWritable("recording the collector's acknowledgement"); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto next = m.nextSeq();
    if (!next) return next.error();
    if (seq >= *next) {
        return makeError(ErrorCode::InvalidArgument,
                         "the collector acknowledged revision " + std::to_string(seq) +
                             ", but this device has only made " + std::to_string(*next - 1));
    }
    auto acked = m.metaInt("acked_through", 0);
    if (!acked) return acked.error();
    if (static_cast<std::int64_t>(seq) <= *acked) return {};  // a repeated acknowledgement

    auto n = static_cast<std::int64_t>(seq);
    m.outboxMarkSent.bind(1, n);
    if (Status s = m.outboxMarkSent.run(); !s) return s;
    m.outboxAck.bind(1, n);
    if (Status s = m.outboxAck.run(); !s) return s;
    if (Status s = m.putMeta("acked_through", n); !s) return s;
    return tx->commit();
}

Result<OutboxState> Store::outboxState() {
    Impl& m = impl();
    // One read transaction, so the numbers agree with each other (unless a batch already is one).
    bool ownTransaction = !m.db.inTransaction();
    if (ownTransaction) {
        if (Status s = m.db.exec("BEGIN"); !s) return s.error();
    }
    struct End {
        sql::Database& db;
        bool active;
        ~End() {
            if (active) (void)db.exec("COMMIT");
        }
    } end{m.db, ownTransaction};
    OutboxState state;
    auto next = m.nextSeq();
    if (!next) return next.error();
    state.lastSeq = *next - 1;
    auto acked = m.metaInt("acked_through", 0);
    if (!acked) return acked.error();
    state.ackedThrough = static_cast<std::uint64_t>(*acked);
    auto st = m.db.prepare(
        "SELECT count(*), coalesce(sum(length(r.body)), 0) FROM outbox o "
        "LEFT JOIN records r ON r.id = o.record_id");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    state.pending = st->columnInt(0);
    state.pendingBytes = st->columnInt(1);
    return state;
}

Result<std::vector<QuarantineEntry>> Store::quarantine() {
    auto st = impl().db.prepare(
        "SELECT qid, record_id, previous_status, reason, quarantined_utc_ms, length(body) "
        "FROM quarantine ORDER BY qid");
    if (!st) return st.error();
    std::vector<QuarantineEntry> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        QuarantineEntry q;
        q.quarantineId = st->columnInt(0);
        q.recordId = uuidFromBlob(st->columnBlob(1)).value_or(Uuid{});
        q.previousStatus = static_cast<RecordStatus>(st->columnInt(2));
        q.reason = std::string(st->columnText(3));
        q.quarantinedUtcMs = st->columnInt(4);
        q.bodyBytes = st->columnInt(5);
        out.push_back(std::move(q));
    }
    return out;
}

Result<CheckReport> Store::check(bool moveBad) {
    Impl& m = impl();
    CheckReport report;
    {
        auto st = m.db.prepare("PRAGMA integrity_check");
        if (!st) return st.error();
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!*row) break;
            report.integrityMessages.emplace_back(st->columnText(0));
        }
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
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!*row) break;
            RecordSummary meta = readSummary(*st);
            if (meta.status == RecordStatus::Quarantined) {
                ++report.alreadyQuarantined;
                continue;
            }
            ++report.bodiesChecked;
            auto blob = st->columnBlob(10);
            std::string reason;
            if (st->columnBlob(1).size() != 16) {
                reason = "the record's id column is damaged";
            } else if (auto record = m.verifyRow(meta, blob); !record) {
                if (record.error().code == ErrorCode::TooNew) {
                    ++report.newerBodies;  // readable by a newer Veld; not damage
                    continue;
                }
                reason = record.error().message;
            } else {
                continue;
            }
            bad.push_back({meta, std::vector<std::uint8_t>(blob.begin(), blob.end()), reason});
        }
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
    struct stat st {};
    if (::stat(m.path.c_str(), &st) == 0) info.fileBytes = st.st_size;
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
