#include "i18n.hpp"

#include <array>

namespace veld::client {

namespace {

struct Entry {
    const char* nl;
    const char* en;
};

constexpr Entry kTable[] = {
#define VELD_MSG(id, nl, en) {nl, en},
#define VELD_MSG_EXTRA(id, lang, text)
#include "messages.def"
#undef VELD_MSG
#undef VELD_MSG_EXTRA
};
static_assert(std::size(kTable) == static_cast<std::size_t>(M::Count_));

struct Extra {
    M id;
    const char* lang;
    const char* text;
};

constexpr Extra kExtra[] = {
#define VELD_MSG(id, nl, en)
#define VELD_MSG_EXTRA(id, lang, text) {M::id, lang, text},
#include "messages.def"
#undef VELD_MSG
#undef VELD_MSG_EXTRA
};

constexpr M kRespondent[] = {
#define VELD_MSG(id, nl, en)
#define VELD_MSG_EXTRA(id, lang, text)
#define VELD_MSG_RESPONDENT(id) M::id,
#include "messages.def"
#undef VELD_MSG
#undef VELD_MSG_EXTRA
#undef VELD_MSG_RESPONDENT
};

}  // namespace

std::span<const M> respondentMessages() {
    return kRespondent;
}

bool hasTranslation(M m, std::string_view language) {
    const auto index = static_cast<std::size_t>(m);
    if (index >= std::size(kTable)) return false;
    if (language == "nl") return *kTable[index].nl != '\0';
    if (language == "en") return *kTable[index].en != '\0';
    for (const Extra& e : kExtra) {
        if (e.id == m && language == e.lang) return *e.text != '\0';
    }
    return false;
}

std::string_view tr(M m, std::string_view language) {
    const auto index = static_cast<std::size_t>(m);
    if (index >= std::size(kTable)) return {};
    if (language == "nl") return kTable[index].nl;
    if (language == "en") return kTable[index].en;
    for (const Extra& e : kExtra) {
        if (e.id == m && language == e.lang) return e.text;
    }
    return kTable[index].en;
}

std::string pilotName(std::string_view pilot, std::string_view language) {
    struct Known {
        const char* id;
        M name;
    };
    static constexpr Known kKnown[] = {
        {"vmbo_career_guidance", M::PilotVmbo},
        {"mbo_to_work", M::PilotMbo},
        {"employer_nudges", M::PilotNudges},
        {"diversity_barometer", M::PilotBarometer},
        {"job_retention", M::PilotRetention},
        {"work_learn", M::PilotWorkLearn},
        {"ww_outflow", M::PilotWw},
        {"ips_long_term_unemployed", M::PilotIps},
    };
    for (const auto& k : kKnown) {
        if (pilot == k.id) return std::string(tr(k.name, language));
    }
    return pilot.empty() ? std::string(tr(M::PilotOther, language)) : std::string(pilot);
}

namespace {

// Punctuation that ends a sentence or a label.
bool endsClause(std::string_view s) {
    return !s.empty() && (s.back() == '.' || s.back() == '?' || s.back() == '!' ||
                          s.back() == ':' || s.back() == ';');
}

}  // namespace

std::string format(std::string_view pattern, std::initializer_list<std::string_view> args) {
    std::string out;
    auto arg = args.begin();
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '{' && i + 1 < pattern.size() && pattern[i + 1] == '}' &&
            arg != args.end()) {
            const std::string_view value = *arg++;
            out += value;
            ++i;
            // The pattern's own '.', ':' or ';' after an argument that already ends a clause
            // would double it ("mislukt.." or "Leeftijd?:"); an ellipsis stays.
            const std::size_t next = i + 1;
            if (endsClause(value) && next < pattern.size() &&
                (pattern[next] == '.' || pattern[next] == ':' || pattern[next] == ';') &&
                pattern.substr(next, 3) != "...") {
                ++i;
            }
        } else {
            out += pattern[i];
        }
    }
    return out;
}

namespace {

// Dutch and English (the UI languages) have two forms: one, and every other count.
std::string_view pluralForm(M m, std::int64_t count, std::string_view language) {
    const std::string_view forms = tr(m, language);
    const auto bar = forms.find('|');
    if (bar == std::string_view::npos) return forms;
    return count == 1 ? forms.substr(0, bar) : forms.substr(bar + 1);
}

}  // namespace

std::string plural(M m, std::int64_t count, std::string_view language) {
    return format(pluralForm(m, count, language), {std::to_string(count)});
}

std::string plural(M m, std::int64_t count, std::string_view language,
                   std::initializer_list<std::string_view> args) {
    return format(pluralForm(m, count, language), args);
}

}  // namespace veld::client
