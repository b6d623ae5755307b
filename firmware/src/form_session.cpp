#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/expression.hpp>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/hex.hpp>
#include <veld/pseudonym.hpp>
#include <veld/store.hpp>

namespace veld::forms {

namespace {

using fb::ItemKind;
using fb::QuestionType;
using Texts = flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>;

constexpr std::size_t kNone = static_cast<std::size_t>(-1);
constexpr std::uint32_t kDefaultMaxLength = 2000;
constexpr std::size_t kListedProblems = 5;
constexpr std::int32_t kMsPerDay = 86400000;
// What a case property value holds at most (the record checks).
constexpr std::size_t kMaxCasePropertyBytes = 4096;
// Integers beyond this do not round-trip through a double; a calculation that far out is
// nonsense and stays unanswered rather than overflowing.
constexpr double kMaxCalculatedInteger = 9.0e15;
// The most instances a repeat_count makes, whatever its expression says.
constexpr double kMaxCountedInstances = 1000;

// A value of a slider question lies on one of its steps from min_value (within rounding:
// decimal steps such as 0.1 are not exact in binary).
bool onStep(double value, double min, double step) {
    const double r = (value - min) / step;
    return std::fabs(r - std::round(r)) <= 1e-9 * std::max(1.0, std::fabs(r));
}

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

std::string textIn(const Texts* texts, std::string_view lang, std::string_view fallback) {
    if (!texts) return {};
    for (const auto* t : *texts) {
        if (t->lang() && t->text() && t->lang()->string_view() == lang) return t->text()->str();
    }
    for (const auto* t : *texts) {
        if (t->lang() && t->text() && t->lang()->string_view() == fallback) return t->text()->str();
    }
    return {};
}

std::optional<unsigned> digits(std::string_view s) {
    if (s.empty()) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v;
}

// 'YYYY-MM-DD', strictly: defaults and calculated dates are written this way.
std::optional<DateAnswer> parseDate(std::string_view s) {
    auto days = expr::parseIsoDate(s);
    if (!days) return std::nullopt;
    return DateAnswer{static_cast<std::int32_t>(*days)};
}

// 'HH:MM' or 'HH:MM:SS'.
std::optional<TimeAnswer> parseTime(std::string_view s) {
    if (s.size() != 5 && s.size() != 8) return std::nullopt;
    if (s[2] != ':' || (s.size() == 8 && s[5] != ':')) return std::nullopt;
    auto h = digits(s.substr(0, 2));
    auto m = digits(s.substr(3, 2));
    auto sec = s.size() == 8 ? digits(s.substr(6, 2)) : std::optional<unsigned>(0);
    if (!h || !m || !sec || *h > 23 || *m > 59 || *sec > 59) return std::nullopt;
    return TimeAnswer{static_cast<std::int32_t>(((*h * 60 + *m) * 60 + *sec) * 1000)};
}

std::string formatHoursMinutes(std::int32_t ms) {
    auto minutes = ms / 60000;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d:%02d", minutes / 60, minutes % 60);
    return buf;
}

std::string formatTime(std::int32_t ms) {
    auto secs = ms / 1000;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", secs / 3600, secs / 60 % 60, secs % 60);
    return buf;
}

std::size_t codePoints(const std::string& text) {
    std::size_t n = 0;
    for (char c : text) {
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
    }
    return n;
}

std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    std::string w;
    while (in >> w)
        out.push_back(w);
    return out;
}

// An empty text or an empty selection is no answer: XLSForm treats '' as unanswered.
bool isBlank(const AnswerValue& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return s->empty();
    if (const auto* c = std::get_if<ChoicesAnswer>(&v)) return c->choices.empty();
    return false;
}

expr::Value toValue(const AnswerValue& v) {
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

std::string describePath(const ItemPath& path) {
    std::string out = path.name;
    for (auto i : path.instances)
        out += "[" + std::to_string(i) + "]";
    return out;
}

Error invalid(std::string message) {
    return makeError(ErrorCode::InvalidArgument, message);
}

}  // namespace

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
        std::optional<expr::Expression> pattern;  // regex(., '^(pattern)$')
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
                    std::size_t parent, const std::vector<std::size_t>& repeats) {
        for (const auto* item : items) {
            std::size_t index = nodes.size();
            nodes.emplace_back();
            Node& node = nodes.back();
            node.item = item;
            node.name = item->name()->str();
            node.kind = item->kind();
            node.type = item->type();
            node.parent = parent;
            node.repeats = repeats;
            byName[node.name] = index;
            (parent == kNone ? top : nodes[parent].children).push_back(index);
            if (Status s = parseAll(index); !s) return s;
            if (item->children()) {
                auto inner = repeats;
                if (item->kind() == ItemKind::Repeat) inner.push_back(index);
                if (Status s = addItems(*item->children(), index, inner); !s) return s;
            }
        }
        return {};
    }

    Status parseAll(std::size_t index) {
        Node& node = nodes[index];
        const fb::Item& item = *node.item;
        auto parse = [&](const flatbuffers::String* text,
                         std::optional<expr::Expression>& out) -> Status {
            if (!text || text->size() == 0) return {};
            auto e = expr::Expression::parse(text->string_view());
            if (!e) return invalid("item '" + node.name + "': " + e.error().message);
            out = std::move(e.value());
            return {};
        };
        if (Status s = parse(item.relevance(), node.relevance); !s) return s;
        if (Status s = parse(item.constraint(), node.constraint); !s) return s;
        if (Status s = parse(item.calculation(), node.calculation); !s) return s;
        if (item.choice_filter() && item.choice_filter()->size() > 0) {
            auto e = expr::Expression::parse(item.choice_filter()->string_view(),
                                             expr::ParseOptions{.choiceFields = true});
            if (!e) return invalid("item '" + node.name + "': choice_filter: " + e.error().message);
            node.choiceFilter = std::move(e.value());
            filtered.push_back(index);
        }
        if (node.kind == ItemKind::Repeat) {
            if (Status s = parse(item.repeat_count(), node.repeatCount); !s) return s;
            if (node.repeatCount) countedRepeats.push_back(index);
        }
        if (item.pattern() && item.pattern()->size() > 0) {
            node.wrappedPattern = "^(" + item.pattern()->str() + ")$";
            const std::string& p = node.wrappedPattern;
            // A literal pattern is compiled once, at parse time; only a pattern holding both
            // kinds of quote falls back to one handed over by the context at evaluation.
            std::string text;
            if (p.find('\'') == std::string::npos) {
                text = "regex(., '" + p + "')";
            } else if (p.find('"') == std::string::npos) {
                text = "regex(., \"" + p + "\")";
            } else {
                text = "regex(., ${pattern})";
                node.patternIsDynamic = true;
            }
            auto e = expr::Expression::parse(text);
            if (!e) return invalid("item '" + node.name + "': pattern: " + e.error().message);
            node.pattern = std::move(e.value());
        }
        if (item.choice_list() && form->choice_lists()) {
            for (const auto* list : *form->choice_lists()) {
                if (list->name()->string_view() != item.choice_list()->string_view()) continue;
                if (list->choices()) {
                    for (const auto* c : *list->choices())
                        node.choices.push_back(
                            {c->name()->str(), c->is_other(), c->exclusive(), c});
                }
            }
        }
        return {};
    }

    Status indexCases() {
        const auto* settings = form->settings();
        if (!settings) return {};
        if (const auto* cs = settings->case_settings()) {
            caseAction = static_cast<CaseAction>(cs->action());
            caseType = cs->case_type() ? cs->case_type()->str() : "";
            if (caseAction == CaseAction::Open && caseType.empty()) caseType = "participant";
            if (cs->pseudonym_question() && cs->pseudonym_question()->size() > 0)
                pseudonymNode = find(cs->pseudonym_question()->string_view());
            if (cs->updates()) {
                for (const auto* u : *cs->updates())
                    caseUpdates.push_back(
                        {u->property()->str(), find(u->question()->string_view())});
            }
        }
        if (const auto* r = settings->randomisation()) {
            Randomisation out;
            out.study = r->study()->str();
            if (r->when() && r->when()->size() > 0) {
                auto e = expr::Expression::parse(r->when()->string_view());
                if (!e) return invalid("randomisation: when: " + e.error().message);
                out.when = std::move(e.value());
            }
            if (r->strata()) {
                for (const auto* f : *r->strata())
                    out.strata.emplace_back(f->factor()->str(), find(f->question()->string_view()));
            }
            randomisation = std::move(out);
        }
        for (const auto& u : caseUpdates) {
            if (u.node == kNone) return invalid("case property '" + u.property + "': no question");
        }
        if (randomisation) {
            for (const auto& [factor, n] : randomisation->strata) {
                if (n == kNone)
                    return invalid("randomisation: factor '" + factor + "': no question");
            }
        }
        return {};
    }

    void indexDependencies() {
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            for (const auto* e :
                 {&nodes[i].relevance, &nodes[i].constraint, &nodes[i].calculation}) {
                if (!e->has_value()) continue;
                for (const auto& ref : (*e)->references()) {
                    std::size_t x = find(ref);
                    if (x == kNone) continue;
                    auto& deps = nodes[x].dependents;
                    if (std::find(deps.begin(), deps.end(), i) == deps.end()) deps.push_back(i);
                    if (e == &nodes[i].calculation) nodes[x].calcDependents.push_back(i);
                    if (e == &nodes[i].relevance) nodes[x].relevanceDependents.push_back(i);
                }
            }
        }
        // Depth-first: a calculation comes after everything it refers to. The form checks
        // refused cycles, so the marks only avoid repeated work.
        std::vector<char> done(nodes.size(), 0);
        std::function<void(std::size_t)> visit = [&](std::size_t i) {
            if (done[i]) return;
            done[i] = 1;
            for (const auto& ref : nodes[i].calculation->references()) {
                std::size_t x = find(ref);
                if (x != kNone && nodes[x].calculated()) visit(x);
            }
            nodes[i].calcRank = calcOrder.size();
            calcOrder.push_back(i);
        };
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            if (nodes[i].calculated()) visit(i);
        }
    }
};

