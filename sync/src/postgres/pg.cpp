// The libpq wrapper (see pg.hpp): the only file that calls libpq.
#include "pg.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <libpq-fe.h>
#include <poll.h>

namespace veld::pg {

namespace {

// Type OIDs (src/include/catalog/pg_type.dat).
constexpr unsigned kBoolOid = 16;
constexpr unsigned kByteaOid = 17;
constexpr unsigned kInt8Oid = 20;
constexpr unsigned kInt2Oid = 21;
constexpr unsigned kInt4Oid = 23;
constexpr unsigned kTextOid = 25;
constexpr unsigned kNumericOid = 1700;
// Prepared statements kept per connection.
constexpr std::size_t kMaxPrepared = 200;

std::uint64_t readBig(const char* p, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i)
        v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

void appendBig(std::string& out, std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// An integral numeric (sum() of bigints is numeric) in binary: ndigits, weight, sign, dscale,
// then base-10000 digits.
std::int64_t numericValue(const char* p, int len) {
    if (len < 8) return 0;
    const auto ndigits = static_cast<int>(readBig(p, 2));
    const auto weight = static_cast<std::int16_t>(readBig(p + 2, 2));
    const auto sign = static_cast<unsigned>(readBig(p + 4, 2));
    if (len < 8 + 2 * ndigits) return 0;
    std::int64_t v = 0;
    for (int i = 0; i <= weight; ++i) {
        const std::int64_t digit =
            i < ndigits ? static_cast<std::int64_t>(readBig(p + 8 + 2 * i, 2)) : 0;
        v = v * 10000 + digit;
    }
    return sign == 0x4000 ? -v : v;
}

bool unavailableState(std::string_view state) {
    return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03";
}

bool retryableState(std::string_view state) {
    return state == "40001" || state == "40P01";
}

std::string joinContext(std::string_view context, std::string_view message) {
    std::string out;
    if (!context.empty()) {
        out = context;
        out += ": ";
    }
    out += message;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
        out.pop_back();
    return out;
}

void ignoreNotice(void*, const char*) {}

// The URI's parts as libpq reads them; nullopt (and the reason) when it cannot be parsed.
struct ParsedUri {
    std::string user, host, port, dbname;
    bool hasPassword = false;
};

Result<ParsedUri> parseUri(std::string_view uri) {
    const std::string text(uri);
    char* err = nullptr;
    PQconninfoOption* options = PQconninfoParse(text.c_str(), &err);
    if (!options) {
        std::string why = err ? err : "out of memory";
        if (err) PQfreemem(err);
        return makeError(ErrorCode::InvalidArgument,
                         joinContext("the PostgreSQL location cannot be read", why));
    }
    ParsedUri out;
    for (PQconninfoOption* o = options; o->keyword; ++o) {
        if (!o->val) continue;
        const std::string_view key = o->keyword;
        if (key == "password") out.hasPassword = true;
        if (key == "user") out.user = o->val;
        if (key == "host") out.host = o->val;
        if (key == "hostaddr" && out.host.empty()) out.host = o->val;
        if (key == "port") out.port = o->val;
        if (key == "dbname") out.dbname = o->val;
    }
    PQconninfoFree(options);
    return out;
}

}  // namespace

Status checkUri(std::string_view uri) {
    if (!uri.starts_with("postgresql://") && !uri.starts_with("postgres://"))
        return makeError(ErrorCode::InvalidArgument,
                         "a PostgreSQL location starts with postgresql://");
    auto parsed = parseUri(uri);
    if (!parsed) return parsed.error();
    if (parsed->hasPassword)
        return makeError(ErrorCode::InvalidArgument,
                         "the PostgreSQL location holds a password: give it in a password file "
                         "(--store-password-file) or PGPASSFILE instead, never in the location");
    return {};
}

std::string describeUri(std::string_view uri) {
    auto parsed = parseUri(uri);
    if (!parsed) return "postgresql://(unreadable location)";
    std::string out = "postgresql://";
    if (!parsed->user.empty()) out += parsed->user + "@";
    out += parsed->host.empty() ? "localhost" : parsed->host;
    if (!parsed->port.empty()) out += ":" + parsed->port;
    out += "/" + parsed->dbname;
    return out;
}

// ---- Params ------------------------------------------------------------------------------------

Params& Params::add(std::int64_t value) {
    std::string bytes;
    appendBig(bytes, static_cast<std::uint64_t>(value), 8);
    m_values.push_back(std::move(bytes));
    m_null.push_back(false);
    m_binary.push_back(1);
    m_types.push_back(kInt8Oid);
    return *this;
}

Params& Params::add(std::string_view text) {
    m_values.emplace_back(text);
    m_null.push_back(false);
    m_binary.push_back(1);  // text's binary form is its bytes
    m_types.push_back(kTextOid);
    return *this;
}

Params& Params::addBytes(std::span<const std::uint8_t> bytes) {
    m_values.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    m_null.push_back(false);
    m_binary.push_back(1);
    m_types.push_back(kByteaOid);
    return *this;
}

Params& Params::add(const Uuid& id) {
    return addBytes({id.bytes.data(), id.bytes.size()});
}

Params& Params::addBool(bool value) {
    m_values.emplace_back(1, value ? '\1' : '\0');
    m_null.push_back(false);
    m_binary.push_back(1);
    m_types.push_back(kBoolOid);
    return *this;
}

Params& Params::addNull() {
    m_values.emplace_back();
    m_null.push_back(true);
    m_binary.push_back(0);
    m_types.push_back(0);
    return *this;
}

// ---- Rows --------------------------------------------------------------------------------------

Rows::Rows(pg_result* result) : m_result(result) {}
Rows::Rows(Rows&& other) noexcept : m_result(std::exchange(other.m_result, nullptr)) {}
Rows& Rows::operator=(Rows&& other) noexcept {
    if (this != &other) {
        if (m_result) PQclear(m_result);
        m_result = std::exchange(other.m_result, nullptr);
    }
    return *this;
}
Rows::~Rows() {
    if (m_result) PQclear(m_result);
}

int Rows::size() const {
    return m_result ? PQntuples(m_result) : 0;
}

std::int64_t Rows::affected() const {
    if (!m_result) return 0;
    const char* n = PQcmdTuples(m_result);
    return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
}

bool Rows::isNull(int row, int column) const {
    return !m_result || PQgetisnull(m_result, row, column) != 0;
}

std::int64_t Rows::integer(int row, int column) const {
    if (isNull(row, column)) return 0;
    const char* p = PQgetvalue(m_result, row, column);
    const int len = PQgetlength(m_result, row, column);
    switch (PQftype(m_result, column)) {
        case kInt8Oid:
            return len == 8 ? static_cast<std::int64_t>(readBig(p, 8)) : 0;
        case kInt4Oid:
            return len == 4 ? static_cast<std::int32_t>(readBig(p, 4)) : 0;
        case kInt2Oid:
            return len == 2 ? static_cast<std::int16_t>(readBig(p, 2)) : 0;
        case kBoolOid:
            return len == 1 && p[0] != 0 ? 1 : 0;
        case kNumericOid:
            return numericValue(p, len);
        default:
            return 0;
    }
}

bool Rows::boolean(int row, int column) const {
    if (isNull(row, column)) return false;
    if (PQftype(m_result, column) != kBoolOid) return integer(row, column) != 0;
    return PQgetlength(m_result, row, column) == 1 && PQgetvalue(m_result, row, column)[0] != 0;
}

std::string_view Rows::text(int row, int column) const {
    if (isNull(row, column)) return {};
    return {PQgetvalue(m_result, row, column),
            static_cast<std::size_t>(PQgetlength(m_result, row, column))};
}

std::span<const std::uint8_t> Rows::bytes(int row, int column) const {
    if (isNull(row, column)) return {};
    return {reinterpret_cast<const std::uint8_t*>(PQgetvalue(m_result, row, column)),
            static_cast<std::size_t>(PQgetlength(m_result, row, column))};
}

Uuid Rows::uuid(int row, int column) const {
    Uuid id;
    const auto b = bytes(row, column);
    if (b.size() == id.bytes.size()) std::copy(b.begin(), b.end(), id.bytes.begin());
    return id;
}

std::optional<std::int64_t> Rows::optionalInteger(int row, int column) const {
    if (isNull(row, column)) return std::nullopt;
    return integer(row, column);
}

// ---- Connection --------------------------------------------------------------------------------

Result<Connection> Connection::open(const ConnectionSettings& settings) {
    if (auto s = checkUri(settings.uri); !s) return s.error();
    std::string password;
    if (!settings.passwordFile.empty()) {
        std::ifstream in(settings.passwordFile);
        if (!in || !std::getline(in, password))
            return makeError(ErrorCode::InvalidArgument,
                             "cannot read the database password file " + settings.passwordFile);
        while (!password.empty() && (password.back() == '\r' || password.back() == '\n'))
            password.pop_back();
    }
    const auto seconds = std::max<long long>(
        1, std::chrono::duration_cast<std::chrono::seconds>(settings.connectTimeout).count());
    const std::string timeout = std::to_string(seconds);
    std::vector<const char*> keys{"dbname", "connect_timeout", "fallback_application_name",
                                  "client_encoding"};
    std::vector<const char*> values{settings.uri.c_str(), timeout.c_str(), "veld-collector",
                                    "UTF8"};
    if (!settings.passwordFile.empty()) {
        keys.push_back("password");
        values.push_back(password.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    pg_conn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
    if (!conn) return makeError(ErrorCode::Unavailable, "cannot reach the database: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
        std::string why = PQerrorMessage(conn);
        PQfinish(conn);
        return makeError(
            ErrorCode::Unavailable,
            joinContext("cannot reach the database " + describeUri(settings.uri), why));
    }
    PQsetNoticeProcessor(conn, &ignoreNotice, nullptr);
    Connection c;
    c.m_conn = conn;
    return c;
}

Connection::Connection(Connection&& other) noexcept
    : m_conn(std::exchange(other.m_conn, nullptr)),
      m_retryable(other.m_retryable),
      m_prepared(std::move(other.m_prepared)),
      m_preparedCount(other.m_preparedCount) {}

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        if (m_conn) PQfinish(m_conn);
        m_conn = std::exchange(other.m_conn, nullptr);
        m_retryable = other.m_retryable;
        m_prepared = std::move(other.m_prepared);
        m_preparedCount = other.m_preparedCount;
    }
    return *this;
}

Connection::~Connection() {
    if (m_conn) PQfinish(m_conn);
}

bool Connection::healthy() const {
    return m_conn && PQstatus(m_conn) == CONNECTION_OK;
}

bool Connection::idle() const {
    return healthy() && PQtransactionStatus(m_conn) == PQTRANS_IDLE;
}

bool Connection::alive() {
    if (!healthy()) return false;
    // An idle connection has nothing to read unless the server said goodbye (a shutdown, a
    // restart, an administrator's kill): read that now rather than fail the next query.
    pollfd fd{PQsocket(m_conn), POLLIN, 0};
    if (fd.fd >= 0 && ::poll(&fd, 1, 0) > 0) {
        if (PQconsumeInput(m_conn) == 0) return false;
        while (PGnotify* n = PQnotifies(m_conn))
            PQfreemem(n);
    }
    return healthy();
}

Error Connection::failure(pg_result* result, std::string_view context) {
    const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string message = primary ? primary : (m_conn ? PQerrorMessage(m_conn) : "no connection");
    const std::string_view sqlstate = state ? state : "";
    ErrorCode code = ErrorCode::Internal;
    if (!healthy() || sqlstate.empty() || unavailableState(sqlstate)) {
        code = ErrorCode::Unavailable;
        message = "the database cannot be reached now (" + message + ")";
    } else if (sqlstate == "23505") {
        code = ErrorCode::WrongState;
    } else if (sqlstate == "53100") {
        code = ErrorCode::StorageFull;
    } else if (retryableState(sqlstate)) {
        m_retryable = true;
    }
    return makeError(code, joinContext(context, message));
}

Result<std::optional<std::string>> Connection::prepared(const std::string& sql,
                                                        const Params& params,
                                                        std::string_view context) {
    // Statements differ by their text and their parameters' types (a null's type is the
    // server's guess, so a statement prepared with one is not used for a value).
    std::string key = sql;
    key.push_back('\0');
    key.append(reinterpret_cast<const char*>(params.m_types.data()),
               params.m_types.size() * sizeof(Oid));
    if (auto it = m_prepared.find(key); it != m_prepared.end()) return {it->second};
    // Statements whose text varies (lists of values of any length) would fill the cache: when
    // it is full it is emptied, outside a transaction; inside one, the statement runs unprepared.
    if (m_prepared.size() >= kMaxPrepared) {
        if (PQtransactionStatus(m_conn) != PQTRANS_IDLE) return std::optional<std::string>();
        if (auto s = exec("DEALLOCATE ALL", context); !s) return s.error();
        m_prepared.clear();
    }
    std::string name = "veld_" + std::to_string(++m_preparedCount);
    pg_result* result =
        PQprepare(m_conn, name.c_str(), sql.c_str(), params.size(), params.m_types.data());
    Rows owner(result);
    const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK) return failure(result, context);
    m_prepared.emplace(std::move(key), name);
    return {std::move(name)};
}

Result<Rows> Connection::query(std::string_view sql, const Params& params,
                               std::string_view context) {
    if (!m_conn) return makeError(ErrorCode::Unavailable, joinContext(context, "no connection"));
    const std::string text(sql);
    std::vector<const char*> values;
    std::vector<int> lengths;
    values.reserve(params.m_values.size());
    lengths.reserve(params.m_values.size());
    for (std::size_t i = 0; i < params.m_values.size(); ++i) {
        values.push_back(params.m_null[i] ? nullptr : params.m_values[i].data());
        lengths.push_back(static_cast<int>(params.m_values[i].size()));
    }
    auto name = prepared(text, params, context);
    if (!name) return name.error();
    pg_result* result =
        name->has_value() ? PQexecPrepared(m_conn, (*name)->c_str(), params.size(), values.data(),
                                           lengths.data(), params.m_binary.data(), 1)
                          : PQexecParams(m_conn, text.c_str(), params.size(), params.m_types.data(),
                                         values.data(), lengths.data(), params.m_binary.data(), 1);
    Rows rows(result);
    const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return failure(result, context);
    return rows;
}

Status Connection::run(std::string_view sql, const Params& params, std::string_view context) {
    auto rows = query(sql, params, context);
    if (!rows) return rows.error();
    return {};
}

Status Connection::exec(std::string_view sql, std::string_view context) {
    if (!m_conn) return makeError(ErrorCode::Unavailable, joinContext(context, "no connection"));
    const std::string text(sql);
    pg_result* result = PQexec(m_conn, text.c_str());
    Rows rows(result);  // owns it
    const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return failure(result, context);
    return {};
}

Status Connection::stream(std::string_view sql, const Params& params,
                          const std::function<Status(const Rows& row)>& visit,
                          std::string_view context) {
    if (!m_conn) return makeError(ErrorCode::Unavailable, joinContext(context, "no connection"));
    const std::string text(sql);
    std::vector<const char*> values;
    std::vector<int> lengths;
    for (std::size_t i = 0; i < params.m_values.size(); ++i) {
        values.push_back(params.m_null[i] ? nullptr : params.m_values[i].data());
        lengths.push_back(static_cast<int>(params.m_values[i].size()));
    }
    if (PQsendQueryParams(m_conn, text.c_str(), params.size(), params.m_types.data(), values.data(),
                          lengths.data(), params.m_binary.data(), 1) == 0)
        return failure(nullptr, context);
    if (PQsetSingleRowMode(m_conn) == 0) {
        while (pg_result* r = PQgetResult(m_conn))
            PQclear(r);
        return makeError(ErrorCode::Internal, joinContext(context, "cannot stream rows"));
    }
    Status outcome;
    bool stopped = false;
    while (pg_result* r = PQgetResult(m_conn)) {
        Rows rows(r);
        if (stopped) continue;  // drain what the server still sends
        const auto status = PQresultStatus(r);
        if (status == PGRES_SINGLE_TUPLE) {
            if (auto s = visit(rows); !s) {
                outcome = s;
                stopped = true;
                // Ask the server to stop sending; the rest is drained above.
                if (PGcancel* cancel = PQgetCancel(m_conn)) {
                    char buffer[256];
                    PQcancel(cancel, buffer, sizeof buffer);
                    PQfreeCancel(cancel);
                }
            }
        } else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            outcome = failure(r, context);
            stopped = true;
        }
    }
    return outcome;
}

