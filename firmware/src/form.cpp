#include <array>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <flatbuffers/idl.h>

#include <veld/allocation.hpp>
#include <veld/expression.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_media_files.hpp>
#include <veld/platform/files.hpp>
#include <veld/record.hpp>

#include "form_words.hpp"

namespace veld::forms {

extern const char* const kFormSchemaText;

namespace {

using fb::Item;
using fb::ItemKind;
using fb::QuestionType;
using namespace detail;

constexpr int kMaxItemDepth = 16;
constexpr std::uint32_t kMaxTextLength = 100000;

// The appearance words Veld honours (the client reads them through hasAppearance), and the
// question types each does something for.
// Finds the line of `"name": "<name>"` in the JSON source, so messages can point at the item.
class LineFinder {
  public:
    explicit LineFinder(std::string_view json) : m_json(json) {}
    int lineOf(std::string_view name) const {
        if (m_json.empty() || name.empty()) return 0;
        std::size_t pos = 0;
        while ((pos = m_json.find(name, pos)) != std::string_view::npos) {
            // Quoted exactly, and the value of a "name" key.
            if (pos > 0 && m_json[pos - 1] == '"' && pos + name.size() < m_json.size() &&
                m_json[pos + name.size()] == '"') {
                std::size_t k = pos - 1;
                while (k > 0 && std::isspace(static_cast<unsigned char>(m_json[k - 1])))
                    --k;
                if (k > 0 && m_json[k - 1] == ':') {
                    std::size_t key = m_json.rfind("\"name\"", k);
                    if (key != std::string_view::npos && key + 6 <= k - 1) {
                        std::string_view between = m_json.substr(key + 6, k - 1 - (key + 6));
                        if (between.find_first_not_of(" \t\r\n") == std::string_view::npos)
                            return 1 + static_cast<int>(std::count(
                                           m_json.begin(), m_json.begin() + static_cast<long>(pos),
                                           '\n'));
                    }
                }
            }
            pos += name.size();
        }
        return 0;
    }

  private:
    std::string_view m_json;
};

class Checker {
  public:
    Checker(const fb::Form& form, const std::string& file, std::string_view json)
        : m_form(form), m_file(file), m_lines(json) {}

    // Media files whose problems were reported already (when they were read from their folder).
    std::vector<std::string> reportedMedia;
    std::size_t binarySize = 0;  // the compiled form's bytes

    std::vector<FormProblem> run() {
        checkForm();
        collectChoiceLists();
        if (m_form.items()) collectItems(*m_form.items(), 0, false);
        if (m_form.items()) checkItems(*m_form.items(), false);
        checkExclusiveChoices();
        checkCalculationCycles();
        checkRelevanceCycles();
        checkSummary();
        checkCaseSettings();
        checkRandomisation();
        checkMedia();
        return std::move(m_problems);
    }

  private:
    void checkMedia() {
        for (auto& issue : checkFormMedia(m_form, binarySize)) {
            if (std::find(reportedMedia.begin(), reportedMedia.end(), issue.name) !=
                reportedMedia.end())
                continue;
            add(issue.error ? FormProblem::Severity::Error : FormProblem::Severity::Warning,
                std::move(issue.item), std::move(issue.message));
        }
    }

    void error(std::string item, std::string message) {
        add(FormProblem::Severity::Error, std::move(item), std::move(message));
    }
    void warning(std::string item, std::string message) {
        add(FormProblem::Severity::Warning, std::move(item), std::move(message));
    }
    void add(FormProblem::Severity severity, std::string item, std::string message) {
        FormProblem p;
        p.severity = severity;
        p.file = m_file;
        p.line = m_lines.lineOf(item);
        p.item = std::move(item);
        p.message = std::move(message);
        m_problems.push_back(std::move(p));
    }

    // FlatBuffers' parser keeps two entries for one language without complaint; which one a
    // device shows would then be an accident.
    void checkTexts(const Texts* texts, const std::string& item, const char* what) {
        if (!texts) return;
        std::set<std::string_view> langs;
        for (const auto* t : *texts) {
            std::string_view lang = t->lang() ? t->lang()->string_view() : std::string_view();
            if (!langs.insert(lang).second)
                error(item, std::string(what) + " has two texts for language '" +
                                std::string(lang) + "'");
        }
    }

    void checkForm() {
        checkTexts(m_form.titles(), "", "the title");
        checkTexts(m_form.descriptions(), "", "the description");
        std::string id = m_form.id() ? m_form.id()->str() : "";
        if (!validName(id)) error("", "the form id '" + id + "' is not a valid name");
        if (m_form.version() == 0) error("", "the form has no version (start at 1)");
        if (const auto* s = m_form.settings(); s && s->case_settings())
            m_caseAction = s->case_settings()->action();
        m_default = m_form.default_language() ? m_form.default_language()->str() : "";
        if (m_default.empty()) {
            error("", "the form names no default_language");
        } else if (!m_form.languages() && !validLanguageTag(m_default)) {
            error("", "'" + m_default + "' is not a language tag (such as nl, en or fa-AF)");
        }
        if (m_form.languages()) {
            std::set<std::string> tags;
            for (const auto* l : *m_form.languages()) {
                std::string tag = l->tag() ? l->tag()->str() : "";
                if (tag.empty() || !tags.insert(tag).second)
                    error("", "language '" + tag + "' is listed twice or has no tag");
                else if (!validLanguageTag(tag))
                    error("", "'" + tag + "' is not a language tag (such as nl, en or fa-AF)");
                m_languages.push_back(tag);
            }
            if (!m_default.empty() && !tags.count(m_default))
                error("", "the default language '" + m_default + "' is not among the languages");
        } else if (!m_default.empty()) {
            m_languages.push_back(m_default);
        }
        if (!m_default.empty() && !hasText(m_form.titles(), m_default))
            error("", "the form has no title in its default language '" + m_default + "'");
        for (const auto& lang : m_languages) {
            if (lang != m_default && !hasText(m_form.titles(), lang))
                warning("", "the form has no title in '" + lang + "'");
        }
        if (!m_form.items() || m_form.items()->size() == 0) error("", "the form has no items");
    }

