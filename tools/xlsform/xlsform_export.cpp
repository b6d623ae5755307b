// Writing a compiled form as an XLSForm workbook (libxlsxwriter): the survey, choices and
// settings sheets of docs/forms.md's mapping, so that importWorkbook reads the same form back.
// The words (sheets, columns, types) come from vocabulary.hpp, shared with the reader.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <xlsxwriter.h>

#include <veld/fb/form_generated.h>
#include <veld/form_media.hpp>
#include <veld/form_media_files.hpp>
#include <veld/platform/files.hpp>
#include <veld/xlsform.hpp>

#include "vocabulary.hpp"

namespace veld::xlsform {

namespace v = vocab;

namespace {

using Texts = flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>;

std::string str(const flatbuffers::String* s) {
    return s ? s->str() : std::string();
}

std::string textIn(const Texts* texts, const std::string& tag) {
    if (!texts) return {};
    for (const auto* t : *texts) {
        if (t->lang() && t->lang()->str() == tag) return str(t->text());
    }
    return {};
}

// The media file a label names in a language: its recording or its picture.
std::string mediaIn(const Texts* texts, const std::string& tag, bool image) {
    if (!texts) return {};
    for (const auto* t : *texts) {
        if (t->lang() && t->lang()->str() == tag) return str(image ? t->image() : t->audio());
    }
    return {};
}

bool hasAny(const Texts* texts) {
    if (!texts) return false;
    return std::any_of(texts->begin(), texts->end(),
                       [](const fb::LocalizedText* t) { return t->text() && t->text()->size(); });
}

// The shortest text without an exponent that reads back as the same double ("500000", "0.5").
std::string number(double value) {
    char buffer[512];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
    if (ec != std::errc()) return std::to_string(value);
    return std::string(buffer, end);
}

std::string yes(bool value) {
    return value ? std::string(v::kYes) : std::string();
}

// A sheet as headers and rows of cells, columns named by a key (the column, and `::TAG` for a
// translatable one). Columns marked optional are left out when no row fills them.
class Table {
  public:
    void column(std::string key, std::string header, bool optional = false) {
        m_columns.push_back({std::move(key), std::move(header), optional});
    }
    std::map<std::string, std::string>& row() { return m_rows.emplace_back(); }

    struct Column {
        std::string key;
        std::string header;
        bool optional;
    };
    // The columns written: every required one, and the optional ones some row fills.
    [[nodiscard]] std::vector<Column> written() const {
        std::vector<Column> out;
        for (const auto& c : m_columns) {
            if (c.optional && std::none_of(m_rows.begin(), m_rows.end(), [&](const auto& r) {
                    auto it = r.find(c.key);
                    return it != r.end() && !it->second.empty();
                }))
                continue;
            out.push_back(c);
        }
        return out;
    }
    [[nodiscard]] const std::vector<std::map<std::string, std::string>>& rows() const {
        return m_rows;
    }
    [[nodiscard]] bool hasColumn(const std::string& key) const {
        return std::any_of(m_columns.begin(), m_columns.end(),
                           [&](const Column& c) { return c.key == key; });
    }

