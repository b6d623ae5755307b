// Provisioning files (FILE.veldenrol): everything a device needs to enrol with a collector, in one
// small file that central staff make (veldctl collector provision) and hand over, e.g. on a USB
// stick: the collector's address, its certificate or CA, a one-time enrolment code, the device's
// label and when the file expires. The format is JSON, described in docs/provisioning.md.
//
// The file holds a secret (the code): it is written 0600 and never printed. The code stays
// one-time at the collector, so a file enrols one device once.
//
// Thread-safety: plain functions; enrolFromFile uses the store like sync::enrol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>
#include <veld/store.hpp>

namespace veld::sync {

/// The value of the file's "format" member, and the one version this Veld reads and writes.
inline constexpr std::string_view kProvisioningFormat = "veld-enrol";
inline constexpr std::int64_t kProvisioningVersion = 1;
/// Version 2: an enrolment for sync by file (a device that is never online). It adds the
/// collector's id and public key, and its collector address may be empty.
inline constexpr std::int64_t kOfflineProvisioningVersion = 2;
/// A provisioning file is refused unread past this size (a CA bundle of a few dozen certificates
/// fits; a file that large is not one).
inline constexpr std::size_t kMaxProvisioningBytes = 64 * 1024;
inline constexpr std::string_view kProvisioningExtension = ".veldenrol";

struct Provisioning {
    std::string collector;  // base URL (sync::checkUrl rules, without --allow-http)
    std::string caPem;      // PEM certificate(s) to trust; empty: the system's CAs
    std::string code;       // the one-time enrolment code: a secret
    std::string label;      // the device's label at the collector
    std::int64_t expiresUtcMs = 0;
    /// Version 2 only (sync by file): the collector's id and its public signing key (64 hex
    /// digits). A file with a key is written as version 2.
    std::string collectorId;
    std::string collectorKey;
    [[nodiscard]] bool forFiles() const { return !collectorKey.empty(); }
};

/// Succeeds when `pem` holds one or more PEM certificates and nothing else (no private key).
Status checkCertificatePem(std::string_view pem);

/// The file's text; InvalidArgument when a field breaks the rules parseProvisioning checks.
Result<std::string> provisioningJson(const Provisioning& provisioning);

/// Reads a provisioning file's text strictly: JSON, the format tag, version 1 or 2, exactly the
/// known members, a usable address (version 2: or none), certificates that parse, a code (and
/// for version 2 a collector id and key). InvalidArgument for a damaged or foreign file, TooNew
/// for a later version. Expiry is not checked here (enrolFromFile does).
Result<Provisioning> parseProvisioning(std::string_view text);

/// Writes a new provisioning file with mode 0600; refuses (WrongState) when `path` exists.
Status writeProvisioningFile(const std::string& path, const Provisioning& provisioning);

/// Reads and checks a provisioning file (at most kMaxProvisioningBytes).
Result<Provisioning> readProvisioningFile(const std::string& path);

/// The file name the certificate of a provisioning file is kept under, in the device store's
/// folder: collector-ca-HASH.pem, named by its content, so keeping a new one never changes a
/// certificate an enrolled store relies on.
std::string collectorCaFileName(std::string_view pem);

struct ProvisionedEnrolment {
    std::string label;
    std::string collector;    // the address
    std::string collectorId;  // as the collector said
    std::string caFile;       // the certificate kept for the store; empty: the system's CAs
};

/// Enrols `store` with what the provisioning file `path` says: refuses an expired file before
/// contacting the collector (WrongState), keeps the certificate next to the store (mode 0644),
/// then enrols with sync::enrol. On any failure the store's enrolment is unchanged and a
/// certificate file made for it is removed again. A file for sync by file (version 2 without
/// an address) contacts nobody: the store keeps the collector's id and key, its label and the
/// code, and its next bundle (device_bundle.hpp) carries its enrolment; WrongState for a store
/// enrolled already.
Result<ProvisionedEnrolment> enrolFromFile(Store& store, const std::string& path,
                                           std::int64_t nowUtcMs);

/// Folders where removable media are mounted, in order: the ':'-separated list in the
/// environment variable VELD_MEDIA_ROOTS when set, else /media, /media/$USER and /run/media/$USER.
std::vector<std::string> removableMediaRoots();

/// Provisioning files (*.veldenrol) on mounted media: in each folder directly inside a root, and
/// one level further down; sorted, without duplicates. Unreadable folders are skipped.
std::vector<std::string> findProvisioningFiles(const std::vector<std::string>& roots);
/// Files whose name ends in `extension` (".veldreply"), found as findProvisioningFiles finds its.
std::vector<std::string> findFilesOnMedia(const std::vector<std::string>& roots,
                                          std::string_view extension);
/// The mounted media: the folders directly inside the roots (not those that are roots
/// themselves, as /media/$USER inside /media), sorted.
std::vector<std::string> mountedMedia(const std::vector<std::string>& roots);

/// The folder an installer leaves a provisioning file in for the machine's users (the MSI's
/// VELDENROL): VELD_PROVISIONING_FOLDER when set, else platform::machineFolder()
/// (%ProgramData%\Veld on Windows, /etc/veld on Linux).
std::string installedProvisioningFolder();

/// Provisioning files (*.veldenrol) directly in `folder`, sorted; none when it is missing. Files
/// owned by another ordinary user of the machine are left out (platform::trustedOwner).
std::vector<std::string> findInstalledProvisioningFiles(const std::string& folder);

/// Installs the provisioning file `path` for the machine's users (an MSI's VELDENROL): checks it
/// as readProvisioningFile does (not its expiry), makes `folder` when missing and writes the file
/// there under its own name, replacing one of that name. The copy is readable by every user of
/// the machine, whose first start enrols with it: its code enrols one store once. Returns the
/// copy's path.
Result<std::string> installProvisioningFile(const std::string& path, const std::string& folder);

/// Removes the provisioning files directly in `folder` (uninstalling); the folder stays. Returns
/// how many were removed.
Result<std::size_t> removeInstalledProvisioningFiles(const std::string& folder);

/// What enrolFromInstalledFiles did: nothing (`file` empty), or tried `file` with this outcome.
struct InstalledEnrolment {
    std::string file;
    bool ok = false;
    ProvisionedEnrolment enrolment;  // when ok
    std::string error;               // when not ok
};

/// The store setting that lists, one per line, the installed provisioning files a store tried.
inline constexpr std::string_view kInstalledFilesTriedSetting = "sync.installed_files_tried";

/// A client's first start: when `store` is not enrolled, enrols it from the provisioning files
/// in `folder` it has not tried before, in order, until one succeeds (as enrolFromFile). A
/// file that failed is not tried again by this store (a spent code or a broken file is not
/// reported at every start), except when the collector could not be reached (ErrorCode::Io).
/// Nothing happens for an enrolled store or when there is no new file. The outcome is the
/// success, else the last failure.
InstalledEnrolment enrolFromInstalledFiles(Store& store, const std::string& folder,
                                           std::int64_t nowUtcMs);

}  // namespace veld::sync