    void collectChoiceLists() {
        if (!m_form.choice_lists()) return;
        for (const auto* list : *m_form.choice_lists()) {
            std::string name = list->name()->str();
            if (!validName(name)) error(name, "'" + name + "' is not a valid choice list name");
            if (m_lists.count(name)) {
                error(name, "choice list '" + name + "' is defined twice");
                continue;
            }
            std::set<std::string> choices;
            std::set<std::string> properties;
            if (!list->choices() || list->choices()->size() == 0)
                error(name, "choice list '" + name + "' has no choices");
            if (list->choices()) {
                for (const auto* c : *list->choices()) {
                    std::string cname = c->name()->str();
                    if (!validChoiceName(cname))
                        error(name, "choice '" + cname +
                                        "' is not a valid choice name (letters, digits, '_', "
                                        "'-' and '.', at most 64; a number may start with '-')");
                    if (!choices.insert(cname).second)
                        error(name, "choice '" + cname + "' appears twice in list '" + name + "'");
                    checkTexts(c->labels(), name, ("choice '" + cname + "'").c_str());
                    if (!hasText(c->labels(), m_default))
                        error(name, "choice '" + cname + "' has no label in '" + m_default + "'");
                    for (const auto& lang : m_languages) {
                        if (lang != m_default && !hasText(c->labels(), lang))
                            warning(name, "choice '" + cname + "' has no label in '" + lang + "'");
                    }
                    checkChoiceProperties(*c, name, cname, properties);
                }
            }
            m_lists[name] = std::move(choices);
            m_listProperties[name] = std::move(properties);
        }
    }

    // Properties are what a choice filter reads by bare name: valid names, not `name` (the
    // choice's own) or `label`, once per choice.
    void checkChoiceProperties(const fb::Choice& c, const std::string& list,
                               const std::string& choice, std::set<std::string>& all) {
        if (!c.properties()) return;
        std::set<std::string> seen;
        for (const auto* p : *c.properties()) {
            const std::string property = p->name()->str();
            const std::string what = "choice '" + choice + "': property '" + property + "'";
            if (!validName(property) || property.find('.') != std::string::npos)
                error(list, what + " is not a valid name (letters, digits, '_' and '-')");
            else if (property == "name" || property == "label")
                error(list, what + " is reserved (a choice filter reads the choice's own name)");
            else if (!seen.insert(property).second)
                error(list, what + " is given twice");
            all.insert(property);
        }
    }

    // The groups and repeats around an item, innermost first. Bounded by steps: two items
    // sharing a name (an error of its own) can make the parents a loop.
    std::vector<std::string> enclosing(const std::string& name) const {
        std::vector<std::string> out;
        for (auto it = m_parent.find(name); it != m_parent.end() && !it->second.empty() &&
                                            out.size() <= static_cast<std::size_t>(kMaxItemDepth);
             it = m_parent.find(it->second))
            out.push_back(it->second);
        return out;
    }

    // The repeats around an item, outermost first.
    std::vector<std::string> repeatsAround(const std::string& name) const {
        std::vector<std::string> out;
        for (const auto& around : enclosing(name)) {
            auto item = m_items.find(around);
            if (item != m_items.end() && item->second->kind() == ItemKind::Repeat)
                out.insert(out.begin(), around);
        }
        return out;
    }

