#include "request_limits.hpp"

#include <algorithm>
#include <cmath>

namespace veld::sync::detail {

std::int64_t FailureThrottle::wait(const std::string& address, std::int64_t nowMs) {
    std::lock_guard lock(m_mutex);
    auto it = m_entries.find(address);
    if (it == m_entries.end()) return 0;
    return std::max<std::int64_t>(0, it->second.lockedUntilMs - nowMs);
}

void FailureThrottle::failed(const std::string& address, std::int64_t nowMs) {
    std::lock_guard lock(m_mutex);
    if (m_entries.size() >= m_policy.maxAddresses && !m_entries.count(address)) {
        // Full: forget addresses that are neither counting nor locked out, then if need be all.
        std::erase_if(m_entries, [&](const auto& e) {
            return e.second.lockedUntilMs <= nowMs &&
                   nowMs - e.second.windowStartMs >= m_policy.windowMs;
        });
        if (m_entries.size() >= m_policy.maxAddresses) m_entries.clear();
    }
    Entry& e = m_entries[address];
    if (nowMs - e.windowStartMs >= m_policy.windowMs && e.lockedUntilMs <= nowMs) {
        e.windowStartMs = nowMs;
        e.failures = 0;
    }
    ++e.failures;
    const int over = e.failures - m_policy.freeFailures;
    if (over >= 0) {
        const int doublings = std::min(over, 30);
        const std::int64_t lockout =
            std::min(m_policy.maxLockoutMs, m_policy.firstLockoutMs << doublings);
        e.lockedUntilMs = nowMs + lockout;
    }
}

std::int64_t RateLimit::take(const std::string& key, std::int64_t nowMs) {
    std::lock_guard lock(m_mutex);
    auto it = m_buckets.find(key);
    if (it == m_buckets.end()) {
        if (m_buckets.size() >= m_policy.maxKeys) {
            // Full buckets cost nothing to forget: they would be full again.
            std::erase_if(m_buckets, [&](const auto& b) {
                const double refill =
                    static_cast<double>(nowMs - b.second.lastMs) / 1000.0 * m_policy.perSecond;
                return b.second.tokens + refill >= m_policy.burst;
            });
            if (m_buckets.size() >= m_policy.maxKeys) m_buckets.clear();
        }
        it = m_buckets.emplace(key, Bucket{m_policy.burst, nowMs}).first;
    }
    Bucket& b = it->second;
    const double elapsed = static_cast<double>(std::max<std::int64_t>(0, nowMs - b.lastMs));
    b.tokens = std::min(m_policy.burst, b.tokens + elapsed / 1000.0 * m_policy.perSecond);
    b.lastMs = nowMs;
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
    }
    return static_cast<std::int64_t>(std::ceil((1 - b.tokens) / m_policy.perSecond * 1000.0));
}

}  // namespace veld::sync::detail
