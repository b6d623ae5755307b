// The functions and conversions XLSForm authors use, with the values ODK documents and its
// JavaRosa test vectors give (XPathEvalTest), including empty answers and type coercion.
#include <cmath>
#include <map>

#include <doctest/doctest.h>

#include <veld/expression.hpp>

using namespace veld;
using namespace veld::expr;

namespace {

// Answers by name; a name in `repeated` is a question in a repeat read from outside it (its
// nodeset), and `byInstance` holds indexed-repeat()'s view of it.
class OdkContext final : public Context {
  public:
    std::map<std::string, Value, std::less<>> values;
    std::map<std::string, std::vector<Value>, std::less<>> repeated;
    std::map<std::string, std::string, std::less<>> choice;  // the choice a filter looks at
    Value dot;
    int offsetMinutes = 60;  // Amsterdam in winter

    [[nodiscard]] Value answer(std::string_view name) const override {
        if (auto it = repeated.find(name); it != repeated.end())
            return it->second.empty() ? Value{} : it->second.front();
        auto it = values.find(name);
        return it == values.end() ? Value{} : it->second;
    }
    [[nodiscard]] std::vector<Value> answers(std::string_view name) const override {
        if (auto it = repeated.find(name); it != repeated.end()) return it->second;
        return {answer(name)};
    }
    [[nodiscard]] Value indexedAnswer(std::string_view name,
                                      const std::vector<RepeatIndex>& indices) const override {
        auto it = repeated.find(name);
        if (it == repeated.end() || indices.size() != 1 || indices[0].repeat != "kids") return {};
        const std::size_t i = indices[0].number - 1;
        return i < it->second.size() ? it->second[i] : Value{};
    }
    [[nodiscard]] Value current() const override { return dot; }
    [[nodiscard]] Value choiceField(std::string_view name) const override {
        auto it = choice.find(name);
        return it == choice.end() ? Value{} : Value{it->second};
    }
    [[nodiscard]] std::string choiceLabel(std::string_view question,
                                          std::string_view name) const override {
        if (question != "fruit") return {};
        if (name == "apple") return "Appel";
        if (name == "pear") return "Peer";
        return {};
    }
    [[nodiscard]] std::int64_t nowUtcMs() const override {
        return 1796634900000;  // 2026-12-07T09:15:00Z
    }
    [[nodiscard]] Date today() const override { return Date{20794}; }  // 2026-12-07
    [[nodiscard]] int localOffsetMinutes(std::int64_t) const override { return offsetMinutes; }
    [[nodiscard]] std::string newUuid() const override {
        return "5f0c6a52-3a5e-4c5e-9a63-0d1b2c3d4e5f";
    }
};

OdkContext sample() {
    OdkContext c;
    c.values["age"] = 34.0;
    c.values["blank"] = std::string();
    c.values["fruits"] = std::string("apple  pear banana");
    c.values["birth"] = Date{14127};                  // 2008-09-05
    c.values["visit"] = DateTime{1199265630123, 60};  // 2008-01-02T10:20:30.123+01:00
    c.values["name"] = std::string("  Ayşe   van\tDijk ");
    c.repeated["kid_age"] = {Value{7.0}, Value{}, Value{std::string("12")}};
    c.repeated["kid_name"] = {Value{std::string("Noor")}, Value{std::string("")},
                              Value{std::string("Sem")}};
    c.repeated["kids"] = {Value{}, Value{}, Value{}};
    c.repeated["none"] = {};
    return c;
}

struct Case {
    const char* expression;
    const char* expected;
};

void checkAll(const Context& c, std::initializer_list<Case> cases) {
    for (const auto& test : cases) {
        CAPTURE(test.expression);
        auto e = Expression::parse(test.expression);
        REQUIRE_MESSAGE(e, (e ? "" : e.error().message));
        CHECK(toText(e->evaluate(c)) == test.expected);
    }
}

}  // namespace

