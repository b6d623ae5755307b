// The kiosk as a parent meets it: a headless client at the pilots' kiosk size (1366x768) over a
// real device store, driven only by taps at the centres of the targets the screens recorded (no
// key is ever pressed), checked against what the screen shows and what the store keeps.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <doctest/doctest.h>

#include <veld/form.hpp>
#include <veld/pin.hpp>
#include <veld/project_key.hpp>
#include <veld/sealed_record.hpp>
#include <veld/store.hpp>

#include "i18n.hpp"
#include "keyboard.hpp"
#include "screens/kiosk_look.hpp"
#include "support/test_support.hpp"
#include "ui_driver.hpp"
#include "veldctl/demo.hpp"

using namespace veld;
using namespace veld::client;
using veld::client::testing::UiDriver;

namespace {

const std::string kFormsDir = std::string(VELD_SOURCE_DIR) + "/schemas/forms";
const std::string kForm = "vmbo_parent_survey";
constexpr const char* kPassphrase = "kiosk parent tests";

struct ProjectKey {
    projectkey::LockedKey locked;
    std::vector<projectkey::SecretKey> secret;
};

const ProjectKey& projectKey() {
    static const ProjectKey key = [] {
        auto locked = projectkey::create("kiosk-parent", kPassphrase, 1'764'000'000'000,
                                         projectkey::Strength::Interactive);
        REQUIRE(locked);
        auto secret = projectkey::unlock(locked.value(), kPassphrase);
        REQUIRE(secret);
        return ProjectKey{locked.value(), {secret.value()}};
    }();
    return key;
}

// A device store with the pilot forms, a project key, staff PIN 2468 and the parents' survey as
// its kiosk; `keypad` is the staff's on-screen keypad setting.
std::string kioskStore(const veld::test::TempDir& dir, const std::string& keypad = "always",
                       const std::string& theme = "normal") {
    const std::string path = dir.file("kiosk.veld");
    StoreOptions create;
    create.mode = sql::OpenMode::ReadWriteCreate;
    auto store = Store::open(path, create);
    REQUIRE_MESSAGE(store.ok(), store.error().describe());
    auto setup = veldctl::setUpDemo(store.value(), kFormsDir);
    REQUIRE_MESSAGE(setup.ok(), setup.error().describe());
    REQUIRE(store.value().setSetting(projectkey::kKeySetting,
                                     projectkey::formatPublicKey(projectKey().locked.publicKey)));
    auto hashed = pin::hash("2468");
    REQUIRE(hashed.has_value());
    REQUIRE(store.value().setSetting("kiosk.pin_hash", *hashed).ok());
    REQUIRE(store.value().setSetting("kiosk.form", kForm).ok());
    REQUIRE(store.value().setSetting("kiosk.keypad", keypad).ok());
    REQUIRE(store.value().setSetting("kiosk.theme", theme).ok());
    return path;
}

// The client at the kiosk screen's size.
struct Kiosk {
    explicit Kiosk(const std::string& path) : ui(path, "nl", {}, 768) {
        ImGui::GetIO().DisplaySize = ImVec2(1366, 768);
        ui.frame();
        ui.settle();
        REQUIRE(ui.app().screen == Screen::Kiosk);
    }

    // A tap at the centre of a recorded target, which must be at least the touch size.
    void tap(const std::string& id) {
        const ui::Recorded* r = ui.item(id);
        REQUIRE_MESSAGE(r != nullptr, "no target " << id);
        const float w = r->max.x - r->min.x;
        const float h = r->max.y - r->min.y;
        CHECK_MESSAGE(w >= kTouchPx, id << " is " << w << " px wide");
        CHECK_MESSAGE(h >= kTouchPx, id << " is " << h << " px high");
        CHECK_MESSAGE(r->max.x <= 1366, id << " is off the screen");
        smallest = std::min({smallest, w, h});
        ++taps;
        ui.click(id);
    }

    [[nodiscard]] std::optional<ImVec4> rect(const std::string& id) const {
        const ui::Recorded* r = ui.item(id);
        if (!r) return std::nullopt;
        return ImVec4(r->min.x, r->min.y, r->max.x, r->max.y);
    }

    FormView& view() { return ui.app().kiosk.view; }
    KioskState& state() { return ui.app().kiosk; }

