// Records files and exports of sealed records, in process: the exporter opens sealed records
// with the keys it is given and says in `unreadable` why it could not open the others; a records
// file gives the same export as the source it was written from; and a records file that was cut
// short, changed or made up is refused clearly, without a crash and without leaving files.
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/project_key.hpp>
#include <veld/sealed_record.hpp>
#include <veld/sync/export.hpp>
#include <veld/sync/records_file.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

constexpr std::string_view kPassphrase = "twelve or more characters";

// Records and forms held in memory, as a collector would hand them to an export.
class MemorySource final : public sync::ExportSource {
  public:
    std::vector<sync::PublishedFormInfo> forms;
    std::vector<sync::CurrentRecord> records;

    Result<std::vector<sync::PublishedFormInfo>> publishedForms() override { return forms; }
    Result<std::int64_t> countRecords(const sync::RecordQuery&) override {
        return static_cast<std::int64_t>(records.size());
    }
    Status forEachRecord(const sync::RecordQuery&, int passes,
                         const std::function<Status(int pass)>& startPass,
                         const std::function<Status(const sync::CurrentRecord&)>& visit) override {
        for (int pass = 0; pass < passes; ++pass) {
            if (auto s = startPass(pass); !s) return s;
            for (const auto& r : records) {
                if (auto s = visit(r); !s) return s;
            }
        }
        return {};
    }
};

std::vector<std::uint8_t> sealedVisitForm() {
    const std::string json =
        test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/sealed_visit.json");
    auto check = forms::compileFormJson(json, "sealed_visit.json");
    REQUIRE(check.ok());
    return check.binary;
}

projectkey::LockedKey makeKey(const std::string& id) {
    auto key =
        projectkey::create(id, kPassphrase, 1'790'000'000'000, projectkey::Strength::Interactive);
    REQUIRE(key);
    return key.value();
}

projectkey::SecretKey unlocked(const projectkey::LockedKey& key) {
    auto secret = projectkey::unlock(key, kPassphrase);
    REQUIRE(secret);
    return secret.value();
}

// The answers of record `n`, with a remark that CSV must quote.
RecordContent visitContent(int n) {
    RecordContent c;
    c.formId = "sealed_visit";
    c.formVersion = 1;
    c.answers.push_back({"age", std::int64_t{30 + n}});
    c.answers.push_back({"remark", "visit " + std::to_string(n) + ", \"at home\" ğü"});
    c.answers.push_back({"works", ChoiceAnswer{n % 2 == 0 ? "yes" : "no", {}}});
    Repeat jobs{"jobs", {}};
    for (int i = 0; i < n % 3; ++i) {
        RepeatInstance job;
        job.answers.push_back({"hours", std::int64_t{8 * (i + 1)}});
        jobs.instances.push_back(std::move(job));
    }
    c.repeats.push_back(std::move(jobs));
    return c;
}

// A record as the collector holds it: sealed to `key` when one is given.
sync::CurrentRecord stored(ManualClock& clock, int n, const projectkey::LockedKey* key) {
    Record r;
    clock.advance(1);  // ids in creation order, as the collector hands records out
    r.id = makeUuidV7(clock);
    r.deviceId = Uuid::parse("0190a0b0-0000-7000-8000-000000000001").value();
    r.hlc = HlcTimestamp::make(1'790'000'000'000 + static_cast<std::uint64_t>(n) * 1000, 0);
    r.createdHlc = r.hlc;
    r.finalized = true;
    r.content = visitContent(n);
    if (key) {
        auto sealed = sealRecord(r, key->publicKey);
        REQUIRE(sealed);
        r = std::move(sealed.value());
    }
    auto body = encodeRecord(r);
    REQUIRE(body);
    sync::CurrentRecord rec;
    rec.recordId = r.id;
    rec.deviceId = r.deviceId;
    rec.formVersion = 1;
    rec.hlc = r.hlc;
    rec.body = std::move(body.value());
    return rec;
}

std::map<std::string, std::string> filesIn(const std::string& folder) {
    std::map<std::string, std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        out[entry.path().filename().string()] = test::readFile(entry.path().string());
    return out;
}

