#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <utility>

#include <veld/platform/process.hpp>
#include <veld/sync/agent_state.hpp>

namespace veld::sync {

namespace {

// The one list of keys both directions use.
struct Field {
    const char* key;
    std::int64_t AgentState::*number;
    std::string AgentState::*text;
};

constexpr Field kFields[] = {
    {"agent.pid", &AgentState::pid, nullptr},
    {"agent.started_utc_ms", &AgentState::startedUtcMs, nullptr},
    {"agent.heartbeat_utc_ms", &AgentState::heartbeatUtcMs, nullptr},
    {"agent.interval_ms", &AgentState::intervalMs, nullptr},
    {"agent.last_round_utc_ms", &AgentState::lastRoundUtcMs, nullptr},
    {"agent.last_result", nullptr, &AgentState::lastResult},
    {"agent.last_success_utc_ms", &AgentState::lastSuccessUtcMs, nullptr},
    {"agent.next_round_utc_ms", &AgentState::nextRoundUtcMs, nullptr},
    {"agent.records_sent", &AgentState::recordsSent, nullptr},
    {"agent.last_round_records", &AgentState::lastRoundRecords, nullptr},
    {"agent.last_error", nullptr, &AgentState::lastError},
    {"agent.stopped_utc_ms", &AgentState::stoppedUtcMs, nullptr},
};

}  // namespace

Result<std::optional<AgentState>> loadAgentState(Store& store) {
    AgentState state;
    bool any = false;
    for (const auto& f : kFields) {
        auto value = store.setting(f.key);
        if (!value) return value.error();
        if (!value.value()) continue;
        any = true;
        if (f.number) {
            state.*f.number = std::strtoll(value.value()->c_str(), nullptr, 10);
        } else {
            state.*f.text = *value.value();
        }
    }
    if (!any) return std::optional<AgentState>();
    return std::optional<AgentState>(std::move(state));
}

Status saveAgentState(Store& store, const AgentState& state) {
    auto batch = store.beginBatch();
    if (!batch) return batch.error();
    for (const auto& f : kFields) {
        const std::string value = f.number ? std::to_string(state.*f.number) : state.*f.text;
        if (auto s = store.setSetting(f.key, value); !s) return s;
    }
    return batch->commit();
}

bool agentProcessAlive(std::int64_t pid) {
    // A number the system handed to another program since (after a reboot, say) is not the
    // agent: the program's name says so.
    return platform::processAlive(pid, "veld-agent");
}

AgentLiveness judgeAgent(const std::optional<AgentState>& state, std::int64_t nowMs, bool alive) {
    if (!state || state->startedUtcMs == 0) return AgentLiveness::Never;
    if (state->stoppedUtcMs != 0) return AgentLiveness::Stopped;
    if (!alive) return AgentLiveness::Stale;
    const std::int64_t interval = std::max<std::int64_t>(state->intervalMs, 1000);
    if (nowMs - state->heartbeatUtcMs > 2 * interval) return AgentLiveness::Stale;
    return AgentLiveness::Running;
}

std::string_view livenessName(AgentLiveness liveness) {
    switch (liveness) {
        case AgentLiveness::Running:
            return "running";
        case AgentLiveness::Stopped:
            return "stopped";
        case AgentLiveness::Stale:
            return "stale";
        case AgentLiveness::Never:
            break;
    }
    return "never";
}

}  // namespace veld::sync
