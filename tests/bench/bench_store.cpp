// veld-bench-store: how fast the device store finalizes records, fills up, opens and lists.
//
// Every figure is printed next to a baseline measured in the same run, because this machine (and
// every CI machine) is too noisy for absolute numbers to mean much across runs:
// - writes are compared with plain SQLite writing the same encoded bodies with the same
//   durability (WAL, synchronous=FULL), so the ratio is the cost of the store's own bookkeeping
//   (indexes, outbox, counts, clock, savepoints);
// - reads on the big store are compared with the same reads on a 1,000-record store, so the ratio
//   says how a read grows with the size of the store (keyset paging and indexes should keep it
//   near 1).
//
// Output on stdout, one line per figure and nothing else:
//   bench NAME: VALUE UNIT (baseline)
//   bench NAME: VALUE UNIT (ratio R vs BASELINE_NAME)
// A short header goes to stderr. Exit status 1 on any error (its describe() goes to stderr), 2 on
// a bad command line. Temporary files are always removed, also after an error or Ctrl-C.

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Raw SQLite on purpose: baselines measure SQLite without Veld's wrapper, and fixtures are filled
// behind Veld's back.
#include <sqlite3.h>

#include <veld/allocation.hpp>
#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/hlc.hpp>
#include <veld/platform/files.hpp>
#include <veld/project_key.hpp>
#include <veld/record.hpp>
#include <veld/result.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>
#include <veld/uuid.hpp>

