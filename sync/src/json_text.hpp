// A small strict JSON reader for Veld's own little JSON files (study definitions, provisioning
// files): a typo must be an error that names the line, never a silently taken default, so keys are
// checked against the known ones, a key given twice is refused, and nothing may follow the value.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>

namespace veld::sync::detail {

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

/// Reads one JSON value (objects and arrays nested at most 16 deep); errors name the line.
Result<Json> parseJson(std::string_view text);

/// An InvalidArgument error naming the value's line.
Error at(const Json& v, const std::string& message);
Result<std::string> asString(const Json& v, const std::string& what);
/// A whole number from 0 to `max`, written without fraction or exponent.
Result<std::uint32_t> asCount(const Json& v, const std::string& what, std::uint32_t max);
/// A whole number from 0 to `max` (at most 2^63 - 1), written without fraction or exponent.
Result<std::int64_t> asWholeNumber(const Json& v, const std::string& what, std::int64_t max);
Result<const Json*> asArray(const Json& v, const std::string& what);
/// Checks that an object has only the known keys (a typo is an error, never a default).
Status onlyKeys(const Json& v, const std::string& what,
                std::initializer_list<std::string_view> known);
/// The member `name` of an object; nullptr when absent.
const Json* member(const Json& v, std::string_view name);
/// `s` as a JSON string, quotes included.
std::string quoted(std::string_view s);

}  // namespace veld::sync::detail
