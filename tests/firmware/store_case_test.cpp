// Cases on the device: opened, followed up and closed by finalized records, merged with what the
// collector sends, and found again in the case list.
#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

Store openNew(const std::string& path, const Clock* clock) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .clock = clock});
    REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
    return std::move(store.value());
}

RecordContent caseRecord(const Uuid& caseId, CaseAction action,
                         std::vector<CasePropertyValue> properties, std::string pseudonym = {}) {
    RecordContent c = test::sampleContent(
        3, action == CaseAction::Open ? "jobcoach_intake" : "jobcoach_follow_up");
    c.caseId = caseId;
    c.caseChange = CaseChange{action, action == CaseAction::Open ? "participant" : "",
                              std::move(pseudonym), std::move(properties)};
    return c;
}

CasePropertyValue prop(std::string name, std::string value, HlcTimestamp base = {}) {
    return {std::move(name), std::move(value), base};
}

// The case change as the finalized body carries it.
CaseChange bodyChange(Store& store, const Uuid& recordId) {
    auto got = store.get(recordId);
    REQUIRE_MESSAGE(got, (got ? "" : got.error().describe()));
    REQUIRE(got->record.content.caseChange);
    return *got->record.content.caseChange;
}

// Labels in list order, readable in a failure message.
std::string labels(const std::vector<CaseInfo>& cases) {
    std::string out;
    for (const auto& c : cases)
        out += (out.empty() ? "" : " | ") + c.property("label");
    return out;
}

std::vector<Uuid> ids(const std::vector<CaseInfo>& cases) {
    std::vector<Uuid> out;
    for (const auto& c : cases)
        out.push_back(c.id);
    return out;
}

}  // namespace

TEST_CASE("a case is opened, followed up and closed, each change carrying the value it replaced") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const Uuid caseId = makeUuidV4();

    // A draft that would open the case keeps its change as given and opens nothing.
    auto draft = store.saveDraft(caseRecord(
        caseId, CaseAction::Open,
        {prop("label", "Anna de Vries"), prop("next_contact", "2026-03-01")}, "k1:0a0b"));
    REQUIRE(draft);
    CHECK(store.caseInfo(caseId).error().code == ErrorCode::NotFound);
    CHECK(store.get(*draft)->record.content.caseChange ==
          caseRecord(caseId, CaseAction::Open,
                     {prop("label", "Anna de Vries"), prop("next_contact", "2026-03-01")},
                     "k1:0a0b")
              .caseChange);

    clock.advance(1000);
    auto opened = store.finalize(
        *draft, caseRecord(caseId, CaseAction::Open,
                           {prop("label", "Anna de Vries"), prop("next_contact", "2026-03-01")},
                           "k1:0a0b"));
    REQUIRE_MESSAGE(opened, (opened ? "" : opened.error().describe()));
    auto info = store.caseInfo(caseId);
    REQUIRE(info);
    CHECK(info->caseType == "participant");
    CHECK(info->pseudonym == "k1:0a0b");
    CHECK(info->property("label") == "Anna de Vries");
    CHECK(info->property("status") == "open");
    CHECK(info->property("phone").empty());
    CHECK_FALSE(info->closed);
    CHECK(info->lastContactUtcMs == static_cast<std::int64_t>(opened->hlc.millis()));
    REQUIRE(info->properties.size() == 3);
    for (const auto& p : info->properties)
        CHECK(p.hlc == opened->hlc);
    // The body tells the collector every property it set, `status` included, none replacing any.
    CHECK(bodyChange(store, opened->id).properties ==
          std::vector<CasePropertyValue>{prop("label", "Anna de Vries"),
                                         prop("next_contact", "2026-03-01"),
                                         prop("status", "open")});

    clock.advance(86'400'000);
    auto followed = store.finalizeNew(
        caseRecord(caseId, CaseAction::FollowUp,
                   {prop("next_contact", "2026-04-15"), prop("phone", "0612345678")}));
    REQUIRE_MESSAGE(followed, (followed ? "" : followed.error().describe()));
    CHECK(bodyChange(store, followed->id).properties ==
          std::vector<CasePropertyValue>{prop("next_contact", "2026-04-15", opened->hlc),
                                         prop("phone", "0612345678")});
    info = store.caseInfo(caseId);
    CHECK(info->property("next_contact") == "2026-04-15");
    CHECK(info->property("label") == "Anna de Vries");
    CHECK(info->lastContactUtcMs == static_cast<std::int64_t>(followed->hlc.millis()));

    clock.advance(86'400'000);
    auto closed =
        store.finalizeNew(caseRecord(caseId, CaseAction::Close, {prop("outcome", "work found")}));
    REQUIRE(closed);
    CHECK(bodyChange(store, closed->id).properties ==
          std::vector<CasePropertyValue>{prop("outcome", "work found"),
                                         prop("status", "closed", opened->hlc)});
    info = store.caseInfo(caseId);
    CHECK(info->closed);
    CHECK(store.cases({})->empty());
    CHECK(ids(*store.cases({.includeClosed = true})) == std::vector<Uuid>{caseId});

    // All of it survives reopening, and the outbox holds the three revisions in order.
    auto again = Store::open(dir.file("device.veld"), {.clock = &clock});
    REQUIRE(again);
    CHECK(again->caseInfo(caseId)->properties == info->properties);
    CHECK(again->outboxState()->lastSeq == 3);
    CHECK(again->check(false)->ok());
}

