// Internal to the PostgreSQL backend: the access domain (enrolment and devices, staff
// credentials, the audit log, the store's identity). See store/access.hpp for the contract.
#pragma once

#include <veld/sync/store/access.hpp>

#include "pg_collector.hpp"

namespace veld::sync::postgres {

class PgAccess : public virtual AccessStore {
  public:
    explicit PgAccess(PgContext& context) : m_ctx(context) {}

    Result<std::string> createEnrolCode(const std::string& label, std::int64_t nowMs,
                                        const std::string& actor,
                                        std::int64_t validForMs = 0) override;
    Result<std::string> createReenrolCode(const Uuid& deviceId, std::int64_t nowMs,
                                          const std::string& actor) override;
    Result<EnrolReply> enrol(const EnrolRequest& request, std::int64_t nowMs) override;
    Result<Uuid> authenticate(std::string_view credential) override;
    Status revoke(const Uuid& deviceId, std::int64_t nowMs, const std::string& actor) override;
    Result<std::vector<DeviceInfo>> devices() override;
    Result<std::string> addAdmin(const std::string& name, std::int64_t nowMs,
                                 const std::string& actor) override;
    Status revokeAdmin(const std::string& name, std::int64_t nowMs,
                       const std::string& actor) override;
    Result<std::string> authenticateAdmin(std::string_view credential) override;
    Result<std::vector<AdminInfo>> admins() override;
    Result<std::vector<AuditEntry>> audit() override;
    Status appendAudit(const AuditEntry& entry) override;
    Result<std::string> collectorId() override;
    Result<std::int64_t> health() override;
    Result<std::string> projectKey() override;
    Status setProjectKey(const std::string& key, std::int64_t nowMs,
                         const std::string& actor) override;

  private:
    PgContext& m_ctx;
};

}  // namespace veld::sync::postgres
