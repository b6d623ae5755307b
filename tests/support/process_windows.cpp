// Child processes for the tests on Windows (CreateProcessW, pipes): runProcess and friends (see
// test_support.hpp). ChildProcess, which needs signals, is the POSIX build's only.
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <windows.h>

#include <veld/platform/files.hpp>

#include "support/test_support.hpp"

namespace veld::test {

namespace {

std::wstring wide(const std::string& text) {
    if (text.empty()) return {};
    const int n =
        MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
    std::wstring out(static_cast<std::size_t>(n), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), n);
    return out;
}

// One argument quoted as CommandLineToArgvW reads it back.
std::wstring quoted(const std::wstring& arg) {
    if (!arg.empty() && arg.find_first_of(L" \t\"") == std::wstring::npos) return arg;
    std::wstring out = L"\"";
    std::size_t backslashes = 0;
    for (wchar_t c : arg) {
        if (c == L'\\') {
            ++backslashes;
            continue;
        }
        if (c == L'"')
            out.append(backslashes * 2 + 1, L'\\');
        else
            out.append(backslashes, L'\\');
        backslashes = 0;
        out += c;
    }
    out.append(backslashes * 2, L'\\');
    return out + L"\"";
}

std::string drain(HANDLE pipe) {
    std::string out;
    char buffer[4096];
    DWORD got = 0;
    while (ReadFile(pipe, buffer, sizeof buffer, &got, nullptr) && got > 0)
        out.append(buffer, got);
    return out;
}

}  // namespace

bool onPath(const std::string& program) {
    wchar_t found[MAX_PATH];
    return SearchPathW(nullptr, wide(program).c_str(), L".exe", MAX_PATH, found, nullptr) > 0;
}

std::string binary(const std::string& name) {
    return std::string(VELD_BIN_DIR) + "/" + name + ".exe";
}

ProcessResult runProcess(const std::vector<std::string>& argv) {
    if (argv.empty()) throw std::runtime_error("runProcess: no program");
    std::wstring line;
    for (const auto& arg : argv) {
        if (!line.empty()) line += L' ';
        line += quoted(wide(arg));
    }
    SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    HANDLE outRead = nullptr, outWrite = nullptr, errRead = nullptr, errWrite = nullptr;
    if (!CreatePipe(&outRead, &outWrite, &inherit, 0) ||
        !CreatePipe(&errRead, &errWrite, &inherit, 0))
        throw std::runtime_error("runProcess: CreatePipe failed");
    SetHandleInformation(outRead, HANDLE_FLAG_INHERIT, 0);
    SetHandleInformation(errRead, HANDLE_FLAG_INHERIT, 0);
    STARTUPINFOW start{};
    start.cb = sizeof start;
    start.dwFlags = STARTF_USESTDHANDLES;
    start.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    start.hStdOutput = outWrite;
    start.hStdError = errWrite;
    PROCESS_INFORMATION process{};
    const BOOL made = CreateProcessW(nullptr, line.data(), nullptr, nullptr, TRUE, CREATE_NO_WINDOW,
                                     nullptr, nullptr, &start, &process);
    CloseHandle(outWrite);
    CloseHandle(errWrite);
    ProcessResult result;
    if (!made) {
        CloseHandle(outRead);
        CloseHandle(errRead);
        result.exitCode = 127;
        result.err = "cannot start " + argv[0];
        return result;
    }
    std::string err;
    std::thread errors([&] { err = drain(errRead); });
    result.out = drain(outRead);
    errors.join();
    WaitForSingleObject(process.hProcess, INFINITE);
    DWORD code = 0;
    GetExitCodeProcess(process.hProcess, &code);
    CloseHandle(process.hProcess);
    CloseHandle(process.hThread);
    CloseHandle(outRead);
    CloseHandle(errRead);
    result.exitCode = static_cast<int>(code);
    result.err = std::move(err);
    return result;
}

}  // namespace veld::test
