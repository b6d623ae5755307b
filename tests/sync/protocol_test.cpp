#include <random>

#include <doctest/doctest.h>

#include <veld/fb/sync_generated.h>
#include <veld/store.hpp>
#include <veld/sync/protocol.hpp>

#include "support/test_support.hpp"

using namespace veld;

TEST_CASE("a push request carries outbox revisions to the collector unchanged") {
    test::TempDir dir;
    auto store = Store::open(dir.file("d.veld"), {.mode = sql::OpenMode::ReadWriteCreate});
    REQUIRE(store);
    for (int i = 0; i < 5; ++i)
        REQUIRE(store->finalizeNew(test::sampleContent(i)));
    auto pending = store->outboxPending(100, 1 << 20).value();
    pending[3].body.clear();
    pending[3].damaged = true;
    pending[3].damageReason = "record body fails the FlatBuffers verifier";

    auto body = sync::encodePushRequest(store->deviceId(), pending);
    auto batch = sync::decodePushRequest(body);
    REQUIRE_MESSAGE(batch, (batch ? "" : batch.error().describe()));
    CHECK(batch->deviceId == store->deviceId());
    CHECK(batch->protocolVersion == sync::kProtocolVersion);
    REQUIRE(batch->revisions.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) {
        CHECK(batch->revisions[i].seq == pending[i].seq);
        CHECK(batch->revisions[i].recordId == pending[i].recordId);
        CHECK(batch->revisions[i].body == pending[i].body);
        CHECK(batch->revisions[i].damaged == pending[i].damaged);
    }
    CHECK(batch->revisions[3].damageReason == pending[3].damageReason);
}

TEST_CASE("a push request whose revision does not match its record is refused") {
    test::TempDir dir;
    auto store = Store::open(dir.file("d.veld"), {.mode = sql::OpenMode::ReadWriteCreate});
    REQUIRE(store);
    REQUIRE(store->finalizeNew(test::sampleContent(1)));
    REQUIRE(store->finalizeNew(test::sampleContent(2)));
    auto pending = store->outboxPending(100, 1 << 20).value();
    SUBCASE("another device's record") {
        auto e = sync::decodePushRequest(sync::encodePushRequest(makeUuidV4(), pending));
        REQUIRE_FALSE(e);
        CHECK(e.error().code == ErrorCode::Corrupt);
    }
    SUBCASE("a gap in the sequence numbers") {
        pending[1].seq += 1;
        CHECK_FALSE(sync::decodePushRequest(sync::encodePushRequest(store->deviceId(), pending)));
    }
    SUBCASE("sequence numbers out of order") {
        std::swap(pending[0], pending[1]);
        CHECK_FALSE(sync::decodePushRequest(sync::encodePushRequest(store->deviceId(), pending)));
    }
    SUBCASE("a body swapped for another record's") {
        std::swap(pending[0].body, pending[1].body);
        CHECK_FALSE(sync::decodePushRequest(sync::encodePushRequest(store->deviceId(), pending)));
    }
}

TEST_CASE("a push response round-trips and hostile bytes are refused without a crash") {
    sync::PushReply reply;
    reply.receivedThrough = 41;
    reply.results.push_back({40, sync::RevisionOutcome::Duplicate, ""});
    reply.results.push_back({41, sync::RevisionOutcome::Rejected, "form unknown"});
    auto body = sync::encodePushResponse(reply);
    auto back = sync::decodePushResponse(body);
    REQUIRE(back);
    CHECK(back->receivedThrough == 41);
    REQUIRE(back->results.size() == 2);
    CHECK(back->results[1].outcome == sync::RevisionOutcome::Rejected);
    CHECK(back->results[1].reason == "form unknown");

    // A response is not a request.
    CHECK_FALSE(sync::decodePushRequest(body));

    std::mt19937 rng(7);
    for (int i = 0; i < 5000; ++i) {
        auto damaged = body;
        damaged[rng() % damaged.size()] = static_cast<std::uint8_t>(rng());
        (void)sync::decodePushResponse(damaged);  // must not crash (ASan, UBSan)
    }
    std::vector<std::uint8_t> tooShort{0x56, 0x53};
    CHECK_FALSE(sync::decodePushResponse(tooShort));
}

