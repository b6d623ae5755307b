// Private to the form code: the words the form checks (form.cpp), `veldctl form show`
// (form_describe.cpp) and the appearance functions of veld/form.hpp share (form_words.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <veld/fb/form_generated.h>

namespace veld::forms::detail {

using Texts = flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>;

/// An appearance word Veld honours (the client reads them through hasAppearance), and the
/// question types it does something for.
struct AppearanceWord {
    std::string_view word;
    std::array<fb::QuestionType, 2> types;  // None: no further type
    const char* forWhat;
};
std::span<const AppearanceWord> appearanceTable();
/// The word's entry, or null for a word Veld does not know.
const AppearanceWord* appearanceWord(std::string_view word);
/// The item's space-separated appearance, word by word.
std::vector<std::string_view> appearanceWords(const fb::Item& item);

bool isNumeric(fb::QuestionType t);
bool isSelect(fb::QuestionType t);

/// Language tags (BCP 47's shape): a 2-8 letter language, then hyphen-separated subtags of 1-8
/// letters or digits, 35 bytes at most.
bool validLanguageTag(std::string_view tag);
/// Case property names: [a-z_][a-z0-9_]*, at most 64 (schemas/form.fbs CasePropertyUpdate).
bool validPropertyName(std::string_view name);

inline constexpr const char* kCaseTypes[] = {"participant", "vacancy", "school", "employer"};
// A case property value holds at most 4096 bytes (the record checks); 1024 characters of UTF-8
// always fit.
inline constexpr std::uint32_t kMaxPropertyTextLength = 1024;
inline constexpr std::uint32_t kDefaultTextLength = 2000;

const char* actionName(fb::CaseAction action);
const char* typeName(fb::QuestionType t);
/// Whether `texts` has a non-empty text in `lang`.
bool hasText(const Texts* texts, std::string_view lang);
/// The text in `lang`, else in `fallback`, else empty.
std::string_view textIn(const Texts* texts, std::string_view lang, std::string_view fallback);

}  // namespace veld::forms::detail
