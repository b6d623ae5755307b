// Exports read back by an independent reader: devices fill in pilot forms through form sessions,
// send them to a real collector, staff export with veldctl, and Python's csv module reads the
// files. Every answer entered must come back in its column, and nothing else.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <doctest/doctest.h>

#include <veld/record.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"
#include "veldctl/demo.hpp"

using namespace veld;

namespace {

// Each cell of each CSV as "table<TAB>row key<TAB>column<TAB>hex of the UTF-8 value"; the row
// key is the record id, or for a repeat table "record id/parent instance/instance".
constexpr const char* kReader = R"py(
import csv, sys
for path in sys.argv[1:]:
    table = path.rsplit('/', 1)[1][:-4]
    with open(path, newline='', encoding='utf-8') as f:
        for row in csv.DictReader(f):
            if 'parent_instance' in row:
                key = row['record_id'] + '/' + row['parent_instance'] + '/' + row['instance']
            elif 'record_id' in row:
                key = row['record_id']
            else:
                key = row['variable'] + '/' + row['language'] + '/' + row['value']
            for column, value in row.items():
                print(table, key, column, value.encode('utf-8').hex(), sep='\t')
)py";

std::string unhex(const std::string& h) {
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
    return out;
}

using Cells = std::map<std::string, std::map<std::string, std::map<std::string, std::string>>>;

Cells readBack(const std::string& script, const std::vector<std::string>& files) {
    std::vector<std::string> argv{"/usr/bin/python3", script};
    argv.insert(argv.end(), files.begin(), files.end());
    const auto run = test::runProcess(argv);
    REQUIRE_MESSAGE(run.exitCode == 0, run.err);
    Cells cells;
    std::istringstream in(run.out);
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::size_t start = 0;
        for (;;) {
            const auto tab = line.find('\t', start);
            f.push_back(line.substr(start, tab == std::string::npos ? tab : tab - start));
            if (tab == std::string::npos) break;
            start = tab + 1;
        }
        REQUIRE(f.size() == 4);
        cells[f[0]][f[1]][f[2]] = unhex(f[3]);
    }
    return cells;
}

std::string hexOf(const std::vector<std::uint8_t>& bytes) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (auto b : bytes) {
        out += d[b >> 4];
        out += d[b & 15];
    }
    return out;
}

std::string isoDate(std::int32_t days) {
    const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
    char out[16];
    std::snprintf(out, sizeof out, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    return out;
}

std::string clock(std::int64_t ms) {
    const std::int64_t s = ms / 1000;
    char out[64];
    std::snprintf(out, sizeof out, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
    return out;
}

// What a column must hold for these answers: column name -> text as CSV shows it. Choice codes
// come from the codebook (choice name -> code, per question).
std::map<std::string, std::string> expectedCells(
    const std::vector<Answer>& answers,
    const std::map<std::string, std::map<std::string, std::string>>& codes) {
    std::map<std::string, std::string> out;
    for (const Answer& a : answers) {
        std::visit(
            [&](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    out[a.name] = v;
                } else if constexpr (std::is_same_v<T, std::int64_t>) {
                    out[a.name] = std::to_string(v);
                } else if constexpr (std::is_same_v<T, DecimalAnswer>) {
                    out[a.name] = "decimal:" + v.text;
                } else if constexpr (std::is_same_v<T, bool>) {
                    out[a.name] = v ? "1" : "0";
                } else if constexpr (std::is_same_v<T, ChoiceAnswer>) {
                    out[a.name] = codes.at(a.name).at(v.choice);
                    if (!v.otherText.empty()) out[a.name + ".other_text"] = v.otherText;
                } else if constexpr (std::is_same_v<T, ChoicesAnswer>) {
                    for (const auto& c : v.choices)
                        out[a.name + "." + c] = "1";
                    out[a.name + ".*"] = "0";  // every other choice column
                    if (!v.otherText.empty()) out[a.name + ".other_text"] = v.otherText;
                } else if constexpr (std::is_same_v<T, DateAnswer>) {
                    out[a.name] = isoDate(v.days);
                } else if constexpr (std::is_same_v<T, TimeAnswer>) {
                    out[a.name] = clock(v.ms);
                } else if constexpr (std::is_same_v<T, DateTimeAnswer>) {
                    out[a.name] = "datetime:" + std::to_string(v.utcMs);
                } else if constexpr (std::is_same_v<T, SignatureAnswer>) {
                    out[a.name] = "1";
                } else if constexpr (std::is_same_v<T, PseudonymAnswer>) {
                    out[a.name] = hexOf(v.digest);
                }
            },
            a.value);
    }
    return out;
}

// Compares one exported row with the answers that were entered.
void checkRow(const std::map<std::string, std::string>& row,
              const std::map<std::string, std::string>& expected,
              const std::set<std::string>& keyColumns) {
    for (const auto& entry : row) {
        const auto& column = entry.first;
        const auto& value = entry.second;
        if (keyColumns.count(column)) continue;
        CAPTURE(column);
        auto exact = expected.find(column);
        if (exact != expected.end()) {
            if (exact->second.rfind("decimal:", 0) == 0) {
                CHECK(std::stod(value) == doctest::Approx(std::stod(exact->second.substr(8))));
            } else if (exact->second.rfind("datetime:", 0) == 0) {
                CHECK_FALSE(value.empty());  // ISO 8601; its instant is checked in the unit test
            } else {
                CHECK(value == exact->second);
            }
            continue;
        }
        const auto dot = column.rfind('.');
        if (dot != std::string::npos && expected.count(column.substr(0, dot) + ".*") &&
            column.substr(dot) != ".other_text") {
            CHECK(value == "0");  // a choice of a select-many question that was not chosen
            continue;
        }
        CHECK(value.empty());  // not answered (not asked, skipped, or another form's question)
    }
}

}  // namespace

