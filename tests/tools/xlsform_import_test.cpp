// XLSForm workbooks written by openpyxl (tests/xlsform/make_workbooks.py) imported into Veld
// forms: every type, column and setting of the mapping, versions, languages, spelling, and the
// mistakes authors make, each reported with its cell.
#include <filesystem>
#include <map>

#include <doctest/doctest.h>

#include <veld/fb/form_generated.h>
#include <veld/xlsform.hpp>

#include "support/test_support.hpp"
#include "xlsform_workbooks.hpp"

using namespace veld;
using forms::FormProblem;

namespace {

const fb::Item* findItem(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items,
                         std::string_view name) {
    if (!items) return nullptr;
    for (const auto* item : *items) {
        if (item->name()->string_view() == name) return item;
        if (const auto* inner = findItem(item->children(), name)) return inner;
    }
    return nullptr;
}

std::string text(const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* texts,
                 std::string_view lang) {
    if (!texts) return {};
    for (const auto* t : *texts) {
        if (t->lang()->string_view() == lang) return t->text()->str();
    }
    return {};
}

const fb::ChoiceList* findList(const fb::Form& form, std::string_view name) {
    for (const auto* l : *form.choice_lists()) {
        if (l->name()->string_view() == name) return l;
    }
    return nullptr;
}

std::vector<std::string> choiceNames(const fb::ChoiceList* list) {
    std::vector<std::string> out;
    if (list)
        for (const auto* c : *list->choices())
            out.push_back(c->name()->str());
    return out;
}

bool hasProblem(const forms::FormCheck& check, FormProblem::Severity severity,
                const std::string& cell, const std::string& message) {
    for (const auto& p : check.problems) {
        if (p.severity == severity && p.cell == cell &&
            p.message.find(message) != std::string::npos)
            return true;
    }
    return false;
}

std::string allProblems(const forms::FormCheck& check) {
    std::string out;
    for (const auto& p : check.problems)
        out += p.describe() + "\n";
    return out;
}

}  // namespace

