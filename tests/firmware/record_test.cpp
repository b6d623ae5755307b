#include <random>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/fb/record_generated.h>
#include <veld/record.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

Record sampleRecord(int n) {
    ManualClock clock(1764064800000);
    Record r;
    r.id = makeUuidV7(clock);
    r.deviceId = makeUuidV4();
    r.hlc = HlcTimestamp::make(1764064800000, 3);
    r.createdHlc = HlcTimestamp::make(1764064700000, 0);
    r.finalized = true;
    r.content = test::sampleContent(n);
    r.content.caseId = makeUuidV4();
    return r;
}

// Finishes a hand-built record body around answers and repeats already in `b`.
std::vector<std::uint8_t> finishRecord(
    flatbuffers::FlatBufferBuilder& b, const Uuid& id,
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Answer>>> answers,
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Repeat>>> repeats) {
    auto form = b.CreateString("form_a");
    fb::Uuid fid(flatbuffers::span<const std::uint8_t, 16>(id.bytes.data(), 16));
    Uuid device = makeUuidV4();
    fb::Uuid did(flatbuffers::span<const std::uint8_t, 16>(device.bytes.data(), 16));
    fb::RecordBuilder rb(b);
    rb.add_id(&fid);
    rb.add_form_id(form);
    rb.add_device_id(&did);
    rb.add_hlc(100);
    rb.add_answers(answers);
    rb.add_repeats(repeats);
    fb::FinishRecordBuffer(b, rb.Finish());
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

// A body built by hand, for shapes encodeRecord() refuses to make.
std::vector<std::uint8_t> handBuilt(const std::vector<std::pair<std::string, std::string>>& answers,
                                    const Uuid& id) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::Answer>> list;
    for (const auto& [name, text] : answers) {
        auto v = fb::CreateTextValue(b, b.CreateString(text));
        list.push_back(fb::CreateAnswer(b, b.CreateString(name), fb::Value::TextValue, v.Union()));
    }
    auto vec = b.CreateVector(list);  // deliberately not sorted
    return finishRecord(b, id, vec, 0);
}

}  // namespace

TEST_CASE("a record survives encoding and decoding unchanged") {
    for (int n = 0; n < 6; ++n) {
        Record r = sampleRecord(n);
        auto body = encodeRecord(r);
        REQUIRE(body);
        auto back = decodeRecord(*body);
        REQUIRE(back);
        Record expected = r;
        expected.content = test::normalized(r.content);
        CHECK(*back == expected);
    }
}

TEST_CASE("content with bad names or values is refused before it is encoded") {
    Record r = sampleRecord(1);
    SUBCASE("a question answered twice") {
        r.content.answers.push_back({"age", std::int64_t{3}});
        auto e = encodeRecord(r);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == ErrorCode::InvalidArgument);
        CHECK(e.error().message.find("age") != std::string::npos);
    }
    SUBCASE("a name that is not an XLSForm-style name") {
        r.content.answers.push_back({"1st question", std::int64_t{3}});
        CHECK_FALSE(encodeRecord(r));
    }
    SUBCASE("text that is not UTF-8") {
        r.content.answers.push_back({"remark", std::string("\xC0\xAF")});
        CHECK_FALSE(encodeRecord(r));
    }
    SUBCASE("a time of day past midnight") {
        r.content.answers.push_back({"t", TimeAnswer{86400000}});
        CHECK_FALSE(encodeRecord(r));
    }
    SUBCASE("a decimal that is not a number") {
        r.content.answers.push_back({"d", DecimalAnswer{std::nan(""), "x"}});
        CHECK_FALSE(encodeRecord(r));
    }
    SUBCASE("a pseudonym without a key") {
        r.content.answers.push_back({"p", PseudonymAnswer{std::vector<std::uint8_t>(32), "", ""}});
        CHECK_FALSE(encodeRecord(r));
    }
    SUBCASE("repeats nested too deeply") {
        Repeat outer{"r0", {}};
        Repeat* level = &outer;
        for (int i = 1; i <= kMaxRepeatDepth + 1; ++i) {
            level->instances.push_back(RepeatInstance{{}, {Repeat{"r" + std::to_string(i), {}}}});
            level = &level->instances[0].repeats[0];
        }
        r.content.repeats.push_back(outer);
        auto e = encodeRecord(r);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("nested too deeply") != std::string::npos);
    }
    SUBCASE("an id that is not a UUIDv7") {
        r.id = makeUuidV4();
        CHECK_FALSE(encodeRecord(r));
    }
}

