// The collector's storage, behind an interface so that another database (PostgreSQL) can take
// the embedded SQLite store's place. Every method is safe to call from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/allocation.hpp>
#include <veld/result.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/study_json.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

struct DeviceInfo {
    Uuid deviceId;
    std::string label;  // from the enrolment code
    std::int64_t enrolledUtcMs = 0;
    std::optional<std::int64_t> revokedUtcMs;
    std::uint64_t receivedThrough = 0;
    std::optional<std::int64_t> lastContactUtcMs;
    std::int64_t revisions = 0;
    /// Finalized records the device still held, unacknowledged, after its last push (as it
    /// reported them); empty when it never said.
    std::optional<std::int64_t> waiting;
    std::string team;        // cases assigned to the team reach every device in it; "" none
    bool hasBoxKey = false;  // the device said its key for sealed allocation slots
};

/// Records of a form whose current revision was made on one day (UTC).
struct DayCount {
    std::string formId;
    std::string pilot;
    std::int32_t day = 0;  // days since 1970-01-01
    std::int64_t records = 0;
};

struct AdminInfo {
    std::string name;
    std::int64_t createdUtcMs = 0;
    std::optional<std::int64_t> revokedUtcMs;
};

struct CollectorStats {
    std::int64_t devices = 0;
    std::int64_t records = 0;
    std::int64_t revisions = 0;
    std::int64_t rejected = 0;
    std::int64_t conflicts = 0;  // unresolved
    std::int64_t flaggedClocks = 0;
    std::int64_t forms = 0;
};

struct AuditEntry {
    std::int64_t utcMs = 0;
    std::string actor;
    std::string action;  // enrol, enrol-repeat, reenrol, enrol-code, reenrol-code, revoke, publish,
                         // resolve, review, export, ...
    std::string subject;
    std::string detail;
};

struct ConflictInfo {
    Uuid recordId;
    std::int64_t id = 0;  // for resolveConflict
    Uuid deviceA;
    HlcTimestamp hlcA;
    Uuid deviceB;
    HlcTimestamp hlcB;
    std::int64_t detectedUtcMs = 0;
};

/// How staff settle a conflict. Nothing is deleted: the outcome is a new revision of the record,
/// made by the collector, which becomes its current view; or (Close) no new revision at all, the
/// current view staying as it is (the only way for sealed revisions, which the collector cannot
/// open).
struct ConflictResolution {
    enum class Kind { KeepA, KeepB, Merge, Close };
    Kind kind = Kind::KeepA;
    /// Merge: the answers and repeats (by name) taken from B; everything else comes from A.
    std::vector<std::string> fromB;
    std::string comment;
};

/// What staff decided about a group of likely duplicates.
enum class DuplicateDecision : std::uint8_t { Undecided = 0, SamePerson = 1, DifferentPeople = 2 };

/// Records that probably describe the same participant: the same pseudonym (any form), or the
/// same answers to every question the form marks as identifying. The key is a digest of what
/// they share; the shared values themselves are not shown.
struct DuplicateGroup {
    enum class Kind { SamePseudonym, SameIdentifyingAnswers };
    Kind kind = Kind::SamePseudonym;
    std::string key;       // 64 hex digits, for decideDuplicate
    std::string question;  // the pseudonym question, or the form whose answers match
    std::vector<Uuid> records;
    DuplicateDecision decision = DuplicateDecision::Undecided;
    std::string comment;
    std::int64_t decidedUtcMs = 0;
    std::string decidedBy;
};

/// A revision as the collector holds it (the record's current view is its newest by HLC).
struct StoredRevision {
    Uuid deviceId;
    std::uint64_t seq = 0;
    Uuid recordId;
    HlcTimestamp hlc;
    std::string formId;
    std::vector<std::uint8_t> body;
    bool damaged = false;
    bool clockFlagged = false;
};

/// Central staff's verdict on a record. Every record starts as Received.
enum class ReviewState : std::uint8_t { Received = 0, HasIssues = 1, Approved = 2, Rejected = 3 };

inline constexpr std::size_t kMaxReviewCommentBytes = 4096;

