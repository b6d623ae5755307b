// The device store's internals, shared by its files (one per domain; not installed):
// - store.cpp: open and migrate, the plumbing every domain uses (meta values, the clock, outbox
//   sequence numbers, verifying and quarantining bodies), check, info and batches;
// - store_records.cpp: drafts, finalize, reading and listing records, the outbox;
// - store_cases.cpp: the case list, case changes at finalize, cases from the collector;
// - store_allocation.cpp: the box key, studies, slots and the allocation log;
// - store_forms.cpp: installed forms and settings;
// - store_corrections.cpp: records central staff sent back, and correction drafts.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <veld/allocation.hpp>
#include <veld/chain.hpp>
#include <veld/hlc.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>

namespace veld {

// Helpers that more than one of the store's files use.
namespace store_detail {

inline constexpr const char* kRecordColumns =
    "rowid, id, form_id, form_version, case_id, status, hlc, created_hlc, summary, length(body)";

inline std::span<const std::uint8_t> idBytes(const Uuid& id) {
    return {id.bytes.data(), id.bytes.size()};
}

inline std::optional<Uuid> uuidFromBlob(std::span<const std::uint8_t> blob) {
    if (blob.size() != 16) return std::nullopt;
    Uuid id;
    std::copy(blob.begin(), blob.end(), id.bytes.begin());
    return id;
}

// Reads the kRecordColumns of a row, starting at column `first` (0 when the query selects them
// first).
inline RecordSummary readSummary(const sql::Statement& st, int first = 0) {
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

inline std::string caseName(const Uuid& id) {
    return "case " + id.toString();
}

// Steps a one-row query whose first column is an integer or NULL.
inline Result<std::optional<std::int64_t>> optionalInt(sql::Statement& st) {
    auto row = st.step();
    if (!row) return row.error();
    if (!*row || st.columnIsNull(0)) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(st.columnInt(0));
}

// `text` as a LIKE pattern matching it anywhere, its own % _ and \ escaped (with ESCAPE '\').
inline std::string likePattern(std::string_view text) {
    std::string pattern = "%";
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
        pattern.push_back(c);
    }
    pattern.push_back('%');
    return pattern;
}

}  // namespace store_detail

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
    /// A revision's place in the device's hash chain (store_proof.cpp).
    struct ChainStep {
        chain::Digest previous{};
        chain::Digest link{};
    };
    /// Inside the finalize's transaction: the link of revision `seq` (over `body` as it is sent),
    /// which becomes the newest.
    Result<ChainStep> chainStep(std::uint64_t seq, const Uuid& recordId, HlcTimestamp revisionHlc,
                                std::span<const std::uint8_t> body);
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

    // Corrections (store_corrections.cpp).
    /// The revision a draft was reopened from for a correction; 0 for any other record.
    Result<std::uint64_t> correctionBase(const Uuid& id);
    /// A correction draft was finalized as revision `revision`: its correction is done here.
    Status correctionFinalized(const Uuid& id, HlcTimestamp revision);
};

}  // namespace veld
