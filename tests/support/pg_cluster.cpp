// A real PostgreSQL 15 server for tests (see pg_cluster.hpp).
#include "support/pg_cluster.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace veld::test {

namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";

// The user the server runs as when this process is root (PostgreSQL refuses root).
struct RunAs {
    bool change = false;
    uid_t uid = 0;
    gid_t gid = 0;
};

RunAs serverUser() {
    RunAs r;
    if (::geteuid() != 0) return r;
    const passwd* pw = ::getpwnam("nobody");
    if (!pw)
        throw std::runtime_error(
            "the tests run as root and there is no user 'nobody' to run PostgreSQL as");
    r.change = true;
    r.uid = pw->pw_uid;
    r.gid = pw->pw_gid;
    return r;
}

// In a forked child: become the server's user (and die with the parent when asked).
void becomeServerUser(const RunAs& as, bool dieWithParent) {
    if (as.change) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(as.gid) != 0 || ::setuid(as.uid) != 0)
            ::_exit(126);
    }
    // Set after the change of user (which clears it): a test process that dies takes its
    // server with it (an immediate shutdown).
    if (dieWithParent) ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
}

[[noreturn]] void execArgv(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
}

// Runs argv as the server's user with stdout and stderr appended to `logFile`; its exit code.
int runAsServerUser(const std::vector<std::string>& argv, const std::string& logFile) {
    const RunAs as = serverUser();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        becomeServerUser(as, false);
        const int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        execArgv(argv);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string readTail(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    if (text.size() > 2000) text = text.substr(text.size() - 2000);
    return text;
}

std::string percentEncode(const std::string& text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::string tempRoot() {
    const char* t = std::getenv("TMPDIR");
    // A short path: a Unix socket's path must fit in 107 bytes.
    return (t && *t && std::strlen(t) < 60) ? t : "/tmp";
}

}  // namespace

PgCluster::PgCluster(Lifetime lifetime) : m_lifetime(lifetime), m_owned(true) {
    std::string pattern = tempRoot() + "/veld-pg-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot make a folder for PostgreSQL");
    m_folder = pattern;
    initdb();
    start();
}

PgCluster::PgCluster(const std::string& folder, Lifetime lifetime)
    : m_folder(folder), m_lifetime(lifetime) {
    std::filesystem::create_directories(m_folder);
    if (!std::filesystem::exists(m_folder + "/data/PG_VERSION")) initdb();
    if (!running()) start();
}

PgCluster::PgCluster(const std::string& folder) : m_folder(folder), m_attached(true) {}

PgCluster::~PgCluster() {
    if (m_attached) return;
    if (m_lifetime == Lifetime::WithProcess && m_pid > 0) stop(StopMode::Immediate);
    if (m_owned) {
        std::error_code ignored;
        std::filesystem::remove_all(m_folder, ignored);
    }
}

PgCluster* PgCluster::attach(const std::string& folder) {
    static std::mutex mutex;
    static std::vector<std::unique_ptr<PgCluster>> attached;
    std::lock_guard lock(mutex);
    for (auto& c : attached)
        if (c->m_folder == folder) return c.get();
    attached.push_back(std::unique_ptr<PgCluster>(new PgCluster(folder)));
    return attached.back().get();
}

