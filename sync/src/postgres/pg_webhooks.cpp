// The PostgreSQL backend's webhooks: registered hooks and the outbox of their deliveries, and
// the enqueueing that intake and review call inside their transactions. Several collector
// processes may deliver from one database: a delivery is claimed with FOR UPDATE SKIP LOCKED and
// a lease, so no two post it at once.
#include "pg_webhooks.hpp"

#include <algorithm>

#include "pg_exports.hpp"

namespace veld::sync::postgres {

namespace {

// The columns readDelivery() reads from `first` on, for "webhook_deliveries d".
constexpr const char* kDeliveryColumns =
    "d.did, d.hook_id, d.event_id, d.event_type, d.record_id, d.created_utc_ms, d.state, "
    "d.attempts, d.next_attempt_utc_ms, d.last_attempt_utc_ms, d.last_status, d.last_error, "
    "d.delivered_utc_ms";

WebhookDelivery readDelivery(const pg::Rows& rows, int i) {
    WebhookDelivery d;
    d.id = rows.integer(i, 0);
    d.hookId = rows.integer(i, 1);
    d.eventId = std::string(rows.text(i, 2));
    d.eventType = std::string(rows.text(i, 3));
    if (!rows.isNull(i, 4)) d.recordId = rows.uuid(i, 4);
    d.createdUtcMs = rows.integer(i, 5);
    d.state = static_cast<DeliveryState>(rows.integer(i, 6));
    d.attempts = rows.integer(i, 7);
    d.nextAttemptUtcMs = rows.integer(i, 8);
    d.lastAttemptUtcMs = rows.integer(i, 9);
    d.lastStatus = static_cast<int>(rows.integer(i, 10));
    d.lastError = std::string(rows.text(i, 11));
    d.deliveredUtcMs = rows.integer(i, 12);
    return d;
}

Status mustExist(pg::Connection& c, std::int64_t hookId) {
    auto rows = c.query("SELECT 1 FROM webhooks WHERE hook_id = $1", pg::Params().add(hookId),
                        "reading a webhook");
    if (!rows) return rows.error();
    if (rows->empty()) return makeError(ErrorCode::NotFound, "no webhook with that number");
    return {};
}

// The most outbox rows one statement writes (6 parameters each).
constexpr std::size_t kSlice = 1000;

}  // namespace

Result<std::vector<webhooks::HookTarget>> hooksWanting(pg::Connection& c, std::string_view type) {
    auto rows = c.query("SELECT hook_id, events, data_forms FROM webhooks ORDER BY hook_id", {},
                        "reading webhooks");
    if (!rows) return rows.error();
    std::vector<webhooks::HookTarget> out;
    for (int i = 0; i < rows->size(); ++i) {
        auto events = splitWebhookList(rows->text(i, 1));
        if (std::find(events.begin(), events.end(), type) == events.end()) continue;
        out.push_back({rows->integer(i, 0), std::move(events), splitWebhookList(rows->text(i, 2))});
    }
    return out;
}

Status enqueueEvents(pg::Connection& c, const std::vector<webhooks::HookTarget>& hooks,
                     std::string_view type, const std::vector<webhooks::EventRecord>& records,
                     std::int64_t nowMs) {
    if (hooks.empty() || records.empty()) return {};
    auto collector = metaText(c, "collector_id");
    if (!collector) return collector.error();
    std::vector<std::pair<const webhooks::EventRecord*, webhooks::OutboxRow>> rows;
    for (const auto& r : records) {
        for (auto& row : webhooks::eventRows(hooks, type, r, collector.value(), nowMs))
            rows.emplace_back(&r, std::move(row));
    }
    for (std::size_t at = 0; at < rows.size(); at += kSlice) {
        pg::Params p;
        p.add(nowMs);
        std::string values;
        const std::size_t end = std::min(rows.size(), at + kSlice);
        for (std::size_t i = at; i < end; ++i) {
            const auto& [record, row] = rows[i];
            p.add(row.hookId).add(row.eventId).add(row.type).add(record->recordId).add(row.payload);
            const int n = p.size();
            if (!values.empty()) values += ",";
            values += "($" + std::to_string(n - 4) + ",$" + std::to_string(n - 3) + ",$" +
                      std::to_string(n - 2) + ",$" + std::to_string(n - 1) + ",$" +
                      std::to_string(n) + ",$1,$1)";
        }
        if (auto s =
                c.run("INSERT INTO webhook_deliveries (hook_id, event_id, event_type, record_id, "
                      "payload, created_utc_ms, next_attempt_utc_ms) VALUES " +
                          values,
                      p, "queueing webhook deliveries");
            !s)
            return s;
    }
    return {};
}

Result<NewWebhook> PgWebhooks::addWebhook(const std::string& url,
                                          const std::vector<std::string>& events,
                                          const std::vector<std::string>& dataForms,
                                          std::int64_t nowMs, const std::string& actor) {
    auto checked = webhooks::newWebhook(url, events, dataForms, nowMs, actor);
    if (!checked) return checked.error();
    NewWebhook& made = checked.value();
    auto s =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            pg::Params p;
            p.add(url)
                .add(joinWebhookList(events))
                .add(joinWebhookList(dataForms))
                .add(made.secret)
                .add(nowMs)
                .add(actor);
            auto rows = c.query(
                "INSERT INTO webhooks (url, events, data_forms, secret, created_utc_ms, "
                "created_by) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING hook_id",
                p, "adding a webhook");
            if (!rows) return rows.error();
            made.hook.id = rows->integer(0, 0);
            // The URL and events are audited; the secret never is.
            return audit(c, nowMs, actor, "webhook add", std::to_string(made.hook.id),
                         webhooks::auditDetail(made.hook));
        });
    if (!s) return s.error();
    return made;
}

