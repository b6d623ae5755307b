// The rules every collector backend must apply alike, written once: pure functions over plain
// data, with no database in them. A backend reads what a rule needs, asks the rule and stores
// what it decides.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <veld/allocation.hpp>
#include <veld/record.hpp>
#include <veld/result.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/store/access.hpp>
#include <veld/sync/store/bundles.hpp>
#include <veld/sync/store/cases.hpp>
#include <veld/sync/store/policy.hpp>
#include <veld/sync/store/records.hpp>
#include <veld/sync/store/review.hpp>
#include <veld/sync/store/studies.hpp>
#include <veld/uuid.hpp>

namespace veld::sync::rules {

// ---- Records ----------------------------------------------------------------------------------

/// What a pushed revision does to the record's current one.
struct RevisionPlacement {
    /// Made on another device without seeing the current revision: both are kept as a conflict
    /// that waits for staff. (A revision based on the current one simply follows it.)
    bool conflict = false;
    /// It becomes the record's current revision (the newest by HLC).
    bool becomesCurrent = false;
};

/// `currentHlc` and `currentSameDevice` describe the record's current revision (whether it was
/// made on the device that sent the incoming one).
RevisionPlacement placeRevision(std::uint64_t currentHlc, bool currentSameDevice,
                                std::uint64_t incomingHlc, std::uint64_t incomingBaseHlc);

/// Whether a revision's clock is flagged for staff: its HLC's time further ahead of or behind
/// the collector's clock than the policy tolerates. A flagged revision is kept, never dropped.
bool clockFlagged(std::int64_t hlcMillis, std::int64_t nowMs, const CollectorPolicy& policy);

/// Staff's merge of two conflicting revisions: A's content with the answers and repeats named in
/// `fromB` as B has them (an answer B does not have is removed). InvalidArgument for a name
/// neither has.
Status mergeFromB(RecordContent& content, const RecordContent& b,
                  const std::vector<std::string>& fromB);

/// A stored revision's record, or nothing when it was stored damaged or does not decode.
std::optional<Record> readableRevision(bool damaged, std::span<const std::uint8_t> body);

/// Staff's settling of a record conflict (any kind but Close) as the collector's own revision.
struct ConflictSettlement {
    PushRevision revision;  // of the staff device, after its last sequence number
    std::string detail;     // what was kept, for the audit log (names, never answers)
};
/// The revision that settles a conflict between revisions A and B of `recordId` (each nothing
/// when unreadable) made by `deviceA` and `deviceB`: A's or B's content, or A's merged with
/// `fromB`, stamped after the record's current HLC (and `nowMs`), based on it, as the staff
/// device's next revision. InvalidArgument when a revision it needs is unreadable or sealed
/// (the collector cannot open sealed answers), or `fromB` names an answer neither has.
Result<ConflictSettlement> settleConflict(const ConflictResolution& resolution,
                                          const Uuid& recordId, const std::optional<Record>& a,
                                          const std::optional<Record>& b, const Uuid& deviceA,
                                          const Uuid& deviceB, HlcTimestamp current,
                                          const Uuid& staffDevice, std::uint64_t staffSeq,
                                          std::int64_t nowMs);

/// What a device is told of a study at pull: ids, arms, factors and its low mark, never the
/// seed.
DeviceStudy deviceStudy(const alloc::Study& study);

// ---- Cases ------------------------------------------------------------------------------------

/// The most property names one case holds (besides status and arm): a case with more might not
/// reach its devices.
inline constexpr std::size_t kMaxCaseProperties = 256;

/// Staff's choice for a case conflict and its comment, before anything is read: a typed value
/// up to 4096 bytes, a comment up to kMaxReviewCommentBytes (InvalidArgument otherwise).
Status checkCaseChoice(const CaseChoice& choice, std::string_view comment);

/// The HLC of staff's value for a case conflict between sides of HLCs `hlcA` and `hlcB`, the
/// property holding `heldHlc`: after everything the property holds (as the collector's
/// resolutions of records are), so it becomes current; its base is max(hlcA, hlcB), so it is no
/// new disagreement with either side, while a device that changes it later without having seen
/// it raises a new conflict.
HlcTimestamp caseChoiceHlc(std::uint64_t hlcA, std::uint64_t hlcB,
                           std::optional<std::uint64_t> heldHlc, std::int64_t nowMs);

/// How staff chose, in the words the conflict's resolution and the audit log keep.
std::string_view caseChoiceWords(const CaseChoice& choice);

/// Whether a property name not yet held by a case that already holds `heldNames` names is
/// merged. Veld's own status and arm always are.
bool admitsNewProperty(std::size_t heldNames, std::string_view name);

/// Whether a case change sets the case's status without naming it (an open or a close that has
/// no status property): the backend then reads the status held and asks impliedStatus().
bool impliesStatus(const CaseChange& change);

/// The status property a change implies when it does not set it itself: "open" for a case opened
/// that has no status yet, "closed" for a close, based on the status held (a close is no
/// disagreement with the open it ends). `heldStatusHlc` is the HLC of the status held, if any.
std::optional<CasePropertyValue> impliedStatus(const CaseChange& change,
                                               std::optional<std::uint64_t> heldStatusHlc);

/// A case property as held.
struct HeldProperty {
    std::string value;
    std::uint64_t hlc = 0;
    std::uint64_t base = 0;
};

/// The merge of one incoming property change with the value held.
struct PropertyMerge {
    /// Concurrent with the held value and different: both are kept as a case conflict.
    bool conflict = false;
    /// The incoming value becomes current (veld::caseValueWins).
    bool incomingWins = false;
};

PropertyMerge mergeProperty(const HeldProperty& held, std::string_view value, std::uint64_t hlc,
                            std::uint64_t base);

// ---- Allocations ------------------------------------------------------------------------------

/// An allocation as received, with its token (which only verification reads).
struct HeldAllocation {
    AllocationRow row;
    std::vector<std::uint8_t> token;
};

/// How many allocations of one device (over every study) carry one allocation log number.
struct LogNumberUse {
    std::uint64_t logSeq = 0;
    std::int64_t count = 0;
};

/// Per device, its log numbers' uses in ascending log number order.
using DeviceLogs = std::map<Uuid, std::vector<LogNumberUse>>;

/// The devices whose logs verify() checks: those that made one of `held`.
std::set<Uuid> devicesOf(const std::vector<HeldAllocation>& held);

/// Checks the allocations of one study against the regenerated sequence and the blocks dealt;
/// then each device's allocation log numbers (over every study: a device numbers its log once
/// for all studies), 1..n each once.
StudyVerification verify(const alloc::Study& def, const std::vector<HeldAllocation>& held,
                         const std::vector<DealtBlock>& dealt, const DeviceLogs& logs);

// ---- Duplicates -------------------------------------------------------------------------------

/// An answer as text for comparing: equal answers give equal text (text compared without case).
std::string canonicalAnswer(const AnswerValue& value);

/// The questions that identify a person, per (form id, version).
using IdentifyingQuestions = std::map<std::pair<std::string, std::uint32_t>, std::set<std::string>>;

/// Which questions of the published forms identify a person (the record's own level only:
/// answers inside repeats describe others).
IdentifyingQuestions identifyingQuestions(const std::vector<PublishedFormInfo>& forms);

/// Groups current records that likely belong to one person: the same pseudonym on any form, or
/// the same identifying answers on one form. Records are added one at a time (memory grows with
/// the records that have a key, never with their bodies).
class DuplicateGrouping {
  public:
    explicit DuplicateGrouping(IdentifyingQuestions identifying);

