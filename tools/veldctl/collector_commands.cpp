// veldctl collector: set up and run the central collector's store: devices, enrolment codes,
// revocation and published forms. It opens the collector's file directly, on the collector's
// machine; every change is written to the collector's audit log.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <ostream>

#include <unistd.h>

#include <veld/form.hpp>
#include <veld/hex.hpp>
#include <veld/private_files.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/xlsform.hpp>

#include "veldctl/demo.hpp"
#include "veldctl/tls_cert.hpp"
#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kCollectorUsage = R"(usage: veldctl collector SUBCOMMAND FILE [arguments]

Subcommands (FILE is the collector's store: an SQLite file, or a PostgreSQL database as
postgresql://USER@HOST[:PORT]/DATABASE with the global --store-password-file or PGPASSFILE):
  init FILE                      create a new collector store (with its id and pseudonym key); a
                                 PostgreSQL database must exist and be empty
  enrol-code FILE [--label L]    print a one-time enrolment code for one device (valid 7 days)
  provision FILE --label NAME --url URL [--ca PEM] [--valid DAYS] -o OUTPUT.veldenrol
                                 write a provisioning file for one device: the collector's
                                 address and certificate and a one-time code (mode 0600);
                                 -o may be written --output
  import FILE BUNDLE [--reply-out REPLY]
                                 import a device's bundle (sync by USB stick) and write the
                                 reply for the device
  key FILE                       the collector's public signing key (hex) and its fingerprint:
                                 devices get it at enrolment; compare the fingerprint with the
                                 one a device shows (veldctl store info) by phone or on paper
  verify-chain FILE [--device ID] [--case ID]
                                 check each device's hash chain: missing, altered or reordered
                                 revisions (exit code 1 when any); with --case, whether the
                                 case's records are covered by complete chains
  devices FILE                   enrolled devices: id, label, enrolled, last contact, received
                                 through, revisions, waiting (as the device said), revoked
  reenrol-code FILE DEVICE-ID    print a one-time code with which that known device (and only
                                 it) may enrol again, e.g. a reinstalled laptop that lost its
                                 credential (valid 7 days; audited). A device that still has its
                                 credential re-enrols with any code without this
  revoke FILE DEVICE-ID          refuse that device from its next request on
  team FILE DEVICE-ID TEAM       put a device in a team ("" for none): cases assigned to the team
                                 reach it; those of its old team leave it at its next pull
  publish FILE FORM...           check and publish forms (.xlsx workbooks, JSON or compiled) to
                                 every device
  status FILE                    counts: devices, records, revisions, rejected, conflicts,
                                 implausible clocks, forms
  audit FILE                     the audit log: enrolments, revocations, publications, reviews
  conflicts FILE                 open conflicts: number, record, both revisions' devices
  resolve FILE NUMBER keep-a|keep-b|merge|close [--from-b NAME,...] [--comment TEXT]
                                 settle a conflict: keep one revision, or merge (the named
                                 answers from B, the rest from A); a new revision, nothing lost;
                                 or close it, the current revision staying (sealed revisions)
  duplicates FILE                likely duplicate participants: records sharing a pseudonym or
                                 every identifying answer, with staff's decision
  decide FILE KEY same-person|different-people [--comment TEXT]
                                 record a decision on a group of likely duplicates
  admin-add FILE NAME            a credential for a member of staff to use the console (printed
                                 once; a new one for an existing NAME replaces the old)
  admin-revoke FILE NAME         refuse that staff member's credential from now on
  admins FILE                    staff with a console credential
  tls-selfsigned DIR [--host NAME,...] [--days N]
                                 write DIR/cert.pem and DIR/key.pem (0600): a self-signed
                                 certificate for NAMEs (default localhost,127.0.0.1; 365 days);
                                 serve with --tls-cert/--tls-key, enrol devices with --ca
  use-key FILE RING [--id ID]    hand devices the public half of the ring's newest key (or ID)
                                 to seal records to: at enrolment, and at their next pull
  demo-conflict FILE             for trying the console: a second demo device edits one record
                                 without seeing the current revision, making a conflict
  review FILE RECORD-ID [STATE] [--comment TEXT]
                                 show a record's review state and its history, or set it:
                                 received, has-issues (sends the record back to the field),
                                 approved, rejected; "corrected" is set when a correction
                                 arrives from the field
  backup FILE DEST               a consistent copy of the store in the new file DEST, taken while
                                 the collector runs (checked before it is given its name)
  restore BACKUP FILE [--force]  make FILE a copy of a checked backup; refused while a collector
                                 holds FILE; an existing FILE needs --force and is kept as
                                 FILE.before-restore
  copy --from LOCATION --to LOCATION
                                 move a collector to a new store (an SQLite file or
                                 postgresql://...): every table in one transaction, then rows and
                                 digests of every table compared on both sides
  webhook add|list|deliveries|retry|remove FILE ...
                                 URLs the collector posts signed events to (a record received,
                                 a review changed), and their deliveries
                                 (veldctl collector webhook --help)

Each subcommand takes --help. Run the server with veld-collector --store FILE.
)";

std::string actor() {
    const char* user = getenv("USER");
    return std::string("veldctl:") + (user && *user ? user : "unknown");
}

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl collector: " << message << "\n(see veldctl collector --help)\n";
    return kExitUsage;
}

