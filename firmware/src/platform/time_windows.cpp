// Calendars on Windows: see veld/platform/time.hpp.
#include <veld/platform/time.hpp>

namespace veld::platform {

std::tm utcCalendar(std::time_t t) {
    std::tm out{};
    ::gmtime_s(&out, &t);
    return out;
}

std::tm localCalendar(std::time_t t) {
    std::tm out{};
    ::localtime_s(&out, &t);
    return out;
}

int localOffsetMinutes(std::time_t t) {
    std::tm local{};
    if (::localtime_s(&local, &t) != 0) return 0;
    // The local fields read as if they were UTC, minus the moment: the offset.
    const std::time_t asUtc = ::_mkgmtime(&local);
    if (asUtc == static_cast<std::time_t>(-1)) return 0;
    return static_cast<int>((asUtc - t) / 60);
}

}  // namespace veld::platform
