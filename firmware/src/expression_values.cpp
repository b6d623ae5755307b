// Values of form expressions: XPath's conversions between text, numbers, booleans and dates,
// ISO dates and times, and what a context knows by default (clock, time zone, new UUIDs).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <veld/platform/time.hpp>
#include <veld/uuid.hpp>

#include "expression_internal.hpp"

namespace veld::expr {

namespace detail {

// Howard Hinnant's civil-from-days algorithm.
void civilFromDays(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

double parsePlainNumber(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
    std::size_t end = s.size();
    while (end > i && std::isspace(static_cast<unsigned char>(s[end - 1])))
        --end;
    std::string_view body = s.substr(i, end - i);
    if (body.empty()) return NAN;
    std::size_t k = 0;
    if (body[0] == '-') ++k;
    bool digits = false, dot = false;
    for (; k < body.size(); ++k) {
        char c = body[k];
        if (std::isdigit(static_cast<unsigned char>(c))) {
            digits = true;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            return NAN;
        }
    }
    if (!digits) return NAN;
    return std::strtod(std::string(body).c_str(), nullptr);
}

std::string formatNumber(double v) {
    if (std::isnan(v)) return "";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    if (v == std::trunc(v) && std::fabs(v) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
        return buf;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
}

std::size_t codePoints(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string capText(std::string s) {
    if (s.size() <= kMaxTextBytes) return s;
    std::size_t end = kMaxTextBytes;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80)
        --end;
    s.resize(end);
    return s;
}

bool isDateLike(const Value& v) {
    return std::holds_alternative<Date>(v) || std::holds_alternative<DateTime>(v);
}

bool equals(const Value& a, const Value& b) {
    if (std::holds_alternative<bool>(a) || std::holds_alternative<bool>(b))
        return toBool(a) == toBool(b);
    if (std::holds_alternative<double>(a) || std::holds_alternative<double>(b) || isDateLike(a) ||
        isDateLike(b))
        return toNumber(a) == toNumber(b);
    return toText(a) == toText(b);
}

std::optional<TextTime> parseTextTime(std::string_view s) {
    auto date = parseIsoDate(s.substr(0, std::min<std::size_t>(s.size(), 10)));
    if (!date) return std::nullopt;
    TextTime out;
    out.days = *date;
    if (s.size() == 10) return out;
    if (s[10] != 'T' && s[10] != ' ') return std::nullopt;
    std::size_t i = 11;
    auto number = [&](std::size_t n, unsigned max) -> std::optional<unsigned> {
        if (i + n > s.size()) return std::nullopt;
        unsigned v = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const char c = s[i + k];
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + static_cast<unsigned>(c - '0');
        }
        if (v > max) return std::nullopt;
        i += n;
        return v;
    };
    auto hours = number(2, 23);
    if (!hours || i >= s.size() || s[i++] != ':') return std::nullopt;
    auto minutes = number(2, 59);
    if (!minutes) return std::nullopt;
    unsigned seconds = 0, millis = 0;
    if (i < s.size() && s[i] == ':') {
        ++i;
        auto sec = number(2, 59);
        if (!sec) return std::nullopt;
        seconds = *sec;
        if (i < s.size() && s[i] == '.') {
            ++i;
            std::size_t digits = 0;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                if (digits < 3) millis = millis * 10 + static_cast<unsigned>(s[i] - '0');
                ++digits;
                ++i;
            }
            if (digits == 0) return std::nullopt;
            for (; digits < 3; ++digits)
                millis *= 10;
        }
    }
    out.msOfDay =
        ((static_cast<std::int64_t>(*hours) * 60 + *minutes) * 60 + seconds) * 1000 + millis;
    if (i == s.size()) return out;
    if (s[i] == 'Z' && i + 1 == s.size()) {
        out.offsetMinutes = 0;
        return out;
    }
    if (s[i] != '+' && s[i] != '-') return std::nullopt;
    const int sign = s[i++] == '-' ? -1 : 1;
    auto offHours = number(2, 14);
    if (!offHours) return std::nullopt;
    unsigned offMinutes = 0;
    if (i < s.size()) {
        if (s[i] == ':') ++i;
        auto m = number(2, 59);
        if (!m || i != s.size()) return std::nullopt;
        offMinutes = *m;
    }
    out.offsetMinutes = sign * static_cast<int>(*offHours * 60 + offMinutes);
    return out;
}

namespace {

LocalTime fromUtc(std::int64_t utcMs, int offsetMinutes) {
    const std::int64_t local = utcMs + static_cast<std::int64_t>(offsetMinutes) * 60000;
    std::int64_t days = local / kMsPerDay;
    if (local % kMsPerDay < 0) --days;
    return LocalTime{days, local - days * kMsPerDay, offsetMinutes};
}

// Days since 1970 that still make a calendar date (about +-5.8 million years).
constexpr double kMaxDays = 2147483647.0;

}  // namespace

std::optional<LocalTime> toLocalTime(const Value& v, const Context& context) {
    if (const auto* d = std::get_if<Date>(&v)) return LocalTime{d->days, 0, 0};
    if (const auto* t = std::get_if<DateTime>(&v)) return fromUtc(t->utcMs, t->offsetMinutes);
    if (const auto* s = std::get_if<std::string>(&v)) {
        auto parsed = parseTextTime(*s);
        if (!parsed) return std::nullopt;
        if (!parsed->offsetMinutes) return LocalTime{parsed->days, parsed->msOfDay, 0};
        const std::int64_t utc =
            parsed->days * kMsPerDay + parsed->msOfDay - *parsed->offsetMinutes * 60000LL;
        return fromUtc(utc, context.localOffsetMinutes(utc));
    }
    if (std::holds_alternative<double>(v)) {
        const double days = toNumber(v);
        if (!std::isfinite(days) || std::fabs(days) > kMaxDays) return std::nullopt;
        const auto utc = static_cast<std::int64_t>(std::llround(days * kMillisPerDay));
        return fromUtc(utc, context.localOffsetMinutes(utc));
    }
    return std::nullopt;
}

}  // namespace detail

using namespace detail;

bool isEmpty(const Value& v) {
    if (std::holds_alternative<std::monostate>(v)) return true;
    if (const auto* s = std::get_if<std::string>(&v)) return s->empty();
    return false;
}

bool toBool(const Value& v) {
    return std::visit(
        [](const auto& x) -> bool {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) return false;
            if constexpr (std::is_same_v<T, bool>) return x;
            if constexpr (std::is_same_v<T, double>) return x != 0 && !std::isnan(x);
            if constexpr (std::is_same_v<T, std::string>) return !x.empty();
            if constexpr (std::is_same_v<T, Date> || std::is_same_v<T, DateTime>) return true;
        },
        v);
}

