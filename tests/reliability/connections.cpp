// Connections cut at random byte offsets, both ways (a request on its way up, a reply on its way
// down), between devices and a real collector, through the cutting proxy
// (tests/support/cut_proxy.hpp). One collector serves a world of devices for many rounds; in each
// round devices sync one at a time, so the round's cuts follow from its seed, and retry until a
// sync round succeeds. Then nothing may be lost or doubled, and each device must hold what the
// collector has for it.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>

#include <veld/allocation.hpp>
#include <veld/sync/protocol.hpp>

#include "reliability/fault_rounds.hpp"
#include "reliability/scenarios.hpp"
#include "support/cut_proxy.hpp"
#include "support/sync_world.hpp"
#include "veldctl/veldctl.hpp"

namespace veld::reliability {

namespace {

constexpr int kRoundsPerWorld = 50;
constexpr int kAttempts = 60;  // sync rounds a device may need; each request is cut at most 1 in 2
constexpr const char* kStudy = "cut_study";
constexpr const char* kTeam = "field";

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A world: a collector, the proxy in front of it, and the devices that sync through it.
struct CutWorld {
    std::unique_ptr<test::SyncWorld> world;
    std::unique_ptr<test::CutProxy> proxy;
    std::vector<test::SyncWorld::Device*> active;    // the devices syncing in this world now
    long cutsUp = 0, cutsUpAtEnd = 0, cutsDown = 0;  // through the proxies of worlds gone

    // Starts a new world, its collector and its proxy when the round begins one; true when it
    // did (the caller then adds devices).
    bool renew(const Options& o, int round) {
        if (world &&
            world->folder() == o.workDir + "/world-" + std::to_string(round / kRoundsPerWorld))
            return false;
        if (proxy) {
            cutsUp += proxy->cutsUp();
            cutsUpAtEnd += proxy->cutsUpAtEnd();
            cutsDown += proxy->cutsDown();
        }
        proxy.reset();
        active.clear();
        renewWorld(world, o, round, kRoundsPerWorld);
        return true;
    }

    void startCollector() {
        world->collector().start(kScenarioCollectorFlags);
        proxy = std::make_unique<test::CutProxy>(world->collector().port());
    }

    // Enrols a device directly (enrolment is not what is cut here), puts it in the team and
    // points it at the proxy.
    test::SyncWorld::Device& addDevice(const std::string& name) {
        auto& d = world->addEnrolledDevice(name);
        if (auto s = world->staff().setDeviceTeam(d.id, kTeam, nowMs(), "reliability"); !s)
            throw std::runtime_error(s.error().describe());
        d.connection.collector = "http://127.0.0.1:" + std::to_string(proxy->port());
        return d;
    }

    // The cuts so far, for the table.
    std::string note(const std::string& what, long failed) const {
        const long up = cutsUp + (proxy ? proxy->cutsUp() : 0);
        const long atEnd = cutsUpAtEnd + (proxy ? proxy->cutsUpAtEnd() : 0);
        const long down = cutsDown + (proxy ? proxy->cutsDown() : 0);
        return std::to_string(up) + " " + what + " requests cut (" + std::to_string(atEnd) +
               " at their last byte), " + std::to_string(down) + " replies cut, " +
               std::to_string(failed) + " sync rounds retried";
    }
};

// The plan of one round: each request to `path` is cut with probability 1/2, up or down, at an
// offset anywhere in the message, by a reset or an orderly close, all drawn from the round's
// generator (the device's requests come one at a time, so the draws follow the seed).
test::CutProxy::Plan cutPlan(std::mt19937_64& rng, const std::string& path) {
    return [&rng, path](const std::string& p) -> std::optional<test::CutProxy::Cut> {
        if (p != path || rng() % 2 == 0) return std::nullopt;
        test::CutProxy::Cut c;
        c.up = rng() % 2 == 0;
        c.at = std::uniform_real_distribution<double>(0, 1)(rng);
        // A quarter of the cuts go exactly to the end of the message: the collector has all of a
        // request, or the device all of a reply but its last byte.
        if (rng() % 4 == 0) c.at = 1;
        c.reset = rng() % 2 == 0;
        return c;
    };
}

// Syncs a device through the proxy until a round succeeds; counts the cut attempts.
bool syncThroughCuts(test::SyncWorld::Device& d, const sync::SyncOptions& options, long& failed,
                     std::string& lastError) {
    auto& store = *d.store;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        auto r = sync::syncOnce(store, d.connection, options);
        if (r) return true;
        ++failed;
        lastError = r.error().describe();
    }
    return false;
}

// ---- connection-cut-push --------------------------------------------------------------------

constexpr std::size_t kPushDevices = 3;

Outcome cutPush(const Options& o) {
    Outcome out;
    CutWorld w;
    long failed = 0;
    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        if (w.renew(o, round)) {
            w.startCollector();
            for (std::size_t d = 0; d < kPushDevices; ++d)
                w.active.push_back(&w.addDevice("device-" + std::to_string(d)));
        }
        auto& device = *w.active[rng() % w.active.size()];
        const int k = 1 + static_cast<int>(rng() % 6);
        w.world->addRecords(device, k, round * 10);
        sync::SyncOptions options;
        options.maxBatchRecords = 1 + rng() % 3;
        options.pull = false;
        std::uint64_t ackedBefore = 0;
        {
            auto& store = *device.store;
            ackedBefore = store.outboxState()->ackedThrough;
        }

        w.proxy->setPlan(cutPlan(rng, sync::kPushPath));
        std::string error;
        const bool done = syncThroughCuts(device, options, failed, error);
        w.proxy->setPlan({});
        if (!done) {
            out.fail(o.seed, round,
                     "the device did not get through in " + std::to_string(kAttempts) +
                         " sync rounds: " + error);
        }

        auto file = w.world->open();
        test::CheckTally tally;
        auto& store = *device.store;
        out.acknowledged += static_cast<long>(store.outboxState()->ackedThrough - ackedBefore);
        test::checkDelivery(file, device.ledger, store, done, tally);
        test::checkCollector(*w.world, file, tally);
        addChecks(out, tally, o, round, kRoundsPerWorld);
        if (o.verbose) {
            std::fprintf(stderr, "round %d: %d records, %s\n", round, k,
                         w.note("push", failed).c_str());
        }
    }
    out.note = w.note("push", failed);
    return out;
}

