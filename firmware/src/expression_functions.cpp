// The functions of form expressions that work on their arguments' values: text, numbers,
// selections, and dates with ODK's format-date().
#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "expression_internal.hpp"

namespace veld::expr::detail {

namespace {

// The space-separated words of a selection, as ODK splits them (empty words dropped).
std::vector<std::string_view> words(std::string_view list) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < list.size()) {
        while (i < list.size() && list[i] == ' ')
            ++i;
        std::size_t end = list.find(' ', i);
        if (end == std::string_view::npos) end = list.size();
        if (end > i) out.push_back(list.substr(i, end - i));
        i = end;
    }
    return out;
}

bool isXmlSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && isXmlSpace(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && isXmlSpace(s.back()))
        s.remove_suffix(1);
    return s;
}

// A number as ODK's int() takes it for an index: truncated, NaN is 0, clamped to what fits.
long long toIndex(const Value& v) {
    const double x = std::trunc(toNumber(v));
    if (std::isnan(x)) return 0;
    return static_cast<long long>(std::clamp(x, -1e15, 1e15));
}

// Byte offsets where each character of UTF-8 text starts, and the end.
std::vector<std::size_t> characterStarts(std::string_view s) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
    }
    out.push_back(s.size());
    return out;
}

// substr(s, start[, end]): characters start..end-1, 0-based; negative positions count from the
// end; both clamped to the text (ODK).
std::string substring(const std::string& s, const Value& startArg, const Value* endArg) {
    const auto starts = characterStarts(s);
    const auto length = static_cast<long long>(starts.size() - 1);
    long long start = toIndex(startArg);
    long long end = endArg ? toIndex(*endArg) : length;
    if (start < 0) start += length;
    if (end < 0) end += length;
    start = std::clamp(start, 0LL, length);
    end = std::clamp(end, 0LL, length);
    if (start >= end) return {};
    const std::size_t from = starts[static_cast<std::size_t>(start)];
    return s.substr(from, starts[static_cast<std::size_t>(end)] - from);
}

// round(x, digits) as ODK: on the shortest decimal text of x, halves rounded up (towards
// positive infinity); negative digits round to tens, hundreds, ...
double roundTo(double x, double digitsArg) {
    if (std::isnan(x) || std::isinf(x)) return x;
    const int digits = std::isnan(digitsArg)
                           ? 0
                           : static_cast<int>(std::clamp(std::trunc(digitsArg), -1000.0, 1000.0));
    if (digits > 30 || digits < -30) return NAN;
    if (digits < 0) {
        const double scale = std::pow(10.0, -digits);
        return std::floor(x / scale + 0.5) * scale;
    }
    char buf[400];
    const auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed);
    if (r.ec != std::errc()) return x;
    std::string text(buf, r.ptr);
    const bool negative = text[0] == '-';
    if (negative) text.erase(0, 1);
    std::size_t dot = text.find('.');
    if (dot == std::string::npos) {
        dot = text.size();
        text += '.';
    }
    const std::size_t keep = dot + 1 + static_cast<std::size_t>(digits);
    if (keep >= text.size()) return x;  // nothing to cut
    const std::string rest = text.substr(keep);
    text.resize(keep);
    // Magnitude up for positive halves and above; for negative numbers only above a half.
    bool up = rest[0] > '5' || (rest[0] == '5' && !negative);
    if (rest[0] == '5' && negative) up = rest.find_first_not_of('0', 1) != std::string::npos;
    if (up) {
        std::size_t i = text.size();
        bool carry = true;
        while (carry && i > 0) {
            --i;
            if (text[i] == '.') continue;
            if (text[i] == '9') {
                text[i] = '0';
            } else {
                ++text[i];
                carry = false;
            }
        }
        if (carry) text.insert(text.begin(), '1');
    }
    const double magnitude = std::strtod(text.c_str(), nullptr);
    return negative ? -magnitude : magnitude;
}

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr const char* kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

// ODK's format-date(): %Y %y %m %n %b %d %e %H %h %M %S %3 %a; any other character, and a '%'
// before one that is not among these, is copied.
std::string formatDate(const LocalTime& t, std::string_view format) {
    std::int64_t year;
    unsigned month, day;
    civilFromDays(t.days, year, month, day);
    const auto ms = t.msOfDay;
    const long long hour = ms / 3600000, minute = ms / 60000 % 60, second = ms / 1000 % 60,
                    milli = ms % 1000;
    const std::int64_t weekday = ((t.days % 7) + 11) % 7;  // 1970-01-01 was a Thursday
    std::string out;
    auto pad = [&](long long v, int width) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%0*lld", width, v);
        out += buf;
    };
    for (std::size_t i = 0; i < format.size() && out.size() <= kMaxTextBytes; ++i) {
        if (format[i] != '%' || i + 1 == format.size()) {
            out += format[i];
            continue;
        }
        switch (format[++i]) {
            case 'Y':
                pad(year, 4);
                break;
            case 'y':
                pad(((year % 100) + 100) % 100, 2);
                break;
            case 'm':
                pad(month, 2);
                break;
            case 'n':
                pad(month, 1);
                break;
            case 'b':
                out += kMonths[month - 1];
                break;
            case 'd':
                pad(day, 2);
                break;
            case 'e':
                pad(day, 1);
                break;
            case 'H':
                pad(hour, 2);
                break;
            case 'h':
                pad(hour, 1);
                break;
            case 'M':
                pad(minute, 2);
                break;
            case 'S':
                pad(second, 2);
                break;
            case '3':
                pad(milli, 3);
                break;
            case 'a':
                out += kWeekdays[weekday];
                break;
            default:
                out += '%';
                out += format[i];
                break;
        }
    }
    return capText(std::move(out));
}

}  // namespace

