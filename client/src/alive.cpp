#include "alive.hpp"

#include <cerrno>
#include <cstdlib>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace veld::client {

AliveReporter AliveReporter::fromEnvironment(bool kiosk) {
    const char* value = std::getenv("VELD_ALIVE_FD");
    if (!value) return AliveReporter(-1);
    char* end = nullptr;
    const long fd = std::strtol(value, &end, 10);
    const bool number = *value != '\0' && *end == '\0' && fd >= 3 && fd < 65536;
    ::unsetenv("VELD_ALIVE_FD");
    if (!number) return AliveReporter(-1);
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) {
        return AliveReporter(-1);
    }
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    if (!kiosk) {
        ::close(static_cast<int>(fd));
        return AliveReporter(-1);
    }
    return AliveReporter(static_cast<int>(fd));
}

AliveReporter::AliveReporter(AliveReporter&& other) noexcept
    : m_fd(other.m_fd), m_last(other.m_last) {
    other.m_fd = -1;
}

AliveReporter::~AliveReporter() {
    if (m_fd >= 0) ::close(m_fd);
}

void AliveReporter::tick() {
    if (m_fd < 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - m_last < std::chrono::seconds(1)) return;
    m_last = now;
    const char byte = 'a';
    if (::send(m_fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN &&
        errno != EWOULDBLOCK && errno != EINTR) {
        ::close(m_fd);
        m_fd = -1;
    }
}

}  // namespace veld::client
