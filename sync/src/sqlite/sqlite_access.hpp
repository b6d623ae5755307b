// Internal to the SQLite store: see sqlite_collector.hpp.
#pragma once

#include <veld/sync/collector_store.hpp>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

class SqliteAccess : public virtual AccessStore {
  public:
    explicit SqliteAccess(SqliteContext& ctx) : m_ctx(ctx) {}

    Result<std::string> createEnrolCode(const std::string& label, std::int64_t nowMs,
                                        const std::string& actor,
                                        std::int64_t validForMs = 0) override;
    Result<std::string> createReenrolCode(const Uuid& deviceId, std::int64_t nowMs,
                                          const std::string& actor) override;
    Result<EnrolReply> enrol(const EnrolRequest& request, std::int64_t nowMs) override;
    Result<Uuid> authenticate(std::string_view credential) override;
    Status revoke(const Uuid& deviceId, std::int64_t nowMs, const std::string& actor) override;
    Result<std::string> addAdmin(const std::string& name, std::int64_t nowMs,
                                 const std::string& actor) override;
    Status revokeAdmin(const std::string& name, std::int64_t nowMs,
                       const std::string& actor) override;
    Result<std::string> authenticateAdmin(std::string_view credential) override;
    Result<std::vector<AdminInfo>> admins() override;
    Result<std::vector<DeviceInfo>> devices() override;
    Result<std::vector<AuditEntry>> audit() override;
    Result<std::string> collectorId() override;
    Result<std::int64_t> health() override;
    Status appendAudit(const AuditEntry& entry) override;
    Result<std::string> projectKey() override;
    Status setProjectKey(const std::string& key, std::int64_t nowMs,
                         const std::string& actor) override;

  private:
    SqliteContext& m_ctx;
};

}  // namespace veld::sync::sqlite
