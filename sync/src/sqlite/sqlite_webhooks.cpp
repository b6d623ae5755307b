// The SQLite store's webhooks: registered hooks and the outbox of their deliveries
// (WebhookStore), and the enqueueing that intake and review call inside their transactions.
#include "sqlite_webhooks.hpp"

#include <mutex>

#include <veld/sqlite.hpp>

namespace veld::sync::sqlite {

namespace {

// The columns readDelivery() reads, in its order, for "FROM webhook_deliveries d".
constexpr const char* kDeliveryColumns =
    "d.did, d.hook_id, d.event_id, d.event_type, d.record_id, d.created_utc_ms, d.state, "
    "d.attempts, d.next_attempt_utc_ms, d.last_attempt_utc_ms, d.last_status, d.last_error, "
    "d.delivered_utc_ms";

WebhookDelivery readDelivery(const sql::Statement& st) {
    WebhookDelivery d;
    d.id = st.columnInt(0);
    d.hookId = st.columnInt(1);
    d.eventId = std::string(st.columnText(2));
    d.eventType = std::string(st.columnText(3));
    if (!st.columnIsNull(4)) d.recordId = idFrom(st.columnBlob(4));
    d.createdUtcMs = st.columnInt(5);
    d.state = static_cast<DeliveryState>(st.columnInt(6));
    d.attempts = st.columnInt(7);
    d.nextAttemptUtcMs = st.columnInt(8);
    d.lastAttemptUtcMs = st.columnInt(9);
    d.lastStatus = static_cast<int>(st.columnInt(10));
    d.lastError = std::string(st.columnText(11));
    d.deliveredUtcMs = st.columnInt(12);
    return d;
}

// NotFound for a hook number that is not there.
Status mustExist(SqliteContext& ctx, std::int64_t hookId) {
    auto st = ctx.db.prepare("SELECT 1 FROM webhooks WHERE hook_id = ?");
    if (!st) return st.error();
    st->bind(1, hookId);
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "no webhook with that number");
    return {};
}

}  // namespace

Result<std::vector<webhooks::HookTarget>> hooksWanting(SqliteContext& ctx, std::string_view type) {
    auto st = ctx.db.prepare("SELECT hook_id, events, data_forms FROM webhooks ORDER BY hook_id");
    if (!st) return st.error();
    std::vector<webhooks::HookTarget> out;
    if (auto s = st->forEachRow([&] {
            auto events = splitWebhookList(st->columnText(1));
            if (std::find(events.begin(), events.end(), type) == events.end()) return;
            out.push_back(
                {st->columnInt(0), std::move(events), splitWebhookList(st->columnText(2))});
        });
        !s)
        return s.error();
    return out;
}

