#include <set>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <veld/clock.hpp>
#include <veld/fb/record_generated.h>
#include <veld/platform/files.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;
using test::sampleContent;

namespace {

Store openNew(const std::string& path, const Clock* clock = nullptr) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .clock = clock});
    REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
    return std::move(store.value());
}

// Runs SQL on the store file behind the store's back, as damage or an old Veld would.
void rawExec(const std::string& path, const std::string& sqlText) {
    auto db = sql::Database::open(path, sql::OpenMode::ReadWrite, 0);
    REQUIRE_MESSAGE(db, db.error().describe());
    auto done = db->exec(sqlText);
    REQUIRE_MESSAGE(done, done.error().describe());
}

std::string hex(const Uuid& id) {
    static const char* k = "0123456789abcdef";
    std::string out;
    for (auto b : id.bytes) {
        out.push_back(k[b >> 4]);
        out.push_back(k[b & 15]);
    }
    return out;
}

}  // namespace

TEST_CASE("a new store gets a device id once, kept across reopening") {
    test::TempDir dir;
    Uuid first;
    {
        Store store = openNew(dir.file("device.veld"));
        first = store.deviceId();
        CHECK(first.version() == 4);
    }
    auto again = Store::open(dir.file("device.veld"));
    REQUIRE(again);
    CHECK(again->deviceId() == first);
    // Another profile is another device.
    Store other = openNew(dir.file("other.veld"));
    CHECK(other.deviceId() != first);
}

TEST_CASE("the store file is readable only by its owner") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    REQUIRE(store.saveDraft(sampleContent(1)));
    // Mode 0600 on Linux, a DACL for its owner alone on Windows.
    auto problem = platform::privacyProblem(dir.file("device.veld"));
    REQUIRE(problem);
    CHECK_FALSE(problem->has_value());
}

TEST_CASE("opening a missing store without create mode says so") {
    test::TempDir dir;
    auto store = Store::open(dir.file("nope.veld"));
    REQUIRE_FALSE(store);
    CHECK(store.error().code == ErrorCode::NotFound);
}

TEST_CASE("a draft can be saved, read back, updated and deleted") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    auto id = store.saveDraft(sampleContent(1), "Ouder 1");
    REQUIRE(id);
    CHECK(id->version() == 7);

    auto got = store.get(*id);
    REQUIRE(got);
    CHECK(got->meta.status == RecordStatus::Draft);
    CHECK(got->meta.summary == "Ouder 1");
    CHECK(got->record.content == test::normalized(sampleContent(1)));
    CHECK(got->record.deviceId == store.deviceId());
    CHECK_FALSE(got->record.finalized);

    auto updated = sampleContent(2);
    REQUIRE(store.updateDraft(*id, updated, "Ouder 1 (bijgewerkt)"));
    auto again = store.get(*id);
    REQUIRE(again);
    CHECK(again->record.content == test::normalized(updated));
    CHECK(again->meta.hlc > got->meta.hlc);
    CHECK(again->meta.createdHlc == got->meta.createdHlc);
    CHECK(again->meta.summary == "Ouder 1 (bijgewerkt)");

    REQUIRE(store.deleteDraft(*id));
    auto gone = store.get(*id);
    REQUIRE_FALSE(gone);
    CHECK(gone.error().code == ErrorCode::NotFound);
}

TEST_CASE("finalizing a draft queues it in the outbox and freezes it") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    auto id = store.saveDraft(sampleContent(1));
    REQUIRE(id);
    auto done = store.finalize(*id, sampleContent(3), "klaar");
    REQUIRE(done);
    CHECK(done->id == *id);
    CHECK(done->seq == 1);

    auto got = store.get(*id);
    REQUIRE(got);
    CHECK(got->meta.status == RecordStatus::Finalized);
    CHECK(got->record.finalized);
    CHECK(got->record.content == test::normalized(sampleContent(3)));

    SUBCASE("a finalized record cannot be edited, finalized again or deleted") {
        auto e1 = store.updateDraft(*id, sampleContent(4));
        REQUIRE_FALSE(e1);
        CHECK(e1.error().code == ErrorCode::WrongState);
        auto e2 = store.finalize(*id, sampleContent(4));
        REQUIRE_FALSE(e2);
        CHECK(e2.error().code == ErrorCode::WrongState);
        auto e3 = store.deleteDraft(*id);
        REQUIRE_FALSE(e3);
        CHECK(e3.error().code == ErrorCode::WrongState);
        CHECK(store.get(*id)->record.content == test::normalized(sampleContent(3)));
    }
    SUBCASE("unknown ids are reported as not found") {
        Uuid unknown = makeUuidV7(SystemClock::instance());
        CHECK(store.finalize(unknown, sampleContent(1)).error().code == ErrorCode::NotFound);
        CHECK(store.updateDraft(unknown, sampleContent(1)).error().code == ErrorCode::NotFound);
        CHECK(store.deleteDraft(unknown).error().code == ErrorCode::NotFound);
    }
}

