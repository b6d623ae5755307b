// The keys a device's bundles need, as its store keeps them (veld/device_identity.hpp): see
// device_bundle.hpp.
#include <veld/device_identity.hpp>
#include <veld/sync/collector_identity.hpp>
#include <veld/sync/device_bundle.hpp>

namespace veld::sync {

Result<DeviceBundleKeys> deviceBundleKeys(Store& store) {
    auto collector = identity::collectorKey(store);
    if (!collector) return collector.error();
    if (!collector.value())
        return makeError(ErrorCode::NotFound,
                         "this device does not know its collector's key: enrol it first (by "
                         "network, or with an enrolment file for sync by USB stick), or sync "
                         "once by network");
    auto device = identity::ensureDeviceKey(store);
    if (!device) return device.error();
    DeviceBundleKeys keys;
    keys.collector = *collector.value();
    keys.device = device.value();
    keys.sign = [&store](std::span<const std::uint8_t> message) -> Result<bundle::Signature> {
        return identity::signAsDevice(store, message);
    };
    keys.sealToCollector = [key = *collector.value()](std::span<const std::uint8_t> plain) {
        return sealToCollector(key, plain);
    };
    return keys;
}

Result<BundleExport> exportBundle(Store& store, const std::string& path, std::int64_t nowMs) {
    auto keys = deviceBundleKeys(store);
    if (!keys) return keys.error();
    return exportBundle(store, path, nowMs, keys.value());
}

Result<BundleExport> exportBundleTo(Store& store, const std::string& folder, std::int64_t nowMs) {
    auto keys = deviceBundleKeys(store);
    if (!keys) return keys.error();
    return exportBundleTo(store, folder, nowMs, keys.value());
}

Result<ReplyImport> importReply(Store& store, std::span<const std::uint8_t> bytes) {
    auto keys = deviceBundleKeys(store);
    if (!keys) return keys.error();
    return importReply(store, bytes, keys.value());
}

}  // namespace veld::sync
