// Corrections at the collector, on either backend: a record staff mark "has issues" goes back to
// the devices that made it and to its case's team at their next pull; staff's other verdicts
// withdraw it; a revision made from the reviewed one makes the review "corrected".
#include <algorithm>
#include <map>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>

#include "support/sync_support.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

// A collector store with devices that push records as their outboxes would.
struct Field {
    test::TempDir dir;
    std::unique_ptr<sync::CollectorStore> store;
    std::int64_t now = SystemClock::instance().nowMillis();
    std::map<Uuid, std::uint64_t> sent;    // the last outbox number each device used
    std::map<Uuid, std::uint64_t> cursor;  // each device's correction cursor

    explicit Field(sync::CollectorPolicy policy = {}) {
        auto opened = sync::openCollector(test::testCollectorLocation(dir), true, policy);
        REQUIRE_MESSAGE(opened, opened.error().describe());
        store = std::move(opened.value());
    }

    Uuid device(const std::string& team = {}) {
        return test::enrolInStore(*store, now, "laptop", team);
    }

    [[nodiscard]] HlcTimestamp at(int ms) const {
        return HlcTimestamp::make(static_cast<std::uint64_t>(now + ms), 0);
    }

    // A revision of record `id` made on `device` at `hlc` from the revision `base` (0: the first).
    Record record(const Uuid& device, const Uuid& id, HlcTimestamp hlc, const std::string& age,
                  std::optional<Uuid> caseId = {}) const {
        Record r;
        r.id = id;
        r.deviceId = device;
        r.hlc = hlc;
        r.createdHlc = hlc;
        r.finalized = true;
        r.content.formId = "visit";
        r.content.formVersion = 3;
        r.content.caseId = caseId;
        if (caseId) {
            CaseChange change;
            change.action = CaseAction::Open;
            change.caseType = "participant";
            r.content.caseChange = change;
        }
        r.content.answers.push_back({"age", AnswerValue{std::int64_t{std::stoll(age)}}});
        return r;
    }

    void push(const Record& r, std::uint64_t base = 0) {
        sync::PushRevision rev;
        rev.seq = ++sent[r.deviceId];
        rev.recordId = r.id;
        rev.hlc = r.hlc;
        rev.baseHlc = base;
        auto body = encodeRecord(r);
        REQUIRE_MESSAGE(body, body.error().describe());
        rev.body = std::move(body.value());
        rev.formId = r.content.formId;
        rev.formVersion = r.content.formVersion;
        sync::PushBatch batch;
        batch.deviceId = r.deviceId;
        batch.revisions.push_back(std::move(rev));
        auto reply = store->push(r.deviceId, batch, now);
        REQUIRE_MESSAGE(reply, reply.error().describe());
        REQUIRE(reply->results.at(0).outcome == sync::RevisionOutcome::Stored);
    }

    // The corrections a device receives at its next pull (its cursor moves on).
    std::vector<CorrectionIn> pull(const Uuid& device, bool* more = nullptr) {
        sync::PullRequest request;
        request.correctionCursor = cursor[device];
        auto reply = store->pull(device, request, 10, now);
        REQUIRE_MESSAGE(reply, reply.error().describe());
        CHECK(reply->correctionCursor >= cursor[device]);
        cursor[device] = reply->correctionCursor;
        if (more) *more = reply->more;
        return reply->corrections;
    }

    void review(const Uuid& id, sync::ReviewState state, const std::string& comment) {
        auto s = store->setReview(id, state, comment, now, "anna");
        REQUIRE_MESSAGE(s, s.error().describe());
    }
};

std::int64_t ageIn(std::span<const std::uint8_t> body) {
    auto r = decodeRecord(body);
    REQUIRE_MESSAGE(r, r.error().describe());
    return std::get<std::int64_t>(r->content.answers.at(0).value);
}

}  // namespace

