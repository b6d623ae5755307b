// Who may read /metrics without a credential (see metrics_access.hpp).
#include "metrics_access.hpp"

#include <cstring>

#include <arpa/inet.h>

namespace veld::sync::detail {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

std::optional<std::array<std::uint8_t, 16>> parseAddress(std::string_view text) {
    const std::string s(text);
    std::array<std::uint8_t, 16> out{};
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        out[10] = 0xff;
        out[11] = 0xff;
        std::memcpy(out.data() + 12, &v4, 4);
        return out;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
        std::memcpy(out.data(), &v6, 16);
        return out;
    }
    return std::nullopt;
}

Result<Cidr> parseCidr(std::string_view text) {
    text = trim(text);
    const auto slash = text.find('/');
    const auto address = parseAddress(text.substr(0, slash));
    const auto bad = [&] {
        return makeError(ErrorCode::InvalidArgument,
                         "not an address range: '" + std::string(text) +
                             "' (e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)");
    };
    if (!address) return bad();
    const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    Cidr range;
    range.address = *address;
    range.prefix = 128;
    if (slash != std::string_view::npos) {
        const std::string_view bits = text.substr(slash + 1);
        if (bits.empty() || bits.size() > 3) return bad();
        int n = 0;
        for (char c : bits) {
            if (c < '0' || c > '9') return bad();
            n = n * 10 + (c - '0');
        }
        if (n > (v4 ? 32 : 128)) return bad();
        range.prefix = v4 ? 96 + n : n;
    }
    return range;
}

Result<std::vector<Cidr>> parseCidrList(std::string_view text) {
    std::vector<Cidr> out;
    while (!trim(text).empty()) {
        const auto comma = text.find(',');
        auto range = parseCidr(text.substr(0, comma));
        if (!range) return range.error();
        out.push_back(range.value());
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

bool contains(const Cidr& range, const std::array<std::uint8_t, 16>& address) {
    int bits = range.prefix;
    for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
        const auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
        if ((range.address[i] & mask) != (address[i] & mask)) return false;
    }
    return true;
}

bool fromRanges(std::string_view address, const std::vector<Cidr>& ranges) {
    const auto parsed = parseAddress(address);
    if (!parsed) return false;
    for (const Cidr& range : ranges) {
        if (contains(range, *parsed)) return true;
    }
    return false;
}

MetricsAccess metricsAccess(std::string_view peer, bool forwarded, const std::vector<Cidr>& from) {
    const auto address = parseAddress(peer);
    if (!address) return MetricsAccess::NeedsStaff;
    static const Cidr loopback4 = parseCidr("127.0.0.0/8").value();
    static const Cidr loopback6 = parseCidr("::1").value();
    if (!forwarded && (contains(loopback4, *address) || contains(loopback6, *address)))
        return MetricsAccess::Open;
    for (const Cidr& range : from) {
        if (contains(range, *address)) return MetricsAccess::Open;
    }
    return MetricsAccess::NeedsStaff;
}

}  // namespace veld::sync::detail