namespace veld::bench {

namespace {

constexpr std::string_view kUsage =
    "usage: veld-bench-store [--records N] [--quick]\n"
    "  --records N  records in the big store (default 1000000, at least 1000)\n"
    "  --quick      a smoke run of a few seconds (small sizes, few repeats)\n";

constexpr std::size_t kPageSize = 50;
constexpr std::int64_t kSmallStoreRecords = 1'000;
constexpr std::uint64_t kSeed = 20'261'125;  // fixed, so every run writes the same content

struct Settings {
    std::int64_t bigRecords = 1'000'000;
    std::size_t finalizesPerRound = 2'000;
    int rounds = 3;                            // odd, so the median is one real round
    std::int64_t rawBatchedRecords = 100'000;  // capped at bigRecords
    std::int64_t batchSize = 10'000;
    int openRepeats = 9;
    int listRepeats = 21;
    int scanRepeats = 3;  // for queries that read every row: most of a second each at 1M records
    bool help = false;
};

// ---- Interruption ---------------------------------------------------------------------------

// Ctrl-C during the fill would otherwise leave up to a gigabyte in the temporary folder: the
// long loops poll this flag and unwind normally, so every destructor (and the cleanup) runs.
volatile std::sig_atomic_t gInterrupted = 0;

void onSignal(int) {
    gInterrupted = 1;
}

Status checkInterrupted() {
    if (gInterrupted != 0) return makeError(ErrorCode::Internal, "interrupted by a signal");
    return {};
}

// ---- Time and numbers -----------------------------------------------------------------------

using TimePoint = std::chrono::steady_clock::time_point;

TimePoint now() {
    return std::chrono::steady_clock::now();
}

double secondsBetween(TimePoint start, TimePoint end) {
    return std::chrono::duration<double>(end - start).count();
}

double msBetween(TimePoint start, TimePoint end) {
    return secondsBetween(start, end) * 1000.0;
}

double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    std::size_t mid = values.size() / 2;
    return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double ratio(double value, double baseline) {
    return baseline > 0 ? value / baseline : 0;
}

// About three significant digits: enough to compare runs, short enough to read.
std::string formatNumber(double value) {
    double magnitude = value < 0 ? -value : value;
    int decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 0.1 ? 2 : 3;
    if (magnitude > 0 && magnitude < 0.01) decimals = 4;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return buf;
}

// "1m", "100k", "5k": figure names say which store size they measured.
std::string sizeTag(std::int64_t records) {
    if (records >= 1'000'000 && records % 1'000'000 == 0)
        return std::to_string(records / 1'000'000) + "m";
    if (records >= 1'000 && records % 1'000 == 0) return std::to_string(records / 1'000) + "k";
    return std::to_string(records);
}

void printBaseline(const std::string& name, double value, std::string_view unit) {
    std::printf("bench %s: %s %.*s (baseline)\n", name.c_str(), formatNumber(value).c_str(),
                static_cast<int>(unit.size()), unit.data());
    std::fflush(stdout);  // figures appear as they are measured, also through a pipe
}

void printFigure(const std::string& name, double value, std::string_view unit, double r,
                 const std::string& baselineName) {
    std::printf("bench %s: %s %.*s (ratio %s vs %s)\n", name.c_str(), formatNumber(value).c_str(),
                static_cast<int>(unit.size()), unit.data(), formatNumber(r).c_str(),
                baselineName.c_str());
    std::fflush(stdout);
}

// ---- Temporary files ------------------------------------------------------------------------

class TempDir {
  public:
    static Result<TempDir> make() {
        // /var/tmp rather than /tmp: /tmp is often a tmpfs, where fsync costs nothing and the
        // durable writes measured here would look far cheaper than on a device's flash. On
        // Windows: the user's temporary folder.
#ifdef _WIN32
        const std::string base = platform::utf8Path(std::filesystem::temp_directory_path());
#else
        const char* env = std::getenv("TMPDIR");
        std::string base = (env != nullptr && *env != '\0') ? env : "/var/tmp";
#endif
        auto made = platform::makeUniquePrivateFolder(base, "veld-bench-store.");
        if (!made) return made.error();
        return TempDir(made.value());
    }

    TempDir(TempDir&& other) noexcept : m_path(std::exchange(other.m_path, {})) {}
    TempDir& operator=(TempDir&&) = delete;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        if (m_path.empty()) return;
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }

    [[nodiscard]] const std::string& path() const {
        return m_path;
    }
    [[nodiscard]] std::string file(std::string_view name) const {
        return m_path + "/" + std::string(name);
    }

  private:
    explicit TempDir(std::string path) : m_path(std::move(path)) {}
    std::string m_path;
};

// Removes a database with its WAL and shared-memory files, so that rounds do not fill the disk.
void removeDatabase(const std::string& path) {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        std::filesystem::remove(path + suffix, ignored);
}

std::int64_t fileBytes(const std::string& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    return ec ? 0 : static_cast<std::int64_t>(size);
}

// ---- Realistic record content ---------------------------------------------------------------

struct FormSpec {
    std::string_view id;
    std::string_view title;
};

constexpr std::array kForms{
    FormSpec{"household_survey", "Household survey"},
    FormSpec{"school_visit", "School visit"},
    FormSpec{"clinic_followup", "Clinic follow-up"},
    FormSpec{"water_point_check", "Water point check"},
};

struct Place {
    std::string_view label;
    std::string_view choice;
};

constexpr std::array kPlaces{
    Place{"Rotterdam", "rotterdam"}, Place{"Utrecht", "utrecht"}, Place{"Groningen", "groningen"},
    Place{"Almere", "almere"},       Place{"Zwolle", "zwolle"},
};

// Matches the summaries of about one record in five (any case): a typical search.
constexpr std::string_view kCommonText = "rotterdam";
// Matches no summary, so the store must look at every row to say so.
constexpr std::string_view kMissingText = "no such summary";

constexpr std::array<std::string_view, 5> kBenefits{"child_benefit", "housing", "health_care",
                                                    "pension", "unemployment"};
constexpr std::array<std::string_view, 4> kLanguages{"nl", "en", "tr", "ar"};
constexpr std::array<std::string_view, 6> kRemarks{
    "Respondent asked to be visited again next month.",
    "Interview held at the kitchen table; two children present.",
    "No remarks.",
    "The respondent's neighbour translated part of the interview.",
    "Address was hard to find; the house number is on the back door.",
    "Respondent preferred to answer the income questions on paper first.",
};

struct Sample {
    RecordContent content;
    std::string summary;
    bool draft = false;
};

// Makes record content like a real form session's: ten answers of the common types (yes/no,
// integers, choices, a decimal, a date, a time, free text) and paradata with two timings. A
// FlatBuffers body costs about 200 bytes plus 50-80 per answer, so these come out at 800-900.
class SampleMaker {
  public:
    SampleMaker(std::uint64_t seed, std::int64_t records) : m_rng(seed) {
        // A third of the records belong to a case, about eight records per case (a household
        // visited several times).
        auto pool = static_cast<std::size_t>(std::max<std::int64_t>(1, records / 24));
        m_cases.reserve(pool);
        for (std::size_t i = 0; i < pool; ++i)
            m_cases.push_back(makeUuidV4());
    }

