// Cases and randomisation on the PostgreSQL backend where only it can be tried: two store objects
// on one database, each with its own connections, play two collector processes working at the
// same moment. Blocks are dealt once, pulls never skip a block or a case change, and the
// allocation log verifies.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/study_json.hpp>

#include "postgres/pg.hpp"
#include "support/pg_cluster.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

struct TwoCollectors {
    std::string location = test::sharedPgCluster().createDatabase();
    std::unique_ptr<sync::CollectorStore> a;
    std::unique_ptr<sync::CollectorStore> b;
    std::int64_t now = SystemClock::instance().nowMillis();

    TwoCollectors() {
        auto first = sync::openCollector(location, true);
        REQUIRE_MESSAGE(first, first.error().describe());
        a = std::move(first.value());
        auto second = sync::openCollector(location, false);
        REQUIRE_MESSAGE(second, second.error().describe());
        b = std::move(second.value());
    }

    sync::CollectorStore& either(std::size_t i) { return i % 2 == 0 ? *a : *b; }

    Uuid device(const std::string& team = {}) {
        sync::EnrolRequest request;
        request.code = a->createEnrolCode("tablet", now, "test").value();
        request.deviceId = makeUuidV4();
        REQUIRE(a->enrol(request, now));
        if (!team.empty()) REQUIRE(a->setDeviceTeam(request.deviceId, team, now, "test"));
        return request.deviceId;
    }
};

sync::StudyDefinition study() {
    sync::StudyDefinition d;
    d.study.id = "trial";
    d.study.pilot = "test";
    d.study.arms = {{"treatment", 1}, {"control", 1}};
    d.study.factors = {{"site", {"north", "south", "east"}}};
    d.study.blockSizes = {2, 4};
    d.study.lowSlots = 2;
    d.blocksPerDevice = 1;
    return d;
}

sync::PushRevision revisionOf(const Record& r, std::uint64_t seq) {
    sync::PushRevision rev;
    rev.seq = seq;
    rev.recordId = r.id;
    rev.hlc = r.hlc;
    auto body = encodeRecord(r);
    REQUIRE_MESSAGE(body, body.error().describe());
    rev.body = std::move(body.value());
    rev.formId = r.content.formId;
    rev.formVersion = r.content.formVersion;
    return rev;
}

Record caseRecord(const Uuid& device, const Uuid& caseId, HlcTimestamp hlc, CaseAction action,
                  std::vector<CasePropertyValue> properties) {
    Record r;
    r.id = makeUuidV7(SystemClock::instance());
    r.deviceId = device;
    r.hlc = hlc;
    r.createdHlc = hlc;
    r.finalized = true;
    r.content.formId = action == CaseAction::Open ? "ips_intake" : "ips_session";
    r.content.formVersion = 1;
    r.content.caseId = caseId;
    CaseChange change;
    change.action = action;
    if (action == CaseAction::Open) change.caseType = "participant";
    std::sort(properties.begin(), properties.end(),
              [](const auto& x, const auto& y) { return x.name < y.name; });
    change.properties = std::move(properties);
    r.content.caseChange = std::move(change);
    return r;
}

// A device as the collector sees it: its box key pair, its cursors and the slots it opened.
struct Device {
    Uuid id;
    std::pair<std::array<std::uint8_t, 32>, std::array<std::uint8_t, 32>> keys =
        alloc::newBoxKeyPair();
    std::uint64_t allocationCursor = 0;
    std::map<std::string, std::vector<alloc::Slot>> slots;  // per stratum, (block, position)
    std::set<std::tuple<std::string, std::uint32_t>> blocks;
    std::size_t blocksTwice = 0;  // a block received again after the cursor passed it
    std::uint64_t sent = 0;

