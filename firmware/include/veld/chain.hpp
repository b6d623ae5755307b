// Each device's revisions form a hash chain: every finalized revision names the link of the
// device's previous one, so a revision missing, changed or moved anywhere after it shows. The
// device store computes the links when it finalizes (in the finalize's transaction); the
// collector keeps them with each revision and recomputes them (veldctl collector verify-chain).
//
//   digest_n = BLAKE2b-256(the revision's body bytes as sent: for sealed records, the sealed bytes)
//   link_0   = 32 zero bytes
//   link_n   = BLAKE2b-256("veld-chain-v1" || link_{n-1} || seq_n (8 bytes, big-endian) ||
//                          record id (16 bytes) || hlc_n (8 bytes, big-endian) || digest_n)
//
// Pure functions; safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include <veld/hlc.hpp>
#include <veld/uuid.hpp>

namespace veld::chain {

inline constexpr std::size_t kDigestBytes = 32;
using Digest = std::array<std::uint8_t, kDigestBytes>;

/// The link before a device's first revision.
inline constexpr Digest kFirstPrevious{};

/// BLAKE2b-256 of a revision's body bytes (also what receipts name).
Digest bodyDigest(std::span<const std::uint8_t> body);

/// The link of revision `seq` following `previous`.
Digest nextLink(const Digest& previous, std::uint64_t seq, const Uuid& recordId, HlcTimestamp hlc,
                const Digest& bodyDigest);

}  // namespace veld::chain