TEST_CASE("a record marked has-issues reaches the devices that made it and its case's team") {
    Field f;
    const Uuid maker = f.device();
    const Uuid editor = f.device();
    const Uuid teamMate = f.device("north");
    const Uuid stranger = f.device("south");
    const Uuid recordId = makeUuidV7(SystemClock::instance());
    const Uuid caseId = makeUuidV4();
    f.push(f.record(maker, recordId, f.at(1), "212", caseId));
    // Another device made the newest revision from the first one.
    f.push(f.record(editor, recordId, f.at(2), "213", caseId), f.at(1).value);
    REQUIRE(f.store->assignCase(caseId, maker, "north", f.now, "anna"));
    for (const Uuid& d : {maker, editor, teamMate, stranger})
        CHECK(f.pull(d).empty());  // nothing sent back yet

    f.review(recordId, sync::ReviewState::HasIssues, "Leeftijd 213 klopt niet");
    for (const Uuid& d : {maker, editor, teamMate}) {
        auto got = f.pull(d);
        REQUIRE(got.size() == 1);
        const CorrectionIn& c = got[0];
        CHECK(c.recordId == recordId);
        CHECK(c.state == CorrectionState::Open);
        CHECK(c.comment == "Leeftijd 213 klopt niet");
        CHECK(c.formId == "visit");
        CHECK(c.formVersion == 3);
        CHECK(c.caseId == caseId);
        CHECK_FALSE(c.sealed);
        CHECK(c.reviewUtcMs == f.now);
        // The current revision, so a device that never held the record can reopen it.
        CHECK(ageIn(c.body) == 213);
        CHECK(f.pull(d).empty());  // once
    }
    CHECK(f.pull(stranger).empty());
    auto info = f.store->correction(recordId);
    REQUIRE(info);
    REQUIRE(info->has_value());
    CHECK((*info)->aboutHlc == f.at(2));
    CHECK((*info)->devices.size() == 2);  // the maker and the newest revision's device

    // Approving withdraws it everywhere.
    f.review(recordId, sync::ReviewState::Approved, "checked by phone");
    for (const Uuid& d : {maker, editor, teamMate}) {
        auto got = f.pull(d);
        REQUIRE(got.size() == 1);
        CHECK(got[0].state == CorrectionState::Withdrawn);
        CHECK(got[0].body.empty());
    }
    CHECK(f.pull(stranger).empty());
}

TEST_CASE("a revision made from the reviewed one makes the review corrected, history kept") {
    Field f;
    const Uuid maker = f.device();
    const Uuid recordId = makeUuidV7(SystemClock::instance());
    f.push(f.record(maker, recordId, f.at(1), "212"));
    f.review(recordId, sync::ReviewState::HasIssues, "age?");
    REQUIRE(f.pull(maker).size() == 1);

    // Staff cannot claim the correction themselves.
    auto claimed = f.store->setReview(recordId, sync::ReviewState::Corrected, "", f.now, "anna");
    REQUIRE_FALSE(claimed);
    CHECK(claimed.error().code == ErrorCode::InvalidArgument);
    CHECK(f.store->review(recordId)->state == sync::ReviewState::HasIssues);

    f.push(f.record(maker, recordId, f.at(5), "21"), f.at(1).value);
    auto review = f.store->review(recordId);
    REQUIRE(review);
    CHECK(review->state == sync::ReviewState::Corrected);
    REQUIRE(review->history.size() == 2);
    CHECK(review->history[0].state == sync::ReviewState::HasIssues);
    CHECK(review->history[1].state == sync::ReviewState::Corrected);
    CHECK(review->history[1].actor == "device " + maker.toString());
    CHECK(review->history[1].revisionHlc == f.at(5).value);
    CHECK(f.store->recordsInReview(sync::ReviewState::Corrected)->size() == 1);
    auto queue = f.store->reviewQueue(sync::ReviewState::Corrected, 10, "");
    REQUIRE(queue);
    CHECK(queue->total == 1);
    // The current view holds the corrected answers.
    auto current = f.store->current(recordId);
    REQUIRE(current);
    REQUIRE(current->has_value());
    CHECK(ageIn((*current)->body) == 21);
    // The devices hear it was corrected (a team device stops offering to correct it).
    auto got = f.pull(maker);
    REQUIRE(got.size() == 1);
    CHECK(got[0].state == CorrectionState::Corrected);
    CHECK((*f.store->correction(recordId))->correctedBy == f.at(5));

    // Staff look again and send it back once more: the correction opens on the new revision.
    f.review(recordId, sync::ReviewState::HasIssues, "still wrong");
    got = f.pull(maker);
    REQUIRE(got.size() == 1);
    CHECK(got[0].state == CorrectionState::Open);
    CHECK(got[0].comment == "still wrong");
    CHECK(ageIn(got[0].body) == 21);
    CHECK((*f.store->correction(recordId))->aboutHlc == f.at(5));
    // A revision from before the one staff looked at corrects nothing.
    f.push(f.record(maker, recordId, f.at(6), "22"), f.at(1).value);
    CHECK(f.store->review(recordId)->state == sync::ReviewState::HasIssues);
    CHECK(f.store->review(recordId)->history.size() == 3);
}

