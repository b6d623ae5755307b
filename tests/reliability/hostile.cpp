// Hostile clients against a real veld-collector while real devices sync: slow-loris headers,
// half-finished TLS handshakes, enrolments that claim another device's id, and enrolments
// repeated after a lost reply. Each round a device sends (or enrols) and must be answered within
// a few seconds; at the end every record a device was told is held must be there exactly once.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <veld/device_identity.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/uploader.hpp>

#include "reliability/scenarios.hpp"
#include "support/sync_support.hpp"

namespace veld::reliability {

namespace {

// A round's device must be answered within this (a kiosk on a school's Wi-Fi notices more).
constexpr double kPromptSeconds = 3.0;

double secondsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Keeps `count` connections from `from` open and sending `bytes` one byte at a time, opening a
// new one whenever the collector cuts one off: slow-loris clients that never give up.
class SlowClients {
  public:
    SlowClients(int port, std::string from, int count, std::string bytes,
                std::chrono::milliseconds pause)
        : m_thread([=, this] {
              std::vector<std::unique_ptr<test::RawConnection>> open;
              std::vector<std::size_t> sent;
              while (!m_stop) {
                  for (std::size_t i = 0; i < open.size(); ++i) {
                      if (open[i]->closedByServer() || sent[i] >= bytes.size()) {
                          open[i].reset();
                          ++m_cutOff;
                      }
                  }
                  for (std::size_t i = 0; i < open.size();) {
                      if (!open[i]) {
                          open.erase(open.begin() + static_cast<long>(i));
                          sent.erase(sent.begin() + static_cast<long>(i));
                      } else {
                          ++i;
                      }
                  }
                  while (static_cast<int>(open.size()) < count) {
                      try {
                          open.push_back(std::make_unique<test::RawConnection>(port, from));
                          sent.push_back(0);
                      } catch (const std::exception&) {
                          break;  // refused for now: try again at the next step
                      }
                  }
                  for (std::size_t i = 0; i < open.size(); ++i)
                      (void)open[i]->send(bytes.substr(sent[i]++, 1));
                  std::this_thread::sleep_for(pause);
              }
          }) {}
    ~SlowClients() {
        m_stop = true;
        m_thread.join();
    }
    SlowClients(const SlowClients&) = delete;
    SlowClients& operator=(const SlowClients&) = delete;
    [[nodiscard]] long cutOff() const { return m_cutOff; }