  private:
    std::vector<Column> m_columns;
    std::vector<std::map<std::string, std::string>> m_rows;
};

struct LanguageColumn {
    std::string tag;
    std::string name;
};

std::string translated(std::string_view column, const std::string& tag) {
    return std::string(column) + "::" + tag;
}

// Adds a column per language for a translatable column.
void translatableColumns(Table& table, std::string_view column,
                         const std::vector<LanguageColumn>& languages, bool optional) {
    for (const auto& l : languages)
        table.column(translated(column, l.tag), v::languageHeader(column, l.name, l.tag), optional);
}

// The media columns of a label, per language, written only where a label names a file.
void mediaColumns(Table& table, const std::vector<LanguageColumn>& languages) {
    for (std::string_view column : {v::kAudio, v::kImageColumn})
        for (const auto& l : languages)
            table.column(translated(column, l.tag), v::mediaHeader(column, l.name, l.tag), true);
}

void putMedia(std::map<std::string, std::string>& row, const Texts* texts,
              const std::vector<LanguageColumn>& languages) {
    for (const auto& l : languages) {
        if (auto file = mediaIn(texts, l.tag, false); !file.empty())
            row[translated(v::kAudio, l.tag)] = std::move(file);
        if (auto file = mediaIn(texts, l.tag, true); !file.empty())
            row[translated(v::kImageColumn, l.tag)] = std::move(file);
    }
}

void putTexts(std::map<std::string, std::string>& row, std::string_view column, const Texts* texts,
              const std::vector<LanguageColumn>& languages) {
    for (const auto& l : languages) {
        std::string text = textIn(texts, l.tag);
        if (!text.empty()) row[translated(column, l.tag)] = std::move(text);
    }
}

std::string joinWords(std::vector<std::string> words, const std::string& more) {
    std::string out;
    for (const auto& w : words) {
        if (!out.empty()) out += ' ';
        out += w;
    }
    if (!more.empty()) {
        if (!out.empty()) out += ' ';
        out += more;
    }
    return out;
}

class Writer {
  public:
    explicit Writer(const fb::Form& form) : m_form(form) {
        if (form.languages()) {
            for (const auto* l : *form.languages())
                m_languages.push_back({str(l->tag()), str(l->name())});
        }
        if (const auto* s = form.settings()) {
            if (const auto* cs = s->case_settings(); cs && cs->updates()) {
                for (const auto* u : *cs->updates()) {
                    auto [it, fresh] =
                        m_caseProperty.emplace(str(u->question()), str(u->property()));
                    if (!fresh) {
                        m_error = "question '" + it->first +
                                  "' sets two case properties; a workbook has one case_property "
                                  "cell per question";
                    }
                }
            }
        }
    }

    Status build() {
        if (!m_error.empty()) return makeError(ErrorCode::InvalidArgument, m_error);
        surveyColumns();
        if (m_form.items()) items(*m_form.items());
        if (!m_error.empty()) return makeError(ErrorCode::InvalidArgument, m_error);
        choices();
        settings();
        return {};
    }

    Table survey;
    Table choicesSheet;
    Table settingsSheet;

  private:
    void surveyColumns() {
        for (std::string_view c : v::surveyColumns()) {
            if (v::isTranslatable(v::kSurveySheet, c)) {
                translatableColumns(survey, c, m_languages, false);
                if (c == v::kLabel) mediaColumns(survey, m_languages);
            } else {
                survey.column(std::string(c), std::string(c));
            }
        }
        for (std::string_view c : v::surveyExtensionColumns())
            survey.column(std::string(c), std::string(c), true);
    }

    void items(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>& list) {
        for (const auto* item : list) {
            if (item->kind() == fb::ItemKind::Question) {
                question(*item);
                continue;
            }
            const bool repeat = item->kind() == fb::ItemKind::Repeat;
            auto& row = common(*item);
            row[std::string(v::kType)] = std::string(repeat ? v::kBeginRepeat : v::kBeginGroup);
            if (!repeat) {
                row[std::string(v::kAppearance)] =
                    joinWords({std::string(v::kFieldList)}, str(item->appearance()));
            } else {
                // A fixed number of instances is XLSForm's repeat_count; an expression keeps
                // Veld's bounds beside it.
                const std::string count = str(item->repeat_count());
                if (count.empty() && item->min_count() == item->max_count() &&
                    item->min_count() > 0) {
                    row[std::string(v::kRepeatCount)] = std::to_string(item->min_count());
                } else {
                    row[std::string(v::kRepeatCount)] = count;
                    if (item->min_count() > 0)
                        row[std::string(v::kMinCount)] = std::to_string(item->min_count());
                    if (item->max_count() > 0)
                        row[std::string(v::kMaxCount)] = std::to_string(item->max_count());
                }
            }
            if (item->children()) items(*item->children());
            survey.row()[std::string(v::kType)] =
                std::string(repeat ? v::kEndRepeat : v::kEndGroup);
        }
    }