    UiDriver ui;
    float smallest = 1e9f;
    int taps = 0;
};

bool same(const std::optional<ImVec4>& a, const std::optional<ImVec4>& b) {
    return a && b && a->x == b->x && a->y == b->y && a->z == b->z && a->w == b->w;
}

std::string progressText(const std::string& lang, int n, int total) {
    return format(tr(M::KioskProgress, lang), {std::to_string(n), std::to_string(total)});
}

const fb::Form& surveyForm(Kiosk& k) {
    const FormEntry* form = k.ui.app().findForm(kForm);
    REQUIRE(form != nullptr);
    return form->compiled->form();
}

// Every text of the form in `lang` (form content may equal an English word of ours).
std::set<std::string> formTexts(const fb::Form& form, const std::string& lang) {
    std::set<std::string> out;
    const auto add = [&](const flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>* v) {
        if (!v) return;
        for (const auto* t : *v) {
            if (t->text()) out.insert(t->text()->str());
        }
    };
    add(form.titles());
    std::function<void(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>*)> walk =
        [&](const auto* items) {
            if (!items) return;
            for (const auto* item : *items) {
                add(item->labels());
                add(item->hints());
                walk(item->children());
            }
        };
    walk(form.items());
    if (form.choice_lists()) {
        for (const auto* list : *form.choice_lists()) {
            for (const auto* ch : *list->choices())
                add(ch->labels());
        }
    }
    for (const auto* l : *form.languages()) {
        if (l->name()) out.insert(l->name()->str());
    }
    (void)lang;
    return out;
}

// The kiosk's own texts on screen that are still English (for a language other than English).
std::vector<std::string> englishLeftovers(const UiDriver& ui, const std::set<std::string>& form) {
    std::set<std::string> english;
    std::vector<std::string> prefixes;
    for (std::size_t i = 0; i < static_cast<std::size_t>(M::Count_); ++i) {
        const std::string en(tr(static_cast<M>(i), "en"));
        english.insert(en);
        const auto hole = en.find("{}");
        if (hole != std::string::npos && hole >= 5) prefixes.push_back(en.substr(0, hole));
    }
    std::vector<std::string> out;
    for (const auto& text : ui.texts()) {
        if (text.empty() || form.count(text)) continue;
        bool bad = english.count(text) > 0;
        for (const auto& p : prefixes)
            bad = bad || text.rfind(p, 0) == 0;
        if (bad) out.push_back(text);
    }
    return out;
}

const fb::ChoiceList* choicesOf(const fb::Form& form, const fb::Item& item) {
    for (const auto* l : *form.choice_lists()) {
        if (l->name()->string_view() == item.choice_list()->string_view()) return l;
    }
    return nullptr;
}

// Types `keys` on the on-screen keypad (Ge'ez base letters take their first form), then Done.
// Returns the text the keys make.
std::string typeOnKeypad(Kiosk& k, const std::vector<std::string>& keys) {
    std::string typed;
    for (const auto& key : keys) {
        k.tap("kiosk.key." + key);
        if (isGeezBase(key)) {
            const auto forms = geezForms(key);
            k.tap("kiosk.key." + forms[1]);
            typed += forms[1];
        } else {
            typed += key;
        }
    }
    k.tap("kiosk.key.space");
    typed += " ";
    k.tap("kiosk.key." + keys.front());
    if (isGeezBase(keys.front())) k.tap("kiosk.key." + geezForms(keys.front())[1]);
    k.tap("kiosk.key.delete");  // a mistake taken back
    k.tap("kiosk.key.done");
    return typed;
}

}  // namespace

TEST_CASE("kiosk: a target is 12 mm on a 15-inch 1366x768 screen, and themes keep contrast") {
    // 1366x768 on 15 inches: 4.11 px per mm.
    const double pxPerMm = std::sqrt(1366.0 * 1366 + 768.0 * 768) / (15 * 25.4);
    CHECK(kTouchPx >= 12 * pxPerMm);
    CHECK(kTouchPx < 13 * pxPerMm);  // not needlessly large either
    // WCAG 2: text at least 4.5:1 in the normal look, 7:1 in high contrast, and the focus frame
    // at least 3:1 against the background.
    for (KioskTheme theme : kKioskThemes) {
        INFO("theme " << themeName(theme));
        const ThemeColours c = themeColours(theme);
        const double need = theme == KioskTheme::HighContrast ? 7.0 : 4.5;
        CHECK(contrastRatio(c.text, c.background) >= need);
        CHECK(contrastRatio(c.text, c.button) >= need);
        CHECK(contrastRatio(c.text, c.buttonHovered) >= need);
        CHECK(contrastRatio(c.text, c.buttonActive) >= need);
        CHECK(contrastRatio(c.text, c.frame) >= need);
        CHECK(contrastRatio(c.text, c.selected) >= need);
        CHECK(contrastRatio(c.textDisabled, c.background) >= need);
        CHECK(contrastRatio(c.error, c.background) >= need);
        CHECK(contrastRatio(c.focus, c.background) >= 3.0);
        CHECK(contrastRatio(c.border, c.background) >= 3.0);
        CHECK(themeFromName(themeName(theme)) == theme);
    }
    CHECK(contrastRatio(IM_COL32(255, 255, 255, 255), IM_COL32(0, 0, 0, 255)) ==
          doctest::Approx(21.0));
    CHECK(themeFromName("nonsense") == KioskTheme::Normal);
}

