// veldctl collector backup / restore: a consistent copy of the collector's store taken while it
// runs, and putting one back (see veld/sync/collector_backup.hpp for what each guarantees).
#include <chrono>
#include <iomanip>
#include <ostream>

#include <veld/sync/collector_backup.hpp>
#include <veld/sync/collector_store.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kBackupUsage = R"(usage: veldctl collector backup STORE DEST
       veldctl collector restore BACKUP STORE [--force]

backup   copies the collector store STORE to the new file DEST (0600), consistently, while
         veld-collector keeps serving (SQLite's online backup, in one read transaction). DEST is
         written under a temporary name, checked (integrity and schema version) and only then
         given its name; an existing DEST is refused.
restore  makes STORE a copy of BACKUP, after checking BACKUP the same way. Refused while a
         veld-collector (or any other program) has STORE open: stop the collector first. An
         existing STORE is replaced only with --force, and is then kept as STORE.before-restore.
         Devices that sent records after the backup was taken are refused by the restored
         collector until staff look (see docs/operations.md).

Exit codes: 0 done, 1 refused or failed (nothing changed), 2 usage error.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl collector: " << message << "\n(see veldctl collector backup --help)\n";
    return kExitUsage;
}

std::string describe(const sync::StoreFacts& f) {
    return std::to_string(f.bytes) + " bytes, schema " + std::to_string(f.schemaVersion) + ", " +
           std::to_string(f.revisions) + " revisions from " + std::to_string(f.devices) +
           " devices, integrity checked";
}

}  // namespace

int collectorBackupCommand(const std::vector<std::string>& argv, std::ostream& out,
                           std::ostream& err) {
    const std::string sub = argv.at(0);
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (args.flag("--help") || args.flag("-h")) {
        out << kBackupUsage;
        return kExitOk;
    }
    const bool force = sub == "restore" && args.flag("--force");
    if (const auto unknown = args.unknownOption(); !unknown.empty())
        return usage(err, "unknown option " + unknown);
    const auto pos = args.positionals();
    if (pos.size() != 2)
        return usage(err,
                     sub == "backup" ? "backup takes STORE DEST" : "restore takes BACKUP STORE");
    for (const auto& location : pos) {
        if (sync::isPostgresLocation(location)) {
            err << "veldctl collector " << sub
                << ": backup and restore are for an SQLite store; a PostgreSQL store is backed "
                   "up and restored with PostgreSQL's own tools (pg_dump, pg_restore; see "
                   "docs/operations.md)\n";
            return kExitUsage;
        }
    }
    const auto start = std::chrono::steady_clock::now();
    const auto seconds = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    if (sub == "backup") {
        auto facts = sync::backupCollector(pos[0], pos[1]);
        if (!facts) {
            err << "veldctl collector backup: " << facts.error().describe()
                << "\nnothing was written\n";
            return kExitFailure;
        }
        out << "backup of " << pos[0] << " written to " << pos[1] << ": " << describe(*facts)
            << ", in " << std::fixed << std::setprecision(2) << seconds() << " s\n";
        return kExitOk;
    }
    auto restored = sync::restoreCollector(pos[0], pos[1], force);
    if (!restored) {
        err << "veldctl collector restore: " << restored.error().describe()
            << "\nnothing was changed\n";
        return kExitFailure;
    }
    out << pos[1] << " restored from " << pos[0] << ": " << describe(restored->facts) << ", in "
        << std::fixed << std::setprecision(2) << seconds() << " s\n";
    if (!restored->keptAs.empty())
        out << "the store it replaced is kept as " << restored->keptAs << "\n";
    return kExitOk;
}

}  // namespace veld::veldctl