    // Pulls through `store` until nothing more comes; the caller checks errors.
    Status pullAll(sync::CollectorStore& store, std::int64_t now,
                   const std::vector<sync::StratumStock>& stock) {
        for (int page = 0; page < 100; ++page) {
            sync::PullRequest request;
            request.allocationCursor = allocationCursor;
            request.caseCursor = ~std::uint64_t{0} >> 1;  // cases do not matter here
            request.deviceBoxKey.assign(keys.first.begin(), keys.first.end());
            request.stock = stock;
            auto reply = store.pull(id, request, 16, now);
            if (!reply) return reply.error();
            for (const auto& b : reply->blocks) {
                if (!blocks.insert({b.stratum, b.block}).second) ++blocksTwice;
                for (const auto& s : b.slots) {
                    auto opened = alloc::openSlot(s.box, keys.first, keys.second);
                    if (!opened) return opened.error();
                    slots[b.stratum].push_back(opened.value());
                }
            }
            allocationCursor = reply->allocationCursor;
            if (!reply->more) break;
        }
        for (auto& [stratum, list] : slots) {
            std::sort(list.begin(), list.end(), [](const auto& x, const auto& y) {
                return std::pair(x.block, x.position) < std::pair(y.block, y.position);
            });
        }
        return {};
    }
};

}  // namespace

TEST_CASE(
    "postgres: two collectors dealing one study's blocks at once give every block to one "
    "device, and the allocation log verifies") {
    TwoCollectors c;
    REQUIRE(c.a->defineStudy(study(), c.now, "anna").value());
    constexpr std::size_t kDevices = 8;
    constexpr int kRounds = 6;
    std::vector<Device> devices(kDevices);
    for (auto& d : devices)
        d.id = c.device();

    // Every device, on its own thread and through either collector in turn, asks for blocks at
    // every pull (it reports none left) while staff deal it more by hand on the other collector.
    std::mutex failuresMutex;
    std::vector<std::string> failures;
    std::atomic<std::size_t> dealtByHand{0};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < kDevices; ++i) {
        threads.emplace_back([&, i] {
            Device& d = devices[i];
            const std::vector<sync::StratumStock> none = {
                {"trial", "site=north", 0}, {"trial", "site=south", 0}, {"trial", "site=east", 0}};
            for (int round = 0; round < kRounds; ++round) {
                auto pulled = d.pullAll(c.either(i + static_cast<std::size_t>(round)), c.now, none);
                auto dealt = c.either(i + static_cast<std::size_t>(round) + 1)
                                 .allocateBlocks("trial", d.id, 1, c.now, "anna");
                std::lock_guard lock(failuresMutex);
                if (!pulled) failures.push_back("pull: " + pulled.error().describe());
                if (!dealt) {
                    failures.push_back("deal: " + dealt.error().describe());
                } else {
                    dealtByHand += dealt->size();
                }
            }
        });
    }
    for (auto& t : threads)
        t.join();
    for (const auto& f : failures)
        FAIL_CHECK(f);
    REQUIRE(failures.empty());
    // The blocks dealt by hand after each device's last pull arrive at one more pull.
    for (auto& d : devices)
        REQUIRE(d.pullAll(*c.a, c.now,
                          {{"trial", "site=north", 99},
                           {"trial", "site=south", 99},
                           {"trial", "site=east", 99}}));

    // No block of a stratum went to two devices, and the blocks are numbered without gaps.
    std::map<std::string, std::map<std::uint32_t, Uuid>> owner;
    std::size_t received = 0;
    for (const auto& d : devices) {
        CHECK(d.blocksTwice == 0);
        for (const auto& held : d.blocks) {
            const std::string& stratum = std::get<0>(held);
            const std::uint32_t block = std::get<1>(held);
            const bool added = owner[stratum].emplace(block, d.id).second;
            CHECK_MESSAGE(added, "block " << block << " of " << stratum << " reached two devices");
            ++received;
        }
    }
    for (const auto& [stratum, blocks] : owner) {
        REQUIRE(!blocks.empty());
        CHECK(blocks.rbegin()->first + 1 == blocks.size());
    }
    // Every block dealt reached its device: each device's first pull (it reports no slots left)
    // tops it up with one block per stratum, and staff dealt one per stratum at every round (a
    // later pull finds those on their way and tops up nothing).
    auto balance = c.b->balance("trial");
    REQUIRE(balance);
    std::int64_t dealtTotal = 0;
    for (const auto& s : balance->strata)
        dealtTotal += s.dealtBlocks;
    CHECK(static_cast<std::size_t>(dealtTotal) == received);
    CHECK(dealtByHand.load() == kDevices * kRounds * 3);
    CHECK(received == kDevices * (kRounds + 1) * 3);

    // Each device allocates a case into its first slot of every stratum, through either
    // collector at once; the log then verifies with no problem.
    threads.clear();
    for (std::size_t i = 0; i < kDevices; ++i) {
        threads.emplace_back([&, i] {
            Device& d = devices[i];
            sync::PushBatch batch;
            batch.deviceId = d.id;
            std::uint64_t log = 0;
            for (const auto& [stratum, slots] : d.slots) {
                const alloc::Slot& slot = slots.front();
                const auto hlc = HlcTimestamp::make(static_cast<std::uint64_t>(c.now) + log, 0);
                Record r =
                    caseRecord(d.id, makeUuidV4(), hlc, CaseAction::Open, {{"arm", slot.arm, {}}});
                r.content.allocation =
                    alloc::allocationOf(slot, ++log, static_cast<std::int64_t>(hlc.millis()));
                batch.revisions.push_back(revisionOf(r, ++d.sent));
            }
            auto pushed = c.either(i).push(d.id, batch, c.now);
            std::lock_guard lock(failuresMutex);
            if (!pushed) failures.push_back("push: " + pushed.error().describe());
        });
    }
    for (auto& t : threads)
        t.join();
    for (const auto& f : failures)
        FAIL_CHECK(f);
    auto verified = c.a->verifyAllocations("trial");
    REQUIRE(verified);
    std::string problems;
    for (const auto& p : verified->problems)
        problems += std::string(sync::allocationProblemName(p.kind)) + ": " + p.detail + "\n";
    CHECK_MESSAGE(verified->ok(), problems);
    CHECK(verified->allocations == static_cast<std::int64_t>(kDevices * 3));
    CHECK(verified->devices == static_cast<std::int64_t>(kDevices));
    CHECK(c.b->allocationLog("trial")->size() == kDevices * 3);
}

