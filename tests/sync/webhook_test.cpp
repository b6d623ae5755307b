// Webhooks end to end, on either backend: hooks registered with veldctl, a real veld-collector,
// a real device that sends records, staff who review one, and a receiver (a real HTTP server on
// loopback) that is down, then refuses, then comes back and gets every event, signed, with
// stable ids, answers only where allowed. Python reads the events and checks the signatures, as
// a receiver would.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

#include <veld/sync/collector_store.hpp>

#include "support/sync_support.hpp"
#include "support/webhook_receiver.hpp"
#include "webhook_events.hpp"

using namespace veld;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::int64_t msNow() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A receiver's check of each event, in Python: the signature (HMAC-SHA256 of the body with the
// secret) and the JSON. One line per post: event id, type, record id, form, whether it has
// answers, the answer "age", the review state, whether the signature matched.
constexpr const char* kChecker = R"py(
import sys, hmac, hashlib, json
secret = sys.argv[1].encode()
for stem in sys.argv[2:]:
    body = open(stem + '.body', 'rb').read()
    sig = open(stem + '.sig').read().strip()
    good = 'sha256=' + hmac.new(secret, body, hashlib.sha256).hexdigest()
    e = json.loads(body)
    r = e['record']
    assert set(e) <= {'id', 'type', 'created', 'collector', 'record'}, e.keys()
    print(e['id'], e['type'], r['id'], r['form'], 'answers' in r,
          r.get('answers', {}).get('age', '-'), r.get('review_state', '-'),
          hmac.compare_digest(good, sig), sep='\t')
)py";

struct Checked {
    std::string eventId, type, recordId, form, review;
    bool answers = false;
    std::string age;
    bool signatureOk = false;
};

std::vector<Checked> checkWithPython(const test::TempDir& dir, const std::string& name,
                                     const std::string& secret,
                                     const std::vector<test::WebhookReceiver::Post>& posts) {
    const std::string script = dir.file("check_events.py");
    std::ofstream(script) << kChecker;
    std::vector<std::string> args{"/usr/bin/python3", script, secret};
    for (std::size_t i = 0; i < posts.size(); ++i) {
        const std::string stem = dir.file(name + "-" + std::to_string(i));
        std::ofstream(stem + ".body", std::ios::binary) << posts[i].body;
        std::ofstream(stem + ".sig") << posts[i].signature;
        args.push_back(stem);
    }
    const auto run = test::runProcess(args);
    REQUIRE_MESSAGE(run.exitCode == 0, run.err);
    std::vector<Checked> out;
    std::istringstream in(run.out);
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::stringstream fields(line);
        std::string part;
        while (std::getline(fields, part, '\t'))
            f.push_back(part);
        REQUIRE(f.size() == 8);
        out.push_back({f[0], f[1], f[2], f[3], f[6], f[4] == "True", f[5], f[7] == "True"});
    }
    return out;
}

// "webhook N: ..." and "secret vwhs_..." from veldctl collector webhook add.
std::pair<std::string, std::string> addHook(const std::string& store,
                                            const std::vector<std::string>& extra) {
    std::vector<std::string> args{"collector", "webhook", "add", store};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto added = test::veldctl(args);
    REQUIRE_MESSAGE(added.exitCode == 0, added.err);
    const auto number = added.out.substr(8, added.out.find(':') - 8);
    const auto at = added.out.find("secret vwhs_");
    REQUIRE(at != std::string::npos);
    const auto secret = added.out.substr(at + 7, 5 + 64);
    CHECK(contains(added.err, "not shown again"));
    return {number, secret};
}

// Polls `webhook list` until `done` holds for its output (at most 20 s).
std::string listUntil(const std::string& store,
                      const std::function<bool(const std::string&)>& done) {
    std::string out;
    for (int i = 0; i < 200; ++i) {
        const auto list = test::veldctl({"collector", "webhook", "list", store});
        REQUIRE_MESSAGE(list.exitCode == 0, list.err);
        out = list.out;
        if (done(out)) return out;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL("webhook list never showed what was awaited:\n" << out);
    return out;
}

}  // namespace

