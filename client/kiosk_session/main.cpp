// veld-kiosk-session: keeps the client running as a kiosk. Runs `veld --kiosk FORM --store STORE`
// as its child and starts it again whenever it ends: at once when staff closed it (exit status 0
// after a normal run), after a growing pause when it failed, so that a broken install does not
// spin. A watchdog kills a client that stopped reporting that it is alive (a hung frame loop)
// and starts a new one. No window, no answers: it only logs what it does to stderr.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <veld/kiosk_config.hpp>

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUsage = R"(usage: veld-kiosk-session [options] [-- CLIENT_OPTIONS...]

Runs the Veld client as a kiosk and keeps it running: `veld --kiosk FORM --store STORE` is
started again whenever it ends or hangs. Settings come from the configuration file, then from
these options.

options:
  --config FILE         configuration file (default /etc/veld/kiosk.conf; a missing file is
                        fine when --form and --store are given)
  --form ID             the kiosk form
  --store FILE          the device store
  --client PATH         the client program (default /usr/bin/veld)
  --language nl|en      the client's screen language
  --watchdog S          kill and restart a client that has not reported for S seconds
                        (default 30)
  --backoff-min S       pause before the first restart after a failure (default 1)
  --backoff-max S       longest pause between restarts (default 60)
  --stable-after S      a client that ran this long starts the pauses afresh (default 300)
  --check               only check that a kiosk is set up (a form, and a store that exists);
                        exit 0 when it is, else 1 (for systemd's ExecCondition=)
  --help                this text

Options after -- are passed to the client. SIGTERM, SIGINT or SIGHUP stop the client (SIGTERM,
then SIGKILL after 10 s) and end the session with status 0.
)";

constexpr double kCleanRunSeconds = 2;    // an exit 0 sooner than this counts as a failure
constexpr double kStopGraceSeconds = 10;  // SIGTERM, then SIGKILL

struct Options {
    std::string configPath = veld::kiosk::kDefaultConfigPath;
    bool configGiven = false;
    veld::kiosk::Config config;
    double backoffMin = 1;
    double backoffMax = 60;
    double stableAfter = 300;
    bool check = false;
    std::vector<std::string> clientArgs;
};

void log(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log(const char* format, ...) {
    char line[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof line, format, args);
    va_end(args);
    std::fprintf(stderr, "veld-kiosk-session: %s\n", line);
    std::fflush(stderr);
}

bool number(const char* text, double low, double high, double& out) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !(v >= low && v <= high)) return false;
    out = v;
    return true;
}

// Exit code: 0 go on, 2 usage error (printed).
int parse(int argc, char** argv, Options& o) {
    // The configuration file first, so that the command line overrides it.
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == "--") break;
        if (std::string(argv[i]) == "--config") {
            o.configPath = argv[i + 1];
            o.configGiven = true;
        }
    }
    veld::kiosk::Config cli;
    double watchdog = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                log("%s needs a value", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (a == "--") {
            o.clientArgs.assign(argv + i + 1, argv + argc);
            break;
        } else if (a == "--config") {
            value();
        } else if (a == "--check") {
            o.check = true;
        } else if (a == "--form") {
            cli.form = value();
        } else if (a == "--store") {
            cli.store = value();
        } else if (a == "--client") {
            cli.client = value();
        } else if (a == "--language") {
            cli.language = value();
            if (cli.language != "nl" && cli.language != "en") {
                log("--language must be nl or en");
                return 2;
            }
        } else if (a == "--watchdog") {
            if (!number(value(), 1, 3600, watchdog)) {
                log("--watchdog must be a number of seconds from 1 to 3600");
                return 2;
            }
        } else if (a == "--backoff-min") {
            if (!number(value(), 0.05, 3600, o.backoffMin)) {
                log("--backoff-min must be a number of seconds from 0.05 to 3600");
                return 2;
            }
        } else if (a == "--backoff-max") {
            if (!number(value(), 0.05, 86400, o.backoffMax)) {
                log("--backoff-max must be a number of seconds from 0.05 to 86400");
                return 2;
            }
        } else if (a == "--stable-after") {
            if (!number(value(), 1, 86400, o.stableAfter)) {
                log("--stable-after must be a number of seconds from 1 to 86400");
                return 2;
            }
        } else {
            log("unknown option %s (see --help)", a.c_str());
            return 2;
        }
    }
    auto file = veld::kiosk::readConfig(o.configPath);
    if (file) {
        o.config = std::move(file.value());
    } else if (o.configGiven || file.error().code != veld::ErrorCode::NotFound ||
               cli.form.empty() || cli.store.empty()) {
        log("%s", file.error().describe().c_str());
        if (file.error().code != veld::ErrorCode::NotFound) return 2;
    }
    if (!cli.form.empty()) o.config.form = cli.form;
    if (!cli.store.empty()) o.config.store = cli.store;
    if (!cli.client.empty()) o.config.client = cli.client;
    if (!cli.language.empty()) o.config.language = cli.language;
    if (o.config.client.empty()) o.config.client = veld::kiosk::kDefaultClient;
    if (watchdog > 0) o.config.watchdogSeconds = static_cast<int>(watchdog + 0.5);
    if (o.config.watchdogSeconds <= 0)
        o.config.watchdogSeconds = veld::kiosk::kDefaultWatchdogSeconds;
    if (o.config.form.empty() || o.config.store.empty()) {
        log("no kiosk form and store: run `veldctl kiosk setup` or give --form and --store");
        return o.check ? 1 : 2;
    }
    if (o.check) {
        if (::access(o.config.store.c_str(), R_OK | W_OK) != 0) {
            log("the store %s cannot be used: %s", o.config.store.c_str(), std::strerror(errno));
            return 1;
        }
        log("kiosk form %s, store %s", o.config.form.c_str(), o.config.store.c_str());
        std::exit(0);
    }
    o.backoffMax = std::max(o.backoffMax, o.backoffMin);
    return 0;
}

double secondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string describeStatus(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char* name = sigabbrev_np(sig);
        return std::string("was killed by SIG") + (name ? name : std::to_string(sig).c_str());
    }
    return "ended";
}

class Session {
  public:
    Session(Options options, int signalFd) : m_o(std::move(options)), m_signals(signalFd) {}

    int run() {
        log("kiosk form %s, store %s, client %s, watchdog %d s", m_o.config.form.c_str(),
            m_o.config.store.c_str(), m_o.config.client.c_str(), m_o.config.watchdogSeconds);
        m_nextStart = Clock::now();
        for (;;) {
            if (m_child < 0 && !m_stopping && Clock::now() >= m_nextStart) start();
            if (m_child < 0 && m_stopping) return 0;
            pollfd fds[2] = {{m_signals, POLLIN, 0}, {m_alive, POLLIN, 0}};
            const int n = ::poll(fds, m_alive >= 0 ? 2 : 1, timeoutMs());
            if (n < 0 && errno != EINTR) {
                log("poll failed: %s", std::strerror(errno));
                return 1;
            }
            if (n > 0 && fds[0].revents != 0) onSignal();
            if (n > 0 && m_alive >= 0 && fds[1].revents != 0) onAlive();
            checkDeadlines();
        }
    }

  private:
    int timeoutMs() const {
        auto until = Clock::time_point::max();
        if (m_child < 0 && !m_stopping) until = m_nextStart;
        if (m_child >= 0 && !m_stopping && !m_killed) {
            until = m_lastAlive + std::chrono::seconds(m_o.config.watchdogSeconds);
        }
        if (m_stopping && m_child >= 0) until = std::min(until, m_stopDeadline);
        if (until == Clock::time_point::max()) return -1;
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        return static_cast<int>(std::clamp<long long>(ms + 1, 0, 60'000));
    }

    void start() {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
            log("cannot make the watchdog socket: %s", std::strerror(errno));
            scheduleAfterFailure();
            return;
        }
        std::vector<std::string> args = {m_o.config.client, "--kiosk", m_o.config.form, "--store",
                                         m_o.config.store};
        if (!m_o.config.language.empty()) {
            args.push_back("--language");
            args.push_back(m_o.config.language);
        }
        args.insert(args.end(), m_o.clientArgs.begin(), m_o.clientArgs.end());
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string aliveFd = std::to_string(pair[1]);
        const pid_t parent = ::getpid();

        const pid_t pid = ::fork();
        if (pid < 0) {
            log("cannot start %s: %s", m_o.config.client.c_str(), std::strerror(errno));
            ::close(pair[0]);
            ::close(pair[1]);
            scheduleAfterFailure();
            return;
        }
        if (pid == 0) {
            // The child: signals as a fresh program has them, the watchdog socket kept open
            // across exec, and gone with the session if the session itself dies.
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            std::signal(SIGPIPE, SIG_DFL);
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() != parent) ::_exit(1);
            ::fcntl(pair[1], F_SETFD, 0);
            ::setenv("VELD_ALIVE_FD", aliveFd.c_str(), 1);
            ::execv(argv[0], argv.data());
            const int e = errno;
            std::fprintf(stderr, "veld-kiosk-session: cannot run %s: %s\n", argv[0],
                         std::strerror(e));
            ::_exit(127);
        }
        ::close(pair[1]);
        m_alive = pair[0];
        ::fcntl(m_alive, F_SETFL, O_NONBLOCK);
        m_child = pid;
        m_killed = false;
        m_started = Clock::now();
        m_lastAlive = m_started;
        log("started %s (pid %d)", m_o.config.client.c_str(), static_cast<int>(pid));
    }

