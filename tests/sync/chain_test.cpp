// Per-device hash chains at the collector: links kept with each revision (either backend), and
// `veldctl collector verify-chain` naming the device, sequence number and problem when a
// revision is deleted or altered in the collector's own database.
#include <chrono>

#include <doctest/doctest.h>

#include <veld/chain.hpp>
#include <veld/hex.hpp>
#include <veld/sync/chain_check.hpp>
#include <veld/sync/protocol.hpp>

#include "postgres/pg.hpp"
#include "support/sync_support.hpp"

using namespace veld;

namespace {

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Outbox entries linked as a device links them (veld/chain.hpp), from link 0.
void link(std::vector<OutboxEntry>& entries) {
    chain::Digest previous = chain::kFirstPrevious;
    for (auto& e : entries) {
        const auto next =
            chain::nextLink(previous, e.seq, e.recordId, e.hlc, chain::bodyDigest(e.body));
        e.chainPrev.assign(previous.begin(), previous.end());
        e.chainLink.assign(next.begin(), next.end());
        previous = next;
    }
}

// Tampering with the collector's database behind its back, as someone with file or database
// access could (foreign keys do not stop them: an SQLite connection has them off unless asked,
// and a PostgreSQL owner can drop them).
void tamper(const std::string& location, const std::string& sql) {
    if (sync::isPostgresLocation(location)) {
        auto c = pg::Connection::open({location, {}});
        REQUIRE(c);
        REQUIRE(
            c->exec("ALTER TABLE records DROP CONSTRAINT IF EXISTS records_current_rid_fkey; "
                    "ALTER TABLE conflicts DROP CONSTRAINT IF EXISTS conflicts_rid_a_fkey; " +
                    sql));
        return;
    }
    auto db = sql::Database::open(location, sql::OpenMode::ReadWrite);
    REQUIRE(db);
    auto done = db->exec(sql);
    REQUIRE_MESSAGE(done, done.error().describe());
}

// A body one byte longer (SQLite's || makes text of blobs: cast back).
std::string longerBody(const std::string& location) {
    return sync::isPostgresLocation(location) ? "body || '\\x00'::bytea"
                                              : "CAST(body || x'00' AS BLOB)";
}

}  // namespace

TEST_CASE("a chain walk names missing, altered and reordered revisions") {
    const Uuid device = makeUuidV4();
    std::vector<sync::ChainEntry> entries;
    chain::Digest previous = chain::kFirstPrevious;
    for (std::uint64_t seq = 1; seq <= 5; ++seq) {
        sync::ChainEntry e;
        e.seq = seq;
        e.recordId = makeUuidV4();
        e.hlc = HlcTimestamp::make(1000 + seq, 0);
        e.body = {static_cast<std::uint8_t>(seq), 1, 2, 3};
        const auto next =
            chain::nextLink(previous, e.seq, e.recordId, e.hlc, chain::bodyDigest(e.body));
        e.chainPrev.assign(previous.begin(), previous.end());
        e.chainLink.assign(next.begin(), next.end());
        previous = next;
        entries.push_back(e);
    }
    const auto walk = [&](const std::vector<sync::ChainEntry>& list, std::uint64_t through) {
        sync::ChainWalker walker(device, through);
        for (const auto& e : list)
            walker.add(e);
        return walker.finish();
    };
    auto whole = walk(entries, 5);
    CHECK(whole.complete());
    CHECK(whole.hasChain);

    // Revision 4 held in 2's place and 2 in 4's (their numbers swapped): each is "altered" (its
    // number is in its link) and does not follow its predecessor.
    auto swapped = entries;
    std::swap(swapped[1].body, swapped[3].body);
    std::swap(swapped[1].chainPrev, swapped[3].chainPrev);
    std::swap(swapped[1].chainLink, swapped[3].chainLink);
    std::swap(swapped[1].recordId, swapped[3].recordId);
    std::swap(swapped[1].hlc, swapped[3].hlc);
    auto report = walk(swapped, 5);
    REQUIRE_FALSE(report.complete());
    bool reordered = false;
    for (const auto& p : report.problems)
        reordered = reordered || (p.kind == sync::ChainProblem::Kind::Reordered && p.seq == 2);
    CHECK(reordered);

    // Nothing after 3 arrived though the collector says it received through 5.
    auto cut = walk(std::vector<sync::ChainEntry>(entries.begin(), entries.begin() + 3), 5);
    REQUIRE(cut.problems.size() == 1);
    CHECK(sync::describe(cut.problems[0]) == "seq 4-5: missing (not held by the collector)");

    // A device from before the chain: "no chain", and gaps still show.
    auto old = entries;
    for (auto& e : old) {
        e.chainPrev.clear();
        e.chainLink.clear();
    }
    auto unchained = walk(old, 5);
    CHECK_FALSE(unchained.hasChain);
    CHECK(unchained.complete());
}

