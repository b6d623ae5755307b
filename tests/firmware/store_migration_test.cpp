#include <fstream>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>

#include "store_schema.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

// Writes a store exactly as a Veld with an older schema version left it: the migrations up to
// `version` only, a device id, two finalized records in the outbox and a draft.
struct OldStore {
    Uuid deviceId = makeUuidV4();
    std::vector<Uuid> ids;
};

OldStore writeOldStore(const std::string& path, int version) {
    REQUIRE(version < Store::kSchemaVersion);
    OldStore out;
    auto db = sql::Database::open(path, sql::OpenMode::ReadWriteCreate, 0);
    REQUIRE(db);
    auto exec = [&](const std::string& text) {
        auto done = db->exec(text);
        REQUIRE_MESSAGE(done, done.error().describe());
    };
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA application_id = " + std::to_string(Store::kApplicationId));
    exec("BEGIN");
    for (const auto& m : store_schema::migrations()) {
        if (m.version <= version) exec(m.sql);
    }
    exec("PRAGMA user_version = " + std::to_string(version));
    auto meta = db->prepare("INSERT INTO meta (key, value) VALUES ('device_id', ?1)");
    REQUIRE(meta);
    meta->bindBlob(1, out.deviceId.bytes);
    REQUIRE(meta->run());

    ManualClock clock(1760000000000);
    auto st = db->prepare(
        "INSERT INTO records (id, form_id, form_version, case_id, status, hlc, created_hlc, "
        "summary, body) VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?5, ?6, ?7)");
    REQUIRE(st);
    for (int i = 0; i < 3; ++i) {
        clock.advance(1000);
        Record r;
        r.id = makeUuidV7(clock);
        r.deviceId = out.deviceId;
        r.hlc = r.createdHlc = HlcTimestamp::make(static_cast<std::uint64_t>(clock.nowMillis()), 0);
        r.finalized = i < 2;
        r.content = test::sampleContent(i);
        auto body = encodeRecord(r).value();
        st->bindBlob(1, r.id.bytes)
            .bind(2, r.content.formId)
            .bind(3, static_cast<std::int64_t>(r.content.formVersion))
            .bind(4, std::int64_t{r.finalized ? 1 : 0})
            .bind(5, static_cast<std::int64_t>(r.hlc.value))
            .bind(6, std::string_view("oud"))
            .bindBlob(7, body);
        REQUIRE(st->run());
        st->reset();
        if (r.finalized) {
            exec("INSERT INTO outbox (seq, record_id, hlc, queued_utc_ms) SELECT " +
                 std::to_string(i + 1) +
                 ", id, hlc, 0 FROM records WHERE rowid = last_insert_rowid()");
        }
        out.ids.push_back(r.id);
    }
    st = sql::Statement();
    meta = sql::Statement();
    exec("COMMIT");
    return out;
}

void setUserVersion(const std::string& path, int version) {
    auto db = sql::Database::open(path, sql::OpenMode::ReadWrite, 0);
    REQUIRE(db);
    REQUIRE(db->exec("PRAGMA user_version = " + std::to_string(version)));
}

}  // namespace

