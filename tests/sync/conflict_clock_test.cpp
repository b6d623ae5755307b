// Concurrent edits of one record on two devices, and devices whose clocks are wrong, against a
// real veld-collector on loopback.
#include <chrono>
#include <map>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/fb/sync_generated.h>
#include <veld/record.hpp>
#include <veld/sync/protocol.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Another device's revision of `original`, stamped `hlc`, with other answers.
Record editedOn(const Store& editor, const Record& original, HlcTimestamp hlc, int sample) {
    Record r = original;
    r.deviceId = editor.deviceId();
    r.hlc = hlc;
    if (r.createdHlc > hlc) r.createdHlc = hlc;  // a body made before its own creation is refused
    r.content = test::sampleContent(sample, original.content.formId);
    r.finalized = true;
    return r;
}

Record recordOf(Store& store, const Uuid& id) {
    auto got = store.get(id);
    REQUIRE(got);
    return got->record;
}

}  // namespace

TEST_CASE("edits of one record on two devices without seeing each other are kept as a conflict") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto maker = test::openDevice(dir.file("maker.veld"));
    auto editor = test::openDevice(dir.file("editor.veld"));
    const auto ids = test::addFinalized(maker, 3);
    auto makerConnection = test::enrolDevice(maker, collector);
    auto editorConnection = test::enrolDevice(editor, collector);
    REQUIRE(sync::syncOnce(maker, makerConnection, {}));

    const Record first = recordOf(maker, ids[0]);
    const Record second = recordOf(maker, ids[1]);
    const Record third = recordOf(maker, ids[2]);
    const auto later = HlcTimestamp::make(first.hlc.millis() + 5000, 0);
    const auto earlier = HlcTimestamp::make(second.hlc.millis() - 5000, 0);
    const auto after = HlcTimestamp::make(third.hlc.millis() + 7000, 0);
    const auto reply = test::postPush(
        collector, editorConnection,
        test::pushBody(editor.deviceId(),
                       {{1, editedOn(editor, first, later, 101)},     // newer, made blind
                        {2, editedOn(editor, second, earlier, 102)},  // older, made blind
                        {3, editedOn(editor, third, after, 103), third.hlc.value}}));  // from it
    REQUIRE(reply.results.size() == 3);
    for (const auto& r : reply.results)
        CHECK(r.outcome == sync::RevisionOutcome::Stored);

    auto store = collector.open();
    auto conflicts = store->conflicts();
    REQUIRE(conflicts);
    REQUIRE(conflicts->size() == 2);
    std::map<Uuid, sync::ConflictInfo> byRecord;
    for (const auto& c : conflicts.value())
        byRecord[c.recordId] = c;
    REQUIRE(byRecord.count(first.id) == 1);
    REQUIRE(byRecord.count(second.id) == 1);
    CHECK(byRecord.count(third.id) == 0);  // made from the current revision: it simply follows
    for (const auto& [id, c] : byRecord) {
        CHECK(c.deviceA == maker.deviceId());
        CHECK(c.deviceB == editor.deviceId());
    }
    CHECK(byRecord[first.id].hlcA == first.hlc);
    CHECK(byRecord[first.id].hlcB == later);
    CHECK(store->stats()->conflicts == 2);

    // Both revisions are kept; the current view is the newest by HLC, whoever sent it last.
    for (const auto* r : {&first, &second, &third}) {
        auto revisions = store->revisionsOf(r->id);
        REQUIRE(revisions);
        CHECK(revisions->size() == 2);
    }
    auto current = [&](const Uuid& id) {
        auto c = store->current(id);
        REQUIRE(c);
        REQUIRE(c->has_value());
        return c->value();
    };
    CHECK(current(first.id).deviceId == editor.deviceId());
    CHECK(current(first.id).hlc == later);
    CHECK(decodeRecord(current(first.id).body)->content ==
          test::normalized(test::sampleContent(101, first.content.formId)));
    CHECK(current(second.id).deviceId == maker.deviceId());
    CHECK(current(second.id).hlc == second.hlc);
    CHECK(current(third.id).deviceId == editor.deviceId());
    CHECK(store->stats()->records == 3);
    CHECK(store->stats()->revisions == 6);

    // Staff list the conflicts and settle one with veldctl while the collector runs: the
    // maker's version of the second record becomes current again, under a new revision.
    const auto listed = test::veldctl({"collector", "conflicts", collector.storePath()});
    REQUIRE(listed.exitCode == 0);
    const std::string number = std::to_string(byRecord[second.id].id);
    CHECK(listed.out.find(number + "  record " + second.id.toString()) != std::string::npos);
    const auto settled = test::veldctl(
        {"collector", "resolve", collector.storePath(), number, "keep-a", "--comment", "checked"});
    REQUIRE_MESSAGE(settled.exitCode == 0, settled.err);
    CHECK(store->stats()->conflicts == 1);
    CHECK(store->stats()->revisions == 7);
    CHECK(decodeRecord(current(second.id).body)->content == second.content);
    CHECK(current(second.id).hlc.value > byRecord[second.id].hlcB.value);
    CHECK(
        test::veldctl({"collector", "resolve", collector.storePath(), number, "keep-b"}).exitCode ==
        1);

    // The other one is closed without a new revision: the current view stays as it was.
    const sync::StoredRevision before = current(first.id);
    const auto closed =
        test::veldctl({"collector", "resolve", collector.storePath(),
                       std::to_string(byRecord[first.id].id), "close", "--comment", "both fine"});
    REQUIRE_MESSAGE(closed.exitCode == 0, closed.err);
    CHECK(closed.out.find("keeps its current revision") != std::string::npos);
    CHECK(store->stats()->conflicts == 0);
    CHECK(store->stats()->revisions == 7);
    CHECK(current(first.id).hlc == before.hlc);
    CHECK(current(first.id).body == before.body);
}

