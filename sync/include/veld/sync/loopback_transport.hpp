// A transport to a collector in the same process: each request is handed to
// CollectorServer::serveBytes as the bytes of one HTTP/1.1 request, so it meets the collector's
// own parsing, limits, credentials and handlers, without a socket or a port. For tests of the
// device's sync and of the console; the programs use httpTransport.
#pragma once

#include <veld/sync/collector_server.hpp>
#include <veld/sync/transport.hpp>

namespace veld::sync {

/// Transports to `server`, which must outlive them. Requests come from 127.0.0.1; the
/// connection's URL must still pass checkUrl (e.g. "http://127.0.0.1").
TransportFactory loopbackTransport(CollectorServer& server);

}  // namespace veld::sync
