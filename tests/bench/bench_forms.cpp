// Form engine benchmark: a generated form of N questions and about 2N expressions, shaped like
// real forms: questions come in pages of ten; the first question of each page is a gate that is
// relevant depending on the first question of the form, and the other nine are relevant
// depending on their page's gate; every question has a range constraint. Figures:
//   - loading: compiling the JSON and preparing it for sessions;
//   - a full re-evaluation (the baseline): an answer every item depends on changes, and every
//     item's visibility and every problem is worked out again;
//   - one answer change and the refresh of its page (visibility and validity of the ten
//     questions a screen shows), which with dependency tracking costs what the change affects.
//
//   veld-bench-forms [--questions N] [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <veld/form.hpp>
#include <veld/form_session.hpp>

namespace {

using Steady = std::chrono::steady_clock;

double micros(Steady::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::string name(int i) {
    return "q" + std::to_string(i);
}

int gateOf(int i) {
    return i - i % 10;
}

std::string generateForm(int questions) {
    std::string json = R"({"id": "bench_form", "version": 1, "default_language": "nl",
  "languages": [{"tag": "nl", "name": "Nederlands"}],
  "titles": [{"lang": "nl", "text": "Benchmark"}],
  "items": [)";
    for (int i = 0; i < questions; ++i) {
        if (i > 0) json += ",";
        json +=
            "\n    {\"name\": \"" + name(i) + "\", \"kind\": \"Question\", \"type\": \"Integer\", ";
        json += "\"labels\": [{\"lang\": \"nl\", \"text\": \"Vraag " + std::to_string(i) + "\"}], ";
        if (i > 0 && i % 10 == 0) json += "\"relevance\": \"${q0} != 999\", ";
        if (i % 10 != 0) json += "\"relevance\": \"${" + name(gateOf(i)) + "} < 100\", ";
        json += "\"constraint\": \". >= 0 and . <= 1000\", ";
        json += "\"constraint_messages\": [{\"lang\": \"nl\", \"text\": \"Tussen 0 en 1000\"}]}";
    }
    json += "\n  ]\n}\n";
    return json;
}

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "veld-bench-forms: %s\n", what.c_str());
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace veld;
    int questions = 1000;
    int changes = 2000;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--quick") {
            questions = 100;
            changes = 100;
        } else if (arg == "--questions" && i + 1 < argc) {
            questions = std::max(2, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: veld-bench-forms [--questions N] [--quick]\n");
            return 2;
        }
    }
    std::string json = generateForm(questions);
    std::string size = std::to_string(questions);

    // Loading, median of a few rounds.
    std::vector<double> loads;
    std::shared_ptr<const forms::CompiledForm> form;
    for (int round = 0; round < 5; ++round) {
        auto start = Steady::now();
        auto check = forms::compileFormJson(json, "bench_form.json");
        if (!check.ok())
            fail("the generated form does not compile: " + check.problems[0].describe());
        auto loaded = forms::CompiledForm::load(std::move(check.binary));
        if (!loaded) fail(loaded.error().describe());
        loads.push_back(micros(Steady::now() - start) / 1000.0);
        form = *loaded;
    }
    std::printf("bench form_load_%sq: %.1f ms (%d questions, %d expressions)\n", size.c_str(),
                median(loads), questions, 2 * questions - 1);

    auto session = forms::FormSession::start(form);
    for (int i = 0; i < questions; ++i) {
        if (!session.setAnswer({name(i), {}}, std::int64_t{i % 50})) fail("answering " + name(i));
    }

    // Full re-evaluation: the baseline. Every gate depends on q0, and every other question on
    // its gate, so changing q0 leaves nothing known.
    std::vector<double> full;
    for (int round = 0; round < 20; ++round) {
        auto start = Steady::now();
        if (!session.setAnswer({name(0), {}}, std::int64_t{round % 2})) fail("changing q0");
        std::size_t visible = 0;
        for (int i = 0; i < questions; ++i)
            visible += session.isVisible({name(i), {}}) ? 1u : 0u;
        auto problems = session.problems();
        full.push_back(micros(Steady::now() - start));
        if (visible != static_cast<std::size_t>(questions)) fail("not every question is visible");
        if (!problems.empty()) fail("unexpected problems in the benchmark form");
    }
    double fullMedian = median(full);
    std::printf("bench form_full_reevaluation_%sq: %.1f us (baseline)\n", size.c_str(), fullMedian);

    // One change, then the refresh of its page.
    std::vector<double> change;
    for (int k = 0; k < changes; ++k) {
        int q = 1 + (k * 7919) % (questions - 1);
        std::int64_t value = k % 2 == 0 ? 500 : 5;  // a gate at 500 hides its page
        int gate = gateOf(q);
        auto start = Steady::now();
        if (!session.setAnswer({name(q), {}}, value)) fail("changing " + name(q));
        int shown = 0;
        bool valid = true;
        for (int i = gate; i < std::min(gate + 10, questions); ++i) {
            if (!session.isVisible({name(i), {}})) continue;
            ++shown;
            valid = valid && !session.problem({name(i), {}}).has_value();
        }
        change.push_back(micros(Steady::now() - start));
        bool hidesPage = q == gate && value >= 100;
        if (!valid || (hidesPage && shown != 1) || (!hidesPage && shown < 2))
            fail("wrong refresh result");
        if (!session.setAnswer({name(q), {}}, std::int64_t{q % 50})) fail("restoring " + name(q));
    }
    double changeMedian = median(change);
    std::printf(
        "bench form_answer_change_%sq: %.2f us (ratio %.4f vs form_full_reevaluation_%sq)\n",
        size.c_str(), changeMedian, changeMedian / fullMedian, size.c_str());
    return 0;
}
