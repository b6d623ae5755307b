// Session answers: visibility, problems, and checking and converting values.
#include <veld/pseudonym.hpp>

#include "form_session_internal.hpp"

namespace veld::forms {

// Clears cached relevance that may read the answer of `changed`: items whose relevance refers
// to it, and, since a hidden item's answer reads as empty, everything that depends on the
// visibility of those items and of all they contain.
void FormSession::State::forgetRelevanceFrom(std::size_t changed) const {
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

// ---- visibility -------------------------------------------------------------------------

bool FormSession::State::relevantHere(std::size_t n, const Instances& instances) const {
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

bool FormSession::State::visible(std::size_t n, const Instances& instances) const {
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
bool FormSession::State::visibleFromExpression(std::size_t n, const Instances& instances) const {
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
void FormSession::State::walk(const std::vector<std::size_t>& items, Instances& instances,
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

std::optional<SessionProblem> FormSession::State::problemAt(std::size_t n,
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
        if ((min && x < *min) || (max && x > *max)) return make(SessionProblem::Kind::OutOfRange);
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

std::vector<SessionProblem> FormSession::State::allProblems() const {
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
Status FormSession::State::checkValue(const Node& nd, const AnswerValue& v) const {
    if (Status s = checkType(nd, v); !s) return s;
    if (Status s = storableError(nd, v); !s)
        return invalid("item '" + nd.name + "': " + s.error().message);
    return {};
}

Status FormSession::State::storableError(const Node& nd, const AnswerValue& v) const {
    RecordContent one;
    one.formId = std::string(impl->form->id()->string_view());
    one.answers.push_back(Answer{nd.name, v});
    return checkRecordContent(one);
}

bool FormSession::State::storable(const Node& nd, const AnswerValue& v) const {
    return storableError(nd, v).ok();
}

Status FormSession::State::checkType(const Node& nd, const AnswerValue& v) const {
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
std::optional<AnswerValue> FormSession::State::fromText(const Node& nd,
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

std::optional<AnswerValue> FormSession::State::fromCalculation(const Node& nd,
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

void FormSession::State::store(std::size_t n, const Instances& instances,
                               std::optional<AnswerValue> value) {
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
void FormSession::State::applyDefaults(const std::vector<std::size_t>& items,
                                       InstanceData& data) const {
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

}  // namespace veld::forms
