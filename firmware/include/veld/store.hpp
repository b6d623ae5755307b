// The device store: one SQLite file per device profile holding every record made on the device,
// the outbox of finalized revisions waiting for the collector, a quarantine for bodies that fail
// verification, the forms published to the device and the device's settings.
//
// Guarantees
// - A finalize is durable when it returns (WAL, synchronous=FULL for that commit). Drafts are
//   committed with synchronous=NORMAL: they survive a crash of Veld, and are made durable by the
//   next finalize or checkpoint.
// - Outbox sequence numbers are gap-free and never reused: 1, 2, 3, ... per store, assigned in the
//   same transaction as the finalize, so the collector can say "received through N".
// - A body that fails the FlatBuffers Verifier or Veld's record checks is moved to the quarantine
//   with its reason when read; it never stops other records from loading.
// - A full disk, a read-only file or a busy store gives an error value and leaves every earlier
//   record intact (each operation is one transaction).
// - Several Store objects, in one process or several, may use the same file at once: every write
//   is a BEGIN IMMEDIATE transaction that re-reads the clock and sequence state from the file.
//
// Thread-safety: a Store object belongs to one thread at a time; open one Store per thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/case.hpp>
#include <veld/hlc.hpp>
#include <veld/record.hpp>
#include <veld/result.hpp>
#include <veld/sqlite.hpp>
#include <veld/uuid.hpp>

