#include "study_balance.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace veld::sync {

StudyBalance studyBalance(const alloc::Study& def, const std::vector<AllocationRow>& rows,
                          const std::vector<DealtBlock>& dealt,
                          const std::map<Uuid, std::string>& labels) {
    StudyBalance out;
    out.study = def.id;
    out.allocated = static_cast<std::int64_t>(rows.size());
    std::map<std::string, std::size_t> index;
    const auto stratumAt = [&](const std::string& key, bool known) -> StratumBalance& {
        auto [it, added] = index.emplace(key, out.strata.size());
        if (added) {
            StratumBalance b;
            b.stratum = key;
            b.known = known;
            for (const auto& arm : def.arms)
                b.arms.push_back({arm.name, 0, 0});
            out.strata.push_back(std::move(b));
        }
        return out.strata[it->second];
    };
    for (const auto& key : alloc::strata(def))
        stratumAt(key, true);
    std::map<std::tuple<std::string, std::uint32_t>, std::set<std::uint32_t>> used;
    std::map<Uuid, DeviceBalance> devices;
    for (const AllocationRow& r : rows) {
        StratumBalance& b = stratumAt(r.stratum, false);
        ++b.allocated;
        auto arm = std::find_if(b.arms.begin(), b.arms.end(),
                                [&](const ArmBalance& a) { return a.arm == r.arm; });
        if (arm == b.arms.end()) {
            b.arms.push_back({r.arm, 0, 0});  // an arm the study does not have
            arm = b.arms.end() - 1;
        }
        ++arm->allocated;
        used[{r.stratum, r.block}].insert(r.position);
        auto& d = devices[r.deviceId];
        d.deviceId = r.deviceId;
        ++d.allocated;
    }
    const std::uint32_t sum = alloc::ratioSum(def);
    for (auto& b : out.strata) {
        for (auto& a : b.arms) {
            const auto arm = std::find_if(def.arms.begin(), def.arms.end(),
                                          [&](const alloc::Arm& x) { return x.name == a.arm; });
            const double ratio = arm == def.arms.end() ? 0.0 : arm->ratio;
            a.target = static_cast<double>(b.allocated) * ratio / sum;
        }
    }
    for (const auto& block : dealt) {
        auto& d = devices[block.deviceId];
        d.deviceId = block.deviceId;
        ++d.dealtBlocks;
        const auto at = index.find(block.stratum);
        if (at == index.end()) continue;
        StratumBalance& b = out.strata[at->second];
        ++b.dealtBlocks;
        const auto size = alloc::generateBlock(def, block.stratum, block.block).arms.size();
        d.dealtSlots += static_cast<std::int64_t>(size);
        const auto u = used.find({block.stratum, block.block});
        const std::size_t n = u == used.end() ? 0 : u->second.size();
        if (n >= size) {
            ++b.completeBlocks;
        } else if (n > 0) {
            ++b.openBlocks;
        }
    }
    for (auto& [id, d] : devices) {
        const auto label = labels.find(id);
        if (label != labels.end()) d.label = label->second;
        out.devices.push_back(d);
    }
    return out;
}

}  // namespace veld::sync
