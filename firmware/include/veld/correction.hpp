// Corrections: records central staff sent back to the field ("has issues"), as the collector
// hands them to devices and as a device keeps them. The collector decides who gets one (the
// devices that made the record, and its case's team); a device reopens the record as a new
// revision (Store::reopenForCorrection) that travels like any other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/uuid.hpp>

namespace veld {

/// Where a correction is. The numbers travel in sync messages: never renumber.
enum class CorrectionState : std::uint8_t {
    Open = 0,       // staff want the record corrected
    Withdrawn = 1,  // staff decided otherwise (approved, rejected): the device drops it
    Corrected = 2,  // a correction arrived at the collector; staff will look at it
};

inline std::optional<CorrectionState> correctionStateFromCode(std::uint8_t code) {
    if (code > static_cast<std::uint8_t>(CorrectionState::Corrected)) return std::nullopt;
    return static_cast<CorrectionState>(code);
}

inline std::string_view correctionStateName(CorrectionState state) {
    switch (state) {
        case CorrectionState::Open:
            return "open";
        case CorrectionState::Withdrawn:
            return "withdrawn";
        case CorrectionState::Corrected:
            return "corrected";
    }
    return "open";
}

/// A correction as a device receives it (one change of it; the newest change of a record wins).
struct CorrectionIn {
    std::uint64_t seq = 0;  // the collector's change number: the device's next cursor
    Uuid recordId;
    std::string formId;
    std::uint32_t formVersion = 0;
    CorrectionState state = CorrectionState::Open;
    std::string comment;  // staff's comment; may be empty
    std::int64_t reviewUtcMs = 0;
    std::optional<Uuid> caseId;
    bool sealed = false;  // a sealed record: shown, never reopened
    /// The record's current revision at the collector (a verified Record body), so a device that
    /// never held the record can reopen it; empty for sealed records and closed corrections.
    std::vector<std::uint8_t> body;
};

/// The longest comment a correction carries (the collector's review comment limit).
inline constexpr std::size_t kMaxCorrectionCommentBytes = 4096;

}  // namespace veld
