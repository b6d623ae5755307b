// The device client's screens as a new user meets them: the records list with column headers
// and a form filter wide enough for the longest title, messages in a strip of their own that
// covers nothing, dialogs with a title, dates typed day first or picked from a calendar, and a
// window that asks for frames only while something changes by itself.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <imgui.h>
#include <imgui_internal.h>

#include <veld/expression.hpp>
#include <veld/store.hpp>

#include "app.hpp"
#include "form_filling.hpp"
#include "form_widgets.hpp"
#include "i18n.hpp"
#include "support/test_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using namespace veld::client;
using veld::client::testing::UiDriver;

namespace {

constexpr const char* kForm = "employer_recruitment_nudges";  // not sealed; has a date question

std::string iso(std::string_view typed) {
    const auto days = widgets::parseDate(typed);
    return days ? expr::formatIsoDate(*days) : "none";
}

bool overlaps(const ui::Recorded& a, const ui::Recorded& b) {
    return a.min.x < b.max.x && b.min.x < a.max.x && a.min.y < b.max.y && b.min.y < a.max.y;
}

}  // namespace

TEST_CASE("client: dates are typed day first as the Dutch write them, and kept as ISO dates") {
    CHECK(iso("25-11-2026") == "2026-11-25");
    CHECK(iso("5-3-2026") == "2026-03-05");
    CHECK(iso("05-03-2026") == "2026-03-05");
    CHECK(iso("25/11/2026") == "2026-11-25");
    CHECK(iso("25.11.2026") == "2026-11-25");
    CHECK(iso(" 1-1-2000 ") == "2000-01-01");
    CHECK(iso("2026-11-25") == "2026-11-25");  // ISO as before
    CHECK(iso("29-02-2024") == "2024-02-29");
    // Days a month does not have, a year not in full, mixed or unknown separators: refused.
    CHECK(iso("29-02-2026") == "none");
    CHECK(iso("31-04-2026") == "none");
    CHECK(iso("0-1-2026") == "none");
    CHECK(iso("1-13-2026") == "none");
    CHECK(iso("25-11-26") == "none");
    CHECK(iso("25-11/2026") == "none");
    CHECK(iso("2026/11/25") == "none");
    CHECK(iso("2026-1-5") == "none");
    CHECK(iso("123-1-2026") == "none");
    CHECK(iso("1--2026") == "none");
    CHECK(iso("1-1-2026-1") == "none");
    CHECK(iso("1-1") == "none");
    CHECK(iso("") == "none");
    CHECK(iso("vandaag") == "none");
    CHECK(widgets::formatDate(*widgets::parseDate("2026-03-05")) == "05-03-2026");
}

TEST_CASE(
    "client: a date is typed as 5-3-2026 or picked from the calendar, a wrong one is "
    "refused with the form to use") {
    veld::test::TempDir dir;
    UiDriver ui(testing::pilotFormsStore(dir));
    ui.click(std::string("home.new.") + kForm);
    FormView& view = ui.app().fill.view;
    view.page = view.pageOfItem.at("posted_date");
    ui.settle();
    const forms::ItemPath at{"posted_date", {}};
    const auto answeredDays = [&]() -> std::int64_t {
        const auto a = view.session->answer(at);
        if (!a) return -1;
        const auto* date = std::get_if<DateAnswer>(&*a);
        return date ? date->days : -2;
    };

    ui.type("q.posted_date", "5-3-2026");
    CHECK(answeredDays() == *expr::parseIsoDate("2026-03-05"));

    ui.clearText("q.posted_date");
    ui.type("q.posted_date", "31-02-2026");
    CHECK(answeredDays() == -1);
    CHECK(ui.showsText("Vul een datum in als dd-mm-jjjj"));

    // The calendar opens on this month; the month before, the 15th.
    ui.click("q.posted_date.pick");
    REQUIRE(ui.has("q.posted_date.calendar.month"));
    const std::string today = expr::formatIsoDate(widgets::localToday(ui.nowMs));
    int year = std::stoi(today.substr(0, 4));
    int month = std::stoi(today.substr(5, 2));
    const std::string months(tr(M::DateMonths, "nl"));
    CHECK(ui.item("q.posted_date.calendar.month")->text.find(std::to_string(year)) !=
          std::string::npos);
    ui.click("q.posted_date.calendar.prev");
    if (--month == 0) {
        month = 12;
        --year;
    }
    char expected[16];
    std::snprintf(expected, sizeof expected, "%04d-%02d-15", year, month);
    ui.click("q.posted_date.calendar.day.15");
    ui.settle();
    CHECK(answeredDays() == *expr::parseIsoDate(expected));
    CHECK(ui.item("q.posted_date")->text == widgets::formatDate(*expr::parseIsoDate(expected)));
    CHECK_FALSE(ui.has("q.posted_date.calendar.day.15"));  // the calendar closed
    CHECK_FALSE(ui.showsText("Vul een datum in als dd-mm-jjjj"));
}