Result<std::shared_ptr<const CompiledForm>> CompiledForm::load(std::vector<std::uint8_t> binary) {
    for (const auto& p : checkFormBinary(binary, "form")) {
        if (p.severity == FormProblem::Severity::Error) return invalid(p.describe());
    }
    auto impl = std::make_unique<Impl>();
    impl->binary = std::move(binary);
    impl->form = fb::GetForm(impl->binary.data());
    impl->id = impl->form->id()->str();
    impl->version = impl->form->version();
    impl->defaultLanguage =
        impl->form->default_language() ? impl->form->default_language()->str() : "";
    if (impl->form->items()) {
        if (Status s = impl->addItems(*impl->form->items(), kNone, {}); !s) return s.error();
    }
    if (Status s = impl->indexCases(); !s) return s.error();
    impl->indexDependencies();
    return std::shared_ptr<const CompiledForm>(new CompiledForm(std::move(impl)));
}

CompiledForm::CompiledForm(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
CompiledForm::~CompiledForm() = default;
const fb::Form& CompiledForm::form() const {
    return *m_impl->form;
}
const std::string& CompiledForm::id() const {
    return m_impl->id;
}
std::uint32_t CompiledForm::version() const {
    return m_impl->version;
}
const std::string& CompiledForm::defaultLanguage() const {
    return m_impl->defaultLanguage;
}

// ---- Session state ----------------------------------------------------------------------------

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

    // Clears cached relevance that may read the answer of `changed`: items whose relevance refers
    // to it, and, since a hidden item's answer reads as empty, everything that depends on the
    // visibility of those items and of all they contain.
    void forgetRelevanceFrom(std::size_t changed) const {
        if (m_relevant.size() != impl->nodes.size()) return forgetAllRelevance();
        std::vector<std::size_t> work{changed};
        std::vector<bool> seen(impl->nodes.size(), false);
        while (!work.empty()) {
            std::size_t y = work.back();
            work.pop_back();
            for (std::size_t d : node(y).relevanceDependents) {
                if (seen[d]) continue;
                seen[d] = true;
                m_relevant[d].clear();
                work.push_back(d);
                std::vector<std::size_t> below(node(d).children.begin(), node(d).children.end());
                while (!below.empty()) {
                    std::size_t c = below.back();
                    below.pop_back();
                    work.push_back(c);
                    below.insert(below.end(), node(c).children.begin(), node(c).children.end());
                }
            }
        }
    }

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

        // ${x} resolves in the repeat instances x shares with the item being evaluated; from
        // outside a repeat x is in, it reads the first instance (as XPath reads a nodeset). The
        // answer of a hidden item is empty, as in ODK: hiding a question hides what depends on
        // it.
        [[nodiscard]] expr::Value answer(std::string_view name) const override {
            std::size_t x = m_state.impl->find(name);
            if (x == kNone || !m_state.node(x).isQuestion()) return {};
            expr::Value out;
            eachInstanceOf(x, [&](const Instances& at) {
                out = valueAt(x, at);
                return false;
            });
            return out;
        }
        [[nodiscard]] std::vector<expr::Value> answers(std::string_view name) const override {
            std::vector<expr::Value> out;
            std::size_t x = m_state.impl->find(name);
            if (x == kNone) return out;
            const bool question = m_state.node(x).isQuestion();
            eachInstanceOf(x, [&](const Instances& at) {
                out.push_back(question ? valueAt(x, at) : expr::Value{});
                return true;
            });
            return out;
        }
        [[nodiscard]] expr::Value indexedAnswer(
            std::string_view name, const std::vector<expr::RepeatIndex>& indices) const override {
            std::size_t x = m_state.impl->find(name);
            if (x == kNone || !m_state.node(x).isQuestion()) return {};
            const auto& rx = m_state.node(x).repeats;
            Instances at(rx.size(), 0);
            const std::size_t shared = sharedLevels(rx, rx.size());
            std::copy(m_instances.begin(), m_instances.begin() + static_cast<long>(shared),
                      at.begin());
            for (const auto& index : indices) {
                auto it = std::find(rx.begin(), rx.end(), m_state.impl->find(index.repeat));
                if (it == rx.end()) return {};  // the form checks refuse this
                at[static_cast<std::size_t>(it - rx.begin())] = index.number - 1;
            }
            return valueAt(x, at);
        }
        [[nodiscard]] expr::Value current() const override {
            return m_current ? toValue(*m_current) : expr::Value{};
        }
        [[nodiscard]] expr::Value caseProperty(std::string_view name) const override {
            auto it = m_state.caseProperties.find(name);
            return it == m_state.caseProperties.end() ? expr::Value{} : expr::Value{it->second};
        }
        [[nodiscard]] expr::Value choiceField(std::string_view name) const override {
            if (!m_choice) return {};
            if (name == "name") return m_choice->name()->str();
            if (m_choice->properties()) {
                for (const auto* p : *m_choice->properties()) {
                    if (p->name()->string_view() == name)
                        return p->value() ? p->value()->str() : std::string();
                }
            }
            return {};
        }
        [[nodiscard]] std::string choiceLabel(std::string_view question,
                                              std::string_view choice) const override {
            std::size_t q = m_state.impl->find(question);
            if (q == kNone) return {};
            for (const auto& c : m_state.node(q).choices) {
                if (c.name == choice)
                    return textIn(c.source->labels(), m_state.language,
                                  m_state.impl->defaultLanguage);
            }
            return {};
        }
        [[nodiscard]] int position() const override {
            return m_instances.empty() ? 0 : static_cast<int>(m_instances.back() + 1);
        }

      private:
        // How many of `levels` (repeats, outermost first) the evaluated item shares, at most
        // `limit`: their instances are the item's own.
        [[nodiscard]] std::size_t sharedLevels(const Instances& levels, std::size_t limit) const {
            static const Instances kTop;
            const auto& rp = m_node == kNone ? kTop : m_state.node(m_node).repeats;
            std::size_t k = 0;
            while (k < limit && k < rp.size() && k < m_instances.size() && levels[k] == rp[k])
                ++k;
            return k;
        }

        // Calls `f` with every instance path of x (a question, or one instance of a repeat) seen
        // from the evaluated item, in form order, until it returns false.
        void eachInstanceOf(std::size_t x, const std::function<bool(const Instances&)>& f) const {
            Instances levels = m_state.node(x).repeats;
            const std::size_t enclosing = levels.size();
            if (m_state.node(x).kind == ItemKind::Repeat) levels.push_back(x);
            // A repeat's own level is never shared: ${r} is all of its instances.
            const std::size_t k = sharedLevels(levels, enclosing);
            Instances at(m_instances.begin(), m_instances.begin() + static_cast<long>(k));
            const InstanceData* start = m_state.locate(levels, at, k);
            if (!start) return;
            std::function<bool(const InstanceData&)> go = [&](const InstanceData& data) {
                if (at.size() == levels.size()) return f(at);
                auto it = data.repeats.find(levels[at.size()]);
                if (it == data.repeats.end()) return true;
                for (std::size_t i = 0; i < it->second.size(); ++i) {
                    at.push_back(i);
                    const bool more = go(it->second[i]);
                    at.pop_back();
                    if (!more) return false;
                }
                return true;
            };
            go(*start);
        }

        [[nodiscard]] expr::Value valueAt(std::size_t x, const Instances& at) const {
            const AnswerValue* v = m_state.answerAt(x, at);
            if (!v || !m_state.visibleFromExpression(x, at)) return {};
            return toValue(*v);
        }

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

    [[nodiscard]] bool relevantHere(std::size_t n, const Instances& instances) const {
        const auto& rel = node(n).relevance;
        if (!rel) return true;
        if (m_relevant.size() != impl->nodes.size()) forgetAllRelevance();
        auto& cache = m_relevant[n];
        if (auto it = cache.find(instances); it != cache.end()) return it->second;
        std::size_t cutsBefore = m_cycleCuts;
        bool result = expr::toBool(rel->evaluate(EvalContext(*this, n, instances, nullptr)));
        // A result that relied on cutting a relevance cycle short is provisional, and one that
        // reads the clock changes without any answer changing: keep neither.
        if (m_cycleCuts == cutsBefore && !rel->usesClock()) cache.emplace(instances, result);
        return result;
    }

    [[nodiscard]] bool visible(std::size_t n, const Instances& instances) const {
        for (std::size_t m = n; m != kNone; m = node(m).parent) {
            Instances at(instances.begin(),
                         instances.begin() + static_cast<long>(node(m).repeats.size()));
            if (!relevantHere(m, at)) return false;
        }
        return true;
    }

    // Visibility asked by a reference: relevance that refers back to an item whose visibility
    // is being decided (a cycle the form checks do not catch) reads that item as hidden, so
    // evaluation always ends.
    [[nodiscard]] bool visibleFromExpression(std::size_t n, const Instances& instances) const {
        if (std::find(m_deciding.begin(), m_deciding.end(), n) != m_deciding.end()) {
            ++m_cycleCuts;
            return false;
        }
        m_deciding.push_back(n);
        bool result = visible(n, instances);
        m_deciding.pop_back();
        return result;
    }

    // Calls `f` for every visible item in form order, each repeat instance in turn; hidden
    // groups and repeats are skipped with everything in them.
    void walk(const std::vector<std::size_t>& items, Instances& instances,
              const std::function<void(std::size_t, const Instances&)>& f) const {
        for (std::size_t n : items) {
            if (!relevantHere(n, instances)) continue;
            f(n, instances);
            if (node(n).kind == ItemKind::Group) {
                walk(node(n).children, instances, f);
            } else if (node(n).kind == ItemKind::Repeat) {
                std::size_t count = countAt(n, instances);
                for (std::size_t i = 0; i < count; ++i) {
                    instances.push_back(i);
                    walk(node(n).children, instances, f);
                    instances.pop_back();
                }
            }
        }
    }

    // ---- problems ---------------------------------------------------------------------------

    [[nodiscard]] std::optional<SessionProblem> problemAt(std::size_t n,
                                                          const Instances& instances) const {
        const Node& nd = node(n);
        auto make = [&](SessionProblem::Kind kind, std::string message = {}) {
            return SessionProblem{ItemPath{nd.name, instances}, kind, std::move(message)};
        };
        if (nd.kind == ItemKind::Repeat) {
            if (countAt(n, instances) < nd.item->min_count())
                return make(SessionProblem::Kind::TooFewInstances);
            return std::nullopt;
        }
        if (!nd.isQuestion() || nd.type == QuestionType::Note) return std::nullopt;
        const AnswerValue* v = answerAt(n, instances);
        if (nd.type == QuestionType::Consent) {
            const bool* accepted = v ? std::get_if<bool>(v) : nullptr;
            if ((accepted && !*accepted) || (!accepted && nd.item->required()))
                return make(SessionProblem::Kind::ConsentNeeded);
        }
        if (!v) {
            if (nd.item->required() && !nd.calculated())
                return make(SessionProblem::Kind::Required,
                            textIn(nd.item->required_messages(), language, impl->defaultLanguage));
            return std::nullopt;
        }
        // Range, length and pattern are for what people type; a calculated value cannot be
        // corrected by anyone, so only its constraint applies.
        if (!nd.calculated() &&
            (nd.type == QuestionType::Integer || nd.type == QuestionType::Decimal)) {
            double x = expr::toNumber(toValue(*v));
            const auto min = nd.item->min_value();
            const auto max = nd.item->max_value();
            if ((min && x < *min) || (max && x > *max))
                return make(SessionProblem::Kind::OutOfRange);
            if (const auto step = nd.item->step(); step && min && !onStep(x, *min, *step))
                return make(SessionProblem::Kind::OutOfRange);
        }
        if (const auto* text = std::get_if<std::string>(v);
            text && nd.type == QuestionType::Text && !nd.calculated()) {
            std::uint32_t max = nd.item->max_length() ? nd.item->max_length() : kDefaultMaxLength;
            if (codePoints(*text) > max) return make(SessionProblem::Kind::TooLong);
            if (nd.pattern) {
                expr::Value ok = nd.patternIsDynamic
                                     ? nd.pattern->evaluate(PatternContext(nd.wrappedPattern, *v))
                                     : nd.pattern->evaluate(EvalContext(*this, n, instances, v));
                if (!expr::toBool(ok)) return make(SessionProblem::Kind::Pattern);
            }
        }
        if (nd.constraint &&
            !expr::toBool(nd.constraint->evaluate(EvalContext(*this, n, instances, v)))) {
            return make(SessionProblem::Kind::Constraint,
                        textIn(nd.item->constraint_messages(), language, impl->defaultLanguage));
        }
        return std::nullopt;
    }

    [[nodiscard]] std::vector<SessionProblem> allProblems() const {
        std::vector<SessionProblem> out;
        Instances instances;
        walk(impl->top, instances, [&](std::size_t n, const Instances& at) {
            if (auto p = problemAt(n, at)) out.push_back(std::move(*p));
        });
        return out;
    }

    // ---- values -----------------------------------------------------------------------------

    // The value fits its question, and the store will accept it (UTF-8, sizes, date ranges,
    // pseudonym digests, ...): a session never produces content that cannot be saved.
    [[nodiscard]] Status checkValue(const Node& nd, const AnswerValue& v) const {
        if (Status s = checkType(nd, v); !s) return s;
        if (Status s = storableError(nd, v); !s)
            return invalid("item '" + nd.name + "': " + s.error().message);
        return {};
    }

    [[nodiscard]] Status storableError(const Node& nd, const AnswerValue& v) const {
        RecordContent one;
        one.formId = std::string(impl->form->id()->string_view());
        one.answers.push_back(Answer{nd.name, v});
        return checkRecordContent(one);
    }

    [[nodiscard]] bool storable(const Node& nd, const AnswerValue& v) const {
        return storableError(nd, v).ok();
    }

    [[nodiscard]] Status checkType(const Node& nd, const AnswerValue& v) const {
        auto wrong = [&](const char* expected) {
            return invalid("item '" + nd.name + "' takes " + expected);
        };
        switch (nd.type) {
            case QuestionType::Text:
                if (!std::holds_alternative<std::string>(v)) return wrong("text");
                return {};
            case QuestionType::Integer:
                if (!std::holds_alternative<std::int64_t>(v)) return wrong("a whole number");
                return {};
            case QuestionType::Decimal: {
                const auto* d = std::get_if<DecimalAnswer>(&v);
                if (!d || !std::isfinite(d->value)) return wrong("a decimal number");
                return {};
            }
            case QuestionType::SelectOne:
            case QuestionType::Likert: {
                const auto* c = std::get_if<ChoiceAnswer>(&v);
                if (!c) return wrong("one choice");
                const auto* choice = nd.choice(c->choice);
                if (!choice) return invalid("item '" + nd.name + "': not a choice of its list");
                if (!c->otherText.empty() && !choice->isOther)
                    return invalid("item '" + nd.name +
                                   "': other text for a choice that is not 'other'");
                return {};
            }
            case QuestionType::SelectMany: {
                const auto* c = std::get_if<ChoicesAnswer>(&v);
                if (!c) return wrong("a list of choices");
                std::set<std::string_view> seen;
                bool other = false;
                for (const auto& name : c->choices) {
                    const auto* choice = nd.choice(name);
                    if (!choice) return invalid("item '" + nd.name + "': not a choice of its list");
                    if (!seen.insert(name).second)
                        return invalid("item '" + nd.name + "': a choice is selected twice");
                    other = other || choice->isOther;
                }
                if (!c->otherText.empty() && !other)
                    return invalid("item '" + nd.name + "': other text without an 'other' choice");
                if (const auto* alone = nd.exclusiveAmongOthers(c->choices))
                    return invalid("item '" + nd.name + "': '" + alone->name +
                                   "' is chosen alone, not with other choices");
                return {};
            }
            case QuestionType::Date:
                if (!std::holds_alternative<DateAnswer>(v)) return wrong("a date");
                return {};
            case QuestionType::Time: {
                const auto* t = std::get_if<TimeAnswer>(&v);
                if (!t || t->ms < 0 || t->ms >= kMsPerDay) return wrong("a time of day");
                return {};
            }
            case QuestionType::DateTime:
                if (!std::holds_alternative<DateTimeAnswer>(v)) return wrong("a date and time");
                return {};
            case QuestionType::Consent:
                if (!std::holds_alternative<bool>(v)) return wrong("yes or no (consent)");
                return {};
            case QuestionType::Signature:
                if (!std::holds_alternative<SignatureAnswer>(v)) return wrong("a signature");
                return {};
            case QuestionType::Pseudonym: {
                // Made by pseudonym::make() for this question's scheme: a digest of the expected
                // size, so that digests of one person made on different devices compare equal.
                const auto* p = std::get_if<PseudonymAnswer>(&v);
                if (!p) return wrong("a pseudonym");
                if (p->scheme != pseudonym::schemeName(nd.item->identifier_scheme()))
                    return invalid("item '" + nd.name + "': a pseudonym of another scheme");
                if (p->digest.size() != pseudonym::kDigestBytes)
                    return invalid("item '" + nd.name + "': a pseudonym digest has " +
                                   std::to_string(pseudonym::kDigestBytes) + " bytes");
                return {};
            }
            case QuestionType::Note:
            case QuestionType::None:
                break;
        }
        return invalid("item '" + nd.name + "' takes no answer");
    }

    // The text of a default (or of a calculation's result) read as the question's type;
    // nullopt when it does not fit, which leaves the question unanswered.
    [[nodiscard]] std::optional<AnswerValue> fromText(const Node& nd,
                                                      const std::string& text) const {
        if (text.empty()) return std::nullopt;
        std::optional<AnswerValue> out;
        switch (nd.type) {
            case QuestionType::Text:
            case QuestionType::Note:
                out = text;
                break;
            case QuestionType::Integer: {
                double x = expr::toNumber(expr::Value{text});
                if (std::isfinite(x) && std::fabs(x) <= kMaxCalculatedInteger && x == std::trunc(x))
                    out = static_cast<std::int64_t>(x);
                break;
            }
            case QuestionType::Decimal: {
                double x = expr::toNumber(expr::Value{text});
                if (std::isfinite(x)) out = DecimalAnswer{x, expr::toText(expr::Value{x})};
                break;
            }
            case QuestionType::SelectOne:
            case QuestionType::Likert:
                if (nd.choice(text)) out = ChoiceAnswer{text, {}};
                break;
            case QuestionType::SelectMany: {
                ChoicesAnswer c;
                for (auto& w : words(text)) {
                    if (nd.choice(w) &&
                        std::find(c.choices.begin(), c.choices.end(), w) == c.choices.end())
                        c.choices.push_back(std::move(w));
                }
                if (!c.choices.empty() && !nd.exclusiveAmongOthers(c.choices)) out = std::move(c);
                break;
            }
            case QuestionType::Date:
                if (auto d = parseDate(text)) out = *d;
                break;
            case QuestionType::Time:
                if (auto t = parseTime(text)) out = *t;
                break;
            case QuestionType::Consent:
                // "yes"/"no" is how case properties hold consent.
                if (text == "true" || text == "yes") out = true;
                if (text == "false" || text == "no") out = false;
                break;
            default:
                break;
        }
        return out;
    }

    [[nodiscard]] std::optional<AnswerValue> fromCalculation(const Node& nd,
                                                             const expr::Value& v) const {
        if (expr::isEmpty(v)) return std::nullopt;
        switch (nd.type) {
            case QuestionType::Integer: {
                double x = std::trunc(expr::toNumber(v));
                if (!std::isfinite(x) || std::fabs(x) > kMaxCalculatedInteger) return std::nullopt;
                return AnswerValue{static_cast<std::int64_t>(x)};
            }
            case QuestionType::Decimal: {
                double x = expr::toNumber(v);
                if (!std::isfinite(x)) return std::nullopt;
                return AnswerValue{DecimalAnswer{x, expr::toText(expr::Value{x})}};
            }
            case QuestionType::Date:
                if (const auto* d = std::get_if<expr::Date>(&v))
                    return AnswerValue{DateAnswer{d->days}};
                if (const auto* dt = std::get_if<expr::DateTime>(&v)) {
                    // The date where it was recorded.
                    const auto local = dt->utcMs + std::int64_t{dt->offsetMinutes} * 60000;
                    auto days = local / kMsPerDay - (local % kMsPerDay < 0 ? 1 : 0);
                    return AnswerValue{DateAnswer{static_cast<std::int32_t>(days)}};
                }
                break;
            case QuestionType::DateTime:
                if (const auto* dt = std::get_if<expr::DateTime>(&v))
                    return AnswerValue{DateTimeAnswer{dt->utcMs, dt->offsetMinutes}};
                return std::nullopt;
            case QuestionType::Signature:
            case QuestionType::Pseudonym:
            case QuestionType::Consent:
                // Cannot be produced from an expression (and consent is refused by the checks).
                return std::nullopt;
            default:
                break;
        }
        return fromText(nd, expr::toText(v));
    }

    // ---- choice filters ---------------------------------------------------------------------

    // Whether select `n` offers choice `c` at `instances`: it has no filter, or the filter holds
    // for the choice.
    [[nodiscard]] bool offered(std::size_t n, const Instances& instances,
                               const CompiledForm::Impl::Choice& c) const {
        const auto& filter = node(n).choiceFilter;
        if (!filter) return true;
        return expr::toBool(filter->evaluate(EvalContext(*this, n, instances, nullptr, c.source)));
    }

    [[nodiscard]] std::vector<std::size_t> offeredChoices(std::size_t n,
                                                          const Instances& instances) const {
        std::vector<std::size_t> out;
        const auto& choices = node(n).choices;
        for (std::size_t i = 0; i < choices.size(); ++i) {
            if (offered(n, instances, choices[i])) out.push_back(i);
        }
        return out;
    }

    // A select's answer without the choices it does not offer (nullopt: none left).
    [[nodiscard]] std::optional<AnswerValue> withOffered(std::size_t n, const Instances& at,
                                                         const AnswerValue& v) const {
        const Node& nd = node(n);
        auto ok = [&](const std::string& name) {
            const auto* c = nd.choice(name);
            return c && offered(n, at, *c);
        };
        if (const auto* one = std::get_if<ChoiceAnswer>(&v))
            return ok(one->choice) ? std::optional<AnswerValue>(v) : std::nullopt;
        if (const auto* many = std::get_if<ChoicesAnswer>(&v)) {
            ChoicesAnswer kept;
            bool other = false;
            for (const auto& name : many->choices) {
                if (!ok(name)) continue;
                kept.choices.push_back(name);
                other = other || nd.choice(name)->isOther;
            }
            if (kept.choices.empty()) return std::nullopt;
            if (other) kept.otherText = many->otherText;
            return AnswerValue{std::move(kept)};
        }
        return v;
    }

    [[nodiscard]] Status checkOffered(std::size_t n, const Instances& at,
                                      const AnswerValue& v) const {
        if (!node(n).choiceFilter) return {};
        auto kept = withOffered(n, at, v);
        if (kept && *kept == v) return {};
        return invalid("item '" + node(n).name + "': a choice its choice_filter does not offer");
    }

    // Clears what shown selects answer with choices their filters no longer offer (as ODK
    // does), and what follows from that: a cleared country clears its city.
    void pruneChoices() {
        for (std::size_t round = 0; round <= impl->filtered.size(); ++round) {
            bool changed = false;
            for (std::size_t n : impl->filtered) {
                std::vector<std::pair<Instances, std::optional<AnswerValue>>> fixes;
                forEachInstance(n, {}, {}, [&](const Instances& at) {
                    const AnswerValue* v = answerAt(n, at);
                    if (!v || !visible(n, at)) return;
                    auto kept = withOffered(n, at, *v);
                    if (!kept || !(*kept == *v)) fixes.emplace_back(at, std::move(kept));
                });
                for (auto& [at, kept] : fixes) {
                    store(n, at, std::move(kept));
                    recalculate({n}, node(n).repeats, at);
                    changed = true;
                }
            }
            if (!changed) return;
        }
    }

    void store(std::size_t n, const Instances& instances, std::optional<AnswerValue> value) {
        const auto& r = node(n).repeats;
        InstanceData* data = locateMutable(r, instances, r.size());
        if (!data) return;
        forgetRelevanceFrom(n);
        if (value && !isBlank(*value)) {
            data->answers.insert_or_assign(n, std::move(*value));
        } else {
            data->answers.erase(n);
        }
    }

    // Defaults of the questions asked once in `data`: not those in nested repeats.
    void applyDefaults(const std::vector<std::size_t>& items, InstanceData& data) const {
        for (std::size_t n : items) {
            const Node& nd = node(n);
            if (nd.kind == ItemKind::Group) {
                applyDefaults(nd.children, data);
            } else if (nd.isQuestion() && !nd.calculated() && nd.item->default_value() &&
                       nd.item->default_value()->size() > 0) {
                auto v = fromText(nd, nd.item->default_value()->str());
                if (v && checkValue(nd, *v)) data.answers.insert_or_assign(n, std::move(*v));
            }
        }
    }

    // ---- calculations -----------------------------------------------------------------------

    // Calls `f` with every existing instance path of node `n` that agrees with `prefix` on the
    // repeats `n` shares with `scope`.
    void forEachInstance(std::size_t n, const Instances& scope, const Instances& prefix,
                         const std::function<void(const Instances&)>& f) const {
        const auto& rn = node(n).repeats;
        std::size_t shared = 0;
        while (shared < rn.size() && shared < scope.size() && rn[shared] == scope[shared])
            ++shared;
        shared = std::min(shared, prefix.size());
        Instances at;
        std::function<void(const InstanceData&)> go = [&](const InstanceData& data) {
            std::size_t d = at.size();
            if (d == rn.size()) {
                f(at);
                return;
            }
            auto it = data.repeats.find(rn[d]);
            if (it == data.repeats.end()) return;
            for (std::size_t i = 0; i < it->second.size(); ++i) {
                if (d < shared && prefix[d] != i) continue;
                at.push_back(i);
                go(it->second[i]);
                at.pop_back();
            }
        };
        go(root);
    }

    // Returns whether the stored answer changed.
    bool calculate(std::size_t n, const Instances& instances) {
        const Node& nd = node(n);
        // The answer it gave last is the calculation's `current()`, which once() keeps.
        expr::Value v =
            nd.calculation->evaluate(EvalContext(*this, n, instances, answerAt(n, instances)));
        std::optional<AnswerValue> next = fromCalculation(nd, v);
        // A result the store would refuse (a date far out, text too long) is no answer.
        if (next && !storable(nd, *next)) next.reset();
        if (next && isBlank(*next)) next.reset();
        const auto& r = nd.repeats;
        const InstanceData* data = locate(r, instances, r.size());
        if (!data) return false;
        auto it = data->answers.find(n);
        std::optional<AnswerValue> before;
        if (it != data->answers.end()) before = it->second;
        if (before == next) return false;
        store(n, instances, std::move(next));
        return true;
    }

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

    // Recomputes the calculations that depend on `changed` (and those among `changed`), in
    // dependency order, only in the instances that agree with `prefix` on the repeats in
    // `scope`. Dependence is transitive through other calculations and through relevance: an
    // item whose visibility may change reads differently, and so does all it contains.
    void recalculate(const std::vector<std::size_t>& changed, const Instances& scope,
                     const Instances& prefix) {
        std::set<std::size_t> affected;
        std::set<std::size_t> seen(changed.begin(), changed.end());
        std::vector<std::size_t> todo = changed;
        for (std::size_t n : changed) {
            if (node(n).calculated()) affected.insert(n);
        }
        std::vector<std::size_t> hidden;
        while (!todo.empty()) {
            std::size_t n = todo.back();
            todo.pop_back();
            for (std::size_t d : node(n).calcDependents) {
                affected.insert(d);
                if (seen.insert(d).second) todo.push_back(d);
            }
            for (std::size_t d : node(n).relevanceDependents) {
                hidden.clear();
                subtree(d, hidden);
                for (std::size_t h : hidden) {
                    if (seen.insert(h).second) todo.push_back(h);
                }
            }
        }
        std::vector<std::size_t> order(affected.begin(), affected.end());
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return node(a).calcRank < node(b).calcRank;
        });
        untilStable(order.size(), [&] {
            bool changedAny = false;
            for (std::size_t n : order) {
                forEachInstance(n, scope, prefix,
                                [&](const Instances& at) { changedAny |= calculate(n, at); });
            }
            return changedAny;
        });
    }

    void recalculateAll() {
        untilStable(impl->calcOrder.size(), [&] {
            bool changedAny = false;
            for (std::size_t n : impl->calcOrder)
                forEachInstance(n, {}, {},
                                [&](const Instances& at) { changedAny |= calculate(n, at); });
            return changedAny;
        });
    }

    void subtree(std::size_t n, std::vector<std::size_t>& out) const {
        out.push_back(n);
        for (std::size_t c : node(n).children)
            subtree(c, out);
    }

    void afterRepeatChange(std::size_t repeat, const Instances& instances) {
        // Instances were added or renumbered: cached results keyed by instance are stale.
        forgetAllRelevance();
        std::vector<std::size_t> changed;
        subtree(repeat, changed);
        Instances scope = node(repeat).repeats;
        scope.push_back(repeat);
        recalculate(changed, scope, instances);
    }

    // Repeats with a repeat_count have as many instances as the expression says, in every
    // instance of the repeats around them: empty instances are added at the end, trailing ones
    // removed with their answers. New instances change what calculations read, and a
    // calculation may feed a count, so this runs until nothing changes, within a bound.
    void followRepeatCounts() {
        for (std::size_t round = 0; round <= impl->countedRepeats.size(); ++round) {
            bool changedAny = false;
            for (std::size_t n : impl->countedRepeats) {
                std::vector<Instances> places;
                forEachInstance(n, {}, {}, [&](const Instances& at) { places.push_back(at); });
                for (const auto& at : places)
                    changedAny |= followRepeatCount(n, at);
            }
            if (!changedAny) return;
        }
    }

    // Returns whether the number of instances changed.
    bool followRepeatCount(std::size_t n, const Instances& at) {
        const Node& nd = node(n);
        const double x =
            expr::toNumber(nd.repeatCount->evaluate(EvalContext(*this, n, at, nullptr)));
        const std::size_t target =
            std::isfinite(x) && x >= 1
                ? static_cast<std::size_t>(std::min(std::trunc(x), kMaxCountedInstances))
                : 0;
        InstanceData* data = locateMutable(nd.repeats, at, nd.repeats.size());
        if (!data) return false;
        auto& list = data->repeats[n];
        if (list.size() == target) return false;
        if (list.size() > target) list.resize(target);
        while (list.size() < target) {
            InstanceData fresh;
            applyDefaults(nd.children, fresh);
            list.push_back(std::move(fresh));
        }
        afterRepeatChange(n, at);
        return true;
    }

    // ---- paths ------------------------------------------------------------------------------

    // Finds the node of `path` and checks that its instances exist.
    Status resolve(const ItemPath& path, std::size_t& out) const {
        out = impl->find(path.name);
        if (out == kNone) return invalid("the form has no item '" + path.name + "'");
        if (path.instances.size() != node(out).repeats.size())
            return invalid("item '" + path.name + "' is inside " +
                           std::to_string(node(out).repeats.size()) + " repeats, not " +
                           std::to_string(path.instances.size()));
        if (!dataOf(out, path.instances))
            return makeError(ErrorCode::NotFound, "no such repeat instance: " + describePath(path));
        return {};
    }

    Status resolveWritable(const ItemPath& path, std::size_t& out) const {
        if (Status s = resolve(path, out); !s) return s;
        const Node& nd = node(out);
        if (!nd.isQuestion()) return invalid("'" + path.name + "' is a group or repeat");
        if (nd.type == QuestionType::Note) return invalid("'" + path.name + "' is a note");
        if (nd.calculated()) return invalid("'" + path.name + "' is calculated");
        if (nd.item->read_only()) return invalid("'" + path.name + "' is read-only");
        return {};
    }

    Status resolveRepeat(const ItemPath& path, std::size_t& out) const {
        if (Status s = resolve(path, out); !s) return s;
        if (node(out).kind != ItemKind::Repeat)
            return invalid("'" + path.name + "' is not a repeat");
        return {};
    }

    // ---- content ----------------------------------------------------------------------------

    void fill(const std::vector<std::size_t>& items, const InstanceData& data, Instances& instances,
              bool onlyVisible, std::vector<Answer>& answers, std::vector<Repeat>& repeats) const {
        for (std::size_t n : items) {
            const Node& nd = node(n);
            if (onlyVisible && !relevantHere(n, instances)) continue;
            if (nd.isQuestion()) {
                auto it = data.answers.find(n);
                if (it != data.answers.end()) answers.push_back({nd.name, it->second});
            } else if (nd.kind == ItemKind::Group) {
                fill(nd.children, data, instances, onlyVisible, answers, repeats);
            } else {
                auto it = data.repeats.find(n);
                if (it == data.repeats.end() || it->second.empty()) continue;
                Repeat r{nd.name, {}};
                for (std::size_t i = 0; i < it->second.size(); ++i) {
                    instances.push_back(i);
                    RepeatInstance ri;
                    fill(nd.children, it->second[i], instances, onlyVisible, ri.answers,
                         ri.repeats);
                    instances.pop_back();
                    r.instances.push_back(std::move(ri));
                }
                repeats.push_back(std::move(r));
            }
        }
    }

    [[nodiscard]] RecordContent content(bool onlyVisible) const {
        RecordContent out;
        out.formId = impl->id;
        out.formVersion = impl->version;
        out.caseId = caseId;
        out.paradata.language = language;
        Instances instances;
        fill(impl->top, root, instances, onlyVisible, out.answers, out.repeats);
        if (caseId && impl->caseAction != CaseAction::None)
            out.caseChange = caseChange(onlyVisible);
        out.allocate = pendingAllocation();
        return out;
    }

    // ---- cases ------------------------------------------------------------------------------

    // The text of a top-level question's answer as a case property; empty when unanswered.
    [[nodiscard]] std::string textOf(std::size_t n) const {
        const AnswerValue* v = answerAt(n, {});
        return v ? casePropertyText(*v) : std::string();
    }

    [[nodiscard]] CaseChange caseChange(bool onlyVisible) const {
        CaseChange out;
        out.action = impl->caseAction;
        const bool opening = impl->caseAction == CaseAction::Open;
        if (opening) {
            out.caseType = impl->caseType;
            if (impl->pseudonymNode != kNone &&
                (!onlyVisible || visible(impl->pseudonymNode, {}))) {
                const AnswerValue* v = answerAt(impl->pseudonymNode, {});
                if (const auto* p = v ? std::get_if<PseudonymAnswer>(v) : nullptr)
                    out.pseudonym = p->keyId + ":" + toHex(p->digest);
            }
        }
        for (std::size_t i = 0; i < impl->caseUpdates.size(); ++i) {
            const auto& u = impl->caseUpdates[i];
            // A question that no longer applies says nothing about the case.
            if (onlyVisible && !visible(u.node, {})) continue;
            std::string text = textOf(u.node);
            // Typed text fits (the form checks); a calculation's text may not.
            if (text.size() > kMaxCasePropertyBytes) {
                std::size_t end = kMaxCasePropertyBytes;
                while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
                    --end;
                text.resize(end);
            }
            bool changed = false;
            if (opening) {
                changed = !text.empty();
            } else {
                // Untouched is unchanged, unless the case had no value: then the question's
                // default is the record's answer, and the case takes it.
                const Tracked& t = tracked[i];
                const bool caseHadValue = !t.base || !t.base->empty();
                if (t.untouched && text == *t.untouched && caseHadValue) {
                    changed = false;
                } else {
                    changed = !t.base || text != *t.base;
                }
            }
            if (changed) {
                const HlcTimestamp base = opening ? HlcTimestamp{} : tracked[i].baseClock;
                out.properties.push_back({u.property, std::move(text), base});
            }
        }
        // Follow-up and close forms know what each value was when the form started.
        out.basesKnown = !opening && !tracked.empty() &&
                         std::all_of(tracked.begin(), tracked.end(),
                                     [](const Tracked& t) { return t.baseClockKnown; });
        std::sort(out.properties.begin(), out.properties.end(),
                  [](const auto& a, const auto& b) { return a.name < b.name; });
        return out;
    }

    // Questions that set case properties start with the case's values, over their defaults.
    void prefillFromCase() {
        for (const auto& u : impl->caseUpdates) {
            const Node& nd = node(u.node);
            if (nd.calculated()) continue;
            auto it = caseProperties.find(u.property);
            if (it == caseProperties.end() || it->second.empty()) continue;
            auto v = fromText(nd, it->second);
            if (v && checkValue(nd, *v)) root.answers.insert_or_assign(u.node, std::move(*v));
        }
    }

    // What counts as unchanged from here on (see Tracked). `changedBefore` names properties a
    // draft already changed.
    void trackCase(const CaseContext* context, const std::optional<CaseChange>& changedBefore) {
        tracked.assign(impl->caseUpdates.size(), {});
        if (impl->caseAction != CaseAction::FollowUp && impl->caseAction != CaseAction::Close)
            return;
        for (std::size_t i = 0; i < impl->caseUpdates.size(); ++i) {
            const auto& u = impl->caseUpdates[i];
            Tracked& t = tracked[i];
            if (context) {
                auto it = context->properties.find(u.property);
                t.base = it == context->properties.end() ? std::string() : it->second;
                auto clock = context->clocks.find(u.property);
                t.baseClock = clock == context->clocks.end() ? HlcTimestamp{} : clock->second;
                t.baseClockKnown = true;
            }
            bool changed = false;
            if (changedBefore) {
                for (const auto& p : changedBefore->properties) {
                    if (p.name != u.property) continue;
                    changed = true;
                    // A draft keeps the base it was started from, not what the case holds now.
                    t.baseClock = p.base;
                    t.baseClockKnown = true;
                }
            }
            if (!node(u.node).calculated() && !changed) t.untouched = textOf(u.node);
        }
    }

    [[nodiscard]] std::optional<AllocationRequest> pendingAllocation() const {
        const auto& r = impl->randomisation;
        if (!r || !caseId) return std::nullopt;
        if (r->when && !expr::toBool(r->when->evaluate(EvalContext(*this, kNone, {}, nullptr))))
            return std::nullopt;
        std::vector<std::pair<std::string, std::string>> levels;
        for (const auto& [factor, n] : r->strata) {
            const AnswerValue* v = answerAt(n, {});
            const auto* choice = v ? std::get_if<ChoiceAnswer>(v) : nullptr;
            if (!choice || !visible(n, {})) return std::nullopt;
            levels.emplace_back(factor, choice->choice);
        }
        return AllocationRequest{r->study, alloc::stratumKey(levels)};
    }

    // Reads one level of a draft into `data`; `repeat` is the repeat the level belongs to.
    Status load(const std::vector<Answer>& answers, const std::vector<Repeat>& repeats,
                std::size_t repeat, InstanceData& data) const {
        for (const auto& a : answers) {
            std::size_t n = impl->find(a.name);
            if (n == kNone || !node(n).isQuestion())
                return invalid("the draft answers '" + a.name + "', which is not a question");
            if (node(n).innermostRepeat() != repeat)
                return invalid("the draft answers '" + a.name + "' outside its repeat");
            if (node(n).calculated()) {
                // Recomputed once the draft is loaded; kept for once(), when it still fits.
                if (checkValue(node(n), a.value) && !isBlank(a.value))
                    data.answers.insert_or_assign(n, a.value);
                continue;
            }
            if (Status s = checkValue(node(n), a.value); !s) return s;
            if (data.answers.count(n)) return invalid("the draft answers '" + a.name + "' twice");
            if (!isBlank(a.value)) data.answers.emplace(n, a.value);
        }
        for (const auto& r : repeats) {
            std::size_t n = impl->find(r.name);
            if (n == kNone || node(n).kind != ItemKind::Repeat)
                return invalid("the draft has a repeat '" + r.name + "', which the form has not");
            if (node(n).innermostRepeat() != repeat)
                return invalid("the draft has repeat '" + r.name + "' at the wrong level");
            if (data.repeats.count(n))
                return invalid("the draft has repeat '" + r.name + "' twice");
            std::uint32_t max = node(n).item->max_count();
            if (max != 0 && r.instances.size() > max)
                return invalid("the draft has more instances of '" + r.name + "' than allowed");
            auto& list = data.repeats[n];
            for (const auto& inst : r.instances) {
                InstanceData child;
                if (Status s = load(inst.answers, inst.repeats, n, child); !s) return s;
                list.push_back(std::move(child));
            }
        }
        return {};
    }
};

