// Form expressions: the XLSForm subset Veld supports, parsed once and evaluated many times.
//
//   ${q}  .  position(..)                      references to answers
//   ${case.name}                               a property of the record's case (follow-up, close)
//   or  and  =  !=  <  <=  >  >=  +  -  *  div  mod  unary -
//   selected(a, 'x')  count-selected(a)  string-length(s)  regex(s, 'pattern')  if(c, a, b)
//   coalesce(a, b)  today()  now()  int(x)  number(x)  concat(a, ...)  not(x)  true()  false()
//
// Semantics follow XLSForm (XPath 1.0 as ODK evaluates it): an unanswered question is the empty
// string; numbers of empty or non-numeric text are NaN, so `${age} > 17` is false while age is
// empty and `${age} = ''` is true; `=` compares as booleans if either side is one, else as
// numbers if either side is one, else as text; `<` and friends compare numbers (or dates, when
// either side is a date). Dates are days since 1970-01-01; date-times are UTC milliseconds.
// A case property is text (empty when the case has none), converted like any other text: an ISO
// date compares as a date, digits as a number.
//
// Hostile input is bounded: expressions longer than 4096 bytes, nested more than 48 deep or with
// more than 2000 nodes are refused at parse time; evaluation is linear in the expression's size
// (the language has no loops); text values are capped at 64 KiB; regex() uses POSIX extended
// regular expressions (no backtracking blow-up) on at most 4 KiB of text.
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

/// What an expression may ask about the record it is evaluated in. Implemented by the form
/// session; tests implement it with a map.
class Context {
  public:
    virtual ~Context() = default;
    /// The answer to question `name` (${name}); empty when unanswered.
    [[nodiscard]] virtual Value answer(std::string_view name) const = 0;
    /// The case's property `name` (${case.name}); empty when the case has no such property or
    /// the record belongs to no case.
    [[nodiscard]] virtual Value caseProperty(std::string_view /*name*/) const { return {}; }
    /// The answer being checked (`.`), for constraints.
    [[nodiscard]] virtual Value current() const { return {}; }
    /// 1-based position of the repeat instance being evaluated (position(..)); 0 outside repeats.
    [[nodiscard]] virtual int position() const { return 0; }
    [[nodiscard]] virtual std::int64_t nowUtcMs() const;
    /// Today's date on the device (local time).
    [[nodiscard]] virtual Date today() const;
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

class Expression {
  public:
    static constexpr std::size_t kMaxLength = 4096;
    static constexpr int kMaxDepth = 48;
    static constexpr std::size_t kMaxNodes = 2000;

    /// Parses `text`. Errors (InvalidArgument) say what is wrong and at which column (1-based).
    static Result<Expression> parse(std::string_view text);

    Expression();
    Expression(Expression&&) noexcept;
    Expression& operator=(Expression&&) noexcept;
    Expression(const Expression&);
    Expression& operator=(const Expression&);
    ~Expression();

    /// Never throws and never fails: as in XLSForm, nonsense evaluates to NaN or ''.
    [[nodiscard]] Value evaluate(const Context& context) const;

    /// Question names referenced with ${...}, each once, in order of first use: what the value
    /// depends on. Case properties are not among them.
    [[nodiscard]] const std::vector<std::string>& references() const;
    /// Case property names referenced with ${case.name}, each once, in order of first use. They
    /// do not change while a record is filled in, so nothing needs re-evaluating for them.
    [[nodiscard]] const std::vector<std::string>& caseReferences() const;
    [[nodiscard]] bool usesCurrent() const;  // `.`
    [[nodiscard]] bool usesClock() const;    // today() or now(): re-evaluate on demand
    [[nodiscard]] const std::string& text() const;

    struct Program;

  private:
    std::shared_ptr<const Program> m_program;  // immutable once parsed; shared by copies
};

}  // namespace veld::expr