TEST_CASE(
    "client: the records list has column headers, and its form filter fits the longest "
    "form title") {
    veld::test::TempDir dir;
    UiDriver ui(testing::pilotFormsStore(dir));
    ui.click(std::string("home.new.") + kForm);
    testing::answerPage(ui, ui.app().fill.view, "heftruckchauffeur");
    ui.click("fill.close");  // "Opslaan en sluiten": the draft stays
    ui.settle();
    ui.click("nav.records");
    ui.settle();
    const char* headers[][2] = {{"records.header.summary", "Record"},
                                {"records.header.form", "Formulier"},
                                {"records.header.status", "Status"},
                                {"records.header.changed", "Gewijzigd"},
                                {"records.header.actions", "Acties"}};
    const auto rows = ui.ids("records.row.");
    REQUIRE(rows.size() == 1);
    for (const auto& [id, label] : headers) {
        REQUIRE(ui.has(id));
        CHECK(ui.item(id)->text == label);
        CHECK(ui.item(id)->max.y <= ui.item(rows[0])->min.y + 1);  // above the rows
    }
    float widest = 0;
    for (const FormEntry& f : ui.app().forms) {
        const std::string title = formTitle(f.compiled->form(), "nl");
        widest = std::max(widest, ImGui::CalcTextSize(title.c_str()).x);
    }
    const ui::Recorded* filter = ui.item("records.form");
    REQUIRE(filter);
    CHECK(filter->max.x - filter->min.x >= widest + ImGui::GetFrameHeight());

    // Deleting the draft asks in a dialog with a title.
    ui.click("records.delete." + rows[0].substr(std::string("records.row.").size()));
    ui.settle();
    REQUIRE(ui.has("records.delete.title"));
    CHECK(ui.item("records.delete.title")->text == "Concept verwijderen");
    ui.click("records.delete.cancel");
    ui.settle();
    CHECK_FALSE(ui.has("records.delete.title"));
    CHECK(ui.ids("records.row.").size() == 1);
}

TEST_CASE(
    "client: a message shows in a strip of its own below the screen, covers no control "
    "and takes no clicks") {
    veld::test::TempDir dir;
    UiDriver ui(testing::pilotFormsStore(dir), "nl", {}, 700);  // a screen as tall as a laptop's
    ui.click(std::string("home.new.") + kForm);
    ui.app().toast("Concept opgeslagen");
    ui.frame();
    const ui::Recorded* toast = ui.item("toast");
    REQUIRE(toast);
    CHECK(toast->max.y <= ImGui::GetIO().DisplaySize.y + 0.5f);
    int controls = 0;
    // The navigation and the filling screen's own buttons (what a page scrolls under them is
    // clipped by its frame).
    for (const std::string& id : ui.ids("")) {
        if (id.rfind("nav.", 0) != 0 && id.rfind("fill.", 0) != 0) continue;
        const ui::Recorded* other = ui.item(id);
        if (other->max.y <= 0) continue;
        ++controls;
        CAPTURE(id);
        CHECK_FALSE(overlaps(*toast, *other));
    }
    CHECK(controls > 5);
    CHECK(ui.has("fill.finalize"));
    const ImGuiWindow* window = ImGui::FindWindowByName("##messages");
    REQUIRE(window);
    CHECK((window->Flags & ImGuiWindowFlags_NoInputs) == ImGuiWindowFlags_NoInputs);
    // The screen's own buttons still work while it shows.
    ui.click("nav.sync");
    CHECK(ui.app().screen == Screen::Sync);
}

TEST_CASE(
    "client: an idle screen asks for no frame, a message asks for one when it ends, and "
    "finished background work wakes the window") {
    veld::test::TempDir dir;
    // Declared before the client: its worker may still call back while the client closes.
    std::atomic<int> woken{0};
    UiDriver ui(testing::pilotFormsStore(dir));
    ui.app().worker.onDone([&] { ++woken; });
    ui.frame();
    CHECK(ui.app().wakeDelayMs() == -1);

    ui.app().toast("Opgeslagen");
    ui.frame();
    const std::int64_t delay = ui.app().wakeDelayMs();
    CHECK(delay > 0);
    CHECK(delay <= 4001);
    ui.advance(delay + 1);
    ui.frame();
    CHECK_FALSE(ui.has("toast"));
    CHECK(ui.app().wakeDelayMs() == -1);

    ui.click("nav.records");  // the list is read on the worker
    ui.settle();
    CHECK(woken > 0);
    CHECK(ui.app().wakeDelayMs() == -1);

    // The Sync screen reads veld-agent's state every few seconds, also without input.
    ui.click("nav.sync");
    ui.settle();
    CHECK(ui.app().wakeDelayMs() >= 0);
    CHECK(ui.app().wakeDelayMs() <= 3000);
}

