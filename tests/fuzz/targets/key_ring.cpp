// Project key rings (veld/project_key.hpp) as `veldctl keys` and the console read them: parsed,
// written again (the same keys must come back), and unlocked with the fixed passphrase. Argon2's
// cost comes from the file, so a key is unlocked only when its limits are small (kMaxOps,
// kMaxMemory: about a millisecond): real rings use libsodium's moderate or interactive cost, a
// second or a tenth of one, and a hostile ring may ask for far more (unlock() accepts up to
// 4 GiB: the ring is staff's own file). The seed generator writes a ring at that small cost next
// to the real ones, so that unlocking is fuzzed to its end.
#include <veld/project_key.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"

namespace veld::fuzz {

namespace {

constexpr std::uint64_t kMaxOps = 3;
constexpr std::uint64_t kMaxMemory = 256 * 1024;

}  // namespace

int keyRing(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    auto ring = projectkey::parseRing(asText(data, size));
    if (!ring) return 0;
    const std::string text = projectkey::formatRing(ring.value());
    auto again = projectkey::parseRing(text);
    FUZZ_CHECK(again.ok() && again->size() == ring->size());
    FUZZ_CHECK(projectkey::formatRing(again.value()) == text);
    for (const auto& key : ring.value()) {
        auto pub = projectkey::parsePublicKey(projectkey::formatPublicKey(key.publicKey));
        FUZZ_CHECK(pub.ok() && pub->id == key.publicKey.id && pub->bytes == key.publicKey.bytes);
        if (key.opsLimit > kMaxOps || key.memLimit > kMaxMemory) continue;
        auto secret = projectkey::unlock(key, kRingPassphrase);
        if (!secret) continue;
        // An unlocked key opens what was sealed to its public half.
        const std::vector<std::uint8_t> message{'v', 'e', 'l', 'd'};
        auto opened = projectkey::open(secret.value(), projectkey::seal(key.publicKey, message));
        FUZZ_CHECK(opened.ok() && opened.value() == message);
    }
    return 0;
}

}  // namespace veld::fuzz
