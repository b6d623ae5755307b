#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <set>
#include <unordered_map>

#include <veld/fb/form_generated.h>
#include <veld/hex.hpp>
#include <veld/record.hpp>
#include <veld/sealed_record.hpp>
#include <veld/sync/export.hpp>
#include <veld/sync/records_file.hpp>

namespace veld::sync {

namespace {

using Texts = flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>;

std::string textIn(const Texts* texts, std::string_view lang, std::string_view fallback) {
    if (!texts) return {};
    const fb::LocalizedText* other = nullptr;
    for (const auto* t : *texts) {
        if (!t->lang() || !t->text()) continue;
        if (t->lang()->string_view() == lang) return t->text()->str();
        if (t->lang()->string_view() == fallback) other = t;
    }
    return other ? other->text()->str() : std::string();
}

const char* typeName(fb::QuestionType t) {
    switch (t) {
        case fb::QuestionType::Text:
            return "text";
        case fb::QuestionType::Integer:
            return "integer";
        case fb::QuestionType::Decimal:
            return "decimal";
        case fb::QuestionType::SelectOne:
            return "select_one";
        case fb::QuestionType::SelectMany:
            return "select_many";
        case fb::QuestionType::Likert:
            return "likert";
        case fb::QuestionType::Date:
            return "date";
        case fb::QuestionType::Time:
            return "time";
        case fb::QuestionType::DateTime:
            return "datetime";
        case fb::QuestionType::Consent:
            return "consent";
        case fb::QuestionType::Signature:
            return "signature";
        case fb::QuestionType::Pseudonym:
            return "pseudonym";
        default:
            return "other";
    }
}

// A choice name that is a whole number written plainly ("5", "-9", "0"; not "05", "-0", "+5" or
// "1.0"), of at most nine digits (inside every format's range for value labels), as that number.
std::optional<std::int64_t> wholeNumber(std::string_view name) {
    const std::string_view digits = name.starts_with('-') ? name.substr(1) : name;
    if (digits.empty() || digits.size() > 9 || (digits[0] == '0' && name.size() > 1))
        return std::nullopt;
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), value);
    if (error != std::errc() || end != name.data() + name.size()) return std::nullopt;
    return value;
}

// The codes of a select one question's choices: the names themselves when every name of the
// list is a whole number (Likert scores, -9 for "don't know"), so that the author's coding
// survives into SPSS and Stata; otherwise 1, 2, ... in the list's order.
std::vector<std::int64_t> choiceCodes(const std::vector<const fb::Choice*>& choices) {
    std::vector<std::int64_t> codes;
    std::set<std::int64_t> seen;
    for (const auto* c : choices) {
        const auto number = wholeNumber(c->name()->string_view());
        if (!number || !seen.insert(*number).second) break;
        codes.push_back(*number);
    }
    if (codes.size() == choices.size()) return codes;
    codes.clear();
    for (std::size_t i = 0; i < choices.size(); ++i)
        codes.push_back(static_cast<std::int64_t>(i + 1));
    return codes;
}

// What a column holds, for filling it from an answer.
enum class Fill {
    Text,
    Integer,
    Decimal,
    Flag,
    Code,
    Chosen,
    OtherText,
    Date,
    Time,
    DateTime,
    Signed,
    Digest
};

// A column's texts in every language, for the codebook.
struct ColumnTexts {
    std::string question;
    std::string type;
    std::vector<std::pair<std::string, std::string>> labels;  // language, label
    // value, then the label in every language
    std::vector<std::pair<std::int64_t, std::vector<std::pair<std::string, std::string>>>> values;
};

struct ColumnPlan {
    Fill fill = Fill::Text;
    std::string choice;  // Chosen: which choice this 0/1 column is
};

struct QuestionPlan {
    std::size_t firstColumn = 0;
    std::size_t columns = 0;
    std::vector<std::string> choices;  // Code: choice names
    std::vector<std::int64_t> codes;   // Code: their codes (choiceCodes)
};

struct TablePlan {
    std::string path;  // "" for the record's table; "visits", "visits/contacts" for repeats
    ExportTable table;
    std::vector<ColumnPlan> plans;
    // With ExportValues::Labels: per column, the labels its codes are written as (empty: the
    // column is not coded).
    std::vector<std::vector<ValueLabel>> labelled;
    std::vector<ColumnTexts> texts;
    std::unordered_map<std::string, QuestionPlan> questions;
    std::size_t keyColumns = 0;
    std::unique_ptr<TableWriter> writer;
    std::int64_t rows = 0;
    std::string file;
};

