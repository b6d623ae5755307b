// veldctl store: create, inspect and check device stores.
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <ostream>
#include <system_error>

#include <veld/device_identity.hpp>
#include <veld/platform/files.hpp>
#include <veld/platform/process.hpp>
#include <veld/platform/time.hpp>
#include <veld/project_key.hpp>
#include <veld/store.hpp>

#include "veldctl/demo.hpp"
#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

// The pilots' forms `store demo` installs: those installed next to this veldctl
// (PREFIX/share/veld/forms for PREFIX/bin/veldctl, as the veld-tools package lays them out), else
// those of the source tree it was built from.
std::string defaultFormsDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const std::string exe = platform::executablePath();
    if (!exe.empty()) {
        const fs::path installed =
            platform::fsPath(exe).parent_path().parent_path() / "share" / "veld" / "forms";
        if (fs::is_directory(installed, ec)) return platform::utf8Path(installed);
    }
    return VELD_FORMS_DIR;
}

constexpr const char* kStoreUsage = R"(usage: veldctl store SUBCOMMAND PATH [options]

Subcommands:
  init PATH              create a new, empty device store (a new device id)
  info PATH              device id, schema, record counts, outbox and quarantine
  list PATH [options]    records, newest first (answers are never printed)
      --form ID          only this form
      --status S         draft | finalized | sent | quarantined
      --case UUID        only this case
      --text TEXT        summary contains TEXT
      --limit N          records per page (default 50)
      --all              every page, not only the first
  show PATH RECORD_ID    a record's metadata and the shape of its answers
  check PATH [--quarantine]
                         SQLite integrity check plus verification of every record body;
                         --quarantine moves bad bodies aside. Exit 1 when anything is wrong.
  demo PATH [--records N] [--forms DIR]
                         install the pilots' forms from DIR (default: this source tree's
                         schemas/forms) and a demo pseudonym key, then add N synthetic records
                         on them (default 40); creates the store if needed

Each subcommand takes --help.
)";

std::string formatUtcMillis(std::int64_t ms) {
    if (ms <= 0) return "-";
    std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    const std::tm utc = platform::utcCalendar(seconds);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &utc);
    return buf;
}

int fail(std::ostream& err, const Error& e) {
    err << "veldctl: " << e.describe() << "\n";
    return kExitFailure;
}

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl store: " << message << "\n(see veldctl store --help)\n";
    return kExitUsage;
}

const char* valueKind(const AnswerValue& v) {
    static constexpr const char* kNames[] = {"text",      "integer",   "decimal",  "yes/no",
                                             "choice",    "choices",   "date",     "time",
                                             "date-time", "signature", "pseudonym"};
    return kNames[v.index()];
}

void printAnswers(std::ostream& out, const std::vector<Answer>& answers,
                  const std::vector<Repeat>& repeats, int indent) {
    std::string pad(static_cast<std::size_t>(indent), ' ');
    for (const auto& a : answers)
        out << pad << a.name << ": " << valueKind(a.value) << "\n";
    for (const auto& r : repeats) {
        out << pad << r.name << ": repeat, " << r.instances.size() << " instance(s)\n";
        for (std::size_t i = 0; i < r.instances.size(); ++i) {
            out << pad << "  [" << i + 1 << "]\n";
            printAnswers(out, r.instances[i].answers, r.instances[i].repeats, indent + 4);
        }
    }
}

void printSummaryRow(std::ostream& out, const RecordSummary& s) {
    out << s.id.toString() << "  " << std::left << std::setw(11) << recordStatusName(s.status)
        << std::setw(32) << (s.formId + " v" + std::to_string(s.formVersion)) << s.hlc.toString();
    if (s.caseId) out << "  case " << s.caseId->toString();
    out << "\n";
}

bool wantsHelp(Args& args) {
    return args.flag("--help") || args.flag("-h");
}

