// Checking devices' hash chains (veld/chain.hpp) as the collector holds them: which revisions of
// a device are missing (gaps in its sequence through "received through"), altered (a stored body
// or link that does not recompute) or out of order (a link that does not follow its
// predecessor's). Used by intake (which records, never refuses) and by
// `veldctl collector verify-chain`. Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <veld/hlc.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

/// One revision of a device as the collector holds it, in sequence order.
struct ChainEntry {
    std::uint64_t seq = 0;
    Uuid recordId;
    HlcTimestamp hlc;
    std::vector<std::uint8_t> body;
    bool damaged = false;   // quarantined on the device: no body came, its link is not checked
    bool rejected = false;  // kept aside unread: its link is not checked
    std::vector<std::uint8_t> chainPrev;  // empty: made before the chain
    std::vector<std::uint8_t> chainLink;
};

/// What intake notes about a revision it stores: nothing when its link recomputes from its body
/// (or it has none), else why not. Intake refuses nothing for it: the device's chain is what it is.
std::optional<std::string> chainNoteAtIntake(const PushRevision& revision);

struct ChainProblem {
    enum class Kind { Missing, Altered, Reordered };
    Kind kind = Kind::Missing;
    std::uint64_t seq = 0;      // the first revision concerned
    std::uint64_t lastSeq = 0;  // Missing: the last one of the gap
    std::string detail;         // plain words
};

struct ChainReport {
    Uuid deviceId;
    std::uint64_t receivedThrough = 0;
    std::uint64_t revisions = 0;  // held (stored or kept aside)
    bool hasChain = false;        // false: the device sent no links (from before the chain)
    std::uint64_t chainFrom = 0;  // the first revision with a link
    std::vector<ChainProblem> problems;
    [[nodiscard]] bool complete() const { return problems.empty(); }
};

/// Walks one device's revisions in sequence order (add), then reports (finish).
class ChainWalker {
  public:
    ChainWalker(const Uuid& deviceId, std::uint64_t receivedThrough);
    void add(const ChainEntry& entry);
    ChainReport finish();

  private:
    ChainReport m_report;
    std::uint64_t m_expected = 1;
    std::optional<std::vector<std::uint8_t>> m_previousLink;  // of seq m_expected - 1, if known
};

/// "seq 5: missing", "seq 7: altered (...)", for people.
std::string describe(const ChainProblem& problem);

}  // namespace veld::sync