// A record's review history for its cell, oldest first: "2026-12-07T10:15Z has-issues (anna):
// comment; ...".
std::string reviewHistoryText(const std::vector<ReviewChange>& history) {
    std::string out;
    for (const auto& h : history) {
        if (!out.empty()) out += "; ";
        // The minute is enough for people; the HLC's text form gives it in UTC.
        const std::string when =
            HlcTimestamp::make(static_cast<std::uint64_t>(std::max<std::int64_t>(h.utcMs, 0)), 0)
                .toString();
        out += when.substr(0, 16) + "Z " + std::string(reviewStateName(h.state)) + " (" + h.actor +
               ")";
        if (!h.comment.empty()) out += ": " + h.comment;
    }
    return out;
}

class Exporter {
  public:
    Exporter(const fb::Form* form, const ExportOptions& options)
        : m_form(form), m_keys(options.keys), m_labels(options.values == ExportValues::Labels) {
        m_default = form->default_language() ? form->default_language()->str() : std::string();
        m_language = options.language.empty() ? m_default : options.language;
        if (form->languages()) {
            for (const auto* l : *form->languages())
                if (l->tag()) m_languages.push_back(l->tag()->str());
        }
        if (m_languages.empty()) m_languages.push_back(m_default);
        const std::string id = form->id()->str();
        const std::string title = textIn(form->titles(), m_language, m_default);
        m_tables.push_back(std::make_unique<TablePlan>());
        TablePlan& main = *m_tables.back();
        main.table.name = id;
        main.table.label = title;
        key(main, "record_id", "record id", ColumnType::Text);
        key(main, "device_id", "device that made the current revision", ColumnType::Text);
        key(main, "form_version", "form version", ColumnType::Integer);
        key(main, "revision_time", "current revision made (device clock, UTC)",
            ColumnType::DateTime);
        key(main, "review", "review by central staff", ColumnType::Integer);
        main.table.columns.back().valueLabels = {{0, "received"},
                                                 {1, "has issues"},
                                                 {2, "approved"},
                                                 {3, "rejected"},
                                                 {4, "corrected in the field"}};
        main.texts.back().values = {{0, {{"", "received"}}},
                                    {1, {{"", "has issues"}}},
                                    {2, {{"", "approved"}}},
                                    {3, {{"", "rejected"}}},
                                    {4, {{"", "corrected in the field"}}}};
        key(main, "review_history",
            "every review by central staff, oldest first: UTC time, state, who, comment",
            ColumnType::Text);
        key(main, "clock_flagged", "device clock implausible (1)", ColumnType::Integer);
        key(main, "unreadable", "why the answers are missing (0: they are not)",
            ColumnType::Integer);
        main.table.columns.back().valueLabels = {{0, "readable"},
                                                 {1, "damaged or unreadable"},
                                                 {2, "sealed, no key given for it"},
                                                 {3, "sealed, does not open"}};
        main.texts.back().values = {{0, {{"", "readable"}}},
                                    {1, {{"", "damaged or unreadable"}}},
                                    {2, {{"", "sealed, no key given for it"}}},
                                    {3, {{"", "sealed, does not open"}}}};
        // Where the current revision sits in its device's hash chain (veldctl collector
        // verify-chain): its outbox number and the first 16 hex digits of its link.
        key(main, "chain_seq", "revision's number on its device (hash chain position)",
            ColumnType::Integer);
        key(main, "chain_link", "revision's hash chain link (first 16 hex digits; empty: none)",
            ColumnType::Text);
        // Case forms name their case, and randomising forms the allocation they took, so the data
        // join the allocation log (veldctl study log) and each other by case id.
        const auto* settings = form->settings();
        m_caseColumns = settings && settings->case_settings() &&
                        settings->case_settings()->action() != fb::CaseAction::None;
        m_allocationColumns = settings && settings->randomisation() != nullptr;
        if (m_caseColumns) key(main, "case_id", "case id", ColumnType::Text);
        if (m_allocationColumns) {
            key(main, "allocation_arm", "arm allocated when this record was finalized",
                ColumnType::Text);
            key(main, "allocation_stratum", "stratum of the allocation", ColumnType::Text);
        }
        main.keyColumns = main.table.columns.size();
        if (form->items()) walk(form->items(), main);
        // Labels instead of codes: a coded column becomes a text column of its labels, in every
        // format alike (the codebook keeps the codes).
        for (auto& t : m_tables) {
            t->labelled.assign(t->table.columns.size(), {});
            if (!m_labels) continue;
            for (std::size_t i = 0; i < t->table.columns.size(); ++i) {
                ExportColumn& c = t->table.columns[i];
                if (c.valueLabels.empty() || c.type != ColumnType::Integer) continue;
                t->labelled[i] = std::move(c.valueLabels);
                c.valueLabels.clear();
                c.type = ColumnType::Text;
            }
        }
    }

