// The power-cut VFS itself: what reaches the disk after a cut is what a disk could hold, and
// nothing else. Driven through SQLite's VFS interface directly, so every case controls exactly
// which writes and syncs happen: this file, like the VFS, calls SQLite's C API by nature (the
// databases it opens go through Veld's wrapper).
#include "support/power_cut_vfs.hpp"

#include <array>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <veld/sqlite.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

constexpr int kSector = 512;

sqlite3_vfs* vfs() {
    test::registerPowerCutVfs();
    return sqlite3_vfs_find(test::kPowerCutVfs);
}

// One file opened through the VFS, closed at the end of its scope.
class File {
  public:
    File(const std::string& path, int flags) : m_memory(static_cast<std::size_t>(vfs()->szOsFile)) {
        int out = 0;
        m_rc = vfs()->xOpen(vfs(), path.c_str(), file(), flags, &out);
    }
    ~File() { close(); }
    File(const File&) = delete;
    File& operator=(const File&) = delete;

    [[nodiscard]] int openResult() const { return m_rc; }
    int write(const std::vector<std::uint8_t>& bytes, sqlite3_int64 offset) {
        return file()->pMethods->xWrite(file(), bytes.data(), static_cast<int>(bytes.size()),
                                        offset);
    }
    int read(std::vector<std::uint8_t>& bytes, sqlite3_int64 offset) {
        return file()->pMethods->xRead(file(), bytes.data(), static_cast<int>(bytes.size()),
                                       offset);
    }
    int sync() { return file()->pMethods->xSync(file(), SQLITE_SYNC_NORMAL); }
    sqlite3_int64 size() {
        sqlite3_int64 n = -1;
        REQUIRE(file()->pMethods->xFileSize(file(), &n) == SQLITE_OK);
        return n;
    }
    void close() {
        if (m_rc == SQLITE_OK && file()->pMethods) file()->pMethods->xClose(file());
        m_rc = SQLITE_CANTOPEN;
    }

  private:
    sqlite3_file* file() { return reinterpret_cast<sqlite3_file*>(m_memory.data()); }
    std::vector<std::uint64_t> m_memory;  // 8-byte aligned, larger than needed
    int m_rc = SQLITE_CANTOPEN;
};

constexpr int kDbFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB;
constexpr int kWalFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_WAL;

std::vector<std::uint8_t> filled(std::size_t n, std::uint8_t value) {
    return std::vector<std::uint8_t>(n, value);
}

std::vector<std::uint8_t> onDisk(const std::string& path) {
    const std::string text = test::readFile(path);
    return std::vector<std::uint8_t>(text.begin(), text.end());
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

void makeFile(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("the power-cut VFS shows unsynced writes to the process and keeps synced ones") {
    test::TempDir dir;
    const std::string path = dir.file("a.db");
    makeFile(path, filled(4 * kSector, 1));
    test::armPowerCut(-1, 7);
    {
        File f(path, kDbFlags);
        REQUIRE(f.openResult() == SQLITE_OK);
        REQUIRE(f.write(filled(kSector, 2), 0) == SQLITE_OK);
        REQUIRE(f.sync() == SQLITE_OK);
        REQUIRE(f.write(filled(3 * kSector, 3), kSector) == SQLITE_OK);
        REQUIRE(f.write(filled(100, 4), 4 * kSector) == SQLITE_OK);  // grows the file
        CHECK(f.size() == 4 * kSector + 100);
        std::vector<std::uint8_t> back(5 * kSector);
        CHECK(f.read(back, 0) == SQLITE_IOERR_SHORT_READ);  // past the end: zeros
        CHECK(back[0] == 2);
        CHECK(back[kSector] == 3);
        CHECK(back[4 * kSector + 99] == 4);
        CHECK(back[4 * kSector + 100] == 0);
        // The disk has only what was synced.
        CHECK(onDisk(path)[0] == 2);
        CHECK(onDisk(path)[kSector] == 1);
        CHECK(test::cutPower());
        CHECK_FALSE(test::cutPower());
        CHECK(f.write(filled(1, 9), 0) == SQLITE_IOERR_WRITE);
        CHECK(f.read(back, 0) == SQLITE_IOERR_READ);
        CHECK(f.sync() == SQLITE_IOERR_FSYNC);
    }
    const auto stats = test::endPowerCutRound();
    CHECK(stats.openFiles == 0);
    CHECK(stats.unsyncedWrites == 2);
    CHECK(onDisk(path)[0] == 2);  // synced before the cut: always there
}

TEST_CASE("after a cut, every sector holds one of the states it went through, never a mix") {
    // Two overlapping unsynced writes over a synced file, cut with many seeds: each sector must
    // end as it was synced, after the first write, or after the second.
    test::TempDir dir;
    const std::string path = dir.file("a.db");
    std::set<std::string> outcomes;
    bool torn = false;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        makeFile(path, filled(4 * kSector, 1));
        test::armPowerCut(-1, seed);
        {
            File f(path, kDbFlags);
            REQUIRE(f.openResult() == SQLITE_OK);
            auto first = filled(3 * kSector, 2);  // sectors 0-2
            REQUIRE(f.write(first, 0) == SQLITE_OK);
            auto second = filled(kSector + kSector / 2, 3);  // half of sector 1, all of 2
            REQUIRE(f.write(second, kSector + kSector / 2) == SQLITE_OK);
            test::cutPower();
        }
        const auto stats = test::endPowerCutRound();
        torn = torn || stats.torn > 0;
        const auto disk = onDisk(path);
        REQUIRE(disk.size() == 4 * kSector);
        std::string outcome;
        for (int s = 0; s < 4; ++s) {
            const auto* p = disk.data() + s * kSector;
            std::string state = "?";
            auto all = [&](std::uint8_t v, int from, int to) {
                for (int i = from; i < to; ++i)
                    if (p[i] != v) return false;
                return true;
            };
            if (all(1, 0, kSector)) state = "0";
            if (all(2, 0, kSector)) state = "1";
            if (s == 1 && all(2, 0, kSector / 2) && all(3, kSector / 2, kSector)) state = "2";
            if (s == 2 && all(3, 0, kSector)) state = "2";
            CHECK_MESSAGE(state != "?", "seed " << seed << ": sector " << s << " is a mix");
            if (s == 0) CHECK(state != "2");
            if (s == 3) CHECK(state == "0");  // never written
            outcome += state;
        }
        outcomes.insert(outcome);
    }
    CHECK(torn);
    CHECK(outcomes.count("0000"));  // nothing reached the disk
    CHECK(outcomes.size() >= 6);    // and many other combinations did
}

TEST_CASE("a WAL created and never synced may vanish, and after its first sync its name stays") {
    test::TempDir dir;
    makeFile(dir.file("a.db"), {});  // the unix VFS gives a WAL its database's permissions
    const std::string wal = dir.file("a.db-wal");
    bool vanished = false, stayed = false;
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        ::unlink(wal.c_str());
        test::armPowerCut(-1, seed);
        {
            File f(wal, kWalFlags);
            REQUIRE(f.openResult() == SQLITE_OK);
            REQUIRE(f.write(filled(32, 5), 0) == SQLITE_OK);
            test::cutPower();
        }
        const auto stats = test::endPowerCutRound();
        (exists(wal) ? stayed : vanished) = true;
        CHECK(stats.vanished == (exists(wal) ? 0 : 1));
    }
    CHECK(vanished);
    CHECK(stayed);
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        ::unlink(wal.c_str());
        test::armPowerCut(-1, seed);
        {
            File f(wal, kWalFlags);
            REQUIRE(f.write(filled(32, 5), 0) == SQLITE_OK);
            REQUIRE(f.sync() == SQLITE_OK);  // the unix VFS syncs the folder here
            test::cutPower();
        }
        (void)test::endPowerCutRound();
        REQUIRE(exists(wal));
        CHECK(onDisk(wal) == filled(32, 5));
    }
}

