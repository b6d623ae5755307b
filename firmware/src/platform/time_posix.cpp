// Calendars on Linux: see veld/platform/time.hpp.
#include <veld/platform/time.hpp>

namespace veld::platform {

std::tm utcCalendar(std::time_t t) {
    std::tm out{};
    ::gmtime_r(&t, &out);
    return out;
}

std::tm localCalendar(std::time_t t) {
    std::tm out{};
    ::localtime_r(&t, &out);
    return out;
}

int localOffsetMinutes(std::time_t t) {
    std::tm local{};
    if (!::localtime_r(&t, &local)) return 0;
    return static_cast<int>(local.tm_gmtoff / 60);
}

}  // namespace veld::platform
