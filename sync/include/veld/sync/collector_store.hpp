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

#include <veld/result.hpp>
#include <veld/sync/protocol.hpp>
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
    std::string action;  // enrol, revoke, publish, enrol-code, resolve, review, export, ...
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

/// Limits and clock rules the collector applies.
struct CollectorPolicy {
    std::int64_t enrolCodeTtlMs = 7LL * 24 * 3600 * 1000;
    /// A revision stamped more than this ahead of the collector's clock is flagged.
    std::int64_t futureToleranceMs = 3600LL * 1000;
    /// ... or more than this before it (devices may be offline for weeks, not for years).
    std::int64_t pastToleranceMs = 400LL * 24 * 3600 * 1000;
};

class CollectorStore {
  public:
    virtual ~CollectorStore() = default;

    // --- devices ---
    /// A one-time enrolment code (returned once; stored only as a hash).
    virtual Result<std::string> createEnrolCode(const std::string& label, std::int64_t nowMs,
                                                const std::string& actor) = 0;
    /// Enrols a device with a code: a fresh credential. Fails with NotFound (unknown code),
    /// WrongState (used, expired, or a revoked device).
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
    virtual Result<PullReply> pull(const Uuid& deviceId, const PullRequest& request,
                                   std::size_t maxForms, std::int64_t nowMs) = 0;
    /// Publishes a compiled form to every device (checked first); identical bytes again are a
    /// no-op, other bytes under a published id and version are refused.
    virtual Result<bool> publish(const std::vector<std::uint8_t>& binary, std::int64_t nowMs,
                                 const std::string& actor) = 0;

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

/// The embedded default: one SQLite file (WAL). `create` makes a new collector (with its id and
/// pseudonym key) when the file does not exist.
Result<std::unique_ptr<CollectorStore>> openSqliteCollector(const std::string& path, bool create,
                                                            CollectorPolicy policy = {});

}  // namespace veld::sync
