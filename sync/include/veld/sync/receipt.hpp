// Receipts (schemas/receipt.fbs): for every push it stored, the collector signs what it holds of
// the device's batch (device, sequence range, received-through, and per revision its record id,
// HLC and the BLAKE2b-256 digest of its body as received). Devices keep them; anyone with the
// collector's public key checks them.
//
// Made in one place for both collector backends (makeSignedReceipt, called by each backend's push
// after its commit); checked in one place (verifyReceipt) by the uploader and by veldctl.
// Pure functions; safe from any thread. Hostile bytes get an error, never a crash.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <veld/chain.hpp>
#include <veld/hlc.hpp>
#include <veld/result.hpp>
#include <veld/signing.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

struct ReceiptRevision {
    std::uint64_t seq = 0;
    Uuid recordId;
    HlcTimestamp hlc;
    chain::Digest digest{};  // of the body bytes as received
    RevisionOutcome outcome = RevisionOutcome::Stored;
};

struct Receipt {
    std::string collectorId;
    Uuid deviceId;
    std::uint64_t firstSeq = 0;
    std::uint64_t lastSeq = 0;
    std::uint64_t receivedThrough = 0;
    std::int64_t collectorUtcMs = 0;
    std::vector<ReceiptRevision> revisions;
};

/// What a collector's reply to `batch` says it holds: the revisions answered in `reply`.
Receipt receiptFor(const std::string& collectorId, const Uuid& deviceId, const PushBatch& batch,
                   const PushReply& reply, std::int64_t nowMs);

/// The receipt's bytes, signed with the collector's key (a SignedReceipt buffer).
std::vector<std::uint8_t> makeSignedReceipt(const signing::SecretSigningKey& collectorKey,
                                            const Receipt& receipt);

/// Reads a signed receipt and checks it: a SignedReceipt that passes the FlatBuffers Verifier,
/// whose signature verifies with `collectorKey` over its receipt bytes, made for `deviceId`.
/// Corrupt (not a receipt), Refused (the signature does not verify: forged, changed, or another
/// collector's), WrongState (another device's), each with a plain reason.
Result<Receipt> verifyReceipt(std::span<const std::uint8_t> signedReceipt,
                              const signing::PublicKey& collectorKey, const Uuid& deviceId);

/// Reads a signed receipt without checking its signature (to list one that failed).
Result<Receipt> readReceipt(std::span<const std::uint8_t> signedReceipt);

}  // namespace veld::sync
