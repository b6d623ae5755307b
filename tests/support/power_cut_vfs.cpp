#include "support/power_cut_vfs.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
// This file is an SQLite VFS that cuts the power: it implements SQLite's VFS interface, so it calls
// SQLite's C API by nature; everything else reaches SQLite through veld/sqlite.hpp.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace veld::test {

namespace {

constexpr std::int64_t kSector = 512;
using Sector = std::array<std::uint8_t, kSector>;

// One unsynced change of a file: a write (the sectors it touched, each as it was right after the
// write) or a truncation.
struct Change {
    bool truncation = false;
    std::int64_t size = 0;  // a truncation's new size; a write's file size just after it
    std::vector<std::pair<std::int64_t, Sector>> sectors;
};

struct Handle;

// One file as the VFS knows it: what the process sees (`size`, the real bytes below `baseLimit`,
// `overlay` on top) and what is still only in memory (`pending`). A file that is deleted and
// created again under the same name is a new Node (a new inode).
struct Node {
    std::string path;      // the name it has, or had before its deletion
    std::string realPath;  // where its bytes are on disk now (a hidden name after a deletion)
    std::string dir;
    bool mainDb = false;
    bool named = true;     // its folder entry is durable
    bool deleted = false;  // deleted (and kept under realPath until that is durable or undone)
    std::vector<Handle*> handles;
    std::int64_t size = 0;
    // Real bytes at and above this offset are stale (a truncation since the last sync): the
    // process sees zeros there unless `overlay` has the sector.
    std::int64_t baseLimit = 0;
    std::map<std::int64_t, Sector> overlay;  // sector index -> content the process sees
    std::vector<Change> pending;
};

// A folder change not yet made durable by a sync of the folder.
struct FolderChange {
    bool creation = false;
    Node* node = nullptr;
};

// The sqlite3_file SQLite allocates for us (szOsFile); the unix file follows it in memory.
struct Handle {
    sqlite3_file base;
    sqlite3_file* real;
    Node* node;        // nullptr: a temporary file, passed through
    bool syncsFolder;  // the unix VFS syncs the folder at this handle's first xSync
};

struct State {
    std::mutex mutex;
    std::atomic<bool> cut{false};
    long operations = 0;
    long cutAfter = -1;
    std::mt19937_64 rng;
    std::vector<std::unique_ptr<Node>> nodes;  // every file of the round, deleted ones too
    std::map<std::string, Node*> live;         // by name: the files that exist now
    std::map<std::string, std::vector<FolderChange>> folders;
    long stashCount = 0;
    PowerCutStats stats;
};

State& state() {
    static State* s = new State;  // never destroyed: SQLite may close files during exit
    return *s;
}

sqlite3_vfs* g_unix = nullptr;
sqlite3_vfs g_vfs;

std::string folderOf(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// ---- Real I/O -----------------------------------------------------------------------------------
// Through the unix handle SQLite is using when there is one (the calling thread's own), else
// through a descriptor of our own. Closing that descriptor drops the POSIX locks this process
// holds on the file, which only other processes would notice: there are none.

class RealFile {
  public:
    RealFile(Node& node, sqlite3_file* via) : m_file(via) {
        if (!m_file) m_fd = ::open(node.realPath.c_str(), O_RDWR | O_CLOEXEC);
    }
    ~RealFile() {
        if (m_fd >= 0) ::close(m_fd);
    }
    RealFile(const RealFile&) = delete;
    RealFile& operator=(const RealFile&) = delete;

    [[nodiscard]] bool ok() const { return m_file || m_fd >= 0; }

    std::int64_t size() {
        if (m_file) {
            sqlite3_int64 n = 0;
            if (m_file->pMethods->xFileSize(m_file, &n) != SQLITE_OK) return -1;
            return n;
        }
        struct stat st {};
        if (::fstat(m_fd, &st) != 0) return -1;
        return st.st_size;
    }
    // Reads what is there; bytes past the end read as zeros.
    bool read(std::uint8_t* out, std::int64_t n, std::int64_t offset) {
        if (n <= 0) return true;
        if (m_file) {
            const int rc = m_file->pMethods->xRead(m_file, out, static_cast<int>(n), offset);
            return rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ;
        }
        std::int64_t done = 0;
        while (done < n) {
            const ssize_t got = ::pread(m_fd, out + done, static_cast<std::size_t>(n - done),
                                        static_cast<off_t>(offset + done));
            if (got < 0) return false;
            if (got == 0) break;
            done += got;
        }
        std::memset(out + done, 0, static_cast<std::size_t>(n - done));
        return true;
    }
    bool write(const std::uint8_t* data, std::int64_t n, std::int64_t offset) {
        if (n <= 0) return true;
        if (m_file) {
            return m_file->pMethods->xWrite(m_file, data, static_cast<int>(n), offset) == SQLITE_OK;
        }
        std::int64_t done = 0;
        while (done < n) {
            const ssize_t put = ::pwrite(m_fd, data + done, static_cast<std::size_t>(n - done),
                                         static_cast<off_t>(offset + done));
            if (put <= 0) return false;
            done += put;
        }
        return true;
    }
    bool truncate(std::int64_t n) {
        if (m_file) return m_file->pMethods->xTruncate(m_file, n) == SQLITE_OK;
        return ::ftruncate(m_fd, static_cast<off_t>(n)) == 0;
    }

  private:
    sqlite3_file* m_file = nullptr;
    int m_fd = -1;
};

// ---- The process's view of a file ---------------------------------------------------------------

// The sector as the process sees it now.
Sector currentSector(Node& node, RealFile& real, std::int64_t index) {
    if (auto it = node.overlay.find(index); it != node.overlay.end()) return it->second;
    Sector s{};
    const std::int64_t start = index * kSector;
    const std::int64_t end = std::min(start + kSector, node.baseLimit);
    if (end > start) real.read(s.data(), end - start, start);
    return s;
}

// Makes everything the process sees durable: the real file becomes what the process sees.
// `via`: the (writable) unix handle of the calling connection, or nullptr.
bool flush(Node& node, sqlite3_file* via) {
    if (node.pending.empty() && node.overlay.empty()) return true;
    RealFile real(node, via);
    if (!real.ok()) return false;
    const std::int64_t realSize = real.size();
    if (realSize < 0) return false;
    if (realSize > node.baseLimit && !real.truncate(node.baseLimit)) return false;
    for (const auto& [index, sector] : node.overlay) {
        const std::int64_t start = index * kSector;
        const std::int64_t n = std::min<std::int64_t>(kSector, node.size - start);
        if (n > 0 && !real.write(sector.data(), n, start)) return false;
    }
    if (real.size() != node.size && !real.truncate(node.size)) return false;
    node.overlay.clear();
    node.pending.clear();
    node.baseLimit = node.size;
    return true;
}

void removeQuietly(const std::string& path) {
    (void)::unlink(path.c_str());
}

// Makes a folder's creations and deletions durable (a sync of the folder).
void syncFolder(State& s, const std::string& dir) {
    auto it = s.folders.find(dir);
    if (it == s.folders.end()) return;
    for (const FolderChange& c : it->second) {
        if (c.creation) {
            c.node->named = true;
        } else {
            c.node->named = false;
            if (c.node->realPath != c.node->path) removeQuietly(c.node->realPath);
        }
    }
    s.folders.erase(it);
}

// What the disk holds after the power is cut, for one file: the durable bytes with some of the
// unsynced changes applied, in a random order.
void settle(State& s, Node& node, double pDrop, double pKeep) {
    if (node.pending.empty()) return;
    RealFile real(node, nullptr);
    if (!real.ok()) return;
    const std::int64_t realSize = real.size();
    if (realSize < 0) return;
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(realSize));
    if (!real.read(bytes.data(), realSize, 0)) return;
    std::int64_t size = realSize;

    std::vector<const Change*> order;
    for (const Change& c : node.pending)
        order.push_back(&c);
    std::shuffle(order.begin(), order.end(), s.rng);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (const Change* c : order) {
        if (c->truncation) {
            ++s.stats.truncations;
            if (unit(s.rng) < 0.5) {
                size = c->size;
                bytes.resize(static_cast<std::size_t>(size), 0);
            }
            continue;
        }
        ++s.stats.unsyncedWrites;
        const double roll = unit(s.rng);
        std::vector<bool> written(c->sectors.size(), true);
        if (roll < pDrop) {
            ++s.stats.dropped;
            continue;
        }
        if (roll >= pDrop + pKeep && c->sectors.size() >= 2) {
            // Torn: at least one sector written and one not.
            std::size_t count = 0;
            for (std::size_t i = 0; i < written.size(); ++i) {
                written[i] = (s.rng() & 1) != 0;
                count += written[i] ? 1 : 0;
            }
            if (count == 0) written[s.rng() % written.size()] = true;
            if (count == written.size()) written[s.rng() % written.size()] = false;
            ++s.stats.torn;
        } else {
            ++s.stats.kept;
        }
        for (std::size_t i = 0; i < c->sectors.size(); ++i) {
            if (!written[i]) continue;
            const auto& [index, sector] = c->sectors[i];
            const std::int64_t start = index * kSector;
            if (static_cast<std::int64_t>(bytes.size()) < start + kSector)
                bytes.resize(static_cast<std::size_t>(start + kSector), 0);
            std::memcpy(bytes.data() + start, sector.data(), kSector);
            size = std::max(size, std::min(c->size, start + kSector));
        }
    }
    bytes.resize(static_cast<std::size_t>(size), 0);
    (void)real.truncate(0);
    (void)real.write(bytes.data(), size, 0);
    (void)real.truncate(size);
}

// The power cut: decides what survives, writes it to the real files, and from then on refuses
// everything. Called with the mutex held.
void cutLocked(State& s) {
    if (s.cut) return;
    s.stats.cut = true;
    s.stats.cutAt = s.operations;
    // Each round draws its own mix of dropped, kept and torn writes, from "almost everything
    // reached the disk" to "almost nothing did".
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const double a = unit(s.rng), b = unit(s.rng), c = unit(s.rng);
    const double pDrop = a / (a + b + c), pKeep = b / (a + b + c);

    // Folder entries first: which files exist at all.
    for (auto& [dir, changes] : s.folders) {
        const std::size_t kept = s.rng() % (changes.size() + 1);
        for (std::size_t i = 0; i < kept; ++i) {
            FolderChange& fc = changes[i];
            fc.node->named = fc.creation;
        }
    }
    s.folders.clear();
    // File contents, then the names: vanished files go before deleted ones come back, as a name
    // can belong to at most one surviving file.
    for (auto& node : s.nodes)
        if (node->named) settle(s, *node, pDrop, pKeep);
    for (auto& node : s.nodes) {
        if (node->named) continue;
        if (!node->deleted) ++s.stats.vanished;
        removeQuietly(node->realPath);
    }
    for (auto& node : s.nodes) {
        if (!node->named || !node->deleted) continue;
        ++s.stats.revived;
        (void)::rename(node->realPath.c_str(), node->path.c_str());
        node->realPath = node->path;
    }
    for (auto& node : s.nodes) {
        if (node->mainDb) removeQuietly(node->path + "-shm");
        node->pending.clear();
        node->overlay.clear();
    }
    s.cut = true;
}

// Counts an operation that changed something; cuts the power when it was the chosen one.
void counted(State& s) {
    ++s.operations;
    if (s.cutAfter >= 0 && s.operations >= s.cutAfter && !s.cut) {
        s.stats.cutAtOperation = true;
        cutLocked(s);
    }
}

Handle* handle(sqlite3_file* f) {
    return reinterpret_cast<Handle*>(f);
}
sqlite3_file* real(sqlite3_file* f) {
    return handle(f)->real;
}

// ---- I/O methods --------------------------------------------------------------------------------

int pcClose(sqlite3_file* f) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    Handle* h = handle(f);
    if (h->node) {
        auto& hs = h->node->handles;
        hs.erase(std::remove(hs.begin(), hs.end(), h), hs.end());
    }
    return real(f)->pMethods->xClose(real(f));
}

