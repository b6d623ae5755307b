#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <httplib.h>
#include <zstd.h>

#include <veld/sync/collector_server.hpp>

namespace veld::sync {

namespace {

std::int64_t systemNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void fail(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(message + "\n", "text/plain; charset=utf-8");
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
            return 503;
        default:
            return 500;
    }
}

// A zstd body, decompressed with a hard limit (a small body must not expand into gigabytes).
std::optional<std::string> unzstd(const std::string& in, std::size_t limit) {
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

}  // namespace

struct CollectorServer::Impl {
    ServerConfig config;
    std::shared_ptr<CollectorStore> store;
    std::function<std::int64_t()> now;
    std::unique_ptr<httplib::Server> http;
    std::atomic<int> active{0};
    std::mutex logMutex;

    void log(const httplib::Request& req, int status, const std::string& who, std::size_t bytes) {
        if (!config.logRequests) return;
        // Method, path, status, device and size: never a body, a credential or a code.
        std::lock_guard lock(logMutex);
        std::fprintf(stderr, "veld-collector: %s %s %d %s %zu bytes\n", req.method.c_str(),
                     req.path.c_str(), status, who.empty() ? "-" : who.c_str(), bytes);
    }

    // The body as sent (zstd undone), or an answer already written to `res`.
    std::optional<std::string> body(const httplib::Request& req, httplib::Response& res) {
        const std::string type = req.get_header_value("Content-Type");
        if (type != kContentType) {
            fail(res, 415, std::string("expected Content-Type ") + kContentType);
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

    std::optional<Uuid> device(const httplib::Request& req, httplib::Response& res) {
        const std::string auth = req.get_header_value("Authorization");
        if (auth.rfind("Bearer ", 0) != 0) {
            fail(res, 401, "a device credential is needed (Authorization: Bearer ...)");
            res.set_header("WWW-Authenticate", "Bearer");
            return std::nullopt;
        }
        auto id = store->authenticate(std::string_view(auth).substr(7));
        if (!id) {
            if (id.error().code == ErrorCode::WrongState) {
                fail(res, 403, "this device has been revoked");
            } else if (id.error().code == ErrorCode::NotFound) {
                fail(res, 401, "unknown device credential");
            } else {
                fail(res, 503, "the collector cannot check credentials now");
            }
            return std::nullopt;
        }
        return id.value();
    }

    void reply(const httplib::Request& req, httplib::Response& res,
               const std::vector<std::uint8_t>& message) {
        const std::string accept = req.get_header_value("Accept-Encoding");
        if (accept.find("zstd") != std::string::npos && message.size() > 1024) {
            std::string packed(ZSTD_compressBound(message.size()), '\0');
            const std::size_t n =
                ZSTD_compress(packed.data(), packed.size(), message.data(), message.size(), 3);
            if (!ZSTD_isError(n)) {
                packed.resize(n);
                res.set_header("Content-Encoding", "zstd");
                res.set_content(packed, kContentType);
                return;
            }
        }
        res.set_content(std::string(message.begin(), message.end()), kContentType);
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
        auto result = store->enrol(request.value(), now());
        if (!result) {
            fail(res, statusFor(result.error()), result.error().message);
            return log(req, res.status, request->deviceId.toString(), req.body.size());
        }
        reply(req, res, encodeEnrolResponse(result.value()));
        log(req, 200, request->deviceId.toString(), req.body.size());
    }

    void push(const httplib::Request& req, httplib::Response& res) {
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
        // Sent only now: the batch is committed, so a lost reply costs a harmless resend.
        reply(req, res, encodePushResponse(result.value()));
        log(req, 200, who->toString(), req.body.size());
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
        auto result = store->pull(*who, request.value(), 16);
        if (!result) {
            fail(res, statusFor(result.error()), result.error().message);
            return log(req, res.status, who->toString(), req.body.size());
        }
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
}

CollectorServer::~CollectorServer() {
    stop();
}

bool CollectorServer::bind() {
    Impl& im = *m_impl;
    if (!im.config.tlsCert.empty()) {
        auto tls = std::make_unique<httplib::SSLServer>(im.config.tlsCert.c_str(),
                                                        im.config.tlsKey.c_str());
        if (!tls->is_valid()) {
            std::fprintf(stderr, "veld-collector: cannot use the TLS certificate or key\n");
            return false;
        }
        im.http = std::move(tls);
    } else {
        im.http = std::make_unique<httplib::Server>();
    }
    httplib::Server& http = *im.http;
    const auto threads = static_cast<std::size_t>(std::max(1, im.config.threads));
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(im.config.maxRequestBytes);
    http.set_read_timeout(im.config.requestTimeoutSeconds, 0);
    http.set_write_timeout(im.config.requestTimeoutSeconds, 0);
    http.set_keep_alive_timeout(5);
    http.set_keep_alive_max_count(100);
    http.set_tcp_nodelay(true);
    http.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                              {"Cache-Control", "no-store"},
                              {"Strict-Transport-Security", "max-age=31536000"}});
    http.set_pre_routing_handler([&im](const httplib::Request&, httplib::Response& res) {
        if (im.active.load() >= im.config.maxConnections) {
            fail(res, 503, "the collector is busy; try again shortly");
            res.set_header("Retry-After", "5");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    auto guarded = [&im](void (Impl::*handler)(const httplib::Request&, httplib::Response&)) {
        return [&im, handler](const httplib::Request& req, httplib::Response& res) {
            ++im.active;
            try {
                (im.*handler)(req, res);
            } catch (const std::exception&) {
                fail(res, 500, "internal error");
            }
            --im.active;
        };
    };
    http.Post(kEnrolPath, guarded(&Impl::enrol));
    http.Post(kPushPath, guarded(&Impl::push));
    http.Post(kPullPath, guarded(&Impl::pull));
    http.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("ok\n", "text/plain");
    });
    http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.body.empty()) {
            res.set_content(res.status == 404   ? "no such endpoint\n"
                            : res.status == 413 ? "request too large\n"
                                                : "bad request\n",
                            "text/plain");
        }
    });
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
    return true;
}

void CollectorServer::run() {
    if (m_impl->http) m_impl->http->listen_after_bind();
}

void CollectorServer::stop() {
    if (m_impl && m_impl->http) m_impl->http->stop();
}

}  // namespace veld::sync
