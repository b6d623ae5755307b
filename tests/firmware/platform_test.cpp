// The platform layer: private files and folders, atomic writes, locks, the data folder and
// UTF-8 names. The same tests run on Linux and, cross-built, on Windows (under Wine).
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <vector>

#include <doctest/doctest.h>

#include <veld/platform/files.hpp>
#include <veld/platform/process.hpp>
#include <veld/platform/time.hpp>
#include <veld/profile.hpp>

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/stat.h>
#endif

using namespace veld;
namespace fs = std::filesystem;

namespace {

// A fresh folder of its own, removed at the end.
class Folder {
  public:
    Folder() {
        std::random_device random;
        const auto name =
            "veld-platform-" + std::to_string(random()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
        m_path = fs::temp_directory_path() / name;
        fs::create_directories(m_path);
    }
    ~Folder() {
        std::error_code ec;
        fs::remove_all(m_path, ec);
    }
    Folder(const Folder&) = delete;
    Folder& operator=(const Folder&) = delete;
    [[nodiscard]] std::string file(const std::string& name) const {
        return platform::utf8Path(m_path) + "/" + name;
    }

  private:
    fs::path m_path;
};

std::string contents(const std::string& path) {
    auto text = platform::readFile(path, 1 << 20);
    REQUIRE_MESSAGE(text, (text ? "" : text.error().describe()));
    return text.value();
}

bool exists(const std::string& path) {
    return fs::exists(platform::fsPath(path));
}

#ifndef _WIN32
unsigned modeOf(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return static_cast<unsigned>(st.st_mode & 07777);
}
#endif

}  // namespace

TEST_CASE("platform: a private file is readable by its owner only") {
    Folder dir;
    const std::string path = dir.file("answers.veld");
    auto file =
        platform::File::create(path, platform::File::Create::Exclusive, platform::Access::Private);
    REQUIRE_MESSAGE(file, (file ? "" : file.error().describe()));
    REQUIRE(file->write("answers"));
    REQUIRE(file->close());
    auto problem = platform::privacyProblem(path);
    REQUIRE_MESSAGE(problem, (problem ? "" : problem.error().describe()));
    CHECK_MESSAGE(!problem->has_value(), (problem->has_value() ? problem->value().what : ""));
#ifndef _WIN32
    CHECK(modeOf(path) == 0600);
    // Another's file is reported, with the chmod that fixes it.
    const std::string shared = dir.file("shared.csv");
    REQUIRE(platform::writeFileAtomically(shared, "a,b\n", platform::Access::Public));
    CHECK(modeOf(shared) == 0644);
    auto open = platform::privacyProblem(shared);
    REQUIRE(open);
    REQUIRE(open->has_value());
    CHECK(open->value().what == "may be read by others (mode 0644)");
    CHECK(open->value().fix == "chmod 600 " + shared);
#endif
}

TEST_CASE("platform: a private folder and its missing parents are made for the owner only") {
    Folder dir;
    const std::string root = dir.file("profiles");
    const std::string deep = root + "/demo/media";
    REQUIRE(platform::makePrivateFolder(deep));
    CHECK(fs::is_directory(platform::fsPath(deep)));
    for (const auto& folder : {root, root + "/demo", deep}) {
        auto problem = platform::privacyProblem(folder);
        REQUIRE(problem);
        CHECK_MESSAGE(!problem->has_value(),
                      (folder + ": " + (problem->has_value() ? problem->value().what : "")));
#ifndef _WIN32
        CHECK(modeOf(folder) == 0700);
#endif
    }
    // Again: an existing folder is left as it is; a file in its place is refused.
    CHECK(platform::makePrivateFolder(deep));
    REQUIRE(platform::writeFileAtomically(dir.file("plain"), "x", platform::Access::Private));
    auto onFile = platform::makePrivateFolder(dir.file("plain"));
    REQUIRE_FALSE(onFile);
    CHECK(onFile.error().code == ErrorCode::InvalidArgument);
}

TEST_CASE("platform: creating a file exclusively leaves an existing one alone") {
    Folder dir;
    const std::string path = dir.file("device.provision");
    REQUIRE(platform::writeFileAtomically(path, "first", platform::Access::Private));
    auto again =
        platform::File::create(path, platform::File::Create::Exclusive, platform::Access::Private);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::WrongState);
    CHECK(contents(path) == "first");
    // Truncating narrows a file others could read to its owner.
    REQUIRE(platform::writeFileAtomically(dir.file("open"), "x", platform::Access::Public));
    {
        auto file = platform::File::create(dir.file("open"), platform::File::Create::Truncate,
                                           platform::Access::Private);
        REQUIRE(file);
    }
    CHECK(contents(dir.file("open")).empty());
    auto problem = platform::privacyProblem(dir.file("open"));
    REQUIRE(problem);
    CHECK_MESSAGE(!problem->has_value(), (problem->has_value() ? problem->value().what : ""));
}

