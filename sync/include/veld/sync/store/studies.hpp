// The collector's store, randomisation domain: studies, the blocks dealt to devices and the
// allocations devices report.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/allocation.hpp>
#include <veld/result.hpp>
#include <veld/sync/study_json.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

// ---- Randomisation --------------------------------------------------------------------------
// A study (StudyDefinition) is defined once with a secret seed; blocks of each stratum's
// sequence are dealt to devices (at pull, or by staff), each block to one device only; the
// allocations devices report inside records are all stored as they come, duplicates and misuse
// included, and checked by verifyAllocations against the regenerated sequence.

/// A study as the collector lists it (the seed is never in it: see studySeed).
struct StudySummary {
    StudyDefinition definition;  // definition.study.seed is zeroed
    std::int64_t createdUtcMs = 0;
};

struct DealtBlock {
    std::string study;
    std::string stratum;
    std::uint32_t block = 0;
    Uuid deviceId;
    std::uint64_t assignSeq = 0;
    std::int64_t assignedUtcMs = 0;
};

struct ArmBalance {
    std::string arm;
    std::int64_t allocated = 0;
    double target = 0;  // the stratum's allocations x ratio / sum of ratios
};

struct StratumBalance {
    std::string stratum;
    std::vector<ArmBalance> arms;  // in the study's arm order
    std::int64_t allocated = 0;
    std::int64_t dealtBlocks = 0;
    std::int64_t completeBlocks = 0;  // every slot used
    std::int64_t openBlocks = 0;      // some slots used
    bool known = true;                // false: a stratum the study does not have (see verify)
};

struct DeviceBalance {
    Uuid deviceId;
    std::string label;
    std::int64_t dealtBlocks = 0;
    std::int64_t dealtSlots = 0;
    std::int64_t allocated = 0;
};

struct StudyBalance {
    std::string study;
    std::int64_t allocated = 0;
    std::vector<StratumBalance> strata;  // the study's strata in order, then unknown ones
    std::vector<DeviceBalance> devices;  // devices dealt blocks, or reporting allocations
};

struct AllocationProblem {
    enum class Kind : std::uint8_t {
        UnknownStratum = 0,  // the stratum is not one of the study's
        NoSuchSlot = 1,      // the position is past the end of its block
        ArmMismatch = 2,     // the arm is not the sequence's arm for that slot
        TokenMismatch = 3,   // the token is not the slot's: the slot was not opened
        NotDealt = 4,        // the block was not dealt to the device that used it
        SlotReused = 5,      // two allocations name one slot
        CaseTwice = 6,       // one case allocated more than once in the study
        Skipped = 7,         // a device left a slot unused before one it used
        LogGap = 8,          // a device's allocation log numbers have a gap (maybe not yet sent)
        LogReused = 9,       // two allocations carry one log number of a device
    };
    Kind kind = Kind::ArmMismatch;
    std::string detail;  // names the slot, device, case or log numbers; never a seed or token
};

struct StudyVerification {
    std::string study;
    std::int64_t allocations = 0;
    std::int64_t devices = 0;
    std::int64_t problemAllocations = 0;  // allocations with at least one problem of their own
    std::vector<AllocationProblem> problems;
    [[nodiscard]] bool ok() const { return problems.empty(); }
};

/// One allocation as received, for the evaluator to join with the data export by case and
/// record id.
struct AllocationRow {
    std::string study;
    std::string stratum;
    std::uint32_t block = 0;
    std::uint32_t position = 0;
    std::string arm;
    Uuid deviceId;
    std::uint64_t logSeq = 0;
    Uuid caseId;
    Uuid recordId;
    std::int64_t takenUtcMs = 0;
    std::int64_t receivedUtcMs = 0;
};

std::string_view allocationProblemName(AllocationProblem::Kind kind);

class StudyStore {
  public:
    virtual ~StudyStore() = default;

    /// Defines a study (checked; a seed is made when none is given). Defining the same study
    /// again is a no-op (false); another definition under a defined id is refused (WrongState).
    virtual Result<bool> defineStudy(const StudyDefinition& definition, std::int64_t nowMs,
                                     const std::string& actor) = 0;
    virtual Result<std::vector<StudySummary>> studies() = 0;
    /// The study's secret seed, for the evaluator at the end. Audited ("seed-disclosed").
    virtual Result<std::array<std::uint8_t, alloc::kSeedBytes>> studySeed(
        const std::string& study, std::int64_t nowMs, const std::string& actor) = 0;
    /// Deals the next `blocksPerStratum` undealt blocks of every stratum to a device (which
    /// receives them sealed at its next pull). NotFound for an unknown study or device,
    /// WrongState for a revoked device. Audited.
    virtual Result<std::vector<DealtBlock>> allocateBlocks(const std::string& study,
                                                           const Uuid& deviceId,
                                                           std::uint32_t blocksPerStratum,
                                                           std::int64_t nowMs,
                                                           const std::string& actor) = 0;
    virtual Result<StudyBalance> balance(const std::string& study) = 0;
    /// Checks every allocation received for the study against the regenerated sequence and the
    /// blocks dealt (see AllocationProblem).
    virtual Result<StudyVerification> verifyAllocations(const std::string& study) = 0;
    /// Every allocation received for the study, in the order received.
    virtual Result<std::vector<AllocationRow>> allocationLog(const std::string& study) = 0;
};

}  // namespace veld::sync