    Sample make(std::int64_t index) {
        const FormSpec& form = kForms[static_cast<std::size_t>(index) % kForms.size()];
        const Place& place = kPlaces[pick(kPlaces.size())];
        Sample sample;
        sample.draft = pick(5) == 0;
        sample.summary = std::string(form.title) + " #" + std::to_string(index + 1) + ", " +
                         std::string(place.label);

        RecordContent& c = sample.content;
        c.formId = std::string(form.id);
        c.formVersion = 3;
        if (pick(3) == 0) c.caseId = m_cases[pick(m_cases.size())];

        // Short question names, as form authors write them: FlatBuffers stores every name in
        // every body, so long ones would inflate the bodies beyond what real forms produce.
        auto& a = c.answers;
        a.push_back({"consent", true});
        a.push_back({"age", between(18, 90)});
        a.push_back({"hh_size", between(1, 9)});
        a.push_back({"place", ChoiceAnswer{std::string(place.choice), {}}});
        a.push_back({"income", ChoiceAnswer{"band_" + std::to_string(between(1, 5)), {}}});
        ChoicesAnswer benefits;
        for (auto benefit : kBenefits) {
            if (pick(4) == 0) benefits.choices.emplace_back(benefit);
        }
        if (benefits.choices.empty()) benefits.choices.emplace_back("none");
        a.push_back({"benefits", std::move(benefits)});
        std::int64_t cents = between(30'000, 150'000);
        std::int64_t pennies = cents % 100;
        a.push_back(
            {"rent", DecimalAnswer{static_cast<double>(cents) / 100.0,
                                   std::to_string(cents / 100) + (pennies < 10 ? ".0" : ".") +
                                       std::to_string(pennies)}});
        a.push_back({"visit_day", DateAnswer{static_cast<std::int32_t>(between(20'000, 20'800))}});
        a.push_back({"visit_time", TimeAnswer{static_cast<std::int32_t>(between(8, 18) * 3'600'000 +
                                                                        between(0, 59) * 60'000)}});
        a.push_back({"remarks", std::string(kRemarks[pick(kRemarks.size())])});

        Paradata& p = c.paradata;
        std::int64_t started = 1'780'000'000'000 + index * 60'000;
        p.startedUtcMs = started;
        p.finalizedUtcMs = started + between(300'000, 1'800'000);
        p.language = std::string(kLanguages[pick(kLanguages.size())]);
        p.appVersion = "0.1.0";
        // Timings for the questions people hesitate over, as a form may ask the app to record.
        for (const char* name : {"income", "rent"}) {
            p.timings.push_back({name, static_cast<std::uint32_t>(between(1'500, 90'000)),
                                 static_cast<std::uint16_t>(between(1, 3))});
        }
        p.edits = static_cast<std::uint32_t>(between(0, 4));
        return sample;
    }

  private:
    std::size_t pick(std::size_t n) { return static_cast<std::size_t>(m_rng() % n); }
    std::int64_t between(std::int64_t low, std::int64_t high) {
        return low +
               static_cast<std::int64_t>(m_rng() % static_cast<std::uint64_t>(high - low + 1));
    }

    std::mt19937_64 m_rng;
    std::vector<Uuid> m_cases;
};

struct EncodedBody {
    Uuid id;
    std::vector<std::uint8_t> bytes;
};

// Encodes samples the way the store would, for the raw SQLite baselines: same schema, same
// sizes, a real UUIDv7 and a real clock value.
class BodyEncoder {
  public:
    BodyEncoder() : m_hlc(SystemClock::instance()), m_deviceId(makeUuidV4()) {}

    Result<EncodedBody> encode(const Sample& sample) {
        Record record;
        record.id = makeUuidV7(SystemClock::instance());
        record.deviceId = m_deviceId;
        record.hlc = m_hlc.now();
        record.createdHlc = record.hlc;
        record.finalized = !sample.draft;
        record.content = sample.content;
        auto body = encodeRecord(record);
        if (!body) return body.error();
        return EncodedBody{record.id, std::move(body.value())};
    }

  private:
    Hlc m_hlc;
    Uuid m_deviceId;
};

// ---- Raw SQLite (the baselines) -------------------------------------------------------------

struct DatabaseCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using RawDatabase = std::unique_ptr<sqlite3, DatabaseCloser>;
using RawStatement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

Error rawError(sqlite3* db, std::string_view context) {
    return sql::errorFromSqlite(sqlite3_extended_errcode(db), context, sqlite3_errmsg(db));
}

// The simplest table that can hold a record: what the store would cost without any of its
// bookkeeping. Same durability as a finalize.
Result<RawDatabase> openRawTable(const std::string& path) {
    sqlite3* handle = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &handle,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    RawDatabase db(handle);
    if (rc != SQLITE_OK) {
        if (handle == nullptr) return makeError(ErrorCode::Internal, "opening " + path);
        return rawError(handle, "opening " + path);
    }
    sqlite3_extended_result_codes(handle, 1);
    char* message = nullptr;
    rc = sqlite3_exec(handle,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                      "CREATE TABLE bodies (id BLOB PRIMARY KEY, body BLOB NOT NULL)",
                      nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string detail = message != nullptr ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        return sql::errorFromSqlite(sqlite3_extended_errcode(handle), "making " + path, detail);
    }
    return db;
}

Result<RawStatement> prepareRaw(sqlite3* db, const char* text) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db, text, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
        return rawError(db, std::string("preparing ") + text);
    return RawStatement(stmt);
}

Status runRaw(sqlite3* db, sqlite3_stmt* stmt, std::string_view context) {
    int rc = sqlite3_step(stmt);
    // Describe the error before reset(), which may replace the connection's message.
    std::optional<Error> error;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) error = rawError(db, context);
    sqlite3_reset(stmt);
    if (error) return *error;
    return {};
}

struct RawStatements {
    RawStatement begin;
    RawStatement insert;
    RawStatement commit;
};

Result<RawStatements> prepareRawStatements(sqlite3* db) {
    auto begin = prepareRaw(db, "BEGIN IMMEDIATE");
    if (!begin) return begin.error();
    auto insert = prepareRaw(db, "INSERT INTO bodies (id, body) VALUES (?1, ?2)");
    if (!insert) return insert.error();
    auto commit = prepareRaw(db, "COMMIT");
    if (!commit) return commit.error();
    return RawStatements{std::move(begin.value()), std::move(insert.value()),
                         std::move(commit.value())};
}

Status insertRaw(sqlite3* db, sqlite3_stmt* insert, const EncodedBody& body) {
    // Static binding, as the store does: the bytes outlive the step.
    sqlite3_bind_blob64(insert, 1, body.id.bytes.data(), body.id.bytes.size(), SQLITE_STATIC);
    sqlite3_bind_blob64(insert, 2, body.bytes.data(), body.bytes.size(), SQLITE_STATIC);
    return runRaw(db, insert, "inserting a body");
}

// ---- Figure 1: finalize against one raw insert per transaction ------------------------------

struct Job {
    Sample sample;
    EncodedBody body;  // the same content encoded, for the raw baseline
};

struct RoundFigures {
    double recordsPerSecond = 0;
    double medianLatencyMs = 0;
};

// Makes the samples' forms sealed in `store`: each installed as a small sealed form, and a
// project key to seal to.
Status makeFormsSealed(Store& store) {
    for (const FormSpec& form : kForms) {
        const std::string json = R"({"id": ")" + std::string(form.id) +
                                 R"(", "version": 3, "pilot": "bench", "default_language": "nl",
            "languages": [{"tag": "nl", "name": "Nederlands"}],
            "titles": [{"lang": "nl", "text": "Bench"}], "settings": {"sealed": true},
            "items": [{"name": "q", "kind": "Question", "type": "Text",
                       "labels": [{"lang": "nl", "text": "Q"}]}]})";
        auto compiled = forms::compileFormJson(json, "bench.json");
        if (compiled.binary.empty())
            return makeError(ErrorCode::Internal, "the bench's sealed form does not compile");
        if (Status s = store.installForm(compiled.binary); !s) return s;
    }
    auto key =
        projectkey::create("bench", "bench passphrase", 0, projectkey::Strength::Interactive);
    if (!key) return key.error();
    return store.setSetting(projectkey::kKeySetting, projectkey::formatPublicKey(key->publicKey));
}

// Gives `store` a study of two arms and one stratum, with `count` sealed slots to take.
Status addBenchSlots(Store& store, std::size_t count) {
    alloc::Study study;
    study.id = "bench";
    study.arms = {{"a", 1}, {"b", 1}};
    study.blockSizes = {2, 4, 6};
    study.seed.fill(7);
    const std::vector<DeviceStudy> studies{{"bench", "bench", {"a", "b"}, {}, 0}};
    if (Status s = store.setStudies(studies); !s) return s;
    auto key = store.boxPublicKey();
    if (!key) return key.error();
    std::vector<SealedSlotIn> slots;
    for (std::uint32_t b = 0; slots.size() < count; ++b) {
        const auto block = alloc::generateBlock(study, "", b);
        for (std::uint32_t p = 0; p < block.arms.size(); ++p) {
            const alloc::Slot slot{"bench", "", b, p, block.arms[p], block.tokens[p]};
            slots.push_back({"bench", "", b, p, alloc::sealSlot(slot, key.value())});
        }
    }
    return store.addAllocationSlots(slots);
}

enum class FinalizeKind { Plain, Sealed, Enrolment };

Result<RoundFigures> storeFinalizeRound(const std::string& path, const std::vector<Job>& jobs,
                                        FinalizeKind kind) {
    std::vector<double> latencies;
    latencies.reserve(jobs.size());
    double seconds = 0;
    {
        auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate});
        if (!store) return store.error();
        if (kind == FinalizeKind::Sealed) {
            if (Status s = makeFormsSealed(*store); !s) return s.error();
        }
        // An enrolment: the same record opening a case and taking the next allocation.
        std::vector<RecordContent> contents;
        if (kind == FinalizeKind::Enrolment) {
            if (Status s = addBenchSlots(*store, jobs.size()); !s) return s.error();
            SystemClock clock;
            for (const Job& job : jobs) {
                RecordContent c = job.sample.content;
                c.caseId = makeUuidV7(clock);
                c.caseChange =
                    CaseChange{CaseAction::Open, "participant", {}, {{"label", "bench", {}}}};
                c.allocate = AllocationRequest{"bench", ""};
                contents.push_back(std::move(c));
            }
        }
        TimePoint start = now();
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            const Job& job = jobs[i];
            if (Status s = checkInterrupted(); !s) return s.error();
            TimePoint t0 = now();
            auto done = store->finalizeNew(contents.empty() ? job.sample.content : contents[i],
                                           job.sample.summary);
            TimePoint t1 = now();
            if (!done) return done.error();
            latencies.push_back(msBetween(t0, t1));
        }
        seconds = secondsBetween(start, now());
    }
    removeDatabase(path);
    return RoundFigures{static_cast<double>(jobs.size()) / seconds, median(latencies)};
}

