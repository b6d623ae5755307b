// Exports started through the admin API: see export_jobs.hpp.
#include "export_jobs.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <sodium.h>
#include <sys/stat.h>

#include <veld/hex.hpp>
#include <veld/sync/export.hpp>

namespace veld::sync::detail {

struct ExportTask {
    std::string id;         // 32 hex digits, also its folder's name
    std::string owner;      // the staff member who started it
    std::string directory;  // exportDir/id
    std::atomic<std::int64_t> done{0};
    std::atomic<std::int64_t> total{0};
    std::atomic<bool> cancel{false};
    std::thread thread;
    // Under ExportJobs::m_mutex:
    admin::ExportJob::State state = admin::ExportJob::State::Running;
    bool finished = false;           // its thread has done its work (it may still be joined)
    std::int64_t finishedUtcMs = 0;  // when it finished, or was last asked about since
    std::vector<admin::ExportFileInfo> files;
    std::int64_t records = 0;
    std::int64_t unreadable = 0;
    std::int64_t sealedUnopened = 0;
    std::string error;
};

namespace {

constexpr int kMaxRunningExports = 2;
constexpr std::int64_t kExportKeepMs = 3600LL * 1000;

bool isJobFolderName(const std::string& name) {
    return name.size() == 32 && std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// A job id: the process's tag (8 hex digits) and 24 random hex digits. The tag tells a process
// asked for another's job that the job is elsewhere, rather than unknown.
std::string newJobId(const std::string& process) {
    std::array<std::uint8_t, 12> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    return process + toHex(bytes);
}

std::string newProcessTag() {
    std::array<std::uint8_t, 4> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    return toHex(bytes);
}

// What an export takes, for the audit log (the form is its subject).
std::string describeExport(const std::string& job, const admin::ExportRequest& r) {
    std::string out = "job " + job + ", " + std::string(exportFormatName(r.format));
    if (r.filter.formVersion) out += ", version " + std::to_string(*r.filter.formVersion);
    if (r.filter.fromUtcMs) out += ", from " + std::to_string(*r.filter.fromUtcMs);
    if (r.filter.untilUtcMs) out += ", until " + std::to_string(*r.filter.untilUtcMs);
    if (r.filter.review) out += ", review " + std::string(reviewStateName(*r.filter.review));
    if (r.values == ExportValues::Labels) out += ", labels";
    return out;
}

admin::ExportJob describeLocked(const ExportTask& task) {
    admin::ExportJob job;
    job.job = task.id;
    job.state = task.state;
    job.done = task.done.load();
    job.total = task.total.load();
    if (task.state == admin::ExportJob::State::Done) job.files = task.files;
    job.records = task.records;
    job.unreadable = task.unreadable;
    job.sealedUnopened = task.sealedUnopened;
    job.error = task.error;
    return job;
}

}  // namespace

ExportJobs::ExportJobs(std::shared_ptr<CollectorStore> store, std::string exportDir,
                       std::function<std::int64_t()> now, bool hold)
    : m_store(std::move(store)), m_dir(std::move(exportDir)), m_now(std::move(now)), m_hold(hold) {
    if (sodium_init() < 0) std::abort();
    m_process = newProcessTag();
}

Error ExportJobs::notFound(const std::string& job) const {
    const std::string tag = job.substr(0, m_process.size());
    if (job.size() == 32 && tag != m_process) {
        return makeError(ErrorCode::WrongState,
                         "this export runs in collector process " + tag + ", not in this one (" +
                             m_process +
                             "): with several collector processes the load balancer must keep a "
                             "staff member on one process (see docs/operations.md)");
    }
    return makeError(ErrorCode::NotFound, "no export job with that id");
}

ExportJobs::~ExportJobs() {
    finish();
}

// Makes --export-dir (0700) when it is missing, and removes the job folders an earlier run
// left behind. Only folders named like a job are removed: whatever else someone keeps
// there (a wrong --export-dir) is left alone.
bool ExportJobs::prepareFolder() {
    namespace fs = std::filesystem;
    const std::string& dir = m_dir;
    if (dir.empty()) return true;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        std::fprintf(stderr, "veld-collector: cannot make the export folder %s: %s\n", dir.c_str(),
                     std::strerror(errno));
        return false;
    }
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        std::fprintf(stderr, "veld-collector: the export folder %s is not a folder\n", dir.c_str());
        return false;
    }
    std::vector<fs::path> leftovers;
    try {
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (isJobFolderName(entry.path().filename().string()))
                leftovers.push_back(entry.path());
        }
    } catch (const fs::filesystem_error& e) {
        std::fprintf(stderr, "veld-collector: cannot read the export folder %s: %s\n", dir.c_str(),
                     e.code().message().c_str());
        return false;
    }
    for (const auto& path : leftovers) {
        fs::remove_all(path, ec);
        if (ec) {
            std::fprintf(stderr, "veld-collector: cannot remove the old export %s: %s\n",
                         path.c_str(), ec.message().c_str());
            return false;
        }
    }
    return true;
}

