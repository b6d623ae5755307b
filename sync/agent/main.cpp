// veld-agent: syncs a device store in the background while the client is closed. It sends the
// outbox and pulls forms, cases and allocation blocks every interval (with the uploader's backoff
// after failures), at once when the network comes back (rtnetlink) or on SIGUSR1, and stops
// cleanly on SIGTERM or SIGINT. It logs to stderr (journald keeps it) and tells its state in the
// store's settings (veld/sync/agent_state.hpp). No answers or secrets are logged.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <veld/profile.hpp>
#include <veld/store.hpp>
#include <veld/sync/agent_state.hpp>
#include <veld/sync/sync_lock.hpp>
#include <veld/sync/uploader.hpp>

#include "network_watch.hpp"

namespace {

constexpr const char* kUsage =
    R"(usage: veld-agent [--store FILE | --profile NAME] [--interval SECONDS] [--once]

Syncs a device store with the collector it is enrolled with, in the background: sends finalized
records and fetches forms, cases and allocation blocks every interval, at once when the network
comes back, and when sent SIGUSR1 (veldctl agent wake). SIGTERM or SIGINT stops it.

options:
  --store FILE        the device store
  --profile NAME      the store of a named device profile, as the client finds it:
                      $XDG_DATA_HOME/veld/profiles/NAME/device.veld (default profile: "default")
  --interval SECONDS  time between rounds (default 300); after a failure it tries again sooner,
                      backing off from 1 s up to the interval (at most 5 minutes)
  --once              one round, then exit: 0 it worked, 1 it failed (or the device is not
                      enrolled), 3 another program was syncing this device
  --help              this text
)";

constexpr int kExitBusy = 3;

struct Options {
    std::string store;
    std::string profile;
    std::int64_t intervalMs = 300'000;
    bool once = false;
};

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t steadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::mutex g_logMutex;

// One line on stderr; journald adds the time.
__attribute__((format(printf, 1, 2))) void logLine(const char* format, ...) {
    std::lock_guard lock(g_logMutex);
    std::fputs("veld-agent: ", stderr);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "veld-agent: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (a == "--store") {
            o.store = value();
        } else if (a == "--profile") {
            o.profile = value();
        } else if (a == "--interval") {
            char* end = nullptr;
            const char* text = value();
            const double seconds = std::strtod(text, &end);
            if (end == text || *end != '\0' || !(seconds >= 0.1) || seconds > 86400) {
                std::fprintf(stderr, "veld-agent: --interval takes seconds, 0.1 to 86400\n");
                return false;
            }
            o.intervalMs = std::llround(seconds * 1000);
        } else if (a == "--once") {
            o.once = true;
        } else {
            std::fprintf(stderr, "veld-agent: unknown option %s (see --help)\n", a.c_str());
            return false;
        }
    }
    if (!o.store.empty() && !o.profile.empty()) {
        std::fprintf(stderr, "veld-agent: give --store or --profile, not both\n");
        return false;
    }
    return true;
}

std::string_view resultName(veld::sync::Round::Outcome outcome) {
    using O = veld::sync::Round::Outcome;
    switch (outcome) {
        case O::Done:
            return "done";
        case O::Busy:
            return "busy";
        case O::NotEnrolled:
            return "not-enrolled";
        case O::Stopped:
            return "stopped";
        case O::Failed:
            break;
    }
    return "failed";
}

// The agent's state, kept here and written whole into the store after each round.
class Reporter {
  public:
    // `writes`: false when another veld-agent runs on this store and tells its own state.
    Reporter(std::string storePath, std::int64_t intervalMs, bool once, bool writes = true)
        : m_path(std::move(storePath)), m_once(once), m_writes(writes) {
        m_state.pid = ::getpid();
        m_state.intervalMs = intervalMs;
        m_state.startedUtcMs = m_state.heartbeatUtcMs = m_state.nextRoundUtcMs = wallMs();
    }

    // Starts this run's state, keeping the last success of earlier runs.
    void begin() {
        withStore([&](veld::Store& store) {
            if (auto old = veld::sync::loadAgentState(store); old && old.value()) {
                m_state.lastSuccessUtcMs = old.value()->lastSuccessUtcMs;
            }
            return veld::sync::saveAgentState(store, m_state);
        });
    }

