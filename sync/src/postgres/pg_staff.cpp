// The collector's own "central staff" device in the PostgreSQL backend (see pg_collector.hpp).
#include <array>

#include <sodium.h>

#include "pg_collector.hpp"

namespace veld::sync::postgres {

Result<std::pair<Uuid, std::uint64_t>> staffDevice(pg::Connection& c, std::int64_t nowMs) {
    auto known = metaText(c, "staff_device");
    if (!known) return known.error();
    if (known->empty()) {
        // Claimed through the meta row: a second process making it at once waits for this one
        // and then finds its id.
        const Uuid id = makeUuidV4();
        auto claimed = c.query(
            "INSERT INTO meta (key, value) VALUES ('staff_device', $1) ON CONFLICT (key) DO "
            "NOTHING RETURNING 1",
            pg::Params().add(id.toString()), "making the collector's staff device");
        if (!claimed) return claimed.error();
        if (!claimed->empty()) {
            if (sodium_init() < 0) return makeError(ErrorCode::Internal, "libsodium did not start");
            std::array<std::uint8_t, 32> unusable{};
            randombytes_buf(unusable.data(), unusable.size());
            if (auto s = c.run(
                    "INSERT INTO devices (device_id, label, credential_hash, enrolled_utc_ms, "
                    "revoked_utc_ms) VALUES ($1, 'central staff', $2, $3, $3)",
                    pg::Params().add(id).addBytes(unusable).add(nowMs),
                    "making the collector's staff device");
                !s)
                return s.error();
            return std::make_pair(id, std::uint64_t{0});
        }
        known = metaText(c, "staff_device");
        if (!known) return known.error();
    }
    const auto id = Uuid::parse(known.value());
    if (!id) return makeError(ErrorCode::Corrupt, "the collector's staff device id is bad");
    auto rows = c.query("SELECT received_through FROM devices WHERE device_id = $1 FOR UPDATE",
                        pg::Params().add(*id), "locking the collector's staff device");
    if (!rows) return rows.error();
    if (rows->empty()) return makeError(ErrorCode::Corrupt, "the staff device is missing");
    return std::make_pair(*id, static_cast<std::uint64_t>(rows->integer(0, 0)));
}

}  // namespace veld::sync::postgres
