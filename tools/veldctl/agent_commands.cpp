// veldctl agent: what veld-agent last told about itself in a device store, and a nudge to sync.
#include <cstdio>
#include <ostream>

#include <signal.h>

#include <veld/sync/agent_state.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kAgentUsage = R"(usage: veldctl agent status STORE [--json]
       veldctl agent wake STORE

status  what veld-agent last wrote into the store: whether it runs (or stopped, or died: its
        process is gone or it has not written for two intervals), its last round and result,
        its last success, its next round, records sent since it started, its last error.
        Exit 0 when it runs, 1 when it does not (stopped, died or never ran).
wake    sends SIGUSR1 to the running agent of this store: it syncs at once.
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl agent: " << message << "\n(see veldctl agent --help)\n";
    return kExitUsage;
}

std::string jsonString(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(u));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string timeOr(std::int64_t ms, const char* none) {
    return ms > 0 ? utcTime(ms) : std::string(none);
}

void printJson(std::ostream& out, sync::AgentLiveness liveness,
               const std::optional<sync::AgentState>& state, std::int64_t now) {
    out << "{\"status\":" << jsonString(std::string(sync::livenessName(liveness)));
    if (state) {
        const auto& s = *state;
        for (const auto& [key, value] : std::initializer_list<std::pair<const char*, std::int64_t>>{
                 {"pid", s.pid},
                 {"started_utc_ms", s.startedUtcMs},
                 {"heartbeat_utc_ms", s.heartbeatUtcMs},
                 {"interval_ms", s.intervalMs},
                 {"last_round_utc_ms", s.lastRoundUtcMs},
                 {"last_success_utc_ms", s.lastSuccessUtcMs},
                 {"next_round_utc_ms", s.nextRoundUtcMs},
                 {"records_sent", s.recordsSent},
                 {"last_round_records", s.lastRoundRecords},
                 {"stopped_utc_ms", s.stoppedUtcMs},
                 {"silent_ms", now - s.heartbeatUtcMs}}) {
            out << ",\"" << key << "\":" << value;
        }
        out << ",\"last_result\":" << jsonString(s.lastResult)
            << ",\"last_error\":" << jsonString(s.lastError);
    }
    out << "}\n";
}

void printText(std::ostream& out, sync::AgentLiveness liveness,
               const std::optional<sync::AgentState>& state, std::int64_t now) {
    if (liveness == sync::AgentLiveness::Never) {
        out << "veld-agent: has never run on this store\n";
        return;
    }
    const auto& s = *state;
    const long long minutes = (now - s.heartbeatUtcMs) / 60'000;
    switch (liveness) {
        case sync::AgentLiveness::Running:
            out << "veld-agent: running (pid " << s.pid << ") since " << utcTime(s.startedUtcMs)
                << "\n";
            break;
        case sync::AgentLiveness::Stopped:
            out << "veld-agent: stopped at " << utcTime(s.stoppedUtcMs) << "\n";
            break;
        default:
            out << "veld-agent: not running (pid " << s.pid << " is gone or silent); last heard of "
                << utcTime(s.heartbeatUtcMs) << ", " << minutes << " minutes ago\n";
            break;
    }
    out << "last round: " << timeOr(s.lastRoundUtcMs, "none yet");
    if (s.lastRoundUtcMs > 0) {
        out << ", " << s.lastResult << " (" << s.lastRoundRecords << " records sent)";
    }
    out << "\nlast success: " << timeOr(s.lastSuccessUtcMs, "never") << "\n";
    if (liveness == sync::AgentLiveness::Running) {
        out << "next round: " << timeOr(s.nextRoundUtcMs, "unknown") << "\n";
    }
    out << "records sent since it started: " << s.recordsSent << "\n";
    out << "last error: " << (s.lastError.empty() ? std::string("none") : s.lastError) << "\n";
}

}  // namespace

int agentCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    Args args(argv);
    if (args.flag("--help") || args.flag("-h")) {
        out << kAgentUsage;
        return kExitOk;
    }
    const bool json = args.flag("--json");
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pos.size() != 2 || (pos[0] != "status" && pos[0] != "wake")) {
        return usage(err, "agent takes status STORE or wake STORE");
    }
    auto store = Store::open(pos[1], {.mode = sql::OpenMode::ReadOnly});
    if (!store) {
        err << "veldctl agent: " << store.error().describe() << "\n";
        return kExitFailure;
    }
    auto state = sync::loadAgentState(store.value());
    if (!state) {
        err << "veldctl agent: " << state.error().describe() << "\n";
        return kExitFailure;
    }
    const std::int64_t now = nowMs();
    const bool alive = state.value() && sync::agentProcessAlive(state.value()->pid);
    const auto liveness = sync::judgeAgent(state.value(), now, alive);
    if (pos[0] == "wake") {
        if (liveness != sync::AgentLiveness::Running) {
            err << "veldctl agent: no veld-agent runs on this store\n";
            return kExitFailure;
        }
        if (::kill(static_cast<pid_t>(state.value()->pid), SIGUSR1) != 0) {
            err << "veldctl agent: cannot wake veld-agent (pid " << state.value()->pid << ")\n";
            return kExitFailure;
        }
        out << "woke veld-agent (pid " << state.value()->pid << ")\n";
        return kExitOk;
    }
    if (json) {
        printJson(out, liveness, state.value(), now);
    } else {
        printText(out, liveness, state.value(), now);
    }
    return liveness == sync::AgentLiveness::Running ? kExitOk : kExitFailure;
}

}  // namespace veld::veldctl
