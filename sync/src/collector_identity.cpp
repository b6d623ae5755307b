// The collector's identity key (collector_identity.hpp, collector_key.hpp).
#include <sodium.h>

#include <veld/hex.hpp>

#include "collector_key.hpp"

namespace veld::sync {

Result<std::vector<std::uint8_t>> sealToCollector(const signing::PublicKey& collectorKey,
                                                  std::span<const std::uint8_t> plain) {
    std::array<std::uint8_t, crypto_box_PUBLICKEYBYTES> boxKey{};
    if (crypto_sign_ed25519_pk_to_curve25519(boxKey.data(), collectorKey.data()) != 0)
        return makeError(ErrorCode::InvalidArgument, "the collector's key is not a valid key");
    std::vector<std::uint8_t> sealed(plain.size() + crypto_box_SEALBYTES);
    if (crypto_box_seal(sealed.data(), plain.data(), plain.size(), boxKey.data()) != 0)
        return makeError(ErrorCode::Internal, "sealing to the collector failed");
    return sealed;
}

Result<std::vector<std::uint8_t>> openSealedWith(const signing::SecretSigningKey& key,
                                                 std::span<const std::uint8_t> sealed) {
    const auto refused = [] {
        return makeError(ErrorCode::Corrupt,
                         "the sealed data does not open with this collector's key (sealed to "
                         "another collector, or changed on the way)");
    };
    if (sealed.size() < crypto_box_SEALBYTES) return refused();
    std::array<std::uint8_t, crypto_box_PUBLICKEYBYTES> boxPublic{};
    std::array<std::uint8_t, crypto_box_SECRETKEYBYTES> boxSecret{};
    const signing::PublicKey pk = key.publicKey();
    if (crypto_sign_ed25519_pk_to_curve25519(boxPublic.data(), pk.data()) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(boxSecret.data(), key.bytes().data()) != 0) {
        sodium_memzero(boxSecret.data(), boxSecret.size());
        return makeError(ErrorCode::Corrupt, "the collector's key cannot open sealed data");
    }
    std::vector<std::uint8_t> plain(sealed.size() - crypto_box_SEALBYTES);
    const int opened = crypto_box_seal_open(plain.data(), sealed.data(), sealed.size(),
                                            boxPublic.data(), boxSecret.data());
    sodium_memzero(boxSecret.data(), boxSecret.size());
    if (opened != 0) return refused();
    return plain;
}

namespace detail {

std::string newCollectorKeyText() {
    const signing::SecretSigningKey key = signing::newKeyPair();
    return toHex(key.bytes());
}

Result<signing::SecretSigningKey> collectorKeyFrom(std::string_view metaText) {
    if (metaText.empty())
        return makeError(ErrorCode::Corrupt, "the collector's signing key is missing");
    return signing::parseSecretKey(metaText, "the collector's signing key");
}

signing::PublicKey HeldCollectorKey::collectorSigningPublicKey() const {
    return m_key.publicKey();
}

signing::Signature HeldCollectorKey::signAsCollector(std::span<const std::uint8_t> message) const {
    return signing::sign(m_key, message);
}

Result<std::vector<std::uint8_t>> HeldCollectorKey::openSealedToCollector(
    std::span<const std::uint8_t> sealed) const {
    return openSealedWith(m_key, sealed);
}

}  // namespace detail

}  // namespace veld::sync
