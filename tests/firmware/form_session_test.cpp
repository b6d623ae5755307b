#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <doctest/doctest.h>

#include <veld/expression.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;
using namespace veld::forms;

namespace {

using Kind = SessionProblem::Kind;
using FormPtr = std::shared_ptr<const CompiledForm>;

FormPtr loadJson(const std::string& json, const std::string& name) {
    auto check = compileFormJson(json, name);
    for (const auto& p : check.problems)
        MESSAGE(p.describe());
    REQUIRE(check.ok());
    auto form = CompiledForm::load(check.binary);
    REQUIRE_MESSAGE(form.ok(), form.error().describe());
    return form.value();
}

FormPtr minimalForm() {
    return loadJson(
        test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json"),
        "valid_minimal.json");
}

std::string label(const std::string& text) {
    return R"("labels": [{"lang": "en", "text": ")" + text + R"("}])";
}

// A small form with what valid_minimal lacks: patterns, lengths, consent, nested repeats with
// min_count and position(..), defaults and an 'other' choice.
FormPtr inlineForm() {
    std::string json = R"j({
  "id": "inline", "version": 3, "default_language": "en",
  "languages": [{"tag": "en", "name": "English"}],
  "titles": [{"lang": "en", "text": "Inline"}],
  "choice_lists": [
    {"name": "pets", "choices": [
      {"name": "cat", )j" +
                       label("Cat") +
                       R"j(},
      {"name": "dog", )j" +
                       label("Dog") +
                       R"j(},
      {"name": "other", "is_other": true, )j" +
                       label("Other") + R"j(}]}
  ],
  "items": [
    {"name": "code", "kind": "Question", "type": "Text", "pattern": "[A-Z]{2}[0-9]{2}", )j" +
                       label("Code") + R"j(},
    {"name": "nickname", "kind": "Question", "type": "Text", "pattern": "[a-z']+", )j" +
                       label("Nickname") + R"j(},
    {"name": "remark", "kind": "Question", "type": "Text", "max_length": 5, )j" +
                       label("Remark") + R"j(},
    {"name": "agree", "kind": "Question", "type": "Consent", "required": true, )j" +
                       label("Agree") + R"j(},
    {"name": "newsletter", "kind": "Question", "type": "Consent", )j" +
                       label("Newsletter") + R"j(},
    {"name": "pet", "kind": "Question", "type": "SelectOne", "choice_list": "pets",
     "default_value": "dog", )j" +
                       label("Pet") + R"j(},
    {"name": "pets_seen", "kind": "Question", "type": "SelectMany", "choice_list": "pets", )j" +
                       label("Pets seen") + R"j(},
    {"name": "started", "kind": "Question", "type": "Date", "default_value": "2024-02-29", )j" +
                       label("Started") + R"j(},
    {"name": "first_kid_age", "kind": "Question", "type": "Integer", "read_only": true,
     "calculation": "indexed-repeat(${kid_age}, ${kids}, 1)", )j" +
                       label("First kid age") + R"j(},
    {"name": "shout", "kind": "Question", "type": "Text", "relevance": "${newsletter} = true()", )j" +
                       label("Shout") + R"j(},
    {"name": "shout_copy", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "${shout}", )j" +
                       label("Copy") + R"j(},
    {"name": "kids", "kind": "Repeat", "min_count": 1, "max_count": 3, )j" +
                       label("Kids") + R"j(,
     "children": [
       {"name": "kid_no", "kind": "Question", "type": "Integer", "read_only": true,
        "calculation": "position(..)", )j" +
                       label("Number") + R"j(},
       {"name": "kid_rank", "kind": "Question", "type": "Integer", "constraint": ". = position(..)",
        "constraint_messages": [{"lang": "en", "text": "Use the position"}], )j" +
                       label("Rank") + R"j(},
       {"name": "kid_age", "kind": "Question", "type": "Integer", "default_value": "7", )j" +
                       label("Age") + R"j(},
       {"name": "toys", "kind": "Repeat", )j" +
                       label("Toys") + R"j(,
        "children": [
          {"name": "owner_age", "kind": "Question", "type": "Decimal", "read_only": true,
           "calculation": "${kid_age} + position(..) div 10", )j" +
                       label("Owner age") + R"j(}
        ]}
     ]}
  ]
})j";
    return loadJson(json, "inline.json");
}

ItemPath at(std::string name, std::vector<std::size_t> instances = {}) {
    return ItemPath{std::move(name), std::move(instances)};
}

class Clock final : public expr::Context {
  public:
    [[nodiscard]] expr::Value answer(std::string_view) const override { return {}; }
};

std::int32_t today() {
    return Clock().today().days;
}

std::vector<Kind> kindsOf(const std::vector<SessionProblem>& problems) {
    std::vector<Kind> out;
    for (const auto& p : problems)
        out.push_back(p.kind);
    return out;
}

