// Internal to the collector: the rules of webhooks that both store backends, the delivery worker
// and veldctl share, written once: which URLs and event types are accepted, what an event's JSON
// holds (answers only for a hook allowed the form's data, never a sealed record's), how a body
// is signed, and when a failed delivery is tried again or given up.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/hlc.hpp>
#include <veld/record.hpp>
#include <veld/result.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/store/webhooks.hpp>
#include <veld/uuid.hpp>

namespace veld::sync::webhooks {

/// Accepts https:// URLs, and http:// only to this machine (localhost, 127.0.0.0/8, [::1]):
/// an event may carry answers, and a signature protects them from change, not from being read.
Status checkUrl(std::string_view url);

/// Checks event type names (at least one, each known, none twice).
Status checkEvents(const std::vector<std::string>& events);

/// Checks form ids for --data-forms (names as forms have them).
Status checkDataForms(const std::vector<std::string>& forms);

/// Checks a new hook (checkUrl, checkEvents, checkDataForms) and makes it, with a new secret,
/// ready for the store to insert (its id still 0).
Result<NewWebhook> newWebhook(const std::string& url, const std::vector<std::string>& events,
                              const std::vector<std::string>& dataForms, std::int64_t nowMs,
                              const std::string& actor);

/// What the audit log says of a new hook: its URL, events and data forms (never the secret).
std::string auditDetail(const Webhook& hook);

/// A new signing secret: "vwhs_" and 64 hex digits (32 random bytes). Receivers use the whole
/// text, as it is shown, as the HMAC key.
std::string newSecret();

/// The Veld-Signature header's value for `body`: "sha256=" and the hex HMAC-SHA256 of the body
/// keyed with the secret's text (libsodium crypto_auth_hmacsha256).
std::string signature(std::string_view secret, std::string_view body);

/// A hook as the enqueueing needs it.
struct HookTarget {
    std::int64_t id = 0;
    std::vector<std::string> events;
    std::vector<std::string> dataForms;
};

/// The record an event is about: its current (record.received: newly stored) revision.
struct EventRecord {
    Uuid recordId;
    std::string formId;
    std::uint32_t formVersion = 0;
    Uuid deviceId;
    HlcTimestamp hlc;
    std::span<const std::uint8_t> body;  // empty when stored damaged
    std::string reviewState;             // review.changed only
    std::string reviewedBy;              // review.changed only
};

/// The record.received event of a revision a device pushed.
EventRecord receivedEvent(const Uuid& deviceId, const PushRevision& revision);

/// One row of the outbox.
struct OutboxRow {
    std::int64_t hookId = 0;
    std::string eventId;
    std::string type;
    std::string payload;
};

/// The deliveries of one event of `type` about `record`: one per hook that asked for the type,
/// all with one event id. The answers are added (as JSON) for hooks that list the record's form
/// in their data forms, when the body decodes and is not sealed.
std::vector<OutboxRow> eventRows(const std::vector<HookTarget>& hooks, std::string_view type,
                                 const EventRecord& record, std::string_view collectorId,
                                 std::int64_t nowMs);

/// A record's answers as a JSON object: name -> value (text, number, true/false, a choice's
/// name, an array of choices' names, "YYYY-MM-DD", "HH:MM:SS", an ISO 8601 UTC date-time, a
/// pseudonym as "KEYID:HEX", a signature as {"strokes": N}); a repeat as an array of such
/// objects.
std::string answersJson(const RecordContent& content);

/// When a delivery that failed its `attempts`-th attempt (from 1) is tried again: `baseMs`
/// doubling with each attempt up to `capMs`, times a random factor from 0.5 to 1 (`random01` in
/// [0, 1)) so that hooks that failed together do not all come back at once.
std::int64_t retryDelayMs(std::int64_t attempts, std::int64_t baseMs, std::int64_t capMs,
                          double random01);

/// The delivery worker's policy.
struct RetryPolicy {
    std::int64_t baseMs = 5000;
    std::int64_t capMs = 3600 * 1000;
    std::int64_t giveUpAfterMs = 3LL * 24 * 3600 * 1000;  // of a delivery's age
};

/// What an attempt at a delivery created at `createdUtcMs` (its `attempts`-th, from 1) came to:
/// an answer with a 2xx status is Delivered; anything else (another status, no answer) is
/// Failing with its next attempt, or GivenUp once the delivery is older than the give-up age.
DeliveryAttempt judgeAttempt(int status, std::string error, std::int64_t createdUtcMs,
                             std::int64_t attempts, std::int64_t nowMs, const RetryPolicy& policy,
                             double random01);

}  // namespace veld::sync::webhooks
