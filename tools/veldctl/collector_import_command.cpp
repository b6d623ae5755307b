// veldctl collector import: the collector's side of sync by file (veld/sync/bundle_import.hpp).
#include <ostream>

#include <veld/sync/bundle_import.hpp>
#include <veld/sync/collector_store.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kImportUsage =
    R"(usage: veldctl collector import FILE BUNDLE [--reply-out REPLY]

Imports a device's bundle (BUNDLE.veldbundle, from veldctl bundle export or the client's
"Naar USB-stick") into the collector's store FILE, with exactly the rules of a push by network,
and writes the collector's reply for the device (mode 0600): the acknowledgement, new forms,
cases and allocation blocks, and for a device enrolled by file its enrolment. The reply goes to
REPLY, by default next to BUNDLE with the extension .veldreply. The same bundle imported again
changes nothing and writes the reply again. Refused, changing nothing: a damaged or cut-short
bundle, one made for another collector, signed by anyone but its device, from a device not
enrolled here, replayed (older than one imported), or out of order (an earlier bundle of the
device must be imported first). Every import is in the audit log.
)";

int usage(std::ostream& err, const std::string& command, const std::string& message) {
    err << "veldctl " << command << ": " << message << "\n(see veldctl " << command << " --help)\n";
    return kExitUsage;
}

// The reply's default name: BUNDLE with .veldreply instead of .veldbundle.
std::string replyPathFor(const std::string& bundlePath) {
    const std::string ext(sync::bundle::kBundleExtension);
    std::string base = bundlePath;
    if (base.size() > ext.size() && base.compare(base.size() - ext.size(), ext.size(), ext) == 0)
        base.resize(base.size() - ext.size());
    return base + std::string(sync::bundle::kReplyExtension);
}

}  // namespace

int collectorImportCommand(const std::vector<std::string>& argv, std::ostream& out,
                           std::ostream& err) {
    Args args(argv);
    if (args.flag("--help") || args.flag("-h")) {
        out << kImportUsage;
        return kExitOk;
    }
    std::string replyPath;
    args.option("--reply-out", replyPath);
    if (!args.error.empty()) return usage(err, "collector import", args.error);
    if (!args.unknownOption().empty())
        return usage(err, "collector import", "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pos.size() != 2) return usage(err, "collector import", "import takes FILE BUNDLE");
    if (replyPath.empty()) replyPath = replyPathFor(pos[1]);
    auto bytes = sync::bundle::readFile(pos[1]);
    if (!bytes) {
        err << "veldctl collector import: " << pos[1] << ": " << bytes.error().describe() << "\n";
        return kExitFailure;
    }
    auto store = openCollectorStore(pos[0], false, "collector import", err);
    if (!store) return kExitFailure;
    auto done = sync::importBundle(*store.value(), bytes.value(), nowMs(), commandActor());
    if (!done) {
        err << "veldctl collector import: " << pos[1] << ": " << done.error().describe() << "\n";
        return kExitFailure;
    }
    if (auto s = sync::bundle::writeFile(replyPath, done->reply); !s) {
        err << "veldctl collector import: the bundle was imported, but its reply could not be "
               "written (import the bundle again to write it): "
            << s.error().describe() << "\n";
        return kExitFailure;
    }
    const auto& h = done->header;
    if (done->outcome == sync::BundleImport::Outcome::AlreadyImported) {
        out << "bundle " << h.number << " of device " << h.deviceId.toString()
            << " was imported already; nothing changed\n";
    } else {
        out << "imported bundle " << h.number << " of device " << h.deviceId.toString()
            << (done->enrolled ? " (enrolled it)" : "") << ": records "
            << seqRange(h.firstSeq, h.lastSeq) << ", " << done->stored << " stored, "
            << done->duplicates << " held already, " << done->rejected << " rejected\n";
    }
    out << "wrote the reply to " << replyPath << "\n";
    return kExitOk;
}

}  // namespace veld::veldctl
