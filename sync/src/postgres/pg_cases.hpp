// Internal to the PostgreSQL backend: the cases domain (see veld/sync/store/cases.hpp).
#pragma once

#include <veld/sync/store/cases.hpp>

#include "pg_collector.hpp"

namespace veld::sync::postgres {

class PgCases : public virtual CaseStore {
  public:
    explicit PgCases(PgContext& context) : m_ctx(context) {}

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
    PgContext& m_ctx;
};

}  // namespace veld::sync::postgres
