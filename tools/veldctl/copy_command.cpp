// veldctl collector copy: move a collector to another store (normally an SQLite file to
// PostgreSQL), verified table by table (see veld/sync/collector_copy.hpp).
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <ostream>
#include <thread>

#include <veld/sync/collector_copy.hpp>
#include <veld/sync/collector_store.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kCopyUsage =
    R"(usage: veldctl [--store-password-file F] collector copy --from LOCATION --to LOCATION

Copies every table of the collector store at --from (an SQLite file or postgresql://...) into the
store at --to: devices and their credentials' digests, enrolment codes, revisions, conflicts,
forms, reviews, duplicate decisions, staff, the audit log, cases, studies and allocation logs, and
the collector's id, keys and counters. A missing SQLite file is made; a PostgreSQL database gets
its schema. A target that holds anything already is refused. The copy is one transaction on the
target: stopped part-way, it leaves the target empty. Stop the collector first: what arrives at
--from during the copy is not copied (and the verification reports the difference).

Afterwards both stores are read again: the rows and a BLAKE2b digest of every table are printed
side by side. A PostgreSQL password comes from veldctl's --store-password-file (its first line),
else PGPASSFILE or ~/.pgpass; never from the command line.

Exit codes: 0 copied and verified, 1 refused, failed or not verified, 2 usage error.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl collector copy: " << message << "\n(see veldctl collector copy --help)\n";
    return kExitUsage;
}

}  // namespace

int collectorCopyCommand(const std::vector<std::string>& argv, std::ostream& out,
                         std::ostream& err) {
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (args.flag("--help") || args.flag("-h")) {
        out << kCopyUsage;
        return kExitOk;
    }
    std::string from;
    std::string to;
    args.option("--from", from);
    args.option("--to", to);
    if (!args.error.empty()) return usage(err, args.error);
    if (const auto unknown = args.unknownOption(); !unknown.empty())
        return usage(err, "unknown option " + unknown);
    if (!args.positionals().empty()) return usage(err, "copy takes only --from and --to");
    if (from.empty() || to.empty()) return usage(err, "copy needs --from LOCATION --to LOCATION");
    // Test hook: VELD_TEST_COPY_PAUSE_MS makes each step wait, so a test can kill a copy
    // part-way at a known table.
    int pauseMs = 0;
    if (const char* pause = std::getenv("VELD_TEST_COPY_PAUSE_MS"); pause && *pause)
        pauseMs = std::atoi(pause);
    const auto start = std::chrono::steady_clock::now();
    auto report = sync::copyCollector(
        from, to,
        [&](std::string_view step) {
            out << step << std::endl;  // flushed: a log shows how far a copy came
            if (pauseMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pauseMs));
        },
        storePasswordFileOption());
    if (!report) {
        err << "veldctl collector copy: " << report.error().describe() << "\n";
        return kExitFailure;
    }
    out << std::left << std::setw(20) << "table" << std::right << std::setw(10) << "rows"
        << std::setw(10) << "copied"
        << "  digest (BLAKE2b-256, source / target)\n";
    for (const auto& t : report->tables) {
        out << std::left << std::setw(20) << t.table << std::right << std::setw(10) << t.sourceRows
            << std::setw(10) << t.targetRows << "  " << t.sourceDigest << "\n"
            << std::setw(42) << "" << t.targetDigest << (t.same() ? "" : "  DIFFERS") << "\n";
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!report->verified()) {
        err << "veldctl collector copy: the copy differs from the source (see the tables marked "
               "DIFFERS); was a collector still writing to the source?\n";
        return kExitFailure;
    }
    out << "copied and verified " << report->tables.size() << " tables in " << std::fixed
        << std::setprecision(2) << seconds << " s\n";
    return kExitOk;
}

}  // namespace veld::veldctl
