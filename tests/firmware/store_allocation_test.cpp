// Randomisation on the device: sealed slots from the collector, taken in order when an intake is
// finalized, once per participant, recorded in an append-only log, all in the finalize's
// transaction.
#include <map>

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/project_key.hpp>
#include <veld/sealed_record.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

Store openNew(const std::string& path, const Clock* clock) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .clock = clock});
    REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
    return std::move(store.value());
}

alloc::Study coachingStudy() {
    alloc::Study s;
    s.id = "coaching";
    s.pilot = "jobcoach";
    s.arms = {{"coaching", 1}, {"usual_care", 1}};
    s.factors = {{"region", {"north", "south"}}};
    s.blockSizes = {2, 4};
    for (std::size_t i = 0; i < s.seed.size(); ++i)
        s.seed[i] = static_cast<std::uint8_t>(i * 13 + 5);
    s.lowSlots = 3;
    return s;
}

DeviceStudy deviceStudy(const alloc::Study& s) {
    DeviceStudy d{s.id, s.pilot, {}, {}, s.lowSlots};
    for (const auto& arm : s.arms)
        d.arms.push_back(arm.name);
    for (const auto& f : s.factors)
        d.factors.emplace_back(f.name, f.levels);
    return d;
}

const std::string kNorth = alloc::stratumKey({{"region", "north"}});
const std::string kSouth = alloc::stratumKey({{"region", "south"}});

// What the collector deals: blocks of a stratum, every slot sealed to the device's key.
std::vector<alloc::Slot> deal(Store& store, const alloc::Study& study, const std::string& stratum,
                              std::uint32_t firstBlock, std::uint32_t blocks) {
    auto key = store.boxPublicKey();
    REQUIRE_MESSAGE(key, (key ? "" : key.error().describe()));
    std::vector<alloc::Slot> slots;
    std::vector<SealedSlotIn> sealed;
    for (std::uint32_t b = firstBlock; b < firstBlock + blocks; ++b) {
        auto block = alloc::generateBlock(study, stratum, b);
        for (std::uint32_t p = 0; p < block.arms.size(); ++p) {
            alloc::Slot slot{study.id, stratum, b, p, block.arms[p], block.tokens[p]};
            sealed.push_back({study.id, stratum, b, p, alloc::sealSlot(slot, *key)});
            slots.push_back(slot);
        }
    }
    REQUIRE(store.addAllocationSlots(sealed));
    return slots;
}

RecordContent intake(const Uuid& caseId, const std::string& pseudonym, const std::string& stratum,
                     int n = 1) {
    RecordContent c = test::sampleContent(n, "jobcoach_intake");
    c.caseId = caseId;
    c.caseChange = CaseChange{CaseAction::Open, "participant", pseudonym, {{"label", "P", {}}}};
    c.allocate = AllocationRequest{"coaching", stratum};
    return c;
}

bool sameSlot(const Allocation& a, const alloc::Slot& s) {
    return a.study == s.study && a.stratum == s.stratum && a.block == s.block &&
           a.position == s.position && a.arm == s.arm &&
           a.token == std::vector<std::uint8_t>(s.token.begin(), s.token.end());
}

std::string rawExec(const std::string& path, const std::string& sqlText) {
    auto db = sql::Database::open(path, sql::OpenMode::ReadWrite, 0);
    REQUIRE_MESSAGE(db, db.error().describe());
    auto done = db->exec(sqlText);
    return done ? "" : done.error().message;
}

}  // namespace

