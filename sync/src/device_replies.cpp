// What a device does with the collector's answers: see device_replies.hpp.
#include <algorithm>
#include <initializer_list>
#include <utility>

#include <veld/chain.hpp>
#include <veld/device_identity.hpp>
#include <veld/pseudonym.hpp>
#include <veld/sync/device_replies.hpp>
#include <veld/sync/receipt.hpp>

namespace veld::sync {

std::string settingText(Store& store, std::string_view key) {
    auto v = store.setting(key);
    return v && v.value() ? *v.value() : std::string();
}

std::uint64_t settingNumber(Store& store, std::string_view key) {
    const std::string saved = settingText(store, key);
    return saved.empty() ? 0 : std::strtoull(saved.c_str(), nullptr, 10);
}

Status keepEnrolment(Store& store, const EnrolReply& reply, const std::string& collector,
                     const std::string& caFile, bool allowPlainHttp) {
    if (!reply.pseudonymKey.empty() && !pseudonym::parseKey(reply.pseudonymKey))
        return makeError(ErrorCode::Corrupt, "the collector sent an unusable pseudonym key");
    std::vector<std::pair<std::string_view, std::string>> settings{
        {"sync.credential", reply.credential}, {"sync.collector_id", reply.collectorId}};
    if (!collector.empty()) {
        settings.emplace_back("sync.collector", collector);
        settings.emplace_back("sync.ca_file", caFile);
        settings.emplace_back("sync.allow_http", allowPlainHttp ? "1" : "0");
    }
    if (!reply.pseudonymKey.empty()) settings.emplace_back("pseudonym.key", reply.pseudonymKey);
    if (!reply.projectKey.empty()) settings.emplace_back(kProjectKeySetting, reply.projectKey);
    for (const auto& [key, value] : settings) {
        if (auto s = store.setSetting(key, value); !s) return s;
    }
    // Enrolment is where the device learns whom to trust: the collector's key is taken as it
    // comes (replacing one from an earlier enrolment). An older collector sends none.
    if (reply.collectorKey)
        return identity::keepCollectorKey(store, *reply.collectorKey,
                                          identity::KeySource::Enrolment);
    return {};
}

Result<std::uint64_t> acknowledgedThrough(const PushReply& reply, std::uint64_t firstSent,
                                          std::uint64_t lastSent) {
    const std::uint64_t through = std::min(reply.receivedThrough, lastSent);
    if (through < firstSent) {
        return makeError(ErrorCode::WrongState,
                         "the collector did not take the batch (received through " +
                             std::to_string(reply.receivedThrough) + ")");
    }
    return through;
}

Result<PullRequest> pullRequestFor(Store& store, bool withStock) {
    PullRequest request;
    request.formCursor = settingNumber(store, "sync.form_cursor");
    request.caseCursor = settingNumber(store, "sync.case_cursor");
    request.allocationCursor = settingNumber(store, "sync.allocation_cursor");
    request.correctionCursor = settingNumber(store, "sync.correction_cursor");
    auto boxKey = store.boxPublicKey();
    if (!boxKey) return boxKey.error();
    request.deviceBoxKey.assign(boxKey->begin(), boxKey->end());
    if (!withStock) return request;
    // What is left per stratum, so the collector tops up the strata that run low.
    auto stock = store.allocationStock();
    if (!stock) return stock.error();
    for (const auto& s : stock.value()) {
        request.stock.push_back(
            {s.study, s.stratum,
             static_cast<std::uint32_t>(std::max<std::int64_t>(0, s.remaining))});
    }
    return request;
}

Status applyPullReply(Store& store, PullReply& reply, PullRequest& request, Progress& p) {
    // A device enrolled before collectors had keys learns it here; another key than the one it
    // keeps stops before anything of the answer is used.
    if (reply.collectorKey) {
        if (auto s =
                identity::keepCollectorKey(store, *reply.collectorKey, identity::KeySource::Pull);
            !s)
            return s;
    }
    for (const auto& f : reply.forms) {
        // Each form is checked again here; one the device cannot use is skipped, not allowed to
        // stop the rest.
        if (store.installForm(f.binary)) ++p.formsReceived;
    }
    // A new project key (staff rotated it): records finalized from now on use it.
    if (!reply.projectKey.empty() && reply.projectKey != settingText(store, kProjectKeySetting)) {
        if (auto s = store.setSetting(kProjectKeySetting, reply.projectKey); !s) return s;
    }
    if (!reply.studies.empty()) {
        if (auto s = store.setStudies(reply.studies); !s) return s;
    }
    if (!reply.cases.empty()) {
        std::vector<CaseUpdateIn> cases;
        cases.reserve(reply.cases.size());
        for (auto& c : reply.cases)
            cases.push_back(std::move(c.update));
        if (auto s = store.mergeCases(cases); !s) return s;
        p.casesReceived += static_cast<std::int64_t>(cases.size());
    }
    if (!reply.blocks.empty()) {
        std::vector<SealedSlotIn> slots;
        for (auto& b : reply.blocks) {
            for (auto& slot : b.slots)
                slots.push_back({b.study, b.stratum, b.block, slot.position, std::move(slot.box)});
        }
        if (auto s = store.addAllocationSlots(slots); !s) return s;
        p.blocksReceived += static_cast<std::int64_t>(reply.blocks.size());
    }
    if (!reply.corrections.empty()) {
        if (auto s = store.mergeCorrections(reply.corrections); !s) return s;
        p.correctionsReceived += static_cast<std::int64_t>(reply.corrections.size());
    }
    // Cursors move only after what they cover is stored: a cut here means receiving it again,
    // which changes nothing.
    request.formCursor = reply.formCursor;
    request.caseCursor = std::max(request.caseCursor, reply.caseCursor);
    request.allocationCursor = std::max(request.allocationCursor, reply.allocationCursor);
    request.correctionCursor = std::max(request.correctionCursor, reply.correctionCursor);
    request.stock.clear();
    for (const auto& [key, value] :
         {std::pair<std::string_view, std::uint64_t>{"sync.form_cursor", request.formCursor},
          {"sync.case_cursor", request.caseCursor},
          {"sync.allocation_cursor", request.allocationCursor},
          {"sync.correction_cursor", request.correctionCursor}}) {
        if (auto s = store.setSetting(key, std::to_string(value)); !s) return s;
    }
    return {};
}

Status checkReceipt(Store& store, const std::vector<OutboxEntry>& sent, const PushReply& reply,
                    KeptReceipt& kept) {
    kept.status = ReceiptStatus::NoReceipt;
    if (reply.receipt.empty()) return {};
    kept.status = ReceiptStatus::Unchecked;
    auto key = identity::collectorKey(store);
    if (!key) return key.error();
    if (!key.value()) {
        kept.reason = "no collector key was kept yet to check it with";
        return {};
    }
    kept.status = ReceiptStatus::Refused;
    const auto refused = [](const std::string& why) {
        return makeError(ErrorCode::Refused,
                         std::string(kReceiptRefusedError) +
                             ", so nothing of this batch is marked as sent: " + why);
    };
    auto receipt = verifyReceipt(reply.receipt, *key.value(), store.deviceId());
    if (!receipt) return refused(receipt.error().message);
    if (receipt->receivedThrough != reply.receivedThrough)
        return refused("it says received through " + std::to_string(receipt->receivedThrough) +
                       ", the answer " + std::to_string(reply.receivedThrough));
    for (const auto& e : sent) {
        if (e.seq > reply.receivedThrough) break;
        const auto named = std::find_if(receipt->revisions.begin(), receipt->revisions.end(),
                                        [&](const ReceiptRevision& r) { return r.seq == e.seq; });
        if (named == receipt->revisions.end())
            return refused("it does not name revision " + std::to_string(e.seq));
        if (named->recordId != e.recordId || named->hlc != e.hlc ||
            named->digest != chain::bodyDigest(e.body))
            return refused("it names other content for revision " + std::to_string(e.seq));
    }
    kept.status = ReceiptStatus::Verified;
    return {};
}

Status checkAndKeepReceipt(Store& store, const std::vector<OutboxEntry>& sent,
                           const PushReply& reply) {
    KeptReceipt kept;
    kept.firstSeq = sent.front().seq;
    kept.lastSeq = sent.back().seq;
    kept.bytes = reply.receipt;
    Status verdict = checkReceipt(store, sent, reply, kept);
    if (!verdict && kept.status == ReceiptStatus::Refused) kept.reason = verdict.error().message;
    if (!verdict && kept.status != ReceiptStatus::Refused) return verdict;
    if (auto s = store.keepReceipt(kept); !s) return s;
    return verdict;
}

SyncProblem syncProblem(std::string_view errorMessage) {
    if (errorMessage.find(identity::kOtherCollectorKeyError) != std::string_view::npos)
        return SyncProblem::CollectorKeyChanged;
    if (errorMessage.find(kReceiptRefusedError) != std::string_view::npos)
        return SyncProblem::ReceiptRefused;
    return SyncProblem::Other;
}

}  // namespace veld::sync
