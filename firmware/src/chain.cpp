#include <string_view>

#include <sodium.h>

#include <veld/chain.hpp>

namespace veld::chain {

namespace {

constexpr std::string_view kDomain = "veld-chain-v1";

void putBigEndian(crypto_generichash_state& state, std::uint64_t value) {
    std::array<std::uint8_t, 8> bytes{};
    for (int i = 7; i >= 0; --i) {
        bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value & 0xFF);
        value >>= 8;
    }
    crypto_generichash_update(&state, bytes.data(), bytes.size());
}

}  // namespace

Digest bodyDigest(std::span<const std::uint8_t> body) {
    Digest out{};
    crypto_generichash(out.data(), out.size(), body.data(), body.size(), nullptr, 0);
    return out;
}

Digest nextLink(const Digest& previous, std::uint64_t seq, const Uuid& recordId, HlcTimestamp hlc,
                const Digest& bodyDigest) {
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, kDigestBytes);
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kDomain.data()),
                              kDomain.size());
    crypto_generichash_update(&state, previous.data(), previous.size());
    putBigEndian(state, seq);
    crypto_generichash_update(&state, recordId.bytes.data(), recordId.bytes.size());
    putBigEndian(state, hlc.value);
    crypto_generichash_update(&state, bodyDigest.data(), bodyDigest.size());
    Digest out{};
    crypto_generichash_final(&state, out.data(), out.size());
    return out;
}

}  // namespace veld::chain
