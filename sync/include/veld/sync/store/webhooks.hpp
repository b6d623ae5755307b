// The collector's store, webhooks domain: URLs staff registered to be told of events, and the
// outbox of deliveries to them.
//
// Guarantees: an event's deliveries are written in the same transaction as the change that
// caused it (a push that stored revisions, a review), so a crash loses none and a rolled-back
// change sends none. Delivery is at least once: a delivery is claimed with a lease by one
// collector process at a time (several processes may share a PostgreSQL store), and a process
// that stops while it posts leaves the lease to expire, after which another posts it again with
// the same event id (the receiver's idempotency key).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

/// Event types a hook may ask for (their names are the wire format: "record.received",
/// "review.changed").
inline constexpr std::string_view kEventRecordReceived = "record.received";
inline constexpr std::string_view kEventReviewChanged = "review.changed";

/// A delivery's state. Pending: not tried yet (or held back while its hook fails); Failing: tried
/// and failed, tried again later; GivenUp: failed for longer than the collector's give-up age
/// (kept and listed; `webhook retry` makes it pending again).
enum class DeliveryState : std::uint8_t { Pending = 0, Delivered = 1, Failing = 2, GivenUp = 3 };
std::string_view deliveryStateName(DeliveryState state);

/// "a,b,c" <-> {"a","b","c"}: lists of event types and forms as typed and as stored (a name
/// never holds a comma; empty items are dropped).
std::string joinWebhookList(const std::vector<std::string>& items);
std::vector<std::string> splitWebhookList(std::string_view text);

struct Webhook {
    std::int64_t id = 0;
    std::string url;
    std::vector<std::string> events;     // event type names
    std::vector<std::string> dataForms;  // forms whose answers the hook may receive
    std::int64_t createdUtcMs = 0;
    std::string createdBy;
    /// Deliveries by DeliveryState, and the latest failed attempt's error ("" when none).
    std::array<std::int64_t, 4> deliveries{};
    std::string lastError;
    std::int64_t lastErrorUtcMs = 0;
};

/// A hook just added, with its signing secret: shown to staff once, never again.
struct NewWebhook {
    Webhook hook;
    std::string secret;
};

struct WebhookDelivery {
    std::int64_t id = 0;
    std::int64_t hookId = 0;
    std::string eventId;  // the idempotency key (Veld-Event-Id)
    std::string eventType;
    std::optional<Uuid> recordId;
    std::int64_t createdUtcMs = 0;
    DeliveryState state = DeliveryState::Pending;
    std::int64_t attempts = 0;
    std::int64_t nextAttemptUtcMs = 0;
    std::int64_t lastAttemptUtcMs = 0;  // 0: never tried
    int lastStatus = 0;                 // HTTP status of the last attempt (0: none came)
    std::string lastError;
    std::int64_t deliveredUtcMs = 0;
};

/// A delivery claimed for posting: what to post and where.
struct ClaimedDelivery {
    WebhookDelivery delivery;
    std::string url;
    std::string secret;
    std::string payload;  // the event's JSON
};

/// What one attempt came to, as the delivery worker decided (webhook_events.hpp holds the rule).
struct DeliveryAttempt {
    DeliveryState state = DeliveryState::Delivered;  // Delivered, Failing or GivenUp
    int status = 0;
    std::string error;
    std::int64_t attemptUtcMs = 0;
    std::int64_t nextAttemptUtcMs = 0;  // Failing only
};

class WebhookStore {
  public:
    virtual ~WebhookStore() = default;

    /// Registers a hook (audited) with a new secret. InvalidArgument for a URL that is not
    /// http(s), plain http to anything but this machine, an unknown event type or none.
    virtual Result<NewWebhook> addWebhook(const std::string& url,
                                          const std::vector<std::string>& events,
                                          const std::vector<std::string>& dataForms,
                                          std::int64_t nowMs, const std::string& actor) = 0;
    /// Every hook, oldest first, with its deliveries counted by state.
    virtual Result<std::vector<Webhook>> webhooks() = 0;
    /// Removes a hook and its deliveries (audited). NotFound for an unknown id.
    virtual Status removeWebhook(std::int64_t hookId, std::int64_t nowMs,
                                 const std::string& actor) = 0;
    /// A hook's newest `limit` deliveries, newest first. NotFound for an unknown hook.
    virtual Result<std::vector<WebhookDelivery>> deliveries(std::int64_t hookId, int limit) = 0;
    /// Makes a hook's undelivered deliveries (failing, given up, and pending ones held back)
    /// due now (audited); how many.
    virtual Result<std::int64_t> retryWebhook(std::int64_t hookId, std::int64_t nowMs,
                                              const std::string& actor) = 0;

    // ---- for the delivery worker --------------------------------------------------------------

    /// Claims up to `limit` due deliveries (pending or failing, next attempt reached, no live
    /// lease), oldest due first, leasing them to `owner` until nowMs + leaseMs.
    virtual Result<std::vector<ClaimedDelivery>> claimDeliveries(std::int64_t nowMs,
                                                                 std::int64_t leaseMs, int limit,
                                                                 const std::string& owner) = 0;
    /// Records an attempt at a claimed delivery and ends the lease (nothing when `owner` no
    /// longer holds it: another process took it over after the lease expired).
    virtual Status recordAttempt(std::int64_t deliveryId, const std::string& owner,
                                 const DeliveryAttempt& attempt) = 0;
    /// Holds back a failing hook: its other due deliveries (and those `owner` claimed) wait until
    /// `untilMs`; those created before `giveUpBeforeMs` are given up.
    virtual Status deferWebhook(std::int64_t hookId, std::int64_t untilMs,
                                std::int64_t giveUpBeforeMs, const std::string& owner) = 0;
    /// Deliveries not yet delivered or given up, over every hook.
    virtual Result<std::int64_t> undeliveredCount() = 0;
};

}  // namespace veld::sync