TEST_CASE("bad content is refused and nothing is written") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    auto bad = sampleContent(1);
    bad.answers.push_back({"age", std::int64_t{1}});
    auto e = store.saveDraft(bad);
    REQUIRE_FALSE(e);
    CHECK(e.error().code == ErrorCode::InvalidArgument);
    auto f = store.finalizeNew(bad);
    REQUIRE_FALSE(f);
    CHECK(store.info()->drafts + store.info()->finalized == 0);
    CHECK(store.outboxState()->lastSeq == 0);
}

TEST_CASE("outbox sequence numbers are gap-free and acknowledgements move records to sent") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    std::vector<Uuid> ids;
    for (int i = 0; i < 10; ++i) {
        // A failed finalize in between must not use up a number.
        auto bad = sampleContent(i);
        bad.formId = "bad form";
        REQUIRE_FALSE(store.finalizeNew(bad));
        auto done = store.finalizeNew(sampleContent(i));
        REQUIRE(done);
        CHECK(done->seq == static_cast<std::uint64_t>(i + 1));
        ids.push_back(done->id);
    }
    auto pending = store.outboxPending(100, 1 << 20);
    REQUIRE(pending);
    REQUIRE(pending->size() == 10);
    for (std::size_t i = 0; i < 10; ++i) {
        CHECK((*pending)[i].seq == i + 1);
        CHECK((*pending)[i].recordId == ids[i]);
        CHECK_FALSE((*pending)[i].damaged);
        CHECK(checkRecordBody((*pending)[i].body));
    }

    SUBCASE("batches are limited by count and by bytes, but always hold one entry") {
        CHECK(store.outboxPending(3, 1 << 20)->size() == 3);
        CHECK(store.outboxPending(100, 1)->size() == 1);
        std::size_t three =
            (*pending)[0].body.size() + (*pending)[1].body.size() + (*pending)[2].body.size();
        CHECK(store.outboxPending(100, three)->size() == 3);
        CHECK(store.outboxPending(100, three - 1)->size() == 2);
    }

    REQUIRE(store.acknowledgeThrough(4));
    auto state = store.outboxState();
    REQUIRE(state);
    CHECK(state->lastSeq == 10);
    CHECK(state->ackedThrough == 4);
    CHECK(state->pending == 6);
    CHECK(store.get(ids[3])->meta.status == RecordStatus::Sent);
    CHECK(store.get(ids[4])->meta.status == RecordStatus::Finalized);
    CHECK(store.outboxPending(100, 1 << 20)->front().seq == 5);

    // Repeated or older acknowledgements are harmless; acknowledging the future is refused.
    REQUIRE(store.acknowledgeThrough(4));
    REQUIRE(store.acknowledgeThrough(2));
    auto future = store.acknowledgeThrough(11);
    REQUIRE_FALSE(future);
    CHECK(future.error().code == ErrorCode::InvalidArgument);

    // After everything is acknowledged the numbering continues, even across a reopen.
    REQUIRE(store.acknowledgeThrough(10));
    CHECK(store.outboxState()->pending == 0);
    std::string path = store.path();
    { Store moved = std::move(store); }
    auto reopened = Store::open(path);
    REQUIRE(reopened);
    CHECK(reopened->finalizeNew(sampleContent(11))->seq == 11);
}

