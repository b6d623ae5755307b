// veldctl study: randomised studies at the collector. It opens the collector's file directly, on
// the collector's machine; every change (a definition, blocks dealt, the seed disclosed) is
// written to the collector's audit log.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <veld/hex.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/study_json.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kStudyUsage = R"(usage: veldctl study SUBCOMMAND FILE [arguments]

Randomised studies at the collector (FILE is the collector's store). A study's allocation
sequence comes from a secret seed kept by the collector; blocks of it are dealt to devices, which
receive them sealed to their own key and allocate offline. Every change is audited.

Subcommands:
  define FILE STUDY.json         define a study (see schemas/studies/ips.json); a secret seed is
                                 made unless the file has one. The same file again changes
                                 nothing; another definition under a defined id is refused
  list FILE                      the studies: arms and ratios, factors, block sizes, low mark
  allocate FILE STUDY --device ID [--blocks N]
                                 deal N (default 1) more blocks of every stratum to a device; it
                                 receives them at its next pull (devices are also topped up at
                                 their pulls by themselves)
  balance FILE STUDY             per stratum: allocations per arm against the target and the
                                 deviation, blocks dealt, complete and open; per device: blocks,
                                 slots and allocations
  verify FILE STUDY              check every allocation received against the regenerated
                                 sequence and the blocks dealt: arm and token of each slot, no
                                 slot used twice or skipped, one allocation per case, every
                                 device's log numbers without a gap. Exit 0 when it verifies, 1
                                 listing each problem
  log FILE STUDY [--out F.csv]   the allocation log as CSV (to stdout without --out): study,
                                 stratum, block, position, arm, device, log_seq, case_id,
                                 record_id, taken_utc, received_utc; join it with the data
                                 export by case_id or record_id
  seed FILE STUDY                print the study's secret seed, for the evaluator at the end
                                 (audited as "seed-disclosed")

Each subcommand takes --help.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl study: " << message << "\n(see veldctl study --help)\n";
    return kExitUsage;
}

int failed(std::ostream& err, const Error& error) {
    err << "veldctl study: " << error.describe() << "\n";
    return kExitFailure;
}

// A CSV cell: quoted when it holds a separator, a quote or a line break.
std::string cell(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string stratumName(const std::string& stratum) {
    return stratum.empty() ? "(one stratum)" : stratum;
}

std::string fixed(double v, bool sign = false) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << (sign && v >= 0 ? "+" : "") << v;
    return s.str();
}

// Writes `text` to a file readable by its owner only (the log says who got which arm). A file
// that is already there is narrowed too: open() applies its mode only to a file it creates.
Status writePrivate(const std::string& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return makeError(ErrorCode::Io, "cannot create " + path + ": " + std::strerror(errno));
    if (::fchmod(fd, 0600) != 0) {
        const int e = errno;
        ::close(fd);
        return makeError(ErrorCode::Io, "cannot make " + path + " private: " + std::strerror(e));
    }
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            return makeError(e == ENOSPC ? ErrorCode::StorageFull : ErrorCode::Io,
                             "cannot write " + path + ": " + std::strerror(e));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0)
        return makeError(ErrorCode::Io, "cannot write " + path + ": " + std::strerror(errno));
    return {};
}

void printStudy(std::ostream& out, const sync::StudySummary& summary) {
    const alloc::Study& s = summary.definition.study;
    out << s.id << "  pilot " << (s.pilot.empty() ? "-" : s.pilot) << "  defined "
        << utcTime(summary.createdUtcMs) << "\n  arms:";
    for (const auto& a : s.arms)
        out << " " << a.name << " (" << a.ratio << ")";
    out << "\n  factors:";
    if (s.factors.empty()) out << " none (one stratum)";
    for (const auto& f : s.factors) {
        out << " " << f.name << " [";
        for (std::size_t i = 0; i < f.levels.size(); ++i)
            out << (i ? " " : "") << f.levels[i];
        out << "]";
    }
    out << "\n  strata " << alloc::strata(s).size() << ", block sizes";
    for (auto size : s.blockSizes)
        out << " " << size;
    out << ", low mark " << sync::effectiveLowSlots(s) << " slots, "
        << summary.definition.blocksPerDevice << " blocks per device at a time\n";
}

