// Excel exports read back by an independent reader (Debian's openpyxl): every sheet of the
// workbook must hold what the CSV export of the same records holds, cell by cell, with numbers
// as numbers and dates, times and date-times as Excel dates. Excel's limits give clear errors.
#include <filesystem>
#include <fstream>
#include <set>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <veld/sync/export.hpp>
#include <veld/sync/export_table.hpp>

#include "export_source.hpp"
#include "support/sync_support.hpp"
#include "support/test_support.hpp"
#include "veldctl/veldctl.hpp"

using namespace veld;

namespace {

// A form with a repeat in a repeat, Arabic labels, select-many with "other", and every type a
// sheet shows differently: numbers, dates, times and date-times.
constexpr const char* kForm = R"({
  "id": "xlsx_visit", "version": 1, "pilot": "tests", "default_language": "nl",
  "languages": [{"tag": "nl", "name": "Nederlands"}, {"tag": "ar", "name": "العربية"}],
  "titles": [{"lang": "nl", "text": "Huisbezoek"}, {"lang": "ar", "text": "زيارة منزلية"}],
  "choice_lists": [
    {"name": "yes_no", "choices": [
      {"name": "yes", "labels": [{"lang": "nl", "text": "Ja"}, {"lang": "ar", "text": "نعم"}]},
      {"name": "no", "labels": [{"lang": "nl", "text": "Nee"}, {"lang": "ar", "text": "لا"}]}]},
    {"name": "help", "choices": [
      {"name": "coach", "labels": [{"lang": "nl", "text": "Coach"}, {"lang": "ar", "text": "مدرب"}]},
      {"name": "money", "labels": [{"lang": "nl", "text": "Geld"}, {"lang": "ar", "text": "مال"}]},
      {"name": "other", "is_other": true,
       "labels": [{"lang": "nl", "text": "Anders"}, {"lang": "ar", "text": "آخر"}]}]}
  ],
  "items": [
    {"name": "consent", "kind": "Question", "type": "Consent",
     "labels": [{"lang": "nl", "text": "Akkoord"}, {"lang": "ar", "text": "موافقة"}]},
    {"name": "name", "kind": "Question", "type": "Text",
     "labels": [{"lang": "nl", "text": "Naam"}, {"lang": "ar", "text": "الاسم"}]},
    {"name": "age", "kind": "Question", "type": "Integer",
     "labels": [{"lang": "nl", "text": "Leeftijd"}, {"lang": "ar", "text": "العمر"}]},
    {"name": "income", "kind": "Question", "type": "Decimal",
     "labels": [{"lang": "nl", "text": "Inkomen"}, {"lang": "ar", "text": "الدخل"}]},
    {"name": "works", "kind": "Question", "type": "SelectOne", "choice_list": "yes_no",
     "labels": [{"lang": "nl", "text": "Werkt u?"}, {"lang": "ar", "text": "هل تعمل؟"}]},
    {"name": "help", "kind": "Question", "type": "SelectMany", "choice_list": "help",
     "labels": [{"lang": "nl", "text": "Hulp"}, {"lang": "ar", "text": "مساعدة"}]},
    {"name": "born", "kind": "Question", "type": "Date",
     "labels": [{"lang": "nl", "text": "Geboren"}, {"lang": "ar", "text": "الميلاد"}]},
    {"name": "start", "kind": "Question", "type": "Time",
     "labels": [{"lang": "nl", "text": "Begin"}, {"lang": "ar", "text": "البداية"}]},
    {"name": "seen", "kind": "Question", "type": "DateTime",
     "labels": [{"lang": "nl", "text": "Gezien"}, {"lang": "ar", "text": "شوهد"}]},
    {"name": "jobs", "kind": "Repeat", "min_count": 0, "max_count": 5,
     "labels": [{"lang": "nl", "text": "Banen"}, {"lang": "ar", "text": "وظائف"}],
     "children": [
       {"name": "employer", "kind": "Question", "type": "Text",
        "labels": [{"lang": "nl", "text": "Werkgever"}, {"lang": "ar", "text": "صاحب العمل"}]},
       {"name": "hours", "kind": "Question", "type": "Integer",
        "labels": [{"lang": "nl", "text": "Uren"}, {"lang": "ar", "text": "ساعات"}]},
       {"name": "since", "kind": "Question", "type": "Date",
        "labels": [{"lang": "nl", "text": "Sinds"}, {"lang": "ar", "text": "منذ"}]},
       {"name": "shifts", "kind": "Repeat", "min_count": 0, "max_count": 5,
        "labels": [{"lang": "nl", "text": "Diensten"}, {"lang": "ar", "text": "مناوبات"}],
        "children": [
          {"name": "day", "kind": "Question", "type": "SelectMany", "choice_list": "help",
           "labels": [{"lang": "nl", "text": "Dag"}, {"lang": "ar", "text": "يوم"}]}]}
     ]}
  ]
})";

