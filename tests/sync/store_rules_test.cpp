// The rules every collector backend applies alike (sync/src/store_rules.hpp), checked on plain
// data: the same answers whichever backend asks.
#include "store_rules.hpp"

#include <doctest/doctest.h>

#include <veld/allocation.hpp>
#include <veld/case_merge.hpp>
#include <veld/record.hpp>

#include "enrolment.hpp"

using namespace veld;
namespace rules = veld::sync::rules;

TEST_CASE("a pushed revision conflicts only when made elsewhere without seeing the current one") {
    // Based on the current revision: it follows it, no conflict.
    auto placed = rules::placeRevision(100, false, 120, 100);
    CHECK_FALSE(placed.conflict);
    CHECK(placed.becomesCurrent);
    // Another device, based on an older revision: both kept; the newer HLC becomes current.
    placed = rules::placeRevision(100, false, 120, 90);
    CHECK(placed.conflict);
    CHECK(placed.becomesCurrent);
    // ... and an older one stays behind the current revision.
    placed = rules::placeRevision(100, false, 80, 0);
    CHECK(placed.conflict);
    CHECK_FALSE(placed.becomesCurrent);
    // The same device never conflicts with itself.
    placed = rules::placeRevision(100, true, 120, 0);
    CHECK_FALSE(placed.conflict);
    CHECK(placed.becomesCurrent);
}

TEST_CASE("a clock too far ahead or behind is flagged within the policy's tolerances") {
    sync::CollectorPolicy policy;
    policy.futureToleranceMs = 1000;
    policy.pastToleranceMs = 5000;
    const std::int64_t now = 1'000'000;
    CHECK_FALSE(rules::clockFlagged(now, now, policy));
    CHECK_FALSE(rules::clockFlagged(now + 1000, now, policy));
    CHECK(rules::clockFlagged(now + 1001, now, policy));
    CHECK_FALSE(rules::clockFlagged(now - 5000, now, policy));
    CHECK(rules::clockFlagged(now - 5001, now, policy));
}

TEST_CASE("case properties: newer wins, equal HLCs take the greater value, concurrency is seen") {
    // The device store and the collector share this rule.
    CHECK(caseValueWins(2, "a", 1, "z"));
    CHECK_FALSE(caseValueWins(1, "z", 2, "a"));
    CHECK(caseValueWins(5, "b", 5, "a"));
    CHECK_FALSE(caseValueWins(5, "a", 5, "b"));
    CHECK_FALSE(caseValueWins(5, "a", 5, "a"));
    // Byte order: a byte above 0x7f is greater than any ASCII letter.
    CHECK(caseValueWins(5, "\xc3\xa9", 5, "z"));

    // Neither saw the other, different values: a conflict; the newer is current.
    auto merged = rules::mergeProperty({"old", 10, 0}, "new", 12, 5);
    CHECK(merged.conflict);
    CHECK(merged.incomingWins);
    // Same value from both sides: no conflict to show staff.
    merged = rules::mergeProperty({"same", 10, 0}, "same", 12, 5);
    CHECK_FALSE(merged.conflict);
    // Made having seen the held value: no conflict.
    merged = rules::mergeProperty({"old", 10, 0}, "new", 12, 10);
    CHECK_FALSE(merged.conflict);
    CHECK(merged.incomingWins);
    // An older change made without seeing the newer one: kept as a conflict, not current.
    merged = rules::mergeProperty({"held", 20, 15}, "late", 18, 0);
    CHECK(merged.conflict);
    CHECK_FALSE(merged.incomingWins);
}

TEST_CASE("an open or close implies the case's status unless the record sets it") {
    CaseChange open;
    open.action = CaseAction::Open;
    auto status = rules::impliedStatus(open, std::nullopt);
    REQUIRE(status);
    CHECK(status->name == "status");
    CHECK(status->value == "open");
    CHECK_FALSE(rules::impliedStatus(open, 7));  // a status held already stays

    CaseChange close;
    close.action = CaseAction::Close;
    status = rules::impliedStatus(close, 7);
    REQUIRE(status);
    CHECK(status->value == "closed");
    CHECK(status->base.value == 7);  // based on the status held: no disagreement with it

    close.properties.push_back({"status", "withdrawn", {}});
    CHECK_FALSE(rules::impliesStatus(close));
    CHECK_FALSE(rules::impliedStatus(close, 7));

    CHECK(rules::admitsNewProperty(rules::kMaxCaseProperties - 1, "x"));
    CHECK_FALSE(rules::admitsNewProperty(rules::kMaxCaseProperties, "x"));
    CHECK(rules::admitsNewProperty(rules::kMaxCaseProperties, "status"));
    CHECK(rules::admitsNewProperty(rules::kMaxCaseProperties, "arm"));
}

