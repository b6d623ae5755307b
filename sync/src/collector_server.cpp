// veld-collector's endpoints: authentication, limits, the protocol's and the admin API's
// handlers, and logging without bodies or secrets. Connections are handled by the front
// (connection_front.hpp); exports started by staff by ExportJobs (export_jobs.hpp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include <httplib.h>
#include <sodium.h>
#include <zstd.h>

#include <veld/fb/form_generated.h>
#include <veld/sync/admin_api.hpp>
#include <veld/sync/collector_server.hpp>
#include <veld/sync/export.hpp>

#include "connection_front.hpp"
#include "export_jobs.hpp"
#include "metrics.hpp"
#include "metrics_access.hpp"
#include "request_limits.hpp"

namespace veld::sync {

namespace {

std::int64_t systemNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Seconds a client waits before it asks again after a 503 (the store busy, full or unreachable:
// a database that restarts is usually back within this).
constexpr const char* kRetryAfterUnavailable = "5";

void fail(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(message + "\n", "text/plain; charset=utf-8");
    if (status == 503) res.set_header("Retry-After", kRetryAfterUnavailable);
}

int statusFor(const Error& e) {
    switch (e.code) {
        case ErrorCode::InvalidArgument:
        case ErrorCode::Corrupt:
            return 400;
        case ErrorCode::NotFound:
            return 403;
        case ErrorCode::WrongState:
            return 409;
        case ErrorCode::StorageFull:
        case ErrorCode::InUse:
        case ErrorCode::Unavailable:
            return 503;
        default:
            return 500;
    }
}

// A zstd body, decompressed with a hard limit (a small body must not expand into gigabytes).
// A frame that states its size (the uploader's do) within the limit, and no more than records
// expand by, is decompressed in one call into a buffer of exactly that size (a stated size is
// only a claim: a small body claiming the limit is streamed, and stops where it really ends);
// any other is streamed, checking the limit as it grows.
std::optional<std::string> unzstd(const std::string& in, std::size_t limit) {
    constexpr unsigned long long kTrustedExpansion = 64;
    const unsigned long long stated = ZSTD_getFrameContentSize(in.data(), in.size());
    if (stated != ZSTD_CONTENTSIZE_UNKNOWN && stated != ZSTD_CONTENTSIZE_ERROR) {
        if (stated > limit) return std::nullopt;
        // One frame only: what would follow it is left to the streaming path below.
        if (stated <= kTrustedExpansion * in.size() &&
            ZSTD_findFrameCompressedSize(in.data(), in.size()) == in.size()) {
            std::string out(static_cast<std::size_t>(stated), '\0');
            const std::size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
            if (ZSTD_isError(n) || n != out.size()) return std::nullopt;
            return out;
        }
    }
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    if (!ctx) return std::nullopt;
    std::string out;
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    std::vector<char> chunk(64 * 1024);
    bool ok = true;
    while (input.pos < input.size) {
        ZSTD_outBuffer output{chunk.data(), chunk.size(), 0};
        const std::size_t r = ZSTD_decompressStream(ctx, &output, &input);
        if (ZSTD_isError(r)) {
            ok = false;
            break;
        }
        out.append(chunk.data(), output.pos);
        if (out.size() > limit) {
            ok = false;
            break;
        }
        if (r == 0 && input.pos == input.size) break;
    }
    ZSTD_freeDCtx(ctx);
    if (!ok) return std::nullopt;
    return out;
}

const std::pair<const char*, admin::Request> kAdminRoutes[] = {
    {admin::kStatusPath, admin::Request::Status},
    {admin::kDevicesPath, admin::Request::Devices},
    {admin::kReviewPath, admin::Request::Review},
    {admin::kConflictsPath, admin::Request::Conflicts},
    {admin::kResolvePath, admin::Request::Resolve},
    {admin::kDuplicatesPath, admin::Request::Duplicates},
    {admin::kDecidePath, admin::Request::Decide},
    {admin::kFormsPath, admin::Request::Forms},
    {admin::kRecordPath, admin::Request::Record},
    {admin::kQueuePath, admin::Request::Queue},
    {admin::kExportPath, admin::Request::Export},
    {admin::kExportJobPath, admin::Request::ExportJob},
    {admin::kExportFilePath, admin::Request::ExportFile},
    {admin::kCaseConflictsPath, admin::Request::CaseConflicts},
    {admin::kCaseResolvePath, admin::Request::CaseResolve},
    {admin::kStudiesPath, admin::Request::Studies},
    {admin::kStudyBalancePath, admin::Request::StudyBalance},
    {admin::kStudyVerifyPath, admin::Request::StudyVerify},
    {admin::kPublishPath, admin::Request::Publish},
};

constexpr const char* kHealthzPath = "/healthz";
constexpr const char* kMetricsPath = "/metrics";

}  // namespace

struct CollectorServer::Impl {
    ServerConfig config;
    std::shared_ptr<CollectorStore> store;
    std::function<std::int64_t()> now;
    // Before `http`: the connection front updates the open-connections gauge until it is gone.
    std::unique_ptr<detail::Metrics> metrics;
    std::vector<detail::Cidr> metricsFrom;
    std::vector<detail::Cidr> trustedProxies;  // parsed once at bind, read-only after
    std::unique_ptr<httplib::Server> http;
    std::function<void()> stopListening;
    std::function<void()> widenBacklog;
    std::atomic<bool> stopping{false};
    bool configured = false;  // routes and handlers set on `http`
    std::function<std::string(std::string_view, const std::string&)> serveMemory;
    std::mutex logMutex;
    // Test hook for the kill-between-commit-and-reply test: with VELD_FAULT_EXIT_AFTER_COMMITS=N
    // in the environment at start-up, the process ends (_exit(3)) right after the N-th push has
    // committed and before its reply is sent, as a power cut or kill -9 there would.
    long faultExitAfterCommits = 0;
    std::atomic<long> commits{0};
    // Test hook: with VELD_TEST_HOLD_EXPORTS=1 in the environment at start-up, an export waits
    // before its first record until it is cancelled (discarded, or the collector stops), so a
    // test can hold jobs running for as long as it needs.
    bool holdExports = false;

