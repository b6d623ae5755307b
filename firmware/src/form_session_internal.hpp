// Private to the form session sources: the compiled form's index and the session's state.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <veld/expression.hpp>
#include <veld/form.hpp>
#include <veld/form_session.hpp>

namespace veld::forms {

using fb::ItemKind;
using fb::QuestionType;
using Texts = flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>;

inline constexpr std::size_t kNone = static_cast<std::size_t>(-1);
inline constexpr std::uint32_t kDefaultMaxLength = 2000;
inline constexpr std::int32_t kMsPerDay = 86400000;
// What a case property value holds at most (the record checks).
inline constexpr std::size_t kMaxCasePropertyBytes = 4096;
// Integers beyond this do not round-trip through a double; a calculation that far out is
// nonsense and stays unanswered rather than overflowing.
inline constexpr double kMaxCalculatedInteger = 9.0e15;
// The most instances a repeat_count makes, whatever its expression says.
inline constexpr double kMaxCountedInstances = 1000;

// A value of a slider question lies on one of its steps from min_value (within rounding:
// decimal steps such as 0.1 are not exact in binary).
inline bool onStep(double value, double min, double step) {
    const double r = (value - min) / step;
    return std::fabs(r - std::round(r)) <= 1e-9 * std::max(1.0, std::fabs(r));
}

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

inline std::string textIn(const Texts* texts, std::string_view lang, std::string_view fallback) {
    if (!texts) return {};
    for (const auto* t : *texts) {
        if (t->lang() && t->text() && t->lang()->string_view() == lang) return t->text()->str();
    }
    for (const auto* t : *texts) {
        if (t->lang() && t->text() && t->lang()->string_view() == fallback) return t->text()->str();
    }
    return {};
}

inline std::optional<unsigned> digits(std::string_view s) {
    if (s.empty()) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v;
}

// 'YYYY-MM-DD', strictly: defaults and calculated dates are written this way.
inline std::optional<DateAnswer> parseDate(std::string_view s) {
    auto days = expr::parseIsoDate(s);
    if (!days) return std::nullopt;
    return DateAnswer{static_cast<std::int32_t>(*days)};
}

// 'HH:MM' or 'HH:MM:SS'.
inline std::optional<TimeAnswer> parseTime(std::string_view s) {
    if (s.size() != 5 && s.size() != 8) return std::nullopt;
    if (s[2] != ':' || (s.size() == 8 && s[5] != ':')) return std::nullopt;
    auto h = digits(s.substr(0, 2));
    auto m = digits(s.substr(3, 2));
    auto sec = s.size() == 8 ? digits(s.substr(6, 2)) : std::optional<unsigned>(0);
    if (!h || !m || !sec || *h > 23 || *m > 59 || *sec > 59) return std::nullopt;
    return TimeAnswer{static_cast<std::int32_t>(((*h * 60 + *m) * 60 + *sec) * 1000)};
}

inline std::string formatHoursMinutes(std::int32_t ms) {
    auto minutes = ms / 60000;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d:%02d", minutes / 60, minutes % 60);
    return buf;
}

inline std::string formatTime(std::int32_t ms) {
    auto secs = ms / 1000;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", secs / 3600, secs / 60 % 60, secs % 60);
    return buf;
}

inline std::size_t codePoints(const std::string& text) {
    std::size_t n = 0;
    for (char c : text) {
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
    }
    return n;
}

inline std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    std::string w;
    while (in >> w)
        out.push_back(w);
    return out;
}

// An empty text or an empty selection is no answer: XLSForm treats '' as unanswered.
inline bool isBlank(const AnswerValue& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return s->empty();
    if (const auto* c = std::get_if<ChoicesAnswer>(&v)) return c->choices.empty();
    return false;
}

inline expr::Value toValue(const AnswerValue& v) {
    return std::visit(
        Overloaded{
            [](const std::string& s) -> expr::Value { return s; },
            [](std::int64_t i) -> expr::Value { return static_cast<double>(i); },
            [](const DecimalAnswer& d) -> expr::Value { return d.value; },
            [](bool b) -> expr::Value { return b; },
            [](const ChoiceAnswer& c) -> expr::Value { return c.choice; },
            [](const ChoicesAnswer& c) -> expr::Value {
                std::string out;
                for (const auto& name : c.choices) {
                    if (!out.empty()) out += ' ';
                    out += name;
                }
                return out;
            },
            [](const DateAnswer& d) -> expr::Value { return expr::Date{d.days}; },
            [](const TimeAnswer& t) -> expr::Value { return formatTime(t.ms); },
            [](const DateTimeAnswer& d) -> expr::Value {
                return expr::DateTime{d.utcMs, d.offsetMinutes};
            },
            // Only whether they were given matters to expressions; the content stays out of them.
            [](const SignatureAnswer&) -> expr::Value { return std::string("signed"); },
            [](const PseudonymAnswer&) -> expr::Value { return std::string("pseudonym"); },
        },
        v);
}