// ---- Pool --------------------------------------------------------------------------------------

Pool::Pool(ConnectionSettings settings, int size)
    : m_settings(std::move(settings)), m_size(std::max(1, size)) {}

Pool::~Pool() = default;

Pool::Lease::Lease(Pool* pool, std::unique_ptr<Connection> connection)
    : m_pool(pool), m_connection(std::move(connection)) {}

Pool::Lease::Lease(Lease&& other) noexcept
    : m_pool(std::exchange(other.m_pool, nullptr)), m_connection(std::move(other.m_connection)) {}

Pool::Lease::~Lease() {
    if (m_pool) m_pool->release(std::move(m_connection));
}

Result<Pool::Lease> Pool::acquire() {
    std::unique_ptr<Connection> connection;
    {
        std::unique_lock lock(m_mutex);
        // Exports hold a connection for a while; a request waits for one rather than fail.
        if (!m_returned.wait_for(lock, std::chrono::seconds(60),
                                 [this] { return !m_idle.empty() || m_out < m_size; }))
            return makeError(ErrorCode::Unavailable,
                             "every database connection is busy; try again");
        ++m_out;
        while (!m_idle.empty() && !connection) {
            connection = std::move(m_idle.back());
            m_idle.pop_back();
            if (!connection->alive()) connection.reset();
        }
    }
    if (!connection) {
        auto opened = Connection::open(m_settings);
        if (!opened) {
            std::lock_guard lock(m_mutex);
            --m_out;
            m_returned.notify_one();
            return opened.error();
        }
        connection = std::make_unique<Connection>(std::move(opened.value()));
    }
    return Lease(this, std::move(connection));
}