Result<std::vector<Webhook>> PgWebhooks::webhooks() {
    // One statement: the hooks, their deliveries by state and their latest error, from one
    // snapshot.
    auto rows = queryOnce(
        m_ctx,
        "SELECT h.hook_id, h.url, h.events, h.data_forms, h.created_utc_ms, h.created_by, "
        "(SELECT count(*) FROM webhook_deliveries d WHERE d.hook_id = h.hook_id AND d.state = 0), "
        "(SELECT count(*) FROM webhook_deliveries d WHERE d.hook_id = h.hook_id AND d.state = 1), "
        "(SELECT count(*) FROM webhook_deliveries d WHERE d.hook_id = h.hook_id AND d.state = 2), "
        "(SELECT count(*) FROM webhook_deliveries d WHERE d.hook_id = h.hook_id AND d.state = 3), "
        "e.last_error, e.last_attempt_utc_ms FROM webhooks h LEFT JOIN LATERAL (SELECT "
        "last_error, last_attempt_utc_ms FROM webhook_deliveries d WHERE d.hook_id = h.hook_id "
        "AND d.last_error <> '' ORDER BY d.last_attempt_utc_ms DESC LIMIT 1) e ON true "
        "ORDER BY h.hook_id",
        {}, "reading webhooks");
    if (!rows) return rows.error();
    std::vector<Webhook> out;
    for (int i = 0; i < rows->size(); ++i) {
        Webhook h;
        h.id = rows->integer(i, 0);
        h.url = std::string(rows->text(i, 1));
        h.events = splitWebhookList(rows->text(i, 2));
        h.dataForms = splitWebhookList(rows->text(i, 3));
        h.createdUtcMs = rows->integer(i, 4);
        h.createdBy = std::string(rows->text(i, 5));
        for (int s = 0; s < 4; ++s)
            h.deliveries[static_cast<std::size_t>(s)] = rows->integer(i, 6 + s);
        if (!rows->isNull(i, 10)) {
            h.lastError = std::string(rows->text(i, 10));
            h.lastErrorUtcMs = rows->integer(i, 11);
        }
        out.push_back(std::move(h));
    }
    return out;
}

Status PgWebhooks::removeWebhook(std::int64_t hookId, std::int64_t nowMs,
                                 const std::string& actor) {
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        if (auto s = mustExist(c, hookId); !s) return s;
        for (const char* sql : {"DELETE FROM webhook_deliveries WHERE hook_id = $1",
                                "DELETE FROM webhooks WHERE hook_id = $1"}) {
            if (auto s = c.run(sql, pg::Params().add(hookId), "removing a webhook"); !s) return s;
        }
        return audit(c, nowMs, actor, "webhook remove", std::to_string(hookId), "");
    });
}

Result<std::vector<WebhookDelivery>> PgWebhooks::deliveries(std::int64_t hookId, int limit) {
    std::vector<WebhookDelivery> out;
    auto s = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        out.clear();
        if (auto known = mustExist(c, hookId); !known) return known;
        auto rows = c.query(std::string("SELECT ") + kDeliveryColumns +
                                " FROM webhook_deliveries d WHERE d.hook_id = $1 ORDER BY d.did "
                                "DESC LIMIT $2",
                            pg::Params().add(hookId).add(static_cast<std::int64_t>(limit)),
                            "reading webhook deliveries");
        if (!rows) return rows.error();
        for (int i = 0; i < rows->size(); ++i)
            out.push_back(readDelivery(rows.value(), i));
        return {};
    });
    if (!s) return s.error();
    return out;
}

