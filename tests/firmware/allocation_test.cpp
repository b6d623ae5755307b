#include <algorithm>
#include <map>
#include <set>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>

namespace {

veld::alloc::Study ipsStudy() {
    veld::alloc::Study s;
    s.id = "ips";
    s.pilot = "ips_long_term_unemployed";
    s.arms = {{"ips", 1}, {"usual_care", 1}};
    s.factors = {{"municipality", {"utrecht", "amersfoort", "nieuwegein"}},
                 {"gender", {"man", "vrouw"}}};
    s.blockSizes = {2, 4, 6};
    for (std::size_t i = 0; i < s.seed.size(); ++i)
        s.seed[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return s;
}

}  // namespace

TEST_CASE("a study's strata are every combination of its factors' levels") {
    const auto s = ipsStudy();
    REQUIRE(veld::alloc::checkStudy(s));
    const auto strata = veld::alloc::strata(s);
    REQUIRE(strata.size() == 6);
    CHECK(strata.front() == "municipality=utrecht;gender=man");
    CHECK(strata.back() == "municipality=nieuwegein;gender=vrouw");
    veld::alloc::Study single = s;
    single.factors.clear();
    CHECK(veld::alloc::strata(single) == std::vector<std::string>{""});
}

TEST_CASE("a study definition that cannot give balanced blocks is refused with the reason") {
    auto s = ipsStudy();
    s.blockSizes = {3};
    auto bad = veld::alloc::checkStudy(s);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("multiple of the sum of the ratios") != std::string::npos);
    s = ipsStudy();
    s.arms = {{"only", 1}};
    CHECK_FALSE(veld::alloc::checkStudy(s));
    s = ipsStudy();
    s.arms[1].name = "ips";
    CHECK_FALSE(veld::alloc::checkStudy(s));
    s = ipsStudy();
    s.factors[0].levels.push_back("utrecht");
    CHECK_FALSE(veld::alloc::checkStudy(s));
    s = ipsStudy();
    s.factors[1].levels.push_back("x;y=z");
    CHECK_FALSE(veld::alloc::checkStudy(s));
    s = ipsStudy();
    s.arms[0].ratio = 0;
    CHECK_FALSE(veld::alloc::checkStudy(s));
}

TEST_CASE("every block is balanced in the arms' ratio, and its size varies at random") {
    auto s = ipsStudy();
    s.arms = {{"a", 2}, {"b", 1}};
    s.blockSizes = {3, 6, 9};
    REQUIRE(veld::alloc::checkStudy(s));
    std::map<std::size_t, int> sizes;
    std::map<std::string, int> firstArm;
    for (std::uint32_t b = 0; b < 600; ++b) {
        const auto block = veld::alloc::generateBlock(s, "municipality=utrecht;gender=man", b);
        ++sizes[block.arms.size()];
        ++firstArm[block.arms.front()];
        const auto as = std::count(block.arms.begin(), block.arms.end(), "a");
        CHECK(as == static_cast<long>(block.arms.size()) * 2 / 3);
        CHECK(block.tokens.size() == block.arms.size());
    }
    // Each of the three sizes about a third of the time; "a" first about two thirds of the time.
    for (std::size_t size : {3u, 6u, 9u}) {
        CHECK(sizes[size] > 150);
        CHECK(sizes[size] < 250);
    }
    CHECK(firstArm["a"] > 340);
    CHECK(firstArm["a"] < 460);
}

TEST_CASE("the sequence is fixed by the seed, the study and the stratum, and nothing else") {
    const auto s = ipsStudy();
    const std::string stratum = "municipality=utrecht;gender=vrouw";
    const auto once = veld::alloc::generateBlock(s, stratum, 17);
    const auto again = veld::alloc::generateBlock(s, stratum, 17);
    CHECK(once.arms == again.arms);
    CHECK(once.tokens == again.tokens);

    // Another seed, another stratum or another block: another sequence and other tokens.
    auto other = s;
    other.seed[0] ^= 1;
    std::string a, b, c;
    for (std::uint32_t n = 0; n < 40; ++n) {
        for (const auto& arm : veld::alloc::generateBlock(s, stratum, n).arms)
            a += arm[0];
        for (const auto& arm : veld::alloc::generateBlock(other, stratum, n).arms)
            b += arm[0];
        for (const auto& arm :
             veld::alloc::generateBlock(s, "municipality=utrecht;gender=man", n).arms)
            c += arm[0];
    }
    CHECK(a != b);
    CHECK(a != c);
    CHECK(veld::alloc::generateBlock(other, stratum, 17).tokens != once.tokens);
    std::set<std::array<std::uint8_t, veld::alloc::kTokenBytes>> tokens;
    for (std::uint32_t n = 0; n < 50; ++n) {
        for (const auto& t : veld::alloc::generateBlock(s, stratum, n).tokens)
            CHECK(tokens.insert(t).second);
    }
}

TEST_CASE("a sealed slot opens only with its device's key, and not once changed") {
    const auto [pub, sec] = veld::alloc::newBoxKeyPair();
    const auto [otherPub, otherSec] = veld::alloc::newBoxKeyPair();
    const auto s = ipsStudy();
    const auto block = veld::alloc::generateBlock(s, "municipality=utrecht;gender=man", 3);
    veld::alloc::Slot slot{s.id,           "municipality=utrecht;gender=man", 3, 1, block.arms[1],
                           block.tokens[1]};
    auto box = veld::alloc::sealSlot(slot, pub);
    // The arm is not readable in the box.
    const std::string bytes(box.begin(), box.end());
    CHECK(bytes.find(slot.arm) == std::string::npos);

    auto opened = veld::alloc::openSlot(box, pub, sec);
    REQUIRE(opened);
    CHECK(opened.value() == slot);
    auto wrongKey = veld::alloc::openSlot(box, otherPub, otherSec);
    REQUIRE_FALSE(wrongKey);
    CHECK(wrongKey.error().code == veld::ErrorCode::Corrupt);
    box[box.size() / 2] ^= 0x40;
    CHECK_FALSE(veld::alloc::openSlot(box, pub, sec));
    CHECK_FALSE(veld::alloc::openSlot(std::vector<std::uint8_t>(10), pub, sec));
}
