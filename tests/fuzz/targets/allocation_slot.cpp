// Allocation slots as a device opens them (veld/allocation.hpp openSlot) with its box key. A
// changed box never opens, so the bytes are also sealed to the fixed device key as they are and
// opened: that way the parsing of a slot's contents, which only a box that opens reaches, is
// fuzzed too (a collector holding the device's public key can seal anything).
#include <sodium.h>

#include <veld/allocation.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"

namespace veld::fuzz {

int allocationSlot(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    const auto& keys = deviceBoxKeys();
    const std::span<const std::uint8_t> bytes(data, size);
    (void)alloc::openSlot(bytes, keys.publicKey, keys.secretKey);

    std::vector<std::uint8_t> box(size + crypto_box_SEALBYTES);
    FUZZ_CHECK(crypto_box_seal(box.data(), data, size, keys.publicKey.data()) == 0);
    auto slot = alloc::openSlot(box, keys.publicKey, keys.secretKey);
    if (!slot) return 0;
    // A slot sealed again opens to the same slot.
    auto again = alloc::openSlot(alloc::sealSlot(slot.value(), keys.publicKey), keys.publicKey,
                                 keys.secretKey);
    FUZZ_CHECK(again.ok() && again.value() == slot.value());
    const Allocation allocation = alloc::allocationOf(slot.value(), 1, 1764000000000);
    FUZZ_CHECK(allocation.study == slot->study && allocation.token.size() == alloc::kTokenBytes);
    return 0;
}

}  // namespace veld::fuzz
