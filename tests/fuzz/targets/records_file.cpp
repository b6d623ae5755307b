// Records files (veld/sync/records_file.hpp) as the console reads one fetched from a collector:
// opened (every frame checked), every record visited, then exported with the fixed project key
// to CSV, SPSS and Stata files as the console does with its own keys. The bytes go through a
// memfd, so nothing touches the disk but the export's tables.
#include <cstdio>
#include <filesystem>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

#include <veld/sync/export.hpp>
#include <veld/sync/records_file.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"
#include "support/test_support.hpp"

namespace veld::fuzz {

namespace {

// A file descriptor closed when it goes.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

int recordsFile(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    Fd memory{::memfd_create("veld-fuzz-records", MFD_CLOEXEC)};
    FUZZ_CHECK(memory.fd >= 0);
    for (std::size_t at = 0; at < size;) {
        const ssize_t n = ::write(memory.fd, data + at, size - at);
        FUZZ_CHECK(n > 0);
        at += static_cast<std::size_t>(n);
    }
    const std::string path = "/proc/self/fd/" + std::to_string(memory.fd);
    auto file = sync::RecordsFile::open(path);
    if (!file) return 0;

    sync::RecordQuery query;
    query.formId = (*file)->formId();
    std::int64_t visited = 0;
    const Status pass = (*file)->forEachRecord(
        query, 2, [](int) -> Status { return {}; },
        [&](const sync::CurrentRecord&) -> Status {
            ++visited;
            return {};
        });
    FUZZ_CHECK(pass.ok());
    FUZZ_CHECK(visited == 2 * (*file)->records());
    auto counted = (*file)->countRecords(query);
    FUZZ_CHECK(counted.ok() && counted.value() == (*file)->records());
    auto forms = (*file)->publishedForms();
    FUZZ_CHECK(forms.ok() && !forms->empty());

    static const test::TempDir exports;
    for (auto format :
         {sync::ExportFormat::Csv, sync::ExportFormat::Sav, sync::ExportFormat::Dta}) {
        sync::ExportOptions options;
        options.formId = (*file)->formId();
        options.format = format;
        options.directory = exports.path();
        const auto keys = projectSecretKeys();
        options.keys.assign(keys.begin(), keys.end());
        auto result = sync::exportForm(**file, options);
        if (result) FUZZ_CHECK(result->records == (*file)->records());
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(exports.path(), ec))
            std::filesystem::remove(e.path(), ec);
    }
    return 0;
}

}  // namespace veld::fuzz
