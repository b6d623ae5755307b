// Bundles (schemas/bundle.fbs): sync by file, for a device that is never online. A bundle is a
// header anyone can read, a payload sealed to the receiver (crypto_box_seal to its X25519 key) and
// the sender's Ed25519 signature over both. The payload holds the very sync messages a network
// round carries (PushRequest, PullRequest, EnrolRequest one way; PushResponse, PullResponse,
// EnrolResponse the other), so the collector applies them with the rules of a network push.
// docs/bundles.md describes the format.
//
// Guarantees: every byte read from a file passes the size limit (before it is read) and the
// FlatBuffers Verifier before anything uses it; a bundle's payload is opened only after its
// signature and digest were checked. Errors are values (Corrupt for a damaged or foreign file,
// TooNew for a later format, InvalidArgument for a wrong key).
//
// Thread-safety: plain functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>
#include <veld/signing.hpp>
#include <veld/uuid.hpp>

namespace veld::sync::bundle {

inline constexpr std::uint16_t kFormatVersion = 1;
/// A bundle file is refused unread past this size: a device's whole outbox fits many times over.
inline constexpr std::size_t kMaxBundleBytes = 256u << 20;
/// A device's bundle (to the collector) and the collector's reply.
inline constexpr std::string_view kBundleExtension = ".veldbundle";
inline constexpr std::string_view kReplyExtension = ".veldreply";

enum class Kind : std::uint8_t { ToCollector = 0, ToDevice = 1 };

struct Header {
    std::uint16_t formatVersion = kFormatVersion;
    Kind kind = Kind::ToCollector;
    Uuid deviceId;
    std::string collectorId;
    std::uint64_t number = 0;  // per device, from 1; a reply has the number of its bundle
    std::int64_t createdUtcMs = 0;
    std::uint64_t firstSeq = 0;  // the outbox revisions carried; 0..0 for none
    std::uint64_t lastSeq = 0;
    std::vector<std::uint8_t> payloadDigest;  // BLAKE2b-256 of the sealed payload
};

using VerifyKey = signing::PublicKey;  // Ed25519
using BoxPublicKey = std::array<std::uint8_t, 32>;
using Signature = signing::Signature;
/// Signs a message with the sender's Ed25519 key (kept by its owner: the device's store, the
/// collector's identity), so that a secret key never passes through here.
using Signer = std::function<Result<Signature>(std::span<const std::uint8_t> message)>;
/// Seals a payload to the receiver (crypto_box_seal to its X25519 key: for the collector,
/// sealToCollector; for a device, boxSealer with its box key).
using Sealer =
    std::function<Result<std::vector<std::uint8_t>>(std::span<const std::uint8_t> plain)>;
/// Opens a payload sealed (crypto_box_seal) to the receiver's X25519 key: Corrupt when it does
/// not open.
using Opener =
    std::function<Result<std::vector<std::uint8_t>>(std::span<const std::uint8_t> sealed)>;

/// A bundle read from bytes, checked as far as is possible without keys: size, identifier,
/// Verifier, format version, and that the payload matches the header's digest. The spans point
/// into the bytes given to parse().
struct Parsed {
    Header header;
    std::span<const std::uint8_t> headerBytes;
    std::span<const std::uint8_t> payload;
    std::span<const std::uint8_t> signature;
};

/// Seals `plain` with `to`, fills in header.payloadDigest, signs with `by`: the file's bytes.
Result<std::vector<std::uint8_t>> seal(Header header, std::span<const std::uint8_t> plain,
                                       const Sealer& to, const Signer& by);
/// See Parsed. Corrupt for anything damaged, cut short or not a bundle; TooNew for a later
/// format.
Result<Parsed> parse(std::span<const std::uint8_t> bytes);
/// Corrupt unless `signer` signed the bundle.
Status verify(const Parsed& bundle, const VerifyKey& signer);
/// The payload, opened by the receiver (after verify()). Corrupt when it does not open (sealed
/// to another key, or damaged).
Result<std::vector<std::uint8_t>> open(const Parsed& bundle, const Opener& receiver);
/// A Sealer to an X25519 public key (a device's box key), and an Opener for an X25519 key pair
/// held in memory (the device's).
Sealer boxSealer(const BoxPublicKey& publicKey);
Opener boxOpener(const BoxPublicKey& publicKey, std::span<const std::uint8_t, 32> secretKey);

/// The opened payload of a bundle to the collector: sync messages (whole Envelopes).
struct DevicePayload {
    std::vector<std::uint8_t> enrol;                // EnrolRequest; empty: none
    std::vector<std::vector<std::uint8_t>> pushes;  // PushRequests, in outbox order
    std::vector<std::uint8_t> pull;                 // PullRequest
};
/// The opened payload of a reply.
struct CollectorPayload {
    std::vector<std::uint8_t> enrol;                // EnrolResponse; empty: none
    std::vector<std::vector<std::uint8_t>> pushes;  // PushResponse to each PushRequest
    std::vector<std::vector<std::uint8_t>> pulls;   // PullResponses (pages), in order
};
std::vector<std::uint8_t> encodeDevicePayload(const DevicePayload& payload);
Result<DevicePayload> decodeDevicePayload(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> encodeCollectorPayload(const CollectorPayload& payload);
Result<CollectorPayload> decodeCollectorPayload(std::span<const std::uint8_t> bytes);

/// Reads a bundle file, refusing (Corrupt) one larger than kMaxBundleBytes before reading it.
Result<std::vector<std::uint8_t>> readFile(const std::string& path);
/// Writes a bundle file whole or not at all, mode 0600 (it holds sealed personal data).
Status writeFile(const std::string& path, std::span<const std::uint8_t> bytes);

}  // namespace veld::sync::bundle
