// Limits and clock rules every collector store applies, whatever its database.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veld::sync {

/// Limits and clock rules the collector applies.
struct CollectorPolicy {
    std::int64_t enrolCodeTtlMs = 7LL * 24 * 3600 * 1000;
    /// A revision stamped more than this ahead of the collector's clock is flagged.
    std::int64_t futureToleranceMs = 3600LL * 1000;
    /// ... or more than this before it (devices may be offline for weeks, not for years).
    std::int64_t pastToleranceMs = 400LL * 24 * 3600 * 1000;
    /// The most cases and allocation blocks one pull answer holds (then `more` is set).
    std::size_t maxCasesPerPull = 500;
    std::size_t maxBlocksPerPull = 200;
    /// Roughly how many bytes of case properties one pull answer holds before it pages (at least
    /// one case each): well within the protocol's message limit, whatever the cases hold.
    std::size_t maxCaseBytesPerPull = 8u << 20;
    /// The most corrections one pull answer holds, and how many bytes of record bodies they
    /// carry at most (then `more` is set; a single body larger than that goes without its body:
    /// the devices that made the record reopen it from their own copy).
    std::size_t maxCorrectionsPerPull = 200;
    std::size_t maxCorrectionBytesPerPull = 1u << 20;
};

}  // namespace veld::sync
