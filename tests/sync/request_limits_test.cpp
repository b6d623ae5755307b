// The collector's limits on guessing credentials and on requests per credential, on their own
// clock.
#include "request_limits.hpp"

#include <doctest/doctest.h>

using veld::sync::detail::FailureThrottle;
using veld::sync::detail::RateLimit;

TEST_CASE("wrong credentials: free up to the limit, then a wait that doubles up to a cap") {
    FailureThrottle::Policy p;
    p.freeFailures = 3;
    p.windowMs = 60'000;
    p.firstLockoutMs = 1'000;
    p.maxLockoutMs = 8'000;
    FailureThrottle t(p);
    std::int64_t now = 1'000'000;
    for (int i = 0; i < 2; ++i) {
        t.failed("10.0.0.1", now);
        CHECK(t.wait("10.0.0.1", now) == 0);
    }
    t.failed("10.0.0.1", now);
    CHECK(t.wait("10.0.0.1", now) == 1'000);
    CHECK(t.wait("10.0.0.2", now) == 0);  // another address is not held
    CHECK(t.wait("10.0.0.1", now + 400) == 600);
    now += 1'000;
    CHECK(t.wait("10.0.0.1", now) == 0);
    t.failed("10.0.0.1", now);
    CHECK(t.wait("10.0.0.1", now) == 2'000);
    for (int i = 0; i < 10; ++i)
        t.failed("10.0.0.1", now);
    CHECK(t.wait("10.0.0.1", now) == 8'000);  // capped
    // A minute after the last lockout ended without new failures, the count starts again.
    now += 8'000 + 60'000;
    t.failed("10.0.0.1", now);
    CHECK(t.wait("10.0.0.1", now) == 0);
}

TEST_CASE("when its table is full the failure count forgets quiet addresses first") {
    FailureThrottle::Policy p;
    p.freeFailures = 2;
    p.windowMs = 60'000;
    p.firstLockoutMs = 120'000;
    p.maxAddresses = 3;
    FailureThrottle t(p);
    t.failed("quiet-1", 0);  // counting, not held
    t.failed("quiet-2", 0);
    t.failed("guesser", 0);
    t.failed("guesser", 0);  // held until 120 s
    REQUIRE(t.wait("guesser", 0) == 120'000);
    // Full at 70 s: the quiet addresses' minute is over, so they make room; the held one stays.
    t.failed("newcomer", 70'000);
    CHECK(t.wait("guesser", 70'000) == 50'000);
    t.failed("newcomer", 70'000);
    CHECK(t.wait("newcomer", 70'000) == 120'000);
}

TEST_CASE("a credential gets its burst, then requests at the refill rate") {
    RateLimit::Policy p;
    p.perSecond = 2;
    p.burst = 5;
    RateLimit r(p);
    std::int64_t now = 0;
    for (int i = 0; i < 5; ++i)
        CHECK(r.take("device:a", now) == 0);
    CHECK(r.take("device:a", now) == 500);
    CHECK(r.take("device:b", now) == 0);  // each credential has its own bucket
    now += 500;
    CHECK(r.take("device:a", now) == 0);
    CHECK(r.take("device:a", now) > 0);
    now += 10'000;  // a quiet while fills the bucket again, not beyond the burst
    for (int i = 0; i < 5; ++i)
        CHECK(r.take("device:a", now) == 0);
    CHECK(r.take("device:a", now) > 0);
}
