// Backup and restore of the collector's SQLite store, and the lock a running collector keeps on
// it (see collector_backup.hpp).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <veld/private_files.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_backup.hpp>
#include <veld/sync/collector_store.hpp>

namespace veld::sync {

namespace {

Error fromErrno(int err, const std::string& what) {
    const ErrorCode code = err == ENOENT   ? ErrorCode::NotFound
                           : err == ENOSPC ? ErrorCode::StorageFull
                           : (err == EACCES || err == EROFS || err == EPERM) ? ErrorCode::ReadOnly
                                                                             : ErrorCode::Io;
    return Error{code, what + ": " + std::strerror(err)};
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string folderOf(const std::string& path) {
    const auto folder = std::filesystem::path(path).parent_path();
    return folder.empty() ? std::string(".") : folder.string();
}

// fsync of a file or a folder (a rename is durable once its folder is synced).
Status syncPath(const std::string& path, bool folder) {
    const int fd = ::open(path.c_str(), (folder ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return fromErrno(errno, "cannot open " + path);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return fromErrno(err, "cannot sync " + path);
    return {};
}

// A new file, 0600, that must not exist yet.
Status createNew(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fromErrno(errno, "cannot create " + path);
    ::close(fd);
    return {};
}

// Renames `from` to `to` unless `to` exists (then WrongState), atomically.
Status renameNoReplace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
    if (errno == EEXIST) return makeError(ErrorCode::WrongState, to + " exists already");
    if (errno != EINVAL && errno != ENOSYS) return fromErrno(errno, "cannot rename to " + to);
    // A file system without RENAME_NOREPLACE: link() refuses an existing name just the same.
    if (::link(from.c_str(), to.c_str()) != 0) {
        if (errno == EEXIST) return makeError(ErrorCode::WrongState, to + " exists already");
        return fromErrno(errno, "cannot rename to " + to);
    }
    ::unlink(from.c_str());
    return {};
}

void removeDatabase(const std::string& path) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        ::unlink((path + suffix).c_str());
}

// The checks of checkCollectorFile on an open connection.
Result<StoreFacts> checkOpen(sql::Database& db, const std::string& path) {
    auto app = db.queryInt("PRAGMA application_id");
    if (!app) return app.error();
    auto version = db.queryInt("PRAGMA user_version");
    if (!version) return version.error();
    if (app.value() != kCollectorApplicationId || version.value() <= 0)
        return makeError(ErrorCode::NotAStore, path + " is not a Veld collector store");
    if (version.value() > kCollectorSchemaVersion) {
        return makeError(ErrorCode::TooNew, path +
                                                " was written by a newer Veld collector (schema " +
                                                std::to_string(version.value()) + ", this one " +
                                                std::to_string(kCollectorSchemaVersion) + ")");
    }
    auto check = db.prepare("PRAGMA integrity_check");
    if (!check) return check.error();
    std::string problems;
    for (;;) {
        auto row = check->step();
        if (!row)
            return makeError(ErrorCode::Corrupt, path + " is damaged: " + row.error().message);
        if (!row.value()) break;
        const std::string line(check->columnText(0));
        if (line == "ok") continue;
        if (problems.size() < 400) problems += (problems.empty() ? "" : "; ") + line;
    }
    if (!problems.empty())
        return makeError(ErrorCode::Corrupt,
                         path + " is damaged (integrity_check: " + problems + ")");
    StoreFacts facts;
    facts.schemaVersion = version.value();
    auto devices = db.queryInt("SELECT count(*) FROM devices");
    if (!devices) return devices.error();
    auto revisions = db.queryInt("SELECT count(*) FROM revisions");
    if (!revisions) return revisions.error();
    facts.devices = devices.value();
    facts.revisions = revisions.value();
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) facts.bytes = static_cast<std::int64_t>(st.st_size);
    return facts;
}

// Any failure of opening or reading a file given as a store, said as what it means for it.
Error asDamaged(const Error& e, const std::string& path) {
    if (e.code == ErrorCode::Corrupt || e.code == ErrorCode::NotAStore)
        return makeError(e.code,
                         path + " is damaged or not a Veld collector store (" + e.message + ")");
    return e;
}

// A copy of the file `from` into the new 0600 file `to`, synced.
Status copyFile(const std::string& from, const std::string& to) {
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return fromErrno(errno, "cannot read " + from);
    const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        const int err = errno;
        ::close(in);
        return fromErrno(err, "cannot create " + to);
    }
    Status result;
    char buffer[1 << 16];
    for (;;) {
        const ssize_t n = ::read(in, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            result = fromErrno(errno, "cannot read " + from);
            break;
        }
        if (n == 0) break;
        ssize_t off = 0;
        while (off < n) {
            const ssize_t w = ::write(out, buffer + off, static_cast<std::size_t>(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                result = fromErrno(errno, "cannot write " + to);
                break;
            }
            off += w;
        }
        if (!result) break;
    }
    if (result && ::fsync(out) != 0) result = fromErrno(errno, "cannot sync " + to);
    ::close(in);
    ::close(out);
    return result;
}

}  // namespace

Result<StoreFacts> checkCollectorFile(const std::string& path) {
    if (!exists(path)) return makeError(ErrorCode::NotFound, "no file " + path);
    auto db = sql::Database::open(path, sql::OpenMode::ReadOnly);
    if (!db) return asDamaged(db.error(), path);
    auto facts = checkOpen(db.value(), path);
    if (!facts) return asDamaged(facts.error(), path);
    return facts;
}

Result<StoreFacts> backupCollector(const std::string& store, const std::string& dest) {
    if (exists(dest))
        return makeError(ErrorCode::WrongState,
                         dest +
                             " exists already; a backup never replaces a file (choose a new "
                             "name)");
    if (!exists(store)) return makeError(ErrorCode::NotFound, "no collector store " + store);
    // Read-write although only read: when no collector runs, closing it as the store's last
    // connection folds and removes the WAL and -shm it opened, as any SQLite writer would.
    auto source = sql::Database::open(store, sql::OpenMode::ReadWrite);
    if (!source) return source.error();
    {
        auto app = source->queryInt("PRAGMA application_id");
        if (!app) return asDamaged(app.error(), store);
        if (app.value() != kCollectorApplicationId)
            return makeError(ErrorCode::NotAStore, store + " is not a Veld collector store");
    }
    // A temporary name beside DEST (the same file system, so the rename is atomic).
    const std::string tmp = dest + ".tmp-" + std::to_string(::getpid());
    removeDatabase(tmp);
    if (auto s = createNew(tmp); !s) return s.error();
    auto fail = [&](Error e) -> Result<StoreFacts> {
        removeDatabase(tmp);
        return e;
    };
    {
        auto target = sql::Database::open(tmp, sql::OpenMode::ReadWrite);
        if (!target) return fail(target.error());
        // One step (-1): the whole store is copied under one read transaction of the source,
        // which commits by others do not disturb (WAL), so it finishes however busy the
        // collector is and holds the store as it was when the step began.
        if (auto s = target->backupFrom(source.value(), "backing up " + store); !s)
            return fail(s.error());
        // A single file: the copy carries the store's WAL mode in its header; a rollback
        // journal mode makes it self-contained (veld-collector turns WAL on again when it
        // opens a restored store).
        if (auto s = target->exec("PRAGMA journal_mode = DELETE"); !s) return fail(s.error());
    }
    // Checked as it lies on the disk, after it is synced.
    if (auto s = syncPath(tmp, false); !s) return fail(s.error());
    auto facts = checkCollectorFile(tmp);
    if (!facts) return fail(facts.error());
    if (auto s = renameNoReplace(tmp, dest); !s) return fail(s.error());
    (void)syncPath(folderOf(dest), true);
    return facts;
}

Result<RestoreOutcome> restoreCollector(const std::string& backup, const std::string& store,
                                        bool force) {
    if (!exists(backup)) return makeError(ErrorCode::NotFound, "no backup " + backup);
    const bool storeThere = exists(store) || exists(store + "-wal");
    const std::string keptAs = store + ".before-restore";
    if (storeThere && !force) {
        return makeError(ErrorCode::WrongState,
                         store +
                             " exists; restoring replaces it: give --force to do so (the "
                             "store is kept as " +
                             keptAs + ")");
    }
    if (storeThere && (exists(keptAs) || exists(keptAs + "-wal"))) {
        return makeError(ErrorCode::WrongState,
                         keptAs + " exists already (an earlier restore's): move it away first");
    }
    // The lock for the whole swap: a collector starting meanwhile finds it taken and stops.
    FileLock lock;
    if (exists(store)) {
        auto taken = takeCollectorStoreLock(store);
        if (!taken) {
            if (taken.error().code == ErrorCode::InUse) {
                return makeError(ErrorCode::InUse,
                                 "a running veld-collector holds " + store +
                                     ": stop it first (systemctl stop veld-collector)");
            }
            return taken.error();
        }
        lock = std::move(taken.value());
    }
    // The bytes that become the store are the ones checked: a private copy beside the store.
    const std::string tmp = store + ".restore-tmp-" + std::to_string(::getpid());
    removeDatabase(tmp);
    auto fail = [&](Error e) -> Result<RestoreOutcome> {
        removeDatabase(tmp);
        return e;
    };
    if (auto s = files::makePrivateFolder(folderOf(store)); !s) return s.error();
    if (auto s = copyFile(backup, tmp); !s) return fail(s.error());
    auto facts = checkCollectorFile(tmp);
    if (!facts) {
        Error e = facts.error();
        // Said of the backup, which is what the user named.
        for (std::size_t at = e.message.find(tmp); at != std::string::npos;
             at = e.message.find(tmp, at + backup.size()))
            e.message.replace(at, tmp.size(), backup);
        return fail(e);
    }
    if (exists(store)) {
        // Any other program with the store open (veldctl, an export) holds SQLite's shared lock:
        // taking SQLite's exclusive lock without waiting tells. When it succeeds, closing the
        // connection also folds the store's WAL into it, so the kept store is one file.
        auto probe = sql::Database::open(store, sql::OpenMode::ReadWrite, 0);
        if (!probe) return fail(probe.error());
        Status taken = probe->exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT");
        if (!taken) {
            return fail(taken.error().code == ErrorCode::InUse
                            ? makeError(ErrorCode::InUse,
                                        "another program has " + store + " open: stop it first")
                            : taken.error());
        }
    }
    std::string moved;
    if (storeThere) {
        if (exists(store)) {
            if (auto s = renameNoReplace(store, keptAs); !s) return fail(s.error());
        }
        if (exists(store + "-wal")) {
            if (auto s = renameNoReplace(store + "-wal", keptAs + "-wal"); !s)
                return fail(s.error());
        }
        ::unlink((store + "-shm").c_str());
        moved = keptAs;
    }
    if (auto s = renameNoReplace(tmp, store); !s) return fail(s.error());
    (void)syncPath(folderOf(store), true);
    return RestoreOutcome{facts.value(), moved};
}

Result<FileLock> takeCollectorStoreLock(const std::string& storePath) {
    return FileLock::tryTake(storePath, FileLock::Open::MustExist,
                             storePath + " is held by a running veld-collector (or a restore)");
}

}  // namespace veld::sync
