#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <veld/private_files.hpp>

namespace veld::files {

namespace {

Error fromErrno(int err, const std::string& what) {
    const ErrorCode code = (err == EACCES || err == EROFS || err == EPERM) ? ErrorCode::ReadOnly
                           : err == ENOSPC                                 ? ErrorCode::StorageFull
                           : err == ENOENT                                 ? ErrorCode::NotFound
                                                                           : ErrorCode::Io;
    return Error{code, what + ": " + std::strerror(err)};
}

std::string octal(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

}  // namespace

Status createPrivateFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ::close(fd);
        return {};
    }
    if (errno == EEXIST) return {};
    return fromErrno(errno, "cannot create " + path);
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

Status checkPrivate(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return fromErrno(errno, "cannot look at " + path);
    if ((st.st_mode & 077) == 0) return {};
    const bool folder = S_ISDIR(st.st_mode);
    return makeError(ErrorCode::WrongState,
                     path + " may be read by others (mode " + octal(st.st_mode) +
                         "); it holds personal data: chmod " + (folder ? "700 " : "600 ") + path);
}

}  // namespace veld::files