    // Wrong credentials per client address, and requests per credential (see ServerConfig).
    std::unique_ptr<detail::FailureThrottle> throttle;
    std::unique_ptr<detail::RateLimit> rate;

    std::unique_ptr<detail::ExportJobs> exports;

    bool makeServer();
    void configure(httplib::Server& server);

    // Every route, as /metrics counts requests by them.
    static std::vector<std::string> routes() {
        std::vector<std::string> out = {kEnrolPath,   kPushPath,    kPullPath,
                                        "/v1/health", kHealthzPath, kMetricsPath};
        for (const auto& route : kAdminRoutes)
            out.emplace_back(route.first);
        return out;
    }

    void log(const httplib::Request& req, int status, const std::string& who, std::size_t bytes) {
        if (!config.logRequests) return;
        // Method, path, status, device and size: never a body, a credential or a code.
        std::lock_guard lock(logMutex);
        std::fprintf(stderr, "veld-collector: %s %s %d %s %zu bytes\n", req.method.c_str(),
                     req.path.c_str(), status, who.empty() ? "-" : who.c_str(), bytes);
    }

    // The body as sent (zstd undone), or an answer already written to `res`.
    static bool isAdminPath(const std::string& path) { return path.rfind("/v1/admin/", 0) == 0; }

    std::optional<std::string> body(const httplib::Request& req, httplib::Response& res) {
        const std::string type = req.get_header_value("Content-Type");
        const char* expected = isAdminPath(req.path) ? admin::kContentType : kContentType;
        if (type != expected) {
            fail(res, 415, std::string("expected Content-Type ") + expected);
            return std::nullopt;
        }
        const std::string encoding = req.get_header_value("Content-Encoding");
        if (encoding.empty() || encoding == "identity") return req.body;
        if (encoding == "zstd") {
            auto plain = unzstd(req.body, config.maxRequestBytes);
            if (!plain) {
                fail(res, 400, "the zstd body is damaged or too large");
                return std::nullopt;
            }
            return plain;
        }
        fail(res, 415, "unsupported Content-Encoding " + encoding);
        return std::nullopt;
    }

    // The Bearer credential checked by `check` (a device's or a staff member's): its owner, or
    // an answer already written to `res` (401 missing or unknown, 403 revoked, 429 when its
    // address has sent too many wrong ones).
    //
    // A valid credential is always served, whatever else came from its address: devices behind
    // one school's NAT share it, and one kiosk with a wrong credential (or someone guessing)
    // must not lock out the others. Only wrong credentials are slowed down.
    template <class Owner, class Check>
    std::optional<Owner> bearer(const httplib::Request& req, httplib::Response& res,
                                const char* who, Check check) {
        const std::string auth = req.get_header_value("Authorization");
        if (auth.rfind("Bearer ", 0) != 0) {
            fail(res, 401,
                 std::string("a ") + who + " credential is needed (Authorization: Bearer ...)");
            res.set_header("WWW-Authenticate", "Bearer");
            return std::nullopt;
        }
        auto owner = check(std::string_view(auth).substr(7));
        if (!owner) {
            const bool wrong = owner.error().code == ErrorCode::WrongState ||
                               owner.error().code == ErrorCode::NotFound;
            if (wrong && throttled(req, res,
                                   "too many wrong credentials from this address; try "
                                   "again later"))
                return std::nullopt;
            if (owner.error().code == ErrorCode::WrongState) {
                fail(res, 403, std::string("this ") + who + " credential has been revoked");
            } else if (owner.error().code == ErrorCode::NotFound) {
                fail(res, 401, std::string("unknown ") + who + " credential");
            } else {
                fail(res, 503, "the collector cannot check credentials now");
            }
            return std::nullopt;
        }
        if (rate) {
            const std::string key = std::string(who) + ":" + keyText(owner.value());
            if (const std::int64_t wait = rate->take(key, now()); wait > 0) {
                tooMany(res, wait, "too many requests with this credential; slow down");
                return std::nullopt;
            }
        }
        return std::move(owner.value());
    }