struct InstanceData {
    std::map<std::size_t, AnswerValue> answers;                // by node index
    std::map<std::size_t, std::vector<InstanceData>> repeats;  // by repeat node index
};

inline std::string describePath(const ItemPath& path) {
    std::string out = path.name;
    for (auto i : path.instances)
        out += "[" + std::to_string(i) + "]";
    return out;
}

inline Error invalid(std::string message) {
    return makeError(ErrorCode::InvalidArgument, message);
}

struct CompiledForm::Impl {
    struct Choice {
        std::string name;
        bool isOther = false;
        bool exclusive = false;  // select many: chosen alone
        const fb::Choice* source = nullptr;
    };
    struct Node {
        const fb::Item* item = nullptr;
        std::string name;
        ItemKind kind = ItemKind::Question;
        QuestionType type = QuestionType::None;
        std::size_t parent = kNone;
        std::vector<std::size_t> children;
        std::vector<std::size_t> repeats;  // enclosing repeats, outermost first, not itself
        std::optional<expr::Expression> relevance;
        std::optional<expr::Expression> constraint;
        std::optional<expr::Expression> calculation;
        std::optional<expr::Expression> pattern;      // regex(., '^(pattern)$')
        std::optional<expr::Expression> repeatCount;  // Repeat: its number of instances
        bool patternIsDynamic = false;                // the pattern comes from PatternContext
        std::string wrappedPattern;
        std::optional<expr::Expression> choiceFilter;
        std::vector<Choice> choices;
        std::vector<std::size_t> dependents;           // items whose logic refers to this question
        std::vector<std::size_t> calcDependents;       // calculated items that refer to it
        std::vector<std::size_t> relevanceDependents;  // items whose relevance refers to it
        std::size_t calcRank = kNone;                  // position in calcOrder

        [[nodiscard]] bool isQuestion() const { return kind == ItemKind::Question; }
        [[nodiscard]] bool calculated() const { return calculation.has_value(); }
        [[nodiscard]] bool takesAnswer() const {
            return isQuestion() && type != QuestionType::Note && !calculated();
        }
        [[nodiscard]] std::size_t innermostRepeat() const {
            return repeats.empty() ? kNone : repeats.back();
        }
        [[nodiscard]] const Choice* choice(std::string_view choiceName) const {
            for (const auto& c : choices) {
                if (c.name == choiceName) return &c;
            }
            return nullptr;
        }
        // An exclusive choice among several chosen, or null.
        [[nodiscard]] const Choice* exclusiveAmongOthers(
            const std::vector<std::string>& chosen) const {
            if (chosen.size() < 2) return nullptr;
            for (const auto& chosenName : chosen) {
                if (const Choice* c = choice(chosenName); c && c->exclusive) return c;
            }
            return nullptr;
        }
    };

    std::vector<std::uint8_t> binary;
    const fb::Form* form = nullptr;
    std::string id;
    std::uint32_t version = 0;
    std::string defaultLanguage;
    std::vector<Node> nodes;  // in form order (pre-order)
    std::vector<std::size_t> top;
    std::map<std::string, std::size_t, std::less<>> byName;
    std::vector<std::size_t> calcOrder;       // calculated items, each after those it refers to
    std::vector<std::size_t> filtered;        // select questions with a choice filter
    std::vector<std::size_t> countedRepeats;  // repeats with a repeat_count, in form order

    // case_settings and randomisation with their questions resolved (the checks made sure they
    // exist, outside repeats).
    struct CaseUpdate {
        std::string property;
        std::size_t node = kNone;
    };
    struct Randomisation {
        std::string study;
        std::optional<expr::Expression> when;
        std::vector<std::pair<std::string, std::size_t>> strata;  // factor, question
    };
    CaseAction caseAction = CaseAction::None;
    std::string caseType;
    std::size_t pseudonymNode = kNone;
    std::vector<CaseUpdate> caseUpdates;
    std::optional<Randomisation> randomisation;

    [[nodiscard]] std::size_t find(std::string_view name) const {
        auto it = byName.find(name);
        return it == byName.end() ? kNone : it->second;
    }

    Status addItems(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>& items,
                    std::size_t parent, const std::vector<std::size_t>& repeats);

    Status parseAll(std::size_t index);

    Status indexCases();

    void indexDependencies();
};

using Node = CompiledForm::Impl::Node;
using Instances = std::vector<std::size_t>;

