// Identity keys: the collector's Ed25519 key (made once per store, published at enrolment and
// with every pull, kept by the device as first seen) and the device's own key, against a real
// veld-collector on loopback (either backend) with real device stores.
#include <optional>

#include <doctest/doctest.h>

#include <veld/device_identity.hpp>
#include <veld/hex.hpp>
#include <veld/signing.hpp>
#include <veld/sync/collector_identity.hpp>
#include <veld/sync/uploader.hpp>

#include "support/pg_cluster.hpp"
#include "support/sync_support.hpp"

using namespace veld;

namespace {

// Changes the collector's store behind its back (a test's look past the interface).
void alterCollector(const std::string& location, const std::string& sqliteSql,
                    const std::string& postgresSql) {
    if (sync::isPostgresLocation(location)) {
        (void)test::queryInteger(location, postgresSql);
        return;
    }
    auto db = sql::Database::open(location, sql::OpenMode::ReadWrite);
    REQUIRE(db);
    REQUIRE(db->exec(sqliteSql));
}

// One integer from a query on the collector's store (either backend).
long long integerOn(const std::string& location, const std::string& query) {
    if (sync::isPostgresLocation(location)) return test::queryInteger(location, query);
    auto db = sql::Database::open(location, sql::OpenMode::ReadOnly);
    REQUIRE(db);
    auto n = db->queryInt(query);
    REQUIRE(n);
    return n.value();
}

// "public key  HEX" from veldctl collector key.
std::string printedKey(const test::CollectorProcess& collector) {
    const auto shown = test::veldctl({"collector", "key", collector.storePath()});
    REQUIRE_MESSAGE(shown.exitCode == 0, shown.err);
    const auto at = shown.out.find("public key  ");
    REQUIRE(at != std::string::npos);
    return shown.out.substr(at + 12, 64);
}

}  // namespace

TEST_CASE("a signature verifies only over its message with its key") {
    const auto key = signing::newKeyPair();
    const std::vector<std::uint8_t> message{1, 2, 3, 4};
    const auto sig = signing::sign(key, message);
    CHECK(signing::verify(key.publicKey(), message, sig));
    auto changed = message;
    changed[0] ^= 1;
    CHECK_FALSE(signing::verify(key.publicKey(), changed, sig));
    auto forged = sig;
    forged[10] ^= 0x40;
    CHECK_FALSE(signing::verify(key.publicKey(), message, forged));
    CHECK_FALSE(signing::verify(signing::newKeyPair().publicKey(), message, sig));
    CHECK_FALSE(signing::verify(key.publicKey(), message, std::span(sig).first(63)));
    // A secret key read back is checked: one changed digit is refused without showing them.
    std::string hex = toHex(key.bytes());
    auto back = signing::parseSecretKey(hex, "the key");
    REQUIRE(back);
    CHECK(back->publicKey() == key.publicKey());
    hex[100] = hex[100] == '0' ? '1' : '0';
    auto damaged = signing::parseSecretKey(hex, "the key");
    REQUIRE_FALSE(damaged);
    CHECK(damaged.error().code == ErrorCode::Corrupt);
    CHECK(damaged.error().message.find(hex.substr(0, 16)) == std::string::npos);
    CHECK(signing::fingerprint(key.publicKey()).size() == 39);
}

TEST_CASE("data sealed to a collector opens only with that collector's store") {
    test::TempDir dir;
    const std::string location = test::testCollectorLocation(dir);
    test::CollectorProcess collector(location);  // veldctl collector init
    auto store = collector.open();
    const std::vector<std::uint8_t> plain{'b', 'u', 'n', 'd', 'l', 'e'};
    auto sealed = sync::sealToCollector(store->collectorSigningPublicKey(), plain);
    REQUIRE(sealed);
    auto opened = store->openSealedToCollector(sealed.value());
    REQUIRE(opened);
    CHECK(opened.value() == plain);
    // Sealed to another collector, or changed on the way: refused with a reason.
    auto other = sync::sealToCollector(signing::newKeyPair().publicKey(), plain);
    REQUIRE(other);
    auto refused = store->openSealedToCollector(other.value());
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::Corrupt);
    auto changed = sealed.value();
    changed.back() ^= 1;
    CHECK_FALSE(store->openSealedToCollector(changed));
    CHECK_FALSE(store->openSealedToCollector(std::span(sealed.value()).first(10)));
    // Its signature verifies with the key it publishes, and the key stays across opens.
    const auto sig = store->signAsCollector(plain);
    CHECK(signing::verify(store->collectorSigningPublicKey(), plain, sig));
    const auto before = store->collectorSigningPublicKey();
    store.reset();
    CHECK(collector.open()->collectorSigningPublicKey() == before);
}

