// Enrolling from a provisioning file on the Settings screen: the file is found on a (fake) USB
// stick, chosen, and the device enrols with a real collector on loopback.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <doctest/doctest.h>

#include <veld/store.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"
#include "support/test_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using namespace veld::client;
using veld::client::testing::MediaRoots;
using veld::client::testing::UiDriver;
using veld::client::testing::wallMs;

namespace {

std::string newStore(const std::string& path) {
    auto store = test::openDevice(path);
    test::addFinalized(store, 2);
    return path;
}

}  // namespace

TEST_CASE(
    "client: a provisioning file on a USB stick is chosen in Settings and enrols the device") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    std::filesystem::create_directories(dir.file("media/VELD-STICK/veld"));
    const std::string file = dir.file("media/VELD-STICK/veld/tablet-4.veldenrol");
    const auto made = test::veldctl({"collector", "provision", collector.storePath(), "--label",
                                     "tablet 4", "--url", collector.url(), "-o", file});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    MediaRoots roots(dir.file("media"));

    std::filesystem::create_directories(dir.file("a"));
    const std::string path = newStore(dir.file("a/device.veld"));
    {
        UiDriver ui(path);
        ui.nowMs = wallMs();
        ui.settle();
        ui.click("nav.settings");
        ui.settle();
        // The stick's file is listed (and, being the only one, already chosen).
        REQUIRE(ui.has("settings.enrolfile.found.0"));
        CHECK(ui.item("settings.enrolfile.found.0")->text == file);
        CHECK_FALSE(ui.has("settings.enrolfile.found.1"));
        ui.click("settings.enrolfile.found.0");
        CHECK(ui.item("settings.enrolfile.path")->text == file);
        ui.click("settings.enrolfile.enrol");
        ui.settle();
        CHECK(ui.showsText("Gekoppeld als tablet 4 met " + collector.url()));
        CHECK(ui.showsText("Aangemeld bij " + collector.url()));
        CHECK(ui.app().settings.enrolled);
        // Enrolled: the ways to enrol are no longer offered.
        CHECK_FALSE(ui.has("settings.enrolfile.enrol"));

        // The uploader sends the device's records in the background.
        bool sent = false;
        for (int i = 0; i < 400 && !sent; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
            ui.frame();
            ui.settle();
            sent = collector.open()->stats()->records == 2;
        }
        CHECK(sent);
    }
    auto store = test::openDevice(path);
    auto connection = sync::loadConnection(store);
    REQUIRE(connection);
    CHECK(connection->collector == collector.url());

    // The same file on another device: refused with the collector's reason; not enrolled.
    std::filesystem::create_directories(dir.file("b"));
    const std::string other = newStore(dir.file("b/device.veld"));
    {
        UiDriver ui(other, "en");
        ui.nowMs = wallMs();
        ui.settle();
        ui.click("nav.settings");
        ui.settle();
        ui.click("settings.enrolfile.enrol");  // the only file was chosen for us
        ui.settle();
        CHECK(ui.showsText("Enrolment failed; nothing was changed"));
        CHECK(ui.showsText("used already"));
        CHECK_FALSE(ui.app().settings.enrolled);
        CHECK(ui.has("settings.enrolfile.enrol"));
    }
}

TEST_CASE("client: an expired provisioning file, or none at all, is explained in Settings") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string file = dir.file("given.veldenrol");
    REQUIRE(test::veldctl({"collector", "provision", collector.storePath(), "--label", "x", "--url",
                           collector.url(), "--valid", "1", "-o", file})
                .exitCode == 0);
    MediaRoots roots(dir.file("no-media"));
    const std::string path = newStore(dir.file("device.veld"));
    UiDriver ui(path);
    ui.nowMs = wallMs() + 2LL * 24 * 3600 * 1000;  // two days on: the file has expired
    ui.settle();
    ui.click("nav.settings");
    ui.settle();
    CHECK(ui.showsText("Geen koppelbestand (.veldenrol) gevonden"));
    CHECK_FALSE(ui.has("settings.enrolfile.found.0"));
    ui.type("settings.enrolfile.path", file);
    ui.click("settings.enrolfile.enrol");
    ui.settle();
    CHECK(ui.showsText("Koppelen is mislukt; er is niets veranderd"));
    CHECK(ui.showsText("expired"));
    CHECK_FALSE(ui.app().settings.enrolled);
    // Nothing reached the collector: no device, and the code is still unused.
    CHECK(collector.open()->devices()->empty());
}