struct FormSession::State {
    std::shared_ptr<const CompiledForm> form;
    const CompiledForm::Impl* impl = nullptr;
    std::string language;
    InstanceData root;
    mutable std::vector<std::size_t> m_deciding;  // items whose visibility is being evaluated
    mutable std::size_t m_cycleCuts = 0;          // how often a relevance cycle was cut short
    // Relevance results per item and instance, kept until an answer they may read changes: a
    // change clears only the items that depend on it, so refreshing after one answer costs what
    // that answer affects, not the whole form.
    mutable std::vector<std::map<Instances, bool>> m_relevant;

    // The record's case, and per case update (impl->caseUpdates) what tells a change from an
    // untouched value: the case's value when known, and the question's text when it started
    // (nullopt: calculated, or changed in an earlier sitting).
    struct Tracked {
        std::optional<std::string> base;
        std::optional<std::string> untouched;
        HlcTimestamp baseClock;  // the HLC of `base`: when the form started (or its draft did)
        bool baseClockKnown = false;
    };
    std::optional<Uuid> caseId;
    std::map<std::string, std::string, std::less<>> caseProperties;
    std::vector<Tracked> tracked;

    void forgetAllRelevance() const { m_relevant.assign(impl->nodes.size(), {}); }

    void forgetRelevanceFrom(std::size_t changed) const;

    [[nodiscard]] const Node& node(std::size_t i) const { return impl->nodes[i]; }

    // The instance data at `depth` levels down `repeats`, or null when an instance is missing.
    [[nodiscard]] const InstanceData* locate(const Instances& repeats, const Instances& instances,
                                             std::size_t depth) const {
        const InstanceData* at = &root;
        for (std::size_t k = 0; k < depth; ++k) {
            auto it = at->repeats.find(repeats[k]);
            if (it == at->repeats.end() || instances[k] >= it->second.size()) return nullptr;
            at = &it->second[instances[k]];
        }
        return at;
    }
    InstanceData* locateMutable(const Instances& repeats, const Instances& instances,
                                std::size_t depth) {
        return const_cast<InstanceData*>(std::as_const(*this).locate(repeats, instances, depth));
    }
    // Where node `n` keeps its answers (for a repeat: its instances) at `instances`.
    [[nodiscard]] const InstanceData* dataOf(std::size_t n, const Instances& instances) const {
        const auto& r = node(n).repeats;
        return locate(r, instances, r.size());
    }

    [[nodiscard]] const AnswerValue* answerAt(std::size_t n, const Instances& instances) const {
        const InstanceData* data = dataOf(n, instances);
        if (!data) return nullptr;
        auto it = data->answers.find(n);
        return it == data->answers.end() ? nullptr : &it->second;
    }

    [[nodiscard]] std::size_t countAt(std::size_t repeat, const Instances& instances) const {
        const InstanceData* data = dataOf(repeat, instances);
        if (!data) return 0;
        auto it = data->repeats.find(repeat);
        return it == data->repeats.end() ? 0 : it->second.size();
    }

    class EvalContext final : public expr::Context {
      public:
        EvalContext(const State& state, std::size_t n, const Instances& instances,
                    const AnswerValue* current, const fb::Choice* choice = nullptr)
            : m_state(state),
              m_node(n),
              m_instances(instances),
              m_current(current),
              m_choice(choice) {}

        [[nodiscard]] expr::Value answer(std::string_view name) const override;
        [[nodiscard]] std::vector<expr::Value> answers(std::string_view name) const override;
        [[nodiscard]] expr::Value indexedAnswer(
            std::string_view name, const std::vector<expr::RepeatIndex>& indices) const override;
        [[nodiscard]] expr::Value current() const override;
        [[nodiscard]] expr::Value caseProperty(std::string_view name) const override;
        [[nodiscard]] expr::Value choiceField(std::string_view name) const override;
        [[nodiscard]] std::string choiceLabel(std::string_view question,
                                              std::string_view choice) const override;
        [[nodiscard]] int position() const override;

      private:
        [[nodiscard]] std::size_t sharedLevels(const Instances& levels, std::size_t limit) const;

        void eachInstanceOf(std::size_t x, const std::function<bool(const Instances&)>& f) const;

        [[nodiscard]] expr::Value valueAt(std::size_t x, const Instances& at) const;

        const State& m_state;
        std::size_t m_node;
        const Instances& m_instances;
        const AnswerValue* m_current;
        const fb::Choice* m_choice;
    };

    // Hands the pattern to `regex(., ${pattern})` when it could not be written as a literal.
    class PatternContext final : public expr::Context {
      public:
        PatternContext(const std::string& pattern, const AnswerValue& text)
            : m_pattern(pattern), m_text(text) {}
        [[nodiscard]] expr::Value answer(std::string_view) const override { return m_pattern; }
        [[nodiscard]] expr::Value current() const override { return toValue(m_text); }

