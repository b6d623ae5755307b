// The console's exports of sealed records, headless, against a real collector: without keys the
// collector writes the files and sealed records come without answers; with the project keys
// unlocked the console fetches a records file, exports it here with the keys, and keeps nothing
// of the records file, here or at the collector.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include <veld/project_key.hpp>
#include <veld/sync/uploader.hpp>

#include "console/console.hpp"
#include "support/sync_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using veld::client::testing::ConsoleDriver;

namespace {

constexpr const char* kPassphrase = "wolken boven de polder";

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Every file under `folder`, hidden ones and those in subfolders included.
std::vector<std::string> everything(const std::string& folder) {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(folder))
        out.push_back(std::filesystem::relative(entry.path(), folder).string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE(
    "console: sealed records are exported with their answers only with the keys, opened here") {
    test::TempDir dir;
    auto locked =
        projectkey::create("k1", kPassphrase, wallMs(), projectkey::Strength::Interactive);
    REQUIRE(locked);
    const std::string ring = dir.file("project.keys");
    std::ofstream(ring) << projectkey::formatRing({locked.value()});
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    REQUIRE(test::veldctl({"collector", "publish", collector.storePath(),
                           std::string(VELD_SOURCE_DIR) + "/tests/forms/sealed_visit.json"})
                .exitCode == 0);
    REQUIRE(test::veldctl({"collector", "use-key", collector.storePath(), ring}).exitCode == 0);
    collector.start();
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    REQUIRE(test::syncUntilDone(device, connection, {}, 3) >= 0);
    for (int n = 0; n < 3; ++n) {
        RecordContent c;
        c.formId = "sealed_visit";
        c.formVersion = 1;
        c.answers = {{"age", std::int64_t{50 + n}},
                     {"remark", "Opmerking nummer " + std::to_string(n)}};
        REQUIRE(device.finalizeNew(c));
    }
    REQUIRE(test::syncUntilDone(device, connection, {}, 3) >= 0);

    sync::Connection staff;
    staff.collector = collector.url();
    staff.credential = test::addAdmin(collector, "fatima");
    const std::string out = dir.file("exports");
    ConsoleDriver ui(staff, out);
    ui.nowMs = wallMs();
    const auto chooseForm = [&] {
        ui.click("tab.export");
        ui.click("export.form");
        ui.click("export.form.sealed_visit");
    };
    const auto exportCsv = [&] {
        chooseForm();
        ui.click("export.format.csv");
        ui.click("export.start");
        ui.settle();
        CHECK(ui.showsText("Export opgeslagen"));
        REQUIRE(ui.has("export.file.0"));
        return test::readFile(out + "/sealed_visit.csv");
    };
    const std::string jobs = collector.exportDir();

    // Without keys: the collector's tables, the sealed records without answers, and a count.
    chooseForm();
    CHECK(ui.showsText("De records van dit formulier zijn verzegeld"));
    const std::string shut = exportCsv();
    CHECK(shut.find("Opmerking nummer") == std::string::npos);
    REQUIRE(ui.has("export.sealed"));
    CHECK(ui.item("export.sealed")->text.rfind("3 verzegelde records zijn niet geopend", 0) == 0);
    CHECK(std::filesystem::is_empty(jobs));

    // With the keys: the answers, and nothing else in the folder than the tables and codebook.
    auto locks = projectkey::parseRing(test::readFile(ring));
    REQUIRE(locks);
    auto keys = projectkey::unlockAll(locks.value(), kPassphrase);
    REQUIRE(keys);
    std::filesystem::remove_all(out);
    ui.console().setProjectKeys(
        std::make_shared<const std::vector<projectkey::SecretKey>>(keys.value()));
    ui.frame();
    CHECK(ui.showsText("Verzegelde records worden hier geopend"));
    const std::string opened = exportCsv();
    for (int n = 0; n < 3; ++n)
        CHECK(opened.find("Opmerking nummer " + std::to_string(n)) != std::string::npos);
    CHECK_FALSE(ui.has("export.sealed"));
    CHECK(everything(out) == std::vector<std::string>{"sealed_visit-codebook.csv",
                                                      "sealed_visit-jobs.csv", "sealed_visit.csv"});
    CHECK(std::filesystem::is_empty(jobs));  // the job's records file went with the job

    // The same files as veldctl export --ring writes.
    const std::string passphraseFile = dir.file("passphrase");
    std::ofstream(passphraseFile) << kPassphrase << "\n";
    const auto byVeldctl =
        test::veldctl({"export", collector.storePath(), "sealed_visit", "--out",
                       dir.file("veldctl"), "--ring", ring, "--passphrase-file", passphraseFile});
    REQUIRE_MESSAGE(byVeldctl.exitCode == 0, byVeldctl.err);
    for (const char* f : {"sealed_visit.csv", "sealed_visit-jobs.csv", "sealed_visit-codebook.csv"})
        CHECK(test::readFile(out + "/" + f) == test::readFile(dir.file("veldctl") + "/" + f));

    // As an Excel workbook with labels, both ways: opened here with the keys, and written by the
    // collector without them. One file, a sheet per table and the codebook's.
    const std::string script = dir.file("sheets.py");
    std::ofstream(script) << R"py(
import sys, openpyxl
book = openpyxl.load_workbook(sys.argv[1])
print(' '.join(book.sheetnames))
rows = list(book[book.sheetnames[0]].iter_rows(values_only=True))
for row in rows[1:]:
    cells = dict(zip(rows[0], row))
    print(cells['review'], cells['unreadable'], cells['remark'] or '-')
)py";
    const auto exportXlsx = [&](const std::string& folder) {
        ui.click("tab.export");
        ui.click("export.format.xlsx");
        ui.click("export.values.labels");
        ui.console().exports.folder = folder;
        ui.click("export.start");
        ui.settle();
        CHECK(ui.showsText("Export opgeslagen"));
        CHECK(everything(folder) == std::vector<std::string>{"sealed_visit.xlsx"});
        const auto read =
            test::runProcess({"/usr/bin/python3", script, folder + "/sealed_visit.xlsx"});
        REQUIRE_MESSAGE(read.exitCode == 0, read.err);
        return read.out;
    };
    const std::string withKeys = exportXlsx(dir.file("xlsx-here"));
    CHECK(withKeys.rfind("sealed_visit sealed_visit-jobs sealed_visit-codebook\n", 0) == 0);
    for (int n = 0; n < 3; ++n)
        CHECK(withKeys.find("received readable Opmerking nummer " + std::to_string(n)) !=
              std::string::npos);
    ui.console().setProjectKeys(nullptr);
    ui.frame();
    const std::string withoutKeys = exportXlsx(dir.file("xlsx-collector"));
    CHECK(withoutKeys ==
          "sealed_visit sealed_visit-jobs sealed_visit-codebook\n"
          "received sealed, no key given for it -\n"
          "received sealed, no key given for it -\n"
          "received sealed, no key given for it -\n");
    CHECK(std::filesystem::is_empty(jobs));
}
