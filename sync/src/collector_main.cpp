// veld-collector: the central collector. Devices enrol, push finalized records and pull forms.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <signal.h>

#include <veld/private_files.hpp>
#include <veld/sync/collector_backup.hpp>
#include <veld/sync/collector_server.hpp>
#include <veld/sync/collector_store.hpp>

#include "postgres/pg.hpp"

namespace {

constexpr const char* kUsage = R"(usage: veld-collector --store FILE|postgresql://... [options]

Serves the Veld sync protocol (enrol, push, pull) and the admin API for central staff over
HTTP(S) from a collector store made with `veldctl collector init FILE`. Stops cleanly on SIGTERM
or SIGINT: requests in flight are finished and answered, new ones are refused, exports started
through the admin API are stopped and their files deleted. While it runs it holds a lock on the
store: a second collector on the same store, or `veldctl collector restore`, is refused. A
PostgreSQL store (made with `veldctl collector init postgresql://...`) takes no such lock: several
collector processes may serve one database.

For monitoring: GET /healthz answers 200 ("ok schema N") when the store answers, else 503, to
anyone; GET /metrics gives Prometheus metrics to this machine and to --metrics-from without a
credential, and to anyone else with a staff credential (Authorization: Bearer veld-admin...).

options (each may also be given in the --config file as `name = value`, without the dashes):
  --config FILE            read options from FILE first (flags given later override it)
  --store LOCATION         the collector store: an SQLite file, or a PostgreSQL database as
                           postgresql://USER@HOST[:PORT]/DATABASE[?PARAMS] (never with a
                           password in it; libpq's parameters such as sslmode may follow)
  --store-password-file FILE
                           the PostgreSQL password, the first line of FILE (0600); without it
                           libpq's PGPASSFILE or ~/.pgpass is used
  --listen ADDRESS         address to listen on (default 127.0.0.1)
  --port N                 port (default 8470; 0 picks a free one)
  --port-file FILE         write the port listened on to FILE once ready
  --tls-cert FILE          PEM certificate: serve HTTPS (with --tls-key)
  --tls-key FILE           PEM private key
  --max-request-bytes N    largest request body accepted (default 33554432)
  --request-timeout S      seconds within which a connection's TLS handshake and a request's
                           headers must have arrived (a fixed deadline), and within which a
                           body or an answer must move at least 16 KiB or finish (default 10);
                           a client that stalls or trickles is disconnected, and none of this
                           waiting holds one of the --threads
  --threads N              requests handled at once (default 32)
  --max-connections N      open connections, idle keep-alive ones included (default 256); a
                           newcomer beyond displaces the one that has waited longest (over a
                           second) for its handshake or request, or else gets 503 and is closed
  --max-connections-per-address N
                           the same for one client address (default 32; 0: no cap)
  --auth-failures N        wrong credentials one address may send within a minute before it
                           must wait: 1 s, doubling with each further one up to 15 minutes
                           (429 with Retry-After; default 20; 0: no limit)
  --rate-limit N           requests per second per credential, in bursts of ten times as many
                           (429 with Retry-After; default 50; 0: no limit)
  --export-dir DIR         where exports started by staff through the admin API are written
                           until fetched (default: the store's path + ".exports"; made 0700;
                           job folders left in it are removed at start); empty: such exports
                           are refused. With a PostgreSQL store there is no default: without
                           it such exports are refused
  --metrics-from RANGES     address ranges, comma-separated (10.0.0.0/8,2001:db8::/32, or
                           single addresses), from which /metrics is served without a
                           credential besides this machine (default: none)
  --trusted-proxies RANGES  address ranges of reverse proxies (HAProxy) in front of this
                           collector: a request through one counts as coming from the last
                           address of its X-Forwarded-For for --auth-failures and the log, and
                           their connections are not capped by --max-connections-per-address
                           (default: none)
  --webhook-retry-ms N     a webhook delivery that failed is tried again after N ms,
                           doubling with each failure up to an hour, with jitter (default 5000)
  --webhook-give-up-hours N
                           a delivery still failing this many hours after its event is given
                           up (kept and listed; veldctl collector webhook retry) (default 72)
  --webhook-timeout S      seconds a receiver has to answer one post (default 10)
  --quiet                  do not log requests
  --help                   this text
)";

struct StoreOptions {
    std::string location;
    std::string passwordFile;
};

