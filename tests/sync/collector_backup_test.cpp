// veldctl collector backup and restore against a real collector: a backup taken while ten
// devices push holds the store exactly as it was at one moment (exports compared by Python's csv
// module), a restored store serves the same devices on, and every refusal leaves everything as
// it was.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <veld/sqlite.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"
#include "veldctl/demo.hpp"

using namespace veld;

namespace {

// Compares two export folders: every CSV of `restored` against the same file of `original`,
// whose rows are first reduced to the records in `ids` (one record id a line). Prints
// "files F rows R matched M missing X extra Y differ Z records K" and a line per problem.
constexpr const char* kCompare = R"py(
import csv, os, sys
restored, original, ids_file = sys.argv[1:4]
ids = set(l.strip().replace('-', '').lower() for l in open(ids_file) if l.strip())
def rows(path):
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))
def key(row):
    return tuple(sorted(row.items()))
files = rows_n = matched = missing = extra = differ = 0
records = set()
for folder, _, names in os.walk(restored):
    for name in sorted(names):
        if not name.endswith('.csv'):
            continue
        files += 1
        r = rows(os.path.join(folder, name))
        o = rows(os.path.join(original, os.path.relpath(os.path.join(folder, name), restored)))
        if r and 'record_id' in r[0]:
            o = [x for x in o if x['record_id'].replace('-', '').lower() in ids]
            if 'parent_instance' not in r[0]:
                records.update(x['record_id'].replace('-', '').lower() for x in r)
        rows_n += len(r)
        rk = [key(x) for x in r]
        ok = [key(x) for x in o]
        for k in rk:
            if k in ok:
                matched += 1
            else:
                differ += 1
                print('differs', name, dict(k).get('record_id'))
        for k in ok:
            if k not in rk:
                missing += 1
                print('missing', name, dict(k).get('record_id'))
unexported = ids - records
extra = len(records - ids)
print('files', files, 'rows', rows_n, 'matched', matched, 'missing', missing, 'extra', extra,
      'differ', differ, 'records', len(records), 'unexported', len(unexported))
)py";

std::int64_t count(sql::Database& db, const std::string& query) {
    auto n = db.queryInt(query);
    REQUIRE_MESSAGE(n, query);
    return n.value();
}

// A store's file read whole, and whether its -wal is there: what "nothing changed" compares.
std::string fingerprint(const std::string& store) {
    return test::readFile(store) + (std::filesystem::exists(store + "-wal") ? "+wal" : "");
}

// Every device's revisions are the numbers 1..received_through, each once; each record's current
// revision is held: a copy taken in the middle of a commit would break one of these.
void checkNotTorn(sql::Database& db) {
    CHECK(count(db,
                "SELECT count(*) FROM devices d WHERE received_through != (SELECT count(*) "
                "FROM revisions v WHERE v.device_id = d.device_id) OR received_through != "
                "(SELECT coalesce(max(seq), 0) FROM revisions v WHERE v.device_id = "
                "d.device_id)") == 0);
    CHECK(count(db,
                "SELECT count(*) FROM records r LEFT JOIN revisions v ON v.rid = "
                "r.current_rid WHERE v.rid IS NULL") == 0);
    CHECK(count(db,
                "SELECT count(*) FROM (SELECT record_id FROM revisions GROUP BY record_id "
                "HAVING count(*) > 1)") == 0);
}

struct Device {
    Store store;
    sync::Connection connection;
    std::string error;
    int rounds = 0;
};

}  // namespace