    std::vector<std::unique_ptr<TablePlan>>& tables() { return m_tables; }
    [[nodiscard]] const std::vector<std::string>& languages() const { return m_languages; }

    // The rows one record adds to each table (the main row always; repeat rows per instance).
    Status write(const CurrentRecord& rec, bool counting) {
        TablePlan& main = *m_tables.front();
        m_newestMs = std::max(m_newestMs, static_cast<std::int64_t>(rec.hlc.millis()));
        std::optional<Record> decoded;
        std::optional<Uuid> caseId;
        std::optional<Allocation> allocation;
        Unreadable why = Unreadable::Damaged;
        if (!rec.damaged && !rec.body.empty()) {
            auto r = decodeRecord(rec.body);
            if (r) {
                // In clear even on sealed records.
                caseId = r->content.caseId;
                allocation = r->content.allocation;
            }
            if (r && r->sealed) {
                // The opened record lives only until its rows are written (openRecord wipes
                // the plaintext body it decoded from).
                auto opened = openRecord(r.value(), m_keys);
                if (opened) {
                    decoded = std::move(opened.value());
                } else {
                    why = opened.error().code == ErrorCode::NotFound ? Unreadable::SealedNoKey
                                                                     : Unreadable::SealedBroken;
                }
            } else if (r) {
                decoded = std::move(r.value());
            }
        }
        if (decoded) why = Unreadable::Readable;
        if (!decoded) ++m_unreadable;
        if (why == Unreadable::SealedNoKey || why == Unreadable::SealedBroken) ++m_sealedUnopened;
        {
            m_cells.assign(main.table.columns.size(), Cell{});
            m_cells[0] = rec.recordId.toString();
            m_cells[1] = rec.deviceId.toString();
            m_cells[2] = static_cast<std::int64_t>(rec.formVersion);
            m_cells[3] = static_cast<std::int64_t>(rec.hlc.millis());
            m_cells[4] = static_cast<std::int64_t>(rec.review);
            m_cells[5] = reviewHistoryText(rec.reviewHistory);
            m_cells[6] = std::int64_t{rec.clockFlagged ? 1 : 0};
            m_cells[7] = static_cast<std::int64_t>(why);
            m_cells[8] = static_cast<std::int64_t>(rec.chainSeq);
            m_cells[9] = rec.chainLink.empty() ? std::string() : toHex(rec.chainLink).substr(0, 16);
            std::size_t at = 10;
            if (m_caseColumns) m_cells[at++] = caseId ? caseId->toString() : std::string();
            if (m_allocationColumns) {
                m_cells[at++] = allocation ? allocation->arm : std::string();
                m_cells[at++] = allocation ? allocation->stratum : std::string();
            }
            if (decoded) fillAnswers(main, decoded->content.answers);
            if (auto s = emit(main, counting); !s) return s;
        }
        ++main.rows;
        if (decoded)
            return writeRepeats(rec.recordId.toString(), "", "", decoded->content.repeats,
                                counting);
        return {};
    }

    [[nodiscard]] std::int64_t unreadable() const { return m_unreadable; }
    [[nodiscard]] std::int64_t sealedUnopened() const { return m_sealedUnopened; }
    [[nodiscard]] bool hasWriters() const { return m_tables.front()->writer != nullptr; }
    // The newest record seen (its HLC's milliseconds): the tables' timestamp.
    [[nodiscard]] std::int64_t newestMs() const { return m_newestMs; }

