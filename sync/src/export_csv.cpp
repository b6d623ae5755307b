// CSV for evaluators: RFC 4180 quoting, UTF-8, one header row of column names.
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <veld/platform/files.hpp>
#include <veld/sync/export_table.hpp>

namespace veld::sync {

namespace {

// Civil date from days since 1970-01-01 (proleptic Gregorian).
void civil(std::int64_t days, std::int64_t& y, unsigned& m, unsigned& d) {
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) ++y;
}

std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

}  // namespace

std::string isoDate(std::int64_t days) {
    std::int64_t y = 0;
    unsigned m = 0;
    unsigned d = 0;
    civil(days, y, m, d);
    char out[32];
    std::snprintf(out, sizeof out, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
    return out;
}

std::string isoTime(std::int64_t ms) {
    const std::int64_t s = floorDiv(ms, 1000);
    char out[32];
    std::snprintf(out, sizeof out, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
    return out;
}

std::string isoDateTime(std::int64_t utcMs) {
    const std::int64_t days = floorDiv(utcMs, 86'400'000);
    const std::int64_t ms = utcMs - days * 86'400'000;
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(ms % 1000));
    return isoDate(days) + "T" + isoTime(ms) + frac + "Z";
}

namespace {

// The shortest text that reads back as the same double.
void appendDecimal(std::string& out, double v) {
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    if (ec == std::errc()) out.append(buf, end);
}

void appendQuoted(std::string& out, std::string_view text) {
    const bool quote = text.find_first_of(",\"\r\n") != std::string_view::npos ||
                       (!text.empty() && (text.front() == ' ' || text.back() == ' '));
    if (!quote) {
        out.append(text);
        return;
    }
    out += '"';
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

class CsvWriter final : public TableWriter {
  public:
    explicit CsvWriter(std::string path) : m_path(std::move(path)) {}
    CsvWriter(const CsvWriter&) = delete;
    CsvWriter& operator=(const CsvWriter&) = delete;

    Status begin(const ExportTable& table, std::int64_t rowCount) override {
        auto file = platform::File::create(m_path, platform::File::Create::Truncate,
                                           platform::Access::Private);
        if (!file) return file.error();
        m_file = std::move(file.value());
        m_types.clear();
        m_expected = rowCount;
        m_rows = 0;
        for (std::size_t i = 0; i < table.columns.size(); ++i) {
            if (i > 0) m_buffer += ',';
            appendQuoted(m_buffer, table.columns[i].name);
            m_types.push_back(table.columns[i].type);
        }
        m_buffer += "\r\n";
        return flushIfFull();
    }

    Status row(std::span<const Cell> cells) override {
        if (cells.size() != m_types.size()) {
            return makeError(ErrorCode::InvalidArgument,
                             "a row of " + std::to_string(cells.size()) + " cells for " +
                                 std::to_string(m_types.size()) + " columns");
        }
        if (m_expected >= 0 && m_rows == m_expected)
            return makeError(ErrorCode::InvalidArgument, "more rows than announced");
        for (std::size_t i = 0; i < cells.size(); ++i) {
            if (i > 0) m_buffer += ',';
            const Cell& c = cells[i];
            if (const auto* text = std::get_if<std::string>(&c)) {
                appendQuoted(m_buffer, *text);
            } else if (const auto* n = std::get_if<std::int64_t>(&c)) {
                switch (m_types[i]) {
                    case ColumnType::Date:
                        m_buffer += isoDate(*n);
                        break;
                    case ColumnType::Time:
                        m_buffer += isoTime(*n);
                        break;
                    case ColumnType::DateTime:
                        m_buffer += isoDateTime(*n);
                        break;
                    default: {
                        char buf[24];
                        const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *n);
                        if (ec == std::errc()) m_buffer.append(buf, end);
                    }
                }
            } else if (const auto* d = std::get_if<double>(&c)) {
                appendDecimal(m_buffer, *d);
            }
        }
        m_buffer += "\r\n";
        ++m_rows;
        return flushIfFull();
    }

    Status end() override {
        if (m_expected >= 0 && m_rows != m_expected) {
            return makeError(ErrorCode::InvalidArgument,
                             std::to_string(m_rows) + " rows written, " +
                                 std::to_string(m_expected) + " announced");
        }
        if (auto s = flush(); !s) return s;
        if (auto s = m_file.sync(); !s) return s;
        return m_file.close();
    }

  private:
    Status flushIfFull() { return m_buffer.size() >= (1u << 16) ? flush() : Status{}; }

    Status flush() {
        if (auto s = m_file.write(m_buffer); !s) return s;
        m_buffer.clear();
        return {};
    }

    std::string m_path;
    platform::File m_file;
    std::vector<ColumnType> m_types;
    std::string m_buffer;
    std::int64_t m_expected = 0;
    std::int64_t m_rows = 0;
};

}  // namespace

std::string_view columnTypeName(ColumnType type) {
    switch (type) {
        case ColumnType::Text:
            return "text";
        case ColumnType::Integer:
            return "integer";
        case ColumnType::Decimal:
            return "decimal";
        case ColumnType::Date:
            return "date";
        case ColumnType::Time:
            return "time";
        case ColumnType::DateTime:
            return "datetime";
    }
    return "text";
}

std::unique_ptr<TableWriter> csvTableWriter(const std::string& path) {
    return std::make_unique<CsvWriter>(path);
}

}  // namespace veld::sync