TEST_CASE("verify-chain reports a deleted and an altered revision by device and number") {
    test::TempDir dir;
    const std::string location = test::testCollectorLocation(dir);
    test::CollectorProcess collector(location);
    test::publishPilotForms(collector);
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    (void)test::enrolDevice(device, collector);
    (void)test::addFinalized(device, 5);
    auto entries = device.outboxPending(100, 1u << 20);
    REQUIRE(entries);
    REQUIRE(entries->size() == 5);
    link(entries.value());
    auto batch = sync::decodePushRequest(sync::encodePushRequest(device.deviceId(), *entries));
    REQUIRE(batch);
    {
        auto store = collector.open();
        auto reply = store->push(device.deviceId(), batch.value(), wallMs());
        REQUIRE(reply);
        CHECK(reply->receivedThrough == 5);
    }
    const std::string id = device.deviceId().toString();

    auto clean = test::veldctl({"collector", "verify-chain", location});
    CHECK_MESSAGE(clean.exitCode == 0, clean.err);
    CHECK(clean.out.find(id + ": complete through 5") != std::string::npos);

    // Exports carry each record's chain position; Python's csv reader reads them back.
    const auto exported = test::veldctl(
        {"export", location, "vmbo_parent_survey", "--format", "csv", "--out", dir.file("out")});
    REQUIRE_MESSAGE(exported.exitCode == 0, exported.err);
    const auto read = test::runProcess(
        {"/usr/bin/python3", "-c",
         "import csv,sys\nfor r in csv.DictReader(open(sys.argv[1], newline='')):\n"
         "    print(r['record_id'], r['chain_seq'], r['chain_link'])",
         dir.file("out/vmbo_parent_survey.csv")});
    REQUIRE_MESSAGE(read.exitCode == 0, read.err);
    for (const auto& e : entries.value()) {
        const std::string row = e.recordId.toString() + " " + std::to_string(e.seq) + " " +
                                toHex(e.chainLink).substr(0, 16);
        CHECK_MESSAGE(read.out.find(row) != std::string::npos, row);
    }
    // The same in Stata (pandas) and Excel (openpyxl) files.
    for (const std::string format : {"dta", "xlsx"}) {
        const std::string folder = dir.file("out-" + format);
        const auto made = test::veldctl(
            {"export", location, "vmbo_parent_survey", "--format", format, "--out", folder});
        REQUIRE_MESSAGE(made.exitCode == 0, made.err);
        const std::string script =
            format == "dta"
                ? "import pandas,sys\nd=pandas.read_stata(sys.argv[1])\n"
                  "for _,r in d.iterrows(): print(r['record_id'], int(r['chain_seq']), "
                  "r['chain_link'])"
                : "import openpyxl,sys\nws=openpyxl.load_workbook(sys.argv[1]).worksheets[0]\n"
                  "rows=list(ws.iter_rows(values_only=True))\nh=list(rows[0])\n"
                  "for r in rows[1:]: print(r[h.index('record_id')], int(r[h.index('chain_seq')]), "
                  "r[h.index('chain_link')])";
        const auto back = test::runProcess(
            {"/usr/bin/python3", "-c", script, folder + "/vmbo_parent_survey." + format});
        REQUIRE_MESSAGE(back.exitCode == 0, back.err);
        for (const auto& e : entries.value()) {
            const std::string row = e.recordId.toString() + " " + std::to_string(e.seq) + " " +
                                    toHex(e.chainLink).substr(0, 16);
            CHECK_MESSAGE(back.out.find(row) != std::string::npos,
                          std::string(format + ": " + row));
        }
    }

    // Someone with access to the database removes revision 3 and changes revision 2's body.
    tamper(location, "DELETE FROM revisions WHERE seq = 3");
    tamper(location, "UPDATE revisions SET body = " + longerBody(location) + " WHERE seq = 2");
    auto found = test::veldctl({"collector", "verify-chain", location, "--device", id});
    CHECK(found.exitCode == 1);
    CHECK(found.out.find(id + ": 2 problems") != std::string::npos);
    CHECK(found.out.find("seq 2: altered") != std::string::npos);
    CHECK(found.out.find("seq 3: missing") != std::string::npos);
    CHECK(found.out.find("seq 4") == std::string::npos);

    // A device that sent no links (from before the chain) is reported as such.
    auto older = test::openDevice(dir.file("older.veld"));
    (void)test::enrolDevice(older, collector);
    (void)test::addFinalized(older, 2);
    auto plain = older.outboxPending(100, 1u << 20);
    REQUIRE(plain);
    auto oldBatch = sync::decodePushRequest(sync::encodePushRequest(older.deviceId(), *plain));
    REQUIRE(oldBatch);
    REQUIRE(collector.open()->push(older.deviceId(), oldBatch.value(), wallMs()));
    auto both = test::veldctl({"collector", "verify-chain", location});
    CHECK(both.exitCode == 1);
    CHECK(both.out.find(older.deviceId().toString() + ": no chain") != std::string::npos);
}

TEST_CASE("verify-chain --case lists the case's revisions and whether their chains are whole") {
    test::TempDir dir;
    const std::string location = test::testCollectorLocation(dir);
    test::CollectorProcess collector(location);
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    (void)test::enrolDevice(device, collector);
    const Uuid caseId = makeUuidV4();
    {
        auto store = collector.open();
        // A revision made by hand, without chain links (as a device before the chain sent it).
        test::pushCaseRecord(*store, device.deviceId(), 1, caseId,
                             HlcTimestamp::make(static_cast<std::uint64_t>(wallMs()), 0),
                             {{"label", "Anna K.", {}}});
    }
    const auto shown =
        test::veldctl({"collector", "verify-chain", location, "--case", caseId.toString()});
    CHECK(shown.exitCode == 1);
    CHECK(shown.out.find("case " + caseId.toString() + ": 1 revisions") != std::string::npos);
    CHECK(shown.out.find("device " + device.deviceId().toString() + "  seq 1  link -") !=
          std::string::npos);
    CHECK(shown.out.find("device " + device.deviceId().toString() +
                         ": no chain: completeness not shown") != std::string::npos);
    // Another case: nothing of it is held, nothing is claimed.
    const auto none =
        test::veldctl({"collector", "verify-chain", location, "--case", makeUuidV4().toString()});
    CHECK(none.exitCode == 0);
    CHECK(none.out.find(": 0 revisions") != std::string::npos);
}
