// The collector end to end in one process: raw bytes as one connection's requests (request
// line, headers, body, zstd, credentials) served by CollectorServer::serveBytes against a real
// SQLite collector store. The store is the scene's (scene.hpp), made once at the first call:
// forms published, a study defined, devices enrolled, records pushed, a staff credential, so
// the seeds' credentials are valid and requests reach every handler. The store keeps what the
// inputs change, as a collector does.
//
// What must hold for every input: no answer is 500 (an internal error: a bug, as the store
// is healthy), and no answer holds the staff credential or the unused enrolment code (no
// endpoint ever hands out either).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <sys/stat.h>

#include <veld/sync/collector_server.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"
#include "scene.hpp"

namespace veld::fuzz {

namespace {

struct Collector {
    std::unique_ptr<Scene> scene;
    std::unique_ptr<sync::CollectorServer> server;
};

Collector& collector() {
    static Collector* c = [] {
        auto made = new Collector;
        made->scene = Scene::make(sourceDir());
        sync::ServerConfig config;
        config.logRequests = false;
        // Throttling would turn most inputs into 429s after the first wrong credentials.
        config.authFailures = 0;
        config.ratePerCredential = 0;
        // The server makes its export folder when it starts listening, which serveBytes skips.
        config.exportDir = made->scene->dir->file("exports");
        if (::mkdir(config.exportDir.c_str(), 0700) != 0) std::abort();
        made->server = std::make_unique<sync::CollectorServer>(config, made->scene->collector,
                                                               [] { return Scene::kNowMs; });
        return made;
    }();
    return *c;
}

bool has(std::string_view text, std::string_view what) {
    return !what.empty() && text.find(what) != std::string_view::npos;
}

}  // namespace

int request(const std::uint8_t* data, std::size_t size) {
    // libsodium's stream goes on from the scene's (restartRandom): restarting it per input
    // would hand every export job the same id, which real randomness never does.
    Collector& c = collector();
    const std::string answer = c.server->serveBytes(asText(data, size));
    // VELD_FUZZ_VERBOSE=1 shows each answer's status line, to see where seeds and findings go.
    static const bool verbose = std::getenv("VELD_FUZZ_VERBOSE") != nullptr;
    if (verbose) {
        for (std::size_t at = answer.find("HTTP/1.1 "); at != std::string::npos;
             at = answer.find("HTTP/1.1 ", at + 1)) {
            const std::size_t end = answer.find('\r', at);
            const std::size_t body = answer.find("\r\n\r\n", at);
            std::fprintf(
                stderr, "veld-fuzz: %s: %s\n", answer.substr(at, end - at).c_str(),
                body == std::string::npos
                    ? ""
                    : answer.substr(body + 4, std::min<std::size_t>(80, answer.size() - body - 4))
                          .c_str());
        }
    }
    for (std::size_t at = answer.find("HTTP/1.1 "); at != std::string::npos;
         at = answer.find("HTTP/1.1 ", at + 1)) {
        if (answer.compare(at + 9, 3, "500") == 0)
            std::fprintf(stderr, "veld-fuzz: %s\n", answer.substr(at, 300).c_str());
        FUZZ_CHECK(answer.compare(at + 9, 3, "500") != 0);
    }
    FUZZ_CHECK(!has(answer, c.scene->adminCredential));
    FUZZ_CHECK(!has(answer, c.scene->spareCode));
    return 0;
}

}  // namespace veld::fuzz
