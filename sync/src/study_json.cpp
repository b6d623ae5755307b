// Study definitions in JSON, read by Veld's strict reader (json_text.hpp): a typo in a
// randomisation (a misspelt "ratio" silently taking its default) must be an error that names the
// line, which a lenient general-purpose reader would not give.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include <veld/hex.hpp>
#include <veld/sync/study_json.hpp>

#include "json_text.hpp"

namespace veld::sync {

namespace {

constexpr std::size_t kMaxStudyBytes = 1u << 20;

using detail::asArray;
using detail::asCount;
using detail::asString;
using detail::at;
using detail::Json;
using detail::member;
using detail::onlyKeys;
using detail::quoted;

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
    auto doc = detail::parseJson(text);
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
