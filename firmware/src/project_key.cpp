#include <sstream>

#include <sodium.h>

#include <veld/hex.hpp>
#include <veld/project_key.hpp>
#include <veld/pseudonym.hpp>

namespace veld::projectkey {

namespace {

constexpr std::string_view kRingTag = "veld-project-key-1";

void ensureSodium() {
    static const int ready = sodium_init();
    (void)ready;
}

Error corrupt(const std::string& what) {
    return makeError(ErrorCode::Corrupt, what);
}

template <std::size_t N>
bool fixedFromHex(std::string_view text, std::array<std::uint8_t, N>& out) {
    auto bytes = fromHex(text);
    if (!bytes || bytes->size() != N) return false;
    std::copy(bytes->begin(), bytes->end(), out.begin());
    return true;
}

// The key that locks the private key, from the passphrase and the key's salt and limits.
bool deriveLockKey(std::string_view passphrase, const LockedKey& key,
                   std::array<std::uint8_t, crypto_secretbox_KEYBYTES>& out) {
    return crypto_pwhash(out.data(), out.size(), passphrase.data(), passphrase.size(),
                         key.salt.data(), key.opsLimit, static_cast<std::size_t>(key.memLimit),
                         crypto_pwhash_ALG_ARGON2ID13) == 0;
}

}  // namespace

SecretKey::SecretKey(std::string id, const std::array<std::uint8_t, kPublicKeyBytes>& publicBytes,
                     const std::array<std::uint8_t, kSecretKeyBytes>& secretBytes)
    : m_id(std::move(id)), m_public(publicBytes), m_secret(secretBytes) {}

SecretKey::~SecretKey() {
    sodium_memzero(m_secret.data(), m_secret.size());
}

SecretKey::SecretKey(const SecretKey& other) = default;
SecretKey& SecretKey::operator=(const SecretKey& other) = default;

Result<LockedKey> create(const std::string& id, std::string_view passphrase, std::int64_t nowMs,
                         Strength strength) {
    ensureSodium();
    if (!pseudonym::validKeyId(id))
        return makeError(ErrorCode::InvalidArgument,
                         "a key id has 1 to 64 letters, digits, '.', '_' or '-'");
    if (passphrase.size() < kMinPassphrase)
        return makeError(
            ErrorCode::InvalidArgument,
            "the passphrase must have at least " + std::to_string(kMinPassphrase) + " characters");
    LockedKey key;
    key.publicKey.id = id;
    key.createdUtcMs = nowMs;
    std::array<std::uint8_t, kSecretKeyBytes> secret{};
    static_assert(crypto_box_PUBLICKEYBYTES == kPublicKeyBytes);
    static_assert(crypto_box_SECRETKEYBYTES == kSecretKeyBytes);
    crypto_box_keypair(key.publicKey.bytes.data(), secret.data());
    static_assert(crypto_pwhash_SALTBYTES == 16);
    randombytes_buf(key.salt.data(), key.salt.size());
    key.opsLimit = strength == Strength::Moderate ? crypto_pwhash_OPSLIMIT_MODERATE
                                                  : crypto_pwhash_OPSLIMIT_INTERACTIVE;
    key.memLimit = strength == Strength::Moderate ? crypto_pwhash_MEMLIMIT_MODERATE
                                                  : crypto_pwhash_MEMLIMIT_INTERACTIVE;
    static_assert(crypto_secretbox_NONCEBYTES == 24);
    randombytes_buf(key.nonce.data(), key.nonce.size());
    std::array<std::uint8_t, crypto_secretbox_KEYBYTES> lock{};
    if (!deriveLockKey(passphrase, key, lock)) {
        sodium_memzero(secret.data(), secret.size());
        return makeError(ErrorCode::Internal, "not enough memory to derive the passphrase's key");
    }
    key.lockedSecret.resize(secret.size() + crypto_secretbox_MACBYTES);
    crypto_secretbox_easy(key.lockedSecret.data(), secret.data(), secret.size(), key.nonce.data(),
                          lock.data());
    sodium_memzero(secret.data(), secret.size());
    sodium_memzero(lock.data(), lock.size());
    return key;
}

Result<SecretKey> unlock(const LockedKey& key, std::string_view passphrase) {
    ensureSodium();
    if (key.lockedSecret.size() != kSecretKeyBytes + crypto_secretbox_MACBYTES)
        return corrupt("the key ring's entry for " + key.publicKey.id + " is damaged");
    if (key.opsLimit < crypto_pwhash_OPSLIMIT_MIN || key.opsLimit > crypto_pwhash_OPSLIMIT_MAX ||
        key.memLimit < crypto_pwhash_MEMLIMIT_MIN || key.memLimit > (std::uint64_t{1} << 32))
        return corrupt("the key ring's entry for " + key.publicKey.id + " has unusable limits");
    std::array<std::uint8_t, crypto_secretbox_KEYBYTES> lock{};
    if (!deriveLockKey(passphrase, key, lock))
        return makeError(ErrorCode::Internal, "not enough memory to derive the passphrase's key");
    std::array<std::uint8_t, kSecretKeyBytes> secret{};
    const int opened =
        crypto_secretbox_open_easy(secret.data(), key.lockedSecret.data(), key.lockedSecret.size(),
                                   key.nonce.data(), lock.data());
    sodium_memzero(lock.data(), lock.size());
    if (opened != 0) {
        return makeError(ErrorCode::WrongState,
                         "wrong passphrase for project key " + key.publicKey.id);
    }
    // The private key must belong to the public key the ring shows.
    std::array<std::uint8_t, kPublicKeyBytes> derived{};
    crypto_scalarmult_base(derived.data(), secret.data());
    if (sodium_memcmp(derived.data(), key.publicKey.bytes.data(), derived.size()) != 0) {
        sodium_memzero(secret.data(), secret.size());
        return corrupt("the key ring's entry for " + key.publicKey.id +
                       " does not match its public key");
    }
    SecretKey out(key.publicKey.id, key.publicKey.bytes, secret);
    sodium_memzero(secret.data(), secret.size());
    return out;
}

std::vector<std::uint8_t> seal(const PublicKey& key, std::span<const std::uint8_t> plaintext) {
    ensureSodium();
    std::vector<std::uint8_t> out(plaintext.size() + crypto_box_SEALBYTES);
    crypto_box_seal(out.data(), plaintext.data(), plaintext.size(), key.bytes.data());
    return out;
}

Result<std::vector<std::uint8_t>> open(const SecretKey& key, std::span<const std::uint8_t> sealed) {
    ensureSodium();
    if (sealed.size() < crypto_box_SEALBYTES) return corrupt("a sealed body is too short");
    std::vector<std::uint8_t> out(sealed.size() - crypto_box_SEALBYTES);
    if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(), key.publicBytes().data(),
                             key.secretBytes().data()) != 0) {
        return corrupt("a sealed body does not open with project key " + key.id());
    }
    return out;
}

