// Provisioning files (veldctl collector provision, enrolment from a .veldenrol file), against a
// real veld-collector on loopback, over plain HTTP and over HTTPS, with real device stores.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <veld/sync/provisioning.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;
namespace fs = std::filesystem;

namespace {

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void spit(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

unsigned modeOf(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777u;
}

test::ProcessResult provision(const test::CollectorProcess& collector, const std::string& label,
                              const std::string& url, const std::string& output,
                              std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"collector", "provision", collector.storePath(),
                                  "--label",   label,       "--url",
                                  url,         "-o",        output};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::veldctl(args);
}

std::string settingOf(Store& store, std::string_view key) {
    auto v = store.setting(key);
    REQUIRE(v);
    return v.value() ? *v.value() : std::string();
}

std::vector<std::string> caFilesIn(const std::string& folder) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(folder)) {
        if (e.path().filename().string().rfind("collector-ca-", 0) == 0)
            found.push_back(e.path().string());
    }
    return found;
}

// A valid provisioning text to damage in various ways.
std::string validText() {
    sync::Provisioning p;
    p.collector = "https://collector.example.nl:8470";
    p.code = "ABCD-EFGH-JKLM";
    p.label = "laptop 7";
    p.expiresUtcMs = wallMs() + 3600 * 1000;
    auto text = sync::provisioningJson(p);
    REQUIRE(text);
    return text.value();
}

// The file as a reader other than ours sees it (Python's json module): the documented members,
// one per line as NAME=VALUE (the certificate as the digest of its text, to keep it on one line).
std::string readByPython(const std::string& file) {
    const auto r = test::runProcess(
        {"/usr/bin/python3", "-c",
         "import json, sys, hashlib\n"
         "d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
         "assert sorted(d) == sorted(['format', 'version', 'collector', 'ca_pem', 'code', "
         "'label', 'expires_utc_ms']), sorted(d)\n"
         "assert isinstance(d['version'], int) and isinstance(d['expires_utc_ms'], int)\n"
         "for k in ['format', 'version', 'collector', 'code', 'label', 'expires_utc_ms']:\n"
         "    print(f'{k}={d[k]}')\n"
         "print('ca_pem_sha256=' + hashlib.sha256(d['ca_pem'].encode()).hexdigest())\n",
         file});
    INFO(r.err);
    CHECK(r.exitCode == 0);
    return r.out;
}

std::string sha256Hex(const std::string& path) {
    const auto r = test::runProcess({"/usr/bin/sha256sum", path});
    return r.out.substr(0, 64);
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("a provisioning file enrols one device once, and the device then sends its records") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string file = dir.file("laptop7.veldenrol");
    const auto made = provision(collector, "laptop 7", collector.url(), file);
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    CHECK(made.out.find("laptop 7") != std::string::npos);
    CHECK(modeOf(file) == 0600u);  // it holds a secret
    auto read = sync::readProvisioningFile(file);
    REQUIRE_MESSAGE(read, read.error().describe());
    CHECK(read->collector == collector.url());
    CHECK(read->label == "laptop 7");
    CHECK(read->caPem.empty());
    CHECK(read->expiresUtcMs > wallMs() + 6LL * 24 * 3600 * 1000);
    CHECK(read->expiresUtcMs <= wallMs() + 7LL * 24 * 3600 * 1000);
    // What Python's json module reads is what our reader read.
    const std::string python = readByPython(file);
    CHECK(python.find("format=veld-enrol\nversion=1\n") == 0);
    CHECK(python.find("\ncollector=" + collector.url() + "\n") != std::string::npos);
    CHECK(python.find("\ncode=" + read->code + "\n") != std::string::npos);
    CHECK(python.find("\nlabel=laptop 7\n") != std::string::npos);
    CHECK(python.find("\nexpires_utc_ms=" + std::to_string(read->expiresUtcMs) + "\n") !=
          std::string::npos);
    // The secret is in the file only, never on the terminal.
    CHECK(made.out.find(read->code) == std::string::npos);
    CHECK(made.err.find(read->code) == std::string::npos);

    // The first device enrols with veldctl, finalizes records and sends them.
    const std::string first = dir.file("first.veld");
    { auto store = test::openDevice(first); }
    const auto enrolled = test::veldctl({"enrol", first, "--file", file});
    REQUIRE_MESSAGE(enrolled.exitCode == 0, enrolled.err);
    CHECK(enrolled.out.find("\"laptop 7\"") != std::string::npos);
    auto store = test::openDevice(first);
    test::addFinalized(store, 3);
    auto connection = sync::loadConnection(store);
    REQUIRE(connection);
    CHECK(connection->caFile.empty());
    auto round = sync::syncOnce(store, connection.value(), {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 3);
    {
        auto c = collector.open();
        CHECK(c->stats()->records == 3);
        auto devices = c->devices();
        REQUIRE(devices);
        REQUIRE(devices->size() == 1);
        CHECK(devices->front().label == "laptop 7");
        CHECK(devices->front().deviceId == store.deviceId());
    }

    // The same file again on the same device: the code is used; the store keeps its enrolment.
    const std::string credential = settingOf(store, "sync.credential");
    auto again = sync::enrolFromFile(store, file, wallMs());
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::WrongState);
    CHECK(again.error().message.find("used already") != std::string::npos);
    CHECK(settingOf(store, "sync.credential") == credential);
    CHECK(settingOf(store, "sync.collector") == collector.url());
    test::addFinalized(store, 1, 10);
    auto after = sync::syncOnce(store, connection.value(), {});
    REQUIRE_MESSAGE(after, after.error().describe());
    CHECK(after->recordsSent == 1);

    // ... and on a second device, with veldctl: refused, and that device stays out.
    const std::string second = dir.file("second.veld");
    { auto s = test::openDevice(second); }
    const auto refused = test::veldctl({"enrol", second, "--file", file});
    CHECK(refused.exitCode == 1);
    CHECK(refused.err.find("used already") != std::string::npos);
    CHECK(refused.err.find(read->code) == std::string::npos);
    auto secondStore = test::openDevice(second);
    CHECK_FALSE(sync::loadConnection(secondStore));
    CHECK(collector.open()->devices()->size() == 1);
}

