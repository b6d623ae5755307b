// The words the form checks, `veldctl form show` and the client share: appearance words, type
// and action names, texts by language, and the shapes of tags and property names.
#include "form_words.hpp"

#include <algorithm>
#include <cctype>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/names.hpp>

namespace veld::forms {

namespace detail {

using fb::Item;
using fb::QuestionType;

namespace {

constexpr AppearanceWord kAppearanceWords[] = {
    {"minimal", {QuestionType::SelectOne, QuestionType::None}, "select one questions"},
    {"horizontal",
     {QuestionType::SelectOne, QuestionType::SelectMany},
     "select one and select many questions"},
    {"horizontal-compact",
     {QuestionType::SelectOne, QuestionType::SelectMany},
     "select one and select many questions"},
    {"likert", {QuestionType::SelectOne, QuestionType::Likert}, "select one questions"},
    {"multiline", {QuestionType::Text, QuestionType::None}, "text questions"},
};

}  // namespace

std::span<const AppearanceWord> appearanceTable() {
    return kAppearanceWords;
}

const AppearanceWord* appearanceWord(std::string_view word) {
    for (const auto& w : kAppearanceWords) {
        if (w.word == word) return &w;
    }
    return nullptr;
}

std::vector<std::string_view> appearanceWords(const Item& item) {
    std::vector<std::string_view> out;
    if (!item.appearance()) return out;
    std::string_view rest = item.appearance()->string_view();
    while (!rest.empty()) {
        const std::size_t start = rest.find_first_not_of(" \t");
        if (start == std::string_view::npos) break;
        rest.remove_prefix(start);
        const std::size_t end = std::min(rest.find_first_of(" \t"), rest.size());
        out.push_back(rest.substr(0, end));
        rest.remove_prefix(end);
    }
    return out;
}

bool isNumeric(QuestionType t) {
    return t == QuestionType::Integer || t == QuestionType::Decimal;
}

// Language tags (BCP 47's shape): a 2-8 letter language, then hyphen-separated subtags of 1-8
// letters or digits, 35 bytes at most. A session's language goes into its records' paradata,
// so a tag must be text the record checks accept.
bool validLanguageTag(std::string_view tag) {
    if (tag.size() < 2 || tag.size() > 35) return false;
    std::size_t start = 0;
    for (bool first = true;; first = false) {
        const std::size_t end = std::min(tag.find('-', start), tag.size());
        const std::string_view part = tag.substr(start, end - start);
        if (part.empty() || part.size() > 8 || (first && part.size() < 2)) return false;
        for (char c : part) {
            const auto u = static_cast<unsigned char>(c);
            if (!(std::isalpha(u) || (!first && std::isdigit(u)))) return false;
        }
        if (end == tag.size()) return true;
        start = end + 1;
    }
}

// Case property names: [a-z_][a-z0-9_]*, at most 64 (schemas/form.fbs CasePropertyUpdate).
bool validPropertyName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength) return false;
    if (std::isdigit(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

const char* actionName(fb::CaseAction action) {
    switch (action) {
        case fb::CaseAction::None:
            return "None";
        case fb::CaseAction::Open:
            return "Open";
        case fb::CaseAction::FollowUp:
            return "FollowUp";
        case fb::CaseAction::Close:
            return "Close";
    }
    return "unknown";
}

bool hasText(const Texts* texts, std::string_view lang) {
    if (!texts) return false;
    for (const auto* t : *texts) {
        if (t && t->lang() && t->lang()->string_view() == lang && t->text() &&
            t->text()->size() > 0)
            return true;
    }
    return false;
}

std::string_view textIn(const Texts* texts, std::string_view lang, std::string_view fallback) {
    if (texts) {
        for (const auto* t : *texts) {
            if (t && t->lang() && t->text() && t->lang()->string_view() == lang)
                return t->text()->string_view();
        }
        for (const auto* t : *texts) {
            if (t && t->lang() && t->text() && t->lang()->string_view() == fallback)
                return t->text()->string_view();
        }
    }
    return {};
}

const char* typeName(QuestionType t) {
    switch (t) {
        case QuestionType::None:
            return "none";
        case QuestionType::Text:
            return "text";
        case QuestionType::Integer:
            return "integer";
        case QuestionType::Decimal:
            return "decimal";
        case QuestionType::SelectOne:
            return "select one";
        case QuestionType::SelectMany:
            return "select many";
        case QuestionType::Likert:
            return "likert";
        case QuestionType::Date:
            return "date";
        case QuestionType::Time:
            return "time";
        case QuestionType::DateTime:
            return "date-time";
        case QuestionType::Note:
            return "note";
        case QuestionType::Consent:
            return "consent";
        case QuestionType::Signature:
            return "signature";
        case QuestionType::Pseudonym:
            return "pseudonym";
    }
    return "unknown";
}

bool isSelect(QuestionType t) {
    return t == QuestionType::SelectOne || t == QuestionType::SelectMany ||
           t == QuestionType::Likert;
}

}  // namespace detail

bool knownAppearance(std::string_view word) {
    return detail::appearanceWord(word) != nullptr;
}

bool hasAppearance(const fb::Item& item, std::string_view word) {
    const auto words = detail::appearanceWords(item);
    return std::find(words.begin(), words.end(), word) != words.end();
}

}  // namespace veld::forms
