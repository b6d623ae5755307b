#include <algorithm>

#include <veld/names.hpp>

namespace veld {

namespace {

bool letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool digit(char c) {
    return c >= '0' && c <= '9';
}
bool nameChar(char c) {
    return letter(c) || digit(c) || c == '_' || c == '-' || c == '.';
}

}  // namespace

bool validName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength) return false;
    if (!(letter(name[0]) || name[0] == '_')) return false;
    return std::all_of(name.begin(), name.end(), nameChar);
}

bool validChoiceName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength) return false;
    std::string_view rest = name;
    if (rest[0] == '-') rest.remove_prefix(1);
    if (rest.empty() || !(letter(rest[0]) || digit(rest[0]) || rest[0] == '_')) return false;
    return std::all_of(rest.begin(), rest.end(), nameChar);
}

}  // namespace veld