const Answer* findAnswer(const std::vector<Answer>& answers, const std::string& name) {
    for (const auto& a : answers) {
        if (a.name == name) return &a;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("session: skip logic shows and hides questions and repeats as answers change") {
    auto s = FormSession::start(minimalForm());
    CHECK(s.isVisible(at("age")));
    CHECK_FALSE(s.isVisible(at("works")));
    REQUIRE(s.setAnswer(at("age"), std::int64_t{15}));
    CHECK_FALSE(s.isVisible(at("works")));
    REQUIRE(s.setAnswer(at("age"), std::int64_t{16}));
    CHECK(s.isVisible(at("works")));
    CHECK_FALSE(s.isVisible(at("jobs")));
    REQUIRE(s.setAnswer(at("works"), ChoiceAnswer{"yes", ""}));
    CHECK(s.isVisible(at("jobs")));
    REQUIRE(s.addRepeatInstance(at("jobs")).ok());
    CHECK(s.isVisible(at("hours", {0})));
    CHECK_FALSE(s.isVisible(at("hours", {1})));  // no such instance
    REQUIRE(s.setAnswer(at("works"), ChoiceAnswer{"no", ""}));
    CHECK_FALSE(s.isVisible(at("jobs")));
    CHECK_FALSE(s.isVisible(at("hours", {0})));
    // A hidden item never has a problem, even a wrong one.
    REQUIRE(s.setAnswer(at("hours", {0}), DecimalAnswer{99, "99"}));
    CHECK_FALSE(s.problem(at("hours", {0})));
    REQUIRE(s.setAnswer(at("works"), ChoiceAnswer{"yes", ""}));
    REQUIRE(s.problem(at("hours", {0})));
    CHECK(s.problem(at("hours", {0}))->kind == Kind::OutOfRange);
    // Two steps away: age hides works, whose kept answer then reads as empty, which hides the
    // repeat, although works itself was not touched (regression: cached relevance must follow).
    CHECK(s.isVisible(at("jobs")));
    REQUIRE(s.setAnswer(at("age"), std::int64_t{10}));
    CHECK_FALSE(s.isVisible(at("works")));
    CHECK_FALSE(s.isVisible(at("jobs")));
    CHECK_FALSE(s.isVisible(at("hours", {0})));
    REQUIRE(s.setAnswer(at("age"), std::int64_t{40}));
    CHECK(s.isVisible(at("jobs")));
    CHECK(s.isVisible(at("hours", {0})));
}

TEST_CASE("session: a calculation follows its question, clears with it and ignores the rest") {
    auto s = FormSession::start(minimalForm());
    CHECK_FALSE(s.answer(at("age_next_year")));
    REQUIRE(s.setAnswer(at("age"), std::int64_t{40}));
    CHECK(s.answer(at("age_next_year")) == AnswerValue{std::int64_t{41}});
    REQUIRE(s.setAnswer(at("visit_date"), DateAnswer{today() - 1}));
    CHECK(s.answer(at("age_next_year")) == AnswerValue{std::int64_t{41}});
    CHECK(s.isReadOnly(at("age_next_year")));
    CHECK_FALSE(s.isReadOnly(at("age")));
    REQUIRE(s.clearAnswer(at("age")));
    CHECK_FALSE(s.answer(at("age_next_year")));
    // Calculated items are not asked, so they do not count towards progress.
    auto p = s.progress();
    CHECK(p.total == 2);  // visit_date and age; works is hidden
    CHECK(p.answered == 1);
}

TEST_CASE("session: a calculation reads a question that becomes hidden as empty") {
    auto s = FormSession::start(inlineForm());
    REQUIRE(s.setAnswer(at("newsletter"), true));
    REQUIRE(s.setAnswer(at("shout"), std::string("hi")));
    CHECK(s.answer(at("shout_copy")) == AnswerValue{std::string("hi")});
    // Only the relevance of `shout` changes; the calculation must follow all the same.
    REQUIRE(s.setAnswer(at("newsletter"), false));
    CHECK_FALSE(s.isVisible(at("shout")));
    CHECK(s.answer(at("shout")) == AnswerValue{std::string("hi")});  // kept for going back
    CHECK_FALSE(s.answer(at("shout_copy")));
    REQUIRE(s.setAnswer(at("newsletter"), true));
    CHECK(s.answer(at("shout_copy")) == AnswerValue{std::string("hi")});
}

TEST_CASE("session: calculations inside repeats use their own instance and position") {
    auto s = FormSession::start(inlineForm());
    REQUIRE(s.addRepeatInstance(at("kids")).value() == 0);
    REQUIRE(s.addRepeatInstance(at("kids")).value() == 1);
    CHECK(s.answer(at("kid_no", {0})) == AnswerValue{std::int64_t{1}});
    CHECK(s.answer(at("kid_no", {1})) == AnswerValue{std::int64_t{2}});
    // Defaults fill each new instance.
    CHECK(s.answer(at("kid_age", {1})) == AnswerValue{std::int64_t{7}});
    // The first instance's answer, read from outside the repeat.
    CHECK(s.answer(at("first_kid_age")) == AnswerValue{std::int64_t{7}});
    // A nested repeat reads the enclosing instance's answer.
    REQUIRE(s.setAnswer(at("kid_age", {1}), std::int64_t{9}));
    REQUIRE(s.addRepeatInstance(at("toys", {1})).value() == 0);
    REQUIRE(s.addRepeatInstance(at("toys", {1})).value() == 1);
    CHECK(s.answer(at("owner_age", {1, 1})) == AnswerValue{DecimalAnswer{9.2, "9.2"}});
    REQUIRE(s.setAnswer(at("kid_age", {0}), std::int64_t{3}));
    CHECK(s.answer(at("owner_age", {1, 0})) == AnswerValue{DecimalAnswer{9.1, "9.1"}});
    CHECK(s.answer(at("first_kid_age")) == AnswerValue{std::int64_t{3}});
    // position(..) in a constraint.
    REQUIRE(s.setAnswer(at("kid_rank", {1}), std::int64_t{2}));
    CHECK_FALSE(s.problem(at("kid_rank", {1})));
    REQUIRE(s.setAnswer(at("kid_rank", {0}), std::int64_t{2}));
    REQUIRE(s.problem(at("kid_rank", {0})));
    CHECK(s.problem(at("kid_rank", {0}))->message == "Use the position");
    // Removing the first instance moves the second down, and positions follow.
    REQUIRE(s.removeRepeatInstance(at("kids"), 0));
    CHECK(s.repeatCount(at("kids")) == 1);
    CHECK(s.answer(at("kid_no", {0})) == AnswerValue{std::int64_t{1}});
    CHECK(s.answer(at("kid_age", {0})) == AnswerValue{std::int64_t{9}});
    CHECK(s.repeatCount(at("toys", {0})) == 2);
    CHECK(s.answer(at("first_kid_age")) == AnswerValue{std::int64_t{9}});
    REQUIRE(s.problem(at("kid_rank", {0})));
    CHECK(s.problem(at("kid_rank", {0}))->kind == Kind::Constraint);
}

TEST_CASE("session: each kind of problem is reported where it applies") {
    SUBCASE("valid_minimal: required, out of range and a constraint message per language") {
        auto form = minimalForm();
        auto nl = FormSession::start(form);
        CHECK(nl.language() == "nl");
        auto problems = nl.problems();
        REQUIRE(problems.size() == 1);
        CHECK(problems[0].path == at("visit_date"));
        CHECK(problems[0].kind == Kind::Required);
        REQUIRE(nl.setAnswer(at("visit_date"), DateAnswer{today() + 1}));
        REQUIRE(nl.problem(at("visit_date")));
        CHECK(nl.problem(at("visit_date"))->kind == Kind::Constraint);
        CHECK(nl.problem(at("visit_date"))->message == "Niet in de toekomst");
        auto en = FormSession::start(form, "en");
        REQUIRE(en.setAnswer(at("visit_date"), DateAnswer{today() + 1}));
        CHECK(en.problem(at("visit_date"))->message == "Not in the future");
        // A language without messages falls back to the default one.
        auto ar = FormSession::start(form, "ar");
        REQUIRE(ar.setAnswer(at("visit_date"), DateAnswer{today() + 1}));
        CHECK(ar.problem(at("visit_date"))->message == "Niet in de toekomst");
        REQUIRE(en.setAnswer(at("visit_date"), DateAnswer{today()}));
        CHECK_FALSE(en.problem(at("visit_date")));
        REQUIRE(en.setAnswer(at("age"), std::int64_t{121}));
        CHECK(en.problem(at("age"))->kind == Kind::OutOfRange);
        REQUIRE(en.setAnswer(at("age"), std::int64_t{-1}));
        CHECK(en.problem(at("age"))->kind == Kind::OutOfRange);
        REQUIRE(en.setAnswer(at("age"), std::int64_t{120}));
        CHECK(en.problems().empty());
    }
    SUBCASE("inline: pattern, length, consent and repeat count") {
        auto s = FormSession::start(inlineForm());
        CHECK(kindsOf(s.problems()) ==
              std::vector<Kind>{Kind::ConsentNeeded, Kind::TooFewInstances});
        CHECK(s.problems()[1].path == at("kids"));
        struct Case {
            const char* item;
            const char* text;
            std::optional<Kind> expected;
        };
        const Case cases[] = {
            {"code", "AB12", std::nullopt},
            {"code", "AB123", Kind::Pattern},  // the pattern must match the whole text
            {"code", "xAB12", Kind::Pattern},
            {"nickname", "o'neill", std::nullopt},  // a pattern with a quote in it
            {"nickname", "O'Neill", Kind::Pattern},
            {"remark", "12345", std::nullopt},
            {"remark", "123456", Kind::TooLong},
            {"remark", "ééééé", std::nullopt},  // characters, not bytes
        };
        for (const auto& c : cases) {
            CAPTURE(c.item);
            CAPTURE(c.text);
            REQUIRE(s.setAnswer(at(c.item), std::string(c.text)));
            auto p = s.problem(at(c.item));
            CHECK(p.has_value() == c.expected.has_value());
            if (p && c.expected) CHECK(p->kind == *c.expected);
        }
        REQUIRE(s.setAnswer(at("agree"), false));
        CHECK(s.problem(at("agree"))->kind == Kind::ConsentNeeded);
        REQUIRE(s.setAnswer(at("agree"), true));
        CHECK_FALSE(s.problem(at("agree")));
        CHECK_FALSE(s.problem(at("newsletter")));  // not required and not answered
        REQUIRE(s.setAnswer(at("newsletter"), false));
        CHECK(s.problem(at("newsletter"))->kind == Kind::ConsentNeeded);
        REQUIRE(s.clearAnswer(at("newsletter")));
        REQUIRE(s.clearAnswer(at("remark")));
        REQUIRE(s.setAnswer(at("code"), std::string("AB12")));
        REQUIRE(s.setAnswer(at("nickname"), std::string("bo")));
        REQUIRE(s.addRepeatInstance(at("kids")));
        CHECK(s.problems().empty());
    }
}

TEST_CASE("session: defaults are applied when a record starts") {
    auto s = FormSession::start(inlineForm());
    CHECK(s.answer(at("pet")) == AnswerValue{ChoiceAnswer{"dog", ""}});
    CHECK(s.answer(at("started")) == AnswerValue{DateAnswer{19782}});  // 2024-02-29
}

TEST_CASE("session: answers that do not fit their question are refused") {
    auto s = FormSession::start(inlineForm());
    REQUIRE(s.addRepeatInstance(at("kids")));
    struct Case {
        const char* what;
        ItemPath path;
        AnswerValue value;
        ErrorCode code;
    };
    const Case cases[] = {
        {"unknown item", at("nope"), std::string("x"), ErrorCode::InvalidArgument},
        {"wrong type", at("code"), std::int64_t{1}, ErrorCode::InvalidArgument},
        {"consent as text", at("agree"), std::string("yes"), ErrorCode::InvalidArgument},
        {"choice not in list", at("pet"), ChoiceAnswer{"horse", ""}, ErrorCode::InvalidArgument},
        {"other text on a plain choice", at("pet"), ChoiceAnswer{"cat", "tabby"},
         ErrorCode::InvalidArgument},
        {"choice twice", at("pets_seen"), ChoicesAnswer{{"cat", "cat"}, ""},
         ErrorCode::InvalidArgument},
        {"one of many not in list", at("pets_seen"), ChoicesAnswer{{"cat", "horse"}, ""},
         ErrorCode::InvalidArgument},
        {"calculated item", at("kid_no", {0}), std::int64_t{1}, ErrorCode::InvalidArgument},
        {"read-only calculated top item", at("first_kid_age"), std::int64_t{1},
         ErrorCode::InvalidArgument},
        {"a repeat", at("kids"), std::string("x"), ErrorCode::InvalidArgument},
        {"missing instance", at("kid_age", {1}), std::int64_t{1}, ErrorCode::NotFound},
        {"missing nested instance", at("owner_age", {0, 0}), DecimalAnswer{1, "1"},
         ErrorCode::NotFound},
        {"too few instance indices", at("kid_age"), std::int64_t{1}, ErrorCode::InvalidArgument},
        {"too many instance indices", at("code", {0}), std::string("AB12"),
         ErrorCode::InvalidArgument},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        Status st = s.setAnswer(c.path, c.value);
        REQUIRE_FALSE(st.ok());
        CHECK(st.error().code == c.code);
    }
    // What fits is taken, including the text of an 'other' choice.
    CHECK(s.setAnswer(at("pet"), ChoiceAnswer{"other", "hamster"}));
    CHECK(s.setAnswer(at("pets_seen"), ChoicesAnswer{{"other", "cat"}, "hamster"}));
    CHECK(s.setAnswer(at("kid_age", {0}), std::int64_t{4}));
    // An empty text clears the answer, as '' is unanswered in XLSForm.
    REQUIRE(s.setAnswer(at("code"), std::string("AB12")));
    REQUIRE(s.setAnswer(at("code"), std::string()));
    CHECK_FALSE(s.answer(at("code")));
}

TEST_CASE("session: repeats grow up to max_count and close the gap when one is removed") {
    auto s = FormSession::start(minimalForm());
    for (std::size_t i = 0; i < 5; ++i) {
        auto added = s.addRepeatInstance(at("jobs"));
        REQUIRE(added.ok());
        CHECK(added.value() == i);
        REQUIRE(s.setAnswer(at("hours", {i}), DecimalAnswer{double(i), std::to_string(i)}));
    }
    auto full = s.addRepeatInstance(at("jobs"));
    REQUIRE_FALSE(full.ok());
    CHECK(full.error().code == ErrorCode::WrongState);
    REQUIRE(s.removeRepeatInstance(at("jobs"), 1));
    CHECK(s.repeatCount(at("jobs")) == 4);
    CHECK(s.answer(at("hours", {1})) == AnswerValue{DecimalAnswer{2, "2"}});
    CHECK(s.answer(at("hours", {3})) == AnswerValue{DecimalAnswer{4, "4"}});
    CHECK_FALSE(s.answer(at("hours", {4})));
    Status missing = s.removeRepeatInstance(at("jobs"), 4);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == ErrorCode::NotFound);
    CHECK(s.addRepeatInstance(at("jobs")).ok());
}

TEST_CASE("session: finalizing is refused with problems and drops answers of hidden items") {
    auto s = FormSession::start(minimalForm());
    auto refused = s.finalContent();
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::InvalidArgument);
    CHECK(refused.error().message.find("visit_date") != std::string::npos);
    REQUIRE(s.setAnswer(at("visit_date"), DateAnswer{today()}));
    REQUIRE(s.setAnswer(at("age"), std::int64_t{30}));
    REQUIRE(s.setAnswer(at("works"), ChoiceAnswer{"yes", ""}));
    REQUIRE(s.addRepeatInstance(at("jobs")));
    REQUIRE(s.setAnswer(at("hours", {0}), DecimalAnswer{12.5, "12.5"}));
    auto full = s.finalContent();
    REQUIRE(full.ok());
    CHECK(findAnswer(full->answers, "works"));
    REQUIRE(full->repeats.size() == 1);
    CHECK(full->repeats[0].instances.size() == 1);
    CHECK(checkRecordContent(*full));
    REQUIRE(s.setAnswer(at("age"), std::int64_t{10}));
    auto child = s.finalContent();
    REQUIRE(child.ok());
    CHECK(child->formId == "valid_minimal");
    CHECK(child->formVersion == 1);
    CHECK_FALSE(findAnswer(child->answers, "works"));
    CHECK(child->repeats.empty());
    REQUIRE(findAnswer(child->answers, "age_next_year"));
    CHECK(findAnswer(child->answers, "age_next_year")->value == AnswerValue{std::int64_t{11}});
    // The draft keeps them: the respondent may go back.
    auto draft = s.content();
    CHECK(findAnswer(draft.answers, "works"));
    CHECK(draft.repeats.size() == 1);
}

