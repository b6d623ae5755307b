// Checks, after a fault, of what a collector store file holds against what devices made: by SQL
// on the file itself (read-only), so that a check costs a few indexed queries per device and
// round rather than the admin API's walk over every record, and so that it can look at tables
// the API does not list (who each allocation block was dealt to).
//
// The reliability scenarios (tests/reliability/kill_*.cpp, connections.cpp) count what these
// checks find instead of asserting: lost (something a device was told is held, or finalized,
// is missing or changed), doubled (held twice), corrupt (a table breaking its rules).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <veld/allocation.hpp>
#include <veld/result.hpp>
#include <veld/sqlite.hpp>
#include <veld/store.hpp>
#include <veld/uuid.hpp>

namespace veld::test {

/// What the collector holds of one device.
struct DeviceHeld {
    bool listed = false;
    bool revoked = false;
    std::uint64_t receivedThrough = 0;
    std::int64_t revisions = 0;
    std::uint64_t maxSeq = 0;
    std::int64_t distinctRecords = 0;
};

struct HeldRevision {
    std::uint64_t seq = 0;
    Uuid recordId;
    std::vector<std::uint8_t> body;
    bool damaged = false;
};

/// A block of a study's stratum as the collector dealt it.
struct HeldBlock {
    std::string stratum;
    std::uint32_t block = 0;
    Uuid deviceId;
    bool operator<(const HeldBlock& o) const {
        return stratum != o.stratum ? stratum < o.stratum : block < o.block;
    }
};

/// A collector store file opened read-only (next to a running collector, or after it died).
class CollectorFile {
  public:
    /// NotFound when the file does not exist.
    static Result<CollectorFile> open(const std::string& path);

    Result<DeviceHeld> device(const Uuid& deviceId);
    /// Every device listed, in id order.
    Result<std::vector<Uuid>> devices();
    /// The device's revisions after `afterSeq`, in order.
    Result<std::vector<HeldRevision>> revisionsAfter(const Uuid& deviceId, std::uint64_t afterSeq);
    /// How many revisions hold a record id some other revision holds too (every record in these
    /// scenarios is finalized once, so each should be held once).
    Result<std::int64_t> revisionsHeldTwice();
    /// Revisions the collector kept aside as unreadable (none, unless bytes were damaged).
    Result<std::int64_t> rejected();
    /// The blocks of `study` dealt so far.
    Result<std::vector<HeldBlock>> dealtBlocks(const std::string& study);
    /// The study's definition as the collector keeps it, seed included (to regenerate blocks).
    Result<alloc::Study> study(const std::string& study);
    /// Allocations received from a device for the study, with how many distinct log numbers.
    Result<std::pair<std::int64_t, std::int64_t>> allocationsFrom(const std::string& study,
                                                                  const Uuid& deviceId);
    /// The newest published version of every form.
    Result<std::map<std::string, std::uint32_t>> publishedForms();
    /// The integer a query gives (e.g. a count), read afresh: a scenario polls it to kill the
    /// collector right after a commit it is waiting for.
    Result<std::int64_t> queryInt(std::string_view sql) { return m_db.queryInt(sql); }
    /// "ok", or SQLite's integrity_check lines.
    Result<std::string> integrityCheck();

  private:
    explicit CollectorFile(sql::Database db) : m_db(std::move(db)) {}
    sql::Database m_db;
};

/// What a check found: counts for the scenario's outcome, and a line per problem.
struct CheckTally {
    long lost = 0;
    long doubled = 0;
    long corrupt = 0;
    std::vector<std::string> problems;
    void addLost(long n, const std::string& why);
    void addDoubled(long n, const std::string& why);
    void addCorrupt(long n, const std::string& why);
    [[nodiscard]] bool clean() const { return lost == 0 && doubled == 0 && corrupt == 0; }
};

/// The records one device finalized, in outbox order (record i has number i + 1), and how far
/// the collector's copy has been checked already (revisions never change once held, so each is
/// compared with the device's record once). A problem that stays is counted once: the numbers
/// found lost, the records found held twice and the block problems already reported are kept.
struct DeviceLedger {
    Uuid deviceId;
    std::vector<Uuid> records;
    std::uint64_t checkedThrough = 0;
    std::set<std::uint64_t> lost;
    std::int64_t doubled = 0;
    std::set<std::string> reported;
};

/// Compares what the collector holds of a device with the device's store and ledger:
/// - the device's outbox numbers 1..lastSeq match the ledger, and what waits is gap-free;
/// - everything the device was told is held (its acknowledged number) is held: else lost;
/// - the collector's received_through equals its count and largest number of the device's
///   revisions: else corrupt;
/// - each newly held revision is the ledger's record under that number, and its body decodes to
///   the device's record: else lost (changed) or corrupt;
/// - no record is held twice: else doubled;
/// - with `complete` (the device has just synced successfully): nothing waits, and the collector
///   holds every record: else lost.
void checkDelivery(CollectorFile& held, DeviceLedger& ledger, Store& device, bool complete,
                   CheckTally& tally);

/// Checks one device's allocation blocks against what the collector dealt:
/// - every block the device holds a slot of was dealt to that device: else doubled (dealt to
///   another) or corrupt (dealt to nobody);
/// - every slot it holds opens with its key and is the slot the sequence has there: else corrupt;
/// - with `complete` (the device has just pulled successfully), every slot of every block dealt
///   to it is on the device: else lost.
/// `dealt` comes from CollectorFile::dealtBlocks; `study` from CollectorFile::study. Returns how
/// many slots of blocks dealt to the device it does not hold (yet).
std::size_t checkBlocks(const std::vector<HeldBlock>& dealt, const alloc::Study& study,
                        const std::string& devicePath, DeviceLedger& ledger, bool complete,
                        CheckTally& tally);

/// Records held in more than one revision anywhere at the collector (every record in these
/// scenarios is finalized once); counts only those beyond `reported`, which it then raises.
void checkHeldOnce(CollectorFile& held, std::int64_t& reported, CheckTally& tally);

}  // namespace veld::test
