#include "veldctl/demo.hpp"

#include <array>
#include <random>
#include <string>

namespace veld::veldctl {

namespace {

struct DemoForm {
    const char* id;
    const char* prefix;  // of the summary shown in lists
};

constexpr std::array kForms{
    DemoForm{"vmbo_parent_survey", "Ouderenquête"},
    DemoForm{"mbo_work_transition", "Overgang mbo"},
    DemoForm{"ips_guidance", "IPS-gesprek"},
    DemoForm{"benefit_outflow_interview", "Interview WW"},
};

constexpr std::array kLanguages{"nl", "en", "tr", "ar", "pl", "so", "ti"};
constexpr std::array kMunicipalities{"amsterdam", "rotterdam", "den_haag", "utrecht", "almere"};

RecordContent makeContent(std::mt19937& rng, const DemoForm& form, int index) {
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    RecordContent c;
    c.formId = form.id;
    c.formVersion = 1;
    c.answers.push_back(
        {"municipality", ChoiceAnswer{kMunicipalities[pick(kMunicipalities.size())], {}}});
    c.answers.push_back({"age", std::int64_t{18 + static_cast<std::int64_t>(pick(45))}});
    c.answers.push_back({"consent", true});
    c.answers.push_back({"satisfaction", std::int64_t{1 + static_cast<std::int64_t>(pick(5))}});
    c.answers.push_back({"visit_date", DateAnswer{20400 + static_cast<std::int32_t>(pick(300))}});
    c.answers.push_back(
        {"remarks", std::string("Demo-opmerking ") + std::to_string(index) + " (synthetisch)"});
    if (std::string_view(form.id) == "ips_guidance") {
        Repeat contacts{"employer_contacts", {}};
        for (std::size_t i = 0, n = pick(4); i < n; ++i) {
            contacts.instances.push_back(
                RepeatInstance{{{"sector", ChoiceAnswer{"logistics", {}}},
                                {"outcome", ChoicesAnswer{{"interview_planned", "follow_up"}, {}}}},
                               {}});
        }
        c.repeats.push_back(std::move(contacts));
    }
    c.paradata.language = kLanguages[pick(kLanguages.size())];
    c.paradata.appVersion = "demo";
    c.paradata.startedUtcMs = 1764000000000 + static_cast<std::int64_t>(index) * 60000;
    return c;
}

}  // namespace

Result<DemoCounts> addDemoRecords(Store& store, int count, std::uint32_t seed) {
    std::mt19937 rng(seed);
    DemoCounts counts;
    auto batch = store.beginBatch();
    if (!batch) return batch.error();
    for (int i = 0; i < count; ++i) {
        const DemoForm& form = kForms[static_cast<std::size_t>(i) % kForms.size()];
        RecordContent content = makeContent(rng, form, i);
        std::string summary = std::string(form.prefix) + " #" + std::to_string(i + 1);
        if (rng() % 3 == 0) {
            auto id = store.saveDraft(content, summary);
            if (!id) return id.error();
            ++counts.drafts;
        } else {
            auto done = store.finalizeNew(content, summary);
            if (!done) return done.error();
            ++counts.finalized;
        }
    }
    if (Status s = batch->commit(); !s) return s.error();
    return counts;
}

}  // namespace veld::veldctl