TEST_CASE("session: a draft reopens with the same answers, on the same form version only") {
    auto form = inlineForm();
    auto s = FormSession::start(form);
    REQUIRE(s.setAnswer(at("code"), std::string("AB12")));
    REQUIRE(s.setAnswer(at("agree"), true));
    REQUIRE(s.addRepeatInstance(at("kids")));
    REQUIRE(s.addRepeatInstance(at("kids")));
    REQUIRE(s.setAnswer(at("kid_age", {1}), std::int64_t{11}));
    REQUIRE(s.addRepeatInstance(at("toys", {1})));
    auto draft = s.content();
    auto reopened = FormSession::open(form, draft);
    REQUIRE_MESSAGE(reopened.ok(), reopened.error().describe());
    CHECK(reopened->content() == draft);
    CHECK(reopened->answer(at("owner_age", {1, 0})) == AnswerValue{DecimalAnswer{11.1, "11.1"}});

    SUBCASE("another version") {
        auto other = draft;
        other.formVersion = 2;
        auto r = FormSession::open(form, other);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::WrongState);
    }
    SUBCASE("an answer to a question the form does not have") {
        auto other = draft;
        other.answers.push_back({"nope", std::string("x")});
        auto r = FormSession::open(form, other);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::InvalidArgument);
    }
    SUBCASE("an answer of the wrong type") {
        auto other = draft;
        other.repeats[0].instances[0].answers.push_back({"kid_rank", std::string("x")});
        auto r = FormSession::open(form, other);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::InvalidArgument);
    }
    SUBCASE("an answer outside its repeat") {
        auto other = draft;
        other.answers.push_back({"kid_rank", std::int64_t{1}});
        auto r = FormSession::open(form, other);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::InvalidArgument);
    }
}