int pcRead(sqlite3_file* f, void* out, int n, sqlite3_int64 off) {
    const std::int64_t offset = off;
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.cut) return SQLITE_IOERR_READ;
    Handle* h = handle(f);
    if (!h->node) return real(f)->pMethods->xRead(real(f), out, n, offset);
    Node& node = *h->node;
    auto* bytes = static_cast<std::uint8_t*>(out);
    std::memset(bytes, 0, static_cast<std::size_t>(n));
    const std::int64_t end = offset + n;
    const std::int64_t baseEnd = std::min({end, node.baseLimit, node.size});
    if (baseEnd > offset) {
        const int rc =
            real(f)->pMethods->xRead(real(f), bytes, static_cast<int>(baseEnd - offset), offset);
        if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
    }
    for (auto it = node.overlay.lower_bound(offset / kSector);
         it != node.overlay.end() && it->first * kSector < end; ++it) {
        const std::int64_t start = it->first * kSector;
        const std::int64_t from = std::max(start, offset);
        const std::int64_t to = std::min({start + kSector, end, node.size});
        if (to > from)
            std::memcpy(bytes + (from - offset), it->second.data() + (from - start),
                        static_cast<std::size_t>(to - from));
    }
    return end > node.size ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

int pcWrite(sqlite3_file* f, const void* data, int n, sqlite3_int64 off) {
    const std::int64_t offset = off;
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.cut) return SQLITE_IOERR_WRITE;
    Handle* h = handle(f);
    if (!h->node) return real(f)->pMethods->xWrite(real(f), data, n, offset);
    Node& node = *h->node;
    RealFile file(node, real(f));
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    const std::int64_t end = offset + n;
    Change change;
    change.size = std::max(node.size, end);
    for (std::int64_t index = offset / kSector; index * kSector < end; ++index) {
        Sector sector = currentSector(node, file, index);
        const std::int64_t start = index * kSector;
        const std::int64_t from = std::max(start, static_cast<std::int64_t>(offset));
        const std::int64_t to = std::min(start + kSector, end);
        std::memcpy(sector.data() + (from - start), bytes + (from - offset),
                    static_cast<std::size_t>(to - from));
        node.overlay[index] = sector;
        change.sectors.emplace_back(index, sector);
    }
    node.size = change.size;
    node.pending.push_back(std::move(change));
    counted(s);
    return SQLITE_OK;
}