void printBalance(std::ostream& out, const sync::StudyBalance& b) {
    out << "study " << b.study << ": " << b.allocated << " allocations\n";
    for (const auto& s : b.strata) {
        out << "\nstratum " << stratumName(s.stratum)
            << (s.known ? "" : "  (NOT A STRATUM OF THE STUDY)") << "\n  " << s.allocated
            << " allocations; blocks: " << s.dealtBlocks << " dealt, " << s.completeBlocks
            << " complete, " << s.openBlocks << " open\n";
        out << "  " << std::left << std::setw(24) << "arm" << std::right << std::setw(10)
            << "allocated" << std::setw(10) << "target" << std::setw(11) << "deviation\n";
        for (const auto& a : s.arms) {
            out << "  " << std::left << std::setw(24) << a.arm << std::right << std::setw(10)
                << a.allocated << std::setw(10) << fixed(a.target) << std::setw(10)
                << fixed(static_cast<double>(a.allocated) - a.target, true) << "\n";
        }
    }
    if (!b.devices.empty()) out << "\ndevices:\n";
    for (const auto& d : b.devices) {
        out << "  " << d.deviceId.toString() << "  " << (d.label.empty() ? "-" : d.label)
            << "  blocks " << d.dealtBlocks << "  slots " << d.dealtSlots << "  allocations "
            << d.allocated << "\n";
    }
}

}  // namespace

int studyCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    if (argv.empty()) {
        err << kStudyUsage;
        return kExitUsage;
    }
    const std::string sub = argv[0];
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (sub == "--help" || sub == "-h" || args.flag("--help") || args.flag("-h")) {
        out << kStudyUsage;
        return kExitOk;
    }
    std::string device;
    const bool hasDevice = args.option("--device", device);
    std::string blocks = "1";
    const bool hasBlocks = args.option("--blocks", blocks);
    std::string outPath;
    const bool hasOut = args.option("--out", outPath);
    if (!args.error.empty()) return usage(err, args.error);
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pos.empty()) return usage(err, sub + " needs the collector's FILE");
    const bool knownSub = sub == "define" || sub == "list" || sub == "allocate" ||
                          sub == "balance" || sub == "verify" || sub == "log" || sub == "seed";
    if (!knownSub) return usage(err, "unknown subcommand '" + sub + "'");
    const std::size_t want = sub == "list" ? 1 : 2;
    if (pos.size() != want)
        return usage(err, sub + (want == 1         ? " takes FILE"
                                 : sub == "define" ? " takes FILE STUDY.json"
                                                   : " takes FILE STUDY"));
    if ((sub == "allocate") != hasDevice)
        return usage(err, hasDevice ? "--device is for allocate" : "allocate needs --device ID");
    if (hasBlocks && sub != "allocate") return usage(err, "--blocks is for allocate");
    if (hasOut && sub != "log") return usage(err, "--out is for log");

    // The definition is read before the collector is opened: a bad file changes nothing.
    std::optional<sync::StudyDefinition> definition;
    if (sub == "define") {
        std::ifstream in(pos[1]);
        if (!in) {
            err << "veldctl study: cannot read " << pos[1] << "\n";
            return kExitFailure;
        }
        std::stringstream text;
        text << in.rdbuf();
        auto parsed = sync::parseStudyJson(text.str());
        if (!parsed) {
            err << pos[1] << ": " << parsed.error().message << "\n";
            return kExitFailure;
        }
        definition = std::move(parsed.value());
    }
    auto opened = openCollectorStore(pos[0], false, "study", err);
    if (!opened) return kExitFailure;
    sync::CollectorStore& c = *opened.value();

    if (sub == "define") {
        auto defined = c.defineStudy(*definition, nowMs(), commandActor());
        if (!defined) return failed(err, defined.error());
        const auto& s = definition->study;
        out << "study " << s.id << (defined.value() ? " defined" : " is defined already, the same")
            << ": " << s.arms.size() << " arms, " << alloc::strata(s).size() << " strata"
            << (defined.value() && !definition->seedGiven
                    ? "; its seed was made here and stays secret"
                    : "")
            << "\n";
        return kExitOk;
    }
    if (sub == "list") {
        auto list = c.studies();
        if (!list) return failed(err, list.error());
        for (const auto& s : list.value())
            printStudy(out, s);
        if (list->empty()) out << "no studies defined yet\n";
        return kExitOk;
    }
    const std::string& study = pos[1];
    if (sub == "allocate") {
        const auto id = Uuid::parse(device);
        if (!id) return usage(err, "'" + device + "' is not a device id");
        char* end = nullptr;
        const long n = std::strtol(blocks.c_str(), &end, 10);
        if (!end || *end != '\0' || n < 1 || n > static_cast<long>(sync::kMaxBlocksPerDevice))
            return usage(err, "--blocks takes 1 to " + std::to_string(sync::kMaxBlocksPerDevice));
        auto dealt =
            c.allocateBlocks(study, *id, static_cast<std::uint32_t>(n), nowMs(), commandActor());
        if (!dealt) return failed(err, dealt.error());
        out << "dealt " << dealt->size() << " blocks of study " << study << " to device "
            << id->toString() << " (" << n << " per stratum); it receives them at its next pull\n";
        return kExitOk;
    }
    if (sub == "balance") {
        auto balance = c.balance(study);
        if (!balance) return failed(err, balance.error());
        printBalance(out, balance.value());
        return kExitOk;
    }
    if (sub == "verify") {
        auto report = c.verifyAllocations(study);
        if (!report) return failed(err, report.error());
        out << "study " << study << ": " << report->allocations << " allocations from "
            << report->devices << " devices\n";
        if (report->ok()) {
            out << "verified: every allocation is its slot's arm with its token, in a block dealt "
                   "to its device; no slot is used twice or skipped, no case is allocated twice, "
                   "and every device's log numbers run without a gap\n";
            return kExitOk;
        }
        out << report->problems.size() << " problems (" << report->problemAllocations
            << " allocations affected):\n";
        bool gaps = false;
        for (const auto& p : report->problems) {
            out << "  " << sync::allocationProblemName(p.kind) << ": " << p.detail << "\n";
            gaps = gaps || p.kind == sync::AllocationProblem::Kind::LogGap;
        }
        if (gaps) {
            out << "missing log entries may only be records the device has not sent yet: "
                   "synchronise it and verify again\n";
        }
        return kExitFailure;
    }
    if (sub == "log") {
        auto rows = c.allocationLog(study);
        if (!rows) return failed(err, rows.error());
        std::string csv =
            "study,stratum,block,position,arm,device,log_seq,case_id,record_id,taken_utc,"
            "received_utc\n";
        for (const auto& r : rows.value()) {
            csv += cell(r.study) + "," + cell(r.stratum) + "," + std::to_string(r.block) + "," +
                   std::to_string(r.position) + "," + cell(r.arm) + "," + r.deviceId.toString() +
                   "," + std::to_string(r.logSeq) + "," + r.caseId.toString() + "," +
                   r.recordId.toString() + "," + (r.takenUtcMs ? utcTime(r.takenUtcMs) : "") + "," +
                   utcTime(r.receivedUtcMs) + "\n";
        }
        if (!hasOut) {
            out << csv;
            return kExitOk;
        }
        if (auto s = writePrivate(outPath, csv); !s) return failed(err, s.error());
        out << rows->size() << " allocations written to " << outPath << "\n";
        return kExitOk;
    }
    // seed
    auto seed = c.studySeed(study, nowMs(), commandActor());
    if (!seed) return failed(err, seed.error());
    out << toHex(seed.value()) << "\n";
    return kExitOk;
}

}  // namespace veld::veldctl