TEST_CASE("session: a form with errors is refused when loaded") {
    auto check = compileFormJson(
        test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json"), "x.json");
    REQUIRE(check.ok());
    auto broken = check.binary;
    broken[4] = 'X';  // the file identifier
    auto r = CompiledForm::load(broken);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::InvalidArgument);
}

namespace {

// Plausible answers for a question, most likely first; the walk takes the first one the
// question accepts without a problem.
std::vector<AnswerValue> candidates(const fb::Form& form, const fb::Item& item) {
    std::vector<AnswerValue> out;
    auto numbers = [&]() {
        std::vector<double> v;
        if (item.min_value()) v.push_back(*item.min_value());
        v.push_back(1);
        v.push_back(0);
        return v;
    };
    auto choices = [&]() {
        std::vector<std::string> names;
        if (!item.choice_list() || !form.choice_lists()) return names;
        for (const auto* list : *form.choice_lists()) {
            if (list->name()->str() != item.choice_list()->str() || !list->choices()) continue;
            for (const auto* c : *list->choices())
                names.push_back(c->name()->str());
        }
        return names;
    };
    switch (item.type()) {
        case fb::QuestionType::Text: {
            // The pilots' patterns and the one text constraint (mbo participant codes).
            static const std::map<std::string, std::string> kMatches = {{"^[0-9]{8}$", "12345678"},
                                                                        {"^[0-9]{5}$", "12345"}};
            if (item.pattern()) {
                auto it = kMatches.find(item.pattern()->str());
                if (it != kMatches.end()) out.emplace_back(it->second);
            } else {
                out.emplace_back(std::string("x"));
                out.emplace_back(std::string("M01-001"));
            }
            break;
        }
        case fb::QuestionType::Integer:
            for (double v : numbers())
                out.emplace_back(static_cast<std::int64_t>(v));
            break;
        case fb::QuestionType::Decimal:
            for (double v : numbers())
                out.emplace_back(DecimalAnswer{v, expr::toText(expr::Value{v})});
            break;
        case fb::QuestionType::SelectOne:
        case fb::QuestionType::Likert:
            for (const auto& c : choices())
                out.emplace_back(ChoiceAnswer{c, ""});
            break;
        case fb::QuestionType::SelectMany:
            for (const auto& c : choices())
                out.emplace_back(ChoicesAnswer{{c}, ""});
            break;
        case fb::QuestionType::Date:
            for (int offset : {-30, 0, 30})
                out.emplace_back(DateAnswer{today() + offset});
            break;
        case fb::QuestionType::Time:
            out.emplace_back(TimeAnswer{9 * 3600 * 1000});
            break;
        case fb::QuestionType::DateTime:
            out.emplace_back(DateTimeAnswer{std::int64_t{today()} * 86400000, 60});
            break;
        case fb::QuestionType::Consent:
            out.emplace_back(true);
            break;
        case fb::QuestionType::Signature:
            out.emplace_back(SignatureAnswer{{{{1, 1}, {5, 9}, {20, 3}}}, 100, 50});
            break;
        case fb::QuestionType::Pseudonym:
            out.emplace_back(
                PseudonymAnswer{std::vector<std::uint8_t>(32, 7), "k1",
                                std::string(pseudonym::schemeName(item.identifier_scheme()))});
            break;
        default:
            break;
    }
    return out;
}

// One pass over the visible items in form order: answers what is unanswered and adds a first
// instance to visible repeats (at least min_count). Returns whether anything changed.
bool answerPass(FormSession& s, const fb::Form& form,
                const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>& items,
                std::vector<std::size_t>& instances) {
    bool changed = false;
    for (const auto* item : items) {
        ItemPath path{item->name()->str(), instances};
        if (!s.isVisible(path)) continue;
        if (item->kind() == fb::ItemKind::Group) {
            changed = answerPass(s, form, *item->children(), instances) || changed;
        } else if (item->kind() == fb::ItemKind::Repeat) {
            std::size_t want = std::max<std::size_t>(item->min_count(), 1);
            if (item->max_count() != 0) want = std::min<std::size_t>(want, item->max_count());
            while (s.repeatCount(path) < want) {
                REQUIRE(s.addRepeatInstance(path).ok());
                changed = true;
            }
            for (std::size_t i = 0; i < s.repeatCount(path); ++i) {
                instances.push_back(i);
                changed = answerPass(s, form, *item->children(), instances) || changed;
                instances.pop_back();
            }
        } else if (item->type() != fb::QuestionType::Note && !s.isReadOnly(path) &&
                   !s.answer(path)) {
            for (const auto& value : candidates(form, *item)) {
                REQUIRE(s.setAnswer(path, value));
                if (!s.problem(path)) break;
            }
            changed = changed || s.answer(path).has_value();
        }
    }
    return changed;
}

}  // namespace

