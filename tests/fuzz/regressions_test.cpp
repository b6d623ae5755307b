// veld-fuzz-regressions: every input the fuzzers found a bug with, saved under
// tests/fuzz/regressions/<target>/, fed again through the same target function in the normal
// test suite. A finding that comes back fails its test case with the sanitizer's report (or the
// property that failed) and the file's name on stderr.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <unistd.h>

#include <veld/xlsform.hpp>

#include "fuzz.hpp"
#include "support/test_support.hpp"

// libFuzzer runs the targets with -malloc_limit_mb=256 (one allocation) and -rss_limit_mb=384
// (the whole fuzzer process); the replay refuses the same allocations, and stops (rather than
// taking the machine's memory) at 512 MiB in all, for the test process's own needs.
extern "C" const char* __asan_default_options() {
    return "max_allocation_size_mb=256:allocator_may_return_null=0:hard_rss_limit_mb=512";
}

namespace fs = std::filesystem;

namespace {

constexpr unsigned kSecondsPerInput = 60;
const fs::path kRegressions = fs::path(VELD_SOURCE_DIR) / "tests/fuzz/regressions";

const veld::fuzz::Target& target(std::string_view name) {
    for (const auto& t : veld::fuzz::targets()) {
        if (t.name == name) return t;
    }
    FAIL("no fuzz target named " << name);
    throw std::logic_error("unreachable");
}

// Feeds every saved input of `name` to its target; the number of inputs.
int replay(std::string_view name) {
    const auto& t = target(name);
    std::vector<fs::path> files;
    const fs::path folder = kRegressions / std::string(name);
    if (fs::is_directory(folder)) {
        for (const auto& e : fs::directory_iterator(folder)) {
            if (e.is_regular_file()) files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    // The empty input, and then each finding.
    t.run(nullptr, 0);
    for (const auto& file : files) {
        const std::string bytes = veld::test::readFile(file.string());
        std::fprintf(stderr, "replaying %s\n", file.string().c_str());
        INFO("input " << file.string());
        // libFuzzer allows a second per input; a finding that hangs again ends the test (SIGALRM)
        // after a minute, which leaves room for a loaded machine.
        ::alarm(kSecondsPerInput);
        t.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        ::alarm(0);
    }
    return static_cast<int>(files.size());
}

}  // namespace

TEST_CASE("Every folder of saved fuzz findings is named after a fuzz target") {
    for (const auto& e : fs::directory_iterator(kRegressions)) {
        const std::string name = e.path().filename().string();
        if (name == "README.md") continue;
        INFO(name);
        CHECK(e.is_directory());
        CHECK(std::any_of(veld::fuzz::targets().begin(), veld::fuzz::targets().end(),
                          [&](const auto& t) { return t.name == name; }));
    }
}

TEST_CASE("Saved admin fuzz findings replay without a crash") {
    replay("admin");
}
TEST_CASE("Saved allocation-slot fuzz findings replay without a crash") {
    replay("allocation-slot");
}
TEST_CASE("Saved expression fuzz findings replay without a crash") {
    replay("expression");
}
TEST_CASE("Saved form-binary fuzz findings replay without a crash") {
    replay("form-binary");
}
TEST_CASE("Saved form-json fuzz findings replay without a crash") {
    replay("form-json");
}
TEST_CASE("Saved key-ring fuzz findings replay without a crash") {
    replay("key-ring");
}
TEST_CASE("Saved record fuzz findings replay without a crash") {
    replay("record");
}
TEST_CASE("Saved records-file fuzz findings replay without a crash") {
    replay("records-file");
}
TEST_CASE("Saved request fuzz findings replay without a crash") {
    replay("request");
}
TEST_CASE("Saved study-json fuzz findings replay without a crash") {
    replay("study-json");
}
TEST_CASE("Saved sync-enrol fuzz findings replay without a crash") {
    replay("sync-enrol");
}
TEST_CASE("Saved sync-pull fuzz findings replay without a crash") {
    replay("sync-pull");
}
TEST_CASE("Saved sync-push fuzz findings replay without a crash") {
    replay("sync-push");
}
TEST_CASE("Saved workbook fuzz findings replay without a crash") {
    replay("workbook");
}

TEST_CASE("The workbook fuzz target's seeds import (the good one) and run through the target") {
    const auto seeds = veld::fuzz::workbookSeeds();
    REQUIRE(seeds.size() == 2);
    veld::test::TempDir dir;
    for (const auto& seed : seeds) {
        const std::string& name = seed.first;
        const std::string& bytes = seed.second;
        CAPTURE(name);
        REQUIRE(bytes.size() > 1000);
        std::ofstream(dir.file(name), std::ios::binary) << bytes;
        CHECK(veld::xlsform::loadAnyFormFile(dir.file(name)).ok() == (name == "visit.xlsx"));
        target("workbook").run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
}