// Deletes the jobs that finished (or were last asked about) more than an hour ago, with
// their files.
void ExportJobs::sweepLocked() {
    const std::int64_t t = m_now();
    for (auto it = m_exports.begin(); it != m_exports.end();) {
        ExportTask& task = *it->second;
        if (!task.finished || t - task.finishedUtcMs < kExportKeepMs) {
            ++it;
            continue;
        }
        std::error_code ec;
        std::filesystem::remove_all(task.directory, ec);
        // Its thread has done its work: it only has to end.
        if (task.thread.joinable()) task.thread.join();
        it = m_exports.erase(it);
    }
}

std::array<std::int64_t, 4> ExportJobs::countByState() {
    std::array<std::int64_t, 4> counts{};
    std::lock_guard lock(m_mutex);
    for (const auto& [id, task] : m_exports)
        ++counts.at(static_cast<std::size_t>(task->state));
    return counts;
}

// The job, if it exists and `who` started it: to anyone else it does not exist.
std::shared_ptr<ExportTask> ExportJobs::findLocked(const std::string& job, const std::string& who) {
    auto it = m_exports.find(job);
    if (it == m_exports.end() || it->second->owner != who) return nullptr;
    return it->second;
}

Result<std::vector<std::uint8_t>> ExportJobs::start(const admin::ExportRequest& request,
                                                    const std::string& who,
                                                    const std::string& actor, bool& tooMany) {
    if (m_dir.empty()) {
        return makeError(ErrorCode::WrongState,
                         "exports are not enabled at this collector (see --export-dir)");
    }
    // An unknown form is refused now rather than as a failed job.
    auto forms = m_store->publishedForms();
    if (!forms) return forms.error();
    if (std::none_of(forms->begin(), forms->end(),
                     [&](const PublishedFormInfo& f) { return f.formId == request.formId; })) {
        return makeError(ErrorCode::NotFound,
                         "no form '" + request.formId + "' is published at this collector");
    }
    std::lock_guard lock(m_mutex);
    if (m_closed) return makeError(ErrorCode::InUse, "the collector is stopping");
    sweepLocked();
    const auto running = std::count_if(m_exports.begin(), m_exports.end(),
                                       [](const auto& e) { return !e.second->finished; });
    if (running >= kMaxRunningExports) {
        tooMany = true;
        return makeError(ErrorCode::InUse,
                         "two exports are running at this collector; try again when one has "
                         "finished");
    }
    auto task = std::make_shared<ExportTask>();
    task->id = newJobId(m_process);
    task->owner = who;
    task->directory = m_dir + "/" + task->id;
    if (::mkdir(task->directory.c_str(), 0700) != 0) {
        return makeError(ErrorCode::Io, "cannot make a folder for the export: " +
                                            std::string(std::strerror(errno)));
    }
    const auto removeFolder = [&] {
        std::error_code ec;
        std::filesystem::remove_all(task->directory, ec);
    };
    if (auto s = m_store->appendAudit(
            {m_now(), actor, "export", request.formId, describeExport(task->id, request)});
        !s) {
        removeFolder();
        return s.error();
    }
    ExportOptions options;
    options.formId = request.formId;
    options.filter = request.filter;
    options.format = request.format;
    options.language = request.language;
    options.values = request.values;
    options.directory = task->directory;
    try {
        // The map owns the task and joins the thread before letting it go.
        task->thread = std::thread(
            [this, raw = task.get(), options = std::move(options)] { run(*raw, options); });
    } catch (const std::system_error&) {
        removeFolder();
        return makeError(ErrorCode::InUse, "cannot start the export now; try again later");
    }
    m_exports.emplace(task->id, task);
    return admin::encodeExportJob(describeLocked(*task));
}

