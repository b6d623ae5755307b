// The wall clock behind a small interface, so tests can make it jump.
#pragma once

#include <atomic>
#include <cstdint>

namespace veld {

class Clock {
  public:
    virtual ~Clock() = default;
    /// Milliseconds since the Unix epoch, as the device believes it to be. May jump either way.
    [[nodiscard]] virtual std::int64_t nowMillis() const = 0;
};

/// The operating system's real-time clock.
class SystemClock final : public Clock {
  public:
    [[nodiscard]] std::int64_t nowMillis() const override;
    /// One shared instance; the clock has no state.
    static const SystemClock& instance();
};

/// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
  public:
    explicit ManualClock(std::int64_t startMillis) : m_now(startMillis) {}
    [[nodiscard]] std::int64_t nowMillis() const override { return m_now.load(); }
    void set(std::int64_t millis) { m_now.store(millis); }
    void advance(std::int64_t millis) { m_now.fetch_add(millis); }

  private:
    std::atomic<std::int64_t> m_now;
};

}  // namespace veld
