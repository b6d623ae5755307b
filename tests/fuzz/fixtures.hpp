// Fixed keys and deterministic randomness shared by the fuzz targets and the seed generator, so
// that what the generator seals or signs, the targets open.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/allocation.hpp>
#include <veld/project_key.hpp>

namespace veld::fuzz {

/// libsodium's randombytes from a fixed seed (ChaCha20 via randombytes_buf_deterministic):
/// installed at the first call, and restarted from the beginning on every call. A fuzzer must
/// behave the same for the same input, and the request target's collector must hand out the
/// same credentials as the one the seed generator made its requests for. Ids from getrandom(2)
/// (veld::makeUuidV4/V7) stay random.
void restartRandom(std::uint64_t seed);

/// The project key pair sealed records are sealed to: id kProjectKeyId, bytes derived from a
/// fixed seed. Only tests and fuzzers use it.
inline constexpr std::string_view kProjectKeyId = "fuzz-project";
const projectkey::PublicKey& projectPublicKey();
std::span<const projectkey::SecretKey> projectSecretKeys();

/// The X25519 box key pair of the device whose allocation slots the fuzzers open.
struct BoxKeyPair {
    std::array<std::uint8_t, alloc::kBoxKeyBytes> publicKey{};
    std::array<std::uint8_t, alloc::kBoxKeyBytes> secretKey{};
};
const BoxKeyPair& deviceBoxKeys();

/// The passphrase of the key rings the seed generator writes and the key-ring target unlocks.
inline constexpr std::string_view kRingPassphrase = "veld fuzz ring passphrase";

/// Veld's source tree: VELD_FUZZ_SOURCE_DIR from the environment when set, else the tree this
/// program was built from.
std::string sourceDir();

/// The bytes as a string (for text parsers), and back.
inline std::string_view asText(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace veld::fuzz
