// Demo data for trying Veld out: the pilots' forms installed into a store, a demo pseudonym key,
// and records filled in through form sessions with synthetic answers. Nothing in them is about a
// real person.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <veld/result.hpp>
#include <veld/store.hpp>

namespace veld::sync {
class CollectorStore;
}

namespace veld::veldctl {

/// The id of the pseudonym key a demo store gets when it has none.
inline constexpr const char* kDemoKeyId = "demo";

struct DemoSetup {
    std::vector<std::string> installed;         // "id vN" of forms installed now
    std::vector<std::string> alreadyInstalled;  // the store held the same content
    std::vector<std::string> kept;  // the store holds other content under that id and version
    bool keyCreated = false;        // a demo pseudonym key was stored
};

/// Installs every form (*.json) in `formsDir` into the store, and stores a new random pseudonym
/// key with id "demo" when the store has none (an existing key is never replaced: digests made
/// with it would no longer match). A form whose id and version are installed with other content
/// is left as installed and listed in `kept`. InvalidArgument when a form has errors; NotFound
/// when the folder holds no forms.
Result<DemoSetup> setUpDemo(Store& store, const std::string& formsDir);

struct DemoCounts {
    int drafts = 0;
    int finalized = 0;
    int sealed = 0;                    // of the finalized: sealed to the project key
    std::vector<std::string> skipped;  // sealed forms left without records: no project key
    int awaitingAllocation = 0;  // of the drafts: randomising intakes with no allocation to take
};

/// Adds `count` demo records on the newest installed version of each form, in turn, filled in
/// through form sessions (so skip logic, constraints and calculations hold, and the client can
/// reopen the drafts). About a third are left as unfinished drafts, except on sealed forms,
/// which keep no drafts and whose records are sealed to the store's project key (sealed forms
/// get no records when the store has none; they are listed in `skipped`). Pseudonym questions are
/// answered with digests of synthetic numbers under the store's pseudonym key. Follow-up and close
/// forms are filled for the store's open cases; a randomising intake takes an allocation when
/// the store holds one for its stratum, and otherwise stays a draft (`awaitingAllocation`).
/// NotFound when no form is installed or the store has no pseudonym key. Deterministic for a given
/// seed and day (ids, clocks and the key aside).
Result<DemoCounts> addDemoRecords(Store& store, int count, std::uint32_t seed);

/// For trying the console without field work: a second demo device ("demo-second-device") is
/// enrolled at the collector and sends a revision of an existing record with two text answers
/// changed, made without knowing the current one, so the collector keeps it as a conflict.
/// Returns the record's id; NotFound when no record has a text answer.
Result<Uuid> addDemoConflict(sync::CollectorStore& collector, std::int64_t nowMs,
                             const std::string& actor);

}  // namespace veld::veldctl
