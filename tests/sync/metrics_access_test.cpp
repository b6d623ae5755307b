// Who may read the collector's /metrics without a credential: the access rule on addresses no
// test can connect from (a real collector on loopback is tested in collector_metrics_test.cpp).
#include "metrics_access.hpp"

#include <doctest/doctest.h>

using namespace veld::sync::detail;

namespace {

std::vector<Cidr> ranges(const char* text) {
    auto parsed = parseCidrList(text);
    REQUIRE_MESSAGE(parsed, text);
    return parsed.value();
}

}  // namespace

TEST_CASE("metrics access: this machine without a credential, others only when configured") {
    const std::vector<Cidr> none;
    for (const char* local :
         {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"}) {
        CAPTURE(local);
        CHECK(metricsAccess(local, false, none) == MetricsAccess::Open);
        // Through a proxy on this machine the request comes from elsewhere.
        CHECK(metricsAccess(local, true, none) == MetricsAccess::NeedsStaff);
    }
    for (const char* remote : {"10.1.2.3", "192.0.2.10", "128.0.0.1", "126.255.255.255", "::2",
                               "2001:db8::1", "::ffff:10.1.2.3", "", "not-an-address", "0.0.0.0"}) {
        CAPTURE(remote);
        CHECK(metricsAccess(remote, false, none) == MetricsAccess::NeedsStaff);
    }
    const auto from = ranges("10.0.0.0/8, 192.0.2.7,2001:db8:1::/48");
    CHECK(metricsAccess("10.1.2.3", false, from) == MetricsAccess::Open);
    CHECK(metricsAccess("10.1.2.3", true, from) == MetricsAccess::Open);  // the proxy is trusted
    CHECK(metricsAccess("::ffff:10.200.0.1", false, from) == MetricsAccess::Open);
    CHECK(metricsAccess("11.0.0.1", false, from) == MetricsAccess::NeedsStaff);
    CHECK(metricsAccess("192.0.2.7", false, from) == MetricsAccess::Open);
    CHECK(metricsAccess("192.0.2.8", false, from) == MetricsAccess::NeedsStaff);
    CHECK(metricsAccess("2001:db8:1:ffff::5", false, from) == MetricsAccess::Open);
    CHECK(metricsAccess("2001:db8:2::5", false, from) == MetricsAccess::NeedsStaff);
    // An IPv4 range never matches an IPv6 address that merely shares its bits.
    CHECK(metricsAccess("a00:1::", false, ranges("10.0.0.0/8")) == MetricsAccess::NeedsStaff);
    // Everything, when staff choose so.
    const auto all = ranges("0.0.0.0/0,::/0");
    CHECK(metricsAccess("203.0.113.9", false, all) == MetricsAccess::Open);
    CHECK(metricsAccess("2001:db8::9", true, all) == MetricsAccess::Open);
}

TEST_CASE("metrics access: address ranges are checked when read") {
    for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "10.0.0.0/", "10.0.0.0/x", "::/129",
                            "example.org", "10.0.0.0/8/8", "1.2.3.4, nope"}) {
        CAPTURE(bad);
        auto parsed = parseCidrList(bad);
        REQUIRE_FALSE(parsed);
        CHECK(parsed.error().code == veld::ErrorCode::InvalidArgument);
    }
    CHECK(parseCidrList("").value().empty());
    CHECK(parseCidrList(" 10.0.0.0/8 , ").value().size() == 1);
    CHECK(parseCidr("192.0.2.0/24").value().prefix == 96 + 24);
    CHECK(parseCidr("2001:db8::/32").value().prefix == 32);
    CHECK(parseCidr("::1").value().prefix == 128);
}
