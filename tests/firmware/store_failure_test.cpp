// The store under hostile conditions: read-only files, a full disk, a busy file, and several
// processes writing at once. Each case runs in real child processes on real files.
#include <set>

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <veld/clock.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

// Runs `body` in a forked child that reports through a pipe; returns what it wrote. The child
// never returns into the test framework.
template <class F>
std::string inChild(F body) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::string report;
        try {
            report = body();
        } catch (...) {
            report = "exception";
        }
        (void)!::write(fds[1], report.data(), report.size());
        ::close(fds[1]);
        _exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    return out;
}

std::vector<Uuid> fillStore(const std::string& path, int count) {
    auto store = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate});
    REQUIRE(store);
    std::vector<Uuid> ids;
    for (int i = 0; i < count; ++i)
        ids.push_back(store->finalizeNew(test::sampleContent(i))->id);
    return ids;
}

void requireAllIntact(const std::string& path, const std::vector<std::pair<Uuid, int>>& expected) {
    auto store = Store::open(path);
    REQUIRE_MESSAGE(store, (store ? "" : store.error().describe()));
    for (const auto& [id, n] : expected) {
        auto rec = store->get(id);
        REQUIRE_MESSAGE(rec, (rec ? "" : rec.error().describe()));
        CHECK(rec->record.content == test::normalized(test::sampleContent(n)));
    }
    auto report = store->check(false);
    REQUIRE(report);
    CHECK(report->integrityOk);
    CHECK(report->badBodies.empty());
}

}  // namespace

TEST_CASE("a read-only store file can be read, refuses writes clearly, and stays intact") {
    test::TempDir dir;
    REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
    std::string path = dir.file("device.veld");
    auto ids = fillStore(path, 5);
    REQUIRE(::chmod(path.c_str(), 0444) == 0);

    std::string report = inChild([&]() -> std::string {
        // Root may write any file, so drop to an ordinary user to make the file truly read-only.
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0))
            return "setuid failed";
        auto store = Store::open(path);
        if (!store)
            return "open-error " + std::string(errorCodeName(store.error().code)) + " " +
                   store.error().message;
        std::string out = store->readOnly() ? "read-only" : "writable";
        auto rec = store->get(ids[0]);
        out += rec ? " get-ok" : " get-failed";
        auto draft = store->saveDraft(test::sampleContent(9));
        out += draft ? " write-ok"
                     : " write-refused " + std::string(errorCodeName(draft.error().code));
        auto fin = store->finalizeNew(test::sampleContent(9));
        out += fin ? " finalize-ok" : " finalize-refused";
        auto ack = store->acknowledgeThrough(1);
        out += ack ? " ack-ok" : " ack-refused";
        return out;
    });
    INFO(report);
    CHECK(report == "read-only get-ok write-refused read-only finalize-refused ack-refused");

    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    std::vector<std::pair<Uuid, int>> expected;
    for (int i = 0; i < 5; ++i)
        expected.emplace_back(ids[static_cast<std::size_t>(i)], i);
    requireAllIntact(path, expected);
}

TEST_CASE("a full disk gives a storage-full error and loses nothing saved before") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    auto before = fillStore(path, 20);

    // The child may write files of at most 512 KiB: the WAL or the database hits that limit like a
    // full disk (SQLite sees a failed write, not always SQLITE_FULL).
    std::string report = inChild([&]() -> std::string {
        ::signal(SIGXFSZ, SIG_IGN);
        rlimit limit{512 * 1024, 512 * 1024};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return "setrlimit failed";
        auto store = Store::open(path);
        if (!store) return "open " + store.error().describe();
        std::string acked;
        for (int i = 100; i < 100000; ++i) {
            auto done = store->finalizeNew(test::sampleContent(i));
            if (!done) {
                // Drafts must be refused just as clearly, and reading must still work.
                auto draft = store->saveDraft(test::sampleContent(i));
                std::string draftError =
                    draft ? "draft-ok" : std::string(errorCodeName(draft.error().code));
                bool readable = static_cast<bool>(store->get(before[0]));
                return std::string(errorCodeName(done.error().code)) + "|" + done.error().message +
                       "|" + draftError + "|" + (readable ? "readable" : "unreadable") + "|" +
                       acked;
            }
            acked += done->id.toString() + "=" + std::to_string(i) + ";";
        }
        return "never full";
    });
    auto parts = [&] {
        std::vector<std::string> out;
        std::size_t start = 0, bar;
        while ((bar = report.find('|', start)) != std::string::npos) {
            out.push_back(report.substr(start, bar - start));
            start = bar + 1;
        }
        out.push_back(report.substr(start));
        return out;
    }();
    REQUIRE_MESSAGE(parts.size() == 5, report.substr(0, 300));
    CHECK(parts[0] == "storage-full");
    CHECK(parts[1].find("disk is full") != std::string::npos);
    CHECK(parts[2] == "storage-full");
    CHECK(parts[3] == "readable");

    std::vector<std::pair<Uuid, int>> expected;
    for (int i = 0; i < 20; ++i)
        expected.emplace_back(before[static_cast<std::size_t>(i)], i);
    std::size_t start = 0, semi;
    while ((semi = parts[4].find(';', start)) != std::string::npos) {
        std::string item = parts[4].substr(start, semi - start);
        auto eq = item.find('=');
        expected.emplace_back(*Uuid::parse(item.substr(0, eq)), std::stoi(item.substr(eq + 1)));
        start = semi + 1;
    }
    CHECK(expected.size() > 25);  // it went on saving until the limit
    requireAllIntact(path, expected);

    // With space again, the store carries on with the next sequence number.
    auto store = Store::open(path);
    REQUIRE(store);
    auto next = store->finalizeNew(test::sampleContent(1));
    REQUIRE(next);
    CHECK(next->seq == expected.size() + 1);
}