TEST_CASE("a webhook receiver that is down for a while gets every event once it is back") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const std::string store = collector.storePath();
    const int port = test::WebhookReceiver::closedPort();
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    // Records with their answers (the sample form's data allowed) to one path; review changes,
    // without answers, to another.
    const auto [recordsHook, recordsSecret] = addHook(
        store,
        {base + "/records", "--events", "record.received", "--data-forms", "vmbo_parent_survey"});
    const auto [reviewsHook, reviewsSecret] =
        addHook(store, {base + "/reviews", "--events", "review.changed"});
    CHECK(recordsSecret != reviewsSecret);

    collector.start({"--webhook-retry-ms", "100", "--webhook-timeout", "2"});
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    const auto ids = test::addFinalized(device, 3);
    REQUIRE(test::syncUntilDone(device, connection, {}, 3) >= 0);
    const auto reviewed = test::veldctl(
        {"collector", "review", store, ids[1].toString(), "approved", "--comment", "klopt"});
    REQUIRE_MESSAGE(reviewed.exitCode == 0, reviewed.err);

    // Down (nothing listens): the deliveries fail and staff see why, for both hooks (a hook's
    // other events wait behind its failing one).
    const auto down = listUntil(store, [](const std::string& out) {
        std::size_t errors = 0;
        for (auto at = out.find("no answer"); at != std::string::npos;
             at = out.find("no answer", at + 1))
            ++errors;
        return errors == 2;
    });
    // The device sent its three records in one push: the first is tried, the others wait.
    CHECK(contains(down, "pending 2  delivered 0  failing 1"));
    CHECK(contains(down, "pending 0  delivered 0  failing 1"));
    CHECK_FALSE(contains(down, "HTTP"));

    // Up but refusing (503): still failing, the receiver sees the events' ids.
    test::WebhookReceiver receiver(port);
    receiver.refuse(true);
    REQUIRE(receiver.waitFor(
        [](const auto& posts) {
            std::set<std::string> paths;
            for (const auto& p : posts)
                paths.insert(p.path);
            return paths.size() == 2;
        },
        20000));
    listUntil(store, [](const std::string& out) { return contains(out, "answered HTTP 503"); });

    // Back: every event arrives.
    receiver.refuse(false);
    const auto delivered = [&](const std::vector<test::WebhookReceiver::Post>& posts) {
        std::set<std::string> records;
        bool review = false;
        for (const auto& p : posts) {
            if (p.answered != 200) continue;
            if (p.path == "/records") records.insert(p.eventId);
            if (p.path == "/reviews") review = true;
        }
        return records.size() == 3 && review;
    };
    REQUIRE(receiver.waitFor(delivered, 30000));
    const auto posts = receiver.posts();

    std::vector<test::WebhookReceiver::Post> recordPosts;
    std::vector<test::WebhookReceiver::Post> reviewPosts;
    for (const auto& p : posts) {
        CHECK(p.contentType == "application/json");
        CHECK(!p.timestamp.empty());
        (p.path == "/records" ? recordPosts : reviewPosts).push_back(p);
    }
    // Each event kept its id over every attempt: the ids refused earlier are the ids delivered.
    std::map<std::string, std::set<int>> answersById;
    for (const auto& p : posts)
        answersById[p.eventId].insert(p.answered);
    for (const auto& entry : answersById) {
        CAPTURE(entry.first);
        CHECK(entry.second.count(200) == 1);
    }
    CHECK(answersById.size() == 4);

    const auto records = checkWithPython(dir, "records", recordsSecret, recordPosts);
    std::set<std::string> receivedRecords;
    for (const auto& e : records) {
        CAPTURE(e.eventId);
        CHECK(e.signatureOk);
        CHECK(e.type == "record.received");
        CHECK(e.form == "vmbo_parent_survey");
        CHECK(e.answers);  // this hook is allowed the form's data
        CHECK(e.age != "-");
        receivedRecords.insert(e.recordId);
    }
    CHECK(receivedRecords ==
          std::set<std::string>{ids[0].toString(), ids[1].toString(), ids[2].toString()});
    // Signed with the other hook's secret, nothing matches.
    for (const auto& e : checkWithPython(dir, "wrong", reviewsSecret, recordPosts))
        CHECK_FALSE(e.signatureOk);

    const auto reviews = checkWithPython(dir, "reviews", reviewsSecret, reviewPosts);
    REQUIRE(!reviews.empty());
    for (const auto& e : reviews) {
        CHECK(e.signatureOk);
        CHECK(e.type == "review.changed");  // the review hook gets no record.received
        CHECK(e.recordId == ids[1].toString());
        CHECK(e.review == "approved");
        CHECK_FALSE(e.answers);  // not allowed the form's data
    }
    for (const auto& p : reviewPosts)
        CHECK_FALSE(contains(p.body, "klopt"));  // staff's comment stays in the collector

    // Staff see the outcome: delivered, after more than one attempt.
    const auto done = listUntil(store, [](const std::string& out) {
        return contains(out, "delivered 3") && contains(out, "delivered 1") &&
               !contains(out, "failing 1") && !contains(out, "failing 3");
    });
    const auto shown = test::veldctl({"collector", "webhook", "deliveries", store, recordsHook});
    REQUIRE_MESSAGE(shown.exitCode == 0, shown.err);
    CHECK(contains(shown.out, "record.received"));
    CHECK(contains(shown.out, "HTTP 200"));
    CHECK_FALSE(contains(shown.out, "pending"));
    CHECK_FALSE(contains(shown.out, "failing"));
    // The first of them was tried while the receiver was down.
    CHECK(std::count(shown.out.begin(), shown.out.end(), '\n') == 3);
    std::size_t once = 0;
    for (auto at = shown.out.find("attempts 1 "); at != std::string::npos;
         at = shown.out.find("attempts 1 ", at + 1))
        ++once;
    CHECK(once < 3);
    // The secret is never listed.
    CHECK_FALSE(contains(done, recordsSecret));
    CHECK_FALSE(contains(shown.out, recordsSecret));

    // Removed, a hook gets nothing more.
    const auto removed = test::veldctl({"collector", "webhook", "remove", store, reviewsHook});
    REQUIRE_MESSAGE(removed.exitCode == 0, removed.err);
    const auto after = test::veldctl({"collector", "webhook", "list", store});
    CHECK_FALSE(contains(after.out, "/reviews"));
    CHECK(contains(after.out, "/records"));
    collector.kill(SIGTERM);
    collector.wait();
}

