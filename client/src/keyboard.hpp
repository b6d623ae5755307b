// Whether a keyboard is attached (Linux): the kiosk shows its on-screen keypad when none is.
#pragma once

#include <string>
#include <string_view>

namespace veld::client {

/// Whether the text of /proc/bus/input/devices lists a keyboard: a device with a "kbd" handler
/// whose key bitmap has every letter key (a power button or a remote also has "kbd").
[[nodiscard]] bool listsKeyboard(std::string_view procInputDevices);

/// Reads /proc/bus/input/devices (`path` in tests); false when it cannot be read.
[[nodiscard]] bool keyboardAttached(const std::string& path = "/proc/bus/input/devices");

}  // namespace veld::client
