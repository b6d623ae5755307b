#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>

#include "support/test_support.hpp"

using namespace veld;
using namespace veld::forms;

namespace {

std::string validForm() {
    return test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json");
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    REQUIRE_MESSAGE(pos != std::string::npos, "the sample form has no '" << from << "'");
    text.replace(pos, from.size(), to);
    return text;
}

}  // namespace

TEST_CASE("a valid form compiles to a verified binary with nothing to report") {
    auto check = compileFormJson(validForm(), "valid_minimal.json");
    for (const auto& p : check.problems)
        MESSAGE(p.describe());
    REQUIRE(check.ok());
    CHECK(check.problems.empty());
    const auto* form = fb::GetForm(check.binary.data());
    CHECK(form->id()->str() == "valid_minimal");
    CHECK(form->items()->size() == 5);
    // Compiled forms load and check the same way.
    auto again = checkFormBinary(check.binary, "valid_minimal.vfrm");
    CHECK(again.empty());
    auto tree = describeForm(check.binary, "en");
    CHECK(tree.find("repeat jobs (0..5)  \"Jobs\"") != std::string::npos);
    CHECK(tree.find("relevant if: ${works} = 'yes'") != std::string::npos);
    CHECK(tree.find("calculation: ${age} + 1") != std::string::npos);
}

TEST_CASE("every kind of authoring mistake gives an error that names the item and the line") {
    struct Case {
        const char* mistake;
        const char* from;
        const char* to;
        const char* fragment;
        const char* item;  // "" when the problem is about the form as a whole
    };
    const Case cases[] = {
        {"JSON syntax", "\"pilot\": \"tests\",", "\"pilot\" \"tests\",", "expecting", ""},
        {"a misspelt field", "\"required\": true", "\"requird\": true", "unknown field: requird",
         ""},
        {"an unknown question type", "\"type\": \"Integer\", \"min_value\": 0",
         "\"type\": \"Number\", \"min_value\": 0", "Number", ""},
        {"a duplicate name", "\"name\": \"hours\"", "\"name\": \"age\"", "used by two items",
         "age"},
        {"an invalid name", "\"name\": \"hours\"", "\"name\": \"1st_hours\"",
         "not a valid item name", "1st_hours"},
        {"a reference to an unknown question", "\"relevance\": \"${age} >= 16\"",
         "\"relevance\": \"${agee} >= 16\"", "refers to ${agee}, which is not in the form",
         "works"},
        {"an expression that does not parse", "\"relevance\": \"${age} >= 16\"",
         "\"relevance\": \"${age} >=\"", "relevance: column", "works"},
        {"a calculation cycle", "\"calculation\": \"${age} + 1\"",
         "\"calculation\": \"${age_next_year} + 1\"", "cycle", "age_next_year"},
        {"a choice list that does not exist", "\"choice_list\": \"yes_no\"",
         "\"choice_list\": \"yes_or_no\"", "choice list 'yes_or_no' does not exist", "works"},
        {"a select without choices", "\"type\": \"SelectOne\", \"choice_list\": \"yes_no\",",
         "\"type\": \"SelectOne\",", "needs a choice_list", "works"},
        {"a label missing in the default language",
         "\"labels\": [{\"lang\": \"nl\", \"text\": \"Uren\"}, ", "\"labels\": [",
         "no label in the default language 'nl'", "hours"},
        {"a constraint without a message",
         "\"constraint_messages\": [{\"lang\": \"nl\", \"text\": \"Niet in de toekomst\"}, ",
         "\"constraint_messages\": [", "constraint has no message", "visit_date"},
        {"'.' outside a constraint", "\"relevance\": \"${age} >= 16\"",
         "\"relevance\": \". >= 16\"", "only a constraint may use", "works"},
        {"a repeat whose maximum is below its minimum", "\"min_count\": 0, \"max_count\": 5",
         "\"min_count\": 6, \"max_count\": 5", "max_count is smaller than min_count", "jobs"},
        {"a range upside down", "\"min_value\": 0, \"max_value\": 120",
         "\"min_value\": 130, \"max_value\": 120", "min_value is larger than max_value", "age"},
        {"a pattern that is not a regular expression", "\"min_value\": 0, \"max_value\": 80,",
         "\"min_value\": 0, \"max_value\": 80, \"pattern\": \"(\",", "pattern", "hours"},
        {"a default that is not a choice", "\"choice_list\": \"yes_no\",",
         "\"choice_list\": \"yes_no\", \"default_value\": \"maybe\",",
         "default 'maybe' is not a choice", "works"},
        {"a summary question that does not exist", "\"summary_question\": \"visit_date\"",
         "\"summary_question\": \"visit_day\"", "summary_question 'visit_day' is not a question",
         ""},
        {"a language tag that is not one (it goes into every record's paradata)",
         "{\"tag\": \"en\", \"name\": \"English\"}", "{\"tag\": \"en_GB!\", \"name\": \"English\"}",
         "'en_GB!' is not a language tag", ""},
        {"a default language that is not offered", "\"default_language\": \"nl\"",
         "\"default_language\": \"fr\"", "default language 'fr' is not among the languages", ""},
        {"repeat counts on a group", "\"kind\": \"Repeat\", \"min_count\": 0, \"max_count\": 5,",
         "\"kind\": \"Group\", \"min_count\": 1, \"max_count\": 5,",
         "min_count and max_count belong to repeats", "jobs"},
        {"a group without items", "\"items\": [",
         "\"items\": [\n    {\"name\": \"empty_group\", \"kind\": \"Group\", \"labels\": "
         "[{\"lang\": \"nl\", \"text\": \"Leeg\"}]},",
         "the group has no items", "empty_group"},
        {"a required note", "\"name\": \"age\", \"kind\": \"Question\", \"type\": \"Integer\",",
         "\"name\": \"age\", \"kind\": \"Question\", \"type\": \"Note\", \"required\": true,",
         "a note cannot be required", "age"},
        {"a relevance that depends on itself", "\"relevance\": \"${age} >= 16\"",
         "\"relevance\": \"${works} = 'yes'\"", "depends on the question's own answer", "works"},
        {"a reference to a repeat instead of a question", "\"relevance\": \"${age} >= 16\"",
         "\"relevance\": \"${jobs} = 1\"",
         "which is a repeat; count its instances with count(${jobs})", "works"},
        {"two labels in one language", "{\"lang\": \"en\", \"text\": \"Age\"}",
         "{\"lang\": \"en\", \"text\": \"Age\"}, {\"lang\": \"en\", \"text\": \"Years\"}",
         "two texts for language 'en'", "age"},
        {"a pseudonym without a scheme",
         "\"name\": \"age\", \"kind\": \"Question\", \"type\": \"Integer\", \"min_value\": 0, "
         "\"max_value\": 120,",
         "\"name\": \"age\", \"kind\": \"Question\", \"type\": \"Pseudonym\",",
         "needs an identifier_scheme", "age"},
        {"two questions shown only if the other is answered",
         "\"min_value\": 0, \"max_value\": 120,",
         "\"min_value\": 0, \"max_value\": 120, \"relevance\": \"${works} = 'yes'\",",
         "whether it is shown depends on itself", "age"},
        {"a form without a title in its default language",
         "{\"lang\": \"nl\", \"text\": \"Proef\"}, ", "", "no title in its default language", ""},
    };
    for (const auto& c : cases) {
        std::string mistake = c.mistake;
        CAPTURE(mistake);
        auto check = compileFormJson(replaced(validForm(), c.from, c.to), "broken.json");
        CHECK_FALSE(check.ok());
        const FormProblem* found = nullptr;
        for (const auto& p : check.problems) {
            if (p.severity == FormProblem::Severity::Error &&
                p.message.find(c.fragment) != std::string::npos)
                found = &p;
        }
        std::string all;
        for (const auto& p : check.problems)
            all += p.describe() + "\n";
        REQUIRE_MESSAGE(found, "expected '" << std::string(c.fragment) << "' among:\n" << all);
        CHECK(found->file == "broken.json");
        CHECK(found->item == c.item);
        if (std::string(c.item).empty() == false || std::string(c.fragment) == "expecting" ||
            std::string(c.fragment).find("unknown field") == 0) {
            CHECK_MESSAGE(found->line > 0, found->describe());
        }
    }
}

