// Ed25519 signatures (libsodium's crypto_sign): the keys a device and a collector prove
// themselves with. Pure functions over bytes; where a key is kept is its owner's business
// (device_identity.hpp for a device, collector_identity.hpp for a collector).
//
// A secret key is libsodium's 64-byte form (seed followed by the public key). It is wiped when
// a SecretSigningKey goes and never appears in an error message.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <veld/result.hpp>

namespace veld::signing {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSecretKeyBytes = 64;
inline constexpr std::size_t kSignatureBytes = 64;

using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;
using Signature = std::array<std::uint8_t, kSignatureBytes>;

/// A secret signing key; its bytes are wiped when it goes.
class SecretSigningKey {
  public:
    SecretSigningKey() = default;
    explicit SecretSigningKey(const std::array<std::uint8_t, kSecretKeyBytes>& bytes);
    ~SecretSigningKey();
    SecretSigningKey(const SecretSigningKey& other);
    SecretSigningKey& operator=(const SecretSigningKey& other);

    [[nodiscard]] const std::array<std::uint8_t, kSecretKeyBytes>& bytes() const { return m_bytes; }
    /// The public half (kept inside the secret key).
    [[nodiscard]] PublicKey publicKey() const;

  private:
    std::array<std::uint8_t, kSecretKeyBytes> m_bytes{};
};

/// A new random key pair.
SecretSigningKey newKeyPair();

/// The detached signature of `message`.
Signature sign(const SecretSigningKey& key, std::span<const std::uint8_t> message);

/// Whether `signature` is `key`'s over `message` (false for any malformed input).
[[nodiscard]] bool verify(const PublicKey& key, std::span<const std::uint8_t> message,
                          std::span<const std::uint8_t> signature);

/// A public key from 64 hex digits; InvalidArgument (naming `what`) otherwise.
Result<PublicKey> parsePublicKey(std::string_view hex, std::string_view what);

/// A secret key from its 128 hex digits, checked that its public half is its seed's; Corrupt
/// (naming `what`, never the digits) otherwise.
Result<SecretSigningKey> parseSecretKey(std::string_view hex, std::string_view what);

/// A short fingerprint people compare out of band: BLAKE2b-256 of the key, its first 16 bytes
/// as eight groups of four hex digits ("1a2b 3c4d ...").
std::string fingerprint(const PublicKey& key);

}  // namespace veld::signing