// ---- FormSession ------------------------------------------------------------------------------

namespace {
Error followsCount(const Node& repeat) {
    return makeError(ErrorCode::WrongState,
                     "repeat '" + repeat.name + "' has as many instances as its repeat_count says");
}

std::unique_ptr<FormSession::State> newState(std::shared_ptr<const CompiledForm> form,
                                             std::string language) {
    auto state = std::make_unique<FormSession::State>();
    state->impl = &form->impl();
    // A language the form does not offer falls back to the default one (labels would be missing,
    // and the language is stored in the record's paradata).
    bool offered = false;
    if (const auto* languages = form->form().languages()) {
        for (const auto* l : *languages)
            offered = offered || l->tag()->string_view() == language;
    }
    state->language = offered ? std::move(language) : form->defaultLanguage();
    state->form = std::move(form);
    return state;
}
}  // namespace

CaseContext CaseContext::of(const CaseInfo& info) {
    CaseContext out;
    out.id = info.id;
    for (const auto& p : info.properties) {
        out.properties.insert_or_assign(p.name, p.value);
        out.clocks.insert_or_assign(p.name, p.hlc);
    }
    return out;
}

std::string casePropertyText(const AnswerValue& value) {
    return std::visit(
        Overloaded{
            [](const std::string& s) { return s; },
            [](std::int64_t i) { return std::to_string(i); },
            [](const DecimalAnswer& d) {
                return d.text.empty() ? expr::toText(expr::Value{d.value}) : d.text;
            },
            [](bool b) { return std::string(b ? "yes" : "no"); },
            [](const ChoiceAnswer& c) { return c.choice; },
            [](const ChoicesAnswer& c) {
                std::string out;
                for (const auto& name : c.choices) {
                    if (!out.empty()) out += ' ';
                    out += name;
                }
                return out;
            },
            [](const DateAnswer& d) { return expr::formatIsoDate(d.days); },
            [](const TimeAnswer& t) { return formatHoursMinutes(t.ms); },
            [](const DateTimeAnswer& d) { return expr::toText(expr::DateTime{d.utcMs}); },
            // No short text; the form checks keep them out of case properties.
            [](const SignatureAnswer&) { return std::string(); },
            [](const PseudonymAnswer&) { return std::string(); },
        },
        value);
}

