// The case-property merge rule, shared by the device store and every collector backend: which of
// two values of one property is current, and whether two changes were made without either side
// seeing the other.
#pragma once

#include <cstdint>
#include <string_view>

namespace veld {

/// Whether an incoming value of a case property replaces the held one: the newer HLC wins. Two
/// devices can stamp the same HLC (it names no device): the greater value (byte order) then wins,
/// on the collector and on every device, so all of them converge on one value.
inline bool caseValueWins(std::uint64_t incomingHlc, std::string_view incomingValue,
                          std::uint64_t heldHlc, std::string_view heldValue) {
    return incomingHlc > heldHlc || (incomingHlc == heldHlc && incomingValue > heldValue);
}

/// Whether two changes of one property were concurrent: neither was made having seen the other
/// (each one's base is before the other's HLC).
inline bool caseChangesConcurrent(std::uint64_t incomingHlc, std::uint64_t incomingBase,
                                  std::uint64_t heldHlc, std::uint64_t heldBase) {
    return incomingBase < heldHlc && heldBase < incomingHlc;
}

}  // namespace veld
