// Power cuts on the device store: finalize, draft saves, acknowledgements, enrolments that take an
// allocation slot, and form installs.
//
// Every round replays a list of store operations drawn from its seed, each of which the checks
// model as a change to a small picture of the store (World: records with their content number
// and status, the outbox, the acknowledged number, the allocation log, the installed forms).
// SQLite commits are atomic and ordered, so after the cut the store must look exactly like the
// picture after some prefix of the operations: at least through the last one that was durable
// when it returned (a finalize, with synchronous=FULL; drafts, acknowledgements and form installs
// are synchronous=NORMAL, durable only once a later durable commit or checkpoint synced the WAL),
// at most through the one the cut interrupted. Before that comparison, the store must open, pass
// its integrity check and body verification, and keep its own rules (a gap-free outbox that
// holds exactly the finalized records, counts that match, an allocation log numbered 1, 2, 3, ...
// whose every entry is carried by its record and case and takes the next slot of its stratum).
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <veld/allocation.hpp>
#include <veld/form.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>

#include "reliability/power_cut_round.hpp"
#include "support/power_cut_vfs.hpp"
#include "support/test_support.hpp"

namespace veld::reliability::power_cut {

namespace {

constexpr const char* kStoreFile = "device.veld";
// Forms the scenarios' records claim (never installed, so never sealed).
constexpr const char* kSurveyForm = "power_cut_survey";
constexpr const char* kIntakeForm = "power_cut_intake";
// Numbers of the prepared records' contents, and the first of the rounds'.
constexpr int kPreparedFirst = 1;
constexpr int kRoundFirst = 100000;

int contentNumber(const RecordContent& c) {
    return static_cast<int>(c.paradata.startedUtcMs - kSampleEpochMs);
}

// ---- The picture of a store ---------------------------------------------------------------------

struct RecordState {
    int n = -1;  // the content, sampleContent(n, form)
    RecordStatus status = RecordStatus::Draft;
    bool operator==(const RecordState&) const = default;
};

struct World {
    std::map<Uuid, RecordState> records;
    std::map<std::uint64_t, Uuid> outbox;  // waiting entries
    std::uint64_t lastSeq = 0;
    std::uint64_t ackedThrough = 0;
    std::vector<Uuid> allocations;                           // the log's records, in order
    std::map<std::string, std::vector<std::uint8_t>> forms;  // "id@version" -> binary
    bool operator==(const World&) const = default;
};

enum class OpKind {
    FinalizeNew,
    SaveDraft,
    UpdateDraft,
    DeleteDraft,
    FinalizeDraft,
    Acknowledge,
    InstallForm
};

struct DeviceOp {
    OpKind kind = OpKind::FinalizeNew;
    int n = -1;
    Uuid id;                // the draft it works on
    std::uint64_t seq = 0;  // Acknowledge
    std::size_t form = 0;   // InstallForm: index into the scenario's forms
    bool enrol = false;     // an intake that opens a case (and a finalize of it randomises)
    std::string stratum;
    Uuid caseId;
};

std::string describe(const DeviceOp& op) {
    switch (op.kind) {
        case OpKind::FinalizeNew:
            return op.enrol ? "enrolment " + std::to_string(op.n)
                            : "finalize of new " + std::to_string(op.n);
        case OpKind::SaveDraft:
            return "draft save " + std::to_string(op.n);
        case OpKind::UpdateDraft:
            return "draft update to " + std::to_string(op.n);
        case OpKind::DeleteDraft:
            return "draft delete of " + op.id.toString();
        case OpKind::FinalizeDraft:
            return (op.enrol ? "enrolment of draft " : "finalize of draft ") + op.id.toString();
        case OpKind::Acknowledge:
            return "acknowledgement through " + std::to_string(op.seq);
        case OpKind::InstallForm:
            return "form install #" + std::to_string(op.form);
    }
    return "operation";
}

bool durable(const DeviceOp& op) {
    return op.kind == OpKind::FinalizeNew || op.kind == OpKind::FinalizeDraft;
}

struct NamedForm {
    std::string key;  // "id@version"
    std::vector<std::uint8_t> binary;
};

// Everything a scenario keeps between its preparation, a round's work and its checks.
struct Shared {
    World prepared;
    std::vector<NamedForm> forms;
    alloc::Study study;
    std::map<std::string, std::vector<alloc::Slot>> dealt;  // per stratum, in slot order
    // The round's ledger.
    std::vector<World> worlds;  // [0]: the prepared store; [i]: after the i-th answered op
    std::size_t durableIndex = 0;
    std::vector<DeviceOp> answered;    // [i]: the operation that made worlds[i + 1]
    std::optional<DeviceOp> inFlight;  // the operation the cut interrupted
};

RecordContent contentOf(const DeviceOp& op) {
    if (!op.enrol) return test::sampleContent(op.n, kSurveyForm);
    RecordContent c = test::sampleContent(op.n, kIntakeForm);
    c.caseId = op.caseId;
    c.caseChange = CaseChange{CaseAction::Open,
                              "participant",
                              "k1:" + std::to_string(op.n),
                              {{"label", "participant " + std::to_string(op.n), {}}}};
    return c;
}

void apply(World& w, const DeviceOp& op, const Uuid& id, const Shared& shared) {
    auto queue = [&](const Uuid& record) {
        w.outbox[++w.lastSeq] = record;
        if (op.enrol) w.allocations.push_back(record);
    };
    switch (op.kind) {
        case OpKind::FinalizeNew:
            w.records[id] = {op.n, RecordStatus::Finalized};
            queue(id);
            break;
        case OpKind::FinalizeDraft:
            w.records[op.id] = {op.n, RecordStatus::Finalized};
            queue(op.id);
            break;
        case OpKind::SaveDraft:
            w.records[id] = {op.n, RecordStatus::Draft};
            break;
        case OpKind::UpdateDraft:
            w.records[op.id].n = op.n;
            break;
        case OpKind::DeleteDraft:
            w.records.erase(op.id);
            break;
        case OpKind::Acknowledge:
            while (!w.outbox.empty() && w.outbox.begin()->first <= op.seq) {
                w.records[w.outbox.begin()->second].status = RecordStatus::Sent;
                w.outbox.erase(w.outbox.begin());
            }
            w.ackedThrough = op.seq;
            break;
        case OpKind::InstallForm:
            w.forms[shared.forms[op.form].key] = shared.forms[op.form].binary;
            break;
    }
}

// The picture after the interrupted operation, had it committed: the id of a record it made is
// taken from what the disk holds (the only record there with its content).
std::optional<World> withInFlight(const World& last, const DeviceOp& op, const World& actual,
                                  const Shared& shared) {
    World w = last;
    Uuid id;
    if (op.kind == OpKind::FinalizeNew || op.kind == OpKind::SaveDraft) {
        bool found = false;
        for (const auto& [rid, state] : actual.records) {
            if (state.n == op.n && !last.records.count(rid)) {
                id = rid;
                found = true;
            }
        }
        if (!found) return std::nullopt;
    }
    apply(w, op, id, shared);
    return w;
}

// ---- Running the operations ---------------------------------------------------------------------

struct Done {
    bool ok = false;
    Uuid id;
    std::uint64_t seq = 0;
    std::string error;
};

Done execute(Store& store, const DeviceOp& op, const Shared& shared) {
    Done d;
    auto failed = [&](const Error& e) {
        d.error = e.describe();
        return d;
    };
    RecordContent content = contentOf(op);
    if (op.enrol && (op.kind == OpKind::FinalizeNew || op.kind == OpKind::FinalizeDraft))
        content.allocate = AllocationRequest{shared.study.id, op.stratum};
    switch (op.kind) {
        case OpKind::FinalizeNew:
        case OpKind::FinalizeDraft: {
            auto r = op.kind == OpKind::FinalizeNew ? store.finalizeNew(content)
                                                    : store.finalize(op.id, content);
            if (!r) return failed(r.error());
            d.id = r->id;
            d.seq = r->seq;
            break;
        }
        case OpKind::SaveDraft: {
            auto r = store.saveDraft(content);
            if (!r) return failed(r.error());
            d.id = *r;
            break;
        }
        case OpKind::UpdateDraft:
            if (Status s = store.updateDraft(op.id, content); !s) return failed(s.error());
            break;
        case OpKind::DeleteDraft:
            if (Status s = store.deleteDraft(op.id); !s) return failed(s.error());
            break;
        case OpKind::Acknowledge:
            if (Status s = store.acknowledgeThrough(op.seq); !s) return failed(s.error());
            break;
        case OpKind::InstallForm:
            if (Status s = store.installForm(shared.forms[op.form].binary); !s)
                return failed(s.error());
            break;
    }
    d.ok = true;
    return d;
}

// What a scenario does in one round: its operations, drawn one at a time from the round's
// generator and the store's picture so far.
struct Recipe {
    std::string name;
    std::string what;
    int operations = 12;
    bool (*counts)(const DeviceOp&) = nullptr;  // the operations the scenario is about
    std::function<void(Store&, Shared&)> prepare;
    std::function<DeviceOp(Round&, const World&, Shared&, int& nextN)> next;
};

std::vector<Uuid> draftsOf(const World& w) {
    std::vector<Uuid> out;
    for (const auto& [id, state] : w.records)
        if (state.status == RecordStatus::Draft) out.push_back(id);
    return out;
}

void work(const Recipe& recipe, Shared& shared, Round& round) {
    shared.worlds.assign(1, shared.prepared);
    shared.answered.clear();
    shared.durableIndex = 0;
    shared.inFlight.reset();
    auto opened = Store::open(round.file(kStoreFile), {.vfs = test::kPowerCutVfs});
    if (!opened) {
        if (!test::powerIsCut()) round.fail("the store did not open: " + opened.error().describe());
        round.powerOff();
        return;
    }
    Store store = std::move(opened.value());
    World w = shared.prepared;
    int nextN = kRoundFirst;
    for (int i = 0; i < recipe.operations; ++i) {
        const DeviceOp op = recipe.next(round, w, shared, nextN);
        const Done done = execute(store, op, shared);
        if (!done.ok) {
            if (test::powerIsCut()) {
                shared.inFlight = op;
            } else {
                round.fail(describe(op) + " failed with the power on: " + done.error);
            }
            break;
        }
        if (durable(op) && done.seq != w.lastSeq + 1) {
            round.fail(describe(op) + " got outbox number " + std::to_string(done.seq) +
                       ", expected " + std::to_string(w.lastSeq + 1));
        }
        apply(w, op, done.id, shared);
        shared.worlds.push_back(w);
        shared.answered.push_back(op);
        if (op.kind == OpKind::FinalizeNew || op.kind == OpKind::SaveDraft)
            shared.answered.back().id = done.id;
        if (durable(op)) shared.durableIndex = shared.worlds.size() - 1;
        if (recipe.counts(op)) round.acknowledge();
    }
    round.powerOff();
}

// ---- Reading back what the disk kept ------------------------------------------------------------

bool sameAnswers(const RecordContent& stored, const RecordContent& written) {
    const RecordContent expected = test::normalized(written);
    return stored.formId == expected.formId && stored.formVersion == expected.formVersion &&
           stored.answers == expected.answers && stored.repeats == expected.repeats &&
           stored.paradata == expected.paradata;
}

bool sameSlot(const Allocation& a, const alloc::Slot& s) {
    return a.study == s.study && a.stratum == s.stratum && a.block == s.block &&
           a.position == s.position && a.arm == s.arm &&
           a.token == std::vector<std::uint8_t>(s.token.begin(), s.token.end());
}

// The store's picture, checking every record's content and the store's own rules on the way
// (what breaks them is reported to the round). Nothing when the store cannot be read at all.
std::optional<World> readWorld(Store& store, const std::string& path, const Shared& shared,
                               Round& round) {
    World w;
    auto report = store.check(false);
    if (!report) {
        round.corrupt("the check did not run: " + report.error().describe());
        return std::nullopt;
    }
    if (!report->integrityOk) {
        std::string what = "integrity_check:";
        for (const auto& m : report->integrityMessages)
            what += " " + m;
        round.corrupt(what);
        return std::nullopt;
    }
    for (const auto& bad : report->badBodies)
        round.corrupt("record " + bad.recordId.toString() + " fails verification: " + bad.reason);

    // Records, with their contents.
    std::map<int, int> seen;  // content number -> records holding it
    ListQuery query;
    query.limit = 500;
    for (;;) {
        auto page = store.list(query);
        if (!page) {
            round.corrupt("listing: " + page.error().describe());
            return std::nullopt;
        }
        for (const auto& meta : page->rows) {
            auto rec = store.get(meta.id);
            if (!rec) {
                round.corrupt("record " + meta.id.toString() +
                              " cannot be read: " + rec.error().describe());
                continue;
            }
            const RecordContent& c = rec->record.content;
            const int n = contentNumber(c);
            const bool intake = c.formId == kIntakeForm;
            const bool known = c.formId == kSurveyForm || intake;
            if (!known || !sameAnswers(c, test::sampleContent(n, c.formId)) ||
                (!intake && (c.caseId || c.caseChange || c.allocation))) {
                round.corrupt("record " + meta.id.toString() + " holds content never written");
                continue;
            }
            if (++seen[n] == 2)
                round.doubled(1, "content " + std::to_string(n) + " is held by two records");
            w.records[meta.id] = {n, meta.status};
        }
        if (!page->next) break;
        query.after = page->next;
    }

    // The outbox: numbered without gaps after the acknowledged number, exactly the finalized
    // records.
    auto state = store.outboxState();
    auto pending = store.outboxPending(1u << 20, std::size_t{1} << 40);
    if (!state || !pending) {
        round.corrupt("the outbox cannot be read");
        return std::nullopt;
    }
    w.lastSeq = state->lastSeq;
    w.ackedThrough = state->ackedThrough;
    std::uint64_t expect = state->ackedThrough + 1;
    std::set<Uuid> queued;
    for (const auto& entry : *pending) {
        if (entry.seq != expect)
            round.corrupt("outbox number " + std::to_string(entry.seq) + " where " +
                          std::to_string(expect) + " was due");
        expect = entry.seq + 1;
        if (entry.damaged) round.corrupt("outbox entry " + std::to_string(entry.seq) + " damaged");
        if (!queued.insert(entry.recordId).second)
            round.doubled(1, "record " + entry.recordId.toString() + " queued twice");
        auto it = w.records.find(entry.recordId);
        if (it == w.records.end() || it->second.status != RecordStatus::Finalized)
            round.corrupt("outbox entry " + std::to_string(entry.seq) +
                          " is not a finalized record");
        w.outbox[entry.seq] = entry.recordId;
    }
    if (expect != state->lastSeq + 1)
        round.corrupt("the outbox ends at " + std::to_string(expect - 1) + ", the last number is " +
                      std::to_string(state->lastSeq));
    for (const auto& [id, r] : w.records)
        if (r.status == RecordStatus::Finalized && !queued.count(id))
            round.corrupt("finalized record " + id.toString() + " is not in the outbox");

    // The allocation log: 1, 2, 3, ...; each entry carried by its record and case, each
    // stratum's slots taken in order, none twice.
    auto log = store.allocationLog();
    if (!log) {
        round.corrupt("the allocation log cannot be read: " + log.error().describe());
        return std::nullopt;
    }
    std::map<std::string, std::size_t> used;
    std::set<Uuid> cases;
    std::set<std::tuple<std::string, std::uint32_t, std::uint32_t>> slots;
    for (std::size_t i = 0; i < log->size(); ++i) {
        const AllocationLogEntry& e = (*log)[i];
        const std::string where = "allocation log entry " + std::to_string(i + 1);
        if (e.allocation.logSeq != i + 1)
            round.corrupt(where + " is numbered " + std::to_string(e.allocation.logSeq));
        if (!cases.insert(e.caseId).second) round.doubled(1, where + ": its case twice");
        if (!slots.emplace(e.allocation.stratum, e.allocation.block, e.allocation.position).second)
            round.doubled(1, where + ": its slot used twice");
        w.allocations.push_back(e.recordId);
        auto dealt = shared.dealt.find(e.allocation.stratum);
        const std::size_t k = used[e.allocation.stratum]++;
        if (dealt == shared.dealt.end() || k >= dealt->second.size() ||
            !sameSlot(e.allocation, dealt->second[k]))
            round.corrupt(where + " is not the next slot of its stratum");
        auto rec = store.get(e.recordId);
        if (!rec || rec->meta.status == RecordStatus::Draft || !rec->record.content.allocation ||
            *rec->record.content.allocation != e.allocation ||
            rec->record.content.caseId != e.caseId) {
            round.corrupt(where + " is not carried by its record");
            continue;
        }
        auto info = store.caseInfo(e.caseId);
        if (!info || info->property("arm") != e.allocation.arm)
            round.corrupt(where + ": its case does not hold its arm");
    }
    for (const auto& [id, r] : w.records) {
        (void)r;
        auto rec = store.get(id);
        if (rec && rec->record.content.allocation &&
            std::find(w.allocations.begin(), w.allocations.end(), id) == w.allocations.end())
            round.corrupt("record " + id.toString() + " carries an allocation the log lacks");
    }

    // Tables the API does not show: installed forms, counts kept by triggers, foreign keys.
    auto db = sql::Database::open(path, sql::OpenMode::ReadOnly);
    if (!db) {
        round.corrupt("a second connection cannot open: " + db.error().describe());
        return std::nullopt;
    }
    auto forms = db->prepare("SELECT form_id, version, binary FROM forms");
    if (!forms) {
        round.corrupt("forms: " + forms.error().describe());
        return std::nullopt;
    }
    while (true) {
        auto row = forms->step();
        if (!row || !*row) break;
        const auto bin = forms->columnBlob(2);
        w.forms[std::string(forms->columnText(0)) + "@" + std::to_string(forms->columnInt(1))] =
            std::vector<std::uint8_t>(bin.begin(), bin.end());
    }
    auto counts = db->prepare(
        "SELECT count(*) FROM (SELECT form_id, status, count(*) AS n FROM records GROUP BY 1, 2) "
        "a LEFT JOIN record_counts c USING (form_id, status) WHERE c.n IS NOT a.n");
    auto orphanCounts = db->prepare(
        "SELECT count(*) FROM record_counts c WHERE n <> (SELECT count(*) FROM records r WHERE "
        "r.form_id = c.form_id AND r.status = c.status)");
    auto keys = db->prepare("SELECT count(*) FROM pragma_foreign_key_check");
    for (auto* st : {&counts, &orphanCounts, &keys}) {
        if (!*st) {
            round.corrupt("a check query failed: " + st->error().describe());
            continue;
        }
        auto row = (*st)->step();
        if (!row || !*row || (*st)->columnInt(0) != 0)
            round.corrupt(st == &keys ? "foreign keys broken" : "record_counts do not match");
    }
    return w;
}

void verify(const Recipe& recipe, const Shared& shared, Round& round) {
    (void)recipe;
    const std::string path = round.file(kStoreFile);
    auto opened = Store::open(path);
    if (!opened) {
        round.corrupt("the store does not open: " + opened.error().describe());
        return;
    }
    auto actual = readWorld(*opened, path, shared, round);
    if (!actual || round.failed()) return;

    const auto& worlds = shared.worlds;
    const std::size_t last = worlds.size() - 1;
    for (std::size_t k = shared.durableIndex; k <= last; ++k)
        if (*actual == worlds[k]) return;
    std::optional<World> interrupted;
    if (shared.inFlight) {
        interrupted = withInFlight(worlds[last], *shared.inFlight, *actual, shared);
        if (interrupted && *actual == *interrupted) return;
    }

    // No prefix matches. Lost: answered operations, durable by the time of the cut, whose
    // effect is not there (nor replaced by a later operation's).
    auto recordKept = [&](const Uuid& id, std::size_t from) {
        auto it = actual->records.find(id);
        auto same = [&](const World& w) {
            auto there = w.records.find(id);
            if (there == w.records.end()) return it == actual->records.end();
            return it != actual->records.end() && it->second == there->second;
        };
        for (std::size_t k = from; k <= last; ++k)
            if (same(worlds[k])) return true;
        return interrupted && same(*interrupted);
    };
    long lost = 0;
    std::string example;
    for (std::size_t i = 0; i < shared.answered.size() && i + 1 <= shared.durableIndex; ++i) {
        const DeviceOp& op = shared.answered[i];
        bool kept = true;
        switch (op.kind) {
            case OpKind::Acknowledge:
                kept = actual->ackedThrough >= op.seq;
                break;
            case OpKind::InstallForm: {
                auto it = actual->forms.find(shared.forms[op.form].key);
                kept = it != actual->forms.end() && it->second == shared.forms[op.form].binary;
                break;
            }
            default:
                kept = recordKept(op.id, i + 1);
                if (op.enrol && durable(op))
                    kept = kept && std::count(actual->allocations.begin(),
                                              actual->allocations.end(), op.id) == 1;
                break;
        }
        if (!kept) {
            ++lost;
            if (example.empty()) {
                auto it = actual->records.find(op.id);
                example = describe(op) + " (operation " + std::to_string(i + 1) + ")";
                if (op.kind != OpKind::Acknowledge && op.kind != OpKind::InstallForm)
                    example += it == actual->records.end()
                                   ? ": its record is missing"
                                   : ": its record holds content " + std::to_string(it->second.n) +
                                         ", " + std::string(recordStatusName(it->second.status));
            }
        }
    }
    if (lost > 0) {
        round.lost(lost, example + "; durable through operation " +
                             std::to_string(shared.durableIndex) + " of " + std::to_string(last));
        return;
    }
    round.corrupt("the store matches no prefix of the " + std::to_string(last) +
                  " answered operations" +
                  (shared.inFlight ? " (interrupted: " + describe(*shared.inFlight) + ")" : ""));
}

// ---- Preparation --------------------------------------------------------------------------------

// A store with history: finalized records, some sent, some drafts.
void prepareStore(const std::string& dir, const Recipe& recipe, Shared& shared) {
    auto opened = Store::open(dir + "/" + kStoreFile, {.mode = sql::OpenMode::ReadWriteCreate});
    if (!opened) throw std::runtime_error("preparing: " + opened.error().describe());
    Store& store = *opened;
    World w;
    int n = kPreparedFirst;
    for (int i = 0; i < 30; ++i, ++n) {
        auto r = store.finalizeNew(test::sampleContent(n, kSurveyForm));
        if (!r) throw std::runtime_error("preparing: " + r.error().describe());
        w.records[r->id] = {n, RecordStatus::Finalized};
        w.outbox[r->seq] = r->id;
        w.lastSeq = r->seq;
    }
    DeviceOp ack;
    ack.kind = OpKind::Acknowledge;
    ack.seq = 10;
    if (Status s = store.acknowledgeThrough(ack.seq); !s)
        throw std::runtime_error("preparing: " + s.error().describe());
    apply(w, ack, {}, shared);
    for (int i = 0; i < 6; ++i, ++n) {
        auto r = store.saveDraft(test::sampleContent(n, kSurveyForm));
        if (!r) throw std::runtime_error("preparing: " + r.error().describe());
        w.records[*r] = {n, RecordStatus::Draft};
    }
    if (recipe.prepare) recipe.prepare(store, shared);
    shared.prepared = w;
}

Scenario deviceScenario(Recipe recipe) {
    auto shared = std::make_shared<Shared>();
    auto r = std::make_shared<Recipe>(std::move(recipe));
    Parts parts;
    parts.name = r->name;
    parts.what = r->what;
    parts.prepare = [r, shared](const std::string& dir) {
        *shared = Shared{};
        prepareStore(dir, *r, *shared);
        // SQLite checkpoints the device store at 1,000 pages of WAL: start near that.
        leaveWalFilled(dir + "/" + kStoreFile, 960,
                       "INSERT INTO settings (key, value) VALUES (?1, ?2)");
    };
    parts.work = [r, shared](Round& round) { work(*r, *shared, round); };
    parts.verify = [r, shared](Round& round) { verify(*r, *shared, round); };
    return makeScenario(std::move(parts));
}

// ---- The scenarios ------------------------------------------------------------------------------

bool isFinalize(const DeviceOp& op) {
    return op.kind == OpKind::FinalizeNew || op.kind == OpKind::FinalizeDraft;
}

DeviceOp finalizeNew(int& nextN) {
    DeviceOp op;
    op.kind = OpKind::FinalizeNew;
    op.n = nextN++;
    return op;
}

DeviceOp nextFinalize(Round& round, const World& w, Shared&, int& nextN) {
    const auto drafts = draftsOf(w);
    const auto roll = round.pick(10);
    DeviceOp op;
    if (roll < 5 || drafts.empty()) return finalizeNew(nextN);
    if (roll < 7) {
        op.kind = OpKind::SaveDraft;
        op.n = nextN++;
        return op;
    }
    op.kind = OpKind::FinalizeDraft;
    op.id = drafts[round.pick(drafts.size())];
    op.n = nextN++;
    return op;
}

DeviceOp nextDraft(Round& round, const World& w, Shared&, int& nextN) {
    const auto drafts = draftsOf(w);
    const auto roll = round.pick(20);
    DeviceOp op;
    op.n = nextN++;
    if (roll < 4 || drafts.empty()) {
        op.kind = OpKind::SaveDraft;
    } else if (roll < 12) {
        op.kind = OpKind::UpdateDraft;
        op.id = drafts[round.pick(drafts.size())];
    } else if (roll < 14) {
        op.kind = OpKind::DeleteDraft;
        op.id = drafts[round.pick(drafts.size())];
    } else {
        op.kind = OpKind::FinalizeNew;  // the durable commit that makes earlier drafts durable
    }
    return op;
}

DeviceOp nextAcknowledgement(Round& round, const World& w, Shared&, int& nextN) {
    if (round.pick(4) == 0 || w.ackedThrough >= w.lastSeq) return finalizeNew(nextN);
    DeviceOp op;
    op.kind = OpKind::Acknowledge;
    op.seq = std::min(w.lastSeq, w.ackedThrough + 1 + round.pick(4));
    return op;
}

DeviceOp nextEnrolment(Round& round, const World& w, Shared& shared, int& nextN) {
    std::vector<Uuid> intakes;  // drafts of intakes, waiting to be finalized
    const auto drafts = draftsOf(w);
    DeviceOp op;
    op.enrol = true;
    op.n = nextN++;
    op.caseId = makeUuidV4();
    const auto strata = alloc::strata(shared.study);
    op.stratum = strata[round.pick(strata.size())];
    const auto roll = round.pick(10);
    if (roll < 6) {
        op.kind = OpKind::FinalizeNew;
    } else if (roll < 8) {
        op.kind = OpKind::SaveDraft;
    } else {
        // Finalize a draft of an intake saved earlier in this round (the prepared drafts are
        // surveys), else enrol someone new.
        for (const auto& id : drafts)
            if (w.records.at(id).n >= kRoundFirst) intakes.push_back(id);
        if (intakes.empty()) {
            op.kind = OpKind::FinalizeNew;
        } else {
            op.kind = OpKind::FinalizeDraft;
            op.id = intakes[round.pick(intakes.size())];
        }
    }
    return op;
}

void prepareStudy(Store& store, Shared& shared) {
    alloc::Study& s = shared.study;
    s.id = "power_cut_study";
    s.pilot = "power_cut";
    s.arms = {{"treatment", 1}, {"control", 1}};
    s.factors = {{"site", {"east", "west"}}};
    s.blockSizes = {2, 4};
    for (std::size_t i = 0; i < s.seed.size(); ++i)
        s.seed[i] = static_cast<std::uint8_t>(i * 29 + 3);
    DeviceStudy d{s.id, s.pilot, {"treatment", "control"}, {{"site", {"east", "west"}}}, 0};
    if (Status st = store.setStudies(std::vector<DeviceStudy>{d}); !st)
        throw std::runtime_error("preparing the study: " + st.error().describe());
    auto key = store.boxPublicKey();
    if (!key) throw std::runtime_error("preparing the study: " + key.error().describe());
    std::vector<SealedSlotIn> sealed;
    for (const auto& stratum : alloc::strata(s)) {
        for (std::uint32_t b = 0; b < 12; ++b) {
            const auto block = alloc::generateBlock(s, stratum, b);
            for (std::uint32_t p = 0; p < block.arms.size(); ++p) {
                alloc::Slot slot{s.id, stratum, b, p, block.arms[p], block.tokens[p]};
                sealed.push_back({s.id, stratum, b, p, alloc::sealSlot(slot, *key)});
                shared.dealt[stratum].push_back(slot);
            }
        }
    }
    if (Status st = store.addAllocationSlots(sealed); !st)
        throw std::runtime_error("preparing the slots: " + st.error().describe());
}

DeviceOp nextInstall(Round& round, const World& w, Shared& shared, int& nextN) {
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < shared.forms.size(); ++i)
        if (!w.forms.count(shared.forms[i].key)) missing.push_back(i);
    if (missing.empty() || round.pick(4) == 0) return finalizeNew(nextN);
    DeviceOp op;
    op.kind = OpKind::InstallForm;
    op.form = missing[round.pick(missing.size())];
    return op;
}

// Every pilot form, and each again as its next version.
void prepareForms(Store&, Shared& shared) {
    static const std::regex versionField("\"version\": ([0-9]+)");
    for (const auto& file : test::pilotFormFiles()) {
        const std::string json = test::readFile(file);
        std::smatch m;
        if (!std::regex_search(json, m, versionField)) continue;
        const int first = std::stoi(m[1].str());
        for (int version : {first, first + 1}) {
            const std::string text = std::string(m.prefix()) +
                                     "\"version\": " + std::to_string(version) +
                                     std::string(m.suffix());
            auto compiled = forms::compileFormJson(text, file);
            if (!compiled.ok()) throw std::runtime_error("compiling " + file);
            auto id = file.substr(file.rfind('/') + 1);
            id = id.substr(0, id.rfind('.'));
            shared.forms.push_back({id + "@" + std::to_string(version), compiled.binary});
        }
    }
}

}  // namespace

