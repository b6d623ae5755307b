// The device's side of sync by file (veld/sync/bundle.hpp): writing its outbox as a bundle for
// the collector, and importing the collector's reply, which it applies as the uploader applies a
// network round's answers (device_replies.hpp). A device that is never online enrols this way too:
// an offline provisioning file gives it the collector's id and key and a one-time code, and its
// bundles carry its enrolment until a reply brings the collector's answer.
//
// Guarantees: exporting changes nothing but the device's bundle number (numbers only grow; a
// number whose file was never written is simply skipped). Importing a reply is one transaction: a
// reply that is damaged, foreign (another device's, another collector's), not signed by the
// collector, or older than one imported already is refused and changes nothing. Re-exporting
// before a reply came carries the same records again: the collector answers them as duplicates.
//
// Thread-safety: as the Store passed in (one thread at a time per Store).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <veld/result.hpp>
#include <veld/store.hpp>
#include <veld/sync/bundle.hpp>
#include <veld/sync/uploader.hpp>

namespace veld::sync {

/// Device settings of sync by file. The enrolment code is a secret: never show or log it.
inline constexpr std::string_view kBundleNumberSetting = "bundle.number";         // last made
inline constexpr std::string_view kBundleReplySetting = "bundle.reply_number";    // last imported
inline constexpr std::string_view kBundleEnrolCodeSetting = "bundle.enrol_code";  // until enrolled
inline constexpr std::string_view kDeviceLabelSetting = "sync.label";

/// The keys a device's bundles need: its own signature, and the collector's public key (to check
/// replies, and in its X25519 form to seal bundles to).
struct DeviceBundleKeys {
    bundle::Signer sign;
    bundle::Sealer sealToCollector;
    bundle::VerifyKey collector{};
    bundle::VerifyKey device{};  // the device's own public signing key (sent when it enrols)
};

/// The device's keys as its store keeps them. NotFound (with what to do) when the device does not
/// know its collector's key: it must be enrolled first, by network or by file.
Result<DeviceBundleKeys> deviceBundleKeys(Store& store);

struct BundleExport {
    std::string path;
    std::uint64_t number = 0;
    std::uint64_t firstSeq = 0;  // 0..0: no records waiting
    std::uint64_t lastSeq = 0;
    std::int64_t records = 0;
    bool enrols = false;  // carries the device's enrolment
    std::size_t bytes = 0;
};

/// The file name of a device's bundle or reply: veld-LABEL-N.veldbundle (or .veldreply), LABEL
/// being the device's label when it has one (letters, digits, '-' and '_' kept), else the first
/// eight digits of its id.
std::string bundleFileName(Store& store, std::uint64_t number, bool reply = false);

/// Writes the outbox from the last acknowledged revision on (as many as fit in a bundle), the
/// pull request and, while the device awaits the answer to its enrolment by file, its
/// enrolment, as the device's next bundle, to `path` (mode 0600, whole or not at all).
Result<BundleExport> exportBundle(Store& store, const std::string& path, std::int64_t nowMs,
                                  const DeviceBundleKeys& keys);
Result<BundleExport> exportBundle(Store& store, const std::string& path, std::int64_t nowMs);
/// As exportBundle, into `folder` (a USB stick) under bundleFileName().
Result<BundleExport> exportBundleTo(Store& store, const std::string& folder, std::int64_t nowMs,
                                    const DeviceBundleKeys& keys);
Result<BundleExport> exportBundleTo(Store& store, const std::string& folder, std::int64_t nowMs);

struct ReplyImport {
    enum class Outcome { Imported, AlreadyImported };
    Outcome outcome = Outcome::Imported;
    std::uint64_t number = 0;        // the bundle it answers
    std::uint64_t acknowledged = 0;  // revisions that left the outbox
    std::int64_t rejected = 0;       // revisions the collector kept aside, with a reason
    bool enrolled = false;           // the reply completed the device's enrolment
    Progress progress;               // forms, cases and blocks received
};

/// Imports a reply bundle (see above). Corrupt for a damaged or forged reply, WrongState for
/// another device's or collector's, or one older than a reply imported already. The same reply
/// again is AlreadyImported and changes nothing.
Result<ReplyImport> importReply(Store& store, std::span<const std::uint8_t> bytes,
                                const DeviceBundleKeys& keys);
Result<ReplyImport> importReply(Store& store, std::span<const std::uint8_t> bytes);

/// Why exporting a bundle or importing a reply failed, for a message in the user's language.
enum class BundleProblem {
    Damaged,         // damaged, cut short, or not a Veld bundle
    TooNew,          // made by a newer Veld
    NotAReply,       // a device's bundle, not a reply
    OtherDevice,     // a reply for another device
    OtherCollector,  // a reply from another collector
    NotSigned,       // not signed by this device's collector
    NeverMade,       // answers a bundle this device never made
    Older,           // older than a reply imported already
    NotEnrolled,     // the device has no collector (key) yet
    ReceiptRefused,  // the collector's receipt does not match what the device sent
    Other,           // anything else (the disk, the store): the error's own words
};
BundleProblem bundleProblem(const Error& error);

/// Of `files` (replies found on media: findFilesOnMedia with bundle::kReplyExtension), the one
/// for this device with the highest bundle number; empty when there is none. Files that cannot
/// be read or are not replies are passed over.
std::string newestReply(Store& store, const std::vector<std::string>& files);

}  // namespace veld::sync
