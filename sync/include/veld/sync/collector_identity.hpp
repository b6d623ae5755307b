// The collector's identity key: an Ed25519 key pair made once per collector store (kept in its
// meta table, both backends), published to devices at enrolment and with every pull. The
// collector signs receipts and replies with it; devices seal what they hand over by file to it
// (its X25519 twin, crypto_sign_ed25519_pk_to_curve25519).
//
// Guarantees: the secret key never leaves the store (only signatures and opened boxes do) and is
// never logged or shown. Thread-safety: every function here is safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <veld/result.hpp>
#include <veld/signing.hpp>

namespace veld::sync {

/// What a collector store does with its identity key (CollectorStore implements it).
class CollectorIdentity {
  public:
    virtual ~CollectorIdentity() = default;
    /// The collector's public signing key (as devices get it; `veldctl collector key`).
    [[nodiscard]] virtual signing::PublicKey collectorSigningPublicKey() const = 0;
    /// `message` signed with the collector's secret key.
    [[nodiscard]] virtual signing::Signature signAsCollector(
        std::span<const std::uint8_t> message) const = 0;
    /// Opens what a device sealed to this collector (sealToCollector); Corrupt when it does not
    /// open (sealed to another collector, or changed on the way).
    virtual Result<std::vector<std::uint8_t>> openSealedToCollector(
        std::span<const std::uint8_t> sealed) const = 0;
};

/// `plain` sealed (libsodium's sealed box) to the collector whose public signing key is
/// `collectorKey`: only that collector's store opens it. InvalidArgument for a key that is not a
/// valid Ed25519 point.
Result<std::vector<std::uint8_t>> sealToCollector(const signing::PublicKey& collectorKey,
                                                  std::span<const std::uint8_t> plain);

/// The collector's side of sealToCollector, with its secret signing key (the stores'
/// openSealedToCollector use it; nothing else holds the key).
Result<std::vector<std::uint8_t>> openSealedWith(const signing::SecretSigningKey& key,
                                                 std::span<const std::uint8_t> sealed);

}  // namespace veld::sync
