// The Sync screen and the uploader as a field worker meets them: a record finalized while the
// collector is reachable goes out within seconds (not at the next periodic round), the screen
// says one thing about what waits (never "everything has been sent" next to a record that
// waits), and without a network the uploader keeps its backoff however many records are
// finalized.
#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include <veld/device_identity.hpp>
#include <veld/hex.hpp>
#include <veld/signing.hpp>
#include <veld/store.hpp>
#include <veld/sync/uploader.hpp>

#include "app.hpp"
#include "form_filling.hpp"
#include "support/sync_support.hpp"
#include "support/test_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using veld::client::testing::UiDriver;

namespace {

constexpr const char* kForm = "employer_recruitment_nudges";  // not sealed

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A device store with the pilot forms, enrolled with `collector`.
std::string enrolledStore(const test::TempDir& dir, const test::CollectorProcess& collector) {
    const std::string path = client::testing::pilotFormsStore(dir);
    Store store = test::openDevice(path);
    test::enrolDevice(store, collector);
    return path;
}

std::string text(UiDriver& ui, std::string_view id) {
    const auto* item = ui.item(id);
    return item ? item->text : std::string("(not on screen)");
}

// What the screen says must hold together: "everything has been sent" only with nothing waiting,
// a count of what waits only with something waiting (or a round under way).
void checkOneState(UiDriver& ui) {
    const std::string state = text(ui, "sync.state");
    const std::string waiting = text(ui, "sync.waiting");
    CAPTURE(state);
    CAPTURE(waiting);
    if (waiting != "0") {
        CHECK(state.find("Alles is verzonden") == std::string::npos);
        CHECK(state.find("nog niets") == std::string::npos);
        // What waits is counted, unless a round is under way right now.
        const bool underWay = state.find("Bezig met verzenden") != std::string::npos ||
                              state.find("ophalen") != std::string::npos;
        CHECK((underWay || state.find(waiting + " record") != std::string::npos));
    } else {
        CHECK(state.find("wacht") == std::string::npos);
    }
}

// Draws frames (real time passing) until `done` or `seconds` have passed; whether it came.
template <class Done>
bool framesUntil(UiDriver& ui, double seconds, Done done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
        ui.nowMs = wallMs();
        ui.frame();
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

}  // namespace

TEST_CASE(
    "sync: a record finalized with the collector reachable arrives within seconds, and "
    "the Sync screen says one consistent thing before and after") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = enrolledStore(dir, collector);
    auto held = collector.open();
    const auto recordsAtCollector = [&] {
        auto stats = held->stats();
        REQUIRE(stats.ok());
        return stats->records;
    };

    UiDriver ui(path);
    // The uploader's first round, at start: nothing to send yet.
    REQUIRE(framesUntil(
        ui, 20, [&] { return ui.app().syncProgress().state == sync::Progress::State::Done; }));
    ui.click("nav.sync");
    ui.settle();
    CHECK(text(ui, "sync.state") == "Er is nog niets om te verzenden");
    CHECK(text(ui, "sync.waiting") == "0");

    ui.click("nav.home");
    ui.click(std::string("home.new.") + kForm);
    client::testing::fillAndFinalize(ui, "magazijnmedewerker");
    const auto finalized = std::chrono::steady_clock::now();
    ui.click("nav.sync");
    // The record goes out at once: the next periodic round would be two minutes away.
    bool arrived = false;
    const bool shown = framesUntil(ui, 15, [&] {
        checkOneState(ui);
        if (!arrived) arrived = recordsAtCollector() == 1;
        return arrived && text(ui, "sync.waiting") == "0";
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - finalized).count();
    CHECK(arrived);
    CHECK(shown);
    CHECK(seconds < 5.0);
    MESSAGE("finalize to sent on screen: " << seconds << " s");
    ui.settle();
    CHECK(text(ui, "sync.state") == "Alles is verzonden");
    CHECK(text(ui, "sync.progress") == "1 van 1 record verzonden");
}

TEST_CASE(
    "sync: without the collector a finalized record waits, the screen says why, and it "
    "goes once the collector is back") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = enrolledStore(dir, collector);
    collector.kill(SIGKILL);
    collector.wait();

