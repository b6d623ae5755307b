// The device's side of sync by file: see device_bundle.hpp.
#include <algorithm>
#include <chrono>

#include <veld/hex.hpp>
#include <veld/sync/device_bundle.hpp>
#include <veld/sync/device_replies.hpp>

namespace veld::sync {

namespace {

// The most bytes of pushes one bundle carries (well under bundle::kMaxBundleBytes); what does
// not fit goes with the next bundle, once this one is answered.
constexpr std::size_t kMaxBundlePushBytes = 160u << 20;

Error refused(std::string why) {
    return makeError(ErrorCode::WrongState, std::move(why) + "; nothing was changed");
}

// The device's box key pair (slots and replies are sealed to it).
Result<bundle::Opener> boxOpener(Store& store) {
    auto publicKey = store.boxPublicKey();
    if (!publicKey) return publicKey.error();
    auto secret = fromHex(settingText(store, Store::kBoxSecretKeySetting));
    if (!secret || secret->size() != 32)
        return makeError(ErrorCode::Corrupt, "this device's box key is damaged");
    return bundle::boxOpener(publicKey.value(),
                             std::span<const std::uint8_t, 32>(secret->data(), 32));
}

}  // namespace

std::string bundleFileName(Store& store, std::uint64_t number, bool reply) {
    std::string label;
    for (char c : settingText(store, kDeviceLabelSetting)) {
        const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (keep && label.size() < 40) label += c;
    }
    if (label.empty()) label = store.deviceId().toString().substr(0, 8);
    return "veld-" + label + "-" + std::to_string(number) +
           std::string(reply ? bundle::kReplyExtension : bundle::kBundleExtension);
}

namespace {

// exportBundle, with the file's path made from the bundle's number.
Result<BundleExport> exportAs(Store& store,
                              const std::function<std::string(std::uint64_t)>& pathFor,
                              std::int64_t nowMs, const DeviceBundleKeys& keys) {
    const std::string collectorId = settingText(store, "sync.collector_id");
    if (collectorId.empty())
        return makeError(ErrorCode::NotFound,
                         "this device is not enrolled with a collector: enrol it first (by "
                         "network, or with an enrolment file for sync by USB stick)");
    auto state = store.outboxState();
    if (!state) return state.error();
    BundleExport out;
    bundle::DevicePayload payload;
    std::size_t pushBytes = 0;
    std::uint64_t after = 0;
    while (pushBytes < kMaxBundlePushBytes) {
        auto batch = store.outboxPending(500, 1u << 20, after);
        if (!batch) return batch.error();
        if (batch->empty()) break;
        const std::uint64_t last = batch->back().seq;
        if (out.firstSeq == 0) out.firstSeq = batch->front().seq;
        out.lastSeq = last;
        out.records += static_cast<std::int64_t>(batch->size());
        const auto waitingAfter =
            static_cast<std::int64_t>(state->lastSeq > last ? state->lastSeq - last : 0);
        payload.pushes.push_back(encodePushRequest(store.deviceId(), batch.value(), waitingAfter));
        pushBytes += payload.pushes.back().size();
        after = last;
    }
    auto pull = pullRequestFor(store);
    if (!pull) return pull.error();
    payload.pull = encodePullRequest(pull.value());
    const std::string code = settingText(store, kBundleEnrolCodeSetting);
    if (!code.empty()) {
        EnrolRequest enrol;
        enrol.code = code;
        enrol.deviceId = store.deviceId();
        enrol.devicePublicKey.assign(keys.device.begin(), keys.device.end());
        payload.enrol = encodeEnrolRequest(enrol);
        out.enrols = true;
    }
    // The number is kept before the file is written: a number whose file never came to be is
    // skipped, never given to two different bundles.
    out.number = settingNumber(store, kBundleNumberSetting) + 1;
    if (auto s = store.setSetting(kBundleNumberSetting, std::to_string(out.number)); !s)
        return s.error();
    bundle::Header header;
    header.kind = bundle::Kind::ToCollector;
    header.deviceId = store.deviceId();
    header.collectorId = collectorId;
    header.number = out.number;
    header.createdUtcMs = nowMs;
    header.firstSeq = out.firstSeq;
    header.lastSeq = out.lastSeq;
    auto sealed =
        bundle::seal(header, bundle::encodeDevicePayload(payload), keys.sealToCollector, keys.sign);
    if (!sealed) return sealed.error();
    out.path = pathFor(out.number);
    if (auto s = bundle::writeFile(out.path, sealed.value()); !s) return s.error();
    out.bytes = sealed->size();
    return out;
}

// The receipts of a reply's pushes, each checked against the revisions of its push still waiting
// (those a network round acknowledged meanwhile were checked then), read one push at a time. A
// refused receipt is kept with its reason, as on the network, and refuses the whole reply; the
// others are returned to be kept with the rest of the reply.
Result<std::vector<KeptReceipt>> checkReceipts(Store& store, const std::vector<PushReply>& pushes,
                                               std::uint64_t ackedThrough) {
    std::vector<KeptReceipt> out;
    for (const auto& reply : pushes) {
        if (reply.results.empty()) continue;
        const auto [low, high] = std::minmax_element(
            reply.results.begin(), reply.results.end(),
            [](const RevisionResult& a, const RevisionResult& b) { return a.seq < b.seq; });
        std::vector<OutboxEntry> sent;
        for (std::uint64_t after = std::max(ackedThrough, low->seq - 1); after < high->seq;) {
            auto more = store.outboxPending(500, 1u << 20, after);
            if (!more) return more.error();
            if (more->empty()) break;
            after = more->back().seq;
            for (auto& e : more.value())
                if (e.seq <= high->seq) sent.push_back(std::move(e));
        }
        if (sent.empty()) continue;
        KeptReceipt kept;
        kept.firstSeq = sent.front().seq;
        kept.lastSeq = sent.back().seq;
        kept.bytes = reply.receipt;
        Status verdict = checkReceipt(store, sent, reply, kept);
        if (!verdict) {
            if (kept.status == ReceiptStatus::Refused) {
                kept.reason = verdict.error().message;
                (void)store.keepReceipt(kept);
            }
            return verdict.error();
        }
        out.push_back(std::move(kept));
    }
    return out;
}

}  // namespace

Result<BundleExport> exportBundle(Store& store, const std::string& path, std::int64_t nowMs,
                                  const DeviceBundleKeys& keys) {
    return exportAs(
        store, [&path](std::uint64_t) { return path; }, nowMs, keys);
}

Result<BundleExport> exportBundleTo(Store& store, const std::string& folder, std::int64_t nowMs,
                                    const DeviceBundleKeys& keys) {
    return exportAs(
        store,
        [&store, &folder](std::uint64_t number) {
            return folder + "/" + bundleFileName(store, number);
        },
        nowMs, keys);
}

Result<ReplyImport> importReply(Store& store, std::span<const std::uint8_t> bytes,
                                const DeviceBundleKeys& keys) {
    auto parsed = bundle::parse(bytes);
    if (!parsed) return parsed.error();
    const bundle::Header& h = parsed->header;
    if (h.kind != bundle::Kind::ToDevice)
        return refused("this is a device's bundle for the collector, not the collector's reply");
    if (h.deviceId != store.deviceId())
        return refused("this reply was made for device " + h.deviceId.toString() +
                       ", this is device " + store.deviceId().toString());
    const std::string collectorId = settingText(store, "sync.collector_id");
    if (h.collectorId != collectorId)
        return refused("this reply comes from collector " + h.collectorId +
                       ", this device belongs to " + collectorId);
    if (auto s = bundle::verify(parsed.value(), keys.collector); !s) return s.error();
    ReplyImport out;
    out.number = h.number;
    const std::uint64_t made = settingNumber(store, kBundleNumberSetting);
    const std::uint64_t last = settingNumber(store, kBundleReplySetting);
    if (h.number > made)
        return refused("this reply answers bundle " + std::to_string(h.number) +
                       ", which this device never made");
    if (h.number == last) {
        out.outcome = ReplyImport::Outcome::AlreadyImported;
        return out;
    }
    if (h.number < last)
        return refused("this reply (to bundle " + std::to_string(h.number) +
                       ") is older than the reply to bundle " + std::to_string(last) +
                       " imported already");
    auto opener = boxOpener(store);
    if (!opener) return opener.error();
    auto plain = bundle::open(parsed.value(), opener.value());
    if (!plain) return plain.error();
    auto payload = bundle::decodeCollectorPayload(plain.value());
    if (!payload) return payload.error();
    // Everything is decoded before anything is applied.
    std::optional<EnrolReply> enrolment;
    if (!payload->enrol.empty()) {
        auto enrol = decodeEnrolResponse(payload->enrol);
        if (!enrol) return enrol.error();
        enrolment = std::move(enrol.value());
    }
    std::vector<PushReply> pushes;
    for (const auto& raw : payload->pushes) {
        auto reply = decodePushResponse(raw);
        if (!reply) return reply.error();
        pushes.push_back(std::move(reply.value()));
    }
    std::vector<PullReply> pulls;
    for (const auto& raw : payload->pulls) {
        auto reply = decodePullResponse(raw);
        if (!reply) return reply.error();
        pulls.push_back(std::move(reply.value()));
    }
    auto state = store.outboxState();
    if (!state) return state.error();
    auto receipts = checkReceipts(store, pushes, state->ackedThrough);
    if (!receipts) return receipts.error();

    auto batch = store.beginBatch();
    if (!batch) return batch.error();
    for (const auto& kept : receipts.value())
        if (auto s = store.keepReceipt(kept); !s) return s.error();
    if (enrolment) {
        if (auto s = keepEnrolment(store, *enrolment); !s) return s.error();
        if (auto s = store.clearSetting(kBundleEnrolCodeSetting); !s) return s.error();
        out.enrolled = true;
    }
    std::uint64_t through = 0;
    for (const auto& reply : pushes) {
        if (h.lastSeq == 0) break;
        auto acknowledged = acknowledgedThrough(reply, h.firstSeq, h.lastSeq);
        if (acknowledged) through = std::max(through, acknowledged.value());
        for (const auto& r : reply.results)
            out.rejected += r.outcome == RevisionOutcome::Rejected ? 1 : 0;
    }
    if (through > state->ackedThrough) {
        if (auto s = store.acknowledgeThrough(through); !s) return s.error();
        out.acknowledged = through - state->ackedThrough;
    }
    auto request = pullRequestFor(store, false);
    if (!request) return request.error();
    for (auto& reply : pulls) {
        if (auto s = applyPullReply(store, reply, request.value(), out.progress); !s)
            return s.error();
    }
    if (auto s = store.setSetting(kBundleReplySetting, std::to_string(h.number)); !s)
        return s.error();
    // The Sync screen's "last success", as after a network round.
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (auto s = store.setSetting("sync.last_success_utc_ms", std::to_string(now)); !s)
        return s.error();
    if (auto s = batch->commit(); !s) return s.error();
    out.progress.recordsSent = static_cast<std::int64_t>(out.acknowledged);
    out.progress.state = Progress::State::Done;
    return out;
}

BundleProblem bundleProblem(const Error& e) {
    const auto says = [&e](std::string_view words) {
        return e.message.find(words) != std::string::npos;
    };
    if (e.code == ErrorCode::TooNew) return BundleProblem::TooNew;
    if (says("not the collector's reply")) return BundleProblem::NotAReply;
    if (says("this reply was made for device")) return BundleProblem::OtherDevice;
    if (says("this reply comes from collector")) return BundleProblem::OtherCollector;
    if (says("signature does not match")) return BundleProblem::NotSigned;
    if (says("which this device never made")) return BundleProblem::NeverMade;
    if (says("imported already")) return BundleProblem::Older;
    if (syncProblem(e.message) == SyncProblem::ReceiptRefused) return BundleProblem::ReceiptRefused;
    if (says("not enrolled with a collector") || says("does not know its collector's key"))
        return BundleProblem::NotEnrolled;
    if (e.code == ErrorCode::Corrupt) return BundleProblem::Damaged;
    return BundleProblem::Other;
}

std::string newestReply(Store& store, const std::vector<std::string>& files) {
    std::string best;
    std::uint64_t bestNumber = 0;
    for (const auto& file : files) {
        auto bytes = bundle::readFile(file);
        if (!bytes) continue;
        auto parsed = bundle::parse(bytes.value());
        if (!parsed || parsed->header.kind != bundle::Kind::ToDevice ||
            parsed->header.deviceId != store.deviceId())
            continue;
        if (parsed->header.number > bestNumber) {
            bestNumber = parsed->header.number;
            best = file;
        }
    }
    return best;
}

}  // namespace veld::sync
