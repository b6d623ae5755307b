// The collector's store, records domain: intake (push, with its group commit), what devices
// pull, published forms, revisions and conflicts between them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>
#include <veld/sync/chain_check.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

struct DayCount {
    std::string formId;
    std::string pilot;
    std::int32_t day = 0;  // days since 1970-01-01
    std::int64_t records = 0;
};

struct CollectorStats {
    std::int64_t devices = 0;  // enrolled ones (not the collector's own staff device)
    std::int64_t records = 0;
    std::int64_t revisions = 0;
    std::int64_t rejected = 0;
    std::int64_t conflicts = 0;  // unresolved
    std::int64_t flaggedClocks = 0;
    std::int64_t forms = 0;
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

struct PublishedFormInfo {
    std::string formId;
    std::uint32_t version = 0;
    std::string pilot;
    std::vector<std::uint8_t> binary;
};

class RecordStore {
  public:
    virtual ~RecordStore() = default;

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
    /// `observer` is called after every commit of pushes with the revisions it stored (for
    /// /metrics), from the thread that committed; empty: none. It must be cheap.
    virtual void observeCommits(std::function<void(std::size_t revisions)> observer) = 0;
    virtual Result<CollectorStats> stats() = 0;
    /// Records per form per day, for the dashboard.
    virtual Result<std::vector<DayCount>> recordsPerDay() = 0;
    virtual Result<std::vector<StoredRevision>> revisionsOf(const Uuid& recordId) = 0;
    virtual Result<std::vector<Uuid>> recordIds() = 0;
    virtual Result<std::optional<StoredRevision>> current(const Uuid& recordId) = 0;
    virtual Result<std::vector<ConflictInfo>> conflicts() = 0;
    /// A device's revisions as held (stored, and those kept aside unread), in sequence order,
    /// with their chain columns, for checking its chain (chain_check.hpp). An error `visit`
    /// returns stops the walk and is returned.
    virtual Status visitChain(const Uuid& deviceId,
                              const std::function<Status(const ChainEntry&)>& visit) = 0;
    /// Settles an open conflict (see ConflictResolution) and returns the new current revision
    /// (for Close: the record id and the current HLC, which stay).
    /// NotFound for an unknown conflict, WrongState when it was settled already,
    /// InvalidArgument when a revision it needs cannot be read or `fromB` names an answer that
    /// neither revision has.
    virtual Result<StoredRevision> resolveConflict(std::int64_t conflictId,
                                                   const ConflictResolution& resolution,
                                                   std::int64_t nowMs,
                                                   const std::string& actor) = 0;
};

}  // namespace veld::sync
