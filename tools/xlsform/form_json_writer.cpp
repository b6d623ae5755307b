#include "form_json_writer.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

namespace veld::xlsform {

namespace {

void quote(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    static constexpr char kHex[] = "0123456789abcdef";
                    out += "\\u00";
                    out += kHex[(c >> 4) & 0xF];
                    out += kHex[c & 0xF];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

std::string number(double v) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
    return ec == std::errc() ? std::string(buffer, end) : "0";
}

// Writes one JSON object whose fields each take a line; nested arrays of small objects put one
// object per line.
class ObjectWriter {
  public:
    ObjectWriter(std::string& out, int indent) : m_out(out), m_indent(indent) { m_out += "{"; }

    void string(std::string_view key, std::string_view value, bool always = false) {
        if (value.empty() && !always) return;
        field(key);
        quote(m_out, value);
    }
    void raw(std::string_view key, std::string_view json) {
        field(key);
        m_out += json;
    }
    void flag(std::string_view key, bool value) {
        if (value) raw(key, "true");
    }
    void texts(std::string_view key, const Texts& texts) {
        if (texts.empty()) return;
        field(key);
        m_out += "[";
        for (std::size_t i = 0; i < texts.size(); ++i) {
            m_out += i ? ",\n" : "\n";
            pad(m_indent + 2);
            m_out += "{\"lang\": ";
            quote(m_out, texts[i].first);
            m_out += ", \"text\": ";
            quote(m_out, texts[i].second);
            m_out += "}";
        }
        m_out += "\n";
        pad(m_indent + 1);
        m_out += "]";
    }
    // Labels with their media: a language may have a recording or picture without a text.
    void labels(std::string_view key, const Texts& texts, const Texts& audio, const Texts& images) {
        if (audio.empty() && images.empty()) return this->texts(key, texts);
        std::vector<std::string> langs;
        for (const Texts* t : {&texts, &audio, &images})
            for (const auto& [lang, value] : *t)
                if (std::find(langs.begin(), langs.end(), lang) == langs.end())
                    langs.push_back(lang);
        const auto in = [](const Texts& t, const std::string& lang) -> const std::string* {
            for (const auto& [l, value] : t)
                if (l == lang) return &value;
            return nullptr;
        };
        field(key);
        m_out += "[";
        for (std::size_t i = 0; i < langs.size(); ++i) {
            m_out += i ? ",\n" : "\n";
            pad(m_indent + 2);
            m_out += "{\"lang\": ";
            quote(m_out, langs[i]);
            if (const auto* text = in(texts, langs[i])) {
                m_out += ", \"text\": ";
                quote(m_out, *text);
            }
            if (const auto* file = in(audio, langs[i])) {
                m_out += ", \"audio\": ";
                quote(m_out, *file);
            }
            if (const auto* file = in(images, langs[i])) {
                m_out += ", \"image\": ";
                quote(m_out, *file);
            }
            m_out += "}";
        }
        m_out += "\n";
        pad(m_indent + 1);
        m_out += "]";
    }
    void pairs(std::string_view key, const std::vector<std::pair<std::string, std::string>>& pairs,
               std::string_view first, std::string_view second) {
        if (pairs.empty()) return;
        field(key);
        m_out += "[";
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            m_out += i ? ",\n" : "\n";
            pad(m_indent + 2);
            m_out += "{";
            quote(m_out, first);
            m_out += ": ";
            quote(m_out, pairs[i].first);
            m_out += ", ";
            quote(m_out, second);
            m_out += ": ";
            quote(m_out, pairs[i].second);
            m_out += "}";
        }
        m_out += "\n";
        pad(m_indent + 1);
        m_out += "]";
    }
    // Starts a field whose value the caller writes (an object or an array) at depth indent + 1.
    void field(std::string_view key) {
        m_out += m_first ? "\n" : ",\n";
        m_first = false;
        pad(m_indent + 1);
        quote(m_out, key);
        m_out += ": ";
    }
    void close() {
        if (!m_first) {
            m_out += "\n";
            pad(m_indent);
        }
        m_out += "}";
    }
    void pad(int depth) { m_out.append(static_cast<std::size_t>(depth) * 2, ' '); }

  private:
    std::string& m_out;
    int m_indent;
    bool m_first = true;
};

template <class T, class F>
void array(std::string& out, int indent, const std::vector<T>& items, F&& writeOne) {
    out += "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += i ? ",\n" : "\n";
        out.append(static_cast<std::size_t>(indent + 1) * 2, ' ');
        writeOne(items[i], indent + 1);
    }
    out += "\n";
    out.append(static_cast<std::size_t>(indent) * 2, ' ');
    out += "]";
}