TEST_CASE("platform: an atomic write replaces the whole file or nothing") {
    Folder dir;
    const std::string path = dir.file("records.bin");
    REQUIRE(platform::writeFileAtomically(path, "old", platform::Access::Private));

    SUBCASE("a finished write replaces the file, and leaves no .part") {
        REQUIRE(platform::writeFileAtomically(path, "new and longer", platform::Access::Private));
        CHECK(contents(path) == "new and longer");
        CHECK_FALSE(exists(path + ".part"));
    }
    SUBCASE("a write given up half-way leaves the old file and no .part") {
        {
            auto file = platform::AtomicFile::begin(path, platform::Access::Private);
            REQUIRE(file);
            REQUIRE(file->write("half of the n"));
            CHECK(exists(path + ".part"));
        }
        CHECK(contents(path) == "old");
        CHECK_FALSE(exists(path + ".part"));
    }
    SUBCASE("a rename that fails leaves the target and no .part") {
        const std::string folder = dir.file("busy");
        fs::create_directories(platform::fsPath(folder + "/inside"));
        auto file = platform::AtomicFile::begin(folder, platform::Access::Private);
        REQUIRE(file);
        REQUIRE(file->write("replacement"));
        auto done = file->commit();
        CHECK_FALSE(done);
        CHECK(fs::is_directory(platform::fsPath(folder + "/inside")));
        CHECK_FALSE(exists(folder + ".part"));
    }
    SUBCASE("a .part that cannot be made fails before the old file is touched") {
        fs::create_directories(platform::fsPath(path + ".part/blocked"));
        auto file = platform::AtomicFile::begin(path, platform::Access::Private);
        CHECK_FALSE(file);
        CHECK(contents(path) == "old");
    }
    SUBCASE("a missing folder is not-found, and nothing is made") {
        auto file = platform::AtomicFile::begin(dir.file("gone/x.bin"), platform::Access::Private);
        REQUIRE_FALSE(file);
        CHECK(file.error().code == ErrorCode::NotFound);
        CHECK_FALSE(exists(dir.file("gone")));
    }
}

TEST_CASE("platform: a lock held by one holder refuses a second until it is let go") {
    Folder dir;
    const std::string path = dir.file("device.veld.sync-lock");
    auto first =
        platform::File::create(path, platform::File::Create::Keep, platform::Access::Private);
    REQUIRE(first);
    auto taken = first->tryLock();
    REQUIRE(taken);
    CHECK(taken.value());
    auto second =
        platform::File::create(path, platform::File::Create::Keep, platform::Access::Private);
    REQUIRE(second);
    auto refused = second->tryLock();
    REQUIRE(refused);
    CHECK_FALSE(refused.value());
    REQUIRE(first->close());
    auto now = second->tryLock();
    REQUIRE(now);
    CHECK(now.value());
}

TEST_CASE("platform: UTF-8 names round-trip through write, read, rename and listing") {
    Folder dir;
    const std::string arabic =
        "\xd8\xa7\xd8\xb3\xd8\xaa\xd8\xa8\xd9\x8a\xd8\xa7\xd9\x86";  // استبيان
    const std::string accented =
        "r\xc3\xa9ponse-\xc3\xa9l\xc3\xa8ve-na\xc3\xaf"
        "ef";  // réponse-élève-naïef
    const std::string first = dir.file(arabic + ".txt");
    const std::string second = dir.file(accented + ".txt");
    REQUIRE(platform::writeFileAtomically(first, "\xd9\x86\xd8\xb9\xd9\x85",
                                          platform::Access::Private));
    CHECK(contents(first) == "\xd9\x86\xd8\xb9\xd9\x85");
    REQUIRE(platform::replaceFile(first, second));
    CHECK_FALSE(exists(first));
    CHECK(contents(second) == "\xd9\x86\xd8\xb9\xd9\x85");
    // A stream opened on fsPath() reads the same file.
    std::ifstream in(platform::fsPath(second), std::ios::binary);
    std::string line;
    CHECK(std::getline(in, line));
    CHECK(line == "\xd9\x86\xd8\xb9\xd9\x85");
    in.close();
    REQUIRE(platform::makePrivateFolder(dir.file(arabic)));
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(platform::fsPath(dir.file(""))))
        names.insert(platform::utf8Path(entry.path().filename()));
    CHECK(names == std::set<std::string>{accented + ".txt", arabic});
    REQUIRE(platform::removeFile(second));
    CHECK_FALSE(exists(second));
    CHECK(platform::removeFile(second));  // a missing file is not an error
}

