#include <algorithm>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>

#include "support/test_support.hpp"

using namespace veld;
using fb::IdentifierScheme;

namespace {

pseudonym::Key fixedKey(std::string id, std::uint8_t fill) {
    pseudonym::Key key;
    key.id = std::move(id);
    for (std::size_t i = 0; i < key.bytes.size(); ++i)
        key.bytes[i] = static_cast<std::uint8_t>(fill + i);
    return key;
}

bool containsBytes(const std::vector<std::uint8_t>& haystack, std::string_view needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

}  // namespace

TEST_CASE("the BSN eleven-test accepts valid numbers and refuses everything else") {
    struct Case {
        const char* digits;
        bool valid;
    };
    const Case cases[] = {
        {"111222333", true},    {"123456782", true},
        {"999999990", true},    {"12345672", true},  // 8 digits: read as 012345672
        {"012345672", true},    {"12345678", false},
        {"123456789", false},   {"111222334", false},
        {"000000000", false},   {"00000000", false},
        {"1234567", false},     {"1234567890", false},
        {"12345678a", false},   {"abcdefghi", false},
        {"123 456 782", false}, {"123.456.782", false},
        {"123-456-782", false}, {"", false},
        {"-12345678", false},
    };
    for (const auto& c : cases) {
        CAPTURE(std::string(c.digits));
        CHECK(pseudonym::bsnValid(c.digits) == c.valid);
    }
}

TEST_CASE("identifiers are normalised per scheme, and bad input is refused without echoing it") {
    SUBCASE("BSN") {
        CHECK(pseudonym::normalize(IdentifierScheme::Bsn, "123456782").value() == "123456782");
        CHECK(pseudonym::normalize(IdentifierScheme::Bsn, " 1234.56-782 ").value() == "123456782");
        CHECK(pseudonym::normalize(IdentifierScheme::Bsn, "12345672").value() == "012345672");
        CHECK(pseudonym::normalize(IdentifierScheme::Bsn, "1234.5672").value() == "012345672");
        for (const char* bad : {"123456789", "12345678", "12345678x", "000000000", "1234567",
                                "1234567890", "", "123_456_782", "１２３４５６７８２"}) {
            CAPTURE(std::string(bad));
            auto r = pseudonym::normalize(IdentifierScheme::Bsn, bad);
            REQUIRE_FALSE(r);
            CHECK(r.error().code == ErrorCode::InvalidArgument);
            if (std::string_view(bad).size() > 3)
                CHECK(r.error().message.find(bad) == std::string::npos);
        }
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::Bsn, "123456782", "00AB"));
    }
    SUBCASE("school and pupil number") {
        CHECK(pseudonym::normalize(IdentifierScheme::SchoolPupil, " 4711 ", "12ab").value() ==
              "12AB:4711");
        CHECK(pseudonym::normalize(IdentifierScheme::SchoolPupil, "Ll-0042", " 00XY ").value() ==
              "00XY:Ll-0042");
        CHECK(pseudonym::normalize(IdentifierScheme::SchoolPupil, std::string(32, '7'), "00XY"));
        CHECK_FALSE(
            pseudonym::normalize(IdentifierScheme::SchoolPupil, std::string(33, '7'), "00XY"));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::SchoolPupil, "   ", "00XY"));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::SchoolPupil, "4711", "00X"));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::SchoolPupil, "4711", "00XYZ"));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::SchoolPupil, "4711", "00-Y"));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::SchoolPupil, "4711", ""));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::SchoolPupil, "47\n11", "00XY"));
        auto r = pseudonym::normalize(IdentifierScheme::SchoolPupil,
                                      "secret-pupil-1234567890123456789012", "00XY");
        REQUIRE_FALSE(r);
        CHECK(r.error().message.find("secret-pupil") == std::string::npos);
    }
    SUBCASE("other identifiers") {
        CHECK(pseudonym::normalize(IdentifierScheme::Other, "  MW-0042\t").value() == "mw-0042");
        CHECK(pseudonym::normalize(IdentifierScheme::Other, "ÉMP-7").value() == "Émp-7");
        CHECK(pseudonym::normalize(IdentifierScheme::Other, std::string(128, 'A')).value() ==
              std::string(128, 'a'));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::Other, std::string(129, 'a')));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::Other, " \t "));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::Other, "a\x01b"));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::Other, "\xC0\xAF"));
        CHECK_FALSE(pseudonym::normalize(IdentifierScheme::Other, "mw-1", "00XY"));
    }
    CHECK_FALSE(pseudonym::normalize(IdentifierScheme::None, "123456782"));
}

TEST_CASE("a pseudonym is a keyed digest: the same person and key give the same digest") {
    auto key = fixedKey("project-1", 1);
    auto a = pseudonym::make(key, IdentifierScheme::Bsn, "123456782");
    auto b = pseudonym::make(key, IdentifierScheme::Bsn, "123456782");
    CHECK(a == b);
    CHECK(a.digest.size() == pseudonym::kDigestBytes);
    CHECK(a.keyId == "project-1");
    CHECK(a.scheme == "bsn");
    // Another person, another key, or another scheme for the same text: another digest.
    CHECK(pseudonym::make(key, IdentifierScheme::Bsn, "111222333").digest != a.digest);
    CHECK(pseudonym::make(fixedKey("project-1", 2), IdentifierScheme::Bsn, "123456782").digest !=
          a.digest);
    CHECK(pseudonym::make(key, IdentifierScheme::Other, "123456782").digest != a.digest);
    // Typed differently, normalised the same: the same digest.
    auto typed = pseudonym::normalize(IdentifierScheme::Bsn, "1234 56 782").value();
    CHECK(pseudonym::make(key, IdentifierScheme::Bsn, typed) == a);

    CHECK(pseudonym::schemeName(IdentifierScheme::Bsn) == "bsn");
    CHECK(pseudonym::schemeName(IdentifierScheme::SchoolPupil) == "school_pupil");
    CHECK(pseudonym::schemeName(IdentifierScheme::Other) == "other");
    CHECK(pseudonym::schemeName(IdentifierScheme::None).empty());
}

