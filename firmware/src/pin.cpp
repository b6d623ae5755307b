#include <algorithm>
#include <mutex>

#include <sodium.h>

#include <veld/pin.hpp>

namespace veld::pin {

namespace {
bool sodiumReady() {
    static const bool ready = sodium_init() >= 0;
    return ready;
}
}  // namespace

bool acceptable(std::string_view pin) {
    return pin.size() >= 4 && pin.size() <= 12 &&
           std::all_of(pin.begin(), pin.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::string> hash(std::string_view pin) {
    if (!sodiumReady()) return std::nullopt;
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, pin.data(), pin.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        return std::nullopt;
    }
    return std::string(out);
}

bool verify(std::string_view storedHash, std::string_view pin) {
    if (!sodiumReady() || storedHash.empty() || storedHash.size() >= crypto_pwhash_STRBYTES) {
        return false;
    }
    std::string stored(storedHash);
    return crypto_pwhash_str_verify(stored.c_str(), pin.data(), pin.size()) == 0;
}

std::int64_t lockoutMs(int failures) {
    if (failures < 3) return 0;
    const int doublings = std::min(failures - 3, 5);
    return std::min<std::int64_t>(std::int64_t{30'000} << doublings, 15 * 60'000);
}

}  // namespace veld::pin