TEST_CASE("listing pages through records newest first with filters") {
    test::TempDir dir;
    ManualClock clock(1764064800000);
    Store store = openNew(dir.file("device.veld"), &clock);
    Uuid caseA = makeUuidV4();
    std::vector<Uuid> all;
    for (int i = 0; i < 95; ++i) {
        clock.advance(10);
        auto content = sampleContent(i, i % 2 ? "ips_session_log" : "vmbo_parent_survey");
        if (i % 5 == 0) content.caseId = caseA;
        std::string summary = (i % 10 == 3 ? "Familie de Vries " : "Ouder ") + std::to_string(i);
        if (i % 3 == 0) {
            all.push_back(store.finalizeNew(content, summary)->id);
        } else {
            all.push_back(store.saveDraft(content, summary).value());
        }
    }

    SUBCASE("pages follow each other with no gaps or repeats") {
        std::vector<Uuid> seen;
        ListQuery q{.limit = 20};
        int pages = 0;
        for (;;) {
            auto page = store.list(q);
            REQUIRE(page);
            ++pages;
            for (const auto& r : page->rows)
                seen.push_back(r.id);
            if (!page->next) break;
            q.after = page->next;
        }
        CHECK(pages == 5);
        std::vector<Uuid> expected(all.rbegin(), all.rend());
        CHECK(seen == expected);
    }
    SUBCASE("a page written to during paging still does not repeat rows") {
        auto first = store.list({.limit = 10});
        REQUIRE(first);
        REQUIRE(store.saveDraft(sampleContent(200)));  // newer than everything listed
        auto second = store.list({.limit = 10, .after = first->next});
        REQUIRE(second);
        CHECK(second->rows.front().id == all[all.size() - 11]);
    }
    SUBCASE("filter by form") {
        auto page = store.list({.formId = "ips_session_log", .limit = 100});
        REQUIRE(page);
        CHECK(page->rows.size() == 47);
        for (const auto& r : page->rows)
            CHECK(r.formId == "ips_session_log");
    }
    SUBCASE("filter by status") {
        auto page = store.list({.status = RecordStatus::Finalized, .limit = 100});
        REQUIRE(page);
        CHECK(page->rows.size() == 32);
        for (const auto& r : page->rows)
            CHECK(r.status == RecordStatus::Finalized);
    }
    SUBCASE("filter by case") {
        auto page = store.list({.caseId = caseA, .limit = 100});
        REQUIRE(page);
        CHECK(page->rows.size() == 19);
        for (const auto& r : page->rows)
            CHECK(r.caseId == caseA);
    }
    SUBCASE("text search on the summary, case-insensitive, with LIKE characters taken literally") {
        auto page = store.list({.text = "de vries", .limit = 100});
        REQUIRE(page);
        CHECK(page->rows.size() == 10);
        CHECK(store.list({.text = "%", .limit = 100})->rows.empty());
        CHECK(store.list({.text = "_", .limit = 100})->rows.empty());
    }
    SUBCASE("filters combine") {
        auto page = store.list({.formId = "vmbo_parent_survey",
                                .status = RecordStatus::Draft,
                                .caseId = caseA,
                                .limit = 100});
        REQUIRE(page);
        for (const auto& r : page->rows) {
            CHECK(r.formId == "vmbo_parent_survey");
            CHECK(r.status == RecordStatus::Draft);
            CHECK(r.caseId == caseA);
        }
        CHECK(page->rows.size() == 6);
    }
}

TEST_CASE("counts per form and status follow every change") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    auto d1 = store.saveDraft(sampleContent(1, "form_a")).value();
    auto d2 = store.saveDraft(sampleContent(2, "form_a")).value();
    REQUIRE(store.finalizeNew(sampleContent(3, "form_b")));
    REQUIRE(store.finalize(d1, sampleContent(1, "form_a")));
    REQUIRE(store.deleteDraft(d2));
    REQUIRE(store.acknowledgeThrough(1));

    auto counts = store.counts();
    REQUIRE(counts);
    std::set<std::tuple<std::string, RecordStatus, std::int64_t>> got;
    for (const auto& c : *counts)
        got.insert({c.formId, c.status, c.count});
    std::set<std::tuple<std::string, RecordStatus, std::int64_t>> expected{
        {"form_a", RecordStatus::Finalized, 1}, {"form_b", RecordStatus::Sent, 1}};
    CHECK(got == expected);
}

