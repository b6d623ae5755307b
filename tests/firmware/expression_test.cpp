#include <chrono>
#include <cmath>
#include <map>

#include <doctest/doctest.h>

#include <veld/expression.hpp>

using namespace veld;
using namespace veld::expr;

namespace {

class MapContext final : public Context {
  public:
    std::map<std::string, Value, std::less<>> answers;
    Value dot;
    int pos = 0;
    [[nodiscard]] Value answer(std::string_view name) const override {
        auto it = answers.find(name);
        return it == answers.end() ? Value{} : it->second;
    }
    [[nodiscard]] Value current() const override { return dot; }
    [[nodiscard]] int position() const override { return pos; }
    [[nodiscard]] std::int64_t nowUtcMs() const override {
        return 1764064800000;
    }                                                                  // 2025-11-25T10:00Z
    [[nodiscard]] Date today() const override { return Date{20417}; }  // 2025-11-25
    [[nodiscard]] int localOffsetMinutes(std::int64_t) const override { return 0; }
};

MapContext sampleContext() {
    MapContext c;
    c.answers["age"] = 34.0;
    c.answers["age_text"] = std::string("34");
    c.answers["name"] = std::string("Ayşe");
    c.answers["sectors"] = std::string("care technology hospitality");
    c.answers["consent"] = true;
    c.answers["dob"] = Date{3650};  // 1979-12-30
    c.answers["blank"] = std::string("");
    c.answers["zip"] = std::string("1234 AB");
    return c;
}

std::string eval(const std::string& text, const Context& c) {
    auto e = Expression::parse(text);
    REQUIRE_MESSAGE(e, text << ": " << (e ? "" : e.error().message));
    return toText(e->evaluate(c));
}

}  // namespace

TEST_CASE("expressions evaluate with XLSForm semantics") {
    MapContext c = sampleContext();
    c.dot = std::string("1234 AB");
    c.pos = 3;
    struct Case {
        const char* expression;
        const char* expected;
    };
    const Case cases[] = {
        // literals, arithmetic, precedence
        {"1 + 2 * 3", "7"},
        {"(1 + 2) * 3", "9"},
        {"7 div 2", "3.5"},
        {"7 mod 3", "1"},
        {"-3 + 1", "-2"},
        {"- -3", "3"},
        {"1 - 2 - 3", "-4"},
        {".5 + 1", "1.5"},
        {"1 div 0", "Infinity"},
        {"0.1 + 0.2", "0.3"},
        // references
        {"${age} + 1", "35"},
        {"${age_text} * 2", "68"},
        {"${name}", "Ayşe"},
        {"${unanswered}", ""},
        // empty values
        {"${unanswered} + 1", ""},
        {"${unanswered} = ''", "true"},
        {"${blank} = ''", "true"},
        {"${unanswered} > 17", "false"},
        {"${unanswered} < 17", "false"},
        {"${unanswered} != 17", "true"},
        {"${unanswered} = 0", "false"},
        {"not(${unanswered})", "true"},
        // comparisons and type coercion
        {"${age} > 17", "true"},
        {"${age_text} = 34", "true"},
        {"${age_text} = '34'", "true"},
        {"'10' < '9'", "false"},  // relational compares numbers
        {"'abc' = 'abc'", "true"},
        {"'abc' != 'abd'", "true"},
        {"${consent} = true()", "true"},
        {"${consent} = 'yes'", "true"},  // any non-empty text is true next to a boolean
        {"${consent} and ${age} >= 18", "true"},
        {"${unanswered} or ${age} < 18", "false"},
        {"1 = 1 and 2 = 2 or 1 = 2", "true"},
        // selects
        {"selected(${sectors}, 'care')", "true"},
        {"selected(${sectors}, 'car')", "false"},
        {"selected(${unanswered}, 'care')", "false"},
        {"count-selected(${sectors})", "3"},
        {"count-selected(${unanswered})", "0"},
        // text functions
        {"string-length(${name})", "4"},
        {"string-length(${unanswered})", "0"},
        {"concat(${name}, ' (', ${age}, ')')", "Ayşe (34)"},
        {"concat('a')", "a"},
        {"regex(${zip}, '^[0-9]{4} ?[A-Z]{2}$')", "true"},
        {"regex(., '^\\d{4} ?[A-Z]{2}$')", "true"},
        {"regex('12345', '^\\d{4}$')", "false"},
        {"regex(${unanswered}, '^$')", "true"},
        // conditionals and conversion
        {"if(${age} >= 18, 'adult', 'minor')", "adult"},
        {"if(${unanswered}, 'yes', 'no')", "no"},
        {"coalesce(${unanswered}, 'none')", "none"},
        {"coalesce(${name}, 'none')", "Ayşe"},
        {"int(7.9)", "7"},
        {"int(-7.9)", "-7"},
        {"int('x')", ""},
        {"number('12.5')", "12.5"},
        {"number(' 12 ')", "12"},
        {"number('1e3')", ""},
        {"number('12,5')", ""},
        {"number(true())", "1"},
        // dates
        {"today()", "2025-11-25"},
        {"now()", "2025-11-25T10:00:00.000Z"},
        {"${dob}", "1979-12-30"},
        {"${dob} < today()", "true"},
        {"${dob} = '1979-12-30'", "true"},
        {"today() > '2025-01-01'", "true"},
        {"int((today() - ${dob}) div 365.25)", "45"},
        // current value and position
        {". = '1234 AB'", "true"},
        {"position(..)", "3"},
        {"position(..) = 3", "true"},
    };
    for (const auto& test : cases) {
        CAPTURE(test.expression);
        CHECK(eval(test.expression, c) == test.expected);
    }
}

