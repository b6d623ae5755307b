// For export tests that need no collector process: an ExportSource held in memory, and records
// with answers of every kind for any form (random but deterministic for a seed): texts in
// Arabic, Turkish and Dutch, some longer than 255 bytes, empty answers, select-many with and
// without "other", dates, times and date-times, repeats nested as the form nests them.
#pragma once

#include <random>
#include <string>
#include <vector>

#include <veld/clock.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/record.hpp>
#include <veld/sync/export.hpp>

#include "support/test_support.hpp"

namespace veld::test {

class MemorySource final : public sync::ExportSource {
  public:
    std::vector<sync::PublishedFormInfo> forms;
    std::vector<sync::CurrentRecord> records;  // of any form, in record id order

    Result<std::vector<sync::PublishedFormInfo>> publishedForms() override { return forms; }
    Result<std::int64_t> countRecords(const sync::RecordQuery& query) override {
        std::int64_t n = 0;
        for (const auto& r : records)
            n += formOf(r) == query.formId ? 1 : 0;
        return n;
    }
    Status forEachRecord(const sync::RecordQuery& query, int passes,
                         const std::function<Status(int pass)>& startPass,
                         const std::function<Status(const sync::CurrentRecord&)>& visit) override {
        for (int pass = 0; pass < passes; ++pass) {
            if (startPass) {
                if (auto s = startPass(pass); !s) return s;
            }
            for (const auto& r : records) {
                if (formOf(r) != query.formId) continue;
                if (auto s = visit(r); !s) return s;
            }
        }
        return {};
    }

    /// Publishes a form from its JSON; false (with the problems printed) when it does not compile.
    bool publish(const std::string& json, const std::string& fileName) {
        const auto form = forms::compileFormJson(json, fileName);
        if (!form.ok()) {
            for (const auto& p : form.problems)
                MESSAGE(p.describe());
            return false;
        }
        const fb::Form* f = fb::GetForm(form.binary.data());
        forms.push_back({f->id()->str(), f->version(), "", form.binary});
        return true;
    }

    [[nodiscard]] const fb::Form* form(const std::string& id) const {
        for (const auto& f : forms)
            if (f.formId == id) return fb::GetForm(f.binary.data());
        return nullptr;
    }

    /// Adds a record (its form must be published), unsealed, as a device would have sent it.
    void add(const RecordContent& content, std::int64_t ms = 1'790'000'000'000) {
        Record r;
        r.id = makeUuidV7(SystemClock::instance());
        r.deviceId = m_device;
        r.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(ms),
                                   static_cast<std::uint32_t>(records.size()));
        r.createdHlc = r.hlc;
        r.finalized = true;
        r.content = content;
        auto body = encodeRecord(r);
        REQUIRE_MESSAGE(body, body.error().describe());
        sync::CurrentRecord c;
        c.recordId = r.id;
        c.deviceId = r.deviceId;
        c.formVersion = content.formVersion;
        c.hlc = r.hlc;
        c.body = std::move(body.value());
        records.push_back(std::move(c));
        m_formIds.push_back(content.formId);
    }

    /// A record whose body the device sent damaged.
    void addDamaged(const std::string& formId) {
        sync::CurrentRecord c;
        c.recordId = makeUuidV7(SystemClock::instance());
        c.deviceId = m_device;
        c.formVersion = 1;
        c.hlc = HlcTimestamp::make(1'790'000'000'000, static_cast<std::uint32_t>(records.size()));
        c.damaged = true;
        records.push_back(std::move(c));
        m_formIds.push_back(formId);
    }

  private:
    [[nodiscard]] const std::string& formOf(const sync::CurrentRecord& r) const {
        return m_formIds[static_cast<std::size_t>(&r - records.data())];
    }

    Uuid m_device = makeUuidV4();
    std::vector<std::string> m_formIds;
};

/// Answers for every question of `form`, drawn from `random`; about one in six left empty.
class AnswerMaker {
  public:
    AnswerMaker(const fb::Form* form, std::uint32_t seed) : m_form(form), m_random(seed) {}

    RecordContent record() {
        RecordContent c;
        c.formId = m_form->id()->str();
        c.formVersion = m_form->version();
        if (m_form->items()) fill(m_form->items(), c.answers, c.repeats);
        return c;
    }

  private:
    using Items = flatbuffers::Vector<flatbuffers::Offset<fb::Item>>;

    int pick(int n) { return static_cast<int>(m_random() % static_cast<unsigned>(n)); }

