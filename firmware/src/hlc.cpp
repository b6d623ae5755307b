#include <cstdio>
#include <ctime>

#include <veld/clock.hpp>
#include <veld/hlc.hpp>
#include <veld/platform/time.hpp>

namespace veld {

std::string HlcTimestamp::toString() const {
    auto ms = millis();
    std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    const std::tm utc = platform::utcCalendar(seconds);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ#%u", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<unsigned>(ms % 1000), counter());
    return buf;
}

// One rule covers both local events and merges: the new timestamp is the wall clock if that is
// ahead of everything seen, else the largest timestamp seen with its counter plus one. When the
// counter is full the clock borrows the next millisecond rather than wrap, staying monotonic.
HlcTimestamp Hlc::tick(std::uint64_t floorMillis, std::uint32_t floorCounter) {
    std::int64_t wall = m_clock.nowMillis();
    std::uint64_t physical = wall < 0 ? 0 : static_cast<std::uint64_t>(wall);
    if (physical > HlcTimestamp::kMaxMillis) physical = HlcTimestamp::kMaxMillis;

    HlcTimestamp next;
    if (physical > floorMillis) {
        next = HlcTimestamp::make(physical, 0);
    } else if (floorCounter < HlcTimestamp::kCounterMask) {
        next = HlcTimestamp::make(floorMillis, floorCounter + 1);
    } else if (floorMillis < HlcTimestamp::kMaxMillis) {
        next = HlcTimestamp::make(floorMillis + 1, 0);
    } else {
        next = HlcTimestamp{HlcTimestamp::kMaxValue};  // saturated: never wraps to zero
    }
    m_last = next;
    return next;
}

HlcTimestamp Hlc::now() {
    std::lock_guard lock(m_mutex);
    return tick(m_last.millis(), m_last.counter());
}

namespace {
HlcTimestamp clamp(HlcTimestamp t) {
    return t.value > HlcTimestamp::kMaxValue ? HlcTimestamp{HlcTimestamp::kMaxValue} : t;
}
}  // namespace

HlcTimestamp Hlc::observe(HlcTimestamp seen) {
    seen = clamp(seen);
    std::lock_guard lock(m_mutex);
    HlcTimestamp floor = seen > m_last ? seen : m_last;
    return tick(floor.millis(), floor.counter());
}

void Hlc::restore(HlcTimestamp seen) {
    seen = clamp(seen);
    std::lock_guard lock(m_mutex);
    if (seen > m_last) m_last = seen;
}

HlcTimestamp Hlc::last() const {
    std::lock_guard lock(m_mutex);
    return m_last;
}

}  // namespace veld
