// A test-only SQLite VFS that passes everything to the default VFS but can make writes, syncs and
// truncations fail from a chosen point on, as a disk that fills up or breaks would. The file is
// real; only the failure is injected. Process-wide; not for use from several threads at once.
#pragma once

#include <cstdint>

namespace veld::test {

inline constexpr const char* kFaultyVfs = "veld-faulty";

/// Registers the VFS (once per process) under kFaultyVfs.
void registerFaultyVfs();

/// The next `okOperations` writes/syncs/truncations succeed; every one after that fails with
/// `sqliteError` (SQLITE_FULL, SQLITE_IOERR_WRITE, ...) until clearFaults(). Negative: never fail.
void failAfter(long okOperations, int sqliteError);
void clearFaults();
/// Whether an operation has been refused since the last failAfter().
bool faultHit();

}  // namespace veld::test