namespace veld {

class Clock;

/// Summaries longer than this are cut (at a UTF-8 character boundary) when saved.
inline constexpr std::size_t kMaxSummaryBytes = 200;

struct StoreOptions {
    /// ReadWriteCreate makes a new store when the file is missing; ReadWrite needs an existing
    /// one (and falls back to read-only when the file cannot be written); ReadOnly never writes.
    sql::OpenMode mode = sql::OpenMode::ReadWrite;
    const Clock* clock = nullptr;  // nullptr: the system clock
    int busyTimeoutMs = 5000;      // how long a write waits for another process before InUse
    const char* vfs = nullptr;     // SQLite VFS name; nullptr for the default (tests inject faults)
};

/// A record's metadata as listed: what the store keeps in columns next to the body.
struct RecordSummary {
    Uuid id;
    std::string formId;
    std::uint32_t formVersion = 0;
    std::optional<Uuid> caseId;
    RecordStatus status = RecordStatus::Draft;
    HlcTimestamp hlc;         // of the current revision
    HlcTimestamp createdHlc;  // of the first revision
    std::string summary;      // short text for lists; may hold an answer, so never log it
    std::int64_t bodyBytes = 0;
};

struct StoredRecord {
    RecordSummary meta;
    Record record;
};

/// Opaque position in a listing, for keyset paging (constant cost for every page).
struct ListCursor {
    HlcTimestamp hlc;
    std::int64_t rowid = 0;
};

struct ListQuery {
    std::optional<std::string> formId;
    std::optional<RecordStatus> status;
    std::optional<Uuid> caseId;
    std::string text;  // case-insensitive (ASCII) substring of the summary
    std::size_t limit = 50;
    std::optional<ListCursor> after;  // from the previous page's `next`
};

/// Newest revision first.
struct ListPage {
    std::vector<RecordSummary> rows;
    std::optional<ListCursor> next;  // absent on the last page
};

struct StatusCount {
    std::string formId;
    RecordStatus status = RecordStatus::Draft;
    std::int64_t count = 0;
};

struct Finalized {
    Uuid id;
    std::uint64_t seq = 0;  // outbox sequence number of this revision
    HlcTimestamp hlc;
};

/// One revision waiting for the collector. A damaged entry (its body was quarantined) is still
/// sent, without a body, so the sequence stays gap-free and central staff learn of the loss.
struct OutboxEntry {
    std::uint64_t seq = 0;
    Uuid recordId;
    HlcTimestamp hlc;
    std::vector<std::uint8_t> body;
    bool damaged = false;
    std::string damageReason;
};

struct OutboxState {
    std::uint64_t lastSeq = 0;       // highest sequence number given out
    std::uint64_t ackedThrough = 0;  // highest acknowledged by the collector
    std::int64_t pending = 0;
    std::int64_t pendingBytes = 0;
};

struct QuarantineEntry {
    std::int64_t quarantineId = 0;
    Uuid recordId;
    RecordStatus previousStatus = RecordStatus::Draft;
    std::string reason;
    std::int64_t quarantinedUtcMs = 0;
    std::int64_t bodyBytes = 0;
};

struct CheckReport {
    bool integrityOk = false;
    std::vector<std::string> integrityMessages;  // SQLite's integrity_check lines when not ok
    std::int64_t bodiesChecked = 0;
    std::int64_t alreadyQuarantined = 0;
    std::int64_t newerBodies = 0;  // written by a newer Veld: not checked further, not damage
    std::vector<QuarantineEntry> badBodies;  // found in this check
    bool moved = false;                      // whether badBodies were moved to the quarantine
    [[nodiscard]] bool ok() const { return integrityOk && badBodies.empty(); }
};

/// A form published to this device (installed by veldctl today; later delivered by sync).
struct InstalledForm {
    std::string formId;
    std::uint32_t version = 0;
    std::string pilot;
    std::vector<std::uint8_t> binary;  // VFRM FlatBuffer, checked when installed
    std::int64_t installedUtcMs = 0;
};

struct StoreInfo {
    std::string path;
    int schemaVersion = 0;
    Uuid deviceId;
    std::int64_t createdUtcMs = 0;
    HlcTimestamp lastHlc;
    bool readOnly = false;
    std::int64_t drafts = 0;
    std::int64_t finalized = 0;
    std::int64_t sent = 0;
    std::int64_t quarantined = 0;
    OutboxState outbox;
    std::int64_t fileBytes = 0;
};

/// A study as a device knows it: never its seed or sequence.
struct DeviceStudy {
    std::string id;
    std::string pilot;
    std::vector<std::string> arms;
    std::vector<std::pair<std::string, std::vector<std::string>>> factors;  // name, levels
    std::uint32_t lowSlots = 0;
    bool operator==(const DeviceStudy&) const = default;
};

/// One sealed allocation slot received from the collector.
struct SealedSlotIn {
    std::string study;
    std::string stratum;
    std::uint32_t block = 0;
    std::uint32_t position = 0;
    std::vector<std::uint8_t> box;
};

/// Unopened slots left for one stratum of a study.
struct AllocationStock {
    std::string study;
    std::string stratum;
    std::int64_t remaining = 0;
    std::int64_t used = 0;
    bool low = false;  // fewer than the study's lowSlots remain
};

/// One entry of the device's append-only allocation log.
struct AllocationLogEntry {
    Allocation allocation;  // with its logSeq
    Uuid caseId;
    Uuid recordId;
};

class Store {
  public:
    /// The schema version this Veld writes. Files with a higher user_version are refused.
    static constexpr int kSchemaVersion = 4;
    /// PRAGMA application_id of every Veld store ("VELD" in ASCII).
    static constexpr std::int32_t kApplicationId = 0x56454C44;

    /// Opens a store, creating it (mode ReadWriteCreate) or migrating it to kSchemaVersion as
    /// needed. Errors: NotAStore, TooNew, ReadOnly (needs migrating but cannot be written), InUse,
    /// Corrupt, Io, StorageFull.
    static Result<Store> open(const std::string& path, StoreOptions options = {});

    Store(Store&&) noexcept;
    Store& operator=(Store&&) noexcept;
    ~Store();

    [[nodiscard]] const Uuid& deviceId() const;
    [[nodiscard]] bool readOnly() const;
    [[nodiscard]] const std::string& path() const;

    // ---- Writing ----------------------------------------------------------------------------
    /// Saves new content as a draft and returns its new id.
    Result<Uuid> saveDraft(const RecordContent& content, std::string_view summary = {});
    /// Replaces a draft's content. WrongState if the record is no longer a draft.
    Status updateDraft(const Uuid& id, const RecordContent& content, std::string_view summary = {});
    /// Finalizes a draft with its final content: durable when this returns, queued in the outbox.
    Result<Finalized> finalize(const Uuid& id, const RecordContent& content,
                               std::string_view summary = {});
    /// Saves and finalizes new content in one step (a record that was never a draft).
    Result<Finalized> finalizeNew(const RecordContent& content, std::string_view summary = {});
    /// Deletes a draft. WrongState for a finalized record: those are never deleted on a device.
    Status deleteDraft(const Uuid& id);

