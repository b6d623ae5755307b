#include "targets/form_exercise.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>
#include <veld/sealed_record.hpp>
#include <veld/uuid.hpp>

#include "fuzz.hpp"

namespace veld::fuzz {

namespace {

using forms::FormSession;
using forms::ItemPath;
using Items = flatbuffers::Vector<flatbuffers::Offset<fb::Item>>;

// Bounds that keep one input well under a second: a hostile form may hold thousands of items,
// and a session re-evaluates what depends on each answer.
constexpr int kMaxAnswers = 400;
constexpr std::size_t kMaxInstances = 2;
constexpr int kPasses = 3;

const pseudonym::Key& pseudonymKey() {
    static const pseudonym::Key key{"fuzz", [] {
                                        std::array<std::uint8_t, pseudonym::kKeyBytes> bytes{};
                                        bytes.fill(0x5a);
                                        return bytes;
                                    }()};
    return key;
}

// Answers a question can take: a few of each type, drawn from what the item says (its choices,
// its range), in the spirit of veldctl's demo filler but deterministic.
std::vector<AnswerValue> candidates(const fb::Form& form, const fb::Item& item) {
    std::vector<AnswerValue> out;
    switch (item.type()) {
        case fb::QuestionType::Text:
            out.emplace_back(std::string("Demo 123"));
            out.emplace_back(std::string("123456"));
            out.emplace_back(std::string("M01-001"));
            break;
        case fb::QuestionType::Integer:
        case fb::QuestionType::Decimal: {
            std::vector<double> values;
            if (item.min_value()) values.push_back(*item.min_value());
            if (item.max_value()) values.push_back(*item.max_value());
            values.push_back(1);
            values.push_back(0);
            for (double v : values) {
                if (item.type() == fb::QuestionType::Integer) {
                    if (std::isfinite(v) && std::abs(v) < 9.0e15)
                        out.emplace_back(static_cast<std::int64_t>(v));
                } else {
                    out.emplace_back(DecimalAnswer{v, std::to_string(v)});
                }
            }
            break;
        }
        case fb::QuestionType::SelectOne:
        case fb::QuestionType::SelectMany:
        case fb::QuestionType::Likert: {
            if (!item.choice_list() || !form.choice_lists()) break;
            for (const auto* list : *form.choice_lists()) {
                if (!list->name() || !list->choices() ||
                    list->name()->string_view() != item.choice_list()->string_view())
                    continue;
                for (const auto* c : *list->choices()) {
                    if (out.size() >= 3) break;
                    if (item.type() == fb::QuestionType::SelectMany)
                        out.emplace_back(ChoicesAnswer{{c->name()->str()}, {}});
                    else
                        out.emplace_back(ChoiceAnswer{c->name()->str(), {}});
                }
            }
            break;
        }
        case fb::QuestionType::Date:
            out.emplace_back(DateAnswer{20000});
            out.emplace_back(DateAnswer{20400});
            break;
        case fb::QuestionType::Time:
            out.emplace_back(TimeAnswer{9 * 3600000});
            break;
        case fb::QuestionType::DateTime:
            out.emplace_back(DateTimeAnswer{1764000000000, 60});
            break;
        case fb::QuestionType::Consent:
            out.emplace_back(true);
            out.emplace_back(false);
            break;
        case fb::QuestionType::Signature:
            out.emplace_back(SignatureAnswer{{{{10, 40}, {30, 10}}}, 100, 50});
            break;
        case fb::QuestionType::Pseudonym:
            for (auto [primary, secondary] :
                 {std::pair<std::string_view, std::string_view>{"111222333", ""},
                  {"123456", "12AB"},
                  {"MW-1234", ""}}) {
                auto normalized =
                    pseudonym::normalize(item.identifier_scheme(), primary, secondary);
                if (normalized)
                    out.emplace_back(
                        pseudonym::make(pseudonymKey(), item.identifier_scheme(), *normalized));
            }
            break;
        default:
            break;
    }
    return out;
}

// Answers what is visible and unanswered, adding repeat instances, as a field worker would.
void fill(FormSession& s, const fb::Form& form, const Items& items,
          std::vector<std::size_t>& instances, int& budget, int depth) {
    for (const auto* item : items) {
        if (budget <= 0 || depth > 8) return;
        ItemPath path{item->name()->str(), instances};
        if (!s.isVisible(path)) continue;
        (void)s.isRequired(path);
        (void)s.problem(path);
        if (item->kind() == fb::ItemKind::Group) {
            if (item->children()) fill(s, form, *item->children(), instances, budget, depth + 1);
        } else if (item->kind() == fb::ItemKind::Repeat) {
            std::size_t want =
                std::min<std::size_t>(std::max<std::size_t>(item->min_count(), 1), kMaxInstances);
            while (s.repeatCount(path) < want && s.addRepeatInstance(path).ok()) {
            }
            for (std::size_t i = 0; i < s.repeatCount(path) && item->children(); ++i) {
                instances.push_back(i);
                fill(s, form, *item->children(), instances, budget, depth + 1);
                instances.pop_back();
            }
        } else if (item->type() != fb::QuestionType::Note && !s.isReadOnly(path) &&
                   !s.answer(path)) {
            --budget;
            for (auto& value : candidates(form, *item)) {
                if (!s.setAnswer(path, std::move(value))) continue;
                if (!s.problem(path)) break;
            }
        }
    }
}

void session(const std::shared_ptr<const forms::CompiledForm>& form, const std::string& language,
             const forms::CaseContext* caseContext) {
    const fb::Form& fbForm = form->form();
    auto s = FormSession::start(form, language, caseContext);
    (void)s.problems();
    (void)s.progress();
    int budget = kMaxAnswers;
    std::vector<std::size_t> instances;
    for (int pass = 0; pass < kPasses && fbForm.items(); ++pass)
        fill(s, fbForm, *fbForm.items(), instances, budget, 0);
    (void)s.progress();
    (void)s.pendingAllocation();
    const auto problems = s.problems();

    // A draft the session wrote reopens on the same form.
    const RecordContent draft = s.content();
    auto reopened = FormSession::open(form, draft, language, caseContext);
    FUZZ_CHECK(reopened.ok());
    FUZZ_CHECK(reopened->content() == draft);

    auto final = s.finalContent();
    FUZZ_CHECK(final.ok() == problems.empty());
    if (!final) return;
    // What a session finalizes, the store writes: the record checks must accept it.
    Record record;
    record.id = *Uuid::parse("019ab6d0-0000-7000-8000-000000000001");
    record.deviceId = *Uuid::parse("6f7a0000-0000-4000-8000-000000000002");
    record.hlc = HlcTimestamp::make(1764000000000, 0);
    record.createdHlc = record.hlc;
    record.finalized = true;
    record.content = final.value();
    record.content.allocate.reset();
    if (record.content.allocation) record.content.allocation.reset();
    const Status content = checkRecordContent(record.content);
    if (!content) std::fprintf(stderr, "veld-fuzz: %s\n", content.error().message.c_str());
    FUZZ_CHECK(content.ok());
    auto body = encodeRecord(record);
    FUZZ_CHECK(body.ok());
}

}  // namespace

void exerciseForm(const std::vector<std::uint8_t>& binary) {
    const fb::Form& fbForm = *fb::GetForm(binary.data());
    (void)formIsSealed(binary);
    (void)forms::describeForm(binary);
    auto loaded = forms::CompiledForm::load(binary);
    // checkFormBinary found no error, so the device must be able to load it.
    if (!loaded) std::fprintf(stderr, "veld-fuzz: %s\n", loaded.error().message.c_str());
    FUZZ_CHECK(loaded.ok());
    const auto& form = loaded.value();

    std::vector<std::string> languages{""};
    if (fbForm.languages()) {
        for (const auto* l : *fbForm.languages()) {
            if (languages.size() >= 3) break;
            languages.push_back(l->tag()->str());
            (void)forms::describeForm(binary, languages.back());
        }
    }
    // A follow-up or close form reads its case's properties: give it one with a value for every
    // property the form sets, and one it does not know.
    forms::CaseContext caseContext;
    caseContext.id = *Uuid::parse("019ab6d0-0000-7000-8000-0000000000ca");
    caseContext.properties["status"] = "open";
    caseContext.properties["label"] = "Demo";
    caseContext.properties["next_contact"] = "2026-01-10";
    const auto* settings = fbForm.settings();
    if (settings && settings->case_settings() && settings->case_settings()->updates()) {
        for (const auto* u : *settings->case_settings()->updates()) {
            caseContext.properties[u->property()->str()] = "1";
            caseContext.clocks[u->property()->str()] = HlcTimestamp::make(1764000000000, 1);
        }
    }
    for (const auto& language : languages) {
        session(form, language, nullptr);
        session(form, language, &caseContext);
    }
}

}  // namespace veld::fuzz