// Compares every sheet of an .xlsx with the CSV file of the same name in a folder: the same
// sheets, header, rows and cells; numbers as numbers, date columns as Excel dates (date-times
// to the millisecond), the header bold and frozen. Prints each difference; exit 1 if any.
constexpr const char* kCompare = R"py(
import csv, datetime, os, re, sys
import openpyxl
book_path, folder = sys.argv[1], sys.argv[2]
book = openpyxl.load_workbook(book_path)
problems = []
csvs = sorted(f[:-4] for f in os.listdir(folder) if f.endswith('.csv'))
if sorted(book.sheetnames) != csvs:
    problems.append('sheets %r, csv files %r' % (book.sheetnames, csvs))
def same(want, got, where, textual):
    if want == '':
        if got is not None: problems.append('%s: want empty, got %r' % (where, got))
        return
    if got is None:
        problems.append('%s: want %r, got empty' % (where, want)); return
    if isinstance(got, datetime.datetime):
        if len(want) == 10:
            ok = got == datetime.datetime.strptime(want, '%Y-%m-%d')
        elif len(want) == 8:
            ok = got.time() == datetime.datetime.strptime(want, '%H:%M:%S').time()
        else:
            w = datetime.datetime.strptime(want, '%Y-%m-%dT%H:%M:%S.%fZ')
            ok = abs((got - w).total_seconds()) < 0.002
        if not ok: problems.append('%s: want %r, got %r' % (where, want, got))
    elif isinstance(got, datetime.time):
        if got.replace(microsecond=0) != datetime.datetime.strptime(want, '%H:%M:%S').time():
            problems.append('%s: want %r, got %r' % (where, want, got))
    elif isinstance(got, (int, float)) and not isinstance(got, bool):
        try:
            if abs(float(want) - got) > 1e-9 * max(1.0, abs(got)):
                problems.append('%s: want %r, got %r' % (where, want, got))
        except ValueError:
            problems.append('%s: want text %r, got number %r' % (where, want, got))
    elif isinstance(got, str):
        # Control characters are stored as _xHHHH_ (ECMA-376), which Excel shows decoded.
        got = re.sub(r'_x([0-9A-F]{4})_', lambda m: chr(int(m.group(1), 16)), got)
        if got != want: problems.append('%s: want %r, got %r' % (where, want, got))
        try:
            float(want)
            if not where.startswith(textual):
                problems.append('%s: a number %r written as text' % (where, want))
        except ValueError:
            pass
    else:
        problems.append('%s: unexpected %r' % (where, got))
