// How a study's allocations stand against its targets and the blocks dealt (StudyStore::balance),
// from the rows every backend reads: written once, outside any database.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <veld/sync/store/studies.hpp>
#include <veld/uuid.hpp>

namespace veld::sync {

/// `rows`: the study's allocations in the order received; `dealt`: its dealt blocks; `labels`:
/// the label of every device named in either (a device missing there gets an empty label).
StudyBalance studyBalance(const alloc::Study& study, const std::vector<AllocationRow>& rows,
                          const std::vector<DealtBlock>& dealt,
                          const std::map<Uuid, std::string>& labels);

}  // namespace veld::sync
