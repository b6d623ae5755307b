// Parsing form expressions: tokens, precedence, the function table and what the checks need to
// know about an expression (its references and how they are used).
#include <algorithm>
#include <cctype>

#include "expression_internal.hpp"

namespace veld::expr {

namespace detail {

namespace {

constexpr FnInfo kFunctions[] = {
    {"selected", Fn::Selected, 2, 2},
    {"count-selected", Fn::CountSelected, 1, 1},
    {"selected-at", Fn::SelectedAt, 2, 2},
    {"string-length", Fn::StringLength, 1, 1},
    {"regex", Fn::Regex, 2, 2},
    {"if", Fn::If, 3, 3},
    {"coalesce", Fn::Coalesce, 2, 2},
    {"today", Fn::Today, 0, 0},
    {"now", Fn::Now, 0, 0},
    {"int", Fn::Int, 1, 1},
    {"number", Fn::Number, 1, 1},
    {"string", Fn::String, 1, 1},
    {"boolean", Fn::Boolean, 1, 1},
    {"concat", Fn::Concat, 1, -1},
    {"join", Fn::Join, 2, -1},
    {"not", Fn::Not, 1, 1},
    {"true", Fn::True, 0, 0},
    {"false", Fn::False, 0, 0},
    {"count", Fn::Count, 1, 1},
    {"count-non-empty", Fn::CountNonEmpty, 1, 1},
    {"sum", Fn::Sum, 1, 1},
    {"min", Fn::Min, 1, -1},
    {"max", Fn::Max, 1, -1},
    {"indexed-repeat", Fn::IndexedRepeat, 3, 11},
    {"round", Fn::Round, 1, 2},
    {"pow", Fn::Pow, 2, 2},
    {"abs", Fn::Abs, 1, 1},
    {"substr", Fn::Substr, 2, 3},
    {"contains", Fn::Contains, 2, 2},
    {"starts-with", Fn::StartsWith, 2, 2},
    {"ends-with", Fn::EndsWith, 2, 2},
    {"normalize-space", Fn::NormalizeSpace, 1, 1},
    {"jr:choice-name", Fn::ChoiceName, 2, 2},
    {"once", Fn::Once, 1, 1},
    {"uuid", Fn::Uuid, 0, 0},
    {"date", Fn::Date, 1, 1},
    {"format-date", Fn::FormatDate, 2, 2},
    {"format-date-time", Fn::FormatDateTime, 2, 2},
    {"decimal-date-time", Fn::DecimalDateTime, 1, 1},
};

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
bool wordChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}
bool isOperatorWord(std::string_view w) {
    return w == "and" || w == "or" || w == "div" || w == "mod";
}

class Parser {
  public:
    Parser(std::string_view text, Expression::Program& program, ParseOptions options)
        : m_text(text), m_p(program), m_options(options) {}

    Result<int> parseAll() {
        if (auto e = advance()) return *e;
        auto root = parseOr(0);
        if (!root) return root.error();
        if (m_tok.kind != Tok::End) return fail("unexpected '" + m_tok.text + "'");
        return root;
    }

  private:
    Error fail(const std::string& message) const { return failAt(m_tok.column, message); }
    static Error failAt(std::size_t column, const std::string& message) {
        return makeError(ErrorCode::InvalidArgument,
                         "column " + std::to_string(column) + ": " + message);
    }

    // Whether the token just read ends a value, so that a word right after it can only be an
    // operator: XPath reads `1div1` and `1and1` as `1 div 1` and `1 and 1`.
    [[nodiscard]] bool afterValue() const {
        switch (m_tok.kind) {
            case Tok::Number:
            case Tok::String:
            case Tok::Ref:
            case Tok::Dot:
            case Tok::DotDot:
            case Tok::RParen:
                return true;
            case Tok::Name:
                return !isOperatorWord(m_tok.text);
            default:
                return false;
        }
    }