    // After the counting pass: every text column is as wide as its longest value (at least 1).
    void settleWidths() {
        for (auto& t : m_tables) {
            for (auto& c : t->table.columns) {
                if (c.type != ColumnType::Text) continue;
                c.maxTextBytes = std::max<std::size_t>(c.maxTextBytes, 1);
                c.maxTextChars = std::max<std::size_t>(c.maxTextChars, 1);
            }
        }
    }

    // Without a counting pass (CSV), the widths are measured as the rows are written, for the
    // codebook's .sav names.
    void measureWhileWriting() { m_measureWhileWriting = true; }

    void resetCounts() {
        for (auto& t : m_tables)
            t->rows = 0;
        m_unreadable = 0;
        m_sealedUnopened = 0;
    }

  private:
    // A row in m_cells, codes turned into labels if asked for: measured on the counting pass,
    // written on the writing pass.
    Status emit(TablePlan& t, bool counting) {
        for (std::size_t i = 0; i < m_cells.size(); ++i) {
            const auto& labels = t.labelled[i];
            if (labels.empty()) continue;
            if (const auto* code = std::get_if<std::int64_t>(&m_cells[i])) {
                const auto at = std::find_if(labels.begin(), labels.end(),
                                             [&](const ValueLabel& l) { return l.value == *code; });
                m_cells[i] = at != labels.end() ? at->label : std::to_string(*code);
            }
        }
        if (!counting) {
            if (auto s = t.writer->row(m_cells); !s) return s;
            if (!m_measureWhileWriting) return {};
        }
        for (std::size_t i = 0; i < m_cells.size(); ++i) {
            const auto* text = std::get_if<std::string>(&m_cells[i]);
            if (!text) continue;
            ExportColumn& c = t.table.columns[i];
            c.maxTextBytes = std::max(c.maxTextBytes, text->size());
            // Characters <= bytes: count them only when the longest may grow.
            if (text->size() > c.maxTextChars) {
                const auto chars =
                    static_cast<std::size_t>(std::count_if(text->begin(), text->end(), [](char ch) {
                        return (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
                    }));
                c.maxTextChars = std::max(c.maxTextChars, chars);
            }
        }
        return {};
    }

    void key(TablePlan& t, const char* name, const char* label, ColumnType type) {
        ExportColumn c;
        c.name = name;
        c.label = label;
        c.type = type;
        t.table.columns.push_back(std::move(c));
        t.plans.push_back({});
        ColumnTexts texts;
        texts.question = "";
        texts.type = type == ColumnType::Text ? "text" : "integer";
        texts.labels = {{"", label}};
        t.texts.push_back(std::move(texts));
    }

    std::vector<std::pair<std::string, std::string>> allLanguages(const Texts* texts) {
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& lang : m_languages)
            out.emplace_back(lang, textIn(texts, lang, m_default));
        return out;
    }

    const fb::ChoiceList* choiceList(const fb::Item* item) const {
        if (!item->choice_list() || !m_form->choice_lists()) return nullptr;
        for (const auto* list : *m_form->choice_lists()) {
            if (list->name() && list->name()->string_view() == item->choice_list()->string_view())
                return list;
        }
        return nullptr;
    }

    void column(TablePlan& t, const std::string& name, const std::string& label, ColumnType type,
                ColumnPlan plan, ColumnTexts texts) {
        ExportColumn c;
        c.name = name;
        c.label = label;
        c.type = type;
        t.table.columns.push_back(std::move(c));
        t.plans.push_back(std::move(plan));
        t.texts.push_back(std::move(texts));
    }

    void walk(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items, TablePlan& t) {
        for (const auto* item : *items) {
            if (item->kind() == fb::ItemKind::Group) {
                if (item->children()) walk(item->children(), t);
                continue;
            }
            if (item->kind() == fb::ItemKind::Repeat) {
                m_tables.push_back(std::make_unique<TablePlan>());
                TablePlan& r = *m_tables.back();
                r.path = t.path.empty() ? item->name()->str() : t.path + "/" + item->name()->str();
                r.table.name = m_tables.front()->table.name + "-" + item->name()->str();
                r.table.label = textIn(item->labels(), m_language, m_default);
                key(r, "record_id", "record id", ColumnType::Text);
                key(r, "parent_instance", "instance of the enclosing repeat (empty: none)",
                    ColumnType::Text);
                key(r, "instance", "instance number (1 = first)", ColumnType::Integer);
                r.keyColumns = r.table.columns.size();
                if (item->children()) walk(item->children(), r);
                continue;
            }
            question(t, item);
        }
    }

