// Internal to the collector: the rules of enrolment, the same for every storage backend.
//
// A device id is bound to its first enrolment. A code works once, for one device; enrolling a
// known device again needs proof (its current credential, or a code staff made for it); the same
// enrolment repeated before the device has used its credential gets the same credential again.
// A backend reads the code's and the device's state, asks decideEnrolment() what to do, and
// writes what it says in one transaction.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <veld/result.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/uuid.hpp>

namespace veld::sync::detail {

/// An enrolment code as stored.
struct EnrolCodeState {
    std::string label;
    std::int64_t expiresUtcMs = 0;
    std::optional<Uuid> usedBy;     // the device that used it, once used
    std::optional<Uuid> forDevice;  // made by staff for this known device only
};

/// The device the request names, when the collector knows it.
struct KnownDevice {
    std::vector<std::uint8_t> credentialHash;  // digest of the credential's secret
    std::vector<std::uint8_t> publicKey;
    bool revoked = false;
    /// It has made a request with its credential since its last (re)enrolment.
    bool usedCredential = false;
};

enum class EnrolAction {
    Enrol,           // a new device: store it, mark the code used
    Repeat,          // the same enrolment again: answer the same credential, change nothing
    ReenrolProved,   // a known device with its current credential: rebind, mark the code used
    ReenrolByStaff,  // a known device with a code made for it: rebind, mark the code used
};

/// How an enrolment is written in the audit log: its action ("enrol", "enrol-repeat",
/// "reenrol") and detail (the code's label, and how a re-enrolment was allowed).
struct EnrolAudit {
    const char* action = "enrol";
    std::string detail;
};
EnrolAudit enrolAudit(EnrolAction action, const std::string& label);

/// What to do with `request`, given the code's and the device's state; `credentialHash` is the
/// digest of the credential this enrolment would give (enrolSecret). Refusals are WrongState
/// (409) with the reason.
Result<EnrolAction> decideEnrolment(const EnrolRequest& request, const EnrolCodeState& code,
                                    const std::optional<KnownDevice>& device,
                                    std::span<const std::uint8_t> credentialHash,
                                    std::int64_t nowMs);

/// The secret of the credential an enrolment gives: BLAKE2b-256 keyed with the collector's
/// enrolment key over the code (normalised), the device id and its key, each with its length.
/// The same enrolment always gives the same secret; without the code (stored only as a hash)
/// the collector's file does not give it.
std::array<std::uint8_t, 32> enrolSecret(std::span<const std::uint8_t> key,
                                         const std::string& normalizedCode, const Uuid& deviceId,
                                         std::span<const std::uint8_t> devicePublicKey);

/// The 32-byte digest credentials and codes are stored as (BLAKE2b-256, unkeyed).
std::vector<std::uint8_t> storedDigest(std::string_view text);

/// Whether `credential` ("DEVICE-ID.SECRET") is `deviceId`'s and its secret's digest is `hash`.
bool provesDevice(const std::string& credential, const Uuid& deviceId,
                  std::span<const std::uint8_t> hash);

/// A new one-time code: 12 characters (60 bits) in groups of four, without look-alikes.
std::string newEnrolCode();
/// A code as typed by people, normalised: case and dashes and spaces do not matter.
std::string normalizeEnrolCode(std::string_view code);

}  // namespace veld::sync::detail