TEST_CASE("session: every pilot form can be walked to a final record") {
    const char* pilots[] = {
        "benefit_outflow_interview",
        "diversity_barometer_intake",
        "employer_recruitment_nudges",
        "ips_guidance",
        "ips_intake",
        "ips_session",
        "ips_placement",
        "job_retention_log",
        "mbo_work_transition",
        "vmbo_parent_survey",
        "work_learn_trajectory",
    };
    // Follow-up and close forms are filled for a case in the treatment arm.
    CaseContext caseContext;
    caseContext.id = *Uuid::parse("0192f0c4-5a6b-7c8d-9e0f-112233445566");
    caseContext.properties = {{"arm", "ips"}};
    for (const char* pilot : pilots) {
        CAPTURE(pilot);
        std::string file = std::string(VELD_SOURCE_DIR) + "/schemas/forms/" + pilot + ".json";
        auto form = loadJson(test::readFile(file), file);
        auto s = FormSession::start(form, "en", &caseContext);
        const auto& fbForm = form->form();
        int passes = 0;
        std::vector<std::size_t> instances;
        while (passes < 20 && answerPass(s, fbForm, *fbForm.items(), instances))
            ++passes;
        CHECK(passes < 20);
        for (const auto& p : s.problems())
            MESSAGE(p.path.name << " kind " << static_cast<int>(p.kind) << " " << p.message);
        auto final = s.finalContent();
        REQUIRE_MESSAGE(final.ok(), final.error().describe());
        CHECK(checkRecordContent(*final));
        auto progress = s.progress();
        CHECK(progress.total > 0);
        CHECK(progress.answered == progress.total);
        // The draft of a complete record reopens as it was.
        auto reopened = FormSession::open(form, s.content(), "en", &caseContext);
        REQUIRE_MESSAGE(reopened.ok(), reopened.error().describe());
        CHECK(reopened->content() == s.content());
    }
}

