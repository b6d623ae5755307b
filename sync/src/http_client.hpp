// Internal to the sync library: one POST to the collector over libcurl, shared by the uploader
// and the admin client.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <curl/curl.h>

#include <veld/result.hpp>
#include <veld/sync/uploader.hpp>

namespace veld::sync::detail {

/// One libcurl handle for a series of requests: its connection (and TLS session) is kept
/// between them instead of being set up again for each.
class Http {
  public:
    Http();
    ~Http();
    Http(const Http&) = delete;
    Http& operator=(const Http&) = delete;
    [[nodiscard]] CURL* handle() const { return m_curl; }

  private:
    CURL* m_curl = nullptr;
};

/// One POST of a message. Errors are Io (network, TLS, timeouts, 429 and 5xx: try again later)
/// or the collector's refusal (401/403: NotFound, 409: WrongState, other 4xx: InvalidArgument).
/// The URL must pass checkUrl(); certificates are always verified. `answerType`, when given,
/// receives the answer's Content-Type.
Result<std::vector<std::uint8_t>> post(Http& http, const Connection& c, const char* path,
                                       const char* contentType,
                                       const std::vector<std::uint8_t>& message, int zstdLevel,
                                       bool authenticate, std::int64_t* bytesOnWire = nullptr,
                                       const std::atomic<bool>* cancel = nullptr,
                                       std::string* answerType = nullptr);

}  // namespace veld::sync::detail
