#include <algorithm>
#include <chrono>
#include <future>
#include <random>

#include <veld/device_identity.hpp>
#include <veld/pseudonym.hpp>
#include <veld/sync/device_replies.hpp>
#include <veld/sync/sync_lock.hpp>
#include <veld/sync/uploader.hpp>

namespace veld::sync {

namespace {

Result<std::vector<std::uint8_t>> post(Transport& transport, const Connection& c, const char* path,
                                       const std::vector<std::uint8_t>& message, int zstdLevel,
                                       bool authenticate, std::int64_t* bytesOnWire = nullptr,
                                       const std::atomic<bool>* cancel = nullptr) {
    Exchange exchange;
    exchange.path = path;
    exchange.contentType = kContentType;
    exchange.message = &message;
    exchange.zstdLevel = zstdLevel;
    exchange.authenticate = authenticate;
    exchange.cancel = cancel;
    auto reply = transport.post(c, exchange);
    if (!reply) return reply.error();
    if (bytesOnWire) *bytesOnWire = reply->bytesOnWire;
    return std::move(reply->body);
}

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Result<Connection> loadConnection(Store& store) {
    Connection c;
    c.collector = settingText(store, "sync.collector");
    c.credential = settingText(store, "sync.credential");
    c.caFile = settingText(store, "sync.ca_file");
    c.allowPlainHttp = settingText(store, "sync.allow_http") == "1";
    if (c.collector.empty() || c.credential.empty()) {
        return makeError(ErrorCode::NotFound,
                         "this device is not enrolled with a collector (veldctl enrol)");
    }
    return c;
}

Result<EnrolReply> enrol(Store& store, const std::string& collector, const std::string& code,
                         const std::string& caFile, bool allowPlainHttp,
                         const TransportFactory& transport) {
    Connection c;
    c.collector = collector;
    while (!c.collector.empty() && c.collector.back() == '/')
        c.collector.pop_back();
    c.caFile = caFile;
    c.allowPlainHttp = allowPlainHttp;
    EnrolRequest request;
    request.code = code;
    request.deviceId = store.deviceId();
    // A device enrolled before proves it is that device with the credential it holds (the
    // collector binds a device id to its first enrolment).
    request.previousCredential = settingText(store, "sync.credential");
    // The device's signing key goes with its enrolment (made now when it has none).
    auto deviceKey = identity::ensureDeviceKey(store);
    if (!deviceKey) return deviceKey.error();
    request.devicePublicKey.assign(deviceKey->begin(), deviceKey->end());
    auto http = makeTransport(transport);
    auto raw = post(*http, c, kEnrolPath, encodeEnrolRequest(request), 0, false);
    if (!raw) return raw.error();
    auto reply = decodeEnrolResponse(raw.value());
    if (!reply) return reply.error();
    auto batch = store.beginBatch();
    if (!batch) return batch.error();
    if (auto s = keepEnrolment(store, reply.value(), c.collector, caFile, allowPlainHttp); !s)
        return s.error();
    if (auto s = batch->commit(); !s) return s.error();
    return reply;
}

Result<Progress> syncOnce(Store& store, const Connection& connection, const SyncOptions& options,
                          const std::function<void(const Progress&)>& progress,
                          const std::atomic<bool>* cancel) {
    Progress p;
    // The lock is held until the round ends, however it ends (its destructor lets go).
    FileLock lock;
    if (!store.path().empty() && store.path().front() != ':') {
        auto taken = takeSyncLock(store.path());
        if (!taken) {
            if (taken.error().code != ErrorCode::InUse) return taken.error();
            p.state = Progress::State::Busy;
            if (progress) progress(p);
            return p;
        }
        lock = std::move(taken.value());
    }
    p.state = Progress::State::Sending;
    auto state = store.outboxState();
    if (!state) return state.error();
    p.recordsTotal = state->pending;
    p.bytesTotal = state->pendingBytes;
    if (progress) progress(p);
    auto http = makeTransport(options.transport);
    // While one batch is on its way, the previous batch's acknowledgement is recorded and the
    // next batch is read: the device's disk and the network (and the collector) work at once.
    // Batches still go one at a time, in order, each only after the previous one was answered.
    auto batch = store.outboxPending(options.maxBatchRecords, options.maxBatchBytes);
    if (!batch) return batch.error();
    int zstdLevel = 3;
    std::uint64_t ackedThrough = 0;     // answered by the collector, not yet recorded
    std::vector<OutboxEntry> answered;  // that batch, for the progress figures
    const auto recordAcknowledgement = [&]() -> Status {
        if (answered.empty()) return {};
        if (auto s = store.acknowledgeThrough(ackedThrough); !s) return s;
        for (const auto& e : answered) {
            if (e.seq > ackedThrough) break;
            ++p.recordsSent;
            p.bytesSent += static_cast<std::int64_t>(e.body.size());
        }
        answered.clear();
        if (progress) progress(p);
        return {};
    };
    while (!batch->empty()) {
        if (cancel && cancel->load()) {
            (void)recordAcknowledgement();
            return makeError(ErrorCode::Io, "stopped");
        }
        const std::uint64_t firstSent = batch->front().seq;
        const std::uint64_t lastSent = batch->back().seq;
        // Outbox numbers are gap-free: what follows this batch is what still waits after it.
        const auto waitingAfter =
            static_cast<std::int64_t>(state->lastSeq > lastSent ? state->lastSeq - lastSent : 0);
        const auto message = encodePushRequest(store.deviceId(), batch.value(), waitingAfter);
        std::int64_t wire = 0;
        const auto sendStart = std::chrono::steady_clock::now();
        auto sending = std::async(std::launch::async, [&] {
            return post(*http, connection, kPushPath, message, options.compress ? zstdLevel : 0,
                        true, &wire, cancel);
        });
        Status recorded = recordAcknowledgement();
        auto next =
            recorded ? store.outboxPending(options.maxBatchRecords, options.maxBatchBytes, lastSent)
                     : Result<std::vector<OutboxEntry>>(recorded.error());
        auto raw = sending.get();
        // On a slow link bytes are what costs: zstd's level 3 (about 10% smaller than level 1).
        // Where a batch went through at 5 MB/s or more, round trip and commit included (a LAN),
        // those 10% cost less time than level 3 takes over level 1, so level 1 is used.
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - sendStart).count();
        zstdLevel = static_cast<double>(wire) / std::max(seconds, 1e-6) >= 5e6 ? 1 : 3;
        if (!recorded) return recorded.error();
        if (!raw) return raw.error();
        auto reply = decodePushResponse(raw.value());
        if (!reply) return reply.error();
        if (auto s = checkAndKeepReceipt(store, batch.value(), reply.value()); !s) return s.error();
        // Only what was sent and is held by the collector leaves the outbox.
        auto acknowledged = acknowledgedThrough(reply.value(), firstSent, lastSent);
        if (!acknowledged) return acknowledged.error();
        const std::uint64_t through = acknowledged.value();
        ackedThrough = through;
        answered = std::move(batch.value());
        if (through < lastSent) {
            // Part of the batch was not taken: it goes again, before anything after it.
            next = store.outboxPending(options.maxBatchRecords, options.maxBatchBytes, through);
        }
        if (!next) {
            (void)recordAcknowledgement();
            return next.error();
        }
        batch = std::move(next);
    }
    if (auto s = recordAcknowledgement(); !s) return s.error();
    if (options.pull) {
        p.state = Progress::State::Pulling;
        if (progress) progress(p);
        // Only the first request of a round says the stock: the blocks dealt then may come
        // over several pages.
        auto request = pullRequestFor(store);
        if (!request) return request.error();
        for (int round = 0; round < 1000; ++round) {
            auto raw = post(*http, connection, kPullPath, encodePullRequest(request.value()), 0,
                            true, nullptr, cancel);
            if (!raw) return raw.error();
            auto reply = decodePullResponse(raw.value());
            if (!reply) return reply.error();
            if (auto s = applyPullReply(store, reply.value(), request.value(), p); !s)
                return s.error();
            if (!reply->more) break;
        }
    }
    p.state = Progress::State::Done;
    p.lastSuccessUtcMs = nowMs();
    if (auto s = store.setSetting("sync.last_success_utc_ms", std::to_string(p.lastSuccessUtcMs));
        !s)
        return s.error();
    if (progress) progress(p);
    return p;
}

Round runRound(const std::string& storePath, const SyncOptions& options,
               const std::function<void(const Progress&)>& progress,
               const std::atomic<bool>* cancel,
               const std::function<void(Store*, const Round&)>& after) {
    Round round;
    const auto stopped = [&] { return cancel && cancel->load(); };
    // A round that fails part-way keeps the figures of what it did first.
    Progress last;
    const auto track = [&](const Progress& p) {
        last = p;
        if (progress) progress(p);
    };
    auto store = Store::open(storePath);
    if (!store) {
        // No store yet (the client makes it when it first starts) is no failure: there is
        // nothing to send, as on a device that is not enrolled.
        round.outcome = store.error().code == ErrorCode::NotFound ? Round::Outcome::NotEnrolled
                                                                  : Round::Outcome::Failed;
        round.error = store.error().describe();
        round.progress.state = Progress::State::Failed;
        round.progress.lastError = round.error;
        if (after) after(nullptr, round);
        return round;
    }
    if (auto connection = loadConnection(store.value()); !connection) {
        const bool notEnrolled = connection.error().code == ErrorCode::NotFound;
        round.outcome = notEnrolled ? Round::Outcome::NotEnrolled : Round::Outcome::Failed;
        round.error = connection.error().message;
        round.progress.state = Progress::State::Failed;
        round.progress.lastError = round.error;
    } else if (auto result = syncOnce(store.value(), connection.value(), options, track, cancel);
               !result) {
        round.outcome = stopped() ? Round::Outcome::Stopped : Round::Outcome::Failed;
        round.error = stopped() ? "stopped before the round ended; what the collector did not "
                                  "acknowledge is sent next time"
                                : result.error().message;
        round.progress = last;
        round.progress.state = Progress::State::Failed;
        round.progress.lastError = round.error;
    } else {
        round.progress = result.value();
        round.outcome =
            result->state == Progress::State::Busy ? Round::Outcome::Busy : Round::Outcome::Done;
        if (round.outcome == Round::Outcome::Busy) {
            round.error = "another program is syncing this device";
        }
    }
    if (after) after(&store.value(), round);
    return round;
}

Uploader::Uploader(std::string storePath, SyncOptions options, std::chrono::milliseconds interval,
                   std::chrono::milliseconds maxBackoff)
    : m_storePath(std::move(storePath)),
      m_options(options),
      m_interval(interval),
      m_maxBackoff(std::max(maxBackoff, std::chrono::milliseconds(1000))) {}

Uploader::~Uploader() {
    stop();
}

void Uploader::start() {
    std::lock_guard lock(m_mutex);
    if (m_thread.joinable()) return;
    m_stop = false;
    m_cancel = false;
    m_thread = std::thread([this] { loop(); });
}

void Uploader::stop() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
        m_cancel = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) m_thread.join();
}