    // The columns every item has.
    std::map<std::string, std::string>& common(const fb::Item& item) {
        auto& row = survey.row();
        row[std::string(v::kName)] = str(item.name());
        putTexts(row, v::kLabel, item.labels(), m_languages);
        putMedia(row, item.labels(), m_languages);
        putTexts(row, v::kHint, item.hints(), m_languages);
        row[std::string(v::kRequired)] = yes(item.required());
        putTexts(row, v::kRequiredMessage, item.required_messages(), m_languages);
        row[std::string(v::kRelevant)] = str(item.relevance());
        row[std::string(v::kConstraint)] = str(item.constraint());
        putTexts(row, v::kConstraintMessage, item.constraint_messages(), m_languages);
        row[std::string(v::kCalculation)] = str(item.calculation());
        row[std::string(v::kDefault)] = str(item.default_value());
        row[std::string(v::kReadOnly)] = yes(item.read_only());
        row[std::string(v::kChoiceFilter)] = str(item.choice_filter());
        row[std::string(v::kIdentifying)] = yes(item.identifying());
        if (auto it = m_caseProperty.find(str(item.name())); it != m_caseProperty.end())
            row[std::string(v::kCaseProperty)] = it->second;
        return row;
    }

    void question(const fb::Item& item) {
        auto& row = common(item);
        std::string type;
        std::vector<std::string> appearance;  // words the type needs, before the item's own
        bool hiddenByType = false;
        const std::string list = str(item.choice_list());
        if (!list.empty() &&
            std::find(m_listOrder.begin(), m_listOrder.end(), list) == m_listOrder.end())
            m_listOrder.push_back(list);
        bool range = false;
        switch (item.type()) {
            case fb::QuestionType::Text:
                if (item.hidden()) {
                    hiddenByType = true;
                    type = std::string(item.calculation() && item.calculation()->size() > 0
                                           ? v::kCalculate
                                           : v::kHiddenType);
                } else {
                    type = std::string(v::kText);
                }
                if (item.multiline()) appearance.emplace_back(v::kMultiline);
                break;
            case fb::QuestionType::Integer:
            case fb::QuestionType::Decimal:
                range = item.step().has_value();
                type = std::string(range                                      ? v::kRange
                                   : item.type() == fb::QuestionType::Integer ? v::kInteger
                                                                              : v::kDecimal);
                break;
            case fb::QuestionType::SelectOne:
                type = std::string(v::kSelectOne) + " " + list;
                break;
            case fb::QuestionType::Likert:
                type = std::string(v::kSelectOne) + " " + list;
                appearance.emplace_back(v::kLikert);
                break;
            case fb::QuestionType::SelectMany:
                type = std::string(v::kSelectMultiple) + " " + list;
                break;
            case fb::QuestionType::Date:
                type = std::string(v::kDate);
                break;
            case fb::QuestionType::Time:
                type = std::string(v::kTime);
                break;
            case fb::QuestionType::DateTime:
                type = std::string(v::kDateTime);
                break;
            case fb::QuestionType::Note:
                type = std::string(v::kNote);
                break;
            case fb::QuestionType::Consent:
                type = std::string(v::kAcknowledge);
                break;
            case fb::QuestionType::Signature:
                type = std::string(v::kImage);
                appearance.emplace_back(v::kSignature);
                break;
            case fb::QuestionType::Pseudonym:
                type = std::string(v::kPseudonym);
                break;
            case fb::QuestionType::None:
                m_error = "question '" + str(item.name()) + "' has no type";
                return;
        }
        row[std::string(v::kType)] = type;
        row[std::string(v::kAppearance)] = joinWords(appearance, str(item.appearance()));
        if (range) {
            std::string parameters;
            if (item.min_value()) parameters += "start=" + number(*item.min_value());
            if (item.max_value())
                parameters +=
                    (parameters.empty() ? "" : " ") + ("end=" + number(*item.max_value()));
            parameters += (parameters.empty() ? "" : " ") + ("step=" + number(*item.step()));
            row[std::string(v::kParameters)] = parameters;
        } else {
            if (item.min_value()) row[std::string(v::kMinValue)] = number(*item.min_value());
            if (item.max_value()) row[std::string(v::kMaxValue)] = number(*item.max_value());
        }
        if (item.max_length() > 0)
            row[std::string(v::kMaxLength)] = std::to_string(item.max_length());
        row[std::string(v::kPattern)] = str(item.pattern());
        if (item.identifier_scheme() != fb::IdentifierScheme::None) {
            auto word =
                v::identifierSchemeWord(fb::EnumNameIdentifierScheme(item.identifier_scheme()));
            if (word) row[std::string(v::kIdentifierScheme)] = std::string(*word);
        }
        if (item.hidden() && !hiddenByType) row[std::string(v::kHidden)] = std::string(v::kYes);
    }

