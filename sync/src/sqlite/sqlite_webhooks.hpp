// Internal to the SQLite store: see sqlite_collector.hpp.
#pragma once

#include <veld/sync/collector_store.hpp>

#include "../webhook_events.hpp"
#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

class SqliteWebhooks : public virtual WebhookStore {
  public:
    explicit SqliteWebhooks(SqliteContext& ctx) : m_ctx(ctx) {}

    Result<NewWebhook> addWebhook(const std::string& url, const std::vector<std::string>& events,
                                  const std::vector<std::string>& dataForms, std::int64_t nowMs,
                                  const std::string& actor) override;
    Result<std::vector<Webhook>> webhooks() override;
    Status removeWebhook(std::int64_t hookId, std::int64_t nowMs,
                         const std::string& actor) override;
    Result<std::vector<WebhookDelivery>> deliveries(std::int64_t hookId, int limit) override;
    Result<std::int64_t> retryWebhook(std::int64_t hookId, std::int64_t nowMs,
                                      const std::string& actor) override;
    Result<std::vector<ClaimedDelivery>> claimDeliveries(std::int64_t nowMs, std::int64_t leaseMs,
                                                         int limit,
                                                         const std::string& owner) override;
    Status recordAttempt(std::int64_t deliveryId, const std::string& owner,
                         const DeliveryAttempt& attempt) override;
    Status deferWebhook(std::int64_t hookId, std::int64_t untilMs, std::int64_t giveUpBeforeMs,
                        const std::string& owner) override;
    Result<std::int64_t> undeliveredCount() override;

  private:
    SqliteContext& m_ctx;
};

// Inside the caller's transaction (ctx.mutex held): the hooks that want events of `type` (none:
// nothing to enqueue), and the deliveries of one such event about `record`.
Result<std::vector<webhooks::HookTarget>> hooksWanting(SqliteContext& ctx, std::string_view type);
Status enqueueEvent(SqliteContext& ctx, const std::vector<webhooks::HookTarget>& hooks,
                    std::string_view type, const webhooks::EventRecord& record, std::int64_t nowMs);

}  // namespace veld::sync::sqlite
