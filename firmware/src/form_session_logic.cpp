// Session logic: evaluating expressions, choice filters, calculations and repeat counts.

#include "form_session_internal.hpp"

namespace veld::forms {

// ${x} resolves in the repeat instances x shares with the item being evaluated; from
// outside a repeat x is in, it reads the first instance (as XPath reads a nodeset). The
// answer of a hidden item is empty, as in ODK: hiding a question hides what depends on
// it.
expr::Value FormSession::State::EvalContext::answer(std::string_view name) const {
    std::size_t x = m_state.impl->find(name);
    if (x == kNone || !m_state.node(x).isQuestion()) return {};
    expr::Value out;
    eachInstanceOf(x, [&](const Instances& at) {
        out = valueAt(x, at);
        return false;
    });
    return out;
}

std::vector<expr::Value> FormSession::State::EvalContext::answers(std::string_view name) const {
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

expr::Value FormSession::State::EvalContext::indexedAnswer(
    std::string_view name, const std::vector<expr::RepeatIndex>& indices) const {
    std::size_t x = m_state.impl->find(name);
    if (x == kNone || !m_state.node(x).isQuestion()) return {};
    const auto& rx = m_state.node(x).repeats;
    Instances at(rx.size(), 0);
    const std::size_t shared = sharedLevels(rx, rx.size());
    std::copy(m_instances.begin(), m_instances.begin() + static_cast<long>(shared), at.begin());
    for (const auto& index : indices) {
        auto it = std::find(rx.begin(), rx.end(), m_state.impl->find(index.repeat));
        if (it == rx.end()) return {};  // the form checks refuse this
        at[static_cast<std::size_t>(it - rx.begin())] = index.number - 1;
    }
    return valueAt(x, at);
}

expr::Value FormSession::State::EvalContext::current() const {
    return m_current ? toValue(*m_current) : expr::Value{};
}

expr::Value FormSession::State::EvalContext::caseProperty(std::string_view name) const {
    auto it = m_state.caseProperties.find(name);
    return it == m_state.caseProperties.end() ? expr::Value{} : expr::Value{it->second};
}

expr::Value FormSession::State::EvalContext::choiceField(std::string_view name) const {
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

std::string FormSession::State::EvalContext::choiceLabel(std::string_view question,
                                                         std::string_view choice) const {
    std::size_t q = m_state.impl->find(question);
    if (q == kNone) return {};
    for (const auto& c : m_state.node(q).choices) {
        if (c.name == choice)
            return textIn(c.source->labels(), m_state.language, m_state.impl->defaultLanguage);
    }
    return {};
}

int FormSession::State::EvalContext::position() const {
    return m_instances.empty() ? 0 : static_cast<int>(m_instances.back() + 1);
}

// How many of `levels` (repeats, outermost first) the evaluated item shares, at most
// `limit`: their instances are the item's own.
std::size_t FormSession::State::EvalContext::sharedLevels(const Instances& levels,
                                                          std::size_t limit) const {
    static const Instances kTop;
    const auto& rp = m_node == kNone ? kTop : m_state.node(m_node).repeats;
    std::size_t k = 0;
    while (k < limit && k < rp.size() && k < m_instances.size() && levels[k] == rp[k])
        ++k;
    return k;
}

// Calls `f` with every instance path of x (a question, or one instance of a repeat) seen
// from the evaluated item, in form order, until it returns false.
void FormSession::State::EvalContext::eachInstanceOf(
    std::size_t x, const std::function<bool(const Instances&)>& f) const {
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

expr::Value FormSession::State::EvalContext::valueAt(std::size_t x, const Instances& at) const {
    const AnswerValue* v = m_state.answerAt(x, at);
    if (!v || !m_state.visibleFromExpression(x, at)) return {};
    return toValue(*v);
}

// ---- choice filters ---------------------------------------------------------------------

// Whether select `n` offers choice `c` at `instances`: it has no filter, or the filter holds
// for the choice.
bool FormSession::State::offered(std::size_t n, const Instances& instances,
                                 const CompiledForm::Impl::Choice& c) const {
    const auto& filter = node(n).choiceFilter;
    if (!filter) return true;
    return expr::toBool(filter->evaluate(EvalContext(*this, n, instances, nullptr, c.source)));
}

std::vector<std::size_t> FormSession::State::offeredChoices(std::size_t n,
                                                            const Instances& instances) const {
    std::vector<std::size_t> out;
    const auto& choices = node(n).choices;
    for (std::size_t i = 0; i < choices.size(); ++i) {
        if (offered(n, instances, choices[i])) out.push_back(i);
    }
    return out;
}

// A select's answer without the choices it does not offer (nullopt: none left).
std::optional<AnswerValue> FormSession::State::withOffered(std::size_t n, const Instances& at,
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

Status FormSession::State::checkOffered(std::size_t n, const Instances& at,
                                        const AnswerValue& v) const {
    if (!node(n).choiceFilter) return {};
    auto kept = withOffered(n, at, v);
    if (kept && *kept == v) return {};
    return invalid("item '" + node(n).name + "': a choice its choice_filter does not offer");
}

// Clears what shown selects answer with choices their filters no longer offer (as ODK
// does), and what follows from that: a cleared country clears its city.
void FormSession::State::pruneChoices() {
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

// ---- calculations -----------------------------------------------------------------------

// Calls `f` with every existing instance path of node `n` that agrees with `prefix` on the
// repeats `n` shares with `scope`.
void FormSession::State::forEachInstance(std::size_t n, const Instances& scope,
                                         const Instances& prefix,
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
bool FormSession::State::calculate(std::size_t n, const Instances& instances) {
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

// Recomputes the calculations that depend on `changed` (and those among `changed`), in
// dependency order, only in the instances that agree with `prefix` on the repeats in
// `scope`. Dependence is transitive through other calculations and through relevance: an
// item whose visibility may change reads differently, and so does all it contains.
void FormSession::State::recalculate(const std::vector<std::size_t>& changed,
                                     const Instances& scope, const Instances& prefix) {
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
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return node(a).calcRank < node(b).calcRank; });
    untilStable(order.size(), [&] {
        bool changedAny = false;
        for (std::size_t n : order) {
            forEachInstance(n, scope, prefix,
                            [&](const Instances& at) { changedAny |= calculate(n, at); });
        }
        return changedAny;
    });
}

void FormSession::State::recalculateAll() {
    untilStable(impl->calcOrder.size(), [&] {
        bool changedAny = false;
        for (std::size_t n : impl->calcOrder)
            forEachInstance(n, {}, {},
                            [&](const Instances& at) { changedAny |= calculate(n, at); });
        return changedAny;
    });
}

void FormSession::State::subtree(std::size_t n, std::vector<std::size_t>& out) const {
    out.push_back(n);
    for (std::size_t c : node(n).children)
        subtree(c, out);
}

void FormSession::State::afterRepeatChange(std::size_t repeat, const Instances& instances) {
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
void FormSession::State::followRepeatCounts() {
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
bool FormSession::State::followRepeatCount(std::size_t n, const Instances& at) {
    const Node& nd = node(n);
    const double x = expr::toNumber(nd.repeatCount->evaluate(EvalContext(*this, n, at, nullptr)));
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

}  // namespace veld::forms