struct ReviewChange {
    ReviewState state = ReviewState::Received;
    std::string comment;
    std::int64_t utcMs = 0;
    std::string actor;
};

struct RecordReview {
    ReviewState state = ReviewState::Received;
    std::vector<ReviewChange> history;  // oldest first; nothing is ever removed
};

/// Which records an export takes: the current view of each record of one form.
struct RecordQuery {
    std::string formId;
    std::optional<std::uint32_t> formVersion;  // the current revision's form version
    std::optional<std::int64_t> fromUtcMs;     // current revision made at or after (device clock)
    std::optional<std::int64_t> untilUtcMs;    // ... and before
    std::optional<ReviewState> review;
};

/// One record as an export reads it: its current revision and what staff decided about it.
struct CurrentRecord {
    Uuid recordId;
    Uuid deviceId;
    std::uint32_t formVersion = 0;
    HlcTimestamp hlc;
    std::vector<std::uint8_t> body;  // empty when the device sent it damaged
    bool damaged = false;
    bool clockFlagged = false;
    ReviewState review = ReviewState::Received;
};

/// The review queue: records in one review state (by record id), at most a given number.
struct ReviewQueue {
    struct Entry {
        Uuid recordId;
        std::string formId;
        Uuid deviceId;  // of the current revision
        HlcTimestamp hlc;
    };
    ReviewState state = ReviewState::Received;
    std::int64_t total = 0;  // records in that state; `records` may hold fewer
    std::vector<Entry> records;
};

struct PublishedFormInfo {
    std::string formId;
    std::uint32_t version = 0;
    std::string pilot;
    std::vector<std::uint8_t> binary;
};

// ---- Cases ----------------------------------------------------------------------------------
// A case (a participant, a vacancy, ...) is made by the record that opens it and changed by the
// case changes of later records (veld/record.hpp CaseChange). The collector merges each property
// by HLC: the newer value is current; two changes made without either device seeing the other's
// (each one's base older than the other's HLC) with different values are also kept as a case
// conflict for staff. Every change gives the case a new change number, by which pull pages.

struct CollectorCaseProperty {
    std::string name;
    std::string value;  // empty: cleared
    HlcTimestamp hlc;   // of the revision (or staff's resolution) that set it
    HlcTimestamp base;  // the HLC of the value the device held when it changed it
    Uuid deviceId;      // who set it (the collector's own device for staff)
};

struct CollectorCase {
    Uuid caseId;
    std::string caseType;
    std::string pseudonym;  // "KEYID:HEX", or empty
    std::optional<Uuid> openedDevice;
    std::optional<Uuid> assignedDevice;
    std::string assignedTeam;  // "" none
    std::optional<std::int64_t> lastContactUtcMs;
    std::uint64_t changeSeq = 0;
    std::vector<CollectorCaseProperty> properties;  // by name
};

/// Which cases to list; every field that is set must match.
struct CaseFilter {
    std::optional<std::string> caseType;
    std::optional<Uuid> assignedDevice;
    std::optional<std::string> assignedTeam;
    std::size_t limit = 10000;
};

/// Two values of one case property set without either device seeing the other's.
struct CaseConflictInfo {
    std::int64_t id = 0;  // for resolveCaseConflict
    Uuid caseId;
    std::string property;
    std::string valueA;  // the value held when the other arrived
    HlcTimestamp hlcA;
    Uuid deviceA;
    std::string valueB;  // the value that arrived
    HlcTimestamp hlcB;
    Uuid deviceB;
    std::int64_t detectedUtcMs = 0;
    std::optional<std::int64_t> resolvedUtcMs;
    std::string resolution;  // how, and staff's comment
    std::string resolvedBy;
};

/// Staff's choice for a case conflict: one of the two values, or a value they type.
struct CaseChoice {
    enum class Kind : std::uint8_t { A = 0, B = 1, Value = 2 };
    Kind kind = Kind::A;
    std::string value;  // Kind::Value
};

// ---- Randomisation --------------------------------------------------------------------------
// A study (StudyDefinition) is defined once with a secret seed; blocks of each stratum's
// sequence are dealt to devices (at pull, or by staff), each block to one device only; the
// allocations devices report inside records are all stored as they come, duplicates and misuse
// included, and checked by verifyAllocations against the regenerated sequence.

