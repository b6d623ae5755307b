// veld-agent, the background sync program, as a real process against a real veld-collector on
// loopback: records finalized while the client is closed arrive, a collector that comes up late
// is reached, SIGTERM stops it at once, its state is what `veldctl agent status` prints, and only
// one program syncs a store at a time (the sync lock) without losing or doubling a record.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <veld/sync/agent_state.hpp>
#include <veld/sync/sync_lock.hpp>
#include <veld/sync/uploader.hpp>

#include "network_watch.hpp"
#include "support/sync_support.hpp"

using namespace veld;

namespace {

template <class F>
bool waitUntil(F done, int timeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
}

// A veld-agent process on a store; its stderr goes to a file next to the store.
class Agent {
  public:
    Agent(const std::string& store, const std::string& interval,
          const std::vector<std::string>& extra = {})
        : m_log(store + ".agent.log") {
        std::vector<std::string> argv{test::binary("veld-agent"), "--store", store, "--interval",
                                      interval};
        argv.insert(argv.end(), extra.begin(), extra.end());
        m_process = std::make_unique<test::ChildProcess>(argv, test::ChildOptions{{}, m_log});
    }
    [[nodiscard]] std::string log() const {
        try {
            return test::readFile(m_log);
        } catch (const std::runtime_error&) {
            return {};
        }
    }
    test::ChildProcess& process() { return *m_process; }

  private:
    std::string m_log;
    std::unique_ptr<test::ChildProcess> m_process;
};

// The records the collector holds, each with how many revisions of it.
std::map<Uuid, std::size_t> held(const test::CollectorProcess& collector) {
    auto store = collector.open();
    std::map<Uuid, std::size_t> out;
    for (const auto& [id, n] : test::collectorRevisionCounts(*store))
        out[id] = n;
    return out;
}

std::optional<sync::AgentState> agentState(const std::string& path) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadOnly});
    if (!store) return std::nullopt;
    auto state = sync::loadAgentState(store.value());
    return state ? state.value() : std::nullopt;
}

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

// A number field of `veldctl agent status --json`.
std::int64_t jsonNumber(const std::string& json, const std::string& key) {
    const auto at = json.find("\"" + key + "\":");
    if (at == std::string::npos) return -1;
    return std::strtoll(json.c_str() + at + key.size() + 3, nullptr, 10);
}

}  // namespace

