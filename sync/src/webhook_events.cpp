// The rules of webhooks (see webhook_events.hpp).
#include "webhook_events.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <set>

#include <sodium.h>

#include <veld/clock.hpp>
#include <veld/hex.hpp>
#include <veld/names.hpp>
#include <veld/sync/export_table.hpp>

#include "json_text.hpp"

namespace veld::sync {

std::string_view deliveryStateName(DeliveryState state) {
    switch (state) {
        case DeliveryState::Pending:
            return "pending";
        case DeliveryState::Delivered:
            return "delivered";
        case DeliveryState::Failing:
            return "failing";
        case DeliveryState::GivenUp:
            return "given-up";
    }
    return "pending";
}

std::string joinWebhookList(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items)
        out += (out.empty() ? "" : ",") + i;
    return out;
}

std::vector<std::string> splitWebhookList(std::string_view text) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto comma = std::min(text.find(',', at), text.size());
        if (comma > at) out.emplace_back(text.substr(at, comma - at));
        at = comma + 1;
    }
    return out;
}

namespace webhooks {

namespace {

bool loopbackHost(std::string_view host) {
    if (host == "localhost" || host == "[::1]") return true;
    // 127.0.0.0/8 written as four decimal parts.
    if (host.rfind("127.", 0) != 0) return false;
    int parts = 0;
    std::size_t at = 0;
    while (at <= host.size()) {
        const auto dot = std::min(host.find('.', at), host.size());
        const auto part = host.substr(at, dot - at);
        if (part.empty() || part.size() > 3 ||
            !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoi(std::string(part)) > 255)
            return false;
        ++parts;
        at = dot + 1;
    }
    return parts == 4;
}

using detail::quoted;

std::string jsonNumberOr(const std::string& text) {
    // A decimal as typed ("-12.50") is a JSON number; anything else stays text.
    std::size_t i = text.size() > 0 && text[0] == '-' ? 1 : 0;
    const std::size_t digitsFrom = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
        ++i;
    bool ok = i > digitsFrom;
    if (ok && i < text.size() && text[i] == '.') {
        const std::size_t fraction = ++i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9')
            ++i;
        ok = i > fraction;
    }
    return ok && i == text.size() ? text : quoted(text);
}

std::string valueJson(const AnswerValue& value) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return quoted(x);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                return std::to_string(x);
            } else if constexpr (std::is_same_v<T, DecimalAnswer>) {
                return jsonNumberOr(x.text);
            } else if constexpr (std::is_same_v<T, bool>) {
                return x ? "true" : "false";
            } else if constexpr (std::is_same_v<T, ChoiceAnswer>) {
                return quoted(x.choice);
            } else if constexpr (std::is_same_v<T, ChoicesAnswer>) {
                std::string out = "[";
                for (const auto& c : x.choices)
                    out += (out.size() > 1 ? "," : "") + quoted(c);
                return out + "]";
            } else if constexpr (std::is_same_v<T, DateAnswer>) {
                return quoted(isoDate(x.days));
            } else if constexpr (std::is_same_v<T, TimeAnswer>) {
                return quoted(isoTime(x.ms));
            } else if constexpr (std::is_same_v<T, DateTimeAnswer>) {
                return quoted(isoDateTime(x.utcMs));
            } else if constexpr (std::is_same_v<T, SignatureAnswer>) {
                return "{\"strokes\":" + std::to_string(x.strokes.size()) + "}";
            } else {
                static_assert(std::is_same_v<T, PseudonymAnswer>);
                return quoted(x.keyId + ":" + toHex(x.digest));
            }
        },
        value);
}

std::string levelJson(const std::vector<Answer>& answers, const std::vector<Repeat>& repeats) {
    std::string out = "{";
    for (const auto& a : answers) {
        if (out.size() > 1) out += ",";
        out += quoted(a.name) + ":" + valueJson(a.value);
    }
    for (const auto& r : repeats) {
        if (out.size() > 1) out += ",";
        out += quoted(r.name) + ":[";
        for (std::size_t i = 0; i < r.instances.size(); ++i) {
            if (i > 0) out += ",";
            out += levelJson(r.instances[i].answers, r.instances[i].repeats);
        }
        out += "]";
    }
    return out + "}";
}

}  // namespace