TEST_CASE("a provisioning file's certificate is trusted for HTTPS, a foreign one is not") {
    test::TempDir dir;
    const std::string cert = dir.file("cert.pem");
    const std::string key = dir.file("key.pem");
    test::makeTestCertificate(cert, key);
    const std::string foreignCert = dir.file("foreign.pem");
    test::makeTestCertificate(foreignCert, dir.file("foreign-key.pem"));
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--tls-cert", cert, "--tls-key", key});
    const std::string url = "https://127.0.0.1:" + std::to_string(collector.port());

    // A device with the collector's own certificate in its file enrols and sends.
    const std::string good = dir.file("good.veldenrol");
    const auto made = provision(collector, "tablet 1", url, good, {"--ca", cert});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    CHECK(made.out.find("system") == std::string::npos);
    // The embedded certificate, as Python's json module reads it, is the certificate's text.
    CHECK(readByPython(good).find("\nca_pem_sha256=" + sha256Hex(cert) + "\n") !=
          std::string::npos);
    fs::create_directory(dir.file("a"));
    auto a = test::openDevice(dir.file("a/device.veld"));
    auto done = sync::enrolFromFile(a, good, wallMs());
    REQUIRE_MESSAGE(done, done.error().describe());
    CHECK(done->label == "tablet 1");
    CHECK(done->collector == url);
    CHECK_FALSE(done->collectorId.empty());
    // The certificate is kept next to the store, readable by all (it is public), as it was.
    REQUIRE(caFilesIn(dir.file("a")) == std::vector<std::string>{done->caFile});
    CHECK(fs::path(done->caFile).parent_path() == fs::path(dir.file("a")));
    CHECK(slurp(done->caFile) == slurp(cert));
    CHECK(modeOf(done->caFile) == 0644u);
    auto connection = sync::loadConnection(a);
    REQUIRE(connection);
    CHECK(connection->caFile == done->caFile);
    test::addFinalized(a, 2);
    auto round = sync::syncOnce(a, connection.value(), {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->recordsSent == 2);

    // A file with another certificate: TLS verification fails, nothing is enrolled and no
    // certificate is left behind.
    const std::string wrong = dir.file("wrong.veldenrol");
    REQUIRE(provision(collector, "tablet 2", url, wrong, {"--ca", foreignCert}).exitCode == 0);
    fs::create_directory(dir.file("b"));
    auto b = test::openDevice(dir.file("b/device.veld"));
    auto failed = sync::enrolFromFile(b, wrong, wallMs());
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code == ErrorCode::Io);
    CHECK(failed.error().message.find(url) != std::string::npos);
    CHECK_FALSE(sync::loadConnection(b));
    CHECK(settingOf(b, "sync.ca_file").empty());
    CHECK(caFilesIn(dir.file("b")).empty());

    // Without --ca the system's CAs are used, which do not know this self-signed collector.
    const std::string plain = dir.file("system.veldenrol");
    const auto system = provision(collector, "tablet 3", url, plain);
    REQUIRE(system.exitCode == 0);
    CHECK(system.out.find("system's CAs") != std::string::npos);
    auto viaSystem = sync::enrolFromFile(b, plain, wallMs());
    REQUIRE_FALSE(viaSystem);
    CHECK(viaSystem.error().code == ErrorCode::Io);
    CHECK_FALSE(sync::loadConnection(b));
    // The device enrolled before is untouched by all this.
    CHECK(collector.open()->devices()->size() == 1);
}