TEST_CASE("ODK: aggregates read every instance of a repeat, leaving out what is not a number") {
    const OdkContext c = sample();
    checkAll(c, {
                    {"count(${kids})", "3"},
                    {"count(${kid_age})", "3"},
                    {"count(${none})", "0"},
                    {"count(${age})", "1"},  // a question asked once is one node
                    {"count-non-empty(${kid_age})", "2"},
                    {"count-non-empty(${kid_name})", "2"},
                    {"count-non-empty(${blank})", "0"},
                    {"sum(${kid_age})", "19"},  // the unanswered one is left out, as in ODK
                    {"sum(${none})", "0"},
                    {"min(${kid_age})", "7"},
                    {"max(${kid_age})", "12"},
                    {"max(${none})", ""},
                    {"min(3, ${age}, '2')", "2"},
                    {"max(3, ${age}, ${blank})", "34"},
                    {"max(-1, -2)", "-1"},
                    {"min('x', ${blank})", ""},
                    {"join(', ', ${kid_name})", "Noor, , Sem"},
                    {"join('-', 'a', ${age}, true())", "a-34-true"},
                    // Outside aggregates a nodeset reads its first node.
                    {"${kid_age} + 1", "8"},
                    {"${kid_name}", "Noor"},
                    {"${none} = ''", "true"},
                    {"indexed-repeat(${kid_name}, ${kids}, 3)", "Sem"},
                    {"indexed-repeat(${kid_name}, ${kids}, 1 + 1)", ""},
                    {"indexed-repeat(${kid_age}, ${kids}, 0)", "7"},  // below 1 reads the first
                    {"indexed-repeat(${kid_age}, ${kids}, ${blank})", "7"},
                    {"indexed-repeat(${kid_age}, ${kids}, 4)", ""},
                });
}

TEST_CASE("ODK: numbers, rounding and conversions follow JavaRosa's test vectors") {
    const OdkContext c = sample();
    checkAll(c, {
                    {"round('14.29123456789')", "14"},
                    {"round('14.6')", "15"},
                    {"round('14.29123456789', 1)", "14.3"},
                    {"round('14.29123456789', 1.5)", "14.3"},
                    {"round('14.29123456789', 2)", "14.29"},
                    {"round('14.29123456789', 4)", "14.2912"},
                    {"round('12345.14', 1)", "12345.1"},
                    {"round('-12345.14', 1)", "-12345.1"},
                    {"round('12345.12345', -1)", "12350"},
                    {"round('12345.12345', -2)", "12300"},
                    {"round('12350.12345', -2)", "12400"},
                    {"round('12345.12345', -3)", "12000"},
                    {"round('14.5')", "15"},
                    {"round('-0.5')", "0"},
                    {"round('12345.15', 1)", "12345.2"},
                    {"round('-12345.15', 1)", "-12345.1"},
                    {"round(2.675, 2)", "2.68"},  // on the decimal text, not the binary value
                    {"round(9.995, 2)", "10"},
                    {"round(${blank})", ""},
                    {"round(1 div 0)", "Infinity"},
                    {"round(1.5, 31)", ""},
                    {"pow(2, 2)", "4"},
                    {"pow(2, 0)", "1"},
                    {"pow(0.5, 2)", "0.25"},
                    {"pow(-1, 3)", "-1"},
                    {"pow(16, 0.25)", "2"},
                    {"pow(${blank}, 2)", ""},
                    {"abs(-3.5)", "3.5"},
                    {"abs('-2')", "2"},
                    {"abs(${blank})", ""},
                    {"boolean(1)", "true"},
                    {"boolean(0)", "false"},
                    {"boolean('')", "false"},
                    {"boolean('  ')", "true"},
                    {"boolean('false')", "true"},
                    {"boolean(${blank})", "false"},
                    {"boolean(date('2000-01-01'))", "true"},
                    {"string(true())", "true"},
                    {"string(123456.0000)", "123456"},
                    {"string(-0)", "0"},
                    {"string(.557586)", "0.557586"},
                    {"string(${age})", "34"},
                    {"string(date('1989-11-09'))", "1989-11-09"},
                    {"number(' -12345.6789  ')", "-12345.6789"},
                    {"number('- 17')", ""},
                    {"number('1.1e6')", ""},
                    {"number('34.56.7')", ""},
                    {"number(date('2008-09-05'))", "14127"},
                    {"number(date('1941-12-07'))", "-10252"},
                    {"'123' * '456'", "56088"},
                    {"-'19'", "-19"},
                    {"true() + 8", "9"},
                    {"5 mod -3", "2"},
                    {"-5 mod 3", "-2"},
                    {"'-17' > '-172'", "true"},
                    {"'abc' < 'abcd'", "false"},
                    {"17 = '17.0000000'", "true"},
                    {"'0017.' = 17", "true"},
                    {"'017.' = '17.000'", "false"},
                    {"true() = 'true'", "true"},
                    {"3 < 4 < 5", "true"},
                    {"-3 < 3 = 6 >= 6", "true"},
                    // XPath reads an operator name right after a value as the operator.
                    {"1div1", "1"},
                    {"1and1", "true"},
                    {"0or1", "true"},
                    {"7mod4", "3"},
                    {"${age}div2", "17"},
                });
}

