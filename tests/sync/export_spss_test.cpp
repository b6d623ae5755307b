// Every pilot form's .sav read by GNU PSPP and its .dta by pandas (and both by ReadStat), as
// evaluators open them: no warning, variables under the codebook's names (valid for SPSS and
// Stata, unique), with their variable labels and value labels; strings as wide as their longest
// value, and long ones with unique segment names.
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include <veld/sync/export.hpp>
#include <veld/sync/export_table.hpp>

#include "export_source.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

// Checks one table's .sav with PSPP and its .dta with pandas against the codebook. Prints each
// problem; exit 1 if any. Arguments: sav, dta, codebook csv, table, language, folder for output.
constexpr const char* kCheck = R"py(
import csv, os, re, subprocess, sys
import pandas as pd
sav, dta, codebook, table, language, work = sys.argv[1:7]
problems = []
names = []; labels = {}; values = {}
with open(codebook, newline='', encoding='utf-8') as f:
    for row in csv.DictReader(f):
        if row['table'] != table: continue
        key = row['variable']
        if key not in [n[0] for n in names]:
            names.append((key, row['sav_name'], row['dta_name']))
        if row['value'] == '' and row['language'] in (language, ''):
            labels[key] = row['label']
        if row['value'] != '' and row['language'] in (language, ''):
            values.setdefault(key, {})[int(row['value'])] = row['value_label']
reserved = {'ALL', 'AND', 'BY', 'EQ', 'GE', 'GT', 'LE', 'LT', 'NE', 'NOT', 'OR', 'TO', 'WITH'}
def cut(text, n):
    return text.encode('utf-8')[:n].decode('utf-8', 'ignore')

# SPSS: pspp-convert reads it without a word of warning.
out = subprocess.run(['/usr/bin/pspp-convert', sav, os.path.join(work, 'converted.csv')],
                     capture_output=True, text=True)
if out.returncode != 0 or out.stdout.strip() or out.stderr.strip():
    problems.append('pspp-convert: %d %s %s' % (out.returncode, out.stdout, out.stderr))
# The dictionary as PSPP sees it.
syntax = os.path.join(work, 'dictionary.sps')
with open(syntax, 'w') as f:
    f.write("SET DECIMAL=DOT.\nSET TVARS=NAMES.\nGET FILE='%s'.\nDISPLAY DICTIONARY.\n" % sav)
listing = os.path.join(work, 'dictionary.csv')
out = subprocess.run(['/usr/bin/pspp', '-O', 'format=csv', '-o', listing, syntax],
                     capture_output=True, text=True)
if out.returncode != 0 or 'warning' in (out.stdout + out.stderr).lower():
    problems.append('pspp: %d %s %s' % (out.returncode, out.stdout, out.stderr))
with open(listing, newline='', encoding='utf-8') as f:
    text = f.read()
if 'warning' in text.lower():
    problems.append('pspp listing warns: ' + text[:500])
rows = list(csv.reader(text.splitlines()))
variables = {}   # name -> label
value_labels = {}  # name -> {value: label}
section = None
for row in rows:
    if not row: continue
    if row[0] == 'Table: Variables': section = 'v'; continue
    if row[0] == 'Table: Value Labels': section = 'l'; last = None; continue
    if row[0].startswith('Table:'): section = None; continue
    if section == 'v' and row[0] != 'Name':
        variables[row[0]] = row[2] if len(row) > 2 else ''
    if section == 'l' and row[0] != 'Variable Value':
        if row[0]: last = row[0]
        m = re.match(r'^\s*(-?[0-9.]+)$', row[1]) if len(row) > 1 else None
        if last and m:
            value_labels.setdefault(last, {})[int(float(m.group(1)))] = row[2]
seen = set()
sav_names = [n[1] for n in names]
if list(variables) != sav_names:
    problems.append('sav variables %r, codebook %r' % (list(variables)[:8], sav_names[:8]))
for variable, name, dta_name in names:
    if not re.fullmatch(r'[A-Za-z][A-Za-z0-9_]{0,63}', name) or name.upper() in reserved:
        problems.append('sav name %r is not valid' % name)
    if name.lower() in seen: problems.append('sav name %r twice' % name)
    seen.add(name.lower())
    want = cut(labels.get(variable, ''), 256)
    if name in variables and variables[name] != want:
        problems.append('sav %s label %r, codebook %r' % (name, variables[name], want))
    if variable in values and name in variables:
        want_values = {v: cut(l, 120) for v, l in values[variable].items()}
        if value_labels.get(name) != want_values:
            problems.append('sav %s values %r, codebook %r' % (name, value_labels.get(name), want_values))

