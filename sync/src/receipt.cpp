// Receipts (receipt.hpp).
#include <algorithm>

#include <veld/fb/receipt_generated.h>
#include <veld/sync/receipt.hpp>
#include <veld/uuid_fb.hpp>

namespace veld::sync {

namespace {

Error notAReceipt(const std::string& why) {
    return makeError(ErrorCode::Corrupt, "not a readable receipt: " + why);
}

// A receipt's content from its signed bytes (checked by the Verifier first).
Result<Receipt> decode(std::span<const std::uint8_t> bytes) {
    flatbuffers::Verifier verifier(bytes.data(), bytes.size(), 64, 4000000);
    if (!verifier.VerifyBuffer<fb::Receipt>(nullptr)) return notAReceipt("damaged content");
    const auto* r = flatbuffers::GetRoot<fb::Receipt>(bytes.data());
    Receipt out;
    out.collectorId = r->collector_id()->str();
    out.deviceId = fromFb(*r->device_id());
    out.firstSeq = r->first_seq();
    out.lastSeq = r->last_seq();
    out.receivedThrough = r->received_through();
    out.collectorUtcMs = r->collector_utc_ms();
    if (const auto* revisions = r->revisions()) {
        for (const auto* rev : *revisions) {
            ReceiptRevision item;
            item.seq = rev->seq();
            item.recordId = fromFb(*rev->record_id());
            item.hlc = HlcTimestamp{rev->hlc()};
            if (rev->digest()->size() != chain::kDigestBytes)
                return notAReceipt("a digest is not 32 bytes");
            std::copy(rev->digest()->begin(), rev->digest()->end(), item.digest.begin());
            if (rev->outcome() > static_cast<std::uint8_t>(RevisionOutcome::Rejected))
                return notAReceipt("an unknown outcome");
            item.outcome = static_cast<RevisionOutcome>(rev->outcome());
            out.revisions.push_back(item);
        }
    }
    return out;
}

struct Parts {
    std::span<const std::uint8_t> receipt;
    std::span<const std::uint8_t> signature;
};

Result<Parts> split(std::span<const std::uint8_t> signedReceipt) {
    if (signedReceipt.size() > kMaxMessageBytes) return notAReceipt("too large");
    if (signedReceipt.size() < 8 || !fb::SignedReceiptBufferHasIdentifier(signedReceipt.data()))
        return notAReceipt("no receipt identifier");
    flatbuffers::Verifier verifier(signedReceipt.data(), signedReceipt.size(), 64, 4000000);
    if (!fb::VerifySignedReceiptBuffer(verifier)) return notAReceipt("fails the Verifier");
    const auto* s = fb::GetSignedReceipt(signedReceipt.data());
    return Parts{{s->receipt()->data(), s->receipt()->size()},
                 {s->signature()->data(), s->signature()->size()}};
}

}  // namespace

Receipt receiptFor(const std::string& collectorId, const Uuid& deviceId, const PushBatch& batch,
                   const PushReply& reply, std::int64_t nowMs) {
    Receipt out;
    out.collectorId = collectorId;
    out.deviceId = deviceId;
    out.receivedThrough = reply.receivedThrough;
    out.collectorUtcMs = nowMs;
    for (const auto& result : reply.results) {
        const auto sent = std::find_if(batch.revisions.begin(), batch.revisions.end(),
                                       [&](const PushRevision& r) { return r.seq == result.seq; });
        if (sent == batch.revisions.end()) continue;
        out.revisions.push_back(
            {sent->seq, sent->recordId, sent->hlc, chain::bodyDigest(sent->body), result.outcome});
    }
    if (!out.revisions.empty()) {
        out.firstSeq = out.revisions.front().seq;
        out.lastSeq = out.revisions.back().seq;
    }
    return out;
}

std::vector<std::uint8_t> makeSignedReceipt(const signing::SecretSigningKey& collectorKey,
                                            const Receipt& receipt) {
    flatbuffers::FlatBufferBuilder inner(256 + 96 * receipt.revisions.size());
    std::vector<flatbuffers::Offset<fb::ReceiptRevision>> revisions;
    revisions.reserve(receipt.revisions.size());
    for (const auto& r : receipt.revisions) {
        const fb::Uuid id = toFb(r.recordId);
        revisions.push_back(fb::CreateReceiptRevision(
            inner, r.seq, &id, r.hlc.value, inner.CreateVector(r.digest.data(), r.digest.size()),
            static_cast<std::uint8_t>(r.outcome)));
    }
    const fb::Uuid device = toFb(receipt.deviceId);
    inner.Finish(fb::CreateReceipt(inner, inner.CreateString(receipt.collectorId), &device,
                                   receipt.firstSeq, receipt.lastSeq, receipt.receivedThrough,
                                   inner.CreateVector(revisions), receipt.collectorUtcMs));
    const std::span<const std::uint8_t> bytes(inner.GetBufferPointer(), inner.GetSize());
    const signing::Signature signature = signing::sign(collectorKey, bytes);

    flatbuffers::FlatBufferBuilder outer(bytes.size() + 128);
    auto content = outer.CreateVector(bytes.data(), bytes.size());
    auto sig = outer.CreateVector(signature.data(), signature.size());
    fb::FinishSignedReceiptBuffer(outer, fb::CreateSignedReceipt(outer, content, sig));
    return {outer.GetBufferPointer(), outer.GetBufferPointer() + outer.GetSize()};
}

Result<Receipt> verifyReceipt(std::span<const std::uint8_t> signedReceipt,
                              const signing::PublicKey& collectorKey, const Uuid& deviceId) {
    auto parts = split(signedReceipt);
    if (!parts) return parts.error();
    if (!signing::verify(collectorKey, parts->receipt, parts->signature))
        return makeError(ErrorCode::Refused,
                         "the receipt's signature does not verify with the collector's key "
                         "(fingerprint " +
                             signing::fingerprint(collectorKey) +
                             "): forged, changed after signing, or signed by another collector");
    auto receipt = decode(parts->receipt);
    if (!receipt) return receipt.error();
    if (receipt->deviceId != deviceId)
        return makeError(ErrorCode::WrongState, "the receipt was made for another device (" +
                                                    receipt->deviceId.toString() + ")");
    return receipt;
}

Result<Receipt> readReceipt(std::span<const std::uint8_t> signedReceipt) {
    auto parts = split(signedReceipt);
    if (!parts) return parts.error();
    return decode(parts->receipt);
}

}  // namespace veld::sync