TEST_CASE("intakes take their stratum's slots in order, into the record, the case and the log") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const alloc::Study study = coachingStudy();
    REQUIRE(store.setStudies(std::vector<DeviceStudy>{deviceStudy(study)}));
    const auto north = deal(store, study, kNorth, 0, 2);
    const auto south = deal(store, study, kSouth, 0, 1);

    struct Taken {
        Uuid caseId;
        Uuid recordId;
        const alloc::Slot* slot;
    };
    std::vector<Taken> taken;
    const char* order[] = {"n", "n", "s", "n", "s"};
    std::size_t nextNorth = 0, nextSouth = 0;
    for (int i = 0; i < 5; ++i) {
        const bool isNorth = order[i][0] == 'n';
        clock.advance(1000);
        const Uuid caseId = makeUuidV4();
        const RecordContent content =
            intake(caseId, "k1:" + std::to_string(i), isNorth ? kNorth : kSouth, i);
        Result<Finalized> done = Finalized{};
        if (i % 2 == 0) {
            done = store.finalizeNew(content);
        } else {
            // Through a draft: the draft allocates nothing, its finalize does.
            auto draft = store.saveDraft(content);
            REQUIRE(draft);
            CHECK(store.allocationLog()->size() == static_cast<std::size_t>(i));
            CHECK_FALSE(store.get(*draft)->record.content.allocation);
            done = store.finalize(*draft, content);
        }
        REQUIRE_MESSAGE(done, (done ? "" : done.error().describe()));
        const alloc::Slot& slot = isNorth ? north.at(nextNorth++) : south.at(nextSouth++);
        taken.push_back({caseId, done->id, &slot});

        auto got = store.get(done->id);
        REQUIRE(got);
        const auto& allocation = got->record.content.allocation;
        REQUIRE(allocation);
        CHECK(sameSlot(*allocation, slot));
        CHECK(allocation->logSeq == static_cast<std::uint64_t>(i + 1));
        CHECK(allocation->takenUtcMs == clock.nowMillis());
        // The arm is a case property, and the body tells the collector so.
        auto info = store.caseInfo(caseId);
        REQUIRE(info);
        CHECK(info->property("arm") == slot.arm);
        const auto& change = got->record.content.caseChange;
        REQUIRE(change);
        CHECK(change->properties == std::vector<CasePropertyValue>{{"arm", slot.arm, {}},
                                                                   {"label", "P", {}},
                                                                   {"status", "open", {}}});
    }

    auto log = store.allocationLog();
    REQUIRE(log);
    REQUIRE(log->size() == taken.size());
    for (std::size_t i = 0; i < taken.size(); ++i) {
        CHECK(log->at(i).allocation.logSeq == i + 1);
        CHECK(log->at(i).caseId == taken[i].caseId);
        CHECK(log->at(i).recordId == taken[i].recordId);
        CHECK(sameSlot(log->at(i).allocation, *taken[i].slot));
        CHECK(log->at(i).allocation == *store.get(taken[i].recordId)->record.content.allocation);
    }
    // The outbox carries them like any finalized record.
    CHECK(store.outboxState()->lastSeq == 5);
    CHECK(store.check(false)->ok());
}

TEST_CASE("a participant is randomised once: not again, and not under another case") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const alloc::Study study = coachingStudy();
    deal(store, study, kNorth, 0, 3);
    const Uuid first = makeUuidV4();
    REQUIRE(store.finalizeNew(intake(first, "k1:aa", kNorth)));

    // The same case again, through a follow-up.
    RecordContent again = test::sampleContent(2, "jobcoach_follow_up");
    again.caseId = first;
    again.allocate = AllocationRequest{"coaching", kNorth};
    auto refused = store.finalizeNew(again);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::WrongState);
    CHECK(refused.error().message.find("already randomised") != std::string::npos);

    // The same person opened as a new case, through a draft: refused, the draft stays, the new
    // case is not made.
    const Uuid second = makeUuidV4();
    auto draft = store.saveDraft(intake(second, "k1:aa", kNorth));
    REQUIRE(draft);
    refused = store.finalize(*draft, intake(second, "k1:aa", kNorth));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::WrongState);
    CHECK(refused.error().message.find("already randomised") != std::string::npos);
    CHECK(refused.error().message.find("k1:aa") == std::string::npos);
    CHECK(store.get(*draft)->meta.status == RecordStatus::Draft);
    CHECK(store.caseInfo(second).error().code == ErrorCode::NotFound);

    CHECK(store.allocationLog()->size() == 1);
    CHECK(store.outboxState()->lastSeq == 1);

    // A follow-up without a case change randomises a case opened earlier, and says so in its
    // case change.
    const Uuid later = makeUuidV4();
    RecordContent open = intake(later, "k1:bb", kNorth);
    open.allocate.reset();
    REQUIRE(store.finalizeNew(open));
    RecordContent randomise = test::sampleContent(4, "jobcoach_follow_up");
    randomise.caseId = later;
    randomise.allocate = AllocationRequest{"coaching", kNorth};
    auto done = store.finalizeNew(randomise);
    REQUIRE_MESSAGE(done, (done ? "" : done.error().describe()));
    auto got = store.get(done->id);
    REQUIRE(got->record.content.caseChange);
    CHECK(got->record.content.caseChange->action == CaseAction::FollowUp);
    REQUIRE(got->record.content.caseChange->properties.size() == 1);
    CHECK(got->record.content.caseChange->properties[0].name == "arm");
    CHECK(got->record.content.allocation->logSeq == 2);
}

