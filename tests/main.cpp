// The main of every doctest program here: doctest's own, with one rule added. A run that was to
// run test cases and ran none fails: a ctest entry whose filters leave nothing to run (a test
// renamed, a registration that filters everything out) must not count as a test that passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <atomic>
#include <cstdio>
#include <string_view>

#include <doctest/doctest.h>

namespace {

std::atomic<int> g_testCasesStarted{0};

// Counts the test cases that start; reports nothing.
struct StartCounter : doctest::IReporter {
    explicit StartCounter(const doctest::ContextOptions& /*options*/) {}
    void report_query(const doctest::QueryData& /*data*/) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats& /*stats*/) override {}
    void test_case_start(const doctest::TestCaseData& /*data*/) override { ++g_testCasesStarted; }
    void test_case_reenter(const doctest::TestCaseData& /*data*/) override {}
    void test_case_end(const doctest::CurrentTestCaseStats& /*stats*/) override {}
    void test_case_exception(const doctest::TestCaseException& /*e*/) override {}
    void subcase_start(const doctest::SubcaseSignature& /*signature*/) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData& /*data*/) override {}
    void log_message(const doctest::MessageData& /*data*/) override {}
    void test_case_skipped(const doctest::TestCaseData& /*data*/) override {}
};

REGISTER_LISTENER("veld-start-counter", 1, StartCounter);

}  // namespace

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    const int result = context.run();
    // --help, --version and the listing options run nothing on purpose; so does --no-run.
    if (context.shouldExit()) return result;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg(argv[i]);
        if (arg.starts_with("--no-run") || arg.starts_with("-nr")) return result;
    }
    if (g_testCasesStarted.load() == 0) {
        std::fprintf(stderr, "no test case matched this run's filters: nothing was tested\n");
        return result != 0 ? result : 1;
    }
    return result;
}
