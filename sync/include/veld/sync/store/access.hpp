// The collector's store, access domain: enrolment and devices, central staff's credentials,
// the audit log, and the store's identity (collector id, project key, health).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

struct DeviceInfo {
    Uuid deviceId;
    std::string label;  // from the enrolment code
    std::int64_t enrolledUtcMs = 0;
    std::optional<std::int64_t> revokedUtcMs;
    std::uint64_t receivedThrough = 0;
    std::optional<std::int64_t> lastContactUtcMs;
    std::int64_t revisions = 0;
    /// Finalized records the device still held, unacknowledged, after its last push (as it
    /// reported them); empty when it never said.
    std::optional<std::int64_t> waiting;
    std::string team;        // cases assigned to the team reach every device in it; "" none
    bool hasBoxKey = false;  // the device said its key for sealed allocation slots
    /// The number of the last bundle imported from it (sync by USB stick); none: never.
    std::optional<std::uint64_t> lastBundle;
    /// The collector's own "central staff" device, which writes the revisions staff make
    /// (conflict merges, case choices). Never enrolled; left out of device counts and lists.
    bool staff = false;
};

struct AdminInfo {
    std::string name;
    std::int64_t createdUtcMs = 0;
    std::optional<std::int64_t> revokedUtcMs;
};

struct AuditEntry {
    std::int64_t utcMs = 0;
    std::string actor;
    std::string action;  // enrol, enrol-repeat, reenrol, enrol-code, reenrol-code, revoke, publish,
                         // resolve, review, export, ...
    std::string subject;
    std::string detail;
};

class AccessStore {
  public:
    virtual ~AccessStore() = default;

    /// A one-time enrolment code (returned once; stored only as a hash), valid for the policy's
    /// enrolCodeTtlMs, or for `validForMs` when that is from 1 to enrolCodeTtlMs (a shorter
    /// life; longer is InvalidArgument).
    virtual Result<std::string> createEnrolCode(const std::string& label, std::int64_t nowMs,
                                                const std::string& actor,
                                                std::int64_t validForMs = 0) = 0;
    /// A one-time code that enrols the known device `deviceId` again (a reinstalled laptop that
    /// lost its credential): staff's audited permission. NotFound for an unknown device,
    /// WrongState for a revoked one.
    virtual Result<std::string> createReenrolCode(const Uuid& deviceId, std::int64_t nowMs,
                                                  const std::string& actor) = 0;
    /// Enrols a device with a code: its credential. A device id is bound to its first
    /// enrolment: enrolling a known id again needs the device's current credential
    /// (`previousCredential`) or a code made for it (createReenrolCode). The same enrolment
    /// again (same code, device id and key) before the device has used its credential gives the
    /// same credential again. Fails with NotFound (unknown code), WrongState (used, expired,
    /// made for another device, a known device without proof, or a revoked device).
    virtual Result<EnrolReply> enrol(const EnrolRequest& request, std::int64_t nowMs) = 0;
    /// The device a credential belongs to; NotFound when unknown, WrongState when revoked.
    virtual Result<Uuid> authenticate(std::string_view credential) = 0;
    virtual Status revoke(const Uuid& deviceId, std::int64_t nowMs, const std::string& actor) = 0;
    virtual Result<std::vector<DeviceInfo>> devices() = 0;
    /// A new credential for a member of staff ("veld-admin.NAME.SECRET", returned once; stored
    /// only as a digest). For an existing name, the old credential stops working.
    virtual Result<std::string> addAdmin(const std::string& name, std::int64_t nowMs,
                                         const std::string& actor) = 0;
    virtual Status revokeAdmin(const std::string& name, std::int64_t nowMs,
                               const std::string& actor) = 0;
    /// The staff member a credential belongs to; NotFound when unknown or wrong, WrongState
    /// when revoked. A device credential is never an admin credential.
    virtual Result<std::string> authenticateAdmin(std::string_view credential) = 0;
    virtual Result<std::vector<AdminInfo>> admins() = 0;
    virtual Result<std::vector<AuditEntry>> audit() = 0;
    /// Adds an entry to the audit log for something done outside the store (an export started
    /// through the admin API). Never put answers or secrets in it.
    virtual Status appendAudit(const AuditEntry& entry) = 0;
    virtual Result<std::string> collectorId() = 0;
    /// A trivial query on the store, without waiting for writers (for /healthz): its schema
    /// version when it answers.
    virtual Result<std::int64_t> health() = 0;
    /// The project's public key ("KEYID:HEX") that devices seal records to: handed out at
    /// enrolment and with every pull. Empty until set.
    virtual Result<std::string> projectKey() = 0;
    virtual Status setProjectKey(const std::string& key, std::int64_t nowMs,
                                 const std::string& actor) = 0;
};

}  // namespace veld::sync
