// What a session does with the XLSForm functions that need the record: aggregates over repeats,
// indexed-repeat(), once(), jr:choice-name() and choice filters (cascading selects); and what
// the form checks say about them.
#include <algorithm>
#include <chrono>

#include <doctest/doctest.h>

#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/record.hpp>

using namespace veld;
using namespace veld::forms;

namespace {

using FormPtr = std::shared_ptr<const CompiledForm>;

std::string labels(const std::string& en, const std::string& nl) {
    return R"j("labels": [{"lang": "en", "text": ")j" + en + R"j("}, {"lang": "nl", "text": ")j" +
           nl + R"j("}])j";
}
std::string labels(const std::string& text) {
    return labels(text, text);
}

std::string formJson(const std::string& items, const std::string& lists) {
    return R"j({"id": "xls_functions", "version": 1, "default_language": "en",
  "languages": [{"tag": "en", "name": "English"}, {"tag": "nl", "name": "Nederlands"}],
  "titles": [{"lang": "en", "text": "Functions"}, {"lang": "nl", "text": "Functies"}],
  "choice_lists": [)j" +
           lists + R"j(],
  "items": [)j" +
           items + "]}";
}

const std::string kLists = R"j(
    {"name": "countries", "choices": [
      {"name": "nl", )j" + labels("Netherlands", "Nederland") +
                           R"j(},
      {"name": "be", )j" + labels("Belgium", "België") +
                           R"j(}]},
    {"name": "cities", "choices": [
      {"name": "amsterdam", "properties": [{"name": "country", "value": "nl"}], )j" +
                           labels("Amsterdam") + R"j(},
      {"name": "utrecht", "properties": [{"name": "country", "value": "nl"}], )j" +
                           labels("Utrecht") + R"j(},
      {"name": "gent", "properties": [{"name": "country", "value": "be"}], )j" +
                           labels("Ghent", "Gent") + R"j(},
      {"name": "antwerpen", "properties": [{"name": "country", "value": "be"}], )j" +
                           labels("Antwerp", "Antwerpen") + R"j(},
      {"name": "elsewhere", )j" +
                           labels("Elsewhere", "Elders") + R"j(}]})j";

const std::string kItems = R"j(
    {"name": "country", "kind": "Question", "type": "SelectOne", "choice_list": "countries", )j" +
                           labels("Country") + R"j(},
    {"name": "city", "kind": "Question", "type": "SelectOne", "choice_list": "cities",
     "choice_filter": "country = ${country}", )j" +
                           labels("City") + R"j(},
    {"name": "cities_seen", "kind": "Question", "type": "SelectMany", "choice_list": "cities",
     "choice_filter": "country=${country} or name='elsewhere'", )j" +
                           labels("Cities seen") + R"j(},
    {"name": "country_name", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "jr:choice-name(${country}, '${country}')", )j" +
                           labels("Country name") + R"j(},
    {"name": "city_name", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "jr:choice-name(${city}, '${city}')", )j" +
                           labels("City name") + R"j(},
    {"name": "first_country", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "once(${country})", )j" +
                           labels("First country") + R"j(},
    {"name": "record_id", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "once(uuid())", )j" +
                           labels("Record id") + R"j(},
    {"name": "kids", "kind": "Repeat", )j" +
                           labels("Kids") +
                           R"j(, "children": [
      {"name": "kid_name", "kind": "Question", "type": "Text", )j" +
                           labels("Name") + R"j(},
      {"name": "kid_age", "kind": "Question", "type": "Integer", )j" +
                           labels("Age") + R"j(},
      {"name": "kid_line", "kind": "Question", "type": "Text", "read_only": true,
       "calculation": "concat(${kid_name}, ' ', ${kid_age}, ' of ', count(${kids}))", )j" +
                           labels("Line") + R"j(},
      {"name": "toys", "kind": "Repeat", )j" +
                           labels("Toys") +
                           R"j(, "children": [
        {"name": "toy", "kind": "Question", "type": "Text", )j" +
                           labels("Toy") + R"j(}]}]},
    {"name": "n_kids", "kind": "Question", "type": "Integer", "read_only": true,
     "calculation": "count(${kids})", )j" +
                           labels("Kids") + R"j(},
    {"name": "named", "kind": "Question", "type": "Integer", "read_only": true,
     "calculation": "count-non-empty(${kid_name})", )j" +
                           labels("Named") + R"j(},
    {"name": "total_age", "kind": "Question", "type": "Integer", "read_only": true,
     "calculation": "sum(${kid_age})", )j" +
                           labels("Total age") + R"j(},
    {"name": "oldest", "kind": "Question", "type": "Integer", "read_only": true,
     "calculation": "max(${kid_age})", )j" +
                           labels("Oldest") + R"j(},
    {"name": "names", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "join(', ', ${kid_name})", )j" +
                           labels("Names") + R"j(},
    {"name": "second_name", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "indexed-repeat(${kid_name}, ${kids}, 2)", )j" +
                           labels("Second") + R"j(},
    {"name": "which_toy", "kind": "Question", "type": "Integer", )j" +
                           labels("Which toy") + R"j(},
    {"name": "picked_toy", "kind": "Question", "type": "Text", "read_only": true,
     "calculation": "indexed-repeat(${toy}, ${kids}, 2, ${toys}, ${which_toy})", )j" +
                           labels("Picked toy") + R"j(},
    {"name": "big_family", "kind": "Question", "type": "Note", "relevance": "count(${kids}) >= 3", )j" +
                           labels("Big family") + R"j(})j";

FormPtr load(const std::string& json) {
    auto check = compileFormJson(json, "functions.json");
    for (const auto& p : check.problems)
        MESSAGE(p.describe());
    REQUIRE(check.ok());
    auto form = CompiledForm::load(check.binary);
    REQUIRE_MESSAGE(form.ok(), form.error().describe());
    return form.value();
}

FormPtr functionsForm() {
    static const FormPtr form = load(formJson(kItems, kLists));
    return form;
}

ItemPath at(std::string name, std::vector<std::size_t> instances = {}) {
    return ItemPath{std::move(name), std::move(instances)};
}

AnswerValue text(const std::string& s) {
    return AnswerValue{s};
}
AnswerValue number(std::int64_t n) {
    return AnswerValue{n};
}
AnswerValue one(const std::string& choice) {
    return AnswerValue{ChoiceAnswer{choice, {}}};
}
AnswerValue many(std::vector<std::string> choices) {
    return AnswerValue{ChoicesAnswer{std::move(choices), {}}};
}

std::vector<std::string> offeredNames(const FormSession& s, const ItemPath& path) {
    std::vector<std::string> out;
    const std::vector<std::string> cities = {"amsterdam", "utrecht", "gent", "antwerpen",
                                             "elsewhere"};
    for (auto i : s.offeredChoices(path))
        out.push_back(cities.at(i));
    return out;
}

std::vector<std::string> problemsOf(const std::string& items, const std::string& lists = kLists) {
    std::vector<std::string> out;
    for (const auto& p : compileFormJson(formJson(items, lists), "bad.json").problems)
        out.push_back(p.describe());
    return out;
}

bool mentions(const std::vector<std::string>& problems, const std::string& fragment) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(fragment) != std::string::npos; });
}

}  // namespace

