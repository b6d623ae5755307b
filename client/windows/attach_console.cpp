// veld.exe and veld-console.exe are window programs: Windows opens no console window for them.
// Started from a console (cmd, PowerShell) their messages (--help, enrolment results, errors)
// go to that console; where the output was redirected to a file or pipe, it stays there.
#include <cstdio>

// clang-format off
#include <windows.h>
// clang-format on

namespace {

bool redirected(DWORD which) {
    const HANDLE handle = GetStdHandle(which);
    return handle != nullptr && handle != INVALID_HANDLE_VALUE;
}

// Runs before main(): the streams are in place before the first message.
const bool attached = [] {
    const bool out = redirected(STD_OUTPUT_HANDLE);
    const bool err = redirected(STD_ERROR_HANDLE);
    if ((out && err) || !AttachConsole(ATTACH_PARENT_PROCESS)) return false;
    if (!out) std::freopen("CONOUT$", "w", stdout);
    if (!err) std::freopen("CONOUT$", "w", stderr);
    return true;
}();

}  // namespace