    void round(veld::Store* store, const veld::sync::Round& r, std::chrono::milliseconds wait) {
        using O = veld::sync::Round::Outcome;
        const std::int64_t now = wallMs();
        std::lock_guard lock(m_mutex);
        m_state.heartbeatUtcMs = now;
        m_state.lastRoundUtcMs = now;
        m_state.lastResult = std::string(resultName(r.outcome));
        m_state.lastRoundRecords = r.progress.recordsSent;
        m_state.recordsSent += r.progress.recordsSent;
        m_state.nextRoundUtcMs = now + wait.count();
        m_state.lastError = r.outcome == O::Done ? std::string() : r.error;
        if (r.outcome == O::Done) m_state.lastSuccessUtcMs = now;
        if (store && m_writes) {
            if (auto s = veld::sync::saveAgentState(*store, m_state); !s) {
                logLine("cannot write the agent's state into the store: %s",
                        s.error().message.c_str());
            }
        }
        logRound(r, wait);
    }

    void heartbeat() {
        std::lock_guard lock(m_mutex);
        m_state.heartbeatUtcMs = wallMs();
        withStore([&](veld::Store& store) {
            return store.setSetting("agent.heartbeat_utc_ms",
                                    std::to_string(m_state.heartbeatUtcMs));
        });
    }

    void stopped() {
        std::lock_guard lock(m_mutex);
        m_state.stoppedUtcMs = m_state.heartbeatUtcMs = wallMs();
        m_state.nextRoundUtcMs = 0;
        withStore([&](veld::Store& store) { return veld::sync::saveAgentState(store, m_state); });
    }

  private:
    template <class F>
    void withStore(F f) {
        if (!m_writes) return;
        auto store = veld::Store::open(m_path);
        if (!store) return;  // told in the round's log line
        if (auto s = f(store.value()); !s) {
            logLine("cannot write the agent's state into the store: %s", s.error().message.c_str());
        }
    }

    void logRound(const veld::sync::Round& r, std::chrono::milliseconds wait) {
        using O = veld::sync::Round::Outcome;
        const long long seconds = (wait.count() + 999) / 1000;
        const std::string next =
            m_once ? std::string() : "; next try in " + std::to_string(seconds) + " s";
        const auto& p = r.progress;
        const std::string sentFirst =
            p.recordsSent > 0 ? " (" + std::to_string(p.recordsSent) + " records sent first)"
                              : std::string();
        if (r.outcome != O::NotEnrolled) m_saidNotEnrolled.clear();
        switch (r.outcome) {
            case O::Done:
                // Quiet rounds are not logged, except the first and the first after trouble.
                if (m_once || p.recordsSent || p.formsReceived || p.casesReceived ||
                    p.blocksReceived || m_lastOutcome != O::Done || m_firstRound) {
                    logLine(
                        "round done: %lld records sent, %lld forms, %lld case changes, %lld "
                        "allocation blocks received%s",
                        static_cast<long long>(p.recordsSent),
                        static_cast<long long>(p.formsReceived),
                        static_cast<long long>(p.casesReceived),
                        static_cast<long long>(p.blocksReceived),
                        m_once ? ""
                               : ("; next round in " + std::to_string(seconds) + " s").c_str());
                }
                break;
            case O::Busy:
                logLine("another program is syncing this device%s", next.c_str());
                break;
            case O::NotEnrolled:
                if (m_once) {
                    logLine("%s", r.error.c_str());
                } else if (m_saidNotEnrolled != r.error) {
                    logLine("%s; looking again every %lld s", r.error.c_str(), seconds);
                    m_saidNotEnrolled = r.error;
                }
                break;
            case O::Failed:
                logLine("round failed%s: %s%s", sentFirst.c_str(), r.error.c_str(), next.c_str());
                break;
            case O::Stopped:
                logLine("round stopped%s", sentFirst.c_str());
                break;
        }
        m_lastOutcome = r.outcome;
        m_firstRound = false;
    }

    std::string m_path;
    bool m_once;
    bool m_writes;
    std::mutex m_mutex;
    veld::sync::AgentState m_state;
    std::string m_saidNotEnrolled;  // said once until the outcome changes
    veld::sync::Round::Outcome m_lastOutcome = veld::sync::Round::Outcome::Done;
    bool m_firstRound = true;
};

// Held for as long as this agent runs: a second veld-agent on the same store steps aside.
veld::Result<veld::sync::FileLock> takeAgentLock(const std::string& path) {
    return veld::sync::FileLock::tryTake(path + ".agent-lock",
                                         veld::sync::FileLock::Open::CreateIfMissing,
                                         "another veld-agent is running on " + path);
}

