// Internal to the PostgreSQL backend: the webhooks domain (see veld/sync/store/webhooks.hpp).
#pragma once

#include <veld/sync/store/webhooks.hpp>

#include "../webhook_events.hpp"
#include "pg_collector.hpp"

namespace veld::sync::postgres {

class PgWebhooks : public virtual WebhookStore {
  public:
    explicit PgWebhooks(PgContext& context) : m_ctx(context) {}

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
    PgContext& m_ctx;
};

// Inside the caller's transaction: the hooks that want events of `type` (none: nothing to
// enqueue), and the deliveries of one event per record in `records`.
Result<std::vector<webhooks::HookTarget>> hooksWanting(pg::Connection& c, std::string_view type);
Status enqueueEvents(pg::Connection& c, const std::vector<webhooks::HookTarget>& hooks,
                     std::string_view type, const std::vector<webhooks::EventRecord>& records,
                     std::int64_t nowMs);

}  // namespace veld::sync::postgres
