// The collector's files hold personal data: its store, WAL and exports are readable by their
// owner only, and veld-collector refuses to serve files others could read.
#include <csignal>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

unsigned modeOf(const std::string& path) {
    struct stat st {};
    REQUIRE_MESSAGE(::stat(path.c_str(), &st) == 0, path);
    return st.st_mode & 0777;
}

}  // namespace

TEST_CASE(
    "sqlite-file: a new collector's store, WAL and exports are readable by their owner only") {
    test::TempDir dir;
    // A folder that does not exist yet is made for the owner only.
    const std::string folder = dir.file("pilot/collector");
    const std::string store = folder + "/collector.db";
    {
        test::CollectorProcess collector(store);
        CHECK(modeOf(store) == 0600);
        CHECK(modeOf(folder) == 0700);
        CHECK(modeOf(dir.file("pilot")) == 0700);
        collector.start();
        auto device = test::openDevice(dir.file("device.veld"));
        test::addFinalized(device, 3);
        REQUIRE(sync::syncOnce(device, test::enrolDevice(device, collector), {}));
        CHECK(modeOf(store + "-wal") == 0600);
        CHECK(modeOf(store + "-shm") == 0600);
        CHECK(modeOf(store + ".exports") == 0700);

        const std::string out = dir.file("exports/today");
        test::publishPilotForms(collector);
        const auto exported =
            test::veldctl({"export", store, "ips_guidance", "--format", "sav", "--out", out});
        REQUIRE_MESSAGE(exported.exitCode == 0, exported.err);
        CHECK(modeOf(out) == 0700);
        int files = 0;
        for (const auto& e : std::filesystem::directory_iterator(out)) {
            CHECK(modeOf(e.path().string()) == 0600);
            ++files;
        }
        CHECK(files > 0);
    }
}

TEST_CASE(
    "sqlite-file: veld-collector refuses to start on a store, WAL or folder that others can read") {
    test::TempDir dir;
    const std::string folder = dir.file("collector");
    const std::string store = folder + "/collector.db";
    const auto init = test::veldctl({"collector", "init", store});
    REQUIRE_MESSAGE(init.exitCode == 0, init.err);
    const auto start = [&] {
        return test::runProcess({test::binary("veld-collector"), "--store", store, "--port", "0",
                                 "--quiet", "--request-timeout", "1"});
    };

    REQUIRE(::chmod(store.c_str(), 0644) == 0);
    auto refused = start();
    CHECK(refused.exitCode == 1);
    CHECK(refused.err.find("may be read by others (mode 0644)") != std::string::npos);
    CHECK(refused.err.find("chmod 600 " + store) != std::string::npos);
    REQUIRE(::chmod(store.c_str(), 0600) == 0);

    REQUIRE(::chmod(folder.c_str(), 0755) == 0);
    refused = start();
    CHECK(refused.exitCode == 1);
    CHECK(refused.err.find("chmod 700 ") != std::string::npos);
    REQUIRE(::chmod(folder.c_str(), 0700) == 0);

    // A WAL left readable by an older Veld is refused too.
    {
        test::CollectorProcess collector(store);
        collector.start();
        collector.kill(SIGKILL);
        collector.wait();
    }
    REQUIRE(std::filesystem::exists(store + "-wal"));
    REQUIRE(::chmod((store + "-wal").c_str(), 0640) == 0);
    refused = start();
    CHECK(refused.exitCode == 1);
    CHECK(refused.err.find(store + "-wal") != std::string::npos);
    REQUIRE(::chmod((store + "-wal").c_str(), 0600) == 0);

    // Mended, it starts.
    test::CollectorProcess collector(store);
    collector.start();
    CHECK(collector.running());
}