/// A study as the collector lists it (the seed is never in it: see studySeed).
struct StudySummary {
    StudyDefinition definition;  // definition.study.seed is zeroed
    std::int64_t createdUtcMs = 0;
};

struct DealtBlock {
    std::string study;
    std::string stratum;
    std::uint32_t block = 0;
    Uuid deviceId;
    std::uint64_t assignSeq = 0;
    std::int64_t assignedUtcMs = 0;
};

struct ArmBalance {
    std::string arm;
    std::int64_t allocated = 0;
    double target = 0;  // the stratum's allocations x ratio / sum of ratios
};

struct StratumBalance {
    std::string stratum;
    std::vector<ArmBalance> arms;  // in the study's arm order
    std::int64_t allocated = 0;
    std::int64_t dealtBlocks = 0;
    std::int64_t completeBlocks = 0;  // every slot used
    std::int64_t openBlocks = 0;      // some slots used
    bool known = true;                // false: a stratum the study does not have (see verify)
};

struct DeviceBalance {
    Uuid deviceId;
    std::string label;
    std::int64_t dealtBlocks = 0;
    std::int64_t dealtSlots = 0;
    std::int64_t allocated = 0;
};

struct StudyBalance {
    std::string study;
    std::int64_t allocated = 0;
    std::vector<StratumBalance> strata;  // the study's strata in order, then unknown ones
    std::vector<DeviceBalance> devices;  // devices dealt blocks, or reporting allocations
};

struct AllocationProblem {
    enum class Kind : std::uint8_t {
        UnknownStratum = 0,  // the stratum is not one of the study's
        NoSuchSlot = 1,      // the position is past the end of its block
        ArmMismatch = 2,     // the arm is not the sequence's arm for that slot
        TokenMismatch = 3,   // the token is not the slot's: the slot was not opened
        NotDealt = 4,        // the block was not dealt to the device that used it
        SlotReused = 5,      // two allocations name one slot
        CaseTwice = 6,       // one case allocated more than once in the study
        Skipped = 7,         // a device left a slot unused before one it used
        LogGap = 8,          // a device's allocation log numbers have a gap (maybe not yet sent)
        LogReused = 9,       // two allocations carry one log number of a device
    };
    Kind kind = Kind::ArmMismatch;
    std::string detail;  // names the slot, device, case or log numbers; never a seed or token
};

struct StudyVerification {
    std::string study;
    std::int64_t allocations = 0;
    std::int64_t devices = 0;
    std::int64_t problemAllocations = 0;  // allocations with at least one problem of their own
    std::vector<AllocationProblem> problems;
    [[nodiscard]] bool ok() const { return problems.empty(); }
};

/// One allocation as received, for the evaluator to join with the data export by case and
/// record id.
struct AllocationRow {
    std::string study;
    std::string stratum;
    std::uint32_t block = 0;
    std::uint32_t position = 0;
    std::string arm;
    Uuid deviceId;
    std::uint64_t logSeq = 0;
    Uuid caseId;
    Uuid recordId;
    std::int64_t takenUtcMs = 0;
    std::int64_t receivedUtcMs = 0;
};

std::string_view allocationProblemName(AllocationProblem::Kind kind);

/// Limits and clock rules the collector applies.
struct CollectorPolicy {
    std::int64_t enrolCodeTtlMs = 7LL * 24 * 3600 * 1000;
    /// A revision stamped more than this ahead of the collector's clock is flagged.
    std::int64_t futureToleranceMs = 3600LL * 1000;
    /// ... or more than this before it (devices may be offline for weeks, not for years).
    std::int64_t pastToleranceMs = 400LL * 24 * 3600 * 1000;
    /// The most cases and allocation blocks one pull answer holds (then `more` is set).
    std::size_t maxCasesPerPull = 500;
    std::size_t maxBlocksPerPull = 200;
    /// Roughly how many bytes of case properties one pull answer holds before it pages (at least
    /// one case each): well within the protocol's message limit, whatever the cases hold.
    std::size_t maxCaseBytesPerPull = 8u << 20;
};

