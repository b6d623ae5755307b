// veldctl store receipts: the collector's receipts a device kept, each checked again (signature
// with the kept collector key, this device's, and digests against the revisions the store
// still holds).
#include <ostream>

#include <veld/device_identity.hpp>
#include <veld/platform/time.hpp>
#include <veld/store.hpp>
#include <veld/sync/receipt.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kReceiptsUsage = R"(usage: veldctl store receipts PATH

Lists the receipts the collector gave for this device's pushes, oldest first: when, the
sequence range sent, how many revisions the receipt names, the collector, and whether it
verifies now: signed with the collector key this device keeps, made for this device, and naming
for each revision the digest of the body this store still holds (where it still holds it:
a record edited since holds a newer revision). A push answered by an older collector shows
"no receipt"; one kept as refused when it came shows why.

Exit codes: 0 every receipt verifies (or none was given), 1 any fails, 2 usage error.
)";

struct Checked {
    bool ok = false;
    std::string collector = "-";
    std::size_t revisions = 0;
    std::size_t compared = 0;  // digests compared with a body the store holds
    std::string why;
};

Checked check(Store& store, const KeptReceipt& kept,
              const std::optional<signing::PublicKey>& collectorKey) {
    Checked c;
    if (kept.status == ReceiptStatus::NoReceipt) {
        c.ok = true;
        c.why = "no receipt (an older collector)";
        return c;
    }
    if (auto content = sync::readReceipt(kept.bytes)) {
        c.collector = content->collectorId;
        c.revisions = content->revisions.size();
    }
    if (kept.status == ReceiptStatus::Refused) {
        c.why = "refused when it came: " + kept.reason;
        return c;
    }
    if (!collectorKey) {
        c.why = "cannot be checked: this device keeps no collector key";
        return c;
    }
    auto receipt = sync::verifyReceipt(kept.bytes, *collectorKey, store.deviceId());
    if (!receipt) {
        c.why = receipt.error().message;
        return c;
    }
    for (const auto& r : receipt->revisions) {
        auto body = store.revisionBody(r.recordId, r.hlc);
        if (!body) {
            c.why = body.error().describe();
            return c;
        }
        if (!body.value()) continue;
        ++c.compared;
        if (chain::bodyDigest(*body.value()) != r.digest) {
            c.why = "revision " + std::to_string(r.seq) +
                    ": the receipt names other bytes than this store holds";
            return c;
        }
    }
    c.ok = true;
    return c;
}

}  // namespace

int storeReceiptsCommand(Args& args, std::ostream& out, std::ostream& err) {
    if (args.flag("--help") || args.flag("-h")) {
        out << kReceiptsUsage;
        return kExitOk;
    }
    const auto pos = args.positionals();
    if (pos.size() != 1 || !args.unknownOption().empty()) {
        err << "veldctl store: receipts takes one PATH\n(see veldctl store receipts --help)\n";
        return kExitUsage;
    }
    auto store = Store::open(pos[0], {.mode = sql::OpenMode::ReadOnly});
    if (!store) {
        err << "veldctl store: " << store.error().describe() << "\n";
        return kExitFailure;
    }
    auto kept = store->receipts();
    if (!kept) {
        err << "veldctl store: " << kept.error().describe() << "\n";
        return kExitFailure;
    }
    auto key = identity::collectorKey(store.value());
    if (!key) {
        err << "veldctl store: " << key.error().describe() << "\n";
        return kExitFailure;
    }
    int failed = 0;
    for (const auto& r : kept.value()) {
        const Checked c = check(store.value(), r, key.value());
        failed += c.ok ? 0 : 1;
        out << "#" << r.id << "  " << utcTime(r.keptUtcMs) << "  seq " << r.firstSeq << "-"
            << r.lastSeq << "  " << c.revisions << " revisions  collector " << c.collector << "  "
            << (c.ok ? (c.why.empty() ? "verified (" + std::to_string(c.compared) +
                                            " digests compared with this store)"
                                      : c.why)
                     : "FAILS: " + c.why)
            << "\n";
    }
    if (kept->empty()) out << "no receipts yet\n";
    out << kept->size() << " receipts, " << failed << " failing\n";
    return failed == 0 ? kExitOk : kExitFailure;
}

}  // namespace veld::veldctl
