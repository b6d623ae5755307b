// libFuzzer's entry point for one target; CMake compiles this file once per veld-fuzz-<name>
// program with VELD_FUZZ_FUNCTION naming the target's function (see fuzz.hpp).
#include "fuzz.hpp"

// The driver runs each fuzzer with -rss_limit_mb=384, for the whole process, whose own corpus,
// coverage tables and allocator hold 100-200 MiB of it. ASan keeps freed memory in a quarantine
// (to catch uses after free) of 256 MiB by default, which alone would reach that limit; 8 MiB
// still catches the use of anything freed by the same input, and keeps the process's growth over
// a long run small (form-json: 108 to 137 MiB in 90 s, against 168 to 255 MiB with 48 MiB). And
// ASan's allocator never gives freed pages back to the system unless told to: the form parser's
// many small allocations would then hold 200 MiB that nothing uses.
extern "C" const char* __asan_default_options() {
    return "quarantine_size_mb=8:allocator_release_to_os_interval_ms=500";
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