class CollectorStore {
  public:
    virtual ~CollectorStore() = default;

    // --- devices ---
    /// A one-time enrolment code (returned once; stored only as a hash), valid for the policy's
    /// enrolCodeTtlMs, or for `validForMs` when that is from 1 to enrolCodeTtlMs (a shorter
    /// life; longer is InvalidArgument).
    virtual Result<std::string> createEnrolCode(const std::string& label, std::int64_t nowMs,
                                                const std::string& actor,
                                                std::int64_t validForMs = 0) = 0;
    /// A one-time code that enrols the known device `deviceId` again (a reinstalled laptop that
    /// lost its credential): staff's audited permission. NotFound for an unknown device,
    /// WrongState for a revoked one.
    virtual Result<std::string> createReenrolCode(const Uuid& deviceId, std::int64_t nowMs,
                                                  const std::string& actor) = 0;
    /// Enrols a device with a code: its credential. A device id is bound to its first
    /// enrolment: enrolling a known id again needs the device's current credential
    /// (`previousCredential`) or a code made for it (createReenrolCode). The same enrolment
    /// again (same code, device id and key) before the device has used its credential gives the
    /// same credential again. Fails with NotFound (unknown code), WrongState (used, expired,
    /// made for another device, a known device without proof, or a revoked device).
    virtual Result<EnrolReply> enrol(const EnrolRequest& request, std::int64_t nowMs) = 0;
    /// The device a credential belongs to; NotFound when unknown, WrongState when revoked.
    virtual Result<Uuid> authenticate(std::string_view credential) = 0;
    virtual Status revoke(const Uuid& deviceId, std::int64_t nowMs, const std::string& actor) = 0;
    virtual Result<std::vector<DeviceInfo>> devices() = 0;

    // --- central staff (the admin API) ---
    /// A new credential for a member of staff ("veld-admin.NAME.SECRET", returned once; stored
    /// only as a digest). For an existing name, the old credential stops working.
    virtual Result<std::string> addAdmin(const std::string& name, std::int64_t nowMs,
                                         const std::string& actor) = 0;
    virtual Status revokeAdmin(const std::string& name, std::int64_t nowMs,
                               const std::string& actor) = 0;
    /// The staff member a credential belongs to; NotFound when unknown or wrong, WrongState
    /// when revoked. A device credential is never an admin credential.
    virtual Result<std::string> authenticateAdmin(std::string_view credential) = 0;
    virtual Result<std::vector<AdminInfo>> admins() = 0;

    // --- data ---
    /// Stores a batch from `deviceId` in one transaction and answers only after it committed.
    virtual Result<PushReply> push(const Uuid& deviceId, const PushBatch& batch,
                                   std::int64_t nowMs) = 0;
    /// What a device fetches, in one transaction: published forms after its form cursor; the
    /// cases assigned to it or its team changed after its case cursor (and, as not assigned, those
    /// it held that left it); the studies; and the blocks dealt to it after its allocation cursor,
    /// each slot sealed to its box key (none before the device has said its key: they come with
    /// the pull that does). Before that, it tops up a device that has said its key: for every
    /// stratum of every study with no block on its way to the device (dealt after its allocation
    /// cursor), a device holding no block of the stratum and not reporting its stock, or
    /// reporting fewer slots left than the study's low mark, is dealt the study's
    /// blocksPerDevice blocks (audited). Pages as CollectorPolicy says (`more`).
    virtual Result<PullReply> pull(const Uuid& deviceId, const PullRequest& request,
                                   std::size_t maxForms, std::int64_t nowMs) = 0;
    /// Publishes a compiled form to every device (checked first); identical bytes again are a
    /// no-op, other bytes under a published id and version are refused.
    virtual Result<bool> publish(const std::vector<std::uint8_t>& binary, std::int64_t nowMs,
                                 const std::string& actor) = 0;

