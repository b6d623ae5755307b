// Internal to the collector: exports started through the admin API.
//
// An export of a large form takes minutes, far longer than a request may: the export runs on a
// thread of its own, into a folder of its own under --export-dir (0700; its files 0600), and
// staff poll its state and then fetch its files a chunk at a time. A job is seen only by the
// staff member who started it (to anyone else it does not exist), and its files are deleted when
// it is discarded, an hour after it finished, and when the collector stops: the folder holds
// nothing across restarts. At most two run at once. With several collector processes on one
// database a job lives in the process that runs it; its id starts with that process's tag, and
// another process asked for it answers 409 naming the process.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <veld/result.hpp>
#include <veld/sync/admin_api.hpp>
#include <veld/sync/collector_store.hpp>

namespace veld::sync::detail {

struct ExportTask;

class ExportJobs {
  public:
    /// `exportDir` empty: exports are refused. With `hold`, a job waits before its first record
    /// until it is cancelled (a test hook: VELD_TEST_HOLD_EXPORTS).
    ExportJobs(std::shared_ptr<CollectorStore> store, std::string exportDir,
               std::function<std::int64_t()> now, bool hold);
    ~ExportJobs();
    ExportJobs(const ExportJobs&) = delete;
    ExportJobs& operator=(const ExportJobs&) = delete;

    /// Makes the folder (0700) when it is missing and removes the job folders an earlier run
    /// left; false with a message on stderr when it cannot.
    bool prepareFolder();

    /// Starts an export for staff member `who` (`actor` in the audit log); `tooMany` is set when
    /// refused because two are running.
    Result<std::vector<std::uint8_t>> start(const admin::ExportRequest& request,
                                            const std::string& who, const std::string& actor,
                                            bool& tooMany);
    /// A job's state; with `discard`, its files are deleted.
    Result<std::vector<std::uint8_t>> job(const admin::ExportJobRequest& request,
                                          const std::string& who);
    /// Up to admin::kMaxFileChunk bytes of a finished job's file.
    Result<std::vector<std::uint8_t>> file(const admin::ExportFileRequest& request,
                                           const std::string& who);

    /// This process's tag, the first 8 hex digits of every job id it gives.
    [[nodiscard]] const std::string& processTag() const { return m_process; }

    /// How many jobs are in each state (indexed by admin::ExportJob::State), for /metrics.
    std::array<std::int64_t, 4> countByState();

    /// Stops every export at its next record; no new one starts.
    void cancelAll();
    /// Waits for every export's thread and deletes every job's files.
    void finish();

  private:
    void sweepLocked();
    /// Why `job` is not found here: another process's tag (WrongState, 409, saying which
    /// process holds it), else NotFound.
    [[nodiscard]] Error notFound(const std::string& job) const;
    std::shared_ptr<ExportTask> findLocked(const std::string& job, const std::string& who);
    void run(ExportTask& task, ExportOptions options);

    std::shared_ptr<CollectorStore> m_store;
    std::string m_dir;
    std::function<std::int64_t()> m_now;
    bool m_hold = false;
    std::string m_process;  // this process's tag in job ids
    std::mutex m_mutex;
    std::map<std::string, std::shared_ptr<ExportTask>> m_exports;
    bool m_closed = false;  // the server is going away: no new export starts
};

}  // namespace veld::sync::detail