TEST_CASE("staff's merge takes the named answers from B and refuses a name neither has") {
    RecordContent a;
    a.answers = {{"age", std::int64_t{30}}, {"name", std::string("Ann")}};
    RecordContent b;
    b.answers = {{"age", std::int64_t{31}}, {"town", std::string("Gouda")}};
    RecordContent merged = a;
    REQUIRE(rules::mergeFromB(merged, b, {"age", "name"}));
    REQUIRE(merged.answers.size() == 1);
    CHECK(merged.answers[0].name == "age");
    CHECK(std::get<std::int64_t>(merged.answers[0].value) == 31);
    merged = a;
    auto refused = rules::mergeFromB(merged, b, {"nothing"});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::InvalidArgument);
}

TEST_CASE("duplicate groups: one pseudonym on any form, or the same identifying answers") {
    rules::IdentifyingQuestions identifying;
    identifying[{"intake", 1}] = {"name", "born"};
    rules::DuplicateGrouping grouping(identifying);
    const PseudonymAnswer who{{1, 2, 3}, "k1", "hmac"};
    const Uuid r1 = makeUuidV4(), r2 = makeUuidV4(), r3 = makeUuidV4(), r4 = makeUuidV4();
    RecordContent c;
    c.answers = {{"pid", who}};
    grouping.add(r1, "visit", 1, c);
    grouping.add(r2, "other", 3, c);
    // Text is compared without case; an answer that does not identify is ignored.
    c.answers = {
        {"name", std::string("Ann")}, {"born", DateAnswer{100}}, {"note", std::string("x")}};
    grouping.add(r3, "intake", 1, c);
    c.answers = {
        {"name", std::string("ANN")}, {"born", DateAnswer{100}}, {"note", std::string("y")}};
    grouping.add(r4, "intake", 1, c);
    // The same answers on a version that marks nothing identifying: no group.
    grouping.add(makeUuidV4(), "intake", 2, c);
    const auto groups = grouping.groups();
    REQUIRE(groups.size() == 2);
    int pseudonyms = 0, answers = 0;
    for (const auto& g : groups) {
        CHECK(g.key.size() == 64);
        auto raw = rules::parseGroupKey(g.key);
        REQUIRE(raw);
        CHECK(raw->size() == 32);
        if (g.kind == sync::DuplicateGroup::Kind::SamePseudonym) {
            ++pseudonyms;
            CHECK(g.records == std::vector<Uuid>{r1, r2});
        } else {
            ++answers;
            CHECK(g.question == "intake");
            CHECK(g.records == std::vector<Uuid>{r3, r4});
        }
    }
    CHECK(pseudonyms == 1);
    CHECK(answers == 1);
    CHECK_FALSE(rules::parseGroupKey("abc"));
    CHECK_FALSE(rules::parseGroupKey(std::string(64, 'G')));
}

TEST_CASE("allocation verification on plain data: slots, tokens, dealing and log numbers") {
    alloc::Study study;
    study.id = "trial";
    study.arms = {{"A", 1}, {"B", 1}};
    study.blockSizes = {2};
    study.seed.fill(7);
    const auto block = alloc::generateBlock(study, "", 1);
    const Uuid device = makeUuidV4();
    const auto held = [&](std::uint32_t position, std::uint64_t logSeq) {
        rules::HeldAllocation a;
        a.row.study = "trial";
        a.row.block = 1;
        a.row.position = position;
        a.row.arm = block.arms[position];
        a.row.deviceId = device;
        a.row.logSeq = logSeq;
        a.row.caseId = makeUuidV4();
        a.token.assign(block.tokens[position].begin(), block.tokens[position].end());
        return a;
    };
    const std::vector<sync::DealtBlock> dealt{{"trial", "", 1, device, 1, 0}};
    std::vector<rules::HeldAllocation> rows{held(0, 1), held(1, 2)};
    rules::DeviceLogs logs{{device, {{1, 1}, {2, 1}}}};
    auto verified = rules::verify(study, rows, dealt, logs);
    CHECK(verified.problems.empty());
    CHECK(verified.allocations == 2);
    CHECK(verified.devices == 1);

    // A wrong token, a block never dealt, and a gap in the log are each reported.
    rows[1].token[0] ^= 1;
    logs[device] = {{1, 1}, {3, 1}};
    verified = rules::verify(study, rows, {}, logs);
    std::set<sync::AllocationProblem::Kind> kinds;
    for (const auto& p : verified.problems)
        kinds.insert(p.kind);
    CHECK(kinds.count(sync::AllocationProblem::Kind::TokenMismatch));
    CHECK(kinds.count(sync::AllocationProblem::Kind::NotDealt));
    CHECK(kinds.count(sync::AllocationProblem::Kind::LogGap));
    CHECK(verified.problemAllocations == 2);
}