    // --- cases ---
    /// Puts a device in a team ("" for none): cases assigned to the team reach it, those of its
    /// old team leave it at its next pull. NotFound for an unknown device. Audited.
    virtual Status setDeviceTeam(const Uuid& deviceId, const std::string& team, std::int64_t nowMs,
                                 const std::string& actor) = 0;
    /// Cases with every property, by case id.
    virtual Result<std::vector<CollectorCase>> cases(const CaseFilter& filter) = 0;
    /// Assigns a case to a device and/or a team (replacing both; at least one must be given).
    /// The devices that held it and no longer do are told at their next pull. NotFound for an
    /// unknown case or device. Audited.
    virtual Status assignCase(const Uuid& caseId, const std::optional<Uuid>& device,
                              const std::string& team, std::int64_t nowMs,
                              const std::string& actor) = 0;
    /// Case conflicts, oldest first: the open ones, or all.
    virtual Result<std::vector<CaseConflictInfo>> caseConflicts(bool includeResolved) = 0;
    /// Settles a case conflict: the chosen value becomes the property's value with an HLC after
    /// everything the case holds and both sides as its base, so it reaches every device holding
    /// the case. NotFound for an unknown conflict, WrongState when settled already,
    /// InvalidArgument for a typed value that is too long. Audited (never with the values).
    virtual Status resolveCaseConflict(std::int64_t conflictId, const CaseChoice& choice,
                                       const std::string& comment, std::int64_t nowMs,
                                       const std::string& actor) = 0;

    // --- randomisation ---
    /// Defines a study (checked; a seed is made when none is given). Defining the same study
    /// again is a no-op (false); another definition under a defined id is refused (WrongState).
    virtual Result<bool> defineStudy(const StudyDefinition& definition, std::int64_t nowMs,
                                     const std::string& actor) = 0;
    virtual Result<std::vector<StudySummary>> studies() = 0;
    /// The study's secret seed, for the evaluator at the end. Audited ("seed-disclosed").
    virtual Result<std::array<std::uint8_t, alloc::kSeedBytes>> studySeed(
        const std::string& study, std::int64_t nowMs, const std::string& actor) = 0;
    /// Deals the next `blocksPerStratum` undealt blocks of every stratum to a device (which
    /// receives them sealed at its next pull). NotFound for an unknown study or device,
    /// WrongState for a revoked device. Audited.
    virtual Result<std::vector<DealtBlock>> allocateBlocks(const std::string& study,
                                                           const Uuid& deviceId,
                                                           std::uint32_t blocksPerStratum,
                                                           std::int64_t nowMs,
                                                           const std::string& actor) = 0;
    virtual Result<StudyBalance> balance(const std::string& study) = 0;
    /// Checks every allocation received for the study against the regenerated sequence and the
    /// blocks dealt (see AllocationProblem).
    virtual Result<StudyVerification> verifyAllocations(const std::string& study) = 0;
    /// Every allocation received for the study, in the order received.
    virtual Result<std::vector<AllocationRow>> allocationLog(const std::string& study) = 0;

    // --- reading, for staff and tests ---
    virtual Result<CollectorStats> stats() = 0;
    /// Records per form per day, for the dashboard.
    virtual Result<std::vector<DayCount>> recordsPerDay() = 0;
    virtual Result<std::vector<StoredRevision>> revisionsOf(const Uuid& recordId) = 0;
    virtual Result<std::vector<Uuid>> recordIds() = 0;
    virtual Result<std::optional<StoredRevision>> current(const Uuid& recordId) = 0;
    virtual Result<std::vector<ConflictInfo>> conflicts() = 0;
    /// Settles an open conflict (see ConflictResolution) and returns the new current revision
    /// (for Close: the record id and the current HLC, which stay).
    /// NotFound for an unknown conflict, WrongState when it was settled already,
    /// InvalidArgument when a revision it needs cannot be read or `fromB` names an answer that
    /// neither revision has.
    virtual Result<StoredRevision> resolveConflict(std::int64_t conflictId,
                                                   const ConflictResolution& resolution,
                                                   std::int64_t nowMs,
                                                   const std::string& actor) = 0;
    virtual Result<std::vector<AuditEntry>> audit() = 0;
    /// Adds an entry to the audit log for something done outside the store (an export started
    /// through the admin API). Never put answers or secrets in it.
    virtual Status appendAudit(const AuditEntry& entry) = 0;
    virtual Result<std::string> collectorId() = 0;
    /// A trivial query on the store, without waiting for writers (for /healthz): its schema
    /// version when it answers.
    virtual Result<std::int64_t> health() = 0;
    /// `observer` is called after every commit of pushes with the revisions it stored (for
    /// /metrics), from the thread that committed; empty: none. It must be cheap.
    virtual void observeCommits(std::function<void(std::size_t revisions)> observer) = 0;
    /// The project's public key ("KEYID:HEX") that devices seal records to: handed out at
    /// enrolment and with every pull. Empty until set.
    virtual Result<std::string> projectKey() = 0;
    virtual Status setProjectKey(const std::string& key, std::int64_t nowMs,
                                 const std::string& actor) = 0;

