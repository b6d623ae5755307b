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

class ReviewStore {
  public:
    virtual ~ReviewStore() = default;

    /// Sets a record's review state with a comment (kept in its history, and in the audit log
    /// as a change of state). NotFound for an unknown record; InvalidArgument for a comment
    /// over kMaxReviewCommentBytes.
    virtual Status setReview(const Uuid& recordId, ReviewState state, const std::string& comment,
                             std::int64_t nowMs, const std::string& actor) = 0;
    virtual Result<RecordReview> review(const Uuid& recordId) = 0;
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