Result<RoundFigures> rawInsertRound(const std::string& path, const std::vector<Job>& jobs) {
    std::vector<double> latencies;
    latencies.reserve(jobs.size());
    double seconds = 0;
    {
        auto db = openRawTable(path);
        if (!db) return db.error();
        sqlite3* handle = db->get();
        auto st = prepareRawStatements(handle);
        if (!st) return st.error();
        TimePoint start = now();
        for (const Job& job : jobs) {
            if (Status s = checkInterrupted(); !s) return s.error();
            TimePoint t0 = now();
            if (Status s = runRaw(handle, st->begin.get(), "beginning"); !s) return s.error();
            if (Status s = insertRaw(handle, st->insert.get(), job.body); !s) return s.error();
            if (Status s = runRaw(handle, st->commit.get(), "committing"); !s) return s.error();
            TimePoint t1 = now();
            latencies.push_back(msBetween(t0, t1));
        }
        seconds = secondsBetween(start, now());
    }
    removeDatabase(path);
    return RoundFigures{static_cast<double>(jobs.size()) / seconds, median(latencies)};
}

struct BodySizes {
    std::size_t smallest = 0;
    std::size_t largest = 0;
    double median = 0;
};

Result<std::vector<Job>> makeJobs(std::size_t count, BodySizes& sizes) {
    SampleMaker maker(kSeed, static_cast<std::int64_t>(count));
    BodyEncoder encoder;
    std::vector<Job> jobs;
    jobs.reserve(count);
    std::vector<double> bytes;
    for (std::size_t i = 0; i < count; ++i) {
        Sample sample = maker.make(static_cast<std::int64_t>(i));
        sample.draft = false;  // every one is finalized
        auto body = encoder.encode(sample);
        if (!body) return body.error();
        bytes.push_back(static_cast<double>(body->bytes.size()));
        jobs.push_back(Job{std::move(sample), std::move(body.value())});
    }
    auto [smallest, largest] = std::minmax_element(bytes.begin(), bytes.end());
    sizes.smallest = static_cast<std::size_t>(*smallest);
    sizes.largest = static_cast<std::size_t>(*largest);
    sizes.median = median(bytes);
    return jobs;
}

