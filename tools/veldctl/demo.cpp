#include "veldctl/demo.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>

#include <veld/expression.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/project_key.hpp>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>
#include <veld/sealed_record.hpp>
#include <veld/uuid.hpp>

namespace veld::veldctl {

namespace {

using forms::FormSession;
using forms::ItemPath;
using Items = flatbuffers::Vector<flatbuffers::Offset<fb::Item>>;

std::string formName(const fb::Form& form) {
    return form.id()->str() + " v" + std::to_string(form.version());
}

// Today on this device, as the form session's today() sees it.
std::int32_t today() {
    struct NoAnswers : expr::Context {
        [[nodiscard]] expr::Value answer(std::string_view) const override { return {}; }
    };
    return NoAnswers{}.today().days;
}

// Fills a form session with plausible synthetic answers. For every question it tries candidate
// values, random ones first and safe ones after, and keeps the first one the question accepts
// without a problem, so constraints between questions (a date after another) hold.
class Filler {
  public:
    Filler(std::mt19937& rng, const pseudonym::Key& key) : m_rng(rng), m_key(key) {}

    // Answers what is visible and unanswered, adding repeat instances; true if anything changed.
    // Stops when `budget` questions have been answered (drafts are left unfinished).
    bool pass(FormSession& s, const fb::Form& form, const Items& items,
              std::vector<std::size_t>& instances, int& budget) {
        bool changed = false;
        for (const auto* item : items) {
            if (budget <= 0) break;
            ItemPath path{item->name()->str(), instances};
            if (!s.isVisible(path)) continue;
            if (item->kind() == fb::ItemKind::Group) {
                if (item->children())
                    changed = pass(s, form, *item->children(), instances, budget) || changed;
            } else if (item->kind() == fb::ItemKind::Repeat) {
                if (s.repeatCount(path) == 0) {
                    std::size_t want = std::max<std::size_t>(item->min_count(), between(1, 3));
                    if (item->max_count() != 0)
                        want = std::min<std::size_t>(want, item->max_count());
                    while (s.repeatCount(path) < want && s.addRepeatInstance(path).ok())
                        changed = true;
                }
                for (std::size_t i = 0; i < s.repeatCount(path) && item->children(); ++i) {
                    instances.push_back(i);
                    changed = pass(s, form, *item->children(), instances, budget) || changed;
                    instances.pop_back();
                }
            } else if (item->type() != fb::QuestionType::Note && !s.isReadOnly(path) &&
                       !s.answer(path)) {
                for (auto& value : candidates(form, *item)) {
                    if (!s.setAnswer(path, std::move(value))) continue;
                    if (!s.problem(path)) break;
                }
                if (s.answer(path)) {
                    changed = true;
                    --budget;
                }
            }
        }
        return changed;
    }

    std::size_t between(std::size_t lo, std::size_t hi) {
        return lo + static_cast<std::size_t>(m_rng() % (hi - lo + 1));
    }

  private:
    std::string digits(std::size_t n) {
        std::string out;
        for (std::size_t i = 0; i < n; ++i)
            out.push_back(static_cast<char>('0' + between(0, 9)));
        return out;
    }

    // Nine digits that pass the eleven-test. Only its keyed digest is kept.
    std::string syntheticBsn() {
        for (;;) {
            std::string d = std::to_string(between(1, 9)) + digits(7);
            int sum = 0;
            for (std::size_t i = 0; i < 8; ++i)
                sum += (9 - static_cast<int>(i)) * (d[i] - '0');
            int check = sum % 11;
            if (check == 10) continue;
            d.push_back(static_cast<char>('0' + check));
            return d;
        }
    }

    std::optional<PseudonymAnswer> pseudonymFor(fb::IdentifierScheme scheme) {
        std::string primary;
        std::string school;
        switch (scheme) {
            case fb::IdentifierScheme::Bsn:
                primary = syntheticBsn();
                break;
            case fb::IdentifierScheme::SchoolPupil:
                school = digits(2) + static_cast<char>('A' + between(0, 25)) +
                         static_cast<char>('A' + between(0, 25));
                primary = digits(6);
                break;
            case fb::IdentifierScheme::Other:
                primary = "MW-" + digits(4);
                break;
            case fb::IdentifierScheme::None:
                return std::nullopt;
        }
        auto normalized = pseudonym::normalize(scheme, primary, school);
        if (!normalized) return std::nullopt;
        return pseudonym::make(m_key, scheme, *normalized);
    }