TEST_CASE("a change to a case the device does not hold is refused, and nothing is saved") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const Uuid unknown = makeUuidV4();

    for (CaseAction action : {CaseAction::FollowUp, CaseAction::Close}) {
        CAPTURE(caseActionName(action));
        auto refused = store.finalizeNew(caseRecord(unknown, action, {prop("phone", "06")}));
        REQUIRE_FALSE(refused);
        CHECK(refused.error().code == ErrorCode::NotFound);
        CHECK(refused.error().message.find("not on this device") != std::string::npos);
    }
    // A draft of one may wait for the case to arrive.
    auto draft = store.saveDraft(caseRecord(unknown, CaseAction::FollowUp, {prop("phone", "06")}));
    REQUIRE(draft);
    auto refused =
        store.finalize(*draft, caseRecord(unknown, CaseAction::FollowUp, {prop("phone", "06")}));
    REQUIRE_FALSE(refused);
    CHECK(store.get(*draft)->meta.status == RecordStatus::Draft);
    CHECK(store.outboxState()->lastSeq == 0);
    CHECK(store.info()->finalized == 0);

    // Another record cannot open a case that is already here under the same id.
    REQUIRE(store.finalizeNew(caseRecord(unknown, CaseAction::Open, {prop("label", "A")})));
    auto twice = store.finalizeNew(caseRecord(unknown, CaseAction::Open, {prop("label", "B")}));
    REQUIRE_FALSE(twice);
    CHECK(twice.error().code == ErrorCode::WrongState);
    CHECK(store.caseInfo(unknown)->property("label") == "A");
    CHECK(store.outboxState()->lastSeq == 1);

    // Once the case is here, the waiting draft goes through.
    CHECK(store.finalize(*draft, caseRecord(unknown, CaseAction::FollowUp, {prop("phone", "06")})));
    CHECK(store.caseInfo(unknown)->property("phone") == "06");

    // A record cannot bring an allocation of its own making.
    RecordContent forged = caseRecord(unknown, CaseAction::FollowUp, {});
    forged.allocation = Allocation{"study", "", 0, 0, "treatment", {}, 1, 0};
    CHECK(store.finalizeNew(forged).error().code == ErrorCode::InvalidArgument);
    CHECK(store.saveDraft(forged).error().code == ErrorCode::InvalidArgument);
}

