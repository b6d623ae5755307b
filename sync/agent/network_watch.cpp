#include "network_watch.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

namespace veld::agent {

bool networkChanged(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    std::size_t at = 0;
    bool changed = false;
    while (size - at >= sizeof(nlmsghdr)) {
        nlmsghdr h;
        std::memcpy(&h, bytes + at, sizeof h);  // the buffer need not be aligned
        if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > size - at) break;
        switch (h.nlmsg_type) {
            case RTM_NEWLINK:
            case RTM_DELLINK:
            case RTM_NEWADDR:
            case RTM_DELADDR:
            case RTM_NEWROUTE:
            case RTM_DELROUTE:
                changed = true;
                break;
            default:
                break;
        }
        at += NLMSG_ALIGN(h.nlmsg_len);
        if (at > size) break;
    }
    return changed;
}

void Debounce::event(std::int64_t nowMs) {
    if (m_first < 0) m_first = nowMs;
    m_last = nowMs;
}

std::optional<std::int64_t> Debounce::msUntilDue(std::int64_t nowMs) const {
    if (m_first < 0) return std::nullopt;
    const std::int64_t due = std::min(m_last + m_quiet, m_first + m_most);
    return std::max<std::int64_t>(0, due - nowMs);
}

bool Debounce::takeDue(std::int64_t nowMs) {
    const auto left = msUntilDue(nowMs);
    if (!left || *left > 0) return false;
    m_first = m_last = -1;
    return true;
}

Result<NetlinkWatcher> NetlinkWatcher::open() {
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        return makeError(ErrorCode::Io,
                         std::string("cannot open a netlink socket: ") + std::strerror(errno));
    }
    sockaddr_nl address{};
    address.nl_family = AF_NETLINK;
    address.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const int e = errno;
        ::close(fd);
        return makeError(ErrorCode::Io,
                         std::string("cannot listen for network changes: ") + std::strerror(e));
    }
    NetlinkWatcher w;
    w.m_fd = fd;
    return w;
}

NetlinkWatcher::NetlinkWatcher(NetlinkWatcher&& other) noexcept : m_fd(other.m_fd) {
    other.m_fd = -1;
}

NetlinkWatcher& NetlinkWatcher::operator=(NetlinkWatcher&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = other.m_fd;
        other.m_fd = -1;
    }
    return *this;
}

NetlinkWatcher::~NetlinkWatcher() {
    if (m_fd >= 0) ::close(m_fd);
}

bool NetlinkWatcher::drain() {
    bool changed = false;
    alignas(nlmsghdr) std::uint8_t buffer[16384];
    for (;;) {
        const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            changed = networkChanged(buffer, static_cast<std::size_t>(n)) || changed;
            continue;
        }
        // ENOBUFS: the kernel dropped messages because we were slow; something did change.
        if (n < 0 && errno == ENOBUFS) {
            changed = true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return changed;
    }
}

}  // namespace veld::agent
