#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <regex.h>

#include <veld/expression.hpp>

namespace veld::expr {

namespace {

constexpr std::size_t kMaxTextBytes = 64 * 1024;
constexpr std::size_t kMaxRegexInput = 4096;
constexpr std::size_t kMaxPatternBytes = 512;
// What a pattern may cost to compile (see patternCost), far above any real one: real patterns
// repeat a group of repeated atoms at most ("^([a-z]+[.-]?)+$" has depth 2).
constexpr std::size_t kMaxPatternNodes = 2048;
constexpr int kMaxRepetitionDepth = 3;
constexpr double kMillisPerDay = 86400000.0;

// ---- Dates ------------------------------------------------------------------------------------

void civilFromDays(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

// ---- Numbers ----------------------------------------------------------------------------------

// XPath number(): optional spaces, optional '-', digits with an optional '.', optional spaces.
double parseNumber(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
    std::size_t end = s.size();
    while (end > i && std::isspace(static_cast<unsigned char>(s[end - 1])))
        --end;
    std::string_view body = s.substr(i, end - i);
    if (body.empty()) return NAN;
    std::size_t k = 0;
    if (body[0] == '-') ++k;
    bool digits = false, dot = false;
    for (; k < body.size(); ++k) {
        char c = body[k];
        if (std::isdigit(static_cast<unsigned char>(c))) {
            digits = true;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            return NAN;
        }
    }
    if (!digits) return NAN;
    return std::strtod(std::string(body).c_str(), nullptr);
}

std::string formatNumber(double v) {
    if (std::isnan(v)) return "";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    if (v == std::trunc(v) && std::fabs(v) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
        return buf;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
}

std::size_t codePoints(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string capText(std::string s) {
    if (s.size() <= kMaxTextBytes) return s;
    std::size_t end = kMaxTextBytes;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80)
        --end;
    s.resize(end);
    return s;
}

// ---- Regular expressions ---------------------------------------------------------------------

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

// A compiled POSIX extended regular expression. POSIX matching has no exponential backtracking,
// so a hostile pattern costs time proportional to pattern and input, never a hang; compiling
// is bounded by patternCost.
class Regex {
  public:
    static std::optional<std::string> translate(std::string_view pattern) {
        // The common Perl-style classes, which POSIX EREs lack; back-references are refused (they
        // are what makes matching exponential).
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

    static std::unique_ptr<Regex> compile(std::string_view pattern, std::string& error) {
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

    [[nodiscard]] bool search(const std::string& text) const {
        if (text.size() > kMaxRegexInput) return false;
        return regexec(&m_re, text.c_str(), 0, nullptr, 0) == 0;
    }

    ~Regex() {
        if (m_ok) regfree(&m_re);
    }
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
    StringLength,
    Regex,
    If,
    Coalesce,
    Today,
    Now,
    Int,
    Number,
    Concat,
    Not,
    True,
    False,
};

struct FnInfo {
    const char* name;
    Fn fn;
    int minArgs;
    int maxArgs;  // -1: any number
};

constexpr FnInfo kFunctions[] = {
    {"selected", Fn::Selected, 2, 2},
    {"count-selected", Fn::CountSelected, 1, 1},
    {"string-length", Fn::StringLength, 1, 1},
    {"regex", Fn::Regex, 2, 2},
    {"if", Fn::If, 3, 3},
    {"coalesce", Fn::Coalesce, 2, 2},
    {"today", Fn::Today, 0, 0},
    {"now", Fn::Now, 0, 0},
    {"int", Fn::Int, 1, 1},
    {"number", Fn::Number, 1, 1},
    {"concat", Fn::Concat, 1, -1},
    {"not", Fn::Not, 1, 1},
    {"true", Fn::True, 0, 0},
    {"false", Fn::False, 0, 0},
};

struct Node {
    Op op = Op::Literal;
    Fn fn = Fn::True;
    Value literal;
    std::string name;
    std::vector<int> args;
    std::shared_ptr<const Regex> regex;  // regex() with a literal pattern, compiled once
};

}  // namespace

struct Expression::Program {
    std::string text;
    std::vector<Node> nodes;
    int root = -1;
    std::vector<std::string> references;
    std::vector<std::string> caseReferences;
    bool usesCurrent = false;
    bool usesClock = false;
};

namespace {

// ---- Parser -----------------------------------------------------------------------------------

enum class Tok { End, Ref, Dot, DotDot, Number, String, Name, Op, LParen, RParen, Comma };

struct Token {
    Tok kind = Tok::End;
    std::string text;
    std::size_t column = 0;  // 1-based
};

bool nameStart(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool nameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

class Parser {
  public:
    Parser(std::string_view text, Expression::Program& program) : m_text(text), m_p(program) {}

    Result<int> parseAll() {
        if (auto e = advance()) return *e;
        auto root = parseOr(0);
        if (!root) return root.error();
        if (m_tok.kind != Tok::End) return fail("unexpected '" + m_tok.text + "'");
        return root;
    }

  private:
    Error fail(const std::string& message) const {
        return makeError(ErrorCode::InvalidArgument,
                         "column " + std::to_string(m_tok.column) + ": " + message);
    }

    std::optional<Error> advance() {
        while (m_pos < m_text.size() && std::isspace(static_cast<unsigned char>(m_text[m_pos])))
            ++m_pos;
        m_tok = Token{};
        m_tok.column = m_pos + 1;
        if (m_pos >= m_text.size()) {
            m_tok.kind = Tok::End;
            m_tok.text = "end of expression";
            return std::nullopt;
        }
        char c = m_text[m_pos];
        auto take = [&](Tok kind, std::size_t n) {
            m_tok.kind = kind;
            m_tok.text = std::string(m_text.substr(m_pos, n));
            m_pos += n;
            return std::nullopt;
        };
        if (c == '$') {
            if (m_pos + 1 >= m_text.size() || m_text[m_pos + 1] != '{')
                return fail("'$' must start a reference like ${question}");
            std::size_t close = m_text.find('}', m_pos + 2);
            if (close == std::string_view::npos) return fail("'${' without a closing '}'");
            std::string_view name = m_text.substr(m_pos + 2, close - m_pos - 2);
            if (name.empty() || !nameStart(name[0]) ||
                !std::all_of(name.begin(), name.end(), nameChar))
                return fail("'" + std::string(name) + "' is not a question name");
            m_tok.kind = Tok::Ref;
            m_tok.text = std::string(name);
            m_pos = close + 1;
            return std::nullopt;
        }
        if (c == '.') {
            if (m_pos + 1 < m_text.size() && m_text[m_pos + 1] == '.') return take(Tok::DotDot, 2);
            if (m_pos + 1 < m_text.size() &&
                std::isdigit(static_cast<unsigned char>(m_text[m_pos + 1])))
                return number();
            return take(Tok::Dot, 1);
        }
        if (std::isdigit(static_cast<unsigned char>(c))) return number();
        if (c == '\'' || c == '"') {
            std::size_t close = m_text.find(c, m_pos + 1);
            if (close == std::string_view::npos) return fail("text without its closing quote");
            m_tok.kind = Tok::String;
            m_tok.text = std::string(m_text.substr(m_pos + 1, close - m_pos - 1));
            m_pos = close + 1;
            return std::nullopt;
        }
        if (nameStart(c)) {
            std::size_t end = m_pos + 1;
            while (end < m_text.size() && (std::isalnum(static_cast<unsigned char>(m_text[end])) ||
                                           m_text[end] == '_' || m_text[end] == '-'))
                ++end;
            return take(Tok::Name, end - m_pos);
        }
        if (c == '(') return take(Tok::LParen, 1);
        if (c == ')') return take(Tok::RParen, 1);
        if (c == ',') return take(Tok::Comma, 1);
        if (c == '!' && m_pos + 1 < m_text.size() && m_text[m_pos + 1] == '=')
            return take(Tok::Op, 2);
        if ((c == '<' || c == '>') && m_pos + 1 < m_text.size() && m_text[m_pos + 1] == '=')
            return take(Tok::Op, 2);
        if (c == '=' || c == '<' || c == '>' || c == '+' || c == '-' || c == '*')
            return take(Tok::Op, 1);
        return fail(std::string("unexpected character '") + c + "'");
    }

    std::optional<Error> number() {
        std::size_t end = m_pos;
        bool dot = false;
        while (end < m_text.size() && (std::isdigit(static_cast<unsigned char>(m_text[end])) ||
                                       (m_text[end] == '.' && !dot))) {
            if (m_text[end] == '.') dot = true;
            ++end;
        }
        m_tok.kind = Tok::Number;
        m_tok.text = std::string(m_text.substr(m_pos, end - m_pos));
        m_pos = end;
        return std::nullopt;
    }

    Result<int> add(Node node) {
        if (m_p.nodes.size() >= Expression::kMaxNodes)
            return fail("the expression is too long (more than 2000 parts)");
        m_p.nodes.push_back(std::move(node));
        return static_cast<int>(m_p.nodes.size() - 1);
    }

    Result<int> binary(Op op, int left, int right) {
        Node n;
        n.op = op;
        n.args = {left, right};
        return add(std::move(n));
    }

    bool isWord(const char* word) const { return m_tok.kind == Tok::Name && m_tok.text == word; }
    bool isOp(const char* op) const { return m_tok.kind == Tok::Op && m_tok.text == op; }

    Result<int> guardDepth(int depth) {
        if (depth > Expression::kMaxDepth)
            return fail("the expression is nested too deeply (more than 48 levels)");
        return 0;
    }

    // Each level: parse the next-tighter level, then fold left while this level's operator follows.
    template <class Next, class Match>
    Result<int> leftAssoc(int depth, Next next, Match match) {
        if (auto g = guardDepth(depth); !g) return g.error();
        auto left = next(depth + 1);
        if (!left) return left;
        while (auto op = match()) {
            if (auto e = advance()) return *e;
            auto right = next(depth + 1);
            if (!right) return right;
            left = binary(*op, *left, *right);
            if (!left) return left;
        }
        return left;
    }

    Result<int> parseOr(int depth) {
        return leftAssoc(
            depth, [this](int d) { return parseAnd(d); },
            [this]() -> std::optional<Op> {
                if (isWord("or")) return Op::Or;
                return std::nullopt;
            });
    }
    Result<int> parseAnd(int depth) {
        return leftAssoc(
            depth, [this](int d) { return parseEquality(d); },
            [this]() -> std::optional<Op> {
                if (isWord("and")) return Op::And;
                return std::nullopt;
            });
    }
    Result<int> parseEquality(int depth) {
        return leftAssoc(
            depth, [this](int d) { return parseRelational(d); },
            [this]() -> std::optional<Op> {
                if (isOp("=")) return Op::Eq;
                if (isOp("!=")) return Op::Ne;
                return std::nullopt;
            });
    }
    Result<int> parseRelational(int depth) {
        return leftAssoc(
            depth, [this](int d) { return parseAdditive(d); },
            [this]() -> std::optional<Op> {
                if (isOp("<")) return Op::Lt;
                if (isOp("<=")) return Op::Le;
                if (isOp(">")) return Op::Gt;
                if (isOp(">=")) return Op::Ge;
                return std::nullopt;
            });
    }
    Result<int> parseAdditive(int depth) {
        return leftAssoc(
            depth, [this](int d) { return parseMultiplicative(d); },
            [this]() -> std::optional<Op> {
                if (isOp("+")) return Op::Add;
                if (isOp("-")) return Op::Sub;
                return std::nullopt;
            });
    }
    Result<int> parseMultiplicative(int depth) {
        return leftAssoc(
            depth, [this](int d) { return parseUnary(d); },
            [this]() -> std::optional<Op> {
                if (isOp("*")) return Op::Mul;
                if (isWord("div")) return Op::Div;
                if (isWord("mod")) return Op::Mod;
                return std::nullopt;
            });
    }

    Result<int> parseUnary(int depth) {
        if (auto g = guardDepth(depth); !g) return g.error();
        if (isOp("-")) {
            if (auto e = advance()) return *e;
            auto operand = parseUnary(depth + 1);
            if (!operand) return operand;
            Node n;
            n.op = Op::Neg;
            n.args = {*operand};
            return add(std::move(n));
        }
        return parsePrimary(depth + 1);
    }

    Result<int> parsePrimary(int depth) {
        if (auto g = guardDepth(depth); !g) return g.error();
        Token tok = m_tok;
        switch (tok.kind) {
            case Tok::Number: {
                if (auto e = advance()) return *e;
                Node n;
                n.literal = parseNumber(tok.text);
                return add(std::move(n));
            }
            case Tok::String: {
                if (auto e = advance()) return *e;
                Node n;
                n.literal = tok.text;
                return add(std::move(n));
            }
            case Tok::Ref: {
                Node n;
                n.op = Op::Ref;
                n.name = tok.text;
                auto* list = &m_p.references;
                if (n.name.starts_with(kCaseReferencePrefix)) {
                    n.op = Op::CaseRef;
                    n.name.erase(0, kCaseReferencePrefix.size());
                    if (n.name.empty()) return fail("'${case.}' names no case property");
                    list = &m_p.caseReferences;
                }
                if (auto e = advance()) return *e;
                if (std::find(list->begin(), list->end(), n.name) == list->end())
                    list->push_back(n.name);
                return add(std::move(n));
            }
            case Tok::Dot: {
                if (auto e = advance()) return *e;
                m_p.usesCurrent = true;
                Node n;
                n.op = Op::Current;
                return add(std::move(n));
            }
            case Tok::LParen: {
                if (auto e = advance()) return *e;
                auto inner = parseOr(depth + 1);
                if (!inner) return inner;
                if (m_tok.kind != Tok::RParen) return fail("expected ')'");
                if (auto e = advance()) return *e;
                return inner;
            }
            case Tok::Name:
                return parseCall(depth);
            case Tok::DotDot:
                return fail("'..' is only allowed as position(..)");
            default:
                break;
        }
        return fail("expected a value, a ${reference} or a function, not '" + tok.text + "'");
    }

    Result<int> parseCall(int depth) {
        Token name = m_tok;
        if (name.text == "and" || name.text == "or" || name.text == "div" || name.text == "mod")
            return fail("'" + name.text + "' needs a value on its left");
        if (auto e = advance()) return *e;
        if (m_tok.kind != Tok::LParen) {
            return fail("'" + name.text + "' is not a function call; write answers as ${" +
                        name.text + "}");
        }
        if (auto e = advance()) return *e;
        if (name.text == "position") {
            if (m_tok.kind != Tok::DotDot) return fail("position() takes '..': position(..)");
            if (auto e = advance()) return *e;
            if (m_tok.kind != Tok::RParen) return fail("expected ')' after position(..");
            if (auto e = advance()) return *e;
            Node n;
            n.op = Op::Position;
            return add(std::move(n));
        }
        const FnInfo* info = nullptr;
        for (const auto& f : kFunctions) {
            if (name.text == f.name) info = &f;
        }
        if (!info) return fail("unknown function '" + name.text + "'");
        Node n;
        n.op = Op::Call;
        n.fn = info->fn;
        if (m_tok.kind != Tok::RParen) {
            for (;;) {
                auto arg = parseOr(depth + 1);
                if (!arg) return arg;
                n.args.push_back(*arg);
                if (m_tok.kind == Tok::Comma) {
                    if (auto e = advance()) return *e;
                    continue;
                }
                if (m_tok.kind != Tok::RParen)
                    return fail("expected ',' or ')' in " + name.text + "()");
                break;
            }
        }
        if (auto e = advance()) return *e;
        auto count = static_cast<int>(n.args.size());
        if (count < info->minArgs || (info->maxArgs >= 0 && count > info->maxArgs)) {
            std::string expected = info->minArgs == info->maxArgs
                                       ? std::to_string(info->minArgs)
                                       : "at least " + std::to_string(info->minArgs);
            return makeError(ErrorCode::InvalidArgument, "column " + std::to_string(name.column) +
                                                             ": " + name.text + "() takes " +
                                                             expected + " argument(s), not " +
                                                             std::to_string(count));
        }
        if (n.fn == Fn::Today || n.fn == Fn::Now) m_p.usesClock = true;
        if (n.fn == Fn::Regex) {
            const Node& pattern = m_p.nodes[static_cast<std::size_t>(n.args[1])];
            if (pattern.op == Op::Literal) {
                if (const auto* text = std::get_if<std::string>(&pattern.literal)) {
                    std::string error;
                    auto re = Regex::compile(*text, error);
                    if (!re) {
                        return makeError(ErrorCode::InvalidArgument,
                                         "column " + std::to_string(name.column) + ": " + error);
                    }
                    n.regex = std::move(re);
                }
            }
        }
        return add(std::move(n));
    }

    std::string_view m_text;
    Expression::Program& m_p;
    std::size_t m_pos = 0;
    Token m_tok;
};

// ---- Evaluation -------------------------------------------------------------------------------

bool isDateLike(const Value& v) {
    return std::holds_alternative<Date>(v) || std::holds_alternative<DateTime>(v);
}

// A value as a point in time for comparisons with dates: days (fractional for date-times).
double toDays(const Value& v) {
    if (const auto* d = std::get_if<Date>(&v)) return d->days;
    if (const auto* t = std::get_if<DateTime>(&v))
        return static_cast<double>(t->utcMs) / kMillisPerDay;
    if (const auto* s = std::get_if<std::string>(&v)) {
        if (auto days = parseIsoDate(*s, true)) return static_cast<double>(*days);
    }
    return toNumber(v);
}

bool equals(const Value& a, const Value& b) {
    if (std::holds_alternative<bool>(a) || std::holds_alternative<bool>(b))
        return toBool(a) == toBool(b);
    if (std::holds_alternative<double>(a) || std::holds_alternative<double>(b))
        return toNumber(a) == toNumber(b);
    if (isDateLike(a) || isDateLike(b)) return toDays(a) == toDays(b);
    return toText(a) == toText(b);
}

class Evaluator {
  public:
    Evaluator(const Expression::Program& p, const Context& c) : m_p(p), m_c(c) {}

    Value eval(int index) const {
        const Node& n = m_p.nodes[static_cast<std::size_t>(index)];
        auto arg = [&](std::size_t i) { return eval(n.args[i]); };
        switch (n.op) {
            case Op::Literal:
                return n.literal;
            case Op::Ref:
                return m_c.answer(n.name);
            case Op::CaseRef:
                return m_c.caseProperty(n.name);
            case Op::Current:
                return m_c.current();
            case Op::Position:
                return static_cast<double>(m_c.position());
            case Op::Or:
                return toBool(arg(0)) || toBool(arg(1));
            case Op::And:
                return toBool(arg(0)) && toBool(arg(1));
            case Op::Eq:
                return equals(arg(0), arg(1));
            case Op::Ne: {
                Value a = arg(0), b = arg(1);
                // XPath: with numbers, NaN != x is true; otherwise the negation of '='.
                if (!std::holds_alternative<bool>(a) && !std::holds_alternative<bool>(b) &&
                    (std::holds_alternative<double>(a) || std::holds_alternative<double>(b)))
                    return toNumber(a) != toNumber(b);
                return !equals(a, b);
            }
            case Op::Lt:
            case Op::Le:
            case Op::Gt:
            case Op::Ge: {
                Value a = arg(0), b = arg(1);
                bool dates = isDateLike(a) || isDateLike(b);
                double x = dates ? toDays(a) : toNumber(a);
                double y = dates ? toDays(b) : toNumber(b);
                switch (n.op) {
                    case Op::Lt:
                        return x < y;
                    case Op::Le:
                        return x <= y;
                    case Op::Gt:
                        return x > y;
                    default:
                        return x >= y;
                }
            }
            case Op::Add:
                return toNumber(arg(0)) + toNumber(arg(1));
            case Op::Sub:
                return toNumber(arg(0)) - toNumber(arg(1));
            case Op::Mul:
                return toNumber(arg(0)) * toNumber(arg(1));
            case Op::Div:
                return toNumber(arg(0)) / toNumber(arg(1));
            case Op::Mod:
                return std::fmod(toNumber(arg(0)), toNumber(arg(1)));
            case Op::Neg:
                return -toNumber(arg(0));
            case Op::Call:
                return call(n);
        }
        return {};
    }

  private:
    Value call(const Node& n) const {
        auto arg = [&](std::size_t i) { return eval(n.args[i]); };
        switch (n.fn) {
            case Fn::Selected: {
                std::string list = toText(arg(0));
                std::string item = toText(arg(1));
                return !item.empty() && containsWord(list, item);
            }
            case Fn::CountSelected:
                return static_cast<double>(countWords(toText(arg(0))));
            case Fn::StringLength:
                return static_cast<double>(codePoints(toText(arg(0))));
            case Fn::Regex: {
                std::string text = toText(arg(0));
                if (n.regex) return n.regex->search(text);
                std::string error;
                auto re = Regex::compile(toText(arg(1)), error);
                return re ? re->search(text) : false;
            }
            case Fn::If:
                return toBool(arg(0)) ? arg(1) : arg(2);
            case Fn::Coalesce: {
                Value first = arg(0);
                return toText(first).empty() ? arg(1) : first;
            }
            case Fn::Today:
                return m_c.today();
            case Fn::Now:
                return DateTime{m_c.nowUtcMs()};
            case Fn::Int:
                return std::trunc(toNumber(arg(0)));
            case Fn::Number:
                return toNumber(arg(0));
            case Fn::Concat: {
                std::string out;
                for (std::size_t i = 0; i < n.args.size() && out.size() <= kMaxTextBytes; ++i)
                    out += toText(arg(i));
                return capText(std::move(out));
            }
            case Fn::Not:
                return !toBool(arg(0));
            case Fn::True:
                return true;
            case Fn::False:
                return false;
        }
        return {};
    }

    static bool containsWord(std::string_view list, std::string_view word) {
        std::size_t i = 0;
        while (i < list.size()) {
            while (i < list.size() && list[i] == ' ')
                ++i;
            std::size_t end = list.find(' ', i);
            if (end == std::string_view::npos) end = list.size();
            if (end > i && list.substr(i, end - i) == word) return true;
            i = end;
        }
        return false;
    }

    static std::size_t countWords(std::string_view list) {
        std::size_t count = 0;
        bool inWord = false;
        for (char c : list) {
            if (c == ' ') {
                inWord = false;
            } else if (!inWord) {
                inWord = true;
                ++count;
            }
        }
        return count;
    }

    const Expression::Program& m_p;
    const Context& m_c;
};

}  // namespace

bool isEmpty(const Value& v) {
    if (std::holds_alternative<std::monostate>(v)) return true;
    if (const auto* s = std::get_if<std::string>(&v)) return s->empty();
    return false;
}

bool toBool(const Value& v) {
    return std::visit(
        [](const auto& x) -> bool {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) return false;
            if constexpr (std::is_same_v<T, bool>) return x;
            if constexpr (std::is_same_v<T, double>) return x != 0 && !std::isnan(x);
            if constexpr (std::is_same_v<T, std::string>) return !x.empty();
            if constexpr (std::is_same_v<T, Date> || std::is_same_v<T, DateTime>) return true;
        },
        v);
}

double toNumber(const Value& v) {
    return std::visit(
        [](const auto& x) -> double {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) return NAN;
            if constexpr (std::is_same_v<T, bool>) return x ? 1.0 : 0.0;
            if constexpr (std::is_same_v<T, double>) return x;
            if constexpr (std::is_same_v<T, std::string>) return parseNumber(x);
            if constexpr (std::is_same_v<T, Date>) return x.days;
            if constexpr (std::is_same_v<T, DateTime>)
                return static_cast<double>(x.utcMs) / kMillisPerDay;
        },
        v);
}

std::string toText(const Value& v) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) return {};
            if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
            if constexpr (std::is_same_v<T, double>) return formatNumber(x);
            if constexpr (std::is_same_v<T, std::string>) return x;
            if constexpr (std::is_same_v<T, Date>) return formatIsoDate(x.days);
            if constexpr (std::is_same_v<T, DateTime>) {
                std::int64_t days =
                    x.utcMs >= 0 ? x.utcMs / 86400000 : -((-x.utcMs + 86399999) / 86400000);
                std::int64_t ms = x.utcMs - days * 86400000;
                char buf[32];
                std::snprintf(buf, sizeof buf, "T%02d:%02d:%02d.%03dZ",
                              static_cast<int>(ms / 3600000), static_cast<int>(ms / 60000 % 60),
                              static_cast<int>(ms / 1000 % 60), static_cast<int>(ms % 1000));
                return formatIsoDate(days) + buf;
            }
        },
        v);
}