TEST_CASE("a collector made before identity keys gets one at its next open, kept from then on") {
    test::TempDir dir;
    const std::string location = test::testCollectorLocation(dir);
    test::CollectorProcess collector(location);
    alterCollector(location, "DELETE FROM meta WHERE key = 'collector_sign_key'",
                   "WITH d AS (DELETE FROM meta WHERE key = 'collector_sign_key' RETURNING 1) "
                   "SELECT count(*) FROM d");
    auto first = collector.open()->collectorSigningPublicKey();
    CHECK(collector.open()->collectorSigningPublicKey() == first);
    CHECK(integerOn(location, "SELECT count(*) FROM meta WHERE key = 'collector_sign_key'") == 1);
}

TEST_CASE("an enrolled device keeps the collector's key and the collector gets the device's") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    std::optional<Store> opened(test::openDevice(dir.file("device.veld")));
    Store& device = *opened;
    (void)test::enrolDevice(device, collector);

    auto kept = identity::collectorKey(device);
    REQUIRE(kept);
    REQUIRE(kept->has_value());
    CHECK(toHex(**kept) == printedKey(collector));
    // The device made its own key pair at enrolment and sent the public half.
    auto mine = identity::devicePublicKey(device);
    REQUIRE(mine);
    REQUIRE(mine->has_value());
    auto secret = device.setting(identity::kSignSecretKeySetting);
    REQUIRE(secret);
    REQUIRE(secret->has_value());
    const std::string select = "SELECT count(*) FROM devices WHERE public_key = " +
                               std::string(sync::isPostgresLocation(collector.storePath())
                                               ? "'\\x" + toHex(**mine) + "'::bytea"
                                               : "x'" + toHex(**mine) + "'");
    CHECK(integerOn(collector.storePath(), select) == 1);
    // What the device signs verifies with the key the collector holds for it.
    const std::vector<std::uint8_t> message{9, 8, 7};
    auto sig = identity::signAsDevice(device, message);
    REQUIRE(sig);
    CHECK(signing::verify(**mine, message, sig.value()));

    // veldctl store info shows both fingerprints, never the secret.
    opened.reset();
    const auto info = test::veldctl({"store", "info", dir.file("device.veld")});
    REQUIRE_MESSAGE(info.exitCode == 0, info.err);
    CHECK(info.out.find(signing::fingerprint(**kept)) != std::string::npos);
    CHECK(info.out.find(signing::fingerprint(**mine)) != std::string::npos);
    CHECK(info.out.find(secret->value().substr(0, 16)) == std::string::npos);
}

TEST_CASE("a device enrolled before collectors had keys gets the key at its next pull") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    auto connection = test::enrolDevice(device, collector);
    REQUIRE(device.clearSetting(identity::kCollectorKeySetting));
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    auto kept = identity::collectorKey(device);
    REQUIRE(kept);
    REQUIRE(kept->has_value());
    CHECK(toHex(**kept) == printedKey(collector));
}

TEST_CASE("a collector answering with another key is refused and the kept key stays") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::publishPilotForms(collector);
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    auto connection = test::enrolDevice(device, collector);
    // The device trusts another key (as if it had been enrolled with another collector).
    const auto other = signing::newKeyPair().publicKey();
    REQUIRE(device.setSetting(identity::kCollectorKeySetting, toHex(other)));

    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_FALSE(round);
    CHECK(round.error().code == ErrorCode::WrongState);
    CHECK(round.error().message.find("another signing key") != std::string::npos);
    CHECK(round.error().message.find(signing::fingerprint(other)) != std::string::npos);
    auto kept = identity::collectorKey(device);
    REQUIRE(kept);
    CHECK(**kept == other);
    // Nothing of that answer was used: no form was installed.
    auto forms = device.forms();
    REQUIRE(forms);
    CHECK(forms->empty());

    // The runner shows it to the user as the round's error.
    const auto shown = sync::runRound(dir.file("device.veld"), {});
    CHECK(shown.outcome == sync::Round::Outcome::Failed);
    CHECK(shown.error.find("another signing key") != std::string::npos);

    // A new enrolment (staff's code) accepts the collector's key.
    connection = test::enrolDevice(device, collector);
    kept = identity::collectorKey(device);
    REQUIRE(kept);
    CHECK(toHex(**kept) == printedKey(collector));
    CHECK(sync::syncOnce(device, connection, {}));
}