    // References into repeats: a repeat counts (count(${r})) or is indexed; a question in a
    // repeat the item is not in is read whole by aggregates, one instance by indexed-repeat(),
    // and anywhere else only its first instance (a warning: rarely what is meant).
    void checkRepeatReferences(const std::string& item, const std::string& what,
                               const expr::Expression& e) {
        const auto around = repeatsAround(item);
        std::set<std::string> warned;
        for (const auto& use : e.referenceUses()) {
            auto it = m_items.find(use.name);
            if (it == m_items.end()) continue;  // reported already
            const ItemKind kind = it->second->kind();
            if (kind == ItemKind::Repeat) {
                if (use.kind == expr::ReferenceKind::Scalar)
                    error(item, what + " refers to ${" + use.name +
                                    "}, which is a repeat; count its instances with count(${" +
                                    use.name + "})");
                continue;
            }
            if (kind != ItemKind::Question || use.kind != expr::ReferenceKind::Scalar) continue;
            const auto inside = repeatsAround(use.name);
            if (inside.size() <= around.size() &&
                std::equal(inside.begin(), inside.end(), around.begin()))
                continue;
            if (warned.insert(use.name).second)
                warning(item, what + " reads ${" + use.name + "}, which is asked in repeat '" +
                                  inside.back() +
                                  "', from outside it: that is its first instance's answer; use "
                                  "indexed-repeat() for another one, or sum(), count() ... for "
                                  "all of them");
        }
        for (const auto& indexed : e.indexedRepeats()) {
            auto q = m_items.find(indexed.question);
            if (q == m_items.end()) continue;
            if (q->second->kind() != ItemKind::Question) {
                error(item, what + ": indexed-repeat() reads ${" + indexed.question +
                                "}, which is not a question");
                continue;
            }
            const auto inside = repeatsAround(indexed.question);
            for (const auto& r : indexed.repeats) {
                if (std::find(inside.begin(), inside.end(), r) == inside.end())
                    error(item, what + ": indexed-repeat() indexes ${" + r +
                                    "}, which is not a repeat around ${" + indexed.question + "}");
            }
        }
        for (const auto& q : e.choiceNameQuestions()) {
            auto it = m_items.find(q);
            if (it == m_items.end() || it->second->kind() != ItemKind::Question ||
                !isSelect(it->second->type()))
                error(item, what + ": jr:choice-name() names '" + q +
                                "', which is not a select question of the form");
        }
    }

    void collectItems(const flatbuffers::Vector<flatbuffers::Offset<Item>>& items, int depth,
                      bool inRepeat, const std::string& parent = {}) {
        for (const auto* item : items) {
            std::string name = item->name()->str();
            m_parent[name] = parent;
            if (!validName(name)) error(name, "'" + name + "' is not a valid item name");
            if (name.starts_with(expr::kCaseReferencePrefix))
                error(name,
                      "names starting with 'case.' are kept for case properties "
                      "(${case.name}); rename the item");
            if (!m_items.emplace(name, item).second)
                error(name, "the name '" + name + "' is used by two items");
            m_inRepeat[name] = inRepeat;
            if (item->children()) {
                if (depth >= kMaxItemDepth) {
                    error(name, "groups and repeats are nested more than 16 deep");
                    continue;
                }
                collectItems(*item->children(), depth + 1,
                             inRepeat || item->kind() == ItemKind::Repeat, name);
            }
        }
    }

    std::optional<expr::Expression> parseExpression(const std::string& item, const char* what,
                                                    const flatbuffers::String* text,
                                                    bool allowCurrent,
                                                    expr::ParseOptions options = {}) {
        if (!text || text->size() == 0) return std::nullopt;
        auto e = expr::Expression::parse(text->string_view(), options);
        if (!e) {
            error(item, std::string(what) + ": " + e.error().message);
            return std::nullopt;
        }
        for (const auto& ref : e->references()) {
            if (!m_items.count(ref)) {
                error(item,
                      std::string(what) + " refers to ${" + ref + "}, which is not in the form");
            } else if (m_items.at(ref)->kind() == ItemKind::Group) {
                error(item, std::string(what) + " refers to ${" + ref +
                                "}, which is a group, not a question");
            }
        }
        checkRepeatReferences(item, what, *e);
        for (const auto& prop : e->caseReferences()) {
            if (!validPropertyName(prop)) {
                error(item, std::string(what) + " refers to ${case." + prop +
                                "}, which is not a case property name (a-z, 0-9 and '_', at "
                                "most 64)");
            } else if (m_caseAction != fb::CaseAction::FollowUp &&
                       m_caseAction != fb::CaseAction::Close) {
                error(item, std::string(what) + " reads ${case." + prop +
                                "}, but only a form that follows up or closes a case has one "
                                "(case_settings.action FollowUp or Close)");
            }
        }
        if (e->usesCurrent() && !allowCurrent)
            error(item, std::string(what) + " uses '.', which only a constraint may use");
        return std::move(e.value());
    }

    void checkItems(const flatbuffers::Vector<flatbuffers::Offset<Item>>& items, bool inRepeat) {
        for (const auto* item : items) {
            std::string name = item->name()->str();
            auto kind = item->kind();
            auto type = item->type();
            if (kind != ItemKind::Question && kind != ItemKind::Group && kind != ItemKind::Repeat) {
                error(name, "unknown item kind");
                continue;
            }
            checkTexts(item->labels(), name, "the label");
            checkTexts(item->hints(), name, "the hint");
            checkTexts(item->constraint_messages(), name, "the constraint message");
            checkTexts(item->required_messages(), name, "the required message");
            // Nobody sees a hidden question's label, nor a read-only calculation's.
            const bool unlabelled = kind == ItemKind::Question &&
                                    (item->hidden() || (item->calculation() && item->read_only()));
            if (!hasText(item->labels(), m_default) && !unlabelled)
                error(name, "no label in the default language '" + m_default + "'");
            for (const auto& lang : m_languages) {
                if (lang != m_default && item->labels() && !hasText(item->labels(), lang))
                    warning(name, "no label in '" + lang + "'");
            }
            checkAppearance(*item, name);
            if (item->required_messages() && item->required_messages()->size() > 0 &&
                !(kind == ItemKind::Question && item->required()))
                warning(name, "required_messages are shown only for a required question");
            if (kind != ItemKind::Repeat && item->repeat_count() &&
                item->repeat_count()->size() > 0)
                error(name, "repeat_count belongs to repeats");
            if (kind == ItemKind::Question) {
                checkQuestion(*item, name);
                if (item->children() && item->children()->size() > 0)
                    error(name, "a question cannot have children; use a group");
            } else {
                if (type != QuestionType::None)
                    error(name, "a group or repeat has no question type");
                if (!item->children() || item->children()->size() == 0)
                    error(name, "the " + std::string(kind == ItemKind::Group ? "group" : "repeat") +
                                    " has no items");
                if (item->calculation() && item->calculation()->size() > 0)
                    error(name, "a group or repeat cannot have a calculation");
                if (item->constraint() && item->constraint()->size() > 0)
                    error(name, "a group or repeat cannot have a constraint");
                if (kind == ItemKind::Repeat && item->max_count() != 0 &&
                    item->max_count() < item->min_count())
                    error(name, "max_count is smaller than min_count");
                if (kind == ItemKind::Group && (item->min_count() || item->max_count()))
                    error(name, "min_count and max_count belong to repeats, not groups");
                if (item->hidden())
                    error(name,
                          "hidden is for questions; a group or repeat is hidden by its relevance");
                if (kind == ItemKind::Repeat) checkRepeatCount(*item, name);
                if (auto rel = parseExpression(name, "relevance", item->relevance(), false))
                    m_relevanceRefs[name] = rel->references();
                if (item->children())
                    checkItems(*item->children(), inRepeat || kind == ItemKind::Repeat);
            }
        }
    }