TEST_CASE("kiosk: a keyboard is found in /proc/bus/input/devices by its letter keys") {
    // A laptop's keyboard, a power button (kbd, but no letters) and a mouse.
    const std::string keyboard =
        "I: Bus=0011 Vendor=0001 Product=0001 Version=ab41\n"
        "N: Name=\"AT Translated Set 2 keyboard\"\n"
        "H: Handlers=sysrq kbd leds event0 \n"
        "B: EV=120013\n"
        "B: KEY=402000000 3803078f800d001 feffffdfffefffff fffffffffffffffe\n"
        "\n";
    const std::string power =
        "I: Bus=0019 Vendor=0000 Product=0001 Version=0000\n"
        "N: Name=\"Power Button\"\n"
        "H: Handlers=kbd event1 \n"
        "B: KEY=10000000000000 0\n"
        "\n";
    const std::string mouse =
        "N: Name=\"USB Optical Mouse\"\n"
        "H: Handlers=mouse0 event2 \n"
        "B: KEY=1f0000 0 0 0 0\n"
        "\n";
    CHECK(listsKeyboard(power + keyboard + mouse));
    CHECK(listsKeyboard(keyboard));
    CHECK_FALSE(listsKeyboard(power + mouse));
    CHECK_FALSE(listsKeyboard(""));
    // Letters without a kbd handler (a touch screen's odd report) are no keyboard either.
    CHECK_FALSE(listsKeyboard("H: Handlers=event5\nB: KEY=feffffdfffefffff fffffffffffffffe\n"));
    // The last device needs no blank line after it.
    CHECK(listsKeyboard("H: Handlers=kbd event0\nB: KEY=feffffdfffefffff fffffffffffffffe"));
    CHECK_FALSE(listsKeyboard("H: Handlers=kbd event0\nB: KEY=zz"));
    CHECK_FALSE(keyboardAttached("/nonexistent/devices"));
    // Ge'ez keys: every base letter offers its seven forms.
    for (const auto& row : keypadRows("ti")) {
        for (const auto& key : row) {
            CHECK_MESSAGE(isGeezBase(key), key);
            CHECK(geezForms(key).size() == 7);
        }
    }
    CHECK(geezForms("ለ") == std::vector<std::string>{"ለ", "ሉ", "ሊ", "ላ", "ሌ", "ል", "ሎ"});
    CHECK_FALSE(isGeezBase("ሉ"));
}