Status benchFinalize(const TempDir& dir, const Settings& settings) {
    BodySizes sizes;
    auto jobs = makeJobs(settings.finalizesPerRound, sizes);
    if (!jobs) return jobs.error();
    std::fprintf(stderr,
                 "veld-bench-store: finalize: %d alternating rounds of %zu records, bodies of "
                 "%zu-%zu bytes (median %.0f)\n",
                 settings.rounds, settings.finalizesPerRound, sizes.smallest, sizes.largest,
                 sizes.median);

    std::vector<double> storeRate, storeLatency, rawRate, rawLatency, sealedRate, sealedLatency,
        enrolRate, enrolLatency;
    for (int round = 0; round < settings.rounds; ++round) {
        // Rotate which side goes first, so a slow patch of the disk or a warming cache does
        // not always land on the same side. Side 2 is the store with every form sealed, side 3
        // the store enrolling (opening a case and taking an allocation with each record).
        for (int turn = 0; turn < 4; ++turn) {
            const int side = (turn + round) % 4;
            std::string path = dir.file("finalize-" + std::to_string(round) + "-" +
                                        std::to_string(side) + (side == 1 ? ".sqlite" : ".veld"));
            auto figures = side == 1   ? rawInsertRound(path, *jobs)
                           : side == 0 ? storeFinalizeRound(path, *jobs, FinalizeKind::Plain)
                           : side == 2 ? storeFinalizeRound(path, *jobs, FinalizeKind::Sealed)
                                       : storeFinalizeRound(path, *jobs, FinalizeKind::Enrolment);
            if (!figures) return figures.error();
            std::vector<double>* rates[] = {&storeRate, &rawRate, &sealedRate, &enrolRate};
            std::vector<double>* lats[] = {&storeLatency, &rawLatency, &sealedLatency,
                                           &enrolLatency};
            rates[side]->push_back(figures->recordsPerSecond);
            lats[side]->push_back(figures->medianLatencyMs);
        }
    }
    double rawPerSecond = median(rawRate);
    double rawMs = median(rawLatency);
    double storePerSecond = median(storeRate);
    double storeMs = median(storeLatency);
    printBaseline("raw_sqlite_insert_throughput", rawPerSecond, "records/s");
    printBaseline("raw_sqlite_insert_median_latency", rawMs, "ms");
    printFigure("finalize_throughput", storePerSecond, "records/s",
                ratio(storePerSecond, rawPerSecond), "raw_sqlite_insert_throughput");
    // Inverted, so that for both figures 1 is "as fast as raw SQLite" and lower is slower.
    printFigure("finalize_median_latency", storeMs, "ms", ratio(rawMs, storeMs),
                "raw_sqlite_insert_median_latency");
    // Sealing encodes the record twice and encrypts it (X25519 + XSalsa20-Poly1305).
    const double sealedPerSecond = median(sealedRate);
    printFigure("finalize_sealed_throughput", sealedPerSecond, "records/s",
                ratio(sealedPerSecond, rawPerSecond), "raw_sqlite_insert_throughput");
    printFigure("finalize_sealed_median_latency", median(sealedLatency), "ms",
                ratio(rawMs, median(sealedLatency)), "raw_sqlite_insert_median_latency");
    // Enrolling opens a case, opens a sealed slot and appends to the allocation log, in the
    // finalize's own transaction.
    const double enrolPerSecond = median(enrolRate);
    printFigure("finalize_enrolment_throughput", enrolPerSecond, "records/s",
                ratio(enrolPerSecond, rawPerSecond), "raw_sqlite_insert_throughput");
    printFigure("finalize_enrolment_median_latency", median(enrolLatency), "ms",
                ratio(rawMs, median(enrolLatency)), "raw_sqlite_insert_median_latency");
    return {};
}