namespace {

std::string question(const std::string& name, const std::string& type, const std::string& extra) {
    return R"({"name": ")" + name + R"(", "kind": "Question", "type": ")" + type + R"(", )" +
           label(name) + (extra.empty() ? "" : ", " + extra) + "}";
}

FormPtr formOf(const std::vector<std::string>& items) {
    std::string json = R"({"id": "small", "version": 1, "default_language": "en",
  "languages": [{"tag": "en", "name": "English"}],
  "titles": [{"lang": "en", "text": "Small"}], "items": [)";
    for (std::size_t i = 0; i < items.size(); ++i)
        json += (i ? ",\n" : "\n") + items[i];
    json += "]}";
    return loadJson(json, "small.json");
}

}  // namespace

TEST_CASE(
    "session: a calculation reading a question whose relevance depends on a later "
    "calculation settles") {
    // Regression: calculations ran once in reference order, so `total` kept a value read from
    // `extra` after `extra` had become hidden through `is_adult`.
    auto form = formOf({
        question("extra", "Integer", R"("relevance": "${is_adult} = 'yes'")"),
        question("total", "Integer",
                 R"x("read_only": true, "calculation": "coalesce(${extra}, 0)")x"),
        question("age", "Integer", ""),
        question("is_adult", "Text",
                 R"x("read_only": true, "calculation": "if(${age} >= 18, 'yes', 'no')")x"),
    });
    auto s = FormSession::start(form);
    REQUIRE(s.setAnswer(at("age"), std::int64_t{30}));
    REQUIRE(s.setAnswer(at("extra"), std::int64_t{5}));
    CHECK(s.answer(at("total")) == std::optional<AnswerValue>(std::int64_t{5}));
    REQUIRE(s.setAnswer(at("age"), std::int64_t{10}));
    CHECK_FALSE(s.isVisible(at("extra")));
    CHECK(s.answer(at("total")) == std::optional<AnswerValue>(std::int64_t{0}));
    auto final = s.finalContent();
    REQUIRE(final);
    for (const auto& a : final->answers) {
        if (a.name == "total") CHECK(a.value == AnswerValue{std::int64_t{0}});
        CHECK(a.name != "extra");
    }
}

