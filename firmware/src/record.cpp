#include <algorithm>
#include <cmath>
#include <set>

#include <veld/fb/record_generated.h>
#include <veld/pseudonym.hpp>
#include <veld/record.hpp>

namespace veld {

namespace {

constexpr std::size_t kMaxTextBytes = 1u << 20;
constexpr std::size_t kMaxSignaturePoints = 200000;
constexpr std::int32_t kMaxAbsDays = 146097;  // 400 years either side of 1970
constexpr std::int32_t kMillisPerDay = 86400000;
constexpr int kMaxOffsetMinutes = 18 * 60;

// ASCII only, whatever the process's locale: [A-Za-z_][A-Za-z0-9_.-]*.
bool validName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength) return false;
    const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!(letter(name[0]) || name[0] == '_')) return false;
    return std::all_of(name.begin(), name.end(), [&](char c) {
        return letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    });
}

}  // namespace

bool validChoiceName(std::string_view name) {
    if (validName(name)) return true;
    // A number: "1", "-9", "2.5" (Likert scores and codes, as XLSForm authors type them).
    const std::string_view digits = name.starts_with('-') ? name.substr(1) : name;
    const auto allDigits = [](std::string_view s) {
        return !s.empty() && s.size() <= 32 &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    const auto dot = digits.find('.');
    if (dot == std::string_view::npos) return allDigits(digits);
    return allDigits(digits.substr(0, dot)) && allDigits(digits.substr(dot + 1));
}

namespace {

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool validUtf8(std::string_view text) {
    std::size_t i = 0;
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    while (i < text.size()) {
        unsigned char c = byte(i);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        std::uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (i + len > text.size()) return false;
        for (std::size_t k = 1; k < len; ++k) {
            unsigned char cc = byte(i + k);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
            return false;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

Error bad(std::string message) {
    return makeError(ErrorCode::InvalidArgument, std::move(message));
}
Error corrupt(std::string message) {
    return makeError(ErrorCode::Corrupt, std::move(message));
}

bool validText(std::string_view text) {
    return text.size() <= kMaxTextBytes && validUtf8(text);
}

// ---- Checks on C++ content (before encoding) ------------------------------------------------

struct ValueChecker {
    std::string_view name;

    std::optional<std::string> operator()(const std::string& v) const {
        if (!validText(v)) return "text is not valid UTF-8 or too long";
        return std::nullopt;
    }
    std::optional<std::string> operator()(std::int64_t) const { return std::nullopt; }
    std::optional<std::string> operator()(const DecimalAnswer& v) const {
        if (!std::isfinite(v.value)) return "decimal is not a finite number";
        if (!validText(v.text)) return "decimal text is not valid UTF-8";
        return std::nullopt;
    }
    std::optional<std::string> operator()(bool) const { return std::nullopt; }
    std::optional<std::string> operator()(const ChoiceAnswer& v) const {
        if (!validChoiceName(v.choice)) return "choice name is not a valid name";
        if (!validText(v.otherText)) return "'other' text is not valid UTF-8";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const ChoicesAnswer& v) const {
        std::set<std::string_view> seen;
        for (const auto& c : v.choices) {
            if (!validChoiceName(c)) return "choice name is not a valid name";
            if (!seen.insert(c).second) return "choice '" + c + "' chosen twice";
        }
        if (!validText(v.otherText)) return "'other' text is not valid UTF-8";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const DateAnswer& v) const {
        if (v.days < -kMaxAbsDays || v.days > kMaxAbsDays) return "date out of range";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const TimeAnswer& v) const {
        if (v.ms < 0 || v.ms >= kMillisPerDay) return "time of day out of range";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const DateTimeAnswer& v) const {
        if (v.offsetMinutes < -kMaxOffsetMinutes || v.offsetMinutes > kMaxOffsetMinutes)
            return "time zone offset out of range";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const SignatureAnswer& v) const {
        std::size_t points = 0;
        for (const auto& s : v.strokes)
            points += s.size();
        if (points > kMaxSignaturePoints) return "signature has too many points";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const PseudonymAnswer& v) const {
        if (v.digest.size() < 16 || v.digest.size() > 64) return "pseudonym digest has a bad size";
        if (v.keyId.empty() || !validText(v.keyId)) return "pseudonym names no key";
        if (!validText(v.scheme)) return "pseudonym scheme is not valid UTF-8";
        return std::nullopt;
    }
};

Status checkLevel(const std::vector<Answer>& answers, const std::vector<Repeat>& repeats,
                  const std::string& path, int depth) {
    if (depth > kMaxRepeatDepth) return bad(path + ": repeats nested too deeply");
    std::set<std::string_view> names;
    for (const auto& a : answers) {
        if (!validName(a.name))
            return bad(path + ": '" + a.name + "' is not a valid question name");
        if (!names.insert(a.name).second)
            return bad(path + ": question '" + a.name + "' answered twice");
        if (auto problem = std::visit(ValueChecker{a.name}, a.value))
            return bad(path + a.name + ": " + *problem);
    }
    for (const auto& r : repeats) {
        if (!validName(r.name)) return bad(path + ": '" + r.name + "' is not a valid repeat name");
        if (!names.insert(r.name).second) return bad(path + ": name '" + r.name + "' used twice");
        for (std::size_t i = 0; i < r.instances.size(); ++i) {
            std::string inner = path + r.name + "[" + std::to_string(i + 1) + "]/";
            const auto& inst = r.instances[i];
            if (Status s = checkLevel(inst.answers, inst.repeats, inner, depth + 1); !s) return s;
        }
    }
    return {};
}

// ---- Encoding -------------------------------------------------------------------------------

using Builder = flatbuffers::FlatBufferBuilder;

fb::Uuid toFb(const Uuid& id) {
    return fb::Uuid(flatbuffers::span<const std::uint8_t, 16>(id.bytes.data(), 16));
}

Uuid fromFb(const fb::Uuid& id) {
    Uuid out;
    std::copy_n(id.bytes()->data(), 16, out.bytes.begin());
    return out;
}

std::pair<fb::Value, flatbuffers::Offset<void>> encodeValue(Builder& b, const AnswerValue& value) {
    struct Encoder {
        Builder& b;
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const std::string& v) {
            auto s = b.CreateString(v);
            return {fb::Value::TextValue, fb::CreateTextValue(b, s).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(std::int64_t v) {
            return {fb::Value::IntegerValue, fb::CreateIntegerValue(b, v).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const DecimalAnswer& v) {
            auto t = b.CreateString(v.text);
            return {fb::Value::DecimalValue, fb::CreateDecimalValue(b, v.value, t).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(bool v) {
            return {fb::Value::BoolValue, fb::CreateBoolValue(b, v).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const ChoiceAnswer& v) {
            auto c = b.CreateString(v.choice);
            auto o = v.otherText.empty() ? 0 : b.CreateString(v.otherText);
            return {fb::Value::ChoiceValue, fb::CreateChoiceValue(b, c, o).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const ChoicesAnswer& v) {
            auto cs = b.CreateVectorOfStrings(v.choices);
            auto o = v.otherText.empty() ? 0 : b.CreateString(v.otherText);
            return {fb::Value::ChoicesValue, fb::CreateChoicesValue(b, cs, o).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const DateAnswer& v) {
            return {fb::Value::DateValue, fb::CreateDateValue(b, v.days).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const TimeAnswer& v) {
            return {fb::Value::TimeValue, fb::CreateTimeValue(b, v.ms).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const DateTimeAnswer& v) {
            return {fb::Value::DateTimeValue,
                    fb::CreateDateTimeValue(b, v.utcMs, v.offsetMinutes).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const SignatureAnswer& v) {
            std::vector<flatbuffers::Offset<fb::Stroke>> strokes;
            strokes.reserve(v.strokes.size());
            for (const auto& s : v.strokes) {
                std::vector<fb::Point> pts;
                pts.reserve(s.size());
                for (const auto& p : s)
                    pts.emplace_back(p.x, p.y);
                strokes.push_back(fb::CreateStroke(b, b.CreateVectorOfStructs(pts)));
            }
            auto sv = b.CreateVector(strokes);
            return {fb::Value::SignatureValue,
                    fb::CreateSignatureValue(b, sv, v.width, v.height).Union()};
        }
        std::pair<fb::Value, flatbuffers::Offset<void>> operator()(const PseudonymAnswer& v) {
            auto d = b.CreateVector(v.digest);
            auto k = b.CreateString(v.keyId);
            auto s = b.CreateString(v.scheme);
            return {fb::Value::PseudonymValue, fb::CreatePseudonymValue(b, d, k, s).Union()};
        }
    };
    return std::visit(Encoder{b}, value);
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Answer>>> encodeAnswers(
    Builder& b, const std::vector<Answer>& answers) {
    std::vector<flatbuffers::Offset<fb::Answer>> out;
    out.reserve(answers.size());
    for (const auto& a : answers) {
        auto [type, value] = encodeValue(b, a.value);
        auto name = b.CreateString(a.name);
        out.push_back(fb::CreateAnswer(b, name, type, value));
    }
    return b.CreateVectorOfSortedTables(&out);
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Repeat>>> encodeRepeats(
    Builder& b, const std::vector<Repeat>& repeats) {
    std::vector<flatbuffers::Offset<fb::Repeat>> out;
    out.reserve(repeats.size());
    for (const auto& r : repeats) {
        std::vector<flatbuffers::Offset<fb::RepeatInstance>> instances;
        instances.reserve(r.instances.size());
        for (const auto& inst : r.instances) {
            auto answers = encodeAnswers(b, inst.answers);
            auto nested = encodeRepeats(b, inst.repeats);
            instances.push_back(fb::CreateRepeatInstance(b, answers, nested));
        }
        auto iv = b.CreateVector(instances);
        auto name = b.CreateString(r.name);
        out.push_back(fb::CreateRepeat(b, name, iv));
    }
    return b.CreateVectorOfSortedTables(&out);
}

// ---- Checks on a verified buffer ------------------------------------------------------------

bool validFbText(const flatbuffers::String* s) {
    return s == nullptr || validText(s->string_view());
}

// State of one walk over a verified body. FlatBuffers offsets may point at the same table or
// string many times, so a small body can describe an enormous record; the Verifier does not stop
// that. Every string, element and table the checks visit is charged against the body's own size:
// in a body without shared parts those regions are disjoint, so the charges can never exceed it.
struct Walk {
    std::size_t budget = 0;
    bool overspent = false;
    bool newer = false;  // uses a value type this Veld does not know (written by a newer one)

    bool charge(std::size_t bytes) {
        if (bytes > budget) {
            overspent = true;
            budget = 0;
            return false;
        }
        budget -= bytes;
        return true;
    }
    bool chargeText(const flatbuffers::String* s) { return !s || charge(s->size() + 4); }
};

std::optional<std::string> checkFbValue(const fb::Answer& a, Walk& walk) {
    constexpr const char* kShared = "the body reuses its parts (a record cannot be that large)";
    switch (a.value_type()) {
        case fb::Value::TextValue: {
            auto* v = a.value_as_TextValue();
            if (v && !walk.chargeText(v->value())) return kShared;
            if (!v || !validFbText(v->value())) return "text is not valid UTF-8 or too long";
            return std::nullopt;
        }
        case fb::Value::IntegerValue:
            return a.value_as_IntegerValue() ? std::nullopt
                                             : std::optional<std::string>("no value");
        case fb::Value::DecimalValue: {
            auto* v = a.value_as_DecimalValue();
            if (v && !walk.chargeText(v->text())) return kShared;
            if (!v || !std::isfinite(v->value())) return "decimal is not a finite number";
            if (!validFbText(v->text())) return "decimal text is not valid UTF-8";
            return std::nullopt;
        }
        case fb::Value::BoolValue:
            return a.value_as_BoolValue() ? std::nullopt : std::optional<std::string>("no value");
        case fb::Value::ChoiceValue: {
            auto* v = a.value_as_ChoiceValue();
            if (v && (!walk.chargeText(v->choice()) || !walk.chargeText(v->other_text())))
                return kShared;
            if (!v || !v->choice() || !validChoiceName(v->choice()->string_view()))
                return "choice name is not a valid name";
            if (!validFbText(v->other_text())) return "'other' text is not valid UTF-8";
            return std::nullopt;
        }
        case fb::Value::ChoicesValue: {
            auto* v = a.value_as_ChoicesValue();
            if (!v) return "no value";
            if (v->choices()) {
                // A handful of choices: comparing each with those before it is cheaper than a
                // set; a long list (only a hostile body has one) falls back to the set.
                const auto* list = v->choices();
                std::set<std::string_view> seen;
                for (flatbuffers::uoffset_t i = 0; i < list->size(); ++i) {
                    const auto* c = list->Get(i);
                    if (!walk.charge(4) || !walk.chargeText(c)) return kShared;
                    if (!c || !validChoiceName(c->string_view()))
                        return "choice name is not a valid name";
                    const auto name = c->string_view();
                    if (list->size() <= 32) {
                        for (flatbuffers::uoffset_t k = 0; k < i; ++k)
                            if (list->Get(k)->string_view() == name)
                                return "a choice is chosen twice";
                    } else if (!seen.insert(name).second) {
                        return "a choice is chosen twice";
                    }
                }
            }
            if (!walk.chargeText(v->other_text())) return kShared;
            if (!validFbText(v->other_text())) return "'other' text is not valid UTF-8";
            return std::nullopt;
        }
        case fb::Value::DateValue: {
            auto* v = a.value_as_DateValue();
            if (!v || v->days() < -kMaxAbsDays || v->days() > kMaxAbsDays)
                return "date out of range";
            return std::nullopt;
        }
        case fb::Value::TimeValue: {
            auto* v = a.value_as_TimeValue();
            if (!v || v->ms() < 0 || v->ms() >= kMillisPerDay) return "time of day out of range";
            return std::nullopt;
        }
        case fb::Value::DateTimeValue: {
            auto* v = a.value_as_DateTimeValue();
            if (!v || v->offset_minutes() < -kMaxOffsetMinutes ||
                v->offset_minutes() > kMaxOffsetMinutes)
                return "time zone offset out of range";
            return std::nullopt;
        }
        case fb::Value::SignatureValue: {
            auto* v = a.value_as_SignatureValue();
            if (!v) return "no value";
            std::size_t points = 0;
            if (v->strokes()) {
                for (const auto* s : *v->strokes()) {
                    if (!walk.charge(8)) return kShared;
                    if (s && s->points()) {
                        points += s->points()->size();
                        if (!walk.charge(4 * s->points()->size())) return kShared;
                    }
                }
            }
            if (points > kMaxSignaturePoints) return "signature has too many points";
            return std::nullopt;
        }
        case fb::Value::PseudonymValue: {
            auto* v = a.value_as_PseudonymValue();
            if (v && (!walk.chargeText(v->key_id()) || !walk.chargeText(v->scheme())))
                return kShared;
            if (!v || !v->digest() || v->digest()->size() < 16 || v->digest()->size() > 64)
                return "pseudonym digest has a bad size";
            if (!v->key_id() || v->key_id()->size() == 0 || !validFbText(v->key_id()))
                return "pseudonym names no key";
            if (!validFbText(v->scheme())) return "pseudonym scheme is not valid UTF-8";
            return std::nullopt;
        }
        case fb::Value::NONE:
            return "answer has no value";
    }
    // A union member added by a newer Veld. The Verifier cannot check a table it does not know,
    // so this Veld neither reads nor damages it.
    walk.newer = true;
    return std::nullopt;
}

// Names must be valid and strictly increasing: sorted (so LookupByKey works) and unique.
template <class Vec>
std::optional<std::string> checkSortedNames(const Vec* items, const std::string& path,
                                            const char* what, Walk& walk) {
    if (!items) return std::nullopt;
    std::string_view previous;
    bool first = true;
    for (const auto* item : *items) {
        if (!item || !item->name()) return path + what + ": an entry has no name";
        // The element's offset, its table's vtable offset, and its name.
        if (!walk.charge(8) || !walk.chargeText(item->name()))
            return path + what + ": the body reuses its parts (a record cannot be that large)";
        auto name = item->name()->string_view();
        if (!validName(name))
            return path + what + ": '" + std::string(name.substr(0, 80)) + "' is not a valid name";
        if (!first && !(previous < name))
            return path + what + ": names are not sorted or not unique";
        previous = name;
        first = false;
    }
    return std::nullopt;
}

// An answer and a repeat may not share a name. Both lists are sorted: one merge finds it.
std::optional<std::string> checkNoSharedName(
    const flatbuffers::Vector<flatbuffers::Offset<fb::Answer>>* answers,
    const flatbuffers::Vector<flatbuffers::Offset<fb::Repeat>>* repeats, const std::string& path) {
    if (!answers || !repeats) return std::nullopt;
    flatbuffers::uoffset_t a = 0;
    flatbuffers::uoffset_t r = 0;
    while (a < answers->size() && r < repeats->size()) {
        const auto an = answers->Get(a)->name()->string_view();
        const auto rn = repeats->Get(r)->name()->string_view();
        if (an == rn) return path + "repeats: name '" + std::string(rn) + "' used twice";
        if (an < rn) {
            ++a;
        } else {
            ++r;
        }
    }
    return std::nullopt;
}

std::optional<std::string> checkFbLevel(
    const flatbuffers::Vector<flatbuffers::Offset<fb::Answer>>* answers,
    const flatbuffers::Vector<flatbuffers::Offset<fb::Repeat>>* repeats, const std::string& path,
    int depth, Walk& walk) {
    if (depth > kMaxRepeatDepth) return path + ": repeats nested too deeply";
    if (auto p = checkSortedNames(answers, path, "answers", walk)) return p;
    if (auto p = checkSortedNames(repeats, path, "repeats", walk)) return p;
    if (auto p = checkNoSharedName(answers, repeats, path)) return p;
    if (answers) {
        for (const auto* a : *answers) {
            if (auto problem = checkFbValue(*a, walk))
                return path + a->name()->str() + ": " + *problem;
        }
    }
    if (repeats) {
        for (const auto* r : *repeats) {
            if (!r->instances()) continue;
            std::size_t index = 0;
            for (const auto* inst : *r->instances()) {
                ++index;
                if (!inst) return path + r->name()->str() + ": an empty instance";
                if (!walk.charge(8))
                    return path + ": the body reuses its parts (a record cannot be that large)";
                std::string inner = path + r->name()->str() + "[" + std::to_string(index) + "]/";
                if (auto p = checkFbLevel(inst->answers(), inst->repeats(), inner, depth + 1, walk))
                    return p;
            }
        }
    }
    return std::nullopt;
}

// Returns the verified root, or a reason.
Result<const fb::Record*> verifyBody(std::span<const std::uint8_t> body) {
    if (body.size() < 8) return corrupt("record body is too short to be a record");
    if (body.size() > kMaxRecordBodyBytes) return corrupt("record body is larger than 16 MiB");
    if (!fb::RecordBufferHasIdentifier(body.data()))
        return corrupt("record body does not start with the record identifier");
    // Depth covers repeats nested kMaxRepeatDepth deep with room to spare; the table limit keeps
    // the Verifier's own work bounded on hostile input.
    flatbuffers::Verifier verifier(body.data(), body.size(), 64, 1000000);
    if (!fb::VerifyRecordBuffer(verifier))
        return corrupt("record body fails the FlatBuffers verifier");
    const fb::Record* record = fb::GetRecord(body.data());

    Uuid id = fromFb(*record->id());
    if (id.version() != 7 || (id.bytes[8] & 0xC0) != 0x80)
        return corrupt("record id " + id.toString() + " is not a UUIDv7");
    if (fromFb(*record->device_id()).isNil()) return corrupt("record has no device id");
    if (!validName(record->form_id()->string_view()))
        return corrupt("record's form id is not a valid name");
    auto status = static_cast<std::uint8_t>(record->status());
    if (status > static_cast<std::uint8_t>(fb::RecordStatus::MAX)) {
        return makeError(ErrorCode::TooNew,
                         "record " + id.toString() + " has a status this Veld does not know");
    }
    if (record->hlc() == 0) return corrupt("record has no clock value");
    if (record->created_hlc() > record->hlc())
        return corrupt("record was created after its own revision");
    if (record->case_id() && fromFb(*record->case_id()).isNil())
        return corrupt("record has a nil case id");
    Walk walk{body.size()};
    if (auto p = checkFbLevel(record->answers(), record->repeats(), "", 0, walk))
        return corrupt("record " + id.toString() + ": " + *p);
    if (const auto* para = record->paradata()) {
        if (auto p = checkSortedNames(para->timings(), std::string(), "paradata timings", walk))
            return corrupt("record " + id.toString() + ": " + *p);
        if (!validFbText(para->language()) || !validFbText(para->app_version()))
            return corrupt("record " + id.toString() + ": paradata text is not valid UTF-8");
    }
    if (const auto* sealed = record->sealed()) {
        const auto empty = [](const auto* v) { return v == nullptr || v->size() == 0; };
        if (!empty(record->answers()) || !empty(record->repeats()) || record->paradata())
            return corrupt("record " + id.toString() + " is sealed but carries answers in clear");
        if (!pseudonym::validKeyId(sealed->key_id()->string_view()))
            return corrupt("record " + id.toString() + " names no valid key it was sealed to");
        // The box holds at least a record body's identifier and root.
        if (sealed->box()->size() < kSealOverheadBytes + 8)
            return corrupt("record " + id.toString() + ": its sealed content is too short");
    }
    if (const auto* change = record->case_change()) {
        if (!record->case_id()) return corrupt("record " + id.toString() + " changes no case");
        if (static_cast<std::uint8_t>(change->action()) >
            static_cast<std::uint8_t>(fb::CaseAction::MAX)) {
            return makeError(ErrorCode::TooNew, "record " + id.toString() +
                                                    " does to its case what this Veld does not "
                                                    "know");
        }
        if (!validFbText(change->case_type()) || !validFbText(change->pseudonym()))
            return corrupt("record " + id.toString() + ": case text is not valid UTF-8");
        if (auto p = checkSortedNames(change->properties(), std::string(), "case properties", walk))
            return corrupt("record " + id.toString() + ": " + *p);
        if (const auto* props = change->properties()) {
            for (const auto* prop : *props) {
                if (!validFbText(prop->value()) || (prop->value() && prop->value()->size() > 4096))
                    return corrupt("record " + id.toString() +
                                   ": a case property value is not valid UTF-8 or too long");
            }
        }
    }
    if (const auto* a = record->allocation()) {
        if (!record->case_id())
            return corrupt("record " + id.toString() + " has an allocation but no case");
        if (!validName(a->study()->string_view()) || !validFbText(a->stratum()) ||
            !validFbText(a->arm()) || a->arm()->size() == 0 || a->log_seq() == 0)
            return corrupt("record " + id.toString() + ": its allocation is not well formed");
    }
    if (walk.newer) {
        return makeError(ErrorCode::TooNew, "record " + id.toString() +
                                                " holds answers of a type this Veld does not know "
                                                "(written by a newer Veld)");
    }
    return record;
}

// ---- Decoding (after verification) ----------------------------------------------------------

std::string str(const flatbuffers::String* s) {
    return s ? s->str() : std::string();
}

AnswerValue decodeValue(const fb::Answer& a) {
    switch (a.value_type()) {
        case fb::Value::TextValue:
            return str(a.value_as_TextValue()->value());
        case fb::Value::IntegerValue:
            return a.value_as_IntegerValue()->value();
        case fb::Value::DecimalValue: {
            auto* v = a.value_as_DecimalValue();
            return DecimalAnswer{v->value(), str(v->text())};
        }
        case fb::Value::BoolValue:
            return a.value_as_BoolValue()->value();
        case fb::Value::ChoiceValue: {
            auto* v = a.value_as_ChoiceValue();
            return ChoiceAnswer{str(v->choice()), str(v->other_text())};
        }
        case fb::Value::ChoicesValue: {
            auto* v = a.value_as_ChoicesValue();
            ChoicesAnswer out;
            if (v->choices()) {
                for (const auto* c : *v->choices())
                    out.choices.push_back(c->str());
            }
            out.otherText = str(v->other_text());
            return out;
        }
        case fb::Value::DateValue:
            return DateAnswer{a.value_as_DateValue()->days()};
        case fb::Value::TimeValue:
            return TimeAnswer{a.value_as_TimeValue()->ms()};
        case fb::Value::DateTimeValue: {
            auto* v = a.value_as_DateTimeValue();
            return DateTimeAnswer{v->utc_ms(), v->offset_minutes()};
        }
        case fb::Value::SignatureValue: {
            auto* v = a.value_as_SignatureValue();
            SignatureAnswer out;
            out.width = v->width();
            out.height = v->height();
            if (v->strokes()) {
                for (const auto* s : *v->strokes()) {
                    auto& stroke = out.strokes.emplace_back();
                    if (!s->points()) continue;
                    for (const auto* p : *s->points())
                        stroke.push_back({p->x(), p->y()});
                }
            }
            return out;
        }
        case fb::Value::PseudonymValue: {
            auto* v = a.value_as_PseudonymValue();
            PseudonymAnswer out;
            out.digest.assign(v->digest()->begin(), v->digest()->end());
            out.keyId = str(v->key_id());
            out.scheme = str(v->scheme());
            return out;
        }
        case fb::Value::NONE:
            break;
    }
    assert(false && "decodeValue on an unverified answer");
    return std::string();
}

std::vector<Answer> decodeAnswers(const flatbuffers::Vector<flatbuffers::Offset<fb::Answer>>* in) {
    std::vector<Answer> out;
    if (!in) return out;
    out.reserve(in->size());
    for (const auto* a : *in)
        out.push_back(Answer{a->name()->str(), decodeValue(*a)});
    return out;
}

std::vector<Repeat> decodeRepeats(const flatbuffers::Vector<flatbuffers::Offset<fb::Repeat>>* in) {
    std::vector<Repeat> out;
    if (!in) return out;
    for (const auto* r : *in) {
        Repeat rep{r->name()->str(), {}};
        if (r->instances()) {
            for (const auto* inst : *r->instances()) {
                rep.instances.push_back(
                    RepeatInstance{decodeAnswers(inst->answers()), decodeRepeats(inst->repeats())});
            }
        }
        out.push_back(std::move(rep));
    }
    return out;
}

std::optional<CaseChange> decodeCaseChange(const fb::CaseChange* in) {
    if (!in) return std::nullopt;
    CaseChange out;
    out.action = static_cast<CaseAction>(in->action());
    out.caseType = str(in->case_type());
    out.pseudonym = str(in->pseudonym());
    if (in->properties()) {
        for (const auto* p : *in->properties())
            out.properties.push_back(
                {p->name()->str(), str(p->value()), HlcTimestamp{p->base_hlc()}});
    }
    return out;
}

std::optional<Allocation> decodeAllocation(const fb::Allocation* in) {
    if (!in) return std::nullopt;
    Allocation out;
    out.study = in->study()->str();
    out.stratum = in->stratum()->str();
    out.block = in->block();
    out.position = in->position();
    out.arm = in->arm()->str();
    if (in->token()) out.token.assign(in->token()->begin(), in->token()->end());
    out.logSeq = in->log_seq();
    out.takenUtcMs = in->taken_utc_ms();
    return out;
}

}  // namespace

std::string_view caseActionName(CaseAction action) {
    switch (action) {
        case CaseAction::None:
            return "none";
        case CaseAction::Open:
            return "open";
        case CaseAction::FollowUp:
            return "follow-up";
        case CaseAction::Close:
            return "close";
    }
    return "unknown";
}

bool RepeatInstance::operator==(const RepeatInstance& other) const {
    return answers == other.answers && repeats == other.repeats;
}

std::string_view recordStatusName(RecordStatus status) {
    switch (status) {
        case RecordStatus::Draft:
            return "draft";
        case RecordStatus::Finalized:
            return "finalized";
        case RecordStatus::Sent:
            return "sent";
        case RecordStatus::Quarantined:
            return "quarantined";
    }
    return "unknown";
}

std::optional<RecordStatus> parseRecordStatus(std::string_view name) {
    for (auto s : {RecordStatus::Draft, RecordStatus::Finalized, RecordStatus::Sent,
                   RecordStatus::Quarantined}) {
        if (recordStatusName(s) == name) return s;
    }
    return std::nullopt;
}

Status checkRecordContent(const RecordContent& content) {
    if (!validName(content.formId)) return bad("'" + content.formId + "' is not a valid form id");
    if (content.caseId && content.caseId->isNil()) return bad("the case id is nil");
    if (Status s = checkLevel(content.answers, content.repeats, "", 0); !s) return s;
    std::set<std::string_view> timingNames;
    for (const auto& t : content.paradata.timings) {
        if (!validName(t.name) || !timingNames.insert(t.name).second)
            return bad("paradata timing '" + t.name + "' is not a valid, unique question name");
    }
    if (!validText(content.paradata.language) || !validText(content.paradata.appVersion))
        return bad("paradata text is not valid UTF-8");
    if (content.caseChange) {
        const CaseChange& change = *content.caseChange;
        if (!content.caseId) return bad("a record that changes a case needs a case id");
        if (!validText(change.caseType) || !validText(change.pseudonym))
            return bad("case text is not valid UTF-8");
        std::set<std::string_view> names;
        for (const auto& p : change.properties) {
            if (!validName(p.name) || !names.insert(p.name).second)
                return bad("case property '" + p.name + "' is not a valid, unique name");
            if (!validText(p.value) || p.value.size() > 4096)
                return bad("case property '" + p.name + "' is not valid UTF-8 or too long");
        }
    }
    if (content.allocation) {
        const Allocation& a = *content.allocation;
        if (!content.caseId) return bad("an allocation needs a case id");
        if (!validName(a.study) || a.arm.empty() || !validText(a.arm) || !validText(a.stratum) ||
            a.logSeq == 0)
            return bad("the allocation is not well formed");
    }
    return {};
}

Result<std::vector<std::uint8_t>> encodeRecord(const Record& record) {
    if (Status s = checkRecordContent(record.content); !s) return s.error();
    if (record.id.version() != 7) return bad("record id is not a UUIDv7");
    if (record.deviceId.isNil()) return bad("record has no device id");

    const RecordContent& c = record.content;
    if (record.sealed) {
        if (!c.answers.empty() || !c.repeats.empty() || !(c.paradata == Paradata{}))
            return bad("a sealed record carries its answers only inside its sealed content");
        if (!pseudonym::validKeyId(record.sealed->keyId))
            return bad("a sealed record must name a valid key id");
        if (record.sealed->box.size() < kSealOverheadBytes + 8)
            return bad("a sealed record's sealed content is too short");
    }
    Builder b(4096);  // most records fit: no regrowth while building
    auto formId = b.CreateString(c.formId);
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Answer>>> answers;
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Repeat>>> repeats;
    flatbuffers::Offset<fb::Paradata> paradata;
    flatbuffers::Offset<fb::SealedContent> sealed;
    if (record.sealed) {
        sealed = fb::CreateSealedContent(b, b.CreateString(record.sealed->keyId),
                                         b.CreateVector(record.sealed->box));
    } else {
        answers = encodeAnswers(b, c.answers);
        repeats = encodeRepeats(b, c.repeats);
        std::vector<flatbuffers::Offset<fb::QuestionTiming>> timings;
        for (const auto& t : c.paradata.timings) {
            timings.push_back(fb::CreateQuestionTiming(b, b.CreateString(t.name), t.ms, t.visits));
        }
        auto timingVec = b.CreateVectorOfSortedTables(&timings);
        auto lang = b.CreateString(c.paradata.language);
        auto appVersion = b.CreateString(c.paradata.appVersion);
        paradata = fb::CreateParadata(b, c.paradata.startedUtcMs, c.paradata.finalizedUtcMs, lang,
                                      appVersion, timingVec, c.paradata.edits, c.paradata.kiosk);
    }

    flatbuffers::Offset<fb::CaseChange> caseChange;
    if (c.caseChange) {
        std::vector<flatbuffers::Offset<fb::CasePropertyValue>> props;
        for (const auto& p : c.caseChange->properties) {
            props.push_back(fb::CreateCasePropertyValue(b, b.CreateString(p.name),
                                                        b.CreateString(p.value), p.base.value));
        }
        auto propVec = b.CreateVectorOfSortedTables(&props);
        caseChange = fb::CreateCaseChange(b, static_cast<fb::CaseAction>(c.caseChange->action),
                                          b.CreateString(c.caseChange->caseType),
                                          b.CreateString(c.caseChange->pseudonym), propVec);
    }
    flatbuffers::Offset<fb::Allocation> allocation;
    if (c.allocation) {
        const Allocation& a = *c.allocation;
        allocation = fb::CreateAllocation(b, b.CreateString(a.study), b.CreateString(a.stratum),
                                          a.block, a.position, b.CreateString(a.arm),
                                          b.CreateVector(a.token), a.logSeq, a.takenUtcMs);
    }

    fb::Uuid id = toFb(record.id);
    fb::Uuid device = toFb(record.deviceId);
    std::optional<fb::Uuid> caseId;
    if (c.caseId) caseId = toFb(*c.caseId);

    fb::RecordBuilder rb(b);
    rb.add_id(&id);
    rb.add_form_id(formId);
    rb.add_form_version(c.formVersion);
    if (caseId) rb.add_case_id(&*caseId);
    rb.add_device_id(&device);
    rb.add_hlc(record.hlc.value);
    rb.add_status(record.finalized ? fb::RecordStatus::Finalized : fb::RecordStatus::Draft);
    if (record.sealed) {
        rb.add_sealed(sealed);
    } else {
        rb.add_answers(answers);
        rb.add_repeats(repeats);
        rb.add_paradata(paradata);
    }
    rb.add_created_hlc(record.createdHlc.value);
    if (c.caseChange) rb.add_case_change(caseChange);
    if (c.allocation) rb.add_allocation(allocation);
    auto root = rb.Finish();
    fb::FinishRecordBuffer(b, root);

    if (b.GetSize() > kMaxRecordBodyBytes) return bad("record is larger than 16 MiB");
    return std::vector<std::uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Status checkRecordBody(std::span<const std::uint8_t> body) {
    auto verified = verifyBody(body);
    if (!verified) return verified.error();
    return {};
}

Result<RecordHeader> inspectRecord(std::span<const std::uint8_t> body) {
    auto verified = verifyBody(body);
    if (!verified) return verified.error();
    const fb::Record* r = *verified;
    RecordHeader out;
    out.id = fromFb(*r->id());
    out.deviceId = fromFb(*r->device_id());
    out.hlc = HlcTimestamp{r->hlc()};
    out.formId = r->form_id()->str();
    out.formVersion = r->form_version();
    if (r->case_id()) out.caseId = fromFb(*r->case_id());
    out.finalized = r->status() == fb::RecordStatus::Finalized;
    out.sealed = r->sealed() != nullptr;
    out.caseChange = decodeCaseChange(r->case_change());
    out.allocation = decodeAllocation(r->allocation());
    return out;
}

Result<Record> decodeRecord(std::span<const std::uint8_t> body) {
    auto verified = verifyBody(body);
    if (!verified) return verified.error();
    const fb::Record* r = *verified;

    Record out;
    out.id = fromFb(*r->id());
    out.deviceId = fromFb(*r->device_id());
    out.hlc = HlcTimestamp{r->hlc()};
    out.createdHlc = HlcTimestamp{r->created_hlc()};
    out.finalized = r->status() == fb::RecordStatus::Finalized;
    out.content.formId = r->form_id()->str();
    out.content.formVersion = r->form_version();
    if (r->case_id()) out.content.caseId = fromFb(*r->case_id());
    out.content.caseChange = decodeCaseChange(r->case_change());
    out.content.allocation = decodeAllocation(r->allocation());
    if (const auto* sealed = r->sealed()) {
        out.sealed =
            SealedContent{sealed->key_id()->str(), {sealed->box()->begin(), sealed->box()->end()}};
        return out;
    }
    out.content.answers = decodeAnswers(r->answers());
    out.content.repeats = decodeRepeats(r->repeats());
    if (const auto* p = r->paradata()) {
        out.content.paradata.startedUtcMs = p->started_utc_ms();
        out.content.paradata.finalizedUtcMs = p->finalized_utc_ms();
        out.content.paradata.language = str(p->language());
        out.content.paradata.appVersion = str(p->app_version());
        out.content.paradata.edits = p->edits();
        out.content.paradata.kiosk = p->kiosk();
        if (p->timings()) {
            for (const auto* t : *p->timings()) {
                out.content.paradata.timings.push_back({t->name()->str(), t->ms(), t->visits()});
            }
        }
    }
    return out;
}

}  // namespace veld
