// veld-agent syncs at once when the network comes back: it listens to the kernel's rtnetlink
// messages about links, addresses and routes, and waits for them to settle before it wakes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include <veld/result.hpp>

namespace veld::agent {

/// Whether a buffer of rtnetlink messages (as read from the socket) tells of a link, address or
/// route that came, went or changed. Truncated or malformed messages are ignored.
bool networkChanged(const void* data, std::size_t size);

/// Turns a burst of network events into one wake-up: due once no event came for `quietMs`, or
/// `mostMs` after the first event of the burst, whichever is first. Times are a steady clock's
/// milliseconds.
class Debounce {
  public:
    Debounce(std::int64_t quietMs, std::int64_t mostMs) : m_quiet(quietMs), m_most(mostMs) {}
    void event(std::int64_t nowMs);
    /// How long until it is due; nothing when no event waits.
    [[nodiscard]] std::optional<std::int64_t> msUntilDue(std::int64_t nowMs) const;
    /// True once when due (the burst is then forgotten).
    bool takeDue(std::int64_t nowMs);

  private:
    std::int64_t m_quiet;
    std::int64_t m_most;
    std::int64_t m_first = -1;  // -1: nothing pending
    std::int64_t m_last = -1;
};

/// A netlink socket subscribed to RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR and
/// RTMGRP_IPV4_ROUTE, non-blocking.
class NetlinkWatcher {
  public:
    static Result<NetlinkWatcher> open();
    NetlinkWatcher() = default;
    NetlinkWatcher(NetlinkWatcher&& other) noexcept;
    NetlinkWatcher& operator=(NetlinkWatcher&& other) noexcept;
    NetlinkWatcher(const NetlinkWatcher&) = delete;
    NetlinkWatcher& operator=(const NetlinkWatcher&) = delete;
    ~NetlinkWatcher();
    [[nodiscard]] int fd() const { return m_fd; }
    /// Reads every message waiting; whether any told of a change.
    bool drain();

  private:
    int m_fd = -1;
};

}  // namespace veld::agent