double toNumber(const Value& v) {
    return std::visit(
        [](const auto& x) -> double {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) return NAN;
            if constexpr (std::is_same_v<T, bool>) return x ? 1.0 : 0.0;
            if constexpr (std::is_same_v<T, double>) return x;
            if constexpr (std::is_same_v<T, std::string>) {
                // As ODK: date text is its number of days (the time of day is ignored).
                const double n = parsePlainNumber(x);
                if (!std::isnan(n) || x.size() < 10) return n;
                auto days = parseIsoDate(x, true);
                return days ? static_cast<double>(*days) : NAN;
            }
            if constexpr (std::is_same_v<T, Date>) return x.days;
            if constexpr (std::is_same_v<T, DateTime>)
                return static_cast<double>(x.utcMs) / kMillisPerDay;
        },
        v);
}

std::string toText(const Value& v) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) return {};
            if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
            if constexpr (std::is_same_v<T, double>) return formatNumber(x);
            if constexpr (std::is_same_v<T, std::string>) return x;
            if constexpr (std::is_same_v<T, Date>) return formatIsoDate(x.days);
            if constexpr (std::is_same_v<T, DateTime>) {
                // Local time with its offset, as ODK writes date-times; Z for UTC.
                const LocalTime t = fromUtc(x.utcMs, x.offsetMinutes);
                const auto ms = t.msOfDay;
                char buf[48];
                std::snprintf(buf, sizeof buf, "T%02d:%02d:%02d.%03d",
                              static_cast<int>(ms / 3600000), static_cast<int>(ms / 60000 % 60),
                              static_cast<int>(ms / 1000 % 60), static_cast<int>(ms % 1000));
                std::string out = formatIsoDate(t.days) + buf;
                if (x.offsetMinutes == 0) return out + "Z";
                const int off = std::abs(static_cast<int>(x.offsetMinutes));
                std::snprintf(buf, sizeof buf, "%c%02d:%02d", x.offsetMinutes < 0 ? '-' : '+',
                              off / 60, off % 60);
                return out + buf;
            }
        },
        v);
}

std::string formatIsoDate(std::int64_t days) {
    std::int64_t y;
    unsigned m, d;
    civilFromDays(days, y, m, d);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
    return buf;
}

// Howard Hinnant's days-from-civil algorithm.
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<std::int64_t> parseIsoDate(std::string_view s, bool allowTime) {
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    if (s.size() > 10 && (!allowTime || (s[10] != 'T' && s[10] != ' '))) return std::nullopt;
    auto digits = [&](std::size_t from, std::size_t n) -> std::optional<unsigned> {
        unsigned v = 0;
        for (std::size_t i = from; i < from + n; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
            v = v * 10 + static_cast<unsigned>(s[i] - '0');
        }
        return v;
    };
    auto y = digits(0, 4), m = digits(5, 2), d = digits(8, 2);
    if (!y || !m || !d || *m < 1 || *m > 12 || *d < 1) return std::nullopt;
    static constexpr unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    if (*d > (*m == 2 && !leap ? 28 : kDays[*m - 1])) return std::nullopt;
    return daysFromCivil(*y, *m, *d);
}

std::vector<Value> Context::answers(std::string_view name) const {
    return {answer(name)};
}

std::int64_t Context::nowUtcMs() const {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Date Context::today() const {
    std::time_t now = std::time(nullptr);
    const std::tm local = platform::localCalendar(now);
    return Date{static_cast<std::int32_t>(daysFromCivil(local.tm_year + 1900,
                                                        static_cast<unsigned>(local.tm_mon + 1),
                                                        static_cast<unsigned>(local.tm_mday)))};
}

int Context::localOffsetMinutes(std::int64_t utcMs) const {
    const auto seconds = static_cast<std::time_t>(utcMs / 1000);
    return platform::localOffsetMinutes(seconds);
}

std::string Context::newUuid() const {
    return makeUuidV4().toString();
}

}  // namespace veld::expr
