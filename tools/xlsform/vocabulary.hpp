// The words an XLSForm workbook uses, shared by the reader (xlsform_import.cpp) and the writer
// (xlsform_export.cpp) so the two agree: sheet and column names, type words, yes/no words,
// language names, and the version mapping. The mapping itself is docs/forms.md's table.
// Matching of sheet names, column headers and type words is case-insensitive (ASCII).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <veld/result.hpp>

namespace veld::xlsform::vocab {

// --- Sheets ---
inline constexpr std::string_view kSurveySheet = "survey";
inline constexpr std::string_view kChoicesSheet = "choices";
inline constexpr std::string_view kSettingsSheet = "settings";

// --- survey columns (XLSForm's own, in the order the writer puts them) ---
inline constexpr std::string_view kType = "type";
inline constexpr std::string_view kName = "name";
inline constexpr std::string_view kLabel = "label";
inline constexpr std::string_view kHint = "hint";
inline constexpr std::string_view kRequired = "required";
inline constexpr std::string_view kRequiredMessage = "required_message";
inline constexpr std::string_view kRelevant = "relevant";
inline constexpr std::string_view kConstraint = "constraint";
inline constexpr std::string_view kConstraintMessage = "constraint_message";
inline constexpr std::string_view kCalculation = "calculation";
inline constexpr std::string_view kDefault = "default";
inline constexpr std::string_view kReadOnly = "read_only";
inline constexpr std::string_view kAppearance = "appearance";
inline constexpr std::string_view kChoiceFilter = "choice_filter";
inline constexpr std::string_view kParameters = "parameters";
inline constexpr std::string_view kRepeatCount = "repeat_count";
// Veld's extension columns: the JSON field's own name.
inline constexpr std::string_view kMinValue = "min_value";
inline constexpr std::string_view kMaxValue = "max_value";
inline constexpr std::string_view kMaxLength = "max_length";
inline constexpr std::string_view kPattern = "pattern";
inline constexpr std::string_view kIdentifying = "identifying";
inline constexpr std::string_view kIdentifierScheme = "identifier_scheme";
inline constexpr std::string_view kMinCount = "min_count";
inline constexpr std::string_view kMaxCount = "max_count";
inline constexpr std::string_view kCaseProperty = "case_property";
inline constexpr std::string_view kHidden = "hidden";
// Columns XLSForm tools write that Veld ignores without a warning (pyxform's video and big-image
// columns are warned about on the choices sheet, see isMediaColumn; audio and image are read).

/// XLSForm's survey columns in the writer's order (a translatable one is written once per
/// language).
std::span<const std::string_view> surveyColumns();
/// Veld's own survey columns, in the writer's order.
std::span<const std::string_view> surveyExtensionColumns();

// --- choices columns ---
inline constexpr std::string_view kListName = "list_name";
inline constexpr std::string_view kListNameSpaced = "list name";  // an older spelling
inline constexpr std::string_view kExclusive = "exclusive";
inline constexpr std::string_view kOther = "other";
/// video, big-image, media::video, ... (XLSForm's media columns Veld does not read: audio and
/// image are read before this is asked).
bool isMediaColumn(std::string_view header);

// --- settings columns (row 1 headers, row 2 values) ---
inline constexpr std::string_view kFormTitle = "form_title";
inline constexpr std::string_view kFormId = "form_id";
inline constexpr std::string_view kVersion = "version";
inline constexpr std::string_view kDefaultLanguage = "default_language";
inline constexpr std::string_view kInstanceName = "instance_name";
inline constexpr std::string_view kPublicKey = "public_key";
inline constexpr std::string_view kSubmissionUrl = "submission_url";
inline constexpr std::string_view kStyle = "style";
inline constexpr std::string_view kPilot = "pilot";
inline constexpr std::string_view kDescription = "description";
inline constexpr std::string_view kSealed = "sealed";
inline constexpr std::string_view kKiosk = "kiosk";
inline constexpr std::string_view kAnonymous = "anonymous";
inline constexpr std::string_view kSummaryQuestion = "summary_question";
inline constexpr std::string_view kCaseAction = "case_action";
inline constexpr std::string_view kCaseType = "case_type";
inline constexpr std::string_view kCasePseudonymQuestion = "case_pseudonym_question";
inline constexpr std::string_view kRandomiseStudy = "randomise_study";
inline constexpr std::string_view kRandomiseWhen = "randomise_when";
inline constexpr std::string_view kRandomiseStrata = "randomise_strata";
inline constexpr std::string_view kRtl = "rtl";
inline constexpr std::string_view kReadAloud = "read_aloud";

// --- media columns (survey and choices): a label's recording and picture, per language ---
/// `audio::Somali (so)`, also written `media::audio::Somali (so)`; without a language the
/// default language's.
inline constexpr std::string_view kAudio = "audio";
inline constexpr std::string_view kImageColumn = "image";
/// "media::audio::Somali (so)" -> "audio::Somali (so)"; other headers as they are.
std::string_view withoutMediaPrefix(std::string_view header);
/// The header the export writes: "media::audio::Soomaali (so)".
std::string mediaHeader(std::string_view column, std::string_view name, std::string_view tag);

/// Columns that take a language (`label::Nederlands (nl)`), per sheet.
bool isTranslatable(std::string_view sheet, std::string_view column);

// --- type words ---
inline constexpr std::string_view kText = "text";
inline constexpr std::string_view kInteger = "integer";
inline constexpr std::string_view kDecimal = "decimal";
inline constexpr std::string_view kRange = "range";
inline constexpr std::string_view kSelectOne = "select_one";
inline constexpr std::string_view kSelectMultiple = "select_multiple";
inline constexpr std::string_view kOrOther = "or_other";
inline constexpr std::string_view kNote = "note";
inline constexpr std::string_view kDate = "date";
inline constexpr std::string_view kTime = "time";
inline constexpr std::string_view kDateTime = "dateTime";  // also read: datetime
inline constexpr std::string_view kAcknowledge = "acknowledge";
inline constexpr std::string_view kCalculate = "calculate";
inline constexpr std::string_view kHiddenType = "hidden";
inline constexpr std::string_view kBeginGroup = "begin_group";
inline constexpr std::string_view kEndGroup = "end_group";
inline constexpr std::string_view kBeginRepeat = "begin_repeat";
inline constexpr std::string_view kEndRepeat = "end_repeat";
inline constexpr std::string_view kPseudonym = "pseudonym";
inline constexpr std::string_view kConsent = "consent";
inline constexpr std::string_view kSignature = "signature";
inline constexpr std::string_view kImage = "image";

/// XLSForm's metadata types (start, end, today, deviceid, ...): accepted and dropped, because
/// Veld records them itself.
bool isMetadataType(std::string_view word);
inline constexpr std::string_view kMetadataWarning =
    "Veld records the times and the device of every record itself";
/// XLSForm types Veld refuses (geopoint, audio, file, rank, ...).
bool isUnsupportedType(std::string_view word);

// --- appearance words ---
inline constexpr std::string_view kFieldList = "field-list";
inline constexpr std::string_view kLikert = "likert";
inline constexpr std::string_view kMultiline = "multiline";

// --- yes / no ---
inline constexpr std::string_view kYes = "yes";
inline constexpr std::string_view kNo = "no";
/// yes, true, true(), 1 -> true; no, false, false(), 0, empty -> false; else nothing.
std::optional<bool> parseYesNo(std::string_view text);

// --- enum words: workbook word <-> JSON enum name ---
/// bsn -> Bsn, school_pupil -> SchoolPupil, other -> Other.
std::optional<std::string_view> identifierSchemeFromWord(std::string_view word);
std::optional<std::string_view> identifierSchemeWord(std::string_view jsonName);
/// open -> Open, follow_up -> FollowUp, close -> Close.
std::optional<std::string_view> caseActionFromWord(std::string_view word);
std::optional<std::string_view> caseActionWord(std::string_view jsonName);

// --- languages ---
struct LanguageInfo {
    std::string_view tag;      // "nl"
    std::string_view name;     // as its speakers write it: "Nederlands"
    std::string_view english;  // "Dutch"
    std::string_view other;    // the label of the "other" choice an or_other adds
};
/// The built-in table, by tag (exact, case-insensitive).
const LanguageInfo* languageByTag(std::string_view tag);
/// By name: the native or the English name, case-insensitive ("English", "Dutch", "Nederlands").
const LanguageInfo* languageByName(std::string_view name);
/// Right to left by the tag's primary subtag (ar, fa, he, ur, ps, yi, dv, ckb, sd, ug).
bool isRtlTag(std::string_view tag);
/// The "other" choice's label in a language ("Other" when the table has none).
std::string_view otherLabel(std::string_view tag);

/// A header such as `label::Nederlands (nl)` split at the first `::`: the column ("label",
/// lower-cased, trimmed) and the language part ("Nederlands (nl)", trimmed; empty without `::`).
struct Header {
    std::string column;
    std::string language;
};
Header splitHeader(std::string_view header);

/// The language part of a header: `Nederlands (nl)`, `nl`, or a name from the table
/// (`English`). Fails with "say which language: label::English (en)"-style advice.
struct LanguageSpec {
    std::string tag;
    std::string name;
};
Result<LanguageSpec> parseLanguageSpec(std::string_view text, std::string_view column);
/// The header the writer uses: `label::Nederlands (nl)`.
std::string languageHeader(std::string_view column, std::string_view name, std::string_view tag);

// --- version ---
struct Version {
    std::uint32_t number = 0;
    std::string label;  // the text as written, when it is not just the number's digits
};
/// "3" -> 3; "2024-03-15" -> 2024031500; "2024-03-15.2" -> 2024031502; "1.4.2" -> 1004002;
/// "2024031501" -> 2024031501. Else an error naming the three accepted shapes.
Result<Version> parseVersion(std::string_view text);

// --- small helpers ---
std::string lower(std::string_view text);
std::string_view trim(std::string_view text);
bool equalsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace veld::xlsform::vocab