TEST_CASE("A workbook with every type, column and setting imports as the form it describes") {
    const auto imported = xlsform::importWorkbook(test::workbook("full.xlsx"));
    INFO(allProblems(imported.check));
    REQUIRE(imported.check.ok());
    const fb::Form& form = *fb::GetForm(imported.check.binary.data());

    SUBCASE("settings") {
        CHECK(form.id()->str() == "ips_intake_xls");
        CHECK(form.version() == 2024031500u);
        CHECK(form.version_label()->str() == "2024-03-15");
        CHECK(form.pilot()->str() == "ips");
        CHECK(form.default_language()->str() == "nl");
        CHECK(text(form.titles(), "nl") == "Intake IPS");
        CHECK(text(form.titles(), "en") == "IPS intake");
        CHECK(text(form.descriptions(), "nl") == "Het intakegesprek");
        const auto* s = form.settings();
        REQUIRE(s);
        CHECK_FALSE(s->sealed());
        CHECK_FALSE(s->kiosk());
        CHECK(s->summary_question()->str() == "visit_date");  // from instance_name ${visit_date}
        REQUIRE(s->case_settings());
        CHECK(s->case_settings()->action() == fb::CaseAction::Open);
        CHECK(s->case_settings()->case_type()->str() == "participant");
        CHECK(s->case_settings()->pseudonym_question()->str() == "participant_bsn");
        REQUIRE(s->case_settings()->updates()->size() == 2);
        CHECK(s->case_settings()->updates()->Get(0)->property()->str() == "label");
        CHECK(s->case_settings()->updates()->Get(0)->question()->str() == "participant_label");
        CHECK(s->case_settings()->updates()->Get(1)->property()->str() == "municipality");
        REQUIRE(s->randomisation());
        CHECK(s->randomisation()->study()->str() == "ips");
        CHECK(s->randomisation()->when()->str() == "${consent} = true()");
        REQUIRE(s->randomisation()->strata()->size() == 2);
        CHECK(s->randomisation()->strata()->Get(1)->factor()->str() == "gender");
        CHECK(s->randomisation()->strata()->Get(1)->question()->str() == "gender");
    }

    SUBCASE("languages in order of appearance, Arabic right to left, Tigrinya by its name") {
        REQUIRE(form.languages()->size() == 4);
        const auto* l = form.languages();
        CHECK(l->Get(0)->tag()->str() == "nl");
        CHECK(l->Get(0)->name()->str() == "Nederlands");
        CHECK(l->Get(1)->tag()->str() == "en");
        CHECK(l->Get(2)->tag()->str() == "ar");
        CHECK(l->Get(2)->name()->str() == "العربية");
        CHECK(l->Get(2)->rtl());
        CHECK(l->Get(3)->tag()->str() == "ti");
        CHECK(l->Get(3)->name()->str() == "ትግርኛ");
        CHECK_FALSE(l->Get(3)->rtl());
        const auto* age = findItem(form.items(), "age");
        CHECK(text(age->labels(), "ar") == "العمر");
        CHECK(text(age->labels(), "ti") == "ዕድመ");
    }

    SUBCASE("types") {
        const std::map<std::string, fb::QuestionType> types = {
            {"visit_date", fb::QuestionType::Date},
            {"participant_bsn", fb::QuestionType::Pseudonym},
            {"consent", fb::QuestionType::Consent},
            {"participant_label", fb::QuestionType::Text},
            {"municipality", fb::QuestionType::SelectOne},
            {"age", fb::QuestionType::Integer},
            {"hours", fb::QuestionType::Decimal},
            {"satisfaction", fb::QuestionType::Integer},
            {"share", fb::QuestionType::Decimal},
            {"agree", fb::QuestionType::Likert},
            {"sectors", fb::QuestionType::SelectMany},
            {"intro_note", fb::QuestionType::Note},
            {"visit_time", fb::QuestionType::Time},
            {"visit_moment", fb::QuestionType::DateTime},
            {"age_next_year", fb::QuestionType::Text},
            {"form_variant", fb::QuestionType::Text},
            {"photo_consent", fb::QuestionType::Consent},
            {"signed", fb::QuestionType::Signature},
            {"signed_again", fb::QuestionType::Signature},
        };
        for (const auto& entry : types) {
            const std::string& name = entry.first;
            CAPTURE(name);
            const auto* item = findItem(form.items(), name);
            REQUIRE(item);
            CHECK(item->kind() == fb::ItemKind::Question);
            CHECK(item->type() == entry.second);
        }
        // Metadata types are dropped: Veld records times and devices itself.
        CHECK_FALSE(findItem(form.items(), "started"));
        CHECK_FALSE(findItem(form.items(), "device"));
        CHECK_FALSE(findItem(form.items(), "ended"));
    }

    SUBCASE("columns") {
        const auto* date = findItem(form.items(), "visit_date");
        CHECK(date->required());
        CHECK(date->constraint()->str() == ". <= today()");
        CHECK(text(date->constraint_messages(), "en") == "The date is in the future");
        const auto* bsn = findItem(form.items(), "participant_bsn");
        CHECK(bsn->required());  // a boolean TRUE cell
        CHECK(bsn->identifier_scheme() == fb::IdentifierScheme::Bsn);
        const auto* label = findItem(form.items(), "participant_label");
        CHECK(label->max_length() == 8);
        CHECK(label->pattern()->str() == "^[A-Z.]+$");
        CHECK(label->identifying());
        const auto* age = findItem(form.items(), "age");
        CHECK(*age->min_value() == 16);
        CHECK(*age->max_value() == 67);
        CHECK(age->default_value()->str() == "30");
        CHECK(text(age->required_messages(), "nl") == "Vul de leeftijd in");
        CHECK(text(age->hints(), "nl") == "Age in years");  // an inline string
        CHECK(*findItem(form.items(), "hours")->max_value() == 60.5);
        const auto* satisfaction = findItem(form.items(), "satisfaction");
        CHECK(*satisfaction->min_value() == 1);
        CHECK(*satisfaction->max_value() == 5);
        CHECK(*satisfaction->step() == 1);
        CHECK(*findItem(form.items(), "share")->step() == 0.25);
        CHECK(findItem(form.items(), "region")->appearance()->str() == "minimal horizontal");
        CHECK(findItem(form.items(), "town")->choice_filter()->str() == "region = ${region}");
        const auto* agree = findItem(form.items(), "agree");
        CHECK(text(agree->labels(), "nl") == "Rich label");  // rich text runs joined
        CHECK(findItem(form.items(), "remarks")->multiline());
        CHECK(text(findItem(form.items(), "remarks")->labels(), "nl") == "Line\rbreak");
        CHECK(findItem(form.items(), "main_sector")->relevance()->str() ==
              "count-selected(${sectors}) > 1");
        const auto* calc = findItem(form.items(), "age_next_year");
        CHECK(calc->hidden());
        CHECK(calc->calculation()->str() == "${age} + 1");
        const auto* hidden = findItem(form.items(), "form_variant");
        CHECK(hidden->hidden());
        CHECK(hidden->default_value()->str() == "b");
        CHECK(findItem(form.items(), "secret_note")->hidden());
    }

    SUBCASE("groups and repeats") {
        const auto* work = findItem(form.items(), "work");
        CHECK(work->kind() == fb::ItemKind::Group);
        CHECK(work->relevance()->str() == "${consent} = true()");
        REQUIRE(work->children()->size() == 1);
        CHECK(!work->appearance());  // field-list made it a page; nothing else to keep
        const auto* children = findItem(form.items(), "children");
        CHECK(children->kind() == fb::ItemKind::Repeat);
        CHECK(children->min_count() == 2);
        CHECK(children->max_count() == 2);
        REQUIRE(children->children()->size() == 2);
        const auto* school = children->children()->Get(1);
        CHECK(school->name()->str() == "child_school");
        CHECK(school->kind() == fb::ItemKind::Group);
        CHECK(school->children()->Get(0)->name()->str() == "child_age");
        CHECK(findItem(form.items(), "jobs")->repeat_count()->str() == "${job_count}");
        const auto* sessions = findItem(form.items(), "sessions");
        CHECK(sessions->min_count() == 1);
        CHECK(sessions->max_count() == 4);
    }

    SUBCASE("choices: numbers as names, properties, exclusive, or_other") {
        CHECK(choiceNames(findList(form, "likert5")) ==
              std::vector<std::string>{"1", "2", "3", "4", "5"});
        const auto* town = findList(form, "town");
        const auto* maastricht = town->choices()->Get(1);
        REQUIRE(maastricht->properties());
        REQUIRE(maastricht->properties()->size() == 1);  // the image column is not a property
        CHECK(maastricht->properties()->Get(0)->name()->str() == "region");
        CHECK(maastricht->properties()->Get(0)->value()->str() == "south");
        CHECK(findList(form, "sectors")->choices()->Get(2)->exclusive());
        // sectors is used with and without or_other: the or_other question gets a copy.
        CHECK(choiceNames(findList(form, "sectors")) ==
              std::vector<std::string>{"care", "retail", "none"});
        CHECK(choiceNames(findList(form, "sectors_or_other")) ==
              std::vector<std::string>{"care", "retail", "none", "other"});
        CHECK(findItem(form.items(), "sectors")->choice_list()->str() == "sectors_or_other");
        CHECK(findItem(form.items(), "main_sector")->choice_list()->str() == "sectors");
        // yes_no is used only with or_other: `other` is added to the list itself.
        const auto* yesNo = findList(form, "yes_no");
        CHECK(choiceNames(yesNo) == std::vector<std::string>{"yes", "no", "other"});
        const auto* other = yesNo->choices()->Get(2);
        CHECK(other->is_other());
        CHECK(text(other->labels(), "nl") == "Anders");
        CHECK(text(other->labels(), "en") == "Other");
        CHECK(text(other->labels(), "ar") == "أخرى");
        CHECK(text(other->labels(), "ti") == "ካልእ");
    }

    SUBCASE("the JSON is for people: 2-space indentation, fields in the documented order") {
        const std::string& json = imported.json;
        CHECK(json.starts_with("{\n  \"id\": \"ips_intake_xls\",\n  \"version\": 2024031500,\n"));
        CHECK(json.find("\"name\": \"1\"") != std::string::npos);
        CHECK(json.find("\"name\": \"1.0\"") == std::string::npos);
        CHECK(json.find("\"name\": \"2\"") != std::string::npos);  // typed as 2.0
        const auto name = json.find("\"name\": \"visit_date\"");
        const auto kind = json.find("\"kind\": \"Question\"", name);
        const auto type = json.find("\"type\": \"Date\"", name);
        const auto labels = json.find("\"labels\"", name);
        CHECK(name < kind);
        CHECK(kind < type);
        CHECK(type < labels);
        // The JSON compiles to the same form on its own.
        const auto again = forms::compileFormJson(json, "again.json");
        CHECK(again.binary == imported.check.binary);
    }
}

