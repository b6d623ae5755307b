// Internal to the collector: who may read /metrics without a credential.
//
// The rule: a request from the machine itself (127.0.0.0/8, ::1, also as IPv4-mapped IPv6) or
// from an address in --metrics-from is served; any other needs a staff (admin) credential. A
// request that carries a proxy's forwarding header (Forwarded, X-Forwarded-For, X-Real-IP) is
// treated as coming from elsewhere even when its connection comes from loopback: behind a
// reverse proxy on the same machine every request would otherwise look local.
//
// Thread-safety: plain functions; a MetricsAccess is read-only once made.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>

namespace veld::sync::detail {

/// An address range: IPv4 addresses are held as IPv4-mapped IPv6 (::ffff:a.b.c.d).
struct Cidr {
    std::array<std::uint8_t, 16> address{};
    int prefix = 0;  // bits of the IPv6 form
};

/// "10.0.0.0/8", "192.0.2.7" (a single address), "2001:db8::/32", "::1". InvalidArgument
/// otherwise.
Result<Cidr> parseCidr(std::string_view text);
/// A comma-separated list of them (spaces allowed); InvalidArgument naming the bad one.
Result<std::vector<Cidr>> parseCidrList(std::string_view text);

/// An address as text (IPv4, IPv6, IPv4-mapped IPv6) in IPv6 form; nothing when it is not one.
std::optional<std::array<std::uint8_t, 16>> parseAddress(std::string_view text);

bool contains(const Cidr& range, const std::array<std::uint8_t, 16>& address);
/// True when `address` (text, as parseAddress reads it) is in one of `ranges`.
bool fromRanges(std::string_view address, const std::vector<Cidr>& ranges);

enum class MetricsAccess {
    Open,        // served without a credential
    NeedsStaff,  // served only with a staff credential
};

/// The rule above, for a request from `peer` (the connection's address) that did or did not
/// carry a forwarding header.
MetricsAccess metricsAccess(std::string_view peer, bool forwarded, const std::vector<Cidr>& from);

}  // namespace veld::sync::detail
