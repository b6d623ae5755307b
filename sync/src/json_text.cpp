// The strict JSON reader: see json_text.hpp.
#include "json_text.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

namespace veld::sync::detail {

namespace {

constexpr int kMaxDepth = 16;

class Reader {
  public:
    explicit Reader(std::string_view text) : m_text(text) {}

    Result<Json> document() {
        auto v = value(0);
        if (!v) return v;
        skipSpace();
        if (m_at != m_text.size()) return fail("unexpected text after the end of the JSON value");
        return v;
    }

  private:
    Error fail(const std::string& message) const {
        return makeError(ErrorCode::InvalidArgument,
                         "line " + std::to_string(m_line) + ": " + message);
    }

    void skipSpace() {
        while (m_at < m_text.size()) {
            const char c = m_text[m_at];
            if (c == '\n') {
                ++m_line;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                return;
            }
            ++m_at;
        }
    }

    bool take(char c) {
        skipSpace();
        if (m_at < m_text.size() && m_text[m_at] == c) {
            ++m_at;
            return true;
        }
        return false;
    }

    Result<Json> value(int depth) {
        if (depth > kMaxDepth) return fail("nested too deeply");
        skipSpace();
        if (m_at >= m_text.size()) return fail("the text ends where a value was expected");
        Json out;
        out.line = m_line;
        const char c = m_text[m_at];
        if (c == '{') {
            ++m_at;
            out.type = Json::Type::Object;
            if (take('}')) return out;
            do {
                skipSpace();
                if (m_at >= m_text.size() || m_text[m_at] != '"') return fail("expected a key");
                auto key = string();
                if (!key) return key.error();
                if (!take(':')) return fail("expected ':' after \"" + key.value() + "\"");
                for (const auto& [name, v] : out.members) {
                    if (name == key.value()) return fail("\"" + name + "\" is given twice");
                }
                auto v = value(depth + 1);
                if (!v) return v;
                out.members.push_back({std::move(key.value()), std::move(v.value())});
            } while (take(','));
            if (!take('}')) return fail("expected ',' or '}'");
            return out;
        }
        if (c == '[') {
            ++m_at;
            out.type = Json::Type::Array;
            if (take(']')) return out;
            do {
                auto v = value(depth + 1);
                if (!v) return v;
                out.items.push_back(std::move(v.value()));
            } while (take(','));
            if (!take(']')) return fail("expected ',' or ']'");
            return out;
        }
        if (c == '"') {
            auto s = string();
            if (!s) return s.error();
            out.type = Json::Type::String;
            out.text = std::move(s.value());
            return out;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            const std::size_t start = m_at;
            while (m_at < m_text.size() &&
                   std::string_view("+-.eE0123456789").find(m_text[m_at]) != std::string_view::npos)
                ++m_at;
            out.type = Json::Type::Number;
            out.text = std::string(m_text.substr(start, m_at - start));
            return out;
        }
        struct Word {
            std::string_view text;
            Json::Type type;
            bool value;
        };
        for (const Word& w :
             {Word{"true", Json::Type::Bool, true}, Word{"false", Json::Type::Bool, false},
              Word{"null", Json::Type::Null, false}}) {
            if (m_text.substr(m_at, w.text.size()) == w.text) {
                m_at += w.text.size();
                out.type = w.type;
                out.boolean = w.value;
                return out;
            }
        }
        return fail("unexpected character '" + std::string(1, c) + "'");
    }

    static void appendUtf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::optional<std::uint32_t> hex4() {
        if (m_at + 4 > m_text.size()) return std::nullopt;
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = m_text[m_at++];
            v <<= 4;
            if (c >= '0' && c <= '9') {
                v |= static_cast<std::uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                v |= static_cast<std::uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                v |= static_cast<std::uint32_t>(c - 'A' + 10);
            } else {
                return std::nullopt;
            }
        }
        return v;
    }

    // At the opening quote.
    Result<std::string> string() {
        ++m_at;
        std::string out;
        for (;;) {
            if (m_at >= m_text.size()) return fail("a string is not closed");
            const char c = m_text[m_at++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20)
                return fail("a control character in a string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (m_at >= m_text.size()) return fail("a string is not closed");
            const char e = m_text[m_at++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out += e;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    auto cp = hex4();
                    if (!cp) return fail("a bad \\u escape");
                    if (*cp >= 0xD800 && *cp < 0xDC00) {
                        if (m_text.substr(m_at, 2) != "\\u") return fail("a lone surrogate");
                        m_at += 2;
                        auto low = hex4();
                        if (!low || *low < 0xDC00 || *low >= 0xE000)
                            return fail("a lone surrogate");
                        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
                    } else if (*cp >= 0xDC00 && *cp < 0xE000) {
                        return fail("a lone surrogate");
                    }
                    appendUtf8(out, *cp);
                    break;
                }
                default:
                    return fail("an unknown escape \\" + std::string(1, e));
            }
        }
    }

    std::string_view m_text;
    std::size_t m_at = 0;
    int m_line = 1;
};

}  // namespace

Result<Json> parseJson(std::string_view text) {
    return Reader(text).document();
}

Error at(const Json& v, const std::string& message) {
    return makeError(ErrorCode::InvalidArgument, "line " + std::to_string(v.line) + ": " + message);
}

Result<std::string> asString(const Json& v, const std::string& what) {
    if (v.type != Json::Type::String) return at(v, what + " must be a string");
    return v.text;
}

Result<std::uint32_t> asCount(const Json& v, const std::string& what, std::uint32_t max) {
    const bool digits =
        v.type == Json::Type::Number && !v.text.empty() && v.text.size() <= 10 &&
        std::all_of(v.text.begin(), v.text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoull(v.text) > max)
        return at(v, what + " must be a whole number from 0 to " + std::to_string(max));
    return static_cast<std::uint32_t>(std::stoull(v.text));
}

Result<const Json*> asArray(const Json& v, const std::string& what) {
    if (v.type != Json::Type::Array) return at(v, what + " must be a list [...]");
    return &v;
}

Status onlyKeys(const Json& v, const std::string& what,
                std::initializer_list<std::string_view> known) {
    if (v.type != Json::Type::Object) return at(v, what + " must be an object {...}");
    for (const auto& [name, member] : v.members) {
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string list;
            for (auto k : known)
                list += (list.empty() ? "" : ", ") + std::string(k);
            return at(member, "unknown key \"" + name + "\" in " + what + " (known: " + list + ")");
        }
    }
    return {};
}

const Json* member(const Json& v, std::string_view name) {
    for (const auto& [n, m] : v.members) {
        if (n == name) return &m;
    }
    return nullptr;
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";  // the short escape, as PEM text has many
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

Result<std::int64_t> asWholeNumber(const Json& v, const std::string& what, std::int64_t max) {
    const bool digits =
        v.type == Json::Type::Number && !v.text.empty() && v.text.size() <= 18 &&
        std::all_of(v.text.begin(), v.text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoll(v.text) > max)
        return at(v, what + " must be a whole number from 0 to " + std::to_string(max));
    return static_cast<std::int64_t>(std::stoll(v.text));
}

}  // namespace veld::sync::detail