TEST_CASE("an expired provisioning file is refused on the device, before the collector is asked") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    // A file whose expiry has passed, holding a code the collector would still take.
    sync::Provisioning p;
    p.collector = collector.url();
    p.code = collector.enrolCode();
    p.label = "old laptop";
    p.expiresUtcMs = wallMs() - 60 * 1000;
    const std::string file = dir.file("old.veldenrol");
    REQUIRE(sync::writeProvisioningFile(file, p));
    auto store = test::openDevice(dir.file("device.veld"));
    auto late = sync::enrolFromFile(store, file, wallMs());
    REQUIRE_FALSE(late);
    CHECK(late.error().code == ErrorCode::WrongState);
    CHECK(late.error().message.find("expired") != std::string::npos);
    CHECK_FALSE(sync::loadConnection(store));
    const auto cli = test::veldctl({"enrol", dir.file("device.veld"), "--file", file});
    CHECK(cli.exitCode == 1);
    CHECK(cli.err.find("expired") != std::string::npos);
    // The collector never saw the code: it still enrols.
    CHECK(sync::enrol(store, collector.url(), p.code));

    // A shorter validity is written into the file and into the code; longer than 7 days is not
    // offered.
    const std::string day = dir.file("day.veldenrol");
    REQUIRE(provision(collector, "x", collector.url(), day, {"--valid", "1"}).exitCode == 0);
    auto oneDay = sync::readProvisioningFile(day);
    REQUIRE(oneDay);
    CHECK(oneDay->expiresUtcMs <= wallMs() + 24LL * 3600 * 1000);
    CHECK(oneDay->expiresUtcMs > wallMs() + 23LL * 3600 * 1000);
    CHECK(provision(collector, "x", collector.url(), dir.file("long.veldenrol"), {"--valid", "8"})
              .exitCode == 2);
    CHECK_FALSE(fs::exists(dir.file("long.veldenrol")));
    {
        auto c = collector.open();
        auto tooLong = c->createEnrolCode("x", wallMs(), "test", 8LL * 24 * 3600 * 1000);
        REQUIRE_FALSE(tooLong);
        CHECK(tooLong.error().code == ErrorCode::InvalidArgument);
    }
}