    void add(const Uuid& recordId, const std::string& formId, std::uint32_t formVersion,
             const RecordContent& content);

    /// The groups of two or more records, in key order, each with its key (hex of the digest)
    /// set; the decision fields are left for the backend to fill in.
    std::vector<DuplicateGroup> groups() const;

  private:
    IdentifyingQuestions m_identifying;
    // Keyed by the digest's bytes as a string (GCC 12 warns falsely on vector keys at -O3).
    std::map<std::string, DuplicateGroup> m_groups;
};

/// A group key as the API shows it (64 lowercase hex digits) back to its bytes; InvalidArgument
/// for anything else.
Result<std::vector<std::uint8_t>> parseGroupKey(std::string_view key);

// ---- Staff and devices ------------------------------------------------------------------------

/// What a collector stores of a secret (an enrolment code, a credential's secret): a digest.
std::vector<std::uint8_t> secretDigest(std::string_view secret);

/// The stored digest of an enrolment code as typed by a person (no look-alike letters, case and
/// dashes ignored).
std::vector<std::uint8_t> enrolCodeDigest(std::string_view code);

/// Compares a stored digest with a presented one in constant time.
bool sameDigest(std::span<const std::uint8_t> stored, std::span<const std::uint8_t> presented);

/// A device credential ("<device id>.<64 hex>") split: the device and the digest of its secret.
/// NotFound when it is no device credential.
struct PresentedDevice {
    Uuid deviceId;
    std::vector<std::uint8_t> digest;
};
Result<PresentedDevice> parseDeviceCredential(std::string_view credential);

inline constexpr std::string_view kAdminPrefix = "veld-admin.";

/// An admin name is 1 to 64 letters, digits, '.', '-' or '_'.
bool validAdminName(std::string_view name);

/// An admin credential ("veld-admin.<name>.<64 hex>") for a name and its secret (hex).
std::string adminCredential(std::string_view name, std::string_view secretHex);

/// An admin credential split: the name and the digest of its secret. NotFound when it is no
/// admin credential.
struct PresentedAdmin {
    std::string name;
    std::vector<std::uint8_t> digest;
};
Result<PresentedAdmin> parseAdminCredential(std::string_view credential);

/// A team name is at most 64 letters, digits, '.', '-' or '_' (empty: no team).
bool validTeam(std::string_view team);

// ---- Corrections ------------------------------------------------------------------------------

/// What a change of review does to the record's correction.
enum class CorrectionStep { None, Open, Withdraw };
/// `open`: the record has a correction that is Open or Corrected. HasIssues opens one (again);
/// any other verdict withdraws it, so the devices drop it.
CorrectionStep correctionStep(ReviewState newState, bool open);

/// Whether a revision with `baseHlc` corrects a record staff marked HasIssues while its current
/// revision was `aboutHlc`: it was made from that revision or a newer one.
bool correctsRecord(std::uint64_t baseHlc, std::uint64_t aboutHlc);

/// Staff may set every review state but Corrected, which only a correcting revision sets.
Status checkStaffReview(ReviewState state, std::size_t commentBytes);

/// A record's review history as both backends' export queries hand it over in one column:
/// changes separated by \x1e, each "state\x1fUTC ms\x1frevision HLC\x1factor\x1fcomment" (the
/// comment last, so it may hold anything but \x1e). Unreadable parts are skipped.
std::vector<ReviewChange> unpackReviewHistory(std::string_view packed);

/// The review history entry of a correction: its actor and its comment (which names the
/// revision; the HLC itself is kept beside it).
std::string correctionActor(const Uuid& deviceId);
std::string correctionComment(HlcTimestamp hlc);

// ---- Bundles ----------------------------------------------------------------------------------

/// The meta entry a device's last imported bundle is kept under, and its value ("N DIGESTHEX").
std::string bundleMarkKey(const Uuid& deviceId);
std::string bundleMarkText(const BundleMark& mark);
/// The meta keys of every device's bundle mark start with this; kBundleMarksSql reads them all
/// (the same text on both backends).
inline constexpr std::string_view kBundleMarkPrefix = "bundle:";
inline constexpr const char* kBundleMarksSql =
    "SELECT key, value FROM meta WHERE key LIKE 'bundle:%'";
/// Fills each device's lastBundle from the meta entries (key, value) of bundle marks; entries
/// that do not parse are passed over.
void applyBundleMarks(std::vector<DeviceInfo>& devices,
                      const std::vector<std::pair<std::string, std::string>>& marks);
/// Corrupt for a damaged value.
Result<BundleMark> parseBundleMark(std::string_view text);

}  // namespace veld::sync::rules
