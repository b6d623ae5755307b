// The rules every transport shares: which URLs a device may use, the request's headers and
// compression, and what the collector's status codes mean to a device.
#include <algorithm>
#include <cctype>

#include <zstd.h>

#include <veld/sync/protocol.hpp>

#include "transport_wire.hpp"

namespace veld::sync {

Status checkUrl(const std::string& url, bool allowPlainHttp) {
    if (url.rfind("https://", 0) == 0 && url.size() > 8) return Status::success();
    if (url.rfind("http://", 0) == 0) {
        if (allowPlainHttp) return Status::success();
        for (const char* host : {"http://127.0.0.1", "http://localhost", "http://[::1]"}) {
            const std::string h(host);
            if (url.rfind(h, 0) == 0 &&
                (url.size() == h.size() || url[h.size()] == ':' || url[h.size()] == '/')) {
                return Status::success();
            }
        }
        return makeError(ErrorCode::InvalidArgument,
                         "plain http:// is only allowed to this machine; use https://");
    }
    return makeError(ErrorCode::InvalidArgument, "the collector address must start with https://");
}

std::unique_ptr<Transport> makeTransport(const TransportFactory& factory) {
    return factory ? factory() : httpTransport();
}

namespace detail {

std::size_t maxAnswerBytes() {
    return kMaxMessageBytes + 1024;
}

Result<WireRequest> wireRequest(const Connection& c, const Exchange& e) {
    if (auto s = checkUrl(c.collector, c.allowPlainHttp); !s) return s.error();
    WireRequest w;
    w.url = c.collector + e.path;
    if (e.message) w.body.assign(e.message->begin(), e.message->end());
    w.headers.emplace_back("Content-Type", e.contentType);
    w.headers.emplace_back("Accept-Encoding", "zstd");
    if (e.zstdLevel > 0 && w.body.size() > 512) {
        std::string packed(ZSTD_compressBound(w.body.size()), '\0');
        const std::size_t n =
            ZSTD_compress(packed.data(), packed.size(), w.body.data(), w.body.size(), e.zstdLevel);
        if (!ZSTD_isError(n)) {
            packed.resize(n);
            w.body = std::move(packed);
            w.headers.emplace_back("Content-Encoding", "zstd");
        }
    }
    if (e.authenticate) w.headers.emplace_back("Authorization", "Bearer " + c.credential);
    return w;
}

Result<Reply> readAnswer(long status, const std::string& contentType,
                         const std::string& contentEncoding, std::string body,
                         std::int64_t bytesOnWire) {
    if (status != 200) {
        std::string reason = body.substr(0, 300);
        while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r'))
            reason.pop_back();
        const std::string said = "the collector answered " + std::to_string(status) + ": " + reason;
        if (status == 401 || status == 403) return makeError(ErrorCode::Refused, said);
        if (status == 409) return makeError(ErrorCode::WrongState, said);
        if (status == 429) return makeError(ErrorCode::Io, said);  // slowed down: try again later
        if (status >= 400 && status < 500) return makeError(ErrorCode::InvalidArgument, said);
        return makeError(ErrorCode::Io, said);  // 5xx: try again later
    }
    Reply reply;
    reply.contentType = contentType;
    reply.bytesOnWire = bytesOnWire;
    if (contentEncoding == "zstd") {
        const auto size = ZSTD_getFrameContentSize(body.data(), body.size());
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
            size > kMaxMessageBytes) {
            return makeError(ErrorCode::Corrupt, "the collector's compressed reply is damaged");
        }
        reply.body.resize(size);
        const auto n =
            ZSTD_decompress(reply.body.data(), reply.body.size(), body.data(), body.size());
        if (ZSTD_isError(n) || n != size) {
            return makeError(ErrorCode::Corrupt, "the collector's compressed reply is damaged");
        }
        return reply;
    }
    reply.body.assign(body.begin(), body.end());
    return reply;
}

std::string headerValue(const std::string& headers, const std::string& name) {
    std::size_t pos = 0;
    while (pos < headers.size()) {
        const auto end = headers.find("\r\n", pos);
        const std::string line = headers.substr(pos, end == std::string::npos ? end : end - pos);
        if (line.size() > name.size() + 1 &&
            std::equal(name.begin(), name.end(), line.begin(),
                       [](char a, char b) { return std::tolower(a) == std::tolower(b); }) &&
            line[name.size()] == ':') {
            auto v = line.substr(name.size() + 1);
            v.erase(0, v.find_first_not_of(' '));
            return v;
        }
        if (end == std::string::npos) break;
        pos = end + 2;
    }
    return {};
}

}  // namespace detail

}  // namespace veld::sync