// The `unreadable` cell of each row of the main table, in order (the key columns hold no
// commas: record_id,device_id,form_version,revision_time,review,clock_flagged,unreadable).
std::vector<std::string> unreadableColumn(const std::string& csv) {
    std::vector<std::string> out;
    std::istringstream in(csv);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::size_t at = 0;
        for (int i = 0; i < 7; ++i)
            at = line.find(',', at) + 1;
        out.push_back(line.substr(at, line.find_first_of(",\r", at) - at));
    }
    return out;
}

sync::ExportOptions options(const std::string& directory) {
    sync::ExportOptions o;
    o.formId = "sealed_visit";
    o.directory = directory;
    return o;
}

}  // namespace

TEST_CASE("an export opens sealed records with its keys and says why it could not open others") {
    test::TempDir dir;
    ManualClock clock(1'790'000'000'000);
    const auto key = makeKey("k1");
    // Another key pair under the same id: records sealed to it do not open with k1.
    const auto impostor = makeKey("k1");
    MemorySource source;
    source.forms.push_back({"sealed_visit", 1, "tests", sealedVisitForm()});
    source.records.push_back(stored(clock, 0, nullptr));    // not sealed
    source.records.push_back(stored(clock, 1, &key));       // sealed to k1
    source.records.push_back(stored(clock, 2, &impostor));  // sealed to another "k1"
    source.records.push_back(stored(clock, 3, &key));
    source.records.back().damaged = true;  // arrived damaged
    source.records.back().body.clear();

    SUBCASE("with the key") {
        auto o = options(dir.path());
        o.keys.push_back(unlocked(key));
        auto made = sync::exportForm(source, o);
        REQUIRE_MESSAGE(made, made.error().describe());
        CHECK(made->records == 4);
        CHECK(made->unreadable == 2);
        CHECK(made->sealedUnopened == 1);
        const std::string csv = test::readFile(dir.file("sealed_visit.csv"));
        CHECK(unreadableColumn(csv) == std::vector<std::string>{"0", "0", "3", "1"});
        CHECK(csv.find("\"visit 1, \"\"at home\"\" ğü\"") != std::string::npos);
        CHECK(csv.find("visit 2") == std::string::npos);
        // Record 1's repeat (one job) came out of its sealed box too.
        const std::string jobs = test::readFile(dir.file("sealed_visit-jobs.csv"));
        CHECK(jobs.find(source.records[1].recordId.toString() + ",,1,8") != std::string::npos);
    }
    SUBCASE("without keys") {
        auto made = sync::exportForm(source, options(dir.path()));
        REQUIRE(made);
        CHECK(made->unreadable == 3);
        CHECK(made->sealedUnopened == 2);
        const std::string csv = test::readFile(dir.file("sealed_visit.csv"));
        CHECK(unreadableColumn(csv) == std::vector<std::string>{"0", "2", "2", "1"});
        CHECK(csv.find("visit 1") == std::string::npos);
    }
    // The codebook names every value of `unreadable`.
    const std::string codebook = test::readFile(dir.file("sealed_visit-codebook.csv"));
    for (const char* label : {"readable", "damaged or unreadable", "sealed, no key given for it",
                              "sealed, does not open"}) {
        CAPTURE(label);
        CHECK(codebook.find(label) != std::string::npos);
    }
}

