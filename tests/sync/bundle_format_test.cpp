// The bundle file format (veld/sync/bundle.hpp): what survives the trip, what is refused, and
// that another reader (flatc) reads the file against schemas/bundle.fbs.
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <sodium.h>

#include <veld/sync/bundle.hpp>

#include "support/test_support.hpp"

using namespace veld;
namespace bundle = veld::sync::bundle;

namespace {

struct Keys {
    bundle::VerifyKey signPublic{};
    std::array<std::uint8_t, 64> signSecret{};
    bundle::BoxPublicKey boxPublic{};
    std::array<std::uint8_t, 32> boxSecret{};
    Keys() {
        REQUIRE(sodium_init() >= 0);
        crypto_sign_keypair(signPublic.data(), signSecret.data());
        crypto_box_keypair(boxPublic.data(), boxSecret.data());
    }
    [[nodiscard]] bundle::Signer signer() const {
        return [secret = signSecret](
                   std::span<const std::uint8_t> message) -> Result<bundle::Signature> {
            bundle::Signature out{};
            crypto_sign_detached(out.data(), nullptr, message.data(), message.size(),
                                 secret.data());
            return out;
        };
    }
    [[nodiscard]] bundle::Opener opener() const { return bundle::boxOpener(boxPublic, boxSecret); }
};

bundle::Header sampleHeader() {
    bundle::Header h;
    h.kind = bundle::Kind::ToCollector;
    h.deviceId = makeUuidV4();
    h.collectorId = "veld-collector-1234abcd";
    h.number = 7;
    h.createdUtcMs = 1'790'000'000'000;
    h.firstSeq = 11;
    h.lastSeq = 20;
    return h;
}

std::vector<std::uint8_t> samplePayload() {
    bundle::DevicePayload p;
    p.pushes = {{1, 2, 3}, {4, 5}};
    p.pull = {9, 9, 9};
    return bundle::encodeDevicePayload(p);
}

}  // namespace

TEST_CASE("a bundle carries its header and payload to the receiver, and only to it") {
    const Keys sender, receiver, stranger;
    const auto header = sampleHeader();
    auto bytes = bundle::seal(header, samplePayload(), bundle::boxSealer(receiver.boxPublic),
                              sender.signer());
    REQUIRE(bytes);
    auto parsed = bundle::parse(bytes.value());
    REQUIRE_MESSAGE(parsed, parsed.error().describe());
    CHECK(parsed->header.deviceId == header.deviceId);
    CHECK(parsed->header.collectorId == header.collectorId);
    CHECK(parsed->header.number == 7);
    CHECK(parsed->header.createdUtcMs == header.createdUtcMs);
    CHECK(parsed->header.firstSeq == 11);
    CHECK(parsed->header.lastSeq == 20);
    CHECK(parsed->header.kind == bundle::Kind::ToCollector);
    CHECK(parsed->header.payloadDigest.size() == 32);

    CHECK(bundle::verify(parsed.value(), sender.signPublic));
    auto other = bundle::verify(parsed.value(), stranger.signPublic);
    REQUIRE_FALSE(other);
    CHECK(other.error().message.find("signature") != std::string::npos);

    auto plain = bundle::open(parsed.value(), receiver.opener());
    REQUIRE(plain);
    auto payload = bundle::decodeDevicePayload(plain.value());
    REQUIRE(payload);
    CHECK(payload->pushes == std::vector<std::vector<std::uint8_t>>{{1, 2, 3}, {4, 5}});
    CHECK(payload->pull == std::vector<std::uint8_t>{9, 9, 9});
    CHECK(payload->enrol.empty());
    auto wrong = bundle::open(parsed.value(), stranger.opener());
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().message.find("sealed for someone else") != std::string::npos);
}