TEST_CASE("damaged, foreign, newer, oversize and incomplete provisioning files are refused") {
    const std::string valid = validText();
    REQUIRE(sync::parseProvisioning(valid));
    struct Case {
        const char* what;
        std::string text;
        ErrorCode code;
        const char* says;
    };
    const std::vector<Case> cases{
        {"cut short", valid.substr(0, valid.size() / 2), ErrorCode::InvalidArgument,
         "damaged JSON"},
        {"empty", "", ErrorCode::InvalidArgument, "damaged JSON"},
        {"not an object", "[1, 2]", ErrorCode::InvalidArgument, "not a JSON object"},
        {"foreign JSON", R"({"id": "vmbo_parent_survey", "version": 3})",
         ErrorCode::InvalidArgument, "not a Veld provisioning file"},
        {"other format", replaced(valid, "\"veld-enrol\"", "\"veld-study\""),
         ErrorCode::InvalidArgument, "not a Veld provisioning file"},
        {"newer version", replaced(valid, "\"version\": 1", "\"version\": 3"), ErrorCode::TooNew,
         "newer Veld"},
        {"version 2 without the collector's key",
         replaced(valid, "\"version\": 1", "\"version\": 2"), ErrorCode::InvalidArgument,
         "has no \"collector_id\""},
        {"version 1 with a collector key",
         replaced(valid, "\"label\":", "\"collector_key\": \"00\", \"label\":"),
         ErrorCode::InvalidArgument, "collector_key"},
        {"version zero", replaced(valid, "\"version\": 1", "\"version\": 0"),
         ErrorCode::InvalidArgument, "unknown version"},
        {"version as text", replaced(valid, "\"version\": 1", "\"version\": \"1\""),
         ErrorCode::InvalidArgument, "whole number"},
        {"no code", replaced(valid, "\"code\": \"ABCD-EFGH-JKLM\",", ""),
         ErrorCode::InvalidArgument, "has no \"code\""},
        {"no collector",
         replaced(valid, "\"collector\": \"https://collector.example.nl:8470\",", ""),
         ErrorCode::InvalidArgument, "has no \"collector\""},
        {"no expiry", valid.substr(0, valid.find(",\n  \"expires_utc_ms\"")) + "\n}\n",
         ErrorCode::InvalidArgument, "has no \"expires_utc_ms\""},
        {"an unknown member", replaced(valid, "\"label\"", "\"colour\": \"red\", \"label\""),
         ErrorCode::InvalidArgument, "unknown key \"colour\""},
        {"no ca_pem", replaced(valid, "\"ca_pem\": \"\",", ""), ErrorCode::InvalidArgument,
         "has no \"ca_pem\""},
        {"a key twice", replaced(valid, "\"label\"", "\"code\": \"X\", \"label\""),
         ErrorCode::InvalidArgument, "given twice"},
        {"trailing text", valid + "{}", ErrorCode::InvalidArgument, "damaged JSON"},
        {"plain http elsewhere",
         replaced(valid, "https://collector.example.nl", "http://collector.example.nl"),
         ErrorCode::InvalidArgument, "https"},
        {"empty code", replaced(valid, "ABCD-EFGH-JKLM", ""), ErrorCode::InvalidArgument,
         "code is empty"},
        {"a certificate that is not one",
         replaced(valid, "\"ca_pem\": \"\"", "\"ca_pem\": \"hello\""), ErrorCode::InvalidArgument,
         "not a PEM certificate"},
        {"a damaged certificate",
         replaced(valid, "\"ca_pem\": \"\"",
                  "\"ca_pem\": \"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END "
                  "CERTIFICATE-----\\n\""),
         ErrorCode::InvalidArgument, "damaged"},
        {"a private key",
         replaced(valid, "\"ca_pem\": \"\"",
                  "\"ca_pem\": \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE "
                  "KEY-----\\n\""),
         ErrorCode::InvalidArgument, "private key"},
    };
    // Version 2 (sync by USB stick): the collector's id and key, and no address.
    sync::Provisioning offline;
    offline.code = "ABCD-EFGH-JKLM";
    offline.label = "school 7";
    offline.expiresUtcMs = 1'790'000'000'000;
    offline.collectorId = "veld-collector-12345678";
    offline.collectorKey = std::string(64, 'a');
    const auto offlineText = sync::provisioningJson(offline);
    REQUIRE(offlineText);
    CHECK(offlineText->find("\"version\": 2") != std::string::npos);
    auto read = sync::parseProvisioning(offlineText.value());
    REQUIRE_MESSAGE(read, read.error().describe());
    CHECK(read->collector.empty());
    CHECK(read->collectorKey == offline.collectorKey);
    CHECK(read->collectorId == offline.collectorId);
    auto badKey =
        sync::parseProvisioning(replaced(offlineText.value(), std::string(64, 'a'), "abc"));
    REQUIRE_FALSE(badKey);
    CHECK(badKey.error().message.find("64 hex digits") != std::string::npos);

    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto parsed = sync::parseProvisioning(c.text);
        REQUIRE_FALSE(parsed);
        CHECK(parsed.error().code == c.code);
        CHECK_MESSAGE(parsed.error().message.find(c.says) != std::string::npos,
                      parsed.error().message);
    }

    // On disk: an oversize file is refused unread, and a store stays as it was.
    test::TempDir dir;
    const std::string big = dir.file("big.veldenrol");
    spit(big, replaced(valid, "laptop 7", std::string(70 * 1024, 'x')));
    auto store = test::openDevice(dir.file("device.veld"));
    auto refused = sync::enrolFromFile(store, big, wallMs());
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::InvalidArgument);
    CHECK(refused.error().message.find("64 KiB") != std::string::npos);
    auto missing = sync::enrolFromFile(store, dir.file("none.veldenrol"), wallMs());
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::NotFound);
    const std::string damaged = dir.file("damaged.veldenrol");
    spit(damaged, valid.substr(0, 40));
    const auto cli = test::veldctl({"enrol", dir.file("device.veld"), "--file", damaged});
    CHECK(cli.exitCode == 1);
    CHECK(cli.err.find("damaged JSON") != std::string::npos);
    CHECK_FALSE(sync::loadConnection(store));
    CHECK(caFilesIn(dir.path()).empty());
}

