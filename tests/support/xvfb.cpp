#include "support/xvfb.hpp"

#include <csignal>
#include <stdexcept>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/test_support.hpp"

namespace veld::test {

Xvfb::Xvfb(const std::string& logFile, const std::string& screen) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    m_pid = ::fork();
    if (m_pid == 0) {
        ::close(fds[0]);
        const int log = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log >= 0) {
            ::dup2(log, 1);
            ::dup2(log, 2);
        }
        const std::string fd = std::to_string(fds[1]);
        ::execlp("Xvfb", "Xvfb", "-displayfd", fd.c_str(), "-screen", "0", screen.c_str(),
                 "-nolisten", "tcp", "-noreset", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(fds[1]);
    std::string number;
    char c = 0;
    while (::read(fds[0], &c, 1) == 1 && c != '\n')
        number += c;
    ::close(fds[0]);
    if (number.empty()) {
        ::waitpid(m_pid, nullptr, 0);
        std::string log;
        try {
            log = readFile(logFile);
        } catch (const std::exception&) {
        }
        throw std::runtime_error("Xvfb did not start:\n" + log);
    }
    m_display = ":" + number;
}

Xvfb::~Xvfb() {
    ::kill(m_pid, SIGTERM);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
}

}  // namespace veld::test