TEST_CASE(
    "postgres: a team's device pulling while two collectors take case changes at once misses "
    "none of them") {
    TwoCollectors c;
    constexpr std::size_t kWriters = 4;
    constexpr int kChanges = 25;
    std::vector<Uuid> writers;
    for (std::size_t i = 0; i < kWriters; ++i)
        writers.push_back(c.device("north"));
    const Uuid reader = c.device("north");

    // Each writer opens a case of its own, then changes its "visits" property again and again
    // (each change seeing the last), through either collector at once.
    std::vector<Uuid> caseIds(kWriters);
    for (auto& id : caseIds)
        id = makeUuidV4();
    std::atomic<bool> writing{true};
    std::mutex failuresMutex;
    std::vector<std::string> failures;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < kWriters; ++i) {
        threads.emplace_back([&, i] {
            std::uint64_t seq = 0;
            HlcTimestamp last{};
            for (int k = 0; k <= kChanges; ++k) {
                const auto hlc = HlcTimestamp::make(static_cast<std::uint64_t>(c.now + k), 0);
                Record r = caseRecord(writers[i], caseIds[i], hlc,
                                      k == 0 ? CaseAction::Open : CaseAction::FollowUp,
                                      {{"visits", std::to_string(k), last}});
                last = hlc;
                sync::PushBatch batch;
                batch.deviceId = writers[i];
                batch.revisions.push_back(revisionOf(r, ++seq));
                auto pushed =
                    c.either(i + static_cast<std::size_t>(k)).push(writers[i], batch, c.now);
                if (!pushed) {
                    std::lock_guard lock(failuresMutex);
                    failures.push_back("push: " + pushed.error().describe());
                }
            }
        });
    }
    // The reader pulls over and over meanwhile, keeping the newest value of each case it hears.
    std::map<Uuid, std::pair<std::uint64_t, std::string>> heard;  // case: HLC, visits
    std::uint64_t cursor = 0;
    std::size_t pulls = 0;
    const auto pullOnce = [&](sync::CollectorStore& store) {
        for (;;) {
            sync::PullRequest request;
            request.caseCursor = cursor;
            auto reply = store.pull(reader, request, 16, c.now);
            REQUIRE_MESSAGE(reply, reply.error().describe());
            ++pulls;
            for (const auto& k : reply->cases) {
                CHECK(k.update.assigned);
                for (const auto& p : k.update.properties) {
                    if (p.name != "visits") continue;
                    auto& h = heard[k.update.id];
                    if (p.hlc.value >= h.first) h = {p.hlc.value, p.value};
                }
            }
            CHECK(reply->caseCursor >= cursor);
            cursor = reply->caseCursor;
            if (!reply->more) break;
        }
    };
    std::thread readerThread([&] {
        std::size_t i = 0;
        while (writing.load())
            pullOnce(c.either(i++));
    });
    for (auto& t : threads)
        t.join();
    writing = false;
    readerThread.join();
    for (const auto& f : failures)
        FAIL_CHECK(f);
    // One last pull from where its cursor stopped: the reader then holds every case's last value.
    pullOnce(*c.b);
    CHECK(pulls > 2);
    for (std::size_t i = 0; i < kWriters; ++i) {
        INFO("case of writer " << i);
        CHECK(heard[caseIds[i]].second == std::to_string(kChanges));
    }
    // And the collector agrees: no conflicts, every change numbered once.
    CHECK(c.a->caseConflicts(true)->empty());
    auto cases = c.b->cases({});
    REQUIRE(cases);
    std::set<std::uint64_t> numbers;
    for (const auto& k : cases.value())
        numbers.insert(k.changeSeq);
    CHECK(numbers.size() == kWriters);
}

