// The rules of enrolment: see enrolment.hpp.
#include "enrolment.hpp"

#include <sodium.h>

namespace veld::sync::detail {

namespace {

bool sameDigest(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

Result<EnrolAction> decideEnrolment(const EnrolRequest& request, const EnrolCodeState& code,
                                    const std::optional<KnownDevice>& device,
                                    std::span<const std::uint8_t> credentialHash,
                                    std::int64_t nowMs) {
    if (code.expiresUtcMs < nowMs)
        return makeError(ErrorCode::WrongState, "this enrolment code has expired");
    if (code.forDevice && *code.forDevice != request.deviceId)
        return makeError(ErrorCode::WrongState, "this enrolment code was made for another device");
    if (code.usedBy) {
        // The same enrolment again (its reply was lost): the same outcome, as long as the device
        // has not since used what it was given or been enrolled anew.
        const bool repeat = *code.usedBy == request.deviceId && device && !device->revoked &&
                            !device->usedCredential &&
                            device->publicKey == request.devicePublicKey &&
                            sameDigest(device->credentialHash, credentialHash);
        if (!repeat)
            return makeError(ErrorCode::WrongState, "this enrolment code has been used already");
        return EnrolAction::Repeat;
    }
    if (!device) return EnrolAction::Enrol;
    // A revoked device stays revoked; it needs a new identity (a new store).
    if (device->revoked) return makeError(ErrorCode::WrongState, "this device has been revoked");
    if (!request.previousCredential.empty() &&
        provesDevice(request.previousCredential, request.deviceId, device->credentialHash))
        return EnrolAction::ReenrolProved;
    if (code.forDevice) return EnrolAction::ReenrolByStaff;
    return makeError(ErrorCode::WrongState,
                     "this device is enrolled already; enrolling it again needs its current "
                     "credential, or a code made for it (veldctl collector reenrol-code)");
}

std::array<std::uint8_t, 32> enrolSecret(std::span<const std::uint8_t> key,
                                         const std::string& normalizedCode, const Uuid& deviceId,
                                         std::span<const std::uint8_t> devicePublicKey) {
    crypto_generichash_state state;
    crypto_generichash_init(&state, key.data(), key.size(), 32);
    const auto field = [&](std::span<const std::uint8_t> bytes) {
        std::array<std::uint8_t, 8> length{};
        for (std::size_t i = 0; i < 8; ++i)
            length[i] = static_cast<std::uint8_t>(bytes.size() >> (8 * i));
        crypto_generichash_update(&state, length.data(), length.size());
        crypto_generichash_update(&state, bytes.data(), bytes.size());
    };
    const std::string domain = "veld-enrol-credential-v1";
    field({reinterpret_cast<const std::uint8_t*>(domain.data()), domain.size()});
    field({reinterpret_cast<const std::uint8_t*>(normalizedCode.data()), normalizedCode.size()});
    field({deviceId.bytes.data(), deviceId.bytes.size()});
    field(devicePublicKey);
    std::array<std::uint8_t, 32> out{};
    crypto_generichash_final(&state, out.data(), out.size());
    return out;
}

std::vector<std::uint8_t> storedDigest(std::string_view text) {
    std::vector<std::uint8_t> out(32);
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(text.data()),
                       text.size(), nullptr, 0);
    return out;
}

bool provesDevice(const std::string& credential, const Uuid& deviceId,
                  std::span<const std::uint8_t> hash) {
    const auto dot = credential.find('.');
    if (dot == std::string::npos) return false;
    const auto id = Uuid::parse(credential.substr(0, dot));
    if (!id || *id != deviceId) return false;
    return sameDigest(hash, storedDigest(std::string_view(credential).substr(dot + 1)));
}

std::string newEnrolCode() {
    static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    std::string code;
    for (int i = 0; i < 12; ++i) {
        if (i > 0 && i % 4 == 0) code += '-';
        code += kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)];
    }
    return code;
}

std::string normalizeEnrolCode(std::string_view code) {
    std::string out;
    for (char c : code) {
        if (c == '-' || c == ' ') continue;
        out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    return out;
}

EnrolAudit enrolAudit(EnrolAction action, const std::string& label) {
    EnrolAudit out;
    out.detail = label;
    switch (action) {
        case EnrolAction::Enrol:
            break;
        case EnrolAction::Repeat:
            out.action = "enrol-repeat";
            break;
        case EnrolAction::ReenrolProved:
            out.action = "reenrol";
            out.detail += " (proved by its credential)";
            break;
        case EnrolAction::ReenrolByStaff:
            out.action = "reenrol";
            out.detail += " (with a code made for it)";
            break;
    }
    return out;
}

}  // namespace veld::sync::detail
