#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/names.hpp>

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
    std::string path = (std::filesystem::temp_directory_path() / "veld-not-a-form.bin").string();
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

namespace {

std::string fieldsForm() {
    return test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/xlsform_fields.json");
}

std::string problemsOf(const FormCheck& check) {
    std::string all;
    for (const auto& p : check.problems)
        all += p.describe() + "\n";
    return all;
}

}  // namespace

TEST_CASE("numeric choice names, exclusive choices, repeat_count, hidden, step and appearance") {
    auto check = compileFormJson(fieldsForm(), "xlsform_fields.json");
    INFO(problemsOf(check));
    REQUIRE(check.ok());
    CHECK(check.problems.empty());
    const auto tree = describeForm(check.binary, "en");
    INFO(tree);
    CHECK(tree.find("xlsform_fields v2024031502 (2024-03-15.2)") == 0);
    CHECK(tree.find("integer score hidden") != std::string::npos);
    CHECK(tree.find("decimal rating [0..10 step 0.5]") != std::string::npos);
    CHECK(tree.find("instances: ${children}") != std::string::npos);
    CHECK(tree.find("appearance: minimal") != std::string::npos);
    CHECK(tree.find("agree5: 1 2 3 4 5 -9") != std::string::npos);
    CHECK(tree.find("none (exclusive)") != std::string::npos);
}

TEST_CASE("choice names may be numbers, while item and list names keep their rule") {
    for (const char* ok : {"1", "5", "-9", "99", "0", "3.5", "_x", "a-b", "-x"}) {
        CAPTURE(std::string(ok));
        CHECK(validChoiceName(ok));
    }
    for (const char* bad : {"", "-", "--1", ".5", "1 2", "a'b", "é", "1;2"}) {
        CAPTURE(std::string(bad));
        CHECK_FALSE(validChoiceName(bad));
    }
    CHECK_FALSE(validChoiceName(std::string(65, '1')));
    CHECK(validChoiceName(std::string(64, '1')));
    CHECK_FALSE(validName("1"));
    CHECK_FALSE(validName("-9"));
    CHECK(validName("_1"));

    auto list = compileFormJson(replaced(fieldsForm(), "\"name\": \"help\"", "\"name\": \"5\""),
                                "list.json");
    CHECK_FALSE(list.ok());
    CHECK(problemsOf(list).find("'5' is not a valid choice list name") != std::string::npos);
    auto choice = compileFormJson(replaced(fieldsForm(), "\"name\": \"-9\"", "\"name\": \"-\""),
                                  "choice.json");
    CHECK_FALSE(choice.ok());
    CHECK(problemsOf(choice).find("choice '-' is not a valid choice name") != std::string::npos);
}

TEST_CASE("mistakes with the XLSForm fields are errors that name the item") {
    struct Case {
        const char* mistake;
        const char* from;
        const char* to;
        const char* fragment;
        const char* item;
    };
    const Case cases[] = {
        {"repeat_count on a question", "\"appearance\": \"multiline\",",
         "\"appearance\": \"multiline\", \"repeat_count\": \"2\",",
         "repeat_count belongs to repeats", "remarks"},
        {"repeat_count that does not parse", "\"repeat_count\": \"${children}\"",
         "\"repeat_count\": \"${children} +\"", "repeat_count: column", "child"},
        {"repeat_count that refers to an unknown question", "\"repeat_count\": \"${children}\"",
         "\"repeat_count\": \"${kids}\"", "refers to ${kids}, which is not in the form", "child"},
        {"repeat_count that refers inside the repeat", "\"repeat_count\": \"${children}\"",
         "\"repeat_count\": \"${child_age}\"", "which is inside the repeat", "child"},
        {"repeat_count with max_count", "\"repeat_count\": \"${children}\",",
         "\"repeat_count\": \"${children}\", \"max_count\": 4,",
         "cannot have min_count or max_count", "child"},
        {"a hidden required question that is not calculated", "\"appearance\": \"multiline\",",
         "\"appearance\": \"multiline\", \"hidden\": true, "
         "\"required\": true,",
         "a hidden question cannot be required", "remarks"},
        {"hidden on a repeat", "\"repeat_count\": \"${children}\",",
         "\"repeat_count\": \"${children}\", \"hidden\": true,", "hidden is for questions",
         "child"},
        {"a step without max_value", "\"max_value\": 10, \"step\": 0.5", "\"step\": 0.5",
         "step needs both min_value and max_value", "rating"},
        {"a step of 0", "\"step\": 0.5", "\"step\": 0", "step must be larger than 0", "rating"},
        {"a negative step", "\"step\": 0.5", "\"step\": -1", "step must be larger than 0",
         "rating"},
        {"a step on a text question", "\"appearance\": \"multiline\",",
         "\"appearance\": \"multiline\", \"step\": 1,", "step is for integer and decimal",
         "remarks"},
        {"a broken step on an integer", "\"max_value\": 6, \"step\": 1",
         "\"max_value\": 6, \"step\": 0.5", "must be whole numbers", "children"},
        {"a default choosing an exclusive choice with others",
         "\"choice_list\": \"help\", \"appearance\": \"horizontal\",",
         "\"choice_list\": \"help\", \"appearance\": \"horizontal\", \"default_value\": \"money "
         "none\",",
         "chooses the exclusive choice 'none' with others", "help_wanted"},
    };
    for (const auto& c : cases) {
        CAPTURE(std::string(c.mistake));
        auto check = compileFormJson(replaced(fieldsForm(), c.from, c.to), "broken.json");
        CHECK_FALSE(check.ok());
        const FormProblem* found = nullptr;
        for (const auto& p : check.problems) {
            if (p.severity == FormProblem::Severity::Error &&
                p.message.find(c.fragment) != std::string::npos)
                found = &p;
        }
        REQUIRE_MESSAGE(found, "expected '" << c.fragment << "' among:\n" << problemsOf(check));
        CHECK(found->item == c.item);
        CHECK(found->line > 0);
    }
}

