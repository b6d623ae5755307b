// Internal to the exporters: what SPSS .sav and Stata .dta files allow, shared by the naming of
// their columns (export_statistical_names.cpp, no ReadStat) and the ReadStat writer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <veld/sync/export_table.hpp>

namespace veld::sync::detail::statistical {

enum class Format { Sav, Dta };

/// What a format allows, in bytes.
struct Limits {
    const char* formatName;
    std::size_t nameBytes;           // variable names
    std::size_t labelSetBytes;       // value-label-set names
    std::size_t labelBytes;          // variable labels
    std::size_t fileLabelBytes;      // the file's label
    std::size_t valueLabelBytes;     // one value label's text
    std::size_t maxStringBytes;      // a string variable's width
    std::size_t unknownStringBytes;  // the width when the longest value is unknown
};

// SPSS: names of 64 bytes, variable labels of 256 (what ReadStat writes), a 64-byte file label
// in the header, value labels of 120 bytes. Very long strings may have 32767 bytes, but ReadStat
// names their 252-byte segments with one base-36 digit: past 36 segments (9072 bytes) the names
// repeat, and SPSS and PSPP rename them with a warning. Longer texts are cut there.
inline constexpr Limits kSavLimits{".sav", 64, 64, 256, 64, 120, 36 * 252, 36 * 252};
// Stata 14+ (format 118): names and label names of 32 characters (kept to 32 bytes), labels of
// 80, value labels up to 32000, str# up to 2045 bytes (strL would need every value up front).
inline constexpr Limits kDtaLimits{".dta", 32, 32, 80, 80, 32000, 2045, 2045};

inline const Limits& limitsFor(Format format) {
    return format == Format::Sav ? kSavLimits : kDtaLimits;
}

/// At most `maxBytes` bytes of `text`, cut before a UTF-8 character rather than inside one.
inline std::string truncateUtf8(std::string_view text, std::size_t maxBytes) {
    if (text.size() <= maxBytes) return std::string(text);
    std::size_t cut = maxBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
    return std::string(text.substr(0, cut));
}

// A .sav string longer than this is a "very long string": segments of 252 bytes, each a
// variable of its own in the file's dictionary.
inline constexpr std::size_t kSavShortString = 255;

/// The width a Text column gets: its longest value, at least 1 byte, at most what the format
/// allows (longer values are cut); the format's default when the longest is unknown.
inline std::size_t stringWidth(const ExportColumn& column, const Limits& limits) {
    const std::size_t width =
        column.maxTextBytes == 0 ? limits.unknownStringBytes : column.maxTextBytes;
    return std::clamp<std::size_t>(width, 1, limits.maxStringBytes);
}

/// `bases` made unique (case-insensitively) within `maxBytes`: a clash gets "_2", "_3", ...
std::vector<std::string> uniqueNames(const std::vector<std::string>& bases, std::size_t maxBytes);

}  // namespace veld::sync::detail::statistical