TEST_CASE("veldctl collector provision refuses what would make a bad file, and existing files") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const auto auditBefore = collector.open()->audit()->size();
    const std::string out = dir.file("x.veldenrol");
    spit(out, "keep me");
    const auto exists = provision(collector, "x", "https://c.example.nl", out);
    CHECK(exists.exitCode == 1);
    CHECK(exists.err.find("exists already") != std::string::npos);
    CHECK(slurp(out) == "keep me");
    const std::string fresh = dir.file("fresh.veldenrol");
    const auto http = provision(collector, "x", "http://c.example.nl", fresh);
    CHECK(http.exitCode == 1);
    CHECK(http.err.find("https://") != std::string::npos);
    spit(dir.file("notpem.pem"), "not a certificate\n");
    const auto notPem =
        provision(collector, "x", "https://c.example.nl", fresh, {"--ca", dir.file("notpem.pem")});
    CHECK(notPem.exitCode == 1);
    CHECK(notPem.err.find("not a PEM certificate") != std::string::npos);
    test::makeTestCertificate(dir.file("cert.pem"), dir.file("key.pem"));
    const auto keyGiven =
        provision(collector, "x", "https://c.example.nl", fresh, {"--ca", dir.file("key.pem")});
    CHECK(keyGiven.exitCode == 1);
    CHECK(keyGiven.err.find("private key") != std::string::npos);
    CHECK(test::veldctl({"collector", "provision", collector.storePath(), "--url",
                         "https://c.example.nl", "-o", fresh})
              .exitCode == 2);  // no label
    CHECK_FALSE(fs::exists(fresh));
    // None of these made a code.
    CHECK(collector.open()->audit()->size() == auditBefore);
}

TEST_CASE("provisioning files are found on mounted media, at the top and one folder down") {
    test::TempDir dir;
    const std::string media = dir.file("media");
    for (const char* folder : {"media/STICK/veld/deeper", "media/user/DISK", "run/empty"})
        fs::create_directories(dir.file(folder));
    for (const char* file : {"media/STICK/top.veldenrol", "media/STICK/veld/inner.veldenrol",
                             "media/STICK/veld/deeper/too-deep.veldenrol", "media/STICK/notes.txt",
                             "media/user/DISK/b.veldenrol", "media/loose.veldenrol"})
        spit(dir.file(file), "{}");
    fs::create_directory(dir.file("media/STICK/folder.veldenrol"));
    const auto found = sync::findProvisioningFiles({media, dir.file("run"), dir.file("gone")});
    CHECK(found == std::vector<std::string>{dir.file("media/STICK/top.veldenrol"),
                                            dir.file("media/STICK/veld/inner.veldenrol"),
                                            dir.file("media/user/DISK/b.veldenrol")});

    const char* saved = std::getenv("VELD_MEDIA_ROOTS");
    const std::string before = saved ? saved : "";
    ::setenv("VELD_MEDIA_ROOTS", (media + ":" + dir.file("run")).c_str(), 1);
    CHECK(sync::removableMediaRoots() == std::vector<std::string>{media, dir.file("run")});
    ::unsetenv("VELD_MEDIA_ROOTS");
    const auto defaults = sync::removableMediaRoots();
    REQUIRE_FALSE(defaults.empty());
    CHECK(defaults.front() == "/media");
    if (saved) ::setenv("VELD_MEDIA_ROOTS", before.c_str(), 1);
}

