// veldctl collector verify-chain: walks each device's hash chain as the collector holds it and
// reports missing, altered and reordered revisions (see veld/sync/chain_check.hpp); with --case,
// whether the case's records are covered by complete chains.
#include <map>
#include <ostream>

#include <veld/hex.hpp>
#include <veld/record.hpp>
#include <veld/sync/chain_check.hpp>
#include <veld/sync/collector_store.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kChainUsage =
    R"(usage: veldctl collector verify-chain FILE [--device ID] [--case ID]

Walks every device's revisions (or one device's) from 1 through the number the collector has
received through, recomputing each revision's hash-chain link from its stored body, and reports
per device:
  complete through N      every revision is held and every link recomputes and follows
  no chain                the device sent no links (a Veld from before the chain)
  seq N: missing          not held by the collector (a gap)
  seq N: altered          its stored body or link does not recompute (changed after it was sent)
  seq N: reordered        its link does not follow its predecessor's
With --case ID: the case's records (revisions) with their device and chain position, and for
each device whether its chain is complete through its last revision of the case.

Exit codes: 0 every chain checked is complete, 1 a problem (or failure), 2 usage error.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl collector verify-chain: " << message
        << "\n(see veldctl collector verify-chain --help)\n";
    return kExitUsage;
}

// A case's revision at its device's chain position.
struct CaseRevision {
    Uuid deviceId;
    std::uint64_t seq = 0;
    Uuid recordId;
    std::string link;  // hex prefix; "-" without a chain
};

}  // namespace

int collectorChainCommand(const std::vector<std::string>& argv, std::ostream& out,
                          std::ostream& err) {
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (args.flag("--help") || args.flag("-h")) {
        out << kChainUsage;
        return kExitOk;
    }
    std::string deviceText;
    const bool oneDevice = args.option("--device", deviceText);
    std::string caseText;
    const bool forCase = args.option("--case", caseText);
    if (!args.error.empty()) return usage(err, args.error);
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pos.size() != 1) return usage(err, "verify-chain takes FILE");
    std::optional<Uuid> onlyDevice;
    if (oneDevice) {
        onlyDevice = Uuid::parse(deviceText);
        if (!onlyDevice) return usage(err, "'" + deviceText + "' is not a device id");
    }
    std::optional<Uuid> caseId;
    if (forCase) {
        caseId = Uuid::parse(caseText);
        if (!caseId) return usage(err, "'" + caseText + "' is not a case id");
    }
    auto store = openCollectorStore(pos[0], false, "collector verify-chain", err);
    if (!store) return kExitFailure;
    auto devices = store.value()->devices();
    if (!devices) {
        err << "veldctl collector verify-chain: " << devices.error().describe() << "\n";
        return kExitFailure;
    }
    bool anyProblem = false;
    bool found = false;
    std::vector<CaseRevision> caseRevisions;
    std::map<Uuid, sync::ChainReport> reports;
    for (const auto& device : devices.value()) {
        if (onlyDevice && device.deviceId != *onlyDevice) continue;
        found = true;
        sync::ChainWalker walker(device.deviceId, device.receivedThrough);
        auto walked =
            store.value()->visitChain(device.deviceId, [&](const sync::ChainEntry& e) -> Status {
                walker.add(e);
                if (caseId && !e.rejected && !e.body.empty()) {
                    auto header = inspectRecord(e.body);
                    if (header && header->caseId == *caseId)
                        caseRevisions.push_back({device.deviceId, e.seq, e.recordId,
                                                 e.chainLink.empty()
                                                     ? std::string("-")
                                                     : toHex(e.chainLink).substr(0, 16)});
                }
                return {};
            });
        if (!walked) {
            err << "veldctl collector verify-chain: " << walked.error().describe() << "\n";
            return kExitFailure;
        }
        reports.emplace(device.deviceId, walker.finish());
    }
    if (onlyDevice && !found) {
        err << "veldctl collector verify-chain: no device " << onlyDevice->toString() << "\n";
        return kExitFailure;
    }

    if (caseId) {
        // The case's revisions, and per device whether its chain is whole up to the last one.
        std::map<Uuid, std::uint64_t> lastOfCase;
        out << "case " << caseId->toString() << ": " << caseRevisions.size() << " revisions\n";
        for (const auto& r : caseRevisions) {
            out << "  record " << r.recordId.toString() << "  device " << r.deviceId.toString()
                << "  seq " << r.seq << "  link " << r.link << "\n";
            lastOfCase[r.deviceId] = std::max(lastOfCase[r.deviceId], r.seq);
        }
        for (const auto& [device, last] : lastOfCase) {
            const auto& report = reports.at(device);
            bool whole = report.hasChain;
            for (const auto& p : report.problems)
                whole = whole && p.seq > last;
            anyProblem = anyProblem || !whole;
            out << "device " << device.toString() << ": "
                << (whole             ? "complete through seq " + std::to_string(last)
                    : report.hasChain ? "NOT complete through seq " + std::to_string(last)
                                      : std::string("no chain: completeness not shown"))
                << "\n";
        }
        return anyProblem ? kExitFailure : kExitOk;
    }

    for (const auto& [device, report] : reports) {
        out << device.toString() << ": ";
        if (report.complete()) {
            out << (report.hasChain ? "complete through " + std::to_string(report.receivedThrough)
                                    : "no chain (" + std::to_string(report.revisions) +
                                          " revisions, none missing)");
            // A device that began its chain after an upgrade: the revisions before it are only
            // checked for gaps.
            if (report.hasChain && report.chainFrom > 1)
                out << " (chain from seq " << report.chainFrom << ")";
            out << "\n";
            continue;
        }
        anyProblem = true;
        out << report.problems.size() << (report.problems.size() == 1 ? " problem" : " problems")
            << (report.hasChain ? "" : " (no chain)") << "\n";
        for (const auto& p : report.problems)
            out << "  " << sync::describe(p) << "\n";
    }
    if (reports.empty()) out << "no devices enrolled yet\n";
    return anyProblem ? kExitFailure : kExitOk;
}

}  // namespace veld::veldctl