TEST_CASE("expressions report the questions they depend on") {
    auto e = Expression::parse("if(${a} > ${b}, concat(${a}, ${c}), .) and today() > ${d}");
    REQUIRE(e);
    CHECK(e->references() == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(e->usesCurrent());
    CHECK(e->usesClock());
    auto plain = Expression::parse("${x} + 1");
    REQUIRE(plain);
    CHECK_FALSE(plain->usesCurrent());
    CHECK_FALSE(plain->usesClock());
    CHECK(plain->text() == "${x} + 1");
}

TEST_CASE("${case.name} reads a case property as text, converted like any other text") {
    class CaseContext final : public Context {
      public:
        [[nodiscard]] Value answer(std::string_view name) const override {
            return name == "visits" ? Value{std::string("question, not property")} : Value{};
        }
        [[nodiscard]] Value caseProperty(std::string_view name) const override {
            if (name == "visits") return std::string("3");
            if (name == "arm") return std::string("ips");
            if (name == "next_contact") return std::string("2025-11-20");
            return {};
        }
        [[nodiscard]] Date today() const override { return Date{20417}; }  // 2025-11-25
    };
    CaseContext c;
    struct Case {
        const char* expression;
        const char* expected;
    };
    const Case cases[] = {
        {"${case.arm}", "ips"},
        {"${case.arm} = 'ips'", "true"},
        {"${case.arm} = 'usual_care'", "false"},
        {"${case.visits} + 1", "4"},
        {"${case.visits} > 2", "true"},
        {"${case.next_contact} < today()", "true"},
        {"${case.missing} = ''", "true"},
        {"${case.missing} + 1", ""},
        {"concat(${visits}, '/', ${case.visits})", "question, not property/3"},
    };
    for (const auto& test : cases) {
        CAPTURE(test.expression);
        CHECK(eval(test.expression, c) == test.expected);
    }
    // A context that knows no case (a form without one) reads every property as empty.
    CHECK(eval("${case.arm} = ''", sampleContext()) == "true");
}

TEST_CASE("case properties are listed apart from the questions an expression depends on") {
    auto e = Expression::parse("${case.arm} = 'ips' and ${age} > ${case.min_age} or ${case.arm}");
    REQUIRE(e);
    CHECK(e->references() == std::vector<std::string>{"age"});
    CHECK(e->caseReferences() == std::vector<std::string>{"arm", "min_age"});
    auto none = Expression::parse("${age} > 1");
    REQUIRE(none);
    CHECK(none->caseReferences().empty());
    auto empty = Expression::parse("1 + ${case.}");
    REQUIRE_FALSE(empty);
    CHECK(empty.error().message == "column 5: '${case.}' names no case property");
}

TEST_CASE("malformed expressions give an error that says what and where") {
    struct Case {
        const char* expression;
        const char* fragment;
    };
    const Case cases[] = {
        {"", "expected a value"},
        {"1 +", "column 4: expected a value"},
        {"(1 + 2", "expected ')'"},
        {"1 + 2)", "unexpected ')'"},
        {"${age", "closing '}'"},
        {"${1st}", "not a question name"},
        {"$age", "must start a reference"},
        {"'unclosed", "closing quote"},
        {"age > 3", "write answers as ${age}"},
        {"frobnicate(1)", "unknown function 'frobnicate'"},
        {"if(1, 2)", "if() takes 3 argument(s), not 2"},
        {"today(1)", "today() takes 0 argument(s), not 1"},
        {"concat()", "concat() takes at least 1 argument(s)"},
        {"position(.)", "position(..)"},
        {"..", "only allowed as position(..)"},
        {"1 # 2", "unexpected character '#'"},
        {"regex(., '(a')", "not a valid regular expression"},
        {"regex(., '(a)\\1')", "back-references"},
        {"and 1", "needs a value on its left"},
        {"selected(${a} 'x')", "expected ',' or ')'"},
    };
    for (const auto& test : cases) {
        CAPTURE(test.expression);
        auto e = Expression::parse(test.expression);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == ErrorCode::InvalidArgument);
        CHECK_MESSAGE(e.error().message.find(test.fragment) != std::string::npos,
                      e.error().message);
    }
}