TEST_CASE("a draft whose form changes moves between form counts") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    auto id = store.saveDraft(sampleContent(1, "form_a")).value();
    REQUIRE(store.updateDraft(id, sampleContent(1, "form_b")));
    auto counts = store.counts().value();
    REQUIRE(counts.size() == 1);
    CHECK(counts[0].formId == "form_b");
}

TEST_CASE("the clock never goes back across restarts, even with the wall clock set back") {
    test::TempDir dir;
    ManualClock clock(1764064800000);
    HlcTimestamp last;
    {
        Store store = openNew(dir.file("device.veld"), &clock);
        for (int i = 0; i < 5; ++i)
            last = store.finalizeNew(sampleContent(i))->hlc;
    }
    clock.set(1700000000000);  // months back
    auto store = Store::open(dir.file("device.veld"), {.clock = &clock});
    REQUIRE(store);
    auto next = store->finalizeNew(sampleContent(9));
    REQUIRE(next);
    CHECK(next->hlc > last);
    auto id = store->saveDraft(sampleContent(10));
    CHECK(store->get(*id)->meta.hlc > next->hlc);
}

TEST_CASE("a damaged body is quarantined with its reason and never blocks the others") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    std::vector<Uuid> ids;
    {
        Store store = openNew(path);
        for (int i = 0; i < 6; ++i)
            ids.push_back(store.finalizeNew(sampleContent(i))->id);
    }
    // Damage record 2 (its root offset points past the end: the Verifier catches it) and swap in
    // record 4 a perfectly valid body of another record, which only Veld's checks can notice.
    rawExec(path,
            "UPDATE records SET body = CAST(x'ffffff7f' || substr(body, 5) AS BLOB) WHERE id = x'" +
                hex(ids[2]) + "'");
    rawExec(path, "UPDATE records SET body = (SELECT body FROM records WHERE id = x'" +
                      hex(ids[5]) + "') WHERE id = x'" + hex(ids[4]) + "'");

    auto store = Store::open(path);
    REQUIRE(store);

    SUBCASE("reading it gives a clear error and moves it aside") {
        auto bad = store->get(ids[4]);
        REQUIRE_FALSE(bad);
        CHECK(bad.error().code == ErrorCode::Corrupt);
        CHECK(bad.error().message.find("another record") != std::string::npos);
        CHECK(bad.error().message.find("quarantine") != std::string::npos);
        auto again = store->get(ids[4]);
        REQUIRE_FALSE(again);
        CHECK(again.error().message.find("quarantined") != std::string::npos);
        auto q = store->quarantine();
        REQUIRE(q);
        REQUIRE(q->size() == 1);
        CHECK(q->front().recordId == ids[4]);
        CHECK(q->front().previousStatus == RecordStatus::Finalized);
        CHECK(q->front().bodyBytes > 0);
        // The others still load.
        for (int i : {0, 1, 3, 5})
            CHECK(store->get(ids[static_cast<std::size_t>(i)]));
    }
    SUBCASE("the outbox sends the others and keeps the damaged one's place in the sequence") {
        auto pending = store->outboxPending(100, 1 << 20);
        REQUIRE(pending);
        REQUIRE(pending->size() == 6);
        for (std::size_t i = 0; i < 6; ++i) {
            CHECK((*pending)[i].seq == i + 1);
            bool shouldBeDamaged = i == 2 || i == 4;
            CHECK((*pending)[i].damaged == shouldBeDamaged);
            CHECK((*pending)[i].body.empty() == shouldBeDamaged);
            if (shouldBeDamaged) CHECK_FALSE((*pending)[i].damageReason.empty());
        }
        CHECK(store->quarantine()->size() == 2);
        CHECK(store->info()->quarantined == 2);
        // Acknowledging the damaged ones removes them from the outbox too.
        REQUIRE(store->acknowledgeThrough(6));
        CHECK(store->outboxState()->pending == 0);
    }
    SUBCASE("check finds both, and moves them only when asked") {
        auto report = store->check(false);
        REQUIRE(report);
        CHECK(report->integrityOk);
        CHECK(report->badBodies.size() == 2);
        CHECK_FALSE(report->moved);
        CHECK(store->quarantine()->empty());
        auto moved = store->check(true);
        REQUIRE(moved);
        CHECK(moved->moved);
        CHECK(store->quarantine()->size() == 2);
        auto clean = store->check(false);
        CHECK(clean->ok());
        CHECK(clean->alreadyQuarantined == 2);
        CHECK(clean->bodiesChecked == 4);
    }
    SUBCASE("listing still shows every record, the damaged ones as quarantined") {
        REQUIRE_FALSE(store->get(ids[2]));
        auto page = store->list({.limit = 100});
        REQUIRE(page);
        CHECK(page->rows.size() == 6);
        auto q = store->list({.status = RecordStatus::Quarantined, .limit = 100});
        REQUIRE(q->rows.size() == 1);
        CHECK(q->rows[0].id == ids[2]);
    }
}