    // Counts a wrong credential or code from the request's address; true (with 429 written)
    // when the address must now wait.
    bool throttled(const httplib::Request& req, httplib::Response& res, const char* why) {
        if (!throttle) return false;
        const std::int64_t t = now();
        const std::string client = clientAddress(req);
        const std::int64_t waiting = throttle->wait(client, t);
        throttle->failed(client, t);
        if (waiting <= 0) return false;
        tooMany(res, std::max(waiting, throttle->wait(client, t)), why);
        return true;
    }

    // The request's client: its connection's address, or behind a trusted proxy the last
    // address of X-Forwarded-For (the one that proxy added; earlier ones are the client's say).
    std::string clientAddress(const httplib::Request& req) const {
        if (!detail::fromRanges(req.remote_addr, trustedProxies)) return req.remote_addr;
        const std::string forwarded = req.get_header_value("X-Forwarded-For");
        const auto comma = forwarded.rfind(',');
        std::string last = comma == std::string::npos ? forwarded : forwarded.substr(comma + 1);
        while (!last.empty() && last.front() == ' ')
            last.erase(last.begin());
        while (!last.empty() && last.back() == ' ')
            last.pop_back();
        return detail::parseAddress(last) ? last : req.remote_addr;
    }

    static std::string keyText(const Uuid& id) { return id.toString(); }
    static std::string keyText(const std::string& name) { return name; }

    // 429 with the seconds to wait (at least one).
    static void tooMany(httplib::Response& res, std::int64_t waitMs, const std::string& why) {
        fail(res, 429, why);
        res.set_header("Retry-After",
                       std::to_string(std::max<std::int64_t>(1, (waitMs + 999) / 1000)));
    }

    std::optional<Uuid> device(const httplib::Request& req, httplib::Response& res) {
        if (auto* state = detail::currentRequest(); state && state->device) return state->device;
        return bearer<Uuid>(req, res, "device",
                            [this](std::string_view c) { return store->authenticate(c); });
    }

    // A staff member's admin credential (never a device's).
    std::optional<std::string> staff(const httplib::Request& req, httplib::Response& res) {
        if (auto* state = detail::currentRequest(); state && state->admin) return state->admin;
        return bearer<std::string>(
            req, res, "admin", [this](std::string_view c) { return store->authenticateAdmin(c); });
    }