void addDeviceScenarios(std::vector<Scenario>& out) {
    out.push_back(deviceScenario(
        {"device-finalize-power-cut",
         "device: finalizes (new records and drafts) cut by power loss; every answered one "
         "must survive intact",
         12, isFinalize, nullptr, nextFinalize}));
    out.push_back(deviceScenario(
        {"device-draft-save-power-cut",
         "device: draft saves, updates and deletes cut by power loss; drafts made durable by a "
         "later finalize must survive, the rest whole or not at all",
         16,
         [](const DeviceOp& op) {
             return op.kind == OpKind::SaveDraft || op.kind == OpKind::UpdateDraft ||
                    op.kind == OpKind::DeleteDraft;
         },
         nullptr, nextDraft}));
    out.push_back(deviceScenario(
        {"device-acknowledgement-power-cut",
         "device: acknowledgeThrough between finalizes cut by power loss; the outbox stays "
         "gap-free and exact",
         16, [](const DeviceOp& op) { return op.kind == OpKind::Acknowledge; }, nullptr,
         nextAcknowledgement}));
    out.push_back(deviceScenario(
        {"device-allocation-power-cut",
         "device: randomising intakes (a slot taken, a case opened) cut by power loss; no "
         "allocation lost or used twice",
         12, [](const DeviceOp& op) { return op.enrol && isFinalize(op); }, prepareStudy,
         nextEnrolment}));
    out.push_back(deviceScenario(
        {"device-form-install-power-cut",
         "device: form installs between finalizes cut by power loss; installed forms intact", 14,
         [](const DeviceOp& op) { return op.kind == OpKind::InstallForm; }, prepareForms,
         nextInstall}));
}

}  // namespace veld::reliability::power_cut
