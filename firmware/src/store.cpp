#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include <veld/allocation.hpp>
#include <veld/case_merge.hpp>
#include <veld/clock.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/platform/files.hpp>
#include <veld/private_files.hpp>
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

// Allocations are made only by the store, at finalize: one handed in could be made up.
Status refuseGivenAllocation(const RecordContent& content) {
    if (!content.allocation) return {};
    return makeError(ErrorCode::InvalidArgument,
                     "a record cannot bring its own allocation: the store takes one when it "
                     "finalizes a record that asks for it (allocate)");
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

    // Cases and randomisation, inside a finalize's transaction.
    /// Raises the clock above every property HLC the case holds, before the record is stamped.
    Status raiseClockForCase(const Uuid& caseId);
    /// Applies the record's case change (and allocation) to the case tables and writes the bases,
    /// `status`, `arm` and the allocation into the record's content.
    Status applyCaseChange(Record& record, const std::optional<AllocationRequest>& allocate);
    /// Takes, opens and logs the next slot for the case; nothing is changed when it fails.
    Result<Allocation> takeAllocation(const Record& record, const AllocationRequest& request,
                                      const std::string& pseudonym);
    using BoxKeyPair = std::pair<std::array<std::uint8_t, alloc::kBoxKeyBytes>,
                                 std::array<std::uint8_t, alloc::kBoxKeyBytes>>;
    /// The box key pair from the settings, if made.
    Result<std::optional<BoxKeyPair>> loadBoxKeys();
    Result<std::optional<std::string>> settingText(std::string_view key);
    /// Whether two boxes hold the same slot: equal bytes, or (sealing is randomised, so a slot
    /// sent again may be sealed again) both open to the same content.
    Result<bool> sameSlotContent(std::span<const std::uint8_t> held,
                                 std::span<const std::uint8_t> received);
    /// A case row (kCaseColumns) with its properties, read with `properties` (kCaseProperties).
    Result<CaseInfo> readCase(const sql::Statement& row, sql::Statement& properties);

    // Corrections (the section at the end of this file).
    /// The revision a draft was reopened from for a correction; 0 for any other record.
    Result<std::uint64_t> correctionBase(const Uuid& id);
    /// A correction draft was finalized as revision `hlc`: its correction is done here.
    Status correctionFinalized(const Uuid& id, HlcTimestamp revision);
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
         "INSERT INTO outbox (seq, record_id, hlc, queued_utc_ms, base_hlc) VALUES (?1, ?2, ?3, "
         "?4, ?5)"},
        {&outboxPending,
         "SELECT o.seq, o.record_id, o.hlc, r.rowid, r.id, r.form_id, r.form_version, r.case_id, "
         "r.status, r.hlc, r.created_hlc, r.summary, length(r.body), r.body, o.base_hlc FROM "
         "outbox o "
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
                                              const RecordContent& given,
                                              std::string_view summary) {
    if (Status s = requireWritable("finalizing a record"); !s) return s.error();
    if (Status s = refuseGivenAllocation(given); !s) return s.error();
    // A correction draft (Store::reopenForCorrection) is a new revision of a record sent before:
    // it goes up with the revision it was made from, and changes answers only (the case change
    // and the allocation were applied when the record was first finalized).
    std::uint64_t base = 0;
    if (draftId) {
        auto b = correctionBase(*draftId);
        if (!b) return b.error();
        base = b.value();
    }
    RecordContent corrected;
    if (base != 0) {
        corrected = given;
        corrected.caseChange.reset();
        corrected.allocate.reset();
    }
    const RecordContent& content = base != 0 ? corrected : given;
    const bool changesCase =
        (content.caseChange && content.caseChange->action != CaseAction::None) ||
        content.allocate.has_value();
    if (changesCase) {
        // Checked before any slot is looked at, so a bad record never reads as a bad slot.
        if (Status s = checkRecordContent(content); !s) return s.error();
        if (!content.caseId)
            return makeError(ErrorCode::InvalidArgument,
                             "randomising a record needs the record's case id");
        if (content.allocate && content.allocate->study.empty())
            return makeError(ErrorCode::InvalidArgument, "randomising a record needs a study");
    }
    if (Status s = setSync(true); !s) return s.error();

    auto tx = sql::Transaction::begin(db);
    if (!tx) return tx.error();
    if (changesCase) {
        if (Status s = raiseClockForCase(*content.caseId); !s) return s.error();
    }

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
    record.content.allocate.reset();  // input only
    if (changesCase) {
        if (Status s = applyCaseChange(record, content.allocate); !s) return s.error();
    }

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
        .bind(4, clock->nowMillis())
        .bind(5, static_cast<std::int64_t>(base));
    if (Status s = insertOutbox.run(); !s) return s.error();
    if (base != 0) {
        if (Status s = correctionFinalized(record.id, record.hlc); !s) return s.error();
    }

    if (Status s = tx->commit(); !s) return s.error();
    return Finalized{record.id, *seq, record.hlc};
}

// ---- Cases and allocations inside a finalize -------------------------------------------------

namespace {

std::string toHex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0xF]);
    }
    return out;
}

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> fromHex(std::string_view text) {
    if (text.size() != N * 2) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::array<std::uint8_t, N> out{};
    for (std::size_t i = 0; i < N; ++i) {
        int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return out;
}

std::string slotName(std::string_view study, std::string_view stratum, std::int64_t block,
                     std::int64_t position) {
    return "slot " + std::to_string(block) + "." + std::to_string(position) + " of stratum \"" +
           std::string(stratum) + "\" of study " + std::string(study);
}

std::string caseName(const Uuid& id) {
    return "case " + id.toString();
}

// Steps a one-row query whose first column is an integer or NULL.
Result<std::optional<std::int64_t>> optionalInt(sql::Statement& st) {
    auto row = st.step();
    if (!row) return row.error();
    if (!*row || st.columnIsNull(0)) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(st.columnInt(0));
}

}  // namespace

Result<std::optional<std::string>> Store::Impl::settingText(std::string_view key) {
    auto st = db.prepare("SELECT value FROM settings WHERE key = ?1");
    if (!st) return st.error();
    st->bind(1, key);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(std::string(st->columnText(0)));
}