TEST_CASE(
    "veld-agent sends what was finalized while the client was closed, tells its state, and "
    "stops on SIGTERM") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    std::vector<Uuid> ids;
    {
        auto store = test::openDevice(path);
        test::enrolDevice(store, collector);
        ids = test::addFinalized(store, 25);
    }  // the client is closed: nothing else has the store open

    Agent agent(path, "60");
    REQUIRE_MESSAGE(waitUntil([&] { return held(collector).size() == ids.size(); }, 30000),
                    agent.log());
    const auto h = held(collector);
    for (const auto& id : ids) {
        REQUIRE(h.count(id) == 1);
        CHECK(h.at(id) == 1);
    }
    REQUIRE(waitUntil(
        [&] {
            auto s = agentState(path);
            return s && s->lastRoundUtcMs > 0;
        },
        10000));
    const auto state = agentState(path).value();
    CHECK(state.pid == agent.process().pid());
    CHECK(state.lastResult == "done");
    CHECK(state.recordsSent == 25);
    CHECK(state.lastRoundRecords == 25);
    CHECK(state.lastError.empty());
    CHECK(state.stoppedUtcMs == 0);
    CHECK(state.intervalMs == 60000);
    CHECK(state.nextRoundUtcMs >= state.lastRoundUtcMs + 50000);
    CHECK(state.lastSuccessUtcMs == state.lastRoundUtcMs);
    CHECK(agent.log().find("25 records sent") != std::string::npos);

    // veldctl agent status prints what the agent wrote.
    auto json = test::veldctl({"agent", "status", path, "--json"});
    CHECK(json.exitCode == 0);
    CHECK(json.out.find("\"status\":\"running\"") != std::string::npos);
    CHECK(jsonNumber(json.out, "pid") == state.pid);
    CHECK(jsonNumber(json.out, "records_sent") == 25);
    CHECK(jsonNumber(json.out, "last_round_utc_ms") == state.lastRoundUtcMs);
    CHECK(jsonNumber(json.out, "next_round_utc_ms") == state.nextRoundUtcMs);
    CHECK(json.out.find("\"last_result\":\"done\"") != std::string::npos);
    auto text = test::veldctl({"agent", "status", path});
    CHECK(text.exitCode == 0);
    CHECK(text.out.find("veld-agent: running (pid " + std::to_string(state.pid) + ")") !=
          std::string::npos);
    CHECK(text.out.find("records sent since it started: 25") != std::string::npos);

    // A second agent on the same store steps aside, and leaves the first one's state alone.
    const auto second =
        test::runProcess({test::binary("veld-agent"), "--store", path, "--interval", "60"});
    CHECK(second.exitCode == 0);
    CHECK(second.err.find("another veld-agent is running on") != std::string::npos);
    CHECK(agentState(path)->pid == agent.process().pid());
    CHECK(agentState(path)->stoppedUtcMs == 0);
    // --once next to it syncs (or finds the store busy) without touching the state either.
    const auto once = test::runProcess({test::binary("veld-agent"), "--store", path, "--once"});
    CHECK((once.exitCode == 0 || once.exitCode == 3));
    CHECK(agentState(path)->pid == agent.process().pid());
    CHECK(agentState(path)->stoppedUtcMs == 0);

    // SIGTERM: it ends within two seconds, cleanly, and says it stopped.
    const auto start = std::chrono::steady_clock::now();
    agent.process().kill(SIGTERM);
    const auto result = agent.process().wait();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("veld-agent stopped " << seconds << " s after SIGTERM");
    CHECK(seconds < 2.0);
    CHECK(result.exitCode == 0);
    CHECK(agentState(path)->stoppedUtcMs > 0);
    auto stopped = test::veldctl({"agent", "status", path});
    CHECK(stopped.exitCode == 1);
    CHECK(stopped.out.find("veld-agent: stopped at ") != std::string::npos);
    CHECK(agent.log().find("stopping (Terminated)") != std::string::npos);
    // Nothing of the device's secrets is in the log.
    auto store = test::openDevice(path);
    const auto credential = store.setting("sync.credential").value().value();
    CHECK(agent.log().find(credential) == std::string::npos);
}

TEST_CASE("SIGTERM stops veld-agent within two seconds in a round the collector does not answer") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    {
        auto store = test::openDevice(path);
        test::enrolDevice(store, collector);
        test::addFinalized(store, 5);
    }
    collector.kill(SIGSTOP);  // it accepts connections (the kernel does) but answers nothing
    Agent agent(path, "300");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // its first push hangs
    const auto start = std::chrono::steady_clock::now();
    agent.process().kill(SIGTERM);
    const auto result = agent.process().wait();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("veld-agent stopped " << seconds << " s after SIGTERM in a hung round");
    CHECK(seconds < 2.0);
    CHECK(result.exitCode == 0);
    CHECK(agent.log().find("round stopped") != std::string::npos);
    const auto state = agentState(path).value();
    CHECK(state.lastResult == "stopped");
    CHECK(state.stoppedUtcMs > 0);
    CHECK(state.lastError.find("sent next time") != std::string::npos);
    collector.kill(SIGCONT);
    // Nothing was acknowledged: all five wait, and go with the next round.
    auto store = test::openDevice(path);
    CHECK(store.outboxState()->pending == 5);
    REQUIRE(test::syncUntilDone(store, sync::loadConnection(store).value(), {}, 5) >= 0);
    CHECK(held(collector).size() == 5);
}