    std::optional<Error> advance() {
        const bool valueBefore = m_pos > 0 && afterValue();
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
            while (end < m_text.size() && wordChar(m_text[end]))
                ++end;
            // A prefixed name (jr:choice-name).
            if (end + 1 < m_text.size() && m_text[end] == ':' && nameStart(m_text[end + 1])) {
                end += 2;
                while (end < m_text.size() && wordChar(m_text[end]))
                    ++end;
            }
            if (valueBefore) {
                for (std::string_view word : {"and", "or", "div", "mod"}) {
                    if (m_text.substr(m_pos, end - m_pos).starts_with(word))
                        return take(Tok::Name, word.size());
                }
            }
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

    static void remember(std::vector<std::string>& list, const std::string& name) {
        if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
    }

    Result<int> parsePrimary(int depth) {
        if (auto g = guardDepth(depth); !g) return g.error();
        Token tok = m_tok;
        switch (tok.kind) {
            case Tok::Number: {
                if (auto e = advance()) return *e;
                Node n;
                n.literal = parsePlainNumber(tok.text);
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
                const bool isCase = n.name.starts_with(kCaseReferencePrefix);
                if (isCase) {
                    n.op = Op::CaseRef;
                    n.name.erase(0, kCaseReferencePrefix.size());
                    if (n.name.empty()) return fail("'${case.}' names no case property");
                }
                if (auto e = advance()) return *e;
                remember(isCase ? m_p.caseReferences : m_p.references, n.name);
                std::string name = n.name;
                auto index = add(std::move(n));
                if (index && !isCase) {
                    m_p.referenceUses.push_back({std::move(name), ReferenceKind::Scalar});
                    m_p.referenceUseNodes.push_back(*index);
                }
                return index;
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

    [[nodiscard]] const Node& node(int index) const {
        return m_p.nodes[static_cast<std::size_t>(index)];
    }

    // Marks the reference that node `index` is (if it is one) as used in `kind`.
    void markUse(int index, ReferenceKind kind) {
        for (std::size_t i = 0; i < m_p.referenceUseNodes.size(); ++i) {
            if (m_p.referenceUseNodes[i] == index) m_p.referenceUses[i].kind = kind;
        }
    }

    // What some functions need of their arguments beyond their number.
    std::optional<Error> checkCall(const Token& name, Node& n) {
        const auto count = n.args.size();
        const auto isRef = [&](std::size_t i) { return node(n.args[i]).op == Op::Ref; };
        switch (n.fn) {
            case Fn::Count:
            case Fn::CountNonEmpty:
            case Fn::Sum:
                if (!isRef(0))
                    return failAt(name.column, name.text +
                                                   "() takes a ${reference} to a question or "
                                                   "repeat");
                markUse(n.args[0], ReferenceKind::Nodeset);
                break;
            case Fn::Min:
            case Fn::Max:
                if (count == 1 && isRef(0)) markUse(n.args[0], ReferenceKind::Nodeset);
                break;
            case Fn::Join:
                if (count == 2 && isRef(1)) markUse(n.args[1], ReferenceKind::Nodeset);
                break;
            case Fn::IndexedRepeat: {
                if (count % 2 == 0)
                    return failAt(name.column,
                                  "indexed-repeat() takes a question, then pairs of a repeat and "
                                  "an instance number");
                IndexedRepeatUse use;
                for (std::size_t i = 0; i < count; i += i == 0 ? 1 : 2) {
                    if (!isRef(i))
                        return failAt(name.column, "indexed-repeat() takes ${references} to a " +
                                                       std::string(i == 0 ? "question" : "repeat") +
                                                       " as argument " + std::to_string(i + 1));
                    markUse(n.args[i], ReferenceKind::Indexed);
                    (i == 0 ? use.question : use.repeats.emplace_back()) = node(n.args[i]).name;
                }
                m_p.indexedRepeats.push_back(std::move(use));
                break;
            }
            case Fn::ChoiceName: {
                // jr:choice-name(value, '${question}'): the question is named, not read.
                const Node& q = node(n.args[1]);
                const auto* text =
                    q.op == Op::Literal ? std::get_if<std::string>(&q.literal) : nullptr;
                std::string_view inner = text ? std::string_view(*text) : std::string_view();
                while (!inner.empty() && inner.front() == ' ')
                    inner.remove_prefix(1);
                while (!inner.empty() && inner.back() == ' ')
                    inner.remove_suffix(1);
                if (!inner.starts_with("${") || !inner.ends_with("}"))
                    return failAt(name.column,
                                  "jr:choice-name() names its question in quotes: "
                                  "jr:choice-name(${q}, '${q}')");
                inner = inner.substr(2, inner.size() - 3);
                if (inner.empty() || !nameStart(inner[0]) ||
                    !std::all_of(inner.begin(), inner.end(), nameChar) ||
                    inner.starts_with(kCaseReferencePrefix))
                    return failAt(name.column,
                                  "'" + std::string(inner) + "' is not a question name");
                n.name = std::string(inner);
                remember(m_p.choiceNameQuestions, n.name);
                break;
            }
            case Fn::Today:
            case Fn::Now:
                m_p.usesClock = true;
                break;
            case Fn::Regex: {
                const Node& pattern = node(n.args[1]);
                if (pattern.op != Op::Literal) break;
                if (const auto* text = std::get_if<std::string>(&pattern.literal)) {
                    std::string error;
                    auto re = Regex::compile(*text, error);
                    if (!re) return failAt(name.column, error);
                    n.regex = std::move(re);
                }
                break;
            }
            default:
                break;
        }
        return std::nullopt;
    }

    Result<int> parseCall(int depth) {
        Token name = m_tok;
        if (isOperatorWord(name.text)) return fail("'" + name.text + "' needs a value on its left");
        if (auto e = advance()) return *e;
        if (m_tok.kind != Tok::LParen) {
            if (m_options.choiceFields && name.text.find(':') == std::string::npos) {
                Node n;
                n.op = Op::ChoiceField;
                n.name = name.text;
                remember(m_p.choiceFields, n.name);
                return add(std::move(n));
            }
            return failAt(name.column, "'" + name.text +
                                           "' is not a function call; write answers as ${" +
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
        const FnInfo* info = findFunction(name.text);
        if (!info) return failAt(name.column, "unknown function '" + name.text + "'");
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
            std::string expected = info->minArgs == info->maxArgs ? std::to_string(info->minArgs)
                                   : info->maxArgs < 0 ? "at least " + std::to_string(info->minArgs)
                                                       : std::to_string(info->minArgs) + " to " +
                                                             std::to_string(info->maxArgs);
            return failAt(name.column, name.text + "() takes " + expected + " argument(s), not " +
                                           std::to_string(count));
        }
        if (auto e = checkCall(name, n)) return *e;
        return add(std::move(n));
    }

    std::string_view m_text;
    Expression::Program& m_p;
    ParseOptions m_options;
    std::size_t m_pos = 0;
    Token m_tok;
};

}  // namespace

const FnInfo* findFunction(std::string_view name) {
    for (const auto& f : kFunctions) {
        if (name == f.name) return &f;
    }
    return nullptr;
}

}  // namespace detail

Expression::Expression() = default;
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::Expression(const Expression&) = default;
Expression& Expression::operator=(const Expression&) = default;
Expression::~Expression() = default;

Result<Expression> Expression::parse(std::string_view text, ParseOptions options) {
    if (text.size() > kMaxLength)
        return makeError(ErrorCode::InvalidArgument, "the expression is longer than 4096 bytes");
    auto program = std::make_shared<Program>();
    program->text = std::string(text);
    detail::Parser parser(text, *program, options);
    auto root = parser.parseAll();
    if (!root) return root.error();
    program->root = *root;
    Expression e;
    e.m_program = std::move(program);
    return e;
}

namespace {
template <class T>
const std::vector<T>& none() {
    static const std::vector<T> kNone;
    return kNone;
}
}  // namespace

const std::vector<std::string>& Expression::references() const {
    return m_program ? m_program->references : none<std::string>();
}
const std::vector<ReferenceUse>& Expression::referenceUses() const {
    return m_program ? m_program->referenceUses : none<ReferenceUse>();
}
const std::vector<IndexedRepeatUse>& Expression::indexedRepeats() const {
    return m_program ? m_program->indexedRepeats : none<IndexedRepeatUse>();
}
const std::vector<std::string>& Expression::caseReferences() const {
    return m_program ? m_program->caseReferences : none<std::string>();
}
const std::vector<std::string>& Expression::choiceFields() const {
    return m_program ? m_program->choiceFields : none<std::string>();
}
const std::vector<std::string>& Expression::choiceNameQuestions() const {
    return m_program ? m_program->choiceNameQuestions : none<std::string>();
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