TEST_CASE("kiosk: what a parent tripped on") {
    veld::test::TempDir dir;
    Kiosk k(kioskStore(dir));

    SUBCASE("refusing consent in Arabic is answered in Arabic") {
        k.tap("kiosk.lang.ar");
        k.tap("kiosk.next");  // the introduction
        REQUIRE(k.view().pageProblems().size() == 1);
        k.tap("kiosk.next");  // consent not given yet
        CHECK(k.ui.showsText(std::string(tr(M::ProblemConsent, "ar"))));
        CHECK_FALSE(k.ui.showsText(std::string(tr(M::ProblemConsent, "en"))));
        CHECK(englishLeftovers(k.ui, formTexts(surveyForm(k), "ar")).empty());
        // Refusing ends the response, thanked in Arabic, with nothing kept.
        k.tap("q.consent_participation.no");
        k.tap("kiosk.next");
        CHECK(k.state().phase == KioskPhase::ThankYou);
        CHECK(k.ui.showsText(std::string(tr(M::KioskThanks, "ar"))));
    }

    SUBCASE("the count covers the pages a consenting parent sees, and says Next until the end") {
        k.tap("kiosk.lang.tr");
        const int total = k.state().pageTotal;
        CHECK(total > 20);
        CHECK(k.ui.showsText(progressText("tr", 1, total)));
        CHECK(k.ui.has("kiosk.next"));
        CHECK_FALSE(k.ui.has("kiosk.finish"));
        k.tap("kiosk.next");
        CHECK(k.ui.showsText(progressText("tr", 2, total)));
        CHECK(k.ui.has("kiosk.next"));  // the consent page is not the last one
        CHECK(k.ui.item("kiosk.next")->text == std::string(tr(M::Next, "tr")));
        k.tap("q.consent_participation.yes");
        k.tap("kiosk.next");
        CHECK(k.ui.showsText(progressText("tr", 3, total)));  // no jump
        CHECK(k.state().pageTotal == total);
    }

    SUBCASE("messages take a place of their own: nothing moves, and they go once answered") {
        k.tap("kiosk.lang.pl");
        k.tap("kiosk.next");
        k.tap("q.consent_participation.yes");
        k.tap("kiosk.next");
        const auto back = k.rect("kiosk.back");
        const auto next = k.rect("kiosk.next");
        const auto theme = k.rect("kiosk.theme");
        const auto choice = k.rect(k.ui.ids("q.respondent_role.").front());
        k.tap("kiosk.next");  // not answered
        const std::string message(tr(M::KioskAnswerFirst, "pl"));
        CHECK(k.ui.showsText(message));
        CHECK(same(k.rect("kiosk.back"), back));
        CHECK(same(k.rect("kiosk.next"), next));
        CHECK(same(k.rect("kiosk.theme"), theme));
        CHECK(same(k.rect(k.ui.ids("q.respondent_role.").front()), choice));
        k.tap(k.ui.ids("q.respondent_role.").front());
        CHECK_FALSE(k.ui.showsText(message));  // answered: the message is gone
        CHECK(same(k.rect("kiosk.next"), next));

        // The PIN pad: a wrong PIN says so without moving a key.
        k.tap("kiosk.staff");
        std::map<std::string, std::optional<ImVec4>> keys;
        for (const auto& id : k.ui.ids("kiosk.pin."))
            keys[id] = k.rect(id);
        for (char d : std::string("1111"))
            k.tap(std::string("kiosk.pin.") + d);
        k.tap("kiosk.pin.ok");
        CHECK(k.ui.showsText(std::string(tr(M::PinWrong, "nl"))));
        for (const auto& key : keys)
            CHECK_MESSAGE(same(k.rect(key.first), key.second), key.first << " moved");
    }

    SUBCASE("Back on the first question goes back to the choice of language") {
        k.tap("kiosk.lang.en");
        REQUIRE(k.ui.item("kiosk.back") != nullptr);
        CHECK(k.ui.item("kiosk.back")->enabled);
        k.tap("kiosk.back");
        CHECK(k.state().phase == KioskPhase::Welcome);
        CHECK(k.ui.has("kiosk.lang.nl"));
        k.tap("kiosk.lang.nl");
        CHECK(k.view().language == "nl");
    }

    SUBCASE("closing the window, then the right PIN, leaves kiosk mode only") {
        CHECK_FALSE(k.ui.app().requestClose());
        k.ui.frame();
        for (char d : std::string("2468"))
            k.tap(std::string("kiosk.pin.") + d);
        k.tap("kiosk.pin.ok");
        CHECK(k.ui.app().screen == Screen::Home);
        CHECK_FALSE(k.ui.app().quitRequested());
        // Closing the program is staff's own, next choice.
        CHECK(k.ui.app().requestClose());
    }
}

TEST_CASE("kiosk: a parent switches the look with one button, and the next parent gets staff's") {
    veld::test::TempDir dir;
    Kiosk k(kioskStore(dir, "always", "contrast"));
    CHECK(k.state().theme == KioskTheme::HighContrast);
    k.tap("kiosk.theme");
    CHECK(k.state().theme == KioskTheme::Normal);
    k.tap("kiosk.theme");
    CHECK(k.state().theme == KioskTheme::LargeText);
    k.tap("kiosk.lang.nl");
    // Larger letters: larger targets, and the theme button on every page.
    CHECK(k.ui.has("kiosk.theme"));
    CHECK(k.ui.item("kiosk.theme")->text.find(std::string(tr(M::KioskTheme, "nl"))) !=
          std::string::npos);
    k.tap("kiosk.next");
    k.tap("q.consent_participation.no");
    k.tap("kiosk.next");
    REQUIRE(k.state().phase == KioskPhase::ThankYou);
    CHECK(k.ui.has("kiosk.theme"));
    k.ui.advance(std::int64_t{k.ui.app().settings.kioskResetSeconds} * 1000 + 100);
    CHECK(k.state().phase == KioskPhase::Welcome);
    CHECK(k.state().theme == KioskTheme::HighContrast);
}

