// Files and folders on Linux (POSIX): see veld/platform/files.hpp.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <veld/platform/files.hpp>

namespace veld::platform {

namespace {

Error fromErrno(int err, const std::string& what) {
    const ErrorCode code = (err == EACCES || err == EROFS || err == EPERM) ? ErrorCode::ReadOnly
                           : (err == ENOSPC || err == EDQUOT)              ? ErrorCode::StorageFull
                           : err == ENOENT                                 ? ErrorCode::NotFound
                                                                           : ErrorCode::Io;
    return Error{code, what + ": " + std::strerror(err)};
}

mode_t modeOf(Access access) {
    return access == Access::Private ? 0600 : 0644;
}

std::string octal(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

// Flushes the folder holding `path`, so a rename or a new name in it survives a power cut.
Status syncFolderOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    const std::string folder = slash == std::string::npos ? "."
                               : slash == 0               ? "/"
                                                          : path.substr(0, slash);
    const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fromErrno(errno, "cannot open the folder " + folder);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return fromErrno(err, "cannot flush the folder " + folder);
    return {};
}

}  // namespace

std::filesystem::path fsPath(std::string_view utf8) {
    return std::filesystem::path(utf8);
}

std::string utf8Path(const std::filesystem::path& path) {
    return path.string();
}

Result<File> File::create(const std::string& path, Create how, Access access) {
    int flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
    if (how == Create::Exclusive) flags |= O_EXCL;
    if (how == Create::Truncate) flags |= O_TRUNC;
    const int fd = ::open(path.c_str(), flags, modeOf(access));
    if (fd < 0) {
        if (errno == EEXIST && how == Create::Exclusive)
            return makeError(ErrorCode::WrongState, path + " exists already");
        return fromErrno(errno, "cannot create " + path);
    }
    File file(fd, path);
    // The mode asked for at creation is narrowed by the umask, and an emptied file keeps its
    // old mode: say it once more. A kept file is left as it is.
    if (how != Create::Keep && ::fchmod(fd, modeOf(access)) != 0)
        return fromErrno(errno, "cannot set the mode of " + path);
    return file;
}

Result<File> File::openRead(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fromErrno(errno, "cannot open " + path);
    File file(fd, path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fromErrno(errno, "cannot look at " + path);
    if (!S_ISREG(st.st_mode))
        return makeError(ErrorCode::InvalidArgument, path + " is not a regular file");
    return file;
}

Status File::write(std::span<const std::uint8_t> bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(static_cast<int>(m_handle), bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fromErrno(errno, "cannot write " + m_path);
        if (n == 0) return fromErrno(EIO, "cannot write " + m_path);
        bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
    return {};
}

Status File::write(std::string_view text) {
    return write(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

Result<std::size_t> File::read(void* out, std::size_t size) {
    for (;;) {
        const ssize_t n = ::read(static_cast<int>(m_handle), out, size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fromErrno(errno, "cannot read " + m_path);
        return static_cast<std::size_t>(n);
    }
}

Result<std::uint64_t> File::size() const {
    struct stat st {};
    if (::fstat(static_cast<int>(m_handle), &st) != 0)
        return fromErrno(errno, "cannot look at " + m_path);
    return static_cast<std::uint64_t>(st.st_size);
}

Status File::sync() {
    if (::fsync(static_cast<int>(m_handle)) != 0) return fromErrno(errno, "cannot write " + m_path);
    return {};
}

Result<bool> File::tryLock() {
    for (;;) {
        if (::flock(static_cast<int>(m_handle), LOCK_EX | LOCK_NB) == 0) return true;
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK) return false;
        return fromErrno(errno, "cannot lock " + m_path);
    }
}

Status File::close() {
    if (m_handle == kNone) return {};
    const int fd = static_cast<int>(m_handle);
    m_handle = kNone;
    if (::close(fd) != 0) return fromErrno(errno, "cannot write " + m_path);
    return {};
}

Status replaceFile(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) return fromErrno(errno, "cannot rename " + from);
    return syncFolderOf(to);
}

Status removeFile(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return fromErrno(errno, "cannot remove " + path);
    return {};
}

Status makePrivateFolder(const std::string& path) {
    if (path.empty()) return {};
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return {};
        return makeError(ErrorCode::InvalidArgument, path + " exists and is not a folder");
    }
    if (errno != ENOENT) return fromErrno(errno, "cannot look at " + path);
    const auto slash = path.find_last_of('/');
    if (slash != std::string::npos && slash > 0) {
        if (auto s = makePrivateFolder(path.substr(0, slash)); !s) return s;
    }
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        return fromErrno(errno, "cannot make the folder " + path);
    return {};
}

Result<std::optional<PrivacyProblem>> privacyProblem(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return fromErrno(errno, "cannot look at " + path);
    if ((st.st_mode & 077) == 0) return std::optional<PrivacyProblem>();
    const bool folder = S_ISDIR(st.st_mode);
    return std::optional<PrivacyProblem>(
        PrivacyProblem{"may be read by others (mode " + octal(st.st_mode) + ")",
                       std::string("chmod ") + (folder ? "700 " : "600 ") + path});
}

Result<std::string> makeUniquePrivateFolder(const std::string& parent, const std::string& prefix) {
    std::string name = parent + "/" + prefix + "XXXXXX";
    if (::mkdtemp(name.data()) == nullptr)
        return fromErrno(errno, "cannot make a folder in " + parent);
    return name;
}

std::string homeFolder() {
    const char* home = std::getenv("HOME");
    return home && *home ? home : ".";
}

Status giveToFolderOwner(const std::string& path) {
    if (::geteuid() != 0) return {};
    const auto slash = path.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "."
                               : slash == 0               ? "/"
                                                          : path.substr(0, slash);
    struct stat folder {};
    if (::stat(parent.c_str(), &folder) != 0 || folder.st_uid == 0) return {};
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    if (st.st_uid == folder.st_uid && st.st_gid == folder.st_gid) return {};
    if (::chown(path.c_str(), folder.st_uid, folder.st_gid) != 0)
        return fromErrno(errno, "cannot give " + path + " to the owner of its folder");
    return {};
}

std::string dataFolder() {
    const char* xdg = std::getenv("XDG_DATA_HOME");
    if (xdg && *xdg) return std::string(xdg) + "/veld";
    const char* home = std::getenv("HOME");
    return std::string(home && *home ? home : ".") + "/.local/share/veld";
}

std::string machineFolder() {
    return "/etc/veld";
}

bool trustedOwner(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    return st.st_uid == 0 || st.st_uid == ::geteuid();
}

std::string fontFolder() {
    return "/usr/share/fonts";
}

}  // namespace veld::platform