Status enqueueEvent(SqliteContext& ctx, const std::vector<webhooks::HookTarget>& hooks,
                    std::string_view type, const webhooks::EventRecord& record,
                    std::int64_t nowMs) {
    if (hooks.empty()) return {};
    auto collector = metaText(ctx, "collector_id");
    if (!collector) return collector.error();
    auto st = ctx.db.prepare(
        "INSERT INTO webhook_deliveries (hook_id, event_id, event_type, record_id, payload, "
        "created_utc_ms, next_attempt_utc_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
    if (!st) return st.error();
    for (const auto& row : webhooks::eventRows(hooks, type, record, collector.value(), nowMs)) {
        st->bind(1, row.hookId)
            .bind(2, row.eventId)
            .bind(3, row.type)
            .bindBlob(4, idBytes(record.recordId))
            .bind(5, row.payload)
            .bind(6, nowMs);
        if (auto s = st->run(); !s) return s;
        st->reset();
    }
    return {};
}

Result<NewWebhook> SqliteWebhooks::addWebhook(const std::string& url,
                                              const std::vector<std::string>& events,
                                              const std::vector<std::string>& dataForms,
                                              std::int64_t nowMs, const std::string& actor) {
    auto checked = webhooks::newWebhook(url, events, dataForms, nowMs, actor);
    if (!checked) return checked.error();
    NewWebhook& made = checked.value();
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "INSERT INTO webhooks (url, events, data_forms, secret, created_utc_ms, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, url)
        .bind(2, joinWebhookList(events))
        .bind(3, joinWebhookList(dataForms))
        .bind(4, made.secret)
        .bind(5, nowMs)
        .bind(6, actor);
    if (auto s = st->run(); !s) return s.error();
    made.hook.id = m_ctx.db.lastInsertRowid();
    // The URL and events are audited; the secret never is.
    if (auto s = auditLocked(m_ctx, nowMs, actor, "webhook add", std::to_string(made.hook.id),
                             webhooks::auditDetail(made.hook));
        !s)
        return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return made;
}

Result<std::vector<Webhook>> SqliteWebhooks::webhooks() {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        "SELECT hook_id, url, events, data_forms, created_utc_ms, created_by FROM webhooks "
        "ORDER BY hook_id");
    if (!st) return st.error();
    std::vector<Webhook> out;
    if (auto s = st->forEachRow([&] {
            Webhook h;
            h.id = st->columnInt(0);
            h.url = std::string(st->columnText(1));
            h.events = splitWebhookList(st->columnText(2));
            h.dataForms = splitWebhookList(st->columnText(3));
            h.createdUtcMs = st->columnInt(4);
            h.createdBy = std::string(st->columnText(5));
            out.push_back(std::move(h));
        });
        !s)
        return s.error();
    auto counts = m_ctx.db.prepare(
        "SELECT state, count(*) FROM webhook_deliveries WHERE hook_id = ? GROUP BY state");
    auto failed = m_ctx.db.prepare(
        "SELECT last_error, last_attempt_utc_ms FROM webhook_deliveries WHERE hook_id = ? AND "
        "last_error != '' ORDER BY last_attempt_utc_ms DESC LIMIT 1");
    if (!counts) return counts.error();
    if (!failed) return failed.error();
    for (auto& h : out) {
        counts->bind(1, h.id);
        if (auto s = counts->forEachRow([&] {
                const auto state = counts->columnInt(0);
                if (state >= 0 && state < 4)
                    h.deliveries[static_cast<std::size_t>(state)] = counts->columnInt(1);
            });
            !s)
            return s.error();
        counts->reset();
        failed->bind(1, h.id);
        auto row = failed->step();
        if (!row) return row.error();
        if (row.value()) {
            h.lastError = std::string(failed->columnText(0));
            h.lastErrorUtcMs = failed->columnInt(1);
        }
        failed->reset();
    }
    return out;
}

Status SqliteWebhooks::removeWebhook(std::int64_t hookId, std::int64_t nowMs,
                                     const std::string& actor) {
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    if (auto known = mustExist(m_ctx, hookId); !known) return known.error();
    for (const char* sql : {"DELETE FROM webhook_deliveries WHERE hook_id = ?",
                            "DELETE FROM webhooks WHERE hook_id = ?"}) {
        auto st = m_ctx.db.prepare(sql);
        if (!st) return st.error();
        st->bind(1, hookId);
        if (auto s = st->run(); !s) return s;
    }
    if (auto s = auditLocked(m_ctx, nowMs, actor, "webhook remove", std::to_string(hookId), ""); !s)
        return s;
    return tx->commit();
}

Result<std::vector<WebhookDelivery>> SqliteWebhooks::deliveries(std::int64_t hookId, int limit) {
    std::lock_guard lock(m_ctx.mutex);
    if (auto known = mustExist(m_ctx, hookId); !known) return known.error();
    auto st = m_ctx.db.prepare(std::string("SELECT ") + kDeliveryColumns +
                               " FROM webhook_deliveries d WHERE d.hook_id = ? ORDER BY d.did "
                               "DESC LIMIT ?");
    if (!st) return st.error();
    st->bind(1, hookId).bind(2, static_cast<std::int64_t>(limit));
    std::vector<WebhookDelivery> out;
    if (auto s = st->forEachRow([&] { out.push_back(readDelivery(*st)); }); !s) return s.error();
    return out;
}

Result<std::int64_t> SqliteWebhooks::retryWebhook(std::int64_t hookId, std::int64_t nowMs,
                                                  const std::string& actor) {
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    if (auto known = mustExist(m_ctx, hookId); !known) return known.error();
    auto st = m_ctx.db.prepare(
        "UPDATE webhook_deliveries SET state = CASE WHEN state = 3 THEN 2 ELSE state END, "
        "next_attempt_utc_ms = min(next_attempt_utc_ms, ?2) WHERE hook_id = ?1 AND state IN "
        "(0, 2, 3)");
    if (!st) return st.error();
    st->bind(1, hookId).bind(2, nowMs);
    if (auto s = st->run(); !s) return s.error();
    const std::int64_t changed = m_ctx.db.changes();
    if (auto s = auditLocked(m_ctx, nowMs, actor, "webhook retry", std::to_string(hookId),
                             std::to_string(changed) + " deliveries");
        !s)
        return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return changed;
}

