// The bundle file format: see bundle.hpp and docs/bundles.md.
#include <algorithm>

#include <sodium.h>

#include <veld/fb/bundle_generated.h>
#include <veld/platform/files.hpp>
#include <veld/sync/bundle.hpp>

namespace veld::sync::bundle {

namespace {

constexpr std::string_view kSignatureDomain = "veld-bundle-v1";

Error damaged(std::string what) {
    return makeError(ErrorCode::Corrupt, "not a usable Veld bundle: " + std::move(what));
}

std::array<std::uint8_t, 32> digestOf(std::span<const std::uint8_t> bytes) {
    std::array<std::uint8_t, 32> out{};
    crypto_generichash(out.data(), out.size(), bytes.data(), bytes.size(), nullptr, 0);
    return out;
}

// What is signed: the domain, the header's bytes and the payload's, each preceded by its length,
// hashed (Ed25519 signs the 64-byte digest, so a large payload is not copied).
std::array<std::uint8_t, 64> signedDigest(std::span<const std::uint8_t> header,
                                          std::span<const std::uint8_t> payload) {
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, 64);
    const auto field = [&](std::span<const std::uint8_t> bytes) {
        std::array<std::uint8_t, 8> length{};
        for (std::size_t i = 0; i < 8; ++i)
            length[i] =
                static_cast<std::uint8_t>(static_cast<std::uint64_t>(bytes.size()) >> (8 * i));
        crypto_generichash_update(&state, length.data(), length.size());
        crypto_generichash_update(&state, bytes.data(), bytes.size());
    };
    field(
        {reinterpret_cast<const std::uint8_t*>(kSignatureDomain.data()), kSignatureDomain.size()});
    field(header);
    field(payload);
    std::array<std::uint8_t, 64> out{};
    crypto_generichash_final(&state, out.data(), out.size());
    return out;
}

fb::Uuid toFb(const Uuid& id) {
    return fb::Uuid(flatbuffers::span<const std::uint8_t, 16>(id.bytes.data(), 16));
}

std::vector<std::uint8_t> headerBytes(const Header& h) {
    flatbuffers::FlatBufferBuilder b(256);
    fb::Uuid device = toFb(h.deviceId);
    auto collector = b.CreateString(h.collectorId);
    auto digest = b.CreateVector(h.payloadDigest);
    auto root =
        fb::CreateBundleHeader(b, h.formatVersion, static_cast<fb::BundleKind>(h.kind), &device,
                               collector, h.number, h.createdUtcMs, h.firstSeq, h.lastSeq, digest);
    b.Finish(root);
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

template <typename T>
const T* verified(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < 8) return nullptr;
    flatbuffers::Verifier verifier(bytes.data(), bytes.size(), 64, 4000000);
    if (!verifier.VerifyBuffer<T>(nullptr)) return nullptr;
    return flatbuffers::GetRoot<T>(bytes.data());
}

std::vector<std::uint8_t> copy(const flatbuffers::Vector<std::uint8_t>* v) {
    return v ? std::vector<std::uint8_t>(v->begin(), v->end()) : std::vector<std::uint8_t>();
}

std::vector<std::uint8_t> envelopeOf(const fb::BundleMessage* m) {
    return m ? copy(m->envelope()) : std::vector<std::uint8_t>();
}

flatbuffers::Offset<fb::BundleMessage> message(flatbuffers::FlatBufferBuilder& b,
                                               const std::vector<std::uint8_t>& envelope) {
    return fb::CreateBundleMessage(b, b.CreateVector(envelope));
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::BundleMessage>>> messages(
    flatbuffers::FlatBufferBuilder& b, const std::vector<std::vector<std::uint8_t>>& envelopes) {
    std::vector<flatbuffers::Offset<fb::BundleMessage>> out;
    out.reserve(envelopes.size());
    for (const auto& e : envelopes)
        out.push_back(message(b, e));
    return b.CreateVector(out);
}

std::vector<std::vector<std::uint8_t>> envelopesOf(
    const flatbuffers::Vector<flatbuffers::Offset<fb::BundleMessage>>* v) {
    std::vector<std::vector<std::uint8_t>> out;
    if (!v) return out;
    out.reserve(v->size());
    for (const auto* m : *v)
        out.push_back(envelopeOf(m));
    return out;
}

std::vector<std::uint8_t> finished(flatbuffers::FlatBufferBuilder& b) {
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

}  // namespace

Result<std::vector<std::uint8_t>> seal(Header header, std::span<const std::uint8_t> plain,
                                       const Sealer& to, const Signer& by) {
    auto sealedOr = to(plain);
    if (!sealedOr) return sealedOr.error();
    const std::vector<std::uint8_t>& sealed = sealedOr.value();
    const auto digest = digestOf(sealed);
    header.payloadDigest.assign(digest.begin(), digest.end());
    const auto head = headerBytes(header);
    const auto toSign = signedDigest(head, sealed);
    auto signature = by(toSign);
    if (!signature) return signature.error();
    flatbuffers::FlatBufferBuilder b(sealed.size() + head.size() + 256);
    auto headerVec = b.CreateVector(head);
    auto payloadVec = b.CreateVector(sealed);
    auto signatureVec = b.CreateVector(signature->data(), signature->size());
    b.Finish(fb::CreateBundle(b, headerVec, payloadVec, signatureVec), fb::BundleIdentifier());
    return finished(b);
}

Result<Parsed> parse(std::span<const std::uint8_t> bytes) {
    if (bytes.size() > kMaxBundleBytes) return damaged("larger than the 256 MiB limit");
    if (bytes.size() < 8 || !fb::BundleBufferHasIdentifier(bytes.data()))
        return damaged("the file is not a Veld bundle");
    flatbuffers::Verifier verifier(bytes.data(), bytes.size(), 64, 4000000);
    if (!fb::VerifyBundleBuffer(verifier))
        return damaged("the file is damaged or cut short (it fails the FlatBuffers verifier)");
    const auto* root = fb::GetBundle(bytes.data());
    if (!root->header() || !root->payload() || !root->signature() ||
        root->signature()->size() != signing::kSignatureBytes)
        return damaged("the file lacks its header, payload or signature");
    Parsed out;
    out.headerBytes = {root->header()->data(), root->header()->size()};
    out.payload = {root->payload()->data(), root->payload()->size()};
    out.signature = {root->signature()->data(), root->signature()->size()};
    const auto* h = verified<fb::BundleHeader>(out.headerBytes);
    if (!h) return damaged("its header is damaged");
    if (h->format_version() > kFormatVersion)
        return makeError(ErrorCode::TooNew, "the bundle was made by a newer Veld (format " +
                                                std::to_string(h->format_version()) +
                                                "); update Veld here first");
    if (h->format_version() < 1) return damaged("its header has no format version");
    const auto kind = static_cast<std::uint8_t>(h->kind());
    if (kind > static_cast<std::uint8_t>(fb::BundleKind::MAX))
        return damaged("its header names an unknown kind of bundle");
    out.header.formatVersion = h->format_version();
    out.header.kind = static_cast<Kind>(kind);
    std::copy_n(h->device_id()->bytes()->data(), 16, out.header.deviceId.bytes.begin());
    out.header.collectorId = h->collector_id()->str();
    out.header.number = h->number();
    out.header.createdUtcMs = h->created_utc_ms();
    out.header.firstSeq = h->first_seq();
    out.header.lastSeq = h->last_seq();
    out.header.payloadDigest = copy(h->payload_digest());
    const auto digest = digestOf(out.payload);
    if (out.header.payloadDigest.size() != digest.size() ||
        sodium_memcmp(out.header.payloadDigest.data(), digest.data(), digest.size()) != 0)
        return damaged("its payload does not match its digest (damaged on the way)");
    if (out.header.number == 0) return damaged("its header has no bundle number");
    if (out.header.firstSeq > out.header.lastSeq)
        return damaged("its header names an impossible range of records");
    return out;
}

Status verify(const Parsed& bundle, const VerifyKey& signer) {
    const auto toCheck = signedDigest(bundle.headerBytes, bundle.payload);
    if (!signing::verify(signer, toCheck, bundle.signature))
        return makeError(ErrorCode::Corrupt,
                         "the bundle's signature does not match: it was changed after it was made, "
                         "or signed by another device or collector");
    return {};
}

Result<std::vector<std::uint8_t>> open(const Parsed& bundle, const Opener& receiver) {
    if (bundle.payload.size() < crypto_box_SEALBYTES) return damaged("its payload is cut short");
    auto plain = receiver(bundle.payload);
    if (!plain)
        return makeError(ErrorCode::Corrupt,
                         "the bundle's payload does not open: it was sealed for someone else");
    return plain;
}

Sealer boxSealer(const BoxPublicKey& publicKey) {
    return [publicKey](std::span<const std::uint8_t> plain) -> Result<std::vector<std::uint8_t>> {
        std::vector<std::uint8_t> sealed(plain.size() + crypto_box_SEALBYTES);
        crypto_box_seal(sealed.data(), plain.data(), plain.size(), publicKey.data());
        return sealed;
    };
}

Opener boxOpener(const BoxPublicKey& publicKey, std::span<const std::uint8_t, 32> secretKey) {
    std::array<std::uint8_t, 32> secret{};
    std::copy(secretKey.begin(), secretKey.end(), secret.begin());
    return [publicKey,
            secret](std::span<const std::uint8_t> sealed) -> Result<std::vector<std::uint8_t>> {
        if (sealed.size() < crypto_box_SEALBYTES)
            return makeError(ErrorCode::Corrupt, "the sealed bytes are cut short");
        std::vector<std::uint8_t> plain(sealed.size() - crypto_box_SEALBYTES);
        if (crypto_box_seal_open(plain.data(), sealed.data(), sealed.size(), publicKey.data(),
                                 secret.data()) != 0)
            return makeError(ErrorCode::Corrupt, "the sealed bytes do not open with this key");
        return plain;
    };
}

std::vector<std::uint8_t> encodeDevicePayload(const DevicePayload& p) {
    flatbuffers::FlatBufferBuilder b(1024);
    auto enrol = p.enrol.empty() ? 0 : message(b, p.enrol);
    auto pushes = messages(b, p.pushes);
    auto pull = p.pull.empty() ? 0 : message(b, p.pull);
    b.Finish(fb::CreateDeviceBundle(b, enrol, pushes, pull));
    return finished(b);
}

Result<DevicePayload> decodeDevicePayload(std::span<const std::uint8_t> bytes) {
    const auto* root = verified<fb::DeviceBundle>(bytes);
    if (!root) return damaged("its opened payload fails the FlatBuffers verifier");
    DevicePayload out;
    out.enrol = envelopeOf(root->enrol());
    out.pushes = envelopesOf(root->pushes());
    out.pull = envelopeOf(root->pull());
    return out;
}

std::vector<std::uint8_t> encodeCollectorPayload(const CollectorPayload& p) {
    flatbuffers::FlatBufferBuilder b(1024);
    auto enrol = p.enrol.empty() ? 0 : message(b, p.enrol);
    auto pushes = messages(b, p.pushes);
    auto pulls = messages(b, p.pulls);
    b.Finish(fb::CreateCollectorBundle(b, enrol, pushes, pulls));
    return finished(b);
}

Result<CollectorPayload> decodeCollectorPayload(std::span<const std::uint8_t> bytes) {
    const auto* root = verified<fb::CollectorBundle>(bytes);
    if (!root) return damaged("its opened payload fails the FlatBuffers verifier");
    CollectorPayload out;
    out.enrol = envelopeOf(root->enrol());
    out.pushes = envelopesOf(root->pushes());
    out.pulls = envelopesOf(root->pulls());
    return out;
}

Result<std::vector<std::uint8_t>> readFile(const std::string& path) {
    auto text = platform::readFile(path, kMaxBundleBytes);
    if (!text) return text.error();
    if (text->size() > kMaxBundleBytes)
        return damaged(path + " is larger than the 256 MiB limit (left unread)");
    return std::vector<std::uint8_t>(text->begin(), text->end());
}

Status writeFile(const std::string& path, std::span<const std::uint8_t> bytes) {
    return platform::writeFileAtomically(
        path, {reinterpret_cast<const char*>(bytes.data()), bytes.size()},
        platform::Access::Private);
}

}  // namespace veld::sync::bundle
