// Forms that work with cases: the checks of case_settings and randomisation, sessions that open,
// follow up and close cases, and the pilot's case-aware IPS forms.
#include <algorithm>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <veld/case.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/hex.hpp>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>

#include "support/test_support.hpp"

using namespace veld;
using namespace veld::forms;

namespace {

using FormPtr = std::shared_ptr<const CompiledForm>;

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    REQUIRE_MESSAGE(pos != std::string::npos, "the sample form has no '" << from << "'");
    text.replace(pos, from.size(), to);
    return text;
}

std::string label(const std::string& text) {
    return R"("labels": [{"lang": "en", "text": ")" + text + R"("}])";
}

std::string question(const std::string& name, const std::string& type,
                     const std::string& extra = {}) {
    return R"({"name": ")" + name + R"(", "kind": "Question", "type": ")" + type + R"(", )" +
           label(name) + (extra.empty() ? "" : ", " + extra) + "}";
}

// A follow-up form with a question of every kind a case property can come from, a note, a
// repeat, and a randomisation: the base the check tests break one way at a time.
std::string visitForm() {
    return R"({"id": "case_visit", "version": 1, "default_language": "en",
  "languages": [{"tag": "en", "name": "English"}],
  "titles": [{"lang": "en", "text": "Visit"}],
  "settings": {
    "case_settings": {"action": "FollowUp", "case_type": "participant",
      "updates": [
        {"property": "hours", "question": "hours"},
        {"property": "next_contact", "question": "next_visit"},
        {"property": "site", "question": "site"},
        {"property": "label", "question": "nickname"},
        {"property": "rate", "question": "rate"},
        {"property": "sectors", "question": "sectors"},
        {"property": "visit_time", "question": "visit_time"},
        {"property": "agreed", "question": "agreed"},
        {"property": "visits", "question": "visits"},
        {"property": "extra", "question": "extra"}
      ]},
    "randomisation": {"study": "trial", "when": "${ready} = 'yes'",
      "strata": [{"factor": "site", "question": "site"}, {"factor": "sex", "question": "sex"}]}
  },
  "choice_lists": [
    {"name": "sites", "choices": [{"name": "north", )" +
           label("North") + R"(}, {"name": "south", )" + label("South") + R"(}]},
    {"name": "sexes", "choices": [{"name": "f", )" +
           label("F") + R"(}, {"name": "m", )" + label("M") + R"(}]},
    {"name": "yes_no", "choices": [{"name": "yes", )" +
           label("Yes") + R"(}, {"name": "no", )" + label("No") + R"(}]},
    {"name": "sector_list", "choices": [{"name": "care", )" +
           label("Care") + R"(}, {"name": "ict", )" + label("ICT") + R"(}]}
  ],
  "items": [
    )" + question("bsn", "Pseudonym", R"("identifier_scheme": "Bsn")") +
           ",\n    " +
           question("site", "SelectOne", R"("choice_list": "sites", "required": true)") +
           ",\n    " + question("sex", "SelectOne", R"("choice_list": "sexes", "required": true)") +
           ",\n    " + question("ready", "SelectOne", R"("choice_list": "yes_no")") + ",\n    " +
           question("hours", "Integer", R"("default_value": "8")") + ",\n    " +
           question("next_visit", "Date") + ",\n    " +
           question("nickname", "Text", R"("max_length": 40)") + ",\n    " +
           question("rate", "Decimal") + ",\n    " +
           question("sectors", "SelectMany", R"("choice_list": "sector_list")") + ",\n    " +
           question("visit_time", "Time") + ",\n    " + question("agreed", "Consent") + ",\n    " +
           question("visits", "Integer",
                    R"("read_only": true, "calculation": "coalesce(${case.visits}, 0) + 1")") +
           ",\n    " + question("extra", "Integer", R"("relevance": "${case.arm} = 'ips'")") +
           ",\n    " + question("info", "Note") + R"(,
    {"name": "kids", "kind": "Repeat", )" +
           label("Kids") + R"(, "children": [)" + question("kid_age", "Integer") + R"(]}
  ]
})";
}

FormPtr loadJson(const std::string& json, const std::string& name) {
    auto check = compileFormJson(json, name);
    for (const auto& p : check.problems)
        MESSAGE(p.describe());
    REQUIRE(check.ok());
    auto form = CompiledForm::load(check.binary);
    REQUIRE_MESSAGE(form.ok(), form.error().describe());
    return form.value();
}

FormPtr pilot(const std::string& id) {
    std::string file = std::string(VELD_SOURCE_DIR) + "/schemas/forms/" + id + ".json";
    return loadJson(test::readFile(file), file);
}

ItemPath at(std::string name) {
    return ItemPath{std::move(name), {}};
}

Uuid uuidOf(const char* text) {
    auto id = Uuid::parse(text);
    REQUIRE(id);
    return *id;
}

CaseContext visitCase() {
    CaseContext c;
    c.id = uuidOf("0192f0c4-5a6b-7c8d-9e0f-112233445566");
    c.properties = {{"hours", "12"},         {"next_contact", "2026-01-05"},
                    {"site", "north"},       {"label", "Sam"},
                    {"rate", "3.50"},        {"sectors", "ict care"},
                    {"visit_time", "25:99"},  // does not fit a time: left out
                    {"agreed", "yes"},       {"visits", "4"},
                    {"arm", "ips"},          {"status", "open"}};
    return c;
}

std::vector<std::pair<std::string, std::string>> propertiesOf(const RecordContent& content) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!content.caseChange) return out;
    for (const auto& p : content.caseChange->properties) {
        CHECK(p.base.value == 0);  // the store fills it in
        out.emplace_back(p.name, p.value);
    }
    return out;
}

using Props = std::vector<std::pair<std::string, std::string>>;

}  // namespace

// ---- checks -----------------------------------------------------------------------------------

TEST_CASE("a form that follows up a case and randomises passes the checks") {
    auto check = compileFormJson(visitForm(), "case_visit.json");
    for (const auto& p : check.problems)
        MESSAGE(p.describe());
    CHECK(check.ok());
    CHECK(check.problems.empty());
    auto tree = describeForm(check.binary, "en");
    CHECK(tree.find("case: FollowUp participant hours=${hours} next_contact=${next_visit}") !=
          std::string::npos);
    CHECK(tree.find("randomisation: study trial strata site=${site} sex=${sex} when ${ready} = "
                    "'yes'") != std::string::npos);
}

TEST_CASE("every mistake in case settings and randomisation gives an error naming what is wrong") {
    struct Case {
        const char* mistake;
        const char* from;
        const char* to;
        const char* fragment;
        const char* item;
    };
    const Case cases[] = {
        {"an unknown case type", R"("case_type": "participant")", R"("case_type": "household")",
         "case_type 'household' is not one of participant, vacancy, school, employer", ""},
        {"a pseudonym question on a follow-up form", R"("case_type": "participant",)",
         R"("case_type": "participant", "pseudonym_question": "bsn",)",
         "pseudonym_question is only for a form that opens a case", ""},
        {"a pseudonym question that is not a pseudonym",
         R"("action": "FollowUp", "case_type": "participant",)",
         R"("action": "Open", "case_type": "participant", "pseudonym_question": "site",)",
         "pseudonym_question 'site' is a select one question, not a pseudonym question", "site"},
        {"a pseudonym question that does not exist",
         R"("action": "FollowUp", "case_type": "participant",)",
         R"("action": "Open", "case_type": "participant", "pseudonym_question": "nobody",)",
         "pseudonym_question 'nobody' is not a question of the form", ""},
        {"a property name that is not one", R"({"property": "hours")", R"({"property": "Hours")",
         "'Hours' is not a case property name", ""},
        {"a property name starting with a digit", R"({"property": "hours")",
         R"({"property": "9hours")", "'9hours' is not a case property name", ""},
        {"Veld's own property arm", R"({"property": "hours")", R"({"property": "arm")",
         "case property 'arm' is set by Veld itself", ""},
        {"Veld's own property status", R"({"property": "hours")", R"({"property": "status")",
         "case property 'status' is set by Veld itself", ""},
        {"a property set twice", R"({"property": "hours")", R"({"property": "site")",
         "case property 'site' is set twice", ""},
        {"an update from a question that does not exist", R"("question": "hours")",
         R"("question": "hourz")", "question 'hourz' is not a question of the form", ""},
        {"an update from a group", R"("question": "hours")", R"("question": "kids")",
         "question 'kids' is not a question of the form", ""},
        {"an update from a note", R"("question": "hours")", R"("question": "info")",
         "cannot be set from a note question", "info"},
        {"an update from a pseudonym", R"("question": "hours")", R"("question": "bsn")",
         "cannot be set from a pseudonym question", "bsn"},
        {"an update from a question in a repeat", R"("question": "hours")",
         R"("question": "kid_age")", "cannot be a question inside a repeat", "kid_age"},
        {"next_contact from something else than a date", R"("question": "next_visit")",
         R"("question": "rate")", "set it from a date question", "rate"},
        {"long text as a property", R"("max_length": 40)", R"("max_length": 5000)",
         "give the question a max_length of at most 1024", "nickname"},
        {"text of the default length as a property", R"(, "max_length": 40)", "",
         "give the question a max_length of at most 1024", "nickname"},
        {"updates without an action", R"("action": "FollowUp")", R"("action": "None")",
         "updates and pseudonym_question need an action", ""},
        {"${case.x} in a form that opens a case", R"("action": "FollowUp")", R"("action": "Open")",
         "relevance reads ${case.arm}, but only a form that follows up or closes a case", "extra"},
        {"${case.x} in a form without cases", R"("action": "FollowUp")", R"("action": "None")",
         "calculation reads ${case.visits}, but only a form that follows up or closes", "visits"},
        {"${case.x} with a name that is no property name", "${case.arm}", "${case.Arm}",
         "refers to ${case.Arm}, which is not a case property name", "extra"},
        {"${case.} without a name", "${case.arm}", "${case.}",
         "relevance: column 1: '${case.}' names no case property", "extra"},
        {"an item named like a case reference", R"("name": "info")", R"("name": "case.info")",
         "names starting with 'case.' are kept for case properties", "case.info"},
        {"randomisation in a form that closes a case", R"("action": "FollowUp")",
         R"("action": "Close")",
         "randomisation needs a case to randomise: the form's case_settings.action must be Open "
         "or FollowUp, not Close",
         ""},
        {"randomisation in a form without a case", R"("action": "FollowUp")", R"("action": "None")",
         "case_settings.action must be Open or FollowUp, not None", ""},
        {"a study that is not a name", R"("study": "trial")", R"("study": "1 trial")",
         "the study '1 trial' is not a valid name", ""},
        {"a when that does not parse", R"("when": "${ready} = 'yes'")", R"("when": "${ready} =")",
         "randomisation: when: column", ""},
        {"a when reading an unknown question", R"("when": "${ready} = 'yes'")",
         R"("when": "${readdy} = 'yes'")",
         "randomisation: when refers to ${readdy}, which is not in the form", ""},
        {"a when using '.'", R"("when": "${ready} = 'yes'")", R"("when": ". = 'yes'")",
         "only a constraint may use", ""},
        {"a factor from a question that is not select one",
         R"({"factor": "sex", "question": "sex"})", R"({"factor": "sex", "question": "sectors"})",
         "factor 'sex' needs a select one question (its choice is the level), not a select many",
         "sectors"},
        {"a factor from a question in a repeat", R"({"factor": "sex", "question": "sex"})",
         R"({"factor": "sex", "question": "kid_age"})", "cannot be a question inside a repeat",
         "kid_age"},
        {"a factor from a question that does not exist", R"({"factor": "sex", "question": "sex"})",
         R"({"factor": "sex", "question": "gender"})",
         "randomisation: factor 'sex': question 'gender' is not a question of the form", ""},
        {"a factor listed twice", R"({"factor": "sex", "question": "sex"})",
         R"({"factor": "site", "question": "sex"})", "the factor 'site' is listed twice", ""},
        {"a factor name that is not a name", R"({"factor": "sex", "question": "sex"})",
         R"({"factor": "s=x", "question": "sex"})", "the factor 's=x' is not a valid name", ""},
    };
    for (const auto& c : cases) {
        std::string mistake = c.mistake;
        CAPTURE(mistake);
        auto check = compileFormJson(replaced(visitForm(), c.from, c.to), "broken.json");
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
        CHECK(found->item == c.item);
        if (!std::string(c.item).empty()) CHECK_MESSAGE(found->line > 0, found->describe());
    }
}

TEST_CASE("an opening form may name its pseudonym question and leave the case type out") {
    std::string json = replaced(visitForm(), R"("action": "FollowUp", "case_type": "participant",)",
                                R"("action": "Open", "pseudonym_question": "bsn",)");
    // Open forms cannot read the case they are opening.
    json = replaced(json, R"(, "relevance": "${case.arm} = 'ips'")", "");
    json = replaced(json, "coalesce(${case.visits}, 0) + 1", "1");
    auto check = compileFormJson(json, "open.json");
    for (const auto& p : check.problems)
        MESSAGE(p.describe());
    CHECK(check.ok());
}

// ---- follow-up sessions -----------------------------------------------------------------------

TEST_CASE("a follow-up session starts from the case's values and changes only what was changed") {
    auto form = loadJson(visitForm(), "case_visit.json");
    const CaseContext c = visitCase();
    auto s = FormSession::start(form, "en", &c);
    CHECK(s.caseId() == c.id);

    // Prefilled from the case, over the form's default (hours 8), read as each question's type.
    CHECK(s.answer(at("hours")) == std::optional<AnswerValue>(std::int64_t{12}));
    CHECK(s.answer(at("next_visit")) == std::optional<AnswerValue>(DateAnswer{20458}));
    CHECK(s.answer(at("site")) == std::optional<AnswerValue>(ChoiceAnswer{"north", ""}));
    CHECK(s.answer(at("nickname")) == std::optional<AnswerValue>(std::string("Sam")));
    CHECK(s.answer(at("sectors")) ==
          std::optional<AnswerValue>(ChoicesAnswer{{"ict", "care"}, ""}));
    CHECK(s.answer(at("agreed")) == std::optional<AnswerValue>(true));
    auto rate = s.answer(at("rate"));
    REQUIRE(rate);
    CHECK(std::get<DecimalAnswer>(*rate).value == doctest::Approx(3.5));
    CHECK_FALSE(s.answer(at("visit_time")));  // "25:99" is no time
    // ${case.x} in a calculation and in relevance.
    CHECK(s.answer(at("visits")) == std::optional<AnswerValue>(std::int64_t{5}));
    CHECK(s.isVisible(at("extra")));

    // Nothing touched: the case changes only where a calculation says so (visits 4 -> 5).
    auto untouched = s.content();
    CHECK(untouched.caseId == c.id);
    REQUIRE(untouched.caseChange);
    CHECK(untouched.caseChange->action == CaseAction::FollowUp);
    CHECK(untouched.caseChange->pseudonym.empty());
    CHECK(propertiesOf(untouched) == Props{{"visits", "5"}});

    REQUIRE(s.setAnswer(at("hours"), std::int64_t{20}));
    REQUIRE(s.setAnswer(at("visit_time"), TimeAnswer{(9 * 60 + 30) * 60000}));
    REQUIRE(s.clearAnswer(at("nickname")));
    REQUIRE(s.setAnswer(at("extra"), std::int64_t{1}));
    CHECK(propertiesOf(s.content()) == Props{{"extra", "1"},
                                             {"hours", "20"},
                                             {"label", ""},  // cleared: the case loses it
                                             {"visit_time", "09:30"},
                                             {"visits", "5"}});
    // Back to the case's value: no change again.
    REQUIRE(s.setAnswer(at("hours"), std::int64_t{12}));
    REQUIRE(s.setAnswer(at("nickname"), std::string("Sam")));
    REQUIRE(s.setAnswer(at("sex"), ChoiceAnswer{"f", ""}));  // a required stratum question
    auto final = s.finalContent();
    REQUIRE_MESSAGE(final, (final ? "" : final.error().describe()));
    CHECK(propertiesOf(*final) == Props{{"extra", "1"}, {"visit_time", "09:30"}, {"visits", "5"}});
    CHECK(checkRecordContent(*final));
}

TEST_CASE("a follow-up question that is hidden at finalize leaves its property alone") {
    auto form = loadJson(visitForm(), "case_visit.json");
    CaseContext c = visitCase();
    auto s = FormSession::start(form, "en", &c);
    REQUIRE(s.setAnswer(at("sex"), ChoiceAnswer{"m", ""}));
    REQUIRE(s.setAnswer(at("extra"), std::int64_t{3}));
    CHECK(propertiesOf(*s.finalContent()) == Props{{"extra", "3"}, {"visits", "5"}});
    // The same answer while the case's arm hides the question.
    c.properties["arm"] = "usual_care";
    auto hidden = FormSession::open(form, s.content(), "en", &c);
    REQUIRE(hidden);
    CHECK_FALSE(hidden->isVisible(at("extra")));
    CHECK(propertiesOf(*hidden->finalContent()) == Props{{"visits", "5"}});
}

TEST_CASE("a reopened follow-up draft keeps its case and its changes, and no more") {
    auto form = loadJson(visitForm(), "case_visit.json");
    const CaseContext before = visitCase();
    auto s = FormSession::start(form, "en", &before);
    REQUIRE(s.setAnswer(at("hours"), std::int64_t{20}));
    const RecordContent draft = s.content();
    CHECK(propertiesOf(draft) == Props{{"hours", "20"}, {"visits", "5"}});

    // Meanwhile another device changed the case's label and hours.
    CaseContext now = before;
    now.properties["label"] = "Samira";
    now.properties["hours"] = "16";
    auto reopened = FormSession::open(form, draft, "en", &now);
    REQUIRE_MESSAGE(reopened, (reopened ? "" : reopened.error().describe()));
    CHECK(reopened->caseId() == before.id);
    // The draft's answers stay as they were; the untouched label does not undo the other
    // device's change, and the changed hours stay a change.
    CHECK(reopened->answer(at("nickname")) == std::optional<AnswerValue>(std::string("Sam")));
    CHECK(reopened->content() == draft);
    // Setting hours to the case's current value is no change any more.
    REQUIRE(reopened->setAnswer(at("hours"), std::int64_t{16}));
    CHECK(propertiesOf(reopened->content()) == Props{{"visits", "5"}});

    // Without the case at hand the draft still knows what it changed and what it did not
    // (though ${case.visits} now reads empty).
    auto alone = FormSession::open(form, draft, "en");
    REQUIRE(alone);
    CHECK(alone->caseId() == before.id);
    CHECK(propertiesOf(alone->content()) == Props{{"hours", "20"}, {"visits", "1"}});

    // A draft belongs to its case.
    CaseContext other = before;
    other.id = uuidOf("0192f0c4-5a6b-7c8d-9e0f-aabbccddeeff");
    auto wrong = FormSession::open(form, draft, "en", &other);
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == ErrorCode::WrongState);
}

TEST_CASE("a follow-up property the case lacks is set once answered") {
    auto form = loadJson(visitForm(), "case_visit.json");
    CaseContext c;
    c.id = uuidOf("0192f0c4-5a6b-7c8d-9e0f-112233445566");
    auto s = FormSession::start(form, "en", &c);
    // The form's default stands in for the missing property, and counts as the record's answer.
    CHECK(s.answer(at("hours")) == std::optional<AnswerValue>(std::int64_t{8}));
    CHECK_FALSE(s.isVisible(at("extra")));  // no arm
    REQUIRE(s.setAnswer(at("site"), ChoiceAnswer{"south", ""}));
    CHECK(propertiesOf(s.content()) == Props{{"hours", "8"}, {"site", "south"}, {"visits", "1"}});
}

// ---- opening sessions -------------------------------------------------------------------------

TEST_CASE("an opening session makes a new case with its pseudonym and every answered property") {
    std::string json = replaced(visitForm(), R"("action": "FollowUp", "case_type": "participant",)",
                                R"("action": "Open", "pseudonym_question": "bsn",)");
    json = replaced(json, R"(, "relevance": "${case.arm} = 'ips'")", "");
    json = replaced(json, "coalesce(${case.visits}, 0) + 1", "1");
    auto form = loadJson(json, "open.json");

    auto s = FormSession::start(form, "en");
    REQUIRE(s.caseId());
    CHECK(s.caseId()->version() == 7);
    CHECK(FormSession::start(form, "en").caseId() != s.caseId());

    REQUIRE(
        s.setAnswer(at("bsn"), PseudonymAnswer{std::vector<std::uint8_t>(32, 0xab), "k1", "bsn"}));
    REQUIRE(s.setAnswer(at("site"), ChoiceAnswer{"north", ""}));
    REQUIRE(s.setAnswer(at("rate"), DecimalAnswer{2.25, "2.25"}));
    REQUIRE(s.setAnswer(at("agreed"), false));
    REQUIRE(s.setAnswer(at("next_visit"), DateAnswer{20458}));
    REQUIRE(s.setAnswer(at("sectors"), ChoicesAnswer{{"care", "ict"}, ""}));
    auto content = s.content();
    CHECK(content.caseId == s.caseId());
    REQUIRE(content.caseChange);
    CHECK(content.caseChange->action == CaseAction::Open);
    CHECK(content.caseChange->caseType == "participant");
    std::string hex;
    for (int i = 0; i < 32; ++i)
        hex += "ab";
    CHECK(content.caseChange->pseudonym == "k1:" + hex);
    CHECK(propertiesOf(content) == Props{{"agreed", "no"},
                                         {"hours", "8"},
                                         {"next_contact", "2026-01-05"},
                                         {"rate", "2.25"},
                                         {"sectors", "care ict"},
                                         {"site", "north"},
                                         {"visits", "1"}});

    // The draft reopens with its case id and the same case change.
    auto reopened = FormSession::open(form, content, "en");
    REQUIRE(reopened);
    CHECK(reopened->caseId() == s.caseId());
    CHECK(reopened->content() == content);

    // A case id handed in is used instead of a new one.
    CaseContext given;
    given.id = uuidOf("0192f0c4-5a6b-7c8d-9e0f-112233445566");
    CHECK(FormSession::start(form, "en", &given).caseId() == given.id);
}

TEST_CASE("the text a case property gets from each kind of answer") {
    CHECK(casePropertyText(std::string("Sam")) == "Sam");
    CHECK(casePropertyText(std::int64_t{-12}) == "-12");
    CHECK(casePropertyText(DecimalAnswer{2.5, "2.50"}) == "2.50");
    CHECK(casePropertyText(true) == "yes");
    CHECK(casePropertyText(false) == "no");
    CHECK(casePropertyText(ChoiceAnswer{"other", "a boat"}) == "other");
    CHECK(casePropertyText(ChoicesAnswer{{"b", "a"}, ""}) == "b a");
    CHECK(casePropertyText(DateAnswer{0}) == "1970-01-01");
    CHECK(casePropertyText(TimeAnswer{(23 * 60 + 5) * 60000 + 59000}) == "23:05");
}

// ---- randomisation ----------------------------------------------------------------------------

TEST_CASE("a randomising form asks for an allocation in the stratum of its answers when due") {
    auto form = loadJson(visitForm(), "case_visit.json");
    const CaseContext c = visitCase();
    auto s = FormSession::start(form, "en", &c);
    REQUIRE(s.setAnswer(at("sex"), ChoiceAnswer{"f", ""}));
    // `when` is false while ready is unanswered.
    CHECK_FALSE(s.pendingAllocation());
    CHECK_FALSE(s.content().allocate);
    REQUIRE(s.setAnswer(at("ready"), ChoiceAnswer{"yes", ""}));
    const AllocationRequest expected{"trial", "site=north;sex=f"};
    CHECK(s.pendingAllocation() == expected);
    CHECK(s.content().allocate == expected);
    auto final = s.finalContent();
    REQUIRE(final);
    CHECK(final->allocate == expected);
    // The stratum follows the answers.
    REQUIRE(s.setAnswer(at("site"), ChoiceAnswer{"south", ""}));
    CHECK(s.pendingAllocation() == AllocationRequest{"trial", "site=south;sex=f"});
    // An unanswered factor: no allocation (the form should make it required).
    REQUIRE(s.clearAnswer(at("sex")));
    CHECK_FALSE(s.pendingAllocation());
    REQUIRE(s.setAnswer(at("sex"), ChoiceAnswer{"m", ""}));
    REQUIRE(s.setAnswer(at("ready"), ChoiceAnswer{"no", ""}));
    CHECK_FALSE(s.pendingAllocation());
    CHECK_FALSE(s.finalContent()->allocate);
    // Without a case there is nothing to randomise.
    auto noCase = FormSession::start(form, "en");
    REQUIRE(noCase.setAnswer(at("site"), ChoiceAnswer{"north", ""}));
    REQUIRE(noCase.setAnswer(at("sex"), ChoiceAnswer{"m", ""}));
    REQUIRE(noCase.setAnswer(at("ready"), ChoiceAnswer{"yes", ""}));
    CHECK_FALSE(noCase.caseId());
    CHECK_FALSE(noCase.pendingAllocation());
    CHECK_FALSE(noCase.content().caseChange);
}

// ---- the IPS pilot ----------------------------------------------------------------------------

TEST_CASE("ips intake: a filled-in intake opens the case and randomises eligible participants") {
    auto form = pilot("ips_intake");
    auto s = FormSession::start(form, "nl");
    REQUIRE(s.caseId());
    auto key = pseudonym::parseKey("demo:" + std::string(64, '1'));
    REQUIRE(key);
    auto bsn = pseudonym::normalize(fb::IdentifierScheme::Bsn, "111222333");
    REQUIRE(bsn);
    const PseudonymAnswer digest = pseudonym::make(*key, fb::IdentifierScheme::Bsn, *bsn);
    auto set = [&](const char* name, AnswerValue v) {
        CAPTURE(name);
        REQUIRE(s.setAnswer(at(name), std::move(v)));
    };
    auto choose = [&](const char* name, const char* choice) {
        set(name, ChoiceAnswer{choice, ""});
    };
    set("intake_date", DateAnswer{20400});
    set("consent", true);
    set("participant_bsn", digest);
    set("participant_label", std::string("S.K."));
    choose("municipality", "amersfoort");
    choose("gender", "vrouw");
    choose("age_group", "age_35_44");
    choose("benefit_type", "social_assistance");
    choose("unemployment_duration", "two_to_five_years");
    choose("education_level", "mbo_2_4");
    choose("wants_work", "yes");
    choose("other_programme", "yes");
    CHECK(s.answer(at("eligible")) == std::optional<AnswerValue>(std::string("no")));
    CHECK_FALSE(s.pendingAllocation());
    choose("other_programme", "no");
    CHECK(s.answer(at("eligible")) == std::optional<AnswerValue>(std::string("yes")));
    CHECK(s.pendingAllocation() ==
          AllocationRequest{"ips", "municipality=amersfoort;gender=vrouw"});
    choose("work_goal", "regular_job");
    set("desired_hours", std::int64_t{24});
    set("preferred_sectors", ChoicesAnswer{{"healthcare"}, ""});
    set("work_preferences", ChoicesAnswer{{"part_time"}, ""});
    choose("disclosure_preference", "partial");
    for (const char* wb : {"wb_cheerful", "wb_energetic", "wb_rested", "wb_tense", "wb_lonely",
                           "wb_in_control", "wb_hopeful"})
        choose(wb, "sometimes");
    auto final = s.finalContent();
    REQUIRE_MESSAGE(final, (final ? "" : final.error().describe()));
    CHECK(final->caseId == s.caseId());
    REQUIRE(final->caseChange);
    CHECK(final->caseChange->action == CaseAction::Open);
    CHECK(final->caseChange->caseType == "participant");
    CHECK(final->caseChange->pseudonym == "demo:" + toHex(digest.digest));
    CHECK(propertiesOf(*final) == Props{{"age_group", "age_35_44"},
                                        {"eligible", "yes"},
                                        {"gender", "vrouw"},
                                        {"intake_date", "2025-11-08"},
                                        {"label", "S.K."},
                                        {"municipality", "amersfoort"}});
    CHECK(final->allocate == AllocationRequest{"ips", "municipality=amersfoort;gender=vrouw"});
    CHECK(checkRecordContent(*final));
}

TEST_CASE("ips session: the case's arm decides what a contact records") {
    auto form = pilot("ips_session");
    CaseContext c;
    c.id = uuidOf("0192f0c4-5a6b-7c8d-9e0f-112233445566");
    c.properties = {{"arm", "usual_care"}, {"next_contact", "2025-11-20"}};
    auto control = FormSession::start(form, "en", &c);
    CHECK(control.isVisible(at("arm_usual_care_note")));
    CHECK_FALSE(control.isVisible(at("arm_ips_note")));
    CHECK(control.answer(at("next_contact")) == std::optional<AnswerValue>(DateAnswer{20412}));
    REQUIRE(control.setAnswer(at("session_type"), ChoiceAnswer{"guidance", ""}));
    REQUIRE(control.problem(at("session_type")));
    CHECK(control.problem(at("session_type"))->kind == SessionProblem::Kind::Constraint);

    c.properties["arm"] = "ips";
    auto ips = FormSession::start(form, "en", &c);
    REQUIRE(ips.setAnswer(at("session_date"), DateAnswer{20410}));
    REQUIRE(ips.setAnswer(at("session_type"), ChoiceAnswer{"guidance", ""}));
    REQUIRE(ips.setAnswer(at("consent"), true));
    CHECK_FALSE(ips.problem(at("session_type")));
    CHECK(ips.isVisible(at("session")));
    CHECK_FALSE(ips.isVisible(at("wellbeing")));
    CHECK(propertiesOf(ips.content()).empty());
    REQUIRE(ips.setAnswer(at("next_contact"), DateAnswer{20424}));
    CHECK(propertiesOf(ips.content()) == Props{{"next_contact", "2025-12-02"}});
    CHECK(ips.content().caseChange->action == CaseAction::FollowUp);
}

TEST_CASE("ips placement: the placement closes the case with its details") {
    auto form = pilot("ips_placement");
    CaseContext c;
    c.id = uuidOf("0192f0c4-5a6b-7c8d-9e0f-112233445566");
    c.properties = {{"arm", "usual_care"}};
    auto s = FormSession::start(form, "en", &c);
    REQUIRE(s.setAnswer(at("placement_contact_date"), DateAnswer{20410}));
    REQUIRE(s.setAnswer(at("consent"), true));
    REQUIRE(s.setAnswer(at("placement_sector"), ChoiceAnswer{"healthcare", ""}));
    REQUIRE(s.setAnswer(at("placement_start_date"), DateAnswer{20420}));
    REQUIRE(s.setAnswer(at("placement_hours"), DecimalAnswer{24, "24"}));
    REQUIRE(s.setAnswer(at("placement_contract"), ChoiceAnswer{"temporary", ""}));
    REQUIRE(s.setAnswer(at("wage_type"), ChoiceAnswer{"regular_wage", ""}));
    REQUIRE(s.setAnswer(at("follow_up_support"), ChoiceAnswer{"specialist", ""}));
    // Only the IPS group has an IPS specialist.
    REQUIRE(s.problem(at("follow_up_support")));
    REQUIRE(s.setAnswer(at("follow_up_support"), ChoiceAnswer{"job_coach", ""}));
    auto final = s.finalContent();
    REQUIRE_MESSAGE(final, (final ? "" : final.error().describe()));
    REQUIRE(final->caseChange);
    CHECK(final->caseChange->action == CaseAction::Close);
    CHECK(propertiesOf(*final) == Props{{"contract_type", "temporary"},
                                        {"placement_date", "2025-11-28"},
                                        {"placement_hours", "24"},
                                        {"placement_sector", "healthcare"}});
    CHECK_FALSE(final->allocate);
}

TEST_CASE("a case context is made from the store's view of a case") {
    CaseInfo info;
    info.id = uuidOf("0192f0c4-5a6b-7c8d-9e0f-112233445566");
    info.properties = {{"arm", "ips", HlcTimestamp{5}}, {"label", "S.K.", HlcTimestamp{3}}};
    auto c = CaseContext::of(info);
    CHECK(c.id == info.id);
    CHECK(c.properties ==
          std::map<std::string, std::string, std::less<>>{{"arm", "ips"}, {"label", "S.K."}});
}

TEST_CASE("a follow-up's changes name the case's values as they were when the form started") {
    auto form = loadJson(visitForm(), "case_visit.json");
    CaseContext started = visitCase();
    started.clocks = {{"hours", HlcTimestamp{1000}}, {"visits", HlcTimestamp{2000}}};
    auto s = FormSession::start(form, "en", &started);
    REQUIRE(s.setAnswer(at("hours"), std::int64_t{20}));
    auto content = s.content();
    REQUIRE(content.caseChange);
    CHECK(content.caseChange->basesKnown);
    for (const auto& p : content.caseChange->properties) {
        CAPTURE(p.name);
        if (p.name == "hours") CHECK(p.base == HlcTimestamp{1000});
        if (p.name == "visits") CHECK(p.base == HlcTimestamp{2000});
    }

    // Reopened after another device's hours arrived, the draft still changes the hours it saw
    // (so the collector sees two concurrent changes, not one replacing the other).
    CaseContext later = started;
    later.properties["hours"] = "16";
    later.clocks["hours"] = HlcTimestamp{5000};
    auto reopened = FormSession::open(form, content, "en", &later);
    REQUIRE(reopened);
    auto again = reopened->content();
    REQUIRE(again.caseChange);
    bool sawHours = false;
    for (const auto& p : again.caseChange->properties) {
        if (p.name != "hours") continue;
        sawHours = true;
        CHECK(p.value == "20");
        CHECK(p.base == HlcTimestamp{1000});
    }
    CHECK(sawHours);
}

TEST_CASE("a randomising form needs required, always shown strata questions, and no kiosk") {
    const std::string base = visitForm();
    const auto errorsOf = [](const std::string& json) {
        std::string all;
        for (const auto& p : compileFormJson(json, "case_visit.json").problems)
            all += p.describe() + "\n";
        return all;
    };
    CHECK(errorsOf(base).empty());
    std::string optional = base;
    const std::string required = R"("choice_list": "sexes", "required": true)";
    optional.replace(optional.find(required), required.size(), R"("choice_list": "sexes")");
    CHECK(errorsOf(optional).find("factor 'sex': its question must be required and always shown") !=
          std::string::npos);
    std::string kiosk = base;
    const std::string settings = R"("settings": {)";
    kiosk.replace(kiosk.find(settings), settings.size(), R"("settings": {"kiosk": true, )");
    const auto kioskErrors = errorsOf(kiosk);
    CHECK(kioskErrors.find("a kiosk form cannot randomise") != std::string::npos);
    CHECK(kioskErrors.find("a kiosk form cannot work with cases") != std::string::npos);
}