int pcTruncate(sqlite3_file* f, sqlite3_int64 newSize) {
    const std::int64_t size = newSize;
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.cut) return SQLITE_IOERR_TRUNCATE;
    Handle* h = handle(f);
    if (!h->node) return real(f)->pMethods->xTruncate(real(f), size);
    Node& node = *h->node;
    if (size < node.size) {
        node.overlay.erase(node.overlay.lower_bound((size + kSector - 1) / kSector),
                           node.overlay.end());
        if (size % kSector != 0) {
            if (auto it = node.overlay.find(size / kSector); it != node.overlay.end())
                std::memset(it->second.data() + size % kSector, 0,
                            static_cast<std::size_t>(kSector - size % kSector));
        }
        node.baseLimit = std::min(node.baseLimit, static_cast<std::int64_t>(size));
    }
    node.size = size;
    Change change;
    change.truncation = true;
    change.size = size;
    node.pending.push_back(std::move(change));
    counted(s);
    return SQLITE_OK;
}

int pcSync(sqlite3_file* f, int) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.cut) return SQLITE_IOERR_FSYNC;
    Handle* h = handle(f);
    if (!h->node) return SQLITE_OK;  // temporary files need not survive anything
    if (!flush(*h->node, real(f))) return SQLITE_IOERR_FSYNC;
    if (h->syncsFolder) {
        syncFolder(s, h->node->dir);
        h->syncsFolder = false;
    }
    counted(s);
    return SQLITE_OK;
}

