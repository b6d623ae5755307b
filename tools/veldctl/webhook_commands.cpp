// veldctl collector webhook: URLs the collector posts events to (a record received, a review
// changed), and what became of each delivery. Opens the collector's store directly (either
// backend); every change is written to the collector's audit log.
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <ostream>

#include <veld/sync/collector_store.hpp>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

constexpr const char* kWebhookUsage =
    R"(usage: veldctl collector webhook SUBCOMMAND FILE [arguments]

Webhooks: the collector (veld-collector) posts a small signed JSON event to each registered URL
when something happens, tries again with growing pauses while the receiver is down, and gives
up after three days (kept and listed). FILE is the collector's store.

Subcommands:
  add FILE URL --events E1,E2 [--data-forms F1,F2]
                                 register URL for events record.received (a device sent a
                                 revision of a record) and/or review.changed (staff set a
                                 record's review state). Events carry the record's id, form,
                                 device and clock, never answers, unless the record's form is
                                 named in --data-forms (sealed records never carry answers).
                                 URL must be https://, or http:// to this machine only. Prints
                                 the hook's number and its signing secret, shown this once
  list FILE                      hooks with their deliveries by state (pending, delivered,
                                 failing, given up) and the latest error
  deliveries FILE ID [--limit N] a hook's latest deliveries (default 20), newest first: event
                                 id, type, record, state, attempts, last answer or error
  retry FILE ID                  try a hook's undelivered deliveries (failing, given up,
                                 waiting) again now
  remove FILE ID                 stop posting to a hook; its deliveries are removed

Each post has the headers Veld-Event-Id (the same on every attempt: receivers skip an id they
have seen), Veld-Event-Type, Veld-Timestamp and Veld-Signature: "sha256=" and the hex
HMAC-SHA256 of the body keyed with the secret. See README.md, "Webhooks".
)";

int usage(std::ostream& err, const std::string& message) {
    err << "veldctl collector webhook: " << message << "\n(see veldctl collector webhook --help)\n";
    return kExitUsage;
}

int failed(std::ostream& err, const Error& error) {
    err << "veldctl collector webhook: " << error.describe() << "\n";
    return kExitFailure;
}

std::string joined(const std::vector<std::string>& items) {
    return items.empty() ? "-" : sync::joinWebhookList(items);
}

// A hook number as typed: a whole number from 1.
std::optional<std::int64_t> hookNumber(const std::string& text) {
    char* end = nullptr;
    const long long n = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || n < 1) return std::nullopt;
    return n;
}

}  // namespace

int collectorWebhookCommand(const std::vector<std::string>& argv, std::ostream& out,
                            std::ostream& err) {
    if (argv.size() < 2) {
        err << kWebhookUsage;
        return kExitUsage;
    }
    const std::string sub = argv[1];
    Args args(std::vector<std::string>(argv.begin() + 2, argv.end()));
    if (sub == "--help" || sub == "-h" || args.flag("--help") || args.flag("-h")) {
        out << kWebhookUsage;
        return kExitOk;
    }
    std::string events;
    const bool hasEvents = args.option("--events", events);
    std::string dataForms;
    args.option("--data-forms", dataForms);
    std::string limitText = "20";
    args.option("--limit", limitText);
    if (!args.error.empty()) return usage(err, args.error);
    if (!args.unknownOption().empty()) return usage(err, "unknown option " + args.unknownOption());
    const auto pos = args.positionals();
    if (pos.empty()) return usage(err, sub + " needs the collector's FILE");
    const bool known =
        sub == "add" || sub == "list" || sub == "deliveries" || sub == "retry" || sub == "remove";
    if (!known) return usage(err, "unknown subcommand '" + sub + "'");
    if (sub == "add" && (pos.size() != 2 || !hasEvents))
        return usage(err, "add takes FILE URL --events E1,E2");
    if (sub == "list" && pos.size() != 1) return usage(err, "list takes FILE");
    std::optional<std::int64_t> id;
    if (sub == "deliveries" || sub == "retry" || sub == "remove") {
        if (pos.size() != 2) return usage(err, sub + " takes FILE ID");
        id = hookNumber(pos[1]);
        if (!id) return usage(err, "'" + pos[1] + "' is not a webhook number");
    }
    const auto limit = hookNumber(limitText);
    if (!limit || *limit > 10000) return usage(err, "--limit takes 1 to 10000");

    auto store = openCollectorStore(pos[0], false, "collector webhook", err);
    if (!store) return kExitFailure;
    sync::CollectorStore& c = *store.value();

    if (sub == "add") {
        auto made = c.addWebhook(pos[1], sync::splitWebhookList(events),
                                 sync::splitWebhookList(dataForms), nowMs(), commandActor());
        if (!made) return failed(err, made.error());
        const auto& h = made->hook;
        out << "webhook " << h.id << ": " << h.url << "  events " << joined(h.events) << "  data "
            << joined(h.dataForms) << "\n";
        // The only time the secret is shown: for the receiver's configuration.
        out << "secret " << made->secret << "\n";
        err << "veldctl collector webhook: keep the secret for the receiver (it checks "
               "Veld-Signature with it); it is not shown again\n";
        return kExitOk;
    }
    if (sub == "list") {
        auto hooks = c.webhooks();
        if (!hooks) return failed(err, hooks.error());
        if (hooks->empty()) out << "no webhooks\n";
        for (const auto& h : hooks.value()) {
            out << h.id << "  " << h.url << "  events " << joined(h.events) << "  data "
                << joined(h.dataForms) << "  pending " << h.deliveries[0] << "  delivered "
                << h.deliveries[1] << "  failing " << h.deliveries[2] << "  given-up "
                << h.deliveries[3] << "\n";
            if (!h.lastError.empty())
                out << "    last error " << utcTime(h.lastErrorUtcMs) << ": " << h.lastError
                    << "\n";
        }
        return kExitOk;
    }
    if (sub == "deliveries") {
        auto list = c.deliveries(*id, static_cast<int>(*limit));
        if (!list) return failed(err, list.error());
        for (const auto& d : list.value()) {
            out << d.id << "  " << d.eventId << "  " << d.eventType << "  "
                << (d.recordId ? d.recordId->toString() : std::string("-")) << "  "
                << sync::deliveryStateName(d.state) << "  attempts " << d.attempts;
            if (d.state == sync::DeliveryState::Delivered) {
                out << "  delivered " << utcTime(d.deliveredUtcMs);
            } else if (d.state != sync::DeliveryState::GivenUp) {
                out << "  next " << utcTime(d.nextAttemptUtcMs);
            }
            if (d.lastStatus != 0) out << "  HTTP " << d.lastStatus;
            if (!d.lastError.empty() && d.state != sync::DeliveryState::Delivered)
                out << "  " << d.lastError;
            out << "\n";
        }
        return kExitOk;
    }
    if (sub == "retry") {
        auto n = c.retryWebhook(*id, nowMs(), commandActor());
        if (!n) return failed(err, n.error());
        out << n.value() << " deliveries of webhook " << *id << " will be tried again now\n";
        return kExitOk;
    }
    if (auto s = c.removeWebhook(*id, nowMs(), commandActor()); !s) return failed(err, s.error());
    out << "webhook " << *id << " removed\n";
    return kExitOk;
}

}  // namespace veld::veldctl