TEST_CASE("kiosk: a parent's walk through the whole survey in every language, by touch only") {
    const auto started = std::chrono::steady_clock::now();
    veld::test::TempDir dir;
    const std::string path = kioskStore(dir);
    std::vector<std::string> languages;
    {
        Kiosk k(path);
        for (const auto* l : *surveyForm(k).languages())
            languages.push_back(l->tag()->str());
        // The welcome screen asks for the language in every language of the form.
        for (const auto& lang : languages) {
            CHECK_MESSAGE(k.ui.showsText(std::string(tr(M::KioskChooseLanguage, lang))), lang);
            CHECK(k.ui.has("kiosk.lang." + lang));
        }
    }
    REQUIRE(languages.size() >= 6);
    int records = 0;
    for (const auto& lang : languages) {
        CAPTURE(lang);
        Kiosk k(path);
        const fb::Form& form = surveyForm(k);
        const std::set<std::string> ownTexts = formTexts(form, lang);
        k.tap("kiosk.lang." + lang);
        const bool rtl = k.view().rtl;
        CHECK(rtl == (lang == "ar"));
        std::map<std::string, std::optional<ImVec4>> fixed;  // targets that must never move
        const auto checkFixed = [&] {
            const std::string forward = k.ui.has("kiosk.finish") ? "kiosk.finish" : "kiosk.next";
            const std::pair<std::string, std::string> targets[] = {{"back", "kiosk.back"},
                                                                   {"forward", forward},
                                                                   {"theme", "kiosk.theme"},
                                                                   {"staff", "kiosk.staff"}};
            for (const auto& target : targets) {
                const std::string& name = target.first;
                const auto r = k.rect(target.second);
                REQUIRE_MESSAGE(r.has_value(), target.second);
                if (!fixed.count(name)) fixed[name] = r;
                CHECK_MESSAGE(same(r, fixed[name]), name << " moved");
            }
            if (lang != "en") {
                const auto left = englishLeftovers(k.ui, ownTexts);
                CHECK_MESSAGE(left.empty(), "English on a "
                                                << lang << " page: "
                                                << (left.empty() ? std::string() : left.front()));
            }
            // Mirrored for right-to-left: back on the right, the theme and staff buttons on the
            // left, the progress on the right.
            const float middle = 1366 / 2.0f;
            const auto progress =
                k.ui.showsText(progressText(lang, k.state().pageNumber, k.state().pageTotal));
            CHECK(progress);
            CHECK((fixed["back"]->x > middle) == rtl);
            CHECK((fixed["forward"]->x > middle) == !rtl);
            CHECK((fixed["theme"]->x > middle) == !rtl);
            CHECK((fixed["staff"]->x > middle) == !rtl);
        };
        std::string typedText;
        std::string typedOther;
        bool sawMessage = false;
        bool usedOther = false;
        int number = 1;
        int total = k.state().pageTotal;
        for (int guard = 0; guard < 80; ++guard) {
            checkFixed();
            CHECK(k.state().pageNumber == number);
            CHECK(k.state().pageNumber <= k.state().pageTotal);
            FormView& view = k.view();
            const PageItem& pi = view.pages[static_cast<std::size_t>(view.page)].items.front();
            const fb::Item& item = *pi.item;
            const std::string id = "q." + pi.path.name;
            const bool required = view.session->isRequired(pi.path);
            if (required && !sawMessage && item.type() != fb::QuestionType::Consent) {
                // Once: forward without an answer says so in place, and moves nothing.
                k.tap("kiosk.next");
                CHECK(k.ui.showsText(std::string(tr(M::KioskAnswerFirst, lang))));
                checkFixed();
                sawMessage = true;
            }
            switch (item.type()) {
                case fb::QuestionType::Consent:
                    k.tap(id + ".yes");
                    break;
                case fb::QuestionType::SelectOne:
                case fb::QuestionType::Likert:
                case fb::QuestionType::SelectMany: {
                    const fb::ChoiceList* list = choicesOf(form, item);
                    REQUIRE(list != nullptr);
                    const fb::Choice* other = nullptr;
                    for (const auto* ch : *list->choices()) {
                        if (ch->is_other()) other = ch;
                    }
                    if (other && !usedOther && item.type() == fb::QuestionType::SelectOne) {
                        // "Other": its text on the keypad too.
                        k.tap(id + "." + other->name()->str());
                        k.tap(id + ".other.field");
                        CHECK(k.ui.has("kiosk.key.done"));
                        const auto row = keypadRows(lang)[1];
                        typedOther = typeOnKeypad(k, {row[0], row[1]});
                        usedOther = true;
                        break;
                    }
                    for (const auto* ch : *list->choices()) {
                        if (ch->is_other()) continue;
                        k.tap(id + "." + ch->name()->str());
                        break;
                    }
                    break;
                }
                case fb::QuestionType::Text: {
                    // The keypad opens by itself on a page with one text question.
                    REQUIRE(k.ui.has("kiosk.key.done"));
                    const auto row = keypadRows(lang)[0];
                    typedText = typeOnKeypad(k, {row[0], row[1], row[2]});
                    CHECK_FALSE(k.ui.has("kiosk.key.done"));
                    break;
                }
                case fb::QuestionType::Integer:
                case fb::QuestionType::Decimal:
                    k.tap("kiosk.key.4");
                    k.tap("kiosk.key.2");
                    k.tap("kiosk.key.done");
                    break;
                default:
                    break;
            }
            CHECK(k.view().pageProblems().empty());
            CHECK_FALSE(k.ui.showsText(std::string(tr(M::KioskAnswerFirst, lang))));
            checkFixed();
            if (k.ui.has("kiosk.finish")) {
                CHECK(k.state().pageNumber == k.state().pageTotal);
                CHECK(k.ui.item("kiosk.finish")->text == std::string(tr(M::KioskFinish, lang)));
                k.tap("kiosk.finish");
                break;
            }
            CHECK(k.ui.item("kiosk.next")->text == std::string(tr(M::Next, lang)));
            CHECK(k.state().pageNumber < k.state().pageTotal);
            k.tap("kiosk.next");
            ++number;
            // The total moves only when an answer shows or hides a question, by that question.
            CHECK(std::abs(k.state().pageTotal - total) <= 1);
            total = k.state().pageTotal;
        }
        CHECK(sawMessage);
        CHECK(usedOther);
        REQUIRE(k.state().phase == KioskPhase::ThankYou);
        CHECK(k.ui.showsText(std::string(tr(M::KioskThanks, lang))));
        if (lang != "en") CHECK(englishLeftovers(k.ui, ownTexts).empty());
        CHECK(k.smallest >= kTouchPx);
        MESSAGE(lang << ": " << k.taps << " taps, " << number << " pages, smallest target "
                     << k.smallest << " px");
        ++records;

        // Kept, sealed, with what was typed on the keypad.
        auto store = Store::open(path);
        REQUIRE(store.ok());
        ListQuery q;
        q.formId = kForm;
        q.limit = 100;
        auto page = store.value().list(q);
        REQUIRE(page.ok());
        REQUIRE(page.value().rows.size() == static_cast<std::size_t>(records));
        auto stored = store.value().get(page.value().rows.front().id);
        REQUIRE(stored.ok());
        CHECK(stored.value().record.sealed.has_value());
        bool found = false;
        for (const auto& row : page.value().rows) {
            auto r = store.value().get(row.id);
            REQUIRE(r.ok());
            auto opened = openRecord(r.value().record, projectKey().secret);
            REQUIRE(opened.ok());
            for (const auto& a : opened.value().content.answers) {
                if (const auto* s = std::get_if<std::string>(&a.value); s && *s == typedText)
                    found = true;
            }
        }
        CHECK_MESSAGE(found, "the text typed on the keypad is in the record: " << typedText);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    MESSAGE("walk through " << languages.size() << " languages took " << seconds << " s");
}

TEST_CASE("veldctl kiosk setup: staff choose the look and the keypad, and the kiosk uses them") {
    veld::test::TempDir dir;
    const std::string path = kioskStore(dir, "auto", "normal");
    const std::string pinFile = dir.file("pin");
    { std::ofstream(pinFile) << "2468\n"; }
    const std::vector<std::string> base = {veld::test::binary("veldctl"),
                                           "kiosk",
                                           "setup",
                                           "--store",
                                           path,
                                           "--form",
                                           kForm,
                                           "--pin-file",
                                           pinFile,
                                           "--config",
                                           dir.file("kiosk.conf")};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> argv = base;
        argv.insert(argv.end(), extra.begin(), extra.end());
        return veld::test::runProcess(argv);
    };
    auto r = with({"--look", "dark"});
    CHECK(r.exitCode == 2);
    CHECK(r.err.find("--look must be normal, large or contrast") != std::string::npos);
    r = with({"--keypad", "sometimes"});
    CHECK(r.exitCode == 2);
    CHECK(r.err.find("--keypad must be auto, always or never") != std::string::npos);
    r = with({"--look", "large", "--keypad", "always"});
    INFO(r.err);
    REQUIRE(r.exitCode == 0);
    Kiosk k(path);
    CHECK(k.state().theme == KioskTheme::LargeText);
    k.tap("kiosk.lang.nl");
    CHECK(k.state().keypad);
    CHECK(k.view().onScreenKeypad);
}