// ---- connection-cut-pull --------------------------------------------------------------------

constexpr std::size_t kPullDevices = 3;

// What a device does between syncs: enrols 0-2 participants (a case opened, a slot taken) where
// it has slots, and half the time writes a note on one of the team's cases it holds.
void fieldWork(test::SyncWorld::Device& d, std::mt19937_64& rng, int round, long& acknowledged) {
    auto& store = *d.store;
    auto stock = store.allocationStock();
    const int participants = static_cast<int>(rng() % 3);
    for (int p = 0; p < participants && stock; ++p) {
        const std::string site = rng() % 2 ? "east" : "west";
        const std::string stratum = alloc::stratumKey({{"site", site}});
        bool has = false;
        for (auto& s : stock.value()) {
            if (s.stratum == stratum && s.remaining > 0) {
                has = true;
                --s.remaining;
            }
        }
        if (!has) continue;
        RecordContent c;
        c.formId = "cut_intake";
        c.formVersion = 1;
        c.caseId = makeUuidV4();
        c.answers = {{"site", ChoiceAnswer{site, {}}}};
        char pseudonym[80];
        std::snprintf(pseudonym, sizeof pseudonym, "demo:%064x",
                      static_cast<unsigned>(round * 10 + p));
        c.caseChange = CaseChange{CaseAction::Open, "participant", pseudonym, {{"site", site, {}}}};
        c.allocate = AllocationRequest{kStudy, stratum};
        auto done = store.finalizeNew(c);
        if (!done) throw std::runtime_error("an enrolment failed: " + done.error().describe());
        d.ledger.records.push_back(done->id);
        ++acknowledged;
    }
    if (rng() % 2 == 0) {
        auto cases = store.cases(CaseQuery{});
        if (cases && !cases->empty()) {
            const auto& target = cases.value()[rng() % cases->size()];
            RecordContent c;
            c.formId = "cut_visit";
            c.formVersion = 1;
            c.caseId = target.id;
            c.caseChange = CaseChange{
                CaseAction::FollowUp, "", "", {{"note", "round " + std::to_string(round), {}}}};
            auto done = store.finalizeNew(c);
            if (!done) throw std::runtime_error("a case note failed: " + done.error().describe());
            d.ledger.records.push_back(done->id);
            ++acknowledged;
        }
    }
}

// Every case of the team at the collector is on the device with the collector's current values.
void checkCases(test::SyncWorld& world, test::SyncWorld::Device& d, test::CheckTally& tally) {
    sync::CaseFilter filter;
    filter.assignedTeam = kTeam;
    auto cases = world.staff().cases(filter);
    if (!cases) {
        tally.addCorrupt(1, "the collector's cases cannot be read");
        return;
    }
    auto& store = *d.store;
    const std::string who = "device " + d.id.toString().substr(0, 8);
    for (const auto& c : cases.value()) {
        auto mine = store.caseInfo(c.caseId);
        if (!mine) {
            tally.addLost(1, who + " pulled, yet lacks case " + c.caseId.toString().substr(0, 8));
            continue;
        }
        for (const auto& p : c.properties) {
            if (p.value.empty()) continue;
            bool same = false;
            for (const auto& q : mine->properties)
                same = same || (q.name == p.name && q.value == p.value && q.hlc == p.hlc);
            if (!same) {
                tally.addLost(1, who + " pulled, yet holds another " + p.name + " of case " +
                                     c.caseId.toString().substr(0, 8));
            }
        }
    }
}

