// The names columns get in .sav and .dta files (export_table.hpp), and the 8-byte names SPSS
// derives from them: no ReadStat here, so every build's codebook names them.
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <veld/sync/export_table.hpp>

#include "export_statistical.hpp"

namespace veld::sync {

using namespace detail::statistical;

namespace {

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool isLetter(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

/// Names SPSS or Stata (or ReadStat's checks of them) refuse, compared case-insensitively.
bool isReservedName(std::string_view name) {
    static const std::array<std::string_view, 22> kReserved{
        // SPSS
        "all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with",
        // Stata
        "byte", "double", "float", "if", "in", "int", "long", "strl", "using"};
    const std::string lower = lowercase(name);
    if (std::find(kReserved.begin(), kReserved.end(), lower) != kReserved.end()) return true;
    // Stata's str1 ... str2045 (ReadStat refuses any name starting "str" and a digit).
    return lower.size() > 3 && lower.compare(0, 3, "str") == 0 && isDigit(lower[3]);
}

/// A name's form before it is made unique: letters, digits and '_' (anything else becomes '_'),
/// starting with a letter ("v_" is put before anything else), not a reserved word.
std::string baseName(const std::string& columnName, std::size_t maxBytes) {
    std::string name = columnName;
    for (auto& c : name)
        if (!isLetter(c) && !isDigit(c) && c != '_') c = '_';
    if (name.empty() || !isLetter(name[0])) name = "v_" + name;
    name.resize(std::min(name.size(), maxBytes));
    if (isReservedName(name)) name = ("v_" + name).substr(0, maxBytes);
    return name;
}

/// ReadStat's 8-byte names for a .sav's dictionary (its sav writer derives them, and they
/// cannot be set): a variable's is the first 8 bytes of its name upper-cased, or "V<n>_A"
/// (n: its place, from 1) when an earlier variable has that one; a very long string's segment
/// s (from 1) is the first 5 bytes of that and s in base 36. Returns the column whose name or
/// segment name clashes with one written before it, if any.
std::optional<std::size_t> firstShortNameClash(const std::vector<std::string>& names,
                                               const std::vector<std::size_t>& widths) {
    std::unordered_set<std::string> bases;
    std::unordered_set<std::string> all;
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::string shortName = names[i].substr(0, 8);
        for (auto& c : shortName)
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (!bases.insert(shortName).second) {
            shortName = "V" + std::to_string((i + 1) % 100000) + "_A";
            bases.insert(shortName);
        }
        if (!all.insert(shortName).second) return i;
        if (widths[i] <= kSavShortString) continue;
        const std::size_t segments = (widths[i] + 251) / 252;
        const std::string stem = shortName.substr(0, 5);
        for (std::size_t s = 1; s < segments; ++s) {
            const std::size_t digit = s % 36;
            const char c = static_cast<char>(digit < 10 ? '0' + digit : 'A' + (digit - 10));
            if (!all.insert(stem + c).second) return i;
        }
    }
    return std::nullopt;
}

}  // namespace

/// Makes `bases` unique case-insensitively within `maxBytes`: names that are free keep their
/// form (first come, first served), the others get "_2", "_3", ... in column order.
std::vector<std::string> detail::statistical::uniqueNames(const std::vector<std::string>& bases,
                                                          std::size_t maxBytes) {
    std::vector<std::string> out(bases.size());
    std::unordered_set<std::string> taken;
    std::vector<bool> done(bases.size(), false);
    for (std::size_t i = 0; i < bases.size(); ++i) {
        if (taken.insert(lowercase(bases[i])).second) {
            out[i] = bases[i];
            done[i] = true;
        }
    }
    for (std::size_t i = 0; i < bases.size(); ++i) {
        if (done[i]) continue;
        for (std::size_t n = 2;; ++n) {
            const std::string suffix = "_" + std::to_string(n);
            const std::size_t keep = maxBytes > suffix.size() ? maxBytes - suffix.size() : 0;
            std::string candidate = bases[i].substr(0, keep) + suffix;
            if (isReservedName(candidate) || !isLetter(candidate[0])) continue;
            if (taken.insert(lowercase(candidate)).second) {
                out[i] = std::move(candidate);
                break;
            }
        }
    }
    return out;
}

std::vector<std::string> statisticalNames(const std::vector<ExportColumn>& columns,
                                          StatisticalFormat format) {
    const std::size_t maxBytes = format == StatisticalFormat::Sav ? 64 : 32;
    std::vector<std::string> bases;
    bases.reserve(columns.size());
    for (const auto& column : columns)
        bases.push_back(baseName(column.name, maxBytes));
    std::vector<std::string> names = uniqueNames(bases, maxBytes);
    if (format == StatisticalFormat::Dta) return names;

    // A .sav also names every variable, and every segment of a very long string, in 8 bytes.
    std::vector<std::size_t> widths;
    widths.reserve(columns.size());
    for (const auto& column : columns)
        widths.push_back(column.type == ColumnType::Text ? stringWidth(column, kSavLimits) : 0);
    std::unordered_set<std::string> taken;
    for (const auto& name : names)
        taken.insert(lowercase(name));
    int prefix = 0;
    // Each round renames one column for good, so it ends within a round per column.
    for (std::size_t round = 0; round <= columns.size(); ++round) {
        const std::optional<std::size_t> clash = firstShortNameClash(names, widths);
        if (!clash) break;
        std::vector<std::string> trial = names;
        for (int tries = 0; tries < 1000; ++tries) {
            char tag[16];
            std::snprintf(tag, sizeof tag, "s%03d_", ++prefix);
            trial[*clash] = tag + bases[*clash].substr(0, maxBytes - std::strlen(tag));
            if (taken.count(lowercase(trial[*clash])) == 0 &&
                firstShortNameClash(trial, widths) != clash)
                break;
        }
        taken.insert(lowercase(trial[*clash]));
        names = std::move(trial);
    }
    return names;
}

}  // namespace veld::sync
