// The collector's store, review domain: central staff's verdicts on records and their
// decisions about likely duplicate participants.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/correction.hpp>
#include <veld/hlc.hpp>
#include <veld/result.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

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

/// Central staff's verdict on a record. Every record starts as Received. Corrected is set by the
/// collector itself: a revision made from the one staff marked HasIssues arrived (see
/// CorrectionStore); staff then approve it or mark it HasIssues again.
enum class ReviewState : std::uint8_t {
    Received = 0,
    HasIssues = 1,
    Approved = 2,
    Rejected = 3,
    Corrected = 4,
};
inline constexpr ReviewState kLastReviewState = ReviewState::Corrected;

/// A review state from its code in a message or a file; empty for an unknown code.
inline std::optional<ReviewState> reviewStateFromCode(std::uint8_t code) {
    if (code > static_cast<std::uint8_t>(kLastReviewState)) return std::nullopt;
    return static_cast<ReviewState>(code);
}

// A comment travels to the field with a correction: one limit for both.
inline constexpr std::size_t kMaxReviewCommentBytes = kMaxCorrectionCommentBytes;

struct ReviewChange {
    ReviewState state = ReviewState::Received;
    std::string comment;
    std::int64_t utcMs = 0;
    std::string actor;
    /// For a change to Corrected: the HLC of the revision that corrected the record (0 else).
    std::uint64_t revisionHlc = 0;
};

struct RecordReview {
    ReviewState state = ReviewState::Received;
    std::vector<ReviewChange> history;  // oldest first; nothing is ever removed
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
        case ReviewState::Corrected:
            return "corrected";
    }
    return "received";
}

inline std::optional<ReviewState> parseReviewState(std::string_view name) {
    for (auto s : {ReviewState::Received, ReviewState::HasIssues, ReviewState::Approved,
                   ReviewState::Rejected, ReviewState::Corrected}) {
        if (reviewStateName(s) == name) return s;
    }
    return std::nullopt;
}

/// A record sent back to the field. Marking a record HasIssues opens (or reopens) its
/// correction for the device of its newest revision, the device that first sent it, and, when
/// the record belongs to a case, the devices the case is assigned to (by device or team, as at
/// each pull). Every change of it takes a new change number, by which devices page (pull).
/// A revision made from the revision staff reviewed (its base HLC at or after it) closes it as
/// Corrected, and the review becomes Corrected, in the push's transaction.
struct CorrectionInfo {
    Uuid recordId;
    std::uint64_t seq = 0;
    CorrectionState state = CorrectionState::Open;
    std::string comment;
    std::int64_t reviewUtcMs = 0;
    HlcTimestamp aboutHlc;  // the current revision when staff marked it
    std::optional<Uuid> caseId;
    bool sealed = false;
    std::vector<Uuid> devices;  // named devices, by id (the case's team comes on top)
    HlcTimestamp correctedBy;   // the correcting revision (Corrected), else 0
};

class ReviewStore {
  public:
    virtual ~ReviewStore() = default;

    /// Sets a record's review state with a comment (kept in its history, and in the audit log
    /// as a change of state). NotFound for an unknown record; InvalidArgument for a comment
    /// over kMaxReviewCommentBytes. HasIssues sends the record back to the field (a correction,
    /// in the same transaction: see CorrectionStore); any other state after HasIssues withdraws
    /// that correction. Corrected is the collector's own: InvalidArgument from staff.
    virtual Status setReview(const Uuid& recordId, ReviewState state, const std::string& comment,
                             std::int64_t nowMs, const std::string& actor) = 0;
    virtual Result<RecordReview> review(const Uuid& recordId) = 0;
    /// The record's correction, if it was ever marked HasIssues; NotFound for an unknown record.
    virtual Result<std::optional<CorrectionInfo>> correction(const Uuid& recordId) = 0;
    /// The records in a review state, by id.
    virtual Result<std::vector<Uuid>> recordsInReview(ReviewState state) = 0;
    /// The first `limit` records in `state` (by record id), with how many there are in all;
    /// only those of form `formId` (and their count) unless it is empty.
    virtual Result<ReviewQueue> reviewQueue(ReviewState state, int limit,
                                            const std::string& formId) = 0;
    /// Every group of two or more current records that share a pseudonym or all identifying
    /// answers, with staff's decision when there is one. Reads a snapshot on its own
    /// connection.
    virtual Result<std::vector<DuplicateGroup>> duplicates() = 0;
    /// Records staff's decision for a group (audited); a later decision replaces it.
    virtual Status decideDuplicate(const std::string& groupKey, DuplicateDecision decision,
                                   const std::string& comment, std::int64_t nowMs,
                                   const std::string& actor) = 0;
};

}  // namespace veld::sync
