// Importing a device's bundle at the collector: see bundle_import.hpp.
#include <veld/hex.hpp>
#include <veld/sync/bundle_import.hpp>

namespace veld::sync {

namespace {

// The most bytes of pull answers one reply carries; the rest comes with the device's next bundle.
constexpr std::size_t kMaxReplyPullBytes = 192u << 20;

Error refused(std::string why) {
    return makeError(ErrorCode::WrongState, std::move(why) + "; nothing was changed");
}

std::string bundleName(const bundle::Header& h) {
    return "bundle " + std::to_string(h.number) + " of device " + h.deviceId.toString();
}

// A device's bundle, decoded whole before anything is stored: a damaged message changes nothing.
struct Decoded {
    std::optional<EnrolRequest> enrol;
    std::vector<PushBatch> pushes;
    PullRequest pull;
};

Result<Decoded> decode(const bundle::DevicePayload& payload, const bundle::Header& h) {
    Decoded out;
    if (!payload.enrol.empty()) {
        auto enrol = decodeEnrolRequest(payload.enrol);
        if (!enrol) return enrol.error();
        if (enrol->deviceId != h.deviceId)
            return makeError(ErrorCode::Corrupt, "the bundle's enrolment names another device");
        if (enrol->protocolVersion != kProtocolVersion)
            return makeError(ErrorCode::TooNew,
                             "the bundle's enrolment uses another protocol "
                             "version");
        out.enrol = std::move(enrol.value());
    }
    std::uint64_t next = h.firstSeq;
    for (const auto& raw : payload.pushes) {
        auto batch = decodePushRequest(raw);
        if (!batch) return batch.error();
        if (batch->deviceId != h.deviceId)
            return makeError(ErrorCode::Corrupt, "the bundle carries another device's records");
        if (batch->protocolVersion != kProtocolVersion)
            return makeError(ErrorCode::TooNew,
                             "the bundle's records use another protocol version");
        for (const auto& r : batch->revisions) {
            if (r.seq != next || r.seq > h.lastSeq)
                return makeError(ErrorCode::Corrupt,
                                 "the bundle's records do not match the range its header names");
            ++next;
        }
        out.pushes.push_back(std::move(batch.value()));
    }
    if (h.lastSeq != 0 && next != h.lastSeq + 1)
        return makeError(ErrorCode::Corrupt,
                         "the bundle's records do not match the range its header names");
    if (payload.pull.empty())
        return makeError(ErrorCode::Corrupt, "the bundle carries no pull request");
    auto pull = decodePullRequest(payload.pull);
    if (!pull) return pull.error();
    if (pull->protocolVersion != kProtocolVersion)
        return makeError(ErrorCode::TooNew,
                         "the bundle's pull request uses another protocol "
                         "version");
    if (pull->deviceBoxKey.size() != 32)
        return makeError(ErrorCode::Corrupt, "the bundle carries no key to seal the reply to");
    out.pull = std::move(pull.value());
    return out;
}

Result<bundle::DevicePayload> openPayload(const bundle::Parsed& parsed, CollectorStore& store) {
    auto plain = bundle::open(parsed, [&store](std::span<const std::uint8_t> sealed) {
        return store.openSealedToCollector(sealed);
    });
    if (!plain) return plain.error();
    return bundle::decodeDevicePayload(plain.value());
}

}  // namespace

Result<BundleImport> importBundle(CollectorStore& store, std::span<const std::uint8_t> bytes,
                                  std::int64_t nowMs, const std::string& actor) {
    auto parsed = bundle::parse(bytes);
    if (!parsed) return parsed.error();
    const bundle::Header& h = parsed->header;
    if (h.kind != bundle::Kind::ToCollector)
        return refused(
            "this is a collector's reply for a device, not a device's bundle: import "
            "it on the device");
    auto me = store.collectorId();
    if (!me) return me.error();
    if (h.collectorId != me.value())
        return refused("the bundle was made for collector " + h.collectorId + ", this is " +
                       me.value());
    auto device = store.bundleDevice(h.deviceId);
    if (!device) return device.error();

    // Whose signature to check: the key the device enrolled with; for a device not enrolled here,
    // the key in the enrolment its bundle carries (its first bundles do).
    std::optional<bundle::DevicePayload> payload;
    std::vector<std::uint8_t> signer;
    if (device.value() && !device.value()->publicKey.empty()) {
        signer = device.value()->publicKey;
    } else {
        auto opened = openPayload(parsed.value(), store);
        if (!opened) return opened.error();
        payload = std::move(opened.value());
        if (payload->enrol.empty()) {
            if (!device.value())
                return makeError(ErrorCode::NotFound, "device " + h.deviceId.toString() +
                                                          " is not enrolled here; nothing was "
                                                          "changed");
            return refused("device " + h.deviceId.toString() +
                           " was enrolled without a signing key, so its bundles cannot be "
                           "checked: enrol it again with a new code");
        }
        auto enrol = decodeEnrolRequest(payload->enrol);
        if (!enrol) return enrol.error();
        signer = enrol->devicePublicKey;
    }
    bundle::VerifyKey key{};
    if (signer.size() != key.size())
        return makeError(ErrorCode::Corrupt, "the device's signing key is not usable");
    std::copy(signer.begin(), signer.end(), key.begin());
    if (auto s = bundle::verify(parsed.value(), key); !s) return s.error();
    if (device.value() && device.value()->revoked)
        return refused("device " + h.deviceId.toString() + " has been revoked");
    if (!payload) {
        auto opened = openPayload(parsed.value(), store);
        if (!opened) return opened.error();
        payload = std::move(opened.value());
    }

    BundleImport out;
    out.header = h;
    const BundleMark mark{h.number, h.payloadDigest};
    if (device.value() && device.value()->last) {
        const BundleMark& last = *device.value()->last;
        if (last.number == mark.number && last.digest == mark.digest) {
            out.outcome = BundleImport::Outcome::AlreadyImported;
        } else if (mark.number <= last.number) {
            return refused(bundleName(h) + " is replayed: bundle " + std::to_string(last.number) +
                           " of this device was imported already");
        }
    }
    const std::uint64_t held = device.value() ? device.value()->receivedThrough : 0;
    if (h.firstSeq > held + 1) {
        return refused(bundleName(h) + " is out of order: it starts at record " +
                       std::to_string(h.firstSeq) +
                       " but the collector holds this device's "
                       "records only through " +
                       std::to_string(held) + ": import the device's earlier bundle first" +
                       (device.value() && device.value()->last
                            ? " (the last imported was bundle " +
                                  std::to_string(device.value()->last->number) + ")"
                            : std::string()));
    }
    auto decoded = decode(payload.value(), h);
    if (!decoded) return decoded.error();

    bundle::CollectorPayload reply;
    if (decoded->enrol) {
        auto enrolled = store.enrol(*decoded->enrol, nowMs);
        if (enrolled) {
            reply.enrol = encodeEnrolResponse(enrolled.value());
            out.enrolled = !device.value();
        } else if (!device.value()) {
            return enrolled.error();
        }
        // A known device whose enrolment is repeated and refused (it went online since): its
        // bundle is signed with the key it enrolled with, so the rest is its own.
    }
    for (const auto& batch : decoded->pushes) {
        auto pushed = store.push(h.deviceId, batch, nowMs);
        if (!pushed) return pushed.error();
        for (const auto& r : pushed->results) {
            switch (r.outcome) {
                case RevisionOutcome::Stored:
                    ++out.stored;
                    break;
                case RevisionOutcome::Duplicate:
                    ++out.duplicates;
                    break;
                case RevisionOutcome::Rejected:
                    ++out.rejected;
                    break;
            }
        }
        reply.pushes.push_back(encodePushResponse(pushed.value()));
    }
    PullRequest request = decoded->pull;
    std::size_t pullBytes = 0;
    for (int page = 0; page < 1000; ++page) {
        auto pulled = store.pull(h.deviceId, request, 16, nowMs);
        if (!pulled) return pulled.error();
        reply.pulls.push_back(encodePullResponse(pulled.value()));
        pullBytes += reply.pulls.back().size();
        if (!pulled->more || pullBytes > kMaxReplyPullBytes) break;
        request.formCursor = pulled->formCursor;
        request.caseCursor = std::max(request.caseCursor, pulled->caseCursor);
        request.allocationCursor = std::max(request.allocationCursor, pulled->allocationCursor);
        request.stock.clear();
    }

    bundle::Header answer;
    answer.kind = bundle::Kind::ToDevice;
    answer.deviceId = h.deviceId;
    answer.collectorId = h.collectorId;
    answer.number = h.number;
    answer.createdUtcMs = nowMs;
    answer.firstSeq = h.firstSeq;
    answer.lastSeq = h.lastSeq;
    bundle::BoxPublicKey to{};
    std::copy(decoded->pull.deviceBoxKey.begin(), decoded->pull.deviceBoxKey.end(), to.begin());
    auto sealed =
        bundle::seal(answer, bundle::encodeCollectorPayload(reply), bundle::boxSealer(to),
                     [&store](std::span<const std::uint8_t> message) -> Result<bundle::Signature> {
                         return store.signAsCollector(message);
                     });
    if (!sealed) return sealed.error();
    out.reply = std::move(sealed.value());

    std::string detail =
        "bundle " + std::to_string(h.number) + ", " +
        (h.firstSeq == 0
             ? std::string("no records")
             : "records " + std::to_string(h.firstSeq) + ".." + std::to_string(h.lastSeq)) +
        ": " + std::to_string(out.stored) + " stored, " + std::to_string(out.duplicates) +
        " duplicates, " + std::to_string(out.rejected) + " rejected";
    if (out.enrolled) detail += "; enrolled the device";
    const char* action = out.outcome == BundleImport::Outcome::AlreadyImported
                             ? "bundle-import-again"
                             : "bundle-import";
    if (auto s = store.markBundle(h.deviceId, mark, nowMs, actor, action, detail); !s)
        return s.error();
    return out;
}

}  // namespace veld::sync
