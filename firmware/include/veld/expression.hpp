// Form expressions: the XLSForm language as ODK evaluates it (docs.getodk.org, "Form operators
// and functions"), parsed once and evaluated many times.
//
//   ${q}  .  position(..)                      references to answers
//   ${case.name}                               a property of the record's case (follow-up, close)
//   name  region                               in a choice filter only: the choice's name and
//                                              properties (ParseOptions::choiceFields)
//   or  and  =  !=  <  <=  >  >=  +  -  *  div  mod  unary -
//   selected(a, 'x')  count-selected(a)  selected-at(a, n)  jr:choice-name(v, '${q}')
//   string-length(s)  regex(s, 'pattern')  concat(a, ...)  join(sep, ...)  substr(s, i[, j])
//   contains(s, t)  starts-with(s, t)  ends-with(s, t)  normalize-space(s)  string(x)
//   if(c, a, b)  coalesce(a, b)  once(x)  not(x)  true()  false()  boolean(x)
//   int(x)  number(x)  round(x[, digits])  pow(x, y)  abs(x)  min(...)  max(...)
//   count(${r})  count-non-empty(${q})  sum(${q})  indexed-repeat(${q}, ${r}, n[, ${r2}, n2 ...])
//   today()  now()  date(x)  format-date(d, f)  format-date-time(d, f)  decimal-date-time(d)
//   uuid()
//
// Semantics follow XLSForm (XPath 1.0 as ODK evaluates it): an unanswered question is the empty
// string; numbers of empty or non-numeric text are NaN, so `${age} > 17` is false while age is
// empty and `${age} = ''` is true; `=` compares as booleans if either side is one, else as
// numbers if either side is a number or a date, else as text; `<` and friends compare numbers.
// Dates are days since 1970-01-01 and date text ('2018-01-01', also with a time) converts to its
// days wherever a number is wanted (`'2018-01-01' + 1`, `number('2008-09-05')` = 14127), as in
// ODK. Date-times are UTC milliseconds with the offset they were recorded in; they print as
// local time with that offset (now(): 2026-12-07T10:15:00.000+01:00; Z for UTC).
//
// Repeats: `${q}` of a question in a repeat is the current instance's answer inside that repeat.
// From outside it, `${q}` is the nodeset of every instance's answer (within the instances the
// two share): count(), count-non-empty(), sum(), min(x), max(x) and join(sep, x) read all of it,
// anything else reads the first instance, as XPath reads a nodeset. `${r}` of a repeat is its
// instances (for count()); indexed-repeat() reads one instance by its 1-based number.
// A case property is text (empty when the case has none), converted like any other text.
//
// Hostile input is bounded: expressions longer than 4096 bytes, nested more than 48 deep or with
// more than 2000 nodes are refused at parse time; evaluation is linear in the expression's size
// and the number of repeat instances it reads (the language has no loops); text values are capped
// at 64 KiB; regex() uses POSIX extended regular expressions (no backtracking blow-up) on at most
// 4 KiB of text.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <veld/result.hpp>