    // repeat_count: the number of instances follows an expression over answers outside the
    // repeat (an answer inside it would change with the instances it makes).
    void checkRepeatCount(const Item& item, const std::string& name) {
        auto count = parseExpression(name, "repeat_count", item.repeat_count(), false);
        if (!count) return;
        if (item.min_count() || item.max_count())
            error(name,
                  "a repeat with repeat_count cannot have min_count or max_count (its count "
                  "is the expression's value)");
        for (const auto& ref : count->references()) {
            const auto around = enclosing(ref);
            if (ref == name || std::find(around.begin(), around.end(), name) != around.end())
                error(name, "repeat_count refers to ${" + ref +
                                "}, which is inside the repeat; use a question before it");
        }
    }

    void checkAppearance(const Item& item, const std::string& name) {
        for (std::string_view word : appearanceWords(item)) {
            const AppearanceWord* known = appearanceWord(word);
            if (!known) {
                std::string words;
                for (const auto& w : appearanceTable())
                    words += (words.empty() ? "" : ", ") + std::string(w.word);
                warning(name, "appearance '" + std::string(word) +
                                  "' is not one Veld shows (it knows " + words +
                                  "); it is ignored");
            } else if (item.kind() != ItemKind::Question ||
                       std::find(known->types.begin(), known->types.end(), item.type()) ==
                           known->types.end()) {
                warning(name, "appearance '" + std::string(word) + "' is only for " +
                                  known->forWhat + "; it is ignored here");
            }
        }
    }

    // step: the question is shown as a slider from min_value to max_value.
    void checkStep(const Item& item, const std::string& name) {
        if (!item.step()) return;
        const double step = *item.step();
        if (!isNumeric(item.type())) {
            error(name, "step is for integer and decimal questions");
            return;
        }
        if (!std::isfinite(step) || step <= 0) error(name, "step must be larger than 0");
        if (!item.min_value() || !item.max_value())
            error(name, "step needs both min_value and max_value (the ends of the slider)");
        if (item.type() == QuestionType::Integer) {
            const auto whole = [](double x) { return std::isfinite(x) && x == std::trunc(x); };
            if (!whole(step) || (item.min_value() && !whole(*item.min_value())))
                error(name,
                      "an integer question's step and min_value must be whole numbers "
                      "(use a decimal question)");
        }
    }