TEST_CASE("a message whose union names a type but carries no value is refused, not followed") {
    for (auto type : {fb::Message::PushRequest, fb::Message::PushResponse}) {
        flatbuffers::FlatBufferBuilder b;
        fb::EnvelopeBuilder eb(b);
        eb.add_message_type(type);  // no message value
        fb::FinishEnvelopeBuffer(b, eb.Finish());
        std::vector<std::uint8_t> body(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
        CHECK_FALSE(sync::decodePushRequest(body));
        CHECK_FALSE(sync::decodePushResponse(body));
    }
}

TEST_CASE("a pull carries the device's box key and stock up, and cases, blocks and studies down") {
    sync::PullRequest request;
    request.formCursor = 3;
    request.caseCursor = 17;
    request.allocationCursor = 9;
    request.deviceBoxKey.assign(32, 0xAB);
    request.stock = {{"ips", "municipality=utrecht;gender=man", 2},
                     {"ips", "municipality=utrecht;gender=vrouw", 0}};
    auto req = sync::decodePullRequest(sync::encodePullRequest(request));
    REQUIRE(req);
    CHECK(req->caseCursor == 17);
    CHECK(req->allocationCursor == 9);
    CHECK(req->deviceBoxKey == request.deviceBoxKey);
    REQUIRE(req->stock.size() == 2);
    CHECK(req->stock[1].stratum == "municipality=utrecht;gender=vrouw");
    CHECK(req->stock[0].remaining == 2);

    // A box key that is not an X25519 key is refused, not stored.
    request.deviceBoxKey.assign(31, 1);
    CHECK_FALSE(sync::decodePullRequest(sync::encodePullRequest(request)));

    sync::PullReply reply;
    reply.caseCursor = 40;
    reply.allocationCursor = 12;
    sync::CaseState state;
    state.seq = 40;
    state.update.id = *Uuid::parse("0192f0c4-5a6b-7c8d-9e0f-112233445566");
    state.update.caseType = "participant";
    state.update.pseudonym = "k1:00ff";
    state.update.properties = {{"arm", "ips", HlcTimestamp{5}}, {"label", "Sam", HlcTimestamp{7}}};
    state.update.lastContactUtcMs = 1'760'000'000'000;
    reply.cases.push_back(state);
    sync::CaseState gone;
    gone.seq = 39;
    gone.update.id = *Uuid::parse("0192f0c4-5a6b-7c8d-9e0f-aabbccddeeff");
    gone.update.assigned = false;
    reply.cases.push_back(gone);
    reply.blocks.push_back(
        {12,
         "ips",
         "municipality=utrecht;gender=man",
         4,
         {{0, std::vector<std::uint8_t>(90, 1)}, {1, std::vector<std::uint8_t>(90, 2)}}});
    reply.studies.push_back({"ips",
                             "ips_long_term_unemployed",
                             {"ips", "usual_care"},
                             {{"municipality", {"utrecht", "amersfoort"}}},
                             6});
    auto got = sync::decodePullResponse(sync::encodePullResponse(reply));
    REQUIRE(got);
    CHECK(got->caseCursor == 40);
    CHECK(got->allocationCursor == 12);
    REQUIRE(got->cases.size() == 2);
    CHECK(got->cases[0].update.properties == state.update.properties);
    CHECK(got->cases[0].update.pseudonym == "k1:00ff");
    CHECK(got->cases[0].update.lastContactUtcMs == state.update.lastContactUtcMs);
    CHECK(got->cases[0].update.assigned);
    CHECK_FALSE(got->cases[1].update.assigned);
    REQUIRE(got->blocks.size() == 1);
    CHECK(got->blocks[0].block == 4);
    REQUIRE(got->blocks[0].slots.size() == 2);
    CHECK(got->blocks[0].slots[1].box == std::vector<std::uint8_t>(90, 2));
    REQUIRE(got->studies.size() == 1);
    CHECK(got->studies[0] == reply.studies[0]);

    // A case whose property has no name, or a value past the limit, makes the answer malformed.
    reply.cases[0].update.properties[0].value.assign(5000, 'x');
    auto tooLong = sync::decodePullResponse(sync::encodePullResponse(reply));
    REQUIRE_FALSE(tooLong);
    CHECK(tooLong.error().code == ErrorCode::Corrupt);
}