// ---- Figure 2: filling a store, and reading a big one ---------------------------------------

// Raw SQLite inserting the same kind of bodies 10,000 per transaction: the fill's baseline.
Result<double> rawBatchedRecordsPerSecond(const std::string& path, std::int64_t count,
                                          const Settings& settings) {
    SampleMaker maker(kSeed + 1, count);
    BodyEncoder encoder;
    double seconds = 0;
    {
        auto db = openRawTable(path);
        if (!db) return db.error();
        sqlite3* handle = db->get();
        auto st = prepareRawStatements(handle);
        if (!st) return st.error();
        std::vector<EncodedBody> bodies;
        for (std::int64_t done = 0; done < count;) {
            if (Status s = checkInterrupted(); !s) return s.error();
            std::int64_t n = std::min(settings.batchSize, count - done);
            // Encoding is not timed: the baseline is what SQLite alone costs.
            bodies.clear();
            for (std::int64_t i = 0; i < n; ++i) {
                auto body = encoder.encode(maker.make(done + i));
                if (!body) return body.error();
                bodies.push_back(std::move(body.value()));
            }
            TimePoint t0 = now();
            if (Status s = runRaw(handle, st->begin.get(), "beginning"); !s) return s.error();
            for (const auto& body : bodies) {
                if (Status s = insertRaw(handle, st->insert.get(), body); !s) return s.error();
            }
            if (Status s = runRaw(handle, st->commit.get(), "committing"); !s) return s.error();
            seconds += secondsBetween(t0, now());
            done += n;
        }
    }
    removeDatabase(path);
    return static_cast<double>(count) / seconds;
}

// What a fill put into a store, to check the reads against and to pick their arguments.
struct FillFigures {
    std::int64_t records = 0;
    double seconds = 0;
    std::int64_t headRecords = 0;  // the first records, timed on their own
    double headSeconds = 0;
    std::int64_t drafts = 0;
    std::int64_t firstFormRecords = 0;  // of kForms[0]
    std::int64_t commonTextRecords = 0;
    std::optional<Uuid> probeCase;
    std::int64_t probeCaseRecords = 0;
};

// Fills a new store through the public API in batches, the way a bulk import would: a mix of
// four forms, one record in five a draft, a third of them in a case.
Result<FillFigures> fillStore(const std::string& path, std::int64_t count, std::int64_t headRecords,
                              const Settings& settings, std::uint64_t seed) {
    SampleMaker maker(seed, count);
    FillFigures fill;
    fill.records = count;
    fill.headRecords = std::min(headRecords, count);
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate});
    if (!store) return store.error();

    std::vector<Sample> samples;
    for (std::int64_t done = 0; done < count;) {
        if (Status s = checkInterrupted(); !s) return s.error();
        std::int64_t n = std::min(settings.batchSize, count - done);
        // End a batch where the head ends, so that the head's time is exact.
        if (done < fill.headRecords) n = std::min(n, fill.headRecords - done);

        // Content is made before the clock starts: the figure is the store's cost alone.
        samples.clear();
        for (std::int64_t i = 0; i < n; ++i) {
            Sample sample = maker.make(done + i);
            if (sample.draft) ++fill.drafts;
            if (sample.content.formId == kForms[0].id) ++fill.firstFormRecords;
            if (sample.summary.find("Rotterdam") != std::string::npos) ++fill.commonTextRecords;
            if (sample.content.caseId) {
                if (!fill.probeCase) fill.probeCase = sample.content.caseId;
                if (sample.content.caseId == fill.probeCase) ++fill.probeCaseRecords;
            }
            samples.push_back(std::move(sample));
        }

        TimePoint t0 = now();
        auto batch = store->beginBatch();
        if (!batch) return batch.error();
        for (const Sample& sample : samples) {
            if (sample.draft) {
                auto id = store->saveDraft(sample.content, sample.summary);
                if (!id) return id.error();
            } else {
                auto finalized = store->finalizeNew(sample.content, sample.summary);
                if (!finalized) return finalized.error();
            }
        }
        if (Status s = batch->commit(); !s) return s.error();
        double elapsed = secondsBetween(t0, now());
        fill.seconds += elapsed;
        done += n;
        if (done <= fill.headRecords) fill.headSeconds += elapsed;
    }
    return fill;
}

