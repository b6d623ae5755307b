// The collector's HTTP client for the uploader and the admin client: libcurl, verified TLS,
// zstd, and the collector's answers turned into Veld errors.
#include "http_client.hpp"

#include <algorithm>
#include <cctype>

#include <curl/curl.h>
#include <zstd.h>

namespace veld::sync::detail {

namespace {

void curlGlobal() {
    static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    (void)ready;
}

struct Sink {
    std::string* out;
    std::size_t limit;
    bool overflow = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
    auto* sink = static_cast<Sink*>(user);
    if (sink->out->size() + size * n > sink->limit) {
        sink->overflow = true;
        return 0;
    }
    sink->out->append(data, size * n);
    return size * n;
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

}  // namespace

Http::Http() {
    curlGlobal();
    m_curl = curl_easy_init();
}

Http::~Http() {
    if (m_curl) curl_easy_cleanup(m_curl);
}

Result<std::vector<std::uint8_t>> post(Http& http, const Connection& c, const char* path,
                                       const char* contentType,
                                       const std::vector<std::uint8_t>& message, int zstdLevel,
                                       bool authenticate, std::int64_t* bytesOnWire,
                                       const std::atomic<bool>* cancel, std::string* answerType) {
    if (auto s = checkUrl(c.collector, c.allowPlainHttp); !s) return s.error();
    CURL* curl = http.handle();
    if (!curl) return makeError(ErrorCode::Internal, "libcurl could not start");
    // Options of an earlier request on this handle are not carried over; its connection is.
    curl_easy_reset(curl);
    std::string body(message.begin(), message.end());
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, (std::string("Content-Type: ") + contentType).c_str());
    headers = curl_slist_append(headers, "Accept-Encoding: zstd");
    headers = curl_slist_append(headers, "Expect:");
    if (zstdLevel > 0 && body.size() > 512) {
        std::string packed(ZSTD_compressBound(body.size()), '\0');
        const std::size_t n =
            ZSTD_compress(packed.data(), packed.size(), body.data(), body.size(), zstdLevel);
        if (!ZSTD_isError(n)) {
            packed.resize(n);
            body = std::move(packed);
            headers = curl_slist_append(headers, "Content-Encoding: zstd");
        }
    }
    std::string auth;
    if (authenticate) {
        auth = "Authorization: Bearer " + c.credential;
        headers = curl_slist_append(headers, auth.c_str());
    }
    const std::string url = c.collector + path;
    std::string response;
    std::string responseHeaders;
    Sink sink{&response, kMaxMessageBytes + 1024};
    Sink headerSink{&responseHeaders, 64 * 1024};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &headerSink);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, c.timeoutSeconds);
    // A link slower than 100 bytes/s for 20 s is given up (and tried again later).
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 100L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 20L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    if (!c.caFile.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, c.caFile.c_str());
    // A stop (the client closing) ends a request in flight at once instead of after its timeout.
    if (cancel) {
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, cancel);
        curl_easy_setopt(
            curl, CURLOPT_XFERINFOFUNCTION,
            +[](void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
                return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
            });
    }
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (bytesOnWire) *bytesOnWire = static_cast<std::int64_t>(body.size());
    if (rc != CURLE_OK) {
        if (sink.overflow)
            return makeError(ErrorCode::Corrupt, "the collector's reply is too large");
        return makeError(ErrorCode::Io,
                         std::string("cannot reach the collector: ") + curl_easy_strerror(rc));
    }
    if (status != 200) {
        std::string reason = response.substr(0, 300);
        while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r'))
            reason.pop_back();
        const std::string said = "the collector answered " + std::to_string(status) + ": " + reason;
        if (status == 401 || status == 403) return makeError(ErrorCode::Refused, said);
        if (status == 409) return makeError(ErrorCode::WrongState, said);
        if (status == 429) return makeError(ErrorCode::Io, said);  // slowed down: try again later
        if (status >= 400 && status < 500) return makeError(ErrorCode::InvalidArgument, said);
        return makeError(ErrorCode::Io, said);  // 5xx: try again later
    }
    if (answerType) *answerType = headerValue(responseHeaders, "Content-Type");
    if (headerValue(responseHeaders, "Content-Encoding") == "zstd") {
        const auto size = ZSTD_getFrameContentSize(response.data(), response.size());
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
            size > kMaxMessageBytes) {
            return makeError(ErrorCode::Corrupt, "the collector's compressed reply is damaged");
        }
        std::vector<std::uint8_t> plain(size);
        const auto n =
            ZSTD_decompress(plain.data(), plain.size(), response.data(), response.size());
        if (ZSTD_isError(n) || n != size) {
            return makeError(ErrorCode::Corrupt, "the collector's compressed reply is damaged");
        }
        return plain;
    }
    return std::vector<std::uint8_t>(response.begin(), response.end());
}

}  // namespace veld::sync::detail
