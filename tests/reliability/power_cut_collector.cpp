// Power cuts on the collector's store: pushes from several threads at once (so that group commit
// stores them in one transaction), conflict resolutions, review changes and enrolments.
//
// The collector opens its connections without naming a VFS, so the power-cut VFS is made SQLite's
// default for the work of a round (power_cut_round.hpp). After the cut, the file must open, pass
// integrity_check and the foreign key check, and keep the collector's rules: every device's
// revisions are numbered 1..received_through (with the rejected ones) and no further, every
// record's current revision is its newest, every conflict names revisions of its record, every
// review state is the last of its history. Then each scenario checks that what was answered is
// there, intact (compared with what was sent or returned), once, and that what the cut
// interrupted is there whole or not at all.
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <veld/clock.hpp>
#include <veld/record.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "reliability/power_cut_round.hpp"
#include "support/power_cut_vfs.hpp"
#include "support/test_support.hpp"

namespace veld::reliability::power_cut {

namespace {

constexpr const char* kCollectorFile = "collector.db";
constexpr const char* kSurveyForm = "power_cut_survey";

std::int64_t nowMs() {
    return SystemClock::instance().nowMillis();
}

std::span<const std::uint8_t> idBytes(const Uuid& id) {
    return {id.bytes.data(), id.bytes.size()};
}

Uuid idFrom(std::span<const std::uint8_t> blob) {
    Uuid id;
    if (blob.size() == id.bytes.size()) std::copy(blob.begin(), blob.end(), id.bytes.begin());
    return id;
}

std::unique_ptr<sync::CollectorStore> mustOpen(const std::string& path, bool create) {
    auto opened = sync::openSqliteCollector(path, create);
    if (!opened) throw std::runtime_error("preparing the collector: " + opened.error().describe());
    return std::move(opened.value());
}

Uuid enrolDevice(sync::CollectorStore& store, const std::string& label) {
    sync::EnrolRequest request;
    auto code = store.createEnrolCode(label, nowMs(), "test");
    if (!code) throw std::runtime_error("preparing: " + code.error().describe());
    request.code = *code;
    request.deviceId = makeUuidV4();
    auto reply = store.enrol(request, nowMs());
    if (!reply) throw std::runtime_error("preparing: " + reply.error().describe());
    return request.deviceId;
}

// A revision as a device sends it: a finalized record with content n.
sync::PushRevision revisionOf(const Uuid& device, std::uint64_t seq, const Uuid& recordId,
                              HlcTimestamp hlc, int n, std::uint64_t baseHlc = 0) {
    Record r;
    r.id = recordId;
    r.deviceId = device;
    r.hlc = hlc;
    r.createdHlc = hlc;
    r.finalized = true;
    r.content = test::sampleContent(n, kSurveyForm);
    sync::PushRevision rev;
    rev.seq = seq;
    rev.recordId = recordId;
    rev.hlc = hlc;
    rev.baseHlc = baseHlc;
    rev.body = encodeRecord(r).value();
    rev.formId = r.content.formId;
    rev.formVersion = r.content.formVersion;
    return rev;
}

// Runs a query whose rows are counted; the first column of its one row.
std::int64_t countOf(sql::Database& db, const std::string& query) {
    auto st = db.prepare(query);
    if (!st) throw std::runtime_error(query + ": " + st.error().describe());
    auto row = st->step();
    if (!row || !*row) throw std::runtime_error(query + ": no row");
    return st->columnInt(0);
}

// Opens the collector after the cut (normal VFS) and checks its rules. The open store and a
// second, raw connection, or nothing when it is too broken to go on.
struct Opened {
    std::unique_ptr<sync::CollectorStore> store;
    sql::Database db;
};

std::optional<Opened> openAndCheck(Round& round) {
    const std::string path = round.file(kCollectorFile);
    auto opened = sync::openSqliteCollector(path, false);
    if (!opened) {
        round.corrupt("the collector does not open: " + opened.error().describe());
        return std::nullopt;
    }
    auto db = sql::Database::open(path, sql::OpenMode::ReadOnly);
    if (!db) {
        round.corrupt("a second connection cannot open: " + db.error().describe());
        return std::nullopt;
    }
    Opened out{std::move(opened.value()), std::move(db.value())};
    try {
        {
            auto st = out.db.prepare("PRAGMA integrity_check");
            if (!st) throw std::runtime_error(st.error().describe());
            std::string result;
            while (true) {
                auto row = st->step();
                if (!row) throw std::runtime_error(row.error().describe());
                if (!*row) break;
                result += std::string(st->columnText(0)) + " ";
            }
            if (result != "ok ") {
                round.corrupt("integrity_check: " + result);
                return std::nullopt;
            }
        }
        const std::pair<const char*, const char*> rules[] = {
            {"SELECT count(*) FROM pragma_foreign_key_check", "foreign keys broken"},
            // received_through is exactly the revisions (and rejected ones) held: 1..N.
            {"SELECT count(*) FROM devices d WHERE d.received_through <> "
             "(SELECT count(*) FROM (SELECT seq FROM revisions r WHERE r.device_id = d.device_id "
             "UNION ALL SELECT seq FROM rejected j WHERE j.device_id = d.device_id)) OR "
             "d.received_through <> coalesce((SELECT max(seq) FROM (SELECT seq FROM revisions r "
             "WHERE r.device_id = d.device_id UNION ALL SELECT seq FROM rejected j WHERE "
             "j.device_id = d.device_id)), 0)",
             "a device's received_through does not match its revisions"},
            {"SELECT count(*) FROM revisions r WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE "
             "d.device_id = r.device_id)",
             "revisions of an unknown device"},
            // The current view: every record's newest revision.
            {"SELECT count(*) FROM records x LEFT JOIN revisions v ON v.rid = x.current_rid WHERE "
             "v.rid IS NULL OR v.record_id <> x.record_id OR v.hlc <> x.hlc OR x.hlc <> (SELECT "
             "max(hlc) FROM revisions w WHERE w.record_id = x.record_id)",
             "a record's current revision is not its newest"},
            {"SELECT count(DISTINCT record_id) FROM revisions WHERE record_id NOT IN (SELECT "
             "record_id FROM records)",
             "revisions of a record missing from the current view"},
            {"SELECT count(*) FROM conflicts c LEFT JOIN revisions a ON a.rid = c.rid_a LEFT JOIN "
             "revisions b ON b.rid = c.rid_b WHERE a.rid IS NULL OR b.rid IS NULL OR "
             "a.record_id <> c.record_id OR b.record_id <> c.record_id",
             "a conflict names revisions of another record"},
            {"SELECT count(*) FROM reviews r WHERE r.state IS NOT (SELECT h.state FROM "
             "review_history h WHERE h.record_id = r.record_id ORDER BY h.hid DESC LIMIT 1)",
             "a review state is not the last of its history"},
            {"SELECT count(DISTINCT record_id) FROM review_history WHERE record_id NOT IN (SELECT "
             "record_id FROM reviews)",
             "a review history without its state"},
        };
        for (const auto& [query, what] : rules) {
            const auto n = countOf(out.db, query);
            if (n != 0) round.corrupt(std::string(what) + " (" + std::to_string(n) + ")");
        }
    } catch (const std::exception& e) {
        round.corrupt(std::string("checking the collector's rules: ") + e.what());
        return std::nullopt;
    }
    if (round.failed()) return std::nullopt;
    return out;
}

// Opens the collector for a round's work (through the power-cut VFS, the default now); nothing
// when the power went during the open.
std::unique_ptr<sync::CollectorStore> openForWork(Round& round) {
    auto opened = sync::openSqliteCollector(round.file(kCollectorFile), false);
    if (!opened) {
        if (!test::powerIsCut())
            round.fail("the collector did not open: " + opened.error().describe());
        return nullptr;
    }
    return std::move(opened.value());
}

// ---- Pushes with group commit -------------------------------------------------------------------

constexpr int kPushThreads = 4;
constexpr int kDevicesPerThread = 2;
constexpr int kPushesPerThread = 6;

struct Sent {
    Uuid recordId;
    HlcTimestamp hlc;
    std::vector<std::uint8_t> body;
};

struct PushShared {
    std::vector<Uuid> devices;
    std::map<Uuid, std::vector<Sent>> prepared;  // per device, seq 1, 2, ...
    // The round:
    std::map<Uuid, std::vector<Sent>> sent;  // per device, prepared included
    std::map<Uuid, std::uint64_t> answered;  // highest seq of an answered push
    std::map<Uuid, std::pair<std::uint64_t, std::uint64_t>> inFlight;  // first..last seq
};

void preparePush(const std::string& dir, PushShared& shared) {
    auto store = mustOpen(dir + "/" + kCollectorFile, true);
    int n = 1;
    for (int d = 0; d < kPushThreads * kDevicesPerThread; ++d) {
        const Uuid device = enrolDevice(*store, "laptop-" + std::to_string(d));
        shared.devices.push_back(device);
        sync::PushBatch batch;
        batch.deviceId = device;
        for (std::uint64_t seq = 1; seq <= 3; ++seq, ++n) {
            auto rev = revisionOf(device, seq, makeUuidV7(SystemClock::instance()),
                                  HlcTimestamp::make(static_cast<std::uint64_t>(nowMs()), 0), n);
            shared.prepared[device].push_back({rev.recordId, rev.hlc, rev.body});
            batch.revisions.push_back(std::move(rev));
        }
        if (auto r = store->push(device, batch, nowMs()); !r)
            throw std::runtime_error("preparing: " + r.error().describe());
    }
}

void workPush(PushShared& shared, Round& round) {
    shared.sent = shared.prepared;
    shared.answered.clear();
    shared.inFlight.clear();
    for (const auto& d : shared.devices)
        shared.answered[d] = shared.prepared[d].size();
    auto store = openForWork(round);
    if (!store) {
        round.powerOff();
        return;
    }
    struct Thread {
        std::uint64_t seed = 0;
        long acknowledged = 0;
        std::string failure;
        std::map<Uuid, std::uint64_t> answered;
        std::map<Uuid, std::pair<std::uint64_t, std::uint64_t>> inFlight;
    };
    std::vector<Thread> threads(kPushThreads);
    for (auto& t : threads)
        t.seed = round.rng()();
    // Each thread owns its devices' vectors in `sent`: no two threads touch one.
    std::vector<std::thread> running;
    for (int t = 0; t < kPushThreads; ++t) {
        running.emplace_back([&, t] {
            Thread& me = threads[static_cast<std::size_t>(t)];
            std::mt19937_64 rng(me.seed);
            for (int p = 0; p < kPushesPerThread; ++p) {
                const Uuid device = shared.devices[static_cast<std::size_t>(
                    t * kDevicesPerThread + static_cast<int>(rng() % kDevicesPerThread))];
                auto& mine = shared.sent.find(device)->second;
                sync::PushBatch batch;
                batch.deviceId = device;
                const auto count = 1 + rng() % 4;
                for (std::uint64_t i = 0; i < count; ++i) {
                    const std::uint64_t seq = mine.size() + 1;
                    const int n = 10000 + t * 1000 + static_cast<int>(seq);
                    auto rev =
                        revisionOf(device, seq, makeUuidV7(SystemClock::instance()),
                                   HlcTimestamp::make(static_cast<std::uint64_t>(nowMs()), 0), n);
                    mine.push_back({rev.recordId, rev.hlc, rev.body});
                    batch.revisions.push_back(std::move(rev));
                }
                const std::uint64_t first = batch.revisions.front().seq;
                const std::uint64_t last = batch.revisions.back().seq;
                auto reply = store->push(device, batch, nowMs());
                if (!reply) {
                    if (test::powerIsCut()) {
                        me.inFlight[device] = {first, last};
                    } else {
                        me.failure = "a push failed with the power on: " + reply.error().describe();
                    }
                    return;
                }
                if (reply->receivedThrough != last) {
                    me.failure = "a push was answered through " +
                                 std::to_string(reply->receivedThrough) + ", not " +
                                 std::to_string(last);
                    return;
                }
                me.answered[device] = last;
                me.acknowledged += static_cast<long>(count);
            }
        });
    }
    for (auto& th : running)
        th.join();
    round.powerOff();
    store.reset();
    for (const auto& t : threads) {
        round.acknowledge(t.acknowledged);
        if (!t.failure.empty()) round.fail(t.failure);
        for (const auto& [d, seq] : t.answered)
            shared.answered[d] = seq;
        for (const auto& [d, range] : t.inFlight)
            shared.inFlight[d] = range;
    }
}

void verifyPush(const PushShared& shared, Round& round) {
    auto opened = openAndCheck(round);
    if (!opened) return;
    auto devices = opened->store->devices();
    if (!devices) {
        round.corrupt("devices cannot be listed: " + devices.error().describe());
        return;
    }
    std::map<Uuid, std::uint64_t> through;
    for (const auto& d : *devices)
        through[d.deviceId] = d.receivedThrough;
    for (const auto& device : shared.devices) {
        const std::uint64_t answered = shared.answered.at(device);
        const std::uint64_t held = through[device];
        const auto flight = shared.inFlight.find(device);
        const std::string who = "device " + device.toString();
        if (held < answered) {
            round.lost(static_cast<long>(answered - held),
                       who + ": answered through " + std::to_string(answered) +
                           ", received_through " + std::to_string(held));
        } else if (held != answered &&
                   (flight == shared.inFlight.end() || held != flight->second.second)) {
            round.corrupt(who + ": received_through " + std::to_string(held) +
                          " ends no push (answered through " + std::to_string(answered) + ")");
        }
        // Every revision held is exactly what was sent under its number.
        auto st = opened->db.prepare(
            "SELECT seq, record_id, hlc, body FROM revisions WHERE device_id = ? ORDER BY seq");
        if (!st) {
            round.corrupt("revisions: " + st.error().describe());
            return;
        }
        st->bindBlob(1, idBytes(device));
        const auto& sent = shared.sent.at(device);
        long missing = 0;
        while (true) {
            auto row = st->step();
            if (!row || !*row) break;
            const auto seq = static_cast<std::uint64_t>(st->columnInt(0));
            const auto body = st->columnBlob(3);
            if (seq == 0 || seq > sent.size()) {
                round.corrupt(who + ": revision " + std::to_string(seq) + " was never sent");
                continue;
            }
            const Sent& s = sent[seq - 1];
            if (idFrom(st->columnBlob(1)) != s.recordId ||
                static_cast<std::uint64_t>(st->columnInt(2)) != s.hlc.value ||
                !std::equal(body.begin(), body.end(), s.body.begin(), s.body.end())) {
                if (seq <= answered) {
                    ++missing;
                } else {
                    round.corrupt(who + ": revision " + std::to_string(seq) + " is not as sent");
                }
            }
        }
        if (missing > 0) round.lost(missing, who + ": revisions changed");
    }
    const auto twice =
        countOf(opened->db,
                "SELECT count(*) FROM (SELECT record_id FROM revisions GROUP BY record_id HAVING "
                "count(*) > 1)");
    if (twice > 0) round.doubled(twice, "records stored twice");
}

// ---- Conflict resolution ------------------------------------------------------------------------

constexpr int kConflicts = 24;
constexpr int kResolutionsPerRound = 10;

struct Resolution {
    std::int64_t conflict = 0;
    Uuid recordId;
    sync::ConflictResolution::Kind kind = sync::ConflictResolution::Kind::KeepA;
    sync::StoredRevision result;  // answered ones (none for Close)
};

struct ConflictShared {
    std::vector<std::pair<std::int64_t, Uuid>> conflicts;  // id, record
    std::vector<Resolution> answered;
    std::optional<Resolution> inFlight;
};

void prepareConflicts(const std::string& dir, ConflictShared& shared) {
    auto store = mustOpen(dir + "/" + kCollectorFile, true);
    const Uuid a = enrolDevice(*store, "laptop-a");
    const Uuid b = enrolDevice(*store, "laptop-b");
    for (int i = 1; i <= kConflicts; ++i) {
        const Uuid record = makeUuidV7(SystemClock::instance());
        const auto millis = static_cast<std::uint64_t>(nowMs());
        for (const auto& [device, n] : {std::pair{a, i}, std::pair{b, 5000 + i}}) {
            sync::PushBatch batch;
            batch.deviceId = device;
            // Made blind on both: base 0, so B's revision conflicts with A's.
            batch.revisions.push_back(revisionOf(device, static_cast<std::uint64_t>(i), record,
                                                 HlcTimestamp::make(millis, device == a ? 1 : 2),
                                                 n));
            if (auto r = store->push(device, batch, nowMs()); !r)
                throw std::runtime_error("preparing: " + r.error().describe());
        }
    }
    auto conflicts = store->conflicts();
    if (!conflicts || conflicts->size() != kConflicts)
        throw std::runtime_error("preparing: the conflicts were not made");
    for (const auto& c : *conflicts)
        shared.conflicts.emplace_back(c.id, c.recordId);
}

void workConflicts(ConflictShared& shared, Round& round) {
    shared.answered.clear();
    shared.inFlight.reset();
    auto store = openForWork(round);
    if (!store) {
        round.powerOff();
        return;
    }
    auto order = shared.conflicts;
    std::shuffle(order.begin(), order.end(), round.rng());
    for (int i = 0; i < kResolutionsPerRound; ++i) {
        Resolution r;
        r.conflict = order[static_cast<std::size_t>(i)].first;
        r.recordId = order[static_cast<std::size_t>(i)].second;
        sync::ConflictResolution how;
        how.kind = static_cast<sync::ConflictResolution::Kind>(round.pick(4));
        if (how.kind == sync::ConflictResolution::Kind::Merge) how.fromB = {"age", "name_child"};
        how.comment = "settled in round " + std::to_string(round.number());
        r.kind = how.kind;
        auto done = store->resolveConflict(r.conflict, how, nowMs(), "staff");
        if (!done) {
            if (test::powerIsCut()) {
                shared.inFlight = r;
            } else {
                round.fail("resolving a conflict failed with the power on: " +
                           done.error().describe());
            }
            break;
        }
        r.result = *done;
        shared.answered.push_back(r);
        round.acknowledge();
    }
    round.powerOff();
}

void verifyConflicts(const ConflictShared& shared, Round& round) {
    auto opened = openAndCheck(round);
    if (!opened) return;
    sql::Database& db = opened->db;
    try {
        // The staff device exists once a resolution that writes a revision committed.
        Uuid staff;
        {
            auto st = db.prepare("SELECT value FROM meta WHERE key = 'staff_device'");
            if (!st) throw std::runtime_error(st.error().describe());
            auto row = st->step();
            if (row && *row) {
                if (auto id = Uuid::parse(st->columnText(0))) staff = *id;
            }
        }
        auto resolved =
            db.prepare("SELECT resolved_utc_ms IS NOT NULL FROM conflicts WHERE cid = ?");
        auto staffRevisions = db.prepare(
            "SELECT v.seq, v.hlc, v.body, v.rid = x.current_rid FROM revisions v JOIN records x "
            "ON x.record_id = v.record_id WHERE v.device_id = ? AND v.record_id = ?");
        if (!resolved || !staffRevisions) throw std::runtime_error("preparing the checks");
        std::map<std::int64_t, const Resolution*> answered;
        for (const auto& r : shared.answered)
            answered[r.conflict] = &r;
        for (const auto& [cid, record] : shared.conflicts) {
            resolved->reset();
            resolved->bind(1, cid);
            auto row = resolved->step();
            const bool isResolved = row && *row && resolved->columnInt(0) != 0;
            struct Held {
                std::uint64_t seq;
                std::uint64_t hlc;
                std::vector<std::uint8_t> body;
                bool current;
            };
            std::vector<Held> held;
            staffRevisions->reset();
            staffRevisions->bindBlob(1, idBytes(staff)).bindBlob(2, idBytes(record));
            while (true) {
                auto r = staffRevisions->step();
                if (!r || !*r) break;
                const auto body = staffRevisions->columnBlob(2);
                held.push_back({static_cast<std::uint64_t>(staffRevisions->columnInt(0)),
                                static_cast<std::uint64_t>(staffRevisions->columnInt(1)),
                                {body.begin(), body.end()},
                                staffRevisions->columnInt(3) != 0});
            }
            const std::string what = "conflict " + std::to_string(cid);
            if (held.size() > 1) round.doubled(1, what + " was resolved more than once");
            const Resolution* mine = nullptr;
            if (auto it = answered.find(cid); it != answered.end()) {
                mine = it->second;
            } else if (shared.inFlight && shared.inFlight->conflict == cid) {
                mine = &*shared.inFlight;
            }
            const bool writes = mine && mine->kind != sync::ConflictResolution::Kind::Close;
            if (auto it = answered.find(cid); it != answered.end()) {
                const Resolution& r = *it->second;
                bool intact = isResolved;
                if (writes) {
                    intact = intact && held.size() == 1 && held[0].seq == r.result.seq &&
                             held[0].hlc == r.result.hlc.value && held[0].body == r.result.body &&
                             held[0].current && r.result.deviceId == staff;
                }
                if (!intact) round.lost(1, what + " was answered resolved, the disk disagrees");
            } else if (shared.inFlight && shared.inFlight->conflict == cid) {
                const bool none = !isResolved && held.empty();
                const bool whole = isResolved && (writes ? held.size() == 1 && held[0].current &&
                                                               decodeRecord(held[0].body).ok()
                                                         : held.empty());
                if (!none && !whole) round.corrupt(what + " (interrupted) is half resolved");
            } else if (isResolved || !held.empty()) {
                round.corrupt(what + " was never resolved, the disk says it was");
            }
        }
    } catch (const std::exception& e) {
        round.corrupt(std::string("checking resolutions: ") + e.what());
    }
}

// ---- Review -------------------------------------------------------------------------------------

constexpr int kReviewRecords = 12;
constexpr int kReviewsPerRound = 14;

struct ReviewChangeSent {
    Uuid recordId;
    sync::ReviewState state = sync::ReviewState::Received;
    std::string comment;
};

struct ReviewShared {
    std::vector<Uuid> records;
    std::vector<ReviewChangeSent> answered;
    std::optional<ReviewChangeSent> inFlight;
};

void prepareReview(const std::string& dir, ReviewShared& shared) {
    auto store = mustOpen(dir + "/" + kCollectorFile, true);
    const Uuid device = enrolDevice(*store, "laptop");
    sync::PushBatch batch;
    batch.deviceId = device;
    for (int i = 1; i <= kReviewRecords; ++i) {
        auto rev =
            revisionOf(device, static_cast<std::uint64_t>(i), makeUuidV7(SystemClock::instance()),
                       HlcTimestamp::make(static_cast<std::uint64_t>(nowMs()), 0), i);
        shared.records.push_back(rev.recordId);
        batch.revisions.push_back(std::move(rev));
    }
    if (auto r = store->push(device, batch, nowMs()); !r)
        throw std::runtime_error("preparing: " + r.error().describe());
}

void workReview(ReviewShared& shared, Round& round) {
    shared.answered.clear();
    shared.inFlight.reset();
    auto store = openForWork(round);
    if (!store) {
        round.powerOff();
        return;
    }
    for (int i = 0; i < kReviewsPerRound; ++i) {
        ReviewChangeSent change;
        change.recordId = shared.records[round.pick(shared.records.size())];
        change.state = static_cast<sync::ReviewState>(round.pick(4));
        // Comments of different lengths, up to several pages of the file.
        change.comment = "review " + std::to_string(i) + " of round " +
                         std::to_string(round.number()) + ": " +
                         std::string(round.pick(4000), static_cast<char>('a' + i % 26));
        Status s =
            store->setReview(change.recordId, change.state, change.comment, nowMs(), "staff");
        if (!s) {
            if (test::powerIsCut()) {
                shared.inFlight = change;
            } else {
                round.fail("a review change failed with the power on: " + s.error().describe());
            }
            break;
        }
        shared.answered.push_back(change);
        round.acknowledge();
    }
    round.powerOff();
}

void verifyReview(const ReviewShared& shared, Round& round) {
    auto opened = openAndCheck(round);
    if (!opened) return;
    sql::Database& db = opened->db;
    auto history =
        db.prepare("SELECT state, comment FROM review_history WHERE record_id = ? ORDER BY hid");
    if (!history) {
        round.corrupt("review_history: " + history.error().describe());
        return;
    }
    long total = 0;
    for (const auto& record : shared.records) {
        std::vector<ReviewChangeSent> expected;
        for (const auto& c : shared.answered)
            if (c.recordId == record) expected.push_back(c);
        std::vector<ReviewChangeSent> held;
        history->reset();
        history->bindBlob(1, idBytes(record));
        while (true) {
            auto row = history->step();
            if (!row || !*row) break;
            held.push_back({record, static_cast<sync::ReviewState>(history->columnInt(0)),
                            std::string(history->columnText(1))});
        }
        total += static_cast<long>(held.size());
        auto same = [](const ReviewChangeSent& a, const ReviewChangeSent& b) {
            return a.state == b.state && a.comment == b.comment;
        };
        const std::string what = "record " + record.toString();
        std::size_t common = 0;
        while (common < held.size() && common < expected.size() &&
               same(held[common], expected[common]))
            ++common;
        if (common < expected.size()) {
            round.lost(static_cast<long>(expected.size() - common),
                       what + ": " + std::to_string(expected.size()) +
                           " review changes answered, " + std::to_string(common) + " held as made");
            continue;
        }
        const std::size_t extra = held.size() - expected.size();
        const bool interrupted = shared.inFlight && shared.inFlight->recordId == record;
        if (extra == 1 && interrupted && same(held.back(), *shared.inFlight)) continue;
        if (extra > 0) {
            const bool repeat = !expected.empty() && same(held[expected.size()], expected.back());
            if (repeat) {
                round.doubled(static_cast<long>(extra), what + ": a review change held twice");
            } else {
                round.corrupt(what + ": review changes that were never made");
            }
        }
    }
    const auto audited = countOf(db, "SELECT count(*) FROM audit WHERE action = 'review'");
    if (audited != total)
        round.corrupt(std::to_string(total) + " review changes, " + std::to_string(audited) +
                      " audited");
}

// ---- Enrolment ----------------------------------------------------------------------------------

constexpr int kEnrolmentsPerRound = 8;

struct Enrolment {
    std::string code;
    Uuid device;
    std::string credential;
    std::string label;
};

struct EnrolShared {
    long codes = 0;  // codes made and answered
    std::vector<Enrolment> answered;
    std::optional<Enrolment> inFlight;
    bool codeInFlight = false;
};

void prepareEnrol(const std::string& dir, EnrolShared&) {
    auto store = mustOpen(dir + "/" + kCollectorFile, true);
    (void)enrolDevice(*store, "laptop-prepared");
}

void workEnrol(EnrolShared& shared, Round& round) {
    shared = EnrolShared{};
    auto store = openForWork(round);
    if (!store) {
        round.powerOff();
        return;
    }
    for (int i = 0; i < kEnrolmentsPerRound; ++i) {
        Enrolment e;
        e.label = "round-" + std::to_string(round.number()) + "-laptop-" + std::to_string(i);
        auto code = store->createEnrolCode(e.label, nowMs(), "staff");
        if (!code) {
            if (test::powerIsCut()) {
                shared.codeInFlight = true;
            } else {
                round.fail("making a code failed with the power on: " + code.error().describe());
            }
            break;
        }
        ++shared.codes;
        e.code = *code;
        e.device = makeUuidV4();
        sync::EnrolRequest request;
        request.code = e.code;
        request.deviceId = e.device;
        request.devicePublicKey.assign(32, static_cast<std::uint8_t>(i + 1));
        auto reply = store->enrol(request, nowMs());
        if (!reply) {
            if (test::powerIsCut()) {
                shared.inFlight = e;
            } else {
                round.fail("an enrolment failed with the power on: " + reply.error().describe());
            }
            break;
        }
        e.credential = reply->credential;
        shared.answered.push_back(e);
        round.acknowledge();
    }
    round.powerOff();
}

void verifyEnrol(const EnrolShared& shared, Round& round) {
    auto opened = openAndCheck(round);
    if (!opened) return;
    sync::CollectorStore& store = *opened->store;
    sql::Database& db = opened->db;
    try {
        auto devices = store.devices();
        if (!devices) throw std::runtime_error(devices.error().describe());
        std::map<Uuid, std::string> labels;
        for (const auto& d : *devices)
            labels[d.deviceId] = d.label;
        auto usedBy = db.prepare("SELECT count(*) FROM enrol_codes WHERE used_by = ?");
        auto audited =
            db.prepare("SELECT count(*) FROM audit WHERE action = 'enrol' AND subject = ?");
        if (!usedBy || !audited) throw std::runtime_error("preparing the checks");
        auto count = [](sql::Statement& st, const Uuid& device, bool asText) {
            st.reset();
            if (asText) {
                st.bind(1, device.toString());
            } else {
                st.bindBlob(1, idBytes(device));
            }
            auto row = st.step();
            return row && *row ? st.columnInt(0) : -1;
        };
        for (const auto& e : shared.answered) {
            const std::string what = "enrolment of " + e.label;
            auto who = store.authenticate(e.credential);
            if (!who || *who != e.device || labels[e.device] != e.label) {
                round.lost(1, what + ": its credential no longer works");
                continue;
            }
            if (count(*usedBy, e.device, false) != 1)
                round.corrupt(what + ": its code is not marked used by it");
            const auto audits = count(*audited, e.device, true);
            if (audits > 1) round.doubled(audits - 1, what + ": audited twice");
            if (audits < 1) round.corrupt(what + ": not audited");
        }
        long expectedDevices = 1 + static_cast<long>(shared.answered.size());
        if (shared.inFlight) {
            const auto& e = *shared.inFlight;
            const bool present = labels.count(e.device) != 0;
            const auto used = count(*usedBy, e.device, false);
            const auto audits = count(*audited, e.device, true);
            if (present != (used == 1) || present != (audits == 1))
                round.corrupt("the interrupted enrolment of " + e.label + " is half there");
            if (present) ++expectedDevices;
        }
        // Fewer devices is loss, counted above; more is a device nobody enrolled.
        if (static_cast<long>(labels.size()) > expectedDevices)
            round.corrupt(std::to_string(labels.size()) + " devices, " +
                          std::to_string(expectedDevices) + " enrolled");
        // Codes: the prepared one, every answered one, maybe the interrupted one.
        const auto codes = countOf(db, "SELECT count(*) FROM enrol_codes");
        const long made = 1 + shared.codes;
        if (codes < made) {
            round.lost(made - codes,
                       std::to_string(made) + " codes made, " + std::to_string(codes) + " held");
        } else if (codes > made + (shared.codeInFlight ? 1 : 0)) {
            round.corrupt(std::to_string(codes) + " codes held, " + std::to_string(made) + " made");
        }
    } catch (const std::exception& e) {
        round.corrupt(std::string("checking enrolments: ") + e.what());
    }
}

template <class Shared>
Scenario collectorScenario(std::string name, std::string what, bool timed,
                           void (*prepare)(const std::string&, Shared&),
                           void (*work)(Shared&, Round&), void (*verify)(const Shared&, Round&)) {
    auto shared = std::make_shared<Shared>();
    Parts parts;
    parts.name = std::move(name);
    parts.what = std::move(what);
    parts.viaDefaultVfs = true;
    parts.timedCuts = timed;
    parts.prepare = [shared, prepare](const std::string& dir) {
        *shared = Shared{};
        prepare(dir, *shared);
        // The collector checkpoints (on its own thread) at 2,000 pages of WAL: start near that.
        leaveWalFilled(dir + "/" + kCollectorFile, 1960,
                       "INSERT INTO meta (key, value) VALUES (?1, ?2)");
    };
    parts.work = [shared, work](Round& round) { work(*shared, round); };
    parts.verify = [shared, verify](Round& round) { verify(*shared, round); };
    return makeScenario(std::move(parts));
}

}  // namespace

void addCollectorScenarios(std::vector<Scenario>& out) {
    out.push_back(collectorScenario<PushShared>(
        "collector-push-power-cut",
        "collector: pushes from 4 threads at once (group commit) cut by power loss; every "
        "answered push survives as sent, received_through matches",
        true, preparePush, workPush, verifyPush));
    out.push_back(collectorScenario<ConflictShared>(
        "collector-conflict-power-cut",
        "collector: conflict resolutions cut by power loss; each answered one there once, the "
        "interrupted one whole or not at all",
        false, prepareConflicts, workConflicts, verifyConflicts));
    out.push_back(collectorScenario<ReviewShared>(
        "collector-review-power-cut",
        "collector: review changes cut by power loss; histories hold every answered change "
        "once, in order",
        false, prepareReview, workReview, verifyReview));
    out.push_back(collectorScenario<EnrolShared>(
        "collector-enrol-power-cut",
        "collector: enrolment codes and enrolments cut by power loss; every answered "
        "credential works, no device half enrolled",
        false, prepareEnrol, workEnrol, verifyEnrol));
}

}  // namespace veld::reliability::power_cut