TEST_CASE("ODK: text functions count characters, not bytes, and treat empty as ''") {
    const OdkContext c = sample();
    checkAll(c, {
                    {"substr('hello', 0)", "hello"},
                    {"substr('hello', 0, 5)", "hello"},
                    {"substr('hello', 1)", "ello"},
                    {"substr('hello', 1, 4)", "ell"},
                    {"substr('hello', -2)", "lo"},
                    {"substr('hello', 0, -1)", "hell"},
                    {"substr('hello', 4, 2)", ""},
                    {"substr('hello', 9)", ""},
                    {"substr('Ayşe', 2, 3)", "ş"},
                    {"substr(${blank}, 1)", ""},
                    {"substr('hello', ${blank})", "hello"},
                    {"contains('abc', 'b')", "true"},
                    {"contains('abc', 'bcd')", "false"},
                    {"contains(${blank}, '')", "true"},
                    {"starts-with('abc', 'a')", "true"},
                    {"starts-with('', 'a')", "false"},
                    {"starts-with('', '')", "true"},
                    {"ends-with('abc', 'c')", "true"},
                    {"ends-with('abc', 'a')", "false"},
                    {"normalize-space(${name})", "Ayşe van Dijk"},
                    {"normalize-space('   ')", ""},
                    {"string-length(normalize-space(${name}))", "13"},
                });
}

TEST_CASE("ODK: selections are words, and the choice looked for is trimmed") {
    const OdkContext c = sample();
    checkAll(c, {
                    {"selected('apple baby crimson', '  baby  ')", "true"},
                    {"selected('apple baby crimson', 'bab')", "false"},
                    {"selected('', 'apple')", "false"},
                    {"selected(${fruits}, 'pear')", "true"},
                    {"selected(${fruits}, '')", "false"},
                    {"count-selected(${fruits})", "3"},
                    {"selected-at(${fruits}, 0)", "apple"},
                    {"selected-at(${fruits}, 2)", "banana"},
                    {"selected-at(${fruits}, 3)", ""},
                    {"selected-at(${fruits}, -1)", ""},
                    {"selected-at(${blank}, 0)", ""},
                    {"selected-at(${fruits}, ${blank})", "apple"},
                    {"jr:choice-name(selected-at(${fruits}, 1), '${fruit}')", "Peer"},
                    {"jr:choice-name('apple', \"${fruit}\")", "Appel"},
                    {"jr:choice-name('plum', '${fruit}')", ""},
                    {"jr:choice-name(${blank}, '${fruit}')", ""},
                });
}

