// The filling screen honours what XLSForm authors write, headless over a real device store:
// appearance words (a drop-down list, choices in a row, a Likert row, several lines of text),
// sliders for numbers with a step, exclusive choices ticked by hand, repeats whose count
// follows an answer, hidden questions, the form's own "required" message and version label.
#include <algorithm>

#include <doctest/doctest.h>

#include <veld/form.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using namespace veld::client;
using veld::client::testing::UiDriver;

namespace {

// A device with tests/forms/FIXTURE.json installed (its form id is FIXTURE), filling a new record
// of it.
struct Filling {
    veld::test::TempDir dir;
    std::string path = dir.file("device.veld");
    std::unique_ptr<UiDriver> ui;

    explicit Filling(const std::string& language = "nl",
                     const std::string& fixture = "xlsform_fields") {
        {
            StoreOptions options;
            options.mode = sql::OpenMode::ReadWriteCreate;
            auto store = Store::open(path, options);
            REQUIRE(store.ok());
            auto compiled =
                forms::compileFormJson(veld::test::readFile(std::string(VELD_SOURCE_DIR) +
                                                            "/tests/forms/" + fixture + ".json"),
                                       fixture + ".json");
            REQUIRE(compiled.ok());
            REQUIRE(store.value().installForm(compiled.binary));
        }
        ui = std::make_unique<UiDriver>(path, language);
        ui->click("home.new." + fixture);
        REQUIRE(ui->app().screen == Screen::Fill);
    }

    forms::FormSession& session() { return *ui->app().fill.view.session; }

    std::optional<AnswerValue> answer(const std::string& name) {
        return session().answer({name, {}});
    }

    std::vector<std::string> chosen(const std::string& name) {
        const auto a = answer(name);
        if (!a) return {};
        const auto* c = std::get_if<ChoicesAnswer>(&*a);
        REQUIRE(c);
        return c->choices;
    }
};

}  // namespace

TEST_CASE("client: ticking an exclusive choice clears the others, and another clears it") {
    Filling f;
    auto& ui = *f.ui;
    ui.click("q.help_wanted.money");
    ui.click("q.help_wanted.training");
    CHECK(f.chosen("help_wanted") == std::vector<std::string>{"money", "training"});
    ui.click("q.help_wanted.none");
    CHECK(f.chosen("help_wanted") == std::vector<std::string>{"none"});
    ui.click("q.help_wanted.advice");
    CHECK(f.chosen("help_wanted") == std::vector<std::string>{"advice"});
    ui.click("q.help_wanted.advice");
    CHECK_FALSE(f.answer("help_wanted"));
}

TEST_CASE(
    "client: a choice filter offers the cities of the chosen country, and a change of "
    "country takes back a city it no longer offers") {
    Filling f("nl", "cascading_select");
    auto& ui = *f.ui;
    const auto cities = [&] {
        std::vector<std::string> shown;
        for (const char* name : {"amsterdam", "rotterdam", "antwerpen", "gent"}) {
            if (ui.has(std::string("q.city.") + name)) shown.emplace_back(name);
        }
        return shown;
    };
    CHECK(cities().empty());  // no country yet: the filter offers nothing
    ui.click("q.country.nl");
    CHECK(cities() == std::vector<std::string>{"amsterdam", "rotterdam"});
    ui.click("q.city.rotterdam");
    CHECK(f.answer("city") == AnswerValue{ChoiceAnswer{"rotterdam", ""}});
    ui.click("q.country.be");
    CHECK(cities() == std::vector<std::string>{"antwerpen", "gent"});
    CHECK_FALSE(f.answer("city"));  // Rotterdam is not in Belgium
    ui.click("q.city.gent");
    CHECK(f.answer("city") == AnswerValue{ChoiceAnswer{"gent", ""}});
}