    void question(TablePlan& t, const fb::Item* item) {
        const auto type = item->type();
        if (type == fb::QuestionType::Note || type == fb::QuestionType::None) return;
        const std::string name = item->name()->str();
        const std::string label = textIn(item->labels(), m_language, m_default);
        ColumnTexts texts;
        texts.question = name;
        texts.type = typeName(type);
        texts.labels = allLanguages(item->labels());
        QuestionPlan q;
        q.firstColumn = t.table.columns.size();
        switch (type) {
            case fb::QuestionType::Text: {
                column(t, name, label, ColumnType::Text, {Fill::Text, {}}, texts);
                break;
            }
            case fb::QuestionType::Integer:
                column(t, name, label, ColumnType::Integer, {Fill::Integer, {}}, texts);
                break;
            case fb::QuestionType::Decimal:
                column(t, name, label, ColumnType::Decimal, {Fill::Decimal, {}}, texts);
                break;
            case fb::QuestionType::Consent:
                texts.values = {{0, {{"", "declined"}}}, {1, {{"", "accepted"}}}};
                column(t, name, label, ColumnType::Integer, {Fill::Flag, {}}, texts);
                t.table.columns.back().valueLabels = {{0, "declined"}, {1, "accepted"}};
                break;
            case fb::QuestionType::Date:
                column(t, name, label, ColumnType::Date, {Fill::Date, {}}, texts);
                break;
            case fb::QuestionType::Time:
                column(t, name, label, ColumnType::Time, {Fill::Time, {}}, texts);
                break;
            case fb::QuestionType::DateTime:
                column(t, name, label, ColumnType::DateTime, {Fill::DateTime, {}}, texts);
                break;
            case fb::QuestionType::Signature:
                texts.values = {{1, {{"", "signed"}}}};
                column(t, name, label, ColumnType::Integer, {Fill::Signed, {}}, texts);
                t.table.columns.back().valueLabels = {{1, "signed"}};
                break;
            case fb::QuestionType::Pseudonym:
                texts.type = "pseudonym (keyed BLAKE2b digest, hex)";
                column(t, name, label, ColumnType::Text, {Fill::Digest, {}}, texts);
                break;
            case fb::QuestionType::SelectOne:
            case fb::QuestionType::Likert:
            case fb::QuestionType::SelectMany: {
                const fb::ChoiceList* list = choiceList(item);
                bool other = false;
                std::vector<const fb::Choice*> choices;
                if (list && list->choices()) {
                    for (const auto* c : *list->choices()) {
                        choices.push_back(c);
                        other = other || c->is_other();
                    }
                }
                if (type == fb::QuestionType::SelectMany) {
                    for (const auto* c : choices) {
                        ColumnTexts ct = texts;
                        ct.question = name;
                        ct.labels.clear();
                        for (const auto& lang : m_languages)
                            ct.labels.emplace_back(lang, textIn(item->labels(), lang, m_default) +
                                                             ": " +
                                                             textIn(c->labels(), lang, m_default));
                        ct.values = {{0, {{"", "not chosen"}}}, {1, {{"", "chosen"}}}};
                        column(t, name + "." + c->name()->str(),
                               label + ": " + textIn(c->labels(), m_language, m_default),
                               ColumnType::Integer, {Fill::Chosen, c->name()->str()}, ct);
                        t.table.columns.back().valueLabels = {{0, "not chosen"}, {1, "chosen"}};
                    }
                } else {
                    std::vector<ValueLabel> labels;
                    q.codes = choiceCodes(choices);
                    for (std::size_t i = 0; i < choices.size(); ++i) {
                        const fb::Choice* c = choices[i];
                        const std::int64_t code = q.codes[i];
                        q.choices.push_back(c->name()->str());
                        labels.push_back({code, textIn(c->labels(), m_language, m_default)});
                        texts.values.emplace_back(code, allLanguages(c->labels()));
                        texts.values.back().second.insert(texts.values.back().second.begin(),
                                                          {"name", c->name()->str()});
                    }
                    column(t, name, label, ColumnType::Integer, {Fill::Code, {}}, texts);
                    t.table.columns.back().valueLabels = std::move(labels);
                }
                if (other) {
                    ColumnTexts ot = texts;
                    ot.values.clear();
                    ot.type = "text (other, specify)";
                    column(t, name + ".other_text", label, ColumnType::Text, {Fill::OtherText, {}},
                           ot);
                }
                break;
            }
            default:
                return;
        }
        q.columns = t.table.columns.size() - q.firstColumn;
        t.questions.emplace(name, std::move(q));
    }

