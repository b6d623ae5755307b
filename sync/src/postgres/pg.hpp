// Internal to the collector: the one libpq wrapper. Connections, parameters, results, a pool and
// transactions that retry serialization failures. No other file calls libpq.
//
// Parameters are sent and results received in binary (bytea and integers travel as they are;
// text is UTF-8). Integer columns may be smallint, integer or bigint; booleans are read with
// boolean().
//
// Errors: a connection that fails or breaks (the server stopped, restarted or is not there yet;
// SQLSTATE class 08, 57P01-57P03) is ErrorCode::Unavailable, which the collector answers with
// 503 and Retry-After; a unique-constraint violation is ErrorCode::WrongState; anything else is
// ErrorCode::Internal (or StorageFull for a full disk, 53100). Messages name what was being done
// and the server's message; never parameters (they may be answers or secrets).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <veld/result.hpp>
#include <veld/uuid.hpp>

struct pg_conn;
struct pg_result;

namespace veld::pg {

/// How to reach the database: a `postgresql://` URI without a password. The password comes from
/// `passwordFile` (one line) when given, else from libpq's usual PGPASSFILE / ~/.pgpass.
struct ConnectionSettings {
    std::string uri;
    std::string passwordFile;
    std::chrono::milliseconds connectTimeout{5000};
};

/// Checks a store URI before use: a URI that carries a password is refused (it would end up in
/// process listings and logs).
Status checkUri(std::string_view uri);

/// The URI as logs may show it: user, host, port and database only.
std::string describeUri(std::string_view uri);

/// Query parameters, in order ($1, $2, ...).
class Params {
  public:
    Params& add(std::int64_t value);
    Params& add(std::string_view text);
    Params& add(const char* text) { return add(std::string_view(text)); }
    Params& add(const std::string& text) { return add(std::string_view(text)); }
    Params& addBytes(std::span<const std::uint8_t> bytes);
    Params& add(const Uuid& id);  // as bytea, 16 bytes (the schema keeps ids as bytea)
    Params& addBool(bool value);
    Params& addNull();
    template <typename T>
    Params& add(const std::optional<T>& value) {
        return value ? add(*value) : addNull();
    }

    [[nodiscard]] int size() const { return static_cast<int>(m_values.size()); }

  private:
    friend class Connection;
    std::vector<std::string> m_values;  // the bytes of each value
    std::vector<bool> m_null;
    std::vector<int> m_binary;      // 1 for binary (integers, bytea, bool), 0 for text
    std::vector<unsigned> m_types;  // type OIDs (int8, text, bytea, bool); 0 for null
};

/// A query's result: rows of columns, read by index. Owns the PGresult.
class Rows {
  public:
    Rows() = default;
    explicit Rows(pg_result* result);
    Rows(Rows&& other) noexcept;
    Rows& operator=(Rows&& other) noexcept;
    Rows(const Rows&) = delete;
    Rows& operator=(const Rows&) = delete;
    ~Rows();

    [[nodiscard]] int size() const;
    [[nodiscard]] bool empty() const { return size() == 0; }
    /// Rows changed by an INSERT, UPDATE or DELETE without RETURNING.
    [[nodiscard]] std::int64_t affected() const;

    [[nodiscard]] bool isNull(int row, int column) const;
    [[nodiscard]] std::int64_t integer(int row, int column) const;  // 0 for NULL
    [[nodiscard]] bool boolean(int row, int column) const;
    [[nodiscard]] std::string_view text(int row, int column) const;
    [[nodiscard]] std::span<const std::uint8_t> bytes(int row, int column) const;
    [[nodiscard]] Uuid uuid(int row, int column) const;  // from 16 bytes of bytea
    [[nodiscard]] std::optional<std::int64_t> optionalInteger(int row, int column) const;

  private:
    pg_result* m_result = nullptr;
};

enum class Isolation { ReadCommitted, RepeatableRead, Serializable };
class Pool;

class Connection {
  public:
    static Result<Connection> open(const ConnectionSettings& settings);

    Connection() = default;
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    /// One statement with parameters; its rows (binary). `context` says what Veld was doing.
    Result<Rows> query(std::string_view sql, const Params& params = {},
                       std::string_view context = {});
    /// The same, for statements without rows.
    Status run(std::string_view sql, const Params& params = {}, std::string_view context = {});
    /// One or more statements without parameters (schema, SET, BEGIN ...).
    Status exec(std::string_view sql, std::string_view context = {});

    /// Streams the rows of a query one at a time (libpq's single-row mode), for exports that
    /// must not hold every row in memory. `visit` may stop the stream with an error.
    Status stream(std::string_view sql, const Params& params,
                  const std::function<Status(const Rows& row)>& visit,
                  std::string_view context = {});

    /// False once the connection broke; a pool drops such connections.
    [[nodiscard]] bool healthy() const;
    /// Healthy and outside any transaction.
    [[nodiscard]] bool idle() const;
    /// Healthy, after reading what the server sent an idle connection (a goodbye on shutdown).
    bool alive();

  private:
    friend Status transact(Pool& pool, Isolation isolation,
                           const std::function<Status(Connection&)>& body, int attempts);
    Error failure(pg_result* result, std::string_view context);

    // The name of the prepared statement for `sql` with these parameter types, preparing it on
    // first use; nullopt when it is not to be prepared (the cache is full inside a transaction).
    Result<std::optional<std::string>> prepared(const std::string& sql, const Params& params,
                                                std::string_view context);

    pg_conn* m_conn = nullptr;
    bool m_retryable = false;  // a statement failed with a serialization failure or deadlock
    // Statements prepared on this connection: the server parses and plans each once.
    std::unordered_map<std::string, std::string> m_prepared;  // text and types -> name
    std::uint64_t m_preparedCount = 0;
};

/// A fixed number of connections opened on demand, shared by threads. A connection that broke
/// is replaced at the next acquire; while the server cannot be reached, acquire fails with
/// Unavailable after the settings' connect timeout.
class Pool {
  public:
    Pool(ConnectionSettings settings, int size);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    class Lease {
      public:
        Lease(Pool* pool, std::unique_ptr<Connection> connection);
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();
        Connection& operator*() { return *m_connection; }
        Connection* operator->() { return m_connection.get(); }

      private:
        Pool* m_pool = nullptr;
        std::unique_ptr<Connection> m_connection;
    };

    Result<Lease> acquire();
    [[nodiscard]] const ConnectionSettings& settings() const { return m_settings; }

  private:
    void release(std::unique_ptr<Connection> connection);

    ConnectionSettings m_settings;
    int m_size = 0;
    std::mutex m_mutex;
    std::condition_variable m_returned;
    std::vector<std::unique_ptr<Connection>> m_idle;
    int m_out = 0;  // leased connections
};

/// Runs `body` in one transaction on a pooled connection and commits it. A serialization
/// failure or deadlock (40001, 40P01) rolls back and runs `body` again (up to `attempts` times,
/// with a short random pause), so `body` must do nothing outside the database that it cannot
/// repeat. Any error from `body` rolls back and is returned.
Status transact(Pool& pool, Isolation isolation, const std::function<Status(Connection&)>& body,
                int attempts = 8);

}  // namespace veld::pg