// The job's thread: the export, then its outcome recorded for staff to see.
void ExportJobs::run(ExportTask& task, ExportOptions options) {  // a copy: progress is set here
    options.progress = [&task](std::int64_t done, std::int64_t total) {
        task.done = done;
        task.total = total;
    };
    options.cancel = &task.cancel;
    while (m_hold && !task.cancel)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    Result<ExportResult> result = makeError(ErrorCode::Internal, "the export did not run");
    try {
        result = exportForm(*m_store, options);
    } catch (const std::exception& e) {
        result = makeError(ErrorCode::Internal, std::string("the export failed: ") + e.what());
    }
    std::vector<admin::ExportFileInfo> files;
    if (result) {
        for (const auto& f : result->files) {
            std::error_code ec;
            const auto bytes = std::filesystem::file_size(f, ec);
            if (ec) {
                result = makeError(ErrorCode::Io, "cannot read an exported file's size");
                break;
            }
            files.push_back(
                {std::filesystem::path(f).filename().string(), static_cast<std::int64_t>(bytes)});
        }
    }
    std::lock_guard lock(m_mutex);
    task.finished = true;
    task.finishedUtcMs = m_now();
    // Discarded while it ran, or failed: nothing in its folder is of use.
    if (task.state == admin::ExportJob::State::Discarded || !result) {
        std::error_code ec;
        std::filesystem::remove_all(task.directory, ec);
    }
    if (task.state == admin::ExportJob::State::Discarded) return;
    if (!result) {
        task.state = admin::ExportJob::State::Failed;
        task.error = result.error().message;
        return;
    }
    task.state = admin::ExportJob::State::Done;
    task.files = std::move(files);
    task.records = result->records;
    task.unreadable = result->unreadable;
    task.sealedUnopened = result->sealedUnopened;
}

// A job's state; with `discard`, its files are deleted. A job still running is cancelled
// and answered as discarded at once: its thread stops at its next record and deletes the
// folder itself (until then it still counts against the limit of running exports).
Result<std::vector<std::uint8_t>> ExportJobs::job(const admin::ExportJobRequest& request,
                                                  const std::string& who) {
    std::lock_guard lock(m_mutex);
    sweepLocked();
    auto task = findLocked(request.job, who);
    if (!task) return notFound(request.job);
    if (task->finished) task->finishedUtcMs = m_now();  // in use: kept another hour
    if (request.discard && task->state != admin::ExportJob::State::Discarded) {
        task->state = admin::ExportJob::State::Discarded;
        task->files.clear();
        if (task->finished) {
            std::error_code ec;
            std::filesystem::remove_all(task->directory, ec);
        } else {
            task->cancel = true;
        }
    }
    return admin::encodeExportJob(describeLocked(*task));
}

// Up to kMaxFileChunk bytes of a finished job's file, from `offset`.
Result<std::vector<std::uint8_t>> ExportJobs::file(const admin::ExportFileRequest& request,
                                                   const std::string& who) {
    std::string path;
    std::int64_t size = 0;
    {
        std::lock_guard lock(m_mutex);
        sweepLocked();
        auto task = findLocked(request.job, who);
        if (!task) return notFound(request.job);
        if (task->finished) task->finishedUtcMs = m_now();  // a long download keeps its files
        if (task->state != admin::ExportJob::State::Done) {
            return makeError(ErrorCode::WrongState,
                             task->state == admin::ExportJob::State::Running
                                 ? "the export is still running"
                                 : "the export has no files to fetch (it failed or was "
                                   "discarded)");
        }
        auto file = std::find_if(task->files.begin(), task->files.end(),
                                 [&](const auto& f) { return f.name == request.name; });
        if (file == task->files.end())
            return makeError(ErrorCode::NotFound, "the export has no file by that name");
        path = task->directory + "/" + file->name;
        size = file->bytes;
    }
    if (request.offset > size)
        return makeError(ErrorCode::InvalidArgument, "the offset is beyond the file's end");
    // Read without holding the lock: a discard meanwhile unlinks the file, and an open
    // stream keeps reading what it had.
    std::ifstream in(path, std::ios::binary);
    if (!in) return makeError(ErrorCode::NotFound, "the export's file is gone");
    const auto length = std::min(admin::kMaxFileChunk, size - request.offset);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(length));
    in.seekg(request.offset);
    in.read(reinterpret_cast<char*>(bytes.data()), length);
    if (in.gcount() != length) return makeError(ErrorCode::Io, "cannot read the export's file");
    return bytes;
}

// Stops every export at its next record (the server is stopping).
void ExportJobs::cancelAll() {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    for (auto& [id, task] : m_exports)
        task->cancel = true;
}

// Waits for every export's thread and deletes every job's files.
void ExportJobs::finish() {
    std::map<std::string, std::shared_ptr<ExportTask>> tasks;
    {
        std::lock_guard lock(m_mutex);
        m_closed = true;
        for (auto& [id, task] : m_exports)
            task->cancel = true;
        tasks.swap(m_exports);
    }
    for (auto& [id, task] : tasks) {
        if (task->thread.joinable()) task->thread.join();
        std::error_code ec;
        std::filesystem::remove_all(task->directory, ec);
    }
}

}  // namespace veld::sync::detail
