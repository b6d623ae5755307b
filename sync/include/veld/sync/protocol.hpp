// Sync messages (schemas/sync.fbs) as C++ values: building the bodies a device sends and
// verifying the bodies it receives. Every body from the network passes the FlatBuffers Verifier
// and the size limit before anything reads it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <veld/form_media_files.hpp>
#include <veld/result.hpp>
#include <veld/signing.hpp>
#include <veld/store.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kMaxMessageBytes = 32u << 20;
/// The most bytes of forms one pull answer carries; more forms wait for the next pull (one form
/// always goes). Beside them the answer holds at most CollectorPolicy::maxCaseBytesPerPull (8 MiB)
/// of cases and the allocation blocks.
inline constexpr std::size_t kMaxPullFormBytes = 20u << 20;
static_assert(forms::kMaxFormBytes <= kMaxPullFormBytes, "a whole form fits in one answer");
static_assert(kMaxPullFormBytes + (8u << 20) + (2u << 20) <= kMaxMessageBytes,
              "forms, cases and blocks fit in one answer");

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
    std::uint64_t baseHlc = 0;
    std::uint64_t seq = 0;
    Uuid recordId;
    HlcTimestamp hlc;
    std::vector<std::uint8_t> body;
    bool damaged = false;
    std::string damageReason;
    /// Set when the body cannot be read here (damaged in transit, or from a newer Veld): the
    /// collector keeps it aside and answers "rejected" for this revision only.
    std::string unreadable;
    std::string formId;
    std::uint32_t formVersion = 0;
};

struct PushBatch {
    std::uint16_t protocolVersion = kProtocolVersion;
    Uuid deviceId;
    std::vector<PushRevision> revisions;
    /// What the device will still hold unacknowledged once this batch is acknowledged.
    std::optional<std::int64_t> waitingAfter;
};

/// A push body for outbox entries, in sequence order.
std::vector<std::uint8_t> encodePushRequest(const Uuid& deviceId,
                                            std::span<const OutboxEntry> entries,
                                            std::optional<std::int64_t> waitingAfter = {});
/// Verifies a push body (envelope, sizes, and every nested record body) and decodes it.
Result<PushBatch> decodePushRequest(std::span<const std::uint8_t> body);

std::vector<std::uint8_t> encodePushResponse(const PushReply& reply);
Result<PushReply> decodePushResponse(std::span<const std::uint8_t> body);

struct EnrolRequest {
    std::uint16_t protocolVersion = kProtocolVersion;
    std::string code;
    Uuid deviceId;
    std::vector<std::uint8_t> devicePublicKey;
    /// The device's current credential when it enrols again (secret: never logged); empty on a
    /// first enrolment.
    std::string previousCredential;
};
struct EnrolReply {
    std::string credential;  // secret: never logged
    std::vector<std::uint8_t> projectPublicKey;
    std::string collectorId;
    std::string pseudonymKey;  // secret: never logged
    std::string projectKey;    // "KEYID:HEX" public key; empty when the project has none yet
    /// The collector's Ed25519 public key; nothing from an older collector.
    std::optional<signing::PublicKey> collectorKey;
};
std::vector<std::uint8_t> encodeEnrolRequest(const EnrolRequest& request);
Result<EnrolRequest> decodeEnrolRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeEnrolResponse(const EnrolReply& reply);
Result<EnrolReply> decodeEnrolResponse(std::span<const std::uint8_t> body);

struct StratumStock {
    std::string study;
    std::string stratum;
    std::uint32_t remaining = 0;
};
struct PullRequest {
    std::uint16_t protocolVersion = kProtocolVersion;
    std::uint64_t formCursor = 0;
    std::uint64_t caseCursor = 0;
    std::uint64_t allocationCursor = 0;
    std::vector<std::uint8_t> deviceBoxKey;  // empty: not said (the collector keeps the last)
    std::vector<StratumStock> stock;
};
/// A case for a device: its whole current state.
struct CaseState {
    std::uint64_t seq = 0;
    CaseUpdateIn update;
};
struct SealedSlot {
    std::uint32_t position = 0;
    std::vector<std::uint8_t> box;
};
struct AllocationBlock {
    std::uint64_t seq = 0;
    std::string study;
    std::string stratum;
    std::uint32_t block = 0;
    std::vector<SealedSlot> slots;
};
struct PublishedForm {
    std::uint64_t seq = 0;
    std::vector<std::uint8_t> binary;
};
struct PullReply {
    std::vector<PublishedForm> forms;
    std::uint64_t formCursor = 0;
    bool more = false;
    std::string projectKey;  // "KEYID:HEX": the key new records are sealed to; may be empty
    std::vector<CaseState> cases;
    std::uint64_t caseCursor = 0;
    std::vector<AllocationBlock> blocks;
    std::uint64_t allocationCursor = 0;
    std::vector<DeviceStudy> studies;
    /// The collector's Ed25519 public key; nothing from an older collector.
    std::optional<signing::PublicKey> collectorKey;
};
std::vector<std::uint8_t> encodePullRequest(const PullRequest& request);
Result<PullRequest> decodePullRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodePullResponse(const PullReply& reply);
Result<PullReply> decodePullResponse(std::span<const std::uint8_t> body);

/// HTTP paths of the protocol (version 1).
inline constexpr const char* kEnrolPath = "/v1/enrol";
inline constexpr const char* kPushPath = "/v1/push";
inline constexpr const char* kPullPath = "/v1/pull";
inline constexpr const char* kContentType = "application/vnd.veld.sync+flatbuffers";

}  // namespace veld::sync