    void adminRequest(const httplib::Request& req, httplib::Response& res, admin::Request want) {
        auto who = staff(req, res);
        if (!who) return log(req, res.status, {}, req.body.size());
        const std::string actor = "admin:" + *who;
        auto raw = body(req, res);
        if (!raw) return log(req, res.status, actor, req.body.size());
        const std::span<const std::uint8_t> bytes(
            reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size());
        auto kind = admin::requestKind(bytes);
        if (!kind || kind.value() != want) {
            fail(res, 400, kind ? "this endpoint takes another request" : kind.error().message);
            return log(req, res.status, actor, req.body.size());
        }
        Result<std::vector<std::uint8_t>> answer = makeError(ErrorCode::Internal, "no answer");
        const char* answerType = admin::kContentType;
        bool tooManyExports = false;
        switch (want) {
            case admin::Request::Status: {
                admin::StatusInfo info;
                auto id = store->collectorId();
                auto stats = store->stats();
                auto days = store->recordsPerDay();
                if (!id || !stats || !days) {
                    answer = !id ? id.error() : !stats ? stats.error() : days.error();
                    break;
                }
                info.collectorId = id.value();
                info.stats = stats.value();
                info.perDay = std::move(days.value());
                answer = admin::encodeStatus(info);
                break;
            }
            case admin::Request::Devices: {
                auto list = store->devices();
                answer = list ? Result<std::vector<std::uint8_t>>(admin::encodeDevices(*list))
                              : list.error();
                break;
            }
            case admin::Request::Review: {
                auto r = admin::decodeReviewRequest(bytes);
                if (!r) {
                    answer = r.error();
                    break;
                }
                if (r->set) {
                    if (auto s = store->setReview(r->recordId, *r->set, r->comment, now(), actor);
                        !s) {
                        answer = s.error();
                        break;
                    }
                }
                auto review = store->review(r->recordId);
                answer = review ? Result<std::vector<std::uint8_t>>(admin::encodeReview(*review))
                                : review.error();
                break;
            }
            case admin::Request::Conflicts: {
                auto list = store->conflicts();
                answer = list ? Result<std::vector<std::uint8_t>>(admin::encodeConflicts(*list))
                              : list.error();
                break;
            }
            case admin::Request::Duplicates:
            case admin::Request::Decide: {
                if (want == admin::Request::Decide) {
                    auto r = admin::decodeDecideRequest(bytes);
                    if (!r) {
                        answer = r.error();
                        break;
                    }
                    if (auto s =
                            store->decideDuplicate(r->key, r->decision, r->comment, now(), actor);
                        !s) {
                        answer = s.error();
                        break;
                    }
                }
                auto groups = store->duplicates();
                answer = groups
                             ? Result<std::vector<std::uint8_t>>(admin::encodeDuplicates(*groups))
                             : groups.error();
                break;
            }
            case admin::Request::Resolve: {
                auto r = admin::decodeResolveRequest(bytes);
                if (!r) {
                    answer = r.error();
                    break;
                }
                auto done = store->resolveConflict(r->conflictId, r->resolution, now(), actor);
                answer = done ? Result<std::vector<std::uint8_t>>(
                                    admin::encodeResolved({done->recordId, done->hlc}))
                              : done.error();
                break;
            }
            case admin::Request::Forms: {
                auto forms = store->publishedForms();
                answer = forms ? Result<std::vector<std::uint8_t>>(admin::encodeForms(*forms))
                               : forms.error();
                break;
            }
            case admin::Request::Record: {
                auto id = admin::decodeRecordRequest(bytes);
                answer = id ? recordDetail(id.value()) : id.error();
                break;
            }
            case admin::Request::Queue: {
                auto r = admin::decodeQueueRequest(bytes);
                if (!r) {
                    answer = r.error();
                    break;
                }
                auto queue = store->reviewQueue(r->state, r->limit);
                answer = queue ? Result<std::vector<std::uint8_t>>(admin::encodeQueue(*queue))
                               : queue.error();
                break;
            }
            case admin::Request::Export: {
                auto r = admin::decodeExportRequest(bytes);
                answer = r ? exports->start(r.value(), *who, actor, tooManyExports) : r.error();
                break;
            }
            case admin::Request::ExportJob: {
                auto r = admin::decodeExportJobRequest(bytes);
                answer = r ? exports->job(r.value(), *who) : r.error();
                break;
            }
            case admin::Request::ExportFile: {
                auto r = admin::decodeExportFileRequest(bytes);
                answer = r ? exports->file(r.value(), *who) : r.error();
                answerType = admin::kFileContentType;
                break;
            }
            case admin::Request::CaseConflicts:
            case admin::Request::CaseResolve: {
                bool includeResolved = false;
                if (want == admin::Request::CaseResolve) {
                    auto r = admin::decodeCaseResolveRequest(bytes);
                    if (!r) {
                        answer = r.error();
                        break;
                    }
                    if (auto s = store->resolveCaseConflict(r->conflictId, r->choice, r->comment,
                                                            now(), actor);
                        !s) {
                        answer = s.error();
                        break;
                    }
                } else {
                    auto r = admin::decodeCaseConflictsRequest(bytes);
                    if (!r) {
                        answer = r.error();
                        break;
                    }
                    includeResolved = r.value();
                }
                auto list = store->caseConflicts(includeResolved);
                answer = list ? Result<std::vector<std::uint8_t>>(admin::encodeCaseConflicts(*list))
                              : list.error();
                break;
            }
            case admin::Request::Studies: {
                auto list = store->studies();
                answer = list ? Result<std::vector<std::uint8_t>>(admin::encodeStudies(*list))
                              : list.error();
                break;
            }
            case admin::Request::StudyBalance: {
                auto study = admin::decodeStudyRequest(bytes, want);
                if (!study) {
                    answer = study.error();
                    break;
                }
                auto balance = store->balance(study.value());
                answer =
                    balance ? Result<std::vector<std::uint8_t>>(admin::encodeStudyBalance(*balance))
                            : balance.error();
                break;
            }
            case admin::Request::StudyVerify: {
                auto study = admin::decodeStudyRequest(bytes, want);
                if (!study) {
                    answer = study.error();
                    break;
                }
                auto report = store->verifyAllocations(study.value());
                answer =
                    report
                        ? Result<std::vector<std::uint8_t>>(admin::encodeStudyVerification(*report))
                        : report.error();
                break;
            }
            case admin::Request::Publish: {
                // The collector checks the form itself: an invalid one is refused (400), other
                // bytes under a published id and version too (409).
                auto binary = admin::decodePublishRequest(bytes);
                if (!binary) {
                    answer = binary.error();
                    break;
                }
                auto published = store->publish(*binary, now(), actor);
                if (!published) {
                    answer = published.error();
                    break;
                }
                const fb::Form* form = fb::GetForm(binary->data());
                answer =
                    admin::encodePublished({form->id()->str(), form->version(), published.value()});
                break;
            }
        }
        if (!answer) {
            // Here NotFound is an unknown record, conflict or export job, not a credential: 404.
            const int code = tooManyExports ? 429
                             : answer.error().code == ErrorCode::NotFound
                                 ? 404
                                 : statusFor(answer.error());
            fail(res, code, answer.error().message);
            if (tooManyExports) res.set_header("Retry-After", "30");
            return log(req, res.status, actor, req.body.size());
        }
        reply(req, res, answer.value(), answerType);
        log(req, 200, actor, req.body.size());
    }