    void fillAnswers(TablePlan& t, const std::vector<Answer>& answers) {
        for (const Answer& a : answers) {
            auto it = t.questions.find(a.name);
            if (it == t.questions.end()) continue;  // a question the newest version dropped
            const QuestionPlan& q = it->second;
            for (std::size_t i = q.firstColumn; i < q.firstColumn + q.columns; ++i)
                m_cells[i] = cellFor(t.plans[i], q, a.value);
        }
    }

    static Cell cellFor(const ColumnPlan& plan, const QuestionPlan& q, const AnswerValue& v) {
        switch (plan.fill) {
            case Fill::Text:
                if (const auto* s = std::get_if<std::string>(&v)) return *s;
                break;
            case Fill::Integer:
                if (const auto* n = std::get_if<std::int64_t>(&v)) return *n;
                break;
            case Fill::Decimal:
                if (const auto* d = std::get_if<DecimalAnswer>(&v)) return d->value;
                if (const auto* n = std::get_if<std::int64_t>(&v)) return static_cast<double>(*n);
                break;
            case Fill::Flag:
                if (const auto* b = std::get_if<bool>(&v)) return std::int64_t{*b ? 1 : 0};
                break;
            case Fill::Code:
                if (const auto* c = std::get_if<ChoiceAnswer>(&v)) {
                    auto at = std::find(q.choices.begin(), q.choices.end(), c->choice);
                    if (at != q.choices.end())
                        return q.codes[static_cast<std::size_t>(at - q.choices.begin())];
                }
                break;
            case Fill::Chosen:
                if (const auto* c = std::get_if<ChoicesAnswer>(&v)) {
                    const bool chosen = std::find(c->choices.begin(), c->choices.end(),
                                                  plan.choice) != c->choices.end();
                    return std::int64_t{chosen ? 1 : 0};
                }
                break;
            case Fill::OtherText:
                if (const auto* c = std::get_if<ChoiceAnswer>(&v); c && !c->otherText.empty())
                    return c->otherText;
                if (const auto* c = std::get_if<ChoicesAnswer>(&v); c && !c->otherText.empty())
                    return c->otherText;
                break;
            case Fill::Date:
                if (const auto* d = std::get_if<DateAnswer>(&v))
                    return static_cast<std::int64_t>(d->days);
                break;
            case Fill::Time:
                if (const auto* d = std::get_if<TimeAnswer>(&v))
                    return static_cast<std::int64_t>(d->ms);
                break;
            case Fill::DateTime:
                if (const auto* d = std::get_if<DateTimeAnswer>(&v)) return d->utcMs;
                break;
            case Fill::Signed:
                if (const auto* s = std::get_if<SignatureAnswer>(&v); s && !s->strokes.empty())
                    return std::int64_t{1};
                break;
            case Fill::Digest:
                if (const auto* p = std::get_if<PseudonymAnswer>(&v)) return toHex(p->digest);
                break;
        }
        return {};
    }

    Status writeRepeats(const std::string& recordId, const std::string& parentPath,
                        const std::string& parentInstance, const std::vector<Repeat>& repeats,
                        bool counting) {
        for (const Repeat& r : repeats) {
            const std::string path = parentPath.empty() ? r.name : parentPath + "/" + r.name;
            auto it = std::find_if(m_tables.begin(), m_tables.end(),
                                   [&](const auto& t) { return t->path == path; });
            if (it == m_tables.end()) continue;
            TablePlan& t = **it;
            for (std::size_t i = 0; i < r.instances.size(); ++i) {
                const std::string instance = std::to_string(i + 1);
                m_cells.assign(t.table.columns.size(), Cell{});
                m_cells[0] = recordId;
                m_cells[1] = parentInstance;
                m_cells[2] = static_cast<std::int64_t>(i + 1);
                fillAnswers(t, r.instances[i].answers);
                if (auto s = emit(t, counting); !s) return s;
                ++t.rows;
                const std::string inner =
                    parentInstance.empty() ? instance : parentInstance + "." + instance;
                if (auto s = writeRepeats(recordId, path, inner, r.instances[i].repeats, counting);
                    !s)
                    return s;
            }
        }
        return {};
    }

