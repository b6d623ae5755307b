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

namespace veld::sync::admin {

inline constexpr const char* kStatusPath = "/v1/admin/status";
inline constexpr const char* kDevicesPath = "/v1/admin/devices";
inline constexpr const char* kReviewPath = "/v1/admin/review";
inline constexpr const char* kConflictsPath = "/v1/admin/conflicts";
inline constexpr const char* kResolvePath = "/v1/admin/resolve";
inline constexpr const char* kDuplicatesPath = "/v1/admin/duplicates";
inline constexpr const char* kDecidePath = "/v1/admin/decide";
inline constexpr const char* kContentType = "application/vnd.veld.admin+flatbuffers";

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
enum class Request { Status, Devices, Review, Conflicts, Resolve, Duplicates, Decide };

struct DecideRequest {
    std::string key;
    DuplicateDecision decision = DuplicateDecision::SamePerson;
    std::string comment;
};

std::vector<std::uint8_t> encodeRequest(Request plain);  // Status, Devices, Conflicts, Duplicates
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

}  // namespace veld::sync::admin
