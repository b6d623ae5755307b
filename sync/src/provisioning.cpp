// Provisioning files: see provisioning.hpp and docs/provisioning.md.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>

#include <sodium.h>

#include <veld/device_identity.hpp>
#include <veld/hex.hpp>
#include <veld/platform/files.hpp>
#include <veld/platform/time.hpp>
#include <veld/signing.hpp>
#include <veld/sync/device_bundle.hpp>
#include <veld/sync/provisioning.hpp>
#include <veld/sync/uploader.hpp>

#include "certificate_check.hpp"
#include "json_text.hpp"

namespace veld::sync {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxCodeBytes = 128;
constexpr std::size_t kMaxLabelBytes = 200;
// Folders looked through on one medium, so a stick full of files cannot stall the scan.
constexpr int kMaxEntriesPerMedium = 5000;

Error invalid(const std::string& message) {
    return makeError(ErrorCode::InvalidArgument, "not a usable provisioning file: " + message);
}

std::string utcText(std::int64_t ms) {
    const auto t = static_cast<std::time_t>(ms / 1000);
    const std::tm tm = platform::utcCalendar(t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

Status checkFields(const Provisioning& p) {
    if (!p.forFiles() || !p.collector.empty()) {
        if (auto s = checkUrl(p.collector, false); !s) return invalid(s.error().message);
    }
    if (p.forFiles()) {
        auto key = fromHex(p.collectorKey);
        if (!key || key->size() != 32) return invalid("the collector's key is not 64 hex digits");
        if (p.collectorId.empty() || p.collectorId.size() > kMaxLabelBytes)
            return invalid("the collector's id is empty or too long");
    }
    if (!p.caPem.empty()) {
        if (auto s = checkCertificatePem(p.caPem); !s) return invalid(s.error().message);
    }
    if (p.code.empty() || p.code.size() > kMaxCodeBytes)
        return invalid("the enrolment code is empty or too long");
    if (p.label.size() > kMaxLabelBytes)
        return invalid("the label is longer than " + std::to_string(kMaxLabelBytes) + " bytes");
    if (p.expiresUtcMs <= 0) return invalid("it has no expiry time");
    return {};
}

// Reads at most `limit` + 1 bytes of a regular file.
Result<std::string> readSmallFile(const std::string& path, std::size_t limit) {
    auto text = platform::readFile(path, limit);
    if (!text && text.error().code == ErrorCode::InvalidArgument)
        return invalid(path + " is not a regular file");
    return text;
}

// An enrolment for sync by file: see enrolFromFile.
Result<ProvisionedEnrolment> enrolForFiles(Store& store, const Provisioning& p) {
    auto credential = store.setting("sync.credential");
    if (!credential) return credential.error();
    if (credential.value() && !credential.value()->empty())
        return makeError(ErrorCode::WrongState,
                         "this device is enrolled with a collector already; nothing was changed");
    auto key = signing::parsePublicKey(p.collectorKey, "the collector's key");
    if (!key) return invalid(key.error().message);
    if (auto made = identity::ensureDeviceKey(store); !made) return made.error();
    auto batch = store.beginBatch();
    if (!batch) return batch.error();
    if (auto s = identity::keepCollectorKey(store, key.value(), identity::KeySource::Enrolment); !s)
        return s.error();
    for (const auto& [name, value] :
         {std::pair<std::string_view, const std::string&>{"sync.collector_id", p.collectorId},
          {kDeviceLabelSetting, p.label},
          {kBundleEnrolCodeSetting, p.code}}) {
        if (auto s = store.setSetting(name, value); !s) return s.error();
    }
    if (auto s = batch->commit(); !s) return s.error();
    ProvisionedEnrolment out;
    out.label = p.label;
    out.collectorId = p.collectorId;
    return out;
}

}  // namespace

Status checkCertificatePem(std::string_view pem) {
    if (pem.size() > kMaxProvisioningBytes)
        return makeError(ErrorCode::InvalidArgument, "the certificate is larger than 64 KiB");
    if (pem.find("PRIVATE KEY") != std::string_view::npos) {
        return makeError(ErrorCode::InvalidArgument,
                         "the PEM holds a private key: give the certificate, never its key");
    }
    // Every PEM block must be a certificate, and each must parse.
    std::size_t blocks = 0;
    for (std::size_t at = pem.find("-----BEGIN "); at != std::string_view::npos;
         at = pem.find("-----BEGIN ", at + 1)) {
        if (pem.substr(at, 27) != "-----BEGIN CERTIFICATE-----") {
            return makeError(ErrorCode::InvalidArgument,
                             "the PEM holds something other than certificates");
        }
        ++blocks;
    }
    if (blocks == 0) {
        return makeError(ErrorCode::InvalidArgument,
                         "not a PEM certificate (no -----BEGIN CERTIFICATE----- line)");
    }
    const std::size_t parsed = detail::readableCertificates(pem);
    if (parsed != blocks) {
        return makeError(ErrorCode::InvalidArgument,
                         "a certificate in the PEM is damaged (" + std::to_string(parsed) + " of " +
                             std::to_string(blocks) + " could be read)");
    }
    return {};
}

Result<std::string> provisioningJson(const Provisioning& p) {
    if (auto s = checkFields(p); !s) return s.error();
    const auto q = [](std::string_view text) { return detail::quoted(text); };
    const std::string forFiles = p.forFiles() ? ",\n  \"collector_id\": " + q(p.collectorId) +
                                                    ",\n  \"collector_key\": " + q(p.collectorKey)
                                              : std::string();
    return "{\n  \"format\": " + q(kProvisioningFormat) + ",\n  \"version\": " +
           std::to_string(p.forFiles() ? kOfflineProvisioningVersion : kProvisioningVersion) +
           ",\n  \"collector\": " + q(p.collector) + ",\n  \"ca_pem\": " + q(p.caPem) +
           ",\n  \"code\": " + q(p.code) + ",\n  \"label\": " + q(p.label) +
           ",\n  \"expires_utc_ms\": " + std::to_string(p.expiresUtcMs) + forFiles + "\n}\n";
}

Result<Provisioning> parseProvisioning(std::string_view text) {
    if (text.size() > kMaxProvisioningBytes) return invalid("it is larger than 64 KiB");
    auto doc = detail::parseJson(text);
    if (!doc) return invalid("damaged JSON: " + doc.error().message);
    const detail::Json& root = doc.value();
    if (root.type != detail::Json::Type::Object) return invalid("it is not a JSON object");
    const detail::Json* format = detail::member(root, "format");
    if (!format || format->type != detail::Json::Type::String ||
        format->text != kProvisioningFormat) {
        return invalid("it is not a Veld provisioning file (its \"format\" is not \"" +
                       std::string(kProvisioningFormat) + "\")");
    }
    const detail::Json* version = detail::member(root, "version");
    if (!version) return invalid("it has no \"version\"");
    auto v = detail::asWholeNumber(*version, "\"version\"", 1'000'000);
    if (!v) return invalid(v.error().message);
    if (v.value() > kOfflineProvisioningVersion) {
        return makeError(ErrorCode::TooNew, "this provisioning file is of version " +
                                                std::to_string(v.value()) +
                                                ", made by a newer Veld; this one reads versions " +
                                                std::to_string(kProvisioningVersion) + " and " +
                                                std::to_string(kOfflineProvisioningVersion));
    }
    if (v.value() != kProvisioningVersion && v.value() != kOfflineProvisioningVersion)
        return invalid("unknown version " + std::to_string(v.value()));
    const bool forFiles = v.value() == kOfflineProvisioningVersion;
    if (auto s = forFiles ? detail::onlyKeys(
                                root, "the provisioning file",
                                {"format", "version", "collector", "ca_pem", "code", "label",
                                 "expires_utc_ms", "collector_id", "collector_key"})
                          : detail::onlyKeys(root, "the provisioning file",
                                             {"format", "version", "collector", "ca_pem", "code",
                                              "label", "expires_utc_ms"});
        !s)
        return invalid(s.error().message);
    Provisioning out;
    std::vector<std::pair<const char*, std::string*>> fields{{"collector", &out.collector},
                                                             {"ca_pem", &out.caPem},
                                                             {"code", &out.code},
                                                             {"label", &out.label}};
    if (forFiles) {
        fields.emplace_back("collector_id", &out.collectorId);
        fields.emplace_back("collector_key", &out.collectorKey);
    }
    for (const auto& [name, target] : fields) {
        const detail::Json* m = detail::member(root, name);
        if (!m) return invalid("it has no \"" + std::string(name) + "\"");
        auto s = detail::asString(*m, "\"" + std::string(name) + "\"");
        if (!s) return invalid(s.error().message);
        *target = std::move(s.value());
    }
    const detail::Json* expires = detail::member(root, "expires_utc_ms");
    if (!expires) return invalid("it has no \"expires_utc_ms\"");
    auto e = detail::asWholeNumber(*expires, "\"expires_utc_ms\"", INT64_MAX / 2);
    if (!e) return invalid(e.error().message);
    out.expiresUtcMs = e.value();
    if (auto s = checkFields(out); !s) return s.error();
    return out;
}

Status writeProvisioningFile(const std::string& path, const Provisioning& p) {
    auto text = provisioningJson(p);
    if (!text) return text.error();
    auto file =
        platform::File::create(path, platform::File::Create::Exclusive, platform::Access::Private);
    if (!file) {
        if (file.error().code == ErrorCode::WrongState)
            return makeError(ErrorCode::WrongState, path + " exists already; nothing written");
        return file.error();
    }
    Status s = file->write(text.value());
    if (s) s = file->sync();
    if (s) s = file->close();
    if (!s) {
        (void)file->close();
        (void)platform::removeFile(path);
    }
    return s;
}

Result<Provisioning> readProvisioningFile(const std::string& path) {
    auto text = readSmallFile(path, kMaxProvisioningBytes);
    if (!text) return text.error();
    if (text->size() > kMaxProvisioningBytes) return invalid("it is larger than 64 KiB");
    return parseProvisioning(text.value());
}

std::string collectorCaFileName(std::string_view pem) {
    std::uint8_t hash[8];
    crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(pem.data()),
                       pem.size(), nullptr, 0);
    return "collector-ca-" + toHex(std::span<const std::uint8_t>(hash, sizeof hash)) + ".pem";
}

Result<ProvisionedEnrolment> enrolFromFile(Store& store, const std::string& path,
                                           std::int64_t nowUtcMs) {
    auto p = readProvisioningFile(path);
    if (!p) return p.error();
    if (nowUtcMs > p->expiresUtcMs) {
        return makeError(ErrorCode::WrongState, "this provisioning file expired at " +
                                                    utcText(p->expiresUtcMs) +
                                                    "; ask central staff for a new one");
    }
    if (p->forFiles() && p->collector.empty()) return enrolForFiles(store, p.value());
    ProvisionedEnrolment out;
    out.label = p->label;
    out.collector = p->collector;
    bool madeCaFile = false;
    if (!p->caPem.empty()) {
        std::error_code ec;
        const fs::path folder = fs::absolute(platform::fsPath(store.path()), ec).parent_path();
        if (ec) return makeError(ErrorCode::Io, "cannot find the store's folder: " + ec.message());
        out.caFile = platform::utf8Path(folder / collectorCaFileName(p->caPem));
        // Named by its content: a file of that name holding other bytes was changed by someone.
        auto existing = readSmallFile(out.caFile, kMaxProvisioningBytes);
        if (!existing || existing.value() != p->caPem) {
            madeCaFile = !existing;
            if (auto s =
                    platform::writeFileAtomically(out.caFile, p->caPem, platform::Access::Public);
                !s)
                return s.error();
        }
    }
    auto reply = enrol(store, p->collector, p->code, out.caFile, false);
    if (!reply) {
        auto kept = store.setting("sync.ca_file");
        const bool inUse = kept && kept.value() && *kept.value() == out.caFile;
        if (madeCaFile && !inUse) (void)platform::removeFile(out.caFile);
        Error e = reply.error();
        e.message = p->collector + ": " + e.message;
        return e;
    }
    out.collectorId = reply->collectorId;
    return out;
}

std::vector<std::string> removableMediaRoots() {
    std::vector<std::string> roots;
    if (const char* env = std::getenv("VELD_MEDIA_ROOTS")) {
        const std::string list(env);
        for (std::size_t start = 0; start <= list.size();) {
            const auto colon = std::min(list.find(':', start), list.size());
            if (colon > start) roots.push_back(list.substr(start, colon - start));
            start = colon + 1;
        }
        return roots;
    }
    roots.emplace_back("/media");
    const char* user = std::getenv("USER");
    if (user && *user && std::strchr(user, '/') == nullptr) {
        roots.push_back(std::string("/media/") + user);
        roots.push_back(std::string("/run/media/") + user);
    }
    return roots;
}

std::vector<std::string> mountedMedia(const std::vector<std::string>& roots) {
    std::set<std::string> found;
    const std::set<std::string> rootSet(roots.begin(), roots.end());
    for (const auto& root : roots) {
        std::error_code ec;
        for (auto medium = fs::directory_iterator(platform::fsPath(root), ec);
             !ec && medium != fs::directory_iterator(); medium.increment(ec)) {
            std::error_code dirEc;
            const std::string path = platform::utf8Path(medium->path());
            // /media/$USER is a root of its own: its folders are the media.
            if (medium->is_directory(dirEc) && !rootSet.count(path)) found.insert(path);
        }
    }
    return {found.begin(), found.end()};
}

std::vector<std::string> findProvisioningFiles(const std::vector<std::string>& roots) {
    return findFilesOnMedia(roots, kProvisioningExtension);
}

std::vector<std::string> findFilesOnMedia(const std::vector<std::string>& roots,
                                          std::string_view extension) {
    std::set<std::string> found;
    const auto matches = [extension](const fs::directory_entry& e) {
        std::error_code ec;
        return platform::utf8Path(e.path().extension()) == extension && e.is_regular_file(ec);
    };
    for (const auto& root : roots) {
        std::error_code ec;
        for (auto medium = fs::directory_iterator(platform::fsPath(root), ec);
             !ec && medium != fs::directory_iterator(); medium.increment(ec)) {
            std::error_code dirEc;
            if (!medium->is_directory(dirEc)) continue;
            int seen = 0;
            std::error_code topEc;
            for (auto entry = fs::directory_iterator(medium->path(), topEc);
                 !topEc && entry != fs::directory_iterator() && seen < kMaxEntriesPerMedium;
                 entry.increment(topEc), ++seen) {
                if (matches(*entry)) {
                    found.insert(platform::utf8Path(entry->path()));
                    continue;
                }
                std::error_code subEc;
                if (!entry->is_directory(subEc)) continue;
                for (auto inner = fs::directory_iterator(entry->path(), subEc);
                     !subEc && inner != fs::directory_iterator() && seen < kMaxEntriesPerMedium;
                     inner.increment(subEc), ++seen) {
                    if (matches(*inner)) found.insert(platform::utf8Path(inner->path()));
                }
            }
        }
    }
    return {found.begin(), found.end()};
}

std::string installedProvisioningFolder() {
    if (const char* env = std::getenv("VELD_PROVISIONING_FOLDER"); env && *env) return env;
    return platform::machineFolder();
}

std::vector<std::string> findInstalledProvisioningFiles(const std::string& folder) {
    std::set<std::string> found;
    std::error_code ec;
    int seen = 0;
    for (auto entry = fs::directory_iterator(platform::fsPath(folder), ec);
         !ec && entry != fs::directory_iterator() && seen < kMaxEntriesPerMedium;
         entry.increment(ec), ++seen) {
        std::error_code fileEc;
        if (entry->path().extension() != kProvisioningExtension || !entry->is_regular_file(fileEc))
            continue;
        // Only what an administrator (the installer) or this user put there: another user of
        // the machine must not choose the collector this user's records go to.
        const std::string file = platform::utf8Path(entry->path());
        if (platform::trustedOwner(file)) found.insert(file);
    }
    return {found.begin(), found.end()};
}

Result<std::string> installProvisioningFile(const std::string& path, const std::string& folder) {
    auto text = readSmallFile(path, kMaxProvisioningBytes);
    if (!text) return text.error();
    if (text->size() > kMaxProvisioningBytes) return invalid("it is larger than 64 KiB");
    if (auto checked = parseProvisioning(text.value()); !checked) return checked.error();
    std::error_code ec;
    fs::create_directories(platform::fsPath(folder), ec);
    if (ec) return makeError(ErrorCode::Io, "cannot make " + folder + ": " + ec.message());
    const std::string target = platform::utf8Path(
        (platform::fsPath(folder) / platform::fsPath(path).filename()).lexically_normal());
    if (auto s = platform::writeFileAtomically(target, text.value(), platform::Access::Public); !s)
        return s.error();
    return target;
}

Result<std::size_t> removeInstalledProvisioningFiles(const std::string& folder) {
    std::size_t removed = 0;
    for (const auto& file : findInstalledProvisioningFiles(folder)) {
        if (auto gone = platform::removeFile(file); !gone) return gone.error();
        ++removed;
    }
    return removed;
}

InstalledEnrolment enrolFromInstalledFiles(Store& store, const std::string& folder,
                                           std::int64_t nowUtcMs) {
    InstalledEnrolment out;
    const auto credential = store.setting("sync.credential");
    if (!credential) {
        out.error = credential.error().message;
        return out;
    }
    if (credential.value() && !credential.value()->empty()) return out;
    const auto triedSetting = store.setting(kInstalledFilesTriedSetting);
    std::string tried = triedSetting && triedSetting.value() ? *triedSetting.value() : "";
    std::set<std::string> triedFiles;
    for (std::size_t start = 0; start < tried.size();) {
        const auto end = std::min(tried.find('\n', start), tried.size());
        triedFiles.insert(tried.substr(start, end - start));
        start = end + 1;
    }
    for (const auto& file : findInstalledProvisioningFiles(folder)) {
        if (triedFiles.count(file)) continue;
        out.file = file;
        auto done = enrolFromFile(store, file, nowUtcMs);
        if (done) {
            out.ok = true;
            out.error.clear();
            out.enrolment = std::move(done.value());
            return out;
        }
        out.error = done.error().message;
        // The collector out of reach (offline, a 5xx): the file is tried again at the next start.
        if (done.error().code == ErrorCode::Io) continue;
        tried += file + "\n";
        if (auto saved = store.setSetting(kInstalledFilesTriedSetting, tried); !saved) {
            out.error = saved.error().message;
            return out;
        }
    }
    return out;
}

}  // namespace veld::sync
