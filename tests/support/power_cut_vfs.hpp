// A test-only SQLite VFS that simulates a power cut: it wraps the unix VFS, keeps every write
// made since a file's last xSync in memory (reads see them), and when the power is cut, leaves on
// disk exactly what a disk might hold afterwards.
//
// What it models
// - Data. A write reaches the disk only through xSync of its file (any handle of it: a sync is
//   per file, as fsync is per inode). At the cut, the writes not yet synced are taken in a random
//   order and each is dropped, kept whole, or torn (some of its 512-byte sectors written, the
//   others not). A sector that reaches the disk holds the file's whole sector as it was just
//   after that write (the page cache writes sectors, not byte ranges), so a sector is always one
//   of the states it went through since the last sync, never a mix of two; bytes outside every
//   unsynced write never change (SQLite's "powersafe overwrite", which the unix VFS reports).
//   Unsynced truncations are kept or dropped at random, like writes.
// - Names. Creating and deleting a file are changes to its folder, durable only once the folder
//   is synced. The unix VFS syncs the folder at the first xSync of a rollback journal, super
//   journal or WAL handle opened to be created, and in xDelete when asked to; this VFS does the
//   same. At the cut, a random prefix of each folder's unsynced creations and deletions survives
//   (a journaling file system commits metadata in order): a file whose creation did not survive
//   vanishes, a file whose deletion did not survive comes back with what was durable in it
//   (deleted files are kept under a hidden name until then). Main database files created through
//   the VFS are modelled the same way (SQLite never syncs the folder for them).
// - Shared memory. The -shm file is memory, never durable: the cut deletes every main database's
//   -shm, as no process holds it after a power loss.
// - After the cut, nothing reaches the disk: every read, write, sync, lock, open and delete fails
//   with an SQLITE_IOERR code, so connections can only be closed (closing and unlocking still
//   work, so that the process's own lock bookkeeping is released).
//
// What it does not model: a disk that lies about syncs, damage to sectors that were not written,
// bit rot, reordering of the metadata journal, other processes (everything runs in one), or
// memory-mapped I/O (the VFS reports I/O methods version 2, so SQLite never maps the files).
// Files that exist when a round starts count as durable. The real files are never fsynced: the
// page cache stands in for the disk, which is fine for a test and nothing else.
//
// Temporary files (no name, or temp databases and journals, statement journals) pass through
// untouched: they do not outlive a power cut anyway.
//
// Thread-safety: every I/O method, cutPower() and the queries below may be called from any
// thread; one process-wide mutex serialises them (shared-memory methods pass straight through).
// armPowerCut() and endPowerCutRound() must not run while files are open through the VFS.
#pragma once

#include <cstdint>

namespace veld::test {

inline constexpr const char* kPowerCutVfs = "veld-power-cut";

/// Registers the VFS (once per process) under kPowerCutVfs, over the unix VFS.
void registerPowerCutVfs();

/// Makes the VFS SQLite's default (on) or gives the unix VFS that place back (off), so that code
/// which opens its connections without naming a VFS (the collector's store) goes through it.
/// Connections keep the VFS they were opened with.
void setPowerCutVfsDefault(bool on);

/// What one round did.
struct PowerCutStats {
    long operations = 0;          // counted operations (writes, syncs, truncations, deletions)
    bool cut = false;             // the power was cut (else the round ended cleanly)
    long cutAt = -1;              // operations counted when it was cut
    bool cutAtOperation = false;  // after the chosen operation (not by cutPower())
    long unsyncedWrites = 0;      // writes not synced at the cut
    long dropped = 0;             // ... of which none of the sectors reached the disk
    long kept = 0;                // ... all of them
    long torn = 0;                // ... some of them
    long truncations = 0;         // unsynced truncations at the cut
    long vanished = 0;            // files whose creation was not durable, gone after the cut
    long revived = 0;             // files whose deletion was not durable, back after the cut
    int openFiles = 0;            // files still open through the VFS when the round ended (a bug)
};

/// Starts a round. Every file opened from now on starts as it is on disk (durable). The power
/// is cut right after the `cutAfter`-th counted operation (0: at once; negative: only through
/// cutPower()). `seed` decides what survives the cut.
void armPowerCut(long cutAfter, std::uint64_t seed);

/// Cuts the power now, from any thread. False when it was cut already.
bool cutPower();

/// Whether the power has been cut in this round.
bool powerIsCut();

/// Operations counted since armPowerCut().
long powerCutOperations();

/// Ends the round, after every connection through the VFS was closed. Without a cut, every
/// pending write and folder change reaches the disk (a clean shutdown); after one, the disk
/// stays as the cut left it. Either way the -shm files of the round's databases are removed and
/// the VFS forgets every file.
PowerCutStats endPowerCutRound();

}  // namespace veld::test
