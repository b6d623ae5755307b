// Every language a respondent can choose is complete: each text of a participant-facing pilot
// form (one a respondent fills in at a kiosk) exists in each of the form's languages and is that
// language's own text, and every message of the client that a kiosk respondent can see has a
// text in each of the pilots' seven languages.
#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include <doctest/doctest.h>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>

#include "i18n.hpp"
#include "support/test_support.hpp"

using namespace veld;
using namespace veld::client;

namespace {

using Texts = flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>;

// Texts that are rightly the same in two languages: names that a language writes as another does.
const std::set<std::string> kSharedNames = {"Tigrinya"};

bool hasLetter(const std::string& text) {
    // Any byte of a multi-byte UTF-8 sequence counts as a letter: every script the pilots use
    // beyond ASCII is letters.
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x80 || std::isalpha(u);
    });
}

// What is wrong with one set of texts (a label, hint, message or title) in the form's languages:
// a language without a text, an empty text, or a copy of another language's text.
void textProblems(const Texts* texts, const std::vector<std::string>& languages,
                  const std::string& where, std::vector<std::string>& problems, int& checked) {
    if (!texts || texts->size() == 0) return;
    std::map<std::string, std::string> byLang;
    for (const auto* t : *texts) {
        if (t && t->lang() && t->text()) byLang[t->lang()->str()] = t->text()->str();
    }
    for (const auto& lang : languages) {
        ++checked;
        const auto it = byLang.find(lang);
        if (it == byLang.end()) {
            problems.push_back(where + " has no text in '" + lang + "'");
            continue;
        }
        if (it->second.empty()) problems.push_back(where + " is empty in '" + lang + "'");
        // Each pair once: against the languages before this one.
        for (const auto& other : languages) {
            if (other == lang) break;
            const auto o = byLang.find(other);
            if (o == byLang.end() || o->second != it->second) continue;
            if (!hasLetter(it->second) || kSharedNames.count(it->second)) continue;
            problems.push_back(where + " in '" + lang + "' is a copy of the '" + other +
                               "' text: " + it->second);
        }
    }
}

void itemProblems(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items,
                  const std::vector<std::string>& languages, const std::string& form,
                  std::vector<std::string>& problems, int& checked) {
    if (!items) return;
    for (const auto* item : *items) {
        const std::string where = form + ": item '" + item->name()->str() + "'";
        textProblems(item->labels(), languages, where + " label", problems, checked);
        textProblems(item->hints(), languages, where + " hint", problems, checked);
        textProblems(item->constraint_messages(), languages, where + " constraint message",
                     problems, checked);
        textProblems(item->required_messages(), languages, where + " required message", problems,
                     checked);
        itemProblems(item->children(), languages, form, problems, checked);
    }
}

struct LanguageCheck {
    std::vector<std::string> languages;
    std::vector<std::string> problems;
    int checked = 0;  // texts looked at, one per language
};

