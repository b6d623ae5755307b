#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <veld/sync/sync_lock.hpp>

namespace veld::sync {

Result<FileLock> FileLock::tryTake(const std::string& path, Open open,
                                   const std::string& whenHeld) {
    const int fd = open == Open::CreateIfMissing
                       ? ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)
                       : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        return makeError(e == ENOENT ? ErrorCode::NotFound : ErrorCode::Io,
                         "cannot open " + path + ": " + std::strerror(e));
    }
    for (;;) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return FileLock(fd);
        const int e = errno;
        if (e == EINTR) continue;
        ::close(fd);
        if (e == EWOULDBLOCK) return makeError(ErrorCode::InUse, whenHeld);
        return makeError(ErrorCode::Io, "cannot lock " + path + ": " + std::strerror(e));
    }
}

FileLock::FileLock(FileLock&& other) noexcept : m_fd(other.m_fd) {
    other.m_fd = -1;
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = other.m_fd;
        other.m_fd = -1;
    }
    return *this;
}

FileLock::~FileLock() {
    if (m_fd >= 0) ::close(m_fd);  // closing the last descriptor lets go of the flock
}

std::string syncLockPath(const std::string& storePath) {
    return storePath + ".sync-lock";
}

Result<FileLock> takeSyncLock(const std::string& storePath) {
    return FileLock::tryTake(syncLockPath(storePath), FileLock::Open::CreateIfMissing,
                             "another program is syncing this device");
}

}  // namespace veld::sync
