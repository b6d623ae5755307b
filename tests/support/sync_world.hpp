// A collector file, a veld-collector process serving it and devices enrolled with it, made as
// cheaply as possible for scenarios that build many of them: the collector's file, its enrolment
// codes and staff's changes (studies, teams) are made in this process through the collector
// store, not by starting veldctl for each (a sanitized veldctl takes a quarter of a second to
// start); devices enrol over HTTP as they would in the field.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <veld/sync/collector_store.hpp>
#include <veld/sync/uploader.hpp>

#include "support/collector_file.hpp"
#include "support/sync_support.hpp"

namespace veld::test {

class SyncWorld {
  public:
    /// Makes `folder` (when missing) and a new collector file in it. The collector is not started.
    explicit SyncWorld(std::string folder);
    ~SyncWorld();
    SyncWorld(const SyncWorld&) = delete;
    SyncWorld& operator=(const SyncWorld&) = delete;

    struct Device {
        std::string path;
        Uuid id;
        sync::Connection connection;
        DeviceLedger ledger;
        /// The device's store, opened once (opening costs more than most rounds' work). Like any
        /// Store it belongs to one thread at a time: a scenario hands it to a worker thread and
        /// takes it back after joining.
        std::shared_ptr<Store> store;
    };

    [[nodiscard]] CollectorProcess& collector() { return *m_collector; }
    [[nodiscard]] const std::string& folder() const { return m_folder; }
    /// Staff's side of the collector, opened in this process on the same file (SQLite allows
    /// it next to the running collector). Throws when it cannot be opened.
    sync::CollectorStore& staff();
    /// A fresh one-time enrolment code.
    std::string newCode();
    /// A new device store in the folder (not enrolled).
    Device& addDevice(const std::string& name);
    /// New device stores, made at once on a thread each (making a store is mostly waiting for
    /// the disk).
    std::vector<Device*> addDevices(const std::vector<std::string>& names);
    /// A new device store, enrolled with a fresh code (throws when enrolment fails).
    Device& addEnrolledDevice(const std::string& name);
    [[nodiscard]] std::deque<Device>& devices() { return m_devices; }
    /// Finalizes `count` sample records on the device and notes them in its ledger.
    void addRecords(Device& device, int count, int first);
    /// The collector's file, opened read-only for checks.
    CollectorFile open() const;
    /// Records found held twice so far (checkHeldOnce counts only more).
    std::int64_t heldTwiceReported = 0;

  private:
    std::string m_folder;
    std::unique_ptr<CollectorProcess> m_collector;
    std::unique_ptr<sync::CollectorStore> m_staff;
    std::deque<Device> m_devices;  // a deque: references stay valid as devices are added
};

/// The rules of the world's collector file as a whole: integrity_check passes, no record is
/// held twice (counted once, see checkHeldOnce), nothing was set aside as unreadable.
void checkCollector(SyncWorld& world, CollectorFile& file, CheckTally& tally);

/// Syncs a device until a round succeeds, at most `attempts` rounds; the last error, or empty.
std::string syncUntilDone(SyncWorld::Device& device, const sync::SyncOptions& options,
                          int attempts);

/// Runs `f(i)` for i in [0, n) on n threads at once and waits for all of them.
template <class F>
void onThreads(std::size_t n, F f) {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < n; ++i)
        threads.emplace_back([&f, i] { f(i); });
    for (auto& t : threads)
        t.join();
}

/// Removes a SQLite file and its -wal and -shm companions.
void removeDatabase(const std::string& path);

}  // namespace veld::test