// Howard Hinnant's days-from-civil algorithm.
std::string formatIsoDate(std::int64_t days) {
    std::int64_t y;
    unsigned m, d;
    civilFromDays(days, y, m, d);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
    return buf;
}

std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<std::int64_t> parseIsoDate(std::string_view s, bool allowTime) {
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    if (s.size() > 10 && (!allowTime || (s[10] != 'T' && s[10] != ' '))) return std::nullopt;
    auto digits = [&](std::size_t from, std::size_t n) -> std::optional<unsigned> {
        unsigned v = 0;
        for (std::size_t i = from; i < from + n; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
            v = v * 10 + static_cast<unsigned>(s[i] - '0');
        }
        return v;
    };
    auto y = digits(0, 4), m = digits(5, 2), d = digits(8, 2);
    if (!y || !m || !d || *m < 1 || *m > 12 || *d < 1) return std::nullopt;
    static constexpr unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    if (*d > (*m == 2 && !leap ? 28 : kDays[*m - 1])) return std::nullopt;
    return daysFromCivil(*y, *m, *d);
}

Status checkPattern(std::string_view pattern) {
    std::string error;
    if (!Regex::compile(pattern, error)) return makeError(ErrorCode::InvalidArgument, error);
    return {};
}

std::int64_t Context::nowUtcMs() const {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Date Context::today() const {
    std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    return Date{static_cast<std::int32_t>(daysFromCivil(local.tm_year + 1900,
                                                        static_cast<unsigned>(local.tm_mon + 1),
                                                        static_cast<unsigned>(local.tm_mday)))};
}

Expression::Expression() = default;
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::Expression(const Expression&) = default;
Expression& Expression::operator=(const Expression&) = default;
Expression::~Expression() = default;

Result<Expression> Expression::parse(std::string_view text) {
    if (text.size() > kMaxLength)
        return makeError(ErrorCode::InvalidArgument, "the expression is longer than 4096 bytes");
    auto program = std::make_shared<Program>();
    program->text = std::string(text);
    Parser parser(text, *program);
    auto root = parser.parseAll();
    if (!root) return root.error();
    program->root = *root;
    Expression e;
    e.m_program = std::move(program);
    return e;
}

Value Expression::evaluate(const Context& context) const {
    if (!m_program || m_program->root < 0) return {};
    return Evaluator(*m_program, context).eval(m_program->root);
}

const std::vector<std::string>& Expression::references() const {
    static const std::vector<std::string> kNone;
    return m_program ? m_program->references : kNone;
}

const std::vector<std::string>& Expression::caseReferences() const {
    static const std::vector<std::string> kNone;
    return m_program ? m_program->caseReferences : kNone;
}

bool Expression::usesCurrent() const {
    return m_program && m_program->usesCurrent;
}
bool Expression::usesClock() const {
    return m_program && m_program->usesClock;
}
const std::string& Expression::text() const {
    static const std::string kEmpty;
    return m_program ? m_program->text : kEmpty;
}

}  // namespace veld::expr
