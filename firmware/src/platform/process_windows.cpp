// The running program and other programs on Windows: see veld/platform/process.hpp.
#include <windows.h>
// After windows.h:
#include <cstdlib>
#include <iostream>

#include <io.h>
#include <psapi.h>
#include <shellapi.h>

#include <veld/platform/process.hpp>

#include "windows_text.hpp"

namespace veld::platform {

std::vector<std::string> utf8Arguments(int argc, char** argv) {
    int count = 0;
    wchar_t** wide = ::CommandLineToArgvW(::GetCommandLineW(), &count);
    if (!wide) return std::vector<std::string>(argv, argv + argc);
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i)
        out.push_back(windows::utf8(wide[i]));
    ::LocalFree(wide);
    return out;
}

void useUtf8Console() {
    ::SetConsoleOutputCP(CP_UTF8);
    ::SetConsoleCP(CP_UTF8);
}

std::string executablePath() {
    std::wstring path(MAX_PATH, L'\0');
    for (;;) {
        const DWORD n = ::GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
        if (n == 0) return {};
        if (n < path.size()) return windows::utf8(std::wstring_view(path.data(), n));
        path.resize(path.size() * 2);
    }
}

long peakMemoryKiB() {
    PROCESS_MEMORY_COUNTERS counters{};
    counters.cb = sizeof counters;
    if (!::GetProcessMemoryInfo(::GetCurrentProcess(), &counters, sizeof counters)) return 0;
    return static_cast<long>(counters.PeakWorkingSetSize / 1024);
}

std::int64_t currentProcessId() {
    return static_cast<std::int64_t>(::GetCurrentProcessId());
}

bool processAlive(std::int64_t pid, const std::string& name) {
    if (pid <= 0 || pid > 0xffffffffLL) return false;
    HANDLE h = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(pid));
    if (!h) return ::GetLastError() == ERROR_ACCESS_DENIED;  // runs, as another user
    DWORD code = 0;
    bool alive = ::GetExitCodeProcess(h, &code) && code == STILL_ACTIVE;
    if (alive) {
        wchar_t image[MAX_PATH * 4];
        DWORD size = sizeof image / sizeof image[0];
        if (::QueryFullProcessImageNameW(h, 0, image, &size)) {
            std::string path = windows::utf8(std::wstring_view(image, size));
            const auto slash = path.find_last_of("\\/");
            std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
            if (base.size() > 4 && _stricmp(base.c_str() + base.size() - 4, ".exe") == 0)
                base.resize(base.size() - 4);
            alive = _stricmp(base.c_str(), name.c_str()) == 0;
        }
    }
    ::CloseHandle(h);
    return alive;
}

std::string environment(const std::string& name) {
    const wchar_t* value = ::_wgetenv(windows::wide(name).c_str());
    return value ? windows::utf8(value) : "";
}

void unsetEnvironment(const std::string& name) {
    ::_wputenv_s(windows::wide(name).c_str(), L"");
}

std::string userName() {
    return environment("USERNAME");
}

bool inputIsTerminal() {
    return ::_isatty(::_fileno(stdin)) != 0;
}

std::string readHiddenLine() {
    HANDLE in = ::GetStdHandle(STD_INPUT_HANDLE);
    DWORD old = 0;
    const bool console = ::GetConsoleMode(in, &old) != 0;
    if (!console) {
        std::string line;
        std::getline(std::cin, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    ::SetConsoleMode(in, old & ~static_cast<DWORD>(ENABLE_ECHO_INPUT));
    // Read as UTF-16 from the console, so any letter survives whatever the code page.
    std::wstring line;
    wchar_t c = 0;
    DWORD got = 0;
    while (::ReadConsoleW(in, &c, 1, &got, nullptr) && got == 1 && c != L'\n') {
        if (c != L'\r') line.push_back(c);
    }
    ::SetConsoleMode(in, old);
    return windows::utf8(line);
}

}  // namespace veld::platform