Result<std::optional<Store::Impl::BoxKeyPair>> Store::Impl::loadBoxKeys() {
    auto pub = settingText(kBoxPublicKeySetting);
    if (!pub) return pub.error();
    auto secret = settingText(kBoxSecretKeySetting);
    if (!secret) return secret.error();
    if (!*pub && !*secret) return std::optional<BoxKeyPair>();
    auto p = *pub ? fromHex<alloc::kBoxKeyBytes>(**pub) : std::nullopt;
    auto k = *secret ? fromHex<alloc::kBoxKeyBytes>(**secret) : std::nullopt;
    if (!p || !k) {
        // A new pair would not open the slots already sealed to the old one.
        return makeError(ErrorCode::Corrupt,
                         "the device's allocation key in " + path +
                             " is damaged, so its allocation slots cannot be opened: ask central "
                             "staff to move this device's slots to another device");
    }
    return std::optional<BoxKeyPair>(BoxKeyPair{*p, *k});
}

Result<bool> Store::Impl::sameSlotContent(std::span<const std::uint8_t> held,
                                          std::span<const std::uint8_t> received) {
    if (std::equal(held.begin(), held.end(), received.begin(), received.end())) return true;
    auto keys = loadBoxKeys();
    if (!keys) return keys.error();
    if (!*keys) return false;
    auto a = alloc::openSlot(held, (*keys)->first, (*keys)->second);
    auto b = alloc::openSlot(received, (*keys)->first, (*keys)->second);
    return a && b && *a == *b;
}

