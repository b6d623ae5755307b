// Receipts: every push a collector stores is answered with a receipt signed by its key (either
// backend); the device checks it before it marks anything sent, and forged receipts are refused.
#include <chrono>
#include <fstream>

#include <doctest/doctest.h>

#include <veld/device_identity.hpp>
#include <veld/hex.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/receipt.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

TEST_CASE("a push is answered with a signed receipt naming what was stored, and forgeries fail") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    auto other = test::openDevice(dir.file("other.veld"));
    (void)test::enrolDevice(device, collector);
    (void)test::addFinalized(device, 4);
    auto entries = device.outboxPending(100, 1u << 20);
    REQUIRE(entries);
    REQUIRE(entries->size() == 4);

    auto store = collector.open();
    auto batch = sync::decodePushRequest(sync::encodePushRequest(device.deviceId(), *entries));
    REQUIRE(batch);
    const std::int64_t now = wallMs();
    auto reply = store->push(device.deviceId(), batch.value(), now);
    REQUIRE(reply);
    REQUIRE_FALSE(reply->receipt.empty());
    const auto key = store->collectorSigningPublicKey();

    auto receipt = sync::verifyReceipt(reply->receipt, key, device.deviceId());
    REQUIRE_MESSAGE(receipt, receipt.error().describe());
    auto id = store->collectorId();
    REQUIRE(id);
    CHECK(receipt->collectorId == id.value());
    CHECK(receipt->firstSeq == 1);
    CHECK(receipt->lastSeq == 4);
    CHECK(receipt->receivedThrough == 4);
    CHECK(receipt->collectorUtcMs == now);
    REQUIRE(receipt->revisions.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) {
        const auto& r = receipt->revisions[i];
        CHECK(r.seq == (*entries)[i].seq);
        CHECK(r.recordId == (*entries)[i].recordId);
        CHECK(r.hlc == (*entries)[i].hlc);
        CHECK(r.digest == chain::bodyDigest((*entries)[i].body));
        CHECK(r.outcome == sync::RevisionOutcome::Stored);
    }

    // The same batch again: a receipt too, its revisions "duplicate".
    auto again = store->push(device.deviceId(), batch.value(), now + 1);
    REQUIRE(again);
    auto second = sync::verifyReceipt(again->receipt, key, device.deviceId());
    REQUIRE(second);
    REQUIRE(second->revisions.size() == 4);
    CHECK(second->revisions[0].outcome == sync::RevisionOutcome::Duplicate);

    // Another reader (flatc) reads the receipt as the schema describes it.
    const std::string file = dir.file("receipt.bin");
    {
        std::ofstream out(file, std::ios::binary);
        out.write(reinterpret_cast<const char*>(reply->receipt.data()),
                  static_cast<std::streamsize>(reply->receipt.size()));
    }
    const auto json =
        test::runProcess({"/usr/bin/flatc", "--json", "--raw-binary", "--strict-json", "-I",
                          std::string(VELD_SOURCE_DIR) + "/schemas", "-o", dir.path(),
                          std::string(VELD_SOURCE_DIR) + "/schemas/receipt.fbs", "--", file});
    REQUIRE_MESSAGE(json.exitCode == 0, json.err);
    std::ifstream read(dir.file("receipt.json"));
    const std::string text((std::istreambuf_iterator<char>(read)), {});
    CHECK(text.find("\"signature\"") != std::string::npos);
    CHECK(text.find("\"receipt\"") != std::string::npos);

    SUBCASE("a flipped byte anywhere is refused with a reason") {
        int refused = 0;
        for (std::size_t at = 0; at < reply->receipt.size(); at += 7) {
            auto forged = reply->receipt;
            forged[at] ^= 0x01;
            auto checked = sync::verifyReceipt(forged, key, device.deviceId());
            if (!checked) {
                ++refused;
                CHECK_FALSE(checked.error().message.empty());
                continue;
            }
            // A flip the Verifier and signature both accept can only be in padding or unused
            // bytes: what it says is unchanged.
            CHECK(checked->revisions.size() == 4);
            CHECK(checked->receivedThrough == 4);
        }
        CHECK(refused > 0);
        auto forged = reply->receipt;
        forged[forged.size() - 20] ^= 0x80;  // inside the signature
        auto checked = sync::verifyReceipt(forged, key, device.deviceId());
        REQUIRE_FALSE(checked);
        CHECK(checked.error().code == ErrorCode::Refused);
        CHECK(checked.error().message.find("signature does not verify") != std::string::npos);
    }
    SUBCASE("a receipt signed with another collector's key is refused") {
        auto content = sync::readReceipt(reply->receipt);
        REQUIRE(content);
        const auto forged = sync::makeSignedReceipt(signing::newKeyPair(), content.value());
        auto checked = sync::verifyReceipt(forged, key, device.deviceId());
        REQUIRE_FALSE(checked);
        CHECK(checked.error().code == ErrorCode::Refused);
    }
    SUBCASE("another device's receipt is refused") {
        auto checked = sync::verifyReceipt(reply->receipt, key, other.deviceId());
        REQUIRE_FALSE(checked);
        CHECK(checked.error().code == ErrorCode::WrongState);
        CHECK(checked.error().message.find("another device") != std::string::npos);
    }
    SUBCASE("bytes that are no receipt are refused without a crash") {
        for (const std::vector<std::uint8_t>& junk :
             {std::vector<std::uint8_t>{}, std::vector<std::uint8_t>(3, 0xFF),
              std::vector<std::uint8_t>(reply->receipt.begin(), reply->receipt.begin() + 40)}) {
            auto checked = sync::verifyReceipt(junk, key, device.deviceId());
            REQUIRE_FALSE(checked);
            CHECK(checked.error().code == ErrorCode::Corrupt);
        }
    }
}

TEST_CASE("a device marks nothing sent when the collector's receipt does not verify") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    auto connection = test::enrolDevice(device, collector);
    auto real = identity::collectorKey(device);
    REQUIRE(real);
    REQUIRE(real->has_value());
    (void)test::addFinalized(device, 3);
    // The device trusts another key: the receipt (signed with the collector's) cannot verify.
    REQUIRE(device.setSetting(identity::kCollectorKeySetting,
                              toHex(signing::newKeyPair().publicKey())));
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_FALSE(round);
    CHECK(round.error().code == ErrorCode::Refused);
    CHECK(round.error().message.find("receipt was refused") != std::string::npos);
    auto state = device.outboxState();
    REQUIRE(state);
    CHECK(state->pending == 3);
    CHECK(state->ackedThrough == 0);
    // The refused receipt is kept aside, with why.
    auto kept = device.receipts();
    REQUIRE(kept);
    REQUIRE(kept->size() == 1);
    CHECK(kept->front().status == ReceiptStatus::Refused);
    CHECK(kept->front().reason.find("signature does not verify") != std::string::npos);

    // With the collector's own key the resend is acknowledged (the collector answers
    // "duplicate", with a receipt that verifies).
    REQUIRE(device.setSetting(identity::kCollectorKeySetting, toHex(**real)));
    auto next = sync::syncOnce(device, connection, {});
    REQUIRE_MESSAGE(next, next.error().describe());
    state = device.outboxState();
    REQUIRE(state);
    CHECK(state->pending == 0);
    CHECK(state->ackedThrough == 3);
    kept = device.receipts();
    REQUIRE(kept);
    REQUIRE(kept->size() == 2);
    CHECK(kept->back().status == ReceiptStatus::Verified);
}