TEST_CASE("an installed provisioning file is checked, copied readable, tried once per store") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string file = dir.file("laptop-07.veldenrol");
    const auto made = provision(collector, "laptop 07", collector.url(), file);
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    const std::string machine = dir.file("ProgramData/Veld");

    // Installing: a damaged file is refused and nothing is copied; a good one is copied as it is,
    // readable by every user of the machine (the clients of all its users look there).
    const std::string damaged = dir.file("damaged.veldenrol");
    spit(damaged, slurp(file).substr(0, 40));
    auto refused = sync::installProvisioningFile(damaged, machine);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::InvalidArgument);
    CHECK_FALSE(fs::exists(machine + "/damaged.veldenrol"));
    const auto viaVeldctl = test::veldctl({"enrol", "--install", damaged, "--folder", machine});
    CHECK(viaVeldctl.exitCode == 1);
    CHECK(viaVeldctl.err.find("not a usable provisioning file") != std::string::npos);
    auto copy = sync::installProvisioningFile(file, machine);
    REQUIRE_MESSAGE(copy, copy.error().describe());
    CHECK(copy.value() == machine + "/laptop-07.veldenrol");
    CHECK(slurp(copy.value()) == slurp(file));
    CHECK(modeOf(copy.value()) == 0644u);
    CHECK(sync::findInstalledProvisioningFiles(machine) == std::vector<std::string>{copy.value()});
    CHECK(sync::findInstalledProvisioningFiles(dir.file("missing")).empty());
    // A file another ordinary user put there is not offered (it could send this user's records
    // to a collector of that user's choosing). Making one needs root.
    if (::geteuid() == 0) {
        const std::string planted = machine + "/planted.veldenrol";
        spit(planted, slurp(file));
        REQUIRE(::chown(planted.c_str(), 65534, 65534) == 0);
        CHECK(sync::findInstalledProvisioningFiles(machine) ==
              std::vector<std::string>{copy.value()});
        fs::remove(planted);
    } else {
        MESSAGE("not root: a file of another user cannot be made; that check did not run");
    }

    // A collector out of reach (nothing listens on the address) is tried again next time.
    const std::string unreachable = dir.file("unreachable");
    fs::create_directories(unreachable);
    const auto offline = provision(collector, "laptop 08", "http://127.0.0.1:9",
                                   unreachable + "/laptop-08.veldenrol");
    REQUIRE_MESSAGE(offline.exitCode == 0, offline.err);
    {
        auto store = test::openDevice(dir.file("offline.veld"));
        for (int attempt = 0; attempt < 2; ++attempt) {
            const auto tried = sync::enrolFromInstalledFiles(store, unreachable, wallMs());
            CHECK(tried.file == unreachable + "/laptop-08.veldenrol");
            CHECK_FALSE(tried.ok);
        }
        CHECK(settingOf(store, "sync.credential").empty());
    }

    // The first store enrols; once enrolled, nothing more happens.
    auto first = test::openDevice(dir.file("first.veld"));
    const auto enrolled = sync::enrolFromInstalledFiles(first, machine, wallMs());
    CHECK_MESSAGE(enrolled.ok, enrolled.error);
    CHECK(enrolled.file == copy.value());
    CHECK(enrolled.enrolment.label == "laptop 07");
    CHECK(enrolled.enrolment.collector == collector.url());
    CHECK_FALSE(settingOf(first, "sync.credential").empty());
    CHECK(sync::enrolFromInstalledFiles(first, machine, wallMs()).file.empty());

    // A second store: the spent code fails once, then the file is left alone.
    auto second = test::openDevice(dir.file("second.veld"));
    const auto spent = sync::enrolFromInstalledFiles(second, machine, wallMs());
    CHECK(spent.file == copy.value());
    CHECK_FALSE(spent.ok);
    CHECK(spent.error.find("used already") != std::string::npos);
    CHECK(sync::enrolFromInstalledFiles(second, machine, wallMs()).file.empty());
    CHECK(collector.open()->devices()->size() == 1);

    // Uninstalling removes the provisioning files and nothing else.
    spit(machine + "/notes.txt", "kept");
    auto removed = sync::removeInstalledProvisioningFiles(machine);
    REQUIRE(removed);
    CHECK(removed.value() == 1);
    CHECK(sync::findInstalledProvisioningFiles(machine).empty());
    CHECK(fs::exists(machine + "/notes.txt"));
}