TEST_CASE("with no slot left the finalize says to synchronise, and the draft waits for more") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const alloc::Study study = coachingStudy();
    const auto north = deal(store, study, kNorth, 0, 1);
    for (std::size_t i = 0; i < north.size(); ++i)
        REQUIRE(store.finalizeNew(intake(makeUuidV4(), "k1:" + std::to_string(i), kNorth)));

    const Uuid caseId = makeUuidV4();
    auto draft = store.saveDraft(intake(caseId, "k1:last", kNorth));
    REQUIRE(draft);
    auto refused = store.finalize(*draft, intake(caseId, "k1:last", kNorth));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::WrongState);
    CHECK(refused.error().message ==
          "no allocation left for stratum \"region=north\" of study coaching: synchronise with "
          "the collector to receive more");
    CHECK(store.get(*draft)->meta.status == RecordStatus::Draft);
    CHECK(store.caseInfo(caseId).error().code == ErrorCode::NotFound);
    CHECK(store.outboxState()->lastSeq == north.size());

    // Another stratum has nothing yet either.
    CHECK(store.finalizeNew(intake(makeUuidV4(), "", kSouth)).error().code ==
          ErrorCode::WrongState);

    const auto more = deal(store, study, kNorth, 1, 1);
    auto done = store.finalize(*draft, intake(caseId, "k1:last", kNorth));
    REQUIRE_MESSAGE(done, (done ? "" : done.error().describe()));
    CHECK(sameSlot(*store.get(done->id)->record.content.allocation, more.front()));
}

TEST_CASE("the allocation log refuses every change and deletion, in the file itself") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    const std::string path = dir.file("device.veld");
    {
        Store store = openNew(path, &clock);
        deal(store, coachingStudy(), kNorth, 0, 1);
        REQUIRE(store.finalizeNew(intake(makeUuidV4(), "", kNorth)));
    }
    CHECK(rawExec(path, "UPDATE allocation_log SET arm = 'coaching'").find("append-only") !=
          std::string::npos);
    CHECK(rawExec(path, "DELETE FROM allocation_log").find("append-only") != std::string::npos);
    // REPLACE deletes without firing delete triggers: the log refuses it too, and any number
    // but the next one.
    CHECK(rawExec(path, "INSERT OR REPLACE INTO allocation_log SELECT * FROM allocation_log")
              .find("append-only") != std::string::npos);
    CHECK(rawExec(path,
                  "INSERT OR REPLACE INTO allocation_log SELECT 2, study, stratum, block, "
                  "position, 'other', token, case_id, record_id, 0 FROM allocation_log")
              .find("append-only") != std::string::npos);
    CHECK(rawExec(path,
                  "INSERT INTO allocation_log SELECT 3, study, stratum, block, position + 1, arm, "
                  "token, randomblob(16), record_id, 0 FROM allocation_log")
              .find("append-only") != std::string::npos);
    auto store = Store::open(path, {.clock = &clock});
    REQUIRE(store);
    CHECK(store->allocationLog()->size() == 1);
}

TEST_CASE(
    "a slot that does not open, or holds another slot, stops randomisation instead of "
    "being skipped") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const alloc::Study study = coachingStudy();
    auto key = store.boxPublicKey();
    REQUIRE(key);
    const auto block = alloc::generateBlock(study, kNorth, 0);
    alloc::Slot first{study.id, kNorth, 0, 0, block.arms[0], block.tokens[0]};

    SUBCASE("sealed to another device") {
        const auto other = alloc::newBoxKeyPair();
        std::vector<SealedSlotIn> in = {
            {study.id, kNorth, 0, 0, alloc::sealSlot(first, other.first)}};
        REQUIRE(store.addAllocationSlots(in));
    }
    SUBCASE("another slot in its place") {
        alloc::Slot moved = first;
        moved.position = 1;
        std::vector<SealedSlotIn> in = {{study.id, kNorth, 0, 0, alloc::sealSlot(moved, *key)}};
        REQUIRE(store.addAllocationSlots(in));
    }
    alloc::Slot second{study.id, kNorth, 0, 1, block.arms[1], block.tokens[1]};
    std::vector<SealedSlotIn> good = {{study.id, kNorth, 0, 1, alloc::sealSlot(second, *key)}};
    REQUIRE(store.addAllocationSlots(good));

    auto refused = store.finalizeNew(intake(makeUuidV4(), "", kNorth));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::Corrupt);
    CHECK(refused.error().message.find("slot 0.0") != std::string::npos);
    CHECK(store.allocationLog()->empty());
    CHECK(store.outboxState()->lastSeq == 0);
}

