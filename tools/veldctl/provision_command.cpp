// veldctl collector provision: a provisioning file (FILE.veldenrol) for one device, holding the
// collector's address and certificate and a one-time enrolment code (sync/provisioning.hpp).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include <veld/hex.hpp>
#include <veld/platform/files.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/provisioning.hpp>
#include <veld/sync/uploader.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kProvisionUsage =
    R"(usage: veldctl collector provision FILE --label NAME --url URL [--ca PEM] [--valid DAYS]
                                  -o OUTPUT.veldenrol
       veldctl collector provision FILE --label NAME --offline [--valid DAYS] -o OUTPUT.veldenrol

Writes a provisioning file for one device: the collector's address (URL, as devices reach it),
the certificate devices trust for it (--ca: the collector's own certificate or its CA, embedded;
without --ca an https collector must have a certificate the system's CAs trust), a one-time
enrolment code with the label NAME, and when the file expires. Hand it over on a USB stick: on
the device, Settings > Enrol from file, or veld --enrol OUTPUT.veldenrol, or veldctl enrol
STORE --file OUTPUT.veldenrol. The code is used up by the first device that enrols with it.
  --offline      a file for a device that is never online, which syncs by USB stick (veldctl
                 bundle, or the client's "Naar USB-stick"): it holds the collector's id and
                 public key instead of an address. The device enrols with its first bundle,
                 which must be imported (veldctl collector import) before the code expires
  --valid DAYS   the code and the file expire after DAYS days (1 to 7; default 7)
  -o, --output   the file to write (mode 0600: it holds a secret); an existing file is refused
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl collector provision: " << message
        << "\n(see veldctl collector provision --help)\n";
    return kExitUsage;
}

int fail(std::ostream& err, const std::string& message) {
    err << "veldctl collector provision: " << message << "\n";
    return kExitFailure;
}

}  // namespace

int provisionCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    Args args(argv);
    if (args.flag("--help") || args.flag("-h")) {
        out << kProvisionUsage;
        return kExitOk;
    }
    std::string label, url, ca, output, days = "7";
    const bool hasLabel = args.option("--label", label);
    const bool offline = args.flag("--offline");
    args.option("--url", url);
    args.option("--ca", ca);
    args.option("--valid", days);
    if (!args.option("-o", output)) args.option("--output", output);
    if (!args.error.empty()) return usage(err, args.error);
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pos.size() != 1) return usage(err, "provision takes the collector's FILE");
    if (!hasLabel || label.empty()) return usage(err, "--label NAME is needed (the device's name)");
    if (offline && (!url.empty() || !ca.empty()))
        return usage(err, "--offline takes neither --url nor --ca (the device never goes online)");
    if (!offline && url.empty())
        return usage(err, "--url URL is needed (the collector as devices reach it), or --offline");
    if (output.empty()) return usage(err, "-o OUTPUT.veldenrol is needed");
    char* end = nullptr;
    const long validDays = std::strtol(days.c_str(), &end, 10);
    if (days.empty() || *end != '\0' || validDays < 1 || validDays > 7)
        return usage(err, "--valid takes 1 to 7 days");
    if (!offline) {
        if (auto s = sync::checkUrl(url, false); !s) return fail(err, s.error().message);
    }
    if (std::error_code ec; std::filesystem::exists(platform::fsPath(output), ec))
        return fail(err, output + " exists already; nothing done");

    sync::Provisioning p;
    p.collector = url;
    while (p.collector.size() > 8 && p.collector.back() == '/')
        p.collector.pop_back();
    p.label = label;
    if (!ca.empty()) {
        std::ifstream in(platform::fsPath(ca), std::ios::binary);
        if (!in) return fail(err, "cannot read " + ca);
        std::ostringstream text;
        text << in.rdbuf();
        p.caPem = text.str();
        if (auto s = sync::checkCertificatePem(p.caPem); !s)
            return fail(err, ca + ": " + s.error().message);
    }
    // Everything but the code is checked before the code is made.
    const std::int64_t now = nowMs();
    const std::int64_t validForMs = validDays * 24 * 3600 * 1000;
    p.code = "-";
    p.expiresUtcMs = now + validForMs;
    auto opened = openCollectorStore(pos[0], false, "collector provision", err);
    if (!opened) return kExitFailure;
    if (offline) {
        auto id = opened.value()->collectorId();
        if (!id) return fail(err, id.error().describe());
        p.collectorId = id.value();
        p.collectorKey = toHex(opened.value()->collectorSigningPublicKey());
    }
    if (auto s = sync::provisioningJson(p); !s) return fail(err, s.error().message);
    // A code that is never written out is harmless: it is stored hashed, expires and is audited.
    auto code = opened.value()->createEnrolCode(label, now, commandActor(), validForMs);
    if (!code) return fail(err, code.error().describe());
    p.code = code.value();
    if (auto s = sync::writeProvisioningFile(output, p); !s) return fail(err, s.error().describe());
    out << "wrote " << output << " for device \"" << label << "\": collector "
        << (offline ? p.collectorId + " (sync by USB stick)" : p.collector) << ", expires "
        << utcTime(p.expiresUtcMs) << "\n";
    if (p.caPem.empty() && url.rfind("https://", 0) == 0) {
        out << "no --ca given: the device trusts " << p.collector
            << " only with a certificate from the system's CAs\n";
    }
    out << "the file holds a one-time secret: hand it over in person, delete it once used\n";
    return kExitOk;
}

}  // namespace veld::veldctl
