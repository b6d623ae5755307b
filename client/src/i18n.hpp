// The one translation table of the client's own strings (form texts come from the form). The UI
// is Dutch first, then English; strings a kiosk respondent sees also exist in the pilots' other
// languages and fall back to English. Every entry is in messages.def.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace veld::client {

enum class M : std::uint16_t {
#define VELD_MSG(id, nl, en) id,
#define VELD_MSG_EXTRA(id, lang, text)
#include "messages.def"
#undef VELD_MSG
#undef VELD_MSG_EXTRA
    Count_
};

/// The text of `m` in `language` ("nl", "en", or for kiosk strings a form language); falls back
/// to English, then Dutch.
std::string_view tr(M m, std::string_view language);

/// The name of a pilot (by the form's `pilot` field) in `language`: a known pilot's translated
/// name, else the field itself ("other forms" when empty).
std::string pilotName(std::string_view pilot, std::string_view language);

/// Replaces each "{}" in `pattern` by the next argument. Punctuation is not doubled where an
/// argument ends a sentence or a label itself: "{}." with "Mislukt." gives "Mislukt.", and
/// "{}: {}" with "Leeftijd?" gives "Leeftijd? ..." (an ellipsis "..." is left alone).
std::string format(std::string_view pattern, std::initializer_list<std::string_view> args);

/// A count in words: `m`'s text holds its plural forms separated by '|' ("{} fout|{} fouten"),
/// the singular first; "{}" is replaced by `count`.
std::string plural(M m, std::int64_t count, std::string_view language);
/// The same with more to fill in: the form is chosen by `count`, then its "{}"s are replaced by
/// `args` in order (which hold the count where the text shows it).
std::string plural(M m, std::int64_t count, std::string_view language,
                   std::initializer_list<std::string_view> args);

/// The UI languages offered in settings, in order.
inline constexpr std::string_view kUiLanguages[] = {"nl", "en"};

/// The languages of the pilots' respondents: every text a kiosk respondent can see exists in
/// each of them.
inline constexpr std::string_view kKioskLanguages[] = {"nl", "en", "tr", "ar", "pl", "ti", "so"};

/// The messages a kiosk respondent can see on a kiosk page (marked VELD_MSG_RESPONDENT in
/// messages.def).
std::span<const M> respondentMessages();

/// Whether `m` has its own text in `language` (without falling back to English).
bool hasTranslation(M m, std::string_view language);

}  // namespace veld::client