TEST_CASE("Warnings name the cell or sheet they are about") {
    const auto check = xlsform::loadAnyFormFile(test::workbook("full.xlsx"));
    using S = FormProblem::Severity;
    struct Case {
        const char* cell;
        const char* message;
    };
    const Case cases[] = {
        {"survey!A2", "type 'start' is dropped: Veld records the times and the device"},
        {"survey!A3", "type 'deviceid' is dropped"},
        {"survey!AF1", "column 'comments' is ignored"},
        {"choices!J1", "column 'video' is ignored: Veld shows no video"},
        {"settings!R2", "submission_url is ignored"},
        {"notes", "sheet 'notes' is ignored"},
        {"survey!E5", "no label in 'ar'"},
        {"choices!F2", "choice 'utrecht' has no label in 'ti'"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.cell);
        CHECK_MESSAGE(hasProblem(check, S::Warning, c.cell, c.message), allProblems(check));
    }
    const auto& first = check.problems.front();
    CHECK(first.describe().find("full.xlsx:") != std::string::npos);
}

TEST_CASE("Version texts map to numbers that grow within each scheme") {
    struct Case {
        const char* file;
        std::uint32_t version;
        const char* label;
    };
    const Case cases[] = {
        {"version_3.xlsx", 3, ""},
        {"version_number.xlsx", 3, ""},
        {"version_date.xlsx", 2024031500, "2024-03-15"},
        {"version_excel_date.xlsx", 2024031500, "2024-03-15"},  // a date cell
        {"version_date_rev.xlsx", 2024031502, "2024-03-15.2"},
        {"version_semver.xlsx", 1004002, "1.4.2"},
        {"version_digits.xlsx", 2024031501, ""},
    };
    for (const auto& c : cases) {
        CAPTURE(c.file);
        const auto check = xlsform::loadAnyFormFile(test::workbook(c.file));
        REQUIRE_MESSAGE(check.ok(), allProblems(check));
        const auto* form = fb::GetForm(check.binary.data());
        CHECK(form->version() == c.version);
        CHECK((form->version_label() ? form->version_label()->str() : "") == c.label);
    }
}