TEST_CASE("client: minimal is a drop-down list, likert and horizontal choices lie in a row") {
    Filling f;
    auto& ui = *f.ui;
    // minimal: one closed box until it is opened; a choice from the list is the answer.
    REQUIRE(ui.has("q.b.combo"));
    CHECK_FALSE(ui.has("q.b.4"));
    CHECK(ui.item("q.b.combo")->text == "Kies...");
    ui.click("q.b.combo");
    REQUIRE(ui.has("q.b.4"));
    ui.click("q.b.4");
    CHECK(f.answer("b") == AnswerValue{ChoiceAnswer{"4", ""}});
    CHECK_FALSE(ui.has("q.b.4"));
    CHECK(ui.item("q.b.combo")->text == "Eens");

    // likert (on a select one), horizontal and horizontal-compact: one row, in the list's order.
    const auto inOneRow = [&](const std::string& question, const std::vector<std::string>& names) {
        CAPTURE(question);
        const ui::Recorded* first = ui.item("q." + question + "." + names.front());
        REQUIRE(first);
        float x = first->min.x - 1;
        for (const auto& name : names) {
            const ui::Recorded* r = ui.item("q." + question + "." + name);
            REQUIRE(r);
            CHECK(r->min.y == doctest::Approx(first->min.y));
            CHECK(r->min.x > x);
            x = r->max.x;
        }
    };
    inOneRow("a", {"1", "2", "3", "4", "5", "-9"});
    inOneRow("help_wanted", {"money", "advice", "training", "none"});
    inOneRow("contact_by", {"phone", "email", "letter", "visit"});
    // horizontal: columns of one width; horizontal-compact: each as wide as its label.
    const auto width = [&](const std::string& id) {
        return ui.item(id)->max.x - ui.item(id)->min.x;
    };
    CHECK(width("q.help_wanted.money") == doctest::Approx(width("q.help_wanted.none")));
    CHECK(width("q.contact_by.letter") < width("q.contact_by.visit") - 20);
    ui.click("q.a.-9");
    CHECK(f.answer("a") == AnswerValue{ChoiceAnswer{"-9", ""}});
    ui.click("q.contact_by.visit");
    CHECK(f.answer("contact_by") == AnswerValue{ChoiceAnswer{"visit", ""}});

    // multiline: a text box several lines tall (on the last page, after the repeat's).
    ui.click("fill.next");
    ui.click("fill.next");
    REQUIRE(ui.has("q.remarks"));
    const float line = ImGui::GetTextLineHeight();
    CHECK(ui.item("q.remarks")->max.y - ui.item("q.remarks")->min.y > 3 * line);
}

TEST_CASE("client: a number with a step is a slider, and hidden questions stay unseen") {
    Filling f;
    auto& ui = *f.ui;
    CHECK(ui.ids("q.score").empty());
    REQUIRE(ui.has("q.rating.slider"));
    CHECK(ui.item("q.rating.slider")->text == "Nog niet gekozen: schuif of tik op de balk");
    CHECK_FALSE(ui.has("q.rating.clear"));
    // A tap in the middle of 0..10 in steps of 0.5 is 5.
    ui.click("q.rating.slider");
    const auto rating = f.answer("rating");
    REQUIRE(rating);
    REQUIRE(std::holds_alternative<DecimalAnswer>(*rating));
    CHECK(std::get<DecimalAnswer>(*rating).value == doctest::Approx(5.0));
    CHECK(ui.item("q.rating.slider")->text == "5");
    CHECK_FALSE(f.session().problem({"rating", {}}));
    // Not required: the answer can be taken back.
    ui.click("q.rating.clear");
    CHECK_FALSE(f.answer("rating"));

    // The scores add up in the hidden question, which is not counted in the progress.
    ui.click("q.a.4");
    ui.click("q.b.combo");
    ui.click("q.b.5");
    CHECK(f.answer("score") == AnswerValue{std::int64_t{9}});
    CHECK(ui.item("fill.progress")->text == "2/7");
    CHECK(ui.ids("q.score").empty());

    // children: 0..6 in whole steps; the middle is 3, and the repeat has three instances that
    // nobody adds or removes by hand.
    ui.click("q.children.slider");
    CHECK(f.answer("children") == AnswerValue{std::int64_t{3}});
    ui.click("fill.next");
    CHECK(ui.has("q.child_age#0"));
    CHECK(ui.has("q.child_age#2"));
    CHECK_FALSE(ui.has("q.child_age#3"));
    CHECK_FALSE(ui.has("q.child.add"));
    CHECK(ui.ids("q.child.remove").empty());
}

TEST_CASE("client: a required question shows the form's own message, and the version its label") {
    Filling f;
    auto& ui = *f.ui;
    ui.click("fill.finalize");
    CHECK(ui.showsText("Vul het aantal kinderen in, ook als het 0 is."));
    CHECK_FALSE(ui.showsText("Beantwoord deze vraag"));
    ui.click("fill.close");
    if (ui.app().screen != Screen::Home) ui.click("nav.home");
    REQUIRE(ui.app().screen == Screen::Home);
    CHECK(ui.showsText("Versie 2024-03-15.2"));
}