    // A record with every revision, which of them is its current view, and its review.
    Result<std::vector<std::uint8_t>> recordDetail(const Uuid& recordId) {
        admin::RecordDetail detail;
        auto revisions = store->revisionsOf(recordId);
        if (!revisions) return revisions.error();
        if (revisions->empty()) return makeError(ErrorCode::NotFound, "no record with that id");
        detail.revisions = std::move(revisions.value());
        auto current = store->current(recordId);
        if (!current) return current.error();
        if (const auto& c = current.value()) {
            // The same revision: by (device, seq), else (should ids ever differ) by its HLC.
            const auto& all = detail.revisions;
            auto at = std::find_if(all.begin(), all.end(), [&](const StoredRevision& r) {
                return r.deviceId == c->deviceId && r.seq == c->seq;
            });
            if (at == all.end()) {
                at = std::find_if(all.begin(), all.end(),
                                  [&](const StoredRevision& r) { return r.hlc == c->hlc; });
            }
            if (at != all.end()) detail.current = static_cast<int>(at - all.begin());
        }
        auto review = store->review(recordId);
        if (!review) return review.error();
        detail.review = std::move(review.value());
        return admin::encodeRecord(detail);
    }

    void reply(const httplib::Request& req, httplib::Response& res,
               const std::vector<std::uint8_t>& message, const char* type = kContentType) {
        const std::string accept = req.get_header_value("Accept-Encoding");
        if (accept.find("zstd") != std::string::npos && message.size() > 1024) {
            std::string packed(ZSTD_compressBound(message.size()), '\0');
            const std::size_t n =
                ZSTD_compress(packed.data(), packed.size(), message.data(), message.size(), 3);
            if (!ZSTD_isError(n)) {
                packed.resize(n);
                res.set_header("Content-Encoding", "zstd");
                res.set_content(packed, type);
                return;
            }
        }
        res.set_content(std::string(message.begin(), message.end()), type);
    }

    void enrol(const httplib::Request& req, httplib::Response& res) {
        auto raw = body(req, res);
        if (!raw) return log(req, res.status, {}, req.body.size());
        auto request =
            decodeEnrolRequest({reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size()});
        if (!request) {
            fail(res, 400, request.error().message);
            return log(req, res.status, {}, req.body.size());
        }
        if (request->protocolVersion != kProtocolVersion) {
            fail(res, 400, "unsupported protocol version");
            return log(req, res.status, {}, req.body.size());
        }
        // A valid code is honoured whatever else came from its address; wrong ones (and
        // refused re-enrolments) are slowed down like wrong credentials.
        auto result = store->enrol(request.value(), now());
        if (!result) {
            const bool wrong = result.error().code == ErrorCode::NotFound ||
                               result.error().code == ErrorCode::WrongState;
            if (!wrong || !throttled(req, res,
                                     "too many wrong codes or credentials from this address; "
                                     "try again later"))
                fail(res, statusFor(result.error()), result.error().message);
            return log(req, res.status, request->deviceId.toString(), req.body.size());
        }
        // Every store publishes its identity key the same way: here, not in each backend.
        result->collectorKey = store->collectorSigningPublicKey();
        reply(req, res, encodeEnrolResponse(result.value()));
        log(req, 200, request->deviceId.toString(), req.body.size());
    }

    // Times a push for /metrics, however it ends.
    struct PushTimer {
        detail::Metrics& metrics;
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        ~PushTimer() {
            metrics.pushSeconds.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
    };