TEST_CASE("a batch commits many writes at once or none of them") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    {
        auto batch = store.beginBatch();
        REQUIRE(batch);
        for (int i = 0; i < 50; ++i)
            REQUIRE(store.finalizeNew(sampleContent(i)));
        // dropped without commit
    }
    CHECK(store.outboxState()->lastSeq == 0);
    CHECK(store.list({})->rows.empty());
    {
        auto batch = store.beginBatch();
        REQUIRE(batch);
        for (int i = 0; i < 50; ++i)
            REQUIRE(store.finalizeNew(sampleContent(i)));
        // A failed operation inside the batch undoes only itself.
        auto bad = sampleContent(1);
        bad.formId = "";
        REQUIRE_FALSE(store.finalizeNew(bad));
        // Reading inside the batch sees the batch's own writes.
        auto inside = store.info();
        REQUIRE(inside);
        CHECK(inside->outbox.lastSeq == 50);
        REQUIRE(batch->commit());
    }
    CHECK(store.outboxState()->lastSeq == 50);
    CHECK(store.info()->finalized == 50);
}

TEST_CASE("store info reports what a person checking a device wants to know") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    REQUIRE(store.saveDraft(sampleContent(1)));
    REQUIRE(store.finalizeNew(sampleContent(2)));
    REQUIRE(store.finalizeNew(sampleContent(3)));
    REQUIRE(store.acknowledgeThrough(1));
    auto info = store.info();
    REQUIRE(info);
    CHECK(info->schemaVersion == Store::kSchemaVersion);
    CHECK(info->deviceId == store.deviceId());
    CHECK(info->drafts == 1);
    CHECK(info->finalized == 1);
    CHECK(info->sent == 1);
    CHECK(info->outbox.lastSeq == 2);
    CHECK(info->outbox.ackedThrough == 1);
    CHECK(info->outbox.pending == 1);
    CHECK(info->outbox.pendingBytes > 100);
    CHECK(info->createdUtcMs > 0);
    CHECK(info->fileBytes > 0);
}

TEST_CASE("a damaged body at the edge of an outbox batch is reported in the batch that holds it") {
    // Regression: a bad entry that did not fit the byte limit was still marked damaged, past the
    // end of the returned batch.
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    std::vector<Uuid> ids;
    {
        Store store = openNew(path);
        for (int i = 0; i < 3; ++i)
            ids.push_back(store.finalizeNew(sampleContent(i))->id);
    }
    rawExec(path,
            "UPDATE records SET body = CAST(x'ffffff7f' || substr(body, 5) AS BLOB) "
            "WHERE id = x'" +
                hex(ids[1]) + "'");
    auto store = Store::open(path);
    REQUIRE(store);
    auto first = store->get(ids[0]);
    REQUIRE(first);
    auto batch = store->outboxPending(100, static_cast<std::size_t>(first->meta.bodyBytes));
    REQUIRE(batch);
    REQUIRE(batch->size() == 1);
    CHECK_FALSE((*batch)[0].damaged);
    auto next = store->outboxPending(100, 1);
    REQUIRE(next);
    REQUIRE_FALSE(next->empty());
    CHECK_FALSE(next->front().damaged);  // the same first entry again: nothing was acknowledged
    auto all = store->outboxPending(100, 1 << 20);
    REQUIRE(all->size() == 3);
    CHECK((*all)[1].damaged);
    CHECK((*all)[1].body.empty());
}