FormSession FormSession::start(std::shared_ptr<const CompiledForm> form, std::string language,
                               const CaseContext* caseContext) {
    auto state = newState(std::move(form), std::move(language));
    const CaseAction action = state->impl->caseAction;
    if (caseContext) {
        state->caseProperties = caseContext->properties;
        if (!caseContext->id.isNil()) state->caseId = caseContext->id;
    }
    if (action == CaseAction::Open && !state->caseId)
        state->caseId = makeUuidV7(SystemClock::instance());
    state->applyDefaults(state->impl->top, state->root);
    if (action == CaseAction::FollowUp || action == CaseAction::Close) state->prefillFromCase();
    state->recalculateAll();
    state->pruneChoices();
    state->followRepeatCounts();
    state->trackCase(caseContext, std::nullopt);
    return FormSession(std::move(state));
}

Result<FormSession> FormSession::open(std::shared_ptr<const CompiledForm> form,
                                      const RecordContent& draft, std::string language,
                                      const CaseContext* caseContext) {
    if (draft.formId != form->id() || draft.formVersion != form->version())
        return makeError(ErrorCode::WrongState,
                         "the draft was made with form '" + draft.formId + "' version " +
                             std::to_string(draft.formVersion) + ", not '" + form->id() +
                             "' version " + std::to_string(form->version()));
    if (caseContext && draft.caseId && !caseContext->id.isNil() && *draft.caseId != caseContext->id)
        return makeError(ErrorCode::WrongState, "the draft belongs to case " +
                                                    draft.caseId->toString() + ", not to case " +
                                                    caseContext->id.toString());
    auto state = newState(std::move(form), std::move(language));
    state->caseId = draft.caseId;
    if (caseContext) {
        state->caseProperties = caseContext->properties;
        if (!state->caseId && !caseContext->id.isNil()) state->caseId = caseContext->id;
    }
    // A draft without a case id (not made by a session) gets one now.
    if (state->impl->caseAction == CaseAction::Open && !state->caseId)
        state->caseId = makeUuidV7(SystemClock::instance());
    if (Status s = state->load(draft.answers, draft.repeats, kNone, state->root); !s)
        return s.error();
    state->recalculateAll();
    state->pruneChoices();
    state->followRepeatCounts();
    state->trackCase(caseContext, draft.caseChange);
    return FormSession(std::move(state));
}