TEST_CASE("cases from the collector merge property by property, the newer value winning") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const Uuid mine = makeUuidV4();
    auto opened = store.finalizeNew(
        caseRecord(mine, CaseAction::Open, {prop("label", "Here"), prop("phone", "061")}));
    REQUIRE(opened);
    const HlcTimestamp older = HlcTimestamp::make(opened->hlc.millis() - 5000, 0);
    const HlcTimestamp newer = HlcTimestamp::make(opened->hlc.millis() + 3'600'000, 2);

    const Uuid theirs = makeUuidV4();
    const Uuid gone = makeUuidV4();
    std::vector<CaseUpdateIn> in = {
        {mine,
         "participant",
         "",
         {{"label", "There (older)", older},
          {"phone", "062", newer},
          {"school", "De Linde", older}},
         opened->hlc.millis() - 60'000,
         true},
        {theirs, "vacancy", "", {{"label", "Bakery", older}}, 1'759'000'000'000, true},
        {gone, "participant", "", {{"label", "Never here", older}}, std::nullopt, false},
    };
    REQUIRE(store.mergeCases(in));

    auto info = store.caseInfo(mine);
    REQUIRE(info);
    CHECK(info->property("label") == "Here");  // ours is newer
    CHECK(info->property("phone") == "062");   // theirs is newer
    CHECK(info->property("school") == "De Linde");
    CHECK(info->caseType == "participant");
    CHECK(info->lastContactUtcMs == static_cast<std::int64_t>(opened->hlc.millis()));
    CHECK(store.caseInfo(theirs)->property("label") == "Bakery");
    CHECK(store.caseInfo(theirs)->lastContactUtcMs == 1'759'000'000'000);
    CHECK(store.caseInfo(gone).error().code == ErrorCode::NotFound);

    // Merging the same again changes nothing; an older value never replaces a newer one.
    REQUIRE(store.mergeCases(in));
    CHECK(store.caseInfo(mine)->properties == info->properties);

    // A change made here after the newer value is stamped after it, so it replaces it here and
    // names it as its base for the collector.
    auto changed =
        store.finalizeNew(caseRecord(mine, CaseAction::FollowUp, {prop("phone", "063")}));
    REQUIRE(changed);
    CHECK(changed->hlc > newer);
    CHECK(bodyChange(store, changed->id).properties ==
          std::vector<CasePropertyValue>{prop("phone", "063", newer)});
    CHECK(store.caseInfo(mine)->property("phone") == "063");

    // A case no longer assigned here leaves the list but stays readable.
    CHECK(ids(*store.cases({})).size() == 2);
    std::vector<CaseUpdateIn> unassign = {{theirs, "", "", {}, std::nullopt, false}};
    REQUIRE(store.mergeCases(unassign));
    CHECK(ids(*store.cases({})) == std::vector<Uuid>{mine});
    CHECK(store.caseInfo(theirs)->property("label") == "Bakery");
    CHECK(store.caseInfo(theirs)->caseType == "vacancy");
}

TEST_CASE("regression: of two case values with one HLC, every device keeps the greater") {
    // Two devices can stamp the same HLC; the collector keeps the greater value then, and a
    // device holding the other one must take it, or the two never converge.
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const Uuid caseId = makeUuidV4();
    const HlcTimestamp same = HlcTimestamp::make(1'760'000'000'000, 0);
    std::vector<CaseUpdateIn> first = {
        {caseId, "participant", "", {{"next_contact", "2026-12-08", same}}, std::nullopt, true}};
    REQUIRE(store.mergeCases(first));
    std::vector<CaseUpdateIn> greater = {
        {caseId, "participant", "", {{"next_contact", "2026-12-10", same}}, std::nullopt, true}};
    REQUIRE(store.mergeCases(greater));
    CHECK(store.caseInfo(caseId)->property("next_contact") == "2026-12-10");
    // The smaller one arriving again changes nothing.
    REQUIRE(store.mergeCases(first));
    CHECK(store.caseInfo(caseId)->property("next_contact") == "2026-12-10");
}

