// Study definitions in JSON. A small strict reader of its own: the format is tiny, and a typo in
// a randomisation (a misspelt "ratio" silently taking its default) must be an error that names
// the line, which a lenient general-purpose reader would not give.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include <veld/hex.hpp>
#include <veld/sync/study_json.hpp>

namespace veld::sync {

namespace {

constexpr std::size_t kMaxStudyBytes = 1u << 20;
constexpr int kMaxDepth = 16;

struct JsonMember;

struct Json {
    enum class Type { Null, Bool, Number, String, Array, Object };
    Type type = Type::Null;
    bool boolean = false;
    std::string text;  // a string's value, or a number as written
    std::vector<Json> items;
    std::vector<JsonMember> members;
    int line = 1;
};

// An object's member, in the order written (a struct rather than a pair: a pair of an
// incomplete type may not be instantiated inside Json itself).
struct JsonMember {
    std::string first;
    Json second;
};

class Reader {
  public:
    explicit Reader(std::string_view text) : m_text(text) {}

    Result<Json> document() {
        auto v = value(0);
        if (!v) return v;
        skipSpace();
        if (m_at != m_text.size()) return fail("unexpected text after the study's closing brace");
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

Error at(const Json& v, const std::string& message) {
    return makeError(ErrorCode::InvalidArgument, "line " + std::to_string(v.line) + ": " + message);
}

Result<std::string> asString(const Json& v, const std::string& what) {
    if (v.type != Json::Type::String) return at(v, what + " must be a string");
    return v.text;
}

// A whole number from 0 to `max`, written without fraction or exponent.
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

// Checks that an object has only the known keys (a typo is an error, never a default).
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
    // Names are checked to be plain (letters, digits, _ - .); the pilot may hold more.
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
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

}  // namespace

std::uint32_t effectiveLowSlots(const alloc::Study& study) {
    return study.lowSlots != 0 ? study.lowSlots : alloc::largestBlock(study);
}

Status checkStudyDefinition(const StudyDefinition& definition) {
    if (auto s = alloc::checkStudy(definition.study); !s) return s;
    std::size_t strata = 1;
    for (const auto& f : definition.study.factors)
        strata *= f.levels.size();
    if (strata > kMaxStrata) {
        return makeError(ErrorCode::InvalidArgument,
                         "the study has " + std::to_string(strata) + " strata; at most " +
                             std::to_string(kMaxStrata) + " (fewer factors or levels)");
    }
    if (definition.blocksPerDevice < 1 || definition.blocksPerDevice > kMaxBlocksPerDevice) {
        return makeError(ErrorCode::InvalidArgument, "blocks per device must be from 1 to " +
                                                         std::to_string(kMaxBlocksPerDevice));
    }
    return {};
}

Result<StudyDefinition> parseStudyJson(std::string_view text) {
    if (text.size() > kMaxStudyBytes)
        return makeError(ErrorCode::InvalidArgument, "a study definition is at most 1 MiB");
    auto doc = Reader(text).document();
    if (!doc) return doc.error();
    const Json& root = doc.value();
    if (auto s = onlyKeys(root, "the study",
                          {"id", "pilot", "arms", "factors", "block_sizes", "seed", "low_slots",
                           "blocks_per_device"});
        !s)
        return s.error();
    StudyDefinition out;
    alloc::Study& study = out.study;

    const Json* id = member(root, "id");
    if (!id) return at(root, "the study needs an \"id\"");
    auto idText = asString(*id, "\"id\"");
    if (!idText) return idText.error();
    study.id = idText.value();

    if (const Json* pilot = member(root, "pilot")) {
        auto p = asString(*pilot, "\"pilot\"");
        if (!p) return p.error();
        if (p->size() > 200) return at(*pilot, "\"pilot\" is too long");
        study.pilot = p.value();
    }

    const Json* arms = member(root, "arms");
    if (!arms) return at(root, "the study needs \"arms\"");
    if (auto a = asArray(*arms, "\"arms\""); !a) return a.error();
    for (const Json& arm : arms->items) {
        if (auto s = onlyKeys(arm, "an arm", {"name", "ratio"}); !s) return s.error();
        alloc::Arm a;
        const Json* name = member(arm, "name");
        if (!name) return at(arm, "an arm needs a \"name\"");
        auto n = asString(*name, "an arm's \"name\"");
        if (!n) return n.error();
        a.name = n.value();
        if (const Json* ratio = member(arm, "ratio")) {
            auto r = asCount(*ratio, "an arm's \"ratio\"", alloc::kMaxRatio);
            if (!r) return r.error();
            a.ratio = r.value();
        }
        study.arms.push_back(std::move(a));
    }

    if (const Json* factors = member(root, "factors")) {
        if (auto a = asArray(*factors, "\"factors\""); !a) return a.error();
        for (const Json& factor : factors->items) {
            if (auto s = onlyKeys(factor, "a factor", {"name", "levels"}); !s) return s.error();
            alloc::Factor f;
            const Json* name = member(factor, "name");
            if (!name) return at(factor, "a factor needs a \"name\"");
            auto n = asString(*name, "a factor's \"name\"");
            if (!n) return n.error();
            f.name = n.value();
            const Json* levels = member(factor, "levels");
            if (!levels) return at(factor, "the factor \"" + f.name + "\" needs \"levels\"");
            if (auto a = asArray(*levels, "\"levels\""); !a) return a.error();
            for (const Json& level : levels->items) {
                auto l = asString(level, "a level");
                if (!l) return l.error();
                f.levels.push_back(l.value());
            }
            study.factors.push_back(std::move(f));
        }
    }

    const Json* sizes = member(root, "block_sizes");
    if (!sizes) return at(root, "the study needs \"block_sizes\"");
    if (auto a = asArray(*sizes, "\"block_sizes\""); !a) return a.error();
    for (const Json& size : sizes->items) {
        auto s = asCount(size, "a block size", alloc::kMaxBlockSize);
        if (!s) return s.error();
        study.blockSizes.push_back(s.value());
    }

    if (const Json* seed = member(root, "seed")) {
        auto s = asString(*seed, "\"seed\"");
        if (!s) return s.error();
        const auto bytes = fromHex(s.value());
        if (!bytes || bytes->size() != alloc::kSeedBytes)
            return at(*seed, "\"seed\" must be 64 hex digits");
        std::copy(bytes->begin(), bytes->end(), study.seed.begin());
        out.seedGiven = true;
    }
    if (const Json* low = member(root, "low_slots")) {
        auto l = asCount(*low, "\"low_slots\"", 10000);
        if (!l) return l.error();
        study.lowSlots = l.value();
    }
    if (const Json* per = member(root, "blocks_per_device")) {
        auto b = asCount(*per, "\"blocks_per_device\"", kMaxBlocksPerDevice);
        if (!b) return b.error();
        if (b.value() == 0) return at(*per, "\"blocks_per_device\" must be at least 1");
        out.blocksPerDevice = b.value();
    }
    if (auto s = checkStudyDefinition(out); !s) return s.error();
    return out;
}

std::string studyJson(const StudyDefinition& definition, bool withSeed) {
    const alloc::Study& s = definition.study;
    std::string out =
        "{\n  \"id\": " + quoted(s.id) + ",\n  \"pilot\": " + quoted(s.pilot) + ",\n  \"arms\": [";
    for (std::size_t i = 0; i < s.arms.size(); ++i) {
        out += (i ? ", " : "") + std::string("{\"name\": ") + quoted(s.arms[i].name) +
               ", \"ratio\": " + std::to_string(s.arms[i].ratio) + "}";
    }
    out += "],\n  \"factors\": [";
    for (std::size_t i = 0; i < s.factors.size(); ++i) {
        out += (i ? ",\n    " : "\n    ") + std::string("{\"name\": ") + quoted(s.factors[i].name) +
               ", \"levels\": [";
        for (std::size_t j = 0; j < s.factors[i].levels.size(); ++j)
            out += (j ? ", " : "") + quoted(s.factors[i].levels[j]);
        out += "]}";
    }
    out += s.factors.empty() ? "]" : "\n  ]";
    out += ",\n  \"block_sizes\": [";
    for (std::size_t i = 0; i < s.blockSizes.size(); ++i)
        out += (i ? ", " : "") + std::to_string(s.blockSizes[i]);
    out += "],\n  \"low_slots\": " + std::to_string(s.lowSlots) +
           ",\n  \"blocks_per_device\": " + std::to_string(definition.blocksPerDevice);
    if (withSeed) out += ",\n  \"seed\": \"" + toHex(s.seed) + "\"";
    out += "\n}\n";
    return out;
}

}  // namespace veld::sync
