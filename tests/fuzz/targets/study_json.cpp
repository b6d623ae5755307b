// Study definitions (veld/sync/study_json.hpp) as staff hand them to `veldctl study define`:
// the strict reader, its canonical writer (which must read back the same), and what the
// collector then derives from a study: its strata, blocks of each, and sealed slots.
#include <algorithm>
#include <map>
#include <set>

#include <veld/allocation.hpp>
#include <veld/sync/study_json.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"

namespace veld::fuzz {

int studyJson(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    auto parsed = sync::parseStudyJson(asText(data, size));
    if (!parsed) return 0;
    const sync::StudyDefinition& def = parsed.value();
    FUZZ_CHECK(sync::checkStudyDefinition(def).ok());

    // The canonical text reads back as the same definition, and is a fixed point.
    for (bool withSeed : {false, true}) {
        const std::string text = sync::studyJson(def, withSeed);
        auto again = sync::parseStudyJson(text);
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(sync::studyJson(again.value(), withSeed) == text);
        FUZZ_CHECK(again->study.id == def.study.id &&
                   again->blocksPerDevice == def.blocksPerDevice);
        if (withSeed && def.seedGiven) FUZZ_CHECK(again->study.seed == def.study.seed);
    }

    // Every block holds each arm in its ratio, in a block size the study allows.
    const alloc::Study& study = def.study;
    const auto strata = alloc::strata(study);
    FUZZ_CHECK(!strata.empty() && strata.size() <= sync::kMaxStrata);
    const std::uint32_t sum = alloc::ratioSum(study);
    FUZZ_CHECK(sum > 0);
    const auto& keys = deviceBoxKeys();
    for (std::size_t s = 0; s < strata.size() && s < 4; ++s) {
        for (std::uint32_t number : {0u, 1u, 977u}) {
            const alloc::Block block = alloc::generateBlock(study, strata[s], number);
            const auto blockSize = static_cast<std::uint32_t>(block.arms.size());
            FUZZ_CHECK(std::find(study.blockSizes.begin(), study.blockSizes.end(), blockSize) !=
                       study.blockSizes.end());
            FUZZ_CHECK(block.tokens.size() == block.arms.size());
            std::map<std::string, std::uint32_t> counts;
            for (const auto& arm : block.arms)
                ++counts[arm];
            for (const auto& arm : study.arms)
                FUZZ_CHECK(counts[arm.name] == arm.ratio * (blockSize / sum));
            const std::set<std::array<std::uint8_t, alloc::kTokenBytes>> tokens(
                block.tokens.begin(), block.tokens.end());
            FUZZ_CHECK(tokens.size() == block.tokens.size());
            // What the collector deals reaches the device whole.
            alloc::Slot slot{study.id, strata[s], number, 0, block.arms[0], block.tokens[0]};
            auto opened = alloc::openSlot(alloc::sealSlot(slot, keys.publicKey), keys.publicKey,
                                          keys.secretKey);
            FUZZ_CHECK(opened.ok() && opened.value() == slot);
        }
    }
    return 0;
}

}  // namespace veld::fuzz
