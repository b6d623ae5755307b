// The form an XLSForm workbook describes, as plain structs in the shape of schemas/form.fbs, and
// its JSON text (2-space indentation, fields in the order docs/forms.md shows) for
// forms::compileFormJson, which runs Veld's checks on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace veld::xlsform {

/// Texts per language tag, in the form's language order.
using Texts = std::vector<std::pair<std::string, std::string>>;

struct ItemDraft {
    std::string name;
    std::string kind;  // Question, Group, Repeat
    std::string type;  // Text, Integer, ... (empty for groups and repeats)
    std::string choiceList;
    std::string choiceFilter;
    std::string appearance;
    bool required = false;
    bool readOnly = false;
    bool hidden = false;
    bool multiline = false;
    bool identifying = false;
    std::optional<std::uint32_t> maxLength;
    std::string pattern;
    std::optional<double> minValue;
    std::optional<double> maxValue;
    std::optional<double> step;
    std::string identifierScheme;  // Bsn, SchoolPupil, Other
    std::optional<std::uint32_t> minCount;
    std::optional<std::uint32_t> maxCount;
    std::string repeatCount;
    std::string relevance;
    std::string constraint;
    std::string calculation;
    std::string defaultValue;
    Texts labels;
    Texts labelAudio;   // per language: the media file of the label's recording
    Texts labelImages;  // per language: the media file of the label's picture
    Texts hints;
    Texts constraintMessages;
    Texts requiredMessages;
    std::vector<ItemDraft> children;

    // Where it came from, for the import's own bookkeeping (not written).
    std::uint32_t row = 0;
    bool orOther = false;
};

struct ChoiceDraft {
    std::string name;
    Texts labels;
    Texts labelAudio;
    Texts labelImages;
    bool isOther = false;
    bool exclusive = false;
    std::vector<std::pair<std::string, std::string>> properties;
};

struct ChoiceListDraft {
    std::string name;
    std::vector<ChoiceDraft> choices;
};

struct LanguageDraft {
    std::string tag;
    std::string name;
    bool rtl = false;
};

struct FormDraft {
    std::string id;
    std::uint32_t version = 0;
    std::string versionLabel;
    std::string pilot;
    std::string defaultLanguage;
    std::vector<LanguageDraft> languages;
    Texts titles;
    Texts descriptions;
    bool sealed = false;
    bool kiosk = false;
    bool readAloud = false;
    bool anonymous = false;
    std::string summaryQuestion;
    std::string caseAction;  // Open, FollowUp, Close; empty: no case settings
    std::string caseType;
    std::string casePseudonymQuestion;
    std::vector<std::pair<std::string, std::string>> caseUpdates;  // property, question
    std::string randomiseStudy;                                    // empty: no randomisation
    std::string randomiseWhen;
    std::vector<std::pair<std::string, std::string>> randomiseStrata;  // factor, question
    std::vector<ChoiceListDraft> choiceLists;
    std::vector<ItemDraft> items;
};

std::string formJson(const FormDraft& form);

}  // namespace veld::xlsform
