// Pseudonymous identifiers: a person's number (a BSN, a pupil number, an employee number) is
// checked and normalised on the device, then replaced by a keyed hash. Only the hash, the key's
// id and the scheme are stored in a record; the number itself never is.
//
// The same person gives the same digest on every device that holds the same key, so central
// staff can link records about one person without ever seeing the number. Without the key a
// digest cannot be tested against guessed numbers (a BSN has only about 10^8 valid values, so an
// unkeyed hash would be reversed in seconds).
//
// Thread-safety: every function may be called from any thread. Errors are InvalidArgument with a
// short English message that never repeats what was typed or the key.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <veld/fb/form_generated.h>
#include <veld/record.hpp>
#include <veld/result.hpp>

namespace veld::pseudonym {

/// Bytes in a digest (BLAKE2b-256) and in a key.
inline constexpr std::size_t kDigestBytes = 32;
inline constexpr std::size_t kKeyBytes = 32;
/// Key ids: 1 to 64 characters from [A-Za-z0-9._-].
inline constexpr std::size_t kMaxKeyIdLength = 64;
/// Limits on normalised text.
inline constexpr std::size_t kMaxPupilNumberChars = 32;
inline constexpr std::size_t kMaxOtherBytes = 128;
/// The store setting that holds the device's key, in formatKey()'s text form.
inline constexpr std::string_view kKeySetting = "pseudonym.key";

/// Dutch BSN eleven-test: exactly 9 digits (8 digits are read with a leading zero), weights
/// 9, 8, ..., 2 and -1, the sum divisible by 11, not all zeros. No separators: see normalize().
bool bsnValid(std::string_view digits);

/// Normalises what was typed, so that the same person always gives the same text:
/// - Bsn: spaces, dots and dashes removed; must pass the eleven-test; 9 digits.
/// - SchoolPupil: `secondary` is the school's BRIN code (4 letters or digits, upper-cased),
///   `primary` the pupil number (trimmed, 1 to 32 characters); the result is "BRIN:NUMBER".
/// - Other: trimmed, ASCII letters lower-cased, 1 to 128 bytes.
/// Text must be UTF-8 without control characters. `secondary` is only for SchoolPupil.
Result<std::string> normalize(fb::IdentifierScheme scheme, std::string_view primary,
                              std::string_view secondary = {});

/// A pseudonym key: the secret shared by the devices of a project, and the id records name it by.
struct Key {
    std::string id;
    std::array<std::uint8_t, kKeyBytes> bytes{};
};

/// The answer to a pseudonym question: BLAKE2b-256 keyed with `key.bytes` over the domain tag
/// "veld-pseudonym-v1", the scheme's name and `normalized`, each preceded by its length as a
/// 4-byte big-endian number. `normalized` must come from normalize() with the same scheme.
/// Deterministic: the same key, scheme and text give the same digest on every device.
PseudonymAnswer make(const Key& key, fb::IdentifierScheme scheme, std::string_view normalized);

/// "bsn", "school_pupil", "other" (stored in PseudonymAnswer::scheme); empty for None.
std::string_view schemeName(fb::IdentifierScheme scheme);

/// "KEYID:" followed by the key as 64 lower-case hex digits.
std::string formatKey(const Key& key);
/// Reads formatKey()'s form; anything else (a bad id, a wrong length, non-hex digits, spaces, an
/// all-zero key) is refused.
Result<Key> parseKey(std::string_view text);
/// A new key of random bytes (libsodium's generator). `id` must be a valid key id.
Key newKey(std::string id);

/// Whether `id` is a valid key id.
bool validKeyId(std::string_view id);

}  // namespace veld::pseudonym
