// Evaluating form expressions: operators, references and nodesets, and the functions that need
// more than their arguments' values (short-circuiting, nodesets, the context).
#include <algorithm>
#include <cmath>

#include "expression_internal.hpp"

namespace veld::expr {

namespace detail {

namespace {

class Evaluator {
  public:
    Evaluator(const Expression::Program& p, const Context& c) : m_p(p), m_c(c) {}

    Value eval(int index) const {
        const Node& n = node(index);
        auto arg = [&](std::size_t i) { return eval(n.args[i]); };
        switch (n.op) {
            case Op::Literal:
                return n.literal;
            case Op::Ref:
                return m_c.answer(n.name);
            case Op::CaseRef:
                return m_c.caseProperty(n.name);
            case Op::ChoiceField:
                return m_c.choiceField(n.name);
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
                const double x = toNumber(arg(0));
                const double y = toNumber(arg(1));
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
    [[nodiscard]] const Node& node(int index) const {
        return m_p.nodes[static_cast<std::size_t>(index)];
    }

    // An argument as a nodeset: every value of a ${reference}, or the one value of anything else.
    [[nodiscard]] std::vector<Value> nodeset(int index) const {
        const Node& n = node(index);
        if (n.op == Op::Ref) return m_c.answers(n.name);
        return {eval(index)};
    }

    // The values min(), max() and join() work on: one argument's nodeset, or every argument.
    [[nodiscard]] std::vector<Value> values(const Node& n, std::size_t from) const {
        if (n.args.size() == from + 1) return nodeset(n.args[from]);
        std::vector<Value> out;
        for (std::size_t i = from; i < n.args.size(); ++i)
            out.push_back(eval(n.args[i]));
        return out;
    }

    static Value extreme(const std::vector<Value>& values, bool largest) {
        // As ODK: what is not a number is left out; nothing left is NaN.
        double out = NAN;
        for (const auto& v : values) {
            const double x = toNumber(v);
            if (std::isnan(x)) continue;
            if (std::isnan(out) || (largest ? x > out : x < out)) out = x;
        }
        return out;
    }

    [[nodiscard]] Value call(const Node& n) const {
        auto arg = [&](std::size_t i) { return eval(n.args[i]); };
        switch (n.fn) {
            case Fn::If:
                return toBool(arg(0)) ? arg(1) : arg(2);
            case Fn::Coalesce: {
                Value first = arg(0);
                return toText(first).empty() ? arg(1) : first;
            }
            case Fn::Regex: {
                std::string text = toText(arg(0));
                if (n.regex) return n.regex->search(text);
                std::string error;
                auto re = Regex::compile(toText(arg(1)), error);
                return re ? re->search(text) : false;
            }
            case Fn::Count:
                return static_cast<double>(nodeset(n.args[0]).size());
            case Fn::CountNonEmpty: {
                double count = 0;
                for (const auto& v : nodeset(n.args[0]))
                    count += toText(v).empty() ? 0 : 1;
                return count;
            }
            case Fn::Sum: {
                // As ODK: values that are not numbers (unanswered ones) are left out.
                double sum = 0;
                for (const auto& v : nodeset(n.args[0])) {
                    const double x = toNumber(v);
                    if (!std::isnan(x)) sum += x;
                }
                return sum;
            }
            case Fn::Min:
                return extreme(values(n, 0), false);
            case Fn::Max:
                return extreme(values(n, 0), true);
            case Fn::Join: {
                const std::string separator = toText(arg(0));
                std::string out;
                bool first = true;
                for (const auto& v : values(n, 1)) {
                    if (out.size() > kMaxTextBytes) break;
                    if (!first) out += separator;
                    out += toText(v);
                    first = false;
                }
                return capText(std::move(out));
            }
            case Fn::IndexedRepeat: {
                std::vector<RepeatIndex> indices;
                for (std::size_t i = 1; i + 1 < n.args.size(); i += 2) {
                    // As ODK: a missing or non-positive number reads the first instance.
                    const double x = std::trunc(toNumber(arg(i + 1)));
                    const auto number = std::isnan(x) || x < 1
                                            ? std::size_t{1}
                                            : static_cast<std::size_t>(std::min(x, 1e9));
                    indices.push_back({node(n.args[i]).name, number});
                }
                return m_c.indexedAnswer(node(n.args[0]).name, indices);
            }
            case Fn::ChoiceName:
                return m_c.choiceLabel(n.name, toText(arg(0)));
            case Fn::Once: {
                Value before = m_c.current();
                return isEmpty(before) ? arg(0) : before;
            }
            case Fn::Today:
                return m_c.today();
            case Fn::Now: {
                const std::int64_t now = m_c.nowUtcMs();
                // A context's offset beyond any time zone's (+-14 h) is nonsense; UTC then.
                int offset = m_c.localOffsetMinutes(now);
                if (offset < -14 * 60 || offset > 14 * 60) offset = 0;
                return DateTime{now, static_cast<std::int16_t>(offset)};
            }
            case Fn::Uuid:
                return m_c.newUuid();
            default:
                break;
        }
        std::vector<Value> args;
        args.reserve(n.args.size());
        for (std::size_t i = 0; i < n.args.size(); ++i)
            args.push_back(arg(i));
        return applyFunction(n.fn, args, m_c);
    }

    const Expression::Program& m_p;
    const Context& m_c;
};

}  // namespace

}  // namespace detail

Value Expression::evaluate(const Context& context) const {
    if (!m_program || m_program->root < 0) return {};
    return detail::Evaluator(*m_program, context).eval(m_program->root);
}

}  // namespace veld::expr
