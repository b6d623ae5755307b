// The device's identity keys, kept in its store's settings through Store's public setting API:
// its own Ed25519 key pair (it signs what it hands over by file), and the collector's public
// signing key, which it checks the collector's receipts and replies against.
//
// Guarantees: the device's secret key never leaves these functions except as a signature; no
// error message holds a key's digits. The collector's key is kept as first seen: a different key
// later is refused (KeyChanged below), unless it comes with a new enrolment, which staff start.
// Thread-safety: as the Store passed in (one thread at a time per Store).
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include <veld/result.hpp>
#include <veld/signing.hpp>
#include <veld/store.hpp>

namespace veld::identity {

/// The device's Ed25519 key pair (hex). The secret one is never shown or logged.
inline constexpr std::string_view kSignPublicKeySetting = "identity.sign_public_key";
inline constexpr std::string_view kSignSecretKeySetting = "identity.sign_secret_key";
/// The collector's Ed25519 public key (hex), from enrolment or, for a device enrolled before
/// collectors had one, its first pull.
inline constexpr std::string_view kCollectorKeySetting = "sync.collector_key";

/// The device's public signing key, made (durably, with its secret half) when the store has none.
/// ReadOnly when it must be made but cannot be.
Result<signing::PublicKey> ensureDeviceKey(Store& store);

/// The device's public signing key; nothing when none was made yet.
Result<std::optional<signing::PublicKey>> devicePublicKey(Store& store);

/// `message` signed with the device's key (made first when missing).
Result<signing::Signature> signAsDevice(Store& store, std::span<const std::uint8_t> message);

/// The collector's public signing key as the device keeps it; nothing before it has one.
Result<std::optional<signing::PublicKey>> collectorKey(Store& store);

enum class KeySource { Enrolment, Pull };

/// Keeps the collector's key. From a pull, the first key seen is kept and a different one is
/// refused (WrongState, with both fingerprints, nothing changed): a collector's key does not
/// change, so another one means another collector or a forged answer. A new enrolment (staff
/// gave the device a code) replaces it.
Status keepCollectorKey(Store& store, const signing::PublicKey& key, KeySource source);
/// How the WrongState error of keepCollectorKey for another key begins (to tell it apart).
inline constexpr std::string_view kOtherCollectorKeyError =
    "the collector answered with another signing key";

}  // namespace veld::identity
