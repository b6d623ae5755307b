// The calendar of a moment, in UTC and in the machine's time zone, the same on Linux and
// Windows (gmtime_r/localtime_r and tm_gmtoff there; gmtime_s/localtime_s and _mkgmtime here).
//
// The implementation is chosen by CMake: time_posix.cpp or time_windows.cpp.
#pragma once

#include <ctime>

namespace veld::platform {

/// The UTC calendar fields of `t`.
std::tm utcCalendar(std::time_t t);

/// The local calendar fields of `t` (the machine's time zone).
std::tm localCalendar(std::time_t t);

/// How many minutes the machine's local time is ahead of UTC at `t` (daylight saving included).
int localOffsetMinutes(std::time_t t);

}  // namespace veld::platform
