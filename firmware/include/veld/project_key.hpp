// Project keys: the key pair that sealed records are encrypted to. Devices get only the public
// half. Central staff keep the private half in a key ring file, encrypted with a key derived
// from a passphrase (libsodium: Argon2id, then XSalsa20-Poly1305), so the file alone reveals
// nothing. Every key has an id; records name the key they were sealed with, and a ring keeps old
// keys so that old records still open after a new key is made.
//
// Errors never repeat a passphrase or a key.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>

namespace veld::projectkey {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSecretKeyBytes = 32;
/// A passphrase has at least this many characters (bytes of UTF-8).
inline constexpr std::size_t kMinPassphrase = 12;
/// The store setting that holds the public key a device seals records to, as formatPublicKey().
inline constexpr std::string_view kKeySetting = "project.key";

struct PublicKey {
    std::string id;  // as pseudonym key ids: 1 to 64 of [A-Za-z0-9._-]
    std::array<std::uint8_t, kPublicKeyBytes> bytes{};
};

/// How hard deriving the passphrase's key is: Moderate for real keys (about 256 MiB and a
/// second or so), Interactive for tests.
enum class Strength { Interactive, Moderate };

/// A key pair with its private half locked by a passphrase, as kept in a key ring.
struct LockedKey {
    PublicKey publicKey;
    std::int64_t createdUtcMs = 0;
    std::array<std::uint8_t, 16> salt{};
    std::uint64_t opsLimit = 0;
    std::uint64_t memLimit = 0;
    std::array<std::uint8_t, 24> nonce{};
    std::vector<std::uint8_t> lockedSecret;  // the private key, encrypted and authenticated
};

/// An unlocked private key; its bytes are wiped when it goes.
class SecretKey {
  public:
    SecretKey(std::string id, const std::array<std::uint8_t, kPublicKeyBytes>& publicBytes,
              const std::array<std::uint8_t, kSecretKeyBytes>& secretBytes);
    ~SecretKey();
    SecretKey(const SecretKey& other);
    SecretKey& operator=(const SecretKey& other);

    [[nodiscard]] const std::string& id() const { return m_id; }
    [[nodiscard]] const std::array<std::uint8_t, kPublicKeyBytes>& publicBytes() const {
        return m_public;
    }
    [[nodiscard]] const std::array<std::uint8_t, kSecretKeyBytes>& secretBytes() const {
        return m_secret;
    }

  private:
    std::string m_id;
    std::array<std::uint8_t, kPublicKeyBytes> m_public{};
    std::array<std::uint8_t, kSecretKeyBytes> m_secret{};
};

/// A new key pair, its private half locked with `passphrase` (InvalidArgument when the id is
/// not valid or the passphrase is shorter than kMinPassphrase).
Result<LockedKey> create(const std::string& id, std::string_view passphrase, std::int64_t nowMs,
                         Strength strength = Strength::Moderate);

/// The private key; WrongState "wrong passphrase" when the passphrase does not open it (or the
/// locked bytes were changed).
Result<SecretKey> unlock(const LockedKey& key, std::string_view passphrase);

/// `plaintext` encrypted to `key` (libsodium's sealed box: only the private key opens it).
std::vector<std::uint8_t> seal(const PublicKey& key, std::span<const std::uint8_t> plaintext);
/// Opens what seal() made for this key; Corrupt when it was made for another key or changed.
Result<std::vector<std::uint8_t>> open(const SecretKey& key, std::span<const std::uint8_t> sealed);

/// Unlocks every key of a ring with one passphrase: WrongState naming the first key that does
/// not open.
Result<std::vector<SecretKey>> unlockAll(const std::vector<LockedKey>& ring,
                                         std::string_view passphrase);

/// A key ring as text, one key per line (oldest first):
/// "veld-project-key-1 ID CREATED_MS PUBLIC SALT OPS MEM NONCE LOCKED" (binary fields in hex).
std::string formatRing(const std::vector<LockedKey>& ring);
/// Reads formatRing()'s text; Corrupt (with the line) for anything else, or a repeated id.
Result<std::vector<LockedKey>> parseRing(std::string_view text);

/// "ID:HEX", the public key as devices and the collector receive it; and back.
std::string formatPublicKey(const PublicKey& key);
Result<PublicKey> parsePublicKey(std::string_view text);

}  // namespace veld::projectkey