TEST_CASE("Sheet and column names are read in any case, languages by name, rtl as set") {
    const auto check = xlsform::loadAnyFormFile(test::workbook("spelling.xlsx"));
    REQUIRE_MESSAGE(check.ok(), allProblems(check));
    const auto* form = fb::GetForm(check.binary.data());
    CHECK(form->version() == 1000000u);  // "1.0"
    REQUIRE(form->languages()->size() == 2);
    CHECK(form->languages()->Get(0)->tag()->str() == "nl");
    CHECK(form->languages()->Get(0)->name()->str() == "Nederlands");
    CHECK(form->languages()->Get(1)->tag()->str() == "ar");
    // The settings' rtl column is present and empty: no language is right to left.
    CHECK_FALSE(form->languages()->Get(1)->rtl());
    CHECK(form->settings()->kiosk());
    CHECK(form->settings()->sealed());
    CHECK(form->settings()->anonymous());
    const auto* ok = findItem(form->items(), "ok");
    CHECK(ok->type() == fb::QuestionType::SelectOne);  // "Select One yn"
    CHECK(ok->required());
    CHECK(text(ok->labels(), "ar") == "جيد؟");
    CHECK(form->id()->str() == "spelling");  // from the file name
}

TEST_CASE("A follow-up form reads case properties, and a plain label column is English") {
    const auto follow = xlsform::loadAnyFormFile(test::workbook("follow_up.xlsx"));
    REQUIRE_MESSAGE(follow.ok(), allProblems(follow));
    const auto* form = fb::GetForm(follow.binary.data());
    CHECK(form->settings()->case_settings()->action() == fb::CaseAction::FollowUp);
    CHECK(form->settings()->summary_question()->str() == "met");
    CHECK(form->default_language()->str() == "nl");

    const auto minimal = xlsform::loadAnyFormFile(test::workbook("minimal.xlsx"));
    REQUIRE_MESSAGE(minimal.ok(), allProblems(minimal));
    CHECK(fb::GetForm(minimal.binary.data())->default_language()->str() == "en");
    CHECK(text(fb::GetForm(minimal.binary.data())->titles(), "en") == "minimal");
    CHECK(hasProblem(minimal, FormProblem::Severity::Warning, "survey!C1",
                     "no column names its language"));
}