TEST_CASE("slots received again change nothing, and other content for a received slot is refused") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const alloc::Study study = coachingStudy();
    REQUIRE(store.setStudies(std::vector<DeviceStudy>{deviceStudy(study)}));
    auto key = store.boxPublicKey();
    REQUIRE(key);
    const auto block = alloc::generateBlock(study, kNorth, 0);
    std::vector<SealedSlotIn> in;
    for (std::uint32_t p = 0; p < block.arms.size(); ++p) {
        alloc::Slot slot{study.id, kNorth, 0, p, block.arms[p], block.tokens[p]};
        in.push_back({study.id, kNorth, 0, p, alloc::sealSlot(slot, *key)});
    }
    REQUIRE(store.addAllocationSlots(in));
    REQUIRE(store.addAllocationSlots(in));
    CHECK(store.allocationStock()->at(0).remaining == static_cast<std::int64_t>(block.arms.size()));

    // The same slot sealed again (sealing is randomised) is the same slot.
    alloc::Slot again{study.id, kNorth, 0, 0, block.arms[0], block.tokens[0]};
    std::vector<SealedSlotIn> resealed = {{study.id, kNorth, 0, 0, alloc::sealSlot(again, *key)}};
    REQUIRE(resealed[0].box != in[0].box);
    REQUIRE(store.addAllocationSlots(resealed));

    // Other content for slot 0, next to a new slot: none is stored.
    again.token[0] ^= 1;
    const auto next = alloc::generateBlock(study, kNorth, 1);
    alloc::Slot fresh{study.id, kNorth, 1, 0, next.arms[0], next.tokens[0]};
    std::vector<SealedSlotIn> clash = {{study.id, kNorth, 1, 0, alloc::sealSlot(fresh, *key)},
                                       {study.id, kNorth, 0, 0, alloc::sealSlot(again, *key)}};
    auto refused = store.addAllocationSlots(clash);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::WrongState);
    CHECK(refused.error().message.find("slot 0.0 of stratum \"region=north\" of study coaching") !=
          std::string::npos);
    CHECK(store.allocationStock()->at(0).remaining == static_cast<std::int64_t>(block.arms.size()));

    // The first box is the one used.
    auto done = store.finalizeNew(intake(makeUuidV4(), "", kNorth));
    REQUIRE(done);
    CHECK(store.get(done->id)->record.content.allocation->arm == block.arms[0]);
}

TEST_CASE("stock counts slots left and used per stratum of every study, and warns when low") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    alloc::Study study = coachingStudy();
    alloc::Study plain = coachingStudy();
    plain.id = "advice";
    plain.factors.clear();
    plain.lowSlots = 0;
    REQUIRE(store.setStudies(std::vector<DeviceStudy>{deviceStudy(study), deviceStudy(plain)}));
    CHECK(store.studies().value() ==
          std::vector<DeviceStudy>{deviceStudy(plain), deviceStudy(study)});

    const auto north = deal(store, study, kNorth, 0, 3);
    const auto advice = deal(store, plain, "", 0, 1);
    for (int i = 0; i < 2; ++i)
        REQUIRE(store.finalizeNew(intake(makeUuidV4(), "", kNorth)));

    auto stock = store.allocationStock();
    REQUIRE(stock);
    REQUIRE(stock->size() == 3);
    CHECK(stock->at(0).study == "advice");
    CHECK(stock->at(0).stratum.empty());
    CHECK(stock->at(0).remaining == static_cast<std::int64_t>(advice.size()));
    CHECK_FALSE(stock->at(0).low);  // lowSlots 0: only when none is left
    CHECK(stock->at(1).stratum == kNorth);
    CHECK(stock->at(1).used == 2);
    CHECK(stock->at(1).remaining == static_cast<std::int64_t>(north.size()) - 2);
    CHECK(stock->at(1).low == (north.size() - 2 < 3));
    CHECK(stock->at(2).stratum == kSouth);
    CHECK(stock->at(2).remaining == 0);
    CHECK(stock->at(2).low);

    // Using the last of a stratum without a low mark makes it low.
    for (std::size_t i = 0; i < advice.size(); ++i) {
        RecordContent c = intake(makeUuidV4(), "", "");
        c.allocate->study = "advice";
        REQUIRE(store.finalizeNew(c));
    }
    CHECK(store.allocationStock()->at(0).remaining == 0);
    CHECK(store.allocationStock()->at(0).low);

    // The list is replaced as a whole; the slots and the log stay.
    REQUIRE(store.setStudies(std::vector<DeviceStudy>{deviceStudy(plain)}));
    CHECK(store.allocationStock()->size() == 1);
    CHECK(store.allocationLog()->size() == 2 + advice.size());
    DeviceStudy broken = deviceStudy(plain);
    broken.arms.push_back("new\nline");
    CHECK(store.setStudies(std::vector<DeviceStudy>{broken}).error().code ==
          ErrorCode::InvalidArgument);
}

