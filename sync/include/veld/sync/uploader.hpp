// The device side of sync: enrolment, and the uploader that sends the outbox and pulls forms.
// libcurl underneath; TLS certificates are always verified, and plain HTTP is allowed only to this
// machine (or with an explicit development flag).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <veld/project_key.hpp>
#include <veld/result.hpp>
#include <veld/store.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/transport.hpp>

namespace veld::sync {

/// The device setting holding the project's public key ("KEYID:HEX"), from the collector.
inline constexpr std::string_view kProjectKeySetting = projectkey::kKeySetting;

/// Reads the connection from a device store's settings; NotFound when the device is not enrolled.
Result<Connection> loadConnection(Store& store);

/// Enrols the device with a one-time code and keeps what the collector hands out in the store.
Result<EnrolReply> enrol(Store& store, const std::string& collector, const std::string& code,
                         const std::string& caFile = {}, bool allowPlainHttp = false,
                         const TransportFactory& transport = {});

struct Progress {
    // Busy: another program held this store's sync lock (takeSyncLock), so this round did nothing
    // and is not a failure; it is tried again soon.
    enum class State { Idle, Sending, Pulling, Waiting, Done, Failed, Busy };
    State state = State::Idle;
    std::int64_t recordsSent = 0;   // this round
    std::int64_t recordsTotal = 0;  // waiting when the round started
    std::int64_t bytesSent = 0;
    std::int64_t bytesTotal = 0;
    std::int64_t formsReceived = 0;
    std::int64_t casesReceived = 0;        // case changes merged this round
    std::int64_t blocksReceived = 0;       // allocation blocks received this round
    std::int64_t correctionsReceived = 0;  // corrections (sent back by staff) this round
    std::string lastError;                 // plain words for people; never holds answers or secrets
    std::int64_t lastSuccessUtcMs = 0;
    std::int64_t retryInMs = 0;
};

struct SyncOptions {
    std::size_t maxBatchBytes = 1u << 20;  // revision bodies per push request
    std::size_t maxBatchRecords = 500;
    bool compress = true;  // zstd request bodies
    bool pull = true;
    TransportFactory transport;  // empty: httpTransport
};

/// One round: takes the store's sync lock (without waiting: when another program holds it the
/// round returns at once with state Busy), pushes every waiting revision (in batches; each is
/// acknowledged in the store only after the collector's reply), then pull forms, cases, allocation
/// blocks and studies. `progress` is called after each step.
Result<Progress> syncOnce(Store& store, const Connection& connection, const SyncOptions& options,
                          const std::function<void(const Progress&)>& progress = {},
                          const std::atomic<bool>* cancel = nullptr);

/// What one round on a store (runRound) came to.
struct Round {
    // NotEnrolled: the device is not enrolled, or its store does not exist yet.
    enum class Outcome { Done, Busy, NotEnrolled, Failed, Stopped };
    Outcome outcome = Outcome::Failed;
    Progress progress;  // the round's figures
    std::string error;  // plain words when not Done; never holds answers or secrets
};

/// Opens the store at `storePath`, reads its connection and runs syncOnce. `after` is called
/// with the store still open (nullptr when it could not be opened) before it is closed.
Round runRound(const std::string& storePath, const SyncOptions& options,
               const std::function<void(const Progress&)>& progress = {},
               const std::atomic<bool>* cancel = nullptr,
               const std::function<void(Store*, const Round&)>& after = {});

/// Runs rounds in a background thread: after a failure it waits with exponential backoff and
/// jitter (1 s doubling to `maxBackoff`), after a success `interval`, when the sync lock was
/// held by another program a short while (up to 10 s), or until wake(). nudge() says new records
/// wait: it starts a round at once unless the loop is backing off after a failure (or waiting
/// for another program's round), which it then leaves to run its course.
class Uploader {
  public:
    /// Called on the uploader's thread after each round, with the store still open (nullptr
    /// when it could not be opened) and how long the loop will now wait.
    using RoundObserver =
        std::function<void(Store* store, const Round& round, std::chrono::milliseconds wait)>;

    Uploader(std::string storePath, SyncOptions options = {},
             std::chrono::milliseconds interval = std::chrono::minutes(2),
             std::chrono::milliseconds maxBackoff = std::chrono::minutes(5));
    ~Uploader();  // stops and joins
    /// Set before start().
    void onRound(RoundObserver observer) { m_observer = std::move(observer); }
    /// Called on the uploader's thread whenever progress() changes (a window's event loop is
    /// woken with it). Set before start(); it must not call back into the uploader.
    void onChange(std::function<void()> changed) { m_changed = std::move(changed); }
    void start();
    /// Stops the loop; a round under way is cancelled between requests (what the collector
    /// acknowledged stays acknowledged; the rest is sent again next time).
    void stop();
    /// Starts a round now, whatever the loop waits for (the "send now" button).
    void wake();
    /// New records wait (a finalize): a round starts now when the last one succeeded; after a
    /// failure the backoff stands, so a device without a network does not try at every record.
    void nudge();
    [[nodiscard]] Progress progress() const;

  private:
    void loop();
    std::string m_storePath;
    SyncOptions m_options;
    std::chrono::milliseconds m_interval;
    std::chrono::milliseconds m_maxBackoff;
    RoundObserver m_observer;
    std::function<void()> m_changed;
    std::chrono::milliseconds m_nextWait{0};  // the loop's thread only
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stop = false;
    bool m_woken = false;
    bool m_nudged = false;
    bool m_holdNudges = false;  // backing off after a failure, or another program's round runs
    Progress m_progress;
    std::atomic<bool> m_cancel{false};
    std::thread m_thread;
};

}  // namespace veld::sync