    void checkQuestion(const Item& item, const std::string& name) {
        auto type = item.type();
        if (type == QuestionType::None) {
            error(name, "the question has no type");
            return;
        }
        if (static_cast<int>(type) > static_cast<int>(QuestionType::MAX)) {
            error(name, "unknown question type");
            return;
        }
        bool hasList = item.choice_list() && item.choice_list()->size() > 0;
        if (isSelect(type)) {
            if (!hasList) {
                error(name, std::string(typeName(type)) + " needs a choice_list");
            } else if (!m_lists.count(item.choice_list()->str())) {
                error(name, "choice list '" + item.choice_list()->str() + "' does not exist");
            }
        } else if (hasList) {
            error(name, "choice_list is only for select and likert questions");
        }
        if (type == QuestionType::Note && item.required()) error(name, "a note cannot be required");
        const bool calculated = item.calculation() && item.calculation()->size() > 0;
        if (item.hidden() && item.required() && !calculated)
            error(name,
                  "a hidden question cannot be required (nobody sees it to answer it) unless it "
                  "is calculated");
        if (type == QuestionType::SelectMany && hasList)
            m_selectManyLists.insert(item.choice_list()->str());
        checkStep(item, name);
        if (type == QuestionType::Consent && item.calculation() && item.calculation()->size() > 0)
            error(name, "consent must be given by a person, not calculated");
        bool numeric = type == QuestionType::Integer || type == QuestionType::Decimal;
        if ((item.min_value() || item.max_value()) && !numeric)
            error(name, "min_value and max_value are for integer and decimal questions");
        if (item.min_value() && item.max_value() && *item.min_value() > *item.max_value())
            error(name, "min_value is larger than max_value");
        bool text = type == QuestionType::Text;
        if ((item.multiline() || item.max_length() || (item.pattern() && item.pattern()->size())) &&
            !text)
            error(name, "multiline, max_length and pattern are for text questions");
        if (item.max_length() > kMaxTextLength)
            error(name, "max_length is larger than " + std::to_string(kMaxTextLength));
        if (item.pattern() && item.pattern()->size() > 0) {
            if (Status s = expr::checkPattern(item.pattern()->string_view()); !s)
                error(name, "pattern: " + s.error().message);
        }
        if (type == QuestionType::Pseudonym &&
            item.identifier_scheme() == fb::IdentifierScheme::None)
            error(name,
                  "a pseudonym question needs an identifier_scheme (Bsn, SchoolPupil, Other)");
        if (type != QuestionType::Pseudonym &&
            item.identifier_scheme() != fb::IdentifierScheme::None)
            error(name, "identifier_scheme is only for pseudonym questions");
        if (item.identifying() && type == QuestionType::Note)
            error(name, "a note cannot be identifying");
        if (auto rel = parseExpression(name, "relevance", item.relevance(), false))
            m_relevanceRefs[name] = rel->references();
        auto constraint = parseExpression(name, "constraint", item.constraint(), true);
        if (constraint && !hasText(item.constraint_messages(), m_default))
            error(name,
                  "the constraint has no message in the default language '" + m_default + "'");
        auto calc = parseExpression(name, "calculation", item.calculation(), false);
        if (calc) m_calcRefs[name] = calc->references();
        checkChoiceFilter(item, name);
        if (item.relevance() && item.relevance()->size() > 0) {
            auto rel = expr::Expression::parse(item.relevance()->string_view());
            if (rel) {
                for (const auto& ref : rel->references()) {
                    if (ref == name) error(name, "relevance depends on the question's own answer");
                }
            }
        }
        if (item.default_value() && item.default_value()->size() > 0)
            checkDefault(item, name, item.default_value()->str());
    }

    // A choice filter is evaluated per choice of a select's list: its bare names must be `name`
    // or a property of the list's choices, and it cannot read the question's own answer.
    void checkChoiceFilter(const Item& item, const std::string& name) {
        if (!item.choice_filter() || item.choice_filter()->size() == 0) return;
        if (!isSelect(item.type())) {
            error(name, "choice_filter is only for select questions");
            return;
        }
        auto filter = parseExpression(name, "choice_filter", item.choice_filter(), false,
                                      expr::ParseOptions{.choiceFields = true});
        if (!filter || !item.choice_list()) return;
        const std::string list = item.choice_list()->str();
        auto properties = m_listProperties.find(list);
        // An unknown list is already an error of its own; its properties cannot be judged.
        if (properties == m_listProperties.end()) return;
        for (const auto& field : filter->choiceFields()) {
            if (field == "name" || properties->second.count(field)) continue;
            error(name, "choice_filter reads '" + field + "', which is neither 'name' nor a " +
                            "property of the choices in '" + list + "'");
        }
        for (const auto& ref : filter->references()) {
            if (ref == name) error(name, "choice_filter depends on the question's own answer");
        }
    }

    void checkDefault(const Item& item, const std::string& name, const std::string& value) {
        switch (item.type()) {
            case QuestionType::Integer:
            case QuestionType::Decimal: {
                double v = expr::toNumber(expr::Value{value});
                // Date text converts to a number of days in expressions, not in a default.
                if (std::isnan(v) || expr::parseIsoDate(value, true))
                    error(name, "default '" + value + "' is not a number");
                if (item.type() == QuestionType::Integer && v != std::trunc(v))
                    error(name, "default '" + value + "' is not a whole number");
                break;
            }
            case QuestionType::SelectOne:
            case QuestionType::Likert:
            case QuestionType::SelectMany: {
                if (!item.choice_list()) break;
                auto list = m_lists.find(item.choice_list()->str());
                if (list == m_lists.end()) break;
                std::istringstream words(value);
                std::set<std::string> chosen;
                std::string word;
                while (words >> word) {
                    if (!list->second.count(word))
                        error(name,
                              "default '" + word + "' is not a choice of '" + list->first + "'");
                    chosen.insert(word);
                }
                if (chosen.size() > 1) {
                    for (std::string_view w : exclusiveChoices(list->first)) {
                        if (chosen.count(std::string(w)))
                            error(name, "default '" + value + "' chooses the exclusive choice '" +
                                            std::string(w) + "' with others");
                    }
                }
                break;
            }
            case QuestionType::Note:
            case QuestionType::Signature:
            case QuestionType::Pseudonym:
                error(name, std::string("a ") + typeName(item.type()) + " cannot have a default");
                break;
            default:
                break;
        }
    }

    std::vector<std::string_view> exclusiveChoices(const std::string& listName) const {
        std::vector<std::string_view> out;
        if (!m_form.choice_lists()) return out;
        for (const auto* list : *m_form.choice_lists()) {
            if (list->name()->string_view() != listName || !list->choices()) continue;
            for (const auto* c : *list->choices()) {
                if (c->exclusive()) out.push_back(c->name()->string_view());
            }
        }
        return out;
    }