namespace veld::expr {

struct Date {
    std::int32_t days = 0;
    bool operator==(const Date&) const = default;
};
struct DateTime {
    std::int64_t utcMs = 0;
    std::int16_t offsetMinutes = 0;  // the local offset where it was recorded (east positive)
    bool operator==(const DateTime&) const = default;
};

/// A value during evaluation. monostate is "empty" (an unanswered question), which behaves as ''.
using Value = std::variant<std::monostate, bool, double, std::string, Date, DateTime>;

bool isEmpty(const Value& v);
/// XPath boolean(): empty and '' are false, NaN and 0 are false, any other text is true.
bool toBool(const Value& v);
/// XPath number(): text is parsed as a decimal number (NaN if it is not one); true is 1.
double toNumber(const Value& v);
/// XPath string(): whole numbers print without a decimal point; NaN prints as ''; dates print
/// as YYYY-MM-DD.
std::string toText(const Value& v);

/// indexed-repeat()'s choice of one instance of a repeat.
struct RepeatIndex {
    std::string_view repeat;  // the repeat's name
    std::size_t number = 1;   // 1-based
};

/// What an expression may ask about the record it is evaluated in. Implemented by the form
/// session; tests implement it with a map.
class Context {
  public:
    virtual ~Context() = default;
    /// The answer to question `name` (${name}); empty when unanswered. For a question in a
    /// repeat that the evaluated item is not in: the first instance's answer.
    [[nodiscard]] virtual Value answer(std::string_view name) const = 0;
    /// ${name} as a nodeset, for count(), sum() and the other aggregates: every instance's
    /// answer in form order when the question lies in a repeat the evaluated item is not in
    /// (empty values for unanswered or hidden ones); one value per instance of a repeat; else
    /// the one answer.
    [[nodiscard]] virtual std::vector<Value> answers(std::string_view name) const;
    /// indexed-repeat(): question `name`'s answer in the given instances; repeats not named
    /// keep the evaluated item's instance, or the first. Empty when there is no such instance.
    [[nodiscard]] virtual Value indexedAnswer(std::string_view /*name*/,
                                              const std::vector<RepeatIndex>& /*indices*/) const {
        return {};
    }
    /// The case's property `name` (${case.name}); empty when the case has no such property or
    /// the record belongs to no case.
    [[nodiscard]] virtual Value caseProperty(std::string_view /*name*/) const { return {}; }
    /// The answer being checked (`.`) in a constraint; in a calculation, the answer it gave
    /// last (once()).
    [[nodiscard]] virtual Value current() const { return {}; }
    /// A bare name in a choice filter: the choice's `name` or one of its properties.
    [[nodiscard]] virtual Value choiceField(std::string_view /*name*/) const { return {}; }
    /// jr:choice-name(): the label of choice `choice` of question `question`'s list in the
    /// session's language; empty when there is none.
    [[nodiscard]] virtual std::string choiceLabel(std::string_view /*question*/,
                                                  std::string_view /*choice*/) const {
        return {};
    }
    /// 1-based position of the repeat instance being evaluated (position(..)); 0 outside repeats.
    [[nodiscard]] virtual int position() const { return 0; }
    [[nodiscard]] virtual std::int64_t nowUtcMs() const;
    /// Today's date on the device (local time).
    [[nodiscard]] virtual Date today() const;
    /// The device's offset from UTC at `utcMs`, in minutes (east positive).
    [[nodiscard]] virtual int localOffsetMinutes(std::int64_t utcMs) const;
    /// A new random UUID (uuid()), as text.
    [[nodiscard]] virtual std::string newUuid() const;
};

/// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t daysFromCivil(std::int64_t year, unsigned month, unsigned day);
/// Days since 1970-01-01 as "YYYY-MM-DD".
std::string formatIsoDate(std::int64_t days);
/// "YYYY-MM-DD" (a real calendar date) as days since 1970-01-01; with `allowTime`, a time part
/// after 'T' or ' ' is allowed and ignored.
std::optional<std::int64_t> parseIsoDate(std::string_view text, bool allowTime = false);

/// Whether `pattern` is usable in regex() (a POSIX extended regular expression, with \d \w
/// \s and their negations, without back-references). The error says what is wrong.
Status checkPattern(std::string_view pattern);

/// What `${case.name}` starts with: such references read case properties, not answers.
inline constexpr std::string_view kCaseReferencePrefix = "case.";

/// How an expression uses a ${name}: for its value (a question in a repeat read from outside
/// reads the first instance), as a nodeset (count(), sum(), min(x), ...), or in indexed-repeat().
enum class ReferenceKind : std::uint8_t { Scalar, Nodeset, Indexed };
struct ReferenceUse {
    std::string name;
    ReferenceKind kind = ReferenceKind::Scalar;
};
/// One indexed-repeat() call: the question it reads and the repeats it indexes, in order.
struct IndexedRepeatUse {
    std::string question;
    std::vector<std::string> repeats;
};

struct ParseOptions {
    /// A choice filter: bare names (`name`, `region`) read the choice (Context::choiceField).
    bool choiceFields = false;
};

class Expression {
  public:
    static constexpr std::size_t kMaxLength = 4096;
    static constexpr int kMaxDepth = 48;
    static constexpr std::size_t kMaxNodes = 2000;

    /// Parses `text`. Errors (InvalidArgument) say what is wrong and at which column (1-based).
    static Result<Expression> parse(std::string_view text, ParseOptions options = {});

    Expression();
    Expression(Expression&&) noexcept;
    Expression& operator=(Expression&&) noexcept;
    Expression(const Expression&);
    Expression& operator=(const Expression&);
    ~Expression();

    /// Never throws and never fails: as in XLSForm, nonsense evaluates to NaN or ''.
    [[nodiscard]] Value evaluate(const Context& context) const;

    /// Question and repeat names referenced with ${...}, each once, in order of first use: what
    /// the value depends on. Case properties are not among them.
    [[nodiscard]] const std::vector<std::string>& references() const;
    /// Every ${...} of a question or repeat, in order, with how it is used (for the form checks).
    [[nodiscard]] const std::vector<ReferenceUse>& referenceUses() const;
    [[nodiscard]] const std::vector<IndexedRepeatUse>& indexedRepeats() const;
    /// Case property names referenced with ${case.name}, each once, in order of first use. They
    /// do not change while a record is filled in, so nothing needs re-evaluating for them.
    [[nodiscard]] const std::vector<std::string>& caseReferences() const;
    /// Bare names of a choice filter, each once, in order of first use.
    [[nodiscard]] const std::vector<std::string>& choiceFields() const;
    /// The questions named by jr:choice-name(v, '${q}'), each once.
    [[nodiscard]] const std::vector<std::string>& choiceNameQuestions() const;
    [[nodiscard]] bool usesCurrent() const;  // `.`
    [[nodiscard]] bool usesClock() const;    // today() or now(): re-evaluate on demand
    [[nodiscard]] const std::string& text() const;

    struct Program;

  private:
    std::shared_ptr<const Program> m_program;  // immutable once parsed; shared by copies
};

}  // namespace veld::expr