int pcFileSize(sqlite3_file* f, sqlite3_int64* size) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.cut) return SQLITE_IOERR_FSTAT;
    Handle* h = handle(f);
    if (!h->node) return real(f)->pMethods->xFileSize(real(f), size);
    *size = h->node->size;
    return SQLITE_OK;
}

int pcLock(sqlite3_file* f, int level) {
    if (state().cut) return SQLITE_IOERR_LOCK;
    return real(f)->pMethods->xLock(real(f), level);
}
int pcUnlock(sqlite3_file* f, int level) {
    return real(f)->pMethods->xUnlock(real(f), level);
}
int pcCheckReservedLock(sqlite3_file* f, int* out) {
    if (state().cut) return SQLITE_IOERR_CHECKRESERVEDLOCK;
    return real(f)->pMethods->xCheckReservedLock(real(f), out);
}

int pcFileControl(sqlite3_file* f, int op, void* arg) {
    // Size hints and chunk sizes would make the unix VFS extend the real file behind our back.
    if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE) return SQLITE_OK;
    return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int pcSectorSize(sqlite3_file* f) {
    return real(f)->pMethods->xSectorSize(real(f));
}
int pcDeviceCharacteristics(sqlite3_file* f) {
    return real(f)->pMethods->xDeviceCharacteristics(real(f));
}