for name in book.sheetnames:
    if name not in csvs: continue
    sheet = book[name]
    with open(os.path.join(folder, name + '.csv'), newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    got = list(sheet.iter_rows(values_only=True))
    if len(got) != len(rows):
        problems.append('%s: %d rows, csv %d' % (name, len(got), len(rows))); continue
    if sheet.freeze_panes != 'A2': problems.append('%s: frozen at %r' % (name, sheet.freeze_panes))
    for c, cell in enumerate(sheet[1]):
        if not cell.font.b: problems.append('%s: header %d not bold' % (name, c))
    for r, (want_row, got_row) in enumerate(zip(rows, got)):
        got_row = list(got_row) + [None] * (len(want_row) - len(got_row))
        if len(got_row) != len(want_row):
            problems.append('%s row %d: %d cells, csv %d' % (name, r, len(got_row), len(want_row)))
            continue
        for c, (w, g) in enumerate(zip(want_row, got_row)):
            # The header, and parent_instance ("1.2"), are text that may look like a number.
            textual = ('%s!' % name) if r == 0 or rows[0][c] == 'parent_instance' else '\0'
            same(w, g, '%s!%s%d' % (name, openpyxl.utils.get_column_letter(c + 1), r + 1), textual)
for p in problems[:40]: print(p)
print('cells compared in %d sheets, %d problems' % (len(book.sheetnames), len(problems)))
sys.exit(1 if problems else 0)
)py";

std::string describe(const Status& s) {
    return s ? "" : s.error().describe();
}

Result<sync::ExportResult> exportTo(test::MemorySource& source, const std::string& folder,
                                    sync::ExportFormat format,
                                    sync::ExportValues values = sync::ExportValues::Codes,
                                    const std::string& language = "") {
    std::filesystem::create_directories(folder);
    sync::ExportOptions options;
    options.formId = "xlsx_visit";
    options.format = format;
    options.values = values;
    options.language = language;
    options.directory = folder;
    return sync::exportForm(source, options);
}

// The source: 60 records with random answers, one with none at all, one with texts that need
// care, and one damaged.
void fill(test::MemorySource& source) {
    REQUIRE(source.publish(kForm, "xlsx_visit.json"));
    test::AnswerMaker maker(source.form("xlsx_visit"), 11);
    for (int i = 0; i < 60; ++i)
        source.add(maker.record());
    RecordContent empty;
    empty.formId = "xlsx_visit";
    empty.formVersion = 1;
    source.add(empty);
    RecordContent tricky = empty;
    tricky.answers.push_back({"name", std::string("=SUM(A1:A2) \"quoted\", a\ttab\nنعم \x01\x1f")});
    tricky.answers.push_back({"born", DateAnswer{-30000}});  // 1887: before Excel's dates
    tricky.answers.push_back({"help", ChoicesAnswer{{"other"}, "غير ذلك"}});
    tricky.answers.push_back({"income", DecimalAnswer{-0.125, "-0.125"}});
    source.add(tricky);
    source.addDamaged("xlsx_visit");
}

test::ProcessResult compare(const test::TempDir& dir, const std::string& book,
                            const std::string& csvFolder) {
    const std::string script = dir.file("compare.py");
    std::ofstream(script) << kCompare;
    return test::runProcess({"/usr/bin/python3", script, book, csvFolder});
}

}  // namespace