Status checkUrl(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos)
        return makeError(ErrorCode::InvalidArgument,
                         "a webhook URL starts with https:// (or http:// to this machine)");
    std::string name(url.substr(0, scheme));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name != "https" && name != "http")
        return makeError(
            ErrorCode::InvalidArgument,
            "a webhook URL must be https:// (or http:// to this machine), not " + name + "://");
    for (char c : url) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return makeError(ErrorCode::InvalidArgument,
                             "a webhook URL may not hold spaces or control characters");
    }
    const auto rest = url.substr(scheme + 3);
    const auto authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos)
        return makeError(ErrorCode::InvalidArgument,
                         "a webhook URL may not carry a user or password (it would be listed); "
                         "the receiver checks the signature instead");
    std::string_view host = authority;
    if (!host.empty() && host.front() == '[') {
        host = host.substr(0, host.find(']') + 1);
    } else {
        host = host.substr(0, host.find(':'));
    }
    if (host.empty()) return makeError(ErrorCode::InvalidArgument, "the webhook URL has no host");
    std::string lowerHost(host);
    std::transform(lowerHost.begin(), lowerHost.end(), lowerHost.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "http" && !loopbackHost(lowerHost))
        return makeError(ErrorCode::InvalidArgument,
                         "plain http:// is accepted only to this machine (localhost, 127.x.x.x, "
                         "[::1]): use https:// for " +
                             lowerHost);
    return {};
}

Status checkEvents(const std::vector<std::string>& events) {
    if (events.empty())
        return makeError(ErrorCode::InvalidArgument,
                         "name at least one event: record.received, review.changed");
    std::set<std::string> seen;
    for (const auto& e : events) {
        if (e != kEventRecordReceived && e != kEventReviewChanged)
            return makeError(ErrorCode::InvalidArgument,
                             "unknown event '" + e + "' (known: record.received, review.changed)");
        if (!seen.insert(e).second)
            return makeError(ErrorCode::InvalidArgument, "event '" + e + "' is named twice");
    }
    return {};
}

Status checkDataForms(const std::vector<std::string>& forms) {
    for (const auto& f : forms) {
        if (!validName(f))
            return makeError(ErrorCode::InvalidArgument, "'" + f + "' is not a form id");
    }
    return {};
}

Result<NewWebhook> newWebhook(const std::string& url, const std::vector<std::string>& events,
                              const std::vector<std::string>& dataForms, std::int64_t nowMs,
                              const std::string& actor) {
    if (auto s = checkUrl(url); !s) return s.error();
    if (auto s = checkEvents(events); !s) return s.error();
    if (auto s = checkDataForms(dataForms); !s) return s.error();
    NewWebhook made;
    made.secret = newSecret();
    made.hook.url = url;
    made.hook.events = events;
    made.hook.dataForms = dataForms;
    made.hook.createdUtcMs = nowMs;
    made.hook.createdBy = actor;
    return made;
}

std::string auditDetail(const Webhook& hook) {
    return hook.url + " " + joinWebhookList(hook.events) +
           (hook.dataForms.empty() ? "" : " data:" + joinWebhookList(hook.dataForms));
}

std::string newSecret() {
    std::array<std::uint8_t, 32> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    return "vwhs_" + toHex(bytes);
}

std::string signature(std::string_view secret, std::string_view body) {
    std::array<std::uint8_t, crypto_auth_hmacsha256_BYTES> mac{};
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()),
                                secret.size());
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(body.data()),
                                  body.size());
    crypto_auth_hmacsha256_final(&state, mac.data());
    sodium_memzero(&state, sizeof state);
    return "sha256=" + toHex(mac);
}

std::string answersJson(const RecordContent& content) {
    return levelJson(content.answers, content.repeats);
}