    std::vector<std::string> choiceNames(const fb::Form& form, const fb::Item& item) {
        std::vector<std::string> names;
        if (!item.choice_list() || !form.choice_lists()) return names;
        for (const auto* list : *form.choice_lists()) {
            if (list->name()->string_view() != item.choice_list()->string_view() ||
                !list->choices())
                continue;
            for (const auto* c : *list->choices())
                names.push_back(c->name()->str());
        }
        std::shuffle(names.begin(), names.end(), m_rng);
        return names;
    }

    std::vector<double> numbers(const fb::Item& item) {
        double lo = item.min_value() ? *item.min_value() : 0;
        double hi = item.max_value() ? *item.max_value() : lo + 40;
        hi = std::min(hi, lo + 40);
        std::vector<double> out;
        if (hi >= lo)
            out.push_back(lo + static_cast<double>(between(0, static_cast<std::size_t>(hi - lo))));
        out.push_back(lo);
        out.push_back(1);
        out.push_back(0);
        return out;
    }

    std::vector<AnswerValue> candidates(const fb::Form& form, const fb::Item& item) {
        std::vector<AnswerValue> out;
        std::int32_t now = today();
        switch (item.type()) {
            case fb::QuestionType::Text: {
                std::string pattern = item.pattern() ? item.pattern()->str() : "";
                // The pilots' patterns are fixed-length numbers: ^[0-9]{N}$.
                constexpr std::string_view kDigits = "^[0-9]{";
                if (pattern.rfind(kDigits, 0) == 0 && pattern.size() > kDigits.size() + 2 &&
                    pattern.substr(pattern.size() - 2) == "}$") {
                    std::string count =
                        pattern.substr(kDigits.size(), pattern.size() - kDigits.size() - 2);
                    if (!count.empty() && count.size() <= 2 &&
                        std::all_of(count.begin(), count.end(),
                                    [](char c) { return c >= '0' && c <= '9'; }))
                        out.emplace_back(digits(std::stoul(count)));
                } else {
                    out.emplace_back("Demo " + digits(3) + " (synthetisch)");
                    // Participant codes such as M01-001.
                    out.emplace_back("M" + digits(2) + "-" + digits(3));
                }
                break;
            }
            case fb::QuestionType::Integer:
                for (double v : numbers(item))
                    out.emplace_back(static_cast<std::int64_t>(v));
                break;
            case fb::QuestionType::Decimal:
                for (double v : numbers(item))
                    out.emplace_back(DecimalAnswer{v, expr::toText(expr::Value{v})});
                break;
            case fb::QuestionType::SelectOne:
            case fb::QuestionType::Likert:
                for (auto& c : choiceNames(form, item))
                    out.emplace_back(ChoiceAnswer{std::move(c), {}});
                break;
            case fb::QuestionType::SelectMany:
                for (auto& c : choiceNames(form, item))
                    out.emplace_back(ChoicesAnswer{{std::move(c)}, {}});
                break;
            case fb::QuestionType::Date:
                out.emplace_back(DateAnswer{now - static_cast<std::int32_t>(between(31, 300))});
                for (std::int32_t offset : {-30, 0, 30})
                    out.emplace_back(DateAnswer{now + offset});
                break;
            case fb::QuestionType::Time:
                out.emplace_back(TimeAnswer{static_cast<std::int32_t>(between(8, 17)) * 3600000});
                break;
            case fb::QuestionType::DateTime:
                out.emplace_back(
                    DateTimeAnswer{std::int64_t{now} * 86400000 +
                                       static_cast<std::int64_t>(between(8, 17)) * 3600000,
                                   60});
                break;
            case fb::QuestionType::Consent:
                out.emplace_back(true);
                break;
            case fb::QuestionType::Signature:
                out.emplace_back(
                    SignatureAnswer{{{{10, 40}, {30, 10}, {50, 45}, {80, 12}}}, 100, 50});
                break;
            case fb::QuestionType::Pseudonym:
                if (auto p = pseudonymFor(item.identifier_scheme()))
                    out.emplace_back(std::move(*p));
                break;
            default:
                break;
        }
        return out;
    }