FormSession::FormSession(std::unique_ptr<State> state) : m_state(std::move(state)) {}
FormSession::FormSession(FormSession&&) noexcept = default;
FormSession& FormSession::operator=(FormSession&&) noexcept = default;
FormSession::~FormSession() = default;

Status FormSession::setAnswer(const ItemPath& path, AnswerValue value) {
    std::size_t n = kNone;
    if (Status s = m_state->resolveWritable(path, n); !s) return s;
    if (Status s = m_state->checkValue(m_state->node(n), value); !s) return s;
    if (Status s = m_state->checkOffered(n, path.instances, value); !s) return s;
    m_state->store(n, path.instances, std::move(value));
    m_state->recalculate({n}, m_state->node(n).repeats, path.instances);
    m_state->pruneChoices();
    m_state->followRepeatCounts();
    return {};
}

Status FormSession::toggleChoice(const ItemPath& path, std::string_view choice) {
    std::size_t n = kNone;
    if (Status s = m_state->resolveWritable(path, n); !s) return s;
    const Node& nd = m_state->node(n);
    if (nd.type != QuestionType::SelectMany)
        return invalid("item '" + nd.name + "' is not a select many question");
    const auto* picked = nd.choice(choice);
    if (!picked) return invalid("item '" + nd.name + "': not a choice of its list");
    ChoicesAnswer before;
    if (const AnswerValue* v = m_state->answerAt(n, path.instances)) {
        if (const auto* c = std::get_if<ChoicesAnswer>(v)) before = *c;
    }
    const auto chosenBefore = [&](std::string_view name) {
        return std::find(before.choices.begin(), before.choices.end(), name) !=
               before.choices.end();
    };
    const bool ticking = !chosenBefore(choice);
    ChoicesAnswer next;
    bool other = false;
    for (const auto& c : nd.choices) {  // the list's order, whatever order they were ticked in
        bool chosen = false;
        if (c.name == choice) {
            chosen = ticking;
        } else if (chosenBefore(c.name)) {
            // Ticking an exclusive choice clears the others; ticking another clears it.
            chosen = !ticking || !(picked->exclusive || c.exclusive);
        }
        if (!chosen) continue;
        next.choices.push_back(c.name);
        other = other || c.isOther;
    }
    if (other) next.otherText = before.otherText;
    return setAnswer(path, std::move(next));
}

