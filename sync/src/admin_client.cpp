#include <veld/sync/admin_client.hpp>

#include "http_client.hpp"

namespace veld::sync {

AdminClient::AdminClient(Connection connection)
    : m_connection(std::move(connection)), m_http(std::make_unique<detail::Http>()) {
    while (!m_connection.collector.empty() && m_connection.collector.back() == '/')
        m_connection.collector.pop_back();
}

AdminClient::~AdminClient() = default;

Result<std::vector<std::uint8_t>> AdminClient::call(const char* path,
                                                    const std::vector<std::uint8_t>& body) {
    return detail::post(*m_http, m_connection, path, admin::kContentType, body, 0, true);
}

Result<admin::StatusInfo> AdminClient::status() {
    auto raw = call(admin::kStatusPath, admin::encodeRequest(admin::Request::Status));
    if (!raw) return raw.error();
    return admin::decodeStatus(raw.value());
}

Result<std::vector<DeviceInfo>> AdminClient::devices() {
    auto raw = call(admin::kDevicesPath, admin::encodeRequest(admin::Request::Devices));
    if (!raw) return raw.error();
    return admin::decodeDevices(raw.value());
}

Result<RecordReview> AdminClient::review(const admin::ReviewRequest& request) {
    auto raw = call(admin::kReviewPath, admin::encodeReviewRequest(request));
    if (!raw) return raw.error();
    return admin::decodeReview(raw.value());
}

Result<std::vector<ConflictInfo>> AdminClient::conflicts() {
    auto raw = call(admin::kConflictsPath, admin::encodeRequest(admin::Request::Conflicts));
    if (!raw) return raw.error();
    return admin::decodeConflicts(raw.value());
}

Result<admin::Resolved> AdminClient::resolve(const admin::ResolveRequest& request) {
    auto raw = call(admin::kResolvePath, admin::encodeResolveRequest(request));
    if (!raw) return raw.error();
    return admin::decodeResolved(raw.value());
}

Result<std::vector<DuplicateGroup>> AdminClient::duplicates() {
    auto raw = call(admin::kDuplicatesPath, admin::encodeRequest(admin::Request::Duplicates));
    if (!raw) return raw.error();
    return admin::decodeDuplicates(raw.value());
}

Result<std::vector<DuplicateGroup>> AdminClient::decide(const admin::DecideRequest& request) {
    auto raw = call(admin::kDecidePath, admin::encodeDecideRequest(request));
    if (!raw) return raw.error();
    return admin::decodeDuplicates(raw.value());
}

}  // namespace veld::sync