int cmdInit(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl store init PATH\nCreates a new device store with a new device id.\n";
        return kExitOk;
    }
    auto pos = args.positionals();
    if (pos.size() != 1 || !args.unknownOption().empty()) return usage(err, "init takes one PATH");
    if (std::error_code ec; std::filesystem::exists(platform::fsPath(pos[0]), ec))
        return fail(err, makeError(ErrorCode::InvalidArgument, pos[0] + " already exists"));
    auto store = Store::open(pos[0], {.mode = sql::OpenMode::ReadWriteCreate});
    if (!store) return fail(err, store.error());
    out << "created " << pos[0] << "\ndevice id: " << store->deviceId().toString() << "\n";
    return kExitOk;
}

int cmdInfo(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl store info PATH\nShows the device id, schema version, record "
               "counts, outbox state and quarantine size.\n";
        return kExitOk;
    }
    auto pos = args.positionals();
    if (pos.size() != 1 || !args.unknownOption().empty()) return usage(err, "info takes one PATH");
    auto store = Store::open(pos[0], {.mode = sql::OpenMode::ReadOnly});
    if (!store) return fail(err, store.error());
    auto info = store->info();
    if (!info) return fail(err, info.error());
    out << "store:        " << info->path << "\n"
        << "device id:    " << info->deviceId.toString() << "\n"
        << "schema:       " << info->schemaVersion << "\n"
        << "created:      " << formatUtcMillis(info->createdUtcMs) << "\n"
        << "last clock:   " << (info->lastHlc.value ? info->lastHlc.toString() : "-") << "\n"
        << "records:      " << info->drafts << " draft, " << info->finalized << " finalized, "
        << info->sent << " sent, " << info->quarantined << " quarantined\n"
        << "outbox:       " << info->outbox.pending << " waiting (" << info->outbox.pendingBytes
        << " bytes), sequence " << info->outbox.lastSeq << ", acknowledged through "
        << info->outbox.ackedThrough << "\n"
        << "file size:    " << info->fileBytes << " bytes\n";
    // Fingerprints of the keys (never a secret): staff compare the collector's with
    // `veldctl collector key`.
    auto deviceKey = identity::devicePublicKey(store.value());
    if (!deviceKey) return fail(err, deviceKey.error());
    auto collectorKey = identity::collectorKey(store.value());
    if (!collectorKey) return fail(err, collectorKey.error());
    out << "device key:   "
        << (deviceKey.value() ? signing::fingerprint(*deviceKey.value()) : std::string("-"))
        << "\ncollector key: "
        << (collectorKey.value() ? signing::fingerprint(*collectorKey.value()) : std::string("-"))
        << "\n";
    auto counts = store->counts();
    if (!counts) return fail(err, counts.error());
    if (!counts->empty()) out << "per form:\n";
    for (const auto& c : *counts) {
        out << "  " << std::left << std::setw(34) << c.formId << std::setw(12)
            << recordStatusName(c.status) << c.count << "\n";
    }
    return kExitOk;
}

int cmdList(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl store list PATH [--form ID] [--status S] [--case UUID] [--text T] "
               "[--limit N] [--all]\nLists records newest first. Answers and summaries are not "
               "printed.\n";
        return kExitOk;
    }
    ListQuery query;
    std::string value;
    if (args.option("--form", value)) query.formId = value;
    if (args.option("--status", value)) {
        query.status = parseRecordStatus(value);
        if (!query.status) return usage(err, "unknown status '" + value + "'");
    }
    if (args.option("--case", value)) {
        query.caseId = Uuid::parse(value);
        if (!query.caseId) return usage(err, "'" + value + "' is not a UUID");
    }
    if (args.option("--text", value)) query.text = value;
    if (args.option("--limit", value)) {
        try {
            long n = std::stol(value);
            if (n < 1) throw std::out_of_range("limit");
            query.limit = static_cast<std::size_t>(n);
        } catch (const std::exception&) {
            return usage(err, "--limit needs a positive number");
        }
    }
    bool all = args.flag("--all");
    if (!args.error.empty()) return usage(err, args.error);
    auto pos = args.positionals();
    if (pos.size() != 1) return usage(err, "list takes one PATH");
    if (auto unknown = args.unknownOption(); !unknown.empty())
        return usage(err, "unknown option " + unknown);

    auto store = Store::open(pos[0], {.mode = sql::OpenMode::ReadOnly});
    if (!store) return fail(err, store.error());
    std::size_t shown = 0;
    for (;;) {
        auto page = store->list(query);
        if (!page) return fail(err, page.error());
        for (const auto& row : page->rows)
            printSummaryRow(out, row);
        shown += page->rows.size();
        if (!all || !page->next) {
            if (page->next) out << "(more: use --all or a larger --limit)\n";
            break;
        }
        query.after = page->next;
    }
    out << shown << " record(s)\n";
    return kExitOk;
}