    UiDriver ui(path);
    REQUIRE(framesUntil(
        ui, 20, [&] { return ui.app().syncProgress().state == sync::Progress::State::Waiting; }));
    ui.click(std::string("home.new.") + kForm);
    client::testing::fillAndFinalize(ui, "heftruckchauffeur");
    ui.click("nav.sync");
    ui.settle();
    CHECK(text(ui, "sync.waiting") == "1");
    // Between two attempts the screen says what waits and why, in one voice.
    REQUIRE(framesUntil(
        ui, 20, [&] { return ui.app().syncProgress().state == sync::Progress::State::Waiting; }));
    checkOneState(ui);
    CHECK(text(ui, "sync.state") == "1 record wacht op verzending: de server is niet bereikbaar");
    CHECK(ui.has("sync.error"));
    CHECK(text(ui, "sync.progress").rfind("0 van 1 verzonden; 1 record wacht nog (", 0) == 0);

    collector.restart();
    CHECK(framesUntil(ui, 60, [&] {
        checkOneState(ui);
        return text(ui, "sync.waiting") == "0";
    }));
    ui.settle();
    CHECK(text(ui, "sync.state") == "Alles is verzonden");
    CHECK_FALSE(ui.has("sync.error"));
}

TEST_CASE(
    "sync: a collector key other than the one kept, or a receipt that does not verify, is told "
    "in the field worker's words and nothing leaves the device") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");  // no forms: the records need none
    {
        Store store = test::openDevice(path);
        test::enrolDevice(store, collector);
    }
    bool withRecords = false;
    SUBCASE("nothing to send: the pull meets the other key") {
        withRecords = false;
    }
    SUBCASE("records to send: the push's receipt does not verify") {
        withRecords = true;
    }
    {
        Store store = test::openDevice(path);
        // The device keeps another key than the collector's: as if it talked to another one.
        REQUIRE(store.setSetting(identity::kCollectorKeySetting,
                                 toHex(signing::newKeyPair().publicKey())));
        if (withRecords) test::addFinalized(store, 2);
    }
    UiDriver ui(path);
    REQUIRE(framesUntil(
        ui, 20, [&] { return ui.app().syncProgress().state == sync::Progress::State::Waiting; }));
    ui.click("nav.sync");
    ui.settle();
    if (withRecords) {
        // The push's receipt is checked first, with the wrong key.
        CHECK(text(ui, "sync.error").rfind("Het ontvangstbewijs van de server klopt niet", 0) == 0);
        CHECK(text(ui, "sync.waiting") == "2");
    } else {
        CHECK(text(ui, "sync.error").rfind("De server antwoordde met een andere sleutel", 0) == 0);
    }
    // The technical words follow, for central staff.
    CHECK(ui.showsText("Details: "));
    if (withRecords) {
        // The records stay in the outbox, and the refused receipt is kept with why.
        Store store = test::openDevice(path);
        CHECK(store.outboxState()->pending == 2);
        const auto kept = store.receipts();
        REQUIRE(kept);
        REQUIRE_FALSE(kept->empty());
        CHECK(kept->back().status == ReceiptStatus::Refused);
    }
}

TEST_CASE(
    "uploader: a nudge starts a round at once after a success, but leaves the backoff "
    "after a failure alone") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    {
        Store store = test::openDevice(path);
        test::enrolDevice(store, collector);
    }
    std::atomic<int> rounds{0};
    std::atomic<int> failed{0};
    std::atomic<int> changes{0};
    // Two minutes between rounds after a success, as the client has; backoff from 1 s up.
    sync::Uploader uploader(path, {}, std::chrono::minutes(2), std::chrono::minutes(5));
    uploader.onRound([&](Store*, const sync::Round& round, std::chrono::milliseconds) {
        ++rounds;
        if (round.outcome == sync::Round::Outcome::Failed) ++failed;
    });
    uploader.onChange([&] { ++changes; });
    uploader.start();
    const auto waitFor = [](auto done, double seconds) {
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < until) {
            if (done()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    };
    REQUIRE(waitFor([&] { return rounds == 1; }, 20));
    CHECK(changes > 0);  // a window showing progress would have been woken
    {
        Store store = test::openDevice(path);
        test::addFinalized(store, 1);
    }
    const auto nudged = std::chrono::steady_clock::now();
    uploader.nudge();
    REQUIRE(waitFor([&] { return rounds == 2; }, 10));
    CHECK(std::chrono::steady_clock::now() - nudged < std::chrono::seconds(5));
    {
        Store store = test::openDevice(path);
        CHECK(store.outboxState()->pending == 0);
    }

    // No collector: rounds fail and back off, 1 s, 2 s, 4 s... (with jitter down to half).
    collector.kill(SIGKILL);
    collector.wait();
    uploader.wake();
    REQUIRE(waitFor([&] { return failed == 3; }, 30));
    // The next attempt is at least 2 s away now. Finalizing many records does not make it sooner.
    const int before = rounds;
    for (int i = 0; i < 10; ++i) {
        uploader.nudge();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(rounds - before <= 1);
    uploader.stop();
}