int runOnce(const std::string& path, std::int64_t intervalMs) {
    // With another agent running, the round still runs (or finds the store busy), but the
    // running agent's state is left as it is. The agent lock is only looked at, not kept: an
    // agent started meanwhile must not step aside for a single round.
    const bool alone = takeAgentLock(path).ok();
    Reporter reporter(path, intervalMs, true, alone);
    reporter.begin();
    const auto r = veld::sync::runRound(
        path, {}, {}, nullptr, [&](veld::Store* store, const veld::sync::Round& round) {
            reporter.round(store, round, std::chrono::milliseconds(0));
        });
    reporter.stopped();
    using O = veld::sync::Round::Outcome;
    if (r.outcome == O::Done) return 0;
    return r.outcome == O::Busy ? kExitBusy : 1;
}

int runLoop(const std::string& path, std::int64_t intervalMs) {
    // Signals are read from a descriptor, never handled asynchronously; they are blocked before
    // any thread starts so that every thread leaves them to this one.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGTERM, SIGINT, SIGUSR1})
        sigaddset(&signals, s);
    if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
        logLine("cannot block signals");
        return 1;
    }
    const int signalFd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signalFd < 0) {
        logLine("cannot read signals");
        return 1;
    }
    auto watcher = veld::agent::NetlinkWatcher::open();
    if (!watcher) {
        logLine("%s; syncing on the interval only", watcher.error().message.c_str());
    }

    auto agentLock = takeAgentLock(path);
    if (!agentLock) {
        if (agentLock.error().code == veld::ErrorCode::InUse) {
            logLine("another veld-agent is running on %s; this one is not needed and stops",
                    path.c_str());
            return 0;
        }
        // E.g. the store's folder does not exist yet: it runs all the same (the sync lock
        // still keeps rounds apart).
        logLine("%s; running without it", agentLock.error().message.c_str());
    }
    Reporter reporter(path, intervalMs, false);
    reporter.begin();
    const std::chrono::milliseconds interval(intervalMs);
    veld::sync::Uploader uploader(
        path, {}, interval, std::min<std::chrono::milliseconds>(interval, std::chrono::minutes(5)));
    uploader.onRound([&](veld::Store* store, const veld::sync::Round& r,
                         std::chrono::milliseconds wait) { reporter.round(store, r, wait); });
    logLine("syncing %s every %lld s (pid %d)", path.c_str(),
            static_cast<long long>((intervalMs + 999) / 1000), static_cast<int>(::getpid()));
    uploader.start();

    // Network events settle for 2 s (at most 10 s after the first) before a round starts: an
    // interface coming up sends a burst of link, address and route messages.
    veld::agent::Debounce debounce(2000, 10000);
    // The heartbeat says the agent is alive between rounds (half an interval, at most a minute).
    const std::int64_t heartbeatEvery = std::clamp<std::int64_t>(intervalMs / 2, 100, 60'000);
    std::int64_t nextHeartbeat = steadyMs() + heartbeatEvery;
    int stopSignal = 0;
    while (stopSignal == 0) {
        const std::int64_t now = steadyMs();
        std::int64_t timeout = std::max<std::int64_t>(0, nextHeartbeat - now);
        if (auto due = debounce.msUntilDue(now)) timeout = std::min(timeout, *due);
        pollfd fds[2] = {{signalFd, POLLIN, 0}, {watcher ? watcher->fd() : -1, POLLIN, 0}};
        const int n = ::poll(fds, 2, static_cast<int>(timeout));
        if (n < 0 && errno != EINTR) {
            logLine("poll failed; stopping");
            break;
        }
        if (n > 0 && (fds[0].revents & POLLIN)) {
            signalfd_siginfo info{};
            while (::read(signalFd, &info, sizeof info) == sizeof info) {
                if (info.ssi_signo == SIGUSR1) {
                    logLine("woken by SIGUSR1; syncing now");
                    uploader.wake();
                } else {
                    stopSignal = static_cast<int>(info.ssi_signo);
                }
            }
        }
        if (n > 0 && watcher && (fds[1].revents & POLLIN) && watcher->drain()) {
            debounce.event(steadyMs());
        }
        if (debounce.takeDue(steadyMs())) {
            logLine("the network changed; syncing now");
            uploader.wake();
        }
        if (steadyMs() >= nextHeartbeat) {
            reporter.heartbeat();
            nextHeartbeat = steadyMs() + heartbeatEvery;
        }
    }
    logLine("stopping (%s)", stopSignal ? strsignal(stopSignal) : "error");
    uploader.stop();  // cancels a round under way between requests; nothing sent is lost
    reporter.stopped();
    ::close(signalFd);
    return stopSignal ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) return 2;
    const std::string path =
        !o.store.empty() ? o.store
                         : veld::profileStorePath(o.profile.empty() ? "default" : o.profile, true);
    return o.once ? runOnce(path, o.intervalMs) : runLoop(path, o.intervalMs);
}
