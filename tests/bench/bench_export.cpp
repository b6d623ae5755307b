// veld-bench-export: exporting a collector's records for evaluators, against sqlite3's own CSV
// output measured in the same run.
// - A form of 60 questions (integers, decimals, select-one, select-many, texts, dates) and
//   N records of it (1,000,000 by default) with varied answers, written into a fresh collector
//   file with SQL (pushing them would take far longer than the export itself).
// - `veldctl export --format csv` and `--format sav`, each as its own process: records/s and
//   peak resident memory.
// - The baseline: the CSV export imported into a plain SQLite table (the same rows and bytes),
//   then dumped by `sqlite3 -csv` into a file: rows/s and its peak memory.
// - `--format xlsx` (an Excel workbook) of up to 100,000 records against `--format csv` of the
//   same records, one after the other: records/s and peak memory, and their ratios.
//
// - What the console asks of the collector at that size, through the collector store in this
//   process: the dashboard (counts and records per form per day), the first page of the review
//   queue, and the likely duplicates; against a raw SQLite read of every revision's body.
//
// Output on stdout, one line per figure:
//   bench NAME: VALUE UNIT (baseline)
//   bench NAME: VALUE UNIT (ratio R vs BASELINE_NAME)
// Progress goes to stderr. Exit status 1 on any error, 2 on a bad command line.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
// Raw SQLite on purpose: baselines measure SQLite without Veld's wrapper, and fixtures are filled
// behind Veld's back.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/uuid.hpp>

#include "bench_output.hpp"

extern char** environ;

namespace veld::bench {

namespace {

constexpr const char* kUsage =
    "usage: veld-bench-export [--records N] [--quick]\n"
    "  --records N  records of the 60-question form (default 1000000)\n"
    "  --quick      a smoke run (2,000 records)\n";

void note(const std::string& text) {
    std::fprintf(stderr, "veld-bench-export: %s\n", text.c_str());
}

std::string binDir() {
    return std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
}

struct Run {
    double seconds = 0;
    double peakMiB = 0;
};

// Runs a program (stdout to `outFile` when given) and measures its time and peak memory.
Run run(const std::vector<std::string>& argv, const std::string& outFile = {}) {
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy)
        args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!outFile.empty())
        posix_spawn_file_actions_addopen(&actions, 1, outFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0600);
    pid_t pid = 0;
    const auto start = Clock::now();
    const int rc = posix_spawn(&pid, copy[0].c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + copy[0]);
    // Peak memory from the child's own VmHWM, read while it runs: getrusage's ru_maxrss would
    // count this process's memory too (Linux carries it over through posix_spawn's exec).
    int status = 0;
    long peakKiB = 0;
    const std::string statusFile = "/proc/" + std::to_string(pid) + "/status";
    for (;;) {
        std::ifstream in(statusFile);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("VmHWM:", 0) == 0)
                peakKiB = std::max(peakKiB, std::atol(line.c_str() + 6));
        }
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) throw std::runtime_error("waitpid failed");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Run r;
    r.seconds = secondsSince(start);
    r.peakMiB = static_cast<double>(peakKiB) / 1024.0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(copy[0] + " failed");
    return r;
}

