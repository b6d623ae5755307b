// Sync by USB stick in the client: a device enrolled with an offline provisioning file writes
// its bundle onto a (fake) stick with "Naar USB-stick", central staff import it with veldctl, and
// "Van USB-stick" reads the reply in: the device is enrolled, its records acknowledged, and a
// reply read in twice changes nothing.
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <doctest/doctest.h>

#include <veld/store.hpp>
#include <veld/sync/bundle.hpp>

#include "support/sync_support.hpp"
#include "support/test_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using namespace veld::client;
using veld::client::testing::MediaRoots;
using veld::client::testing::UiDriver;
using veld::client::testing::wallMs;

namespace {

std::vector<std::string> filesIn(const std::string& folder, const std::string& extension) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(folder))
        if (e.path().extension() == extension) out.push_back(e.path().string());
    return out;
}

}  // namespace

TEST_CASE("client: a never-online device syncs with Naar USB-stick and Van USB-stick") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));  // never started
    test::publishPilotForms(collector);
    const std::string stick = dir.file("media/SCHOOL-STICK");
    std::filesystem::create_directories(stick);
    const auto made = test::veldctl({"collector", "provision", collector.storePath(), "--label",
                                     "school-7", "--offline", "-o", stick + "/school-7.veldenrol"});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    MediaRoots roots(dir.file("media"));
    const std::string path = dir.file("device.veld");
    {
        auto store = test::openDevice(path);
        test::addFinalized(store, 3);
    }

    UiDriver ui(path);
    ui.nowMs = wallMs();
    ui.settle();
    ui.click("nav.settings");
    ui.settle();
    ui.click("settings.enrolfile.enrol");  // the stick's only file was chosen
    ui.settle();
    CHECK(ui.showsText("Gekoppeld als school-7"));
    CHECK(ui.showsText("voor verzenden via USB-stick"));

    ui.click("nav.sync");
    ui.settle();
    CHECK(ui.showsText("Via USB-stick"));
    CHECK_FALSE(ui.has("sync.usb.medium.0"));  // one stick: nothing to choose
    // The screen says how this device sends, and offers no network round it cannot make.
    CHECK(ui.showsText("Dit apparaat verzendt via USB-stick; er is geen serveradres."));
    CHECK(ui.showsText(
        "3 records wachten op de volgende USB-stick: kies hieronder 'Naar USB-stick'"));
    CHECK_FALSE(ui.has("sync.now"));
    CHECK_FALSE(ui.app().uploaderRuns());
    CHECK(ui.showsText("Laatst gelukt: nog nooit"));
    ui.click("sync.usb.export");
    ui.settle();
    CHECK(ui.showsText("Bundel 1 staat op de stick als " + stick + "/veld-school-7-1.veldbundle"));
    CHECK(ui.showsText("met 3 records"));
    CHECK(ui.showsText("De aanmelding van dit apparaat gaat mee."));

    // Before the reply is there, "Van USB-stick" says so.
    ui.click("sync.usb.import");
    ui.settle();
    CHECK(ui.showsText("Geen antwoord voor dit apparaat op de USB-stick gevonden."));

    const auto imported = test::veldctl(
        {"collector", "import", collector.storePath(), stick + "/veld-school-7-1.veldbundle"});
    REQUIRE_MESSAGE(imported.exitCode == 0, imported.err);
    REQUIRE(filesIn(stick, ".veldreply").size() == 1);
    CHECK(collector.open()->stats()->records == 3);

    ui.click("sync.usb.import");
    ui.settle();
    CHECK(ui.showsText("Antwoord op bundel 1 ingelezen: 3 records bevestigd"));
    CHECK(ui.showsText("Dit apparaat is nu aangemeld bij de centrale server."));
    CHECK(ui.app().settings.enrolled);
    CHECK(ui.app().outbox.pending == 0);
    CHECK(ui.showsText("Alles is verzonden"));
    CHECK_FALSE(ui.showsText("Laatst gelukt: nog nooit"));
    CHECK_FALSE(ui.has("sync.now"));
    CHECK_FALSE(ui.app().uploaderRuns());

    ui.click("sync.usb.import");
    ui.settle();
    CHECK(ui.showsText("Dit antwoord (op bundel 1) was al ingelezen; er is niets veranderd."));

    // A damaged copy of a newer reply is passed over; a reply cut short is explained when it is
    // the only one left.
    const auto reply = filesIn(stick, ".veldreply").front();
    auto bytes = sync::bundle::readFile(reply).value();
    std::filesystem::remove(reply);
    bytes[bytes.size() / 2] ^= 0x01;
    REQUIRE(sync::bundle::writeFile(reply, bytes));
    ui.click("sync.usb.import");
    ui.settle();
    CHECK(ui.showsText("Geen antwoord voor dit apparaat op de USB-stick gevonden."));
}

TEST_CASE("client: with two sticks the field worker chooses one, and English is offered") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    std::filesystem::create_directories(dir.file("media/A"));
    std::filesystem::create_directories(dir.file("media/B"));
    MediaRoots roots(dir.file("media"));
    const std::string path = dir.file("device.veld");
    { auto store = test::openDevice(path); }
    UiDriver ui(path, "en");
    ui.nowMs = wallMs();
    ui.settle();
    ui.click("nav.sync");
    ui.settle();
    REQUIRE(ui.has("sync.usb.medium.0"));
    REQUIRE(ui.has("sync.usb.medium.1"));
    ui.click("sync.usb.medium.1");
    ui.click("sync.usb.export");
    ui.settle();
    // Not enrolled at all: refused with what to do.
    CHECK(ui.showsText("this device is not enrolled yet"));
    CHECK(filesIn(dir.file("media/B"), ".veldbundle").empty());
}