    // ---- Reading ----------------------------------------------------------------------------
    /// Reads and verifies a record. A body that fails verification is moved to the quarantine
    /// (when the store is writable) and the result is a Corrupt error naming the reason. A body
    /// that uses fields or values of a newer Veld gives TooNew and stays where it is.
    Result<StoredRecord> get(const Uuid& id);
    Result<ListPage> list(const ListQuery& query);
    /// Records per form and status, from a table kept in step by triggers (no scan).
    Result<std::vector<StatusCount>> counts();

    // ---- Forms ------------------------------------------------------------------------------
    /// Installs a compiled form (a .vfrm binary). It is checked first (FlatBuffers Verifier and
    /// Veld's form checks; warnings are allowed): a bad binary is refused with InvalidArgument.
    /// Installing the same bytes again succeeds and changes nothing; different bytes under an
    /// installed id and version are refused with WrongState, because a published version never
    /// changes (drafts and records refer to it). ReadOnly on a read-only store.
    Status installForm(std::span<const std::uint8_t> binary);
    /// The newest installed version of every form, ordered by pilot, then form id. Binaries are
    /// returned as stored: load them with forms::CompiledForm::load, which verifies them again.
    Result<std::vector<InstalledForm>> forms();
    /// One exact version (a draft reopens with the version it was started with); NotFound when
    /// that version is not installed.
    Result<InstalledForm> form(std::string_view formId, std::uint32_t version);

    // ---- Cases ------------------------------------------------------------------------------
    // A finalize whose content has a caseChange applies it to the case list in the same
    // transaction: Open creates the case (caseId set by the caller; WrongState when the case is
    // already on this device), FollowUp and Close need the case on this device (NotFound
    // otherwise); properties take the record's HLC, and the store writes into the body the HLC
    // each property had before (base), so the collector can tell concurrent changes. Open sets
    // `status` to "open" and Close to "closed", and those (and `arm`, below) are written into the
    // body's caseChange like any other property. The record's HLC is made later than every
    // property the case holds, so a change always orders after the values it replaced. The
    // case's last contact becomes the record's time when that is later. Drafts keep their
    // caseChange as given and do not touch the case list. Content with an `allocation` is refused
    // (InvalidArgument): only the store takes allocations.
    /// Open cases (and closed ones on request) matching the query; cases with a planned next
    /// contact first (soonest first), then by last contact, newest first. Cases the collector no
    /// longer assigns to this device are left out. Properties with an empty value are not listed.
    Result<std::vector<CaseInfo>> cases(const CaseQuery& query);
    /// One case; NotFound when the device does not hold it.
    Result<CaseInfo> caseInfo(const Uuid& caseId);
    /// Cases from the collector, merged property by property (the newer HLC wins, so changes
    /// made here and not yet acknowledged are kept); unknown cases are added, the last contact
    /// becomes the later of both, and an unassigned case is kept but hidden from cases(). One
    /// transaction.
    Status mergeCases(std::span<const CaseUpdateIn> cases);