TEST_CASE(
    "sqlite-file: a backup taken while ten devices push restores to the store as it was at one "
    "moment") {
    test::TempDir dir;
    const std::string storePath = dir.file("collector.db");
    test::CollectorProcess collector(storePath);
    test::publishPilotForms(collector);
    collector.start();

    constexpr int kDevices = 10;
    std::vector<std::unique_ptr<Device>> devices;
    for (int i = 0; i < kDevices; ++i) {
        auto store = test::openDevice(dir.file("device" + std::to_string(i) + ".veld"));
        REQUIRE(veldctl::setUpDemo(store, std::string(VELD_SOURCE_DIR) + "/schemas/forms"));
        auto connection = test::enrolDevice(store, collector);
        devices.push_back(std::make_unique<Device>(Device{std::move(store), connection, {}, 0}));
    }

    // Each device fills in a few records and sends them, in small pushes, over and over: before
    // the backup, while it is taken, and for two rounds after it.
    std::atomic<bool> backupDone{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kDevices; ++i) {
        threads.emplace_back([&, i] {
            Device& d = *devices[static_cast<std::size_t>(i)];
            sync::SyncOptions options;
            options.maxBatchRecords = 3;
            options.pull = false;
            int after = 0;
            for (std::uint32_t seed = 1; after < 2 && seed < 200; ++seed) {
                const bool wasDone = backupDone.load();
                auto made =
                    veldctl::addDemoRecords(d.store, 4, seed * 100 + static_cast<std::uint32_t>(i));
                if (!made) {
                    d.error = made.error().describe();
                    return;
                }
                auto round = sync::syncOnce(d.store, d.connection, options);
                if (!round) {
                    d.error = round.error().describe();
                    return;
                }
                ++d.rounds;
                if (wasDone) ++after;
            }
        });
    }
    {
        auto watch = sql::Database::open(storePath, sql::OpenMode::ReadOnly);
        REQUIRE(watch);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        while (count(watch.value(), "SELECT count(*) FROM revisions") < 60 &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string backupPath = dir.file("backups/collector-1.db");
    std::filesystem::create_directories(dir.file("backups"));
    const auto started = std::chrono::steady_clock::now();
    const auto backup = test::veldctl({"collector", "backup", storePath, backupPath});
    const double backupSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    backupDone = true;
    for (auto& t : threads)
        t.join();
    for (const auto& d : devices)
        REQUIRE_MESSAGE(d->error.empty(), d->error);
    REQUIRE_MESSAGE(backup.exitCode == 0, backup.err);
    MESSAGE("backup: " << backup.out << "  (" << backupSeconds << " s including veldctl's start)");
    CHECK(backup.out.find("integrity checked") != std::string::npos);

    struct stat st {};
    REQUIRE(::stat(backupPath.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    // One self-contained file, nothing left beside it.
    CHECK_FALSE(std::filesystem::exists(backupPath + "-wal"));
    std::size_t besides = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir.file("backups")))
        besides += f.path().filename() != "collector-1.db";
    CHECK(besides == 0);

    // The backup holds a consistent state, and less than the store holds now (devices pushed on).
    std::vector<std::string> forms;
    std::int64_t backupRevisions = 0;
    {
        auto held = sql::Database::open(backupPath, sql::OpenMode::ReadOnly);
        REQUIRE(held);
        auto check = held->prepare("PRAGMA integrity_check");
        REQUIRE(check);
        REQUIRE(check->step().value());
        CHECK(check->columnText(0) == "ok");
        check->reset();
        checkNotTorn(held.value());
        backupRevisions = count(held.value(), "SELECT count(*) FROM revisions");
        auto ids = held->prepare("SELECT hex(record_id) FROM records");
        REQUIRE(ids);
        std::ofstream out(dir.file("backup-ids.txt"));
        while (ids->step().value())
            out << ids->columnText(0) << "\n";
        auto f = held->prepare("SELECT DISTINCT form_id FROM records ORDER BY form_id");
        REQUIRE(f);
        while (f->step().value())
            forms.emplace_back(f->columnText(0));
    }
    CHECK(backupRevisions >= 60);
    {
        // Under ten devices at once, the group commit's histogram accounts for every revision
        // stored, in no more commits than pushes.
        const auto metrics = test::httpExchange(
            collector.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        REQUIRE(metrics.status == 200);
        auto value = [&](const std::string& name) {
            const auto at = metrics.body.find("\n" + name + " ");
            REQUIRE(at != std::string::npos);
            return std::stod(metrics.body.substr(at + name.size() + 2));
        };
        auto original = sql::Database::open(storePath, sql::OpenMode::ReadOnly);
        REQUIRE(original);
        const auto stored =
            static_cast<double>(count(original.value(), "SELECT count(*) FROM revisions"));
        CHECK(value("veld_collector_group_commit_revisions_sum") == stored);
        CHECK(value("veld_collector_revisions_received_total{outcome=\"stored\"}") == stored);
        const double commits = value("veld_collector_group_commit_revisions_count");
        const double pushes = value("veld_collector_push_duration_seconds_count");
        CHECK(commits <= pushes);
        MESSAGE(stored << " revisions in " << pushes << " pushes and " << commits << " commits");
    }
    collector.kill(SIGTERM);
    CHECK(collector.wait().exitCode == 0);
    {
        auto original = sql::Database::open(storePath, sql::OpenMode::ReadOnly);
        REQUIRE(original);
        CHECK(count(original.value(), "SELECT count(*) FROM revisions") > backupRevisions);
    }
    REQUIRE_FALSE(forms.empty());

    // Restored to a new file, its exports equal the original's exports reduced to the records the
    // backup holds.
    const std::string restoredPath = dir.file("restored/collector.db");
    const auto restored = test::veldctl({"collector", "restore", backupPath, restoredPath});
    REQUIRE_MESSAGE(restored.exitCode == 0, restored.err);
    REQUIRE(::stat(restoredPath.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    for (const auto& form : forms) {
        for (const auto& [path, out] : {std::pair{restoredPath, dir.file("export-restored/")},
                                        std::pair{storePath, dir.file("export-original/")}}) {
            const auto exported = test::veldctl({"export", path, form, "--out", out + form});
            REQUIRE_MESSAGE(exported.exitCode == 0, exported.err);
        }
    }
    const std::string script = dir.file("compare.py");
    std::ofstream(script) << kCompare;
    const auto compared =
        test::runProcess({"/usr/bin/python3", script, dir.file("export-restored"),
                          dir.file("export-original"), dir.file("backup-ids.txt")});
    REQUIRE_MESSAGE(compared.exitCode == 0, compared.err);
    INFO(compared.out);
    std::istringstream summary(compared.out.substr(compared.out.rfind("files ")));
    std::map<std::string, long> n;
    std::string word;
    long value = 0;
    while (summary >> word >> value)
        n[word] = value;
    CHECK(n["files"] >= 2);
    CHECK(n["rows"] > 0);
    CHECK(n["matched"] == n["rows"]);
    CHECK(n["missing"] == 0);
    CHECK(n["differ"] == 0);
    CHECK(n["extra"] == 0);
    CHECK(n["unexported"] == 0);
    CHECK(n["records"] > 0);

    // Served again, the restored store takes nothing more from a device that sent records after
    // the backup (it would leave a gap): a clear refusal, nothing stored. The others go on.
    auto throughOf = [](const std::string& path) {
        auto db = sql::Database::open(path, sql::OpenMode::ReadOnly);
        REQUIRE(db);
        auto st = db->prepare("SELECT hex(device_id), received_through FROM devices");
        REQUIRE(st);
        std::map<std::string, std::int64_t> out;
        while (st->step().value())
            out[std::string(st->columnText(0))] = st->columnInt(1);
        return out;
    };
    const auto atBackup = throughOf(restoredPath);
    const auto atEnd = throughOf(storePath);
    test::CollectorProcess served(restoredPath);
    served.start({}, {}, collector.port());
    int refusedDevices = 0;
    std::map<std::string, std::int64_t> addedAfter;
    for (auto& d : devices) {
        std::string hex;
        for (auto b : d->store.deviceId().bytes) {
            char two[3];
            std::snprintf(two, sizeof two, "%02X", b);
            hex += two;
        }
        REQUIRE(atBackup.count(hex) == 1);
        int added = 0;
        for (std::uint32_t seed = 9000; added == 0 && seed < 9010; ++seed) {
            auto made = veldctl::addDemoRecords(d->store, 4, seed);
            REQUIRE(made);
            added = made->finalized;
        }
        REQUIRE(added > 0);
        addedAfter[hex] = added;
        auto round = sync::syncOnce(d->store, d->connection, {});
        if (atEnd.at(hex) > atBackup.at(hex)) {
            ++refusedDevices;
            REQUIRE_FALSE(round);
            CHECK_MESSAGE(round.error().message.find("expected revision " +
                                                     std::to_string(atBackup.at(hex) + 1)) !=
                              std::string::npos,
                          round.error().message);
        } else {
            CHECK(round);
        }
    }
    CHECK(refusedDevices > 0);
    served.kill(SIGTERM);
    CHECK(served.wait().exitCode == 0);
    auto now = throughOf(restoredPath);
    for (const auto& [device, through] : atBackup)
        CHECK(now.at(device) ==
              (atEnd.at(device) > through ? through : through + addedAfter.at(device)));
}

TEST_CASE(
    "sqlite-file: a restored store serves the same devices on: every record held once, none lost") {
    test::TempDir dir;
    const std::string storePath = dir.file("collector.db");
    test::CollectorProcess collector(storePath);
    collector.start();
    constexpr std::size_t kDevices = 4;
    std::vector<std::unique_ptr<Device>> devices;
    for (std::size_t i = 0; i < kDevices; ++i) {
        auto store = test::openDevice(dir.file("device" + std::to_string(i) + ".veld"));
        auto connection = test::enrolDevice(store, collector);
        devices.push_back(std::make_unique<Device>(Device{std::move(store), connection, {}, 0}));
    }
    std::vector<std::vector<Uuid>> made(kDevices);
    sync::SyncOptions options;
    options.maxBatchRecords = 4;
    for (std::size_t i = 0; i < kDevices; ++i) {
        made[i] = test::addFinalized(devices[i]->store, 10, static_cast<int>(i) * 1000);
        REQUIRE(sync::syncOnce(devices[i]->store, devices[i]->connection, options));
    }
    // Taken while the collector runs, with the devices in step with it.
    const std::string backupPath = dir.file("collector-backup.db");
    REQUIRE(test::veldctl({"collector", "backup", storePath, backupPath}).exitCode == 0);
    collector.kill(SIGTERM);
    REQUIRE(collector.wait().exitCode == 0);
    const std::string before = fingerprint(storePath);
    const auto restored = test::veldctl({"collector", "restore", backupPath, storePath, "--force"});
    REQUIRE_MESSAGE(restored.exitCode == 0, restored.err);
    CHECK(restored.out.find("kept as " + storePath + ".before-restore") != std::string::npos);
    CHECK(fingerprint(storePath + ".before-restore") == before);

    collector.restart();
    for (std::size_t i = 0; i < kDevices; ++i) {
        auto more = test::addFinalized(devices[i]->store, 7, static_cast<int>(i) * 1000 + 500);
        made[i].insert(made[i].end(), more.begin(), more.end());
        auto round = sync::syncOnce(devices[i]->store, devices[i]->connection, options);
        REQUIRE_MESSAGE(round, round.error().describe());
        // And a resend of what is held changes nothing.
        REQUIRE(sync::syncOnce(devices[i]->store, devices[i]->connection, options));
    }
    auto held = sql::Database::open(storePath, sql::OpenMode::ReadOnly);
    REQUIRE(held);
    checkNotTorn(held.value());
    CHECK(count(held.value(), "SELECT count(*) FROM revisions") ==
          static_cast<std::int64_t>(kDevices) * 17);
    for (std::size_t i = 0; i < kDevices; ++i) {
        auto pending = devices[i]->store.outboxPending(100, SIZE_MAX);
        REQUIRE(pending);
        CHECK(pending->empty());
        for (const Uuid& id : made[i]) {
            auto st = held->prepare("SELECT count(*) FROM revisions WHERE record_id = ?");
            REQUIRE(st);
            st->bindBlob(1, id.bytes);
            REQUIRE(st->step().value());
            CHECK(st->columnInt(0) == 1);
        }
    }
}

TEST_CASE(
    "sqlite-file: restore refuses, changing nothing: an existing store, a running collector, an "
    "open "
    "store, a damaged or foreign backup") {
    test::TempDir dir;
    const std::string storePath = dir.file("collector.db");
    test::CollectorProcess collector(storePath);
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    auto connection = test::enrolDevice(device, collector);
    test::addFinalized(device, 30);
    REQUIRE(sync::syncOnce(device, connection, {}));
    const std::string backupPath = dir.file("good-backup.db");
    REQUIRE(test::veldctl({"collector", "backup", storePath, backupPath}).exitCode == 0);

    SUBCASE("a backup never replaces a file") {
        std::ofstream(dir.file("taken.db")) << "keep me";
        const auto r = test::veldctl({"collector", "backup", storePath, dir.file("taken.db")});
        CHECK(r.exitCode == 1);
        CHECK(r.err.find("exists already") != std::string::npos);
        CHECK(test::readFile(dir.file("taken.db")) == "keep me");
        // Usage errors: exit code 2, and the help names both commands.
        CHECK(test::veldctl({"collector", "backup", storePath}).exitCode == 2);
        CHECK(test::veldctl({"collector", "restore", backupPath, storePath, "--forse"}).exitCode ==
              2);
        const auto help = test::veldctl({"collector", "backup", "--help"});
        CHECK(help.exitCode == 0);
        CHECK(help.out.find("veldctl collector restore BACKUP STORE [--force]") !=
              std::string::npos);
    }
    SUBCASE("a running collector holds the store, even with --force") {
        const auto r = test::veldctl({"collector", "restore", backupPath, storePath, "--force"});
        CHECK(r.exitCode == 1);
        CHECK(r.err.find("running veld-collector") != std::string::npos);
        CHECK(r.err.find("nothing was changed") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(storePath + ".before-restore"));
        // The collector still serves the store as it was.
        const auto health = test::httpExchange(
            collector.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        CHECK(health.status == 200);
        CHECK(sync::syncOnce(device, connection, {}));
        // And a second collector on the same store is refused at start.
        const auto second = test::runProcess({std::string(VELD_BIN_DIR) + "/veld-collector",
                                              "--store", storePath, "--port", "0", "--quiet"});
        CHECK(second.exitCode == 1);
        CHECK(second.err.find("held by a running veld-collector") != std::string::npos);
    }
    SUBCASE("without a collector") {
        collector.kill(SIGTERM);
        REQUIRE(collector.wait().exitCode == 0);
        std::string before = fingerprint(storePath);
        auto refused = [&](const std::vector<std::string>& args, const std::string& why) {
            const auto r = test::veldctl(args);
            CHECK(r.exitCode == 1);
            CHECK_MESSAGE(r.err.find(why) != std::string::npos, r.err);
            CHECK(r.err.find("nothing was changed") != std::string::npos);
            CHECK(fingerprint(storePath) == before);
            CHECK_FALSE(std::filesystem::exists(storePath + ".before-restore"));
            for (const auto& f : std::filesystem::directory_iterator(dir.path()))
                CHECK(f.path().filename().string().find("restore-tmp") == std::string::npos);
        };
        SUBCASE("an existing store needs --force") {
            refused({"collector", "restore", backupPath, storePath}, "give --force");
        }
        SUBCASE("another program has the store open") {
            // Python's sqlite3 module, reading the store and keeping it open. (Not a connection
            // in this process: the test's own reads of the file would drop its POSIX locks.)
            test::ChildProcess reader({"/usr/bin/python3", "-c",
                                       "import sqlite3, sys, time\n"
                                       "c = sqlite3.connect(sys.argv[1])\n"
                                       "c.execute('SELECT count(*) FROM revisions').fetchall()\n"
                                       "print('open', flush=True)\n"
                                       "time.sleep(120)\n",
                                       storePath});
            REQUIRE(reader.waitForLine("open", 20000));
            before = fingerprint(storePath);
            refused({"collector", "restore", backupPath, storePath, "--force"},
                    "another program has");
            reader.kill(SIGKILL);
            reader.wait();
        }
        SUBCASE("a truncated backup") {
            const std::string cut = dir.file("cut.db");
            std::filesystem::copy_file(backupPath, cut);
            std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
            refused({"collector", "restore", cut, storePath, "--force"}, "damaged");
        }
        SUBCASE("a backup with a damaged page") {
            const std::string bad = dir.file("bad.db");
            std::filesystem::copy_file(backupPath, bad);
            std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(4096 * 3);
            const std::string garbage(4096, '\xA5');
            f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
            f.close();
            refused({"collector", "restore", bad, storePath, "--force"}, "damaged");
        }
        SUBCASE("a device store is not a collector store") {
            refused({"collector", "restore", dir.file("device.veld"), storePath, "--force"},
                    "not a Veld collector store");
        }
        SUBCASE("a text file is not a collector store") {
            std::ofstream(dir.file("notes.txt")) << std::string(8192, 'x');
            refused({"collector", "restore", dir.file("notes.txt"), storePath, "--force"},
                    "not a Veld collector store");
        }
        SUBCASE("a missing backup") {
            refused({"collector", "restore", dir.file("nothing.db"), storePath, "--force"},
                    "no backup");
        }
    }
}