TEST_CASE("veld-agent started before the collector is up reaches it when it comes up") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    std::vector<Uuid> ids;
    {
        auto store = test::openDevice(path);
        test::enrolDevice(store, collector);
        ids = test::addFinalized(store, 10);
    }
    collector.kill(SIGTERM);
    collector.wait();

    // The interval caps the backoff: with 2 s it tries again every 1 to 2 s at most.
    Agent agent(path, "2");
    REQUIRE(waitUntil([&] { return count(agent.log(), "round failed") >= 2; }, 15000));
    const auto failed = agentState(path).value();
    CHECK(failed.lastResult == "failed");
    CHECK_FALSE(failed.lastError.empty());
    CHECK(failed.lastSuccessUtcMs == 0);
    auto status = test::veldctl({"agent", "status", path});
    CHECK(status.out.find("last error: ") != std::string::npos);
    CHECK(status.out.find("last error: none") == std::string::npos);

    collector.restart();
    REQUIRE_MESSAGE(waitUntil([&] { return held(collector).size() == ids.size(); }, 15000),
                    agent.log());
    REQUIRE(waitUntil([&] { return agentState(path)->lastResult == "done"; }, 5000));
    CHECK(agentState(path)->lastError.empty());
    CHECK(agentState(path)->recordsSent == 10);
    agent.process().kill(SIGTERM);
    CHECK(agent.process().wait().exitCode == 0);
}

TEST_CASE(
    "veld-agent waits for a device that is not enrolled, says so once, and wakes on "
    "SIGUSR1") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    { auto store = test::openDevice(path); }

    // Checked every 0.5 s, told once.
    Agent waiting(path, "0.5");
    REQUIRE(
        waitUntil([&] { return agentState(path) && agentState(path)->lastRoundUtcMs > 0; }, 10000));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(count(waiting.log(), "not enrolled") == 1);
    CHECK(agentState(path)->lastResult == "not-enrolled");
    std::vector<Uuid> ids;
    {
        auto store = test::openDevice(path);
        test::enrolDevice(store, collector);
        ids = test::addFinalized(store, 3);
    }
    REQUIRE_MESSAGE(waitUntil([&] { return held(collector).size() == 3; }, 10000), waiting.log());
    waiting.process().kill(SIGTERM);
    CHECK(waiting.process().wait().exitCode == 0);

    // An agent that rounds every 10 minutes syncs at once when woken (veldctl agent wake).
    Agent agent(path, "600");
    REQUIRE(waitUntil(
        [&] {
            const auto s = agentState(path);
            return s && s->pid == agent.process().pid() && s->lastRoundUtcMs > 0 &&
                   s->lastResult == "done";
        },
        10000));
    {
        auto store = test::openDevice(path);
        test::addFinalized(store, 4, 100);
    }
    auto wake = test::veldctl({"agent", "wake", path});
    CHECK_MESSAGE(wake.exitCode == 0, wake.err);
    REQUIRE_MESSAGE(waitUntil([&] { return held(collector).size() == 7; }, 5000), agent.log());
    CHECK(agent.log().find("woken by SIGUSR1") != std::string::npos);
    agent.process().kill(SIGTERM);
    CHECK(agent.process().wait().exitCode == 0);
}

