#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include <sodium.h>

#include <veld/hex.hpp>
#include <veld/pseudonym.hpp>

namespace veld::pseudonym {

namespace {

constexpr std::string_view kDomainTag = "veld-pseudonym-v1";

static_assert(kDigestBytes >= crypto_generichash_BYTES_MIN &&
              kDigestBytes <= crypto_generichash_BYTES_MAX);
static_assert(kKeyBytes >= crypto_generichash_KEYBYTES_MIN &&
              kKeyBytes <= crypto_generichash_KEYBYTES_MAX);

// libsodium must be initialised once before use; a function-local static makes that thread-safe.
// It fails only when the system has no source of randomness, and then no key can be made safely.
void ensureSodium() {
    static const bool ready = sodium_init() >= 0;
    if (!ready) {
        std::fputs("veld: libsodium could not be initialised (no source of randomness)\n", stderr);
        std::abort();
    }
}

Error invalid(std::string message) {
    return makeError(ErrorCode::InvalidArgument, std::move(message));
}

bool isAsciiSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

bool isAsciiAlnum(char c) {
    return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char asciiLower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

char asciiUpper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && isAsciiSpace(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && isAsciiSpace(s.back()))
        s.remove_suffix(1);
    return s;
}

// The number of characters in `s` when it is well-formed UTF-8 (no overlong forms, surrogates or
// values beyond U+10FFFF) without control characters (C0, DEL, C1); nullopt otherwise.
std::optional<std::size_t> printableChars(std::string_view s) {
    std::size_t count = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        auto b = static_cast<unsigned char>(s[i]);
        std::uint32_t cp = 0;
        std::size_t len = 0;
        if (b < 0x80) {
            cp = b;
            len = 1;
        } else if (b >= 0xC2 && b <= 0xDF) {
            cp = b & 0x1Fu;
            len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            cp = b & 0x0Fu;
            len = 3;
        } else if (b >= 0xF0 && b <= 0xF4) {
            cp = b & 0x07u;
            len = 4;
        } else {
            return std::nullopt;
        }
        if (i + len > s.size()) return std::nullopt;
        for (std::size_t k = 1; k < len; ++k) {
            auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return std::nullopt;
            cp = (cp << 6) | (c & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return std::nullopt;
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return std::nullopt;
        i += len;
        ++count;
    }
    return count;
}

Result<std::string> normalizeBsn(std::string_view primary) {
    std::string digits;
    for (char c : primary) {
        if (c == ' ' || c == '.' || c == '-') continue;
        if (!isDigit(c)) return invalid("a BSN has only digits");
        digits.push_back(c);
        if (digits.size() > 9) return invalid("a BSN has 9 digits");
    }
    if (digits.size() < 8) return invalid("a BSN has 9 digits");
    if (!bsnValid(digits)) return invalid("this is not a valid BSN (it fails the eleven-test)");
    if (digits.size() == 8) digits.insert(digits.begin(), '0');
    return digits;
}

Result<std::string> normalizeSchoolPupil(std::string_view primary, std::string_view secondary) {
    std::string_view school = trim(secondary);
    if (school.size() != 4 || !std::all_of(school.begin(), school.end(), isAsciiAlnum))
        return invalid("a school code (BRIN) has 4 letters or digits");
    std::string_view pupil = trim(primary);
    if (pupil.empty()) return invalid("the pupil number is empty");
    auto chars = printableChars(pupil);
    if (!chars) return invalid("the pupil number holds characters that are not allowed");
    if (*chars > kMaxPupilNumberChars)
        return invalid("a pupil number has at most " + std::to_string(kMaxPupilNumberChars) +
                       " characters");
    std::string out;
    out.reserve(school.size() + 1 + pupil.size());
    for (char c : school)
        out.push_back(asciiUpper(c));
    out.push_back(':');
    out.append(pupil);
    return out;
}

Result<std::string> normalizeOther(std::string_view primary) {
    std::string_view text = trim(primary);
    if (text.empty()) return invalid("the identifier is empty");
    if (text.size() > kMaxOtherBytes)
        return invalid("the identifier is too long (at most " + std::to_string(kMaxOtherBytes) +
                       " bytes)");
    if (!printableChars(text))
        return invalid("the identifier holds characters that are not allowed");
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), asciiLower);
    return out;
}

void appendField(std::vector<std::uint8_t>& out, std::string_view field) {
    auto n = static_cast<std::uint32_t>(field.size());
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<std::uint8_t>((n >> shift) & 0xFFu));
    out.insert(out.end(), field.begin(), field.end());
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

bool bsnValid(std::string_view digits) {
    if (digits.size() != 8 && digits.size() != 9) return false;
    if (!std::all_of(digits.begin(), digits.end(), isDigit)) return false;
    std::string nine = digits.size() == 8 ? "0" + std::string(digits) : std::string(digits);
    int sum = 0;
    for (std::size_t i = 0; i < 8; ++i)
        sum += (9 - static_cast<int>(i)) * (nine[i] - '0');
    sum -= nine[8] - '0';
    bool allZero = std::all_of(nine.begin(), nine.end(), [](char c) { return c == '0'; });
    return !allZero && sum % 11 == 0;
}

Result<std::string> normalize(fb::IdentifierScheme scheme, std::string_view primary,
                              std::string_view secondary) {
    if (scheme != fb::IdentifierScheme::SchoolPupil && !trim(secondary).empty())
        return invalid("only a pupil number takes a school code");
    switch (scheme) {
        case fb::IdentifierScheme::Bsn:
            return normalizeBsn(primary);
        case fb::IdentifierScheme::SchoolPupil:
            return normalizeSchoolPupil(primary, secondary);
        case fb::IdentifierScheme::Other:
            return normalizeOther(primary);
        case fb::IdentifierScheme::None:
            break;
    }
    return invalid("not an identifier scheme");
}

std::string_view schemeName(fb::IdentifierScheme scheme) {
    switch (scheme) {
        case fb::IdentifierScheme::Bsn:
            return "bsn";
        case fb::IdentifierScheme::SchoolPupil:
            return "school_pupil";
        case fb::IdentifierScheme::Other:
            return "other";
        case fb::IdentifierScheme::None:
            break;
    }
    return {};
}

PseudonymAnswer make(const Key& key, fb::IdentifierScheme scheme, std::string_view normalized) {
    ensureSodium();
    assert(validKeyId(key.id) && "make() needs a key with a valid id");
    assert(!schemeName(scheme).empty() && "make() needs an identifier scheme");
    std::vector<std::uint8_t> message;
    message.reserve(12 + kDomainTag.size() + 16 + normalized.size());
    appendField(message, kDomainTag);
    appendField(message, schemeName(scheme));
    appendField(message, normalized);
    PseudonymAnswer out;
    out.digest.resize(kDigestBytes);
    int rc = crypto_generichash(out.digest.data(), out.digest.size(), message.data(),
                                message.size(), key.bytes.data(), key.bytes.size());
    assert(rc == 0);
    (void)rc;
    // The message holds the identifier: do not leave it in freed memory.
    sodium_memzero(message.data(), message.size());
    out.keyId = key.id;
    out.scheme = std::string(schemeName(scheme));
    return out;
}

bool validKeyId(std::string_view id) {
    return !id.empty() && id.size() <= kMaxKeyIdLength &&
           std::all_of(id.begin(), id.end(),
                       [](char c) { return isAsciiAlnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string formatKey(const Key& key) {
    return key.id + ":" + toHex(key.bytes);
}

Result<Key> parseKey(std::string_view text) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return invalid("a pseudonym key is written KEYID:HEX");
    Key key;
    key.id = std::string(text.substr(0, colon));
    if (!validKeyId(key.id))
        return invalid("a pseudonym key id has 1 to 64 letters, digits, '.', '_' or '-'");
    std::string_view hex = text.substr(colon + 1);
    if (hex.size() != 2 * kKeyBytes)
        return invalid("a pseudonym key has " + std::to_string(2 * kKeyBytes) + " hex digits");
    bool zero = true;
    for (std::size_t i = 0; i < kKeyBytes; ++i) {
        int hi = hexValue(hex[2 * i]);
        int lo = hexValue(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return invalid("a pseudonym key has only hex digits after the id");
        key.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
        zero = zero && key.bytes[i] == 0;
    }
    if (zero) return invalid("a pseudonym key of all zeros is not a key");
    return key;
}

Key newKey(std::string id) {
    ensureSodium();
    assert(validKeyId(id) && "newKey() needs a valid key id");
    Key key;
    key.id = std::move(id);
    randombytes_buf(key.bytes.data(), key.bytes.size());
    return key;
}

}  // namespace veld::pseudonym