TEST_CASE("Each broken workbook gets its error at its cell") {
    struct Case {
        const char* file;
        const char* cell;  // empty: the workbook as a whole
        const char* message;
    };
    const Case cases[] = {
        {"broken_geopoint.xlsx", "survey!A3", "type 'geopoint' is not supported"},
        {"broken_pulldata.xlsx", "survey!D3", "calculation: column 1: unknown function 'pulldata'"},
        {"broken_unknown_list.xlsx", "survey!A2",
         "choice list 'colours' is not on the choices sheet"},
        {"broken_duplicate_name.xlsx", "survey!B4",
         "the name 'age' is used twice (also survey!B2)"},
        {"broken_no_survey.xlsx", "", "the workbook has no survey sheet"},
        {"broken_group_open.xlsx", "survey!A2", "begin_group 'g' is never closed"},
        {"broken_end_without_begin.xlsx", "survey!A3", "end_group without a begin_group"},
        {"broken_end_mismatch.xlsx", "survey!A4",
         "end_repeat closes the group 'g' (begun at survey!A2)"},
        {"broken_missing_label.xlsx", "survey!C3", "no label in the default language 'nl'"},
        {"broken_bad_expression.xlsx", "survey!D3", "relevance: column 9: expected a value"},
        {"broken_unknown_reference.xlsx", "survey!D3",
         "relevance refers to ${agee}, which is not in the form"},
        {"broken_required.xlsx", "survey!D2", "required must be yes or no"},
        {"broken_version.xlsx", "settings!B2",
         "version 'v2' is not a number, a date or MAJOR.MINOR.PATCH"},
        {"broken_language.xlsx", "survey!D1", "say which language: label::Klingon"},
        {"broken_no_type.xlsx", "survey!A3", "the row has no type"},
        {"broken_duplicate_choice.xlsx", "choices!B4", "choice 'a' appears twice in list 'l'"},
        {"broken_cycle.xlsx", "survey!D2", "calculations depend on each other in a cycle"},
        {"broken_choice_filter.xlsx", "survey!D2", "choice_filter is only for select questions"},
        {"broken_calculate.xlsx", "survey!A3", "calculate needs a calculation"},
        {"broken_or_other.xlsx", "choices!A2", "has a choice named 'other' already"},
        {"broken_no_version.xlsx", "", "the form has no version"},
        {"broken_empty.xlsx", "", "the workbook is empty"},
        {"broken_old.xlsx", "", "this is an old .xls workbook; save it as .xlsx"},
        {"broken_password.xlsx", "",
         "the workbook is protected with a password; remove it in Excel (File > Info > Protect "
         "Workbook)"},
        {"broken_zero.xlsx", "", "the file is empty"},
        {"broken_cut.xlsx", "", "the workbook is damaged"},
        {"broken_text.xlsx", "", "not an .xlsx workbook (not a zip file)"},
        {"broken_bomb.xlsx", "", "is larger than 16 MiB unpacked"},
    };
    for (const auto& c : cases) {
        const std::string file = c.file;
        CAPTURE(file);
        const auto check = xlsform::loadAnyFormFile(test::workbook(c.file));
        CHECK_FALSE(check.ok());
        CHECK_MESSAGE(hasProblem(check, FormProblem::Severity::Error, c.cell, c.message),
                      allProblems(check));
        // The form checks' own repeat of a problem the import named better is left out.
        int errors = 0;
        for (const auto& p : check.problems)
            errors += p.severity == FormProblem::Severity::Error;
        CHECK_MESSAGE(errors == 1, allProblems(check));
    }
}