TEST_CASE("session: a long chain of relevance is evaluated once per item, not exponentially") {
    // Regression: relevance results found while deciding another item's visibility were not
    // kept, so q(i) relevant on q(i-1) and q(i-2) cost Fibonacci(i) evaluations.
    std::vector<std::string> items{question("q0", "Integer", ""), question("q1", "Integer", "")};
    for (int i = 2; i < 60; ++i) {
        items.push_back(question("q" + std::to_string(i), "Integer",
                                 R"("relevance": "${q)" + std::to_string(i - 1) +
                                     "} != '' and ${q" + std::to_string(i - 2) + R"(} != ''")"));
    }
    auto s = FormSession::start(formOf(items));
    for (int i = 0; i < 60; ++i)
        REQUIRE(s.setAnswer(at("q" + std::to_string(i)), std::int64_t{1}));
    REQUIRE(s.setAnswer(at("q0"), std::int64_t{2}));  // forgets the whole chain
    CHECK(s.isVisible(at("q59")));
    REQUIRE(s.clearAnswer(at("q0")));
    CHECK_FALSE(s.isVisible(at("q59")));
    CHECK(s.problems().empty());
}

TEST_CASE("session: answers the store would refuse are refused when given") {
    auto s = FormSession::start(formOf({
        question("when", "Date", ""),
        question("note_calc", "Note", R"x("calculation": "concat('Hello ', ${name})")x"),
        question("name", "Text", ""),
    }));
    auto far = s.setAnswer(at("when"), DateAnswer{400000});
    REQUIRE_FALSE(far);
    CHECK(far.error().code == ErrorCode::InvalidArgument);
    auto notUtf8 = s.setAnswer(at("name"), std::string("\xC0\xAF"));
    REQUIRE_FALSE(notUtf8);
    REQUIRE(s.setAnswer(at("name"), std::string("Sam")));
    // A draft holding a calculated note reopens (regression: it was refused as an answer to a
    // note).
    auto reopened = FormSession::open(
        formOf({
            question("when", "Date", ""),
            question("note_calc", "Note", R"x("calculation": "concat('Hello ', ${name})")x"),
            question("name", "Text", ""),
        }),
        s.content());
    REQUIRE_MESSAGE(reopened, (reopened ? "" : reopened.error().describe()));
    CHECK(reopened->answer(at("name")) == std::optional<AnswerValue>(std::string("Sam")));
}

namespace {

std::string fieldsJson() {
    return test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/xlsform_fields.json");
}

FormPtr fieldsForm(const std::string& from = {}, const std::string& to = {}) {
    std::string json = fieldsJson();
    if (!from.empty()) {
        const auto pos = json.find(from);
        REQUIRE(pos != std::string::npos);
        json.replace(pos, from.size(), to);
    }
    return loadJson(json, "xlsform_fields.json");
}

std::vector<std::string> chosen(const FormSession& s, const std::string& name) {
    const auto a = s.answer(at(name));
    if (!a) return {};
    const auto* c = std::get_if<ChoicesAnswer>(&*a);
    REQUIRE(c);
    return c->choices;
}

}  // namespace

TEST_CASE("session: Likert scores coded as numbers add up, and records and the store keep them") {
    auto s = FormSession::start(fieldsForm());
    REQUIRE(s.setAnswer(at("a"), ChoiceAnswer{"4", ""}));
    REQUIRE(s.setAnswer(at("b"), ChoiceAnswer{"5", ""}));
    CHECK(s.answer(at("score")) == AnswerValue{std::int64_t{9}});
    REQUIRE(s.setAnswer(at("b"), ChoiceAnswer{"-9", ""}));
    CHECK(s.answer(at("score")) == AnswerValue{std::int64_t{-5}});
    REQUIRE(s.setAnswer(at("b"), ChoiceAnswer{"2", ""}));
    CHECK(s.answer(at("score")) == AnswerValue{std::int64_t{6}});
    CHECK_FALSE(s.setAnswer(at("b"), ChoiceAnswer{"6", ""}));  // not in the list
    REQUIRE(s.setAnswer(at("children"), std::int64_t{0}));
    auto content = s.finalContent();
    REQUIRE_MESSAGE(content.ok(), content.error().describe());
    REQUIRE(findAnswer(content.value().answers, "a"));
    CHECK(findAnswer(content.value().answers, "a")->value == AnswerValue{ChoiceAnswer{"4", ""}});

    // The record checks, the encoding and the store take numeric names.
    CHECK(checkRecordContent(content.value()));
    test::TempDir dir;
    StoreOptions options;
    options.mode = sql::OpenMode::ReadWriteCreate;
    auto store = Store::open(dir.file("device.veld"), options);
    REQUIRE(store.ok());
    auto compiled = compileFormJson(fieldsJson(), "xlsform_fields.json");
    REQUIRE(store.value().installForm(compiled.binary));
    auto saved = store.value().finalizeNew(content.value());
    REQUIRE_MESSAGE(saved.ok(), saved.error().describe());
    auto back = store.value().get(saved.value().id);
    REQUIRE_MESSAGE(back.ok(), back.error().describe());
    const Answer* b = findAnswer(back.value().record.content.answers, "b");
    REQUIRE(b);
    CHECK(b->value == AnswerValue{ChoiceAnswer{"2", ""}});

    // A draft with a numeric choice reopens with it.
    auto reopened = FormSession::open(fieldsForm(), s.content());
    REQUIRE(reopened.ok());
    CHECK(reopened.value().answer(at("score")) == AnswerValue{std::int64_t{6}});
}

TEST_CASE("session: an exclusive choice is chosen alone") {
    auto s = FormSession::start(fieldsForm());
    REQUIRE(s.toggleChoice(at("help_wanted"), "training"));
    REQUIRE(s.toggleChoice(at("help_wanted"), "money"));
    CHECK(chosen(s, "help_wanted") == std::vector<std::string>{"money", "training"});
    // Ticking "none of these" clears the others; ticking another clears it.
    REQUIRE(s.toggleChoice(at("help_wanted"), "none"));
    CHECK(chosen(s, "help_wanted") == std::vector<std::string>{"none"});
    REQUIRE(s.toggleChoice(at("help_wanted"), "advice"));
    CHECK(chosen(s, "help_wanted") == std::vector<std::string>{"advice"});
    REQUIRE(s.toggleChoice(at("help_wanted"), "advice"));
    CHECK_FALSE(s.answer(at("help_wanted")));
    REQUIRE(s.toggleChoice(at("help_wanted"), "none"));
    REQUIRE(s.toggleChoice(at("help_wanted"), "none"));
    CHECK_FALSE(s.answer(at("help_wanted")));

    // Both at once is refused, and the answer stays as it was.
    REQUIRE(s.setAnswer(at("help_wanted"), ChoicesAnswer{{"money"}, ""}));
    auto both = s.setAnswer(at("help_wanted"), ChoicesAnswer{{"money", "none"}, ""});
    REQUIRE_FALSE(both);
    CHECK(both.error().code == ErrorCode::InvalidArgument);
    CHECK(chosen(s, "help_wanted") == std::vector<std::string>{"money"});
    CHECK(s.setAnswer(at("help_wanted"), ChoicesAnswer{{"none"}, ""}));

    // So is a draft that has both, and toggling what is not a select many or not a choice.
    RecordContent draft = s.content();
    for (auto& a : draft.answers) {
        if (a.name == "help_wanted") a.value = ChoicesAnswer{{"none", "advice"}, ""};
    }
    auto opened = FormSession::open(fieldsForm(), draft);
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().code == ErrorCode::InvalidArgument);
    CHECK_FALSE(s.toggleChoice(at("a"), "1"));
    CHECK_FALSE(s.toggleChoice(at("help_wanted"), "cash"));
}