TEST_CASE("a repeat_count over a name that two nested items share is refused, not looped on") {
    // Group `g` holds a question `g`: each is the other's parent in the name index.
    const std::string nested =
        R"({"name": "g", "kind": "Group", "labels": [{"lang": "nl", "text": "G"}],
            "children": [{"name": "g", "kind": "Question", "type": "Integer",
                          "labels": [{"lang": "nl", "text": "G"}]}]},
           {"name": "child", "kind": "Repeat", "repeat_count": "${g}",)";
    auto check = compileFormJson(
        replaced(fieldsForm(),
                 R"({"name": "child", "kind": "Repeat", "repeat_count": "${children}",)", nested),
        "loop.json");
    CHECK_FALSE(check.ok());
    CHECK(problemsOf(check).find("used by two items") != std::string::npos);
}

TEST_CASE("doubtful uses of the XLSForm fields are warnings") {
    struct Case {
        const char* what;
        const char* from;
        const char* to;
        const char* fragment;
    };
    const Case cases[] = {
        {"an appearance word Veld does not know", "\"appearance\": \"multiline\"",
         "\"appearance\": \"multiline quick\"", "appearance 'quick' is not one Veld shows"},
        {"minimal on a select many", "\"appearance\": \"horizontal\"",
         "\"appearance\": \"minimal\"", "appearance 'minimal' is only for select one questions"},
        {"multiline on a number", "\"max_value\": 10, \"step\": 0.5",
         "\"max_value\": 10, \"step\": 0.5, \"appearance\": \"multiline\"",
         "appearance 'multiline' is only for text questions"},
        {"an exclusive choice no select many can use", "\"type\": \"SelectMany\"",
         "\"type\": \"SelectOne\"", "is exclusive, which only matters to select many"},
        {"a required message on a question that is not required", "\"appearance\": \"multiline\",",
         "\"appearance\": \"multiline\", \"required_messages\": [{\"lang\": \"nl\", \"text\": "
         "\"Vul in\"}],",
         "required_messages are shown only for a required question"},
    };
    for (const auto& c : cases) {
        CAPTURE(std::string(c.what));
        auto check = compileFormJson(replaced(fieldsForm(), c.from, c.to), "doubtful.json");
        INFO(problemsOf(check));
        CHECK(check.ok());
        REQUIRE(check.problems.size() == 1);
        CHECK(check.problems[0].severity == FormProblem::Severity::Warning);
        CHECK(check.problems[0].message.find(c.fragment) != std::string::npos);
    }
    CHECK(knownAppearance("minimal"));
    CHECK(knownAppearance("horizontal-compact"));
    CHECK_FALSE(knownAppearance("quick"));
    CHECK_FALSE(knownAppearance(""));
}

TEST_CASE("a hidden calculated question needs no label and may be required") {
    auto check = compileFormJson(replaced(fieldsForm(), "\"hidden\": true, \"calculation\"",
                                          "\"hidden\": true, \"required\": true, \"calculation\""),
                                 "hidden.json");
    INFO(problemsOf(check));
    CHECK(check.ok());
    CHECK(check.problems.empty());
}