TEST_CASE("session: a choice filter offers a city only in the chosen country (cascading)") {
    auto s = FormSession::start(functionsForm());
    // No country yet: only the city without one (a missing property reads as '', as an empty
    // cell of the choices sheet does in ODK).
    CHECK(offeredNames(s, at("city")) == std::vector<std::string>{"elsewhere"});
    CHECK(offeredNames(s, at("cities_seen")) == std::vector<std::string>{"elsewhere"});
    CHECK(s.offeredChoices(at("country")) == std::vector<std::size_t>{0, 1});  // no filter
    CHECK(s.offeredChoices(at("kid_name", {0})).empty());                      // no such instance
    CHECK(s.offeredChoices(at("n_kids")).empty());                             // not a select

    REQUIRE(s.setAnswer(at("country"), one("nl")));
    CHECK(offeredNames(s, at("city")) == std::vector<std::string>{"amsterdam", "utrecht"});
    auto refused = s.setAnswer(at("city"), one("gent"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::InvalidArgument);
    CHECK_FALSE(s.answer(at("city")));
    REQUIRE(s.setAnswer(at("city"), one("utrecht")));
    CHECK(s.answer(at("city_name")) == text("Utrecht"));
    CHECK_FALSE(s.setAnswer(at("cities_seen"), many({"amsterdam", "gent"})));
    REQUIRE(s.setAnswer(at("cities_seen"), many({"amsterdam", "elsewhere"})));

    // Another country takes away what it does not offer, and what depends on it follows.
    REQUIRE(s.setAnswer(at("country"), one("be")));
    CHECK(offeredNames(s, at("city")) == std::vector<std::string>{"gent", "antwerpen"});
    CHECK_FALSE(s.answer(at("city")));
    CHECK_FALSE(s.answer(at("city_name")));
    CHECK(s.answer(at("cities_seen")) == many({"elsewhere"}));
    REQUIRE(s.setAnswer(at("city"), one("antwerpen")));
    REQUIRE(s.setAnswer(at("cities_seen"), many({"gent", "antwerpen", "elsewhere"})));
    REQUIRE(s.clearAnswer(at("country")));
    CHECK_FALSE(s.answer(at("city")));
    CHECK(s.answer(at("cities_seen")) == many({"elsewhere"}));
    CHECK(s.problems().empty());
}

TEST_CASE("session: a draft with a choice its filter no longer offers loses it when reopened") {
    auto s = FormSession::start(functionsForm());
    REQUIRE(s.setAnswer(at("country"), one("nl")));
    REQUIRE(s.setAnswer(at("city"), one("amsterdam")));
    RecordContent draft = s.content();
    for (auto& a : draft.answers) {
        if (a.name == "country") a.value = one("be");
    }
    auto reopened = FormSession::open(functionsForm(), draft);
    REQUIRE(reopened);
    CHECK(reopened->answer(at("country")) == one("be"));
    CHECK_FALSE(reopened->answer(at("city")));
}

TEST_CASE("session: jr:choice-name gives the choice's label in the session's language") {
    auto en = FormSession::start(functionsForm(), "en");
    auto nl = FormSession::start(functionsForm(), "nl");
    for (auto* s : {&en, &nl}) {
        REQUIRE(s->setAnswer(at("country"), one("be")));
        REQUIRE(s->setAnswer(at("city"), one("gent")));
    }
    CHECK(en.answer(at("country_name")) == text("Belgium"));
    CHECK(nl.answer(at("country_name")) == text("België"));
    CHECK(en.answer(at("city_name")) == text("Ghent"));
    CHECK(nl.answer(at("city_name")) == text("Gent"));
}

TEST_CASE("session: aggregates read every instance of a repeat and follow its changes") {
    auto s = FormSession::start(functionsForm());
    CHECK(s.answer(at("n_kids")) == number(0));
    CHECK(s.answer(at("total_age")) == number(0));
    CHECK_FALSE(s.answer(at("oldest")));  // max of nothing is NaN: unanswered
    for (int i = 0; i < 3; ++i)
        REQUIRE(s.addRepeatInstance(at("kids")));
    CHECK(s.answer(at("n_kids")) == number(3));
    CHECK(s.isVisible(at("big_family")));
    REQUIRE(s.setAnswer(at("kid_name", {0}), text("Noor")));
    REQUIRE(s.setAnswer(at("kid_age", {0}), number(7)));
    REQUIRE(s.setAnswer(at("kid_name", {2}), text("Sem")));
    REQUIRE(s.setAnswer(at("kid_age", {2}), number(12)));
    CHECK(s.answer(at("named")) == number(2));
    CHECK(s.answer(at("total_age")) == number(19));  // the unanswered age is left out
    CHECK(s.answer(at("oldest")) == number(12));
    CHECK(s.answer(at("names")) == text("Noor, , Sem"));
    // Inside the repeat ${kid_name} is the instance's own; count(${kids}) is all of them.
    CHECK(s.answer(at("kid_line", {2})) == text("Sem 12 of 3"));
    CHECK(s.answer(at("kid_line", {0})) == text("Noor 7 of 3"));
    CHECK_FALSE(s.answer(at("second_name")));
    REQUIRE(s.setAnswer(at("kid_name", {1}), text("Ada")));
    CHECK(s.answer(at("second_name")) == text("Ada"));
    CHECK(s.answer(at("names")) == text("Noor, Ada, Sem"));

    REQUIRE(s.removeRepeatInstance(at("kids"), 0));
    CHECK(s.answer(at("n_kids")) == number(2));
    CHECK_FALSE(s.isVisible(at("big_family")));
    CHECK(s.answer(at("total_age")) == number(12));
    CHECK(s.answer(at("second_name")) == text("Sem"));
    CHECK(s.answer(at("kid_line", {0})) == text("Ada  of 2"));
    REQUIRE(s.clearAnswer(at("kid_age", {1})));
    CHECK(s.answer(at("total_age")) == number(0));
    CHECK_FALSE(s.answer(at("oldest")));
}

TEST_CASE("session: indexed-repeat reads one instance, also of a nested repeat") {
    auto s = FormSession::start(functionsForm());
    for (int i = 0; i < 2; ++i)
        REQUIRE(s.addRepeatInstance(at("kids")));
    for (int i = 0; i < 3; ++i)
        REQUIRE(s.addRepeatInstance(at("toys", {1})));
    REQUIRE(s.addRepeatInstance(at("toys", {0})));
    REQUIRE(s.setAnswer(at("toy", {0, 0}), text("ball")));
    REQUIRE(s.setAnswer(at("toy", {1, 0}), text("kite")));
    REQUIRE(s.setAnswer(at("toy", {1, 2}), text("drum")));
    // No number yet reads the first instance, as ODK does.
    CHECK(s.answer(at("picked_toy")) == text("kite"));
    REQUIRE(s.setAnswer(at("which_toy"), number(3)));
    CHECK(s.answer(at("picked_toy")) == text("drum"));
    REQUIRE(s.setAnswer(at("which_toy"), number(2)));
    CHECK_FALSE(s.answer(at("picked_toy")));
    REQUIRE(s.setAnswer(at("toy", {1, 1}), text("top")));
    CHECK(s.answer(at("picked_toy")) == text("top"));
    REQUIRE(s.setAnswer(at("which_toy"), number(9)));
    CHECK_FALSE(s.answer(at("picked_toy")));
}

TEST_CASE("session: once() keeps the first value, also when a draft is reopened") {
    auto s = FormSession::start(functionsForm());
    const auto id = s.answer(at("record_id"));
    REQUIRE(id);
    CHECK(std::get<std::string>(*id).size() == 36);
    CHECK_FALSE(s.answer(at("first_country")));
    REQUIRE(s.setAnswer(at("country"), one("nl")));
    CHECK(s.answer(at("first_country")) == text("nl"));
    REQUIRE(s.setAnswer(at("country"), one("be")));
    CHECK(s.answer(at("first_country")) == text("nl"));
    CHECK(s.answer(at("record_id")) == id);
    auto reopened = FormSession::open(functionsForm(), s.content());
    REQUIRE(reopened);
    CHECK(reopened->answer(at("record_id")) == id);
    CHECK(reopened->answer(at("first_country")) == text("nl"));
    // A new record gets a new id.
    CHECK(FormSession::start(functionsForm()).answer(at("record_id")) != id);
}

TEST_CASE("session: a question in a repeat read from outside it is its first instance") {
    const std::string items = R"j(
    {"name": "kids", "kind": "Repeat", )j" +
                              labels("Kids") +
                              R"j(, "children": [
      {"name": "age", "kind": "Question", "type": "Integer", )j" +
                              labels("Age") + R"j(}]},
    {"name": "first_age", "kind": "Question", "type": "Integer", "read_only": true,
     "calculation": "${age}", )j" +
                              labels("First") + R"j(})j";
    const auto problems = problemsOf(items);
    CHECK(mentions(problems,
                   "warning: item 'first_age': calculation reads ${age}, which is "
                   "asked in repeat 'kids', from outside it"));
    auto s = FormSession::start(load(formJson(items, kLists)));
    REQUIRE(s.addRepeatInstance(at("kids")));
    REQUIRE(s.addRepeatInstance(at("kids")));
    REQUIRE(s.setAnswer(at("age", {1}), number(9)));
    CHECK_FALSE(s.answer(at("first_age")));
    REQUIRE(s.setAnswer(at("age", {0}), number(4)));
    CHECK(s.answer(at("first_age")) == number(4));
}

TEST_CASE("the form checks accept the new functions where they mean something, and only there") {
    CHECK(problemsOf(kItems).empty());
    struct Bad {
        const char* item;  // one item added to the form
        const char* fragment;
    };
    const Bad cases[] = {
        {R"j({"name": "bad", "kind": "Question", "type": "Integer", "calculation": "${kids} + 1")j",
         "refers to ${kids}, which is a repeat; count its instances with count(${kids})"},
        {R"j({"name": "bad", "kind": "Question", "type": "Text",
             "calculation": "indexed-repeat(${country}, ${kids}, 1)")j",
         "indexed-repeat() indexes ${kids}, which is not a repeat around ${country}"},
        {R"j({"name": "bad", "kind": "Question", "type": "Text",
             "calculation": "indexed-repeat(${toy}, ${toys}, 1, ${city}, 1)")j",
         "indexes ${city}, which is not a repeat around ${toy}"},
        {R"j({"name": "bad", "kind": "Question", "type": "Text",
             "calculation": "jr:choice-name(${kid_name}, '${kid_name}')")j",
         "jr:choice-name() names 'kid_name', which is not a select question"},
        {R"j({"name": "bad", "kind": "Question", "type": "Text",
             "calculation": "jr:choice-name(${city}, '${nowhere}')")j",
         "jr:choice-name() names 'nowhere'"},
        {R"j({"name": "bad", "kind": "Question", "type": "SelectOne", "choice_list": "cities",
             "choice_filter": "province = ${country}")j",
         "choice_filter reads 'province', which is neither 'name' nor a property of the "
         "choices in 'cities'"},
        {R"j({"name": "bad", "kind": "Question", "type": "SelectOne", "choice_list": "cities",
             "choice_filter": "country = ${nowhere}")j",
         "choice_filter refers to ${nowhere}, which is not in the form"},
        {R"j({"name": "bad", "kind": "Question", "type": "SelectOne", "choice_list": "cities",
             "choice_filter": "country = ")j",
         "choice_filter: column 11: expected a value"},
        {R"j({"name": "bad", "kind": "Question", "type": "SelectOne", "choice_list": "cities",
             "choice_filter": "name != ${bad}")j",
         "choice_filter depends on the question's own answer"},
        {R"j({"name": "bad", "kind": "Question", "type": "Text", "choice_filter": "name = 'x'")j",
         "choice_filter is only for select questions"},
        {R"j({"name": "bad", "kind": "Question", "type": "Text", "relevance": "country = 'nl'")j",
         "relevance: column 1: 'country' is not a function call"},
        {R"j({"name": "bad", "kind": "Question", "type": "Integer", "default_value": "2024-01-01")j",
         "default '2024-01-01' is not a number"},
    };
    for (const auto& test : cases) {
        CAPTURE(test.item);
        const auto problems = problemsOf(kItems + ",\n" + test.item + ", " + labels("Bad") + "}");
        CHECK_MESSAGE(mentions(problems, test.fragment),
                      (problems.empty() ? std::string("no problems") : problems.front()));
    }
    const std::string badProperty = R"j(,
    {"name": "extra", "choices": [
      {"name": "a", "properties": [{"name": "name", "value": "x"}], )j" +
                                    labels("A") + R"j(},
      {"name": "b", "properties": [{"name": "p", "value": "1"}, {"name": "p", "value": "2"}], )j" +
                                    labels("B") + "}]}";
    const auto problems = problemsOf(kItems, kLists + badProperty);
    CHECK(mentions(problems, "choice 'a': property 'name' is reserved"));
    CHECK(mentions(problems, "choice 'b': property 'p' is given twice"));
}

TEST_CASE("session: a long filtered list and a large repeat stay quick to answer") {
    // 2,000 places in 20 regions, and a repeat of 300 instances summed outside it.
    std::string places;
    for (int i = 0; i < 2000; ++i) {
        places += std::string(i ? "," : "") + R"j({"name": "p)j" + std::to_string(i) +
                  R"j(", "properties": [{"name": "region", "value": "r)j" + std::to_string(i % 20) +
                  R"j("}], )j" + labels("P" + std::to_string(i)) + "}";
    }
    std::string regions;
    for (int i = 0; i < 20; ++i)
        regions += std::string(i ? "," : "") + R"j({"name": "r)j" + std::to_string(i) + R"j(", )j" +
                   labels("R" + std::to_string(i)) + "}";
    const std::string lists = R"j({"name": "regions", "choices": [)j" + regions +
                              R"j(]}, {"name": "places", "choices": [)j" + places + "]}";
    const std::string items = R"j(
    {"name": "region", "kind": "Question", "type": "SelectOne", "choice_list": "regions", )j" +
                              labels("Region") + R"j(},
    {"name": "place", "kind": "Question", "type": "SelectOne", "choice_list": "places",
     "choice_filter": "region = ${region}", )j" +
                              labels("Place") + R"j(},
    {"name": "visits", "kind": "Repeat", )j" +
                              labels("Visits") +
                              R"j(, "children": [
      {"name": "hours", "kind": "Question", "type": "Integer", )j" +
                              labels("Hours") + R"j(}]},
    {"name": "total", "kind": "Question", "type": "Integer", "read_only": true,
     "calculation": "sum(${hours})", )j" +
                              labels("Total") + "}";
    auto s = FormSession::start(load(formJson(items, lists)));
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(s.setAnswer(at("region"), one("r7")));
    const auto offered = s.offeredChoices(at("place"));
    CHECK(offered.size() == 100);
    REQUIRE(s.setAnswer(at("place"), one("p1987")));
    REQUIRE(s.setAnswer(at("region"), one("r8")));  // clears the place
    CHECK_FALSE(s.answer(at("place")));
    const auto filtered = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < 300; ++i) {
        REQUIRE(s.addRepeatInstance(at("visits")));
        REQUIRE(s.setAnswer(at("hours", {i}), std::int64_t{2}));
    }
    CHECK(s.answer(at("total")) == number(600));
    const auto summed = std::chrono::steady_clock::now();
    using ms = std::chrono::milliseconds;
    const auto filterMs = std::chrono::duration_cast<ms>(filtered - started).count();
    const auto repeatMs = std::chrono::duration_cast<ms>(summed - filtered).count();
    MESSAGE("2,000-choice filter (offer, answer, clear): " << filterMs << " ms; 300 instances "
                                                           << "added and answered with a sum: "
                                                           << repeatMs << " ms");
    // Generous: sanitized builds on a loaded machine take tens of milliseconds; work that grew
    // with the square of the list or of the instances would take minutes.
    CHECK(filterMs < 5000);
    CHECK(repeatMs < 20000);
}