Status FormSession::clearAnswer(const ItemPath& path) {
    std::size_t n = kNone;
    if (Status s = m_state->resolveWritable(path, n); !s) return s;
    m_state->store(n, path.instances, std::nullopt);
    m_state->recalculate({n}, m_state->node(n).repeats, path.instances);
    m_state->pruneChoices();
    m_state->followRepeatCounts();
    return {};
}

std::optional<AnswerValue> FormSession::answer(const ItemPath& path) const {
    std::size_t n = kNone;
    if (!m_state->resolve(path, n)) return std::nullopt;
    const AnswerValue* v = m_state->answerAt(n, path.instances);
    return v ? std::optional<AnswerValue>(*v) : std::nullopt;
}

Result<std::size_t> FormSession::addRepeatInstance(const ItemPath& repeat) {
    std::size_t n = kNone;
    if (Status s = m_state->resolveRepeat(repeat, n); !s) return s.error();
    const Node& nd = m_state->node(n);
    if (nd.repeatCount) return followsCount(nd);
    auto* data = m_state->locateMutable(nd.repeats, repeat.instances, nd.repeats.size());
    auto& list = data->repeats[n];
    if (nd.item->max_count() != 0 && list.size() >= nd.item->max_count())
        return makeError(ErrorCode::WrongState, "repeat '" + nd.name + "' already has " +
                                                    std::to_string(list.size()) + " instances");
    InstanceData fresh;
    m_state->applyDefaults(nd.children, fresh);
    list.push_back(std::move(fresh));
    std::size_t index = list.size() - 1;
    m_state->afterRepeatChange(n, repeat.instances);
    m_state->pruneChoices();
    m_state->followRepeatCounts();  // counted repeats inside the new instance
    return index;
}

