// What the benchmarks share: timing, the figure lines they print, and a temporary folder.
// Output on stdout, one line per figure:
//   bench NAME: VALUE UNIT (baseline)
//   bench NAME: VALUE UNIT (ratio R vs BASELINE_NAME)
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// Raw SQLite on purpose: baselines measure SQLite without Veld's wrapper, and fixtures are filled
// behind Veld's back.
#include <sqlite3.h>
#include <unistd.h>

#include <veld/result.hpp>

namespace veld::bench {

using Clock = std::chrono::steady_clock;

inline double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

inline double ratio(double value, double baseline) {
    return baseline > 0 ? value / baseline : 0;
}

inline std::string formatNumber(double value) {
    if (value == 0) return "0";
    double magnitude = value < 0 ? -value : value;
    int decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 0.1 ? 2 : 3;
    if (magnitude > 0 && magnitude < 0.01) decimals = 4;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return buf;
}

inline std::string sizeTag(std::int64_t n) {
    if (n >= 1'000'000 && n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "m";
    if (n >= 1'000 && n % 1'000 == 0) return std::to_string(n / 1'000) + "k";
    return std::to_string(n);
}

inline void printBaseline(const std::string& name, double value, std::string_view unit) {
    std::printf("bench %s: %s %.*s (baseline)\n", name.c_str(), formatNumber(value).c_str(),
                static_cast<int>(unit.size()), unit.data());
    std::fflush(stdout);
}

inline void printFigure(const std::string& name, double value, std::string_view unit,
                        double baseline, const std::string& baselineName) {
    std::printf("bench %s: %s %.*s (ratio %s vs %s)\n", name.c_str(), formatNumber(value).c_str(),
                static_cast<int>(unit.size()), unit.data(),
                formatNumber(ratio(value, baseline)).c_str(), baselineName.c_str());
    std::fflush(stdout);
}

template <class T>
T must(Result<T> result, const std::string& what) {
    if (!result) throw std::runtime_error(what + ": " + result.error().describe());
    return std::move(result.value());
}

class TempDir {
  public:
    /// A new folder "PREFIX.XXXXXX" under $TMPDIR or /var/tmp.
    explicit TempDir(const std::string& prefix) {
        const char* env = std::getenv("TMPDIR");
        // /var/tmp rather than /tmp: /tmp may be a tmpfs, where fsync costs nothing.
        std::string pattern =
            std::string(env && *env ? env : "/var/tmp") + "/" + prefix + ".XXXXXX";
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        if (!::mkdtemp(buf.data())) throw std::runtime_error("cannot make a temporary folder");
        m_path = buf.data();
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] std::string file(std::string_view name) const {
        return m_path + "/" + std::string(name);
    }
    [[nodiscard]] const std::string& path() const { return m_path; }

  private:
    std::string m_path;
};

/// A raw SQLite connection for baselines and for filling files fast, throwing on any error.
class RawDb {
  public:
    using Statement = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

    explicit RawDb(const std::string& path) {
        if (sqlite3_open(path.c_str(), &m_db) != SQLITE_OK) {
            sqlite3_close(m_db);
            throw std::runtime_error("cannot open " + path + " with SQLite");
        }
    }
    ~RawDb() { sqlite3_close(m_db); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;

    [[nodiscard]] sqlite3* handle() const { return m_db; }
    void exec(const char* sql) {
        if (sqlite3_exec(m_db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(m_db));
    }
    Statement prepare(const char* sql) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(m_db, sql, -1, &st, nullptr) != SQLITE_OK)
            throw std::runtime_error(sqlite3_errmsg(m_db));
        return Statement(st, sqlite3_finalize);
    }
    /// Runs a statement that returns no rows, and resets it for the next bindings.
    void step(sqlite3_stmt* st) {
        if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(m_db));
        sqlite3_reset(st);
    }

  private:
    sqlite3* m_db = nullptr;
};

}  // namespace veld::bench
