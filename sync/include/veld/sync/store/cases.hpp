// The collector's store, cases domain.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/hlc.hpp>
#include <veld/result.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

// ---- Cases ----------------------------------------------------------------------------------
// A case (a participant, a vacancy, ...) is made by the record that opens it and changed by the
// case changes of later records (veld/record.hpp CaseChange). The collector merges each property
// by HLC: the newer value is current; two changes made without either device seeing the other's
// (each one's base older than the other's HLC) with different values are also kept as a case
// conflict for staff. Every change gives the case a new change number, by which pull pages.

struct CollectorCaseProperty {
    std::string name;
    std::string value;  // empty: cleared
    HlcTimestamp hlc;   // of the revision (or staff's resolution) that set it
    HlcTimestamp base;  // the HLC of the value the device held when it changed it
    Uuid deviceId;      // who set it (the collector's own device for staff)
};

struct CollectorCase {
    Uuid caseId;
    std::string caseType;
    std::string pseudonym;  // "KEYID:HEX", or empty
    std::optional<Uuid> openedDevice;
    std::optional<Uuid> assignedDevice;
    std::string assignedTeam;  // "" none
    std::optional<std::int64_t> lastContactUtcMs;
    std::uint64_t changeSeq = 0;
    std::vector<CollectorCaseProperty> properties;  // by name
};

/// Which cases to list; every field that is set must match.
struct CaseFilter {
    std::optional<std::string> caseType;
    std::optional<Uuid> assignedDevice;
    std::optional<std::string> assignedTeam;
    std::size_t limit = 10000;
};

/// Two values of one case property set without either device seeing the other's.
struct CaseConflictInfo {
    std::int64_t id = 0;  // for resolveCaseConflict
    Uuid caseId;
    std::string property;
    std::string valueA;  // the value held when the other arrived
    HlcTimestamp hlcA;
    Uuid deviceA;
    std::string valueB;  // the value that arrived
    HlcTimestamp hlcB;
    Uuid deviceB;
    std::int64_t detectedUtcMs = 0;
    std::optional<std::int64_t> resolvedUtcMs;
    std::string resolution;  // how, and staff's comment
    std::string resolvedBy;
};

/// Staff's choice for a case conflict: one of the two values, or a value they type.
struct CaseChoice {
    enum class Kind : std::uint8_t { A = 0, B = 1, Value = 2 };
    Kind kind = Kind::A;
    std::string value;  // Kind::Value
};

class CaseStore {
  public:
    virtual ~CaseStore() = default;

    /// Puts a device in a team ("" for none): cases assigned to the team reach it, those of its
    /// old team leave it at its next pull. NotFound for an unknown device. Audited.
    virtual Status setDeviceTeam(const Uuid& deviceId, const std::string& team, std::int64_t nowMs,
                                 const std::string& actor) = 0;
    /// Cases with every property, by case id.
    virtual Result<std::vector<CollectorCase>> cases(const CaseFilter& filter) = 0;
    /// Assigns a case to a device and/or a team (replacing both; at least one must be given).
    /// The devices that held it and no longer do are told at their next pull. NotFound for an
    /// unknown case or device. Audited.
    virtual Status assignCase(const Uuid& caseId, const std::optional<Uuid>& device,
                              const std::string& team, std::int64_t nowMs,
                              const std::string& actor) = 0;
    /// Case conflicts, oldest first: the open ones, or all.
    virtual Result<std::vector<CaseConflictInfo>> caseConflicts(bool includeResolved) = 0;
    /// Settles a case conflict: the chosen value becomes the property's value with an HLC after
    /// everything the case holds and both sides as its base, so it reaches every device holding
    /// the case. NotFound for an unknown conflict, WrongState when settled already,
    /// InvalidArgument for a typed value that is too long. Audited (never with the values).
    virtual Status resolveCaseConflict(std::int64_t conflictId, const CaseChoice& choice,
                                       const std::string& comment, std::int64_t nowMs,
                                       const std::string& actor) = 0;
};

}  // namespace veld::sync