    const fb::Form* m_form;
    std::span<const projectkey::SecretKey> m_keys;
    bool m_labels = false;
    bool m_measureWhileWriting = false;
    bool m_caseColumns = false;
    bool m_allocationColumns = false;
    std::string m_default;
    std::string m_language;
    std::vector<std::string> m_languages;
    std::vector<std::unique_ptr<TablePlan>> m_tables;
    std::vector<Cell> m_cells;
    std::int64_t m_unreadable = 0;
    std::int64_t m_sealedUnopened = 0;
    std::int64_t m_newestMs = 0;
};

// The codebook: every variable of every table, with its names in .sav and .dta, its question,
// type, and labels and value labels in every language of the form.
Status writeCodebook(Exporter& exporter, const std::string& name, TableWriter& writer) {
    ExportTable book;
    book.name = name;
    for (const char* c : {"table", "variable", "sav_name", "dta_name", "question", "type",
                          "language", "label", "value", "value_label"}) {
        ExportColumn col;
        col.name = c;
        col.type = c == std::string_view("value") ? ColumnType::Integer : ColumnType::Text;
        book.columns.push_back(std::move(col));
    }
    if (auto s = writer.begin(book, -1); !s) return s;
    std::vector<Cell> cells(book.columns.size());
    for (const auto& t : exporter.tables()) {
        const auto sav = statisticalNames(t->table.columns, StatisticalFormat::Sav);
        const auto dta = statisticalNames(t->table.columns, StatisticalFormat::Dta);
        for (std::size_t i = 0; i < t->table.columns.size(); ++i) {
            const ExportColumn& c = t->table.columns[i];
            const ColumnTexts& texts = t->texts[i];
            const auto base = [&](const std::string& lang) {
                cells.assign(book.columns.size(), Cell{});
                cells[0] = t->table.name;
                cells[1] = c.name;
                cells[2] = sav[i];
                cells[3] = dta[i];
                cells[4] = texts.question;
                cells[5] = texts.type.empty() ? std::string(columnTypeName(c.type)) : texts.type;
                cells[6] = lang;
            };
            for (const auto& [lang, label] : texts.labels) {
                base(lang);
                cells[7] = label;
                if (auto s = writer.row(cells); !s) return s;
            }
            for (const auto& [value, labels] : texts.values) {
                for (const auto& [lang, label] : labels) {
                    base(lang);
                    cells[8] = value;
                    cells[9] = label;
                    if (auto s = writer.row(cells); !s) return s;
                }
            }
        }
    }
    return writer.end();
}

}  // namespace

std::string_view exportFormatName(ExportFormat format) {
    switch (format) {
        case ExportFormat::Csv:
            return "csv";
        case ExportFormat::Sav:
            return "sav";
        case ExportFormat::Dta:
            return "dta";
        case ExportFormat::Records:
            return "records";
        case ExportFormat::Xlsx:
            return "xlsx";
    }
    return "csv";
}

std::optional<ExportFormat> parseExportFormat(std::string_view name) {
    for (auto f : {ExportFormat::Csv, ExportFormat::Sav, ExportFormat::Dta, ExportFormat::Records,
                   ExportFormat::Xlsx})
        if (exportFormatName(f) == name) return f;
    return std::nullopt;
}

std::string_view exportValuesName(ExportValues values) {
    return values == ExportValues::Labels ? "labels" : "codes";
}

std::optional<ExportValues> parseExportValues(std::string_view name) {
    for (auto v : {ExportValues::Codes, ExportValues::Labels})
        if (exportValuesName(v) == name) return v;
    return std::nullopt;
}

Result<ExportResult> exportForm(CollectorStore& store, const ExportOptions& options) {
    CollectorExportSource source(store);
    return exportForm(source, options);
}

