// Internal to the PostgreSQL backend: what its domain classes share, and the functions one domain
// offers another inside a transaction (a push applies case changes and allocations; a pull reads
// cases and deals blocks).
//
// The tables mirror the SQLite store's schema (same tables, columns and meaning): INTEGER is
// bigint, BLOB is bytea, TEXT is text, SQLite's INTEGER PRIMARY KEY row ids are bigint identity
// columns. The schema and its migrations are in pg_schema.cpp. One column name is a reserved word
// in PostgreSQL and must be quoted in SQL: forms."binary".
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <veld/record.hpp>
#include <veld/result.hpp>
#include <veld/signing.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/uuid.hpp>

#include "pg.hpp"

namespace veld::sync::postgres {

/// Built first by the combining class and handed to every domain class.
struct PgContext {
    PgContext(pg::ConnectionSettings settings, int poolSize, CollectorPolicy collectorPolicy)
        : pool(std::move(settings), poolSize), policy(collectorPolicy) {}

    pg::Pool pool;
    CollectorPolicy policy;
    /// The collector's identity key, read when the store opened (it never changes).
    signing::SecretSigningKey signingKey;

    std::mutex observerMutex;
    std::function<void(std::size_t)> commitObserver;  // under observerMutex

    // Numbering changed cases (numberChangedCases): one numbering at a time in this process;
    // callers that arrive meanwhile wait for the next, which serves them all.
    struct Numbering {
        std::mutex mutex;
        std::condition_variable done;
        std::uint64_t requested = 0;  // tickets given
        std::uint64_t completed = 0;  // every ticket up to this one is served
        bool running = false;
        bool known = false;  // a caller of the next numbering changed cases
        Status status;       // of the latest numbering
    } numbering;
};

// ---- shared helpers (pg_common.cpp) --------------------------------------------------------

/// Runs `body` on a pooled connection outside any explicit transaction (single-statement reads,
/// each its own snapshot). A connection the server dropped since its last use is replaced and
/// `body` runs once more, so `body` must be safe to repeat.
Status withConnection(PgContext& ctx, const std::function<Status(pg::Connection&)>& body);

// Inside the caller's transaction:

/// Appends to the audit log.
Status audit(pg::Connection& c, std::int64_t nowMs, std::string_view actor, std::string_view action,
             std::string_view subject, std::string_view detail);
/// The next `count` numbers of a meta counter (from 1), returning the last; numbers are never
/// given twice, across processes. The counter's row stays locked until the transaction ends.
Result<std::uint64_t> nextCounter(pg::Connection& c, std::string_view key, std::size_t count = 1);
/// A meta counter's value (0 when never used).
Result<std::uint64_t> counterValue(pg::Connection& c, std::string_view key);
/// Adds the ids as parameters and returns their placeholders, "$a, $b, ..." (for IN lists).
std::string idList(pg::Params& params, const std::vector<Uuid>& ids);
/// A meta value ("" when missing).
Result<std::string> metaText(pg::Connection& c, std::string_view key);

// ---- cases and studies, for the records domain (pg_cases.cpp, pg_studies.cpp) -----------------

/// A device's revision and the `rid` it was stored as.
struct StoredPush {
    const PushRevision* rev = nullptr;
    std::int64_t rid = 0;
};
/// A device's revisions were stored: applies their case changes (or notes the contact with a
/// known case) and stores their allocations, as the SQLite store does. The cases it changes wait
/// for numberChangedCases() after the commit: true when there are any.
Result<bool> applyCasesAndAllocations(PgContext& ctx, pg::Connection& c, const Uuid& deviceId,
                                      const std::vector<StoredPush>& stored, std::int64_t nowMs);
/// Gives every changed case that waits for a change number its number, in a transaction of its
/// own (see pg_cases.cpp): after each transaction that changes cases (`changedSome`: the caller
/// just did), and before each pull.
Status numberChangedCases(PgContext& ctx, bool changedSome = false);
/// The case part of a pull: cases assigned to the device or its team changed after the
/// request's case cursor, and those it held that left it; sets the reply's case cursor and more.
Status pullCases(PgContext& ctx, pg::Connection& c, const Uuid& deviceId, const std::string& team,
                 const PullRequest& request, PullReply& reply);
/// The randomisation part of a pull: tops up the device, then the studies and the blocks dealt
/// to it after its allocation cursor, sealed to its box key.
Status pullStudies(PgContext& ctx, pg::Connection& c, const Uuid& deviceId,
                   const PullRequest& request, std::int64_t nowMs, PullReply& reply);

/// Stores an allocation a device reported in revision `rid`, as it came (pg_studies.cpp): another
/// revision of the same record carrying the same allocation is not stored again.
Status storeAllocation(pg::Connection& c, const Uuid& deviceId, const Uuid& caseId,
                       const Uuid& recordId, const Allocation& allocation, std::int64_t rid,
                       std::int64_t nowMs);

/// The collector's own device, under which staff's resolutions are stored (pg_staff.cpp): made
/// on first use (two processes making it at once agree on one), never able to authenticate and
/// revoked from the start. Its id and the last sequence number it used, its row locked to the end
/// of the transaction (a staff revision takes the next number).
Result<std::pair<Uuid, std::uint64_t>> staffDevice(pg::Connection& c, std::int64_t nowMs);

}  // namespace veld::sync::postgres