Value applyFunction(Fn fn, std::span<const Value> args, const Context& context) {
    switch (fn) {
        case Fn::Selected: {
            // As ODK: the choice looked for is trimmed ('  care ' finds care).
            const std::string list = toText(args[0]);
            const std::string item = std::string(trim(toText(args[1])));
            if (item.empty()) return false;
            for (auto w : words(list)) {
                if (w == item) return true;
            }
            return false;
        }
        case Fn::CountSelected:
            return static_cast<double>(words(toText(args[0])).size());
        case Fn::SelectedAt: {
            const std::string list = toText(args[0]);
            const auto all = words(list);
            const long long i = toIndex(args[1]);
            if (i < 0 || i >= static_cast<long long>(all.size())) return std::string();
            return std::string(all[static_cast<std::size_t>(i)]);
        }
        case Fn::StringLength:
            return static_cast<double>(codePoints(toText(args[0])));
        case Fn::Int:
            return std::trunc(toNumber(args[0]));
        case Fn::Number:
            return toNumber(args[0]);
        case Fn::String:
            return toText(args[0]);
        case Fn::Boolean:
            return toBool(args[0]);
        case Fn::Not:
            return !toBool(args[0]);
        case Fn::True:
            return true;
        case Fn::False:
            return false;
        case Fn::Concat: {
            std::string out;
            for (std::size_t i = 0; i < args.size() && out.size() <= kMaxTextBytes; ++i)
                out += toText(args[i]);
            return capText(std::move(out));
        }
        case Fn::Round:
            return roundTo(toNumber(args[0]), args.size() > 1 ? toNumber(args[1]) : 0.0);
        case Fn::Pow:
            return std::pow(toNumber(args[0]), toNumber(args[1]));
        case Fn::Abs:
            return std::fabs(toNumber(args[0]));
        case Fn::Substr:
            return substring(toText(args[0]), args[1], args.size() > 2 ? &args[2] : nullptr);
        case Fn::Contains:
            return toText(args[0]).find(toText(args[1])) != std::string::npos;
        case Fn::StartsWith:
            return toText(args[0]).starts_with(toText(args[1]));
        case Fn::EndsWith:
            return toText(args[0]).ends_with(toText(args[1]));
        case Fn::NormalizeSpace: {
            std::string out;
            bool space = false;
            const std::string text = toText(args[0]);
            for (char c : trim(text)) {
                if (isXmlSpace(c)) {
                    space = true;
                    continue;
                }
                if (space) out += ' ';
                space = false;
                out += c;
            }
            return out;
        }
        case Fn::Date: {
            // A date from a date, a date-time (its local date), date text or a number of days.
            if (isEmpty(args[0])) return {};
            if (std::holds_alternative<double>(args[0]) || std::holds_alternative<bool>(args[0])) {
                const double days = std::trunc(toNumber(args[0]));
                if (std::isnan(days) || std::fabs(days) > 2147483647.0) return {};
                return expr::Date{static_cast<std::int32_t>(days)};
            }
            auto t = toLocalTime(args[0], context);
            if (!t || t->days < INT32_MIN || t->days > INT32_MAX) return {};
            return expr::Date{static_cast<std::int32_t>(t->days)};
        }
        case Fn::FormatDate:
        case Fn::FormatDateTime: {
            auto t = toLocalTime(args[0], context);
            if (!t) return std::string();
            return formatDate(*t, toText(args[1]));
        }
        case Fn::DecimalDateTime: {
            // Days since 1970-01-01T00:00Z, with the time as a fraction.
            const Value& v = args[0];
            if (std::holds_alternative<double>(v) || isDateLike(v)) return toNumber(v);
            const auto* text = std::get_if<std::string>(&v);
            auto t = text ? parseTextTime(*text) : std::nullopt;
            if (!t) return NAN;
            std::int64_t local = t->days * kMsPerDay + t->msOfDay;
            // Text without an offset is the device's local time, as in ODK.
            const int offset =
                t->offsetMinutes ? *t->offsetMinutes : context.localOffsetMinutes(local);
            return static_cast<double>(local - static_cast<std::int64_t>(offset) * 60000) /
                   kMillisPerDay;
        }
        default:
            break;
    }
    return {};
}

}  // namespace veld::expr::detail