Status FormSession::removeRepeatInstance(const ItemPath& repeat, std::size_t index) {
    std::size_t n = kNone;
    if (Status s = m_state->resolveRepeat(repeat, n); !s) return s;
    const Node& nd = m_state->node(n);
    if (nd.repeatCount) return followsCount(nd);
    auto* data = m_state->locateMutable(nd.repeats, repeat.instances, nd.repeats.size());
    auto it = data->repeats.find(n);
    if (it == data->repeats.end() || index >= it->second.size())
        return makeError(ErrorCode::NotFound,
                         "repeat '" + nd.name + "' has no instance " + std::to_string(index));
    it->second.erase(it->second.begin() + static_cast<long>(index));
    m_state->afterRepeatChange(n, repeat.instances);
    m_state->pruneChoices();
    m_state->followRepeatCounts();
    return {};
}

std::vector<std::size_t> FormSession::offeredChoices(const ItemPath& path) const {
    std::size_t n = kNone;
    if (!m_state->resolve(path, n) || m_state->node(n).choices.empty()) return {};
    return m_state->offeredChoices(n, path.instances);
}

std::size_t FormSession::repeatCount(const ItemPath& repeat) const {
    std::size_t n = kNone;
    if (!m_state->resolveRepeat(repeat, n)) return 0;
    return m_state->countAt(n, repeat.instances);
}

