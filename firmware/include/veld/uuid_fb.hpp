// UUIDs to and from the schemas' `Uuid` struct (common.fbs), in network byte order.
#pragma once

#include <algorithm>

#include <veld/fb/common_generated.h>
#include <veld/uuid.hpp>

namespace veld {

inline fb::Uuid toFb(const Uuid& id) {
    return fb::Uuid(flatbuffers::span<const std::uint8_t, 16>(id.bytes.data(), 16));
}

inline Uuid fromFb(const fb::Uuid& id) {
    Uuid out;
    std::copy_n(id.bytes()->data(), 16, out.bytes.begin());
    return out;
}

}  // namespace veld
