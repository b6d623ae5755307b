// regex() and the pattern of text questions: POSIX extended regular expressions with \d \w \s,
// refused when compiling them would cost too much.
#include <algorithm>
#include <string>

#include "expression_internal.hpp"

namespace veld::expr {

namespace detail {

namespace {

constexpr std::size_t kMaxRegexInput = 4096;
constexpr std::size_t kMaxPatternBytes = 512;
// What a pattern may cost to compile (see patternCost), far above any real one: real patterns
// repeat a group of repeated atoms at most ("^([a-z]+[.-]?)+$" has depth 2).
constexpr std::size_t kMaxPatternNodes = 2048;
constexpr int kMaxRepetitionDepth = 3;

// What compiling the ERE `pattern` costs glibc's regcomp. It copies a repeated sub-expression
// once per repetition (x+ becomes xx*, x{n,m} m copies), so stacked and nested repetitions
// multiply: "1+++...+" (60 bytes) asks for 2^58 atoms, and regcomp takes memory until the
// process dies. And a loop (*, +, {n,}) around what can match nothing ("()*", "(a?)+") makes
// its epsilon closures grow with the cube of the atoms: "(()*){1,512}" takes seconds.
struct PatternCost {
    std::size_t atoms = 0;   // saturates just above kMaxPatternNodes
    int depth = 0;           // repetition operators applying to one atom, stacked or via groups
    bool emptyLoop = false;  // a loop around a sub-expression that can match the empty string
};

PatternCost patternCost(std::string_view pattern) {
    static constexpr std::size_t kOver = kMaxPatternNodes + 1;
    const auto add = [](std::size_t a, std::size_t b) { return std::min(kOver, a + b); };
    const auto times = [](std::size_t a, std::size_t b) {
        return (b != 0 && a > kOver / b) ? kOver : std::min(kOver, a * b);
    };
    // Per open group: the atoms before the last item and the last item (what a repetition
    // applies to), the deepest repetition in each, and whether they can match nothing.
    struct Level {
        std::size_t total = 0;
        std::size_t last = 0;
        int totalDepth = 0;
        int lastDepth = 0;
        bool branchEmpty = true;  // the current alternative's items before the last one
        bool lastEmpty = true;    // the last item (none yet: empty)
        bool otherEmpty = false;  // an earlier alternative
    };
    PatternCost cost;
    std::vector<Level> levels(1);
    const auto item = [&](std::size_t size, int depth, bool empty) {
        Level& top = levels.back();
        top.total = add(top.total, top.last);
        top.totalDepth = std::max(top.totalDepth, top.lastDepth);
        top.branchEmpty = top.branchEmpty && top.lastEmpty;
        top.last = size;
        top.lastDepth = depth;
        top.lastEmpty = empty;
    };
    const auto repeat = [&](std::size_t copies, bool loop, bool mayBeNone) {
        Level& top = levels.back();
        if (loop && top.lastEmpty) cost.emptyLoop = true;
        top.last = times(top.last, copies);
        ++top.lastDepth;
        top.lastEmpty = top.lastEmpty || mayBeNone;
    };
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\') {
            ++i;
            item(1, 0, false);
        } else if (c == '[') {
            // A bracket expression is one atom; ']' first (after '^') is literal, and [:x:],
            // [.x.] and [=x=] may hold ']'.
            std::size_t j = i + 1;
            if (j < pattern.size() && pattern[j] == '^') ++j;
            if (j < pattern.size() && pattern[j] == ']') ++j;
            while (j < pattern.size() && pattern[j] != ']') {
                if (pattern[j] == '[' && j + 1 < pattern.size() &&
                    (pattern[j + 1] == ':' || pattern[j + 1] == '.' || pattern[j + 1] == '=')) {
                    const char kind = pattern[j + 1];
                    std::size_t close = j + 2;
                    while (close + 1 < pattern.size() &&
                           !(pattern[close] == kind && pattern[close + 1] == ']'))
                        ++close;
                    j = close + 2;
                } else {
                    ++j;
                }
            }
            i = j;
            item(1, 0, false);
        } else if (c == '(') {
            levels.emplace_back();
        } else if (c == ')' && levels.size() > 1) {
            const Level inner = levels.back();
            levels.pop_back();
            item(add(add(inner.total, inner.last), 1), std::max(inner.totalDepth, inner.lastDepth),
                 (inner.branchEmpty && inner.lastEmpty) || inner.otherEmpty);
        } else if (c == '|') {
            Level& top = levels.back();
            item(0, 0, true);
            top.otherEmpty = top.otherEmpty || top.branchEmpty;
            top.branchEmpty = true;
            top.total = add(top.total, 1);
        } else if (c == '+') {
            repeat(2, true, false);
        } else if (c == '*') {
            repeat(1, true, true);
        } else if (c == '?') {
            repeat(1, false, true);
        } else if (c == '{') {
            std::size_t j = i + 1;
            std::size_t low = 0;
            std::size_t high = 0;
            bool comma = false;
            for (; j < pattern.size() && pattern[j] != '}'; ++j) {
                const char d = pattern[j];
                if (d == ',' && !comma) {
                    comma = true;
                } else if (d >= '0' && d <= '9') {
                    std::size_t& v = comma ? high : low;
                    v = std::min(kOver, v * 10 + static_cast<std::size_t>(d - '0'));
                } else {
                    break;
                }
            }
            if (j < pattern.size() && pattern[j] == '}') {
                const bool open = comma && high == 0;  // {n,}
                repeat(std::max({low, high, open ? low + 1 : 0, std::size_t{1}}), open, low == 0);
                i = j;
            } else {
                item(1, 0, false);
            }
        } else {
            item(1, 0, false);
        }
    }
    for (const auto& level : levels) {
        cost.atoms = add(cost.atoms, add(level.total, level.last));
        cost.depth = std::max({cost.depth, level.totalDepth, level.lastDepth});
    }
    return cost;
}

// The common Perl-style classes, which POSIX EREs lack; back-references are refused (they are
// what makes matching exponential).
std::optional<std::string> translate(std::string_view pattern) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c != '\\' || i + 1 == pattern.size()) {
            out.push_back(c);
            continue;
        }
        char n = pattern[++i];
        switch (n) {
            case 'd':
                out += "[0-9]";
                break;
            case 'D':
                out += "[^0-9]";
                break;
            case 'w':
                out += "[A-Za-z0-9_]";
                break;
            case 'W':
                out += "[^A-Za-z0-9_]";
                break;
            case 's':
                out += "[[:space:]]";
                break;
            case 'S':
                out += "[^[:space:]]";
                break;
            default:
                if (n >= '1' && n <= '9') return std::nullopt;
                out.push_back('\\');
                out.push_back(n);
        }
    }
    return out;
}

}  // namespace