    void push(const httplib::Request& req, httplib::Response& res) {
        PushTimer timer{*metrics};
        auto who = device(req, res);
        if (!who) return log(req, res.status, {}, req.body.size());
        auto raw = body(req, res);
        if (!raw) return log(req, res.status, who->toString(), req.body.size());
        auto batch =
            decodePushRequest({reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size()});
        if (!batch) {
            fail(res, 400, batch.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
        if (batch->deviceId != *who) {
            fail(res, 403, "a device can only send its own records");
            return log(req, res.status, who->toString(), req.body.size());
        }
        if (batch->protocolVersion != kProtocolVersion) {
            fail(res, 400, "unsupported protocol version");
            return log(req, res.status, who->toString(), req.body.size());
        }
        auto result = store->push(*who, batch.value(), now());
        if (!result) {
            fail(res, statusFor(result.error()), result.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
        if (faultExitAfterCommits > 0 && ++commits == faultExitAfterCommits) _exit(3);
        std::uint64_t outcomes[3] = {};
        for (const auto& r : result->results)
            ++outcomes[static_cast<std::size_t>(r.outcome)];
        metrics->revisions(outcomes[0], outcomes[1], outcomes[2]);
        // Sent only now: the batch is committed, so a lost reply costs a harmless resend.
        reply(req, res, encodePushResponse(result.value()));
        log(req, 200, who->toString(), req.body.size());
    }

    // Checks made when the headers are in, before any of the body is read: how the body is
    // framed and encoded, its size and type, and for push and pull the device's credential. A
    // request refused here is answered at once and its connection closed, its body unread.
    // (httplib itself would read a chunked body or one without a length without any limit, and
    // inflate a gzip or brotli body into memory without any limit, before a handler could refuse
    // it.)
    bool refusedBeforeBody(const httplib::Request& req, httplib::Response& res) {
        if (req.has_header("Transfer-Encoding")) {
            fail(res, 411, "chunked bodies are not accepted; send Content-Length");
        } else if (req.method != "POST") {
            if (!req.has_header("Content-Length") || req.get_header_value("Content-Length") == "0")
                return false;
            fail(res, 400, "only POST requests carry a body");
        } else if (!req.has_header("Content-Length")) {
            fail(res, 411, "Content-Length is required");
        } else if (!lengthWithin(req.get_header_value("Content-Length"), config.maxRequestBytes)) {
            fail(res, 413, "request too large");
        } else if (const std::string e = req.get_header_value("Content-Encoding");
                   !e.empty() && e != "identity" && e != "zstd") {
            fail(res, 415, "unsupported Content-Encoding " + e);
        } else if (req.get_header_value("Content-Type") != kContentType &&
                   (req.path == kEnrolPath || req.path == kPushPath || req.path == kPullPath)) {
            fail(res, 415, std::string("expected Content-Type ") + kContentType);
        } else if (isAdminPath(req.path) &&
                   req.get_header_value("Content-Type") != admin::kContentType) {
            fail(res, 415, std::string("expected Content-Type ") + admin::kContentType);
        } else if (isAdminPath(req.path)) {
            auto who = staff(req, res);
            if (!who) {
                if (auto* state = detail::currentRequest()) state->closeConnection = true;
                res.set_header("Connection", "close");
                log(req, res.status, {}, 0);
                return true;
            }
            if (auto* state = detail::currentRequest()) state->admin = who;
            return false;
        } else if (req.path == kPushPath || req.path == kPullPath) {
            auto who = device(req, res);
            if (!who) {
                if (auto* state = detail::currentRequest()) state->closeConnection = true;
                res.set_header("Connection", "close");
                log(req, res.status, {}, 0);
                return true;
            }
            if (auto* state = detail::currentRequest()) state->device = who;
            return false;
        } else {
            return false;
        }
        if (auto* state = detail::currentRequest()) state->closeConnection = true;
        res.set_header("Connection", "close");
        log(req, res.status, {}, 0);
        return true;
    }

    static bool lengthWithin(const std::string& text, std::size_t limit) {
        if (text.empty() || text.size() > 19) return false;
        std::size_t n = 0;
        for (char c : text) {
            if (c < '0' || c > '9') return false;
            n = n * 10 + static_cast<std::size_t>(c - '0');
        }
        return n <= limit;
    }

    // 200 "ok" with the store's schema version when the store answers a trivial query, else
    // 503; open to anyone, and says nothing more.
    void healthz(const httplib::Request&, httplib::Response& res) {
        auto version = store->health();
        if (!version) {
            std::fprintf(stderr, "veld-collector: health check: the store does not answer: %s\n",
                         version.error().describe().c_str());
            fail(res, 503, "unavailable");
            return;
        }
        res.set_content("ok schema " + std::to_string(version.value()) + "\n", "text/plain");
    }

    // Served to the machine itself and to --metrics-from without a credential, to anyone else
    // with a staff credential (see metrics_access.hpp).
    void metricsPage(const httplib::Request& req, httplib::Response& res) {
        const bool forwarded = req.has_header("Forwarded") || req.has_header("X-Forwarded-For") ||
                               req.has_header("X-Real-IP");
        if (detail::metricsAccess(req.remote_addr, forwarded, metricsFrom) ==
            detail::MetricsAccess::NeedsStaff) {
            auto who = staff(req, res);
            if (!who) return;
        }
        res.set_content(metrics->render(exports->countByState()),
                        "text/plain; version=0.0.4; charset=utf-8");
    }

    void pull(const httplib::Request& req, httplib::Response& res) {
        auto who = device(req, res);
        if (!who) return log(req, res.status, {}, req.body.size());
        auto raw = body(req, res);
        if (!raw) return log(req, res.status, who->toString(), req.body.size());
        auto request =
            decodePullRequest({reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size()});
        if (!request) {
            fail(res, 400, request.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
        if (request->protocolVersion != kProtocolVersion) {
            fail(res, 400, "unsupported protocol version");
            return log(req, res.status, who->toString(), req.body.size());
        }
        auto result = store->pull(*who, request.value(), 16, now());
        if (!result) {
            fail(res, statusFor(result.error()), result.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
        result->collectorKey = store->collectorSigningPublicKey();
        reply(req, res, encodePullResponse(result.value()));
        log(req, 200, who->toString(), req.body.size());
    }
};

CollectorServer::CollectorServer(ServerConfig config, std::shared_ptr<CollectorStore> store,
                                 std::function<std::int64_t()> nowMs)
    : m_impl(std::make_unique<Impl>()) {
    m_impl->config = std::move(config);
    m_impl->store = std::move(store);
    m_impl->now = nowMs ? std::move(nowMs) : systemNowMs;
    m_impl->metrics = std::make_unique<detail::Metrics>(Impl::routes());
    m_impl->store->observeCommits([metrics = m_impl->metrics.get()](std::size_t revisions) {
        metrics->commitRevisions.observe(static_cast<double>(revisions));
    });
    if (m_impl->config.authFailures > 0) {
        detail::FailureThrottle::Policy p;
        p.freeFailures = m_impl->config.authFailures;
        m_impl->throttle = std::make_unique<detail::FailureThrottle>(p);
    }
    if (m_impl->config.ratePerCredential > 0) {
        detail::RateLimit::Policy p;
        p.perSecond = m_impl->config.ratePerCredential;
        p.burst = m_impl->config.ratePerCredential * 10.0;
        m_impl->rate = std::make_unique<detail::RateLimit>(p);
    }
    if (const char* n = std::getenv("VELD_FAULT_EXIT_AFTER_COMMITS"); n && *n) {
        m_impl->faultExitAfterCommits = std::strtol(n, nullptr, 10);
    }
    // Test hook: with VELD_TEST_HOLD_EXPORTS=1 in the environment at start-up, an export waits
    // before its first record until it is cancelled (discarded, or the collector stops), so a
    // test can hold jobs running for as long as it needs.
    const char* hold = std::getenv("VELD_TEST_HOLD_EXPORTS");
    m_impl->exports = std::make_unique<detail::ExportJobs>(
        m_impl->store, m_impl->config.exportDir, m_impl->now, hold && std::strcmp(hold, "1") == 0);
    // Export job ids come from libsodium's generator (sodium_init is safe to call again).
    if (sodium_init() < 0) std::abort();
}

CollectorServer::~CollectorServer() {
    stop();
    m_impl->store->observeCommits({});
    // An export stops at its next record once cancelled: this waits for that, not for the rest.
    m_impl->exports->finish();
}

namespace {

detail::FrontLimits frontLimits(const ServerConfig& config, std::atomic<std::int64_t>* open) {
    detail::FrontLimits limits;
    limits.window = std::chrono::seconds(std::max(1, config.requestTimeoutSeconds));
    limits.threads = std::max(1, config.threads);
    limits.maxConnections = config.maxConnections;
    limits.maxPerAddress = config.maxConnectionsPerAddress;
    limits.keepAlive = std::chrono::seconds(5);
    limits.keepAliveRequests = 100;
    limits.openGauge = open;
    return limits;
}

}  // namespace

bool CollectorServer::bind() {
    Impl& im = *m_impl;
    auto ranges = detail::parseCidrList(im.config.metricsFrom);
    if (!ranges) {
        std::fprintf(stderr, "veld-collector: --metrics-from: %s\n",
                     ranges.error().message.c_str());
        return false;
    }
    im.metricsFrom = std::move(ranges.value());
    auto proxies = detail::parseCidrList(im.config.trustedProxies);
    if (!proxies) {
        std::fprintf(stderr, "veld-collector: --trusted-proxies: %s\n",
                     proxies.error().message.c_str());
        return false;
    }
    im.trustedProxies = std::move(proxies.value());
    if (!im.exports->prepareFolder()) return false;
    if (!im.makeServer()) return false;
    httplib::Server& http = *im.http;
    if (im.config.port == 0) {
        m_port = http.bind_to_any_port(im.config.listen);
        if (m_port <= 0) {
            std::fprintf(stderr, "veld-collector: cannot listen on %s\n", im.config.listen.c_str());
            return false;
        }
    } else {
        if (!http.bind_to_port(im.config.listen, im.config.port)) {
            std::fprintf(stderr, "veld-collector: cannot listen on %s:%d\n",
                         im.config.listen.c_str(), im.config.port);
            return false;
        }
        m_port = im.config.port;
    }
    im.widenBacklog();
    return true;
}

std::string CollectorServer::serveBytes(std::string_view bytes, const std::string& remoteAddress) {
    Impl& im = *m_impl;
    if (!im.http && !im.makeServer()) return {};
    return im.serveMemory(bytes, remoteAddress);
}

bool CollectorServer::Impl::makeServer() {
    if (http) return true;
    auto limits = frontLimits(config, &metrics->openConnections);
    if (!trustedProxies.empty())
        limits.uncapped = [this](const std::string& address) {
            return detail::fromRanges(address, trustedProxies);
        };
    if (!config.tlsCert.empty()) {
        auto tls = std::make_unique<detail::TlsFront>(limits, config.tlsCert.c_str(),
                                                      config.tlsKey.c_str());
        if (!tls->is_valid()) {
            std::fprintf(stderr, "veld-collector: cannot use the TLS certificate or key\n");
            return false;
        }
        stopListening = [front = tls.get()] { front->stopListening(); };
        widenBacklog = [front = tls.get()] { front->widenBacklog(); };
        serveMemory = [front = tls.get()](std::string_view in, const std::string& address) {
            return front->serveMemory(in, address);
        };
        http = std::move(tls);
    } else {
        auto plain = std::make_unique<detail::PlainFront>(limits);
        stopListening = [front = plain.get()] { front->stopListening(); };
        widenBacklog = [front = plain.get()] { front->widenBacklog(); };
        serveMemory = [front = plain.get()](std::string_view in, const std::string& address) {
            return front->serveMemory(in, address);
        };
        http = std::move(plain);
    }
    configure(*http);
    return true;
}

// Routes, limits and the checks made before a body is read.
void CollectorServer::Impl::configure(httplib::Server& server) {
    Impl& im = *this;
    server.set_payload_max_length(config.maxRequestBytes);
    server.set_read_timeout(config.requestTimeoutSeconds, 0);
    server.set_write_timeout(config.requestTimeoutSeconds, 0);
    server.set_keep_alive_timeout(5);
    server.set_keep_alive_max_count(100);
    server.set_tcp_nodelay(true);
    server.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                                {"Cache-Control", "no-store"},
                                {"Strict-Transport-Security", "max-age=31536000"}});
    server.set_pre_routing_handler([&im](const httplib::Request& req, httplib::Response& res) {
        if (im.refusedBeforeBody(req, res)) return httplib::Server::HandlerResponse::Handled;
        return httplib::Server::HandlerResponse::Unhandled;
    });
    auto guarded = [&im](void (Impl::*handler)(const httplib::Request&, httplib::Response&)) {
        return [&im, handler](const httplib::Request& req, httplib::Response& res) {
            try {
                (im.*handler)(req, res);
            } catch (const std::exception&) {
                fail(res, 500, "internal error");
            }
        };
    };
    server.Post(kEnrolPath, guarded(&Impl::enrol));
    server.Post(kPushPath, guarded(&Impl::push));
    server.Post(kPullPath, guarded(&Impl::pull));
    for (const auto& [path, kind] : kAdminRoutes) {
        server.Post(path, [&im, want = kind](const httplib::Request& req, httplib::Response& res) {
            try {
                im.adminRequest(req, res, want);
            } catch (const std::exception&) {
                fail(res, 500, "internal error");
            }
        });
    }
    server.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("ok\n", "text/plain");
    });
    server.Get(kHealthzPath, guarded(&Impl::healthz));
    server.Get(kMetricsPath, guarded(&Impl::metricsPage));
    server.set_logger([&im](const httplib::Request& req, const httplib::Response& res) {
        im.metrics->request(req.path, res.status);
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.body.empty()) {
            res.set_content(res.status == 404   ? "no such endpoint\n"
                            : res.status == 413 ? "request too large\n"
                                                : "bad request\n",
                            "text/plain");
        }
    });
}

void CollectorServer::run() {
    // A stop() that came first (a signal right after bind) is not lost: the listening socket is
    // closed already, and listen_after_bind() returns at once.
    if (m_impl->http && !m_impl->stopping) m_impl->http->listen_after_bind();
}

void CollectorServer::stop() {
    if (!m_impl) return;
    // Exports first: once the listening socket is closed, run() returns and the server may be
    // destroyed at once (veld-collector stops from a thread of its own).
    m_impl->exports->cancelAll();
    m_impl->stopping = true;
    if (m_impl->stopListening) m_impl->stopListening();
}

}  // namespace veld::sync
