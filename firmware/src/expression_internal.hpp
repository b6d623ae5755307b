// Form expressions' internals, shared by the parser (expression_parser.cpp), the evaluator
// (expression_eval.cpp), the functions (expression_functions.cpp), the conversions and dates
// (expression_values.cpp) and regular expressions (expression_regex.cpp). Not installed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#ifdef _WIN32
// Windows has no <regex.h>: TRE gives the same POSIX interface (tools/windows/deps).
#include <tre/regex.h>
#else
#include <regex.h>
#endif

#include <veld/expression.hpp>

namespace veld::expr::detail {

inline constexpr std::size_t kMaxTextBytes = 64 * 1024;
inline constexpr double kMillisPerDay = 86400000.0;
inline constexpr std::int64_t kMsPerDay = 86400000;

// ---- Regular expressions (expression_regex.cpp) -------------------------------------------------

// A compiled POSIX extended regular expression. POSIX matching has no exponential backtracking,
// so a hostile pattern costs time proportional to pattern and input, never a hang; compiling
// is bounded by what the pattern's repetitions would cost (see patternCost).
class Regex {
  public:
    /// Null with `error` set when the pattern is too long, repeats too much, uses
    /// back-references or is not a regular expression.
    static std::unique_ptr<Regex> compile(std::string_view pattern, std::string& error);
    /// Whether the pattern matches somewhere in `text`; false for text over 4 KiB.
    [[nodiscard]] bool search(const std::string& text) const;

    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

  private:
    Regex() = default;
    regex_t m_re{};
    bool m_ok = false;
};

// ---- Program ----------------------------------------------------------------------------------

enum class Op : std::uint8_t {
    Literal,
    Ref,
    CaseRef,
    ChoiceField,  // a bare name in a choice filter
    Current,
    Position,
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Neg,
    Call,
};

enum class Fn : std::uint8_t {
    Selected,
    CountSelected,
    SelectedAt,
    StringLength,
    Regex,
    If,
    Coalesce,
    Today,
    Now,
    Int,
    Number,
    String,
    Boolean,
    Concat,
    Join,
    Not,
    True,
    False,
    Count,
    CountNonEmpty,
    Sum,
    Min,
    Max,
    IndexedRepeat,
    Round,
    Pow,
    Abs,
    Substr,
    Contains,
    StartsWith,
    EndsWith,
    NormalizeSpace,
    ChoiceName,
    Once,
    Uuid,
    Date,
    FormatDate,
    FormatDateTime,
    DecimalDateTime,
};

struct FnInfo {
    const char* name;
    Fn fn;
    int minArgs;
    int maxArgs;  // -1: any number
};

/// The function called `name` (as written, e.g. "jr:choice-name"), or null.
const FnInfo* findFunction(std::string_view name);

struct Node {
    Op op = Op::Literal;
    Fn fn = Fn::True;
    Value literal;
    std::string name;  // Ref, CaseRef, ChoiceField; ChoiceName: the question
    std::vector<int> args;
    std::shared_ptr<const Regex> regex;  // regex() with a literal pattern, compiled once
};

// ---- Values (expression_values.cpp)
// --------------------------------------------------------------

/// XPath number() of text that is not a date: optional spaces, optional '-', digits with an
/// optional '.', optional spaces; NaN otherwise.
double parsePlainNumber(std::string_view s);
std::string formatNumber(double v);
std::size_t codePoints(std::string_view s);
/// Cut to kMaxTextBytes at a character boundary.
std::string capText(std::string s);
void civilFromDays(std::int64_t days, std::int64_t& year, unsigned& month, unsigned& day);
bool isDateLike(const Value& v);
/// XPath '=' with XLSForm's conversions (booleans, then numbers, then dates, then text).
bool equals(const Value& a, const Value& b);

/// A point in time read from text: "YYYY-MM-DD" (midnight) or "YYYY-MM-DD[T ]HH:MM[:SS[.fff]]"
/// with an optional "Z" or "+HH[:MM]" / "-HH[:MM]".
struct TextTime {
    std::int64_t days = 0;     // the date as written
    std::int64_t msOfDay = 0;  // the time of day as written
    std::optional<int> offsetMinutes;
};
std::optional<TextTime> parseTextTime(std::string_view text);

/// A value as a local point in time: its date and time of day where it was recorded (a
/// DateTime's own offset; a date at midnight; text as written, or in the device's offset when
/// it names another; a number of days in the device's offset), and its offset. Nullopt for
/// empty or unconvertible values.
struct LocalTime {
    std::int64_t days = 0;
    std::int64_t msOfDay = 0;
    int offsetMinutes = 0;
};
std::optional<LocalTime> toLocalTime(const Value& v, const Context& context);

// ---- Functions (expression_functions.cpp) -------------------------------------------------------

/// The functions whose arguments are plain values, evaluated already.
Value applyFunction(Fn fn, std::span<const Value> args, const Context& context);

}  // namespace veld::expr::detail

namespace veld::expr {

struct Expression::Program {
    std::string text;
    std::vector<detail::Node> nodes;
    int root = -1;
    std::vector<std::string> references;
    std::vector<std::string> caseReferences;
    std::vector<std::string> choiceFields;
    std::vector<ReferenceUse> referenceUses;
    std::vector<int> referenceUseNodes;  // the Ref node of each reference use
    std::vector<IndexedRepeatUse> indexedRepeats;
    std::vector<std::string> choiceNameQuestions;
    bool usesCurrent = false;
    bool usesClock = false;
};

}  // namespace veld::expr