    // An exclusive choice ("none of these") only means something to a select-many question.
    void checkExclusiveChoices() {
        if (!m_form.choice_lists()) return;
        for (const auto* list : *m_form.choice_lists()) {
            if (!list->choices() || m_selectManyLists.count(list->name()->str())) continue;
            for (const auto* c : *list->choices()) {
                if (c->exclusive())
                    warning(list->name()->str(),
                            "choice '" + c->name()->str() + "' of list '" + list->name()->str() +
                                "' is exclusive, which only matters to select many questions, "
                                "and no select many question uses the list");
            }
        }
    }

    // A calculation that depends on itself, directly or through other calculations, can never
    // settle. Depth-first search with colours over calculated questions.
    void checkCalculationCycles() {
        std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
        std::vector<std::string> path;
        std::function<void(const std::string&)> visit = [&](const std::string& node) {
            state[node] = 1;
            path.push_back(node);
            auto it = m_calcRefs.find(node);
            if (it != m_calcRefs.end()) {
                for (const auto& next : it->second) {
                    if (!m_calcRefs.count(next)) continue;
                    if (state[next] == 1) {
                        std::string cycle;
                        auto start = std::find(path.begin(), path.end(), next);
                        for (auto p = start; p != path.end(); ++p)
                            cycle += "${" + *p + "} -> ";
                        cycle += "${" + next + "}";
                        error(next, "calculations depend on each other in a cycle: " + cycle);
                    } else if (state[next] == 0) {
                        visit(next);
                    }
                }
            }
            path.pop_back();
            state[node] = 2;
        };
        for (const auto& [name, refs] : m_calcRefs) {
            if (state[name] == 0) visit(name);
        }
    }

    // Whether an item is shown depends on its relevance, on what that relevance reads (a hidden
    // answer reads as empty, so on whether those items are shown), and on its enclosing groups.
    // A circle in that (A shown if B answered, B shown if A answered; a group shown if a question
    // inside it is answered) has no consistent answer, so it is refused.
    void checkRelevanceCycles() {
        std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
        std::vector<std::string> path;
        std::set<std::string> reported;
        std::function<void(const std::string&)> visit = [&](const std::string& node) {
            state[node] = 1;
            path.push_back(node);
            std::vector<std::string> next;
            if (auto it = m_relevanceRefs.find(node); it != m_relevanceRefs.end())
                next = it->second;
            if (auto it = m_parent.find(node); it != m_parent.end() && !it->second.empty())
                next.push_back(it->second);
            for (const auto& n : next) {
                if (!m_items.count(n) || n == node) continue;  // reported elsewhere
                if (state[n] == 1) {
                    if (reported.insert(n).second) {
                        std::string cycle;
                        auto start = std::find(path.begin(), path.end(), n);
                        for (auto p = start; p != path.end(); ++p)
                            cycle += *p + " -> ";
                        error(n, "whether it is shown depends on itself: " + cycle + n);
                    }
                } else if (state[n] == 0) {
                    visit(n);
                }
            }
            path.pop_back();
            state[node] = 2;
        };
        for (const auto& [name, item] : m_items) {
            if (state[name] == 0) visit(name);
        }
    }

    void checkSummary() {
        const auto* settings = m_form.settings();
        if (!settings || !settings->summary_question() || settings->summary_question()->size() == 0)
            return;
        std::string name = settings->summary_question()->str();
        auto it = m_items.find(name);
        if (it == m_items.end() || it->second->kind() != ItemKind::Question) {
            error("", "summary_question '" + name + "' is not a question of the form");
            return;
        }
        if (m_inRepeat[name]) error(name, "the summary question cannot be inside a repeat");
        if (it->second->type() == QuestionType::Pseudonym)
            error(name, "the summary question cannot be a pseudonymous identifier");
        if (settings->anonymous() && it->second->identifying())
            error(name, "an anonymous form cannot name records by an identifying answer");
    }

    // The question `name` as a setting refers to it, or null after reporting why it cannot be.
    const Item* settingQuestion(const std::string& name, const std::string& what) {
        auto it = m_items.find(name);
        if (it == m_items.end() || it->second->kind() != ItemKind::Question) {
            error("", what + " '" + name + "' is not a question of the form");
            return nullptr;
        }
        if (m_inRepeat[name]) {
            error(name, what +
                            " cannot be a question inside a repeat (it has one answer per "
                            "instance)");
            return nullptr;
        }
        return it->second;
    }

