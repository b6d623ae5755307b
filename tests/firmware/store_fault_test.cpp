// Fault injection: every write, sync and truncation of an operation is made to fail in turn, as a
// disk that fills up or breaks at that exact moment would. After each failure the store must give
// a clear error, keep everything saved before, and carry on once the disk works again.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <veld/store.hpp>

#include "support/faulty_vfs.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

struct Saved {
    Uuid id;
    int n;
};

void requireIntact(const std::string& path, const std::vector<Saved>& saved,
                   std::uint64_t lastSeq) {
    // A new connection on the default VFS: it also runs WAL recovery after a failed commit.
    auto store = Store::open(path);
    REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
    for (const auto& s : saved) {
        auto rec = store->get(s.id);
        REQUIRE_MESSAGE(rec, (rec ? "" : rec.error().describe()));
        CHECK(rec->record.content == test::normalized(test::sampleContent(s.n)));
    }
    auto state = store->outboxState();
    REQUIRE(state);
    CHECK(state->lastSeq == lastSeq);
    auto report = store->check(false);
    REQUIRE(report);
    CHECK(report->integrityOk);
    CHECK(report->badBodies.empty());
}

}  // namespace

TEST_CASE("a finalize failing at any write or sync loses nothing and leaves no gap in the outbox") {
    test::registerFaultyVfs();
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    std::vector<Saved> saved;
    std::uint64_t lastSeq = 0;
    int n = 0;
    {
        auto store =
            Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .vfs = test::kFaultyVfs});
        REQUIRE(store);
        for (; n < 5; ++n) {
            saved.push_back({store->finalizeNew(test::sampleContent(n))->id, n});
            ++lastSeq;
        }
    }

    for (int error : {SQLITE_FULL, SQLITE_IOERR_WRITE}) {
        CAPTURE(error);
        int failures = 0;
        for (long ok = 0;; ++ok) {
            CAPTURE(ok);
            auto store = Store::open(path, {.vfs = test::kFaultyVfs});
            REQUIRE(store);
            test::failAfter(ok, error);
            auto result = store->finalizeNew(test::sampleContent(n));
            bool hit = test::faultHit();
            test::clearFaults();
            if (result) {
                // Either no fault was reached, or it came after the commit (a checkpoint).
                CHECK(result->seq == lastSeq + 1);
                saved.push_back({result->id, n});
                ++lastSeq;
            } else {
                ++failures;
                CHECK(hit);
                CHECK(result.error().code == ErrorCode::StorageFull);
            }
            ++n;
            // The same Store carries on once the disk works again, with the next number.
            auto next = store->finalizeNew(test::sampleContent(n));
            REQUIRE_MESSAGE(next, (next ? "" : next.error().describe()));
            CHECK(next->seq == lastSeq + 1);
            saved.push_back({next->id, n});
            ++lastSeq;
            ++n;
            requireIntact(path, saved, lastSeq);
            if (!hit) break;  // every write of a finalize has now failed once
        }
        CHECK(failures > 5);
    }
}

TEST_CASE("an acknowledgement or a draft failing at any write leaves the store as it was") {
    test::registerFaultyVfs();
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    {
        auto store =
            Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .vfs = test::kFaultyVfs});
        REQUIRE(store);
        for (int i = 0; i < 40; ++i)
            REQUIRE(store->finalizeNew(test::sampleContent(i)));
    }
    std::uint64_t acked = 0;
    for (long ok = 0;; ++ok) {
        CAPTURE(ok);
        auto store = Store::open(path, {.vfs = test::kFaultyVfs});
        REQUIRE(store);
        auto before = store->outboxState().value();
        std::int64_t draftsBefore = store->info()->drafts;
        test::failAfter(ok, SQLITE_FULL);
        auto ack = store->acknowledgeThrough(acked + 1);
        auto draft = store->saveDraft(test::sampleContent(1000 + static_cast<int>(ok)));
        bool hit = test::faultHit();
        test::clearFaults();

        auto after = store->outboxState().value();
        if (ack) {
            ++acked;
            CHECK(after.ackedThrough == acked);
            CHECK(after.pending == before.pending - 1);
        } else {
            CHECK(ack.error().code == ErrorCode::StorageFull);
            CHECK(after.ackedThrough == before.ackedThrough);
            CHECK(after.pending == before.pending);
        }
        CHECK(store->info()->drafts == draftsBefore + (draft ? 1 : 0));
        if (!draft) CHECK(draft.error().code == ErrorCode::StorageFull);
        CHECK(store->check(false)->ok());
        if (!hit) break;
    }
    CHECK(acked >= 1);
}