Result<std::int64_t> PgWebhooks::retryWebhook(std::int64_t hookId, std::int64_t nowMs,
                                              const std::string& actor) {
    std::int64_t changed = 0;
    auto s =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            if (auto known = mustExist(c, hookId); !known) return known;
            auto rows = c.query(
                "UPDATE webhook_deliveries SET state = CASE WHEN state = 3 THEN 2 ELSE state END, "
                "next_attempt_utc_ms = least(next_attempt_utc_ms, $2) WHERE hook_id = $1 AND state "
                "IN (0, 2, 3)",
                pg::Params().add(hookId).add(nowMs), "retrying webhook deliveries");
            if (!rows) return rows.error();
            changed = rows->affected();
            return audit(c, nowMs, actor, "webhook retry", std::to_string(hookId),
                         std::to_string(changed) + " deliveries");
        });
    if (!s) return s.error();
    return changed;
}

Result<std::vector<ClaimedDelivery>> PgWebhooks::claimDeliveries(std::int64_t nowMs,
                                                                 std::int64_t leaseMs, int limit,
                                                                 const std::string& owner) {
    std::vector<ClaimedDelivery> out;
    auto s =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            out.clear();
            // Rows another process is claiming right now are skipped, not waited for; a row it
            // claimed has a live lease and is not due here.
            pg::Params p;
            p.add(owner).add(nowMs + leaseMs).add(nowMs).add(static_cast<std::int64_t>(limit));
            auto rows = c.query(
                std::string(
                    "UPDATE webhook_deliveries d SET lease_owner = $1, lease_until_utc_ms = "
                    "$2 FROM (SELECT did FROM webhook_deliveries WHERE state IN (0, 2) AND "
                    "next_attempt_utc_ms <= $3 AND lease_until_utc_ms <= $3 ORDER BY "
                    "next_attempt_utc_ms, did LIMIT $4 FOR UPDATE SKIP LOCKED) x, webhooks h "
                    "WHERE d.did = x.did AND h.hook_id = d.hook_id RETURNING ") +
                    kDeliveryColumns + ", h.url, h.secret, d.payload",
                p, "claiming webhook deliveries");
            if (!rows) return rows.error();
            for (int i = 0; i < rows->size(); ++i)
                out.push_back({readDelivery(rows.value(), i), std::string(rows->text(i, 13)),
                               std::string(rows->text(i, 14)), std::string(rows->text(i, 15))});
            return {};
        });
    if (!s) return s.error();
    std::sort(out.begin(), out.end(), [](const ClaimedDelivery& a, const ClaimedDelivery& b) {
        return std::pair(a.delivery.nextAttemptUtcMs, a.delivery.id) <
               std::pair(b.delivery.nextAttemptUtcMs, b.delivery.id);
    });
    return out;
}

Status PgWebhooks::recordAttempt(std::int64_t deliveryId, const std::string& owner,
                                 const DeliveryAttempt& attempt) {
    return withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        pg::Params p;
        p.add(deliveryId)
            .add(owner)
            .add(static_cast<std::int64_t>(attempt.state))
            .add(attempt.attemptUtcMs)
            .add(static_cast<std::int64_t>(attempt.status))
            .add(attempt.error)
            .add(attempt.nextAttemptUtcMs);
        return c.run(
            "UPDATE webhook_deliveries SET state = $3, attempts = attempts + 1, "
            "last_attempt_utc_ms = $4, last_status = nullif($5, 0), last_error = $6, "
            "next_attempt_utc_ms = CASE WHEN $3 = 2 THEN $7 ELSE next_attempt_utc_ms END, "
            "delivered_utc_ms = CASE WHEN $3 = 1 THEN $4 ELSE delivered_utc_ms END, "
            "lease_owner = '', lease_until_utc_ms = 0 WHERE did = $1 AND lease_owner = $2",
            p, "recording a webhook delivery");
    });
}

Status PgWebhooks::deferWebhook(std::int64_t hookId, std::int64_t untilMs,
                                std::int64_t giveUpBeforeMs, const std::string& owner) {
    return withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        return c.run(
            "UPDATE webhook_deliveries SET next_attempt_utc_ms = greatest(next_attempt_utc_ms, "
            "$2), state = CASE WHEN created_utc_ms < $3 THEN 3 ELSE state END, lease_owner = '', "
            "lease_until_utc_ms = 0 WHERE hook_id = $1 AND state IN (0, 2) AND (lease_owner = "
            "'' OR lease_owner = $4)",
            pg::Params().add(hookId).add(untilMs).add(giveUpBeforeMs).add(owner),
            "holding back a failing webhook");
    });
}

Result<std::int64_t> PgWebhooks::undeliveredCount() {
    auto rows = queryOnce(m_ctx, "SELECT count(*) FROM webhook_deliveries WHERE state IN (0, 2)",
                          {}, "counting webhook deliveries");
    if (!rows) return rows.error();
    return rows->integer(0, 0);
}

}  // namespace veld::sync::postgres
