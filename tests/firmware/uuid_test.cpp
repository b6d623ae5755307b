#include <set>
#include <vector>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/uuid.hpp>

using namespace veld;

TEST_CASE("a UUIDv7 carries the clock's milliseconds, version 7 and the RFC variant") {
    // Ids never go back within a process, so the clock is a second ahead of every id other
    // tests in the same run made with the real clock.
    const std::int64_t ahead = SystemClock().nowMillis() + 1000;
    ManualClock clock(ahead);
    Uuid id = makeUuidV7(clock);
    CHECK(id.version() == 7);
    CHECK((id.bytes[8] & 0xC0) == 0x80);
    CHECK(id.unixMillis() == static_cast<std::uint64_t>(ahead));
}

TEST_CASE("UUIDv7 ids made in one process sort in the order they were made") {
    ManualClock clock(1764064800000);
    std::vector<Uuid> ids;
    for (int i = 0; i < 20000; ++i) {
        if (i % 1000 == 0) clock.advance(1);
        ids.push_back(makeUuidV7(clock));
    }
    SUBCASE("even within one millisecond") {
        for (std::size_t i = 1; i < ids.size(); ++i)
            REQUIRE(ids[i - 1] < ids[i]);
    }
    SUBCASE("even when the wall clock jumps back") {
        clock.advance(-3600 * 1000);
        Uuid after = makeUuidV7(clock);
        CHECK(ids.back() < after);
    }
    std::set<Uuid> unique(ids.begin(), ids.end());
    CHECK(unique.size() == ids.size());
}

TEST_CASE("a UUIDv4 device id is random with version 4") {
    Uuid a = makeUuidV4();
    Uuid b = makeUuidV4();
    CHECK(a.version() == 4);
    CHECK((a.bytes[8] & 0xC0) == 0x80);
    CHECK(a != b);
    CHECK_FALSE(a.isNil());
}

TEST_CASE("UUID text round-trips and bad text is refused") {
    Uuid id = makeUuidV4();
    auto parsed = Uuid::parse(id.toString());
    REQUIRE(parsed);
    CHECK(*parsed == id);
    CHECK(Uuid::parse("01A2106F-D8B0-7096-8CE6-566DD8868964").has_value());
    CHECK_FALSE(Uuid::parse("").has_value());
    CHECK_FALSE(Uuid::parse("01a2106f-d8b0-7096-8ce6-566dd886896").has_value());
    CHECK_FALSE(Uuid::parse("01a2106f_d8b0-7096-8ce6-566dd8868964").has_value());
    CHECK_FALSE(Uuid::parse("01a2106f-d8b0-7096-8ce6-566dd886896g").has_value());
}