struct ReadTime {
    std::string name;
    double ms = 0;
};

Error unexpected(const std::string& what, std::size_t got, std::size_t expected) {
    return makeError(ErrorCode::Internal, what + " returned " + std::to_string(got) +
                                              " rows, expected " + std::to_string(expected));
}

// Opens the store several times, then times each read on one open store. Each read is checked
// against what the fill wrote, so a fast but wrong answer fails the run.
Result<std::vector<ReadTime>> measureReads(const std::string& path, const FillFigures& fill,
                                           const Settings& settings) {
    std::vector<ReadTime> out;
    {
        std::vector<double> ms;
        for (int i = 0; i < settings.openRepeats; ++i) {
            TimePoint t0 = now();
            auto store = Store::open(path, {.mode = sql::OpenMode::ReadWrite});
            TimePoint t1 = now();
            if (!store) return store.error();
            if (store->readOnly())
                return makeError(ErrorCode::ReadOnly, path + " opened read-only");
            ms.push_back(msBetween(t0, t1));
        }
        out.push_back({"open_store", median(ms)});
    }

    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWrite});
    if (!store) return store.error();

    auto expectRows = [](std::int64_t matching) {
        return std::min(kPageSize, static_cast<std::size_t>(matching));
    };
    auto timeList = [&](const std::string& name, const ListQuery& query, std::size_t expected,
                        int repeats) -> Status {
        std::vector<double> ms;
        for (int i = 0; i < repeats; ++i) {
            if (Status s = checkInterrupted(); !s) return s;
            TimePoint t0 = now();
            auto page = store->list(query);
            TimePoint t1 = now();
            if (!page) return page.error();
            if (page->rows.size() != expected) return unexpected(name, page->rows.size(), expected);
            ms.push_back(msBetween(t0, t1));
        }
        out.push_back({name, median(ms)});
        return {};
    };

    const int repeats = settings.listRepeats;
    if (Status s = timeList("list_first_page", ListQuery{.limit = kPageSize},
                            expectRows(fill.records), repeats);
        !s)
        return s.error();

    auto first = store->list(ListQuery{.limit = kPageSize});
    if (!first) return first.error();
    if (!first->next) return makeError(ErrorCode::Internal, "the first page has no next page");
    if (Status s =
            timeList("list_next_page", ListQuery{.limit = kPageSize, .after = first->next},
                     expectRows(fill.records - static_cast<std::int64_t>(kPageSize)), repeats);
        !s)
        return s.error();

    if (Status s = timeList("list_by_form",
                            ListQuery{.formId = std::string(kForms[0].id), .limit = kPageSize},
                            expectRows(fill.firstFormRecords), repeats);
        !s)
        return s.error();
    if (Status s =
            timeList("list_by_status", ListQuery{.status = RecordStatus::Draft, .limit = kPageSize},
                     expectRows(fill.drafts), repeats);
        !s)
        return s.error();
    if (fill.probeCase) {
        if (Status s =
                timeList("list_by_case", ListQuery{.caseId = fill.probeCase, .limit = kPageSize},
                         expectRows(fill.probeCaseRecords), repeats);
            !s)
            return s.error();
    }
    if (Status s =
            timeList("list_text", ListQuery{.text = std::string(kCommonText), .limit = kPageSize},
                     expectRows(fill.commonTextRecords), repeats);
        !s)
        return s.error();
    if (Status s = timeList("list_text_no_match",
                            ListQuery{.text = std::string(kMissingText), .limit = kPageSize}, 0,
                            settings.scanRepeats);
        !s)
        return s.error();

    std::vector<double> ms;
    for (int i = 0; i < repeats; ++i) {
        TimePoint t0 = now();
        auto counts = store->counts();
        TimePoint t1 = now();
        if (!counts) return counts.error();
        std::int64_t total = 0;
        std::int64_t drafts = 0;
        for (const auto& c : *counts) {
            total += c.count;
            if (c.status == RecordStatus::Draft) drafts += c.count;
        }
        if (total != fill.records || drafts != fill.drafts) {
            return makeError(ErrorCode::Internal, "counts() says " + std::to_string(total) +
                                                      " records and " + std::to_string(drafts) +
                                                      " drafts, expected " +
                                                      std::to_string(fill.records) + " and " +
                                                      std::to_string(fill.drafts));
        }
        ms.push_back(msBetween(t0, t1));
    }
    out.push_back({"counts", median(ms)});
    return out;
}