TEST_CASE("ODK: date text converts to days, and dates format with ODK's codes in local time") {
    OdkContext c = sample();
    checkAll(c, {
                    {"number('2008-09-05')", "14127"},
                    {"'2018-01-01' + 1", "17533"},
                    {"today() > ('2012-01-01' + 10)", "true"},
                    {"date('2018-01-01') + 1 = date('2018-01-02')", "true"},
                    {"date('2008-09-08') - date('1983-10-06')", "9104"},
                    {"date('2000-01-01')", "2000-01-01"},
                    {"date('1996-02-29')", "1996-02-29"},
                    {"date('1983-09-31')", ""},
                    {"date('not a date')", ""},
                    {"date(0)", "1970-01-01"},
                    {"date(6.5)", "1970-01-07"},
                    {"date(-1)", "1969-12-31"},
                    {"date(14127)", "2008-09-05"},
                    {"date(${visit})", "2008-01-02"},
                    {"date(${blank})", ""},
                    {"date('2018-01-02T23:30:00-05:00')", "2018-01-03"},  // in the device's +01:00
                    {"now()", "2026-12-07T10:15:00.000+01:00"},
                    {"format-date('2018-01-02T10:20:30.123', '%Y-%m-%e %H:%M:%S')",
                     "2018-01-2 10:20:30"},
                    {"format-date(${birth}, '%d/%m/%Y')", "05/09/2008"},
                    {"format-date(${birth}, '%e %b %y, %a')", "5 Sep 08, Fri"},
                    {"format-date(${birth}, '%n/%e %H:%M')", "9/5 00:00"},
                    {"format-date-time(${visit}, '%Y%m%d %h:%M:%S.%3')", "20080102 10:20:30.123"},
                    {"format-date-time(now(), '%H:%M %a')", "10:15 Mon"},
                    {"format-date(${blank}, '%Y')", ""},
                    {"format-date('nonsense', '%Y')", ""},
                    {"format-date(${birth}, '100%% %q')", "100%% %q"},
                    {"format-date(14127, '%Y-%m-%d')", "2008-09-05"},
                    {"decimal-date-time('1970-01-02T12:00:00Z')", "1.5"},
                    {"decimal-date-time('1970-01-01T01:00:00')", "0"},  // local time, +01:00
                    {"decimal-date-time(${birth})", "14127"},
                    {"decimal-date-time(${blank})", ""},
                    {"decimal-date-time(date('1970-01-11'))", "10"},
                });
    c.offsetMinutes = 0;
    checkAll(c, {{"now()", "2026-12-07T09:15:00.000Z"},
                 {"decimal-date-time('1970-01-01T06:00:00')", "0.25"}});
    c.offsetMinutes = -210;  // Newfoundland
    checkAll(c, {{"now()", "2026-12-07T05:45:00.000-03:30"}});
}

TEST_CASE("ODK: once() keeps a value once set, and uuid() comes from the context") {
    OdkContext c = sample();
    checkAll(c, {{"once(${age} * 2)", "68"}, {"uuid()", "5f0c6a52-3a5e-4c5e-9a63-0d1b2c3d4e5f"}});
    c.dot = std::string("kept");
    checkAll(c, {{"once(${age} * 2)", "kept"}, {"once(uuid())", "kept"}});
    // The default context makes a random version-4 UUID each time.
    class Plain final : public Context {
      public:
        [[nodiscard]] Value answer(std::string_view) const override { return {}; }
    };
    auto e = Expression::parse("uuid()");
    REQUIRE(e);
    const std::string a = toText(e->evaluate(Plain()));
    const std::string b = toText(e->evaluate(Plain()));
    CHECK(a.size() == 36);
    CHECK(a[14] == '4');
    CHECK(a != b);
}

TEST_CASE("choice filters read the choice by bare name, and only where allowed") {
    OdkContext c = sample();
    c.values["country"] = std::string("nl");
    auto filter = Expression::parse("country = ${country} and name != 'other'",
                                    ParseOptions{.choiceFields = true});
    REQUIRE(filter);
    CHECK(filter->choiceFields() == std::vector<std::string>{"country", "name"});
    CHECK(filter->references() == std::vector<std::string>{"country"});
    c.choice = {{"name", "amsterdam"}, {"country", "nl"}};
    CHECK(toBool(filter->evaluate(c)));
    c.choice = {{"name", "gent"}, {"country", "be"}};
    CHECK_FALSE(toBool(filter->evaluate(c)));
    c.choice = {{"name", "other"}, {"country", "nl"}};
    CHECK_FALSE(toBool(filter->evaluate(c)));
    // A choice without the property reads it as ''.
    c.choice = {{"name", "x"}};
    CHECK_FALSE(toBool(filter->evaluate(c)));
    auto starts = Expression::parse("starts-with(name, ${prefix}) or order<3",
                                    ParseOptions{.choiceFields = true});
    REQUIRE(starts);
    CHECK(starts->choiceFields() == std::vector<std::string>{"name", "order"});
    // Elsewhere a bare name is a mistake.
    auto plain = Expression::parse("country = ${country}");
    REQUIRE_FALSE(plain);
    CHECK(plain.error().message.find("write answers as ${country}") != std::string::npos);
}

