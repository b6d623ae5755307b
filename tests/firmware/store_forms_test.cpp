// The forms and settings a device store keeps next to its records.
#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/form_session.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

Store openNew(const std::string& path, const Clock* clock = nullptr) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .clock = clock});
    REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
    return std::move(store.value());
}

std::string minimalJson() {
    return test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json");
}

// The minimal test form compiled, after replacing `from` with `to` in its JSON.
std::vector<std::uint8_t> compiled(const std::string& from = {}, const std::string& to = {}) {
    std::string json = minimalJson();
    if (!from.empty()) {
        auto at = json.find(from);
        REQUIRE(at != std::string::npos);
        json.replace(at, from.size(), to);
    }
    auto check = forms::compileFormJson(json, "valid_minimal.json");
    REQUIRE_FALSE(check.binary.empty());
    return check.binary;
}

std::vector<std::uint8_t> pilot(const std::string& name) {
    auto check =
        forms::loadFormFile(std::string(VELD_SOURCE_DIR) + "/schemas/forms/" + name + ".json");
    REQUIRE(check.ok());
    return check.binary;
}

}  // namespace

TEST_CASE("a store keeps installed forms, the same bytes again change nothing") {
    test::TempDir dir;
    ManualClock clock(1764000000000);
    Store store = openNew(dir.file("device.veld"), &clock);
    CHECK(store.forms()->empty());

    auto v1 = compiled();
    REQUIRE(store.installForm(v1));
    auto listed = store.forms();
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->at(0).formId == "valid_minimal");
    CHECK(listed->at(0).version == 1);
    CHECK(listed->at(0).pilot == "tests");
    CHECK(listed->at(0).binary == v1);
    CHECK(listed->at(0).installedUtcMs == 1764000000000);

    clock.advance(60000);
    REQUIRE(store.installForm(v1));
    listed = store.forms();
    REQUIRE(listed->size() == 1);
    CHECK(listed->at(0).installedUtcMs == 1764000000000);

    // What is installed loads as a form a session can use.
    auto loaded = forms::CompiledForm::load(store.form("valid_minimal", 1)->binary);
    REQUIRE(loaded);
    CHECK((*loaded)->id() == "valid_minimal");
}

TEST_CASE("a published form version never changes, newer versions come next to it") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    auto v1 = compiled();
    REQUIRE(store.installForm(v1));

    auto changed = compiled("\"text\": \"Datum\"", "\"text\": \"Bezoekdatum\"");
    auto refused = store.installForm(changed);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::WrongState);
    CHECK(refused.error().message.find("valid_minimal version 1") != std::string::npos);
    CHECK(store.form("valid_minimal", 1)->binary == v1);

    auto v2 = compiled("\"version\": 1", "\"version\": 2");
    REQUIRE(store.installForm(v2));
    auto listed = store.forms().value();
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].version == 2);
    CHECK(listed[0].binary == v2);
    // Drafts started on version 1 reopen with it.
    CHECK(store.form("valid_minimal", 1)->binary == v1);
    CHECK(store.form("valid_minimal", 2)->binary == v2);
    auto missing = store.form("valid_minimal", 3);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::NotFound);
    CHECK(store.form("no_such_form", 1).error().code == ErrorCode::NotFound);
    // An older version installed after a newer one does not hide the newer one.
    REQUIRE(store.installForm(compiled("\"version\": 1", "\"version\": 4")));
    REQUIRE(store.installForm(compiled("\"version\": 1", "\"version\": 3")));
    CHECK(store.forms()->at(0).version == 4);
}

TEST_CASE("forms are listed by pilot, then id") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    for (const char* name :
         {"vmbo_parent_survey", "ips_guidance", "benefit_outflow_interview", "mbo_work_transition"})
        REQUIRE(store.installForm(pilot(name)));
    REQUIRE(store.installForm(compiled()));
    std::vector<std::string> order;
    auto listed = store.forms().value();
    for (const auto& f : listed)
        order.push_back(f.pilot + "/" + f.formId);
    CHECK(order == std::vector<std::string>{
                       "ips_long_term_unemployed/ips_guidance",
                       "mbo_to_work/mbo_work_transition",
                       "tests/valid_minimal",
                       "vmbo_career_guidance/vmbo_parent_survey",
                       "ww_outflow/benefit_outflow_interview",
                   });
}

TEST_CASE("a form that is not valid is never installed") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    SUBCASE("not a form at all") {
        std::vector<std::uint8_t> junk(200, 0x5a);
        auto r = store.installForm(junk);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::InvalidArgument);
        CHECK_FALSE(store.installForm({}));
    }
    SUBCASE("a damaged binary") {
        auto binary = compiled();
        binary[4] = 'X';  // the file identifier
        CHECK(store.installForm(binary).error().code == ErrorCode::InvalidArgument);
    }
    SUBCASE("a form with errors") {
        auto broken = compiled("${age} >= 16", "${agee} >= 16");
        auto r = store.installForm(broken);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::InvalidArgument);
        CHECK(r.error().message.find("agee") != std::string::npos);
    }
    CHECK(store.forms()->empty());
}

TEST_CASE("settings are text by key, absent until set, and survive reopening") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    {
        Store store = openNew(path);
        CHECK(store.setting("ui.language").value() == std::nullopt);
        REQUIRE(store.setSetting("ui.language", "nl"));
        CHECK(store.setting("ui.language").value() == "nl");
        REQUIRE(store.setSetting("ui.language", "ar"));
        CHECK(store.setting("ui.language").value() == "ar");
        REQUIRE(store.setSetting("kiosk.form", ""));
        CHECK(store.setting("kiosk.form").value() == "");
        REQUIRE(store.clearSetting("kiosk.form"));
        CHECK(store.setting("kiosk.form").value() == std::nullopt);
        REQUIRE(store.clearSetting("never.set"));
        CHECK(store.setSetting("", "x").error().code == ErrorCode::InvalidArgument);
        CHECK(store.setting("").error().code == ErrorCode::InvalidArgument);

        // Another program on the same file sees the change at once.
        auto other = Store::open(path);
        REQUIRE(other);
        CHECK(other->setting("ui.language").value() == "ar");
    }
    auto again = Store::open(path);
    REQUIRE(again);
    CHECK(again->setting("ui.language").value() == "ar");
}

TEST_CASE("settings and forms written in a batch are undone with it") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    {
        auto batch = store.beginBatch();
        REQUIRE(batch);
        REQUIRE(store.setSetting("a", "1"));
        REQUIRE(store.installForm(compiled()));
        CHECK(store.setting("a").value() == "1");
    }
    CHECK(store.setting("a").value() == std::nullopt);
    CHECK(store.forms()->empty());
}

TEST_CASE("a read-only store reads forms and settings but refuses to change them") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    {
        Store store = openNew(path);
        REQUIRE(store.installForm(compiled()));
        REQUIRE(store.setSetting("pseudonym.key", "demo:00"));
    }
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadOnly});
    REQUIRE(store);
    CHECK(store->forms()->size() == 1);
    CHECK(store->form("valid_minimal", 1));
    CHECK(store->setting("pseudonym.key").value() == "demo:00");
    CHECK(store->installForm(compiled("\"version\": 1", "\"version\": 2")).error().code ==
          ErrorCode::ReadOnly);
    CHECK(store->setSetting("a", "1").error().code == ErrorCode::ReadOnly);
    CHECK(store->clearSetting("pseudonym.key").error().code == ErrorCode::ReadOnly);
}
