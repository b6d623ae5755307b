// Internal to the collector stores: where the identity key (collector_identity.hpp) is kept, and
// the one implementation of CollectorIdentity both backends combine.
#pragma once

#include <string>
#include <string_view>

#include <veld/signing.hpp>
#include <veld/sync/collector_identity.hpp>

namespace veld::sync::detail {

/// The meta row holding the secret signing key (hex of libsodium's 64-byte form). Made when the
/// store is created, and at the first open of a store made before collectors had keys.
inline constexpr std::string_view kCollectorKeyMeta = "collector_sign_key";

/// A new secret key as the meta row holds it.
std::string newCollectorKeyText();

/// The key from its meta row; Corrupt when the row is missing or damaged (never the digits).
Result<signing::SecretSigningKey> collectorKeyFrom(std::string_view metaText);

/// CollectorIdentity over the key a store read when it opened (the key never changes).
class HeldCollectorKey : public virtual CollectorIdentity {
  public:
    explicit HeldCollectorKey(const signing::SecretSigningKey& key) : m_key(key) {}
    [[nodiscard]] signing::PublicKey collectorSigningPublicKey() const override;
    [[nodiscard]] signing::Signature signAsCollector(
        std::span<const std::uint8_t> message) const override;
    Result<std::vector<std::uint8_t>> openSealedToCollector(
        std::span<const std::uint8_t> sealed) const override;

  private:
    const signing::SecretSigningKey& m_key;  // owned by the store's context
};

}  // namespace veld::sync::detail