TEST_CASE("expressions report how they use references, for the form checks") {
    auto e = Expression::parse(
        "sum(${a}) + count(${r}) + ${b} + indexed-repeat(${c}, ${r}, 2, ${r2}, ${n}) + "
        "max(${d}) + max(${e}, 1) + string-length(join(' ', ${f})) + "
        "string-length(jr:choice-name(${g}, '${g}'))");
    REQUIRE(e);
    std::vector<std::pair<std::string, ReferenceKind>> uses;
    for (const auto& u : e->referenceUses())
        uses.emplace_back(u.name, u.kind);
    using K = ReferenceKind;
    CHECK(uses == std::vector<std::pair<std::string, ReferenceKind>>{
                      {"a", K::Nodeset},
                      {"r", K::Nodeset},
                      {"b", K::Scalar},
                      {"c", K::Indexed},
                      {"r", K::Indexed},
                      {"r2", K::Indexed},
                      {"n", K::Scalar},
                      {"d", K::Nodeset},
                      {"e", K::Scalar},
                      {"f", K::Nodeset},
                      {"g", K::Scalar},
                  });
    REQUIRE(e->indexedRepeats().size() == 1);
    CHECK(e->indexedRepeats()[0].question == "c");
    CHECK(e->indexedRepeats()[0].repeats == std::vector<std::string>{"r", "r2"});
    CHECK(e->choiceNameQuestions() == std::vector<std::string>{"g"});
}

TEST_CASE("the new functions refuse malformed calls when parsed") {
    struct Bad {
        const char* expression;
        const char* fragment;
    };
    const Bad cases[] = {
        {"count('x')", "count() takes a ${reference}"},
        {"sum(1 + 2)", "sum() takes a ${reference}"},
        {"count(${a}, ${b})", "count() takes 1 argument(s), not 2"},
        {"indexed-repeat(${q}, ${r})", "takes 3 to 11 argument(s), not 2"},
        {"indexed-repeat(${q}, ${r}, 1, ${s})", "pairs of a repeat and an instance number"},
        {"indexed-repeat('q', ${r}, 1)", "argument 1"},
        {"indexed-repeat(${q}, 'r', 1)", "argument 2"},
        {"jr:choice-name(${q}, ${q})", "names its question in quotes"},
        {"jr:choice-name(${q}, 'q')", "names its question in quotes"},
        {"jr:choice-name(${q}, '${1q}')", "not a question name"},
        {"jr:frobnicate(1)", "unknown function 'jr:frobnicate'"},
        {"round(1, 2, 3)", "takes 1 to 2 argument(s), not 3"},
        {"substr('x')", "takes 2 to 3 argument(s), not 1"},
        {"join(',')", "at least 2"},
        {"uuid(8)", "takes 0 argument(s)"},
        {"1 divx 2", "'x' is not a function call"},
    };
    for (const auto& test : cases) {
        CAPTURE(test.expression);
        auto e = Expression::parse(test.expression);
        REQUIRE_FALSE(e);
        CHECK_MESSAGE(e.error().message.find(test.fragment) != std::string::npos,
                      e.error().message);
    }
}

TEST_CASE("aggregates and format-date stay within the text bounds on hostile input") {
    OdkContext c = sample();
    c.repeated["big"] = std::vector<Value>(200, Value{std::string(1000, 'x')});
    auto joined = Expression::parse("string-length(join('--', ${big}))");
    REQUIRE(joined);
    CHECK(toText(joined->evaluate(c)) == "65536");
    std::string format;
    for (int i = 0; i < 30000; ++i)
        format += "%a";
    c.values["format"] = format;
    auto formatted = Expression::parse("string-length(format-date(today(), ${format}))");
    REQUIRE(formatted);
    CHECK(toText(formatted->evaluate(c)) == "65536");
    auto far =
        Expression::parse("format-date(pow(10, 300), '%Y') = '' and date(pow(10, 300)) = ''");
    REQUIRE(far);
    CHECK(toText(far->evaluate(c)) == "true");
}