TEST_CASE("platform: the data folder is the user's own") {
#ifdef _WIN32
    const std::string folder = platform::dataFolder();
    CHECK(folder.size() > 5);
    CHECK(folder.substr(folder.size() - 5) == "\\Veld");
    const std::string local = platform::environment("LOCALAPPDATA");
    if (!local.empty()) CHECK(folder == local + "\\Veld");
#else
    const std::string saved = platform::environment("XDG_DATA_HOME");
    const std::string home = platform::environment("HOME");
    ::setenv("XDG_DATA_HOME", "/srv/field data", 1);
    CHECK(platform::dataFolder() == "/srv/field data/veld");
    ::setenv("XDG_DATA_HOME", "", 1);
    CHECK(platform::dataFolder() == home + "/.local/share/veld");
    if (saved.empty())
        ::unsetenv("XDG_DATA_HOME");
    else
        ::setenv("XDG_DATA_HOME", saved.c_str(), 1);
#endif
}

TEST_CASE("platform: a process is alive only under its own name") {
    const std::int64_t self = platform::currentProcessId();
    CHECK(self > 0);
    CHECK_FALSE(platform::processAlive(self, "veld-no-such-program"));
    CHECK_FALSE(platform::processAlive(0, "veld-agent"));
    CHECK_FALSE(platform::processAlive(-5, "veld-agent"));
#ifdef _WIN32
    wchar_t image[MAX_PATH];
    const DWORD n = ::GetModuleFileNameW(nullptr, image, MAX_PATH);
    std::string name = platform::utf8Path(fs::path(std::wstring(image, n)).stem());
#else
    std::ifstream comm("/proc/self/comm");
    std::string name;
    std::getline(comm, name);
#endif
    CHECK(platform::processAlive(self, name));
}

TEST_CASE("platform: a unique private folder is new each time and the owner's only") {
    Folder dir;
    auto first = platform::makeUniquePrivateFolder(dir.file(""), ".veld-records-");
    auto second = platform::makeUniquePrivateFolder(dir.file(""), ".veld-records-");
    REQUIRE_MESSAGE(first, (first ? "" : first.error().describe()));
    REQUIRE(second);
    CHECK(first.value() != second.value());
    for (const auto& folder : {first.value(), second.value()}) {
        CHECK(fs::is_directory(platform::fsPath(folder)));
        CHECK(platform::utf8Path(platform::fsPath(folder).filename()).rfind(".veld-records-", 0) ==
              0);
        auto problem = platform::privacyProblem(folder);
        REQUIRE(problem);
        CHECK_FALSE(problem->has_value());
    }
    auto missing = platform::makeUniquePrivateFolder(dir.file("gone"), "x-");
    CHECK_FALSE(missing);
}

TEST_CASE("platform: calendars in UTC and local time agree with the offset") {
    // 2024-02-29 13:45:30 UTC.
    const std::time_t moment = 1709214330;
    const std::tm utc = platform::utcCalendar(moment);
    CHECK(utc.tm_year == 124);
    CHECK(utc.tm_mon == 1);
    CHECK(utc.tm_mday == 29);
    CHECK(utc.tm_hour == 13);
    CHECK(utc.tm_min == 45);
    CHECK(utc.tm_sec == 30);
    // The local calendar is the UTC one moved by the offset, whatever the machine's zone.
    const int offset = platform::localOffsetMinutes(moment);
    CHECK(offset > -15 * 60);
    CHECK(offset < 15 * 60);
    const std::tm local = platform::localCalendar(moment);
    const std::tm shifted = platform::utcCalendar(moment + static_cast<std::time_t>(offset) * 60);
    CHECK(local.tm_mday == shifted.tm_mday);
    CHECK(local.tm_hour == shifted.tm_hour);
    CHECK(local.tm_min == shifted.tm_min);
}

TEST_CASE("platform: a profile's store lives in a private folder under the data folder") {
#ifdef _WIN32
    // The real %LOCALAPPDATA% cannot be moved for a test: only the path is checked.
    const std::string store = profileStorePath("veld-test-profile", false);
    CHECK(store == platform::dataFolder() + "\\profiles\\veld-test-profile\\device.veld");
#else
    Folder dir;
    const std::string saved = platform::environment("XDG_DATA_HOME");
    ::setenv("XDG_DATA_HOME", dir.file("data").c_str(), 1);
    const std::string store = profileStorePath("werkplaats", true);
    if (saved.empty())
        ::unsetenv("XDG_DATA_HOME");
    else
        ::setenv("XDG_DATA_HOME", saved.c_str(), 1);
    CHECK(store == dir.file("data") + "/veld/profiles/werkplaats/device.veld");
    const std::string folder = dir.file("data") + "/veld/profiles/werkplaats";
    CHECK(fs::is_directory(folder));
    CHECK(modeOf(folder) == 0700);
#endif
}

TEST_CASE("platform: the peak memory counts what the program touched, in KiB") {
    std::vector<char> block(32u << 20);
    for (std::size_t i = 0; i < block.size(); i += 4096)
        block[i] = static_cast<char>(i);
    const long peak = platform::peakMemoryKiB();
    CHECK(block[4096] == static_cast<char>(4096));
    CHECK(peak >= 32 * 1024);
    CHECK(peak < 64L * 1024 * 1024);  // less than 64 GiB: not counted in bytes
}
