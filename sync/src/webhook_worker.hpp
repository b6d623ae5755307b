// Internal to the collector: the thread that posts webhook deliveries from the store's outbox.
//
// Each pass claims the due deliveries (a lease, so that another collector process on the same
// PostgreSQL store does not post them at the same time), posts each with libcurl, and records
// what came of it. When a hook fails, its other due deliveries wait with it (one attempt per
// hook per backoff step, however many events queued up while its receiver was down); once it
// answers again, they follow at once.
//
// Thread-safety: start() and stop() may be called from any thread (stop() from a signal
// handler's thread while run() starts it); the counters are atomics read by /metrics.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <veld/sync/collector_server.hpp>
#include <veld/sync/collector_store.hpp>

#include "metrics.hpp"
#include "webhook_events.hpp"

namespace veld::sync::detail {

/// The result of one post: the HTTP status (0 when none came) and, without one, why.
struct PostResult {
    int status = 0;
    std::string error;
};

class WebhookWorker {
  public:
    WebhookWorker(std::shared_ptr<CollectorStore> store, WebhookDeliverySettings settings,
                  WebhookCounters& counters, std::function<std::int64_t()> nowMs);
    ~WebhookWorker();
    WebhookWorker(const WebhookWorker&) = delete;
    WebhookWorker& operator=(const WebhookWorker&) = delete;

    void start();
    /// Ends the thread; a post in flight is cut off (its lease expires and it is posted again,
    /// by this or another collector, with the same event id).
    void stop();

  private:
    void loop();
    // Claims and posts until nothing is due; false when the store failed.
    bool pass();
    PostResult post(const ClaimedDelivery& d);
    void logProblem(const std::string& message);

    std::shared_ptr<CollectorStore> m_store;
    WebhookDeliverySettings m_settings;
    webhooks::RetryPolicy m_policy;
    WebhookCounters& m_counters;
    std::function<std::int64_t()> m_now;
    std::string m_owner;  // this process's name on the leases it takes
    std::mt19937_64 m_random;
    void* m_curl = nullptr;  // CURL*, used by the worker thread only

    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::atomic<bool> m_stopping{false};
    std::string m_lastProblem;
    std::thread m_thread;
};

}  // namespace veld::sync::detail
