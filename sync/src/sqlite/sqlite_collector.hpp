// Internal to the SQLite store: what its domain classes share, and the functions every domain uses
// inside a transaction (the meta table, counters, the audit log, device facts).
//
// The store is one SQLite file in WAL mode. One writing connection, used under a mutex (SQLite
// serialises writers anyway), with group commit for pushes; and one reading connection for
// credentials, so that checking a device never waits for another's commit. The schema and its
// migrations are in sqlite_schema.cpp; each domain (sqlite_access, sqlite_records with
// sqlite_intake, sqlite_cases, sqlite_studies, sqlite_review, sqlite_exports) implements one
// interface of store/*.hpp, and sqlite_store.cpp combines them.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <veld/allocation.hpp>
#include <veld/result.hpp>
#include <veld/signing.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/uuid.hpp>

namespace veld::sync::sqlite {

/// A push waiting in the group-commit queue.
struct QueuedPush {
    const Uuid* deviceId;
    const PushBatch* batch;
    std::int64_t nowMs;
    std::optional<Result<PushReply>> result;
    bool done;
};

/// Built first by the combining class and handed to every domain class: the connections, the
/// statements every push and request runs, the policy, the group-commit queue and the checkpoint
/// thread.
class SqliteContext {
  public:
    SqliteContext(std::string path, sql::Database db, sql::Database reader,
                  sql::Database checkpointer, CollectorPolicy policy);
    ~SqliteContext();
    SqliteContext(const SqliteContext&) = delete;
    SqliteContext& operator=(const SqliteContext&) = delete;

    /// Prepares the statements every push and every request runs, once.
    Status prepare();

    std::string path;
    std::mutex mutex;  // the writing connection and its statements
    sql::Database db;
    std::mutex readMutex;  // the reading connection
    sql::Database reader;
    CollectorPolicy policy;
    /// The collector's identity key, read when the store opened (it never changes).
    signing::SecretSigningKey signingKey;

    std::mutex queueMutex;  // pushes waiting for a commit
    std::condition_variable queueChanged;
    std::vector<QueuedPush*> queue;
    bool leading = false;
    std::function<void(std::size_t)> commitObserver;  // under queueMutex

    sql::Statement deviceState, heldRevision, heldRejected, insertRejected, insertRevision,
        currentRecord, insertRecord, insertConflict, updateRecord, advanceDevice, credential;

  private:
    void walGrew(int pages);
    void checkpointLoop();

    sql::Database m_checkpointer;  // used by the checkpoint thread only
    std::mutex m_checkpointMutex;
    std::condition_variable m_checkpointWanted;
    bool m_checkpointDue = false;
    bool m_closing = false;
    std::thread m_checkpointThread;
};

// ---- shared helpers (sqlite_common.cpp): ctx.mutex held, inside the caller's transaction ------

std::span<const std::uint8_t> idBytes(const Uuid& id);
Uuid idFrom(std::span<const std::uint8_t> blob);

// Resets a kept statement when the scope that used it ends (a SELECT left stepping would hold
// its read snapshot).
struct Resetting {
    sql::Statement& st;
    ~Resetting() { st.reset(); }
};

inline std::int64_t i64(std::uint64_t v) {
    return static_cast<std::int64_t>(v);
}

/// A meta value ("" when missing).
Result<std::string> metaText(SqliteContext& ctx, const char* key);

/// Appends to the audit log.
Status auditLocked(SqliteContext& ctx, std::int64_t nowMs, std::string_view actor,
                   std::string_view action, std::string_view subject, std::string_view detail);

/// The next number of a meta counter (from 1); numbers are never given twice.
Result<std::uint64_t> nextCounter(SqliteContext& ctx, std::string_view key);

/// A meta counter's value (0 when never used).
Result<std::uint64_t> counterValue(SqliteContext& ctx, std::string_view key);

/// A device's team and box key; NotFound for an unknown device.
struct DeviceFacts {
    std::string team;
    std::optional<std::array<std::uint8_t, alloc::kBoxKeyBytes>> boxKey;
    bool revoked = false;
};
Result<DeviceFacts> deviceFacts(SqliteContext& ctx, const Uuid& deviceId);

/// The published forms, oldest first (takes ctx.mutex).
Result<std::vector<PublishedFormInfo>> readPublishedForms(SqliteContext& ctx);

}  // namespace veld::sync::sqlite