TEST_CASE("session: a repeat_count repeat has as many instances as its expression says") {
    auto s = FormSession::start(fieldsForm());
    CHECK(s.repeatCount(at("child")) == 0);
    REQUIRE(s.setAnswer(at("children"), std::int64_t{3}));
    CHECK(s.repeatCount(at("child")) == 3);
    REQUIRE(s.setAnswer(at("child_age", {0}), std::int64_t{4}));
    REQUIRE(s.setAnswer(at("child_age", {2}), std::int64_t{9}));
    // Fewer: trailing instances go with their answers; the others keep theirs.
    REQUIRE(s.setAnswer(at("children"), std::int64_t{2}));
    CHECK(s.repeatCount(at("child")) == 2);
    CHECK(s.answer(at("child_age", {0})) == AnswerValue{std::int64_t{4}});
    // More: empty instances at the end.
    REQUIRE(s.setAnswer(at("children"), std::int64_t{4}));
    CHECK(s.repeatCount(at("child")) == 4);
    CHECK_FALSE(s.answer(at("child_age", {2})));
    CHECK(s.answer(at("child_age", {0})) == AnswerValue{std::int64_t{4}});
    // Nobody adds or removes them by hand.
    auto add = s.addRepeatInstance(at("child"));
    REQUIRE_FALSE(add.ok());
    CHECK(add.error().code == ErrorCode::WrongState);
    auto remove = s.removeRepeatInstance(at("child"), 0);
    REQUIRE_FALSE(remove);
    CHECK(remove.error().code == ErrorCode::WrongState);
    CHECK(s.repeatCount(at("child")) == 4);
    // A draft reopens with its instances; an answer that is no number means none.
    auto reopened = FormSession::open(fieldsForm(), s.content());
    REQUIRE(reopened.ok());
    CHECK(reopened.value().repeatCount(at("child")) == 4);
    CHECK(reopened.value().answer(at("child_age", {0})) == AnswerValue{std::int64_t{4}});
    REQUIRE(s.clearAnswer(at("children")));
    CHECK(s.repeatCount(at("child")) == 0);
    REQUIRE(s.setAnswer(at("children"), std::int64_t{-2}));
    CHECK(s.repeatCount(at("child")) == 0);
    // However large the value, at most 1000 instances.
    REQUIRE(s.setAnswer(at("children"), std::int64_t{1'000'000'000}));
    CHECK(s.repeatCount(at("child")) == 1000);
    REQUIRE(s.setAnswer(at("children"), std::int64_t{1}));
    CHECK(s.repeatCount(at("child")) == 1);
    REQUIRE(s.setAnswer(at("child_age", {0}), std::int64_t{12}));
    auto content = s.finalContent();
    REQUIRE_MESSAGE(content.ok(), content.error().describe());
    REQUIRE(content.value().repeats.size() == 1);
    CHECK(content.value().repeats[0].instances.size() == 1);
}

TEST_CASE("session: a hidden question is computed and recorded but not counted as asked") {
    auto s = FormSession::start(fieldsForm());
    const auto before = s.progress();
    // a, b, help_wanted, contact_by, rating, children, remarks: not the hidden score.
    CHECK(before.total == 7);
    REQUIRE(s.setAnswer(at("a"), ChoiceAnswer{"3", ""}));
    REQUIRE(s.setAnswer(at("b"), ChoiceAnswer{"3", ""}));
    CHECK(s.progress().answered == 2);
    CHECK(s.isVisible(at("score")));
    REQUIRE(s.setAnswer(at("children"), std::int64_t{0}));
    auto content = s.finalContent();
    REQUIRE(content.ok());
    const Answer* score = findAnswer(content.value().answers, "score");
    REQUIRE(score);
    CHECK(score->value == AnswerValue{std::int64_t{6}});
}

TEST_CASE("session: a slider's answer lies on one of its steps") {
    auto s = FormSession::start(fieldsForm());
    REQUIRE(s.setAnswer(at("rating"), DecimalAnswer{7.5, "7.5"}));
    CHECK_FALSE(s.problem(at("rating")));
    REQUIRE(s.setAnswer(at("rating"), DecimalAnswer{7.25, "7.25"}));
    REQUIRE(s.problem(at("rating")));
    CHECK(s.problem(at("rating"))->kind == Kind::OutOfRange);
    REQUIRE(s.setAnswer(at("rating"), DecimalAnswer{10.5, "10.5"}));
    CHECK(s.problem(at("rating"))->kind == Kind::OutOfRange);
    REQUIRE(s.setAnswer(at("rating"), DecimalAnswer{10, "10"}));
    CHECK_FALSE(s.problem(at("rating")));
    // Steps of 0.1 from 0.2: 0.3 and 0.7 are on them although binary fractions are not exact.
    auto tenths =
        FormSession::start(fieldsForm("\"min_value\": 0, \"max_value\": 10, \"step\": 0.5",
                                      "\"min_value\": 0.2, \"max_value\": 1, \"step\": 0.1"));
    for (double v : {0.2, 0.3, 0.7, 1.0}) {
        CAPTURE(v);
        REQUIRE(tenths.setAnswer(at("rating"), DecimalAnswer{v, expr::toText(expr::Value{v})}));
        CHECK_FALSE(tenths.problem(at("rating")));
    }
    REQUIRE(tenths.setAnswer(at("rating"), DecimalAnswer{0.35, "0.35"}));
    CHECK(tenths.problem(at("rating")));
    // Whole steps from an odd start: 1, 3, 5 for a step of 2 from 1.
    auto odd = FormSession::start(fieldsForm("\"min_value\": 0, \"max_value\": 6, \"step\": 1",
                                             "\"min_value\": 1, \"max_value\": 5, \"step\": 2"));
    REQUIRE(odd.setAnswer(at("children"), std::int64_t{3}));
    CHECK_FALSE(odd.problem(at("children")));
    REQUIRE(odd.setAnswer(at("children"), std::int64_t{4}));
    CHECK(odd.problem(at("children"))->kind == Kind::OutOfRange);
}

TEST_CASE("session: a required question says the form's own message in the session's language") {
    const std::pair<std::string, std::string> messages[] = {
        {"nl", "Vul het aantal kinderen in, ook als het 0 is."},
        {"en", "Enter the number of children, also when it is 0."}};
    for (const auto& m : messages) {
        CAPTURE(m.first);
        auto s = FormSession::start(fieldsForm(), m.first);
        const auto p = s.problem(at("children"));
        REQUIRE(p);
        CHECK(p->kind == Kind::Required);
        CHECK(p->message == m.second);
    }
    // Without one, the message is empty and the client says Veld's own words.
    auto plain = FormSession::start(minimalForm());
    const auto p = plain.problem(at("visit_date"));
    REQUIRE(p);
    CHECK(p->kind == Kind::Required);
    CHECK(p->message.empty());
}