Status benchBigStore(const TempDir& dir, const Settings& settings) {
    const std::string bigTag = sizeTag(settings.bigRecords);
    const std::string smallTag = sizeTag(kSmallStoreRecords);
    const std::int64_t rawCount = std::min(settings.rawBatchedRecords, settings.bigRecords);

    auto raw = rawBatchedRecordsPerSecond(dir.file("batched.sqlite"), rawCount, settings);
    if (!raw) return raw.error();
    printBaseline("raw_sqlite_batched_insert_throughput", *raw, "records/s");

    std::fprintf(stderr, "veld-bench-store: filling a store with %lld records\n",
                 static_cast<long long>(settings.bigRecords));
    const std::string bigPath = dir.file("big.veld");
    auto big = fillStore(bigPath, settings.bigRecords, rawCount, settings, kSeed + 2);
    if (!big) return big.error();
    if (big->headRecords < big->records) {
        double headRate = static_cast<double>(big->headRecords) / big->headSeconds;
        printFigure("fill_throughput_first_" + sizeTag(big->headRecords), headRate, "records/s",
                    ratio(headRate, *raw), "raw_sqlite_batched_insert_throughput");
    }
    double fillRate = static_cast<double>(big->records) / big->seconds;
    printFigure("fill_throughput_" + bigTag, fillRate, "records/s", ratio(fillRate, *raw),
                "raw_sqlite_batched_insert_throughput");
    std::fprintf(stderr, "veld-bench-store: the store of %lld records takes %.0f MB\n",
                 static_cast<long long>(big->records),
                 static_cast<double>(fileBytes(bigPath)) / 1e6);

    const std::string smallPath = dir.file("small.veld");
    auto small = fillStore(smallPath, kSmallStoreRecords, kSmallStoreRecords, settings, kSeed + 3);
    if (!small) return small.error();

    auto smallReads = measureReads(smallPath, *small, settings);
    if (!smallReads) return smallReads.error();
    auto bigReads = measureReads(bigPath, *big, settings);
    if (!bigReads) return bigReads.error();

    for (const ReadTime& baseline : *smallReads) {
        auto match = std::find_if(bigReads->begin(), bigReads->end(),
                                  [&](const ReadTime& r) { return r.name == baseline.name; });
        if (match == bigReads->end()) continue;  // e.g. no case in a tiny store
        std::string baselineName = baseline.name + "_" + smallTag;
        printBaseline(baselineName, baseline.ms, "ms");
        printFigure(match->name + "_" + bigTag, match->ms, "ms", ratio(match->ms, baseline.ms),
                    baselineName);
    }
    return {};
}

// ---- Command line ---------------------------------------------------------------------------

Result<Settings> parseArgs(int argc, char** argv) {
    Settings settings;
    std::optional<std::int64_t> records;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            settings.help = true;
        } else if (arg == "--quick") {
            // Small enough for a smoke test under ASan, big enough to run every code path.
            settings.bigRecords = 5'000;
            settings.finalizesPerRound = 70;
            settings.rawBatchedRecords = 5'000;
            settings.batchSize = 2'000;
            settings.openRepeats = 3;
            settings.listRepeats = 3;
            settings.scanRepeats = 1;
        } else if (arg == "--records") {
            if (i + 1 >= argc) return makeError(ErrorCode::InvalidArgument, "--records needs N");
            std::string_view value = argv[++i];
            std::int64_t n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || end != value.data() + value.size() || n < kSmallStoreRecords) {
                return makeError(ErrorCode::InvalidArgument,
                                 "--records takes a whole number of at least 1000, not '" +
                                     std::string(value) + "'");
            }
            records = n;
        } else {
            return makeError(ErrorCode::InvalidArgument,
                             "unknown argument '" + std::string(arg) + "'");
        }
    }
    // --records wins over --quick whatever their order.
    if (records) settings.bigRecords = *records;
    return settings;
}

int run(int argc, char** argv) {
    auto settings = parseArgs(argc, argv);
    if (!settings) {
        std::fprintf(stderr, "veld-bench-store: %s\n%.*s", settings.error().message.c_str(),
                     static_cast<int>(kUsage.size()), kUsage.data());
        return 2;
    }
    if (settings->help) {
        std::fprintf(stderr, "%.*s", static_cast<int>(kUsage.size()), kUsage.data());
        return 0;
    }
    // SIGPIPE too: `veld-bench-store | head` must not kill the run before it cleans up.
#ifdef _WIN32
    for (int sig : {SIGINT, SIGTERM})
#else
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
#endif
        std::signal(sig, onSignal);

    auto fail = [](const Error& error) {
        std::fprintf(stderr, "veld-bench-store: %s\n", error.describe().c_str());
        return 1;
    };
    auto dir = TempDir::make();
    if (!dir) return fail(dir.error());
    std::fprintf(stderr, "veld-bench-store: SQLite %s, temporary files in %s\n",
                 sqlite3_libversion(), dir->path().c_str());

    if (Status s = benchFinalize(*dir, *settings); !s) return fail(s.error());
    if (Status s = benchBigStore(*dir, *settings); !s) return fail(s.error());
    return 0;
}

}  // namespace

}  // namespace veld::bench

int main(int argc, char** argv) {
    try {
        return veld::bench::run(argc, argv);
    } catch (const std::exception& e) {
        // Caught here so that the temporary folder's destructor has run before exiting.
        std::fprintf(stderr, "veld-bench-store: %s\n", e.what());
        return 1;
    }
}
