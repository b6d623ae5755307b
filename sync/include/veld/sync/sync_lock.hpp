// Only one program syncs a device store at a time: the client's uploader, veldctl sync and
// veld-agent all take this lock for a whole round. It is an flock(2) on a file next to the store
// (STORE.sync-lock), so the kernel lets go of it when its holder ends, however it ends.
#pragma once

#include <string>

#include <veld/result.hpp>

namespace veld::sync {

/// The lock file of the store at `storePath`.
std::string syncLockPath(const std::string& storePath);

class SyncLock {
  public:
    /// Takes the lock of the store at `storePath` without waiting. InUse when another program
    /// (or another handle in this one) holds it; another error when the lock file cannot be made.
    static Result<SyncLock> tryTake(const std::string& storePath);
    /// The same on any lock file (made 0600 when missing), e.g. the one veld-agent holds for
    /// as long as it runs (STORE.agent-lock) so that a second agent on a store steps aside.
    static Result<SyncLock> tryTakeFile(const std::string& lockPath);

    SyncLock() = default;  // holds nothing
    SyncLock(SyncLock&& other) noexcept;
    SyncLock& operator=(SyncLock&& other) noexcept;
    SyncLock(const SyncLock&) = delete;
    SyncLock& operator=(const SyncLock&) = delete;
    ~SyncLock();  // lets go

    [[nodiscard]] bool held() const { return m_fd >= 0; }

  private:
    explicit SyncLock(int fd) : m_fd(fd) {}
    int m_fd = -1;
};

}  // namespace veld::sync