TEST_CASE(
    "postgres: a case change whose collector died before numbering it reaches the team at the "
    "next pull, and numbering it again changes nothing") {
    TwoCollectors c;
    const Uuid writer = c.device("north");
    const Uuid reader = c.device("north");
    const auto pullCases = [&](sync::CollectorStore& store, std::uint64_t& cursor) {
        std::map<Uuid, std::string> visits;
        for (int page = 0; page < 10; ++page) {
            sync::PullRequest request;
            request.caseCursor = cursor;
            auto reply = store.pull(reader, request, 16, c.now);
            REQUIRE_MESSAGE(reply, reply.error().describe());
            for (const auto& k : reply->cases)
                for (const auto& p : k.update.properties)
                    if (p.name == "visits") visits[k.update.id] = p.value;
            cursor = reply->caseCursor;
            if (!reply->more) break;
        }
        return visits;
    };
    const Uuid caseId = makeUuidV4();
    const auto first = HlcTimestamp::make(static_cast<std::uint64_t>(c.now), 0);
    sync::PushBatch batch;
    batch.deviceId = writer;
    batch.revisions.push_back(
        revisionOf(caseRecord(writer, caseId, first, CaseAction::Open, {{"visits", "1", {}}}), 1));
    REQUIRE(c.a->push(writer, batch, c.now));
    std::uint64_t cursor = 0;
    CHECK(pullCases(*c.b, cursor) == std::map<Uuid, std::string>{{caseId, "1"}});
    CHECK(pullCases(*c.b, cursor).empty());

    // A second change committed, then its collector died before it numbered the case: the case
    // is left as "changed, not numbered yet", which no pull may deliver as it is.
    batch.revisions = {revisionOf(
        caseRecord(writer, caseId, HlcTimestamp::make(static_cast<std::uint64_t>(c.now) + 1, 0),
                   CaseAction::FollowUp, {{"visits", "2", first}}),
        2)};
    REQUIRE(c.a->push(writer, batch, c.now));
    {
        auto conn = pg::Connection::open({c.location, {}});
        REQUIRE_MESSAGE(conn, conn.error().describe());
        REQUIRE(conn->run("UPDATE cases SET change_seq = 0"));
    }
    // The other collector's next pull numbers it first, and the team's device hears of it.
    CHECK(pullCases(*c.b, cursor) == std::map<Uuid, std::string>{{caseId, "2"}});
    CHECK(pullCases(*c.a, cursor).empty());
    // A collector opened later finds nothing left to number; the case keeps its number.
    const auto numbered = c.b->cases({}).value().at(0).changeSeq;
    CHECK(numbered > 1);
    REQUIRE(sync::openCollector(c.location, false));
    CHECK(c.a->cases({}).value().at(0).changeSeq == numbered);
    CHECK(pullCases(*c.a, cursor).empty());
}
