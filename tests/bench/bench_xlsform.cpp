// XLSForm import benchmark: a workbook of N questions and 2N expressions, written with
// libxlsxwriter (as Excel would save it: shared strings, numbers as numbers), shaped like
// bench_forms.cpp's form: pages of ten questions in groups, a gate question per page relevant on
// the first question, the others relevant on their page's gate, a range constraint with a
// message on every question, two languages, and a choice list for every tenth question.
// Figures:
//   - the baseline: compiling the imported form's JSON (forms::compileFormJson: FlatBuffers'
//     parser and Veld's checks, which the import runs too);
//   - the whole import: unzipping, reading the XML, mapping, writing the JSON and compiling it.
//
//   veld-bench-xlsform [--questions N] [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>
#include <xlsxwriter.h>

#include <veld/form.hpp>
#include <veld/xlsform.hpp>

namespace {

using Steady = std::chrono::steady_clock;

double millis(Steady::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "veld-bench-xlsform: %s\n", what.c_str());
    std::exit(1);
}

void writeWorkbook(const std::string& path, int questions) {
    lxw_workbook* wb = workbook_new(path.c_str());
    if (!wb) fail("cannot create " + path);
    lxw_worksheet* survey = workbook_add_worksheet(wb, "survey");
    lxw_worksheet* choices = workbook_add_worksheet(wb, "choices");
    lxw_worksheet* settings = workbook_add_worksheet(wb, "settings");
    const char* header[] = {"type",
                            "name",
                            "label::Nederlands (nl)",
                            "label::English (en)",
                            "relevant",
                            "constraint",
                            "constraint_message::Nederlands (nl)",
                            "constraint_message::English (en)",
                            "appearance"};
    for (lxw_col_t c = 0; c < 9; ++c)
        worksheet_write_string(survey, 0, c, header[c], nullptr);
    lxw_row_t row = 1;
    auto put = [&](lxw_col_t c, const std::string& text) {
        if (!text.empty()) worksheet_write_string(survey, row, c, text.c_str(), nullptr);
    };
    for (int i = 0; i < questions; ++i) {
        const std::string name = "q" + std::to_string(i);
        if (i % 10 == 0) {
            put(0, "begin_group");
            put(1, "page" + std::to_string(i / 10));
            put(2, "Pagina " + std::to_string(i / 10));
            put(3, "Page " + std::to_string(i / 10));
            put(8, "field-list");
            ++row;
        }
        const bool select = i % 10 == 5;
        put(0, select ? "select_one scale" : "integer");
        put(1, name);
        put(2, "Vraag " + std::to_string(i));
        put(3, "Question " + std::to_string(i));
        const std::string gate = "q" + std::to_string(i - i % 10);
        if (i > 0 && i % 10 == 0) put(4, "${q0} != 999");
        if (i % 10 != 0) put(4, "${" + gate + "} < 100");
        put(5, select ? ". != '3'" : ". >= 0 and . <= 1000");
        put(6, "Tussen 0 en 1000");
        put(7, "Between 0 and 1000");
        ++row;
        if (i % 10 == 9 || i + 1 == questions) {
            put(0, "end_group");
            ++row;
        }
    }
    worksheet_write_string(choices, 0, 0, "list_name", nullptr);
    worksheet_write_string(choices, 0, 1, "name", nullptr);
    worksheet_write_string(choices, 0, 2, "label::Nederlands (nl)", nullptr);
    worksheet_write_string(choices, 0, 3, "label::English (en)", nullptr);
    for (lxw_row_t r = 1; r <= 5; ++r) {
        worksheet_write_string(choices, r, 0, "scale", nullptr);
        worksheet_write_number(choices, r, 1, static_cast<double>(r), nullptr);
        worksheet_write_string(choices, r, 2, ("Stap " + std::to_string(r)).c_str(), nullptr);
        worksheet_write_string(choices, r, 3, ("Step " + std::to_string(r)).c_str(), nullptr);
    }
    const char* settingsHeader[] = {"form_id", "version", "form_title::Nederlands (nl)",
                                    "form_title::English (en)"};
    for (lxw_col_t c = 0; c < 4; ++c)
        worksheet_write_string(settings, 0, c, settingsHeader[c], nullptr);
    worksheet_write_string(settings, 1, 0, "bench_workbook", nullptr);
    worksheet_write_string(settings, 1, 1, "2024-03-15", nullptr);
    worksheet_write_string(settings, 1, 2, "Benchmark", nullptr);
    worksheet_write_string(settings, 1, 3, "Benchmark", nullptr);
    if (workbook_close(wb) != LXW_NO_ERROR) fail("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
    int questions = 1000;
    int rounds = 9;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--quick") {
            questions = 100;
            rounds = 3;
        } else if (arg == "--questions" && i + 1 < argc) {
            questions = std::max(10, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: veld-bench-xlsform [--questions N] [--quick]\n");
            return 2;
        }
    }
    const auto dir = std::filesystem::temp_directory_path() /
                     ("veld-bench-xlsform-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "bench_workbook.xlsx").string();
    writeWorkbook(path, questions);
    const std::string size = std::to_string(questions);

    std::vector<double> importMs, compileMs;
    std::string json;
    for (int r = 0; r < rounds; ++r) {
        auto start = Steady::now();
        auto imported = veld::xlsform::importWorkbook(path);
        importMs.push_back(millis(Steady::now() - start));
        if (!imported.check.ok()) {
            for (const auto& p : imported.check.problems)
                std::fprintf(stderr, "%s\n", p.describe().c_str());
            fail("the generated workbook does not import");
        }
        json = std::move(imported.json);
        start = Steady::now();
        auto compiled = veld::forms::compileFormJson(json, "bench_workbook.json");
        compileMs.push_back(millis(Steady::now() - start));
        if (!compiled.ok()) fail("the imported JSON does not compile");
    }
    std::filesystem::remove_all(dir);
    const double baseline = median(compileMs);
    const double import = median(importMs);
    std::printf("bench xlsform_compile_json_%sq: %.1f ms (baseline)\n", size.c_str(), baseline);
    std::printf(
        "bench xlsform_import_%sq: %.1f ms (ratio %.2f vs xlsform_compile_json_%sq; %d "
        "questions, %d expressions, %zu bytes of JSON)\n",
        size.c_str(), import, baseline > 0 ? import / baseline : 0.0, size.c_str(), questions,
        2 * questions, json.size());
    return 0;
}