TEST_CASE("a records file gives the same export as the records it was written from") {
    test::TempDir dir;
    ManualClock clock(1'790'000'000'000);
    const auto key = makeKey("k1");
    MemorySource source;
    source.forms.push_back({"sealed_visit", 1, "tests", sealedVisitForm()});
    for (int n = 0; n < 25; ++n)
        source.records.push_back(stored(clock, n, n % 5 == 0 ? nullptr : &key));
    source.records[7].review = sync::ReviewState::Approved;
    source.records[8].clockFlagged = true;

    auto o = options(dir.file("file"));
    std::filesystem::create_directory(o.directory);
    o.format = sync::ExportFormat::Records;
    auto written = sync::exportForm(source, o);
    REQUIRE_MESSAGE(written, written.error().describe());
    REQUIRE(written->files == std::vector<std::string>{dir.file("file/sealed_visit.records")});
    CHECK(written->records == 25);
    CHECK(
        (std::filesystem::status(written->files[0]).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    CHECK_FALSE(std::filesystem::exists(written->files[0] + ".part"));

    auto file = sync::RecordsFile::open(written->files[0]);
    REQUIRE_MESSAGE(file, file.error().describe());
    CHECK(file.value()->formId() == "sealed_visit");
    CHECK(file.value()->records() == 25);

    for (const auto format : {sync::ExportFormat::Csv, sync::ExportFormat::Sav}) {
        CAPTURE(sync::exportFormatName(format));
        const std::string fromSource = dir.file("source-" + std::string(exportFormatName(format)));
        const std::string fromFile = dir.file("records-" + std::string(exportFormatName(format)));
        std::filesystem::create_directory(fromSource);
        std::filesystem::create_directory(fromFile);
        auto a = options(fromSource);
        a.format = format;
        a.keys.push_back(unlocked(key));
        auto b = a;
        b.directory = fromFile;
        auto madeA = sync::exportForm(source, a);
        auto madeB = sync::exportForm(*file.value(), b);
        REQUIRE(madeA);
        REQUIRE_MESSAGE(madeB, madeB.error().describe());
        CHECK(madeB->records == 25);
        CHECK(madeB->sealedUnopened == 0);
        const auto filesA = filesIn(fromSource);
        CHECK(filesA.size() == 3);
        CHECK(filesA == filesIn(fromFile));
    }

    // A filter applies to a file as the collector applies it.
    sync::RecordQuery approved;
    approved.formId = "sealed_visit";
    approved.review = sync::ReviewState::Approved;
    CHECK(file.value()->countRecords(approved).value() == 1);
    sync::RecordQuery early;
    early.formId = "sealed_visit";
    early.untilUtcMs = 1'790'000'000'000 + 3000;  // records 0, 1 and 2
    CHECK(file.value()->countRecords(early).value() == 3);
    early.formId = "another_form";
    CHECK(file.value()->countRecords(early).value() == 0);
}

TEST_CASE("the same data always gives the same .sav and .dta bytes, stamped with the data's time") {
    test::TempDir dir;
    ManualClock clock(1'790'000'000'000);  // 2026-09-21 12:26:40 UTC
    MemorySource source;
    source.forms.push_back({"sealed_visit", 1, "tests", sealedVisitForm()});
    for (int n = 0; n < 6; ++n)
        source.records.push_back(stored(clock, n, nullptr));
    const auto newest = source.records.back().hlc.millis();

    for (const auto format : {sync::ExportFormat::Sav, sync::ExportFormat::Dta}) {
        CAPTURE(sync::exportFormatName(format));
        std::vector<std::map<std::string, std::string>> runs;
        for (int run = 0; run < 2; ++run) {
            // Over a second apart: a header stamped with the clock would differ.
            if (run == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1100));
            const std::string out =
                dir.file(std::string(sync::exportFormatName(format)) + std::to_string(run));
            std::filesystem::create_directory(out);
            auto o = options(out);
            o.format = format;
            REQUIRE(sync::exportForm(source, o));
            runs.push_back(filesIn(out));
        }
        CHECK(runs[0] == runs[1]);
        // The header's date is the newest record's, as a reader shows it.
        const std::time_t seconds = static_cast<std::time_t>(newest / 1000);
        std::tm utc{};
        gmtime_r(&seconds, &utc);
        char text[32];
        if (format == sync::ExportFormat::Sav) {
            std::strftime(text, sizeof text, "%d %b %y", &utc);  // SPSS: "21 Sep 26"
        } else {
            std::strftime(text, sizeof text, "%d %b %Y %H:%M", &utc);  // Stata: "21 Sep 2026 12:26"
        }
        const auto& table =
            runs[0].at("sealed_visit." + std::string(sync::exportFormatName(format)));
        CHECK_MESSAGE(table.find(text) != std::string::npos, "no '" << text << "' in the header");
    }
}

TEST_CASE("a records file cut short, changed or made up is refused without a crash") {
    test::TempDir dir;
    ManualClock clock(1'790'000'000'000);
    const auto key = makeKey("k1");
    MemorySource source;
    source.forms.push_back({"sealed_visit", 1, "tests", sealedVisitForm()});
    for (int n = 0; n < 4; ++n)
        source.records.push_back(stored(clock, n, n == 0 ? nullptr : &key));
    auto o = options(dir.path());
    o.format = sync::ExportFormat::Records;
    REQUIRE(sync::exportForm(source, o));
    const std::string whole = test::readFile(dir.file("sealed_visit.records"));
    REQUIRE(whole.size() > 1000);
    const std::string path = dir.file("bad.records");
    const auto write = [&](const std::string& bytes) {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    };
    const std::string out = dir.file("out");
    std::filesystem::create_directory(out);
    // Whatever the file holds, opening it and exporting from it ends in a result or a clear
    // error, and never leaves a partial set of files.
    const auto secret = unlocked(key);
    const auto exportFrom = [&]() -> Result<sync::ExportResult> {
        auto file = sync::RecordsFile::open(path);
        if (!file) return file.error();
        auto e = options(out);
        e.keys.push_back(secret);
        auto made = sync::exportForm(*file.value(), e);
        if (!made) CHECK(std::filesystem::is_empty(out));
        std::filesystem::remove_all(out);
        std::filesystem::create_directory(out);
        return made;
    };

    SUBCASE("cut short anywhere") {
        // Every length at the start and the end, and every 37th byte between.
        for (std::size_t size = 0; size < whole.size(); ++size) {
            if (size > 64 && size + 64 < whole.size() && size % 37 != 0) continue;
            CAPTURE(size);
            write(whole.substr(0, size));
            auto opened = sync::RecordsFile::open(path);
            REQUIRE_FALSE(opened);
            CHECK(opened.error().code == ErrorCode::Corrupt);
            CHECK(opened.error().message.find("not a sound records file") != std::string::npos);
        }
    }
    SUBCASE("a bit flipped anywhere") {
        int refused = 0;
        // Every byte of the first frame's start, then every 11th byte.
        for (std::size_t at = 0; at < whole.size(); at += at < 32 ? 1 : 11) {
            CAPTURE(at);
            std::string bytes = whole;
            bytes[at] = static_cast<char>(bytes[at] ^ (1 << (at % 8)));
            write(bytes);
            auto made = exportFrom();
            if (!made) {
                ++refused;
                CHECK((made.error().code == ErrorCode::Corrupt ||
                       made.error().code == ErrorCode::NotFound));
            }
        }
        CHECK(refused > 0);
    }
    SUBCASE("more after the end, a huge frame length, or not a records file at all") {
        write(whole + whole.substr(0, 64));
        CHECK(sync::RecordsFile::open(path).error().code == ErrorCode::Corrupt);
        write(std::string("\xff\xff\xff\x7f", 4) + whole);
        auto huge = sync::RecordsFile::open(path);
        REQUIRE_FALSE(huge);
        CHECK(huge.error().message.find("larger than") != std::string::npos);
        write("record_id,device_id\r\n1,2\r\n");
        CHECK(sync::RecordsFile::open(path).error().code == ErrorCode::Corrupt);
        CHECK(sync::RecordsFile::open(dir.file("missing.records")).error().code ==
              ErrorCode::NotFound);
    }
    SUBCASE("an entry whose body is another record's") {
        MemorySource swapped = source;
        std::swap(swapped.records[1].body, swapped.records[2].body);
        test::TempDir other;
        auto so = options(other.path());
        so.format = sync::ExportFormat::Records;
        REQUIRE(sync::exportForm(swapped, so));
        auto opened = sync::RecordsFile::open(other.file("sealed_visit.records"));
        REQUIRE_FALSE(opened);
        CHECK(opened.error().code == ErrorCode::Corrupt);
        CHECK(opened.error().message.find("does not belong") != std::string::npos);
    }
    SUBCASE("the file changes between passes") {
        write(whole);
        auto file = sync::RecordsFile::open(path);
        REQUIRE(file);
        write(whole.substr(0, whole.size() / 2));
        auto e = options(out);
        e.format = sync::ExportFormat::Sav;  // two passes
        auto made = sync::exportForm(*file.value(), e);
        REQUIRE_FALSE(made);
        CHECK(made.error().code == ErrorCode::Corrupt);
        CHECK(std::filesystem::is_empty(out));
    }
}
