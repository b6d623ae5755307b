#include <sodium.h>

#include <veld/hex.hpp>
#include <veld/signing.hpp>

namespace veld::signing {

static_assert(kPublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kSecretKeyBytes == crypto_sign_SECRETKEYBYTES);
static_assert(kSignatureBytes == crypto_sign_BYTES);

SecretSigningKey::SecretSigningKey(const std::array<std::uint8_t, kSecretKeyBytes>& bytes)
    : m_bytes(bytes) {}

SecretSigningKey::~SecretSigningKey() {
    sodium_memzero(m_bytes.data(), m_bytes.size());
}

SecretSigningKey::SecretSigningKey(const SecretSigningKey& other) : m_bytes(other.m_bytes) {}

SecretSigningKey& SecretSigningKey::operator=(const SecretSigningKey& other) {
    m_bytes = other.m_bytes;
    return *this;
}

PublicKey SecretSigningKey::publicKey() const {
    PublicKey pk{};
    crypto_sign_ed25519_sk_to_pk(pk.data(), m_bytes.data());
    return pk;
}

SecretSigningKey newKeyPair() {
    PublicKey pk{};
    std::array<std::uint8_t, kSecretKeyBytes> sk{};
    crypto_sign_keypair(pk.data(), sk.data());
    SecretSigningKey key(sk);
    sodium_memzero(sk.data(), sk.size());
    return key;
}

Signature sign(const SecretSigningKey& key, std::span<const std::uint8_t> message) {
    Signature sig{};
    crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), key.bytes().data());
    return sig;
}

bool verify(const PublicKey& key, std::span<const std::uint8_t> message,
            std::span<const std::uint8_t> signature) {
    if (signature.size() != kSignatureBytes) return false;
    return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                       key.data()) == 0;
}

Result<PublicKey> parsePublicKey(std::string_view hex, std::string_view what) {
    auto bytes = fromHex(hex);
    if (!bytes || bytes->size() != kPublicKeyBytes)
        return makeError(ErrorCode::InvalidArgument,
                         std::string(what) + " is not an Ed25519 public key (64 hex digits)");
    PublicKey key{};
    std::copy(bytes->begin(), bytes->end(), key.begin());
    return key;
}

Result<SecretSigningKey> parseSecretKey(std::string_view hex, std::string_view what) {
    auto bytes = fromHex(hex);
    const auto damaged = [&] {
        return makeError(ErrorCode::Corrupt, std::string(what) + " is damaged");
    };
    if (!bytes || bytes->size() != kSecretKeyBytes) {
        if (bytes) sodium_memzero(bytes->data(), bytes->size());
        return damaged();
    }
    std::array<std::uint8_t, kSecretKeyBytes> raw{};
    std::copy(bytes->begin(), bytes->end(), raw.begin());
    sodium_memzero(bytes->data(), bytes->size());
    SecretSigningKey key(raw);
    sodium_memzero(raw.data(), raw.size());
    // The public half kept in the secret key must be the seed's: a changed byte anywhere shows.
    std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed{};
    crypto_sign_ed25519_sk_to_seed(seed.data(), key.bytes().data());
    PublicKey derived{};
    std::array<std::uint8_t, kSecretKeyBytes> again{};
    crypto_sign_seed_keypair(derived.data(), again.data(), seed.data());
    sodium_memzero(seed.data(), seed.size());
    sodium_memzero(again.data(), again.size());
    if (derived != key.publicKey()) return damaged();
    return key;
}

std::string fingerprint(const PublicKey& key) {
    std::array<std::uint8_t, 32> digest{};
    crypto_generichash(digest.data(), digest.size(), key.data(), key.size(), nullptr, 0);
    const std::string hex = toHex(std::span(digest).first(16));
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 4) {
        if (!out.empty()) out.push_back(' ');
        out += hex.substr(i, 4);
    }
    return out;
}

}  // namespace veld::signing
