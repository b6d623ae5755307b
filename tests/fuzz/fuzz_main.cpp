// libFuzzer's entry point for one target; CMake compiles this file once per veld-fuzz-<name>
// program with VELD_FUZZ_FUNCTION naming the target's function (see fuzz.hpp).
#include "fuzz.hpp"

// The driver runs each fuzzer with -rss_limit_mb=256. ASan keeps freed memory in a quarantine
// (to catch uses after free) of 256 MiB by default, which alone would reach that limit in a
// few minutes of churn; 48 MiB still catches the use of anything freed recently. And its
// allocator never gives freed pages back to the system unless told to: the form parser's
// many small allocations then hold 200 MiB that nothing uses.
extern "C" const char* __asan_default_options() {
    return "quarantine_size_mb=48:allocator_release_to_os_interval_ms=500";
}

// Runs the empty input once before fuzzing starts: a target that prepares state at its first
// call (the request target's collector) does so outside the time limit of each input.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    VELD_FUZZ_FUNCTION(nullptr, 0);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return VELD_FUZZ_FUNCTION(data, size);
}
