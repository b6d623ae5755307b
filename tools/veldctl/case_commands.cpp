// veldctl case: cases at the collector, for central staff on the collector's machine: the list,
// assignment to devices and teams, and conflicting property values. It prints property values
// on the staff member's terminal (that is its purpose), never pseudonyms in full; every change
// is written to the collector's audit log.
#include <cstdlib>
#include <ostream>

#include <veld/sync/collector_store.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kCaseUsage = R"(usage: veldctl case SUBCOMMAND FILE [arguments]

Cases at the collector (FILE is the collector's store): participants, vacancies, schools and
employers followed over time. A case reaches the device it is assigned to and every device of
the team it is assigned to. Every change is audited.

Subcommands:
  list FILE [--type T] [--device ID] [--team T]
                                 cases with their properties (the pseudonym shortened)
  assign FILE CASE-ID [--device ID] [--team T]
                                 assign a case to a device, a team, or both (replacing the
                                 assignment it had); devices that lose it drop it at their next
                                 pull
  conflicts FILE [--all]         case properties set differently on two devices that had not
                                 seen each other's value (open ones; --all with the settled)
  resolve FILE NUMBER a|b [--comment TEXT]
  resolve FILE NUMBER --value TEXT [--comment TEXT]
                                 settle a case conflict with A's value, B's, or a typed value; it
                                 reaches every device holding the case at its next pull

Teams are set per device: veldctl collector team FILE DEVICE-ID TEAM.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl case: " << message << "\n(see veldctl case --help)\n";
    return kExitUsage;
}

int failed(std::ostream& err, const Error& error) {
    err << "veldctl case: " << error.describe() << "\n";
    return kExitFailure;
}

// "KEYID:HEX" shortened to its key id and the first digits: enough to tell cases apart on a
// screen, not the identifier's digest.
std::string shortPseudonym(const std::string& pseudonym) {
    if (pseudonym.empty()) return "-";
    const auto colon = pseudonym.find(':');
    const std::size_t keep = colon == std::string::npos ? 6 : colon + 7;
    return pseudonym.size() <= keep ? pseudonym : pseudonym.substr(0, keep) + "...";
}

// A value on one line.
std::string oneLine(const std::string& value) {
    std::string out;
    for (char c : value)
        out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    return out;
}

}  // namespace

int caseCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    if (argv.empty()) {
        err << kCaseUsage;
        return kExitUsage;
    }
    const std::string sub = argv[0];
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (sub == "--help" || sub == "-h" || args.flag("--help") || args.flag("-h")) {
        out << kCaseUsage;
        return kExitOk;
    }
    std::string type;
    const bool hasType = args.option("--type", type);
    std::string device;
    const bool hasDevice = args.option("--device", device);
    std::string team;
    const bool hasTeam = args.option("--team", team);
    std::string value;
    const bool hasValue = args.option("--value", value);
    std::string comment;
    const bool hasComment = args.option("--comment", comment);
    const bool all = args.flag("--all");
    if (!args.error.empty()) return usage(err, args.error);
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (sub != "list" && sub != "assign" && sub != "conflicts" && sub != "resolve")
        return usage(err, "unknown subcommand '" + sub + "'");
    if (pos.empty()) return usage(err, sub + " needs the collector's FILE");
    std::optional<Uuid> deviceId;
    if (hasDevice) {
        deviceId = Uuid::parse(device);
        if (!deviceId) return usage(err, "'" + device + "' is not a device id");
    }

    if (sub == "list" && pos.size() != 1) return usage(err, "list takes FILE");
    if (sub == "conflicts" && pos.size() != 1) return usage(err, "conflicts takes FILE");
    if (sub == "assign") {
        if (pos.size() != 2) return usage(err, "assign takes FILE CASE-ID");
        if (!hasDevice && !hasTeam) return usage(err, "assign needs --device ID or --team T");
    }
    sync::CaseChoice choice;
    std::int64_t number = 0;
    if (sub == "resolve") {
        if (pos.size() != (hasValue ? 2 : 3))
            return usage(err, "resolve takes FILE NUMBER a|b, or FILE NUMBER --value TEXT");
        char* end = nullptr;
        number = std::strtoll(pos[1].c_str(), &end, 10);
        if (!end || *end != '\0' || number <= 0) return usage(err, "the conflict NUMBER");
        if (hasValue) {
            choice.kind = sync::CaseChoice::Kind::Value;
            choice.value = value;
        } else if (pos[2] == "a") {
            choice.kind = sync::CaseChoice::Kind::A;
        } else if (pos[2] == "b") {
            choice.kind = sync::CaseChoice::Kind::B;
        } else {
            return usage(err, "resolve with a, b or --value TEXT");
        }
    }
    if ((hasType || (hasDevice && sub != "assign") || (hasTeam && sub != "assign")) &&
        sub != "list")
        return usage(err, "--type, --device and --team are for list and assign");
    if (hasValue && sub != "resolve") return usage(err, "--value is for resolve");
    if (hasComment && sub != "resolve") return usage(err, "--comment is for resolve");
    if (all && sub != "conflicts") return usage(err, "--all is for conflicts");

    auto opened = openCollectorStore(pos[0], false, "case", err);
    if (!opened) return kExitFailure;
    sync::CollectorStore& c = *opened.value();

    if (sub == "list") {
        sync::CaseFilter filter;
        if (hasType) filter.caseType = type;
        if (deviceId) filter.assignedDevice = *deviceId;
        if (hasTeam) filter.assignedTeam = team;
        auto list = c.cases(filter);
        if (!list) return failed(err, list.error());
        for (const auto& k : list.value()) {
            out << k.caseId.toString() << "  " << (k.caseType.empty() ? "-" : k.caseType)
                << "  pseudonym " << shortPseudonym(k.pseudonym) << "  assigned "
                << (k.assignedDevice ? "device " + k.assignedDevice->toString() : "")
                << (k.assignedDevice && !k.assignedTeam.empty() ? ", " : "")
                << (k.assignedTeam.empty() ? "" : "team " + k.assignedTeam)
                << (!k.assignedDevice && k.assignedTeam.empty() ? "nobody" : "")
                << "  last contact "
                << (k.lastContactUtcMs ? utcTime(*k.lastContactUtcMs) : std::string("never"))
                << "\n";
            for (const auto& p : k.properties)
                out << "    " << p.name << " = " << oneLine(p.value) << "\n";
        }
        if (list->empty()) out << "no cases\n";
        return kExitOk;
    }
    if (sub == "assign") {
        const auto caseId = Uuid::parse(pos[1]);
        if (!caseId) return usage(err, "'" + pos[1] + "' is not a case id");
        if (auto s = c.assignCase(*caseId, deviceId, team, nowMs(), commandActor()); !s)
            return failed(err, s.error());
        out << "case " << caseId->toString() << " assigned to "
            << (deviceId ? "device " + deviceId->toString() : "")
            << (deviceId && !team.empty() ? " and " : "") << (team.empty() ? "" : "team " + team)
            << "\n";
        return kExitOk;
    }
    if (sub == "conflicts") {
        auto list = c.caseConflicts(all);
        if (!list) return failed(err, list.error());
        for (const auto& k : list.value()) {
            out << k.id << "  case " << k.caseId.toString() << "  property " << k.property
                << "  detected " << utcTime(k.detectedUtcMs)
                << (k.resolvedUtcMs ? "  resolved " + utcTime(*k.resolvedUtcMs) + " by " +
                                          k.resolvedBy + ": " + k.resolution
                                    : std::string())
                << "\n    A: " << oneLine(k.valueA) << "  (device " << k.deviceA.toString() << ", "
                << k.hlcA.toString() << ")\n    B: " << oneLine(k.valueB) << "  (device "
                << k.deviceB.toString() << ", " << k.hlcB.toString() << ")\n";
        }
        if (list->empty()) out << (all ? "no case conflicts\n" : "no open case conflicts\n");
        return kExitOk;
    }
    // resolve
    if (auto s = c.resolveCaseConflict(number, choice, comment, nowMs(), commandActor()); !s)
        return failed(err, s.error());
    out << "case conflict " << number << " resolved; devices holding the case receive the value "
        << "at their next pull\n";
    return kExitOk;
}

}  // namespace veld::veldctl
