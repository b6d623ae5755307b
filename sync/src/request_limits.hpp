// Internal to the collector: limits on who may ask how often. Both are kept in memory only (a
// restart forgets them) and are bounded in size.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace veld::sync::detail {

/// Slows down the guessing of credentials and enrolment codes. Wrong ones are counted per client
/// address; once an address has had `freeFailures` within `windowMs`, it must wait before its
/// next request with a credential or a code, and each further wrong one doubles the wait (up to
/// `maxLockoutMs`). Credentials are 256-bit secrets, so this is defence in depth: it also keeps
/// a scanner from filling the log.
class FailureThrottle {
  public:
    struct Policy {
        int freeFailures = 20;
        std::int64_t windowMs = 60'000;
        std::int64_t firstLockoutMs = 1'000;
        std::int64_t maxLockoutMs = 15 * 60'000;
        std::size_t maxAddresses = 10'000;
    };
    explicit FailureThrottle(Policy policy) : m_policy(policy) {}

    /// Milliseconds `address` must still wait; 0 when it may try now.
    std::int64_t wait(const std::string& address, std::int64_t nowMs);
    /// Records a wrong credential from `address`.
    void failed(const std::string& address, std::int64_t nowMs);

  private:
    struct Entry {
        std::int64_t windowStartMs = 0;
        int failures = 0;
        std::int64_t lockedUntilMs = 0;
    };
    Policy m_policy;
    std::mutex m_mutex;
    std::unordered_map<std::string, Entry> m_entries;
};

/// Requests per credential: a token bucket of `burst` requests refilled at `perSecond`. A device
/// syncing or a console polling stays far below it; a stolen credential in a loop does not.
class RateLimit {
  public:
    struct Policy {
        double perSecond = 50;
        double burst = 500;
        std::size_t maxKeys = 100'000;
    };
    explicit RateLimit(Policy policy) : m_policy(policy) {}

    /// Takes one request for `key`; 0 when allowed, else the milliseconds until one would be.
    std::int64_t take(const std::string& key, std::int64_t nowMs);

  private:
    struct Bucket {
        double tokens = 0;
        std::int64_t lastMs = 0;
    };
    Policy m_policy;
    std::mutex m_mutex;
    std::unordered_map<std::string, Bucket> m_buckets;
};

}  // namespace veld::sync::detail
