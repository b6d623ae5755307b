// Child processes for the tests (POSIX: posix_spawn, pipes, signals): see test_support.hpp.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/test_support.hpp"

extern char** environ;

namespace veld::test {

namespace {

std::string readAll(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    return out;
}

pid_t spawn(const std::vector<std::string>& argv, int outFd, int errFd,
            const std::vector<std::string>& extraEnv = {}) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, outFd, 1);
    if (errFd >= 0) posix_spawn_file_actions_adddup2(&actions, errFd, 2);
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> env;
    for (char** e = environ; *e; ++e)
        env.push_back(*e);
    for (const auto& e : extraEnv)
        env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
    return pid;
}

ProcessResult decodeStatus(int status) {
    ProcessResult r;
    if (WIFEXITED(status)) r.exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

}  // namespace

bool onPath(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = dirs.substr(start, end - start);
        if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
        start = end + 1;
    }
    return false;
}

std::string binary(const std::string& name) {
    return std::string(VELD_BIN_DIR) + "/" + name;
}

ProcessResult runProcess(const std::vector<std::string>& argv) {
    int outPipe[2];
    int errPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    pid_t pid = spawn(argv, outPipe[1], errPipe[1]);
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    // Small outputs: read stderr after stdout; large ones would need poll().
    std::string out = readAll(outPipe[0]);
    std::string err = readAll(errPipe[0]);
    ::close(outPipe[0]);
    ::close(errPipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ProcessResult r = decodeStatus(status);
    r.out = std::move(out);
    r.err = std::move(err);
    return r;
}

void makeTestCertificate(const std::string& certPath, const std::string& keyPath) {
    const auto made = runProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
                                  "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                                  "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", keyPath,
                                  "-out", certPath});
    if (made.exitCode != 0) throw std::runtime_error("openssl req: " + made.err);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
    int outPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    m_pid = spawn(argv, outPipe[1], -1);
    ::close(outPipe[1]);
    m_outFd = outPipe[0];
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const ChildOptions& options) {
    int outPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    int errFd = -1;
    if (!options.errFile.empty()) {
        errFd = ::open(options.errFile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (errFd < 0) throw std::runtime_error("cannot open " + options.errFile);
    }
    m_pid = spawn(argv, outPipe[1], errFd, options.env);
    ::close(outPipe[1]);
    if (errFd >= 0) ::close(errFd);
    m_outFd = outPipe[0];
}

bool ChildProcess::exited() {
    if (m_waited) return true;
    int status = 0;
    pid_t r = -1;
    do {
        r = waitpid(m_pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r != m_pid) return false;
    m_out += readAll(m_outFd);
    m_waited = true;
    m_result = decodeStatus(status);
    m_result.out = m_out;
    return true;
}

ChildProcess::~ChildProcess() {
    if (!m_waited) {
        kill(SIGKILL);
        (void)wait();
    }
    if (m_outFd >= 0) ::close(m_outFd);
}

bool ChildProcess::waitForLine(const std::string& line, int timeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        if (m_out.find(line + "\n") != std::string::npos) return true;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) return false;
        pollfd p{m_outFd, POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        char buf[4096];
        ssize_t n = ::read(m_outFd, buf, sizeof buf);
        if (n <= 0) return m_out.find(line + "\n") != std::string::npos;
        m_out.append(buf, static_cast<std::size_t>(n));
    }
}

void ChildProcess::kill(int signal) {
    if (m_pid > 0 && !m_waited) ::kill(m_pid, signal);
}

ProcessResult ChildProcess::wait() {
    if (m_waited) return m_result;
    m_out += readAll(m_outFd);
    int status = 0;
    while (waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_waited = true;
    m_result = decodeStatus(status);
    m_result.out = m_out;
    return m_result;
}

}  // namespace veld::test
