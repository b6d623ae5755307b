#include "text.hpp"

#include <algorithm>

#include <fribidi.h>

namespace veld::client::text {

std::u32string decodeUtf8(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        char32_t cp = 0xFFFD;
        std::size_t len = 1;
        if (c < 0x80) {
            cp = c;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
        }
        if (len > 1) {
            if (i + len > s.size()) {
                len = 1;
            } else {
                char32_t v = c & (0x7Fu >> len);
                bool ok = true;
                for (std::size_t k = 1; k < len; ++k) {
                    const auto cc = static_cast<unsigned char>(s[i + k]);
                    if ((cc & 0xC0) != 0x80) {
                        ok = false;
                        break;
                    }
                    v = (v << 6) | (cc & 0x3Fu);
                }
                const char32_t minimum = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
                if (ok && v >= minimum && v <= 0x10FFFF && (v < 0xD800 || v > 0xDFFF)) {
                    cp = v;
                } else {
                    len = 1;
                }
            }
        }
        out.push_back(cp);
        i += len;
    }
    return out;
}

std::string encodeUtf8(std::u32string_view cps) {
    std::string out;
    out.reserve(cps.size());
    for (char32_t c : cps) {
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
        } else if (c < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else if (c < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (c >> 12)));
            out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (c >> 18)));
            out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
    return out;
}

bool hasRtl(std::string_view utf8) {
    // Fast path: pure ASCII has no RTL characters.
    if (std::all_of(utf8.begin(), utf8.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
        return false;
    }
    for (char32_t c : decodeUtf8(utf8)) {
        if (FRIBIDI_IS_RTL(fribidi_get_bidi_type(c)) &&
            FRIBIDI_IS_LETTER(fribidi_get_bidi_type(c))) {
            return true;
        }
    }
    return false;
}

std::string visualLine(std::string_view logical, bool rtlBase) {
    if (!rtlBase && !hasRtl(logical)) return std::string(logical);
    std::u32string in = decodeUtf8(logical);
    if (in.empty()) return {};
    std::vector<FriBidiChar> src(in.begin(), in.end());
    std::vector<FriBidiChar> vis(src.size() + 1, 0);
    FriBidiParType base = rtlBase ? FRIBIDI_PAR_RTL : FRIBIDI_PAR_LTR;
    // fribidi_log2vis reorders and applies Arabic joining and ligatures (shaping flags on by
    // default).
    const FriBidiLevel level = fribidi_log2vis(src.data(), static_cast<FriBidiStrIndex>(src.size()),
                                               &base, vis.data(), nullptr, nullptr, nullptr);
    if (level == 0) return std::string(logical);
    std::u32string out;
    out.reserve(src.size());
    for (std::size_t i = 0; i < src.size(); ++i) {
        const char32_t c = vis[i];
        // Shaping can leave zero-width joiners and deleted-character marks behind; drop them.
        if (c == 0xFEFF || c == 0x200D || c == 0x200C || c == 0x200E || c == 0x200F) continue;
        out.push_back(c);
    }
    return encodeUtf8(out);
}

std::vector<BidiRun> visualRuns(std::u32string_view line, bool rtlBase) {
    std::vector<BidiRun> runs;
    const auto len = static_cast<FriBidiStrIndex>(line.size());
    if (len == 0) return runs;
    std::vector<FriBidiChar> chars(line.begin(), line.end());
    std::vector<FriBidiCharType> types(line.size());
    std::vector<FriBidiBracketType> brackets(line.size());
    std::vector<FriBidiLevel> levels(line.size());
    fribidi_get_bidi_types(chars.data(), len, types.data());
    fribidi_get_bracket_types(chars.data(), len, types.data(), brackets.data());
    FriBidiParType base = rtlBase ? FRIBIDI_PAR_RTL : FRIBIDI_PAR_LTR;
    const int baseLevel = rtlBase ? 1 : 0;
    if (fribidi_get_par_embedding_levels_ex(types.data(), brackets.data(), len, &base,
                                            levels.data()) == 0) {
        runs.push_back({0, line.size(), baseLevel});
        return runs;
    }
    // L1: whitespace (and isolates, format characters) at the end of the line take the
    // paragraph's level.
    for (std::size_t i = line.size(); i-- > 0;) {
        if (!FRIBIDI_IS_EXPLICIT_OR_BN_OR_WS(types[i]) && !FRIBIDI_IS_ISOLATE(types[i])) break;
        levels[i] = static_cast<FriBidiLevel>(baseLevel);
    }
    // L2: from the highest level down to the lowest odd one, reverse every sequence at that
    // level or higher.
    std::vector<std::size_t> order(line.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    int highest = 0;
    int lowestOdd = 255;
    for (auto l : levels) {
        highest = std::max<int>(highest, l);
        if (l & 1) lowestOdd = std::min<int>(lowestOdd, l);
    }
    for (int level = highest; level >= lowestOdd && level > 0; --level) {
        std::size_t i = 0;
        while (i < order.size()) {
            if (levels[order[i]] < level) {
                ++i;
                continue;
            }
            std::size_t j = i;
            while (j < order.size() && levels[order[j]] >= level)
                ++j;
            std::reverse(order.begin() + static_cast<std::ptrdiff_t>(i),
                         order.begin() + static_cast<std::ptrdiff_t>(j));
            i = j;
        }
    }
    // Visual positions with the same level and consecutive logical indices form one run.
    std::size_t i = 0;
    while (i < order.size()) {
        const int level = levels[order[i]];
        const bool rtl = (level & 1) != 0;
        std::size_t j = i + 1;
        while (j < order.size() && levels[order[j]] == level &&
               order[j] == (rtl ? order[j - 1] - 1 : order[j - 1] + 1))
            ++j;
        const std::size_t a = rtl ? order[j - 1] : order[i];
        const std::size_t b = (rtl ? order[i] : order[j - 1]) + 1;
        runs.push_back({a, b, level});
        i = j;
    }
    return runs;
}

std::vector<std::string> wrapLogical(std::string_view text, float width,
                                     const std::function<float(std::string_view)>& measure) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t nl = text.find('\n', start);
        const std::string_view para =
            text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        std::string current;
        std::size_t pos = 0;
        while (pos < para.size()) {
            std::size_t end = para.find(' ', pos);
            if (end == std::string_view::npos) end = para.size();
            const std::string_view word = para.substr(pos, end - pos);
            std::string candidate =
                current.empty() ? std::string(word) : current + " " + std::string(word);
            if (current.empty() || measure(candidate) <= width) {
                current = std::move(candidate);
            } else {
                lines.push_back(std::move(current));
                current = std::string(word);
            }
            // A single word wider than the line is cut by characters.
            while (measure(current) > width && current.size() > 1) {
                std::u32string cps = decodeUtf8(current);
                std::size_t keep = cps.size();
                while (keep > 1 && measure(encodeUtf8(cps.substr(0, keep))) > width)
                    --keep;
                lines.push_back(encodeUtf8(cps.substr(0, keep)));
                current = encodeUtf8(cps.substr(keep));
            }
            pos = end + 1;
        }
        lines.push_back(std::move(current));
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    return lines;
}

std::string truncateUtf8(std::string_view utf8, std::size_t maxBytes) {
    if (utf8.size() <= maxBytes) return std::string(utf8);
    std::size_t cut = maxBytes;
    while (cut > 0 && (static_cast<unsigned char>(utf8[cut]) & 0xC0) == 0x80)
        --cut;
    return std::string(utf8.substr(0, cut));
}

}  // namespace veld::client::text
