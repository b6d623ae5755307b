// Veld for Windows against a Linux collector on loopback: veldctl.exe, run under Wine, makes a
// device store, enrols it and sends its records through a proxy that cuts connections. Then the
// Linux side reads what the Windows program wrote: the device store file (the same SQLite format
// on both systems) and the collector. (Wine's Schannel does not judge certificates as Windows
// does, so https is not tested here: see docs/windows.md.)
// A Linux program (the collector, the proxy and the checks are Linux's); `tools/dev windows
// --test` runs it with VELD_WINDOWS_BIN naming the Windows build's bin folder.
#include <cstdlib>
#include <random>
#include <set>
#include <stdexcept>

#include <doctest/doctest.h>

#include <veld/store.hpp>

#include "support/cut_proxy.hpp"
#include "support/sync_support.hpp"

using namespace veld;

namespace {

std::string windowsBin() {
    const char* dir = std::getenv("VELD_WINDOWS_BIN");
    if (!dir || !*dir)
        throw std::runtime_error("VELD_WINDOWS_BIN must name the Windows build's bin");
    return dir;
}

// A path of this machine as the Windows program sees it (Wine's drive Z: is /).
std::string windowsPath(const std::string& path) {
    return "Z:" + path;
}

test::ProcessResult veldctlExe(std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/lib/wine/wine64", windowsBin() + "/veldctl.exe"});
    return test::runProcess(args);
}

// Makes a demo store of `records` records with veldctl.exe; the ids of those finalized (the
// ones that go to the collector), read back on Linux.
std::set<Uuid> makeDeviceStore(const std::string& path, int records) {
    const auto made =
        veldctlExe({"store", "demo", windowsPath(path), "--records", std::to_string(records),
                    "--forms", windowsPath(std::string(VELD_SOURCE_DIR) + "/schemas/forms")});
    INFO(made.err);
    REQUIRE(made.exitCode == 0);
    auto store = Store::open(path);
    REQUIRE(store);
    ListQuery finalized;
    finalized.status = RecordStatus::Finalized;
    finalized.limit = 100000;
    auto page = store->list(finalized);
    REQUIRE(page);
    std::set<Uuid> ids;
    for (const auto& r : page->rows)
        ids.insert(r.id);
    return ids;
}

void checkDelivered(const std::string& devicePath, const std::set<Uuid>& made,
                    const test::CollectorProcess& collector) {
    auto device = Store::open(devicePath);
    REQUIRE(device);
    auto outbox = device->outboxState();
    REQUIRE(outbox);
    CHECK(outbox->pending == 0);
    auto store = collector.open();
    std::set<Uuid> held;
    for (const auto& [id, revisions] : test::collectorRevisionCounts(*store)) {
        CHECK(revisions == 1);  // exactly once, whatever was cut
        held.insert(id);
    }
    CHECK(held == made);
}

}  // namespace

TEST_CASE("windows: veldctl.exe sends a device's records through cut connections, each once") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    test::publishPilotForms(collector);

    const std::string devicePath = dir.file("device.veld");
    const std::set<Uuid> made = makeDeviceStore(devicePath, 1500);
    CHECK(made.size() >= 900);  // two pushes of 500 a round or more

    // Enrolment passes whole. The first push reaches the collector whole but its reply is cut
    // (the hardest case: stored, yet the device never hears it), the second is cut on its way
    // up; after that pushes are cut at random places, on the way up or down.
    test::CutProxy proxy(collector.port());
    std::mt19937 random(20261207);
    int pushes = 0;
    proxy.setPlan([&](const std::string& path) -> std::optional<test::CutProxy::Cut> {
        if (path != "/v1/push") return std::nullopt;
        ++pushes;
        if (pushes == 1) return test::CutProxy::Cut{false, 0.5, false};
        if (pushes == 2) return test::CutProxy::Cut{true, 0.3, true};
        if (random() % 3 != 0) return std::nullopt;
        test::CutProxy::Cut cut;
        cut.up = random() % 2 == 0;
        cut.at = static_cast<double>(random() % 1001) / 1000.0;
        cut.reset = random() % 2 == 0;
        return cut;
    });
    const auto enrolled =
        veldctlExe({"enrol", windowsPath(devicePath),
                    "http://127.0.0.1:" + std::to_string(proxy.port()), collector.enrolCode()});
    INFO(enrolled.err);
    REQUIRE(enrolled.exitCode == 0);

    // Small batches, so a round makes several pushes and some are cut; each failed round is
    // simply run again, as a field worker (or the client) would.
    int failed = 0;
    bool done = false;
    for (int round = 0; round < 60 && !done; ++round) {
        const auto r = veldctlExe({"sync", windowsPath(devicePath), "--quiet"});
        done = r.exitCode == 0;
        if (!done) ++failed;
    }
    REQUIRE(done);
    MESSAGE("rounds that failed on a cut: " << failed << ", cuts up " << proxy.cutsUp()
                                            << " (at the end " << proxy.cutsUpAtEnd()
                                            << "), cuts down " << proxy.cutsDown());
    CHECK(proxy.cutsDown() >= 1);
    CHECK(proxy.cutsUp() >= 1);
    CHECK(failed >= 2);
    checkDelivered(devicePath, made, collector);
}