    void checkCaseSettings() {
        const auto* settings = m_form.settings();
        const auto* cs = settings ? settings->case_settings() : nullptr;
        if (!cs) return;
        const auto action = cs->action();
        if (static_cast<int>(action) > static_cast<int>(fb::CaseAction::MAX)) {
            error("", "case_settings: unknown action");
            return;
        }
        if (action != fb::CaseAction::None && m_form.settings()->kiosk())
            error("",
                  "case_settings: a kiosk form cannot work with cases (case properties are "
                  "not sealed, and a kiosk's respondents are anonymous)");
        const bool hasUpdates = cs->updates() && cs->updates()->size() > 0;
        const std::string pseudonym =
            cs->pseudonym_question() ? cs->pseudonym_question()->str() : "";
        if (action == fb::CaseAction::None && (hasUpdates || !pseudonym.empty())) {
            error("",
                  "case_settings: updates and pseudonym_question need an action (Open, "
                  "FollowUp or Close)");
        }
        const std::string type = cs->case_type() ? cs->case_type()->str() : "";
        if (!type.empty() &&
            std::find(std::begin(kCaseTypes), std::end(kCaseTypes), type) == std::end(kCaseTypes))
            error("", "case_settings: case_type '" + type +
                          "' is not one of participant, vacancy, school, employer");
        if (!pseudonym.empty()) {
            if (action != fb::CaseAction::Open) {
                error("",
                      "case_settings: pseudonym_question is only for a form that opens a "
                      "case (action Open); later forms find the case by its id");
            } else if (const Item* q =
                           settingQuestion(pseudonym, "case_settings: pseudonym_question")) {
                if (q->type() != QuestionType::Pseudonym)
                    error(pseudonym, "case_settings: pseudonym_question '" + pseudonym + "' is a " +
                                         typeName(q->type()) +
                                         " question, not a pseudonym question");
            }
        }
        if (!cs->updates()) return;
        std::set<std::string> properties;
        for (const auto* u : *cs->updates()) {
            const std::string property = u->property()->str();
            const std::string question = u->question()->str();
            const std::string what = "case property '" + property + "'";
            if (!validPropertyName(property)) {
                error("", "case_settings: '" + property +
                              "' is not a case property name (a-z, 0-9 and '_', not starting "
                              "with a digit, at most 64)");
            } else if (property == kCaseStatusProperty || property == kCaseArmProperty) {
                error("", "case_settings: " + what +
                              " is set by Veld itself (status when a case opens or closes, arm "
                              "by randomisation); choose another name");
            } else if (!properties.insert(property).second) {
                error("", "case_settings: " + what + " is set twice");
            }
            const Item* q = settingQuestion(question, "case_settings: " + what + ": question");
            if (!q) continue;
            switch (q->type()) {
                case QuestionType::Note:
                case QuestionType::Signature:
                case QuestionType::Pseudonym:
                case QuestionType::DateTime:
                    error(question, "case_settings: " + what + " cannot be set from a " +
                                        typeName(q->type()) +
                                        " question (it has no short text form)");
                    continue;
                default:
                    break;
            }
            // A calculation's text is cut to what a property holds; typed text must fit.
            if (q->type() == QuestionType::Text &&
                !(q->calculation() && q->calculation()->size() > 0)) {
                std::uint32_t max = q->max_length() ? q->max_length() : kDefaultTextLength;
                if (max > kMaxPropertyTextLength)
                    error(question, "case_settings: " + what +
                                        " holds short text; give the question a max_length of "
                                        "at most " +
                                        std::to_string(kMaxPropertyTextLength));
            }
            if (property == kCaseNextContactProperty && q->type() != QuestionType::Date)
                error(question,
                      "case_settings: the case list reads next_contact as a date; "
                      "set it from a date question");
        }
    }

    void checkRandomisation() {
        const auto* settings = m_form.settings();
        const auto* r = settings ? settings->randomisation() : nullptr;
        if (!r) return;
        if (m_caseAction != fb::CaseAction::Open && m_caseAction != fb::CaseAction::FollowUp)
            error("", std::string("randomisation needs a case to randomise: the form's "
                                  "case_settings.action must be Open or FollowUp, not ") +
                          actionName(m_caseAction));
        const std::string study = r->study()->str();
        if (!validName(study))
            error("", "randomisation: the study '" + study + "' is not a valid name");
        parseExpression("", "randomisation: when", r->when(), false);
        if (!r->strata()) return;
        if (r->strata()->size() > alloc::kMaxFactors)
            error("", "randomisation: at most " + std::to_string(alloc::kMaxFactors) +
                          " strata factors");
        std::set<std::string> factors;
        for (const auto* f : *r->strata()) {
            const std::string factor = f->factor()->str();
            const std::string question = f->question()->str();
            if (!validName(factor))
                error("", "randomisation: the factor '" + factor + "' is not a valid name");
            else if (!factors.insert(factor).second)
                error("", "randomisation: the factor '" + factor + "' is listed twice");
            const Item* q =
                settingQuestion(question, "randomisation: factor '" + factor + "': question");
            if (q && q->type() != QuestionType::SelectOne)
                error(question, "randomisation: factor '" + factor + "' needs a select one " +
                                    "question (its choice is the level), not a " +
                                    typeName(q->type()) + " question");
            // An unanswered or hidden stratum question would let an eligible participant be
            // finalized without an allocation.
            if (q && (!q->required() || (q->relevance() && q->relevance()->size() > 0)))
                error(question, "randomisation: factor '" + factor +
                                    "': its question must be required and always shown");
        }
        if (settings->kiosk())
            error("",
                  "randomisation: a kiosk form cannot randomise (a respondent alone at a "
                  "kiosk would be assigned with nobody to see the arm)");
    }

