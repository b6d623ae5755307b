// Project keys: a key pair whose private half only a passphrase opens, sealing to the public
// half, and the key ring file staff keep.
#include <doctest/doctest.h>

#include <veld/project_key.hpp>

using namespace veld;
using namespace veld::projectkey;

namespace {

std::vector<std::uint8_t> bytesOf(std::string_view s) {
    return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("a project key opens only with its passphrase, and opens what was sealed to it") {
    auto key =
        create("pilot-2026", "correct horse battery", 1'790'000'000'000, Strength::Interactive);
    REQUIRE_MESSAGE(key, key.error().describe());
    auto secret = unlock(key.value(), "correct horse battery");
    REQUIRE_MESSAGE(secret, secret.error().describe());
    CHECK(secret->id() == "pilot-2026");

    const auto sealed = seal(key->publicKey, bytesOf("answers of a respondent"));
    CHECK(std::string(sealed.begin(), sealed.end()).find("respondent") == std::string::npos);
    auto opened = open(secret.value(), sealed);
    REQUIRE(opened);
    CHECK(opened.value() == bytesOf("answers of a respondent"));

    // A wrong passphrase fails clearly, and never says what was typed.
    auto wrong = unlock(key.value(), "correct horse battery!");
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == ErrorCode::WrongState);
    CHECK(wrong.error().message.find("wrong passphrase") != std::string::npos);
    CHECK(wrong.error().message.find("horse") == std::string::npos);

    // Another key does not open it; a changed byte does not open.
    auto other = create("other", "another long passphrase", 0, Strength::Interactive);
    REQUIRE(other);
    auto otherSecret = unlock(other.value(), "another long passphrase");
    REQUIRE(otherSecret);
    CHECK_FALSE(open(otherSecret.value(), sealed));
    auto changed = sealed;
    changed[changed.size() / 2] ^= 1;
    CHECK_FALSE(open(secret.value(), changed));

    // Short passphrases and bad ids are refused.
    CHECK_FALSE(create("k", "short", 0, Strength::Interactive));
    CHECK_FALSE(create("bad id", "a long enough passphrase", 0, Strength::Interactive));
}

TEST_CASE("a key ring keeps old keys, reads back exactly, and refuses damage") {
    auto first = create("k2025", "first long passphrase", 1, Strength::Interactive);
    auto second = create("k2026", "second long passphrase", 2, Strength::Interactive);
    REQUIRE(first);
    REQUIRE(second);
    const std::string text = formatRing({first.value(), second.value()});
    auto ring = parseRing(text);
    REQUIRE_MESSAGE(ring, ring.error().describe());
    REQUIRE(ring->size() == 2);
    CHECK(formatRing(ring.value()) == text);
    // The old key still opens what was sealed to it.
    const auto sealed = seal(first->publicKey, bytesOf("2025 record"));
    auto old = unlock(ring->front(), "first long passphrase");
    REQUIRE(old);
    CHECK(open(old.value(), sealed).value() == bytesOf("2025 record"));
    // The file alone shows no private key: only what unlock() needs with the passphrase.
    CHECK(text.find("k2026") != std::string::npos);

    // A changed locked key, a swapped public key, a repeated id, or garbage: refused clearly.
    auto tampered = ring.value();
    tampered[1].lockedSecret[3] ^= 1;
    CHECK(unlock(tampered[1], "second long passphrase").error().code == ErrorCode::WrongState);
    auto swapped = ring.value();
    swapped[1].publicKey.bytes = swapped[0].publicKey.bytes;
    CHECK(unlock(swapped[1], "second long passphrase").error().code == ErrorCode::Corrupt);
    CHECK_FALSE(parseRing(text + text));
    CHECK_FALSE(parseRing("veld-project-key-1 k 1 00\n"));
    CHECK(parseRing("not a key ring\n").error().message.find("line 1") != std::string::npos);

    // The public key as devices receive it.
    const std::string shown = formatPublicKey(second->publicKey);
    auto parsed = parsePublicKey(shown);
    REQUIRE(parsed);
    CHECK(parsed->id == "k2026");
    CHECK(parsed->bytes == second->publicKey.bytes);
    CHECK_FALSE(parsePublicKey("k2026:00"));
}