std::unique_ptr<Regex> Regex::compile(std::string_view pattern, std::string& error) {
    if (pattern.size() > kMaxPatternBytes) {
        error = "the pattern is longer than 512 bytes";
        return nullptr;
    }
    if (pattern.find('\0') != std::string_view::npos) {
        // regcomp would stop there and check only the part before it.
        error = "the pattern contains a NUL character";
        return nullptr;
    }
    auto translated = translate(pattern);
    if (!translated) {
        error = "back-references (\\1 ... \\9) are not supported in patterns";
        return nullptr;
    }
    if (const PatternCost cost = patternCost(*translated);
        cost.atoms > kMaxPatternNodes || cost.depth > kMaxRepetitionDepth || cost.emptyLoop) {
        error =
            "the pattern repeats too much (stacked or nested repetitions, or a loop "
            "around what can be empty)";
        return nullptr;
    }
    auto re = std::unique_ptr<Regex>(new Regex);
    int rc = regcomp(&re->m_re, translated->c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char buf[200];
        regerror(rc, &re->m_re, buf, sizeof buf);
        error = std::string("the pattern is not a valid regular expression: ") + buf;
        return nullptr;
    }
    re->m_ok = true;
    return re;
}

bool Regex::search(const std::string& text) const {
    if (text.size() > kMaxRegexInput) return false;
    return regexec(&m_re, text.c_str(), 0, nullptr, 0) == 0;
}

Regex::~Regex() {
    if (m_ok) regfree(&m_re);
}

}  // namespace detail

Status checkPattern(std::string_view pattern) {
    std::string error;
    if (!detail::Regex::compile(pattern, error))
        return makeError(ErrorCode::InvalidArgument, error);
    return {};
}

}  // namespace veld::expr
