// Files and folders that hold personal data: made readable by their owner only, and checked.
//
// Every file Veld writes with participants' data (device stores, the collector's store and its
// WAL, exports, records files, key rings) is mode 0600, in a folder of mode 0700 where Veld makes
// the folder. A program that serves such data (veld-collector) refuses to start on a file or
// folder that others may read, as PostgreSQL does with its data folder.
//
// Thread-safety: plain functions over the file system.
#pragma once

#include <string>

#include <veld/result.hpp>

namespace veld::files {

/// Creates `path` empty with mode 0600 if it does not exist; an existing file is left as it is.
/// SQLite gives a database's -wal and -shm files the database's mode, so creating a store's file
/// this way before SQLite opens it keeps all three private.
Status createPrivateFile(const std::string& path);

/// Makes the folder `path` with mode 0700 if it does not exist (its parents too, also 0700);
/// an existing folder is left as it is.
Status makePrivateFolder(const std::string& path);

/// Succeeds when `path` (a file or a folder) gives no permission at all to its group or to
/// others; otherwise an error (`wrong-state`) naming the path, its mode and the chmod that
/// fixes it. A missing path is `not-found`.
Status checkPrivate(const std::string& path);

}  // namespace veld::files
