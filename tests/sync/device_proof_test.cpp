// The device's side of the proof of what was sent: receipts kept (append-only) and checked again
// by `veldctl store receipts`, and hash-chain links made at finalize that the collector's
// verify-chain accepts, over a real veld-collector on loopback (either backend).
#include <doctest/doctest.h>

#include <veld/chain.hpp>
#include <veld/device_identity.hpp>
#include <veld/hex.hpp>
#include <veld/sync/receipt.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

TEST_CASE(
    "each finalized revision links to the one before it, and the collector's chain is whole") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    auto connection = test::enrolDevice(device, collector);
    (void)test::addFinalized(device, 5);
    auto pending = device.outboxPending(100, 1u << 20);
    REQUIRE(pending);
    REQUIRE(pending->size() == 5);
    chain::Digest previous = chain::kFirstPrevious;
    for (const auto& e : pending.value()) {
        REQUIRE(e.chainPrev.size() == chain::kDigestBytes);
        CHECK(std::equal(previous.begin(), previous.end(), e.chainPrev.begin()));
        const auto link =
            chain::nextLink(previous, e.seq, e.recordId, e.hlc, chain::bodyDigest(e.body));
        REQUIRE(e.chainLink.size() == chain::kDigestBytes);
        CHECK(std::equal(link.begin(), link.end(), e.chainLink.begin()));
        previous = link;
    }
    sync::SyncOptions options;
    options.maxBatchRecords = 2;
    auto round = sync::syncOnce(device, connection, options);
    REQUIRE_MESSAGE(round, round.error().describe());
    // More after the first push: the chain goes on from the last link.
    (void)test::addFinalized(device, 2, 10);
    auto next = sync::syncOnce(device, connection, options);
    REQUIRE_MESSAGE(next, next.error().describe());
    const auto checked = test::veldctl({"collector", "verify-chain", collector.storePath()});
    CHECK_MESSAGE(checked.exitCode == 0, checked.out);
    CHECK(checked.out.find(device.deviceId().toString() + ": complete through 7") !=
          std::string::npos);
}

TEST_CASE("a device keeps every receipt and veldctl store receipts checks each again") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    auto connection = test::enrolDevice(device, collector);
    (void)test::addFinalized(device, 6);
    sync::SyncOptions options;
    options.maxBatchRecords = 4;
    auto round = sync::syncOnce(device, connection, options);
    REQUIRE_MESSAGE(round, round.error().describe());
    auto kept = device.receipts();
    REQUIRE(kept);
    REQUIRE(kept->size() == 2);
    CHECK(kept->at(0).status == ReceiptStatus::Verified);
    CHECK(kept->at(0).firstSeq == 1);
    CHECK(kept->at(0).lastSeq == 4);
    CHECK(kept->at(1).firstSeq == 5);
    CHECK(kept->at(1).lastSeq == 6);
    const std::string path = dir.file("device.veld");
    auto listed = test::veldctl({"store", "receipts", path});
    CHECK_MESSAGE(listed.exitCode == 0, listed.out);
    CHECK(listed.out.find("seq 1-4  4 revisions") != std::string::npos);
    CHECK(listed.out.find("verified (4 digests compared with this store)") != std::string::npos);
    CHECK(listed.out.find("2 receipts, 0 failing") != std::string::npos);

    // The table is append-only: the file itself refuses changes and deletions.
    {
        auto db = sql::Database::open(path, sql::OpenMode::ReadWrite);
        REQUIRE(db);
        CHECK_FALSE(db->exec("UPDATE receipts SET status = 0"));
        CHECK_FALSE(db->exec("DELETE FROM receipts"));
        CHECK_FALSE(
            db->exec("INSERT OR REPLACE INTO receipts (id, kept_utc_ms, first_seq, "
                     "last_seq, status) VALUES (1, 0, 1, 1, 0)"));
    }

    SUBCASE("a forged receipt fails with its reason") {
        KeptReceipt forged = kept->at(0);
        forged.bytes[forged.bytes.size() - 10] ^= 0x01;  // inside the signature
        REQUIRE(device.keepReceipt(forged));
        const auto shown = test::veldctl({"store", "receipts", path});
        CHECK(shown.exitCode == 1);
        CHECK(shown.out.find("#3") != std::string::npos);
        CHECK(shown.out.find("FAILS: the receipt's signature does not verify") !=
              std::string::npos);
        CHECK(shown.out.find("3 receipts, 1 failing") != std::string::npos);
    }
    SUBCASE("another device's receipt fails") {
        auto other = test::openDevice(dir.file("other.veld"));
        (void)test::enrolDevice(other, collector);
        (void)test::addFinalized(other, 1);
        REQUIRE(sync::syncOnce(other, sync::loadConnection(other).value(), {}));
        auto theirs = other.receipts();
        REQUIRE(theirs);
        REQUIRE(theirs->size() == 1);
        REQUIRE(device.keepReceipt(theirs->front()));
        const auto shown = test::veldctl({"store", "receipts", path});
        CHECK(shown.exitCode == 1);
        CHECK(shown.out.find("made for another device") != std::string::npos);
    }
    SUBCASE("a receipt naming other bytes than the store holds fails") {
        auto content = sync::readReceipt(kept->at(0).bytes);
        REQUIRE(content);
        content->revisions[1].digest[0] ^= 1;
        // Signed with a key the device keeps: only the digests are wrong.
        const auto key = signing::newKeyPair();
        KeptReceipt wrong = kept->at(0);
        wrong.bytes = sync::makeSignedReceipt(key, content.value());
        REQUIRE(device.setSetting(identity::kCollectorKeySetting, toHex(key.publicKey())));
        REQUIRE(device.keepReceipt(wrong));
        const auto shown = test::veldctl({"store", "receipts", path});
        CHECK(shown.exitCode == 1);
        CHECK(shown.out.find("revision 2: the receipt names other bytes than this store holds") !=
              std::string::npos);
    }
}
