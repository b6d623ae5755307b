#include <sodium.h>

#include <veld/fb/form_generated.h>
#include <veld/sealed_record.hpp>

namespace veld {

namespace {

// Wipes a decrypted body when it goes out of scope: it holds a respondent's answers.
struct Wiped {
    std::vector<std::uint8_t> bytes;
    ~Wiped() {
        if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
    }
};

bool sameMetadata(const Record& outer, const Record& inner) {
    return outer.id == inner.id && outer.deviceId == inner.deviceId && outer.hlc == inner.hlc &&
           outer.createdHlc == inner.createdHlc && outer.finalized == inner.finalized &&
           outer.content.formId == inner.content.formId &&
           outer.content.formVersion == inner.content.formVersion &&
           outer.content.caseId == inner.content.caseId &&
           outer.content.caseChange == inner.content.caseChange &&
           outer.content.allocation == inner.content.allocation;
}

}  // namespace

Result<Record> sealRecord(const Record& record, const projectkey::PublicKey& key) {
    if (record.sealed) return makeError(ErrorCode::InvalidArgument, "the record is sealed already");
    auto body = encodeRecord(record);
    if (!body) return body.error();
    Wiped plain{std::move(body.value())};
    Record out;
    out.id = record.id;
    out.deviceId = record.deviceId;
    out.hlc = record.hlc;
    out.createdHlc = record.createdHlc;
    out.finalized = record.finalized;
    out.content.formId = record.content.formId;
    out.content.formVersion = record.content.formVersion;
    out.content.caseId = record.content.caseId;
    // Case changes and allocations stay in clear: the collector merges them and hands case
    // properties to the devices the case is assigned to.
    out.content.caseChange = record.content.caseChange;
    out.content.allocation = record.content.allocation;
    out.sealed = SealedContent{key.id, projectkey::seal(key, plain.bytes)};
    return out;
}

Result<Record> openRecord(const Record& record, std::span<const projectkey::SecretKey> keys) {
    if (!record.sealed) return record;
    const projectkey::SecretKey* key = nullptr;
    for (const auto& k : keys) {
        if (k.id() == record.sealed->keyId) key = &k;
    }
    if (key == nullptr) {
        return makeError(ErrorCode::NotFound, "record " + record.id.toString() +
                                                  " is sealed to project key " +
                                                  record.sealed->keyId + ", which is not given");
    }
    auto opened = projectkey::open(*key, record.sealed->box);
    if (!opened) {
        return makeError(ErrorCode::Corrupt, "record " + record.id.toString() +
                                                 ": its sealed content does not open with key " +
                                                 key->id() + " (changed, or sealed to another)");
    }
    Wiped plain{std::move(opened.value())};
    auto inner = decodeRecord(plain.bytes);
    if (!inner) {
        return makeError(ErrorCode::Corrupt, "record " + record.id.toString() +
                                                 ": its sealed content is not a sound record (" +
                                                 inner.error().message + ")");
    }
    if (inner->sealed || !sameMetadata(record, inner.value())) {
        return makeError(ErrorCode::Corrupt,
                         "record " + record.id.toString() +
                             ": its sealed content belongs to another record or revision");
    }
    return inner;
}

bool formIsSealed(std::span<const std::uint8_t> formBinary) {
    flatbuffers::Verifier verifier(formBinary.data(), formBinary.size());
    if (formBinary.size() < 8 || !fb::FormBufferHasIdentifier(formBinary.data()) ||
        !fb::VerifyFormBuffer(verifier))
        return true;  // a form that cannot be read is treated as the safer kind
    return formIsSealed(*fb::GetForm(formBinary.data()));
}

bool formIsSealed(const fb::Form& form) {
    const auto* settings = form.settings();
    return settings != nullptr && (settings->sealed() || settings->kiosk());
}

}  // namespace veld
