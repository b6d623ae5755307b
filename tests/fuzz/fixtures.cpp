#include "fixtures.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <sodium.h>

#include "fuzz.hpp"

namespace veld::fuzz {

namespace {

// The state of the deterministic generator: a key and a counter; every request for bytes takes
// a fresh ChaCha20 stream keyed by BLAKE2b(key, counter), so requests of any size never overlap.
std::array<std::uint8_t, randombytes_SEEDBYTES> g_key{};
std::uint64_t g_counter = 0;
std::mutex g_mutex;

void deterministicBuf(void* out, std::size_t size) {
    std::array<std::uint8_t, randombytes_SEEDBYTES> streamKey{};
    {
        std::lock_guard lock(g_mutex);
        const std::uint64_t n = g_counter++;
        crypto_generichash(streamKey.data(), streamKey.size(),
                           reinterpret_cast<const unsigned char*>(&n), sizeof n, g_key.data(),
                           g_key.size());
    }
    randombytes_buf_deterministic(out, size, streamKey.data());
}

const char* deterministicName() {
    return "veld-fuzz-deterministic";
}

std::uint32_t deterministicRandom() {
    std::uint32_t v = 0;
    deterministicBuf(&v, sizeof v);
    return v;
}

randombytes_implementation g_implementation = {deterministicName, deterministicRandom, nullptr,
                                               nullptr,           deterministicBuf,    nullptr};

std::array<std::uint8_t, 32> seedFrom(std::string_view label) {
    std::array<std::uint8_t, 32> seed{};
    crypto_generichash(seed.data(), seed.size(),
                       reinterpret_cast<const unsigned char*>(label.data()), label.size(), nullptr,
                       0);
    return seed;
}

}  // namespace

void restartRandom(std::uint64_t seed) {
    static std::once_flag installed;
    std::call_once(installed, [] {
        if (randombytes_set_implementation(&g_implementation) != 0 || sodium_init() < 0) {
            std::fputs("veld-fuzz: cannot set up libsodium\n", stderr);
            std::abort();
        }
    });
    std::lock_guard lock(g_mutex);
    g_key = seedFrom("veld-fuzz-random-" + std::to_string(seed));
    g_counter = 0;
}

const projectkey::PublicKey& projectPublicKey() {
    static const projectkey::PublicKey key = [] {
        projectkey::PublicKey k;
        k.id = std::string(kProjectKeyId);
        std::array<std::uint8_t, 32> secret{};
        const auto seed = seedFrom("veld-fuzz-project-key");
        crypto_box_seed_keypair(k.bytes.data(), secret.data(), seed.data());
        return k;
    }();
    return key;
}

std::span<const projectkey::SecretKey> projectSecretKeys() {
    static const std::vector<projectkey::SecretKey> keys = [] {
        std::array<std::uint8_t, 32> pub{};
        std::array<std::uint8_t, 32> secret{};
        const auto seed = seedFrom("veld-fuzz-project-key");
        crypto_box_seed_keypair(pub.data(), secret.data(), seed.data());
        std::vector<projectkey::SecretKey> out;
        out.emplace_back(std::string(kProjectKeyId), pub, secret);
        return out;
    }();
    return keys;
}

const BoxKeyPair& deviceBoxKeys() {
    static const BoxKeyPair keys = [] {
        BoxKeyPair k;
        const auto seed = seedFrom("veld-fuzz-device-box-key");
        crypto_box_seed_keypair(k.publicKey.data(), k.secretKey.data(), seed.data());
        return k;
    }();
    return keys;
}

std::string sourceDir() {
    if (const char* dir = std::getenv("VELD_FUZZ_SOURCE_DIR"); dir && *dir) return dir;
    return VELD_SOURCE_DIR;
}

void propertyFailed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "veld-fuzz: property does not hold: %s (%s:%d)\n", what, file, line);
    std::fflush(stderr);
    std::abort();
}

}  // namespace veld::fuzz
