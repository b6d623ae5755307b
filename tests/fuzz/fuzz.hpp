// Veld's fuzz targets: every input that crosses a trust boundary, as a plain function that takes
// bytes. libFuzzer drives one of them per veld-fuzz-<name> program (fuzz_main.cpp), and
// veld-fuzz-regressions replays the saved findings of all of them in the normal test suite.
//
// A target returns 0 (libFuzzer's convention) and reports a bug only by crashing: a sanitizer
// report, a failed check of a property that must hold (FUZZ_CHECK), a leak, or taking too long.
// Targets keep no state between inputs, except `request`, which serves every input against one
// collector prepared at its first call (see scene.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace veld::fuzz {

using TargetFunction = int (*)(const std::uint8_t* data, std::size_t size);

struct Target {
    std::string_view name;  // the suffix of veld-fuzz-<name>, and the folder of its seeds
    TargetFunction run;
    std::string_view covers;  // one line, for --list
};

int record(const std::uint8_t* data, std::size_t size);
int formJson(const std::uint8_t* data, std::size_t size);
int formBinary(const std::uint8_t* data, std::size_t size);
int expression(const std::uint8_t* data, std::size_t size);
int syncEnrol(const std::uint8_t* data, std::size_t size);
int syncPush(const std::uint8_t* data, std::size_t size);
int syncPull(const std::uint8_t* data, std::size_t size);
int admin(const std::uint8_t* data, std::size_t size);
int recordsFile(const std::uint8_t* data, std::size_t size);
int studyJson(const std::uint8_t* data, std::size_t size);
int keyRing(const std::uint8_t* data, std::size_t size);
int allocationSlot(const std::uint8_t* data, std::size_t size);
int request(const std::uint8_t* data, std::size_t size);
int workbook(const std::uint8_t* data, std::size_t size);

/// Small XLSForm workbooks written by libxlsxwriter (name, bytes): the workbook target's seeds.
std::vector<std::pair<std::string, std::string>> workbookSeeds();

/// Every target, in name order.
std::span<const Target> targets();

/// Stops the process with a message when a property the code promises does not hold; libFuzzer
/// saves the input like any other crash.
[[noreturn]] void propertyFailed(const char* what, const char* file, int line);

}  // namespace veld::fuzz

#define FUZZ_CHECK(condition)           \
    ((condition) ? static_cast<void>(0) \
                 : ::veld::fuzz::propertyFailed(#condition, __FILE__, __LINE__))
