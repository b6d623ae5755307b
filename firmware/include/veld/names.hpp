// The names forms and records use, written once: items, choice lists, forms, studies, arms and
// factors share one rule; choices have their own, wider one (XLSForm authors code Likert scores
// and "don't know" as numbers). ASCII only, whatever the process's locale.
#pragma once

#include <cstddef>
#include <string_view>

namespace veld {

inline constexpr std::size_t kMaxNameLength = 64;

/// `[A-Za-z_][A-Za-z0-9_.-]*`, at most 64 bytes: item, list, form, study, arm and factor names.
[[nodiscard]] bool validName(std::string_view name);

/// `-?[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 64 bytes: choice names (what records store for a
/// choice, and strata levels), which may be numbers such as "1", "5", "-9" or "99".
[[nodiscard]] bool validChoiceName(std::string_view name);

}  // namespace veld