bool apply(veld::sync::ServerConfig& c, StoreOptions& store, std::string& portFile,
           std::optional<std::string>& exportDir, const std::string& name,
           const std::string& value) {
    auto number = [&](long min, long max) -> long {
        char* end = nullptr;
        const long v = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || v < min || v > max) {
            std::fprintf(stderr, "veld-collector: %s must be a number from %ld to %ld\n",
                         name.c_str(), min, max);
            std::exit(2);
        }
        return v;
    };
    if (name == "store") {
        store.location = value;
    } else if (name == "store-password-file") {
        store.passwordFile = value;
    } else if (name == "listen") {
        c.listen = value;
    } else if (name == "port") {
        c.port = static_cast<int>(number(0, 65535));
    } else if (name == "port-file") {
        portFile = value;
    } else if (name == "tls-cert") {
        c.tlsCert = value;
    } else if (name == "tls-key") {
        c.tlsKey = value;
    } else if (name == "max-request-bytes") {
        c.maxRequestBytes = static_cast<std::size_t>(number(1024, 1L << 30));
    } else if (name == "request-timeout") {
        c.requestTimeoutSeconds = static_cast<int>(number(1, 3600));
    } else if (name == "threads") {
        c.threads = static_cast<int>(number(1, 256));
    } else if (name == "max-connections") {
        c.maxConnections = static_cast<int>(number(1, 100000));
    } else if (name == "max-connections-per-address") {
        c.maxConnectionsPerAddress = static_cast<int>(number(0, 100000));
    } else if (name == "auth-failures") {
        c.authFailures = static_cast<int>(number(0, 1000000));
    } else if (name == "rate-limit") {
        c.ratePerCredential = static_cast<int>(number(0, 1000000));
    } else if (name == "export-dir") {
        exportDir = value;
    } else if (name == "metrics-from") {
        c.metricsFrom = value;
    } else if (name == "trusted-proxies") {
        c.trustedProxies = value;
    } else if (name == "webhook-retry-ms") {
        c.webhooks.retryBaseMs = number(10, 3600L * 1000);
    } else if (name == "webhook-give-up-hours") {
        c.webhooks.giveUpAfterMs = number(1, 24L * 365) * 3600 * 1000;
    } else if (name == "webhook-timeout") {
        c.webhooks.timeoutSeconds = static_cast<int>(number(1, 600));
    } else if (name == "quiet") {
        c.logRequests = false;
    } else {
        return false;
    }
    return true;
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    const auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// The store file, its -wal and -shm, its folder, the export folder and the TLS key: each must
// give its group and others no access. False, with what to do on stderr, when one does.
bool checkPrivate(const StoreOptions& store, const veld::sync::ServerConfig& config) {
    namespace fs = std::filesystem;
    std::vector<std::string> paths;
    if (veld::sync::isPostgresLocation(store.location)) {
        if (!store.passwordFile.empty()) paths.push_back(store.passwordFile);
    } else {
        const std::string& file = store.location;
        paths = {file, file + "-wal", file + "-shm"};
        paths.push_back(fs::absolute(fs::path(file)).parent_path().string());
    }
    if (!config.exportDir.empty()) paths.push_back(config.exportDir);
    if (!config.tlsKey.empty()) paths.push_back(config.tlsKey);
    bool ok = true;
    for (const auto& p : paths) {
        auto s = veld::files::checkPrivate(p);
        if (s || s.error().code == veld::ErrorCode::NotFound) continue;
        std::fprintf(stderr, "veld-collector: %s\n", s.error().message.c_str());
        ok = false;
    }
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    veld::sync::ServerConfig config;
    StoreOptions store;
    std::string portFile;
    std::optional<std::string> exportDir;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (a.rfind("--", 0) != 0) {
            std::fprintf(stderr, "veld-collector: unexpected argument %s (see --help)\n",
                         a.c_str());
            return 2;
        }
        const std::string name = a.substr(2);
        if (name == "quiet") {
            config.logRequests = false;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "veld-collector: %s needs a value\n", a.c_str());
            return 2;
        }
        const std::string value = argv[++i];
        if (name == "config") {
            std::ifstream in(value);
            if (!in) {
                std::fprintf(stderr, "veld-collector: cannot read %s\n", value.c_str());
                return 2;
            }
            std::string line;
            int n = 0;
            while (std::getline(in, line)) {
                ++n;
                line = trim(line.substr(0, line.find('#')));
                if (line.empty()) continue;
                const auto eq = line.find('=');
                const std::string key = trim(line.substr(0, eq));
                const std::string val = eq == std::string::npos ? "" : trim(line.substr(eq + 1));
                if (!apply(config, store, portFile, exportDir, key, val)) {
                    std::fprintf(stderr, "veld-collector: %s:%d: unknown option %s\n",
                                 value.c_str(), n, key.c_str());
                    return 2;
                }
            }
            continue;
        }
        if (!apply(config, store, portFile, exportDir, name, value)) {
            std::fprintf(stderr, "veld-collector: unknown option %s (see --help)\n", a.c_str());
            return 2;
        }
    }
    if (store.location.empty()) {
        std::fprintf(stderr, "veld-collector: --store is required (see --help)\n");
        return 2;
    }
    const bool postgres = veld::sync::isPostgresLocation(store.location);
    if (postgres) {
        if (auto s = veld::pg::checkUri(store.location); !s) {
            std::fprintf(stderr, "veld-collector: %s\n", s.error().describe().c_str());
            return 2;
        }
    } else if (!store.passwordFile.empty()) {
        std::fprintf(stderr,
                     "veld-collector: --store-password-file is for a PostgreSQL store only\n");
        return 2;
    }
    config.exportDir = exportDir.value_or(postgres ? std::string() : store.location + ".exports");
    if (config.tlsCert.empty() != config.tlsKey.empty()) {
        std::fprintf(stderr, "veld-collector: --tls-cert and --tls-key go together\n");
        return 2;
    }
    // SIGTERM and SIGINT are taken by one thread, which stops the server; every other thread
    // (the store's checkpointer, the server's) inherits the blocked mask, so they are blocked
    // before any thread starts.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGTERM);
    sigaddset(&stopSignals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
    signal(SIGPIPE, SIG_IGN);
    // The store, its WAL and the exports hold personal data: refuse to serve them while others
    // may read them (as PostgreSQL refuses a data folder others can read).
    if (!checkPrivate(store, config)) return 1;
    // Held until the store is closed (declared before it, so released after it). A PostgreSQL
    // store is shared by design: several collector processes may serve one database.
    veld::sync::FileLock lock;
    if (!postgres) {
        if (auto taken = veld::sync::takeCollectorStoreLock(store.location); taken) {
            lock = std::move(taken.value());
        } else if (taken.error().code != veld::ErrorCode::NotFound) {
            std::fprintf(stderr, "veld-collector: %s\n", taken.error().describe().c_str());
            return 1;
        }
    }
    // The location as logs may show it: never a password or other parameters.
    const std::string shown = veld::sync::describeStoreLocation(store.location);
    veld::Result<std::unique_ptr<veld::sync::CollectorStore>> opened =
        veld::makeError(veld::ErrorCode::Internal, "not opened");
    if (postgres) {
        // A connection per request thread, and a few for exports and health checks.
        opened = veld::sync::openPostgresCollector(
            {store.location, store.passwordFile, config.threads + 4}, false);
    } else {
        opened = veld::sync::openSqliteCollector(store.location, false);
    }
    if (!opened) {
        std::fprintf(stderr, "veld-collector: %s: %s\n", shown.c_str(),
                     opened.error().describe().c_str());
        if (opened.error().code == veld::ErrorCode::NotFound ||
            opened.error().code == veld::ErrorCode::NotAStore) {
            std::fprintf(stderr, "veld-collector: make one with: veldctl collector init %s\n",
                         shown.c_str());
        }
        return 1;
    }
    if (postgres) std::fprintf(stderr, "veld-collector: store %s\n", shown.c_str());

    std::shared_ptr<veld::sync::CollectorStore> shared(std::move(opened.value()));
    veld::sync::CollectorServer server(config, shared);
    if (!server.bind()) return 1;
    // The stopper outlives run(): main waits for it, so the server is never destroyed while
    // stop() is still at work on the stopper's thread.
    std::atomic<bool> stopping{false};
    std::thread stopper([&] {
        int sig = 0;
        sigwait(&stopSignals, &sig);
        if (!stopping.exchange(true)) {
            std::fprintf(stderr,
                         "veld-collector: stopping (signal %d); finishing requests in flight\n",
                         sig);
        }
        server.stop();
    });
    std::fprintf(stderr, "veld-collector: listening on %s://%s:%d\n",
                 config.tlsCert.empty() ? "http" : "https", config.listen.c_str(), server.port());
    if (!portFile.empty()) {
        const std::string tmp = portFile + ".tmp";
        std::ofstream(tmp) << server.port() << "\n";
        std::rename(tmp.c_str(), portFile.c_str());
    }
    server.run();
    // run() ended without a signal (the listening socket failed): wake the stopper to end it.
    if (!stopping.exchange(true)) pthread_kill(stopper.native_handle(), SIGTERM);
    stopper.join();
    std::fprintf(stderr, "veld-collector: stopped\n");
    return 0;
}