    // ---- Randomisation ----------------------------------------------------------------------
    // A finalize whose content has `allocate` takes the next unopened slot of that study and
    // stratum for the record's case, opens it, appends it to the allocation log, writes it into
    // the record (`allocation`) and the case (`arm`), all in the finalize's transaction: a crash
    // leaves either all of it or none. It refuses (WrongState, nothing saved) a case, or another
    // case with the same pseudonym, that already has an allocation in the study, and a stratum
    // with no slot left ("synchronise to receive more"). The next slot is the lowest (block,
    // position) without a log entry; a slot that does not open with the device's key, or holds
    // another slot, is refused (Corrupt) rather than skipped. A record that allocates without a
    // caseChange gets a FollowUp caseChange carrying `arm`. Log numbers are 1, 2, 3, ... without
    // gaps.
    //
    // The box key pair is kept in the settings kBoxPublicKeySetting and kBoxSecretKeySetting (hex).
    // The secret one never leaves the device: never show or log it.
    static constexpr std::string_view kBoxPublicKeySetting = "allocation.box_public_key";
    static constexpr std::string_view kBoxSecretKeySetting = "allocation.box_secret_key";
    /// The device's X25519 public key that slots are sealed to; made (and kept) on first use,
    /// durably (the collector seals slots to it). ReadOnly when it must be made but cannot be.
    Result<std::array<std::uint8_t, 32>> boxPublicKey();
    /// Studies as the collector last sent them (replaces the list; slots and the log stay).
    /// InvalidArgument for a study without an id or arms, or names with control characters.
    Status setStudies(std::span<const DeviceStudy> studies);
    /// Ordered by id.
    Result<std::vector<DeviceStudy>> studies();
    /// Stores sealed slots (receiving the same slot again, even sealed again, changes nothing).
    /// One durable transaction. A slot received before with other content is refused
    /// (WrongState, naming the slot), the first one is kept, and nothing of the call is stored.
    Status addAllocationSlots(std::span<const SealedSlotIn> slots);
    /// Slots left and used per study and stratum, for every stratum of every known study (the
    /// first factor varies slowest). `low` when fewer than lowSlots remain; with lowSlots 0 (the
    /// device does not know block sizes) only when none remains.
    Result<std::vector<AllocationStock>> allocationStock();
    /// The allocation log, oldest first. It is append-only: the file refuses changes to it.
    Result<std::vector<AllocationLogEntry>> allocationLog();

    // ---- Settings ---------------------------------------------------------------------------
    /// Device and client settings as text. An absent key gives std::nullopt. Keys are non-empty
    /// (InvalidArgument otherwise). Values may be secret (the pseudonym key): never log them.
    Result<std::optional<std::string>> setting(std::string_view key);
    /// Writes a setting (synchronous=NORMAL, like drafts). ReadOnly on a read-only store.
    Status setSetting(std::string_view key, std::string_view value);
    /// Removes a setting; removing an absent one succeeds.
    Status clearSetting(std::string_view key);

    // ---- Outbox -----------------------------------------------------------------------------
    /// The oldest waiting revisions, at most `maxEntries` and at most `maxBytes` of bodies (but
    /// always at least one entry when any is waiting, however large). Bodies are verified; bad ones
    /// are quarantined and returned as damaged entries. With `afterSeq`, the entries after that
    /// number (an uploader reads its next batch while the previous one is on its way).
    Result<std::vector<OutboxEntry>> outboxPending(std::size_t maxEntries, std::size_t maxBytes,
                                                   std::uint64_t afterSeq = 0);
    /// The collector holds every revision through `seq`: they leave the outbox and their records
    /// become Sent. Acknowledging an older number again is harmless; a number beyond the last
    /// one given out is refused. The caller acknowledges only what it has sent and the collector
    /// confirmed (the store cannot tell a sent revision from one made since).
    Status acknowledgeThrough(std::uint64_t seq);
    Result<OutboxState> outboxState();

    // ---- Maintenance ------------------------------------------------------------------------
    Result<std::vector<QuarantineEntry>> quarantine();
    /// SQLite's integrity check plus verification of every body. With `moveBad`, bodies that fail
    /// are moved to the quarantine (when the store is writable).
    Result<CheckReport> check(bool moveBad);
    Result<StoreInfo> info();

    /// Groups many writes into one transaction (bulk imports, tests, benchmarks); durable when
    /// commit() returns. Operations inside a batch become savepoints: one that fails undoes only
    /// itself, unless SQLite had to roll back the whole batch (after an I/O error), in which case
    /// every later operation and commit() fail with WrongState. Destroying an uncommitted batch
    /// rolls all of it back. One batch at a time per Store; a Batch must not outlive its Store.
    class Batch {
      public:
        Batch(Batch&&) noexcept;
        ~Batch();
        Status commit();

      private:
        friend class Store;
        struct State;
        explicit Batch(std::unique_ptr<State> state);
        std::unique_ptr<State> m_state;
    };
    Result<Batch> beginBatch();

    struct Impl;

  private:
    explicit Store(std::unique_ptr<Impl> impl);
    Result<StoredRecord> getRecord(const Uuid& id, int retriesLeft);
    Impl& impl() const;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace veld