// Every title, description, label, hint, message and choice label of `form`, in each of its
// languages.
LanguageCheck checkLanguages(const fb::Form& form) {
    LanguageCheck out;
    if (form.languages()) {
        for (const auto* l : *form.languages())
            out.languages.push_back(l->tag()->str());
    }
    const std::string id = form.id()->str();
    textProblems(form.titles(), out.languages, id + ": title", out.problems, out.checked);
    textProblems(form.descriptions(), out.languages, id + ": description", out.problems,
                 out.checked);
    itemProblems(form.items(), out.languages, id, out.problems, out.checked);
    if (form.choice_lists()) {
        for (const auto* list : *form.choice_lists()) {
            if (!list->choices()) continue;
            for (const auto* choice : *list->choices()) {
                textProblems(
                    choice->labels(), out.languages,
                    id + ": choice '" + list->name()->str() + "/" + choice->name()->str() + "'",
                    out.problems, out.checked);
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("languages: every text of a participant-facing pilot form is in each of its languages") {
    int participantForms = 0;
    for (const auto& file : veld::test::pilotFormFiles()) {
        CAPTURE(file);
        const auto check = forms::loadFormFile(file);
        REQUIRE(check.ok());
        const fb::Form* form = fb::GetForm(check.binary.data());
        if (!form->settings() || !form->settings()->kiosk()) continue;
        ++participantForms;
        // `veldctl form check` has nothing to say: no missing label, title or choice label.
        for (const auto& p : check.problems)
            CHECK_MESSAGE(false, p.describe());
        const LanguageCheck languages = checkLanguages(*form);
        // A respondent can choose any of the pilots' languages, in the order the kiosk offers.
        const std::vector<std::string> expected(std::begin(kKioskLanguages),
                                                std::end(kKioskLanguages));
        CHECK(languages.languages == expected);
        for (const auto& p : languages.problems)
            CHECK_MESSAGE(false, p);
        CHECK(languages.checked > 100 * static_cast<int>(languages.languages.size()));
    }
    // The parents' survey is the pilots' participant-facing form.
    CHECK(participantForms >= 1);
}

TEST_CASE("languages: a Somali hint left out or a label copied from English is named") {
    std::string json = veld::test::readFile(std::string(VELD_SOURCE_DIR) +
                                            "/schemas/forms/vmbo_parent_survey.json");
    const std::string hint =
        ",\n            {\"lang\": \"so\", \"text\": \"Khasab ma aha. Fadlan ha qorin magaca "
        "qofna.\"}";
    REQUIRE(json.find(hint) != std::string::npos);
    json.replace(json.find(hint), hint.size(), "");
    const std::string label = R"({"lang": "so", "text": "Ku soo dhawoow"})";
    REQUIRE(json.find(label) != std::string::npos);
    json.replace(json.find(label), label.size(), R"({"lang": "so", "text": "Welcome"})");
    const auto check = forms::compileFormJson(json, "vmbo_parent_survey.json");
    REQUIRE(check.ok());
    const LanguageCheck languages = checkLanguages(*fb::GetForm(check.binary.data()));
    CHECK(languages.problems ==
          std::vector<std::string>{
              "vmbo_parent_survey: item 'intro' label in 'so' is a copy of the 'en' text: Welcome",
              "vmbo_parent_survey: item 'school_suggestions' hint has no text in 'so'"});
    CHECK_FALSE(hasLetter("10"));
    CHECK(hasLetter("Soomaali"));
    CHECK(hasLetter("ሶማልኛ"));
}

TEST_CASE("languages: every message a kiosk respondent sees is in all seven pilot languages") {
    const auto respondent = respondentMessages();
    REQUIRE(!respondent.empty());
    // The kiosk's own words, the buttons, and the messages under a question on a kiosk page.
    for (M m : {M::KioskChooseLanguage, M::KioskProgress, M::Back, M::Next, M::KioskFinish,
                M::KioskAnswerFirst, M::KioskStillThere, M::KioskWillClear, M::KioskContinue,
                M::KioskThanks, M::KioskSaveFailed, M::ConsentYes, M::ConsentNo, M::OtherSpecify,
                M::ProblemRequired, M::ProblemConsent, M::ProblemConstraint}) {
        CHECK_MESSAGE(std::find(respondent.begin(), respondent.end(), m) != respondent.end(),
                      static_cast<int>(m));
    }
    // Counted in the first plural form: a language without plural forms has one.
    const auto placeholders = [](std::string_view s) {
        s = s.substr(0, s.find('|'));
        int n = 0;
        for (auto at = s.find("{}"); at != std::string_view::npos; at = s.find("{}", at + 2))
            ++n;
        return n;
    };
    for (M m : respondent) {
        const std::string_view en = tr(m, "en");
        const std::string_view nl = tr(m, "nl");
        for (std::string_view lang : kKioskLanguages) {
            CAPTURE(lang);
            CAPTURE(en);
            CHECK(hasTranslation(m, lang));
            const std::string_view text = tr(m, lang);
            CHECK(!text.empty());
            // A text is filled in the same way in every language.
            CHECK(placeholders(text) == placeholders(en));
            if (lang != "nl" && lang != "en") {
                CHECK_MESSAGE(text != en, "a copy of the English text");
                CHECK_MESSAGE(text != nl, "a copy of the Dutch text");
            }
        }
    }
    CHECK_FALSE(hasTranslation(M::SyncNow, "so"));
    CHECK(tr(M::SyncNow, "so") == tr(M::SyncNow, "en"));
}

TEST_CASE("languages: no message has two rows for the same language in the translation table") {
    // A second row would never be shown (the first wins), so a correction there would be lost.
    std::ifstream in(std::string(VELD_SOURCE_DIR) + "/client/src/messages.def");
    REQUIRE(in.good());
    const std::regex row(R"re(^VELD_MSG_EXTRA\((\w+), "([a-z-]+)", )re");
    std::set<std::pair<std::string, std::string>> seen;
    std::string line;
    int rows = 0;
    while (std::getline(in, line)) {
        std::smatch m;
        if (!std::regex_search(line, m, row)) continue;
        ++rows;
        CHECK_MESSAGE(seen.insert({m[1].str(), m[2].str()}).second, line);
    }
    CHECK(rows >= static_cast<int>(respondentMessages().size()) * 5);
}
