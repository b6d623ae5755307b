// The collector's store as exports read it: the current view of each record, from one
// consistent snapshot.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/hlc.hpp>
#include <veld/result.hpp>
#include <veld/sync/store/records.hpp>
#include <veld/sync/store/review.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

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
    std::vector<ReviewChange> reviewHistory;  // oldest first
    /// The current revision's place in its device's hash chain: its outbox number and its link
    /// (empty when the device sent none, or the source does not know).
    std::uint64_t chainSeq = 0;
    std::vector<std::uint8_t> chainLink;
};

/// Where an export reads from. The collector's store is one; tests and the console can give others.
class ExportSource {
  public:
    virtual ~ExportSource() = default;

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

}  // namespace veld::sync