# Stata: pandas reads names, variable labels and value labels.
reader = pd.io.stata.StataReader(dta)
frame = reader.read(convert_categoricals=False)
variable_labels = reader.variable_labels()
reader.close()
dta_names = [n[2] for n in names]
if list(frame.columns) != dta_names:
    problems.append('dta columns %r, codebook %r' % (list(frame.columns)[:8], dta_names[:8]))
seen = set()
for variable, name, dta_name in names:
    if not re.fullmatch(r'[A-Za-z][A-Za-z0-9_]{0,31}', dta_name):
        problems.append('dta name %r is not valid' % dta_name)
    if dta_name.lower() in seen: problems.append('dta name %r twice' % dta_name)
    seen.add(dta_name.lower())
    want = cut(labels.get(variable, ''), 80)
    if variable_labels.get(dta_name) != want:
        problems.append('dta %s label %r, codebook %r' % (dta_name, variable_labels.get(dta_name), want))
labelled = pd.read_stata(dta, convert_categoricals=True)
for variable, name, dta_name in names:
    if variable not in values or dta_name not in frame.columns: continue
    for code, label in zip(frame[dta_name], labelled[dta_name]):
        if pd.isna(code): continue
        if values[variable].get(int(code)) != label:
            problems.append('dta %s: %r labelled %r, codebook %r' % (dta_name, code, label, values[variable].get(int(code))))
            break
# ReadStat reads both back under the same names, with every row.
for path, want in ((sav, sav_names), (dta, dta_names)):
    converted = os.path.join(work, os.path.basename(path) + '.csv')
    out = subprocess.run(['/usr/bin/readstat', path, converted], capture_output=True, text=True)
    if out.returncode != 0:
        problems.append('readstat %s: %s' % (path, out.stderr)); continue
    with open(converted, newline='', encoding='utf-8') as f:
        back = list(csv.reader(f))
    if back[0] != want: problems.append('readstat %s: columns %r' % (path, back[0][:8]))
    if len(back) - 1 != len(frame): problems.append('readstat %s: %d rows' % (path, len(back) - 1))
for p in problems[:30]: print(p)
print('%s: %d variables, %d problems' % (table, len(names), len(problems)))
sys.exit(1 if problems else 0)
)py";