void writeItem(std::string& out, const ItemDraft& item, int indent) {
    ObjectWriter o(out, indent);
    o.string("name", item.name, true);
    o.string("kind", item.kind, true);
    o.string("type", item.type);
    o.string("choice_list", item.choiceList);
    o.string("choice_filter", item.choiceFilter);
    o.string("appearance", item.appearance);
    o.flag("required", item.required);
    o.flag("read_only", item.readOnly);
    o.flag("hidden", item.hidden);
    o.flag("multiline", item.multiline);
    if (item.maxLength) o.raw("max_length", std::to_string(*item.maxLength));
    o.string("pattern", item.pattern);
    if (item.minValue) o.raw("min_value", number(*item.minValue));
    if (item.maxValue) o.raw("max_value", number(*item.maxValue));
    if (item.step) o.raw("step", number(*item.step));
    o.string("identifier_scheme", item.identifierScheme);
    o.flag("identifying", item.identifying);
    if (item.minCount) o.raw("min_count", std::to_string(*item.minCount));
    if (item.maxCount) o.raw("max_count", std::to_string(*item.maxCount));
    o.string("repeat_count", item.repeatCount);
    o.string("relevance", item.relevance);
    o.string("constraint", item.constraint);
    o.string("calculation", item.calculation);
    o.string("default_value", item.defaultValue);
    o.labels("labels", item.labels, item.labelAudio, item.labelImages);
    o.texts("hints", item.hints);
    o.texts("constraint_messages", item.constraintMessages);
    o.texts("required_messages", item.requiredMessages);
    if (!item.children.empty()) {
        o.field("children");
        array(out, indent + 1, item.children,
              [&](const ItemDraft& c, int depth) { writeItem(out, c, depth); });
    }
    o.close();
}

}  // namespace

std::string formJson(const FormDraft& form) {
    std::string out;
    out.reserve(4096 + form.items.size() * 512);
    ObjectWriter o(out, 0);
    o.string("id", form.id, true);
    o.raw("version", std::to_string(form.version));
    o.string("version_label", form.versionLabel);
    o.string("pilot", form.pilot);
    o.string("default_language", form.defaultLanguage, true);
    o.field("languages");
    array(out, 1, form.languages, [&](const LanguageDraft& l, int) {
        out += "{\"tag\": ";
        quote(out, l.tag);
        out += ", \"name\": ";
        quote(out, l.name);
        if (l.rtl) out += ", \"rtl\": true";
        out += "}";
    });
    o.texts("titles", form.titles);
    o.texts("descriptions", form.descriptions);
    const bool hasCase = !form.caseAction.empty() || !form.caseType.empty() ||
                         !form.casePseudonymQuestion.empty() || !form.caseUpdates.empty();
    if (form.sealed || form.kiosk || form.anonymous || !form.summaryQuestion.empty() || hasCase ||
        !form.randomiseStudy.empty() || form.readAloud) {
        o.field("settings");
        ObjectWriter s(out, 1);
        s.flag("sealed", form.sealed);
        s.flag("kiosk", form.kiosk);
        s.flag("read_aloud", form.readAloud);
        s.flag("anonymous", form.anonymous);
        s.string("summary_question", form.summaryQuestion);
        if (hasCase) {
            s.field("case_settings");
            ObjectWriter c(out, 2);
            c.string("action", form.caseAction.empty() ? "None" : form.caseAction, true);
            c.string("case_type", form.caseType);
            c.string("pseudonym_question", form.casePseudonymQuestion);
            c.pairs("updates", form.caseUpdates, "property", "question");
            c.close();
        }
        if (!form.randomiseStudy.empty()) {
            s.field("randomisation");
            ObjectWriter r(out, 2);
            r.string("study", form.randomiseStudy, true);
            r.string("when", form.randomiseWhen);
            r.pairs("strata", form.randomiseStrata, "factor", "question");
            r.close();
        }
        s.close();
    }
    if (!form.choiceLists.empty()) {
        o.field("choice_lists");
        array(out, 1, form.choiceLists, [&](const ChoiceListDraft& list, int depth) {
            ObjectWriter l(out, depth);
            l.string("name", list.name, true);
            l.field("choices");
            array(out, depth + 1, list.choices, [&](const ChoiceDraft& c, int d) {
                ObjectWriter w(out, d);
                w.string("name", c.name, true);
                w.flag("is_other", c.isOther);
                w.flag("exclusive", c.exclusive);
                w.labels("labels", c.labels, c.labelAudio, c.labelImages);
                w.pairs("properties", c.properties, "name", "value");
                w.close();
            });
            l.close();
        });
    }
    o.field("items");
    array(out, 1, form.items,
          [&](const ItemDraft& item, int depth) { writeItem(out, item, depth); });
    o.close();
    out += "\n";
    return out;
}

}  // namespace veld::xlsform