      private:
        const std::string& m_pattern;
        const AnswerValue& m_text;
    };

    // ---- visibility -------------------------------------------------------------------------

    [[nodiscard]] bool relevantHere(std::size_t n, const Instances& instances) const;

    [[nodiscard]] bool visible(std::size_t n, const Instances& instances) const;

    [[nodiscard]] bool visibleFromExpression(std::size_t n, const Instances& instances) const;

    void walk(const std::vector<std::size_t>& items, Instances& instances,
              const std::function<void(std::size_t, const Instances&)>& f) const;

    // ---- problems ---------------------------------------------------------------------------

    [[nodiscard]] std::optional<SessionProblem> problemAt(std::size_t n,
                                                          const Instances& instances) const;

    [[nodiscard]] std::vector<SessionProblem> allProblems() const;

    // ---- values -----------------------------------------------------------------------------

    [[nodiscard]] Status checkValue(const Node& nd, const AnswerValue& v) const;

    [[nodiscard]] Status storableError(const Node& nd, const AnswerValue& v) const;

    [[nodiscard]] bool storable(const Node& nd, const AnswerValue& v) const;

    [[nodiscard]] Status checkType(const Node& nd, const AnswerValue& v) const;

    [[nodiscard]] std::optional<AnswerValue> fromText(const Node& nd,
                                                      const std::string& text) const;

    [[nodiscard]] std::optional<AnswerValue> fromCalculation(const Node& nd,
                                                             const expr::Value& v) const;

    // ---- choice filters ---------------------------------------------------------------------

    [[nodiscard]] bool offered(std::size_t n, const Instances& instances,
                               const CompiledForm::Impl::Choice& c) const;

    [[nodiscard]] std::vector<std::size_t> offeredChoices(std::size_t n,
                                                          const Instances& instances) const;

    [[nodiscard]] std::optional<AnswerValue> withOffered(std::size_t n, const Instances& at,
                                                         const AnswerValue& v) const;

    [[nodiscard]] Status checkOffered(std::size_t n, const Instances& at,
                                      const AnswerValue& v) const;

    void pruneChoices();

    void store(std::size_t n, const Instances& instances, std::optional<AnswerValue> value);

    void applyDefaults(const std::vector<std::size_t>& items, InstanceData& data) const;

    // ---- calculations -----------------------------------------------------------------------

    void forEachInstance(std::size_t n, const Instances& scope, const Instances& prefix,
                         const std::function<void(const Instances&)>& f) const;

    bool calculate(std::size_t n, const Instances& instances);

    // Runs `order` until nothing changes: the order follows calculations' references to each
    // other, but a calculation may also read a question whose relevance reads a later
    // calculation. Each pass after the first is caused by such a change; the bound stops
    // anything that would never settle.
    template <class Pass>
    void untilStable(std::size_t calculations, Pass pass) {
        for (std::size_t round = 0; round <= calculations; ++round) {
            if (!pass()) return;
        }
    }

    void recalculate(const std::vector<std::size_t>& changed, const Instances& scope,
                     const Instances& prefix);

    void recalculateAll();

    void subtree(std::size_t n, std::vector<std::size_t>& out) const;

    void afterRepeatChange(std::size_t repeat, const Instances& instances);

    void followRepeatCounts();

    bool followRepeatCount(std::size_t n, const Instances& at);

    // ---- paths ------------------------------------------------------------------------------

    Status resolve(const ItemPath& path, std::size_t& out) const;

    Status resolveWritable(const ItemPath& path, std::size_t& out) const;

    Status resolveRepeat(const ItemPath& path, std::size_t& out) const;

    // ---- content ----------------------------------------------------------------------------

    void fill(const std::vector<std::size_t>& items, const InstanceData& data, Instances& instances,
              bool onlyVisible, std::vector<Answer>& answers, std::vector<Repeat>& repeats) const;

    [[nodiscard]] RecordContent content(bool onlyVisible) const;

    // ---- cases ------------------------------------------------------------------------------

    [[nodiscard]] std::string textOf(std::size_t n) const;

    [[nodiscard]] CaseChange caseChange(bool onlyVisible) const;

    void prefillFromCase();

    void trackCase(const CaseContext* context, const std::optional<CaseChange>& changedBefore);

    [[nodiscard]] std::optional<AllocationRequest> pendingAllocation() const;

    Status load(const std::vector<Answer>& answers, const std::vector<Repeat>& repeats,
                std::size_t repeat, InstanceData& data) const;
};

}  // namespace veld::forms
