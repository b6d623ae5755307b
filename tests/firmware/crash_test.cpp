// Kills a process that is finalizing records with SIGKILL at random moments and checks that every
// record whose finalize had returned is present and intact, that the outbox numbering has no
// gaps, and that SQLite's integrity check passes.
#include <chrono>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>
#include <signal.h>

#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;

TEST_CASE("every acknowledged finalize survives SIGKILL at random moments") {
    constexpr int kRounds = 60;
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    std::mt19937 rng(std::random_device{}());

    struct Acked {
        std::uint64_t seq;
        int n;
    };
    std::map<Uuid, Acked> acked;
    std::uint64_t ackedThrough = 0;
    int killedMidWork = 0;

    for (int round = 0; round < kRounds; ++round) {
        test::ChildProcess child(
            {test::binary("veld-test-crash-child"), path, std::to_string(round * 100000)});
        REQUIRE_MESSAGE(child.waitForLine("READY", 30000),
                        "child did not start: " << child.output());
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 60000));
        child.kill(SIGKILL);
        auto result = child.wait();
        REQUIRE_MESSAGE(result.signal == SIGKILL, "the child stopped by itself: " << result.out);
        ++killedMidWork;

        // Only complete lines count: a line cut by the kill was not fully reported.
        std::istringstream lines(result.out);
        std::string line;
        while (std::getline(lines, line)) {
            if (lines.eof()) break;  // no newline: incomplete
            std::istringstream fields(line);
            std::string kind;
            fields >> kind;
            if (kind == "F") {
                std::string id;
                Acked a{};
                fields >> id >> a.seq >> a.n;
                auto uuid = Uuid::parse(id);
                REQUIRE(uuid);
                acked[*uuid] = a;
            } else if (kind == "A") {
                std::uint64_t seq = 0;
                fields >> seq;
                ackedThrough = std::max(ackedThrough, seq);
            }
        }

        auto store = Store::open(path);
        REQUIRE_MESSAGE(store,
                        "round " << round << ": " << (store ? "" : store.error().describe()));
        for (const auto& [id, a] : acked) {
            auto rec = store->get(id);
            REQUIRE_MESSAGE(rec, "round " << round << ": lost " << id.toString() << ": "
                                          << (rec ? "" : rec.error().describe()));
            CHECK(rec->record.finalized);
            CHECK(rec->record.content == test::normalized(test::sampleContent(a.n)));
        }
        auto state = store->outboxState();
        REQUIRE(state);
        CHECK(state->ackedThrough >= ackedThrough);
        auto pending = store->outboxPending(1000000, std::size_t{1} << 40);
        REQUIRE(pending);
        std::uint64_t expectSeq = state->ackedThrough + 1;
        for (const auto& entry : *pending) {
            REQUIRE(entry.seq == expectSeq);
            CHECK_FALSE(entry.damaged);
            ++expectSeq;
        }
        CHECK(expectSeq == state->lastSeq + 1);
        for (const auto& [id, a] : acked) {
            CHECK(a.seq <= state->lastSeq);
            auto status = store->get(id)->meta.status;
            CHECK(status ==
                  (a.seq <= state->ackedThrough ? RecordStatus::Sent : RecordStatus::Finalized));
        }
        auto report = store->check(false);
        REQUIRE(report);
        CHECK(report->integrityOk);
        CHECK(report->badBodies.empty());
    }
    MESSAGE(kRounds << " rounds, " << acked.size() << " acknowledged finalizes checked");
    CHECK(killedMidWork == kRounds);
    CHECK(acked.size() > 100);
}