    void choices() {
        choicesSheet.column(std::string(v::kListName), std::string(v::kListName));
        choicesSheet.column(std::string(v::kName), std::string(v::kName));
        translatableColumns(choicesSheet, v::kLabel, m_languages, false);
        mediaColumns(choicesSheet, m_languages);
        choicesSheet.column(std::string(v::kExclusive), std::string(v::kExclusive), true);
        choicesSheet.column(std::string(v::kOther), std::string(v::kOther), true);
        if (!m_form.choice_lists()) return;
        // Lists in the order the survey first uses them, then the unused ones.
        std::vector<const fb::ChoiceList*> lists;
        for (const auto& name : m_listOrder) {
            if (const auto* l = m_form.choice_lists()->LookupByKey(name.c_str()))
                lists.push_back(l);
        }
        for (const auto* l : *m_form.choice_lists()) {
            if (std::find(lists.begin(), lists.end(), l) == lists.end()) lists.push_back(l);
        }
        for (const auto* list : lists) {
            if (!list->choices()) continue;
            for (const auto* choice : *list->choices()) {
                auto& row = choicesSheet.row();
                row[std::string(v::kListName)] = str(list->name());
                row[std::string(v::kName)] = str(choice->name());
                putTexts(row, v::kLabel, choice->labels(), m_languages);
                putMedia(row, choice->labels(), m_languages);
                row[std::string(v::kExclusive)] = yes(choice->exclusive());
                row[std::string(v::kOther)] = yes(choice->is_other());
                if (!choice->properties()) continue;
                for (const auto* p : *choice->properties()) {
                    const std::string key = "property:" + str(p->name());
                    if (!choicesSheet.hasColumn(key))
                        choicesSheet.column(key, str(p->name()), true);
                    row[key] = str(p->value());
                }
            }
        }
    }

    void settings() {
        auto& t = settingsSheet;
        auto& row = t.row();
        translatableColumns(t, v::kFormTitle, m_languages, false);
        putTexts(row, v::kFormTitle, m_form.titles(), m_languages);
        t.column(std::string(v::kFormId), std::string(v::kFormId));
        row[std::string(v::kFormId)] = str(m_form.id());
        t.column(std::string(v::kVersion), std::string(v::kVersion));
        // The author's own version text when it stands for this number, else the number.
        std::string version = std::to_string(m_form.version());
        if (const std::string label = str(m_form.version_label()); !label.empty()) {
            auto parsed = v::parseVersion(label);
            if (parsed && parsed->number == m_form.version()) version = label;
        }
        row[std::string(v::kVersion)] = version;
        t.column(std::string(v::kDefaultLanguage), std::string(v::kDefaultLanguage));
        row[std::string(v::kDefaultLanguage)] = str(m_form.default_language());
        t.column(std::string(v::kInstanceName), std::string(v::kInstanceName));
        const auto* s = m_form.settings();
        if (s && s->summary_question() && s->summary_question()->size() > 0)
            row[std::string(v::kInstanceName)] = "${" + s->summary_question()->str() + "}";
        // Veld's own settings, only when set.
        auto optional = [&](std::string_view column, std::string value) {
            t.column(std::string(column), std::string(column), true);
            row[std::string(column)] = std::move(value);
        };
        optional(v::kPilot, str(m_form.pilot()));
        if (hasAny(m_form.descriptions())) {
            translatableColumns(t, v::kDescription, m_languages, true);
            putTexts(row, v::kDescription, m_form.descriptions(), m_languages);
        }
        optional(v::kSealed, yes(s && s->sealed()));
        optional(v::kKiosk, yes(s && s->kiosk()));
        optional(v::kReadAloud, yes(s && s->read_aloud()));
        optional(v::kAnonymous, yes(s && s->anonymous()));
        const auto* cs = s ? s->case_settings() : nullptr;
        std::string action;
        if (cs && cs->action() != fb::CaseAction::None) {
            if (auto word = v::caseActionWord(fb::EnumNameCaseAction(cs->action())))
                action = std::string(*word);
        }
        optional(v::kCaseAction, action);
        optional(v::kCaseType, cs ? str(cs->case_type()) : "");
        optional(v::kCasePseudonymQuestion, cs ? str(cs->pseudonym_question()) : "");
        const auto* r = s ? s->randomisation() : nullptr;
        optional(v::kRandomiseStudy, r ? str(r->study()) : "");
        optional(v::kRandomiseWhen, r ? str(r->when()) : "");
        std::string strata;
        if (r && r->strata()) {
            for (const auto* f : *r->strata())
                strata += (strata.empty() ? "" : " ") + str(f->factor()) + "=" + str(f->question());
        }
        optional(v::kRandomiseStrata, strata);
        // rtl only when the languages differ from what their tags imply.
        std::string rtl;
        bool differs = false;
        if (m_form.languages()) {
            for (const auto* l : *m_form.languages()) {
                if (l->rtl()) rtl += (rtl.empty() ? "" : " ") + str(l->tag());
                differs = differs || l->rtl() != v::isRtlTag(str(l->tag()));
            }
        }
        optional(v::kRtl, differs ? rtl : "");
    }

