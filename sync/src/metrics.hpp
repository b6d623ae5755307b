// Internal to the collector: the counters, gauges and histograms served at /metrics, in the
// Prometheus text exposition format 0.0.4.
//
// Labels are drawn from fixed sets only (the collector's route patterns, a list of status codes,
// revision outcomes, export job states): never a raw path, a device, a credential or an answer.
//
// Thread-safety: every update is a relaxed atomic operation and may come from any thread;
// render() reads them without stopping the updates (a scrape sees each value as it was at some
// moment while it ran).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace veld::sync::detail {

/// Seconds a push takes in the collector (its body in, until its answer is ready).
inline constexpr double kPushSecondsBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                 0.25,  0.5,    1,     2.5,  5,     10};
/// Revisions stored by one commit of the group commit.
inline constexpr double kCommitRevisionsBuckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};

class Histogram {
  public:
    explicit Histogram(std::span<const double> bounds);
    void observe(double value);
    /// NAME_bucket (cumulative, le="+Inf" last), NAME_sum and NAME_count.
    void render(std::string& out, std::string_view name) const;

  private:
    std::vector<double> m_bounds;
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_buckets;  // not cumulative; +Inf last
    std::atomic<std::uint64_t> m_count{0};
    std::atomic<double> m_sum{0};
};

/// What /metrics shows of webhook delivery (updated by the delivery worker).
struct WebhookCounters {
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> failedAttempts{0};
    std::atomic<std::uint64_t> givenUp{0};
    std::atomic<std::int64_t> undelivered{0};  // over the whole store, as of the last pass
};

class Metrics {
  public:
    /// `routes`: the route patterns requests are counted by; any other path counts as "other".
    explicit Metrics(const std::vector<std::string>& routes);

    /// One request answered with `status`, on the route `path` names.
    void request(std::string_view path, int status);
    /// Revisions of pushes by their outcome: stored, duplicate (held already), rejected
    /// (unreadable, kept aside).
    void revisions(std::uint64_t stored, std::uint64_t duplicate, std::uint64_t rejected);
    Histogram pushSeconds{kPushSecondsBuckets};
    Histogram commitRevisions{kCommitRevisionsBuckets};
    /// Open client connections (updated by the connection front).
    std::atomic<std::int64_t> openConnections{0};
    WebhookCounters webhooks;

    /// The whole exposition; `exportJobs` by admin::ExportJob::State.
    [[nodiscard]] std::string render(const std::array<std::int64_t, 4>& exportJobs) const;

    /// The status codes counted by their own label value; any other is counted as "other".
    static constexpr std::array<int, 17> kStatuses = {200, 204, 301, 304, 400, 401, 403, 404, 405,
                                                      408, 409, 411, 413, 415, 429, 500, 503};

  private:
    // Looked up by string_view, without making a string per request.
    struct RouteHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::vector<std::string> m_routes;  // "other" last
    std::unordered_map<std::string, std::size_t, RouteHash, std::equal_to<>> m_routeIndex;
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_requests;  // route x (statuses + other)
    std::array<std::atomic<std::uint64_t>, 3> m_revisions{};
    double m_startSeconds = 0;
};

}  // namespace veld::sync::detail