TEST_CASE("veld-agent --once: exit status says whether the round worked") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    { auto store = test::openDevice(path); }
    const auto once = [&] {
        return test::runProcess({test::binary("veld-agent"), "--store", path, "--once"});
    };
    auto notEnrolled = once();
    CHECK(notEnrolled.exitCode == 1);
    CHECK(notEnrolled.err.find("not enrolled") != std::string::npos);
    {
        auto store = test::openDevice(path);
        test::enrolDevice(store, collector);
        test::addFinalized(store, 5);
    }
    {
        // Another program holds the store's sync lock: 3, and nothing is sent.
        auto lock = sync::takeSyncLock(path);
        REQUIRE(lock);
        auto busy = once();
        CHECK(busy.exitCode == 3);
        CHECK(busy.err.find("another program is syncing this device") != std::string::npos);
        CHECK(held(collector).empty());
        CHECK(agentState(path)->lastResult == "busy");
    }
    auto done = once();
    CHECK_MESSAGE(done.exitCode == 0, done.err);
    CHECK(held(collector).size() == 5);
    const auto state = agentState(path).value();
    CHECK(state.lastResult == "done");
    CHECK(state.stoppedUtcMs > 0);
    collector.kill(SIGKILL);
    collector.wait();
    auto failed = once();
    CHECK(failed.exitCode == 1);
    CHECK(agentState(path)->lastResult == "failed");
    // The last success of an earlier run is kept.
    CHECK(agentState(path)->lastSuccessUtcMs == state.lastSuccessUtcMs);
}

TEST_CASE("one program syncs a store at a time, and the lock goes with its holder") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    auto store = test::openDevice(path);
    const auto connection = test::enrolDevice(store, collector);
    test::addFinalized(store, 4);

    auto first = sync::takeSyncLock(path);
    REQUIRE(first);
    auto second = sync::takeSyncLock(path);
    REQUIRE_FALSE(second);
    CHECK(second.error().code == ErrorCode::InUse);

    // A round that finds it held does nothing and says Busy (not a failure).
    auto busy = sync::syncOnce(store, connection, {});
    REQUIRE(busy);
    CHECK(busy->state == sync::Progress::State::Busy);
    CHECK(store.outboxState()->pending == 4);
    auto cli = test::veldctl({"sync", path});
    CHECK(cli.exitCode == 3);
    CHECK(cli.err.find("another program is syncing this device") != std::string::npos);
    CHECK(held(collector).empty());
    first = sync::FileLock();  // let go

    // A holder killed with SIGKILL lets go with its death.
    test::ChildProcess holder(
        {"/usr/bin/python3", "-c",
         "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
         "print('HELD', flush=True)\ntime.sleep(60)",
         sync::syncLockPath(path)});
    REQUIRE(holder.waitForLine("HELD", 10000));
    CHECK(sync::syncOnce(store, connection, {})->state == sync::Progress::State::Busy);
    holder.kill(SIGKILL);
    holder.wait();
    REQUIRE(sync::takeSyncLock(path));
    auto done = sync::syncOnce(store, connection, {});
    REQUIRE(done);
    CHECK(done->state == sync::Progress::State::Done);
    CHECK(done->recordsSent == 4);
    CHECK(held(collector).size() == 4);
}