    void onAlive() {
        char buf[256];
        for (;;) {
            const ssize_t n = ::read(m_alive, buf, sizeof buf);
            if (n > 0) {
                m_lastAlive = Clock::now();
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closeAlive();
            return;
        }
    }

    void closeAlive() {
        if (m_alive >= 0) ::close(m_alive);
        m_alive = -1;
    }

    void onSignal() {
        signalfd_siginfo info{};
        while (::read(m_signals, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            const int sig = static_cast<int>(info.ssi_signo);
            if (sig == SIGCHLD) {
                reap();
            } else if (!m_stopping) {
                log("SIG%s: stopping", sigabbrev_np(sig));
                m_stopping = true;
                if (m_child >= 0) {
                    ::kill(m_child, SIGTERM);
                    m_stopDeadline = Clock::now() + std::chrono::milliseconds(
                                                        static_cast<int>(kStopGraceSeconds * 1000));
                }
            }
        }
    }

    void reap() {
        for (;;) {
            int status = 0;
            const pid_t pid = ::waitpid(-1, &status, WNOHANG);
            if (pid <= 0) return;
            if (pid != m_child) continue;
            const double ran = secondsSince(m_started);
            m_child = -1;
            closeAlive();
            if (m_stopping) {
                log("client (pid %d) %s; session ends", static_cast<int>(pid),
                    describeStatus(status).c_str());
                continue;
            }
            if (ran >= m_o.stableAfter) m_failures = 0;
            const bool closed = WIFEXITED(status) && WEXITSTATUS(status) == 0 && !m_killed &&
                                ran >= kCleanRunSeconds;
            if (closed) {
                log("client (pid %d) was closed after %.1f s; starting it again",
                    static_cast<int>(pid), ran);
                m_nextStart = Clock::now();
            } else {
                const double pause = scheduleAfterFailure();
                log("client (pid %d) %s after %.1f s; starting it again in %.2f s",
                    static_cast<int>(pid), describeStatus(status).c_str(), ran, pause);
            }
        }
    }

    /// The next start after a failure: backoff-min, doubling with each failure in a row, at most
    /// backoff-max. Returns the pause in seconds.
    double scheduleAfterFailure() {
        double pause = m_o.backoffMin;
        for (int i = 0; i < m_failures && pause < m_o.backoffMax; ++i)
            pause *= 2;
        pause = std::min(pause, m_o.backoffMax);
        ++m_failures;
        m_nextStart =
            Clock::now() + std::chrono::milliseconds(static_cast<long long>(pause * 1000));
        return pause;
    }

    void checkDeadlines() {
        if (m_child < 0) return;
        const auto now = Clock::now();
        if (m_stopping) {
            if (now >= m_stopDeadline && !m_killed) {
                log("client (pid %d) did not stop within %.0f s: killing it",
                    static_cast<int>(m_child), kStopGraceSeconds);
                ::kill(m_child, SIGKILL);
                m_killed = true;
            }
            return;
        }
        if (!m_killed && now - m_lastAlive >= std::chrono::seconds(m_o.config.watchdogSeconds)) {
            log("client (pid %d) has not reported for %d s: killing it", static_cast<int>(m_child),
                m_o.config.watchdogSeconds);
            ::kill(m_child, SIGKILL);
            m_killed = true;
        }
    }

    Options m_o;
    int m_signals;
    int m_alive = -1;
    pid_t m_child = -1;
    bool m_killed = false;  // SIGKILL sent to the current child
    bool m_stopping = false;
    int m_failures = 0;  // failures in a row
    Clock::time_point m_started;
    Clock::time_point m_lastAlive;
    Clock::time_point m_nextStart;
    Clock::time_point m_stopDeadline;
};

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (const int rc = parse(argc, argv, options); rc != 0) return rc;
    // The session lives as long as the compositor that started it: when cage ends (and Xwayland
    // with it), the session stops its client and ends too, instead of restarting clients that
    // have no display.
    const pid_t parent = ::getppid();
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) return 0;
    sigset_t handled;
    sigemptyset(&handled);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
        sigaddset(&handled, sig);
    if (::sigprocmask(SIG_BLOCK, &handled, nullptr) != 0) return 1;
    const int fd = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        log("signalfd failed: %s", std::strerror(errno));
        return 1;
    }
    // A client that ends while the watchdog socket is being written must not end the session.
    std::signal(SIGPIPE, SIG_IGN);
    Session session(std::move(options), fd);
    return session.run();
}
