// Hybrid logical clock (Kulkarni et al., 2014): 48 bits of Unix milliseconds and a 16-bit
// counter in one 64-bit value. Timestamps it gives out only grow, whatever the wall clock does:
// when the wall clock jumps backwards the clock keeps its last millisecond and counts up; when it
// jumps forwards the clock follows. Ordered together with the device id, HLC values totally order
// every revision in Veld, even when device clocks are wrong.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace veld {

class Clock;

struct HlcTimestamp {
    std::uint64_t value = 0;

    static constexpr int kCounterBits = 16;
    static constexpr std::uint64_t kCounterMask = (1u << kCounterBits) - 1;
    // The millisecond field is 48 bits wide, but Veld never fills its top bit: timestamps stay
    // below 2^63 and so stay positive in SQLite's signed integers (until the year 6429).
    static constexpr std::uint64_t kMaxMillis = (std::uint64_t{1} << 47) - 1;
    static constexpr std::uint64_t kMaxValue = (kMaxMillis << kCounterBits) | kCounterMask;

    static HlcTimestamp make(std::uint64_t millis, std::uint32_t counter) {
        return HlcTimestamp{(millis << kCounterBits) | (counter & kCounterMask)};
    }
    [[nodiscard]] std::uint64_t millis() const { return value >> kCounterBits; }
    [[nodiscard]] std::uint32_t counter() const {
        return static_cast<std::uint32_t>(value & kCounterMask);
    }
    /// "2026-11-25T10:15:02.123Z#3" for people reading logs and veldctl output.
    [[nodiscard]] std::string toString() const;

    auto operator<=>(const HlcTimestamp&) const = default;
};

/// Thread-safe. The clock's state is only its last timestamp; whoever persists timestamps (the
/// device store) feeds the largest one back through observe() after a restart.
class Hlc {
  public:
    explicit Hlc(const Clock& clock) : m_clock(clock) {}

    /// A timestamp for a local event, greater than every timestamp given out or observed before.
    HlcTimestamp now();
    /// Merges a timestamp seen elsewhere (another device's revision, or the largest one found on
    /// disk at start-up) so later local timestamps order after it. Returns a new local timestamp.
    HlcTimestamp observe(HlcTimestamp seen);
    /// Raises the clock's floor to `seen` without giving out a timestamp.
    void restore(HlcTimestamp seen);
    [[nodiscard]] HlcTimestamp last() const;

  private:
    HlcTimestamp tick(std::uint64_t floorMillis, std::uint32_t floorCounter);

    const Clock& m_clock;
    mutable std::mutex m_mutex;
    HlcTimestamp m_last;
};

}  // namespace veld
