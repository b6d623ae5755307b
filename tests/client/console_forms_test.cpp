// The console's Forms tab, headless, against a real collector: staff see the published forms
// with their versions, check a form file (its problems listed with their lines; Publish stays
// disabled while there are errors), publish it through the admin API, and learn why the
// collector refuses other content under a published version.
#include <chrono>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "console/console.hpp"
#include "support/sync_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using veld::client::testing::ConsoleDriver;

namespace {

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string source(const std::string& path) {
    return std::string(VELD_SOURCE_DIR) + "/" + path;
}

bool published(const test::CollectorProcess& collector, const std::string& id) {
    auto forms = collector.open()->publishedForms();
    REQUIRE(forms);
    for (const auto& f : *forms) {
        if (f.formId == id) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("console: staff check a form file, see its problems, and publish it once it is right") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    REQUIRE(test::veldctl({"collector", "publish", collector.storePath(),
                           source("schemas/forms/ips_guidance.json")})
                .exitCode == 0);
    collector.start();
    sync::Connection connection;
    connection.collector = collector.url();
    connection.credential = test::addAdmin(collector, "anna");
    ConsoleDriver ui(connection);
    ui.nowMs = wallMs();
    ui.settle();
    REQUIRE(ui.console().signedIn());

    // The published forms, with their versions and titles.
    ui.click("tab.forms");
    CHECK(ui.item("forms.ips_guidance.versions")->text == "1");
    CHECK(ui.item("forms.ips_guidance.title")->text.find("IPS") != std::string::npos);
    CHECK_FALSE(ui.has("forms.publish"));  // nothing checked yet

    // A file with two errors and a warning: each on its line, and Publish disabled.
    ui.type("forms.path", source("tests/xlsform/needs_fixing.json"));
    ui.click("forms.check");
    ui.settle();
    CHECK(ui.item("forms.summary")->text == "needs_fixing v2024031502: 2 fouten, 1 waarschuwing");
    CHECK(ui.item("forms.problem.0.where")->text == "regel 431");
    CHECK(ui.item("forms.problem.0.kind")->text == "error");
    CHECK(ui.item("forms.problem.0.message")->text.find("used by two items") != std::string::npos);
    CHECK(ui.item("forms.problem.1.message")->text.find("town_list") != std::string::npos);
    CHECK(ui.item("forms.problem.2.kind")->text == "warning");
    REQUIRE(ui.has("forms.publish"));
    CHECK_FALSE(ui.item("forms.publish")->enabled);
    CHECK(ui.showsText("Los eerst de fouten op"));

    // Another path: the old check no longer counts.
    ui.clearText("forms.path");
    ui.type("forms.path", source("schemas/forms/ips_intake.json"));
    ui.frame();
    CHECK_FALSE(ui.has("forms.summary"));
    CHECK_FALSE(ui.has("forms.publish"));

    // A good file: no problems, published with one click, and listed.
    ui.click("forms.check");
    ui.settle();
    CHECK(ui.item("forms.summary")->text == "ips_intake v1: 0 fouten, 0 waarschuwingen");
    CHECK_FALSE(ui.has("forms.problem.0.where"));
    REQUIRE(ui.item("forms.publish")->enabled);
    ui.click("forms.publish");
    ui.settle();
    CHECK(ui.item("toast")->text == "ips_intake versie 1 is gepubliceerd");
    {
        // The message has a strip of its own: it covers none of the console's controls.
        const client::ui::Recorded* toast = ui.item("toast");
        int controls = 0;
        for (const std::string& id : ui.ids("")) {
            const client::ui::Recorded* other = ui.item(id);
            if (id == "toast" || other->max.y <= 0) continue;
            ++controls;
            CAPTURE(id);
            CHECK_FALSE((toast->min.x < other->max.x && other->min.x < toast->max.x &&
                         toast->min.y < other->max.y && other->min.y < toast->max.y));
        }
        CHECK(controls > 5);
    }
    CHECK(published(collector, "ips_intake"));
    CHECK(ui.item("forms.ips_intake.versions")->text == "1");

    // The same again is no change.
    ui.click("forms.publish");
    ui.settle();
    CHECK(ui.item("toast")->text ==
          "ips_intake versie 1 was al gepubliceerd met precies deze inhoud");

    // Changed content under the published version: checked fine here, refused by the collector.
    std::string json = test::readFile(source("schemas/forms/ips_intake.json"));
    const auto at = json.find("\"text\": \"");
    REQUIRE(at != std::string::npos);
    json.insert(at + 9, "Gewijzigd: ");
    const std::string changed = dir.file("ips_intake.json");
    std::ofstream(changed) << json;
    ui.clearText("forms.path");
    ui.type("forms.path", changed);
    ui.click("forms.check");
    ui.settle();
    REQUIRE(ui.item("forms.publish")->enabled);
    ui.click("forms.publish");
    ui.settle();
    REQUIRE(ui.has("forms.error"));
    CHECK(ui.item("forms.error")->text.find("Niet gepubliceerd") == 0);
    CHECK(ui.item("forms.error")->text.find("raise the version") != std::string::npos);
    auto forms = collector.open()->publishedForms();
    REQUIRE(forms);
    CHECK(forms->size() == 2);

    // A file that does not exist says so.
    ui.clearText("forms.path");
    ui.type("forms.path", dir.file("missing.json"));
    ui.click("forms.check");
    ui.settle();
    CHECK(ui.item("forms.summary")->text == "1 fout, 0 waarschuwingen");
    CHECK(ui.item("forms.problem.0.message")->text == "cannot read the file");
    CHECK_FALSE(ui.item("forms.publish")->enabled);
}
