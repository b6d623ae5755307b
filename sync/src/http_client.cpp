// The HTTP(S) transport: libcurl, verified TLS, and a connection kept between requests.
#include <curl/curl.h>

#include "transport_wire.hpp"

namespace veld::sync {

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

class CurlTransport final : public Transport {
  public:
    CurlTransport() {
        curlGlobal();
        m_curl = curl_easy_init();
    }
    ~CurlTransport() override {
        if (m_curl) curl_easy_cleanup(m_curl);
    }
    CurlTransport(const CurlTransport&) = delete;
    CurlTransport& operator=(const CurlTransport&) = delete;

    Result<Reply> post(const Connection& c, const Exchange& e) override {
        auto wire = detail::wireRequest(c, e);
        if (!wire) return wire.error();
        CURL* curl = m_curl;
        if (!curl) return makeError(ErrorCode::Internal, "libcurl could not start");
        // Options of an earlier request on this handle are not carried over; its connection is.
        curl_easy_reset(curl);
        curl_slist* headers = nullptr;
        for (const auto& [name, value] : wire->headers)
            headers = curl_slist_append(headers, (name + ": " + value).c_str());
        headers = curl_slist_append(headers, "Expect:");
        std::string response;
        std::string responseHeaders;
        Sink sink{&response, detail::maxAnswerBytes()};
        Sink headerSink{&responseHeaders, 64 * 1024};
        curl_easy_setopt(curl, CURLOPT_URL, wire->url.c_str());
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, wire->body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(wire->body.size()));
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
        // A stop (the client closing) ends a request in flight at once instead of after its
        // timeout.
        if (e.cancel) {
            curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(curl, CURLOPT_XFERINFODATA, e.cancel);
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
        if (rc != CURLE_OK) {
            if (sink.overflow)
                return makeError(ErrorCode::Corrupt, "the collector's reply is too large");
            return makeError(ErrorCode::Io,
                             std::string("cannot reach the collector: ") + curl_easy_strerror(rc));
        }
        return detail::readAnswer(status, detail::headerValue(responseHeaders, "Content-Type"),
                                  detail::headerValue(responseHeaders, "Content-Encoding"),
                                  std::move(response),
                                  static_cast<std::int64_t>(wire->body.size()));
    }

  private:
    CURL* m_curl = nullptr;
};

}  // namespace

std::unique_ptr<Transport> httpTransport() {
    return std::make_unique<CurlTransport>();
}

}  // namespace veld::sync