Result<ExportResult> exportForm(ExportSource& store, const ExportOptions& options) {
    if (options.format == ExportFormat::Records) return writeRecordsFile(store, options);
    auto forms = store.publishedForms();
    if (!forms) return forms.error();
    const PublishedFormInfo* newest = nullptr;
    for (const auto& f : *forms) {
        if (f.formId == options.formId && (!newest || f.version > newest->version)) newest = &f;
    }
    if (!newest) {
        return makeError(ErrorCode::NotFound,
                         "no form '" + options.formId + "' is published at this collector");
    }
    // Published forms were checked at publication (the binary is the collector's own), or when
    // the records file that carries them was opened.
    const fb::Form* form = fb::GetForm(newest->binary.data());
    Exporter exporter(form, options);
    RecordQuery query = options.filter;
    query.formId = options.formId;

    // For progress only: the passes below read their own snapshot.
    auto total = store.countRecords(query);
    if (!total) return total.error();
    if (options.progress) options.progress(0, total.value());
    // .sav, .dta and .xlsx need each table's row count and the longest text of each column
    // before the first row: a first pass measures them, in the same snapshot as the pass that
    // writes the rows.
    const bool counted = options.format != ExportFormat::Csv;
    if (!counted) exporter.measureWhileWriting();
    const bool xlsx = options.format == ExportFormat::Xlsx;
    ExportResult result;
    const std::string ext = std::string(".") + std::string(exportFormatName(options.format));
    // Files are written under a temporary name and renamed once all are complete: a failed
    // export (a full disk) leaves no file that looks finished.
    struct Partial {
        std::vector<std::string> files;
        bool done = false;
        ~Partial() {
            if (done) return;
            for (const auto& f : files)
                std::remove((f + ".part").c_str());
        }
    } partial;
    // Excel: one workbook, a sheet per table, and the codebook's sheet last.
    const std::string workbookFile = options.directory + "/" + form->id()->str() + ext;
    std::unique_ptr<XlsxWorkbook> workbook;
    const int writingPass = counted ? 1 : 0;
    const auto startPass = [&](int pass) -> Status {
        if (pass != writingPass) return {};
        exporter.settleWidths();
        if (xlsx) {
            partial.files.push_back(workbookFile);
            workbook = xlsxWorkbook(workbookFile + ".part", options.directory);
        }
        for (auto& t : exporter.tables()) {
            t->table.timestampUtcMs = exporter.newestMs();
            if (xlsx) {
                t->writer = workbook->sheet();
            } else {
                t->file = options.directory + "/" + t->table.name + ext;
                partial.files.push_back(t->file);
                const std::string temporary = t->file + ".part";
                t->writer = options.format == ExportFormat::Sav   ? savTableWriter(temporary)
                            : options.format == ExportFormat::Dta ? dtaTableWriter(temporary)
                                                                  : csvTableWriter(temporary);
                result.files.push_back(t->file);
            }
            if (auto s = t->writer->begin(t->table, counted ? t->rows : -1); !s) return s;
        }
        exporter.resetCounts();
        return {};
    };
    std::int64_t done = 0;
    auto s = store.forEachRecord(
        query, writingPass + 1, startPass, [&](const CurrentRecord& rec) -> Status {
            if (options.cancel && options.cancel->load())
                return makeError(ErrorCode::WrongState, "the export was cancelled");
            if (!exporter.hasWriters()) return exporter.write(rec, true);
            if (auto w = exporter.write(rec, false); !w) return w;
            if (++done % 1000 == 0 && options.progress) options.progress(done, total.value());
            return {};
        });
    if (!s) return s.error();
    for (auto& t : exporter.tables()) {
        if (auto e = t->writer->end(); !e) return e.error();
    }
    std::string codebook;
    if (xlsx) {
        auto sheet = workbook->sheet();
        if (auto c = writeCodebook(exporter, form->id()->str() + "-codebook", *sheet); !c)
            return c.error();
        if (auto c = workbook->close(); !c) return c.error();
        result.files.push_back(workbookFile);
    } else {
        codebook = options.directory + "/" + form->id()->str() + "-codebook.csv";
        partial.files.push_back(codebook);
        auto writer = csvTableWriter(codebook + ".part");
        if (auto c = writeCodebook(exporter, "codebook", *writer); !c) return c.error();
    }
    for (const auto& f : partial.files) {
        if (std::rename((f + ".part").c_str(), f.c_str()) != 0) {
            return makeError(ErrorCode::Io,
                             "cannot rename " + f + ".part: " + std::string(std::strerror(errno)));
        }
    }
    partial.done = true;
    if (!codebook.empty()) result.files.push_back(codebook);
    result.records = done;
    result.unreadable = exporter.unreadable();
    result.sealedUnopened = exporter.sealedUnopened();
    if (options.progress) options.progress(done, total.value());
    return result;
}

}  // namespace veld::sync