// Shared memory is not durable and not simulated: it passes through, and fails after the cut
// (except for releasing it).
int pcShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    if (state().cut) return SQLITE_IOERR_SHMMAP;
    return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
int pcShmLock(sqlite3_file* f, int offset, int n, int flags) {
    if (state().cut && (flags & SQLITE_SHM_LOCK)) return SQLITE_IOERR_SHMLOCK;
    return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void pcShmBarrier(sqlite3_file* f) {
    real(f)->pMethods->xShmBarrier(real(f));
}
int pcShmUnmap(sqlite3_file* f, int deleteFlag) {
    return real(f)->pMethods->xShmUnmap(real(f), deleteFlag);
}

// Version 2: no xFetch, so SQLite never memory-maps a file past the simulated page cache.
const sqlite3_io_methods kMethods = {
    2,
    pcClose,
    pcRead,
    pcWrite,
    pcTruncate,
    pcSync,
    pcFileSize,
    pcLock,
    pcUnlock,
    pcCheckReservedLock,
    pcFileControl,
    pcSectorSize,
    pcDeviceCharacteristics,
    pcShmMap,
    pcShmLock,
    pcShmBarrier,
    pcShmUnmap,
    nullptr,
    nullptr,
};

// ---- VFS methods --------------------------------------------------------------------------------

bool exists(const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0;
}

int pcOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* outFlags) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    auto* h = reinterpret_cast<Handle*>(f);
    h->base.pMethods = nullptr;
    h->real = reinterpret_cast<sqlite3_file*>(h + 1);
    h->node = nullptr;
    h->syncsFolder = false;
    if (s.cut) return SQLITE_IOERR;

    const int type = flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL |
                              SQLITE_OPEN_SUPER_JOURNAL);
    const bool tracked = name != nullptr && type != 0 && !(flags & SQLITE_OPEN_DELETEONCLOSE);
    const bool existed = tracked && exists(name);
    const int rc = g_unix->xOpen(g_unix, name, h->real, flags, outFlags);
    if (rc != SQLITE_OK) {
        // The unix VFS leaves pMethods null when it failed, so SQLite will not close us.
        return rc;
    }
    h->base.pMethods = &kMethods;
    if (!tracked) return SQLITE_OK;

    const std::string path = name;
    Node* node = nullptr;
    if (auto it = s.live.find(path); it != s.live.end()) node = it->second;
    if (!node) {
        auto made = std::make_unique<Node>();
        made->path = made->realPath = path;
        made->dir = folderOf(path);
        made->named = existed;
        sqlite3_int64 size = 0;
        if (h->real->pMethods->xFileSize(h->real, &size) != SQLITE_OK) size = 0;
        made->size = made->baseLimit = size;
        node = made.get();
        s.nodes.push_back(std::move(made));
        s.live[path] = node;
        if (!existed) s.folders[node->dir].push_back({true, node});
    }
    node->mainDb = node->mainDb || (flags & SQLITE_OPEN_MAIN_DB) != 0;
    node->handles.push_back(h);
    h->node = node;
    h->syncsFolder =
        (flags & SQLITE_OPEN_CREATE) &&
        (flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL | SQLITE_OPEN_WAL));
    return SQLITE_OK;
}