TEST_CASE(
    "the agent, a client's uploader and veldctl sync share a store while records are "
    "finalized and the agent is killed: every record arrives exactly once") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string path = dir.file("device.veld");
    {
        auto store = test::openDevice(path);
        test::enrolDevice(store, collector);
    }
    std::mt19937_64 rng(20261207);

    // The field worker finalizes records (in the client's process) for the whole test.
    std::atomic<bool> finalizing{true};
    std::vector<Uuid> finalized;
    std::thread worker([&] {
        auto store = test::openDevice(path);
        int n = 0;
        while (finalizing) {
            auto ids = test::addFinalized(store, 1 + n % 3, n);
            finalized.insert(finalized.end(), ids.begin(), ids.end());
            n += 3;
            std::this_thread::sleep_for(std::chrono::milliseconds(15));
        }
    });
    // The client's own uploader, rounding every 100 ms.
    sync::Uploader uploader(path, {.maxBatchRecords = 3}, std::chrono::milliseconds(100));
    uploader.start();

    int agentKills = 0, cliKills = 0, busySeen = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(8);
    while (std::chrono::steady_clock::now() < until) {
        Agent agent(path, "0.1");
        std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 400));
        if (rng() % 2) {
            test::ChildProcess cli({test::binary("veldctl"), "sync", path, "--quiet"},
                                   {{}, dir.file("veldctl.log")});
            std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
            cli.kill(SIGKILL);
            const auto r = cli.wait();
            if (r.signal == SIGKILL) ++cliKills;
            if (r.exitCode == 3) ++busySeen;
        }
        agent.process().kill(SIGKILL);
        agent.process().wait();
        ++agentKills;
    }
    finalizing = false;
    worker.join();
    uploader.stop();

    auto store = test::openDevice(path);
    const auto connection = sync::loadConnection(store).value();
    REQUIRE(test::syncUntilDone(store, connection, {}, 5) >= 0);
    CHECK(store.outboxState()->pending == 0);
    const auto h = held(collector);
    MESSAGE(finalized.size() << " records finalized; " << agentKills << " agents and " << cliKills
                             << " veldctl sync killed; veldctl found the store busy " << busySeen
                             << " times");
    CHECK(h.size() == finalized.size());
    std::size_t missing = 0, doubled = 0;
    for (const auto& id : finalized) {
        const auto it = h.find(id);
        if (it == h.end())
            ++missing;
        else if (it->second != 1)
            ++doubled;
    }
    CHECK(missing == 0);
    CHECK(doubled == 0);
    CHECK(finalized.size() > 100);
}

// ---- The network watch -------------------------------------------------------------------

namespace {

std::vector<std::uint8_t> netlinkMessage(std::uint16_t type, std::size_t payload = 16) {
    const std::size_t length = sizeof(nlmsghdr) + payload;   // NLMSG_LENGTH
    std::vector<std::uint8_t> out((length + 3) / 4 * 4, 0);  // NLMSG_ALIGN
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(length);
    h.nlmsg_type = type;
    std::memcpy(out.data(), &h, sizeof h);
    return out;
}

}  // namespace

TEST_CASE("network watch: link, address and route messages count, others and junk do not") {
    using agent::networkChanged;
    for (int type :
         {RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE}) {
        const auto m = netlinkMessage(static_cast<std::uint16_t>(type));
        CHECK(networkChanged(m.data(), m.size()));
    }
    for (int type : {NLMSG_DONE, NLMSG_ERROR, int(RTM_NEWNEIGH), int(RTM_GETLINK)}) {
        const auto m = netlinkMessage(static_cast<std::uint16_t>(type));
        CHECK_FALSE(networkChanged(m.data(), m.size()));
    }
    // A change after an uninteresting message in the same buffer still counts.
    auto two = netlinkMessage(RTM_NEWNEIGH, 5);
    const auto route = netlinkMessage(RTM_NEWROUTE);
    two.insert(two.end(), route.begin(), route.end());
    CHECK(networkChanged(two.data(), two.size()));
    // Cut short, lying about its length, or empty: nothing, and no read past the end.
    const auto link = netlinkMessage(RTM_NEWLINK);
    CHECK_FALSE(networkChanged(link.data(), sizeof(nlmsghdr) - 1));
    CHECK_FALSE(networkChanged(link.data(), 0));
    auto lying = netlinkMessage(RTM_NEWLINK);
    std::uint32_t huge = 1u << 30;
    std::memcpy(lying.data(), &huge, sizeof huge);
    CHECK_FALSE(networkChanged(lying.data(), lying.size()));
    std::uint32_t tiny = 4;
    std::memcpy(lying.data(), &tiny, sizeof tiny);
    CHECK_FALSE(networkChanged(lying.data(), lying.size()));
}