Outcome cutPull(const Options& o) {
    Outcome out;
    CutWorld w;
    long failed = 0, freshDevices = 0, records = 0;
    for (int round = o.firstRound; round < o.firstRound + o.rounds; ++round) {
        ++out.rounds;
        std::mt19937_64 rng(reliability::roundSeed(o.seed, round));
        if (w.renew(o, round)) {
            auto& staff = w.world->staff();
            if (auto s = staff.defineStudy(smallBlocksStudy(kStudy), nowMs(), "reliability"); !s)
                throw std::runtime_error(s.error().describe());
            std::vector<std::string> publish{"collector", "publish",
                                             w.world->collector().storePath()};
            for (const auto& f : test::pilotFormFiles())
                publish.push_back(f);
            std::ostringstream pout, perr;
            if (veldctl::run(publish, pout, perr) != 0)
                throw std::runtime_error("publishing the pilot forms failed: " + perr.str());
            w.startCollector();
            for (std::size_t d = 0; d < kPullDevices; ++d)
                w.active.push_back(&w.addDevice("device-" + std::to_string(d)));
        }
        const auto fail = [&](const std::string& what) { out.fail(o.seed, round, what); };

        // One device in the round works; now and then it is a new one, whose first pull brings
        // every form, the study, its first blocks and every case of the team.
        const std::size_t worker = rng() % w.active.size();
        if (rng() % 8 == 0) {
            w.active[worker] = &w.addDevice("device-r" + std::to_string(round));
            ++freshDevices;
        }
        fieldWork(*w.active[worker], rng, round, records);

        // Every device syncs twice, one after another (the second time it hears what the others
        // sent after its first), with pulls cut.
        sync::SyncOptions options;
        options.maxBatchRecords = 2;
        w.proxy->setPlan(cutPlan(rng, sync::kPullPath));
        bool allDone = true;
        for (int pass = 0; pass < 2; ++pass) {
            for (auto* d : w.active) {
                std::string error;
                if (syncThroughCuts(*d, options, failed, error)) {
                    ++out.acknowledged;
                } else {
                    allDone = false;
                    fail("a device did not get through in " + std::to_string(kAttempts) +
                         " sync rounds: " + error);
                }
            }
        }
        w.proxy->setPlan({});

        // Each device holds every form, every case of the team as the collector has it, and
        // exactly the blocks dealt to it; everything it sent is held once.
        auto file = w.world->open();
        test::CheckTally tally;
        auto forms = file.publishedForms();
        auto dealt = file.dealtBlocks(kStudy);
        auto study = file.study(kStudy);
        if (!forms || !dealt || !study) {
            tally.addCorrupt(1, "the collector's file cannot be read");
        } else {
            for (auto* d : w.active) {
                auto& store = *d->store;
                test::checkDelivery(file, d->ledger, store, allDone, tally);
                test::checkBlocks(dealt.value(), study.value(), d->path, d->ledger, allDone, tally);
                if (!allDone) continue;
                std::map<std::string, std::uint32_t> mine;
                if (auto installed = store.forms(); installed) {
                    for (const auto& f : installed.value())
                        mine[f.formId] = f.version;
                }
                if (mine != forms.value()) {
                    tally.addLost(static_cast<long>(forms->size()) -
                                      static_cast<long>(std::min(mine.size(), forms->size())),
                                  "a device pulled, yet holds " + std::to_string(mine.size()) +
                                      " of the " + std::to_string(forms->size()) + " forms");
                }
                auto stock = store.allocationStock();
                if (!stock || stock->size() != 2) {
                    tally.addLost(1, "a device pulled, yet does not know the study");
                } else {
                    for (const auto& s : stock.value())
                        if (s.remaining <= 0)
                            tally.addLost(1, "a device pulled, yet has no slot in " + s.stratum);
                }
                checkCases(*w.world, *d, tally);
            }
        }
        test::checkCollector(*w.world, file, tally);
        if (allDone && (round + 1) % 10 == 0) {
            auto verified = w.world->staff().verifyAllocations(kStudy);
            if (!verified || !verified->ok())
                tally.addCorrupt(1, "the study's allocations do not verify");
        }
        addChecks(out, tally, o, round, kRoundsPerWorld);
        if (o.verbose) {
            std::fprintf(stderr, "round %d: %s\n", round, w.note("pull", failed).c_str());
        }
    }
    out.note = w.note("pull", failed) + ", " + std::to_string(freshDevices) + " new devices, " +
               std::to_string(records) + " records made";
    return out;
}

}  // namespace

void addConnectionScenarios(std::vector<Scenario>& out) {
    out.push_back({"connection-cut-push",
                   "a round: one of 3 devices adds 1-6 records and pushes (1-3 per request) "
                   "through a proxy that cuts half the pushes, request or reply, at a random "
                   "byte (a quarter at the last), until a sync succeeds; acknowledged: records; "
                   "every record at the collector once, unchanged, the outbox empty",
                   100, 1000, cutPush});
    out.push_back({"connection-cut-pull",
                   "a round: one of 3 devices (now and then a new one) enrols 0-2 participants "
                   "and notes on a case; all sync twice with half the pulls cut, request or "
                   "reply, at a random byte; acknowledged: sync rounds that succeeded; each "
                   "holds every form, every team case as the collector has it, exactly its "
                   "dealt blocks, and its records reached the collector once",
                   100, 1000, cutPull});
}

}  // namespace veld::reliability
