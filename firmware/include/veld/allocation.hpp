// Randomisation: a study's allocation sequence, and the sealed slots that carry it to devices.
//
// A study has arms with integer ratios, strata (every combination of its factors' levels) and a
// set of block sizes. For each stratum, a secret seed determines an endless sequence of permuted
// blocks: block b has a size chosen at random from the study's sizes, and holds every arm
// `ratio x (size / sum of ratios)` times in a random order. Every block and every slot can be
// computed on its own from the seed, so the collector deals blocks out to devices as they need
// them, and anyone holding the seed (the evaluator, at the end) can regenerate the whole sequence
// and check the allocation log against it.
//
// Each slot also has a token: 16 bytes derived from the seed that only a device that opened the
// slot can know. A device's allocation log names the token of every slot it used, so a log entry
// cannot be made up without the sealed slot.
//
// Slots travel to a device sealed (libsodium's sealed box) to the device's own X25519 key, one
// box per slot. The device opens a slot only when it enrols a participant into it.
//
// Derivation (version 1; never change it for an existing study):
//   stratum key  = BLAKE2b-256(key = seed, "veld-alloc-v1" 0x00 study 0x00 stratum)
//   block bytes  = randombytes_buf_deterministic(seed = BLAKE2b-256(key = stratum key,
//                  "block" u32le(b)))
//   size         = sizes[uniform(|sizes|)]; then Fisher-Yates over the arms' list, with uniform(n)
//                  drawn from the block bytes by rejection sampling on u32le words
//   token        = BLAKE2b-128(key = stratum key, "token" u32le(b) u32le(position))
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/record.hpp>
#include <veld/result.hpp>

namespace veld::alloc {

inline constexpr std::size_t kSeedBytes = 32;
inline constexpr std::size_t kTokenBytes = 16;
inline constexpr std::size_t kBoxKeyBytes = 32;
/// Limits that keep a study definition sane (and a hostile one cheap).
inline constexpr std::size_t kMaxArms = 8;
inline constexpr std::uint32_t kMaxRatio = 10;
inline constexpr std::size_t kMaxFactors = 4;
inline constexpr std::size_t kMaxLevels = 32;
inline constexpr std::uint32_t kMaxBlockSize = 64;

struct Arm {
    std::string name;
    std::uint32_t ratio = 1;
};

struct Factor {
    std::string name;
    std::vector<std::string> levels;  // choice names of the form's question
};

/// A study as central staff define it (the seed never leaves the collector).
struct Study {
    std::string id;     // a name: [A-Za-z_][A-Za-z0-9_.-]*
    std::string pilot;  // which pilot it belongs to
    std::vector<Arm> arms;
    std::vector<Factor> factors;            // none: one stratum, ""
    std::vector<std::uint32_t> blockSizes;  // each a multiple of the sum of ratios
    std::array<std::uint8_t, kSeedBytes> seed{};
    std::uint32_t lowSlots = 0;  // a device warns below this many slots left in a stratum;
                                 // 0: one largest block
};

/// InvalidArgument naming the problem: names, ratios, sizes that are not multiples, limits.
Status checkStudy(const Study& study);

/// "factor=level;factor=level" in the study's factor order ("" for a study without factors).
std::string stratumKey(const std::vector<std::pair<std::string, std::string>>& levels);
/// Every stratum of a study, in factor order (the first factor varies slowest).
std::vector<std::string> strata(const Study& study);

/// The sum of the arms' ratios.
std::uint32_t ratioSum(const Study& study);
/// The largest block size, which is also what "within one block of the target" means.
std::uint32_t largestBlock(const Study& study);

/// One generated block: arms in slot order, and each slot's token.
struct Block {
    std::uint32_t number = 0;
    std::vector<std::string> arms;
    std::vector<std::array<std::uint8_t, kTokenBytes>> tokens;
};
/// Block `number` of `stratum` (which must be one of strata(study)); the same on every call.
Block generateBlock(const Study& study, std::string_view stratum, std::uint32_t number);

/// What a sealed slot holds.
struct Slot {
    std::string study;
    std::string stratum;
    std::uint32_t block = 0;
    std::uint32_t position = 0;
    std::string arm;
    std::array<std::uint8_t, kTokenBytes> token{};
    bool operator==(const Slot&) const = default;
};

/// The allocation a device records when it takes `slot`: its log number and the time taken.
Allocation allocationOf(const Slot& slot, std::uint64_t logSeq, std::int64_t takenUtcMs);

/// A slot sealed to a device's box public key.
std::vector<std::uint8_t> sealSlot(const Slot& slot,
                                   const std::array<std::uint8_t, kBoxKeyBytes>& devicePublicKey);
/// Opens a sealed slot: Corrupt when it does not open with this key pair or is not a slot.
Result<Slot> openSlot(std::span<const std::uint8_t> box,
                      const std::array<std::uint8_t, kBoxKeyBytes>& publicKey,
                      const std::array<std::uint8_t, kBoxKeyBytes>& secretKey);

/// A new X25519 key pair for a device (public, secret).
std::pair<std::array<std::uint8_t, kBoxKeyBytes>, std::array<std::uint8_t, kBoxKeyBytes>>
newBoxKeyPair();

}  // namespace veld::alloc
