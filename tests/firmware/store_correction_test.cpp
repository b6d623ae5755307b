// Corrections in the device store: records central staff sent back are merged from the
// collector's changes, reopened as correction drafts (a new revision based on the current one),
// and finalized into the outbox with their base, like any other revision.
#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;
using test::sampleContent;

namespace {

Store openNew(const std::string& path) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate});
    REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
    return std::move(store.value());
}

// A record finalized here and acknowledged by the collector (sent).
Finalized sentRecord(Store& store, const RecordContent& content) {
    auto done = store.finalizeNew(content, "Kind 3");
    REQUIRE_MESSAGE(done, done.error().describe());
    REQUIRE(store.acknowledgeThrough(done->seq));
    return done.value();
}

CorrectionIn opened(const Uuid& id, std::uint64_t seq, const std::string& comment) {
    CorrectionIn c;
    c.seq = seq;
    c.recordId = id;
    c.formId = "vmbo_parent_survey";
    c.formVersion = 1;
    c.state = CorrectionState::Open;
    c.comment = comment;
    c.reviewUtcMs = 1'790'000'000'000;
    return c;
}

}  // namespace

TEST_CASE("store: a record sent back is reopened as a draft of a new revision and queued again") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    RecordContent content = sampleContent(3);
    content.formVersion = 1;
    const Finalized first = sentRecord(store, content);
    REQUIRE(store.mergeCorrections(std::vector{opened(first.id, 5, "leeftijd klopt niet")}));

    auto listed = store.corrections();
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().comment == "leeftijd klopt niet");
    CHECK(listed->front().summary == "Kind 3");
    CHECK_FALSE(listed->front().sent);
    CHECK_FALSE(listed->front().editing);

    auto reopened = store.reopenForCorrection(first.id);
    REQUIRE_MESSAGE(reopened, reopened.error().describe());
    CHECK(reopened.value() == first.id);
    auto draft = store.get(first.id);
    REQUIRE(draft);
    CHECK(draft->meta.status == RecordStatus::Draft);
    CHECK(draft->meta.formVersion == 1);  // the form version it was made with
    CHECK(draft->meta.hlc > first.hlc);
    CHECK(draft->record.content.answers == test::normalized(content).answers);
    CHECK(store.correction(first.id).value()->editing);
    // Reopening again changes nothing; a correction draft is never thrown away.
    CHECK(store.reopenForCorrection(first.id));
    auto deleted = store.deleteDraft(first.id);
    REQUIRE_FALSE(deleted);
    CHECK(deleted.error().code == ErrorCode::WrongState);

    // Corrected and finalized: one outbox entry, with the revision it was made from.
    RecordContent fixed = draft->record.content;
    fixed.answers.front().value = std::int64_t{21};
    auto done = store.finalize(first.id, fixed, "Kind 3");
    REQUIRE_MESSAGE(done, done.error().describe());
    auto pending = store.outboxPending(10, 1 << 20);
    REQUIRE(pending);
    REQUIRE(pending->size() == 1);
    CHECK(pending->front().recordId == first.id);
    CHECK(pending->front().baseHlc == first.hlc.value);
    auto body = decodeRecord(pending->front().body);
    REQUIRE(body);
    CHECK(body->deviceId == store.deviceId());
    CHECK(body->createdHlc == first.hlc);
    auto after = store.correction(first.id);
    REQUIRE(after);
    REQUIRE(after->has_value());
    CHECK((*after)->sent);
    CHECK_FALSE((*after)->editing);
    auto twice = store.reopenForCorrection(first.id);
    REQUIRE_FALSE(twice);
    CHECK(twice.error().code == ErrorCode::WrongState);

    // The collector withdraws it (staff approved): gone from the device.
    CorrectionIn withdrawn = opened(first.id, 9, "");
    withdrawn.state = CorrectionState::Withdrawn;
    REQUIRE(store.mergeCorrections(std::vector{withdrawn}));
    CHECK(store.corrections()->empty());
    CHECK(store.get(first.id)->meta.status == RecordStatus::Finalized);  // the record stays
}

TEST_CASE(
    "store: a team member's device reopens a record it never held from the collector's copy") {
    test::TempDir dir;
    Store maker = openNew(dir.file("maker.veld"));
    Store team = openNew(dir.file("team.veld"));
    RecordContent content = sampleContent(4);
    content.caseId = makeUuidV4();
    const Finalized first = sentRecord(maker, content);
    CorrectionIn c = opened(first.id, 3, "BSN ontbreekt");
    c.caseId = content.caseId;
    c.body = encodeRecord(maker.get(first.id).value().record).value();  // the collector's copy
    REQUIRE(team.mergeCorrections(std::vector{c}));
    CHECK(team.corrections(content.caseId)->size() == 1);
    CHECK(team.corrections(makeUuidV4())->empty());
    auto reopened = team.reopenForCorrection(first.id);
    REQUIRE_MESSAGE(reopened, reopened.error().describe());
    auto draft = team.get(first.id);
    REQUIRE(draft);
    CHECK(draft->meta.status == RecordStatus::Draft);
    CHECK(draft->record.deviceId == team.deviceId());
    CHECK(draft->record.content.answers == test::normalized(content).answers);
    auto done = team.finalize(first.id, draft->record.content);
    REQUIRE_MESSAGE(done, done.error().describe());
    CHECK(team.outboxPending(10, 1 << 20)->front().baseHlc == first.hlc.value);
}

TEST_CASE("store: hostile or unusable corrections are refused without losing the record") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    const Finalized sent = sentRecord(store, sampleContent(5));

    SUBCASE("a sealed record is never reopened") {
        CorrectionIn c = opened(sent.id, 1, "dubbel?");
        c.sealed = true;
        REQUIRE(store.mergeCorrections(std::vector{c}));
        auto r = store.reopenForCorrection(sent.id);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::WrongState);
        CHECK(store.get(sent.id)->meta.status == RecordStatus::Sent);
        CHECK(store.corrections()->front().sealed);
    }
    SUBCASE("a record still waiting to be sent is not reopened") {
        auto waiting = store.finalizeNew(sampleContent(6));
        REQUIRE(waiting);
        REQUIRE(store.mergeCorrections(std::vector{opened(waiting->id, 1, "")}));
        auto r = store.reopenForCorrection(waiting->id);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::WrongState);
        CHECK(store.get(waiting->id)->meta.status == RecordStatus::Finalized);
        CHECK(store.outboxPending(10, 1 << 20)->size() == 1);
    }
    SUBCASE("a body that is no record of that id is dropped, the correction kept") {
        const Uuid unknown = makeUuidV7(SystemClock::instance());
        CorrectionIn c = opened(unknown, 1, "kijk even");
        c.body.assign(300, 0x5A);
        CorrectionIn other = opened(makeUuidV7(SystemClock::instance()), 2, "ander");
        other.body = encodeRecord(store.get(sent.id).value().record).value();  // another id
        REQUIRE(store.mergeCorrections(std::vector{c, other}));
        CHECK(store.corrections()->size() == 2);
        auto r = store.reopenForCorrection(unknown);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::NotFound);
        auto r2 = store.reopenForCorrection(other.recordId);
        REQUIRE_FALSE(r2);
        CHECK(r2.error().code == ErrorCode::NotFound);
    }
    SUBCASE("no correction, nothing to reopen") {
        auto r = store.reopenForCorrection(sent.id);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::NotFound);
    }
}
