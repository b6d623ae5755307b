#include <veld/device_identity.hpp>
#include <veld/hex.hpp>

namespace veld::identity {

namespace {

// A public key kept in a setting; nothing when it is absent, Corrupt when it is damaged.
Result<std::optional<signing::PublicKey>> keyIn(Store& store, std::string_view setting,
                                                std::string_view what) {
    auto text = store.setting(setting);
    if (!text) return text.error();
    if (!text.value() || text.value()->empty()) return std::optional<signing::PublicKey>{};
    auto key = signing::parsePublicKey(**text, what);
    if (!key) return makeError(ErrorCode::Corrupt, key.error().message);
    return std::optional<signing::PublicKey>(key.value());
}

}  // namespace

Result<std::optional<signing::PublicKey>> devicePublicKey(Store& store) {
    return keyIn(store, kSignPublicKeySetting, "the device's signing key");
}

Result<signing::PublicKey> ensureDeviceKey(Store& store) {
    auto existing = devicePublicKey(store);
    if (!existing) return existing.error();
    if (existing.value()) return *existing.value();
    if (store.readOnly())
        return makeError(ErrorCode::ReadOnly,
                         "the device has no signing key yet and its store is read-only");
    const signing::SecretSigningKey key = signing::newKeyPair();
    const signing::PublicKey pk = key.publicKey();
    // Both halves in one durable transaction: a key pair is never left half written.
    auto batch = store.beginBatch();
    if (!batch) return batch.error();
    std::string secretHex = toHex(key.bytes());
    Status put = store.setSetting(kSignSecretKeySetting, secretHex);
    std::fill(secretHex.begin(), secretHex.end(), '\0');
    if (!put) return put.error();
    if (auto s = store.setSetting(kSignPublicKeySetting, toHex(pk)); !s) return s.error();
    if (auto s = batch->commit(); !s) return s.error();
    return pk;
}

Result<signing::Signature> signAsDevice(Store& store, std::span<const std::uint8_t> message) {
    auto pk = ensureDeviceKey(store);
    if (!pk) return pk.error();
    auto text = store.setting(kSignSecretKeySetting);
    if (!text) return text.error();
    if (!text.value())
        return makeError(ErrorCode::Corrupt, "the device's secret signing key is missing");
    auto key = signing::parseSecretKey(**text, "the device's secret signing key");
    std::fill(text.value()->begin(), text.value()->end(), '\0');
    if (!key) return key.error();
    if (key->publicKey() != pk.value())
        return makeError(ErrorCode::Corrupt,
                         "the device's signing keys do not belong together (the store is damaged)");
    return signing::sign(key.value(), message);
}

Result<std::optional<signing::PublicKey>> collectorKey(Store& store) {
    return keyIn(store, kCollectorKeySetting, "the collector's key kept on this device");
}

Status keepCollectorKey(Store& store, const signing::PublicKey& key, KeySource source) {
    auto kept = collectorKey(store);
    if (!kept) return kept.error();
    if (kept.value() && *kept.value() == key) return {};
    if (kept.value() && source == KeySource::Pull) {
        return makeError(ErrorCode::WrongState,
                         std::string(kOtherCollectorKeyError) + " (fingerprint " +
                             signing::fingerprint(key) + ") than the one this device keeps (" +
                             signing::fingerprint(*kept.value()) +
                             "); nothing was changed. Ask central staff: the device may be "
                             "talking to another collector. Enrolling the device again accepts "
                             "a new key");
    }
    return store.setSetting(kCollectorKeySetting, toHex(key));
}

}  // namespace veld::identity