int cmdShow(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl store show PATH RECORD_ID\nShows a record's metadata and which "
               "questions are answered, with their types; never the answers themselves.\n";
        return kExitOk;
    }
    auto pos = args.positionals();
    if (pos.size() != 2 || !args.unknownOption().empty())
        return usage(err, "show takes PATH and RECORD_ID");
    auto id = Uuid::parse(pos[1]);
    if (!id) return usage(err, "'" + pos[1] + "' is not a record id");
    auto store = Store::open(pos[0], {.mode = sql::OpenMode::ReadOnly});
    if (!store) return fail(err, store.error());
    auto rec = store->get(*id);
    if (!rec) return fail(err, rec.error());
    const auto& m = rec->meta;
    const auto& r = rec->record;
    out << "record:     " << m.id.toString() << "\n"
        << "form:       " << m.formId << " v" << m.formVersion << "\n"
        << "status:     " << recordStatusName(m.status) << "\n"
        << "device:     " << r.deviceId.toString() << "\n"
        << "created:    " << m.createdHlc.toString() << "\n"
        << "revision:   " << m.hlc.toString() << "\n"
        << "case:       " << (m.caseId ? m.caseId->toString() : "-") << "\n"
        << "language:   "
        << (r.content.paradata.language.empty() ? "-" : r.content.paradata.language) << "\n"
        << "body:       " << m.bodyBytes << " bytes\n";
    if (r.sealed) {
        out << "sealed:     to project key " << r.sealed->keyId
            << " (answers, language and timings open only with the key ring)\n";
        return kExitOk;
    }
    out << "answers (values are not shown):\n";
    printAnswers(out, r.content.answers, r.content.repeats, 2);
    return kExitOk;
}

int cmdCheck(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl store check PATH [--quarantine]\nRuns SQLite's integrity check and "
               "verifies every record body (FlatBuffers Verifier and Veld's record checks).\n"
               "With --quarantine, bodies that fail are moved to the quarantine.\nExit 0 when "
               "all is well, 1 when anything is wrong.\n";
        return kExitOk;
    }
    bool move = args.flag("--quarantine");
    auto pos = args.positionals();
    if (pos.size() != 1 || !args.unknownOption().empty()) return usage(err, "check takes one PATH");
    auto store =
        Store::open(pos[0], {.mode = move ? sql::OpenMode::ReadWrite : sql::OpenMode::ReadOnly});
    if (!store) return fail(err, store.error());
    auto report = store->check(move);
    if (!report) return fail(err, report.error());
    out << "integrity:   " << (report->integrityOk ? "ok" : "FAILED") << "\n";
    for (const auto& line : report->integrityMessages)
        out << "  " << line << "\n";
    out << "bodies:      " << report->bodiesChecked << " checked, " << report->badBodies.size()
        << " bad, " << report->alreadyQuarantined << " already quarantined";
    if (report->newerBodies > 0)
        out << ", " << report->newerBodies << " written by a newer Veld (not checked, not bad)";
    out << "\n";
    for (const auto& bad : report->badBodies) {
        out << "  " << bad.recordId.toString() << " (" << recordStatusName(bad.previousStatus)
            << "): " << bad.reason << "\n";
    }
    if (!report->badBodies.empty()) {
        out << (report->moved ? "moved to the quarantine\n"
                              : "run again with --quarantine to move them aside\n");
    }
    return report->ok() ? kExitOk : kExitFailure;
}

