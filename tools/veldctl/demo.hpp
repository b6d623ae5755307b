// Demo records for trying Veld out: synthetic answers to the pilots' kinds of forms. Nothing in
// them is about a real person.
#pragma once

#include <cstdint>

#include <veld/result.hpp>
#include <veld/store.hpp>

namespace veld::veldctl {

struct DemoCounts {
    int drafts = 0;
    int finalized = 0;
};

/// Adds `count` demo records through the store's public API, about a third left as drafts.
/// Deterministic for a given seed (ids and clocks aside).
Result<DemoCounts> addDemoRecords(Store& store, int count, std::uint32_t seed);

}  // namespace veld::veldctl
