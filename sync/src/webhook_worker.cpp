// The webhook delivery thread (see webhook_worker.hpp).
#include "webhook_worker.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <set>

#include <curl/curl.h>
#include <sodium.h>

#include <veld/hex.hpp>

namespace veld::sync::detail {

namespace {

// Deliveries claimed at a time: their leases must outlast posting them all one after another.
constexpr int kBatch = 8;

std::size_t discard(char*, std::size_t size, std::size_t n, void*) {
    return size * n;
}

int cancelled(void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
}

}  // namespace

WebhookWorker::WebhookWorker(std::shared_ptr<CollectorStore> store,
                             WebhookDeliverySettings settings, WebhookCounters& counters,
                             std::function<std::int64_t()> nowMs)
    : m_store(std::move(store)),
      m_settings(settings),
      m_counters(counters),
      m_now(std::move(nowMs)) {
    m_policy.baseMs = settings.retryBaseMs;
    m_policy.capMs = settings.retryCapMs;
    m_policy.giveUpAfterMs = settings.giveUpAfterMs;
    std::array<std::uint8_t, 8> id{};
    randombytes_buf(id.data(), id.size());
    m_owner = "collector-" + toHex(id);
    m_random.seed(randombytes_random());
    static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (ready) m_curl = curl_easy_init();
}

WebhookWorker::~WebhookWorker() {
    stop();
    if (m_curl) curl_easy_cleanup(static_cast<CURL*>(m_curl));
}

void WebhookWorker::start() {
    std::lock_guard lock(m_mutex);
    if (m_stopping || m_thread.joinable() || !m_curl) return;
    m_thread = std::thread([this] { loop(); });
}

void WebhookWorker::stop() {
    std::thread running;
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        running = std::move(m_thread);
    }
    m_wake.notify_all();
    if (running.joinable()) running.join();
}

void WebhookWorker::loop() {
    // A due delivery waits at most this long to be noticed (less with a short retry base, as
    // tests use).
    const auto poll =
        std::chrono::milliseconds(std::clamp<std::int64_t>(m_settings.retryBaseMs, 50, 1000));
    while (!m_stopping) {
        const bool ok = pass();
        if (ok) {
            if (auto n = m_store->undeliveredCount(); n) m_counters.undelivered = n.value();
        }
        std::unique_lock lock(m_mutex);
        m_wake.wait_for(lock, ok ? poll : std::max(poll, std::chrono::milliseconds(5000)),
                        [this] { return m_stopping.load(); });
    }
}

bool WebhookWorker::pass() {
    const std::int64_t leaseMs =
        kBatch * (static_cast<std::int64_t>(m_settings.timeoutSeconds) * 1000 + 1000) + 30000;
    std::uniform_real_distribution<double> jitter(0.0, 1.0);
    while (!m_stopping) {
        auto claimed = m_store->claimDeliveries(m_now(), leaseMs, kBatch, m_owner);
        if (!claimed) {
            logProblem(claimed.error().describe());
            return false;
        }
        if (claimed->empty()) return true;
        std::set<std::int64_t> heldBack;  // hooks that failed in this batch
        for (const auto& d : claimed.value()) {
            if (m_stopping) return true;                      // the leases expire; posted later
            if (heldBack.count(d.delivery.hookId)) continue;  // released by deferWebhook
            PostResult r;
            if (auto bad = webhooks::checkUrl(d.url); !bad) {
                r.error = bad.error().message;
            } else {
                r = post(d);
            }
            if (m_stopping && r.status == 0) return true;  // cut off by stop(): no attempt
            const std::int64_t at = m_now();
            const auto attempt =
                webhooks::judgeAttempt(r.status, r.error, d.delivery.createdUtcMs,
                                       d.delivery.attempts + 1, at, m_policy, jitter(m_random));
            if (auto s = m_store->recordAttempt(d.delivery.id, m_owner, attempt); !s) {
                logProblem(s.error().describe());
                return false;
            }
            if (attempt.state == DeliveryState::Delivered) {
                m_counters.delivered.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            m_counters.failedAttempts.fetch_add(1, std::memory_order_relaxed);
            if (attempt.state == DeliveryState::GivenUp)
                m_counters.givenUp.fetch_add(1, std::memory_order_relaxed);
            // The hook's other deliveries wait with this one (and those as old as the give-up
            // age are given up with it).
            heldBack.insert(d.delivery.hookId);
            const std::int64_t until =
                attempt.state == DeliveryState::Failing
                    ? attempt.nextAttemptUtcMs
                    : at + webhooks::retryDelayMs(1, m_policy.baseMs, m_policy.capMs,
                                                  jitter(m_random));
            if (auto s = m_store->deferWebhook(d.delivery.hookId, until,
                                               at - m_policy.giveUpAfterMs, m_owner);
                !s) {
                logProblem(s.error().describe());
                return false;
            }
        }
    }
    return true;
}

PostResult WebhookWorker::post(const ClaimedDelivery& d) {
    auto* curl = static_cast<CURL*>(m_curl);
    // Options of the last post are not carried over; its connection is.
    curl_easy_reset(curl);
    const std::string timestamp = std::to_string(m_now() / 1000);
    curl_slist* headers = nullptr;
    for (const std::string& h :
         {std::string("Content-Type: application/json"), std::string("User-Agent: veld-collector"),
          "Veld-Event-Id: " + d.delivery.eventId, "Veld-Event-Type: " + d.delivery.eventType,
          "Veld-Timestamp: " + timestamp,
          "Veld-Signature: " + webhooks::signature(d.secret, d.payload), std::string("Expect:")})
        headers = curl_slist_append(headers, h.c_str());
    const long timeout = std::max(1, m_settings.timeoutSeconds);
    curl_easy_setopt(curl, CURLOPT_URL, d.url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d.payload.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(d.payload.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    // A slow or silent receiver cannot hold the worker longer than the timeout.
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, std::min(timeout, 10L));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &m_stopping);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, cancelled);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) return {0, std::string("no answer: ") + curl_easy_strerror(rc)};
    return {static_cast<int>(status), {}};
}

void WebhookWorker::logProblem(const std::string& message) {
    // Once per different message: a store that is down is not reported every second.
    if (message == m_lastProblem) return;
    m_lastProblem = message;
    std::fprintf(stderr, "veld-collector: webhooks: %s\n", message.c_str());
}

}  // namespace veld::sync::detail