TEST_CASE("the case list finds cases by text or pseudonym, planned contacts first") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    struct Made {
        Uuid id;
        std::string label, next, pseudonym;
    };
    std::vector<Made> made = {
        {makeUuidV4(), "ANNA Jansen", "2026-05-02", "k1:00aa11"},
        {makeUuidV4(), "Bram Bakker", "", "k1:00bb22"},
        {makeUuidV4(), "Cem Yilmaz", "2026-04-20", ""},
        {makeUuidV4(), "Dana 100% sure", "2026-02-30", "k1:00dd44"},  // not a date: no plan
        {makeUuidV4(), "Eva Smit", "", ""},
    };
    for (const auto& m : made) {
        clock.advance(60'000);
        std::vector<CasePropertyValue> props = {prop("label", m.label)};
        if (!m.next.empty()) props.push_back(prop("next_contact", m.next));
        REQUIRE(store.finalizeNew(caseRecord(m.id, CaseAction::Open, props, m.pseudonym)));
    }
    // A vacancy, from the collector.
    const Uuid vacancy = makeUuidV4();
    std::vector<CaseUpdateIn> in = {{vacancy,
                                     "vacancy",
                                     "",
                                     {{"label", "Anna's bakery", HlcTimestamp::make(1, 0)}},
                                     1'700'000'000'000,
                                     true}};
    REQUIRE(store.mergeCases(in));

    // Planned contacts soonest first, then the most recent contact first.
    CHECK(labels(*store.cases({})) ==
          "Cem Yilmaz | ANNA Jansen | Eva Smit | Dana 100% sure | Bram Bakker | Anna's bakery");
    CHECK(labels(*store.cases({.limit = 2})) == "Cem Yilmaz | ANNA Jansen");
    // ASCII letters match in either case; % is text, not a pattern.
    CHECK(ids(*store.cases({.text = "anna"})) == std::vector<Uuid>{made[0].id, vacancy});
    CHECK(ids(*store.cases({.text = "anna", .caseType = "participant"})) ==
          std::vector<Uuid>{made[0].id});
    CHECK(ids(*store.cases({.text = "0%"})) == std::vector<Uuid>{made[3].id});
    CHECK(ids(*store.cases({.text = "bb22"})) == std::vector<Uuid>{made[1].id});
    CHECK(ids(*store.cases({.pseudonym = "k1:00aa11"})) == std::vector<Uuid>{made[0].id});
    CHECK(store.cases({.pseudonym = "k1:00aa1"})->empty());
    CHECK(store.cases({.text = "nobody"})->empty());

    auto first = store.caseInfo(made[0].id);
    REQUIRE(first);
    CHECK(first->nextContactDays() == 20'575);  // 2026-05-02
    CHECK(store.caseInfo(made[3].id)->nextContactDays() == std::nullopt);
    CHECK(store.caseInfo(made[4].id)->nextContactDays() == std::nullopt);
}

TEST_CASE("a planned contact is read as days since 1970 only when it is a real ISO date") {
    auto days = [](std::string text) {
        CaseInfo info;
        info.properties.push_back({"next_contact", std::move(text), {}});
        return info.nextContactDays();
    };
    CHECK(days("1970-01-01") == 0);
    CHECK(days("2000-03-01") == 11'017);
    CHECK(days("2024-02-29") == 19'782);
    CHECK(days("1969-12-31") == -1);
    CHECK(days("2023-02-29") == std::nullopt);
    CHECK(days("2026-13-01") == std::nullopt);
    CHECK(days("2026-1-01") == std::nullopt);
    CHECK(days("2026-01-01T10:00") == std::nullopt);
    CHECK(days("") == std::nullopt);
}

TEST_CASE("a follow-up names the value it started from, not one received while it was open") {
    test::TempDir dir;
    ManualClock clock(1'760'000'000'000);
    Store store = openNew(dir.file("device.veld"), &clock);
    const Uuid caseId = makeUuidV4();
    auto opened = store.finalizeNew(
        caseRecord(caseId, CaseAction::Open, {prop("next_contact", "2026-03-01")}, ""));
    REQUIRE(opened);

    // The form starts from the case as it is; then another device's value arrives by pull.
    clock.advance(1000);
    const HlcTimestamp theirs{opened->hlc.value + (5000ull << 16)};
    REQUIRE(store.mergeCases(std::vector<CaseUpdateIn>{
        {caseId, "participant", "", {{"next_contact", "2026-03-09", theirs}}, {}, true}}));
    auto change = caseRecord(caseId, CaseAction::FollowUp, {prop("next_contact", "2026-03-05")});
    change.caseChange->properties[0].base = opened->hlc;
    change.caseChange->basesKnown = true;
    auto followed = store.finalizeNew(change);
    REQUIRE(followed);
    // The body says it replaced the value the form started from: the collector sees two
    // concurrent changes and keeps both, instead of this one silently replacing theirs.
    const auto written = bodyChange(store, followed->id).properties;
    REQUIRE(written.size() == 1);
    CHECK(written[0].base == opened->hlc);
    CHECK(store.caseInfo(caseId)->property("next_contact") == "2026-03-05");

    // Veld's own properties are never set by a form.
    auto own = store.finalizeNew(caseRecord(caseId, CaseAction::FollowUp, {prop("arm", "ips")}));
    REQUIRE_FALSE(own);
    CHECK(own.error().code == ErrorCode::InvalidArgument);
}