TEST_CASE("hostile expressions are refused or evaluated quickly, never crash or hang") {
    MapContext c = sampleContext();
    SUBCASE("deep nesting") {
        std::string deep(1000, '(');
        deep += "1";
        deep += std::string(1000, ')');
        auto e = Expression::parse(deep);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("nested too deeply") != std::string::npos);
        std::string minus(1000, '-');
        CHECK_FALSE(Expression::parse(minus + "1"));
        std::string nots;
        for (int i = 0; i < 500; ++i)
            nots += "not(";
        nots += "1" + std::string(500, ')');
        CHECK_FALSE(Expression::parse(nots));
    }
    SUBCASE("too long") {
        std::string longSum = "1";
        while (longSum.size() < 5000)
            longSum += "+1";
        auto e = Expression::parse(longSum);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("4096") != std::string::npos);
        std::string many = "1";
        for (int i = 0; i < 1500; ++i)
            many += "+1";  // under 4096 bytes, over 2000 parts
        auto m = Expression::parse(many);
        REQUIRE_FALSE(m);
        CHECK(m.error().message.find("too long") != std::string::npos);
    }
    SUBCASE("a pattern that makes backtracking engines hang") {
        c.answers["s"] = std::string(4000, 'a') + "!";
        auto e = Expression::parse("regex(${s}, '^(a+)+$')");
        REQUIRE(e);
        auto start = std::chrono::steady_clock::now();
        CHECK(toText(e->evaluate(c)) == "false");
        auto elapsed = std::chrono::steady_clock::now() - start;
        // Generous: linear matching takes milliseconds; exponential would take years.
        CHECK(elapsed < std::chrono::seconds(5));
    }
    SUBCASE("text that grows without bound") {
        c.answers["big"] = std::string(60000, 'x');
        auto e = Expression::parse("string-length(concat(${big}, ${big}, ${big}))");
        REQUIRE(e);
        CHECK(toText(e->evaluate(c)) == "65536");
    }
    SUBCASE("a pattern that is not a literal is checked when evaluated") {
        c.answers["p"] = std::string("(unclosed");
        auto e = Expression::parse("regex('x', ${p})");
        REQUIRE(e);
        CHECK(toText(e->evaluate(c)) == "false");
    }
    // Found by the expression fuzzer: glibc's regcomp copies a repeated sub-expression for each
    // repetition, so stacked or nested ones took memory until the process was killed.
    SUBCASE("a pattern whose repetitions multiply when compiled is refused") {
        const std::string stacked = "1" + std::string(60, '+');
        auto e = checkPattern(stacked);
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("repeats too much") != std::string::npos);
        CHECK_FALSE(checkPattern("((((a{50}){50}){50}){50})"));
        CHECK_FALSE(checkPattern("(x{1,1000}){1,1000}"));
        // Loops around what can be empty: slow to compile (seconds at a few hundred bytes).
        CHECK_FALSE(checkPattern("(()*){1,512}"));
        CHECK_FALSE(checkPattern("(a?)+"));
        CHECK_FALSE(checkPattern("(a|)*"));
        c.answers["p"] = stacked;
        auto typed = Expression::parse("regex('x', ${p})");
        REQUIRE(typed);
        CHECK(toText(typed->evaluate(c)) == "false");
        for (const char* real : {"^[0-9]{9}$", "^(\\w+\\s?){1,20}$", "^[A-Z]{4}[0-9]{2}$",
                                 "^([a-z]+[.-]?)+@[a-z]+[.][a-z]{2,6}$", "^[]a[:digit:]-]+$"})
            CHECK_MESSAGE(checkPattern(real), real);
    }
    SUBCASE("a pattern with a NUL character is refused, not cut short") {
        auto e = checkPattern(std::string_view("^[0-9]+\0$", 9));
        REQUIRE_FALSE(e);
        CHECK(e.error().message.find("NUL") != std::string::npos);
    }
}

TEST_CASE("value conversions follow XPath") {
    CHECK(toText(Value{3.0}) == "3");
    CHECK(toText(Value{-0.5}) == "-0.5");
    CHECK(toText(Value{std::nan("")}) == "");
    CHECK(toText(Value{Date{0}}) == "1970-01-01");
    CHECK(toText(Value{Date{-1}}) == "1969-12-31");
    CHECK(toText(Value{DateTime{-1}}) == "1969-12-31T23:59:59.999Z");
    CHECK(toBool(Value{std::string("false")}));  // non-empty text is true, as in XPath
    CHECK_FALSE(toBool(Value{0.0}));
    CHECK_FALSE(toBool(Value{}));
    CHECK(isEmpty(Value{}));
    CHECK(isEmpty(Value{std::string()}));
    CHECK_FALSE(isEmpty(Value{0.0}));
}