TEST_CASE("a body written by a newer Veld is kept, sent as it is, and never quarantined") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    Uuid id;
    {
        Store store = openNew(path);
        id = store.finalizeNew(sampleContent(1))->id;
    }
    // A newer Veld adds a twelfth kind of answer value. Write the body as that Veld would, with
    // the same id, form and revision as the record on disk.
    {
        auto store = Store::open(path);
        REQUIRE(store);
        auto rec = store->get(id).value();
        flatbuffers::FlatBufferBuilder b;
        auto value = fb::CreateIntegerValue(b, 5);
        std::vector<flatbuffers::Offset<fb::Answer>> answers{
            fb::CreateAnswer(b, b.CreateString("geo"), static_cast<fb::Value>(12), value.Union())};
        auto answerVec = b.CreateVector(answers);
        auto form = b.CreateString(rec.record.content.formId);
        fb::Uuid fid(flatbuffers::span<const std::uint8_t, 16>(id.bytes.data(), 16));
        fb::Uuid did(
            flatbuffers::span<const std::uint8_t, 16>(rec.record.deviceId.bytes.data(), 16));
        fb::RecordBuilder rb(b);
        rb.add_id(&fid);
        rb.add_form_id(form);
        rb.add_form_version(rec.record.content.formVersion);
        rb.add_device_id(&did);
        rb.add_hlc(rec.record.hlc.value);
        rb.add_created_hlc(rec.record.createdHlc.value);
        rb.add_status(fb::RecordStatus::Finalized);
        rb.add_answers(answerVec);
        fb::FinishRecordBuffer(b, rb.Finish());
        std::vector<std::uint8_t> body(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
        auto db = sql::Database::open(path, sql::OpenMode::ReadWrite);
        REQUIRE(db);
        auto up = db->prepare("UPDATE records SET body = ?2 WHERE id = ?1");
        REQUIRE(up);
        up->bindBlob(1, std::span<const std::uint8_t>(id.bytes.data(), 16)).bindBlob(2, body);
        REQUIRE(up->run());
    }
    auto store = Store::open(path);
    REQUIRE(store);
    auto got = store->get(id);
    REQUIRE_FALSE(got);
    CHECK(got.error().code == ErrorCode::TooNew);
    CHECK(got.error().message.find("newer Veld") != std::string::npos);
    CHECK(store->quarantine()->empty());
    auto pending = store->outboxPending(10, 1 << 20);
    REQUIRE(pending);
    REQUIRE(pending->size() == 1);
    CHECK_FALSE(pending->front().damaged);
    CHECK_FALSE(pending->front().body.empty());
    auto report = store->check(true);
    REQUIRE(report);
    CHECK(report->ok());
    CHECK(report->newerBodies == 1);
    CHECK(store->quarantine()->empty());
}

TEST_CASE("only one batch at a time may be open on a store") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    auto batch = store.beginBatch();
    REQUIRE(batch);
    auto second = store.beginBatch();
    REQUIRE_FALSE(second);
    CHECK(second.error().code == ErrorCode::WrongState);
    REQUIRE(store.finalizeNew(sampleContent(1)));
    REQUIRE(batch->commit());
    CHECK(store.outboxState()->lastSeq == 1);
}

TEST_CASE("a long summary is cut at a character boundary") {
    test::TempDir dir;
    Store store = openNew(dir.file("device.veld"));
    std::string longText;
    while (longText.size() < 500)
        longText += "ğüşç ";
    auto id = store.saveDraft(sampleContent(1), longText);
    REQUIRE(id);
    auto summary = store.get(*id)->meta.summary;
    CHECK(summary.size() <= kMaxSummaryBytes);
    CHECK(summary.size() > kMaxSummaryBytes - 4);
    CHECK(longText.compare(0, summary.size(), summary) == 0);
    // Still valid UTF-8: the record's text checks accept it as an answer.
    auto content = sampleContent(2);
    content.answers.push_back({"summary_copy", summary});
    CHECK(store.updateDraft(*id, content, summary));
}
