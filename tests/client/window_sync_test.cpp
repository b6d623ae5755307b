// Real-window tests against a collector: the console beside a device, a record sent back by staff,
// and a device that syncs by USB stick. Pictures go to the build tree (VELD_SCREENSHOT_DIR).
#include <doctest/doctest.h>

#include "window_support.hpp"

using namespace veld::test::window;

TEST_CASE("veld-console shows a conflict side by side in a real window, against a collector") {
    // A collector with the pilots' forms, one demo device's records, and a conflict made by a
    // second demo device; a staff member's credential in a file only the user can read.
    veld::test::CollectorProcess collector(tempDir().file("console-collector.db"));
    veld::test::publishPilotForms(collector);
    collector.start();
    const std::string device = demoStore("console-device");
    const std::string ctl = veld::test::binary("veldctl");
    REQUIRE(run({ctl, "enrol", device, collector.url(), collector.enrolCode()}).exitCode == 0);
    REQUIRE(run({ctl, "sync", device}).exitCode == 0);
    const Run conflict = run({ctl, "collector", "demo-conflict", collector.storePath()});
    REQUIRE_MESSAGE(conflict.exitCode == 0, describe(conflict));
    CHECK(collector.open()->conflicts()->size() == 1);
    const Run staff = run({ctl, "collector", "admin-add", collector.storePath(), "anna"});
    REQUIRE(staff.exitCode == 0);
    const std::string credentialFile = tempDir().file("anna.credential");
    std::ofstream(credentialFile) << staff.out;
    const std::string credential = staff.out.substr(0, staff.out.find('\n'));

    const std::string png = screenshotDir() + "/console-conflict.png";
    fs::remove(png);
    const Run r = underXvfb({veld::test::binary("veld-console"), "--collector", collector.url(),
                             "--credential-file", credentialFile, "--show", "conflicts:0",
                             "--screenshot", png});
    checkClean(r);
    checkNotBlank(png);
    // The credential never reaches the program's output.
    CHECK(r.out.find(credential) == std::string::npos);
    CHECK(r.err.find(credential) == std::string::npos);
}

TEST_CASE("a record sent back by staff: the start screen, the record, and the console's review") {
    // A demo device's records at a collector; staff send one back with a comment.
    veld::test::CollectorProcess collector(tempDir().file("corrections-collector.db"));
    veld::test::publishPilotForms(collector);
    collector.start();
    const std::string device = demoStore("corrections-device");
    const std::string ctl = veld::test::binary("veldctl");
    REQUIRE(run({ctl, "enrol", device, collector.url(), collector.enrolCode()}).exitCode == 0);
    REQUIRE(run({ctl, "sync", device}).exitCode == 0);
    std::string recordId;
    {
        auto store = collector.open();
        const auto ids = store->recordIds().value();
        for (const auto& id : ids) {
            auto current = store->current(id).value();
            if (!current || current->formId != "ips_guidance") continue;
            auto header = veld::inspectRecord(current->body);
            if (header && !header->sealed) recordId = id.toString();
        }
    }
    REQUIRE_FALSE(recordId.empty());
    const Run review =
        run({ctl, "collector", "review", collector.storePath(), recordId, "has-issues", "--comment",
             "Het aantal uren klopt niet met het verslag: graag nakijken."});
    REQUIRE_MESSAGE(review.exitCode == 0, describe(review));
    REQUIRE(run({ctl, "sync", device}).exitCode == 0);

    const Shot home = screenshot(device, "home", "corrections-home");
    checkClean(home.run);
    checkNotBlank(home.png);
    const Shot record = screenshot(device, "record:" + recordId, "corrections-record");
    checkClean(record.run);
    checkNotBlank(record.png);

    // The device corrects it (as the client's "Corrigeren" and finalize do) and sends it.
    {
        auto store = veld::test::openDevice(device);
        const auto id = veld::Uuid::parse(recordId).value();
        REQUIRE(store.reopenForCorrection(id));
        auto draft = store.get(id);
        REQUIRE(draft);
        REQUIRE(store.finalize(id, draft->record.content, draft->meta.summary));
    }
    REQUIRE(run({ctl, "sync", device}).exitCode == 0);
    const Run staff = run({ctl, "collector", "admin-add", collector.storePath(), "anna"});
    REQUIRE(staff.exitCode == 0);
    const std::string credentialFile = tempDir().file("corrections-anna.credential");
    std::ofstream(credentialFile) << staff.out;
    const std::string png = screenshotDir() + "/console-review-corrected.png";
    fs::remove(png);
    const Run r = underXvfb({veld::test::binary("veld-console"), "--collector", collector.url(),
                             "--credential-file", credentialFile, "--show", "review:corrected:0",
                             "--screenshot", png});
    checkClean(r);
    checkNotBlank(png);
}

TEST_CASE("a device that syncs by USB stick only: its Sync screen in a real window") {
    // Enrolled with an offline provisioning file; a stick is in; nothing went to the collector.
    veld::test::CollectorProcess collector(tempDir().file("usb-collector.db"));  // not started yet
    veld::test::publishPilotForms(collector);
    const std::string ctl = veld::test::binary("veldctl");
    const std::string enrolFile = tempDir().file("school-7.veldenrol");
    const Run made = run({ctl, "collector", "provision", collector.storePath(), "--label",
                          "school-7", "--offline", "-o", enrolFile});
    REQUIRE_MESSAGE(made.exitCode == 0, describe(made));
    const std::string device = demoStore("usb-device");
    const Run enrolled = run({ctl, "enrol", device, "--file", enrolFile});
    REQUIRE_MESSAGE(enrolled.exitCode == 0, describe(enrolled));
    const std::string media = tempDir().file("usb-media");
    fs::create_directories(media + "/SCHOOL-STICK");
    ::setenv("VELD_MEDIA_ROOTS", media.c_str(), 1);
    const Shot sync = screenshot(device, "sync", "sync-usb");
    ::unsetenv("VELD_MEDIA_ROOTS");
    checkClean(sync.run);
    checkNotBlank(sync.png);
    // What the screen said: how this device sends, and no network round offered.
    const std::string widgets = veld::test::readFile(sync.png + ".widgets");
    CHECK(widgets.find("sync.usb.export") != std::string::npos);
    CHECK(widgets.find("sync.now") == std::string::npos);
    fs::remove(sync.png + ".widgets");

    // The stick goes to central staff and back; the console's device list shows the bundle.
    const std::string bundle = media + "/SCHOOL-STICK/school-7-1.veldbundle";
    const Run exported = run({ctl, "bundle", "export", device, "--out", bundle});
    REQUIRE_MESSAGE(exported.exitCode == 0, describe(exported));
    const Run imported = run({ctl, "collector", "import", collector.storePath(), bundle});
    REQUIRE_MESSAGE(imported.exitCode == 0, describe(imported));
    const Run replied =
        run({ctl, "bundle", "import", device, media + "/SCHOOL-STICK/school-7-1.veldreply"});
    REQUIRE_MESSAGE(replied.exitCode == 0, describe(replied));
    collector.start();
    const Run staff = run({ctl, "collector", "admin-add", collector.storePath(), "anna"});
    REQUIRE(staff.exitCode == 0);
    const std::string credentialFile = tempDir().file("usb-anna.credential");
    std::ofstream(credentialFile) << staff.out;
    const std::string png = screenshotDir() + "/console-devices-usb.png";
    fs::remove(png);
    const Run console =
        underXvfb({veld::test::binary("veld-console"), "--collector", collector.url(),
                   "--credential-file", credentialFile, "--show", "devices", "--screenshot", png});
    checkClean(console);
    checkNotBlank(png);
}
