// Loading a compiled form, and the FormSession interface: paths, record content and drafts.
#include <veld/clock.hpp>

#include "form_session_internal.hpp"

namespace veld::forms {

Status CompiledForm::Impl::addItems(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>& items,
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

Status CompiledForm::Impl::parseAll(std::size_t index) {
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
                    node.choices.push_back({c->name()->str(), c->is_other(), c->exclusive(), c});
            }
        }
    }
    return {};
}

Status CompiledForm::Impl::indexCases() {
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
                caseUpdates.push_back({u->property()->str(), find(u->question()->string_view())});
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
            if (n == kNone) return invalid("randomisation: factor '" + factor + "': no question");
        }
    }
    return {};
}

void CompiledForm::Impl::indexDependencies() {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        for (const auto* e : {&nodes[i].relevance, &nodes[i].constraint, &nodes[i].calculation}) {
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

// ---- paths ------------------------------------------------------------------------------

// Finds the node of `path` and checks that its instances exist.
Status FormSession::State::resolve(const ItemPath& path, std::size_t& out) const {
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

Status FormSession::State::resolveWritable(const ItemPath& path, std::size_t& out) const {
    if (Status s = resolve(path, out); !s) return s;
    const Node& nd = node(out);
    if (!nd.isQuestion()) return invalid("'" + path.name + "' is a group or repeat");
    if (nd.type == QuestionType::Note) return invalid("'" + path.name + "' is a note");
    if (nd.calculated()) return invalid("'" + path.name + "' is calculated");
    if (nd.item->read_only()) return invalid("'" + path.name + "' is read-only");
    return {};
}

Status FormSession::State::resolveRepeat(const ItemPath& path, std::size_t& out) const {
    if (Status s = resolve(path, out); !s) return s;
    if (node(out).kind != ItemKind::Repeat) return invalid("'" + path.name + "' is not a repeat");
    return {};
}

// ---- content ----------------------------------------------------------------------------

void FormSession::State::fill(const std::vector<std::size_t>& items, const InstanceData& data,
                              Instances& instances, bool onlyVisible, std::vector<Answer>& answers,
                              std::vector<Repeat>& repeats) const {
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
                fill(nd.children, it->second[i], instances, onlyVisible, ri.answers, ri.repeats);
                instances.pop_back();
                r.instances.push_back(std::move(ri));
            }
            repeats.push_back(std::move(r));
        }
    }
}

RecordContent FormSession::State::content(bool onlyVisible) const {
    RecordContent out;
    out.formId = impl->id;
    out.formVersion = impl->version;
    out.caseId = caseId;
    out.paradata.language = language;
    Instances instances;
    fill(impl->top, root, instances, onlyVisible, out.answers, out.repeats);
    if (caseId && impl->caseAction != CaseAction::None) out.caseChange = caseChange(onlyVisible);
    out.allocate = pendingAllocation();
    return out;
}

// ---- drafts -----------------------------------------------------------------------------

// Reads one level of a draft into `data`; `repeat` is the repeat the level belongs to.
Status FormSession::State::load(const std::vector<Answer>& answers,
                                const std::vector<Repeat>& repeats, std::size_t repeat,
                                InstanceData& data) const {
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
        if (data.repeats.count(n)) return invalid("the draft has repeat '" + r.name + "' twice");
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

// ---- FormSession ------------------------------------------------------------------------------

namespace {
constexpr std::size_t kListedProblems = 5;

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