TEST_CASE("veldctl collector webhook refuses what it cannot post safely and keeps what is there") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const std::string store = collector.storePath();
    addHook(store, {"https://receiver.example.org/veld", "--events", "record.received"});
    const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
        {{"ftp://example.org/x", "--events", "record.received"}, "https://"},
        {{"http://receiver.example.org/veld", "--events", "record.received"}, "only to this"},
        {{"https://user:pw@example.org/", "--events", "record.received"}, "user or password"},
        {{"https://example.org/", "--events", "record.deleted"}, "unknown event"},
        {{"https://example.org/", "--events", "review.changed,review.changed"}, "twice"},
        {{"https://example.org/", "--events", "record.received", "--data-forms", "a b"},
         "not a form id"},
        {{"https://exa mple.org/", "--events", "record.received"}, "spaces"},
    };
    for (const auto& refusal : refused) {
        CAPTURE(refusal.first[0]);
        std::vector<std::string> all{"collector", "webhook", "add", store};
        all.insert(all.end(), refusal.first.begin(), refusal.first.end());
        const auto r = test::veldctl(all);
        CHECK(r.exitCode == 1);
        CHECK(contains(r.err, refusal.second));
        CHECK_FALSE(contains(r.out, "secret"));
    }
    const auto noEvents =
        test::veldctl({"collector", "webhook", "add", store, "https://example.org/"});
    CHECK(noEvents.exitCode == 2);
    const auto unknown = test::veldctl({"collector", "webhook", "remove", store, "99"});
    CHECK(unknown.exitCode == 1);
    CHECK(contains(unknown.err, "no webhook"));
    const auto notNumber = test::veldctl({"collector", "webhook", "deliveries", store, "x"});
    CHECK(notNumber.exitCode == 2);
    // Loopback over plain http is accepted (a receiver on the collector's own machine).
    addHook(store, {"http://localhost:9/veld", "--events", "review.changed"});
    const auto list = test::veldctl({"collector", "webhook", "list", store});
    REQUIRE(list.exitCode == 0);
    CHECK(contains(list.out, "https://receiver.example.org/veld"));
    CHECK(contains(list.out, "http://localhost:9/veld"));
    CHECK(std::count(list.out.begin(), list.out.end(), '\n') == 2);
    // Every change is in the audit log; no secret is.
    const auto audit = test::veldctl({"collector", "audit", store});
    REQUIRE(audit.exitCode == 0);
    CHECK(contains(audit.out, "webhook add"));
    CHECK_FALSE(contains(audit.out, "vwhs_"));
}

