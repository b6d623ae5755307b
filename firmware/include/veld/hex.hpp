// Bytes as lower-case hexadecimal digits (digests, keys, ids in text).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace veld {

inline std::string toHex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0x0F]);
    }
    return out;
}

}  // namespace veld