  private:
    std::atomic<bool> m_stop{false};
    std::atomic<long> m_cutOff{0};
    std::thread m_thread;
};

// Every record the device finalized is at the collector exactly once.
void countHeld(sync::CollectorStore& collector, const std::vector<Uuid>& made, Outcome& o,
               const Options& options) {
    const auto held = test::collectorRevisionCounts(collector);
    for (const auto& id : made) {
        const auto it =
            std::find_if(held.begin(), held.end(), [&](const auto& h) { return h.first == id; });
        if (it == held.end()) {
            ++o.lost;
            o.fail(options.seed, options.firstRound, "record " + id.toString() + " is missing");
        } else if (it->second > 1) {
            ++o.doubled;
            o.fail(options.seed, options.firstRound, "record " + id.toString() + " is held twice");
        }
    }
}

struct Timing {
    std::vector<double> seconds;
    void add(double s) { seconds.push_back(s); }
    [[nodiscard]] std::string describe() {
        if (seconds.empty()) return "no rounds";
        std::sort(seconds.begin(), seconds.end());
        char text[96];
        std::snprintf(text, sizeof text, "answered in %.2f s (median), %.2f s (slowest)",
                      seconds[seconds.size() / 2], seconds.back());
        return text;
    }
};

// Rounds of a device sending two records while slow clients hold connections open.
Outcome syncUnderSlowClients(const Options& options, bool tls) {
    Outcome o;
    test::TempDir scratch;
    const std::string dir = options.workDir.empty() ? scratch.path() : options.workDir;
    std::vector<std::string> flags = {"--threads", "4", "--request-timeout", "2"};
    std::string url;
    std::string ca;
    if (tls) {
        ca = dir + "/cert.pem";
        const auto made = test::veldctl({"collector", "tls-selfsigned", dir});
        if (made.exitCode != 0) throw std::runtime_error("tls-selfsigned: " + made.err);
        flags.insert(flags.end(), {"--tls-cert", ca, "--tls-key", dir + "/key.pem"});
    }
    test::CollectorProcess collector(dir + "/collector.db");
    collector.start(flags);
    url = (tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(collector.port());
    Store device = test::openDevice(dir + "/device.veld");
    auto enrolled = sync::enrol(device, url, collector.enrolCode(), ca);
    if (!enrolled) throw std::runtime_error("enrolment: " + enrolled.error().describe());
    const auto connection = sync::loadConnection(device).value();

    // Forty connections trickling a request's headers, or twenty stuck in their handshake.
    const std::string bytes = tls ? std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)
                                  : test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                                    test::protocolHeaders(connection.credential));
    SlowClients slow(collector.port(), "127.0.0.2", tls ? 20 : 40, bytes,
                     std::chrono::milliseconds(tls ? 400 : 100));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    std::vector<Uuid> made;
    Timing timing;
    for (int r = 0; r < options.rounds; ++r) {
        const int round = options.firstRound + r;
        std::mt19937_64 random(roundSeed(options.seed, round));
        const int count = 1 + static_cast<int>(random() % 3);
        const auto ids = test::addFinalized(device, count, round * 4);
        made.insert(made.end(), ids.begin(), ids.end());
        const auto started = std::chrono::steady_clock::now();
        auto sent = sync::syncOnce(device, connection, {});
        const double seconds = secondsSince(started);
        ++o.rounds;
        timing.add(seconds);
        if (!sent) {
            o.fail(options.seed, round, "the device's round failed: " + sent.error().describe());
            continue;
        }
        o.acknowledged += sent->recordsSent;
        if (seconds > kPromptSeconds) {
            o.fail(options.seed, round,
                   "the device waited " + std::to_string(seconds) + " s for its answer");
        }
        if (options.verbose)
            std::fprintf(stderr, "round %d: %d records in %.2f s\n", round, count, seconds);
        // Rounds spread over several of the slow clients' deadlines, so that devices also meet
        // the moments when they are cut off and come back.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    countHeld(*collector.open(), made, o, options);
    o.note = std::string(tls ? "20 stalled handshakes" : "40 trickling clients") + "; " +
             timing.describe() + "; " + std::to_string(slow.cutOff()) + " slow ones cut off";
    return o;
}

// An enrolment request written by hand, as a client claiming any device id can send it.
test::HttpReply postEnrol(int port, const std::string& code, const Uuid& deviceId,
                          const std::string& previousCredential = {},
                          const std::vector<std::uint8_t>& devicePublicKey = {}) {
    sync::EnrolRequest request;
    request.code = code;
    request.deviceId = deviceId;
    request.previousCredential = previousCredential;
    request.devicePublicKey = devicePublicKey;
    return test::httpExchange(port,
                              test::postBytes(sync::kEnrolPath, sync::encodeEnrolRequest(request),
                                              test::protocolHeaders()),
                              10000);
}

Outcome takeoverAttempts(const Options& options) {
    Outcome o;
    test::TempDir scratch;
    const std::string dir = options.workDir.empty() ? scratch.path() : options.workDir;
    test::CollectorProcess collector(dir + "/collector.db");
    // The attacker's wrong proofs would otherwise soon have its address wait: every round's
    // attempt is to be answered on its merits. And the victim syncs every few milliseconds, far
    // above the per-credential rate a device in the field could reach.
    collector.start({"--auth-failures", "0", "--rate-limit", "0"});
    auto staff = collector.open();
    Store victim = test::openDevice(dir + "/victim.veld");
    const auto connection = test::enrolDevice(victim, collector);
    const auto now = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    std::vector<Uuid> made;
    for (int r = 0; r < options.rounds; ++r) {
        const int round = options.firstRound + r;
        std::mt19937_64 random(roundSeed(options.seed, round));
        ++o.rounds;
        // A valid code of the attacker's own, the victim's id, and no proof, a made-up one, or
        // the victim's credential with one character changed.
        auto code = staff->createEnrolCode("attacker", now(), "reliability");
        if (!code) throw std::runtime_error(code.error().describe());
        std::string proof;
        switch (random() % 3) {
            case 0:
                break;
            case 1:
                proof = victim.deviceId().toString() + "." + std::string(64, 'a');
                break;
            default:
                proof = connection.credential;
                proof[proof.size() - 1 - random() % 64] ^= 1;
        }
        const auto reply = postEnrol(collector.port(), code.value(), victim.deviceId(), proof);
        if (reply.status == 200) {
            ++o.corrupt;
            o.fail(options.seed, round, "the victim's id was enrolled anew by someone else");
        } else if (reply.status != 409) {
            o.fail(options.seed, round, "the attempt got " + std::to_string(reply.status));
        }
        // The victim goes on as if nothing happened.
        const auto ids = test::addFinalized(victim, 1, round);
        made.insert(made.end(), ids.begin(), ids.end());
        auto sent = sync::syncOnce(victim, connection, {});
        if (!sent) {
            o.fail(options.seed, round, "the victim could not send: " + sent.error().describe());
            continue;
        }
        o.acknowledged += sent->recordsSent;
    }
    countHeld(*staff, made, o, options);
    auto devices = staff->devices();
    if (!devices || devices->size() != 1) {
        ++o.corrupt;
        o.fail(options.seed, options.firstRound,
               "the collector lists other devices than the victim");
    }
    o.note = "every attempt refused (409), the victim unharmed";
    return o;
}

Outcome repeatedEnrolments(const Options& options) {
    Outcome o;
    test::TempDir scratch;
    const std::string dir = options.workDir.empty() ? scratch.path() : options.workDir;
    test::CollectorProcess collector(dir + "/collector.db");
    collector.start();
    auto staff = collector.open();
    const auto now = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    std::vector<Uuid> made;
    long repeats = 0;
    for (int r = 0; r < options.rounds; ++r) {
        const int round = options.firstRound + r;
        std::mt19937_64 random(roundSeed(options.seed, round));
        ++o.rounds;
        const std::string path = dir + "/device-" + std::to_string(round) + ".veld";
        Store device = test::openDevice(path);
        auto code = staff->createEnrolCode("laptop " + std::to_string(round), now(), "reliability");
        if (!code) throw std::runtime_error(code.error().describe());
        // Replies lost one to three times (the device saw none of them): the device's own
        // requests, so with its signing key, as sync::enrol sends it ...
        auto deviceKey = identity::ensureDeviceKey(device);
        if (!deviceKey) throw std::runtime_error(deviceKey.error().describe());
        const std::vector<std::uint8_t> publicKey(deviceKey->begin(), deviceKey->end());
        const int lost = 1 + static_cast<int>(random() % 3);
        std::string first;
        bool same = true;
        for (int i = 0; i < lost; ++i) {
            const auto reply =
                postEnrol(collector.port(), code.value(), device.deviceId(), {}, publicKey);
            auto decoded = sync::decodeEnrolResponse(
                {reinterpret_cast<const std::uint8_t*>(reply.body.data()), reply.body.size()});
            if (reply.status != 200 || !decoded) {
                o.fail(options.seed, round, "a repeat got " + std::to_string(reply.status));
                same = false;
                break;
            }
            if (i == 0) first = decoded->credential;
            same = same && decoded->credential == first;
            ++repeats;
        }
        // ... then the device's own try, with the same code.
        auto enrolled = sync::enrol(device, collector.url(), code.value());
        if (!enrolled) {
            o.fail(options.seed, round,
                   "the device's retry failed: " + enrolled.error().describe());
            continue;
        }
        if (!same || enrolled->credential != first) {
            ++o.doubled;
            o.fail(options.seed, round, "a repeated enrolment gave another credential");
        }
        ++o.acknowledged;
        const auto ids = test::addFinalized(device, 1, round);
        made.insert(made.end(), ids.begin(), ids.end());
        auto sent = sync::syncOnce(device, sync::loadConnection(device).value(), {});
        if (!sent) {
            ++o.lost;
            o.fail(options.seed, round,
                   "the enrolled device could not send: " + sent.error().describe());
        }
    }
    countHeld(*staff, made, o, options);
    auto devices = staff->devices();
    if (!devices) throw std::runtime_error(devices.error().describe());
    if (static_cast<long>(devices->size()) != o.acknowledged) {
        ++o.doubled;
        o.fail(options.seed, options.firstRound,
               "the collector lists " + std::to_string(devices->size()) + " devices for " +
                   std::to_string(o.acknowledged) + " enrolments");
    }
    o.note = std::to_string(repeats) + " lost replies repeated; one device each, one credential";
    return o;
}

}  // namespace

void addHostileScenarios(std::vector<Scenario>& out) {
    out.push_back({"slow-clients-while-syncing",
                   "40 clients trickle headers from one address; each round a device sends 1-3 "
                   "records and must be answered within 3 s",
                   100, 1000, [](const Options& o) { return syncUnderSlowClients(o, false); }});
    out.push_back({"half-handshakes-while-syncing",
                   "20 TLS handshakes stall from one address; each round a device sends 1-3 "
                   "records over HTTPS and must be answered within 3 s",
                   100, 1000, [](const Options& o) { return syncUnderSlowClients(o, true); }});
    out.push_back({"takeover-attempts",
                   "each round someone enrols with a valid code of their own and the victim's id "
                   "(no proof, or a forged one); the victim then sends a record",
                   100, 1000, takeoverAttempts});
    out.push_back({"repeated-enrolment",
                   "each round a new device's enrolment reply is lost 1-3 times, then it retries "
                   "with the same code and sends a record",
                   100, 1000, repeatedEnrolments});
}

}  // namespace veld::reliability