    const fb::Form& m_form;
    fb::CaseAction m_caseAction = fb::CaseAction::None;
    std::string m_file;
    LineFinder m_lines;
    std::string m_default;
    std::vector<std::string> m_languages;
    std::map<std::string, std::set<std::string>> m_lists;
    std::map<std::string, std::set<std::string>> m_listProperties;  // what choice filters read
    std::map<std::string, const Item*> m_items;
    std::map<std::string, bool> m_inRepeat;
    std::map<std::string, std::vector<std::string>> m_calcRefs;
    std::map<std::string, std::vector<std::string>> m_relevanceRefs;
    std::map<std::string, std::string> m_parent;  // enclosing group or repeat; '' at the top
    std::set<std::string> m_selectManyLists;      // lists some select many question uses
    std::vector<FormProblem> m_problems;
};

// FlatBuffers' parser error -> line and message. It writes "path:12: 5: error: message" where
// GCC would, and "path(12, 5): error: message" on Windows, where MSVC would.
FormProblem parserProblem(const std::string& file, const std::string& error) {
    FormProblem p;
    p.file = file;
    p.message = error;
    auto marker = error.find(": error: ");
    if (marker == std::string::npos) return p;
    const std::string head = error.substr(0, marker);
    p.message = error.substr(marker + 9);
    std::string lineText;
    if (!head.empty() && head.back() == ')') {
        // head is "path(LINE, COL)"
        const auto open = head.rfind('(');
        const auto comma = head.rfind(", ");
        if (open != std::string::npos && comma != std::string::npos && comma > open)
            lineText = head.substr(open + 1, comma - open - 1);
    } else {
        // head is "path:LINE: COL"
        auto colon = head.rfind(": ");
        const std::string beforeColumn = colon == std::string::npos ? head : head.substr(0, colon);
        auto lineColon = beforeColumn.rfind(':');
        if (lineColon != std::string::npos) lineText = beforeColumn.substr(lineColon + 1);
    }
    try {
        p.line = lineText.empty() ? 0 : std::stoi(lineText);
    } catch (const std::exception&) {
        p.line = 0;
    }
    return p;
}

}  // namespace

std::string FormProblem::describe() const {
    std::string out = file;
    if (!cell.empty()) {
        out += ":" + cell;
    } else if (line > 0) {
        out += ":" + std::to_string(line);
    }
    out += severity == Severity::Error ? ": error: " : ": warning: ";
    if (!item.empty()) out += "item '" + item + "': ";
    out += message;
    return out;
}

bool FormCheck::ok() const {
    if (binary.empty()) return false;
    for (const auto& p : problems) {
        if (p.severity == FormProblem::Severity::Error) return false;
    }
    return true;
}

namespace {

std::vector<FormProblem> checkBinary(std::span<const std::uint8_t> binary,
                                     const std::string& fileName, std::string_view json,
                                     std::vector<std::string> reportedMedia) {
    flatbuffers::Verifier verifier(binary.data(), binary.size(), 64, 1000000);
    if (binary.size() < 8 || !fb::FormBufferHasIdentifier(binary.data()) ||
        !fb::VerifyFormBuffer(verifier)) {
        return {{FormProblem::Severity::Error, fileName, 0, "",
                 "not a compiled Veld form (it fails the FlatBuffers verifier)"}};
    }
    Checker checker(*fb::GetForm(binary.data()), fileName, json);
    checker.binarySize = binary.size();
    checker.reportedMedia = std::move(reportedMedia);
    return checker.run();
}

}  // namespace

FormCheck compileFormJson(std::string_view json, const std::string& fileName,
                          const std::string& mediaFolder) {
    FormCheck out;
    flatbuffers::IDLOptions options;
    options.strict_json = false;
    flatbuffers::Parser parser(options);
    if (!parser.Parse(kFormSchemaText, nullptr, "form.fbs")) {
        out.problems.push_back(
            {FormProblem::Severity::Error, fileName, 0, "",
             "internal: the built-in form schema does not parse: " + parser.error_});
        return out;
    }
    std::string text(json);  // the parser needs a terminating NUL
    if (!parser.Parse(text.c_str(), nullptr, fileName.c_str())) {
        out.problems.push_back(parserProblem(fileName, parser.error_));
        return out;
    }
    const std::uint8_t* data = parser.builder_.GetBufferPointer();
    out.binary.assign(data, data + parser.builder_.GetSize());
    std::vector<std::string> reported;
    if (!mediaFolder.empty()) {
        flatbuffers::Verifier verifier(out.binary.data(), out.binary.size(), 64, 1000000);
        if (fb::VerifyFormBuffer(verifier))
            out.problems = embedMediaFiles(out.binary, mediaFolder, fileName, reported);
    }
    auto checks = checkBinary(out.binary, fileName, json, std::move(reported));
    // The checks' problems first (as without media), then those of reading the media folder.
    checks.insert(checks.end(), std::make_move_iterator(out.problems.begin()),
                  std::make_move_iterator(out.problems.end()));
    out.problems = std::move(checks);
    return out;
}

FormCheck loadFormFile(const std::string& path) {
    FormCheck out;
    std::ifstream in(platform::fsPath(path), std::ios::binary);
    if (!in) {
        out.problems.push_back({FormProblem::Severity::Error, path, 0, "", "cannot read the file"});
        return out;
    }
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.size() >= 8 && fb::FormBufferHasIdentifier(content.data())) {
        out.binary.assign(content.begin(), content.end());
        out.problems = checkFormBinary(out.binary, path);
        return out;
    }
    return compileFormJson(content, path, mediaFolderOf(path));
}

std::vector<FormProblem> checkFormBinary(std::span<const std::uint8_t> binary,
                                         const std::string& fileName, std::string_view json) {
    return checkBinary(binary, fileName, json, {});
}

}  // namespace veld::forms