TEST_CASE("an xlsx export holds, sheet by sheet, what the CSV export of the same records holds") {
    test::TempDir dir;
    test::MemorySource source;
    fill(source);

    for (const auto values : {sync::ExportValues::Codes, sync::ExportValues::Labels}) {
        for (const std::string language : {"", "ar"}) {
            const std::string name = std::string(sync::exportValuesName(values)) + language;
            CAPTURE(name);
            const std::string csvDir = dir.file("csv-" + name);
            const std::string xlsxDir = dir.file("xlsx-" + name);
            auto csv = exportTo(source, csvDir, sync::ExportFormat::Csv, values, language);
            REQUIRE_MESSAGE(csv, describe(csv.error()));
            auto xlsx = exportTo(source, xlsxDir, sync::ExportFormat::Xlsx, values, language);
            REQUIRE_MESSAGE(xlsx, describe(xlsx.error()));
            CHECK(xlsx->records == 63);
            CHECK(xlsx->unreadable == 1);
            // One workbook, nothing else left in the folder, and it is the owner's only.
            REQUIRE(xlsx->files == std::vector<std::string>{xlsxDir + "/xlsx_visit.xlsx"});
            CHECK(std::distance(std::filesystem::directory_iterator(xlsxDir),
                                std::filesystem::directory_iterator()) == 1);
            struct stat st {};
            REQUIRE(::stat(xlsx->files[0].c_str(), &st) == 0);
            CHECK((st.st_mode & 0777) == 0600);

            const auto compared = compare(dir, xlsx->files[0], csvDir);
            CHECK_MESSAGE(compared.exitCode == 0, (compared.out + compared.err));
            CHECK(compared.out.find("in 4 sheets, 0 problems") != std::string::npos);
        }
    }

    // With labels, coded columns hold the labels in the export's language; with codes, numbers.
    const auto rows = test::parseCsv(test::readFile(dir.file("csv-labelsar/xlsx_visit.csv")));
    const auto header = rows.at(0);
    const auto column = [&](const std::string& n) {
        return static_cast<std::size_t>(std::find(header.begin(), header.end(), n) -
                                        header.begin());
    };
    std::set<std::string> works;
    std::set<std::string> reviews;
    for (std::size_t r = 1; r < rows.size(); ++r) {
        works.insert(rows[r].at(column("works")));
        reviews.insert(rows[r].at(column("review")));
    }
    CHECK(works == std::set<std::string>{"", "نعم", "لا"});
    CHECK(reviews == std::set<std::string>{"received"});
    const auto codes = test::parseCsv(test::readFile(dir.file("csv-codes/xlsx_visit.csv")));
    std::set<std::string> coded;
    for (std::size_t r = 1; r < codes.size(); ++r)
        coded.insert(codes[r].at(column("works")));
    CHECK(coded == std::set<std::string>{"", "1", "2"});
}

TEST_CASE("xlsx sheet names are valid for Excel and unique") {
    const std::string longName = "ips_long_term_unemployed_guidance-sessions";
    const auto names = sync::xlsxSheetNames({"ips_guidance", "IPS_GUIDANCE", longName,
                                             longName + "2", "a/b[c]:d*e?f\\g", "History",
                                             "'quoted'", "", "عربي-" + std::string(40, 'x')});
    REQUIRE(names.size() == 9);
    CHECK(names[0] == "ips_guidance");
    CHECK(names[1] == "IPS_GUIDANCE~2");
    CHECK(names[2] == longName.substr(0, 31));
    CHECK(names[3] == longName.substr(0, 29) + "~2");
    CHECK(names[4] == "a_b_c__d_e_f_g");
    CHECK(names[5] == "History~2");
    CHECK(names[6] == "_quoted_");
    CHECK(names[7] == "sheet");
    CHECK(names[8] == "عربي-" + std::string(26, 'x'));  // 31 characters, not bytes
    std::set<std::string> seen;
    for (const auto& n : names)
        CHECK(seen.insert(n).second);
    CHECK(sync::xlsxSheetNames({"a", "A", "a"}) == std::vector<std::string>{"a", "A~2", "a~3"});
}