TEST_CASE("kiosk: staff choose the look and the keypad in Settings, kept in the store") {
    veld::test::TempDir dir;
    const std::string path = kioskStore(dir);
    {
        auto store = Store::open(path);
        REQUIRE(store.ok());
        REQUIRE(store.value().setSetting("kiosk.form", "").ok());  // not a kiosk yet
    }
    {
        UiDriver ui(path);
        REQUIRE(ui.app().screen == Screen::Home);
        ui.click("nav.settings");
        CHECK(ui.showsText(std::string(tr(M::SettingsKioskTheme, "nl"))));
        ui.click("settings.kiosk.theme.contrast");
        ui.click("settings.kiosk.keypad.never");
        CHECK(ui.app().settings.kioskTheme == "contrast");
        CHECK(ui.app().settings.kioskKeypad == "never");
        ui.settle();
    }
    UiDriver again(path);
    CHECK(again.app().settings.kioskTheme == "contrast");
    CHECK(again.app().settings.kioskKeypad == "never");
    REQUIRE(startKiosk(again.app(), kForm, false));
    again.frame();
    CHECK(again.app().kiosk.theme == KioskTheme::HighContrast);
    again.click("kiosk.lang.tr");
    CHECK_FALSE(again.app().kiosk.keypad);
    CHECK_FALSE(again.app().kiosk.view.onScreenKeypad);
}

