// Internal to the sync library: what every transport puts on the wire and how it reads the
// collector's answer, written once so that HTTP and the in-process loopback agree.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <veld/sync/transport.hpp>

namespace veld::sync::detail {

/// The largest answer a device reads (a message and its HTTP framing).
std::size_t maxAnswerBytes();

struct WireRequest {
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;  // the credential among them
    std::string body;                                          // compressed when asked
};

/// The request for `exchange`: its URL (checked with checkUrl), headers and body.
Result<WireRequest> wireRequest(const Connection& connection, const Exchange& exchange);

/// The collector's answer as a Reply: a status other than 200 becomes the error Transport::post
/// documents, a zstd body is decompressed (and refused when damaged or too large).
Result<Reply> readAnswer(long status, const std::string& contentType,
                         const std::string& contentEncoding, std::string body,
                         std::int64_t bytesOnWire);

/// The value of header `name` (case-insensitive) in a block of "Name: value\r\n" lines.
std::string headerValue(const std::string& headers, const std::string& name);

}  // namespace veld::sync::detail