void Pool::release(std::unique_ptr<Connection> connection) {
    if (connection && connection->healthy() && !connection->idle()) {
        // Left inside a transaction (a caller returned early): end it before anyone reuses it.
        (void)connection->exec("ROLLBACK");
    }
    std::lock_guard lock(m_mutex);
    --m_out;
    if (connection && connection->idle()) m_idle.push_back(std::move(connection));
    m_returned.notify_one();
}

// ---- transactions ------------------------------------------------------------------------------

Status transact(Pool& pool, Isolation isolation, const std::function<Status(Connection&)>& body,
                int attempts) {
    const char* begin = isolation == Isolation::Serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                        : isolation == Isolation::RepeatableRead
                            ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
                            : "BEGIN";
    thread_local std::minstd_rand jitter{std::random_device{}()};
    Status last;
    for (int attempt = 1; attempt <= std::max(1, attempts); ++attempt) {
        auto lease = pool.acquire();
        if (!lease) return lease.error();
        Connection& c = **lease;
        c.m_retryable = false;
        if (auto s = c.exec(begin, "starting a transaction"); !s) {
            // A pooled connection the server dropped since its last use: nothing was done yet,
            // so a fresh connection may try again.
            last = s;
            if (s.error().code == ErrorCode::Unavailable && !c.healthy()) continue;
            return s;
        }
        Status s = body(c);
        if (s) {
            s = c.exec("COMMIT", "committing");
            if (s) return s;
            // A commit that failed with the connection lost may have happened: never repeat.
            if (!c.m_retryable) return s;
        } else {
            const bool broken = !c.healthy();
            if (c.healthy()) (void)c.exec("ROLLBACK");
            last = s;
            // The body ran inside a transaction that never committed: when the connection broke
            // under it (a stale pooled connection), it may run again on a fresh one.
            if (!c.m_retryable && !(broken && s.error().code == ErrorCode::Unavailable)) return s;
            if (broken && attempt > 1) return s;
        }
        last = s;
        const auto pauseMs = static_cast<int>(jitter() % (5u * static_cast<unsigned>(attempt))) + 1;
        std::this_thread::sleep_for(std::chrono::milliseconds(pauseMs));
    }
    return last;
}

}  // namespace veld::pg