Status Store::Impl::raiseClockForCase(const Uuid& caseId) {
    auto st = db.prepare("SELECT max(hlc) FROM case_properties WHERE case_id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(caseId));
    auto newest = optionalInt(*st);
    if (!newest) return newest.error();
    if (*newest) hlc.restore(HlcTimestamp{static_cast<std::uint64_t>(**newest)});
    return {};
}

Status Store::Impl::applyCaseChange(Record& record,
                                    const std::optional<AllocationRequest>& allocate) {
    const Uuid caseId = *record.content.caseId;
    auto& content = record.content;
    if (content.caseChange && content.caseChange->action == CaseAction::None)
        content.caseChange.reset();  // nothing to apply; an allocation adds its own change below
    const CaseAction action = content.caseChange ? content.caseChange->action : CaseAction::None;

    auto findCase = db.prepare("SELECT pseudonym, opened_by FROM cases WHERE case_id = ?1");
    if (!findCase) return findCase.error();
    findCase->bindBlob(1, idBytes(caseId));
    auto found = findCase->step();
    if (!found) return found.error();
    std::string pseudonym;
    if (*found) {
        pseudonym = std::string(findCase->columnText(0));
        auto openedBy = uuidFromBlob(findCase->columnBlob(1));
        // A finalize happens once per record, so an Open of a case that exists was made by
        // another record (or the case came from the collector): two cases under one id.
        if (action == CaseAction::Open && openedBy != record.id) {
            return makeError(ErrorCode::WrongState,
                             caseName(caseId) +
                                 " is already on this device; a form that opens a case must "
                                 "give it a new case id");
        }
    } else if (action == CaseAction::Open) {
        pseudonym = content.caseChange->pseudonym;
        auto insert = db.prepare(
            "INSERT INTO cases (case_id, case_type, pseudonym, last_contact_utc_ms, assigned, "
            "opened_by) VALUES (?1, ?2, ?3, NULL, 1, ?4)");
        if (!insert) return insert.error();
        insert->bindBlob(1, idBytes(caseId))
            .bind(2, std::string_view(content.caseChange->caseType))
            .bind(3, std::string_view(pseudonym))
            .bindBlob(4, idBytes(record.id));
        if (Status s = insert->run(); !s) return s;
    } else {
        return makeError(ErrorCode::NotFound,
                         caseName(caseId) +
                             " is not on this device: synchronise with the collector to receive "
                             "it, or open the case first");
    }
    findCase->reset();

    // The values this record sets, by name. Veld's own properties are set here, never by a form.
    std::map<std::string, std::string> values;
    if (content.caseChange) {
        for (const auto& p : content.caseChange->properties) {
            if (p.name == kCaseStatusProperty || p.name == kCaseArmProperty) {
                return makeError(ErrorCode::InvalidArgument,
                                 "the case property '" + p.name +
                                     "' is set by Veld itself (at open, close and randomisation), "
                                     "never by a form");
            }
            values[p.name] = p.value;
        }
    }
    if (action == CaseAction::Open) values[std::string(kCaseStatusProperty)] = "open";
    if (action == CaseAction::Close) values[std::string(kCaseStatusProperty)] = "closed";
    if (allocate) {
        auto taken = takeAllocation(record, *allocate, pseudonym);
        if (!taken) return taken.error();
        values[std::string(kCaseArmProperty)] = taken->arm;
        content.allocation = std::move(taken.value());
        if (!content.caseChange) content.caseChange = CaseChange{CaseAction::FollowUp, {}, {}, {}};
    }

    auto base = db.prepare("SELECT hlc FROM case_properties WHERE case_id = ?1 AND name = ?2");
    if (!base) return base.error();
    auto put = db.prepare(
        "INSERT INTO case_properties (case_id, name, value, hlc) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (case_id, name) DO UPDATE SET value = excluded.value, hlc = excluded.hlc");
    if (!put) return put.error();
    // The bases the form session gave (what the case held when the form started), where it knew
    // them; otherwise, and for Veld's own properties, what the device holds now.
    std::map<std::string, HlcTimestamp, std::less<>> given;
    if (content.caseChange && content.caseChange->basesKnown) {
        for (const auto& p : content.caseChange->properties)
            given.emplace(p.name, p.base);
    }
    std::vector<CasePropertyValue> written;
    for (const auto& [name, value] : values) {
        base->bindBlob(1, idBytes(caseId)).bind(2, std::string_view(name));
        auto held = optionalInt(*base);
        base->reset();
        if (!held) return held.error();
        HlcTimestamp heldClock{static_cast<std::uint64_t>(held->value_or(0))};
        auto known = given.find(name);
        const bool ownProperty = name == kCaseStatusProperty || name == kCaseArmProperty;
        if (known != given.end() && !ownProperty) heldClock = known->second;
        written.push_back({name, value, heldClock});
        put->bindBlob(1, idBytes(caseId))
            .bind(2, std::string_view(name))
            .bind(3, std::string_view(value))
            .bind(4, static_cast<std::int64_t>(record.hlc.value));
        if (Status s = put->run(); !s) return s;
    }
    content.caseChange->properties = std::move(written);  // sorted by name, as encoded

    auto contact = db.prepare(
        "UPDATE cases SET last_contact_utc_ms = max(coalesce(last_contact_utc_ms, ?2), ?2) "
        "WHERE case_id = ?1");
    if (!contact) return contact.error();
    contact->bindBlob(1, idBytes(caseId)).bind(2, static_cast<std::int64_t>(record.hlc.millis()));
    return contact->run();
}

Result<Allocation> Store::Impl::takeAllocation(const Record& record,
                                               const AllocationRequest& request,
                                               const std::string& pseudonym) {
    const Uuid caseId = *record.content.caseId;
    const std::string& study = request.study;
    const std::string& stratum = request.stratum;
    {
        auto st =
            db.prepare("SELECT log_seq FROM allocation_log WHERE study = ?1 AND case_id = ?2");
        if (!st) return st.error();
        st->bind(1, std::string_view(study)).bindBlob(2, idBytes(caseId));
        auto seq = optionalInt(*st);
        if (!seq) return seq.error();
        if (*seq) {
            return makeError(ErrorCode::WrongState, caseName(caseId) +
                                                        " is already randomised in study " + study +
                                                        " (allocation " + std::to_string(**seq) +
                                                        "); a participant is randomised once");
        }
    }
    if (!pseudonym.empty()) {
        auto st = db.prepare(
            "SELECT l.log_seq FROM allocation_log l JOIN cases c ON c.case_id = l.case_id "
            "WHERE l.study = ?1 AND c.pseudonym = ?2 AND c.case_id <> ?3 LIMIT 1");
        if (!st) return st.error();
        st->bind(1, std::string_view(study))
            .bind(2, std::string_view(pseudonym))
            .bindBlob(3, idBytes(caseId));
        auto seq = optionalInt(*st);
        if (!seq) return seq.error();
        if (*seq) {
            return makeError(ErrorCode::WrongState,
                             "this participant is already randomised in study " + study +
                                 " under another case (allocation " + std::to_string(**seq) +
                                 "); find that case in the case list instead of opening a new one");
        }
    }

    // Slots are taken in (block, position) order, and the collector deals a device's blocks in
    // rising order, so the next slot is the first after the last one used: two index lookups,
    // whatever the number used. (A slot that arrived below it would be left unused, and the
    // collector's verification reports it as skipped.)
    std::int64_t lastBlock = -1;
    std::int64_t lastPosition = -1;
    {
        auto last = db.prepare(
            "SELECT block, position FROM allocation_log WHERE study = ?1 AND stratum = ?2 "
            "ORDER BY block DESC, position DESC LIMIT 1");
        if (!last) return last.error();
        last->bind(1, std::string_view(study)).bind(2, std::string_view(stratum));
        auto row = last->step();
        if (!row) return row.error();
        if (*row) {
            lastBlock = last->columnInt(0);
            lastPosition = last->columnInt(1);
        }
    }
    auto next = db.prepare(
        "SELECT s.block, s.position, s.box FROM allocation_slots s WHERE s.study = ?1 AND "
        "s.stratum = ?2 AND (s.block, s.position) > (?3, ?4) ORDER BY s.block, s.position "
        "LIMIT 1");
    if (!next) return next.error();
    next->bind(1, std::string_view(study))
        .bind(2, std::string_view(stratum))
        .bind(3, lastBlock)
        .bind(4, lastPosition);
    auto row = next->step();
    if (!row) return row.error();
    if (!*row) {
        return makeError(ErrorCode::WrongState,
                         "no allocation left for stratum \"" + stratum + "\" of study " + study +
                             ": synchronise with the collector to receive more");
    }
    const std::int64_t block = next->columnInt(0);
    const std::int64_t position = next->columnInt(1);
    auto boxBlob = next->columnBlob(2);
    const std::vector<std::uint8_t> box(boxBlob.begin(), boxBlob.end());
    next->reset();
    const std::string name = slotName(study, stratum, block, position);

    auto keys = loadBoxKeys();
    if (!keys) return keys.error();
    if (!*keys) {
        return makeError(ErrorCode::Corrupt,
                         "this device holds allocation slots but not the key they are sealed to; "
                         "ask central staff to move this device's slots to another device");
    }
    // A slot that does not open is never skipped: skipping would break the sequence the
    // evaluator checks, so randomisation stops here until central staff look at it.
    auto slot = alloc::openSlot(box, (*keys)->first, (*keys)->second);
    if (!slot) {
        return makeError(ErrorCode::Corrupt, name + " does not open with this device's key (" +
                                                 slot.error().message +
                                                 "); randomisation in this stratum stops here: "
                                                 "ask central staff");
    }
    if (slot->study != study || slot->stratum != stratum ||
        static_cast<std::int64_t>(slot->block) != block ||
        static_cast<std::int64_t>(slot->position) != position) {
        return makeError(ErrorCode::Corrupt, name +
                                                 " holds another slot; randomisation in this "
                                                 "stratum stops here: ask central staff");
    }

    auto maxSeq = db.prepare("SELECT max(log_seq) FROM allocation_log");
    if (!maxSeq) return maxSeq.error();
    auto last = optionalInt(*maxSeq);
    if (!last) return last.error();

    // The slot was checked to name this study and stratum above.
    const Allocation a = alloc::allocationOf(
        *slot, static_cast<std::uint64_t>(last->value_or(0) + 1), clock->nowMillis());

    auto insert = db.prepare(
        "INSERT INTO allocation_log (log_seq, study, stratum, block, position, arm, token, "
        "case_id, record_id, taken_utc_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!insert) return insert.error();
    insert->bind(1, static_cast<std::int64_t>(a.logSeq))
        .bind(2, std::string_view(a.study))
        .bind(3, std::string_view(a.stratum))
        .bind(4, block)
        .bind(5, position)
        .bind(6, std::string_view(a.arm))
        .bindBlob(7, a.token)
        .bindBlob(8, idBytes(caseId))
        .bindBlob(9, idBytes(record.id))
        .bind(10, a.takenUtcMs);
    if (Status s = insert->run(); !s) return s.error();
    return a;
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

Result<Uuid> Store::saveDraft(const RecordContent& content, std::string_view summary) {
    Impl& m = impl();
    if (Status s = m.requireWritable("saving a draft"); !s) return s.error();
    if (Status s = refuseGivenAllocation(content); !s) return s.error();
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
    if (Status s = refuseGivenAllocation(content); !s) return s;
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
    auto base = m.correctionBase(id);
    if (!base) return base.error();
    if (base.value() != 0)
        return makeError(ErrorCode::WrongState,
                         "record " + id.toString() +
                             " is a correction of a record sent before: finalize it, it cannot "
                             "be deleted");
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
    if (auto stepped = st->forEachRow([&] {
            out.push_back({std::string(st->columnText(0)),
                           static_cast<RecordStatus>(st->columnInt(1)), st->columnInt(2)});
        });
        !stepped)
        return stepped.error();
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
            if (forms::sameForm(stored, binary)) return {};
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
    if (auto stepped = st->forEachRow([&] { out.push_back(readForm(*st)); }); !stepped)
        return stepped.error();
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

// ---- Cases ----------------------------------------------------------------------------------

std::string CaseInfo::property(std::string_view name) const {
    auto it =
        std::lower_bound(properties.begin(), properties.end(), name,
                         [](const CaseProperty& p, std::string_view n) { return p.name < n; });
    if (it != properties.end() && it->name == name) return it->value;
    return {};
}

std::optional<std::int32_t> CaseInfo::nextContactDays() const {
    const std::string text = property(kCaseNextContactProperty);
    // Exactly yyyy-mm-dd, a real date: the same rule the case list sorts by (SQLite's date()).
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
    auto digits = [&](std::size_t from, std::size_t n) -> int {
        int v = 0;
        for (std::size_t i = from; i < from + n; ++i) {
            if (text[i] < '0' || text[i] > '9') return -1;
            v = v * 10 + (text[i] - '0');
        }
        return v;
    };
    const int y = digits(0, 4), m = digits(5, 2), d = digits(8, 2);
    if (y < 0 || m < 1 || m > 12 || d < 1) return std::nullopt;
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) return std::nullopt;
    // Days from civil (H. Hinnant's algorithm).
    const int yy = y - (m <= 2 ? 1 : 0);
    const int era = yy / 400;
    const int yoe = yy - era * 400;
    const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

namespace {

constexpr const char* kCaseColumns =
    "c.case_id, c.case_type, c.pseudonym, c.last_contact_utc_ms, "
    "(SELECT value FROM case_properties s WHERE s.case_id = c.case_id AND s.name = 'status')";
// Cleared properties (empty values) are kept for their HLC but not shown.
constexpr const char* kCaseProperties =
    "SELECT name, value, hlc FROM case_properties WHERE case_id = ?1 AND value <> '' "
    "ORDER BY name";

}  // namespace

Result<CaseInfo> Store::Impl::readCase(const sql::Statement& row, sql::Statement& properties) {
    CaseInfo info;
    info.id = uuidFromBlob(row.columnBlob(0)).value_or(Uuid{});
    info.caseType = std::string(row.columnText(1));
    info.pseudonym = std::string(row.columnText(2));
    if (!row.columnIsNull(3)) info.lastContactUtcMs = row.columnInt(3);
    info.closed = row.columnText(4) == "closed";
    properties.bindBlob(1, idBytes(info.id));
    for (;;) {
        auto next = properties.step();
        if (!next) {
            properties.reset();
            return next.error();
        }
        if (!*next) break;
        info.properties.push_back(
            {std::string(properties.columnText(0)), std::string(properties.columnText(1)),
             HlcTimestamp{static_cast<std::uint64_t>(properties.columnInt(2))}});
    }
    properties.reset();
    return info;
}

Result<std::vector<CaseInfo>> Store::cases(const CaseQuery& query) {
    Impl& m = impl();
    // A planned next contact first, soonest first; then the latest contact first. A planned
    // contact is a real yyyy-mm-dd date: one that survives the trip through julianday() unchanged
    // (date() alone keeps 2026-02-30), as CaseInfo::nextContactDays() reads it.
    std::string sql = std::string("SELECT ") + kCaseColumns +
                      ", CASE WHEN nc.value IS NOT NULL AND date(julianday(nc.value)) IS nc.value "
                      "THEN nc.value END AS planned"
                      " FROM cases c LEFT JOIN case_properties nc ON nc.case_id = c.case_id AND "
                      "nc.name = 'next_contact' WHERE c.assigned = 1";
    if (!query.includeClosed)
        sql +=
            " AND NOT EXISTS (SELECT 1 FROM case_properties s WHERE s.case_id = c.case_id AND "
            "s.name = 'status' AND s.value = 'closed')";
    if (query.caseType) sql += " AND c.case_type = :type";
    if (query.pseudonym) sql += " AND c.pseudonym = :pseudonym";
    if (!query.text.empty())
        sql +=
            " AND (c.pseudonym LIKE :text ESCAPE '\\' OR EXISTS (SELECT 1 FROM case_properties p "
            "WHERE p.case_id = c.case_id AND p.value LIKE :text ESCAPE '\\'))";
    sql +=
        " ORDER BY planned IS NULL, planned, "
        "c.last_contact_utc_ms DESC NULLS LAST, c.case_id LIMIT :limit";
    auto st = m.db.prepare(sql);
    if (!st) return st.error();
    int p = 1;
    if (query.caseType) st->bind(p++, std::string_view(*query.caseType));
    if (query.pseudonym) st->bind(p++, std::string_view(*query.pseudonym));
    if (!query.text.empty()) {
        std::string pattern = "%";
        for (char c : query.text) {
            if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
            pattern.push_back(c);
        }
        pattern.push_back('%');
        st->bind(p++, std::string_view(pattern));
    }
    st->bind(p++, static_cast<std::int64_t>(std::clamp<std::size_t>(query.limit, 1, 100000)));
    auto properties = m.db.prepare(kCaseProperties);
    if (!properties) return properties.error();
    std::vector<CaseInfo> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        auto info = m.readCase(*st, *properties);
        if (!info) return info.error();
        out.push_back(std::move(info.value()));
    }
    return out;
}

Result<CaseInfo> Store::caseInfo(const Uuid& caseId) {
    Impl& m = impl();
    auto st =
        m.db.prepare(std::string("SELECT ") + kCaseColumns + " FROM cases c WHERE c.case_id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(caseId));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return makeError(ErrorCode::NotFound, caseName(caseId) + " is not on this device");
    auto properties = m.db.prepare(kCaseProperties);
    if (!properties) return properties.error();
    return m.readCase(*st, *properties);
}

Status Store::mergeCases(std::span<const CaseUpdateIn> cases) {
    Impl& m = impl();
    if (Status s = m.requireWritable("receiving cases"); !s) return s;
    for (const auto& c : cases) {
        for (const auto& p : c.properties) {
            if (p.name.empty())
                return makeError(ErrorCode::InvalidArgument,
                                 caseName(c.id) + " has a property without a name");
        }
    }
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto exists = m.db.prepare("SELECT 1 FROM cases WHERE case_id = ?1");
    if (!exists) return exists.error();
    // Type and pseudonym never change in practice; an empty one from the collector keeps ours.
    auto upsert = m.db.prepare(
        "INSERT INTO cases (case_id, case_type, pseudonym, last_contact_utc_ms, assigned) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (case_id) DO UPDATE SET "
        "case_type = CASE WHEN excluded.case_type <> '' THEN excluded.case_type ELSE case_type "
        "END, "
        "pseudonym = CASE WHEN excluded.pseudonym <> '' THEN excluded.pseudonym ELSE pseudonym "
        "END, "
        "last_contact_utc_ms = max(coalesce(last_contact_utc_ms, excluded.last_contact_utc_ms), "
        "coalesce(excluded.last_contact_utc_ms, last_contact_utc_ms)), "
        "assigned = excluded.assigned");
    if (!upsert) return upsert.error();
    // A received value replaces the one held by the rule the collector applies too
    // (veld::caseValueWins), so every device converges on the collector's value.
    auto held =
        m.db.prepare("SELECT value, hlc FROM case_properties WHERE case_id = ?1 AND name = ?2");
    if (!held) return held.error();
    auto property = m.db.prepare(
        "INSERT INTO case_properties (case_id, name, value, hlc) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (case_id, name) DO UPDATE SET value = excluded.value, hlc = excluded.hlc");
    if (!property) return property.error();
    for (const auto& c : cases) {
        if (!c.assigned) {
            // Not ours and never was: nothing to keep.
            exists->bindBlob(1, idBytes(c.id));
            auto row = exists->step();
            exists->reset();
            if (!row) return row.error();
            if (!*row) continue;
        }
        upsert->bindBlob(1, idBytes(c.id))
            .bind(2, std::string_view(c.caseType))
            .bind(3, std::string_view(c.pseudonym));
        if (c.lastContactUtcMs) {
            upsert->bind(4, *c.lastContactUtcMs);
        } else {
            upsert->bindNull(4);
        }
        upsert->bind(5, std::int64_t{c.assigned ? 1 : 0});
        if (Status s = upsert->run(); !s) return s;
        for (const auto& p : c.properties) {
            const auto hlc = std::min<std::uint64_t>(p.hlc.value, HlcTimestamp::kMaxValue);
            held->bindBlob(1, idBytes(c.id)).bind(2, std::string_view(p.name));
            auto row = held->step();
            if (!row) {
                held->reset();
                return row.error();
            }
            const bool wins =
                !*row || caseValueWins(hlc, p.value, static_cast<std::uint64_t>(held->columnInt(1)),
                                       held->columnText(0));
            held->reset();
            if (!wins) continue;
            property->bindBlob(1, idBytes(c.id))
                .bind(2, std::string_view(p.name))
                .bind(3, std::string_view(p.value))
                .bind(4, static_cast<std::int64_t>(hlc));
            if (Status s = property->run(); !s) return s;
        }
    }
    return tx->commit();
}

// ---- Randomisation --------------------------------------------------------------------------

namespace {

bool plainName(std::string_view name) {
    return !name.empty() && std::none_of(name.begin(), name.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
    });
}

std::vector<std::string> splitText(std::string_view text, char separator) {
    std::vector<std::string> out;
    if (text.empty()) return out;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = text.find(separator, start);
        out.emplace_back(
            text.substr(start, end == std::string_view::npos ? text.npos : end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return out;
}

// Every stratum of a study: each combination of its factors' levels, the first factor varying
// slowest, named as the collector names them.
std::vector<std::string> studyStrata(const DeviceStudy& study) {
    std::vector<std::string> out;
    std::vector<std::pair<std::string, std::string>> levels(study.factors.size());
    auto walk = [&](auto&& self, std::size_t f) -> void {
        if (f == study.factors.size()) {
            out.push_back(alloc::stratumKey(levels));
            return;
        }
        for (const auto& level : study.factors[f].second) {
            levels[f] = {study.factors[f].first, level};
            self(self, f + 1);
        }
    };
    walk(walk, 0);
    return out;
}

}  // namespace

Result<std::array<std::uint8_t, 32>> Store::boxPublicKey() {
    Impl& m = impl();
    auto keys = m.loadBoxKeys();
    if (!keys) return keys.error();
    if (*keys) return (*keys)->first;
    if (Status s = m.requireWritable("making the device's allocation key"); !s) return s.error();
    // Durable at once: the collector seals slots to this key as soon as it has seen it.
    if (Status s = m.setSync(true); !s) return s.error();
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    keys = m.loadBoxKeys();  // another process may have made it meanwhile
    if (!keys) return keys.error();
    if (*keys) return (*keys)->first;
    auto pair = alloc::newBoxKeyPair();
    auto put = m.db.prepare("INSERT INTO settings (key, value) VALUES (?1, ?2)");
    if (!put) return put.error();
    put->bind(1, kBoxPublicKeySetting).bind(2, std::string_view(toHex(pair.first)));
    if (Status s = put->run(); !s) return s.error();
    put->reset();
    put->bind(1, kBoxSecretKeySetting).bind(2, std::string_view(toHex(pair.second)));
    if (Status s = put->run(); !s) return s.error();
    if (Status s = tx->commit(); !s) return s.error();
    return pair.first;
}

Status Store::setStudies(std::span<const DeviceStudy> studies) {
    Impl& m = impl();
    if (Status s = m.requireWritable("receiving studies"); !s) return s;
    std::set<std::string_view> ids;
    for (const auto& study : studies) {
        auto bad = [&](const std::string& what) {
            return makeError(ErrorCode::InvalidArgument,
                             "study '" + study.id + "' cannot be kept: " + what);
        };
        if (!plainName(study.id) || !ids.insert(study.id).second)
            return bad("its id is empty, repeated or holds control characters");
        if (study.arms.empty()) return bad("it has no arms");
        for (const auto& arm : study.arms) {
            if (!plainName(arm)) return bad("an arm's name is empty or holds control characters");
        }
        for (const auto& [name, levels] : study.factors) {
            if (!plainName(name) || levels.empty())
                return bad("a factor has no name, no levels, or control characters");
            for (const auto& level : levels) {
                if (!plainName(level))
                    return bad("a level of factor '" + name +
                               "' is empty or holds control characters");
            }
        }
    }
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    if (Status s = m.db.exec("DELETE FROM studies"); !s) return s;
    auto insert = m.db.prepare(
        "INSERT INTO studies (id, pilot, arms, factors, low_slots) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!insert) return insert.error();
    for (const auto& study : studies) {
        std::string arms, factors;
        for (const auto& arm : study.arms)
            arms += (arms.empty() ? "" : "\n") + arm;
        for (const auto& [name, levels] : study.factors) {
            if (!factors.empty()) factors += '\n';
            factors += name;
            for (const auto& level : levels)
                factors += '\t' + level;
        }
        insert->bind(1, std::string_view(study.id))
            .bind(2, std::string_view(study.pilot))
            .bind(3, std::string_view(arms))
            .bind(4, std::string_view(factors))
            .bind(5, static_cast<std::int64_t>(study.lowSlots));
        if (Status s = insert->run(); !s) return s;
    }
    return tx->commit();
}

Result<std::vector<DeviceStudy>> Store::studies() {
    auto st =
        impl().db.prepare("SELECT id, pilot, arms, factors, low_slots FROM studies ORDER BY id");
    if (!st) return st.error();
    std::vector<DeviceStudy> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        DeviceStudy study;
        study.id = std::string(st->columnText(0));
        study.pilot = std::string(st->columnText(1));
        study.arms = splitText(st->columnText(2), '\n');
        for (const auto& line : splitText(st->columnText(3), '\n')) {
            auto fields = splitText(line, '\t');
            if (fields.empty()) continue;
            std::string name = std::move(fields.front());
            fields.erase(fields.begin());
            study.factors.emplace_back(std::move(name), std::move(fields));
        }
        study.lowSlots = static_cast<std::uint32_t>(st->columnInt(4));
        out.push_back(std::move(study));
    }
    return out;
}

Status Store::addAllocationSlots(std::span<const SealedSlotIn> slots) {
    Impl& m = impl();
    if (Status s = m.requireWritable("receiving allocation slots"); !s) return s;
    for (const auto& slot : slots) {
        if (slot.study.empty() || slot.box.empty())
            return makeError(ErrorCode::InvalidArgument,
                             "an allocation slot without a study or a box cannot be kept");
    }
    // Durable: the collector counts these slots as this device's once it has sent them.
    if (Status s = m.setSync(true); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto find = m.db.prepare(
        "SELECT box FROM allocation_slots WHERE study = ?1 AND stratum = ?2 AND block = ?3 AND "
        "position = ?4");
    if (!find) return find.error();
    auto insert = m.db.prepare(
        "INSERT INTO allocation_slots (study, stratum, block, position, box, received_utc_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!insert) return insert.error();
    const std::int64_t now = m.clock->nowMillis();
    for (const auto& slot : slots) {
        find->bind(1, std::string_view(slot.study))
            .bind(2, std::string_view(slot.stratum))
            .bind(3, static_cast<std::int64_t>(slot.block))
            .bind(4, static_cast<std::int64_t>(slot.position));
        auto row = find->step();
        if (!row) return row.error();
        if (*row) {
            auto heldBlob = find->columnBlob(0);
            const std::vector<std::uint8_t> held(heldBlob.begin(), heldBlob.end());
            find->reset();
            auto same = m.sameSlotContent(held, slot.box);
            if (!same) return same.error();
            if (*same) continue;
            return makeError(ErrorCode::WrongState,
                             slotName(slot.study, slot.stratum, slot.block, slot.position) +
                                 " was received before with other content; the first one is "
                                 "kept and none of these slots were stored: ask central staff");
        }
        find->reset();
        insert->bind(1, std::string_view(slot.study))
            .bind(2, std::string_view(slot.stratum))
            .bind(3, static_cast<std::int64_t>(slot.block))
            .bind(4, static_cast<std::int64_t>(slot.position))
            .bindBlob(5, slot.box)
            .bind(6, now);
        if (Status s = insert->run(); !s) return s;
    }
    return tx->commit();
}

Result<std::vector<AllocationStock>> Store::allocationStock() {
    Impl& m = impl();
    auto known = studies();
    if (!known) return known.error();
    auto left = m.db.prepare(
        "SELECT s.stratum, count(*) FROM allocation_slots s WHERE s.study = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM allocation_log l WHERE l.study = s.study AND l.stratum = s.stratum AND "
        "l.block = s.block AND l.position = s.position) GROUP BY s.stratum");
    if (!left) return left.error();
    auto used = m.db.prepare(
        "SELECT stratum, count(*) FROM allocation_log WHERE study = ?1 GROUP BY stratum");
    if (!used) return used.error();
    auto countBy = [](sql::Statement& st,
                      const std::string& study) -> Result<std::map<std::string, std::int64_t>> {
        std::map<std::string, std::int64_t> out;
        st.bind(1, std::string_view(study));
        for (;;) {
            auto row = st.step();
            if (!row) {
                st.reset();
                return row.error();
            }
            if (!*row) break;
            out[std::string(st.columnText(0))] = st.columnInt(1);
        }
        st.reset();
        return out;
    };
    std::vector<AllocationStock> out;
    for (const auto& study : *known) {
        auto remaining = countBy(*left, study.id);
        if (!remaining) return remaining.error();
        auto taken = countBy(*used, study.id);
        if (!taken) return taken.error();
        for (const auto& stratum : studyStrata(study)) {
            AllocationStock s;
            s.study = study.id;
            s.stratum = stratum;
            if (auto it = remaining->find(stratum); it != remaining->end())
                s.remaining = it->second;
            if (auto it = taken->find(stratum); it != taken->end()) s.used = it->second;
            s.low = s.remaining < std::max<std::int64_t>(study.lowSlots, 1);
            out.push_back(std::move(s));
        }
    }
    return out;
}

Result<std::vector<AllocationLogEntry>> Store::allocationLog() {
    auto st = impl().db.prepare(
        "SELECT log_seq, study, stratum, block, position, arm, token, case_id, record_id, "
        "taken_utc_ms FROM allocation_log ORDER BY log_seq");
    if (!st) return st.error();
    std::vector<AllocationLogEntry> out;
    if (auto stepped = st->forEachRow([&] {
            AllocationLogEntry e;
            Allocation& a = e.allocation;
            a.logSeq = static_cast<std::uint64_t>(st->columnInt(0));
            a.study = std::string(st->columnText(1));
            a.stratum = std::string(st->columnText(2));
            a.block = static_cast<std::uint32_t>(st->columnInt(3));
            a.position = static_cast<std::uint32_t>(st->columnInt(4));
            a.arm = std::string(st->columnText(5));
            auto token = st->columnBlob(6);
            a.token.assign(token.begin(), token.end());
            e.caseId = uuidFromBlob(st->columnBlob(7)).value_or(Uuid{});
            e.recordId = uuidFromBlob(st->columnBlob(8)).value_or(Uuid{});
            a.takenUtcMs = st->columnInt(9);
            out.push_back(std::move(e));
        });
        !stepped)
        return stepped.error();
    return out;
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
        entry.baseHlc = static_cast<std::uint64_t>(st.columnInt(14));
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

// ---- Corrections ------------------------------------------------------------------------------
// Records central staff sent back (veld/correction.hpp). The collector's changes are merged here;
// reopening makes a correction draft (a new revision of the record whose base is its current
// revision), which writeFinalized queues like any other revision, with its base, marking the
// correction done.

Result<std::uint64_t> Store::Impl::correctionBase(const Uuid& id) {
    auto st = db.prepare("SELECT base_hlc FROM records WHERE id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(id));
    auto row = st->step();
    if (!row) return row.error();
    return *row ? static_cast<std::uint64_t>(st->columnInt(0)) : std::uint64_t{0};
}

Status Store::Impl::correctionFinalized(const Uuid& id, HlcTimestamp revision) {
    auto st = db.prepare("UPDATE corrections SET done_hlc = ?2 WHERE record_id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(id)).bind(2, static_cast<std::int64_t>(revision.value));
    if (Status s = st->run(); !s) return s;
    // The record is an ordinary finalized one from now on.
    auto plain = db.prepare("UPDATE records SET base_hlc = 0 WHERE id = ?1");
    if (!plain) return plain.error();
    plain->bindBlob(1, idBytes(id));
    return plain->run();
}

namespace {

constexpr const char* kCorrectionColumns =
    "k.record_id, k.form_id, k.form_version, k.state, k.comment, k.review_utc_ms, k.case_id, "
    "k.sealed, k.done_hlc, r.status, r.base_hlc, r.summary";

DeviceCorrection readDeviceCorrection(const sql::Statement& st) {
    DeviceCorrection c;
    c.recordId = uuidFromBlob(st.columnBlob(0)).value_or(Uuid{});
    c.formId = std::string(st.columnText(1));
    c.formVersion = static_cast<std::uint32_t>(st.columnInt(2));
    c.state = static_cast<CorrectionState>(st.columnInt(3));
    c.comment = std::string(st.columnText(4));
    c.reviewUtcMs = st.columnInt(5);
    if (!st.columnIsNull(6)) c.caseId = uuidFromBlob(st.columnBlob(6));
    c.sealed = st.columnInt(7) != 0;
    c.sent = st.columnInt(8) != 0 || c.state == CorrectionState::Corrected;
    const bool held = !st.columnIsNull(9);
    c.editing =
        held && st.columnInt(9) == static_cast<int>(RecordStatus::Draft) && st.columnInt(10) != 0;
    if (held) c.summary = std::string(st.columnText(11));
    return c;
}

}  // namespace

Status Store::mergeCorrections(std::span<const CorrectionIn> corrections) {
    Impl& d = impl();
    if (Status s = d.requireWritable("storing corrections"); !s) return s;
    auto tx = sql::Transaction::begin(d.db);
    if (!tx) return tx.error();
    auto drop = d.db.prepare("DELETE FROM corrections WHERE record_id = ?1 AND seq < ?2");
    auto put = d.db.prepare(
        "INSERT INTO corrections (record_id, seq, state, form_id, form_version, comment, "
        "review_utc_ms, case_id, sealed, body, done_hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
        "?9, ?10, 0) ON CONFLICT (record_id) DO UPDATE SET seq = ?2, state = ?3, form_id = ?4, "
        "form_version = ?5, comment = ?6, review_utc_ms = ?7, case_id = ?8, sealed = ?9, body = "
        "CASE WHEN length(?10) > 0 THEN ?10 ELSE body END, done_hlc = CASE WHEN ?3 = 0 THEN 0 "
        "ELSE done_hlc END WHERE excluded.seq > corrections.seq");
    if (!drop) return drop.error();
    if (!put) return put.error();
    for (const CorrectionIn& c : corrections) {
        const auto seq = static_cast<std::int64_t>(c.seq);
        if (c.state == CorrectionState::Withdrawn) {
            drop->bindBlob(1, idBytes(c.recordId)).bind(2, seq);
            if (Status s = drop->run(); !s) return s;
            drop->reset();
            continue;
        }
        // The collector's copy of the record, checked as any body from the network.
        std::span<const std::uint8_t> body;
        if (!c.body.empty()) {
            auto header = inspectRecord(c.body);
            if (header && header->id == c.recordId && !header->sealed) body = c.body;
        }
        put->bindBlob(1, idBytes(c.recordId))
            .bind(2, seq)
            .bind(3, static_cast<std::int64_t>(c.state))
            .bind(4, std::string_view(c.formId))
            .bind(5, static_cast<std::int64_t>(c.formVersion))
            .bind(6, std::string_view(c.comment))
            .bind(7, c.reviewUtcMs);
        if (c.caseId) {
            put->bindBlob(8, idBytes(*c.caseId));
        } else {
            put->bindNull(8);
        }
        put->bind(9, std::int64_t{c.sealed ? 1 : 0}).bindBlob(10, body);
        if (Status s = put->run(); !s) return s;
        put->reset();
    }
    return tx->commit();
}

Result<std::vector<DeviceCorrection>> Store::corrections(std::optional<Uuid> caseId) {
    Impl& d = impl();
    auto st = d.db.prepare(std::string("SELECT ") + kCorrectionColumns +
                           " FROM corrections k LEFT JOIN records r ON r.id = k.record_id WHERE "
                           "?1 IS NULL OR k.case_id = ?1 ORDER BY k.review_utc_ms DESC, k.seq "
                           "DESC");
    if (!st) return st.error();
    if (caseId) {
        st->bindBlob(1, idBytes(*caseId));
    } else {
        st->bindNull(1);
    }
    std::vector<DeviceCorrection> out;
    if (auto stepped = st->forEachRow([&] { out.push_back(readDeviceCorrection(st.value())); });
        !stepped)
        return stepped.error();
    return out;
}

Result<std::optional<DeviceCorrection>> Store::correction(const Uuid& recordId) {
    Impl& d = impl();
    auto st = d.db.prepare(std::string("SELECT ") + kCorrectionColumns +
                           " FROM corrections k LEFT JOIN records r ON r.id = k.record_id WHERE "
                           "k.record_id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(recordId));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<DeviceCorrection>();
    return std::optional<DeviceCorrection>(readDeviceCorrection(st.value()));
}

Result<Uuid> Store::reopenForCorrection(const Uuid& recordId) {
    Impl& d = impl();
    if (Status s = d.requireWritable("reopening a record for correction"); !s) return s.error();
    if (Status s = d.setSync(true); !s) return s.error();
    auto tx = sql::Transaction::begin(d.db);
    if (!tx) return tx.error();
    auto k =
        d.db.prepare("SELECT state, sealed, done_hlc, body FROM corrections WHERE record_id = ?1");
    if (!k) return k.error();
    k->bindBlob(1, idBytes(recordId));
    auto found = k->step();
    if (!found) return found.error();
    if (!*found || k->columnInt(0) != static_cast<int>(CorrectionState::Open))
        return makeError(ErrorCode::NotFound,
                         "central staff have not sent record " + recordId.toString() + " back");
    if (k->columnInt(1) != 0)
        return makeError(ErrorCode::WrongState,
                         "a sealed record cannot be reopened on a device: start a new record");
    if (k->columnInt(2) != 0)
        return makeError(ErrorCode::WrongState,
                         "the correction of this record has been finalized already");
    const auto given = k->columnBlob(3);
    const std::vector<std::uint8_t> collectorBody(given.begin(), given.end());
    k.value().reset();

    auto held = d.db.prepare("SELECT status, base_hlc, body FROM records WHERE id = ?1");
    if (!held) return held.error();
    held->bindBlob(1, idBytes(recordId));
    auto row = held->step();
    if (!row) return row.error();
    std::vector<std::uint8_t> body;
    if (*row) {
        const auto status = static_cast<RecordStatus>(held->columnInt(0));
        if (status == RecordStatus::Draft && held->columnInt(1) != 0) return recordId;  // again
        if (status != RecordStatus::Sent)
            return makeError(ErrorCode::WrongState,
                             "record " + recordId.toString() + " is " +
                                 std::string(recordStatusName(status)) +
                                 ": only a sent record can be corrected (synchronise first)");
        const auto b = held->columnBlob(2);
        body.assign(b.begin(), b.end());
    } else {
        // A record of the case's team this device never held: the collector's copy.
        if (collectorBody.empty())
            return makeError(ErrorCode::NotFound,
                             "record " + recordId.toString() +
                                 " is not on this device and came back without its answers");
        body = collectorBody;
    }
    held.value().reset();
    auto current = decodeRecord(body);
    if (!current) return current.error();
    if (current->id != recordId)
        return makeError(ErrorCode::Corrupt, "the record sent back is another record");
    if (current->sealed)
        return makeError(ErrorCode::WrongState,
                         "a sealed record cannot be reopened on a device: start a new record");
    if (!*row) {
        // Held from now on as the collector has it (sent), so the draft below replaces it.
        const RecordContent& c = current->content;
        d.insertRecord.bindBlob(1, idBytes(recordId))
            .bind(2, std::string_view(c.formId))
            .bind(3, static_cast<std::int64_t>(c.formVersion));
        if (c.caseId) {
            d.insertRecord.bindBlob(4, idBytes(*c.caseId));
        } else {
            d.insertRecord.bindNull(4);
        }
        d.insertRecord.bind(5, static_cast<std::int64_t>(RecordStatus::Sent))
            .bind(6, static_cast<std::int64_t>(current->hlc.value))
            .bind(7, static_cast<std::int64_t>(current->createdHlc.value))
            .bind(8, std::string_view())
            .bindBlobStatic(9, body);
        if (Status s = d.insertRecord.run(); !s) return s.error();
    }
    // The draft: the current answers, made here, from the current revision. A correction changes
    // answers, never the case (its case change was applied when the record first came) or an
    // allocation (taken once, when the record was first finalized).
    Record draft;
    draft.id = recordId;
    draft.deviceId = d.deviceId;
    draft.createdHlc = current->createdHlc;
    draft.finalized = false;
    draft.content = current->content;
    draft.content.caseChange.reset();
    draft.content.allocation.reset();
    draft.content.allocate.reset();
    auto ts = d.stamp();
    if (!ts) return ts.error();
    draft.hlc = *ts;
    auto encoded = encodeRecord(draft);
    if (!encoded) return encoded.error();
    auto up = d.db.prepare(
        "UPDATE records SET status = 0, hlc = ?2, body = ?3, base_hlc = ?4 WHERE id = ?1");
    if (!up) return up.error();
    up->bindBlob(1, idBytes(recordId))
        .bind(2, static_cast<std::int64_t>(draft.hlc.value))
        .bindBlobStatic(3, *encoded)
        .bind(4, static_cast<std::int64_t>(current->hlc.value));
    if (Status s = up->run(); !s) return s.error();
    if (Status s = tx->commit(); !s) return s.error();
    return recordId;
}

}  // namespace veld