TEST_CASE("Excel's limits end an xlsx export with a clear error and no file") {
    test::TempDir dir;

    SUBCASE("a table of more rows than a sheet holds is refused before anything is written") {
        auto book = sync::xlsxWorkbook(dir.file("big.xlsx"), dir.path());
        auto sheet = book->sheet();
        sync::ExportTable table;
        table.name = "big";
        table.columns = {{.name = "n", .type = sync::ColumnType::Integer}};
        auto begun = sheet->begin(table, sync::kXlsxMaxRows);
        REQUIRE_FALSE(begun);
        CHECK(begun.error().message.find("1048575") != std::string::npos);
        auto fits = book->sheet()->begin(table, sync::kXlsxMaxRows - 1);
        CHECK_MESSAGE(fits, describe(fits));
    }

    SUBCASE("a text longer than a cell holds") {
        test::MemorySource source;
        REQUIRE(source.publish(kForm, "xlsx_visit.json"));
        RecordContent c;
        c.formId = "xlsx_visit";
        c.formVersion = 1;
        // 32,767 characters fit (Arabic: two bytes each); one more does not.
        c.answers.push_back({"name", std::string()});
        for (int i = 0; i < 32767; ++i)
            std::get<std::string>(c.answers[0].value) += "ب";
        source.add(c);
        const std::string fits = dir.file("fits");
        auto ok = exportTo(source, fits, sync::ExportFormat::Xlsx);
        CHECK_MESSAGE(ok, (ok ? "" : ok.error().describe()));
        std::get<std::string>(c.answers[0].value) += "x";
        source.add(c);
        const std::string folder = dir.file("too-long");
        auto refused = exportTo(source, folder, sync::ExportFormat::Xlsx);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().message.find("32767") != std::string::npos);
        CHECK(refused.error().message.find("name") != std::string::npos);
        CHECK(std::filesystem::is_empty(folder));  // no workbook, finished or not
    }
}

TEST_CASE("veldctl export shows progress on a terminal only") {
    SUBCASE("the progress line: at most every interval, the last count always, then a newline") {
        std::ostringstream err;
        std::int64_t now = 0;
        veldctl::ProgressLine line(
            err, "veldctl export: f", true, [&] { return now; }, 250);
        line.update(0, 5000);
        for (std::int64_t done = 1000; done < 5000; done += 1000) {
            now += 100;  // four updates in 400 ms: one more line at 300 ms
            line.update(done, 5000);
        }
        line.update(5000, 5000);
        line.finish();
        CHECK(err.str() ==
              "\rveldctl export: f: 0 of 5000 records\rveldctl export: f: 3000 of 5000 records"
              "\rveldctl export: f: 5000 of 5000 records\n");
    }
    SUBCASE("not a terminal: nothing at all") {
        std::ostringstream err;
        veldctl::ProgressLine line(err, "veldctl export: f", false, [] { return 0; });
        line.update(0, 10);
        line.update(10, 10);
        line.finish();
        CHECK(err.str().empty());
    }
    SUBCASE("veldctl export with stderr not a terminal prints no progress") {
        test::TempDir dir;
        const std::string collector = test::testCollectorLocation(dir);
        REQUIRE(test::veldctl({"collector", "init", collector}).exitCode == 0);
        const auto published =
            test::veldctl({"collector", "publish", collector,
                           std::string(VELD_SOURCE_DIR) + "/tests/forms/sealed_visit.json"});
        REQUIRE_MESSAGE(published.exitCode == 0, published.err);
        for (const std::string format : {"csv", "xlsx"}) {
            const auto exported = test::veldctl({"export", collector, "sealed_visit", "--out",
                                                 dir.file(format), "--format", format});
            CHECK_MESSAGE(exported.exitCode == 0, exported.err);
            CHECK(exported.err.empty());
            CHECK(exported.out.find("sealed_visit: 0 records") != std::string::npos);
        }
        CHECK(std::filesystem::exists(dir.file("xlsx/sealed_visit.xlsx")));
        CHECK(test::veldctl({"export", collector, "sealed_visit", "--values", "names"}).exitCode ==
              2);
        // On a terminal (script(1) gives it one), the count shows.
        const auto onTerminal = test::runProcess({"/usr/bin/script", "-qec",
                                                  test::binary("veldctl") + " export " + collector +
                                                      " sealed_visit --out " + dir.file("tty"),
                                                  "/dev/null"});
        CHECK_MESSAGE(onTerminal.exitCode == 0, onTerminal.err);
        CHECK(onTerminal.out.find("\rveldctl export: sealed_visit: 0 of 0 records") !=
              std::string::npos);
    }
}
