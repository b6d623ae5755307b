// Sync messages (schemas/sync.fbs) as C++ values: building the bodies a device sends and
// verifying the bodies it receives. Every body from the network passes the FlatBuffers Verifier
// and the size limit before anything reads it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <veld/result.hpp>
#include <veld/store.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kMaxMessageBytes = 32u << 20;

enum class RevisionOutcome : std::uint8_t { Stored = 0, Duplicate = 1, Rejected = 2 };

struct RevisionResult {
    std::uint64_t seq = 0;
    RevisionOutcome outcome = RevisionOutcome::Stored;
    std::string reason;
};

struct PushReply {
    std::vector<RevisionResult> results;
    std::uint64_t receivedThrough = 0;
};

struct PushRevision {
    std::uint64_t seq = 0;
    Uuid recordId;
    HlcTimestamp hlc;
    std::vector<std::uint8_t> body;
    bool damaged = false;
    std::string damageReason;
};

struct PushBatch {
    std::uint16_t protocolVersion = kProtocolVersion;
    Uuid deviceId;
    std::vector<PushRevision> revisions;
};

/// A push body for outbox entries, in sequence order.
std::vector<std::uint8_t> encodePushRequest(const Uuid& deviceId,
                                            std::span<const OutboxEntry> entries);
/// Verifies a push body (envelope, sizes, and every nested record body) and decodes it.
Result<PushBatch> decodePushRequest(std::span<const std::uint8_t> body);

std::vector<std::uint8_t> encodePushResponse(const PushReply& reply);
Result<PushReply> decodePushResponse(std::span<const std::uint8_t> body);

}  // namespace veld::sync