TEST_CASE("credentials: parsed, compared by digest, admin names and teams validated") {
    const Uuid device = makeUuidV4();
    const std::string secret(64, 'a');
    auto parsed = rules::parseDeviceCredential(device.toString() + "." + secret);
    REQUIRE(parsed);
    CHECK(parsed->deviceId == device);
    CHECK(rules::sameDigest(parsed->digest, rules::secretDigest(secret)));
    CHECK_FALSE(rules::sameDigest(parsed->digest, rules::secretDigest(std::string(64, 'b'))));
    CHECK_FALSE(rules::parseDeviceCredential(device.toString() + ".short"));
    CHECK_FALSE(rules::parseDeviceCredential("not-a-uuid." + secret));

    const auto admin = rules::adminCredential("ann.b", secret);
    auto who = rules::parseAdminCredential(admin);
    REQUIRE(who);
    CHECK(who->name == "ann.b");
    CHECK(rules::sameDigest(who->digest, rules::secretDigest(secret)));
    CHECK_FALSE(rules::parseAdminCredential("veld-admin.ann"));
    CHECK(rules::validAdminName("ann-b_2"));
    CHECK_FALSE(rules::validAdminName(""));
    CHECK_FALSE(rules::validAdminName("ann b"));
    CHECK_FALSE(rules::validAdminName(std::string(65, 'a')));
    CHECK(rules::validTeam(""));
    CHECK_FALSE(rules::validTeam("team/1"));

    // Codes are typed by people: case and dashes do not matter.
    CHECK(rules::enrolCodeDigest("abcd-efgh-jkmn") == rules::enrolCodeDigest("ABCDEFGHJKMN"));
}

TEST_CASE("the audit log says how each device was enrolled, in the same words on every backend") {
    namespace detail = veld::sync::detail;
    using detail::EnrolAction;
    const auto first = detail::enrolAudit(EnrolAction::Enrol, "laptop-07");
    CHECK(std::string(first.action) == "enrol");
    CHECK(first.detail == "laptop-07");
    CHECK(std::string(detail::enrolAudit(EnrolAction::Repeat, "laptop-07").action) ==
          "enrol-repeat");
    const auto proved = detail::enrolAudit(EnrolAction::ReenrolProved, "laptop-07");
    CHECK(std::string(proved.action) == "reenrol");
    CHECK(proved.detail == "laptop-07 (proved by its credential)");
    const auto byStaff = detail::enrolAudit(EnrolAction::ReenrolByStaff, "laptop-07");
    CHECK(std::string(byStaff.action) == "reenrol");
    CHECK(byStaff.detail == "laptop-07 (with a code made for it)");
}

TEST_CASE("staff's value for a case conflict comes after everything held, in one rule's words") {
    // The clock ahead of every side: staff's value takes the time of the choice.
    const auto now = HlcTimestamp::make(5'000, 0);
    CHECK(rules::caseChoiceHlc(100, 200, 300, 5'000).value == now.value);
    // A side or the held value from a clock ahead of staff's: just after the newest of them,
    // so staff's choice still becomes current.
    const auto ahead = HlcTimestamp::make(9'000, 3).value;
    CHECK(rules::caseChoiceHlc(ahead, 200, std::nullopt, 5'000).value == ahead + 1);
    CHECK(rules::caseChoiceHlc(100, 200, ahead, 5'000).value == ahead + 1);
    // A clock set before 1970 counts as 0.
    CHECK(rules::caseChoiceHlc(0, 0, std::nullopt, -5).value == 1);
    sync::CaseChoice a;
    a.kind = sync::CaseChoice::Kind::A;
    sync::CaseChoice b;
    b.kind = sync::CaseChoice::Kind::B;
    sync::CaseChoice typed;
    typed.kind = sync::CaseChoice::Kind::Value;
    typed.value = "closed";
    CHECK(rules::caseChoiceWords(a) == "kept A");
    CHECK(rules::caseChoiceWords(b) == "kept B");
    CHECK(rules::caseChoiceWords(typed) == "typed a value");
    // What staff may type is bounded, and so is the comment.
    typed.value.assign(4097, 'x');
    CHECK_FALSE(rules::checkCaseChoice(typed, ""));
    typed.value.assign(4096, 'x');
    CHECK(rules::checkCaseChoice(typed, ""));
    CHECK_FALSE(rules::checkCaseChoice(a, std::string(sync::kMaxReviewCommentBytes + 1, 'c')));
}
