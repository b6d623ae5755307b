// veldctl enrol / veldctl sync: the device side of sync, from the command line.
#include <ostream>

#include <veld/sync/provisioning.hpp>
#include <veld/sync/uploader.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kEnrolUsage =
    R"(usage: veldctl enrol STORE COLLECTOR-URL CODE [--ca FILE] [--allow-http]
       veldctl enrol STORE --file FILE.veldenrol
       veldctl enrol --install FILE.veldenrol [--folder DIR]
       veldctl enrol --uninstall [--folder DIR]

Enrols the device store with a collector using a one-time code (from veldctl collector
enrol-code). The device keeps its credential and the project's pseudonym key in the store.
  --ca FILE      trust this PEM certificate (the collector's own, or its CA) for https
  --allow-http   allow plain http to another machine (development only; http to this machine
                 is always allowed)
  --file FILE    enrol with a provisioning file (veldctl collector provision) instead: it holds
                 the address, certificate and code; its certificate is kept next to STORE as
                 collector-ca-HASH.pem. An expired file is refused before the collector is asked.
                 A file for sync by USB stick (provision --offline) contacts nobody: the device
                 enrols with its first bundle (veldctl bundle)
  --install FILE checks a provisioning file and copies it into the machine's folder
                 (%ProgramData%\Veld on Windows, /etc/veld on Linux; --folder DIR instead),
                 readable by every user: a client whose store is not enrolled enrols with it at
                 its first start. The Windows installer runs this for its VELDENROL property
  --uninstall    removes the provisioning files from that folder (the installer, uninstalling)
)";

constexpr const char* kSyncUsage = R"(usage: veldctl sync STORE [--no-pull] [--quiet]

Sends every finalized record waiting in the store's outbox to the collector it is enrolled with,
in batches, each removed from the outbox only after the collector has stored it; then fetches
forms published since the last sync. Prints progress. Exit 1 when the collector cannot be
reached or refuses; run it again: nothing is lost or sent twice. Exit 3 when another program
(the client or veld-agent) is syncing this device at that moment: only one syncs at a time.
)";

constexpr int kExitBusy = 3;

int usage(std::ostream& err, const std::string& command, const std::string& message) {
    err << "veldctl " << command << ": " << message << "\n(see veldctl " << command << " --help)\n";
    return kExitUsage;
}

}  // namespace

int enrolCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    Args args(argv);
    if (args.flag("--help") || args.flag("-h")) {
        out << kEnrolUsage;
        return kExitOk;
    }
    std::string ca;
    args.option("--ca", ca);
    std::string file;
    const bool fromFile = args.option("--file", file);
    const bool allowHttp = args.flag("--allow-http");
    std::string install, folder = sync::installedProvisioningFolder();
    const bool installing = args.option("--install", install);
    const bool uninstalling = args.flag("--uninstall");
    args.option("--folder", folder);
    if (!args.error.empty()) return usage(err, "enrol", args.error);
    if (!args.unknownOption().empty()) {
        return usage(err, "enrol", "unknown option " + args.unknownOption());
    }
    const auto pos = args.positionals();
    if (installing || uninstalling) {
        if (!pos.empty() || fromFile || installing == uninstalling || !ca.empty() || allowHttp)
            return usage(err, "enrol", "enrol --install FILE or --uninstall takes nothing else");
        if (uninstalling) {
            auto removed = sync::removeInstalledProvisioningFiles(folder);
            if (!removed) {
                err << "veldctl enrol: " << removed.error().describe() << "\n";
                return kExitFailure;
            }
            out << "removed " << removed.value() << " provisioning file(s) from " << folder << "\n";
            return kExitOk;
        }
        auto copy = sync::installProvisioningFile(install, folder);
        if (!copy) {
            err << "veldctl enrol: " << install << ": " << copy.error().describe() << "\n";
            return kExitFailure;
        }
        out << "installed " << copy.value() << "\n";
        return kExitOk;
    }
    if (fromFile) {
        if (pos.size() != 1 || !ca.empty() || allowHttp)
            return usage(err, "enrol", "enrol --file takes STORE and nothing else");
        auto store = Store::open(pos[0]);
        if (!store) {
            err << "veldctl enrol: " << store.error().describe() << "\n";
            return kExitFailure;
        }
        auto done = sync::enrolFromFile(store.value(), file, nowMs());
        if (!done) {
            err << "veldctl enrol: " << file << ": " << done.error().describe() << "\n";
            return kExitFailure;
        }
        out << "enrolled device " << store->deviceId().toString() << " as \"" << done->label
            << "\" with collector " << done->collectorId;
        if (done->collector.empty()) {
            out << ", to sync by USB stick: its enrolment goes with its first bundle (veldctl "
                   "bundle export)\n";
        } else {
            out << " at " << done->collector << "\n";
        }
        return kExitOk;
    }
    if (pos.size() != 3) return usage(err, "enrol", "enrol takes STORE COLLECTOR-URL CODE");
    auto store = Store::open(pos[0]);
    if (!store) {
        err << "veldctl enrol: " << store.error().describe() << "\n";
        return kExitFailure;
    }
    auto reply = sync::enrol(store.value(), pos[1], pos[2], ca, allowHttp);
    if (!reply) {
        err << "veldctl enrol: " << reply.error().describe() << "\n";
        return kExitFailure;
    }
    out << "enrolled device " << store->deviceId().toString() << " with collector "
        << reply->collectorId << "\n";
    return kExitOk;
}

int syncCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    Args args(argv);
    if (args.flag("--help") || args.flag("-h")) {
        out << kSyncUsage;
        return kExitOk;
    }
    sync::SyncOptions options;
    options.pull = !args.flag("--no-pull");
    const bool quiet = args.flag("--quiet");
    if (!args.unknownOption().empty()) {
        return usage(err, "sync", "unknown option " + args.unknownOption());
    }
    const auto pos = args.positionals();
    if (pos.size() != 1) return usage(err, "sync", "sync takes STORE");
    auto store = Store::open(pos[0]);
    if (!store) {
        err << "veldctl sync: " << store.error().describe() << "\n";
        return kExitFailure;
    }
    auto connection = sync::loadConnection(store.value());
    if (!connection) {
        err << "veldctl sync: " << connection.error().message << "\n";
        return kExitFailure;
    }
    auto result =
        sync::syncOnce(store.value(), connection.value(), options, [&](const sync::Progress& p) {
            if (quiet || p.state != sync::Progress::State::Sending) return;
            out << "sent " << p.recordsSent << "/" << p.recordsTotal << " records ("
                << (p.bytesSent + 1023) / 1024 << "/" << (p.bytesTotal + 1023) / 1024 << " KiB)\n";
        });
    if (!result) {
        err << "veldctl sync: " << result.error().describe() << "\n";
        return kExitFailure;
    }
    if (result->state == sync::Progress::State::Busy) {
        err << "veldctl sync: another program is syncing this device (the client or veld-agent); "
               "nothing was sent by this one: try again shortly\n";
        return kExitBusy;
    }
    out << "done: " << result->recordsSent << " records sent, " << result->formsReceived
        << " forms received\n";
    return kExitOk;
}

}  // namespace veld::veldctl