// A form of 60 questions, as authors write it.
std::string formJson() {
    std::string items;
    auto add = [&](const std::string& item) {
        if (!items.empty()) items += ",\n";
        items += item;
    };
    const auto labels = [](const std::string& nl, const std::string& en) {
        return R"("labels": [{"lang": "nl", "text": ")" + nl + R"("}, {"lang": "en", "text": ")" +
               en + R"("}])";
    };
    for (int i = 1; i <= 20; ++i)
        add(R"({"name": "count_)" + std::to_string(i) + R"(", "type": "Integer", )" +
            labels("Aantal " + std::to_string(i), "Count " + std::to_string(i)) + "}");
    for (int i = 1; i <= 10; ++i)
        add(R"({"name": "amount_)" + std::to_string(i) + R"(", "type": "Decimal", )" +
            labels("Bedrag " + std::to_string(i), "Amount " + std::to_string(i)) + "}");
    for (int i = 1; i <= 10; ++i)
        add(R"({"name": "rating_)" + std::to_string(i) +
            R"(", "type": "SelectOne", "choice_list": "scale", )" +
            labels("Oordeel " + std::to_string(i), "Rating " + std::to_string(i)) + "}");
    for (int i = 1; i <= 5; ++i)
        add(R"({"name": "support_)" + std::to_string(i) +
            R"(", "type": "SelectMany", "choice_list": "support", )" +
            labels("Steun " + std::to_string(i), "Support " + std::to_string(i)) + "}");
    for (int i = 1; i <= 10; ++i)
        add(R"({"name": "remark_)" + std::to_string(i) +
            R"(", "type": "Text", "max_length": 200, )" +
            labels("Opmerking " + std::to_string(i), "Remark " + std::to_string(i)) + "}");
    for (int i = 1; i <= 5; ++i)
        add(R"({"name": "date_)" + std::to_string(i) + R"(", "type": "Date", )" +
            labels("Datum " + std::to_string(i), "Date " + std::to_string(i)) + "}");
    std::string scale;
    for (int c = 1; c <= 5; ++c) {
        if (c > 1) scale += ", ";
        scale += R"({"name": "s)" + std::to_string(c) + R"(", )" +
                 labels("stap " + std::to_string(c), "step " + std::to_string(c)) + "}";
    }
    std::string support;
    for (const char* c : {"coaching", "training", "subsidy", "other_help"}) {
        if (!support.empty()) support += ", ";
        support += R"({"name": ")" + std::string(c) + R"(", )" + labels(c, c) + "}";
    }
    return R"({"id": "bench_sixty", "version": 1, "pilot": "bench", "default_language": "nl",
  "titles": [{"lang": "nl", "text": "Zestig vragen"}, {"lang": "en", "text": "Sixty questions"}],
  "languages": [{"tag": "nl", "name": "Nederlands"}, {"tag": "en", "name": "English"}],
  "choice_lists": [{"name": "scale", "choices": [)" +
           scale + R"(]}, {"name": "support", "choices": [)" + support + R"(]}],
  "items": [)" +
           items + "]}";
}

RecordContent contentFor(std::mt19937_64& random) {
    RecordContent c;
    c.formId = "bench_sixty";
    c.formVersion = 1;
    auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
    for (int i = 1; i <= 20; ++i)
        c.answers.push_back({"count_" + std::to_string(i), std::int64_t{pick(1000)}});
    for (int i = 1; i <= 10; ++i) {
        const double v = pick(100000) / 100.0;
        char text[32];
        std::snprintf(text, sizeof text, "%.2f", v);
        c.answers.push_back({"amount_" + std::to_string(i), DecimalAnswer{v, text}});
    }
    for (int i = 1; i <= 10; ++i)
        c.answers.push_back(
            {"rating_" + std::to_string(i), ChoiceAnswer{"s" + std::to_string(1 + pick(5)), {}}});
    static const char* kSupport[] = {"coaching", "training", "subsidy", "other_help"};
    for (int i = 1; i <= 5; ++i) {
        ChoicesAnswer a;
        for (const char* s : kSupport)
            if (pick(2) == 0) a.choices.emplace_back(s);
        c.answers.push_back({"support_" + std::to_string(i), a});
    }
    static const char* kWords[] = {"goed",  "gesprek",  "werkgever", "afspraak", "begeleiding",
                                   "stage", "contract", "vervolg",   "taal",     "reiskosten"};
    for (int i = 1; i <= 10; ++i) {
        std::string text;
        const int words = 2 + pick(8);
        for (int w = 0; w < words; ++w) {
            if (w > 0) text += ' ';
            text += kWords[pick(10)];
        }
        c.answers.push_back({"remark_" + std::to_string(i), text});
    }
    for (int i = 1; i <= 5; ++i)
        c.answers.push_back({"date_" + std::to_string(i), DateAnswer{19000 + pick(1500)}});
    return c;
}

// The collector file: the form published, N records written with SQL as a push would leave them.
void fillCollector(const std::string& path, std::int64_t count) {
    const auto form = forms::compileFormJson(formJson(), "bench_sixty.json");
    if (!form.ok()) {
        for (const auto& p : form.problems)
            note(p.describe());
        throw std::runtime_error("the benchmark's form does not compile");
    }
    {
        auto c = must(sync::openSqliteCollector(path, true), "collector store");
        must(c->publish(form.binary, SystemClock::instance().nowMillis(), "bench"), "publish");
    }
    RawDb raw(path);
    sqlite3* db = raw.handle();
    auto exec = [&](const char* sql) { raw.exec(sql); };
    auto prepare = [&](const char* sql) { return raw.prepare(sql); };
    auto step = [&](sqlite3_stmt* st) { raw.step(st); };
    exec("PRAGMA synchronous = OFF");
    exec("BEGIN");
    const Uuid device = makeUuidV4();
    const std::int64_t now = SystemClock::instance().nowMillis();
    auto dev = prepare(
        "INSERT INTO devices (device_id, label, credential_hash, enrolled_utc_ms, "
        "received_through) VALUES (?, 'bench', randomblob(32), ?, ?)");
    sqlite3_bind_blob(dev.get(), 1, device.bytes.data(), 16, SQLITE_TRANSIENT);
    sqlite3_bind_int64(dev.get(), 2, now);
    sqlite3_bind_int64(dev.get(), 3, count);
    step(dev.get());
    auto revision = prepare(
        "INSERT INTO revisions (device_id, seq, record_id, hlc, form_id, form_version, body, "
        "received_utc_ms) VALUES (?, ?, ?, ?, 'bench_sixty', 1, ?, ?)");
    auto record = prepare(
        "INSERT INTO records (record_id, current_rid, hlc, first_device, form_id) VALUES (?, ?, ?, "
        "?, 'bench_sixty')");
    std::mt19937_64 random(42);
    for (std::int64_t seq = 1; seq <= count; ++seq) {
        Record r;
        r.id = makeUuidV7(SystemClock::instance());
        r.deviceId = device;
        r.hlc =
            HlcTimestamp::make(static_cast<std::uint64_t>(now), static_cast<std::uint32_t>(seq));
        r.createdHlc = r.hlc;
        r.finalized = true;
        r.content = contentFor(random);
        const auto body = must(encodeRecord(r), "encoding a record");
        sqlite3_bind_blob(revision.get(), 1, device.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(revision.get(), 2, seq);
        sqlite3_bind_blob(revision.get(), 3, r.id.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(revision.get(), 4, static_cast<sqlite3_int64>(r.hlc.value));
        sqlite3_bind_blob(revision.get(), 5, body.data(), static_cast<int>(body.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_int64(revision.get(), 6, now);
        step(revision.get());
        const sqlite3_int64 rid = sqlite3_last_insert_rowid(db);
        sqlite3_bind_blob(record.get(), 1, r.id.bytes.data(), 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(record.get(), 2, rid);
        sqlite3_bind_int64(record.get(), 3, static_cast<sqlite3_int64>(r.hlc.value));
        sqlite3_bind_blob(record.get(), 4, device.bytes.data(), 16, SQLITE_TRANSIENT);
        step(record.get());
    }
    exec("COMMIT");
    exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

int benchMain(int argc, char** argv) {
    std::int64_t records = 1'000'000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--quick") {
            records = 2'000;
        } else if (arg == "--records" && i + 1 < argc) {
            records = std::atoll(argv[++i]);
            if (records <= 0) {
                std::fprintf(stderr, "%s", kUsage);
                return 2;
            }
        } else if (arg == "--help" || arg == "-h") {
            std::fprintf(stderr, "%s", kUsage);
            return 0;
        } else {
            std::fprintf(stderr, "veld-bench-export: unknown argument '%s'\n%s", arg.c_str(),
                         kUsage);
            return 2;
        }
    }
    std::signal(SIGPIPE, SIG_IGN);
    TempDir dir("veld-bench-export");
    const std::string tag = sizeTag(records);
    const std::string collector = dir.file("collector.db");
    const auto fillStart = Clock::now();
    fillCollector(collector, records);
    note("made " + std::to_string(records) + " records of a 60-question form in " +
         formatNumber(secondsSince(fillStart)) + " s");

    const std::string veldctl = binDir() + "/veldctl";
    const Run csv = run({veldctl, "export", collector, "bench_sixty", "--out", dir.file("csv")},
                        dir.file("csv.log"));
    const std::string csvFile = dir.file("csv/bench_sixty.csv");
    const auto csvBytes = std::filesystem::file_size(csvFile);
    const Run sav = run(
        {veldctl, "export", collector, "bench_sixty", "--out", dir.file("sav"), "--format", "sav"},
        dir.file("sav.log"));

    // The baseline: the same rows and bytes in a plain table, dumped by sqlite3's CSV mode.
    const std::string flat = dir.file("flat.db");
    run({"/usr/bin/sqlite3", flat, "-cmd", ".mode csv", ".import " + csvFile + " flat"});
    const Run dump = run({"/usr/bin/sqlite3", "-csv", "-header", flat, "SELECT * FROM flat"},
                         dir.file("flat.csv"));
    const auto dumpBytes = std::filesystem::file_size(dir.file("flat.csv"));
    note("CSV export " + std::to_string(csvBytes) + " bytes, sqlite3 dump " +
         std::to_string(dumpBytes) + " bytes");

    const double n = static_cast<double>(records);
    printBaseline("sqlite3_csv_dump_" + tag, n / dump.seconds, "rows/s");
    printFigure("export_csv_60q_" + tag, n / csv.seconds, "records/s", n / dump.seconds,
                "sqlite3_csv_dump_" + tag);
    printFigure("export_sav_60q_" + tag, n / sav.seconds, "records/s", n / dump.seconds,
                "sqlite3_csv_dump_" + tag);
    printBaseline("sqlite3_csv_dump_" + tag + "_peak_rss", dump.peakMiB, "MiB");
    printFigure("export_csv_60q_" + tag + "_peak_rss", csv.peakMiB, "MiB", dump.peakMiB,
                "sqlite3_csv_dump_" + tag + "_peak_rss");
    printFigure("export_sav_60q_" + tag + "_peak_rss", sav.peakMiB, "MiB", dump.peakMiB,
                "sqlite3_csv_dump_" + tag + "_peak_rss");
    // Excel: a sheet holds at most 1,048,575 rows; the figure is for 100,000 records at most.
    {
        const std::int64_t xlsxRecords = std::min<std::int64_t>(records, 100'000);
        const std::string xtag = sizeTag(xlsxRecords);
        std::string source = collector;
        if (xlsxRecords != records) {
            source = dir.file("collector-xlsx.db");
            fillCollector(source, xlsxRecords);
        }
        const Run sameCsv =
            run({veldctl, "export", source, "bench_sixty", "--out", dir.file("csv-for-xlsx")},
                dir.file("csv-for-xlsx.log"));
        const Run xlsx = run({veldctl, "export", source, "bench_sixty", "--out", dir.file("xlsx"),
                              "--format", "xlsx"},
                             dir.file("xlsx.log"));
        note("xlsx export " +
             std::to_string(std::filesystem::file_size(dir.file("xlsx/bench_sixty.xlsx"))) +
             " bytes");
        const double x = static_cast<double>(xlsxRecords);
        printBaseline("export_csv_60q_" + xtag + "_beside_xlsx", x / sameCsv.seconds, "records/s");
        printFigure("export_xlsx_60q_" + xtag, x / xlsx.seconds, "records/s", x / sameCsv.seconds,
                    "export_csv_60q_" + xtag + "_beside_xlsx");
        printBaseline("export_csv_60q_" + xtag + "_beside_xlsx_peak_rss", sameCsv.peakMiB, "MiB");
        printFigure("export_xlsx_60q_" + xtag + "_peak_rss", xlsx.peakMiB, "MiB", sameCsv.peakMiB,
                    "export_csv_60q_" + xtag + "_beside_xlsx_peak_rss");
    }

    // What the console asks for, at this size.
    {
        RawDb raw(collector);
        auto all = raw.prepare("SELECT count(*), sum(length(body)) FROM revisions");
        const auto scanStart = Clock::now();
        if (sqlite3_step(all.get()) != SQLITE_ROW) throw std::runtime_error("raw scan failed");
        const double scan = secondsSince(scanStart);
        auto store = must(sync::openSqliteCollector(collector, false), "opening the collector");
        const auto statusStart = Clock::now();
        must(store->stats(), "stats");
        must(store->recordsPerDay(), "records per day");
        const double status = secondsSince(statusStart);
        const auto queueStart = Clock::now();
        must(store->reviewQueue(sync::ReviewState::Received, 200, {}), "review queue");
        const double queue = secondsSince(queueStart);
        const auto duplicatesStart = Clock::now();
        must(store->duplicates(), "duplicates");
        const double duplicates = secondsSince(duplicatesStart);
        printBaseline("sqlite_read_every_body_" + tag, scan * 1000, "ms");
        printFigure("console_dashboard_" + tag, status * 1000, "ms", scan * 1000,
                    "sqlite_read_every_body_" + tag);
        printFigure("console_review_queue_page_" + tag, queue * 1000, "ms", scan * 1000,
                    "sqlite_read_every_body_" + tag);
        printFigure("console_duplicates_" + tag, duplicates * 1000, "ms", scan * 1000,
                    "sqlite_read_every_body_" + tag);
    }
    return 0;
}

}  // namespace

}  // namespace veld::bench

int main(int argc, char** argv) {
    try {
        return veld::bench::benchMain(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "veld-bench-export: %s\n", e.what());
        return 1;
    }
}