Result<std::unique_ptr<sync::CollectorStore>> openCollector(const std::string& file, bool create,
                                                            std::ostream& err) {
    return openCollectorStore(file, create, "collector", err);
}

}  // namespace

int collectorCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    if (argv.empty()) {
        err << kCollectorUsage;
        return kExitUsage;
    }
    const std::string sub = argv[0];
    if (sub == "backup" || sub == "restore") return collectorBackupCommand(argv, out, err);
    if (sub == "copy") return collectorCopyCommand(argv, out, err);
    if (sub == "verify-chain") return collectorChainCommand(argv, out, err);
    if (sub == "webhook") return collectorWebhookCommand(argv, out, err);
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (sub == "--help" || sub == "-h") {
        out << kCollectorUsage;
        return kExitOk;
    }
    if (sub == "provision")
        return provisionCommand(std::vector<std::string>(argv.begin() + 1, argv.end()), out, err);
    if (sub == "import")
        return collectorImportCommand(std::vector<std::string>(argv.begin() + 1, argv.end()), out,
                                      err);
    if (args.flag("--help") || args.flag("-h")) {
        out << kCollectorUsage;
        return kExitOk;
    }
    std::string label;
    args.option("--label", label);
    std::string comment;
    args.option("--comment", comment);
    std::string fromB;
    args.option("--from-b", fromB);
    std::string keyId;
    args.option("--id", keyId);
    std::string hosts = "localhost,127.0.0.1";
    args.option("--host", hosts);
    std::string days = "365";
    args.option("--days", days);
    if (!args.error.empty()) return usage(err, args.error);
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pos.empty()) return usage(err, sub + " needs the collector's FILE");
    const std::string& file = pos[0];

    if (sub == "tls-selfsigned") {
        if (pos.size() != 1) return usage(err, "tls-selfsigned takes DIR");
        std::vector<std::string> names;
        for (std::size_t start = 0; start <= hosts.size();) {
            const auto comma = std::min(hosts.find(',', start), hosts.size());
            if (comma > start) names.push_back(hosts.substr(start, comma - start));
            start = comma + 1;
        }
        const int validDays = std::atoi(days.c_str());
        if (names.empty() || validDays < 1 || validDays > 3650)
            return usage(err, "--host takes names, --days 1 to 3650");
        std::error_code ec;
        std::filesystem::create_directories(file, ec);
        const std::string cert = file + "/cert.pem";
        const std::string key = file + "/key.pem";
        if (auto s = writeSelfSignedCertificate(cert, key, names, validDays); !s) {
            err << "veldctl collector: " << s.error().describe() << "\n";
            return kExitFailure;
        }
        out << cert << "\n" << key << "\n";
        return kExitOk;
    }
    if (sub == "init" && sync::isPostgresLocation(file)) {
        if (pos.size() != 1) return usage(err, "init takes FILE");
        auto store = openCollector(file, true, err);
        if (!store) return kExitFailure;
        auto id = store.value()->collectorId();
        out << "collector " << (id ? id.value() : "?") << " in "
            << sync::describeStoreLocation(file) << "\n";
        return kExitOk;
    }
    if (sub == "init") {
        if (pos.size() != 1) return usage(err, "init takes FILE");
        if (access(file.c_str(), F_OK) == 0) {
            err << "veldctl collector: " << file << " exists already; nothing changed\n";
            return kExitFailure;
        }
        auto store = openCollector(file, true, err);
        if (!store) return kExitFailure;
        auto id = store.value()->collectorId();
        out << "created collector " << (id ? id.value() : "?") << " in " << file << "\n";
        // The file is the owner's only; a folder others may read is refused by veld-collector.
        const auto folder = std::filesystem::absolute(file).parent_path().string();
        if (auto s = files::checkPrivate(folder); !s) {
            err << "veldctl collector: warning: " << s.error().message
                << "; veld-collector will not start until it is\n";
        }
        return kExitOk;
    }
    auto store = openCollector(file, false, err);
    if (!store) return kExitFailure;
    sync::CollectorStore& c = *store.value();

    if (sub == "enrol-code") {
        auto code = c.createEnrolCode(label, nowMs(), actor());
        if (!code) {
            err << "veldctl collector: " << code.error().describe() << "\n";
            return kExitFailure;
        }
        out << code.value() << "\n";
        return kExitOk;
    }
    if (sub == "key") {
        if (pos.size() != 1) return usage(err, "key takes FILE");
        const signing::PublicKey key = c.collectorSigningPublicKey();
        out << "public key  " << toHex(key) << "\nfingerprint " << signing::fingerprint(key)
            << "\n";
        return kExitOk;
    }
    if (sub == "devices") {
        auto devices = c.devices();
        if (!devices) {
            err << "veldctl collector: " << devices.error().describe() << "\n";
            return kExitFailure;
        }
        bool any = false;
        for (const auto& d : devices.value()) {
            if (d.staff) continue;  // the collector's own device for staff's revisions
            any = true;
            out << d.deviceId.toString() << "  " << (d.label.empty() ? "-" : d.label)
                << "  enrolled " << utcTime(d.enrolledUtcMs) << "  last contact "
                << (d.lastContactUtcMs ? utcTime(*d.lastContactUtcMs) : std::string("never"))
                << "  received through " << d.receivedThrough << "  revisions " << d.revisions
                << "  waiting " << (d.waiting ? std::to_string(*d.waiting) : std::string("-"))
                << (d.team.empty() ? std::string() : "  team " + d.team)
                << (d.lastBundle ? "  last bundle " + std::to_string(*d.lastBundle) : std::string())
                << (d.revokedUtcMs ? "  REVOKED " + utcTime(*d.revokedUtcMs) : std::string())
                << "\n";
        }
        if (!any) out << "no devices enrolled yet\n";
        return kExitOk;
    }
    if (sub == "reenrol-code") {
        if (pos.size() != 2) return usage(err, "reenrol-code takes FILE DEVICE-ID");
        auto id = Uuid::parse(pos[1]);
        if (!id) return usage(err, "'" + pos[1] + "' is not a device id");
        auto code = c.createReenrolCode(*id, nowMs(), actor());
        if (!code) {
            err << "veldctl collector: " << code.error().describe() << "\n";
            return kExitFailure;
        }
        out << code.value() << "\n";
        return kExitOk;
    }
    if (sub == "revoke") {
        if (pos.size() != 2) return usage(err, "revoke takes FILE DEVICE-ID");
        auto id = Uuid::parse(pos[1]);
        if (!id) return usage(err, "'" + pos[1] + "' is not a device id");
        if (auto s = c.revoke(*id, nowMs(), actor()); !s) {
            err << "veldctl collector: " << s.error().describe() << "\n";
            return kExitFailure;
        }
        out << "revoked " << id->toString() << "\n";
        return kExitOk;
    }
    if (sub == "team") {
        if (pos.size() != 3) return usage(err, "team takes FILE DEVICE-ID TEAM");
        auto id = Uuid::parse(pos[1]);
        if (!id) return usage(err, "'" + pos[1] + "' is not a device id");
        if (auto s = c.setDeviceTeam(*id, pos[2], nowMs(), actor()); !s) {
            err << "veldctl collector: " << s.error().describe() << "\n";
            return kExitFailure;
        }
        out << "device " << id->toString()
            << (pos[2].empty() ? " is in no team\n" : " is in team " + pos[2] + "\n");
        return kExitOk;
    }
    if (sub == "publish") {
        if (pos.size() < 2) return usage(err, "publish takes FILE FORM...");
        int failed = 0;
        for (std::size_t i = 1; i < pos.size(); ++i) {
            auto check = xlsform::loadAnyFormFile(pos[i]);
            if (!check.ok()) {
                for (const auto& p : check.problems)
                    err << p.describe() << "\n";
                ++failed;
                continue;
            }
            auto published = c.publish(check.binary, nowMs(), actor());
            if (!published) {
                err << pos[i] << ": " << published.error().describe() << "\n";
                ++failed;
                continue;
            }
            out << pos[i] << ": " << (published.value() ? "published" : "already published")
                << "\n";
        }
        return failed ? kExitFailure : kExitOk;
    }
    if (sub == "status") {
        auto s = c.stats();
        if (!s) {
            err << "veldctl collector: " << s.error().describe() << "\n";
            return kExitFailure;
        }
        out << "devices " << s->devices << "\nrecords " << s->records << "\nrevisions "
            << s->revisions << "\nrejected " << s->rejected << "\nconflicts " << s->conflicts
            << "\nimplausible clocks " << s->flaggedClocks << "\nforms " << s->forms << "\n";
        return kExitOk;
    }
    if (sub == "audit") {
        auto entries = c.audit();
        if (!entries) {
            err << "veldctl collector: " << entries.error().describe() << "\n";
            return kExitFailure;
        }
        for (const auto& e : entries.value()) {
            out << utcTime(e.utcMs) << "  " << e.actor << "  " << e.action << "  " << e.subject
                << (e.detail.empty() ? "" : "  " + e.detail) << "\n";
        }
        return kExitOk;
    }
    if (sub == "conflicts") {
        auto open = c.conflicts();
        if (!open) {
            err << "veldctl collector: " << open.error().describe() << "\n";
            return kExitFailure;
        }
        for (const auto& k : open.value()) {
            out << k.id << "  record " << k.recordId.toString() << "  A " << k.deviceA.toString()
                << "  B " << k.deviceB.toString() << "  detected " << utcTime(k.detectedUtcMs)
                << "\n";
        }
        return kExitOk;
    }
    if (sub == "resolve") {
        if (pos.size() != 3)
            return usage(err, "resolve takes FILE NUMBER keep-a|keep-b|merge|close");
        char* end = nullptr;
        const long long number = std::strtoll(pos[1].c_str(), &end, 10);
        if (!end || *end != '\0' || number <= 0) return usage(err, "the conflict NUMBER");
        sync::ConflictResolution how;
        how.comment = comment;
        if (pos[2] == "keep-a") {
            how.kind = sync::ConflictResolution::Kind::KeepA;
        } else if (pos[2] == "keep-b") {
            how.kind = sync::ConflictResolution::Kind::KeepB;
        } else if (pos[2] == "merge") {
            how.kind = sync::ConflictResolution::Kind::Merge;
            std::size_t start = 0;
            while (start <= fromB.size() && !fromB.empty()) {
                const auto comma = fromB.find(',', start);
                const std::string name = fromB.substr(start, comma - start);
                if (!name.empty()) how.fromB.push_back(name);
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
            if (how.fromB.empty()) return usage(err, "merge needs --from-b NAME,...");
        } else if (pos[2] == "close") {
            how.kind = sync::ConflictResolution::Kind::Close;
        } else {
            return usage(err, "resolve with keep-a, keep-b, merge or close");
        }
        auto done = c.resolveConflict(number, how, nowMs(), actor());
        if (!done) {
            err << "veldctl collector: " << done.error().describe() << "\n";
            return kExitFailure;
        }
        out << "resolved: record " << done->recordId.toString()
            << (how.kind == sync::ConflictResolution::Kind::Close
                    ? " keeps its current revision\n"
                    : " has a new current revision\n");
        return kExitOk;
    }
    if (sub == "admin-add" || sub == "admin-revoke") {
        if (pos.size() != 2) return usage(err, sub + " takes FILE NAME");
        if (sub == "admin-add") {
            auto credential = c.addAdmin(pos[1], nowMs(), actor());
            if (!credential) {
                err << "veldctl collector: " << credential.error().describe() << "\n";
                return kExitFailure;
            }
            // The only time the credential is shown: on stdout, for the staff member's console.
            out << credential.value() << "\n";
            return kExitOk;
        }
        if (auto s = c.revokeAdmin(pos[1], nowMs(), actor()); !s) {
            err << "veldctl collector: " << s.error().describe() << "\n";
            return kExitFailure;
        }
        out << "revoked " << pos[1] << "\n";
        return kExitOk;
    }
    if (sub == "admins") {
        auto list = c.admins();
        if (!list) {
            err << "veldctl collector: " << list.error().describe() << "\n";
            return kExitFailure;
        }
        for (const auto& a : list.value()) {
            out << a.name << "  since " << utcTime(a.createdUtcMs)
                << (a.revokedUtcMs ? "  revoked " + utcTime(*a.revokedUtcMs) : std::string())
                << "\n";
        }
        return kExitOk;
    }
    if (sub == "duplicates") {
        auto groups = c.duplicates();
        if (!groups) {
            err << "veldctl collector: " << groups.error().describe() << "\n";
            return kExitFailure;
        }
        for (const auto& g : groups.value()) {
            out << g.key << "  "
                << (g.kind == sync::DuplicateGroup::Kind::SamePseudonym ? "same pseudonym ("
                                                                        : "same answers (")
                << g.question << ")  "
                << (g.decision == sync::DuplicateDecision::SamePerson        ? "same person"
                    : g.decision == sync::DuplicateDecision::DifferentPeople ? "different people"
                                                                             : "undecided")
                << "\n";
            for (const auto& id : g.records)
                out << "    " << id.toString() << "\n";
        }
        return kExitOk;
    }
    if (sub == "decide") {
        if (pos.size() != 3)
            return usage(err, "decide takes FILE KEY same-person|different-people");
        sync::DuplicateDecision decision;
        if (pos[2] == "same-person") {
            decision = sync::DuplicateDecision::SamePerson;
        } else if (pos[2] == "different-people") {
            decision = sync::DuplicateDecision::DifferentPeople;
        } else {
            return usage(err, "decide with same-person or different-people");
        }
        if (auto s = c.decideDuplicate(pos[1], decision, comment, nowMs(), actor()); !s) {
            err << "veldctl collector: " << s.error().describe() << "\n";
            return kExitFailure;
        }
        out << "decided\n";
        return kExitOk;
    }
    if (sub == "use-key") {
        if (pos.size() != 2) return usage(err, "use-key takes FILE RING");
        auto key = ringPublicKey(pos[1], keyId);
        if (!key) {
            err << "veldctl collector: " << key.error().describe() << "\n";
            return kExitFailure;
        }
        if (auto s = c.setProjectKey(key.value(), nowMs(), actor()); !s) {
            err << "veldctl collector: " << s.error().describe() << "\n";
            return kExitFailure;
        }
        out << "devices now seal to " << key.value() << "\n";
        return kExitOk;
    }
    if (sub == "demo-conflict") {
        if (pos.size() != 1) return usage(err, "demo-conflict takes FILE");
        auto made = veldctl::addDemoConflict(c, nowMs(), actor());
        if (!made) {
            err << "veldctl collector: " << made.error().describe() << "\n";
            return kExitFailure;
        }
        out << "conflict made on record " << made->toString() << "\n";
        return kExitOk;
    }
    if (sub == "review") {
        if (pos.size() != 2 && pos.size() != 3)
            return usage(err, "review takes FILE RECORD-ID [STATE]");
        const auto id = Uuid::parse(pos[1]);
        if (!id) return usage(err, "'" + pos[1] + "' is not a record id");
        if (pos.size() == 3) {
            const auto state = sync::parseReviewState(pos[2]);
            if (!state)
                return usage(err, "the state is received, has-issues, approved or rejected");
            if (auto s = c.setReview(*id, *state, comment, nowMs(), actor()); !s) {
                err << "veldctl collector: " << s.error().describe() << "\n";
                return kExitFailure;
            }
        }
        auto review = c.review(*id);
        if (!review) {
            err << "veldctl collector: " << review.error().describe() << "\n";
            return kExitFailure;
        }
        out << "state " << sync::reviewStateName(review->state) << "\n";
        for (const auto& h : review->history) {
            out << utcTime(h.utcMs) << "  " << h.actor << "  " << sync::reviewStateName(h.state)
                << (h.comment.empty() ? "" : "  " + h.comment) << "\n";
        }
        // Where the record sent back to the field is (see "has-issues").
        auto correction = c.correction(*id);
        if (!correction) {
            err << "veldctl collector: " << correction.error().describe() << "\n";
            return kExitFailure;
        }
        if (correction->has_value()) {
            const auto& k = **correction;
            out << "correction " << correctionStateName(k.state);
            if (k.state == CorrectionState::Corrected)
                out << " by revision " << k.correctedBy.toString();
            out << "\n";
        }
        return kExitOk;
    }
    return usage(err, "unknown subcommand '" + sub + "'");
}

}  // namespace veld::veldctl
