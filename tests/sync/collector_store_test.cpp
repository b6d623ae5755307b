// The collector's SQLite store used from many threads at once, as the server's workers use it:
// concurrent pushes are committed together, and a push that is refused undoes only itself.
#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/record.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "support/sync_support.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

sync::PushRevision revision(std::uint64_t seq) {
    sync::PushRevision r;
    r.seq = seq;
    r.recordId = makeUuidV7(SystemClock::instance());
    r.hlc = HlcTimestamp::make(static_cast<std::uint64_t>(SystemClock::instance().nowMillis()), 0);
    r.body.assign(64, static_cast<std::uint8_t>(seq));
    r.formId = "survey";
    r.formVersion = 1;
    return r;
}

// Enrols a new device with a fresh code, as a tablet would: its id.
Uuid enrolDevice(sync::CollectorStore& store, std::int64_t now) {
    sync::EnrolRequest request;
    request.code = store.createEnrolCode("tablet", now, "test").value();
    request.deviceId = makeUuidV4();
    REQUIRE(store.enrol(request, now));
    return request.deviceId;
}

}  // namespace

TEST_CASE("concurrent pushes are all stored, and a refused one undoes only itself") {
    test::TempDir dir;
    auto opened = sync::openCollector(test::testCollectorLocation(dir), true);
    REQUIRE_MESSAGE(opened, opened.error().describe());
    std::shared_ptr<sync::CollectorStore> store = std::move(opened.value());
    const std::int64_t now = SystemClock::instance().nowMillis();

    constexpr int kDevices = 8;
    constexpr int kRounds = 40;
    constexpr std::uint64_t kBatch = 5;
    std::vector<Uuid> devices;
    for (int d = 0; d < kDevices; ++d) {
        devices.push_back(enrolDevice(*store, now));
    }

    std::atomic<int> wrong{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int d = 0; d < kDevices; ++d) {
        threads.emplace_back([&, d] {
            std::uint64_t through = 0;
            for (int round = 0; round < kRounds; ++round) {
                sync::PushBatch good;
                good.deviceId = devices[static_cast<std::size_t>(d)];
                for (std::uint64_t k = 1; k <= kBatch; ++k)
                    good.revisions.push_back(revision(through + k));
                auto reply = store->push(good.deviceId, good, now);
                if (!reply || reply->receivedThrough != through + kBatch) ++wrong;
                through += kBatch;
                if (round % 3 == 0) {
                    // The next revision, then a gap: the first is stored inside the push's own
                    // savepoint before the gap is found, and must go with it.
                    sync::PushBatch bad;
                    bad.deviceId = good.deviceId;
                    bad.revisions.push_back(revision(through + 1));
                    bad.revisions.push_back(revision(through + 3));
                    auto refusal = store->push(bad.deviceId, bad, now);
                    if (!refusal && refusal.error().code == ErrorCode::WrongState) {
                        ++refused;
                    } else {
                        ++wrong;
                    }
                }
            }
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(wrong == 0);
    CHECK(refused == kDevices * ((kRounds + 2) / 3));

    const auto stats = store->stats();
    REQUIRE(stats);
    CHECK(stats->revisions == kDevices * kRounds * static_cast<std::int64_t>(kBatch));
    CHECK(stats->records == stats->revisions);
    const auto held = store->devices();
    REQUIRE(held);
    for (const auto& device : held.value())
        CHECK(device.receivedThrough == kRounds * kBatch);
}

TEST_CASE("staff review a record: states change, the history and the audit log keep every step") {
    test::TempDir dir;
    auto store = sync::openCollector(test::testCollectorLocation(dir), true).value();
    const std::int64_t now = SystemClock::instance().nowMillis();
    const Uuid deviceId = enrolDevice(*store, now);
    sync::PushBatch batch;
    batch.deviceId = deviceId;
    batch.revisions = {revision(1), revision(2)};
    REQUIRE(store->push(batch.deviceId, batch, now));
    const Uuid first = batch.revisions[0].recordId;
    const Uuid second = batch.revisions[1].recordId;

    // Everything arrives as "received".
    CHECK(store->review(first)->state == sync::ReviewState::Received);
    CHECK(store->review(first)->history.empty());
    CHECK(store->recordsInReview(sync::ReviewState::Received)->size() == 2);

    REQUIRE(store->setReview(first, sync::ReviewState::HasIssues, "age 212 looks like a typo",
                             now + 1, "anna"));
    REQUIRE(store->setReview(first, sync::ReviewState::Approved, "checked with the coach", now + 2,
                             "bram"));
    const auto review = store->review(first);
    REQUIRE(review);
    CHECK(review->state == sync::ReviewState::Approved);
    REQUIRE(review->history.size() == 2);
    CHECK(review->history[0].state == sync::ReviewState::HasIssues);
    CHECK(review->history[0].comment == "age 212 looks like a typo");
    CHECK(review->history[0].actor == "anna");
    CHECK(review->history[1].actor == "bram");
    CHECK(store->recordsInReview(sync::ReviewState::Approved).value() == std::vector<Uuid>{first});
    CHECK(store->recordsInReview(sync::ReviewState::Received).value() == std::vector<Uuid>{second});

    // The audit log has both changes, naming record and state but not the comment.
    int reviews = 0;
    const auto audit = store->audit();
    REQUIRE(audit);
    for (const auto& entry : *audit) {
        if (entry.action != "review") continue;
        ++reviews;
        CHECK(entry.subject == first.toString());
        CHECK(entry.detail.find("typo") == std::string::npos);
    }
    CHECK(reviews == 2);

    // An unknown record and an oversized comment are refused, and change nothing.
    auto unknown = store->setReview(makeUuidV4(), sync::ReviewState::Rejected, "", now, "anna");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == ErrorCode::NotFound);
    auto longComment =
        store->setReview(second, sync::ReviewState::Rejected,
                         std::string(sync::kMaxReviewCommentBytes + 1, 'x'), now, "anna");
    REQUIRE_FALSE(longComment);
    CHECK(longComment.error().code == ErrorCode::InvalidArgument);
    CHECK(store->review(second)->state == sync::ReviewState::Received);

    // Names round-trip, for the command line and the admin API.
    for (auto s : {sync::ReviewState::Received, sync::ReviewState::HasIssues,
                   sync::ReviewState::Approved, sync::ReviewState::Rejected})
        CHECK(sync::parseReviewState(sync::reviewStateName(s)) == s);
    CHECK_FALSE(sync::parseReviewState("fine"));
}

TEST_CASE(
    "sqlite-file: a collector store of the first version is upgraded when opened, keeping its "
    "data") {
    test::TempDir dir;
    const std::string path = dir.file("collector.db");
    const std::int64_t now = SystemClock::instance().nowMillis();
    Uuid record;
    {
        auto store = sync::openSqliteCollector(path, true).value();
        const Uuid deviceId = enrolDevice(*store, now);
        sync::PushBatch batch;
        batch.deviceId = deviceId;
        batch.revisions = {revision(1)};
        record = batch.revisions[0].recordId;
        REQUIRE(store->push(batch.deviceId, batch, now));
    }
    {
        // Back to the first version's shape, as a collector from before reviews left it.
        auto db = sql::Database::open(path, sql::OpenMode::ReadWrite).value();
        REQUIRE(db.exec(
            "DROP TABLE review_history; DROP TABLE reviews; DROP TABLE "
            "duplicate_decisions; DROP TABLE admins; ALTER TABLE devices DROP COLUMN "
            "waiting; DROP INDEX revisions_flagged; DROP TABLE allocations; DROP TABLE "
            "study_blocks; DROP TABLE studies; DROP TABLE case_conflicts; DROP TABLE "
            "case_properties; DROP TABLE case_holders; DROP TABLE cases; ALTER TABLE "
            "devices DROP COLUMN team; ALTER TABLE devices DROP COLUMN box_key; ALTER "
            "TABLE enrol_codes DROP COLUMN for_device; ALTER TABLE revisions DROP COLUMN "
            "chain_prev; "
            "ALTER TABLE revisions DROP COLUMN chain_link; ALTER TABLE revisions DROP "
            "COLUMN chain_note; DROP TABLE webhook_deliveries; DROP TABLE webhooks; DROP TABLE "
            "correction_devices; DROP TABLE corrections; "
            "PRAGMA user_version = 1"));
    }
    auto store = sync::openSqliteCollector(path, false);
    REQUIRE_MESSAGE(store, store.error().describe());
    CHECK(store.value()->stats()->records == 1);
    CHECK(store.value()->review(record)->state == sync::ReviewState::Received);
    REQUIRE(store.value()->setReview(record, sync::ReviewState::Approved, "", now, "anna"));
    auto db = sql::Database::open(path, sql::OpenMode::ReadOnly).value();
    CHECK(db.queryInt("PRAGMA user_version").value() == sync::kCollectorSchemaVersion);
    // Webhooks (version 8) work on the upgraded file.
    CHECK(store.value()->addWebhook("https://example.org/h", {"review.changed"}, {}, now, "anna"));
    REQUIRE(store.value()->setReview(record, sync::ReviewState::Rejected, "", now, "anna"));
    CHECK(store.value()->undeliveredCount().value() == 1);
    auto devices = store.value()->devices();
    REQUIRE(devices);
    REQUIRE(devices->size() == 1);
    CHECK_FALSE(devices->front().waiting.has_value());  // the upgrade adds it, unknown yet
    CHECK(devices->front().team.empty());
    CHECK_FALSE(devices->front().hasBoxKey);
    // The cases and studies of version 5 work on the upgraded file.
    sync::StudyDefinition study;
    study.study.id = "upgraded";
    study.study.arms = {{"a", 1}, {"b", 1}};
    study.study.blockSizes = {2};
    CHECK(store.value()->defineStudy(study, now, "anna").value());
    REQUIRE(store.value()->setDeviceTeam(devices->front().deviceId, "north", now, "anna"));
    CHECK(store.value()->devices()->front().team == "north");
}

namespace {

// A revision of `recordId` made on `device` with these answers, as its outbox would send it.
sync::PushRevision revisionOf(const Uuid& device, const Uuid& recordId, std::uint64_t seq,
                              HlcTimestamp hlc, RecordContent content) {
    Record r;
    r.id = recordId;
    r.deviceId = device;
    r.hlc = hlc;
    r.createdHlc = hlc;
    r.finalized = true;
    r.content = std::move(content);
    sync::PushRevision rev;
    rev.seq = seq;
    rev.recordId = recordId;
    rev.hlc = hlc;
    rev.body = encodeRecord(r).value();
    rev.formId = r.content.formId;
    rev.formVersion = r.content.formVersion;
    return rev;
}

}  // namespace

TEST_CASE("a collector store from a newer collector, or another file, is refused untouched") {
    test::TempDir dir;
    const std::string path = dir.file("collector.db");
    std::string id;
    {
        auto store = sync::openSqliteCollector(path, true);
        REQUIRE_MESSAGE(store, store.error().describe());
        id = store.value()->collectorId().value();
        CHECK(id.rfind("veld-collector-", 0) == 0);
    }
    {
        // Opened again: the same collector (its id is made once).
        auto store = sync::openSqliteCollector(path, false);
        REQUIRE(store);
        CHECK(store.value()->collectorId().value() == id);
    }
    {
        auto db = sql::Database::open(path, sql::OpenMode::ReadWrite).value();
        REQUIRE(
            db.exec("PRAGMA user_version = " + std::to_string(sync::kCollectorSchemaVersion + 1)));
    }
    auto newer = sync::openSqliteCollector(path, false);
    REQUIRE_FALSE(newer);
    CHECK(newer.error().code == ErrorCode::TooNew);
    CHECK(newer.error().message.find("newer Veld collector") != std::string::npos);
    {
        auto db = sql::Database::open(path, sql::OpenMode::ReadOnly).value();
        CHECK(db.queryInt("PRAGMA user_version").value() == sync::kCollectorSchemaVersion + 1);
    }

    const std::string other = dir.file("other.db");
    {
        auto db = sql::Database::open(other, sql::OpenMode::ReadWriteCreate).value();
        REQUIRE(db.exec("CREATE TABLE notes (x)"));
    }
    auto refused = sync::openSqliteCollector(other, false);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::NotAStore);
    CHECK(refused.error().message.find("not a Veld collector store") != std::string::npos);
    auto db = sql::Database::open(other, sql::OpenMode::ReadOnly).value();
    CHECK(db.queryInt("SELECT count(*) FROM sqlite_schema").value() == 1);
}

TEST_CASE("staff settle a conflict by keeping one side or merging, and every revision stays") {
    test::TempDir dir;
    auto store = sync::openCollector(test::testCollectorLocation(dir), true).value();
    const std::int64_t now = SystemClock::instance().nowMillis();
    std::vector<Uuid> devices;
    for (int d = 0; d < 2; ++d) {
        devices.push_back(enrolDevice(*store, now));
    }
    // Two records, each edited on both devices without either seeing the other.
    const auto base = static_cast<std::uint64_t>(now);
    std::vector<Uuid> records{makeUuidV7(SystemClock::instance()),
                              makeUuidV7(SystemClock::instance())};
    for (int d = 0; d < 2; ++d) {
        sync::PushBatch batch;
        batch.deviceId = devices[static_cast<std::size_t>(d)];
        for (std::size_t i = 0; i < records.size(); ++i)
            batch.revisions.push_back(
                revisionOf(batch.deviceId, records[i], i + 1,
                           HlcTimestamp::make(base + static_cast<std::uint64_t>(d), 0),
                           test::sampleContent(d == 0 ? 10 : 11)));
        REQUIRE(store->push(batch.deviceId, batch, now));
    }
    auto open = store->conflicts();
    REQUIRE(open);
    REQUIRE(open->size() == 2);

    SUBCASE("keeping B makes B's answers current, under the collector's own revision") {
        const auto first = open->at(0);
        auto resolved = store->resolveConflict(
            first.id, {sync::ConflictResolution::Kind::KeepB, {}, "B is the later interview"},
            now + 5, "anna");
        REQUIRE_MESSAGE(resolved, resolved.error().describe());
        auto current = store->current(first.recordId);
        REQUIRE(current);
        REQUIRE(current->has_value());
        const auto body = decodeRecord((*current)->body);
        REQUIRE(body);
        CHECK(body->content.answers == test::normalized(test::sampleContent(11)).answers);
        CHECK(body->hlc.value > first.hlcA.value);
        CHECK(body->hlc.value > first.hlcB.value);
        // Three revisions now: both devices' and the resolution; none was removed.
        CHECK(store->revisionsOf(first.recordId)->size() == 3);
        CHECK(store->conflicts()->size() == 1);
        // Settled once only.
        auto again = store->resolveConflict(first.id, {}, now + 6, "anna");
        REQUIRE_FALSE(again);
        CHECK(again.error().code == ErrorCode::WrongState);
        int resolves = 0;
        const auto audit = store->audit();
        REQUIRE(audit);
        for (const auto& e : *audit)
            if (e.action == "resolve" && e.subject == first.recordId.toString()) ++resolves;
        CHECK(resolves == 1);
    }
    SUBCASE("a merge takes the named answers from B and the rest from A") {
        const auto second = open->at(1);
        sync::ConflictResolution merge;
        merge.kind = sync::ConflictResolution::Kind::Merge;
        merge.fromB = {"age", "children"};
        auto resolved = store->resolveConflict(second.id, merge, now + 5, "bram");
        REQUIRE_MESSAGE(resolved, resolved.error().describe());
        const auto body = decodeRecord(resolved->body);
        REQUIRE(body);
        const auto a = test::normalized(test::sampleContent(10));
        const auto b = test::normalized(test::sampleContent(11));
        for (const auto& answer : body->content.answers) {
            const auto& from = answer.name == "age" ? b : a;
            const auto want = std::find_if(from.answers.begin(), from.answers.end(),
                                           [&](const Answer& x) { return x.name == answer.name; });
            REQUIRE(want != from.answers.end());
            CHECK(answer == *want);
        }
        CHECK(body->content.answers.size() == a.answers.size());
        CHECK(body->content.repeats == b.repeats);

        sync::ConflictResolution unknown;
        unknown.kind = sync::ConflictResolution::Kind::Merge;
        unknown.fromB = {"no_such_question"};
        auto refused = store->resolveConflict(open->at(0).id, unknown, now + 6, "bram");
        REQUIRE_FALSE(refused);
        CHECK(refused.error().code == ErrorCode::InvalidArgument);
        CHECK(store->conflicts()->size() == 1);  // the refused one is still open
    }
    auto missing = store->resolveConflict(999, {}, now, "anna");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::NotFound);
}