TEST_CASE(
    "client: the device client's texts have no doubled punctuation, and every count has "
    "its plural forms") {
    // Console texts (ids starting with Console) are the console's own.
    const std::set<std::string> countable = {
        "record",   "records",  "punt",      "punten",      "thing",        "things", "seconde",
        "seconden", "second",   "seconds",   "minuut",      "minuten",      "minute", "minutes",
        "min",      "lijn",     "lijnen",    "stroke",      "strokes",      "fout",   "fouten",
        "error",    "errors",   "versie",    "versies",     "toewijzingen", "poging", "pogingen",
        "attempt",  "attempts", "formulier", "formulieren", "form",         "forms",  "casus",
        "casussen", "concept",  "concepten", "draft",       "drafts"};
    const auto doubled = [](std::string_view s) -> std::string {
        const std::string_view marks = ".,:;?!";
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (marks.find(s[i]) == std::string_view::npos) continue;
            // An ellipsis after a word is one mark.
            if (s.substr(i, 3) == "..." && i > 0 &&
                marks.find(s[i - 1]) == std::string_view::npos &&
                (i + 3 == s.size() || s[i + 3] != '.')) {
                i += 2;
                continue;
            }
            std::size_t j = i + 1;
            if (j < s.size() && s[j] == ' ') ++j;
            if (j < s.size() && marks.find(s[j]) != std::string_view::npos)
                return std::string(s.substr(i, j - i + 1));
            if (i > 0 && s[i - 1] == ' ' && s[i] != '.') return std::string(s.substr(i - 1, 2));
        }
        return {};
    };
    // The table as written (the console's texts, ids starting with Console, are its own).
    std::ifstream in(std::string(VELD_SOURCE_DIR) + "/client/src/messages.def");
    REQUIRE(in.good());
    const std::regex row(
        R"re(^VELD_MSG(_EXTRA)?\((\w+), "((?:[^"\\]|\\.)*)", "((?:[^"\\]|\\.)*)"\)$)re");
    int checked = 0;
    std::string line;
    while (std::getline(in, line)) {
        std::smatch match;
        if (!std::regex_match(line, match, row) || match[2].str().rfind("Console", 0) == 0)
            continue;
        const bool extra = match[1].matched;
        // VELD_MSG(id, Dutch, English); VELD_MSG_EXTRA(id, language, text).
        std::vector<std::pair<std::string, std::string>> texts;
        if (extra) {
            texts.emplace_back(match[3].str(), match[4].str());
        } else {
            texts.emplace_back("nl", match[3].str());
            texts.emplace_back("en", match[4].str());
        }
        for (const auto& entry : texts) {
            const std::string& lang = entry.first;
            const std::string& text = entry.second;
            CAPTURE(line);
            CAPTURE(lang);
            ++checked;
            CHECK(doubled(text).empty());
            if (lang != "nl" && lang != "en") continue;
            // "{} records", "{} van {} records": a count followed by what it counts.
            const bool forms = text.find('|') != std::string::npos;
            for (std::size_t at = text.find("{}"); at != std::string::npos;
                 at = text.find("{}", at + 2)) {
                std::size_t w = at + 2;
                for (const std::string between : {" van {}", " of {}"}) {
                    if (text.compare(w, between.size(), between) == 0) w += between.size();
                }
                if (w >= text.size() || text[w] != ' ') continue;
                std::size_t end = w + 1;
                while (end < text.size() && std::isalpha(static_cast<unsigned char>(text[end])))
                    ++end;
                const std::string word = text.substr(w + 1, end - w - 1);
                if (countable.count(word)) CHECK_MESSAGE(forms, "counts \"" << word << "\"");
            }
        }
    }
    CHECK(checked > 300);
    // Punctuation is not doubled where a filled-in text ends a sentence itself.
    CHECK(format("Kan niet indelen: {}. Het concept is bewaard.", {"geen plaats meer."}) ==
          "Kan niet indelen: geen plaats meer. Het concept is bewaard.");
    CHECK(format("{}: {}", {"Wat is uw leeftijd?", "Beantwoord deze vraag"}) ==
          "Wat is uw leeftijd? Beantwoord deze vraag");
    CHECK(format("{}...", {"Bezig"}) == "Bezig...");
    CHECK(plural(M::FinalizeProblems, 1, "nl") ==
          "Nog 1 punt op te lossen voordat u kunt afronden:");
    CHECK(plural(M::FinalizeProblems, 3, "nl") ==
          "Nog 3 punten op te lossen voordat u kunt afronden:");
    CHECK(plural(M::SyncPending, 1, "nl") == "1 record wacht op verzending");
    CHECK(plural(M::SyncPending, 2, "nl") == "2 records wachten op verzending");
    CHECK(plural(M::KioskWillClear, 1, "nl") == "Over 1 seconde worden uw antwoorden gewist.");
}
