// The collector's metrics and their Prometheus text exposition (see metrics.hpp).
#include "metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace veld::sync::detail {

namespace {

constexpr std::size_t kStatusSlots = Metrics::kStatuses.size() + 1;  // + "other"

// A float as Prometheus reads it: the shortest text that reads back the same.
std::string number(double v) {
    if (v == static_cast<double>(static_cast<std::int64_t>(v)) && v < 1e15 && v > -1e15)
        return std::to_string(static_cast<std::int64_t>(v));
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", v);
    double back = 0;
    for (int digits = 1; digits <= 17; ++digits) {
        char shorter[32];
        std::snprintf(shorter, sizeof shorter, "%.*g", digits, v);
        if (std::sscanf(shorter, "%lf", &back) == 1 && back == v) return shorter;
    }
    return text;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace

Histogram::Histogram(std::span<const double> bounds)
    : m_bounds(bounds.begin(), bounds.end()),
      m_buckets(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::observe(double value) {
    const auto at = std::lower_bound(m_bounds.begin(), m_bounds.end(), value) - m_bounds.begin();
    m_buckets[static_cast<std::size_t>(at)].fetch_add(1, std::memory_order_relaxed);
    double sum = m_sum.load(std::memory_order_relaxed);
    while (!m_sum.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
    }
    m_count.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name) const {
    // The count is the +Inf bucket's, so that the two always agree within one scrape.
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= m_bounds.size(); ++i) {
        cumulative += m_buckets[i].load(std::memory_order_relaxed);
        out.append(name).append("_bucket{le=\"");
        out.append(i < m_bounds.size() ? number(m_bounds[i]) : std::string("+Inf"));
        out.append("\"} ").append(std::to_string(cumulative)).append("\n");
    }
    out.append(name).append("_sum ").append(number(m_sum.load(std::memory_order_relaxed)));
    out.append("\n");
    out.append(name).append("_count ").append(std::to_string(cumulative)).append("\n");
}

Metrics::Metrics(const std::vector<std::string>& routes) : m_routes(routes) {
    m_routes.emplace_back("other");
    for (std::size_t i = 0; i < m_routes.size(); ++i)
        m_routeIndex.emplace(m_routes[i], i);
    m_requests = std::make_unique<std::atomic<std::uint64_t>[]>(m_routes.size() * kStatusSlots);
    m_startSeconds =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Metrics::request(std::string_view path, int status) {
    const auto route = m_routeIndex.find(path);
    const std::size_t r = route == m_routeIndex.end() ? m_routes.size() - 1 : route->second;
    const auto known = std::find(kStatuses.begin(), kStatuses.end(), status);
    const auto s = static_cast<std::size_t>(known - kStatuses.begin());  // size(): other
    m_requests[r * kStatusSlots + s].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::revisions(std::uint64_t stored, std::uint64_t duplicate, std::uint64_t rejected) {
    m_revisions[0].fetch_add(stored, std::memory_order_relaxed);
    m_revisions[1].fetch_add(duplicate, std::memory_order_relaxed);
    m_revisions[2].fetch_add(rejected, std::memory_order_relaxed);
}

std::string Metrics::render(const std::array<std::int64_t, 4>& exportJobs) const {
    std::string out;
    out.reserve(8192);
    header(out, "veld_collector_requests_total", "counter",
           "HTTP requests answered, by route and status code (route \"other\": any other path).");
    for (std::size_t r = 0; r < m_routes.size(); ++r) {
        for (std::size_t s = 0; s < kStatusSlots; ++s) {
            const std::uint64_t n =
                m_requests[r * kStatusSlots + s].load(std::memory_order_relaxed);
            if (n == 0) continue;
            out.append("veld_collector_requests_total{route=\"").append(m_routes[r]);
            out.append("\",code=\"");
            out.append(s < kStatuses.size() ? std::to_string(kStatuses[s]) : std::string("other"));
            out.append("\"} ").append(std::to_string(n)).append("\n");
        }
    }
    header(out, "veld_collector_revisions_received_total", "counter",
           "Revisions of records received in pushes, by outcome: stored (new), duplicate (a "
           "resend of one held already), rejected (unreadable, kept aside).");
    const char* outcomes[] = {"stored", "duplicate", "rejected"};
    for (std::size_t i = 0; i < 3; ++i) {
        out.append("veld_collector_revisions_received_total{outcome=\"").append(outcomes[i]);
        out.append("\"} ");
        out.append(std::to_string(m_revisions[i].load(std::memory_order_relaxed))).append("\n");
    }
    header(out, "veld_collector_push_duration_seconds", "histogram",
           "Seconds the collector took over a push, from its body received until its answer "
           "was ready (the commit included).");
    pushSeconds.render(out, "veld_collector_push_duration_seconds");
    header(out, "veld_collector_group_commit_revisions", "histogram",
           "Revisions stored by one commit of the store (pushes arriving together share one).");
    commitRevisions.render(out, "veld_collector_group_commit_revisions");
    header(out, "veld_collector_open_connections", "gauge",
           "Client connections open now, idle keep-alive ones included.");
    out.append("veld_collector_open_connections ");
    out.append(std::to_string(openConnections.load(std::memory_order_relaxed))).append("\n");
    header(out, "veld_collector_export_jobs", "gauge",
           "Exports started by staff through the admin API that the collector holds, by state.");
    const char* states[] = {"running", "done", "failed", "discarded"};
    for (std::size_t i = 0; i < 4; ++i) {
        out.append("veld_collector_export_jobs{state=\"").append(states[i]).append("\"} ");
        out.append(std::to_string(exportJobs[i])).append("\n");
    }
    header(out, "veld_collector_webhook_deliveries_total", "counter",
           "Webhook events posted by this process, by outcome: delivered (a 2xx answer), failed "
           "(an attempt without one; tried again later), given_up (failed past the give-up "
           "age).");
    const std::pair<const char*, const std::atomic<std::uint64_t>*> hooks[] = {
        {"delivered", &webhooks.delivered},
        {"failed", &webhooks.failedAttempts},
        {"given_up", &webhooks.givenUp}};
    for (const auto& [outcome, value] : hooks) {
        out.append("veld_collector_webhook_deliveries_total{outcome=\"").append(outcome);
        out.append("\"} ").append(std::to_string(value->load(std::memory_order_relaxed)));
        out.append("\n");
    }
    header(out, "veld_collector_webhook_undelivered", "gauge",
           "Webhook deliveries in the store not yet delivered or given up (every process's).");
    out.append("veld_collector_webhook_undelivered ");
    out.append(std::to_string(webhooks.undelivered.load(std::memory_order_relaxed))).append("\n");
    header(out, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    out.append("process_start_time_seconds ").append(number(m_startSeconds)).append("\n");
    return out;
}

}  // namespace veld::sync::detail