TEST_CASE(
    "records sharing a pseudonym or every identifying answer are listed as likely duplicates") {
    test::TempDir dir;
    const std::string location = test::testCollectorLocation(dir);
    auto store = sync::openCollector(location, true).value();
    const std::int64_t now = SystemClock::instance().nowMillis();
    // A form whose employee number and birth date identify a person together.
    const auto form = forms::compileFormJson(R"({"id": "register", "version": 1,
      "default_language": "en", "titles": [{"lang": "en", "text": "Register"}],
      "items": [
        {"name": "employee_no", "type": "Integer", "identifying": true,
         "labels": [{"lang": "en", "text": "Employee number"}]},
        {"name": "born", "type": "Date", "identifying": true,
         "labels": [{"lang": "en", "text": "Born"}]},
        {"name": "remark", "type": "Text", "labels": [{"lang": "en", "text": "Remark"}]}]})",
                                             "register.json");
    REQUIRE(form.ok());
    REQUIRE(store->publish(form.binary, now, "test"));
    const Uuid deviceId = enrolDevice(*store, now);

    const auto registration = [](std::int64_t number, std::int32_t born, const char* remark) {
        RecordContent c;
        c.formId = "register";
        c.formVersion = 1;
        c.answers = {
            {"born", DateAnswer{born}}, {"employee_no", number}, {"remark", std::string(remark)}};
        return c;
    };
    const std::vector<RecordContent> contents{test::sampleContent(1),
                                              test::sampleContent(2),
                                              test::sampleContent(1),
                                              registration(4711, 9000, "first visit"),
                                              registration(4711, 9000, "second visit"),
                                              registration(4711, 9001, "someone else")};
    sync::PushBatch batch;
    batch.deviceId = deviceId;
    std::vector<Uuid> ids;
    for (std::size_t i = 0; i < contents.size(); ++i) {
        ids.push_back(makeUuidV7(SystemClock::instance()));
        batch.revisions.push_back(revisionOf(
            batch.deviceId, ids.back(), i + 1,
            HlcTimestamp::make(static_cast<std::uint64_t>(now), static_cast<std::uint32_t>(i)),
            contents[i]));
    }
    REQUIRE(store->push(batch.deviceId, batch, now));

    auto groups = store->duplicates();
    REQUIRE(groups);
    REQUIRE(groups->size() == 2);
    std::map<sync::DuplicateGroup::Kind, sync::DuplicateGroup> byKind;
    for (const auto& g : groups.value())
        byKind[g.kind] = g;
    const auto& pseudonym = byKind.at(sync::DuplicateGroup::Kind::SamePseudonym);
    CHECK(pseudonym.records == std::vector<Uuid>{ids[0], ids[2]});
    CHECK(pseudonym.question == "bsn_pseudonym");
    const auto& answers = byKind.at(sync::DuplicateGroup::Kind::SameIdentifyingAnswers);
    CHECK(answers.records == std::vector<Uuid>{ids[3], ids[4]});
    CHECK(answers.question == "register");
    CHECK(answers.key.size() == 64);
    CHECK(answers.decision == sync::DuplicateDecision::Undecided);

    // Staff decide; the decision is listed with the group and audited.
    REQUIRE(store->decideDuplicate(answers.key, sync::DuplicateDecision::SamePerson,
                                   "same employee, two visits", now + 1, "anna"));
    groups = store->duplicates();
    REQUIRE(groups);
    for (const auto& g : groups.value()) {
        if (g.key != answers.key) continue;
        CHECK(g.decision == sync::DuplicateDecision::SamePerson);
        CHECK(g.decidedBy == "anna");
        CHECK(g.comment == "same employee, two visits");
    }
    int audited = 0;
    const auto audit = store->audit();
    REQUIRE(audit);
    for (const auto& e : *audit)
        if (e.action == "duplicates" && e.subject == answers.key) ++audited;
    CHECK(audited == 1);
    // The same through veldctl, on the file the collector has open.
    const auto listed =
        test::runProcess({test::binary("veldctl"), "collector", "duplicates", location});
    REQUIRE(listed.exitCode == 0);
    CHECK(listed.out.find(pseudonym.key + "  same pseudonym (bsn_pseudonym)  undecided") !=
          std::string::npos);
    CHECK(listed.out.find("    " + ids[2].toString()) != std::string::npos);
    CHECK(listed.out.find(answers.key + "  same answers (register)  same person") !=
          std::string::npos);
    REQUIRE(test::runProcess({test::binary("veldctl"), "collector", "decide", location,
                              pseudonym.key, "different-people"})
                .exitCode == 0);
    groups = store->duplicates();
    REQUIRE(groups);
    for (const auto& g : groups.value())
        if (g.key == pseudonym.key) CHECK(g.decision == sync::DuplicateDecision::DifferentPeople);

    auto bad =
        store->decideDuplicate("not-a-key", sync::DuplicateDecision::SamePerson, "", now, "anna");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == ErrorCode::InvalidArgument);
}

