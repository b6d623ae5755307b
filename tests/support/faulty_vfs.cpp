#include "support/faulty_vfs.hpp"

#include <cstring>
#include <mutex>

// This file is a fault-injecting SQLite VFS: it implements SQLite's VFS interface, so it calls
// SQLite's C API by nature; everything else reaches SQLite through veld/sqlite.hpp.
#include <sqlite3.h>

namespace veld::test {

namespace {

struct State {
    long remaining = -1;  // operations left before failing; negative: never
    int error = SQLITE_FULL;
    bool hit = false;
};
State g_state;
sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;

struct FaultyFile {
    sqlite3_file base;  // must be first: SQLite sees this
    sqlite3_file* real;
};

sqlite3_file* real(sqlite3_file* f) {
    return reinterpret_cast<FaultyFile*>(f)->real;
}

// Counts one mutating operation; returns the error to report, or SQLITE_OK.
int consume() {
    if (g_state.remaining < 0) return SQLITE_OK;
    if (g_state.remaining == 0) {
        g_state.hit = true;
        return g_state.error;
    }
    --g_state.remaining;
    return SQLITE_OK;
}

int fClose(sqlite3_file* f) {
    return real(f)->pMethods->xClose(real(f));
}
int fRead(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    return real(f)->pMethods->xRead(real(f), buf, n, off);
}
int fWrite(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    if (int rc = consume()) return rc;
    return real(f)->pMethods->xWrite(real(f), buf, n, off);
}
int fTruncate(sqlite3_file* f, sqlite3_int64 size) {
    if (int rc = consume()) return rc == SQLITE_FULL ? SQLITE_IOERR_TRUNCATE : rc;
    return real(f)->pMethods->xTruncate(real(f), size);
}
int fSync(sqlite3_file* f, int flags) {
    if (int rc = consume()) return rc == SQLITE_FULL ? SQLITE_IOERR_FSYNC : rc;
    return real(f)->pMethods->xSync(real(f), flags);
}
int fFileSize(sqlite3_file* f, sqlite3_int64* size) {
    return real(f)->pMethods->xFileSize(real(f), size);
}
int fLock(sqlite3_file* f, int l) {
    return real(f)->pMethods->xLock(real(f), l);
}
int fUnlock(sqlite3_file* f, int l) {
    return real(f)->pMethods->xUnlock(real(f), l);
}
int fCheckReserved(sqlite3_file* f, int* out) {
    return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int fFileControl(sqlite3_file* f, int op, void* arg) {
    return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int fSectorSize(sqlite3_file* f) {
    return real(f)->pMethods->xSectorSize(real(f));
}
int fDeviceCharacteristics(sqlite3_file* f) {
    return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int fShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
int fShmLock(sqlite3_file* f, int offset, int n, int flags) {
    return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void fShmBarrier(sqlite3_file* f) {
    real(f)->pMethods->xShmBarrier(real(f));
}
int fShmUnmap(sqlite3_file* f, int deleteFlag) {
    return real(f)->pMethods->xShmUnmap(real(f), deleteFlag);
}
int fFetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
    return real(f)->pMethods->xFetch(real(f), off, n, out);
}
int fUnfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    return real(f)->pMethods->xUnfetch(real(f), off, p);
}

const sqlite3_io_methods kMethods = {
    3,
    fClose,
    fRead,
    fWrite,
    fTruncate,
    fSync,
    fFileSize,
    fLock,
    fUnlock,
    fCheckReserved,
    fFileControl,
    fSectorSize,
    fDeviceCharacteristics,
    fShmMap,
    fShmLock,
    fShmBarrier,
    fShmUnmap,
    fFetch,
    fUnfetch,
};

int vOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* outFlags) {
    auto* ff = reinterpret_cast<FaultyFile*>(f);
    ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
    int rc = g_real->xOpen(g_real, name, ff->real, flags, outFlags);
    ff->base.pMethods = ff->real->pMethods ? &kMethods : nullptr;
    return rc;
}

}  // namespace

void registerFaultyVfs() {
    static std::once_flag once;
    std::call_once(once, [] {
        g_real = sqlite3_vfs_find(nullptr);
        g_vfs = *g_real;
        g_vfs.zName = kFaultyVfs;
        g_vfs.szOsFile = static_cast<int>(sizeof(FaultyFile)) + g_real->szOsFile;
        g_vfs.xOpen = vOpen;
        g_vfs.pNext = nullptr;
        sqlite3_vfs_register(&g_vfs, 0);
    });
}

void failAfter(long okOperations, int sqliteError) {
    g_state = State{okOperations, sqliteError, false};
}

void clearFaults() {
    g_state = State{};
}

bool faultHit() {
    return g_state.hit;
}

}  // namespace veld::test
