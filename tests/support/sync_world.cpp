#include "support/sync_world.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace veld::test {

namespace {

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

SyncWorld::SyncWorld(std::string folder) : m_folder(std::move(folder)) {
    std::filesystem::create_directories(m_folder);
    // The collector refuses a folder others may read: it holds personal data.
    std::filesystem::permissions(m_folder, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace);
    const std::string path = m_folder + "/collector.db";
    removeDatabase(path);
    {
        auto made = sync::openSqliteCollector(path, true);
        if (!made) throw std::runtime_error("cannot make a collector: " + made.error().describe());
    }
    m_collector = std::make_unique<CollectorProcess>(path);
}

SyncWorld::~SyncWorld() = default;

sync::CollectorStore& SyncWorld::staff() {
    if (!m_staff) {
        auto opened = sync::openSqliteCollector(m_collector->storePath(), false);
        if (!opened) {
            throw std::runtime_error("cannot open the collector: " + opened.error().describe());
        }
        m_staff = std::move(opened.value());
    }
    return *m_staff;
}

std::string SyncWorld::newCode() {
    auto code = staff().createEnrolCode("reliability", nowMs(), "reliability");
    if (!code)
        throw std::runtime_error("cannot make an enrolment code: " + code.error().describe());
    return code.value();
}

SyncWorld::Device& SyncWorld::addDevice(const std::string& name) {
    Device d;
    d.path = m_folder + "/" + name + ".veld";
    removeDatabase(d.path);
    d.store = std::make_shared<Store>(openDevice(d.path));
    d.id = d.store->deviceId();
    d.ledger.deviceId = d.id;
    m_devices.push_back(std::move(d));
    return m_devices.back();
}

std::vector<SyncWorld::Device*> SyncWorld::addDevices(const std::vector<std::string>& names) {
    std::vector<Device> made(names.size());
    std::vector<std::string> errors(names.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < names.size(); ++i) {
        threads.emplace_back([&, i] {
            try {
                made[i].path = m_folder + "/" + names[i] + ".veld";
                removeDatabase(made[i].path);
                made[i].store = std::make_shared<Store>(openDevice(made[i].path));
                made[i].id = made[i].store->deviceId();
                made[i].ledger.deviceId = made[i].id;
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& t : threads)
        t.join();
    std::vector<Device*> out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (!errors[i].empty()) throw std::runtime_error(errors[i]);
        m_devices.push_back(std::move(made[i]));
        out.push_back(&m_devices.back());
    }
    return out;
}

SyncWorld::Device& SyncWorld::addEnrolledDevice(const std::string& name) {
    Device& d = addDevice(name);
    auto reply = sync::enrol(*d.store, m_collector->url(), newCode());
    if (!reply) throw std::runtime_error("enrolment refused: " + reply.error().describe());
    auto connection = sync::loadConnection(*d.store);
    if (!connection) throw std::runtime_error(connection.error().describe());
    d.connection = connection.value();
    return d;
}

void SyncWorld::addRecords(Device& device, int count, int first) {
    for (const auto& id : addFinalized(*device.store, count, first))
        device.ledger.records.push_back(id);
}

CollectorFile SyncWorld::open() const {
    auto file = CollectorFile::open(m_collector->storePath());
    if (!file) throw std::runtime_error("cannot read the collector: " + file.error().describe());
    return std::move(file.value());
}

void checkCollector(SyncWorld& world, CollectorFile& file, CheckTally& tally) {
    if (auto integrity = file.integrityCheck(); !integrity || integrity.value() != "ok") {
        tally.addCorrupt(1, "the collector's file fails integrity_check: " +
                                (integrity ? integrity.value() : integrity.error().describe()));
    }
    checkHeldOnce(file, world.heldTwiceReported, tally);
    if (auto rejected = file.rejected(); !rejected || rejected.value() > 0)
        tally.addCorrupt(1, "the collector set revisions aside as unreadable");
}

std::string syncUntilDone(SyncWorld::Device& device, const sync::SyncOptions& options,
                          int attempts) {
    std::string last = "no attempt";
    for (int i = 0; i < attempts; ++i) {
        auto round = sync::syncOnce(*device.store, device.connection, options);
        if (round && round->state != sync::Progress::State::Busy) return {};
        last = round ? "another program is syncing this device" : round.error().describe();
    }
    return last;
}

void removeDatabase(const std::string& path) {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        std::filesystem::remove(path + suffix, ec);
}

}  // namespace veld::test
