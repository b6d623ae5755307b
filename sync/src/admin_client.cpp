#include <cerrno>
#include <cstring>

#include <veld/platform/files.hpp>
#include <veld/sync/admin_client.hpp>

namespace veld::sync {

namespace {

Result<Reply> exchange(Transport& transport, const Connection& c, const char* path,
                       const std::vector<std::uint8_t>& body,
                       const std::atomic<bool>* cancel = nullptr) {
    Exchange e;
    e.path = path;
    e.contentType = admin::kContentType;
    e.message = &body;
    e.cancel = cancel;
    return transport.post(c, e);
}

}  // namespace

AdminClient::AdminClient(Connection connection, const TransportFactory& transport)
    : m_connection(std::move(connection)), m_http(makeTransport(transport)) {
    while (!m_connection.collector.empty() && m_connection.collector.back() == '/')
        m_connection.collector.pop_back();
}

AdminClient::~AdminClient() = default;

Result<std::vector<std::uint8_t>> AdminClient::call(const char* path,
                                                    const std::vector<std::uint8_t>& body) {
    auto reply = exchange(*m_http, m_connection, path, body);
    if (!reply) return reply.error();
    return std::move(reply->body);
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

Result<std::vector<PublishedFormInfo>> AdminClient::forms() {
    auto raw = call(admin::kFormsPath, admin::encodeRequest(admin::Request::Forms));
    if (!raw) return raw.error();
    return admin::decodeForms(raw.value());
}

Result<admin::Published> AdminClient::publish(const std::vector<std::uint8_t>& formBinary) {
    auto raw = call(admin::kPublishPath, admin::encodePublishRequest(formBinary));
    if (!raw) return raw.error();
    return admin::decodePublished(raw.value());
}

Result<admin::RecordDetail> AdminClient::record(const Uuid& recordId) {
    auto raw = call(admin::kRecordPath, admin::encodeRecordRequest(recordId));
    if (!raw) return raw.error();
    auto detail = admin::decodeRecord(raw.value());
    if (!detail) return detail.error();
    // The answer does not repeat the record's id in each revision.
    for (auto& r : detail->revisions)
        r.recordId = recordId;
    return detail;
}

Result<ReviewQueue> AdminClient::queue(const admin::QueueRequest& request) {
    auto raw = call(admin::kQueuePath, admin::encodeQueueRequest(request));
    if (!raw) return raw.error();
    return admin::decodeQueue(raw.value());
}

Result<std::vector<CaseConflictInfo>> AdminClient::caseConflicts(bool includeResolved) {
    auto raw = call(admin::kCaseConflictsPath, admin::encodeCaseConflictsRequest(includeResolved));
    if (!raw) return raw.error();
    return admin::decodeCaseConflicts(raw.value());
}

Result<std::vector<CaseConflictInfo>> AdminClient::resolveCaseConflict(
    const admin::CaseResolveRequest& request) {
    auto raw = call(admin::kCaseResolvePath, admin::encodeCaseResolveRequest(request));
    if (!raw) return raw.error();
    return admin::decodeCaseConflicts(raw.value());
}

Result<std::vector<StudySummary>> AdminClient::studies() {
    auto raw = call(admin::kStudiesPath, admin::encodeRequest(admin::Request::Studies));
    if (!raw) return raw.error();
    return admin::decodeStudies(raw.value());
}

Result<StudyBalance> AdminClient::studyBalance(const std::string& study) {
    auto raw = call(admin::kStudyBalancePath,
                    admin::encodeStudyRequest(admin::Request::StudyBalance, study));
    if (!raw) return raw.error();
    return admin::decodeStudyBalance(raw.value());
}

Result<StudyVerification> AdminClient::verifyStudy(const std::string& study) {
    auto raw = call(admin::kStudyVerifyPath,
                    admin::encodeStudyRequest(admin::Request::StudyVerify, study));
    if (!raw) return raw.error();
    return admin::decodeStudyVerification(raw.value());
}

Result<admin::ExportJob> AdminClient::startExport(const admin::ExportRequest& request) {
    auto raw = call(admin::kExportPath, admin::encodeExportRequest(request));
    if (!raw) return raw.error();
    return admin::decodeExportJob(raw.value());
}

Result<admin::ExportJob> AdminClient::exportJob(const std::string& job, bool discard) {
    auto raw = call(admin::kExportJobPath, admin::encodeExportJobRequest({job, discard}));
    if (!raw) return raw.error();
    return admin::decodeExportJob(raw.value());
}

Status AdminClient::download(const std::string& job, const admin::ExportFileInfo& file,
                             const std::string& path,
                             const std::function<void(std::int64_t, std::int64_t)>& progress,
                             const std::atomic<bool>* cancel) {
    // Exports hold participants' answers: readable by their owner only. The file is
    // `PATH.part` until complete, removed when the download fails.
    auto part = platform::AtomicFile::begin(path, platform::Access::Private);
    if (!part) return part.error();
    std::int64_t offset = 0;
    while (offset < file.bytes) {
        if (cancel && cancel->load()) return makeError(ErrorCode::Io, "stopped");
        auto reply = exchange(*m_http, m_connection, admin::kExportFilePath,
                              admin::encodeExportFileRequest({job, file.name, offset}), cancel);
        if (!reply) return reply.error();
        const auto* chunk = &reply->body;
        if (reply->contentType != admin::kFileContentType)
            return makeError(ErrorCode::Corrupt, "the collector did not answer with a file");
        const auto n = static_cast<std::int64_t>(chunk->size());
        if (n == 0 || n > admin::kMaxFileChunk || n > file.bytes - offset) {
            return makeError(ErrorCode::Corrupt, "the collector's copy of " + file.name +
                                                     " is not " + std::to_string(file.bytes) +
                                                     " bytes long");
        }
        if (auto s = part->write(*chunk); !s) return s;
        offset += n;
        if (progress) progress(offset, file.bytes);
    }
    return part->commit();
}

}  // namespace veld::sync