    // --- review by central staff ---
    /// Sets a record's review state with a comment (kept in its history, and in the audit log
    /// as a change of state). NotFound for an unknown record; InvalidArgument for a comment
    /// over kMaxReviewCommentBytes.
    virtual Status setReview(const Uuid& recordId, ReviewState state, const std::string& comment,
                             std::int64_t nowMs, const std::string& actor) = 0;
    virtual Result<RecordReview> review(const Uuid& recordId) = 0;
    /// The records in a review state, by id.
    virtual Result<std::vector<Uuid>> recordsInReview(ReviewState state) = 0;
    /// The first `limit` records in `state` (by record id), with how many there are in all.
    virtual Result<ReviewQueue> reviewQueue(ReviewState state, int limit) = 0;

    // --- likely duplicate participants ---
    /// Every group of two or more current records that share a pseudonym or all identifying
    /// answers, with staff's decision when there is one. Reads a snapshot on its own
    /// connection.
    virtual Result<std::vector<DuplicateGroup>> duplicates() = 0;
    /// Records staff's decision for a group (audited); a later decision replaces it.
    virtual Status decideDuplicate(const std::string& groupKey, DuplicateDecision decision,
                                   const std::string& comment, std::int64_t nowMs,
                                   const std::string& actor) = 0;

    // --- exports ---
    /// Every published form, oldest publication first.
    virtual Result<std::vector<PublishedFormInfo>> publishedForms() = 0;
    virtual Result<std::int64_t> countRecords(const RecordQuery& query) = 0;
    /// Goes through the matching records `passes` times, in record id order (creation order),
    /// all from one consistent snapshot on a connection of its own: pushes go on while an
    /// export runs, and every pass sees the same records. `startPass` is called before each
    /// pass, `visit` for each record. Stops at the first error either returns.
    virtual Status forEachRecord(const RecordQuery& query, int passes,
                                 const std::function<Status(int pass)>& startPass,
                                 const std::function<Status(const CurrentRecord&)>& visit) = 0;
};

inline std::string_view reviewStateName(ReviewState state) {
    switch (state) {
        case ReviewState::Received:
            return "received";
        case ReviewState::HasIssues:
            return "has-issues";
        case ReviewState::Approved:
            return "approved";
        case ReviewState::Rejected:
            return "rejected";
    }
    return "received";
}

inline std::optional<ReviewState> parseReviewState(std::string_view name) {
    for (auto s : {ReviewState::Received, ReviewState::HasIssues, ReviewState::Approved,
                   ReviewState::Rejected}) {
        if (reviewStateName(s) == name) return s;
    }
    return std::nullopt;
}

/// The embedded store's file: SQLite's application_id ("VELC") and user_version (the schema
/// version this collector writes; older ones are upgraded when opened).
inline constexpr std::int32_t kCollectorApplicationId = 0x56454C43;
inline constexpr int kCollectorSchemaVersion = 6;

/// The embedded default: one SQLite file (WAL). `create` makes a new collector (with its id and
/// pseudonym key) when the file does not exist.
Result<std::unique_ptr<CollectorStore>> openSqliteCollector(const std::string& path, bool create,
                                                            CollectorPolicy policy = {});

}  // namespace veld::sync