TEST_CASE("network watch: a burst of events wakes once, after it settles or at most 10 s on") {
    agent::Debounce d(2000, 10000);
    CHECK_FALSE(d.msUntilDue(0));
    CHECK_FALSE(d.takeDue(100000));
    d.event(1000);
    CHECK(d.msUntilDue(1000) == 2000);
    d.event(1500);  // quiet time starts again
    CHECK(d.msUntilDue(1500) == 2000);
    CHECK_FALSE(d.takeDue(3000));
    CHECK(d.takeDue(3500));
    CHECK_FALSE(d.takeDue(3600));  // once
    CHECK_FALSE(d.msUntilDue(3600));
    // Events that never stop still wake it 10 s after the first.
    for (std::int64_t t = 10000; t < 20000; t += 500) {
        d.event(t);
        if (t < 19999) CHECK_FALSE(d.takeDue(t));
    }
    CHECK(d.msUntilDue(19500) == 500);
    CHECK(d.takeDue(20000));
}

namespace {

// A network namespace of the test's own: root makes one directly (also inside a chroot, where
// the kernel refuses user namespaces); anyone else through a user namespace.
std::vector<std::string> netnsCommand() {
    if (::geteuid() == 0) return {"/usr/bin/unshare", "-n"};
    return {"/usr/bin/unshare", "-r", "-n"};
}

bool netnsAvailable() {
    std::string command;
    for (const auto& part : netnsCommand())
        command += part + " ";
    return ::system((command + "true 2>/dev/null").c_str()) == 0;
}

}  // namespace

TEST_CASE("veld-agent wakes when the network changes (a network namespace of its own)" *
          doctest::skip(!netnsAvailable())) {
    // In a network namespace made for this test (lo only), an agent that rounds every 10
    // minutes finds its device not enrolled; the device is enrolled and an address added to lo:
    // the agent syncs within seconds, woken by rtnetlink alone.
    test::TempDir dir;
    const std::string collectorPath = test::testCollectorLocation(dir);
    const std::string portFile = dir.file("collector.port");
    {
        test::CollectorProcess made(collectorPath);  // veldctl collector init
    }
    const std::string path = dir.file("device.veld");
    std::vector<Uuid> ids;
    {
        auto store = test::openDevice(path);
        ids = test::addFinalized(store, 6);
    }
    const std::string script = dir.file("netns.sh");
    {
        std::ofstream out(script);
        out << R"(set -e
ip link set lo up
")" << test::binary("veld-collector")
            << R"(" --store "$1" --port 0 --port-file "$3" --quiet &
collector=$!
for i in $(seq 100); do [ -s "$3" ] && break; sleep 0.1; done
port=$(cat "$3")
code=$(")" << test::binary("veldctl")
            << R"(" collector enrol-code "$1" | head -n1)
")" << test::binary("veld-agent")
            << R"(" --store "$2" --interval 600 2>"$2.agent.log" &
agent=$!
for i in $(seq 100); do grep -q "not enrolled" "$2.agent.log" && break; sleep 0.1; done
")" << test::binary("veldctl")
            << R"(" enrol "$2" "http://127.0.0.1:$port" "$code" >/dev/null
start=$(date +%s%N)
ip addr add 127.0.0.2/8 dev lo
for i in $(seq 150); do grep -q "records sent" "$2.agent.log" && break; sleep 0.1; done
end=$(date +%s%N)
echo "woken after $(( (end - start) / 1000000 )) ms"
kill -TERM $agent; wait $agent || true
kill -TERM $collector; wait $collector || true
cat "$2.agent.log"
)";
    }
    std::vector<std::string> command = netnsCommand();
    command.insert(command.end(), {"/bin/bash", script, collectorPath, path, portFile});
    auto r = test::runProcess(command);
    INFO(r.out << r.err);
    CHECK(r.exitCode == 0);
    CHECK(r.out.find("the network changed; syncing now") != std::string::npos);
    CHECK(r.out.find("6 records sent") != std::string::npos);
    MESSAGE(r.out.substr(0, r.out.find('\n')));
    auto file = sync::openCollector(collectorPath, false);
    REQUIRE(file);
    CHECK(test::collectorRevisionCounts(*file.value()).size() == ids.size());
}