    std::string text() {
        static const char* kWords[] = {"مرحبا",  "بالعالم",   "çalışma", "öğrenci", "gesprek",
                                       "stage,", "\"thuis\"", "ouder",   "école",   "x"};
        std::string out;
        // Mostly short; now and then more than 255 bytes (a .sav's very long string).
        const int words = pick(5) == 0 ? 40 + pick(80) : 1 + pick(6);
        for (int w = 0; w < words; ++w) {
            if (w > 0) out += ' ';
            out += kWords[pick(10)];
        }
        return out;
    }

    const fb::ChoiceList* list(const fb::Item* item) const {
        if (!item->choice_list() || !m_form->choice_lists()) return nullptr;
        for (const auto* l : *m_form->choice_lists())
            if (l->name() && l->name()->string_view() == item->choice_list()->string_view())
                return l;
        return nullptr;
    }

    void fill(const Items* items, std::vector<Answer>& answers, std::vector<Repeat>& repeats) {
        for (const auto* item : *items) {
            if (item->kind() == fb::ItemKind::Group) {
                if (item->children()) fill(item->children(), answers, repeats);
                continue;
            }
            if (item->kind() == fb::ItemKind::Repeat) {
                Repeat r{item->name()->str(), {}};
                const int n = pick(4);
                for (int i = 0; i < n; ++i) {
                    RepeatInstance instance;
                    if (item->children())
                        fill(item->children(), instance.answers, instance.repeats);
                    r.instances.push_back(std::move(instance));
                }
                if (!r.instances.empty()) repeats.push_back(std::move(r));
                continue;
            }
            if (pick(6) == 0) continue;  // not answered
            auto value = answer(item);
            if (value) answers.push_back({item->name()->str(), std::move(*value)});
        }
    }

    std::optional<AnswerValue> answer(const fb::Item* item) {
        switch (item->type()) {
            case fb::QuestionType::Text:
                return AnswerValue{text()};
            case fb::QuestionType::Integer:
                return AnswerValue{std::int64_t{pick(2000) - 100}};
            case fb::QuestionType::Decimal: {
                const double v = pick(100000) / 100.0;
                char t[32];
                std::snprintf(t, sizeof t, "%.2f", v);
                return AnswerValue{DecimalAnswer{v, t}};
            }
            case fb::QuestionType::Consent:
                return AnswerValue{pick(2) == 0};
            case fb::QuestionType::Date:
                return AnswerValue{DateAnswer{-20000 + pick(40000)}};  // 1915 to 2079
            case fb::QuestionType::Time:
                return AnswerValue{TimeAnswer{pick(86'400) * 1000}};
            case fb::QuestionType::DateTime:
                return AnswerValue{
                    DateTimeAnswer{1'700'000'000'000 + std::int64_t{pick(1'000'000'000)} * 7, 60}};
            case fb::QuestionType::Signature:
                return AnswerValue{SignatureAnswer{{{{1, 2}, {3, 4}}}, 100, 50}};
            case fb::QuestionType::Pseudonym: {
                PseudonymAnswer p;
                for (int i = 0; i < 32; ++i)
                    p.digest.push_back(static_cast<std::uint8_t>(pick(256)));
                p.keyId = "demo";
                p.scheme = "blake2b-keyed";
                return AnswerValue{std::move(p)};
            }
            case fb::QuestionType::SelectOne:
            case fb::QuestionType::Likert:
            case fb::QuestionType::SelectMany: {
                const auto* l = list(item);
                if (!l || !l->choices() || l->choices()->size() == 0) return std::nullopt;
                std::vector<const fb::Choice*> choices(l->choices()->begin(), l->choices()->end());
                if (item->type() != fb::QuestionType::SelectMany) {
                    const auto* c =
                        choices[static_cast<std::size_t>(pick(static_cast<int>(choices.size())))];
                    return AnswerValue{
                        ChoiceAnswer{c->name()->str(), c->is_other() ? text() : std::string()}};
                }
                ChoicesAnswer a;
                for (const auto* c : choices) {
                    if (c->exclusive()) continue;
                    if (pick(2) == 0) {
                        a.choices.push_back(c->name()->str());
                        if (c->is_other()) a.otherText = text();
                    }
                }
                return AnswerValue{std::move(a)};
            }
            default:
                return std::nullopt;
        }
    }

    const fb::Form* m_form;
    std::mt19937 m_random;
};

}  // namespace veld::test
