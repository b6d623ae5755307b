// veldctl keys: the project key ring that central staff keep (never on devices). Each key's
// private half is locked with a passphrase; the public half is what devices seal records to.
#include <ostream>

#include <veld/platform/files.hpp>
#include <veld/project_key.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kKeysUsage = R"(usage: veldctl keys SUBCOMMAND RING [options]

The project key ring: a file of key pairs whose private halves are locked with a passphrase
(Argon2id, then XSalsa20-Poly1305). Keep it, and its passphrase, with central staff only.

Subcommands:
  new RING --id ID     make a key pair and add it to RING (created, mode 0600, if missing);
                       old keys stay, so records sealed with them still open
  list RING            every key: id, when it was made, its public key (ID:HEX)
  check RING           unlock every key with the passphrase; says which do not open

The passphrase (at least 12 characters) is read from the file named by --passphrase-file, else
from the environment variable VELD_KEY_PASSPHRASE, else asked for on the terminal. It is never
printed or logged.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl keys: " << message << "\n(see veldctl keys --help)\n";
    return kExitUsage;
}

// Writes the ring (private) next to it first, then renames: a failure never leaves half a ring.
Status writeRing(const std::string& path, const std::vector<projectkey::LockedKey>& ring) {
    return platform::writeFileAtomically(path, projectkey::formatRing(ring),
                                         platform::Access::Private);
}

}  // namespace

Result<std::string> ringPublicKey(const std::string& ringPath, const std::string& id) {
    auto ring = readKeyRing(ringPath, false);
    if (!ring) return ring.error();
    if (ring->empty()) return makeError(ErrorCode::NotFound, "no keys in " + ringPath);
    if (id.empty()) return projectkey::formatPublicKey(ring->back().publicKey);
    for (const auto& k : ring.value()) {
        if (k.publicKey.id == id) return projectkey::formatPublicKey(k.publicKey);
    }
    return makeError(ErrorCode::NotFound, "no key " + id + " in " + ringPath);
}

int keysCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    if (argv.empty()) {
        err << kKeysUsage;
        return kExitUsage;
    }
    const std::string sub = argv[0];
    Args args(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (sub == "--help" || sub == "-h" || args.flag("--help") || args.flag("-h")) {
        out << kKeysUsage;
        return kExitOk;
    }
    std::string id;
    std::string passphraseFile;
    args.option("--id", id);
    args.option("--passphrase-file", passphraseFile);
    if (!args.error.empty()) return usage(err, args.error);
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pos.size() != 1) return usage(err, sub + " takes the key ring's file");
    const std::string& path = pos[0];
    auto ring = readKeyRing(path, sub == "new");
    if (!ring) {
        err << "veldctl keys: " << ring.error().describe() << "\n";
        return kExitFailure;
    }
    if (sub == "new") {
        if (id.empty()) return usage(err, "new needs --id ID");
        auto phrase = passphrase(passphraseFile, true, "keys", err);
        if (!phrase) return kExitFailure;
        for (const auto& k : ring.value()) {
            if (k.publicKey.id == id) {
                err << "veldctl keys: the ring has a key " << id << " already\n";
                return kExitFailure;
            }
        }
        // One passphrase per ring: a new key joins only with the passphrase of the keys there,
        // or exports and the console could open neither old nor new records.
        if (!ring->empty()) {
            if (auto opened = projectkey::unlock(ring->back(), *phrase); !opened) {
                err << "veldctl keys: the passphrase does not open the keys already in " << path
                    << "; a ring has one passphrase for all its keys\n";
                return kExitFailure;
            }
        }
        auto key = projectkey::create(id, *phrase, nowMs());
        if (!key) {
            err << "veldctl keys: " << key.error().describe() << "\n";
            return kExitFailure;
        }
        ring->push_back(key.value());
        if (auto s = writeRing(path, ring.value()); !s) {
            err << "veldctl keys: " << s.error().describe() << "\n";
            return kExitFailure;
        }
        out << projectkey::formatPublicKey(key->publicKey) << "\n";
        return kExitOk;
    }
    if (sub == "list") {
        for (const auto& k : ring.value()) {
            out << k.publicKey.id << "  made " << utcTime(k.createdUtcMs) << "  "
                << projectkey::formatPublicKey(k.publicKey) << "\n";
        }
        if (ring->empty()) out << "no keys in " << path << "\n";
        return kExitOk;
    }
    if (sub == "check") {
        auto phrase = passphrase(passphraseFile, false, "keys", err);
        if (!phrase) return kExitFailure;
        int failed = 0;
        for (const auto& k : ring.value()) {
            auto opened = projectkey::unlock(k, *phrase);
            out << k.publicKey.id << "  " << (opened ? "opens" : opened.error().message) << "\n";
            if (!opened) ++failed;
        }
        return failed == 0 ? kExitOk : kExitFailure;
    }
    return usage(err, "unknown subcommand " + sub);
}

}  // namespace veld::veldctl