TEST_CASE("stores written by every older schema version are upgraded and keep every record") {
    for (int version = 1; version < Store::kSchemaVersion; ++version) {
        CAPTURE(version);
        test::TempDir dir;
        std::string path = dir.file("old.veld");
        OldStore old = writeOldStore(path, version);

        // A manual clock: ids made here must not move this process's UUIDv7 clock to today.
        ManualClock clock(1'761'000'000'000);
        auto store = Store::open(path, {.clock = &clock});
        REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
        CHECK(store->info()->schemaVersion == Store::kSchemaVersion);
        CHECK(store->deviceId() == old.deviceId);
        for (std::size_t i = 0; i < 3; ++i) {
            auto rec = store->get(old.ids[i]);
            REQUIRE(rec);
            CHECK(rec->record.content ==
                  test::normalized(test::sampleContent(static_cast<int>(i))));
        }
        CHECK(store->info()->finalized == 2);
        CHECK(store->info()->drafts == 1);
        // The outbox carries on where the old version left it, and the new tables work.
        CHECK(store->finalizeNew(test::sampleContent(5))->seq == 3);
        CHECK(store->quarantine()->empty());
        CHECK(store->forms()->empty());
        CHECK(store->setting("pseudonym.key").value() == std::nullopt);
        REQUIRE(store->setSetting("pseudonym.key", "demo:01"));
        // Cases and allocations (version 4) work on the upgraded file.
        CHECK(store->cases({})->empty());
        CHECK(store->allocationLog()->empty());
        const Uuid caseId = makeUuidV4();
        RecordContent open = test::sampleContent(6);
        open.caseId = caseId;
        open.caseChange = CaseChange{CaseAction::Open, "participant", "", {{"label", "A", {}}}};
        REQUIRE(store->finalizeNew(open));
        CHECK(store->caseInfo(caseId)->property("label") == "A");
        RecordContent randomise = test::sampleContent(7);
        randomise.caseId = caseId;
        randomise.allocate = AllocationRequest{"study", ""};
        auto refused = store->finalizeNew(randomise);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().message.find("no allocation left") != std::string::npos);
        REQUIRE(store->boxPublicKey());
        CHECK(store->check(false)->ok());
    }
}

TEST_CASE("the allocation log of an upgraded store is append-only too") {
    test::TempDir dir;
    std::string path = dir.file("old.veld");
    writeOldStore(path, 3);
    REQUIRE(Store::open(path));
    auto db = sql::Database::open(path, sql::OpenMode::ReadWrite, 0);
    REQUIRE(db);
    CHECK(
        db->exec("INSERT INTO allocation_log VALUES (1, 's', '', 0, 0, 'a', x'00', "
                 "zeroblob(16), zeroblob(16), 0)"));
    // The log's triggers came with the upgrade: it is append-only.
    for (const char* change :
         {"UPDATE allocation_log SET arm = 'b'", "DELETE FROM allocation_log"}) {
        auto refused = db->exec(change);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().message.find("append-only") != std::string::npos);
    }
}

TEST_CASE("an old store opened read-only is not silently used half-upgraded") {
    test::TempDir dir;
    std::string path = dir.file("old.veld");
    writeOldStore(path, Store::kSchemaVersion - 1);
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadOnly});
    REQUIRE_FALSE(store);
    CHECK(store.error().code == ErrorCode::ReadOnly);
    CHECK(store.error().message.find("upgrading") != std::string::npos);
}

TEST_CASE("a store from a newer Veld is refused, untouched") {
    test::TempDir dir;
    std::string path = dir.file("new.veld");
    {
        ManualClock clock(1'761'000'000'000);
        auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .clock = &clock});
        REQUIRE(store);
        REQUIRE(store->finalizeNew(test::sampleContent(1)));
    }
    setUserVersion(path, Store::kSchemaVersion + 1);
    auto store = Store::open(path);
    REQUIRE_FALSE(store);
    CHECK(store.error().code == ErrorCode::TooNew);
    CHECK(store.error().message.find("newer Veld") != std::string::npos);
    setUserVersion(path, Store::kSchemaVersion);
    auto again = Store::open(path);
    REQUIRE(again);
    CHECK(again->info()->finalized == 1);
}

TEST_CASE("files that are not Veld stores are refused clearly") {
    test::TempDir dir;
    SUBCASE("random bytes") {
        std::string path = dir.file("photo.jpg");
        std::ofstream(path) << std::string(8192, '\x5a');
        auto store = Store::open(path);
        REQUIRE_FALSE(store);
        CHECK(store.error().code == ErrorCode::NotAStore);
    }
    SUBCASE("another program's SQLite database") {
        std::string path = dir.file("other.sqlite");
        {
            auto db = sql::Database::open(path, sql::OpenMode::ReadWriteCreate, 0);
            REQUIRE(db);
            REQUIRE(db->exec("CREATE TABLE x (y)"));
        }
        auto store = Store::open(path);
        REQUIRE_FALSE(store);
        CHECK(store.error().code == ErrorCode::NotAStore);
        CHECK(store.error().message.find("not a Veld store") != std::string::npos);
    }
}
