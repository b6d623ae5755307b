// The in-process transport: an HTTP/1.1 request written out, served by the collector from
// memory, and its answer read back with the same rules as libcurl's (transport_wire.hpp).
#include <cstdlib>
#include <optional>

#include <veld/sync/loopback_transport.hpp>

#include "transport_wire.hpp"

namespace veld::sync {

namespace {

// The body of a chunked answer, or nullopt when its framing is damaged.
std::optional<std::string> unchunk(std::string_view in) {
    std::string out;
    std::size_t at = 0;
    while (true) {
        const auto eol = in.find("\r\n", at);
        if (eol == std::string_view::npos) return std::nullopt;
        char* end = nullptr;
        const std::string sizeText(in.substr(at, eol - at));
        const unsigned long size = std::strtoul(sizeText.c_str(), &end, 16);
        if (end == sizeText.c_str()) return std::nullopt;
        at = eol + 2;
        if (size == 0) return out;
        if (in.size() < at + size + 2) return std::nullopt;
        out.append(in.substr(at, size));
        at += size + 2;
    }
}

class LoopbackTransport final : public Transport {
  public:
    explicit LoopbackTransport(CollectorServer& server) : m_server(server) {}

    Result<Reply> post(const Connection& c, const Exchange& e) override {
        auto wire = detail::wireRequest(c, e);
        if (!wire) return wire.error();
        if (e.cancel && e.cancel->load()) return makeError(ErrorCode::Io, "stopped");
        std::string request = std::string("POST ") + e.path + " HTTP/1.1\r\nHost: loopback\r\n";
        for (const auto& [name, value] : wire->headers)
            request += name + ": " + value + "\r\n";
        request += "Content-Length: " + std::to_string(wire->body.size()) +
                   "\r\nConnection: close\r\n\r\n" + wire->body;
        const std::string answer = m_server.serveBytes(request, "127.0.0.1");
        if (answer.size() > detail::maxAnswerBytes())
            return makeError(ErrorCode::Corrupt, "the collector's reply is too large");
        const auto headEnd = answer.find("\r\n\r\n");
        if (answer.rfind("HTTP/1.1 ", 0) != 0 || headEnd == std::string::npos)
            return makeError(ErrorCode::Io, "cannot reach the collector: no answer");
        const long status = std::strtol(answer.c_str() + 9, nullptr, 10);
        const std::string head =
            answer.substr(answer.find("\r\n") + 2, headEnd - answer.find("\r\n"));
        std::string body = answer.substr(headEnd + 4);
        if (detail::headerValue(head, "Transfer-Encoding") == "chunked") {
            auto plain = unchunk(body);
            if (!plain) return makeError(ErrorCode::Corrupt, "the collector's reply is damaged");
            body = std::move(*plain);
        }
        return detail::readAnswer(status, detail::headerValue(head, "Content-Type"),
                                  detail::headerValue(head, "Content-Encoding"), std::move(body),
                                  static_cast<std::int64_t>(wire->body.size()));
    }

  private:
    CollectorServer& m_server;
};

}  // namespace

TransportFactory loopbackTransport(CollectorServer& server) {
    return [&server] { return std::make_unique<LoopbackTransport>(server); };
}

}  // namespace veld::sync
