// What veld-agent tells about itself, kept in the device store's settings (keys "agent.*") so
// the client's Sync screen and `veldctl agent status` read the same thing. Each write is one
// short transaction; nothing in it holds answers or secrets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <veld/result.hpp>
#include <veld/store.hpp>

namespace veld::sync {

struct AgentState {
    std::int64_t pid = 0;
    std::int64_t startedUtcMs = 0;    // when this run of the agent started
    std::int64_t heartbeatUtcMs = 0;  // the agent's last write
    std::int64_t intervalMs = 0;      // its --interval
    std::int64_t lastRoundUtcMs = 0;  // when its last round ended; 0: none yet
    std::string lastResult;           // "done", "busy", "not-enrolled", "failed", "stopped"
    std::int64_t lastSuccessUtcMs = 0;
    std::int64_t nextRoundUtcMs = 0;
    std::int64_t recordsSent = 0;       // since this run started
    std::int64_t lastRoundRecords = 0;  // in the last round
    std::string lastError;              // plain words; empty after a round that worked
    std::int64_t stoppedUtcMs = 0;      // set when it stopped cleanly; 0 while it runs
};

/// The state last written, or nothing when no agent ever ran on this store.
Result<std::optional<AgentState>> loadAgentState(Store& store);

/// Writes every field in one transaction.
Status saveAgentState(Store& store, const AgentState& state);

enum class AgentLiveness {
    Never,    // no agent ever ran on this store
    Running,  // its process is there and it wrote within the last two intervals
    Stopped,  // it stopped cleanly (SIGTERM, SIGINT, or --once ended)
    Stale,    // it died: its process is gone, or it has not written for two intervals
};

/// Whether the process `pid` is a veld-agent that is still running on this machine.
bool agentProcessAlive(std::int64_t pid);

/// Judges the state at wall-clock time `nowMs`; `alive` is agentProcessAlive(state.pid).
AgentLiveness judgeAgent(const std::optional<AgentState>& state, std::int64_t nowMs, bool alive);

/// "running", "stopped", "stale", "never".
std::string_view livenessName(AgentLiveness liveness);

}  // namespace veld::sync