TEST_CASE("a body that is not a record is refused with a reason") {
    SUBCASE("too short") {
        std::vector<std::uint8_t> body{1, 2, 3};
        auto e = checkRecordBody(body);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == ErrorCode::Corrupt);
    }
    SUBCASE("another kind of FlatBuffer") {
        auto body = encodeRecord(sampleRecord(0)).value();
        body[4] = 'X';  // the file identifier
        auto e = checkRecordBody(body);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("identifier") != std::string::npos);
    }
    SUBCASE("an offset pointing outside the buffer") {
        auto body = encodeRecord(sampleRecord(0)).value();
        body[0] = 0xFF;
        body[1] = 0xFF;
        auto e = checkRecordBody(body);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("verifier") != std::string::npos);
    }
}

TEST_CASE("Veld's own checks catch bodies the FlatBuffers Verifier accepts") {
    ManualClock clock(1764064800000);
    Uuid id = makeUuidV7(clock);
    SUBCASE("answers not sorted by name") {
        auto body = handBuilt({{"zeta", "a"}, {"alpha", "b"}}, id);
        flatbuffers::Verifier v(body.data(), body.size());
        REQUIRE(fb::VerifyRecordBuffer(v));
        auto e = checkRecordBody(body);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("sorted") != std::string::npos);
    }
    SUBCASE("text that is not UTF-8") {
        auto body = handBuilt({{"alpha", "\xFF\xFE"}}, id);
        auto e = checkRecordBody(body);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("UTF-8") != std::string::npos);
    }
    SUBCASE("an id that is not a UUIDv7") {
        auto body = handBuilt({{"alpha", "a"}}, makeUuidV4());
        auto e = checkRecordBody(body);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("UUIDv7") != std::string::npos);
    }
    SUBCASE("a well-formed body passes") {
        CHECK(checkRecordBody(handBuilt({{"alpha", "a"}, {"beta", "b"}}, id)));
    }
}

TEST_CASE("randomly damaged bodies never crash the reader and never decode into nonsense") {
    // Under ASan and UBSan this proves memory safety of the checks on hostile bytes.
    std::mt19937 rng(12345);
    auto original = encodeRecord(sampleRecord(2)).value();
    int accepted = 0;
    constexpr int kRounds = 20000;
    for (int round = 0; round < kRounds; ++round) {
        auto body = original;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) {
            body[rng() % body.size()] = static_cast<std::uint8_t>(rng());
        }
        if (rng() % 10 == 0) body.resize(rng() % body.size());
        auto decoded = decodeRecord(body);
        if (decoded) {
            ++accepted;
            // Whatever passes must re-encode: it is a record that makes sense.
            REQUIRE(encodeRecord(*decoded));
        }
    }
    MESSAGE("accepted " << accepted << " of " << kRounds << " damaged bodies");
    CHECK(accepted < kRounds);
}

TEST_CASE("a small body that reuses its parts to describe a huge record is refused") {
    // One repeat instance with a large text answer, referenced 20,000 times from the instance
    // list: a few hundred kilobytes that would decode to gigabytes.
    flatbuffers::FlatBufferBuilder b;
    auto text = fb::CreateTextValue(b, b.CreateString(std::string(100000, 'x')));
    auto answer = fb::CreateAnswer(b, b.CreateString("note"), fb::Value::TextValue, text.Union());
    std::vector<flatbuffers::Offset<fb::Answer>> answers{answer};
    auto instance = fb::CreateRepeatInstance(b, b.CreateVector(answers));
    std::vector<flatbuffers::Offset<fb::RepeatInstance>> instances(20000, instance);
    auto repeat = fb::CreateRepeat(b, b.CreateString("visits"), b.CreateVector(instances));
    std::vector<flatbuffers::Offset<fb::Repeat>> repeats{repeat};
    auto repeatVec = b.CreateVector(repeats);
    ManualClock clock(1764064800000);
    auto body = finishRecord(b, makeUuidV7(clock), 0, repeatVec);
    REQUIRE(body.size() < 300000);
    auto e = decodeRecord(body);
    REQUIRE_FALSE(e);
    CHECK(e.error().code == ErrorCode::Corrupt);
    CHECK(e.error().message.find("reuses its parts") != std::string::npos);
}