Result<std::vector<SecretKey>> unlockAll(const std::vector<LockedKey>& ring,
                                         std::string_view passphrase) {
    std::vector<SecretKey> keys;
    for (const auto& locked : ring) {
        auto key = unlock(locked, passphrase);
        if (!key) return key.error();  // names the key that does not open
        keys.push_back(std::move(key.value()));
    }
    return keys;
}

std::string formatRing(const std::vector<LockedKey>& ring) {
    std::string out;
    for (const auto& k : ring) {
        out += std::string(kRingTag) + " " + k.publicKey.id + " " + std::to_string(k.createdUtcMs) +
               " " + toHex(k.publicKey.bytes) + " " + toHex(k.salt) + " " +
               std::to_string(k.opsLimit) + " " + std::to_string(k.memLimit) + " " +
               toHex(k.nonce) + " " + toHex(k.lockedSecret) + "\n";
    }
    return out;
}

Result<std::vector<LockedKey>> parseRing(std::string_view text) {
    std::vector<LockedKey> ring;
    std::istringstream in{std::string(text)};
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.empty() || line[0] == '#') continue;
        const std::string where = "key ring line " + std::to_string(number);
        std::istringstream fields(line);
        std::string tag, id, created, pub, salt, ops, mem, nonce, locked, extra;
        if (!(fields >> tag >> id >> created >> pub >> salt >> ops >> mem >> nonce >> locked) ||
            (fields >> extra) || tag != kRingTag) {
            return corrupt(where + " is not a Veld project key");
        }
        LockedKey k;
        k.publicKey.id = id;
        if (!pseudonym::validKeyId(id)) return corrupt(where + " has an invalid key id");
        try {
            k.createdUtcMs = std::stoll(created);
            k.opsLimit = std::stoull(ops);
            k.memLimit = std::stoull(mem);
        } catch (const std::exception&) {
            return corrupt(where + " has a number that is not one");
        }
        auto lockedBytes = fromHex(locked);
        if (!fixedFromHex(pub, k.publicKey.bytes) || !fixedFromHex(salt, k.salt) ||
            !fixedFromHex(nonce, k.nonce) || !lockedBytes) {
            return corrupt(where + " has damaged key material");
        }
        k.lockedSecret = std::move(*lockedBytes);
        for (const auto& other : ring) {
            if (other.publicKey.id == id) return corrupt(where + " repeats key id " + id);
        }
        ring.push_back(std::move(k));
    }
    return ring;
}

std::string formatPublicKey(const PublicKey& key) {
    return key.id + ":" + toHex(key.bytes);
}

Result<PublicKey> parsePublicKey(std::string_view text) {
    const auto colon = text.find(':');
    PublicKey key;
    if (colon == std::string_view::npos ||
        !pseudonym::validKeyId(key.id = std::string(text.substr(0, colon))) ||
        !fixedFromHex(text.substr(colon + 1), key.bytes)) {
        return makeError(ErrorCode::InvalidArgument, "a project public key is written KEYID:HEX");
    }
    return key;
}

}  // namespace veld::projectkey
