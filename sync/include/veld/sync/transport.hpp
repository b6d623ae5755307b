// How a device's requests reach the collector. Every request is a POST of one message to one of
// the collector's paths; a Transport carries it there and brings the answer back. The uploader,
// enrolment and the admin client speak only to this interface: libcurl over HTTP(S) in the
// programs (httpTransport), the collector's own request handling in the same process in tests
// (loopbackTransport, in the collector library).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <veld/result.hpp>

namespace veld::sync {

/// How a device reaches its collector. Kept in the device store's settings after enrolment:
/// sync.collector, sync.credential (a secret), sync.ca_file, sync.allow_http.
struct Connection {
    std::string collector;   // base URL, e.g. https://collector.example.nl:8470
    std::string credential;  // secret: never logged or shown
    std::string caFile;      // PEM file of the collector's certificate or CA; empty: system CAs
    bool allowPlainHttp = false;
    long timeoutSeconds = 60;  // a whole request, including the transfer
};

/// One request: a message POSTed to `path`.
struct Exchange {
    const char* path = "";
    const char* contentType = "";
    const std::vector<std::uint8_t>* message = nullptr;
    int zstdLevel = 0;                          // > 0: compress bodies larger than 512 bytes
    bool authenticate = true;                   // send the connection's credential
    const std::atomic<bool>* cancel = nullptr;  // set: the request in flight ends at once
};

/// The collector's answer to a request that it accepted (HTTP 200).
struct Reply {
    std::vector<std::uint8_t> body;  // decompressed
    std::string contentType;
    std::int64_t bytesOnWire = 0;  // the request's body as sent (after compression)
};

class Transport {
  public:
    virtual ~Transport() = default;
    /// Sends one request. Errors: Io (network, TLS, timeouts, 429 and 5xx: try again later),
    /// Refused (401/403), WrongState (409), InvalidArgument (other 4xx, or a URL checkUrl
    /// refuses), Corrupt (a damaged or oversized answer).
    virtual Result<Reply> post(const Connection& connection, const Exchange& exchange) = 0;
};

/// Makes the transport for one round of requests (a transport is used by one thread at a time).
using TransportFactory = std::function<std::unique_ptr<Transport>()>;

/// libcurl over HTTP(S): certificates are always verified, and the connection (and its TLS
/// session) is kept between the requests of one transport.
std::unique_ptr<Transport> httpTransport();

/// The factory to use: `factory` when set, httpTransport otherwise.
std::unique_ptr<Transport> makeTransport(const TransportFactory& factory);

/// Whether `url` may be used: https, or http to this machine, or http when allowed explicitly.
Status checkUrl(const std::string& url, bool allowPlainHttp);

}  // namespace veld::sync