TEST_CASE("a store held by another writer gives a clear in-use error, then works") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    fillStore(path, 1);
    auto other = sql::Database::open(path, sql::OpenMode::ReadWrite, 0);
    REQUIRE(other);
    REQUIRE(other->exec("BEGIN IMMEDIATE"));

    auto store = Store::open(path, {.busyTimeoutMs = 100});
    REQUIRE(store);
    CHECK(store->get(store->list({})->rows[0].id));  // readers are not blocked (WAL)
    auto busy = store->finalizeNew(test::sampleContent(2));
    REQUIRE_FALSE(busy);
    CHECK(busy.error().code == ErrorCode::InUse);
    CHECK(busy.error().message.find("another program") != std::string::npos);

    REQUIRE(other->exec("ROLLBACK"));
    other = sql::Database();
    auto done = store->finalizeNew(test::sampleContent(2));
    REQUIRE(done);
    CHECK(done->seq == 2);
}

TEST_CASE("two processes writing one store at once keep sequence numbers and clocks unique") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    fillStore(path, 0);
    constexpr int kEach = 150;
    std::vector<pid_t> children;
    for (int c = 0; c < 2; ++c) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            auto store = Store::open(path, {.busyTimeoutMs = 20000});
            if (!store) _exit(10);
            for (int i = 0; i < kEach; ++i) {
                if (i % 3 == 0) {
                    if (!store->saveDraft(test::sampleContent(i))) _exit(11);
                }
                if (!store->finalizeNew(test::sampleContent(c * 1000 + i))) _exit(12);
            }
            _exit(0);
        }
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    auto store = Store::open(path);
    REQUIRE(store);
    auto pending = store->outboxPending(10000, std::size_t{1} << 30);
    REQUIRE(pending);
    REQUIRE(pending->size() == 2 * kEach);
    std::set<std::uint64_t> hlcs;
    for (std::size_t i = 0; i < pending->size(); ++i) {
        CHECK((*pending)[i].seq == i + 1);
        hlcs.insert((*pending)[i].hlc.value);
    }
    CHECK(hlcs.size() == pending->size());
    CHECK(store->check(false)->ok());
}

TEST_CASE("several processes creating the same new store at once all get the same device") {
    test::TempDir dir;
    std::string path = dir.file("device.veld");
    constexpr int kProcesses = 4;
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    std::vector<pid_t> children;
    for (int c = 0; c < kProcesses; ++c) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            auto store =
                Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .busyTimeoutMs = 20000});
            std::string line =
                store ? store->deviceId().toString() : "error " + store.error().describe();
            line += "\n";
            (void)!::write(fds[1], line.data(), line.size());
            _exit(0);
        }
        children.push_back(pid);
    }
    ::close(fds[1]);
    std::string out;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    for (pid_t pid : children)
        waitpid(pid, nullptr, 0);
    INFO(out);
    auto store = Store::open(path);
    REQUIRE(store);
    std::string expected = store->deviceId().toString() + "\n";
    std::string all;
    for (int c = 0; c < kProcesses; ++c)
        all += expected;
    CHECK(out == all);
}