TEST_CASE(
    "the box key is made once, kept across reopening, and its secret half stays in the "
    "device's settings") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    const std::string path = dir.file("device.veld");
    std::array<std::uint8_t, 32> first{};
    {
        Store store = openNew(path, &clock);
        auto other = Store::open(path, {.clock = &clock});
        REQUIRE(other);
        auto key = store.boxPublicKey();
        REQUIRE(key);
        first = *key;
        CHECK(other->boxPublicKey().value() == first);
        CHECK(store.setting(Store::kBoxSecretKeySetting).value()->size() == 64);
    }
    auto reopened = Store::open(path, {.mode = sql::OpenMode::ReadOnly, .clock = &clock});
    REQUIRE(reopened);
    CHECK(reopened->boxPublicKey().value() == first);
    // A read-only store without a key cannot make one.
    { Store fresh = openNew(dir.file("fresh.veld"), &clock); }
    auto readOnly = Store::open(dir.file("fresh.veld"), {.mode = sql::OpenMode::ReadOnly});
    REQUIRE(readOnly);
    CHECK(readOnly->boxPublicKey().error().code == ErrorCode::ReadOnly);
}

TEST_CASE("an intake of a sealed form seals its answers and keeps the allocation in clear") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    std::string json =
        test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json");
    const std::string from = R"("settings": {"summary_question": "visit_date"})";
    const auto at = json.find(from);
    REQUIRE(at != std::string::npos);
    json.replace(at, from.size(),
                 R"("settings": {"summary_question": "visit_date", "sealed": true})");
    auto compiled = forms::compileFormJson(json, "valid_minimal.json");
    REQUIRE_FALSE(compiled.binary.empty());
    REQUIRE(store.installForm(compiled.binary));
    const auto project = alloc::newBoxKeyPair();
    REQUIRE(store.setSetting(projectkey::kKeySetting,
                             projectkey::formatPublicKey({"k1", project.first})));
    deal(store, coachingStudy(), kNorth, 0, 1);

    RecordContent content = intake(makeUuidV4(), "k1:cc", kNorth);
    content.formId = "valid_minimal";
    content.formVersion = 1;
    content.answers = {{"age", std::int64_t{41}}};
    content.repeats.clear();
    auto done = store.finalizeNew(content);
    REQUIRE_MESSAGE(done, (done ? "" : done.error().describe()));
    auto got = store.get(done->id);
    REQUIRE(got);
    REQUIRE(got->record.sealed);
    CHECK(got->record.content.answers.empty());
    REQUIRE(got->record.content.allocation);
    CHECK(got->record.content.allocation->logSeq == 1);
    CHECK(got->record.content.caseChange->properties.front().name == "arm");
    const std::vector<projectkey::SecretKey> keys = {
        projectkey::SecretKey("k1", project.first, project.second)};
    auto opened = openRecord(got->record, keys);
    REQUIRE_MESSAGE(opened, (opened ? "" : opened.error().describe()));
    CHECK(opened->content.answers == content.answers);
    CHECK(opened->content.allocation == got->record.content.allocation);
}

TEST_CASE("an allocation in a batch is undone with the batch") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const auto north = deal(store, coachingStudy(), kNorth, 0, 1);
    const Uuid caseId = makeUuidV4();
    {
        auto batch = store.beginBatch();
        REQUIRE(batch);
        REQUIRE(store.finalizeNew(intake(caseId, "", kNorth)));
        // One that fails inside the batch undoes only itself.
        CHECK_FALSE(store.finalizeNew(intake(caseId, "", kNorth)));
        CHECK(store.allocationLog()->size() == 1);
    }
    CHECK(store.allocationLog()->empty());
    CHECK(store.caseInfo(caseId).error().code == ErrorCode::NotFound);
    {
        auto batch = store.beginBatch();
        REQUIRE(batch);
        auto done = store.finalizeNew(intake(caseId, "", kNorth));
        REQUIRE(done);
        REQUIRE(batch->commit());
        CHECK(sameSlot(*store.get(done->id)->record.content.allocation, north.front()));
    }
    CHECK(store.allocationLog()->size() == 1);
}