TEST_CASE("a missing translation is a warning, not an error") {
    auto check = compileFormJson(
        replaced(validForm(), ", {\"lang\": \"ar\", \"text\": \"ساعات\"}", ""), "warn.json");
    CHECK(check.ok());
    REQUIRE(check.problems.size() == 1);
    CHECK(check.problems[0].severity == FormProblem::Severity::Warning);
    CHECK(check.problems[0].describe().find("warning: item 'hours': no label in 'ar'") !=
          std::string::npos);
}

TEST_CASE("a file that is neither form JSON nor a compiled form is refused clearly") {
    std::string path = std::filesystem::temp_directory_path() / "veld-not-a-form.bin";
    std::ofstream(path) << "VFRM but not really a form at all";
    auto check = loadFormFile(path);
    CHECK_FALSE(check.ok());
    auto missing = loadFormFile("/nonexistent/form.json");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.problems[0].message == "cannot read the file");
    std::filesystem::remove(path);
}

TEST_CASE("every pilot form shipped with Veld passes the checks without errors") {
    std::string dir = std::string(VELD_SOURCE_DIR) + "/schemas/forms";
    int forms = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".json") continue;
        ++forms;
        CAPTURE(entry.path().string());
        auto check = loadFormFile(entry.path().string());
        for (const auto& p : check.problems) {
            if (p.severity == FormProblem::Severity::Error) MESSAGE(p.describe());
        }
        CHECK(check.ok());
        const auto* form = fb::GetForm(check.binary.data());
        CHECK(form->id()->str() == entry.path().stem().string());
    }
    CHECK(forms == 11);
}