void Uploader::wake() {
    {
        std::lock_guard lock(m_mutex);
        m_woken = true;
    }
    m_wake.notify_all();
}

void Uploader::nudge() {
    {
        std::lock_guard lock(m_mutex);
        m_nudged = true;
    }
    m_wake.notify_all();
}

Progress Uploader::progress() const {
    std::lock_guard lock(m_mutex);
    return m_progress;
}

void Uploader::loop() {
    std::mt19937_64 random(std::random_device{}());
    std::chrono::milliseconds backoff(1000);
    const auto jittered = [&](std::chrono::milliseconds most) {
        // Full jitter in [most/2, most]: many devices coming back at once spread out.
        std::uniform_int_distribution<long long> jitter(most.count() / 2, most.count());
        return std::chrono::milliseconds(jitter(random));
    };
    const auto changed = [this] {
        if (m_changed) m_changed();
    };
    for (;;) {
        {
            // A nudge from now on may bring records this round does not see: it starts the next.
            std::lock_guard lock(m_mutex);
            m_nudged = false;
        }
        const auto round = runRound(
            m_storePath, m_options,
            [&](const Progress& p) {
                {
                    std::lock_guard lock(m_mutex);
                    const auto last = m_progress.lastSuccessUtcMs;
                    m_progress = p;
                    if (!p.lastSuccessUtcMs) m_progress.lastSuccessUtcMs = last;
                }
                changed();
            },
            &m_cancel,
            [&](Store* store, const Round& r) {
                std::chrono::milliseconds wait = m_interval;
                switch (r.outcome) {
                    case Round::Outcome::Done:
                    case Round::Outcome::NotEnrolled:  // looked at again every interval
                    case Round::Outcome::Stopped:
                        backoff = std::chrono::milliseconds(1000);
                        break;
                    case Round::Outcome::Busy:
                        // The other program's round ends soon; the backoff stays as it was.
                        wait = jittered(std::min<std::chrono::milliseconds>(
                            m_interval, std::chrono::seconds(10)));
                        break;
                    case Round::Outcome::Failed:
                        wait = jittered(backoff);
                        backoff = std::min(backoff * 2, m_maxBackoff);
                        break;
                }
                {
                    std::lock_guard lock(m_mutex);
                    const auto last = m_progress.lastSuccessUtcMs;
                    if (r.outcome == Round::Outcome::Done) {
                        m_progress = r.progress;
                        m_progress.lastError.clear();
                        m_progress.retryInMs = 0;
                    } else {
                        m_progress.state = r.outcome == Round::Outcome::Busy
                                               ? Progress::State::Busy
                                               : Progress::State::Waiting;
                        m_progress.lastError =
                            r.outcome == Round::Outcome::Busy ? std::string() : r.error;
                        m_progress.retryInMs = wait.count();
                        m_progress.lastSuccessUtcMs = last;
                    }
                    m_holdNudges =
                        r.outcome == Round::Outcome::Failed || r.outcome == Round::Outcome::Busy;
                }
                changed();
                m_nextWait = wait;
                if (m_observer) m_observer(store, r, wait);
            });
        (void)round;
        std::unique_lock lock(m_mutex);
        m_wake.wait_for(lock, m_nextWait,
                        [this] { return m_stop || m_woken || (m_nudged && !m_holdNudges); });
        m_woken = false;
        if (m_stop) return;
    }
}

}  // namespace veld::sync
