// The kiosk session's configuration file (/etc/veld/kiosk.conf): `veldctl kiosk setup` writes it
// and veld-kiosk-session reads it, so both follow this one format.
//
// Lines "key = value"; blank lines and lines starting with '#' are ignored. Keys:
//   form              the kiosk form's id (required)
//   store             the device store the kiosk uses (required)
//   client            the client program to run (default /usr/bin/veld)
//   language          the client's screen language, nl or en (default: the store's setting)
//   watchdog_seconds  a client silent this long is killed and started again (default 30)
// An unknown key or a bad value is an error naming the file and line: a typo must not silently
// start a kiosk other than the one staff set up.
#pragma once

#include <string>

#include <veld/result.hpp>

namespace veld::kiosk {

inline constexpr const char* kDefaultConfigPath = "/etc/veld/kiosk.conf";
inline constexpr const char* kDefaultClient = "/usr/bin/veld";
inline constexpr int kDefaultWatchdogSeconds = 30;

struct Config {
    std::string form;
    std::string store;
    std::string client;       // empty: kDefaultClient
    std::string language;     // empty: the store's setting
    int watchdogSeconds = 0;  // 0: kDefaultWatchdogSeconds
};

/// Reads `path`. NotFound when the file does not exist; InvalidArgument ("FILE:LINE: ...") for
/// an unknown key or a bad value. Missing keys stay empty (the caller may add them).
Result<Config> readConfig(const std::string& path);
/// Parses the text of a configuration file; `name` is used in errors.
Result<Config> parseConfig(const std::string& text, const std::string& name);
/// The file's text, with a comment saying what it is; only the keys that are set.
std::string formatConfig(const Config& config);
/// Writes the file whole (a temporary file renamed over it), mode 0644, making its folder when
/// missing. A value with a line break is refused.
Status writeConfig(const std::string& path, const Config& config);

}  // namespace veld::kiosk
