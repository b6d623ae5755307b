// A randomised study as central staff write it: a small JSON file, read strictly (unknown keys,
// duplicate keys and wrong types are errors naming the line), then checked with
// veld::alloc::checkStudy. Example (schemas/studies/ips.json):
//
//   {"id": "ips", "pilot": "ips_long_term_unemployed",
//    "arms": [{"name": "ips", "ratio": 1}, {"name": "usual_care", "ratio": 1}],
//    "factors": [{"name": "municipality", "levels": ["utrecht", "amersfoort"]}],
//    "block_sizes": [2, 4, 6], "low_slots": 4, "blocks_per_device": 2}
//
// "seed" (64 hex digits) is optional and belongs in no file kept with the project: without it the
// collector makes a secret seed when the study is defined, and discloses it only on request
// (`veldctl study seed`, audited), for the evaluator at the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <veld/allocation.hpp>
#include <veld/result.hpp>

namespace veld::sync {

/// The most blocks of one stratum a device is dealt at a time.
inline constexpr std::uint32_t kMaxBlocksPerDevice = 100;
/// The most strata (the product of the factors' level counts) a study may have at the
/// collector: every device is dealt blocks of every stratum.
inline constexpr std::size_t kMaxStrata = 1024;

struct StudyDefinition {
    alloc::Study study;
    /// How many blocks of each stratum a device is dealt at a time: at its first pull, and again
    /// whenever it reports fewer than the study's lowSlots left in that stratum.
    std::uint32_t blocksPerDevice = 2;
    /// Whether `study.seed` was given (in the file); otherwise the collector makes one.
    bool seedGiven = false;
};

/// checkStudy, and the collector's own limits (kMaxStrata, blocks per device).
Status checkStudyDefinition(const StudyDefinition& definition);

/// Parses and checks a study definition. InvalidArgument with "line N: ..." on any problem.
Result<StudyDefinition> parseStudyJson(std::string_view text);

/// The definition as canonical JSON (fixed key order and layout), without the seed unless
/// `withSeed`: equal definitions give equal text, and parseStudyJson reads it back.
std::string studyJson(const StudyDefinition& definition, bool withSeed = false);

/// The slots a device is warned below: the study's lowSlots, or its largest block when 0.
std::uint32_t effectiveLowSlots(const alloc::Study& study);

}  // namespace veld::sync
