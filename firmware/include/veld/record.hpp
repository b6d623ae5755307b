// Records as C++ values, and their FlatBuffers encoding (schemas/record.fbs).
//
// The form engine builds a RecordContent; the device store adds identity, time and status and
// encodes it. Every body read back from disk or the network goes through decodeRecord() or
// checkRecordBody(), which run the FlatBuffers Verifier (memory safety) and then Veld's own checks
// (sense: valid ids, names, UTF-8, value ranges), because a mutated buffer often passes the
// Verifier.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <veld/hlc.hpp>
#include <veld/result.hpp>
#include <veld/uuid.hpp>

namespace veld {

struct DecimalAnswer {
    double value = 0;
    std::string text;  // the digits as typed, normalised to a '.' decimal point
    bool operator==(const DecimalAnswer&) const = default;
};
struct ChoiceAnswer {
    std::string choice;
    std::string otherText;
    bool operator==(const ChoiceAnswer&) const = default;
};
struct ChoicesAnswer {
    std::vector<std::string> choices;
    std::string otherText;
    bool operator==(const ChoicesAnswer&) const = default;
};
struct DateAnswer {
    std::int32_t days = 0;  // since 1970-01-01
    bool operator==(const DateAnswer&) const = default;
};
struct TimeAnswer {
    std::int32_t ms = 0;  // since local midnight
    bool operator==(const TimeAnswer&) const = default;
};
struct DateTimeAnswer {
    std::int64_t utcMs = 0;
    std::int16_t offsetMinutes = 0;
    bool operator==(const DateTimeAnswer&) const = default;
};
struct SignaturePoint {
    std::uint16_t x = 0;
    std::uint16_t y = 0;
    bool operator==(const SignaturePoint&) const = default;
};
struct SignatureAnswer {
    std::vector<std::vector<SignaturePoint>> strokes;
    std::uint16_t width = 0;
    std::uint16_t height = 0;
    bool operator==(const SignatureAnswer&) const = default;
};
struct PseudonymAnswer {
    std::vector<std::uint8_t> digest;
    std::string keyId;
    std::string scheme;
    bool operator==(const PseudonymAnswer&) const = default;
};

/// One typed answer value. The order of alternatives is not the schema's union order; the codec
/// maps between them explicitly.
using AnswerValue =
    std::variant<std::string, std::int64_t, DecimalAnswer, bool, ChoiceAnswer, ChoicesAnswer,
                 DateAnswer, TimeAnswer, DateTimeAnswer, SignatureAnswer, PseudonymAnswer>;

struct Answer {
    std::string name;
    AnswerValue value;
    bool operator==(const Answer&) const = default;
};

struct Repeat;

struct RepeatInstance {
    std::vector<Answer> answers;
    std::vector<Repeat> repeats;
    bool operator==(const RepeatInstance&) const;
};

struct Repeat {
    std::string name;
    std::vector<RepeatInstance> instances;
    bool operator==(const Repeat&) const = default;
};

struct QuestionTiming {
    std::string name;
    std::uint32_t ms = 0;
    std::uint16_t visits = 0;
    bool operator==(const QuestionTiming&) const = default;
};

struct Paradata {
    std::int64_t startedUtcMs = 0;
    std::int64_t finalizedUtcMs = 0;
    std::string language;
    std::string appVersion;
    std::vector<QuestionTiming> timings;
    std::uint32_t edits = 0;
    bool kiosk = false;
    bool operator==(const Paradata&) const = default;
};

/// What a record does with its case (schemas/common.fbs CaseAction).
enum class CaseAction : std::uint8_t { None = 0, Open = 1, FollowUp = 2, Close = 3 };
std::string_view caseActionName(CaseAction action);

/// Case properties Veld itself sets: `status` ("open" or "closed") and `arm` (the allocated arm).
inline constexpr std::string_view kCaseStatusProperty = "status";
inline constexpr std::string_view kCaseArmProperty = "arm";
/// Case properties the case list reads when a form sets them: a short label and the next planned
/// contact (an ISO date).
inline constexpr std::string_view kCaseLabelProperty = "label";
inline constexpr std::string_view kCaseNextContactProperty = "next_contact";

struct CasePropertyValue {
    std::string name;
    std::string value;  // text; empty clears the property
    /// The HLC of the value the device held when the form started (0: none), from the form
    /// session (see CaseChange::basesKnown) or filled in by the store at finalize.
    HlcTimestamp base;
    bool operator==(const CasePropertyValue&) const = default;
};

struct CaseChange {
    CaseAction action = CaseAction::None;
    std::string caseType;   // Open: participant, vacancy, school, employer
    std::string pseudonym;  // Open: "KEYID:HEX" of the identifying pseudonym, or empty
    std::vector<CasePropertyValue> properties;
    /// Not encoded. Set by a form session that knew the case's values when the form started:
    /// the properties' bases are those (a value received while the form was open is then seen
    /// as concurrent, never silently overwritten). Unset, the store takes the values it holds
    /// at finalize.
    bool basesKnown = false;
    bool operator==(const CaseChange&) const = default;
};

/// An allocation taken on the device: one slot of a study's sequence.
struct Allocation {
    std::string study;
    std::string stratum;  // "factor=level;factor=level" in the study's factor order
    std::uint32_t block = 0;
    std::uint32_t position = 0;
    std::string arm;
    std::vector<std::uint8_t> token;
    std::uint64_t logSeq = 0;
    std::int64_t takenUtcMs = 0;
    bool operator==(const Allocation&) const = default;
};

/// Asks the store to randomise the record's case into a study when it finalizes the record.
struct AllocationRequest {
    std::string study;
    std::string stratum;
    bool operator==(const AllocationRequest&) const = default;
};

/// What a form session hands to the store: everything except identity, time and status, which
/// the store assigns. Answers and repeats may be in any order; names must be unique per level.
struct RecordContent {
    std::string formId;
    std::uint32_t formVersion = 0;
    std::optional<Uuid> caseId;
    std::vector<Answer> answers;
    std::vector<Repeat> repeats;
    Paradata paradata;
    std::optional<CaseChange> caseChange;  // applied to the device's case list at finalize
    /// Input only, never encoded: finalize takes the next allocation of this study and stratum
    /// for the case, in the same transaction, and records it in `allocation`.
    std::optional<AllocationRequest> allocate;
    std::optional<Allocation> allocation;  // as encoded: the allocation this record took
    bool operator==(const RecordContent&) const = default;
};

/// The life of a record on a device. Draft and Finalized are written into the body; Sent and
/// Quarantined exist only in the store.
enum class RecordStatus : std::uint8_t {
    Draft = 0,
    Finalized = 1,    // complete, waiting in the outbox
    Sent = 2,         // finalized and acknowledged by the collector
    Quarantined = 3,  // the body failed verification and was moved aside
};
std::string_view recordStatusName(RecordStatus status);
std::optional<RecordStatus> parseRecordStatus(std::string_view name);

/// The encrypted part of a sealed record (see veld/sealed_record.hpp).
struct SealedContent {
    std::string keyId;              // the project key it was sealed to
    std::vector<std::uint8_t> box;  // a whole record body in a libsodium sealed box
    bool operator==(const SealedContent&) const = default;
};

/// One revision of a record as it is encoded in a body. A sealed record carries its answers,
/// repeats and paradata only inside `sealed`: its content holds the metadata alone.
struct Record {
    Uuid id;
    Uuid deviceId;
    HlcTimestamp hlc;
    HlcTimestamp createdHlc;
    bool finalized = false;
    RecordContent content;
    std::optional<SealedContent> sealed;
    bool operator==(const Record&) const = default;
};

/// Limits that keep a hostile or broken body from costing unbounded time or memory.
inline constexpr std::size_t kMaxRecordBodyBytes = 16u << 20;
inline constexpr std::size_t kMaxNameLength = 64;
inline constexpr int kMaxRepeatDepth = 8;
/// A sealed box adds this many bytes (libsodium's crypto_box_SEALBYTES) to what it holds.
inline constexpr std::size_t kSealOverheadBytes = 48;

/// A choice name: an item name ([A-Za-z_][A-Za-z0-9_.-]*, at most 64) or a number ("1", "-9",
/// "2.5"). Form checks and record checks agree through this one rule.
bool validChoiceName(std::string_view name);

/// Checks names and value ranges of content before it is encoded. The message names the item.
Status checkRecordContent(const RecordContent& content);

/// Encodes a record into a verified FlatBuffers body. Fails if the content does not pass
/// checkRecordContent().
Result<std::vector<std::uint8_t>> encodeRecord(const Record& record);

/// Verifies a body (FlatBuffers Verifier, then Veld's checks) without decoding it. Corrupt error
/// with a reason on failure.
Status checkRecordBody(std::span<const std::uint8_t> body);

/// Verifies and decodes a body.
Result<Record> decodeRecord(std::span<const std::uint8_t> body);

/// What identifies a record, without its answers.
struct RecordHeader {
    Uuid id;
    Uuid deviceId;
    HlcTimestamp hlc;
    std::string formId;
    std::uint32_t formVersion = 0;
    std::optional<Uuid> caseId;
    bool finalized = false;
    bool sealed = false;
    std::optional<CaseChange> caseChange;
    std::optional<Allocation> allocation;
};

/// Verifies a body exactly as decodeRecord() does, but decodes only its header: for code that
/// passes bodies on (the collector) and needs to know they are sound, not what they say.
Result<RecordHeader> inspectRecord(std::span<const std::uint8_t> body);

}  // namespace veld