TEST_CASE("exports read back by Python's csv module and by readstat hold every answer entered") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::publishPilotForms(collector);
    collector.start();

    // Three devices fill in the pilots' forms through form sessions and send them.
    std::map<Uuid, Record> entered;
    for (int d = 0; d < 3; ++d) {
        auto device = test::openDevice(dir.file("device" + std::to_string(d) + ".veld"));
        REQUIRE(veldctl::setUpDemo(device, std::string(VELD_SOURCE_DIR) + "/schemas/forms"));
        REQUIRE(veldctl::addDemoRecords(device, 120, 7 + static_cast<std::uint32_t>(d)));
        test::enrolDevice(device, collector);
        auto pending = device.outboxPending(1000, SIZE_MAX);
        REQUIRE(pending);
        for (const auto& e : pending.value()) {
            auto r = decodeRecord(e.body);
            REQUIRE(r);
            if (r->content.formId == "ips_guidance") entered[r->id] = r.value();
        }
        auto round = sync::syncOnce(device, sync::loadConnection(device).value(), {});
        REQUIRE_MESSAGE(round, round.error().describe());
    }
    REQUIRE(entered.size() >= 10);

    // Staff approve one record; an export of approved records holds that one only.
    const Uuid approved = entered.begin()->first;
    REQUIRE(test::veldctl({"collector", "review", collector.storePath(), approved.toString(),
                           "approved", "--comment", "checked"})
                .exitCode == 0);

    const std::string out = dir.file("export");
    const auto exported =
        test::veldctl({"export", collector.storePath(), "ips_guidance", "--out", out});
    REQUIRE_MESSAGE(exported.exitCode == 0, exported.err);
    CHECK(exported.out.find(std::to_string(entered.size()) + " records") != std::string::npos);
    // By pilot: every form of the pilot, the same files as by form.
    const auto byPilot = test::veldctl({"export", collector.storePath(), "--pilot",
                                        "ips_long_term_unemployed", "--out", dir.file("pilot")});
    REQUIRE_MESSAGE(byPilot.exitCode == 0, byPilot.err);
    CHECK(std::filesystem::exists(dir.file("pilot") + "/ips_guidance.csv"));
    CHECK(std::filesystem::exists(dir.file("pilot") + "/ips_guidance-codebook.csv"));
    CHECK_FALSE(std::filesystem::exists(dir.file("pilot") + "/vmbo_parent_survey.csv"));
    CHECK(test::veldctl({"export", collector.storePath(), "--pilot", "no_such_pilot"}).exitCode ==
          1);
    const std::string script = dir.file("read.py");
    std::ofstream(script) << kReader;
    std::vector<std::string> files;
    for (const auto& f : std::filesystem::directory_iterator(out))
        files.push_back(f.path().string());
    const Cells cells = readBack(script, files);
    REQUIRE(cells.count("ips_guidance"));
    REQUIRE(cells.count("ips_guidance-codebook"));

    // Choice codes, from the codebook's "name" rows.
    std::map<std::string, std::map<std::string, std::string>> codes;
    for (const auto& [key, row] : cells.at("ips_guidance-codebook")) {
        if (row.at("language") == "name")
            codes[row.at("variable")][row.at("value_label")] = row.at("value");
    }
    CHECK_FALSE(codes.empty());

    const auto& main = cells.at("ips_guidance");
    CHECK(main.size() == entered.size());
    for (const auto& entry : entered) {
        const auto& id = entry.first;
        const auto& record = entry.second;
        CAPTURE(id.toString());
        REQUIRE(main.count(id.toString()));
        const auto& row = main.at(id.toString());
        CHECK(row.at("device_id") == record.deviceId.toString());
        CHECK(row.at("unreadable") == "0");
        CHECK(row.at("review") == (id == approved ? "2" : "0"));
        // The review's history beside its state: who, when, what (empty when never reviewed).
        if (id == approved) {
            CHECK(row.at("review_history").find(" approved (") != std::string::npos);
        } else {
            CHECK(row.at("review_history").empty());
        }
        checkRow(row, expectedCells(record.content.answers, codes),
                 {"record_id", "device_id", "form_version", "revision_time", "review",
                  "review_history", "clock_flagged", "unreadable", "chain_seq", "chain_link"});
        // Repeats: one row per instance, keyed by the record and the instance's place.
        for (const Repeat& r : record.content.repeats) {
            const std::string table = "ips_guidance-" + r.name;
            REQUIRE(cells.count(table));
            for (std::size_t i = 0; i < r.instances.size(); ++i) {
                const std::string key = id.toString() + "//" + std::to_string(i + 1);
                REQUIRE(cells.at(table).count(key));
                checkRow(cells.at(table).at(key), expectedCells(r.instances[i].answers, codes),
                         {"record_id", "parent_instance", "instance"});
            }
        }
    }
    // No raw identifier: pseudonym columns hold 64 hex digits.
    for (const auto& [key, row] : cells.at("ips_guidance-codebook")) {
        if (row.at("type").rfind("pseudonym", 0) != 0) continue;
        for (const auto& [rid, r] : main) {
            const std::string& v = r.at(row.at("variable"));
            if (!v.empty()) CHECK(v.size() == 64);
        }
    }

    // The same records as SPSS and Stata files, read back by ReadStat's own command-line tool
    // (variables under their .sav and .dta names from the codebook), agree with the CSV.
    for (const std::string format : {"sav", "dta"}) {
        CAPTURE(format);
        const std::string folder = dir.file("export-" + format);
        const auto made = test::veldctl(
            {"export", collector.storePath(), "ips_guidance", "--out", folder, "--format", format});
        REQUIRE_MESSAGE(made.exitCode == 0, made.err);
        const std::string converted = dir.file("ips_guidance.csv");
        const auto read =
            test::runProcess({"/usr/bin/readstat", folder + "/ips_guidance." + format, converted});
        REQUIRE_MESSAGE(read.exitCode == 0, read.err);
        const Cells back = readBack(script, {converted});
        const auto& rows = back.at("ips_guidance");
        CHECK(rows.size() == main.size());
        std::filesystem::remove(converted);
        for (const auto& [key, variable] : cells.at("ips_guidance-codebook")) {
            if (variable.at("table") != "ips_guidance" || !variable.at("value").empty() ||
                variable.at("language") != "nl")
                continue;
            const std::string type = variable.at("type");
            if (type == "datetime" || type == "time") continue;  // instants: unit-tested
            const std::string name = variable.at(format == "sav" ? "sav_name" : "dta_name");
            for (const auto& [rid, row] : main) {
                const std::string& want = row.at(variable.at("variable"));
                REQUIRE(rows.count(rid));
                REQUIRE(rows.at(rid).count(name));
                const std::string& got = rows.at(rid).at(name);
                CAPTURE(name);
                if (want.empty()) {
                    CHECK(got.empty());
                } else if (type == "date") {
                    if (format == "dta") {
                        CHECK(got == want);
                    } else {  // SPSS: seconds since 1582-10-14
                        const std::chrono::year_month_day ymd{
                            std::chrono::year{std::stoi(want.substr(0, 4))},
                            std::chrono::month{static_cast<unsigned>(std::stoi(want.substr(5, 2)))},
                            std::chrono::day{static_cast<unsigned>(std::stoi(want.substr(8, 2)))}};
                        const auto days = std::chrono::sys_days{ymd}.time_since_epoch().count();
                        CHECK(std::stod(got) ==
                              doctest::Approx((static_cast<double>(days) + 141428.0) * 86400.0));
                    }
                } else if (type.rfind("text", 0) == 0 || type.rfind("pseudonym", 0) == 0) {
                    CHECK(got == want);
                } else {
                    CHECK(std::stod(got) == doctest::Approx(std::stod(want)));
                }
            }
        }
    }

    const std::string only = dir.file("approved");
    REQUIRE(test::veldctl({"export", collector.storePath(), "ips_guidance", "--out", only,
                           "--review", "approved"})
                .exitCode == 0);
    const Cells approvedCells = readBack(script, {only + "/ips_guidance.csv"});
    REQUIRE(approvedCells.at("ips_guidance").size() == 1);
    CHECK(approvedCells.at("ips_guidance").count(approved.toString()) == 1);

    // Unknown forms and bad options are refused clearly.
    const auto unknown = test::veldctl({"export", collector.storePath(), "no_such_form"});
    CHECK(unknown.exitCode == 1);
    CHECK(unknown.err.find("no form 'no_such_form'") != std::string::npos);
    CHECK(test::veldctl({"export", collector.storePath(), "ips_guidance", "--format", "xls"})
              .exitCode == 2);
}
