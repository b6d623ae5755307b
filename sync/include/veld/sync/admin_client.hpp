// The console's side of the admin API: one staff member's calls to a collector, over verified
// TLS (plain HTTP only to this machine, as for devices). One connection is kept between calls.
// Use from one thread at a time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include <veld/sync/admin_api.hpp>
#include <veld/sync/uploader.hpp>

namespace veld::sync {

class AdminClient {
  public:
    /// `connection.credential` is the staff member's "veld-admin.NAME.SECRET".
    /// `transport`: how requests travel (empty: httpTransport).
    explicit AdminClient(Connection connection, const TransportFactory& transport = {});
    ~AdminClient();
    AdminClient(const AdminClient&) = delete;
    AdminClient& operator=(const AdminClient&) = delete;

    Result<admin::StatusInfo> status();
    Result<std::vector<DeviceInfo>> devices();
    /// Reads a record's review, or sets it first when `request.set` holds a state.
    Result<RecordReview> review(const admin::ReviewRequest& request);
    Result<std::vector<ConflictInfo>> conflicts();
    Result<admin::Resolved> resolve(const admin::ResolveRequest& request);
    Result<std::vector<DuplicateGroup>> duplicates();
    Result<std::vector<DuplicateGroup>> decide(const admin::DecideRequest& request);
    /// Every published version of every form.
    Result<std::vector<PublishedFormInfo>> forms();
    /// Publishes a compiled form to every device. The collector checks it: an invalid form is
    /// refused (InvalidArgument, with the first error), and so are other bytes under a published
    /// id and version (WrongState). The same bytes again answer `published` false.
    Result<admin::Published> publish(const std::vector<std::uint8_t>& formBinary);
    Result<admin::RecordDetail> record(const Uuid& recordId);
    Result<ReviewQueue> queue(const admin::QueueRequest& request);
    /// Case conflicts, oldest first: the open ones, or all.
    Result<std::vector<CaseConflictInfo>> caseConflicts(bool includeResolved = false);
    /// Settles a case conflict; answers with the open case conflicts left.
    Result<std::vector<CaseConflictInfo>> resolveCaseConflict(
        const admin::CaseResolveRequest& request);
    /// The randomised studies (never their seeds).
    Result<std::vector<StudySummary>> studies();
    Result<StudyBalance> studyBalance(const std::string& study);
    Result<StudyVerification> verifyStudy(const std::string& study);
    /// Starts an export at the collector; poll exportJob() until it is Done or Failed.
    Result<admin::ExportJob> startExport(const admin::ExportRequest& request);
    Result<admin::ExportJob> exportJob(const std::string& job, bool discard = false);
    /// Fetches one file of a finished job into `path`: written as `path`.part in chunks, renamed
    /// when complete. `progress(bytesDone, bytesTotal)` after each chunk. Setting `cancel`
    /// stops it between chunks and cuts off the chunk in transit (Io "stopped").
    Status download(const std::string& job, const admin::ExportFileInfo& file,
                    const std::string& path,
                    const std::function<void(std::int64_t, std::int64_t)>& progress = {},
                    const std::atomic<bool>* cancel = nullptr);

  private:
    Result<std::vector<std::uint8_t>> call(const char* path, const std::vector<std::uint8_t>& body);

    Connection m_connection;
    std::unique_ptr<Transport> m_http;
};

}  // namespace veld::sync