TEST_CASE("an export's passes read one snapshot while pushes go on") {
    test::TempDir dir;
    auto store = sync::openCollector(test::testCollectorLocation(dir), true).value();
    const std::int64_t now = SystemClock::instance().nowMillis();
    const Uuid deviceId = enrolDevice(*store, now);
    std::uint64_t seq = 0;
    const auto pushOne = [&] {
        sync::PushBatch batch;
        batch.deviceId = deviceId;
        batch.revisions.push_back(revision(++seq));
        REQUIRE(store->push(batch.deviceId, batch, now));
    };
    for (int i = 0; i < 5; ++i)
        pushOne();
    sync::RecordQuery query;
    query.formId = "survey";
    std::vector<int> seen(2, 0);
    const auto s = store->forEachRecord(
        query, 2,
        [&](int pass) -> Status {
            // A device sends a record between the counting pass and the writing pass.
            if (pass == 1) pushOne();
            return {};
        },
        [&](const sync::CurrentRecord&) -> Status {
            ++seen[seen[0] < 5 ? 0 : 1];
            return {};
        });
    REQUIRE(s);
    CHECK(seen[0] == 5);
    CHECK(seen[1] == 5);  // the new record is not in this export's snapshot
    CHECK(store->countRecords(query).value() == 6);
}
