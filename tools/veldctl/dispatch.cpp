// veldctl's command line: the usage text and which command group handles what.
#include <ostream>
#include <string>
#include <vector>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kUsage = R"(usage: veldctl COMMAND ...

Commands:
  store    create, inspect and check a device store (veldctl store --help)
  form     check, import (.xlsx), export (.xlsx), compile, show and install forms
           (veldctl form --help)
  collector  set up the central collector: devices, enrolment, forms, backup and restore
           (veldctl collector --help)
  enrol    enrol a device store with a collector (veldctl enrol --help)
  sync     send a device's finalized records and fetch new forms (veldctl sync --help)
  bundle   sync by file (a USB stick) for a device that is never online (veldctl bundle --help)
  keys     the project key ring, kept by central staff (veldctl keys --help)
  export   a form's records at the collector as CSV, .sav, .dta or .xlsx (veldctl export --help)
  study    randomised studies at the collector: define, deal blocks, balance, verify
           (veldctl study --help)
  case     cases at the collector: list, assign, conflicts (veldctl case --help)
  kiosk    make this device a kiosk that runs itself (veldctl kiosk --help)
  agent    the background sync agent of a device store: status, wake (veldctl agent --help)

Options:
  --help     show this help
  --version  show Veld's version
  --store-password-file FILE
             the password of a PostgreSQL collector store (the first line of FILE), for the
             commands that open one (collector, case, study, export); without it libpq's
             PGPASSFILE or ~/.pgpass is used. A store location is an SQLite file or
             postgresql://USER@HOST[:PORT]/DATABASE, never with a password in it

Exit codes: 0 ok, 1 failure, 2 usage error.
)";

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << kUsage;
        return kExitUsage;
    }
    const std::string& command = args[0];
    if (command == "--help" || command == "-h" || command == "help") {
        out << kUsage;
        return kExitOk;
    }
    if (command == "--version") {
        out << "veldctl " << VELD_VERSION << "\n";
        return kExitOk;
    }
    std::vector<std::string> rest;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--store-password-file") {
            if (i + 1 == args.size()) {
                err << "veldctl: --store-password-file needs a FILE\n";
                return kExitUsage;
            }
            setStorePasswordFile(args[++i]);
            continue;
        }
        rest.push_back(args[i]);
    }
    if (command == "store") return storeCommand(rest, out, err);
    if (command == "form") return formCommand(rest, out, err);
    if (command == "collector") return collectorCommand(rest, out, err);
    if (command == "enrol") return enrolCommand(rest, out, err);
    if (command == "sync") return syncCommand(rest, out, err);
    if (command == "export") return exportCommand(rest, out, err);
    if (command == "keys") return keysCommand(rest, out, err);
    if (command == "study") return studyCommand(rest, out, err);
    if (command == "case") return caseCommand(rest, out, err);
    if (command == "kiosk") return kioskCommand(rest, out, err);
    if (command == "agent") return agentCommand(rest, out, err);
    if (command == "bundle") return bundleCommand(rest, out, err);
    err << "veldctl: unknown command '" << command << "'\n\n" << kUsage;
    return kExitUsage;
}

}  // namespace veld::veldctl
