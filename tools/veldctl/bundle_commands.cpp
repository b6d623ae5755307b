// veldctl bundle: the device's side of sync by file, for a device that is never online
// (veld/sync/bundle.hpp). The collector's side is veldctl collector import
// (collector_import_command.cpp).
#include <ostream>

#include <veld/sync/device_bundle.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kBundleUsage = R"(usage: veldctl bundle export STORE --out FILE
       veldctl bundle import STORE FILE

Sync by file (a USB stick) for a device that is never online.
  export   writes the records waiting in the store's outbox (from the oldest the collector has
           not acknowledged), what the device asks of the collector (forms, cases, allocation
           blocks) and, for a device enrolled by file, its enrolment, as a bundle sealed to the
           collector and signed by the device (mode 0600). Central staff import it with veldctl
           collector import. Nothing leaves the outbox until the reply is imported here; a new
           export before that carries the same records again, which is harmless
  import   imports the collector's reply (FILE.veldreply): the records it acknowledges leave
           the outbox, and new forms, cases and allocation blocks are kept, as after a sync by
           network. A reply for another device, from another collector, not signed by the
           collector, damaged, or older than one imported already is refused and changes nothing
)";

int usage(std::ostream& err, const std::string& command, const std::string& message) {
    err << "veldctl " << command << ": " << message << "\n(see veldctl " << command << " --help)\n";
    return kExitUsage;
}

}  // namespace

std::string seqRange(std::uint64_t first, std::uint64_t last) {
    return first == 0 ? std::string("none") : std::to_string(first) + ".." + std::to_string(last);
}

int bundleCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    Args args(argv);
    if (argv.empty() || args.flag("--help") || args.flag("-h")) {
        (argv.empty() ? err : out) << kBundleUsage;
        return argv.empty() ? kExitUsage : kExitOk;
    }
    std::string outPath;
    const bool hasOut = args.option("--out", outPath);
    if (!args.error.empty()) return usage(err, "bundle", args.error);
    if (!args.unknownOption().empty())
        return usage(err, "bundle", "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    const std::string sub = pos.empty() ? std::string() : pos[0];
    if (sub == "export") {
        if (pos.size() != 2 || !hasOut || outPath.empty())
            return usage(err, "bundle", "bundle export takes STORE --out FILE");
        auto store = Store::open(pos[1]);
        if (!store) {
            err << "veldctl bundle: " << store.error().describe() << "\n";
            return kExitFailure;
        }
        auto done = sync::exportBundle(store.value(), outPath, nowMs());
        if (!done) {
            err << "veldctl bundle: " << done.error().describe() << "\n";
            return kExitFailure;
        }
        out << "wrote bundle " << done->number << " to " << outPath << ": " << done->records
            << " records (outbox " << seqRange(done->firstSeq, done->lastSeq) << ")"
            << (done->enrols ? ", with the device's enrolment" : "") << ", " << done->bytes
            << " bytes\n";
        return kExitOk;
    }
    if (sub == "import") {
        if (pos.size() != 3 || hasOut)
            return usage(err, "bundle", "bundle import takes STORE FILE");
        auto store = Store::open(pos[1]);
        if (!store) {
            err << "veldctl bundle: " << store.error().describe() << "\n";
            return kExitFailure;
        }
        auto bytes = sync::bundle::readFile(pos[2]);
        if (!bytes) {
            err << "veldctl bundle: " << pos[2] << ": " << bytes.error().describe() << "\n";
            return kExitFailure;
        }
        auto done = sync::importReply(store.value(), bytes.value());
        if (!done) {
            err << "veldctl bundle: " << pos[2] << ": " << done.error().describe() << "\n";
            return kExitFailure;
        }
        if (done->outcome == sync::ReplyImport::Outcome::AlreadyImported) {
            out << "the reply to bundle " << done->number
                << " was imported already; nothing changed\n";
            return kExitOk;
        }
        out << "imported the reply to bundle " << done->number << ": " << done->acknowledged
            << " records acknowledged, " << done->rejected << " rejected by the collector, "
            << done->progress.formsReceived << " forms, " << done->progress.casesReceived
            << " case changes, " << done->progress.blocksReceived << " allocation blocks"
            << (done->enrolled ? "; the device is now enrolled" : "") << "\n";
        return kExitOk;
    }
    return usage(err, "bundle", "unknown subcommand '" + sub + "'");
}

}  // namespace veld::veldctl