TEST_CASE("the digest is BLAKE2b-256 over length-prefixed fields, stable across versions") {
    // A known answer, so a change of the construction (which would break linking records made
    // before and after it) cannot go unnoticed. Computed independently with Python's hashlib:
    // blake2b(b"\0\0\0\x11veld-pseudonym-v1" b"\0\0\0\x03bsn" b"\0\0\0\x09123456782",
    //         key=bytes(range(32)), digest_size=32)
    auto key = fixedKey("k", 0);
    auto p = pseudonym::make(key, IdentifierScheme::Bsn, "123456782");
    std::string hex;
    for (auto b : p.digest) {
        static const char* k = "0123456789abcdef";
        hex.push_back(k[b >> 4]);
        hex.push_back(k[b & 15]);
    }
    CHECK(hex == "519303902d87f2d008fc491d8f912a643faf3a38b2bb8e85550d6d2afedb13ff");
}

TEST_CASE("a record with a pseudonym holds no trace of the raw identifier") {
    auto key = pseudonym::newKey("project-1");
    const char* raw = "123456782";
    auto normalized = pseudonym::normalize(IdentifierScheme::Bsn, raw).value();
    Record record;
    record.id = makeUuidV7(SystemClock::instance());
    record.deviceId = makeUuidV4();
    record.hlc = record.createdHlc = HlcTimestamp::make(1764000000000, 0);
    record.content.formId = "ips_guidance";
    record.content.formVersion = 1;
    record.content.answers.push_back(
        {"participant_bsn", pseudonym::make(key, IdentifierScheme::Bsn, normalized)});
    auto body = encodeRecord(record).value();
    CHECK_FALSE(containsBytes(body, raw));
    CHECK_FALSE(containsBytes(body, "12345678"));
    CHECK_FALSE(containsBytes(body, "456782"));
    CHECK(containsBytes(body, "project-1"));
    auto back = decodeRecord(body).value();
    CHECK(back.content.answers.at(0).value == record.content.answers.at(0).value);
}

TEST_CASE("pseudonym keys round-trip through their text form, anything else is refused") {
    auto key = pseudonym::newKey("demo");
    CHECK(key.id == "demo");
    CHECK(key.bytes != pseudonym::Key{}.bytes);
    CHECK(pseudonym::newKey("demo").bytes != key.bytes);
    std::string text = pseudonym::formatKey(key);
    CHECK(text.size() == 5 + 64);
    CHECK(text.rfind("demo:", 0) == 0);
    auto back = pseudonym::parseKey(text);
    REQUIRE(back);
    CHECK(back->id == key.id);
    CHECK(back->bytes == key.bytes);

    auto fixed = fixedKey("Project_1.a-b", 0xA0);
    auto upper = pseudonym::formatKey(fixed);
    std::transform(upper.begin() + 14, upper.end(), upper.begin() + 14,
                   [](char c) { return static_cast<char>(std::toupper(c)); });
    REQUIRE(pseudonym::parseKey(upper));
    CHECK(pseudonym::parseKey(upper)->bytes == fixed.bytes);

    std::string hex64(64, 'a');
    const std::string bad[] = {
        "",
        "demo",
        hex64,
        ":" + hex64,
        "demo:" + std::string(63, 'a'),
        "demo:" + std::string(65, 'a'),
        "demo:" + std::string(62, 'a') + "zz",
        "demo:" + hex64 + "\n",
        " demo:" + hex64,
        "de mo:" + hex64,
        "demo:" + std::string(64, '0'),
        std::string(65, 'k') + ":" + hex64,
        "demo:" + hex64 + ":" + hex64,
    };
    for (const auto& text2 : bad) {
        CAPTURE(text2);
        auto r = pseudonym::parseKey(text2);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::InvalidArgument);
        CHECK(r.error().message.find(hex64) == std::string::npos);
    }
}

TEST_CASE("a form session takes a pseudonym of its question's scheme and digest size only") {
    auto form = forms::CompiledForm::load(
        forms::loadFormFile(std::string(VELD_SOURCE_DIR) + "/schemas/forms/ips_guidance.json")
            .binary);
    REQUIRE(form);
    auto s = forms::FormSession::start(*form, "en");
    auto key = pseudonym::newKey("project-1");
    forms::ItemPath path{"participant_bsn", {}};
    auto bsn = pseudonym::make(key, IdentifierScheme::Bsn,
                               pseudonym::normalize(IdentifierScheme::Bsn, "111222333").value());
    auto other = pseudonym::make(key, IdentifierScheme::Other, "mw-1");
    auto wrongScheme = s.setAnswer(path, other);
    REQUIRE_FALSE(wrongScheme);
    CHECK(wrongScheme.error().code == ErrorCode::InvalidArgument);
    auto shortDigest = bsn;
    shortDigest.digest.resize(16);
    CHECK_FALSE(s.setAnswer(path, shortDigest));
    REQUIRE(s.setAnswer(path, bsn));
    CHECK(s.answer(path) == std::optional<AnswerValue>(bsn));
}