TEST_CASE("a bundle cut short or with any byte changed is refused") {
    const Keys sender, receiver;
    const auto bytes = bundle::seal(sampleHeader(), samplePayload(),
                                    bundle::boxSealer(receiver.boxPublic), sender.signer())
                           .value();
    // Refused: parse fails (as damaged, or as from a newer Veld when the flip lands in the
    // format version), or the signature no longer holds.
    const auto refused = [&](const std::vector<std::uint8_t>& changed) {
        auto parsed = bundle::parse(changed);
        if (!parsed)
            return parsed.error().code == ErrorCode::Corrupt ||
                   parsed.error().code == ErrorCode::TooNew;
        return !bundle::verify(parsed.value(), sender.signPublic);
    };
    for (std::size_t cut : {std::size_t{0}, std::size_t{7}, bytes.size() / 2, bytes.size() - 1}) {
        CAPTURE(cut);
        CHECK(refused({bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)}));
    }
    for (std::size_t at = 0; at < bytes.size(); ++at) {
        CAPTURE(at);
        auto flipped = bytes;
        flipped[at] ^= 0x01;
        // A flip in padding bytes the format does not read changes nothing that matters; every
        // byte that is read is covered by the verifier, the digest or the signature.
        auto parsed = bundle::parse(flipped);
        if (parsed && bundle::verify(parsed.value(), sender.signPublic)) {
            auto plain = bundle::open(parsed.value(), receiver.opener());
            REQUIRE(plain);
            CHECK(bundle::decodeDevicePayload(plain.value())->pushes.size() == 2);
            CHECK(parsed->header.number == 7);
        } else {
            CHECK(refused(flipped));
        }
    }
}

TEST_CASE("a bundle from a newer Veld is refused as such, and a foreign file as not a bundle") {
    const Keys sender, receiver;
    auto header = sampleHeader();
    header.formatVersion = bundle::kFormatVersion + 1;
    auto newer = bundle::parse(bundle::seal(header, samplePayload(),
                                            bundle::boxSealer(receiver.boxPublic), sender.signer())
                                   .value());
    REQUIRE_FALSE(newer);
    CHECK(newer.error().code == ErrorCode::TooNew);
    const std::string text = "format: veld-enrol, this is not a bundle at all";
    auto foreign = bundle::parse({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    REQUIRE_FALSE(foreign);
    CHECK(foreign.error().message.find("not a Veld bundle") != std::string::npos);
}

TEST_CASE("a bundle file is written privately and a huge one is refused unread") {
    const Keys sender, receiver;
    test::TempDir dir;
    const auto bytes = bundle::seal(sampleHeader(), samplePayload(),
                                    bundle::boxSealer(receiver.boxPublic), sender.signer())
                           .value();
    const auto path = dir.file("b.veldbundle");
    REQUIRE(bundle::writeFile(path, bytes));
    CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    CHECK(bundle::readFile(path).value() == bytes);

    // A sparse file past the limit: refused by its size, without reading 256 MiB.
    const auto huge = dir.file("huge.veldbundle");
    { std::ofstream(huge) << "x"; }
    std::filesystem::resize_file(huge, bundle::kMaxBundleBytes + 2);
    auto read = bundle::readFile(huge);
    REQUIRE_FALSE(read);
    CHECK(read.error().message.find("256 MiB") != std::string::npos);
}

TEST_CASE("flatc reads a bundle file against schemas/bundle.fbs") {
    const Keys sender, receiver;
    test::TempDir dir;
    const auto header = sampleHeader();
    const auto bytes = bundle::seal(header, samplePayload(), bundle::boxSealer(receiver.boxPublic),
                                    sender.signer())
                           .value();
    const auto path = dir.file("b.veldbundle");
    REQUIRE(bundle::writeFile(path, bytes));
    std::filesystem::create_directories(dir.file("flatc"));
    const auto flatc =
        test::runProcess({"/usr/bin/flatc", "--json", "--raw-binary", "--strict-json", "-I",
                          std::string(VELD_SOURCE_DIR) + "/schemas", "-o", dir.file("flatc"),
                          std::string(VELD_SOURCE_DIR) + "/schemas/bundle.fbs", "--", path});
    REQUIRE_MESSAGE(flatc.exitCode == 0, flatc.err);
    const std::string json = test::readFile(dir.file("flatc/b.json"));
    REQUIRE(!json.empty());
    // The header is a nested buffer: flatc shows it as a table of its own.
    CHECK(json.find("\"collector_id\": \"veld-collector-1234abcd\"") != std::string::npos);
    CHECK(json.find("\"number\": 7") != std::string::npos);
    CHECK(json.find("\"first_seq\": 11") != std::string::npos);
    CHECK(json.find("\"signature\"") != std::string::npos);
}
