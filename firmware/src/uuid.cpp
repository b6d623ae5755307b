#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <sodium.h>

#include <veld/clock.hpp>
#include <veld/uuid.hpp>

namespace veld {

void secureRandom(void* out, std::size_t size) {
    // libsodium reads the system's generator (getrandom on Linux, RtlGenRandom on Windows).
    static const bool ready = sodium_init() >= 0;
    if (!ready) {
        std::fputs("veld: no random generator; refusing to make ids without randomness\n", stderr);
        std::abort();
    }
    randombytes_buf(out, size);
}

bool Uuid::isNil() const {
    for (auto b : bytes) {
        if (b != 0) return false;
    }
    return true;
}

std::uint64_t Uuid::unixMillis() const {
    std::uint64_t ms = 0;
    for (int i = 0; i < 6; ++i)
        ms = (ms << 8) | bytes[static_cast<std::size_t>(i)];
    return ms;
}

std::string Uuid::toString() const {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(kHex[bytes[i] >> 4]);
        out.push_back(kHex[bytes[i] & 0xF]);
    }
    return out;
}

std::optional<Uuid> Uuid::parse(std::string_view text) {
    if (text.size() != 36) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    Uuid id;
    std::size_t pos = 0;
    for (std::size_t i = 0; i < 16; ++i) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
            if (text[pos] != '-') return std::nullopt;
            ++pos;
        }
        int hi = nibble(text[pos]);
        int lo = nibble(text[pos + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        id.bytes[i] = static_cast<std::uint8_t>((hi << 4) | lo);
        pos += 2;
    }
    return id;
}

Uuid makeUuidV7(const Clock& clock) {
    // Process-wide state for monotonic ids within one millisecond.
    static std::mutex mutex;
    static std::uint64_t lastMillis = 0;
    static std::uint16_t counter = 0;

    std::uint8_t random[10];
    secureRandom(random, sizeof random);

    std::int64_t wall = clock.nowMillis();
    std::uint64_t millis = wall < 0 ? 0 : static_cast<std::uint64_t>(wall);
    millis &= (std::uint64_t{1} << 48) - 1;
    std::uint16_t seq;
    {
        std::lock_guard lock(mutex);
        if (millis <= lastMillis) {
            // Same millisecond, or the wall clock went back: stay on the last millisecond and
            // count, so ids keep their order. A full counter borrows the next millisecond.
            millis = lastMillis;
            if (counter >= 0x0FFF) {
                ++millis;
                counter = static_cast<std::uint16_t>(random[0] & 0x01FF);
            } else {
                ++counter;
            }
        } else {
            // Seed with 9 random bits so that the counter rarely overflows.
            counter = static_cast<std::uint16_t>(((random[0] << 8) | random[1]) & 0x01FF);
        }
        lastMillis = millis;
        seq = counter;
    }

    Uuid id;
    for (int i = 0; i < 6; ++i) {
        id.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(millis >> (40 - 8 * i));
    }
    id.bytes[6] = static_cast<std::uint8_t>(0x70 | ((seq >> 8) & 0x0F));
    id.bytes[7] = static_cast<std::uint8_t>(seq & 0xFF);
    id.bytes[8] = static_cast<std::uint8_t>(0x80 | (random[2] & 0x3F));
    for (std::size_t i = 9; i < 16; ++i)
        id.bytes[i] = random[i - 6];
    return id;
}

Uuid makeUuidV4() {
    Uuid id;
    secureRandom(id.bytes.data(), id.bytes.size());
    id.bytes[6] = static_cast<std::uint8_t>(0x40 | (id.bytes[6] & 0x0F));
    id.bytes[8] = static_cast<std::uint8_t>(0x80 | (id.bytes[8] & 0x3F));
    return id;
}

}  // namespace veld
