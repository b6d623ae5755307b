// The running program and other programs on Linux: see veld/platform/process.hpp.
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <signal.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include <veld/platform/process.hpp>

namespace veld::platform {

std::vector<std::string> utf8Arguments(int argc, char** argv) {
    return std::vector<std::string>(argv, argv + argc);
}

void useUtf8Console() {}

std::string executablePath() {
    std::error_code ec;
    const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : path.string();
}

long peakMemoryKiB() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

std::int64_t currentProcessId() {
    return static_cast<std::int64_t>(::getpid());
}

bool processAlive(std::int64_t pid, const std::string& name) {
    if (pid <= 0 || pid > 0x7fffffff) return false;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
    // A number the kernel handed to another program since (after a reboot, say) is not the
    // program: its name says so where /proc can be read.
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string running;
    if (!comm || !std::getline(comm, running)) return true;
    return running == name;
}

std::string environment(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    return value ? value : "";
}

void unsetEnvironment(const std::string& name) {
    ::unsetenv(name.c_str());
}

std::string userName() {
    return environment("USER");
}

bool inputIsTerminal() {
    return ::isatty(STDIN_FILENO) == 1;
}

std::string readHiddenLine() {
    termios old{};
    const bool terminal = ::tcgetattr(STDIN_FILENO, &old) == 0;
    if (terminal) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    std::getline(std::cin, line);
    if (terminal) ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    return line;
}

}  // namespace veld::platform