std::vector<std::string> pilotForms() {
    std::vector<std::string> out;
    for (const auto& f :
         std::filesystem::directory_iterator(std::string(VELD_SOURCE_DIR) + "/schemas/forms"))
        if (f.path().extension() == ".json") out.push_back(f.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("every pilot form's .sav opens in PSPP and its .dta in pandas, as the codebook says") {
    test::TempDir dir;
    const std::string script = dir.file("check.py");
    std::ofstream(script) << kCheck;
    const auto forms = pilotForms();
    REQUIRE(forms.size() >= 10);
    for (const auto& path : forms) {
        CAPTURE(path);
        test::MemorySource source;
        REQUIRE(source.publish(test::readFile(path), path));
        const std::string id = source.forms.back().formId;
        test::AnswerMaker maker(source.form(id), 5);
        for (int i = 0; i < 25; ++i)
            source.add(maker.record());
        std::vector<std::string> tables;
        for (const auto format :
             {sync::ExportFormat::Csv, sync::ExportFormat::Sav, sync::ExportFormat::Dta}) {
            sync::ExportOptions options;
            options.formId = id;
            options.format = format;
            options.directory = dir.file(id + "-" + std::string(sync::exportFormatName(format)));
            std::filesystem::create_directories(options.directory);
            auto made = sync::exportForm(source, options);
            REQUIRE_MESSAGE(made, made.error().describe());
            if (format == sync::ExportFormat::Csv) {
                for (const auto& f : made->files)
                    tables.push_back(std::filesystem::path(f).stem().string());
                tables.pop_back();  // the codebook
            }
        }
        // Every export's codebook names the variables alike, whatever its format.
        const std::string codebook = "/" + id + "-codebook.csv";
        CHECK(test::readFile(dir.file(id + "-csv") + codebook) ==
              test::readFile(dir.file(id + "-sav") + codebook));
        CHECK(test::readFile(dir.file(id + "-dta") + codebook) ==
              test::readFile(dir.file(id + "-sav") + codebook));
        const std::string language = source.form(id)->default_language()->str();
        for (const auto& table : tables) {
            CAPTURE(table);
            const std::string work = dir.file(table + "-work");
            std::filesystem::create_directories(work);
            const auto checked = test::runProcess(
                {"/usr/bin/python3", script, dir.file(id + "-sav/" + table + ".sav"),
                 dir.file(id + "-dta/" + table + ".dta"),
                 dir.file(id + "-csv/" + id + "-codebook.csv"), table, language, work});
            CHECK_MESSAGE(checked.exitCode == 0, (checked.out + checked.err));
        }
    }
}

TEST_CASE("a .sav's strings are as wide as their longest value, and long ones keep unique names") {
    test::TempDir dir;
    // Columns whose names share their first 5 and 8 bytes, two with values past 255 bytes (very
    // long strings, whose segments ReadStat names from the first 5 bytes of the short name).
    const auto write = [&](const sync::ExportTable& table, const std::vector<sync::Cell>& row) {
        const std::string sav = dir.file(table.name + ".sav");
        auto writer = sync::savTableWriter(sav);
        REQUIRE(writer->begin(table, 1));
        REQUIRE(writer->row(row));
        REQUIRE(writer->end());
        const auto converted =
            test::runProcess({"/usr/bin/pspp-convert", sav, dir.file(table.name + ".csv")});
        CHECK(converted.exitCode == 0);
        CHECK_MESSAGE(converted.out + converted.err == "", (converted.out + converted.err));
        return test::parseCsv(test::readFile(dir.file(table.name + ".csv")));
    };
    using sync::Cell;
    SUBCASE("a name that is another string's segment") {
        sync::ExportTable table;
        table.name = "segments";
        for (const std::string n : {"comment_first", "comment_second", "comme1", "short"})
            table.columns.push_back({.name = n, .label = n, .type = sync::ColumnType::Text});
        table.columns[0].maxTextBytes = 3000;  // 12 segments: "COMME1" ... "COMMEB"
        table.columns[1].maxTextBytes = 600;   // "COMMENT_" is taken: ReadStat calls it V2_A
        table.columns[2].maxTextBytes = 5;
        table.columns[3].maxTextBytes = 1;
        const auto names = sync::statisticalNames(table.columns, sync::StatisticalFormat::Sav);
        CHECK(names ==
              std::vector<std::string>{"comment_first", "comment_second", "s001_comme1", "short"});
        const auto rows =
            write(table, {std::string(3000, 'a'), std::string(599, 'b') + "c", "eeeee", "g"});
        REQUIRE(rows.size() == 2);
        CHECK(rows[0] == names);
        CHECK(rows[1] == std::vector<std::string>{std::string(3000, 'a'),
                                                  std::string(599, 'b') + "c", "eeeee", "g"});
    }
    SUBCASE("a long string from the 100th variable on, its short name clashing") {
        sync::ExportTable table;
        table.name = "many";
        std::vector<Cell> row;
        for (int i = 1; i <= 120; ++i) {
            table.columns.push_back({.name = "question_" + std::to_string(i),
                                     .type = sync::ColumnType::Text,
                                     .maxTextBytes = 10});
            row.emplace_back("answer " + std::to_string(i));
        }
        // The 113th: "V113_A" to ReadStat, whose 11th segment would be "V113_A" too.
        table.columns[112].maxTextBytes = 3000;
        row[112] = std::string(3000, 'z');
        const auto names = sync::statisticalNames(table.columns, sync::StatisticalFormat::Sav);
        CHECK(names[111] == "question_112");
        CHECK(names[112] == "s001_question_113");
        const auto rows = write(table, row);
        REQUIRE(rows.size() == 2);
        CHECK(rows[0] == names);
        CHECK(rows[1][112] == std::string(3000, 'z'));
        CHECK(rows[1][119] == "answer 120");
    }

    // The parents' survey with 10 answered records: no string is wider than its data.
    test::MemorySource source;
    REQUIRE(source.publish(
        test::readFile(std::string(VELD_SOURCE_DIR) + "/schemas/forms/vmbo_parent_survey.json"),
        "vmbo_parent_survey.json"));
    test::AnswerMaker maker(source.form("vmbo_parent_survey"), 3);
    for (int i = 0; i < 10; ++i)
        source.add(maker.record());
    sync::ExportOptions options;
    options.formId = "vmbo_parent_survey";
    options.format = sync::ExportFormat::Sav;
    options.directory = dir.path();
    auto made = sync::exportForm(source, options);
    REQUIRE_MESSAGE(made, made.error().describe());
    const auto bytes = std::filesystem::file_size(dir.file("vmbo_parent_survey.sav"));
    MESSAGE("vmbo_parent_survey.sav, 10 records: " << bytes << " bytes");
    CHECK(bytes < 64 * 1024);  // it was 481 KB with every text 8,000 bytes wide
    const auto parents = test::runProcess(
        {"/usr/bin/pspp-convert", dir.file("vmbo_parent_survey.sav"), dir.file("parents.csv")});
    CHECK(parents.exitCode == 0);
    CHECK(parents.out + parents.err == "");
}
