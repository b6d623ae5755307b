// The kiosk staff PIN, one rule for the client and veldctl: stored only as a libsodium password
// hash (Argon2id), checked off the UI thread, and locked out for a growing time after repeated
// wrong tries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace veld::pin {

/// 4 to 12 digits.
bool acceptable(std::string_view pin);
/// The hash to store; nullopt only if libsodium cannot work (out of memory).
std::optional<std::string> hash(std::string_view pin);
bool verify(std::string_view storedHash, std::string_view pin);
/// How long the PIN pad stays locked after `failures` wrong tries in a row: none for the first
/// three, then 30 s doubling per try, at most 15 minutes.
std::int64_t lockoutMs(int failures);

}  // namespace veld::pin