EventRecord receivedEvent(const Uuid& deviceId, const PushRevision& revision) {
    EventRecord r;
    r.recordId = revision.recordId;
    r.formId = revision.formId;
    r.formVersion = revision.formVersion;
    r.deviceId = deviceId;
    r.hlc = revision.hlc;
    if (!revision.damaged) r.body = revision.body;
    return r;
}

std::vector<OutboxRow> eventRows(const std::vector<HookTarget>& hooks, std::string_view type,
                                 const EventRecord& record, std::string_view collectorId,
                                 std::int64_t nowMs) {
    std::vector<OutboxRow> out;
    std::string eventId;
    std::optional<std::optional<Record>> decoded;  // decoded once, when a hook may see answers
    for (const auto& hook : hooks) {
        if (std::find(hook.events.begin(), hook.events.end(), type) == hook.events.end()) continue;
        if (eventId.empty()) eventId = makeUuidV7(SystemClock::instance()).toString();
        const bool mayHaveData = std::find(hook.dataForms.begin(), hook.dataForms.end(),
                                           record.formId) != hook.dataForms.end();
        std::string json =
            "{\"id\":" + quoted(eventId) + ",\"type\":" + quoted(type) +
            ",\"created\":" + quoted(isoDateTime(nowMs)) + ",\"collector\":" + quoted(collectorId) +
            ",\"record\":{\"id\":" + quoted(record.recordId.toString()) +
            ",\"form\":" + quoted(record.formId) +
            ",\"version\":" + std::to_string(record.formVersion) +
            ",\"device\":" + quoted(record.deviceId.toString()) +
            ",\"hlc\":" + quoted(std::to_string(record.hlc.value)) +
            ",\"hlc_time\":" + quoted(isoDateTime(static_cast<std::int64_t>(record.hlc.millis())));
        if (!record.reviewState.empty())
            json += ",\"review_state\":" + quoted(record.reviewState) +
                    ",\"reviewed_by\":" + quoted(record.reviewedBy);
        if (mayHaveData) {
            if (!decoded) {
                decoded.emplace();
                if (!record.body.empty()) {
                    if (auto r = decodeRecord(record.body); r) decoded->emplace(std::move(*r));
                }
            }
            if (decoded->has_value() && (*decoded)->sealed) {
                json += ",\"sealed\":true";
            } else if (decoded->has_value()) {
                json += ",\"answers\":" + answersJson((*decoded)->content);
            }
        }
        json += "}}";
        out.push_back({hook.id, eventId, std::string(type), std::move(json)});
    }
    return out;
}

std::int64_t retryDelayMs(std::int64_t attempts, std::int64_t baseMs, std::int64_t capMs,
                          double random01) {
    double delay = static_cast<double>(baseMs);
    for (std::int64_t i = 1; i < attempts && delay < static_cast<double>(capMs); ++i)
        delay *= 2;
    delay = std::min(delay, static_cast<double>(capMs));
    return std::max<std::int64_t>(1, std::llround(delay * (0.5 + 0.5 * random01)));
}

DeliveryAttempt judgeAttempt(int status, std::string error, std::int64_t createdUtcMs,
                             std::int64_t attempts, std::int64_t nowMs, const RetryPolicy& policy,
                             double random01) {
    DeliveryAttempt a;
    a.status = status;
    a.attemptUtcMs = nowMs;
    if (status >= 200 && status < 300) {
        a.state = DeliveryState::Delivered;
        return a;
    }
    a.error = error.empty() ? "answered HTTP " + std::to_string(status) : std::move(error);
    if (nowMs - createdUtcMs >= policy.giveUpAfterMs) {
        a.state = DeliveryState::GivenUp;
        return a;
    }
    a.state = DeliveryState::Failing;
    a.nextAttemptUtcMs = nowMs + retryDelayMs(attempts, policy.baseMs, policy.capMs, random01);
    return a;
}

}  // namespace webhooks
}  // namespace veld::sync