TEST_CASE("a sealed record goes back without its body, and corrections page") {
    sync::CollectorPolicy policy;
    policy.maxCorrectionsPerPull = 1;
    Field f(policy);
    const Uuid kiosk = f.device();
    const Uuid sealedId = makeUuidV7(SystemClock::instance());
    Record sealed = f.record(kiosk, sealedId, f.at(1), "40");
    sealed.content.answers.clear();
    sealed.sealed = SealedContent{"k1", std::vector<std::uint8_t>(80, 7)};
    f.push(sealed);
    const Uuid plainId = makeUuidV7(SystemClock::instance());
    f.push(f.record(kiosk, plainId, f.at(2), "41"));
    f.review(sealedId, sync::ReviewState::HasIssues, "twee keer ingevuld?");
    f.review(plainId, sync::ReviewState::HasIssues, "");

    bool more = false;
    auto first = f.pull(kiosk, &more);
    REQUIRE(first.size() == 1);
    CHECK(more);
    CHECK(first[0].recordId == sealedId);
    CHECK(first[0].sealed);
    CHECK(first[0].body.empty());
    auto second = f.pull(kiosk, &more);
    REQUIRE(second.size() == 1);
    CHECK_FALSE(more);
    CHECK(second[0].recordId == plainId);
    CHECK_FALSE(second[0].body.empty());
    CHECK(f.pull(kiosk).empty());
}

TEST_CASE("correction messages survive the protocol, and a hostile body is left out") {
    Field f;
    const Uuid maker = f.device();
    const Uuid recordId = makeUuidV7(SystemClock::instance());
    f.push(f.record(maker, recordId, f.at(1), "30"));
    f.review(recordId, sync::ReviewState::HasIssues, "é, ü en ß kloppen?");
    sync::PullRequest request;
    request.correctionCursor = 0;
    auto decodedRequest = sync::decodePullRequest(sync::encodePullRequest(request));
    REQUIRE(decodedRequest);
    auto reply = f.store->pull(maker, decodedRequest.value(), 10, f.now);
    REQUIRE(reply);
    REQUIRE(reply->corrections.size() == 1);
    auto decoded = sync::decodePullResponse(sync::encodePullResponse(reply.value()));
    REQUIRE_MESSAGE(decoded, decoded.error().describe());
    REQUIRE(decoded->corrections.size() == 1);
    CHECK(decoded->correctionCursor == reply->correctionCursor);
    CHECK(decoded->corrections[0].comment == "é, ü en ß kloppen?");
    CHECK(ageIn(decoded->corrections[0].body) == 30);
    sync::PullRequest later;
    later.correctionCursor = 77;
    CHECK(sync::decodePullRequest(sync::encodePullRequest(later))->correctionCursor == 77);

    // A body that is no record of that id: the correction still comes, without it.
    sync::PullReply hostile = reply.value();
    hostile.corrections[0].body.assign(200, 0xAB);
    auto withJunk = sync::decodePullResponse(sync::encodePullResponse(hostile));
    REQUIRE(withJunk);
    REQUIRE(withJunk->corrections.size() == 1);
    CHECK(withJunk->corrections[0].body.empty());
    CHECK(withJunk->corrections[0].comment == "é, ü en ß kloppen?");
}
