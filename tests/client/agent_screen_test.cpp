// The Sync screen's "Achtergrondsynchronisatie" block shows what a real veld-agent process wrote
// into the store, as `veldctl agent status` prints it, and tells an agent that died from one
// that runs.
#include <chrono>
#include <csignal>
#include <thread>

#include <doctest/doctest.h>

#include <veld/store.hpp>
#include <veld/sync/agent_state.hpp>

#include "support/sync_support.hpp"
#include "support/test_support.hpp"
#include "ui.hpp"
#include "ui_driver.hpp"

using namespace veld;
using veld::client::testing::UiDriver;

namespace {

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A time as the screen shows it: "10:42" on the day it is now, else with its date.
std::string shown(std::int64_t ms, std::int64_t now) {
    const std::string full = client::ui::localDateTime(ms);
    return full.substr(0, 10) == client::ui::localDateTime(now).substr(0, 10) ? full.substr(11)
                                                                              : full;
}

std::optional<sync::AgentState> agentState(const std::string& path) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadOnly});
    if (!store) return std::nullopt;
    auto state = sync::loadAgentState(store.value());
    return state ? state.value() : std::nullopt;
}

}  // namespace

TEST_CASE("client: the Sync screen shows veld-agent's last round and next, and when it died") {
    test::TempDir dir;
    const std::string path = dir.file("device.veld");
    // Records finalized while the client is closed: a demo store made by veldctl.
    const auto demo = test::veldctl({"store", "demo", path, "--records", "12"});
    REQUIRE_MESSAGE(demo.exitCode == 0, demo.err);

    {
        UiDriver ui(path);
        ui.nowMs = wallMs();
        ui.click("nav.sync");
        ui.settle();
        CHECK(ui.item("sync.agent")->text == "veld-agent heeft op dit apparaat nog nooit gedraaid");
    }

    // Enrolled after the client closed (so that its own uploader sent nothing).
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    {
        auto store = test::openDevice(path);
        test::enrolDevice(store, collector);
    }
    test::ChildProcess agent({test::binary("veld-agent"), "--store", path, "--interval", "300"},
                             {{}, dir.file("agent.log")});
    bool ran = false;
    for (int i = 0; i < 300 && !ran; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const auto s = agentState(path);
        ran = s && s->pid == agent.pid() && s->lastResult == "done";
    }
    REQUIRE_MESSAGE(ran, test::readFile(dir.file("agent.log")));
    const auto state = agentState(path).value();
    CHECK(state.recordsSent > 0);

    UiDriver ui(path);
    ui.nowMs = wallMs();
    ui.click("nav.sync");
    ui.settle();
    const std::string expected = "veld-agent: laatste ronde " +
                                 shown(state.lastRoundUtcMs, ui.nowMs) + ", gelukt; volgende om " +
                                 shown(state.nextRoundUtcMs, ui.nowMs);
    REQUIRE(ui.item("sync.agent"));
    CHECK(ui.item("sync.agent")->text == expected);
    CHECK(ui.showsText("Achtergrondsynchronisatie"));
    CHECK_FALSE(ui.has("sync.agent_error"));

    // veldctl agent status prints the same state.
    const auto json = test::veldctl({"agent", "status", path, "--json"});
    CHECK(json.exitCode == 0);
    CHECK(json.out.find("\"last_round_utc_ms\":" + std::to_string(state.lastRoundUtcMs)) !=
          std::string::npos);
    CHECK(json.out.find("\"next_round_utc_ms\":" + std::to_string(state.nextRoundUtcMs)) !=
          std::string::npos);
    CHECK(json.out.find("\"status\":\"running\"") != std::string::npos);

    // The agent dies (SIGKILL: it writes nothing more). Within seconds the screen says so.
    agent.kill(SIGKILL);
    agent.wait();
    ui.nowMs = wallMs() + 3 * 60'000;  // three minutes later
    ui.advance(3000);
    ui.settle();
    ui.frame();
    CHECK(ui.item("sync.agent")->text ==
          "veld-agent draait niet meer: al 3 minuten niets van gehoord (laatste ronde " +
              shown(state.lastRoundUtcMs, ui.nowMs) + ", gelukt)");
    const auto dead = test::veldctl({"agent", "status", path});
    CHECK(dead.exitCode == 1);
    CHECK(dead.out.find("not running (pid " + std::to_string(state.pid)) != std::string::npos);
}
