#include "sync/copy_fixture.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <set>

#include <doctest/doctest.h>

#include <veld/sync/uploader.hpp>

#include "support/webhook_receiver.hpp"
#include "veldctl/demo.hpp"

namespace veld::test {

void fillCollector(TempDir& dir, CollectorProcess& collector) {
    const std::string study = std::string(VELD_SOURCE_DIR) + "/schemas/studies/ips.json";
    auto defined = veldctl({"study", "define", collector.storePath(), study});
    REQUIRE_MESSAGE(defined.exitCode == 0, defined.err);
    publishPilotForms(collector);
    // A webhook whose receiver is never there: its deliveries wait, failing, in the outbox.
    auto hook =
        veldctl({"collector", "webhook", "add", collector.storePath(),
                 "http://127.0.0.1:" + std::to_string(WebhookReceiver::closedPort()) + "/copy",
                 "--events", "record.received,review.changed"});
    REQUIRE_MESSAGE(hook.exitCode == 0, hook.err);
    collector.start();
    addAdmin(collector, "anna");
    addAdmin(collector, "bram");
    // Two devices enrolled first (so they hold the collector's pseudonym key), given the study's
    // blocks, then filled with the same demo seed: the same synthetic participants twice, which
    // the collector groups as likely duplicates.
    for (int d = 0; d < 2; ++d) {
        auto device = openDevice(dir.file("device" + std::to_string(d) + ".veld"));
        enrolDevice(device, collector);
        const auto connection = sync::loadConnection(device).value();
        auto first = sync::syncOnce(device, connection, {});
        REQUIRE_MESSAGE(first, first.error().describe());
        REQUIRE(veldctl::setUpDemo(device, std::string(VELD_SOURCE_DIR) + "/schemas/forms"));
        auto made = veldctl::addDemoRecords(device, 90, 11);
        REQUIRE_MESSAGE(made, made.error().describe());
        auto round = sync::syncOnce(device, connection, {});
        REQUIRE_MESSAGE(round, round.error().describe());
    }
    auto staff = collector.open();
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    auto conflict = veldctl::addDemoConflict(*staff, now, "veldctl:test");
    REQUIRE_MESSAGE(conflict, conflict.error().describe());
    REQUIRE(staff->setReview(*conflict, sync::ReviewState::HasIssues, "two versions", now,
                             "veldctl:test"));
    REQUIRE(staff->setReview(*conflict, sync::ReviewState::Approved, "settled", now + 1,
                             "veldctl:test"));
    auto groups = staff->duplicates();
    REQUIRE(groups);
    REQUIRE_FALSE(groups->empty());
    REQUIRE(staff->decideDuplicate(groups->front().key, sync::DuplicateDecision::SamePerson,
                                   "same school", now, "veldctl:test"));
    REQUIRE(staff->revokeAdmin("bram", now, "veldctl:test"));
    auto unused = staff->createEnrolCode("spare", now, "veldctl:test");
    REQUIRE(unused);
    auto devices = staff->devices();
    REQUIRE(devices);
    REQUIRE(devices->size() >= 2);
    REQUIRE(staff->revoke(devices->back().deviceId, now, "veldctl:test"));
    collector.kill(SIGTERM);
    collector.wait();
}

std::map<std::string, std::string> exportAll(const std::string& store, const std::string& out) {
    std::map<std::string, std::string> files;
    auto opened = sync::openCollector(store, false, {});
    REQUIRE_MESSAGE(opened, opened.error().describe());
    auto forms = opened.value()->publishedForms();
    REQUIRE(forms);
    std::set<std::string> ids;
    for (const auto& f : forms.value())
        ids.insert(f.formId);
    opened.value().reset();
    for (const auto& id : ids) {
        const auto made = veldctl({"export", store, id, "--out", out + "/" + id});
        REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    }
    for (const auto& entry : std::filesystem::recursive_directory_iterator(out)) {
        if (entry.is_regular_file())
            files[std::filesystem::relative(entry.path(), out).string()] =
                readFile(entry.path().string());
    }
    return files;
}

std::string listings(const std::string& store) {
    std::string all;
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"collector", "status", store},
                                               {"collector", "devices", store},
                                               {"collector", "admins", store},
                                               {"collector", "conflicts", store},
                                               {"collector", "duplicates", store},
                                               {"collector", "audit", store},
                                               {"collector", "webhook", "list", store},
                                               {"study", "verify", store, "ips"},
                                               {"study", "balance", store, "ips"},
                                               {"study", "log", store, "ips"},
                                               {"case", "list", store}}) {
        const auto r = veldctl(args);
        all += "$ " + args[0] + " " + args[1] + "\n" + std::to_string(r.exitCode) + "\n" + r.out +
               r.err;
    }
    return all;
}

void checkSameCollector(const std::string& from, const std::string& to, TempDir& dir,
                        const std::string& name) {
    const auto before = exportAll(from, dir.file(name + "-exports-from"));
    const auto after = exportAll(to, dir.file(name + "-exports-to"));
    CHECK(before.size() > 10);
    CHECK(before.size() == after.size());
    for (const auto& entry : before) {
        const std::string& file = entry.first;
        CAPTURE(file);
        REQUIRE(after.count(file));
        CHECK(after.at(file) == entry.second);
    }
    const auto a = listings(from);
    const auto b = listings(to);
    CHECK(a.find("verified: every allocation") != std::string::npos);
    CHECK(a == b);
}

}  // namespace veld::test
