#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/hlc.hpp>

using namespace veld;

TEST_CASE("the HLC packs 48 bits of milliseconds and a 16-bit counter") {
    auto t = HlcTimestamp::make(1764064800123, 7);
    CHECK(t.millis() == 1764064800123u);
    CHECK(t.counter() == 7u);
    CHECK(t.toString() == "2025-11-25T10:00:00.123Z#7");
}

TEST_CASE("the HLC follows the wall clock while it moves forward") {
    ManualClock clock(1000);
    Hlc hlc(clock);
    CHECK(hlc.now() == HlcTimestamp::make(1000, 0));
    CHECK(hlc.now() == HlcTimestamp::make(1000, 1));
    clock.advance(5);
    CHECK(hlc.now() == HlcTimestamp::make(1005, 0));
    SUBCASE("and jumps with it when it leaps forward") {
        clock.advance(86400000);
        CHECK(hlc.now() == HlcTimestamp::make(86401005, 0));
    }
}

TEST_CASE("the HLC stays monotonic when the wall clock jumps backwards") {
    ManualClock clock(1764064800000);
    Hlc hlc(clock);
    HlcTimestamp before = hlc.now();
    clock.advance(-2 * 3600 * 1000);  // the laptop's clock is corrected by two hours
    HlcTimestamp previous = before;
    for (int i = 0; i < 1000; ++i) {
        HlcTimestamp t = hlc.now();
        REQUIRE(t > previous);
        CHECK(t.millis() == before.millis());  // holds the last millisecond and counts
        previous = t;
        clock.advance(1);
    }
}

TEST_CASE("a full counter borrows the next millisecond instead of wrapping") {
    ManualClock clock(5000);
    Hlc hlc(clock);
    HlcTimestamp previous = hlc.now();
    for (int i = 0; i < 70000; ++i) {
        HlcTimestamp t = hlc.now();
        REQUIRE(t > previous);
        previous = t;
    }
    CHECK(previous.millis() == 5001);
}

TEST_CASE("two devices with skewed clocks order causally related events") {
    ManualClock fastClock(1764064800000 + 60000);  // a minute ahead
    ManualClock slowClock(1764064800000);
    Hlc a(fastClock);
    Hlc b(slowClock);
    HlcTimestamp sentByA = a.now();
    // B receives A's revision and edits it: its timestamp must order after A's even though B's
    // wall clock is a minute behind.
    HlcTimestamp editedByB = b.observe(sentByA);
    CHECK(editedByB > sentByA);
    CHECK(b.now() > editedByB);
    // And A, seeing B's edit, orders after it too.
    CHECK(a.observe(editedByB) > editedByB);
}

TEST_CASE("restoring the last timestamp after a restart keeps the clock from going back") {
    ManualClock clock(2000000);
    HlcTimestamp lastBeforeRestart;
    {
        Hlc hlc(clock);
        for (int i = 0; i < 10; ++i)
            lastBeforeRestart = hlc.now();
    }
    clock.set(1000000);  // the device restarts with its clock set back
    Hlc restarted(clock);
    restarted.restore(lastBeforeRestart);
    CHECK(restarted.now() > lastBeforeRestart);
    // Restoring an older value never lowers the clock.
    restarted.restore(HlcTimestamp::make(1, 0));
    CHECK(restarted.last() > lastBeforeRestart);
}

TEST_CASE("the HLC saturates at its largest value instead of wrapping to zero") {
    ManualClock clock(1000);
    Hlc hlc(clock);
    HlcTimestamp top{HlcTimestamp::kMaxValue};
    CHECK(hlc.observe(HlcTimestamp{~std::uint64_t{0}}) == top);  // a hostile value is clamped
    CHECK(hlc.now() == top);
    CHECK(hlc.now() >= top);
    // Every value stays positive as a signed 64-bit integer (SQLite's INTEGER).
    CHECK(static_cast<std::int64_t>(top.value) > 0);
}
