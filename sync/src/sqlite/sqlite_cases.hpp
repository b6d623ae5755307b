// Internal to the SQLite store: see sqlite_collector.hpp.
#pragma once

#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

class SqliteCases : public virtual CaseStore {
  public:
    explicit SqliteCases(SqliteContext& ctx) : m_ctx(ctx) {}

    Status setDeviceTeam(const Uuid& deviceId, const std::string& team, std::int64_t nowMs,
                         const std::string& actor) override;
    Result<std::vector<CollectorCase>> cases(const CaseFilter& filter) override;
    Status assignCase(const Uuid& caseId, const std::optional<Uuid>& device,
                      const std::string& team, std::int64_t nowMs,
                      const std::string& actor) override;
    Result<std::vector<CaseConflictInfo>> caseConflicts(bool includeResolved) override;
    Status resolveCaseConflict(std::int64_t conflictId, const CaseChoice& choice,
                               const std::string& comment, std::int64_t nowMs,
                               const std::string& actor) override;

  private:
    SqliteContext& m_ctx;
};

Status applyCase(SqliteContext& ctx, const Uuid& deviceId, const Uuid& caseId,
                 const std::optional<CaseChange>& change, HlcTimestamp hlc, std::int64_t rid,
                 std::int64_t nowMs);

// The cases for a device after its cursor: those assigned to it or its team, and (as not
// assigned) those it holds that are no longer its.
Status pullCases(SqliteContext& ctx, const Uuid& deviceId, const std::string& team,
                 const PullRequest& request, PullReply& reply);

}  // namespace veld::sync::sqlite
