#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <veld/sync/sync_lock.hpp>

namespace veld::sync {

std::string syncLockPath(const std::string& storePath) {
    return storePath + ".sync-lock";
}

Result<SyncLock> SyncLock::tryTake(const std::string& storePath) {
    return tryTakeFile(syncLockPath(storePath));
}

Result<SyncLock> SyncLock::tryTakeFile(const std::string& path) {
    // The file holds nothing; 0600 like the store next to it.
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return makeError(ErrorCode::Io,
                         "cannot open the lock file " + path + ": " + std::strerror(errno));
    }
    for (;;) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return SyncLock(fd);
        const int e = errno;
        if (e == EINTR) continue;
        ::close(fd);
        if (e == EWOULDBLOCK) {
            return makeError(ErrorCode::InUse, "another program is syncing this device");
        }
        return makeError(ErrorCode::Io, "cannot take the lock " + path + ": " + std::strerror(e));
    }
}

SyncLock::SyncLock(SyncLock&& other) noexcept : m_fd(other.m_fd) {
    other.m_fd = -1;
}

SyncLock& SyncLock::operator=(SyncLock&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = other.m_fd;
        other.m_fd = -1;
    }
    return *this;
}

SyncLock::~SyncLock() {
    if (m_fd >= 0) ::close(m_fd);  // closing the last descriptor lets go of the flock
}

}  // namespace veld::sync