int cmdDemo(Args& args, std::ostream& out, std::ostream& err) {
    if (wantsHelp(args)) {
        out << "usage: veldctl store demo PATH [--records N] [--forms DIR] [--ring RING [--id "
               "ID]]\nCreates the store if needed, installs every form (*.json) in DIR (default: "
            << defaultFormsDir()
            << "), stores a demo pseudonym key (id demo) unless the store has a key, and adds N "
               "synthetic records (default 40) filled in on the installed forms, about a third "
               "left as drafts. Records of sealed forms are sealed to the project key: the one "
               "the store has (from enrolment), or the newest public key of RING (or key ID) "
               "given here; without one, sealed forms get no records.\n";
        return kExitOk;
    }
    int count = 40;
    std::string value;
    if (args.option("--records", value)) {
        try {
            count = std::stoi(value);
            if (count < 0) throw std::out_of_range("records");
        } catch (const std::exception&) {
            return usage(err, "--records needs a number >= 0");
        }
    }
    std::string formsDir = defaultFormsDir();
    args.option("--forms", formsDir);
    std::string ring, keyId;
    args.option("--ring", ring);
    args.option("--id", keyId);
    if (!args.error.empty()) return usage(err, args.error);
    auto pos = args.positionals();
    if (pos.size() != 1 || !args.unknownOption().empty()) return usage(err, "demo takes one PATH");
    if (!keyId.empty() && ring.empty()) return usage(err, "--id needs --ring");
    std::string projectKey;
    if (!ring.empty()) {
        auto key = ringPublicKey(ring, keyId);
        if (!key) return fail(err, key.error());
        projectKey = key.value();
    }
    auto store = Store::open(pos[0], {.mode = sql::OpenMode::ReadWriteCreate});
    if (!store) return fail(err, store.error());
    if (!projectKey.empty()) {
        if (Status s = store->setSetting(projectkey::kKeySetting, projectKey); !s)
            return fail(err, s.error());
    }
    auto setup = setUpDemo(*store, formsDir);
    if (!setup) return fail(err, setup.error());
    out << "forms: " << setup->installed.size() << " installed, " << setup->alreadyInstalled.size()
        << " already installed\n";
    for (const auto& name : setup->kept) {
        out << "  " << name
            << ": the store holds other content under this version; kept the installed one\n";
    }
    if (setup->keyCreated) out << "stored a demo pseudonym key (id " << kDemoKeyId << ")\n";
    auto added = addDemoRecords(*store, count, 20261125);
    if (!added) return fail(err, added.error());
    out << "added " << added->finalized << " finalized (" << added->sealed << " sealed) and "
        << added->drafts << " draft demo records to " << pos[0] << "\n";
    for (const auto& form : added->skipped) {
        out << "  " << form
            << ": sealed form, no records (no project key: enrol first, or give --ring)\n";
    }
    return kExitOk;
}

}  // namespace

int storeCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    if (argv.empty()) {
        err << kStoreUsage;
        return kExitUsage;
    }
    const std::string& sub = argv[0];
    if (sub == "--help" || sub == "-h" || sub == "help") {
        out << kStoreUsage;
        return kExitOk;
    }
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (sub == "init") return cmdInit(args, out, err);
    if (sub == "info") return cmdInfo(args, out, err);
    if (sub == "list") return cmdList(args, out, err);
    if (sub == "show") return cmdShow(args, out, err);
    if (sub == "check") return cmdCheck(args, out, err);
    if (sub == "demo") return cmdDemo(args, out, err);
    return usage(err, "unknown subcommand '" + sub + "'");
}

}  // namespace veld::veldctl