TEST_CASE("webhook deliveries are claimed once, given up when too old, and retried on demand") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const std::string location = collector.storePath();
    const auto [hookText, secret] = addHook(
        location, {"http://127.0.0.1:" + std::to_string(test::WebhookReceiver::closedPort()) + "/x",
                   "--events", "record.received"});
    const std::int64_t hookId = std::stoll(hookText);
    collector.start({"--webhook-retry-ms", "3600000"});
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    test::addFinalized(device, 2);
    REQUIRE(test::syncUntilDone(device, connection, {}, 3) >= 0);
    // The worker tried the first (nothing listens) and holds the hook's events back with it.
    listUntil(location, [](const std::string& out) {
        return contains(out, "failing 1") && contains(out, "pending 1");
    });
    collector.kill(SIGTERM);
    collector.wait();
    auto store = collector.open();
    auto other = collector.open();
    const std::int64_t now = msNow();
    auto list = store->deliveries(hookId, 10);
    REQUIRE(list);
    REQUIRE(list->size() == 2);
    for (const auto& d : list.value())
        CHECK(d.nextAttemptUtcMs > now + 1'000'000);  // half an hour at least
    auto undelivered = store->undeliveredCount();
    REQUIRE(undelivered);
    CHECK(undelivered.value() == 2);
    // Due again on demand; then two workers claim at once and never the same delivery.
    auto retried = store->retryWebhook(hookId, now, "test");
    REQUIRE(retried);
    CHECK(retried.value() == 2);
    auto a = store->claimDeliveries(now + 1, 60'000, 1, "a");
    auto b = other->claimDeliveries(now + 1, 60'000, 10, "b");
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(a->size() == 1);
    REQUIRE(b->size() == 1);
    CHECK(a->front().delivery.id != b->front().delivery.id);
    CHECK(a->front().secret == secret);
    // Leased: nothing more to claim until the leases end.
    auto none = store->claimDeliveries(now + 2, 60'000, 10, "c");
    REQUIRE(none);
    CHECK(none->empty());
    // An attempt recorded by a process that no longer holds the lease changes nothing.
    sync::DeliveryAttempt given;
    given.state = sync::DeliveryState::GivenUp;
    given.error = "too old";
    given.attemptUtcMs = now + 3;
    REQUIRE(store->recordAttempt(a->front().delivery.id, "b", given));
    REQUIRE(store->recordAttempt(a->front().delivery.id, "a", given));
    sync::DeliveryAttempt ok;
    ok.state = sync::DeliveryState::Delivered;
    ok.status = 204;
    ok.attemptUtcMs = now + 3;
    REQUIRE(other->recordAttempt(b->front().delivery.id, "b", ok));
    auto hooks = store->webhooks();
    REQUIRE(hooks);
    REQUIRE(hooks->size() == 1);
    CHECK(hooks->front().deliveries[static_cast<std::size_t>(sync::DeliveryState::GivenUp)] == 1);
    CHECK(hooks->front().deliveries[static_cast<std::size_t>(sync::DeliveryState::Delivered)] == 1);
    CHECK(hooks->front().lastError == "too old");
    // Given up is kept and listed; retry makes it due again.
    const auto shown = test::veldctl({"collector", "webhook", "list", location});
    CHECK(contains(shown.out, "given-up 1"));
    const auto again = test::veldctl({"collector", "webhook", "retry", location, hookText});
    REQUIRE_MESSAGE(again.exitCode == 0, again.err);
    CHECK(contains(again.out, "1 deliveries"));
    auto due = store->claimDeliveries(msNow() + 1, 60'000, 10, "d");
    REQUIRE(due);
    CHECK(due->size() == 1);
}

TEST_CASE(
    "a failed delivery waits longer each time, with jitter, up to an hour, and old ones give up") {
    using sync::webhooks::judgeAttempt;
    using sync::webhooks::retryDelayMs;
    CHECK(retryDelayMs(1, 5000, 3'600'000, 0.999) <= 5000);
    CHECK(retryDelayMs(1, 5000, 3'600'000, 0.0) == 2500);
    CHECK(retryDelayMs(2, 5000, 3'600'000, 0.0) == 5000);
    CHECK(retryDelayMs(4, 5000, 3'600'000, 0.0) == 20000);
    CHECK(retryDelayMs(40, 5000, 3'600'000, 0.999) <= 3'600'000);
    CHECK(retryDelayMs(40, 5000, 3'600'000, 0.0) == 1'800'000);
    const sync::webhooks::RetryPolicy policy;
    const std::int64_t day = 24LL * 3600 * 1000;
    auto ok = judgeAttempt(204, "", 0, 1, 1000, policy, 0.5);
    CHECK(ok.state == sync::DeliveryState::Delivered);
    auto busy = judgeAttempt(503, "", 0, 3, 1000, policy, 0.0);
    CHECK(busy.state == sync::DeliveryState::Failing);
    CHECK(busy.error == "answered HTTP 503");
    CHECK(busy.nextAttemptUtcMs == 1000 + 10000);
    auto redirected = judgeAttempt(302, "", 0, 1, 1000, policy, 0.0);
    CHECK(redirected.state == sync::DeliveryState::Failing);
    auto old = judgeAttempt(0, "no answer: Timeout was reached", 0, 30, 3 * day, policy, 0.0);
    CHECK(old.state == sync::DeliveryState::GivenUp);
    CHECK(old.error == "no answer: Timeout was reached");
}
