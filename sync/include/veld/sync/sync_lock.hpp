// Exclusive locks between programs: a lock on a file (flock(2) on Linux, LockFileEx on Windows,
// through platform::File::tryLock), taken without waiting, which the system lets go of when its
// holder ends, however it ends. Three locks are made of it:
//   - STORE.sync-lock: only one program syncs a device store at a time (the client's uploader,
//     veldctl sync and veld-agent all take it for a whole round);
//   - STORE.agent-lock: held by veld-agent for as long as it runs, so a second one steps aside;
//   - the collector store file itself: held by veld-collector while it serves it, and by a
//     restore while it replaces it (flock locks are independent of SQLite's POSIX locks).
#pragma once

#include <string>

#include <veld/platform/files.hpp>
#include <veld/result.hpp>

namespace veld::sync {

class FileLock {
  public:
    enum class Open { CreateIfMissing, MustExist };

    /// Takes the lock on `path` without waiting: InUse (with `whenHeld` as its message) when
    /// another holder (or another handle in this program) has it; NotFound when the file is
    /// missing and must exist; another error when it cannot be made, opened or locked. A lock
    /// file made here is 0600.
    static Result<FileLock> tryTake(const std::string& path, Open open,
                                    const std::string& whenHeld);

    FileLock() = default;  // holds nothing; a FileLock lets go when it goes

    [[nodiscard]] bool held() const { return m_file.isOpen(); }

  private:
    explicit FileLock(platform::File file) : m_file(std::move(file)) {}
    platform::File m_file;  // closing it lets go of the lock
};

/// The sync lock file of the store at `storePath`.
std::string syncLockPath(const std::string& storePath);

/// Takes the sync lock of the store at `storePath` without waiting (InUse: "another program is
/// syncing this device").
Result<FileLock> takeSyncLock(const std::string& storePath);

}  // namespace veld::sync
