// The running program and other programs, the same on Linux and Windows.
//
// The implementation is chosen by CMake: process_posix.cpp or process_windows.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace veld::platform {

/// The program's command line as UTF-8: on Linux `argv` as it is, on Windows read again from
/// GetCommandLineW (the `argv` of main() is in the ANSI code page there and loses letters).
std::vector<std::string> utf8Arguments(int argc, char** argv);

/// Makes the console show UTF-8 output (SetConsoleOutputCP on Windows; nothing on Linux).
void useUtf8Console();

/// The full path of this program's executable, UTF-8; empty when it cannot be read.
std::string executablePath();

/// The most memory this program has held at once, in KiB (peak resident set; peak working set
/// on Windows).
long peakMemoryKiB();

/// This program's process id.
std::int64_t currentProcessId();

/// Whether process `pid` runs and is the program `name` (without ".exe"). When the program's
/// name cannot be read, a running process counts as `name`.
bool processAlive(std::int64_t pid, const std::string& name);

/// The value of environment variable `name` in UTF-8; empty when unset.
std::string environment(const std::string& name);

/// Removes environment variable `name` from this program's environment.
void unsetEnvironment(const std::string& name);

/// The name of the user running the program ($USER; %USERNAME% on Windows); empty when unknown.
std::string userName();

/// Whether standard input is a terminal (a console window on Windows).
bool inputIsTerminal();

/// Reads one line from the terminal without showing what is typed (for passphrases and PINs);
/// the line ending is not part of it.
std::string readHiddenLine();

}  // namespace veld::platform
