// Cases as plain values (veld/case.hpp).
#include <algorithm>

#include <veld/case.hpp>
#include <veld/record.hpp>

namespace veld {

std::string CaseInfo::property(std::string_view name) const {
    auto it =
        std::lower_bound(properties.begin(), properties.end(), name,
                         [](const CaseProperty& p, std::string_view n) { return p.name < n; });
    if (it != properties.end() && it->name == name) return it->value;
    return {};
}

std::optional<std::int32_t> CaseInfo::nextContactDays() const {
    const std::string text = property(kCaseNextContactProperty);
    // Exactly yyyy-mm-dd, a real date: the same rule the case list sorts by (SQLite's date()).
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
    auto digits = [&](std::size_t from, std::size_t n) -> int {
        int v = 0;
        for (std::size_t i = from; i < from + n; ++i) {
            if (text[i] < '0' || text[i] > '9') return -1;
            v = v * 10 + (text[i] - '0');
        }
        return v;
    };
    const int y = digits(0, 4), m = digits(5, 2), d = digits(8, 2);
    if (y < 0 || m < 1 || m > 12 || d < 1) return std::nullopt;
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) return std::nullopt;
    // Days from civil (H. Hinnant's algorithm).
    const int yy = y - (m <= 2 ? 1 : 0);
    const int era = yy / 400;
    const int yoe = yy - era * 400;
    const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

}  // namespace veld
