// Backing up and restoring the collector's store (SQLite), and the lock a running collector
// keeps on it.
//
// A backup is taken with SQLite's online backup API in one step, under one read transaction of
// the source: devices may keep pushing (WAL mode lets the collector commit meanwhile), and the
// copy is the store exactly as it was when that transaction began, nothing torn. It is written
// 0600 under a temporary name, turned into a single self-contained file (rollback journal mode),
// checked (PRAGMA integrity_check, the collector's application id and schema version) and only
// then renamed to its name, which must not exist.
//
// A restore checks the backup the same way (on a private copy, the bytes that become the store)
// and replaces the store only when no collector holds it (takeCollectorStoreLock) and no other
// program has it open; an existing store is replaced only when forced, and then kept as
// STORE.before-restore.
//
// Thread-safety: plain functions over files.
#pragma once

#include <cstdint>
#include <string>

#include <veld/result.hpp>
#include <veld/sync/sync_lock.hpp>

namespace veld::sync {

/// What a check of a collector store file found.
struct StoreFacts {
    std::int64_t schemaVersion = 0;
    std::int64_t bytes = 0;
    std::int64_t devices = 0;
    std::int64_t revisions = 0;
};

/// Checks a collector store file (a backup, or a store no collector is using): SQLite's
/// integrity_check passes, it is a Veld collector store (application id) of a schema version this
/// collector can serve. Corrupt (damaged or truncated), NotAStore, TooNew, NotFound otherwise. It
/// must be a single file (no -wal beside it holding part of it): a backup is.
Result<StoreFacts> checkCollectorFile(const std::string& path);

/// Writes a backup of the collector store `store` to `dest` (see above). `dest` must not exist
/// (WrongState); the store may be in use by a running collector. The facts of the backup.
Result<StoreFacts> backupCollector(const std::string& store, const std::string& dest);

struct RestoreOutcome {
    StoreFacts facts;
    std::string keptAs;  // where the replaced store was moved; empty when there was none
};

/// Makes `store` a copy of the backup `backup` (see above). Refused, with nothing changed:
/// a backup that fails checkCollectorFile; a store that a collector or another program holds
/// (InUse); an existing store (or its -wal) without `force` (WrongState); STORE.before-restore
/// already there (WrongState).
Result<RestoreOutcome> restoreCollector(const std::string& backup, const std::string& store,
                                        bool force);

/// The lock on the collector store file (an flock, see sync_lock.hpp), held by veld-collector
/// for as long as it serves the store, and by a restore while it replaces it: a second
/// collector, or a restore, finds it taken (InUse). NotFound when the file is missing. Release it
/// only after the store's connections are closed.
Result<FileLock> takeCollectorStoreLock(const std::string& storePath);

}  // namespace veld::sync