bool FormSession::isVisible(const ItemPath& path) const {
    std::size_t n = kNone;
    if (!m_state->resolve(path, n)) return false;
    return m_state->visible(n, path.instances);
}

bool FormSession::isRequired(const ItemPath& path) const {
    std::size_t n = m_state->impl->find(path.name);
    return n != kNone && m_state->node(n).isQuestion() && m_state->node(n).item->required();
}

bool FormSession::isReadOnly(const ItemPath& path) const {
    std::size_t n = m_state->impl->find(path.name);
    return n != kNone && (m_state->node(n).calculated() || m_state->node(n).item->read_only());
}

std::optional<SessionProblem> FormSession::problem(const ItemPath& path) const {
    std::size_t n = kNone;
    if (!m_state->resolve(path, n) || !m_state->visible(n, path.instances)) return std::nullopt;
    return m_state->problemAt(n, path.instances);
}

std::vector<SessionProblem> FormSession::problems() const {
    return m_state->allProblems();
}

Progress FormSession::progress() const {
    Progress out;
    Instances instances;
    m_state->walk(m_state->impl->top, instances, [&](std::size_t n, const Instances& at) {
        if (!m_state->node(n).takesAnswer() || m_state->node(n).item->hidden()) return;
        ++out.total;
        if (m_state->answerAt(n, at)) ++out.answered;
    });
    return out;
}

RecordContent FormSession::content() const {
    return m_state->content(false);
}

Result<RecordContent> FormSession::finalContent() const {
    auto problems = m_state->allProblems();
    if (!problems.empty()) {
        std::string message = std::to_string(problems.size()) + " problem" +
                              (problems.size() == 1 ? "" : "s") + " block finalizing:";
        for (std::size_t i = 0; i < problems.size() && i < kListedProblems; ++i)
            message += " " + describePath(problems[i].path);
        if (problems.size() > kListedProblems) message += " ...";
        return invalid(message);
    }
    return m_state->content(true);
}

std::optional<Uuid> FormSession::caseId() const {
    return m_state->caseId;
}

std::optional<AllocationRequest> FormSession::pendingAllocation() const {
    return m_state->pendingAllocation();
}

const CompiledForm& FormSession::form() const {
    return *m_state->form;
}
const std::string& FormSession::language() const {
    return m_state->language;
}

}  // namespace veld::forms