void PgCluster::initdb() {
    if (::access((kBin + "initdb").c_str(), X_OK) != 0)
        throw std::runtime_error(
            "PostgreSQL 15 is not installed (apt-get install postgresql-15; tools/dev test "
            "installs it)");
    const RunAs as = serverUser();
    if (as.change && ::chown(m_folder.c_str(), as.uid, as.gid) != 0)
        throw std::runtime_error("cannot give " + m_folder + " to the user nobody");
    ::chmod(m_folder.c_str(), 0700);
    const std::string log = m_folder + "/initdb.log";
    const int rc =
        runAsServerUser({kBin + "initdb", "-D", m_folder + "/data", "-U", "postgres", "-A", "trust",
                         "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                        log);
    if (rc != 0) throw std::runtime_error("initdb failed: " + readTail(log));
    // Password authentication for one role (the tests of password files), trust for the rest;
    // only the socket in the cluster's folder, never a TCP port.
    {
        std::ofstream hba(m_folder + "/data/pg_hba.conf", std::ios::trunc);
        hba << "local all " << kPasswordRole << " scram-sha-256\n"
            << "local all all trust\n";
    }
    std::ofstream conf(m_folder + "/data/postgresql.conf", std::ios::app);
    // fsync off: a test machine's crash is not what these tests are about; commits still wait
    // for the WAL write (synchronous_commit stays on), so a killed server loses nothing.
    conf << "\nlisten_addresses = ''\n"
         << "unix_socket_directories = '" << m_folder << "'\n"
         << "max_connections = 300\n"
         << "shared_buffers = 64MB\n"
         << "fsync = off\n"
         << "full_page_writes = off\n"
         << "log_min_messages = warning\n";
}

void PgCluster::start() {
    const auto began = std::chrono::steady_clock::now();
    const std::string log = m_folder + "/server.log";
    const std::vector<std::string> postgres{kBin + "postgres", "-D", m_folder + "/data"};
    if (m_lifetime == Lifetime::Detached || m_attached) {
        const int rc = runAsServerUser(
            {kBin + "pg_ctl", "-D", m_folder + "/data", "-l", log, "-w", "-t", "60", "start"},
            m_folder + "/pg_ctl.log");
        if (rc != 0) throw std::runtime_error("PostgreSQL did not start: " + readTail(log));
    } else {
        const RunAs as = serverUser();
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            becomeServerUser(as, true);
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
                ::close(fd);
            }
            execArgv(postgres);
        }
        m_pid = pid;
    }
    const auto deadline = began + std::chrono::seconds(60);
    for (;;) {
        if (running()) break;
        if (m_pid > 0) {
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_pid = -1;
                throw std::runtime_error("PostgreSQL ended at its start: " + readTail(log));
            }
        }
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("PostgreSQL did not answer within 60 s: " + readTail(log));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    m_lastStartMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - began)
                        .count();
    // The role for password tests, once per cluster.
    execute(std::string("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '") +
            kPasswordRole + "') THEN CREATE ROLE " + kPasswordRole + " LOGIN PASSWORD '" +
            kPassword + "'; END IF; END$$");
}

void PgCluster::stop(StopMode mode) {
    if (m_pid > 0) {
        ::kill(m_pid, mode == StopMode::Fast ? SIGINT : SIGQUIT);
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
        m_pid = -1;
        return;
    }
    (void)runAsServerUser({kBin + "pg_ctl", "-D", m_folder + "/data", "-m",
                           mode == StopMode::Fast ? "fast" : "immediate", "-w", "-t", "60", "stop"},
                          m_folder + "/pg_ctl.log");
}

bool PgCluster::running() const {
    const std::string conninfo = location("postgres");
    return PQping(conninfo.c_str()) == PQPING_OK;
}

std::string PgCluster::location(const std::string& name, const std::string& user) const {
    return "postgresql://" + user + "@/" + name + "?host=" + percentEncode(m_folder);
}

void PgCluster::execute(const std::string& sql) const {
    const std::string conninfo = location("postgres");
    PGconn* conn = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
        std::string why = PQerrorMessage(conn);
        PQfinish(conn);
        throw std::runtime_error("cannot connect to the test PostgreSQL: " + why);
    }
    PGresult* r = PQexec(conn, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string why = ok ? "" : PQerrorMessage(conn);
    PQclear(r);
    PQfinish(conn);
    if (!ok) throw std::runtime_error("the test PostgreSQL refused SQL: " + why);
}

std::string PgCluster::createDatabase() {
    static std::atomic<int> counter{0};
    static const unsigned salt = std::random_device{}();
    const std::string name = "veld_t" + std::to_string(::getpid()) + "_" +
                             std::to_string(salt % 100000) + "_" + std::to_string(++counter);
    execute("CREATE DATABASE " + name + " TEMPLATE template0 STRATEGY FILE_COPY");
    return location(name);
}

PgCluster& sharedPgCluster() {
    static std::mutex mutex;
    static std::unique_ptr<PgCluster> own;
    std::lock_guard lock(mutex);
    if (const char* folder = std::getenv("VELD_TEST_PG_CLUSTER"); folder && *folder)
        return *PgCluster::attach(folder);
    if (!own) own = std::make_unique<PgCluster>();
    return *own;
}

bool testingPostgres() {
    const char* backend = std::getenv("VELD_TEST_BACKEND");
    return backend && std::string_view(backend) == "postgresql";
}

}  // namespace veld::test