    std::mt19937& m_rng;
    const pseudonym::Key& m_key;
};

std::string textIn(const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* texts,
                   std::string_view lang) {
    if (!texts) return {};
    for (const auto* t : *texts) {
        if (t->lang() && t->text() && t->lang()->string_view() == lang) return t->text()->str();
    }
    return {};
}

// What the record is called in lists: the answer to the form's summary question when it has a
// plain value, else the form's title and a number.
std::string summaryOf(const fb::Form& form, const RecordContent& content, int index) {
    if (form.settings() && form.settings()->summary_question()) {
        std::string_view name = form.settings()->summary_question()->string_view();
        for (const auto& a : content.answers) {
            if (a.name != name) continue;
            if (const auto* text = std::get_if<std::string>(&a.value)) return *text;
            if (const auto* date = std::get_if<DateAnswer>(&a.value))
                return expr::toText(expr::Value{expr::Date{date->days}});
            if (const auto* choice = std::get_if<ChoiceAnswer>(&a.value)) return choice->choice;
            if (const auto* number = std::get_if<std::int64_t>(&a.value))
                return std::to_string(*number);
        }
    }
    std::string lang = form.default_language() ? form.default_language()->str() : "";
    return textIn(form.titles(), lang) + " #" + std::to_string(index + 1);
}

}  // namespace

Result<DemoSetup> setUpDemo(Store& store, const std::string& formsDir) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    std::error_code ec;
    for (fs::directory_iterator it(formsDir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".json") files.push_back(it->path().string());
    }
    if (ec)
        return makeError(ErrorCode::NotFound,
                         "cannot read the forms folder " + formsDir + ": " + ec.message());
    if (files.empty()) return makeError(ErrorCode::NotFound, "no forms (*.json) in " + formsDir);
    std::sort(files.begin(), files.end());

    DemoSetup setup;
    for (const auto& file : files) {
        auto check = forms::loadFormFile(file);
        if (!check.ok()) {
            std::string first = "it does not compile";
            for (const auto& p : check.problems) {
                if (p.severity == forms::FormProblem::Severity::Error) {
                    first = p.describe();
                    break;
                }
            }
            return makeError(ErrorCode::InvalidArgument, "a demo form has errors: " + first);
        }
        const fb::Form& form = *fb::GetForm(check.binary.data());
        auto existing = store.form(form.id()->string_view(), form.version());
        if (existing) {
            (existing->binary == check.binary ? setup.alreadyInstalled : setup.kept)
                .push_back(formName(form));
            continue;
        }
        if (existing.error().code != ErrorCode::NotFound) return existing.error();
        if (Status s = store.installForm(check.binary); !s) return s.error();
        setup.installed.push_back(formName(form));
    }

    auto key = store.setting(pseudonym::kKeySetting);
    if (!key) return key.error();
    if (!*key) {
        if (Status s = store.setSetting(pseudonym::kKeySetting,
                                        pseudonym::formatKey(pseudonym::newKey(kDemoKeyId)));
            !s)
            return s.error();
        setup.keyCreated = true;
    }
    return setup;
}

