#include "vocabulary.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace veld::xlsform::vocab {

namespace {

constexpr std::array kSurveyColumns = {kType,        kName,         kLabel,
                                       kHint,        kRequired,     kRequiredMessage,
                                       kRelevant,    kConstraint,   kConstraintMessage,
                                       kCalculation, kDefault,      kReadOnly,
                                       kAppearance,  kChoiceFilter, kParameters,
                                       kRepeatCount};

constexpr std::array kSurveyExtensionColumns = {
    kMinValue,         kMaxValue, kMaxLength, kPattern,      kIdentifying,
    kIdentifierScheme, kMinCount, kMaxCount,  kCaseProperty, kHidden};

constexpr std::array<std::string_view, 10> kMetadataTypes = {
    "start", "end",       "today",        "deviceid",    "username",
    "audit", "simserial", "subscriberid", "phonenumber", "email"};

constexpr std::array<std::string_view, 18> kUnsupportedTypes = {"geopoint",
                                                                "geotrace",
                                                                "geoshape",
                                                                "image",
                                                                "audio",
                                                                "video",
                                                                "file",
                                                                "barcode",
                                                                "rank",
                                                                "background-audio",
                                                                "xml-external",
                                                                "csv-external",
                                                                "select_one_from_file",
                                                                "select_multiple_from_file",
                                                                "start-geopoint",
                                                                "osm",
                                                                "background-geopoint",
                                                                "trigger"};

constexpr std::array<std::string_view, 10> kRtlSubtags = {"ar", "fa", "he",  "ur", "ps",
                                                          "yi", "dv", "ckb", "sd", "ug"};

// The languages Veld's pilots meet, and their neighbours. `other` is the label of an or_other
// choice.
constexpr std::array<LanguageInfo, 21> kLanguages = {{
    {"nl", "Nederlands", "Dutch", "Anders"},
    {"en", "English", "English", "Other"},
    {"tr", "Türkçe", "Turkish", "Diğer"},
    {"ar", "العربية", "Arabic", "أخرى"},
    {"pl", "Polski", "Polish", "Inne"},
    {"ti", "ትግርኛ", "Tigrinya", "ካልእ"},
    {"so", "Soomaali", "Somali", "Kale"},
    {"de", "Deutsch", "German", "Anders"},
    {"fr", "Français", "French", "Autre"},
    {"es", "Español", "Spanish", "Otro"},
    {"pt", "Português", "Portuguese", "Outro"},
    {"fa", "فارسی", "Persian", "دیگر"},
    {"prs", "دری", "Dari", "دیگر"},
    {"ps", "پښتو", "Pashto", "نور"},
    {"uk", "Українська", "Ukrainian", "Інше"},
    {"ru", "Русский", "Russian", "Другое"},
    {"ro", "Română", "Romanian", "Altele"},
    {"bg", "Български", "Bulgarian", "Друго"},
    {"am", "አማርኛ", "Amharic", "ሌላ"},
    {"ku", "Kurdî", "Kurdish", "Yên din"},
    {"pap", "Papiamentu", "Papiamento", "Otro"},
}};

bool digitsOnly(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint64_t> toNumber(std::string_view s) {
    if (!digitsOnly(s) || s.size() > 19) return std::nullopt;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

Error versionError(std::string_view text) {
    return makeError(
        ErrorCode::InvalidArgument,
        "version '" + std::string(text) + "' is not a number, a date or MAJOR.MINOR.PATCH");
}

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& words, std::string_view word) {
    return std::any_of(words.begin(), words.end(),
                       [&](std::string_view w) { return equalsIgnoreCase(w, word); });
}

}  // namespace

std::span<const std::string_view> surveyColumns() {
    return kSurveyColumns;
}

std::span<const std::string_view> surveyExtensionColumns() {
    return kSurveyExtensionColumns;
}

bool isMediaColumn(std::string_view header) {
    const std::string h = lower(trim(header));
    return h == "image" || h == "audio" || h == "video" || h == "big-image" ||
           h.starts_with("media::") || h.starts_with("image::") || h.starts_with("audio::") ||
           h.starts_with("video::") || h.starts_with("big-image::");
}

std::string_view withoutMediaPrefix(std::string_view header) {
    const auto t = trim(header);
    if (t.size() > 7 && equalsIgnoreCase(t.substr(0, 7), "media::")) {
        const auto rest = t.substr(7);
        const auto sep = rest.find("::");
        const auto column = lower(trim(rest.substr(0, sep)));
        if (column == kAudio || column == kImageColumn) return rest;
    }
    return header;
}

std::string mediaHeader(std::string_view column, std::string_view name, std::string_view tag) {
    return "media::" + languageHeader(column, name, tag);
}

bool isTranslatable(std::string_view sheet, std::string_view column) {
    if (equalsIgnoreCase(sheet, kSurveySheet))
        return column == kLabel || column == kHint || column == kConstraintMessage ||
               column == kRequiredMessage || column == kAudio || column == kImageColumn;
    if (equalsIgnoreCase(sheet, kChoicesSheet))
        return column == kLabel || column == kAudio || column == kImageColumn;
    if (equalsIgnoreCase(sheet, kSettingsSheet))
        return column == kFormTitle || column == kDescription;
    return false;
}

bool isMetadataType(std::string_view word) {
    return contains(kMetadataTypes, word);
}

bool isUnsupportedType(std::string_view word) {
    return contains(kUnsupportedTypes, word);
}

std::optional<bool> parseYesNo(std::string_view text) {
    const std::string t = lower(trim(text));
    if (t == "yes" || t == "true" || t == "true()" || t == "1") return true;
    if (t.empty() || t == "no" || t == "false" || t == "false()" || t == "0") return false;
    return std::nullopt;
}

std::optional<std::string_view> identifierSchemeFromWord(std::string_view word) {
    const std::string w = lower(trim(word));
    if (w == "bsn") return "Bsn";
    if (w == "school_pupil") return "SchoolPupil";
    if (w == "other") return "Other";
    return std::nullopt;
}

std::optional<std::string_view> identifierSchemeWord(std::string_view jsonName) {
    if (jsonName == "Bsn") return "bsn";
    if (jsonName == "SchoolPupil") return "school_pupil";
    if (jsonName == "Other") return "other";
    return std::nullopt;
}

std::optional<std::string_view> caseActionFromWord(std::string_view word) {
    const std::string w = lower(trim(word));
    if (w == "open") return "Open";
    if (w == "follow_up") return "FollowUp";
    if (w == "close") return "Close";
    return std::nullopt;
}

std::optional<std::string_view> caseActionWord(std::string_view jsonName) {
    if (jsonName == "Open") return "open";
    if (jsonName == "FollowUp") return "follow_up";
    if (jsonName == "Close") return "close";
    return std::nullopt;
}

const LanguageInfo* languageByTag(std::string_view tag) {
    for (const auto& l : kLanguages) {
        if (equalsIgnoreCase(l.tag, tag)) return &l;
    }
    return nullptr;
}

const LanguageInfo* languageByName(std::string_view name) {
    for (const auto& l : kLanguages) {
        if (equalsIgnoreCase(l.name, name) || equalsIgnoreCase(l.english, name)) return &l;
    }
    return nullptr;
}

bool isRtlTag(std::string_view tag) {
    const std::string primary = lower(tag.substr(0, tag.find('-')));
    return std::find(kRtlSubtags.begin(), kRtlSubtags.end(), primary) != kRtlSubtags.end();
}

std::string_view otherLabel(std::string_view tag) {
    if (const auto* l = languageByTag(tag)) return l->other;
    if (const auto* l = languageByTag(tag.substr(0, tag.find('-')))) return l->other;
    return "Other";
}

Header splitHeader(std::string_view header) {
    const auto sep = header.find("::");
    if (sep == std::string_view::npos) return {lower(trim(header)), {}};
    return {lower(trim(header.substr(0, sep))), std::string(trim(header.substr(sep + 2)))};
}

Result<LanguageSpec> parseLanguageSpec(std::string_view text, std::string_view column) {
    const std::string_view t = trim(text);
    // "Nederlands (nl)": a name and a tag in parentheses.
    if (const auto open = t.rfind('('); open != std::string_view::npos && t.ends_with(')')) {
        const std::string_view tag = trim(t.substr(open + 1, t.size() - open - 2));
        std::string_view name = trim(t.substr(0, open));
        if (!tag.empty()) {
            LanguageSpec spec{std::string(tag), std::string(name)};
            if (name.empty()) {
                const auto* known = languageByTag(tag);
                spec.name = known ? std::string(known->name) : std::string(tag);
            }
            return spec;
        }
    }
    // A bare tag from the table ("nl"), or a name from the table ("English", "Nederlands").
    if (const auto* l = languageByTag(t))
        return LanguageSpec{std::string(l->tag), std::string(l->name)};
    if (const auto* l = languageByName(t))
        return LanguageSpec{std::string(l->tag), std::string(l->name)};
    // Something shaped like a tag (2-3 letters, maybe subtags): the tag is its own name.
    const std::string_view primary = t.substr(0, t.find('-'));
    if (primary.size() >= 2 && primary.size() <= 3 &&
        std::all_of(primary.begin(), primary.end(),
                    [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }))
        return LanguageSpec{std::string(t), std::string(t)};
    return makeError(ErrorCode::InvalidArgument,
                     "say which language: " + std::string(column) + "::" + std::string(t) +
                         " (tag), for example " + std::string(column) + "::English (en)");
}

std::string languageHeader(std::string_view column, std::string_view name, std::string_view tag) {
    std::string out(column);
    out += "::";
    out += name.empty() ? tag : name;
    out += " (";
    out += tag;
    out += ")";
    return out;
}

Result<Version> parseVersion(std::string_view text) {
    const std::string_view t = trim(text);
    constexpr std::uint64_t kMax = 0xffffffffULL;
    Version v;
    if (digitsOnly(t)) {
        const auto n = toNumber(t);
        if (!n || *n == 0 || *n > kMax) return versionError(t);
        v.number = static_cast<std::uint32_t>(*n);
        if (std::to_string(v.number) != t) v.label = std::string(t);
        return v;
    }
    v.label = std::string(t);
    // YYYY-MM-DD[.N]
    if (t.size() >= 10 && t[4] == '-' && t[7] == '-' && digitsOnly(t.substr(0, 4)) &&
        digitsOnly(t.substr(5, 2)) && digitsOnly(t.substr(8, 2))) {
        const std::uint64_t year = *toNumber(t.substr(0, 4));
        const std::uint64_t month = *toNumber(t.substr(5, 2));
        const std::uint64_t day = *toNumber(t.substr(8, 2));
        std::uint64_t revision = 0;
        if (t.size() > 10) {
            if (t[10] != '.') return versionError(t);
            const auto r = toNumber(t.substr(11));
            if (!r || *r >= 100) return versionError(t);
            revision = *r;
        }
        if (month < 1 || month > 12 || day < 1 || day > 31) return versionError(t);
        const std::uint64_t n = (year * 10000 + month * 100 + day) * 100 + revision;
        if (n == 0 || n > kMax) return versionError(t);
        v.number = static_cast<std::uint32_t>(n);
        return v;
    }
    // MAJOR.MINOR[.PATCH]
    std::uint64_t parts[3] = {0, 0, 0};
    std::size_t count = 0;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = t.find('.', start);
        const std::string_view part =
            t.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        const auto n = toNumber(part);
        if (!n || count == 3 || *n >= 1000) return versionError(t);
        parts[count++] = *n;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    if (count < 2) return versionError(t);
    const std::uint64_t n = parts[0] * 1000000 + parts[1] * 1000 + parts[2];
    if (n == 0 || n > kMax) return versionError(t);
    v.number = static_cast<std::uint32_t>(n);
    return v;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string_view trim(std::string_view text) {
    constexpr std::string_view kSpace = " \t\r\n\v\f";
    const auto first = text.find_first_not_of(kSpace);
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(kSpace);
    return text.substr(first, last - first + 1);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

}  // namespace veld::xlsform::vocab
