// Sessions and cases: case properties a record changes, prefilling, tracking and allocation.
#include <veld/allocation.hpp>
#include <veld/case.hpp>
#include <veld/hex.hpp>

#include "form_session_internal.hpp"

namespace veld::forms {

// ---- cases ------------------------------------------------------------------------------

// The text of a top-level question's answer as a case property; empty when unanswered.
std::string FormSession::State::textOf(std::size_t n) const {
    const AnswerValue* v = answerAt(n, {});
    return v ? casePropertyText(*v) : std::string();
}

CaseChange FormSession::State::caseChange(bool onlyVisible) const {
    CaseChange out;
    out.action = impl->caseAction;
    const bool opening = impl->caseAction == CaseAction::Open;
    if (opening) {
        out.caseType = impl->caseType;
        if (impl->pseudonymNode != kNone && (!onlyVisible || visible(impl->pseudonymNode, {}))) {
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
void FormSession::State::prefillFromCase() {
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
void FormSession::State::trackCase(const CaseContext* context,
                                   const std::optional<CaseChange>& changedBefore) {
    tracked.assign(impl->caseUpdates.size(), {});
    if (impl->caseAction != CaseAction::FollowUp && impl->caseAction != CaseAction::Close) return;
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

std::optional<AllocationRequest> FormSession::State::pendingAllocation() const {
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

}  // namespace veld::forms