TEST_CASE("Groups nested past 32 levels stop the survey's reading at that row") {
    const auto check = xlsform::loadAnyFormFile(test::workbook("broken_deep.xlsx"));
    CHECK_FALSE(check.ok());
    CHECK_MESSAGE(hasProblem(check, FormProblem::Severity::Error, "survey!A34",
                             "groups and repeats are nested more than 32 deep"),
                  allProblems(check));
}

TEST_CASE("Every problem of a workbook is reported in one run, in sheet order") {
    const auto check = xlsform::loadAnyFormFile(test::workbook("broken_many.xlsx"));
    std::vector<std::string> errors;
    for (const auto& p : check.problems) {
        if (p.severity == FormProblem::Severity::Error) errors.push_back(p.cell + " " + p.message);
    }
    REQUIRE(errors.size() == 3);
    CHECK(errors[0] == "survey!A2 type 'audio' is not supported");
    CHECK(errors[1].starts_with("survey!D3 required must be yes or no"));
    CHECK(errors[2].starts_with("survey!A4 begin_repeat 'r' is never closed"));
    CHECK(check.problems.front().describe().find("broken_many.xlsx:survey!") != std::string::npos);
}

TEST_CASE("veldctl form import writes the JSON next to the workbook, or nothing on errors") {
    test::TempDir dir;
    const std::string workbook = dir.file("e2e.xlsx");
    std::filesystem::copy_file(test::workbook("e2e.xlsx"), workbook);
    auto run =
        test::runProcess({std::string(VELD_BIN_DIR) + "/veldctl", "form", "import", workbook});
    CHECK_MESSAGE(run.exitCode == 0, std::string(run.out + run.err));
    CHECK(run.out.find("wrote " + dir.file("e2e.json")) != std::string::npos);
    const auto json = test::readFile(dir.file("e2e.json"));
    CHECK(forms::compileFormJson(json, "e2e.json").ok());
    CHECK(json == xlsform::importWorkbook(workbook).json);

    run = test::runProcess({std::string(VELD_BIN_DIR) + "/veldctl", "form", "import", workbook,
                            "-o", dir.file("other.json")});
    CHECK(run.exitCode == 0);
    CHECK(std::filesystem::exists(dir.file("other.json")));

    const std::string broken = dir.file("broken.xlsx");
    std::filesystem::copy_file(test::workbook("broken_geopoint.xlsx"), broken);
    run = test::runProcess({std::string(VELD_BIN_DIR) + "/veldctl", "form", "import", broken});
    CHECK(run.exitCode == 1);
    CHECK(run.out.find(broken + ":survey!A3: error: type 'geopoint' is not supported") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("broken.json")));

    // check, compile and show read workbooks too.
    run = test::runProcess({std::string(VELD_BIN_DIR) + "/veldctl", "form", "check", workbook});
    CHECK(run.exitCode == 0);
    CHECK(run.out.find(workbook + ": ok") != std::string::npos);
    run = test::runProcess({std::string(VELD_BIN_DIR) + "/veldctl", "form", "check", broken});
    CHECK(run.exitCode == 1);
    run = test::runProcess({std::string(VELD_BIN_DIR) + "/veldctl", "form", "compile", workbook});
    CHECK(run.exitCode == 0);
    CHECK(test::readFile(dir.file("e2e.vfrm")).size() > 100);
    run = test::runProcess(
        {std::string(VELD_BIN_DIR) + "/veldctl", "form", "show", workbook, "--lang", "en"});
    CHECK(run.exitCode == 0);
    CHECK(run.out.find("visit_xls v2024050100") != std::string::npos);
    CHECK(run.out.find("repeat children") != std::string::npos);
    run = test::runProcess(
        {std::string(VELD_BIN_DIR) + "/veldctl", "form", "import", dir.file("e2e.json")});
    CHECK(run.exitCode == 2);  // import reads workbooks only
}
