// The admin API's messages (schemas/admin.fbs): what central staff's console asks of the
// collector and its answers. Every request is a POST with an admin credential to one of the
// paths below; bodies are verified (FlatBuffers Verifier, then sense) before anything else.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <veld/result.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/export.hpp>

namespace veld::sync::admin {

inline constexpr const char* kStatusPath = "/v1/admin/status";
inline constexpr const char* kDevicesPath = "/v1/admin/devices";
inline constexpr const char* kReviewPath = "/v1/admin/review";
inline constexpr const char* kConflictsPath = "/v1/admin/conflicts";
inline constexpr const char* kResolvePath = "/v1/admin/resolve";
inline constexpr const char* kDuplicatesPath = "/v1/admin/duplicates";
inline constexpr const char* kDecidePath = "/v1/admin/decide";
inline constexpr const char* kFormsPath = "/v1/admin/forms";
inline constexpr const char* kRecordPath = "/v1/admin/record";
inline constexpr const char* kQueuePath = "/v1/admin/queue";
inline constexpr const char* kExportPath = "/v1/admin/export";
inline constexpr const char* kExportJobPath = "/v1/admin/export-job";
inline constexpr const char* kExportFilePath = "/v1/admin/export-file";
inline constexpr const char* kCaseConflictsPath = "/v1/admin/case-conflicts";
inline constexpr const char* kCaseResolvePath = "/v1/admin/case-resolve";
inline constexpr const char* kStudiesPath = "/v1/admin/studies";
inline constexpr const char* kStudyBalancePath = "/v1/admin/study-balance";
inline constexpr const char* kStudyVerifyPath = "/v1/admin/study-verify";
inline constexpr const char* kPublishPath = "/v1/admin/publish";
inline constexpr const char* kContentType = "application/vnd.veld.admin+flatbuffers";
/// The answer of kExportFilePath: a file's bytes.
inline constexpr const char* kFileContentType = "application/octet-stream";
/// The most bytes one kExportFilePath answer holds.
inline constexpr std::int64_t kMaxFileChunk = 4 << 20;
/// The most review-queue entries one answer holds.
inline constexpr int kMaxQueue = 1000;

struct StatusInfo {
    std::string collectorId;
    CollectorStats stats;
    std::vector<DayCount> perDay;
};

struct ReviewRequest {
    Uuid recordId;
    std::optional<ReviewState> set;  // empty: only read the review
    std::string comment;
};

struct ResolveRequest {
    std::int64_t conflictId = 0;
    ConflictResolution resolution;
};

struct Resolved {
    Uuid recordId;
    HlcTimestamp hlc;
};

/// Which request a body holds (after verification), for the server's routing checks.
enum class Request {
    Status,
    Devices,
    Review,
    Conflicts,
    Resolve,
    Duplicates,
    Decide,
    Forms,
    Record,
    Queue,
    Export,
    ExportJob,
    ExportFile,
    CaseConflicts,
    CaseResolve,
    Studies,
    StudyBalance,
    StudyVerify,
    Publish,
};

/// One record with every revision the collector holds (oldest first by HLC).
struct RecordDetail {
    std::vector<StoredRevision> revisions;
    int current = -1;  // index of the current view; -1 when there is none
    RecordReview review;
};

struct QueueRequest {
    ReviewState state = ReviewState::Received;
    int limit = 200;     // 1..kMaxQueue
    std::string formId;  // only this form's records; empty: every form
};

/// Starts an export of one form at the collector (ExportOptions without the folder and keys).
/// ExportFormat::Records makes the job write one records file (veld/sync/records_file.hpp)
/// instead of tables, for the console to export from with its own keys.
struct ExportRequest {
    std::string formId;
    ExportFormat format = ExportFormat::Csv;
    std::string language;
    ExportValues values = ExportValues::Codes;
    RecordQuery filter;  // formId is taken from above
};

struct ExportFileInfo {
    std::string name;  // a plain file name, no folder
    std::int64_t bytes = 0;
};

/// An export running or finished at the collector. Only the staff member who started it may
/// see it; its files are deleted when discarded, and an hour after it finished.
struct ExportJob {
    enum class State : std::uint8_t { Running = 0, Done = 1, Failed = 2, Discarded = 3 };
    std::string job;  // 32 hex digits
    State state = State::Running;
    std::int64_t done = 0;  // records written so far
    std::int64_t total = 0;
    std::vector<ExportFileInfo> files;  // when Done: tables first, the codebook last
    std::int64_t records = 0;
    std::int64_t unreadable = 0;      // as ExportResult
    std::int64_t sealedUnopened = 0;  // as ExportResult
    std::string error;                // when Failed
};

struct ExportJobRequest {
    std::string job;
    bool discard = false;
};

struct ExportFileRequest {
    std::string job;
    std::string name;
    std::int64_t offset = 0;
};

struct DecideRequest {
    std::string key;
    DuplicateDecision decision = DuplicateDecision::SamePerson;
    std::string comment;
};

/// Settles a case conflict; answered with the open case conflicts.
struct CaseResolveRequest {
    std::int64_t conflictId = 0;
    CaseChoice choice;
    std::string comment;
};

/// The answer to a publication: which form and version, and whether it is new (false: the
/// same bytes were published before).
struct Published {
    std::string formId;
    std::uint32_t version = 0;
    bool published = false;
};

/// A request without fields: Status, Devices, Conflicts, Duplicates, Forms or Studies.
std::vector<std::uint8_t> encodeRequest(Request plain);
std::vector<std::uint8_t> encodeDecideRequest(const DecideRequest& request);
Result<DecideRequest> decodeDecideRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeDuplicates(const std::vector<DuplicateGroup>& groups);
Result<std::vector<DuplicateGroup>> decodeDuplicates(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeReviewRequest(const ReviewRequest& request);
std::vector<std::uint8_t> encodeResolveRequest(const ResolveRequest& request);
/// Verifies a request body and says which request it is; Corrupt when it is not one.
Result<Request> requestKind(std::span<const std::uint8_t> body);
Result<ReviewRequest> decodeReviewRequest(std::span<const std::uint8_t> body);
Result<ResolveRequest> decodeResolveRequest(std::span<const std::uint8_t> body);

std::vector<std::uint8_t> encodeStatus(const StatusInfo& status);
std::vector<std::uint8_t> encodeDevices(const std::vector<DeviceInfo>& devices);
std::vector<std::uint8_t> encodeReview(const RecordReview& review);
std::vector<std::uint8_t> encodeConflicts(const std::vector<ConflictInfo>& conflicts);
std::vector<std::uint8_t> encodeResolved(const Resolved& resolved);
Result<StatusInfo> decodeStatus(std::span<const std::uint8_t> body);
Result<std::vector<DeviceInfo>> decodeDevices(std::span<const std::uint8_t> body);
Result<RecordReview> decodeReview(std::span<const std::uint8_t> body);
Result<std::vector<ConflictInfo>> decodeConflicts(std::span<const std::uint8_t> body);
Result<Resolved> decodeResolved(std::span<const std::uint8_t> body);

std::vector<std::uint8_t> encodeRecordRequest(const Uuid& recordId);
Result<Uuid> decodeRecordRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeRecord(const RecordDetail& record);
Result<RecordDetail> decodeRecord(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeForms(const std::vector<PublishedFormInfo>& forms);
Result<std::vector<PublishedFormInfo>> decodeForms(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeQueueRequest(const QueueRequest& request);
Result<QueueRequest> decodeQueueRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeQueue(const ReviewQueue& queue);
Result<ReviewQueue> decodeQueue(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeExportRequest(const ExportRequest& request);
Result<ExportRequest> decodeExportRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeExportJobRequest(const ExportJobRequest& request);
Result<ExportJobRequest> decodeExportJobRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeExportJob(const ExportJob& job);
Result<ExportJob> decodeExportJob(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeExportFileRequest(const ExportFileRequest& request);
Result<ExportFileRequest> decodeExportFileRequest(std::span<const std::uint8_t> body);

std::vector<std::uint8_t> encodeCaseConflictsRequest(bool includeResolved);
Result<bool> decodeCaseConflictsRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeCaseConflicts(const std::vector<CaseConflictInfo>& conflicts);
Result<std::vector<CaseConflictInfo>> decodeCaseConflicts(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeCaseResolveRequest(const CaseResolveRequest& request);
Result<CaseResolveRequest> decodeCaseResolveRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeStudies(const std::vector<StudySummary>& studies);
Result<std::vector<StudySummary>> decodeStudies(std::span<const std::uint8_t> body);
/// A request naming one study: `kind` is StudyBalance or StudyVerify.
std::vector<std::uint8_t> encodeStudyRequest(Request kind, const std::string& study);
Result<std::string> decodeStudyRequest(std::span<const std::uint8_t> body, Request kind);
std::vector<std::uint8_t> encodeStudyBalance(const StudyBalance& balance);
Result<StudyBalance> decodeStudyBalance(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodeStudyVerification(const StudyVerification& verification);
Result<StudyVerification> decodeStudyVerification(std::span<const std::uint8_t> body);

/// Publishing a compiled form (checked by the collector, not here).
std::vector<std::uint8_t> encodePublishRequest(const std::vector<std::uint8_t>& formBinary);
Result<std::vector<std::uint8_t>> decodePublishRequest(std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encodePublished(const Published& published);
Result<Published> decodePublished(std::span<const std::uint8_t> body);

}  // namespace veld::sync::admin