Result<DemoCounts> addDemoRecords(Store& store, int count, std::uint32_t seed) {
    DemoCounts counts;
    if (count <= 0) return counts;
    auto installed = store.forms();
    if (!installed) return installed.error();
    if (installed->empty())
        return makeError(ErrorCode::NotFound, "no forms are installed in " + store.path());
    auto keyText = store.setting(pseudonym::kKeySetting);
    if (!keyText) return keyText.error();
    if (!*keyText)
        return makeError(ErrorCode::NotFound, "the store has no pseudonym key (setting " +
                                                  std::string(pseudonym::kKeySetting) + ")");
    auto key = pseudonym::parseKey(**keyText);
    if (!key)
        return makeError(key.error().code, "the store's pseudonym key: " + key.error().message);

    auto projectKey = store.setting(projectkey::kKeySetting);
    if (!projectKey) return projectKey.error();
    std::vector<std::shared_ptr<const forms::CompiledForm>> compiled;
    std::vector<bool> sealedForm;
    for (auto& f : *installed) {
        const bool sealed = formIsSealed(f.binary);
        if (sealed && !*projectKey) {
            counts.skipped.push_back(f.formId);
            continue;
        }
        sealedForm.push_back(sealed);
        auto loaded = forms::CompiledForm::load(std::move(f.binary));
        if (!loaded)
            return makeError(loaded.error().code,
                             "installed form " + f.formId + ": " + loaded.error().message);
        compiled.push_back(std::move(loaded.value()));
    }

    if (compiled.empty())
        return makeError(ErrorCode::NotFound, "every installed form is sealed, and " +
                                                  store.path() +
                                                  " has no project key to seal records to");
    std::mt19937 rng(seed);
    Filler filler(rng, *key);
    auto batch = store.beginBatch();
    if (!batch) return batch.error();
    // Some turns make no record (a follow-up with no open case, an unfinished sealed form), so
    // turns go on until `count` records are made (bounded, should a store have no cases).
    for (int i = 0, made = 0; made < count && i < count * 10; ++i) {
        const std::size_t which = static_cast<std::size_t>(i) % compiled.size();
        const auto& form = compiled[which];
        const fb::Form& fbForm = form->form();
        std::string language = form->defaultLanguage();
        if (fbForm.languages() && fbForm.languages()->size() > 0) {
            auto n = fbForm.languages()->size();
            language = fbForm.languages()
                           ->Get(static_cast<flatbuffers::uoffset_t>(rng() % n))
                           ->tag()
                           ->str();
        }
        // Follow-up and close forms are filled for one of the store's open cases (of their type);
        // closing is rarer, so most cases stay open to be followed up.
        std::optional<forms::CaseContext> caseContext;
        const auto* caseSettings = fbForm.settings() ? fbForm.settings()->case_settings() : nullptr;
        if (caseSettings && (caseSettings->action() == fb::CaseAction::FollowUp ||
                             caseSettings->action() == fb::CaseAction::Close)) {
            if (caseSettings->action() == fb::CaseAction::Close && rng() % 3 != 0) continue;
            CaseQuery query;
            query.caseType = caseSettings->case_type() && caseSettings->case_type()->size() > 0
                                 ? caseSettings->case_type()->str()
                                 : std::string("participant");
            auto open = store.cases(query);
            if (!open) return open.error();
            if (open->empty()) continue;
            caseContext = forms::CaseContext::of(open.value()[rng() % open->size()]);
        }
        // A sealed form keeps no drafts: its answers never reach the disk in clear.
        const bool draft = rng() % 3 == 0 && !sealedForm[which];
        int budget = draft ? static_cast<int>(filler.between(2, 12)) : INT_MAX;
        auto session = FormSession::start(form, language, caseContext ? &*caseContext : nullptr);
        std::vector<std::size_t> instances;
        for (int passes = 0; passes < 20 && budget > 0; ++passes) {
            if (!fbForm.items() ||
                !filler.pass(session, fbForm, *fbForm.items(), instances, budget))
                break;
        }

        RecordContent content;
        bool finalized = false;
        if (!draft) {
            auto final = session.finalContent();
            if (final) {
                content = std::move(final.value());
                finalized = true;
            }
        }
        if (!finalized && sealedForm[which]) continue;  // never left as a draft
        if (!finalized) content = session.content();
        content.paradata.appVersion = "demo";
        content.paradata.startedUtcMs = 1764000000000 + static_cast<std::int64_t>(i) * 60000;
        std::string summary = summaryOf(fbForm, content, i);
        if (finalized) {
            auto done = store.finalizeNew(content, summary);
            if (!done && content.allocate && done.error().code == ErrorCode::WrongState &&
                !sealedForm[which]) {
                // No allocation to take (a store that has not synchronised yet): the intake
                // waits as a draft, as it would in the client.
                finalized = false;
                content.allocate.reset();
                ++counts.awaitingAllocation;
            } else if (!done) {
                return done.error();
            } else {
                ++counts.finalized;
                if (sealedForm[which]) ++counts.sealed;
                ++made;
                continue;
            }
        }
        if (auto id = store.saveDraft(content, summary); !id) return id.error();
        ++counts.drafts;
        ++made;
    }
    if (Status s = batch->commit(); !s) return s.error();
    return counts;
}

}  // namespace veld::veldctl
