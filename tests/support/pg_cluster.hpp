// A real PostgreSQL 15 server for tests, from Debian's packages (/usr/lib/postgresql/15/bin): a
// cluster made by initdb in a temporary folder, listening only on a Unix socket in that folder
// (no TCP port). As root the server runs as the unprivileged user `nobody` (PostgreSQL refuses to
// run as root).
//
// Tests normally share one cluster: the one named by $VELD_TEST_PG_CLUSTER (started for the whole
// ctest run by the pg_cluster fixture, tests/CMakeLists.txt), else one this process starts at
// first use and stops at exit. Tests that stop or restart the server make a cluster of their own.
#pragma once

#include <string>

#include <sys/types.h>

namespace veld::test {

class PgCluster {
  public:
    /// How the server runs: as a child of this process that dies with it, or detached (pg_ctl)
    /// so that it outlives the process that started it (the ctest fixture).
    enum class Lifetime { WithProcess, Detached };

    /// A new cluster (initdb) in a fresh temporary folder, started. Throws std::runtime_error
    /// when PostgreSQL 15 is not installed or does not start (the message says why).
    explicit PgCluster(Lifetime lifetime = Lifetime::WithProcess);
    /// A cluster in `folder`: made there when the folder holds none, started when not running.
    PgCluster(const std::string& folder, Lifetime lifetime);
    /// Stops a server this object runs (WithProcess) and removes its folder.
    ~PgCluster();
    PgCluster(const PgCluster&) = delete;
    PgCluster& operator=(const PgCluster&) = delete;

    /// An already running cluster in `folder` (started by the fixture): only used, never stopped.
    static PgCluster* attach(const std::string& folder);

    enum class StopMode { Fast, Immediate };
    void stop(StopMode mode = StopMode::Fast);
    void start();
    void restart() {
        stop(StopMode::Fast);
        start();
    }
    [[nodiscard]] bool running() const;

    /// A fresh, empty database for one test: its `postgresql://` location (user `postgres`, no
    /// password; `host=` the socket folder, percent-encoded).
    std::string createDatabase();
    /// The location of database `name` on this cluster, as user `user`.
    [[nodiscard]] std::string location(const std::string& name,
                                       const std::string& user = "postgres") const;
    /// Runs SQL as the superuser in database `postgres` (roles, settings); throws on failure.
    void execute(const std::string& sql) const;

    [[nodiscard]] const std::string& folder() const { return m_folder; }
    /// The role made with a password ("veld-test-password") that only password authentication
    /// admits: for the tests of password files.
    static constexpr const char* kPasswordRole = "veld_password";
    static constexpr const char* kPassword = "veld-test-password";

    /// Milliseconds the last start() took (initdb excluded).
    [[nodiscard]] long long lastStartMs() const { return m_lastStartMs; }

  private:
    explicit PgCluster(const std::string& folder);  // attach
    void initdb();

    std::string m_folder;
    Lifetime m_lifetime = Lifetime::WithProcess;
    bool m_owned = false;  // made its folder; removes it at the end
    bool m_attached = false;
    pid_t m_pid = -1;  // the postmaster, when a child of this process
    long long m_lastStartMs = 0;
};

/// The cluster tests share (see above); started at first use.
PgCluster& sharedPgCluster();

/// The backend the collector tests run against: "postgresql" when $VELD_TEST_BACKEND says so,
/// else "sqlite".
bool testingPostgres();

}  // namespace veld::test