int pcDelete(sqlite3_vfs*, const char* name, int syncDir) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.cut) return SQLITE_IOERR_DELETE;
    const std::string path = name;
    Node* node = nullptr;
    if (auto it = s.live.find(path); it != s.live.end()) {
        node = it->second;
    } else if (exists(name)) {
        // Never opened through us this round: durable as it is.
        auto made = std::make_unique<Node>();
        made->path = made->realPath = path;
        made->dir = folderOf(path);
        node = made.get();
        s.nodes.push_back(std::move(made));
    } else {
        return SQLITE_IOERR_DELETE_NOENT;
    }
    // The bytes stay under a hidden name until the deletion is durable or undone by the cut.
    const std::string stash = path + ".power-cut-" + std::to_string(++s.stashCount);
    if (::rename(node->realPath.c_str(), stash.c_str()) != 0) return SQLITE_IOERR_DELETE;
    node->realPath = stash;
    node->deleted = true;
    s.live.erase(path);
    s.folders[node->dir].push_back({false, node});
    if (syncDir) syncFolder(s, node->dir);
    counted(s);
    return SQLITE_OK;
}

int pcAccess(sqlite3_vfs*, const char* name, int flags, int* out) {
    if (state().cut) return SQLITE_IOERR_ACCESS;
    return g_unix->xAccess(g_unix, name, flags, out);
}

}  // namespace

void registerPowerCutVfs() {
    static std::once_flag once;
    std::call_once(once, [] {
        g_unix = sqlite3_vfs_find("unix");
        assert(g_unix);
        g_vfs = *g_unix;
        g_vfs.iVersion = std::min(g_unix->iVersion, 3);
        g_vfs.zName = kPowerCutVfs;
        g_vfs.szOsFile = static_cast<int>(sizeof(Handle)) + g_unix->szOsFile;
        g_vfs.pNext = nullptr;
        g_vfs.xOpen = pcOpen;
        g_vfs.xDelete = pcDelete;
        g_vfs.xAccess = pcAccess;
        sqlite3_vfs_register(&g_vfs, 0);
    });
}

void setPowerCutVfsDefault(bool on) {
    registerPowerCutVfs();
    sqlite3_vfs_register(on ? &g_vfs : g_unix, 1);
}

void armPowerCut(long cutAfter, std::uint64_t seed) {
    registerPowerCutVfs();
    State& s = state();
    std::lock_guard lock(s.mutex);
    s.cut = false;
    s.operations = 0;
    s.cutAfter = cutAfter;
    s.rng.seed(seed);
    s.stats = PowerCutStats{};
    if (cutAfter == 0) cutLocked(s);
}

bool cutPower() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.cut) return false;
    cutLocked(s);
    return true;
}

bool powerIsCut() {
    return state().cut;
}

long powerCutOperations() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    return s.operations;
}

PowerCutStats endPowerCutRound() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    int open = 0;
    for (auto& node : s.nodes)
        open += static_cast<int>(node->handles.size());
    if (!s.cut) {
        // A clean shutdown: the system writes everything out in its own time.
        std::vector<std::string> dirs;
        for (auto& [dir, changes] : s.folders)
            dirs.push_back(dir);
        for (const auto& dir : dirs)
            syncFolder(s, dir);
        for (auto& node : s.nodes)
            if (!node->deleted) (void)flush(*node, nullptr);
    }
    for (auto& node : s.nodes) {
        if (node->mainDb && open == 0) removeQuietly(node->path + "-shm");
        if (node->deleted && node->realPath != node->path) removeQuietly(node->realPath);
    }
    PowerCutStats out = s.stats;
    out.operations = s.operations;
    out.openFiles = open;
    if (open == 0) {
        s.nodes.clear();
        s.live.clear();
        s.folders.clear();
    }
    s.cut = false;
    s.cutAfter = -1;
    return out;
}

}  // namespace veld::test
