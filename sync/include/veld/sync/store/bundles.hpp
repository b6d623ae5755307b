// The collector's store, bundles domain: what importing a device's bundle (sync by file, see
// veld/sync/bundle.hpp) is checked against, and the mark an import leaves. The bundle's records
// themselves go through RecordStore::push and its pull through RecordStore::pull, as a network
// round's do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <veld/result.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

/// A device's last imported bundle: its number and the digest of its payload.
struct BundleMark {
    std::uint64_t number = 0;
    std::vector<std::uint8_t> digest;
};

/// What an import checks a device's bundle against.
struct BundleDevice {
    std::vector<std::uint8_t> publicKey;  // its Ed25519 key from enrolment; empty: none said
    bool revoked = false;
    std::uint64_t receivedThrough = 0;  // every seq through this one is held
    std::optional<BundleMark> last;     // none imported yet
};

class BundleLedger {
  public:
    virtual ~BundleLedger() = default;

    /// The device as a bundle import needs it; nullopt for a device not enrolled here.
    virtual Result<std::optional<BundleDevice>> bundleDevice(const Uuid& deviceId) = 0;
    /// Keeps `mark` as the device's last imported bundle and writes `audit` (action, detail) in
    /// the audit log, in one transaction. Never put answers or secrets in `detail`.
    virtual Status markBundle(const Uuid& deviceId, const BundleMark& mark, std::int64_t nowMs,
                              const std::string& actor, const std::string& action,
                              const std::string& detail) = 0;
};

}  // namespace veld::sync