    const fb::Form& m_form;
    std::vector<LanguageColumn> m_languages;
    std::map<std::string, std::string> m_caseProperty;  // question -> property
    std::vector<std::string> m_listOrder;
    std::string m_error;
};

// Characters as a reader counts them (UTF-8 code points), for column widths.
std::size_t displayLength(const std::string& text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

lxw_error writeSheet(lxw_workbook* book, const char* name, const Table& table, lxw_format* bold) {
    lxw_worksheet* sheet = workbook_add_worksheet(book, name);
    if (!sheet) return LXW_ERROR_MEMORY_MALLOC_FAILED;
    const auto columns = table.written();
    for (std::size_t c = 0; c < columns.size(); ++c) {
        const auto col = static_cast<lxw_col_t>(c);
        if (auto e = worksheet_write_string(sheet, 0, col, columns[c].header.c_str(), bold))
            return e;
        std::size_t width = displayLength(columns[c].header);
        for (std::size_t r = 0; r < table.rows().size(); ++r) {
            const auto& row = table.rows()[r];
            auto it = row.find(columns[c].key);
            if (it == row.end() || it->second.empty()) continue;
            if (auto e = worksheet_write_string(sheet, static_cast<lxw_row_t>(r + 1), col,
                                                it->second.c_str(), nullptr))
                return e;
            width = std::max(width, displayLength(it->second));
        }
        // Wide enough to read a name or an expression, not so wide that a long label hides
        // the columns after it.
        const double chars = static_cast<double>(std::clamp<std::size_t>(width + 2, 8, 60));
        if (auto e = worksheet_set_column(sheet, col, col, chars, nullptr)) return e;
    }
    worksheet_freeze_panes(sheet, 1, 0);
    return LXW_NO_ERROR;
}

// The workbook's creation time: fixed, so that one form always gives the same bytes. A form
// numbered by date (YYYYMMDDNN) is dated that day; any other on 2000-01-01.
lxw_datetime creationTime(std::uint32_t version) {
    lxw_datetime out{2000, 1, 1, 0, 0, 0};
    const std::uint32_t day = version / 100;
    const int year = static_cast<int>(day / 10000);
    const int month = static_cast<int>(day / 100 % 100);
    const int dayOfMonth = static_cast<int>(day % 100);
    if (year >= 1980 && year <= 2099 && month >= 1 && month <= 12 && dayOfMonth >= 1 &&
        dayOfMonth <= 31) {
        out.year = year;
        out.month = month;
        out.day = dayOfMonth;
    }
    return out;
}

time_t toTime(const lxw_datetime& d) {
    using namespace std::chrono;
    const sys_days day{year{d.year} / month{static_cast<unsigned>(d.month)} /
                       std::chrono::day{static_cast<unsigned>(d.day)}};
    return static_cast<time_t>(duration_cast<seconds>(day.time_since_epoch()).count());
}

// A form and its media are for everyone who installs them: readable by all, whatever the umask
// (rw-r--r--; on Windows only the read-only flag, which this leaves off).
bool makeReadableByAll(const std::string& path) {
    using std::filesystem::perms;
    std::error_code ec;
    std::filesystem::permissions(
        platform::fsPath(path),
        perms::owner_read | perms::owner_write | perms::group_read | perms::others_read, ec);
    return !ec;
}

Error ioError(const std::string& what, const std::string& path) {
    return makeError(ErrorCode::Io, what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

// The form's media files, into the folder an import of the workbook reads them from.
Status writeMediaFolder(const fb::Form& form, const std::string& folder) {
    if (!form.media() || form.media()->size() == 0) return {};
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    if (ec) return makeError(ErrorCode::Io, "cannot create " + folder + ": " + ec.message());
    for (const auto* file : *form.media()) {
        const std::string name = str(file->name());
        if (!forms::validMediaName(name)) continue;  // never a path out of the folder
        const auto bytes = forms::mediaBytes(*file);
        const std::string path = folder + "/" + name;
        std::ofstream out(platform::fsPath(path), std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) return ioError("cannot write", path);
        if (!makeReadableByAll(path)) return ioError("cannot set the mode of", path);
    }
    return {};
}

Status exportWorkbook(const std::vector<std::uint8_t>& formBinary, const std::string& path) {
    flatbuffers::Verifier verifier(formBinary.data(), formBinary.size(), 64, 1000000);
    if (formBinary.size() < 8 || !fb::FormBufferHasIdentifier(formBinary.data()) ||
        !fb::VerifyFormBuffer(verifier))
        return makeError(ErrorCode::Corrupt, "not a compiled Veld form");
    const fb::Form& form = *fb::GetForm(formBinary.data());
    Writer writer(form);
    if (auto built = writer.build(); !built) return built;

    // Written next to the target, then renamed over it: a reader never sees half a workbook.
    const std::string tmp = path + ".part";
    auto removeTmp = [&] { (void)platform::removeFile(tmp); };

    lxw_workbook* book = workbook_new(tmp.c_str());
    if (!book) {
        removeTmp();
        return makeError(ErrorCode::Io, "cannot start the workbook " + path);
    }
    lxw_doc_properties properties{};
    properties.created = toTime(creationTime(form.version()));
    std::string title = str(form.id());
    properties.title = title.data();
    workbook_set_properties(book, &properties);
    lxw_format* bold = workbook_add_format(book);
    format_set_bold(bold);
    lxw_error e = writeSheet(book, std::string(v::kSurveySheet).c_str(), writer.survey, bold);
    if (!e) e = writeSheet(book, std::string(v::kChoicesSheet).c_str(), writer.choicesSheet, bold);
    if (!e)
        e = writeSheet(book, std::string(v::kSettingsSheet).c_str(), writer.settingsSheet, bold);
    const lxw_error closed = workbook_close(book);  // frees the workbook in any case
    if (e || closed) {
        removeTmp();
        return makeError(ErrorCode::Io,
                         "cannot write " + path + ": " + lxw_strerror(e ? e : closed));
    }
    if (!makeReadableByAll(tmp)) {
        auto error = ioError("cannot set the mode of", tmp);
        removeTmp();
        return error;
    }
    if (auto flushed =
            platform::File::create(tmp, platform::File::Create::Keep, platform::Access::Public)) {
        (void)flushed->sync();
    }
    if (auto moved = platform::replaceFile(tmp, path); !moved) {
        removeTmp();
        return moved.error();
    }
    return writeMediaFolder(form, forms::mediaFolderOf(path));
}

}  // namespace veld::xlsform
