// veldctl export: a form's records at the collector, for evaluators, as CSV, SPSS .sav,
// Stata .dta or an Excel workbook, with a codebook. Reads the collector's file on the collector's
// machine; the collector may keep running (the export reads one snapshot of it). Sealed records
// open with the project key ring (--ring), unlocked here and never kept.
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <map>
#include <ostream>

#include <sodium.h>
#include <unistd.h>

#include <veld/private_files.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/export.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kExportUsage = R"(usage: veldctl export COLLECTOR FORM [options]
       veldctl export COLLECTOR --pilot PILOT [options]

Writes the current view of FORM's records into a folder: FORM.EXT (one row per record, one
column per question; a select-many question as one 0/1 column per choice), FORM-REPEAT.EXT per
repeat (one row per instance, keyed by record_id and its place), and FORM-codebook.csv
(variables, their names in .sav and .dta, types, labels and value labels in every language).
As xlsx, all of them are sheets of one workbook, FORM.xlsx.

With --pilot, every form of that pilot (by the newest version's `pilot`) is exported this way.

Options:
  --format csv|sav|dta|xlsx
                         file format (default csv); xlsx: an Excel workbook, a sheet per table
                         (at most 1,048,575 rows and 32,767 characters a cell, else an error)
  --values codes|labels  coded answers (choices, consent, review state) as their codes (the
                         default; value labels in .sav and .dta) or as their labels, in text
                         columns, in every format
  --out DIR              folder for the files (default: the current folder; made, mode 0700, if
                         missing); files are written mode 0600
  --language TAG         labels in this language (default: the form's own default)
  --version N            only records whose current revision used form version N
  --from YYYY-MM-DD      only records last changed on or after that day (UTC)
  --until YYYY-MM-DD     ... and before that day
  --review STATE         only records in that review state: received, has-issues, approved,
                         rejected, corrected
  --ring RING            open sealed records with the keys of this project key ring (veldctl
                         keys); every key is unlocked before anything is written
  --passphrase-file F    the ring's passphrase is the first line of F; else it comes from
                         VELD_KEY_PASSPHRASE, else it is asked for on the terminal (once)

Pseudonymous identifiers appear as their digest, never in a raw form. A record without answers
in the files has a row with its key, and `unreadable` says why: 1 its body is damaged or cannot
be read, 2 it is sealed and no key for it was given (without --ring, or a key the ring lacks),
3 it is sealed and does not open with its key. The count of sealed records not opened goes to
stderr. On a terminal, stderr shows the records written so far.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl export: " << message << "\n(see veldctl export --help)\n";
    return kExitUsage;
}

std::optional<std::int64_t> dayStartMs(const std::string& text) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%Y-%m-%d", &tm);
    if (!end || *end != '\0') return std::nullopt;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

}  // namespace

int exportCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    Args args(argv);
    if (argv.empty() || args.flag("--help") || args.flag("-h")) {
        (argv.empty() ? err : out) << kExportUsage;
        return argv.empty() ? kExitUsage : kExitOk;
    }
    std::string format = "csv";
    std::string values = "codes";
    std::string dir = ".";
    std::string language;
    std::string version;
    std::string from;
    std::string until;
    std::string review;
    std::string pilot;
    std::string ringPath;
    std::string passphraseFile;
    args.option("--pilot", pilot);
    args.option("--ring", ringPath);
    args.option("--passphrase-file", passphraseFile);
    args.option("--format", format);
    args.option("--values", values);
    args.option("--out", dir);
    args.option("--language", language);
    args.option("--version", version);
    args.option("--from", from);
    args.option("--until", until);
    args.option("--review", review);
    if (!args.error.empty()) return usage(err, args.error);
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pilot.empty() && pos.size() != 2) return usage(err, "export takes COLLECTOR FORM");
    if (!pilot.empty() && pos.size() != 1)
        return usage(err, "export --pilot takes COLLECTOR, not a form");

    sync::ExportOptions options;
    if (pilot.empty()) options.formId = pos[1];
    options.language = language;
    options.directory = dir;
    const auto parsedFormat = sync::parseExportFormat(format);
    if (!parsedFormat || *parsedFormat == sync::ExportFormat::Records)
        return usage(err, "--format is csv, sav, dta or xlsx");
    options.format = *parsedFormat;
    const auto parsedValues = sync::parseExportValues(values);
    if (!parsedValues) return usage(err, "--values is codes or labels");
    options.values = *parsedValues;
    if (!version.empty()) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(version.c_str(), &end, 10);
        if (!end || *end != '\0' || version[0] == '-' || v > 0xFFFFFFFFul)
            return usage(err, "--version takes a whole number");
        options.filter.formVersion = static_cast<std::uint32_t>(v);
    }
    if (!from.empty()) {
        options.filter.fromUtcMs = dayStartMs(from);
        if (!options.filter.fromUtcMs) return usage(err, "--from takes a date as YYYY-MM-DD");
    }
    if (!until.empty()) {
        options.filter.untilUtcMs = dayStartMs(until);
        if (!options.filter.untilUtcMs) return usage(err, "--until takes a date as YYYY-MM-DD");
    }
    if (!review.empty()) {
        options.filter.review = sync::parseReviewState(review);
        if (!options.filter.review)
            return usage(err, "--review is received, has-issues, approved, rejected or corrected");
    }
    if (!passphraseFile.empty() && ringPath.empty())
        return usage(err, "--passphrase-file goes with --ring");
    // Every key is unlocked before anything is written: a wrong passphrase leaves no files.
    if (!ringPath.empty()) {
        auto ring = readKeyRing(ringPath, false);
        if (!ring) {
            err << "veldctl export: " << ring.error().describe() << "\n";
            return kExitFailure;
        }
        if (ring->empty()) {
            err << "veldctl export: no keys in " << ringPath << "\n";
            return kExitFailure;
        }
        auto phrase = passphrase(passphraseFile, false, "export", err);
        if (!phrase) return kExitFailure;
        auto keys = projectkey::unlockAll(ring.value(), *phrase);
        sodium_memzero(phrase->data(), phrase->size());  // not needed any more
        if (!keys) {
            err << "veldctl export: cannot unlock the key ring " << ringPath << ": "
                << keys.error().message << "; nothing was exported\n";
            return kExitFailure;
        }
        options.keys = std::move(keys.value());
    }
    // The files hold the pilots' data: a folder made here is the owner's only (0700).
    if (auto s = files::makePrivateFolder(dir); !s) {
        err << "veldctl export: " << s.error().message << "\n";
        return kExitFailure;
    }
    auto store = openCollectorStore(pos[0], false, "export", err);
    if (!store) return kExitFailure;
    // Progress on a terminal only: a log file gets the result, not a line per thousand records.
    const bool terminal = isatty(STDERR_FILENO) != 0;
    std::vector<std::string> formIds;
    if (pilot.empty()) {
        formIds.push_back(options.formId);
    } else {
        auto published = store.value()->publishedForms();
        if (!published) {
            err << "veldctl export: " << published.error().describe() << "\n";
            return kExitFailure;
        }
        // A form belongs to the pilot its newest version names.
        std::map<std::string, std::pair<std::uint32_t, std::string>> newest;
        for (const auto& f : published.value()) {
            auto& n = newest[f.formId];
            if (f.version >= n.first) n = {f.version, f.pilot};
        }
        for (const auto& [id, n] : newest) {
            if (n.second == pilot) formIds.push_back(id);
        }
        if (formIds.empty()) {
            err << "veldctl export: no published form belongs to the pilot '" << pilot << "'\n";
            return kExitFailure;
        }
    }
    for (const auto& formId : formIds) {
        options.formId = formId;
        ProgressLine progress(err, "veldctl export: " + formId, terminal, nowMs);
        options.progress = [&progress](std::int64_t done, std::int64_t total) {
            progress.update(done, total);
        };
        auto result = sync::exportForm(*store.value(), options);
        progress.finish();
        if (!result) {
            err << "veldctl export: " << formId << ": " << result.error().describe() << "\n";
            return kExitFailure;
        }
        for (const auto& f : result->files)
            out << f << "\n";
        out << formId << ": " << result->records << " records";
        if (result->unreadable > 0) out << ", " << result->unreadable << " unreadable";
        out << "\n";
        if (result->sealedUnopened > 0) {
            err << "veldctl export: " << formId << ": " << result->sealedUnopened
                << " sealed records were not opened (their rows have no answers, unreadable = 2 "
                   "or 3); "
                << (ringPath.empty() ? std::string("--ring RING opens them")
                                     : "their key is not in " + ringPath + ", or they are damaged")
                << "\n";
        }
    }
    return kExitOk;
}

}  // namespace veld::veldctl
