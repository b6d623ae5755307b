// Cases as the device holds them and as the collector sends them: plain values that the device
// store (veld/store.hpp) keeps and the form engine reads without needing the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/hlc.hpp>
#include <veld/uuid.hpp>

namespace veld {

/// One case property as the device holds it.
struct CaseProperty {
    std::string name;
    std::string value;
    HlcTimestamp hlc;  // of the revision that set it (on any device, or the collector)
    bool operator==(const CaseProperty&) const = default;
};

/// A case on this device: opened here, or assigned to it and received by pull.
struct CaseInfo {
    Uuid id;
    std::string caseType;
    std::string pseudonym;                         // "KEYID:HEX", or empty
    std::vector<CaseProperty> properties;          // sorted by name; `status`, `arm`, `label`, ...
    std::optional<std::int64_t> lastContactUtcMs;  // the newest record of the case, any device
    bool closed = false;                           // `status` is "closed"
    /// The property's value, or empty.
    [[nodiscard]] std::string property(std::string_view name) const;
    /// `next_contact` as days since 1970-01-01, when it holds an ISO date.
    [[nodiscard]] std::optional<std::int32_t> nextContactDays() const;
};

struct CaseQuery {
    /// Matches (ASCII case-insensitively) a property value, or the pseudonym's digits.
    std::string text;
    /// Matches the case's pseudonym exactly ("KEYID:HEX"), e.g. from a typed BSN.
    std::optional<std::string> pseudonym;
    std::optional<std::string> caseType;
    bool includeClosed = false;
    std::size_t limit = 200;
};

/// A case as the collector sends it (pull). Properties merge one by one: the newer HLC wins.
struct CaseUpdateIn {
    Uuid id;
    std::string caseType;
    std::string pseudonym;
    std::vector<CaseProperty> properties;
    std::optional<std::int64_t> lastContactUtcMs;
    bool assigned = true;  // false: no longer this device's; it leaves the list
};

}  // namespace veld