Result<std::vector<ClaimedDelivery>> SqliteWebhooks::claimDeliveries(std::int64_t nowMs,
                                                                     std::int64_t leaseMs,
                                                                     int limit,
                                                                     const std::string& owner) {
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(std::string("SELECT ") + kDeliveryColumns +
                               ", h.url, h.secret, d.payload FROM webhook_deliveries d JOIN "
                               "webhooks h ON h.hook_id = d.hook_id WHERE d.state IN (0, 2) AND "
                               "d.next_attempt_utc_ms <= ?1 AND d.lease_until_utc_ms <= ?1 "
                               "ORDER BY d.next_attempt_utc_ms, d.did LIMIT ?2");
    if (!st) return st.error();
    st->bind(1, nowMs).bind(2, static_cast<std::int64_t>(limit));
    std::vector<ClaimedDelivery> out;
    if (auto s = st->forEachRow([&] {
            out.push_back({readDelivery(*st), std::string(st->columnText(13)),
                           std::string(st->columnText(14)), std::string(st->columnText(15))});
        });
        !s)
        return s.error();
    st->reset();
    auto lease = m_ctx.db.prepare(
        "UPDATE webhook_deliveries SET lease_owner = ?1, lease_until_utc_ms = ?2 WHERE did = ?3");
    if (!lease) return lease.error();
    for (const auto& c : out) {
        lease->bind(1, owner).bind(2, nowMs + leaseMs).bind(3, c.delivery.id);
        if (auto s = lease->run(); !s) return s.error();
        lease->reset();
    }
    if (auto s = tx->commit(); !s) return s.error();
    return out;
}

Status SqliteWebhooks::recordAttempt(std::int64_t deliveryId, const std::string& owner,
                                     const DeliveryAttempt& attempt) {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        "UPDATE webhook_deliveries SET state = ?3, attempts = attempts + 1, "
        "last_attempt_utc_ms = ?4, last_status = nullif(?5, 0), last_error = ?6, "
        "next_attempt_utc_ms = CASE WHEN ?3 = 2 THEN ?7 ELSE next_attempt_utc_ms END, "
        "delivered_utc_ms = CASE WHEN ?3 = 1 THEN ?4 ELSE delivered_utc_ms END, "
        "lease_owner = '', lease_until_utc_ms = 0 WHERE did = ?1 AND lease_owner = ?2");
    if (!st) return st.error();
    st->bind(1, deliveryId)
        .bind(2, owner)
        .bind(3, static_cast<std::int64_t>(attempt.state))
        .bind(4, attempt.attemptUtcMs)
        .bind(5, static_cast<std::int64_t>(attempt.status))
        .bind(6, attempt.error)
        .bind(7, attempt.nextAttemptUtcMs);
    return st->run();
}

Status SqliteWebhooks::deferWebhook(std::int64_t hookId, std::int64_t untilMs,
                                    std::int64_t giveUpBeforeMs, const std::string& owner) {
    std::lock_guard lock(m_ctx.mutex);
    auto st = m_ctx.db.prepare(
        "UPDATE webhook_deliveries SET next_attempt_utc_ms = max(next_attempt_utc_ms, ?2), "
        "state = CASE WHEN created_utc_ms < ?3 THEN 3 ELSE state END, lease_owner = '', "
        "lease_until_utc_ms = 0 WHERE hook_id = ?1 AND state IN (0, 2) AND "
        "(lease_owner = '' OR lease_owner = ?4)");
    if (!st) return st.error();
    st->bind(1, hookId).bind(2, untilMs).bind(3, giveUpBeforeMs).bind(4, owner);
    return st->run();
}

Result<std::int64_t> SqliteWebhooks::undeliveredCount() {
    std::lock_guard lock(m_ctx.mutex);
    return m_ctx.db.queryInt("SELECT count(*) FROM webhook_deliveries WHERE state IN (0, 2)");
}

}  // namespace veld::sync::sqlite