TEST_CASE("records from devices with wrong clocks are kept, ordered by HLC and flagged") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::int64_t now = wallMs();
    ManualClock aheadClock(now + 365 * kDayMs);
    ManualClock behindClock(now - 365 * kDayMs);     // a year: still within 400 days
    ManualClock farBehindClock(now - 800 * kDayMs);  // beyond: implausible
    ManualClock jumpingClock(now);
    auto ahead = test::openDevice(dir.file("ahead.veld"), &aheadClock);
    auto behind = test::openDevice(dir.file("behind.veld"), &behindClock);
    auto farBehind = test::openDevice(dir.file("far.veld"), &farBehindClock);
    auto jumping = test::openDevice(dir.file("jumping.veld"), &jumpingClock);
    auto editor = test::openDevice(dir.file("editor.veld"));

    const auto aheadIds = test::addFinalized(ahead, 5, 0);
    const auto behindIds = test::addFinalized(behind, 5, 10);
    const auto farIds = test::addFinalized(farBehind, 5, 20);
    auto jumpingIds = test::addFinalized(jumping, 5, 30);
    jumpingClock.set(now - 30 * kDayMs);  // the laptop's clock is set back a month
    for (const auto& id : test::addFinalized(jumping, 5, 40))
        jumpingIds.push_back(id);

    for (auto* device : {&ahead, &behind, &farBehind, &jumping}) {
        auto connection = test::enrolDevice(*device, collector);
        auto round = sync::syncOnce(*device, connection, {});
        REQUIRE_MESSAGE(round, round.error().describe());
        CHECK(round->recordsSent == static_cast<std::int64_t>(device == &jumping ? 10 : 5));
    }

    auto store = collector.open();
    auto flagged = [&](const std::vector<Uuid>& ids) {
        int n = 0;
        for (const auto& id : ids) {
            auto c = store->current(id);
            REQUIRE(c);
            REQUIRE(c->has_value());  // accepted, never dropped
            n += (*c)->clockFlagged ? 1 : 0;
        }
        return n;
    };
    CHECK(flagged(aheadIds) == 5);
    CHECK(flagged(behindIds) == 0);
    CHECK(flagged(farIds) == 5);
    CHECK(flagged(jumpingIds) == 0);
    CHECK(store->stats()->records == 25);
    CHECK(store->stats()->flaggedClocks == 10);

    // The device whose clock went back kept counting forward: its revisions stay in the order
    // it made them.
    HlcTimestamp previous;
    for (const auto& id : jumpingIds) {
        auto c = store->current(id);
        REQUIRE(c);
        CHECK((*c)->hlc > previous);
        previous = (*c)->hlc;
    }

    // Edits made now by a device with a right clock: the current view follows HLC, so the
    // revision stamped a year ahead stays current, and one stamped a year behind gives way.
    auto editorConnection = test::enrolDevice(editor, collector);
    const auto stampedNow = HlcTimestamp::make(static_cast<std::uint64_t>(wallMs()), 0);
    const Record fromAhead = recordOf(ahead, aheadIds[0]);
    const Record fromBehind = recordOf(behind, behindIds[0]);
    test::postPush(
        collector, editorConnection,
        test::pushBody(editor.deviceId(), {{1, editedOn(editor, fromAhead, stampedNow, 201)},
                                           {2, editedOn(editor, fromBehind, stampedNow, 202)}}));
    auto revisions = store->revisionsOf(fromAhead.id);
    REQUIRE(revisions);
    REQUIRE(revisions->size() == 2);
    CHECK(revisions->at(0).deviceId == editor.deviceId());  // ordered by HLC
    CHECK_FALSE(revisions->at(0).clockFlagged);
    CHECK(revisions->at(1).deviceId == ahead.deviceId());
    CHECK(revisions->at(1).clockFlagged);
    CHECK(store->current(fromAhead.id).value()->deviceId == ahead.deviceId());
    CHECK(store->current(fromBehind.id).value()->deviceId == editor.deviceId());
    CHECK(store->stats()->conflicts == 2);
    CHECK(store->stats()->revisions == 27);
}
