// 16-byte identifiers: UUIDv7 for records (time-ordered, so new records append to the end of
// SQLite's B-trees) and UUIDv4 for devices (random, so a device id says nothing about when it was
// made). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace veld {

class Clock;

struct Uuid {
    std::array<std::uint8_t, 16> bytes{};

    [[nodiscard]] bool isNil() const;
    [[nodiscard]] int version() const { return bytes[6] >> 4; }
    /// For a UUIDv7: the Unix milliseconds in its first 48 bits.
    [[nodiscard]] std::uint64_t unixMillis() const;
    /// Canonical lower-case 8-4-4-4-12 text.
    [[nodiscard]] std::string toString() const;
    /// Parses the canonical form (either case); nullopt on anything else.
    static std::optional<Uuid> parse(std::string_view text);

    auto operator<=>(const Uuid&) const = default;
};

/// A new UUIDv7 (RFC 9562) from the given clock's Unix time. Within one process, ids made in the
/// same millisecond use the 12-bit rand_a field as a counter seeded at random, so ids from one
/// process sort in the order they were made (RFC 9562, section 6.2, method 1).
Uuid makeUuidV7(const Clock& clock);
/// A new random UUIDv4.
Uuid makeUuidV4();

/// Fills `out` with cryptographically secure random bytes (getrandom(2)). Aborts if the kernel
/// cannot provide them: there is no safe fallback.
void secureRandom(void* out, std::size_t size);

}  // namespace veld