TEST_CASE("a file deleted without syncing its folder may come back with what was durable") {
    test::TempDir dir;
    makeFile(dir.file("a.db"), {});
    const std::string wal = dir.file("a.db-wal");
    bool back = false, gone = false;
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        makeFile(wal, filled(64, 6));
        test::armPowerCut(-1, seed);
        {
            File f(wal, kWalFlags);
            REQUIRE(f.write(filled(64, 7), 0) == SQLITE_OK);  // never synced
            f.close();
            REQUIRE(vfs()->xDelete(vfs(), wal.c_str(), 0) == SQLITE_OK);
            int there = 1;
            REQUIRE(vfs()->xAccess(vfs(), wal.c_str(), SQLITE_ACCESS_EXISTS, &there) == SQLITE_OK);
            CHECK(there == 0);
            test::cutPower();
        }
        (void)test::endPowerCutRound();
        if (exists(wal)) {
            back = true;
            const auto disk = onDisk(wal);
            CHECK(disk.size() == 64);
            CHECK((disk == filled(64, 6) || disk == filled(64, 7)));
        } else {
            gone = true;
        }
    }
    CHECK(back);
    CHECK(gone);
    // Deleted with a sync of the folder: gone for good.
    makeFile(wal, filled(64, 6));
    test::armPowerCut(-1, 1);
    REQUIRE(vfs()->xDelete(vfs(), wal.c_str(), 1) == SQLITE_OK);
    test::cutPower();
    (void)test::endPowerCutRound();
    CHECK_FALSE(exists(wal));
}

TEST_CASE("the power goes after the chosen operation, and SQLite reopens what is left") {
    test::TempDir dir;
    const std::string path = dir.file("a.db");
    test::armPowerCut(-1, 1);
    {
        auto db = sql::Database::open(path, sql::OpenMode::ReadWriteCreate, 0, test::kPowerCutVfs);
        REQUIRE(db);
        REQUIRE(
            db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (x); "
                     "INSERT INTO t VALUES (1)"));
    }
    const long before = test::powerCutOperations();
    (void)test::endPowerCutRound();

    // Cut after the second operation of a commit: the commit fails, the file holds the first.
    test::armPowerCut(2, 3);
    {
        auto db = sql::Database::open(path, sql::OpenMode::ReadWrite, 0, test::kPowerCutVfs);
        REQUIRE(db);
        CHECK_FALSE(db->exec("INSERT INTO t VALUES (2)"));
        CHECK(test::powerIsCut());
        CHECK(test::powerCutOperations() == 2);
    }
    const auto stats = test::endPowerCutRound();
    CHECK(stats.cutAtOperation);
    CHECK(stats.openFiles == 0);
    CHECK(before > 0);

    auto db = sql::Database::open(path, sql::OpenMode::ReadWrite, 0, "unix");
    REQUIRE(db);
    auto st = db->prepare("SELECT group_concat(x) FROM t");
    REQUIRE(st);
    auto row = st->step();
    REQUIRE(row);
    REQUIRE(row.value());
    CHECK(st->columnText(0) == "1");
}
