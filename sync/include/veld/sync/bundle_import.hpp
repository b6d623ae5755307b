// The collector's side of sync by file: importing a device's bundle (veld/sync/bundle.hpp) and
// making the reply bundle. The bundle's messages go through exactly the store's enrol(), push()
// and pull(), as a network round's do, so a bundle follows the rules of a push: importing the
// same bundle twice, or one overlapping what came by network, changes nothing.
//
// Checks, each refusing with a plain reason and changing nothing:
//   damaged, cut short, not a bundle, or from a newer Veld; made for another collector; from a
//   device not enrolled here (unless it carries its enrolment); a signature that is not the
//   device's; a revoked device; an older bundle than one imported (replayed); a bundle whose
//   records start after a gap (an earlier bundle must be imported first).
// The same bundle again (its number and digest) is "already imported": nothing changes, and the
// reply is made again.
//
// Thread-safety: as the store (every method of a CollectorStore is thread-safe); two imports of
// the same device's bundles at once are not ordered against each other.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <veld/result.hpp>
#include <veld/sync/bundle.hpp>
#include <veld/sync/collector_store.hpp>

namespace veld::sync {

struct BundleImport {
    enum class Outcome { Imported, AlreadyImported };
    Outcome outcome = Outcome::Imported;
    bundle::Header header;            // the device's bundle
    std::vector<std::uint8_t> reply;  // the reply bundle's bytes, for the device
    bool enrolled = false;            // the bundle enrolled its device
    std::int64_t stored = 0;          // revisions stored by this import
    std::int64_t duplicates = 0;      // revisions held already
    std::int64_t rejected = 0;        // revisions refused (kept for staff, as with a push)
};

/// Imports a device's bundle (see above) as `actor` (audited). The store's identity key opens
/// it and signs the reply. Errors: Corrupt (damaged, cut
/// short, foreign, or a signature that does not match), TooNew, NotFound ("not enrolled here"),
/// WrongState (another collector's bundle, a reply bundle, a revoked device, replayed, out of
/// order), or what the store's enrol(), push() and pull() refuse.
Result<BundleImport> importBundle(CollectorStore& store, std::span<const std::uint8_t> bytes,
                                  std::int64_t nowMs, const std::string& actor);

}  // namespace veld::sync
