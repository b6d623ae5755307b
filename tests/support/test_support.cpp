#include "support/test_support.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <veld/platform/files.hpp>

namespace veld::test {

TempDir::TempDir() {
    // A private folder in the system's temporary folder ($TMPDIR, or %TEMP% on Windows).
    auto made = platform::makeUniquePrivateFolder(
        platform::utf8Path(std::filesystem::temp_directory_path()), "veld-test-");
    if (!made) throw std::runtime_error("cannot make a temporary folder: " + made.error().message);
    m_path = made.value();
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

RecordContent sampleContent(int n, const std::string& formId) {
    RecordContent c;
    c.formId = formId;
    c.formVersion = 1 + static_cast<std::uint32_t>(n % 3);
    c.answers.push_back({"age", std::int64_t{20 + n % 50}});
    c.answers.push_back(
        {"name_child", std::string("Kind ") + std::to_string(n) + " ğüşçö ابت ሰላም"});
    c.answers.push_back({"income", DecimalAnswer{1234.5 + n, std::to_string(1234.5 + n)}});
    c.answers.push_back({"consent", n % 2 == 0});
    c.answers.push_back({"school", ChoiceAnswer{"school_" + std::to_string(n % 7), {}}});
    c.answers.push_back({"languages", ChoicesAnswer{{"nl", "tr", "other"}, "Tigrinya"}});
    c.answers.push_back({"visit_date", DateAnswer{20000 + n % 5000}});
    c.answers.push_back({"visit_time", TimeAnswer{(n % 86400) * 1000}});
    c.answers.push_back({"signed_at", DateTimeAnswer{1764000000000 + n, 60}});
    c.answers.push_back({"signature", SignatureAnswer{{{{1, 2}, {3, 4}}, {{5, 6}}}, 640, 200}});
    c.answers.push_back({"bsn_pseudonym", PseudonymAnswer{std::vector<std::uint8_t>(
                                                              32, static_cast<std::uint8_t>(n)),
                                                          "project-key-1", "bsn-hmac-sha256"}});
    Repeat children{"children", {}};
    for (int i = 0; i < n % 3; ++i) {
        RepeatInstance inst;
        inst.answers.push_back({"child_age", std::int64_t{4 + i}});
        inst.answers.push_back({"child_school", ChoiceAnswer{"vmbo", {}}});
        children.instances.push_back(std::move(inst));
    }
    c.repeats.push_back(std::move(children));
    c.paradata.language = "nl";
    c.paradata.appVersion = "test";
    c.paradata.startedUtcMs = 1764000000000 + n;
    c.paradata.timings.push_back({"age", static_cast<std::uint32_t>(1000 + n), 1});
    return c;
}

namespace {

void sortLevel(std::vector<Answer>& answers, std::vector<Repeat>& repeats) {
    std::sort(answers.begin(), answers.end(),
              [](const Answer& a, const Answer& b) { return a.name < b.name; });
    std::sort(repeats.begin(), repeats.end(),
              [](const Repeat& a, const Repeat& b) { return a.name < b.name; });
    for (auto& r : repeats) {
        for (auto& inst : r.instances)
            sortLevel(inst.answers, inst.repeats);
    }
}

}  // namespace

RecordContent normalized(RecordContent content) {
    sortLevel(content.answers, content.repeats);
    std::sort(content.paradata.timings.begin(), content.paradata.timings.end(),
              [](const QuestionTiming& a, const QuestionTiming& b) { return a.name < b.name; });
    return content;
}

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::uint8_t> readBytes(const std::string& path) {
    const std::string text = readFile(path);
    return {text.begin(), text.end()};
}

std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false;
    bool any = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
            any = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            any = true;
        } else if (c == '\n') {
            row.push_back(std::move(field));
            field.clear();
            rows.push_back(std::move(row));
            row.clear();
            any = false;
        } else if (c != '\r') {
            field += c;
            any = true;
        }
    }
    if (any) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<std::string> pilotFormFiles() {
    std::vector<std::string> files;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::string(VELD_SOURCE_DIR) + "/schemas/forms")) {
        if (entry.path().extension() == ".json") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace veld::test