TEST_CASE("kiosk: a long list scrolls under a dragged finger, and the drag chooses nothing") {
    veld::test::TempDir dir;
    Kiosk k(kioskStore(dir));
    k.tap("kiosk.lang.nl");
    k.tap("kiosk.next");
    k.tap("q.consent_participation.yes");
    FormView& view = k.view();
    const int sectors = view.pageOfItem.at("sectors_considered");
    kioskGoToPage(k.ui.app(), k.state(), sectors);
    k.ui.frame();
    k.ui.frame();
    const auto choices = k.ui.ids("q.sectors_considered.");
    REQUIRE(choices.size() > 8);
    const std::string last = choices.back();
    const float strip = k.rect("kiosk.back")->y - 100;
    CHECK(k.ui.item(last)->min.y > strip);  // out of sight at first
    // Swipes upwards over the list, from just above the message strip.
    ImGuiIO& io = ImGui::GetIO();
    int swipes = 0;
    for (; swipes < 8 && k.ui.item(last)->max.y >= strip; ++swipes) {
        const ImVec2 from(683, strip - 20);
        io.MousePos = from;
        k.ui.frame();
        io.MouseDown[0] = true;
        k.ui.frame();
        for (int step = 1; step <= 12; ++step) {
            io.MousePos = ImVec2(from.x, from.y - static_cast<float>(step) * 25);
            k.ui.frame();
        }
        io.MouseDown[0] = false;
        k.ui.frame();
        k.ui.settle();
    }
    MESSAGE("swipes to the end of the list: " << swipes);
    CHECK(swipes >= 1);
    CHECK(k.ui.item(last)->max.y < strip);  // scrolled into sight
    CHECK_FALSE(view.session->answer(forms::ItemPath{"sectors_considered", {}}));
    k.tap(last);  // and reachable by a tap
    CHECK(view.session->answer(forms::ItemPath{"sectors_considered", {}}));
}
