#include <algorithm>
#include <cstring>
#include <set>

#include <sodium.h>

#include <veld/allocation.hpp>
#include <veld/names.hpp>

namespace veld::alloc {

namespace {

constexpr std::string_view kDomain = "veld-alloc-v1";
constexpr std::string_view kSlotMagic = "VSL1";

bool sodiumReady() {
    static const bool ready = sodium_init() >= 0;
    return ready;
}

Error invalid(std::string message) {
    return Error{ErrorCode::InvalidArgument, std::move(message)};
}

void putU32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint32_t getU32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

using Key = std::array<std::uint8_t, 32>;

Key stratumSecret(const Study& study, std::string_view stratum) {
    std::vector<std::uint8_t> message(kDomain.begin(), kDomain.end());
    message.push_back(0);
    message.insert(message.end(), study.id.begin(), study.id.end());
    message.push_back(0);
    message.insert(message.end(), stratum.begin(), stratum.end());
    Key out{};
    crypto_generichash(out.data(), out.size(), message.data(), message.size(), study.seed.data(),
                       study.seed.size());
    return out;
}

// A deterministic stream of 32-bit words from a 32-byte seed (ChaCha20 through libsodium). A
// longer stream starts with the shorter one, so running out only means generating more.
class Words {
  public:
    explicit Words(const Key& seed) : m_seed(seed) { refill(1024); }

    std::uint32_t next() {
        if (m_at + 4 > m_bytes.size()) refill(m_bytes.size() * 2);
        const std::uint32_t v = getU32(m_bytes.data() + m_at);
        m_at += 4;
        return v;
    }

    // Uniform in [0, n), without modulo bias (rejection sampling).
    std::uint32_t below(std::uint32_t n) {
        const std::uint64_t range = 1ULL << 32;
        const std::uint64_t limit = range - range % n;
        for (;;) {
            const std::uint32_t v = next();
            if (v < limit) return v % n;
        }
    }

  private:
    void refill(std::size_t size) {
        m_bytes.resize(size);
        randombytes_buf_deterministic(m_bytes.data(), m_bytes.size(), m_seed.data());
    }
    Key m_seed;
    std::vector<std::uint8_t> m_bytes;
    std::size_t m_at = 0;
};

}  // namespace

std::uint32_t ratioSum(const Study& study) {
    std::uint32_t sum = 0;
    for (const auto& a : study.arms)
        sum += a.ratio;
    return sum;
}

std::uint32_t largestBlock(const Study& study) {
    std::uint32_t largest = 0;
    for (auto s : study.blockSizes)
        largest = std::max(largest, s);
    return largest;
}

Status checkStudy(const Study& study) {
    if (!validName(study.id)) return invalid("the study id '" + study.id + "' is not a valid name");
    if (study.arms.size() < 2 || study.arms.size() > kMaxArms)
        return invalid("a study has 2 to " + std::to_string(kMaxArms) + " arms");
    std::set<std::string_view> names;
    for (const auto& arm : study.arms) {
        if (!validName(arm.name)) return invalid("the arm '" + arm.name + "' is not a valid name");
        if (!names.insert(arm.name).second) return invalid("the arm '" + arm.name + "' is twice");
        if (arm.ratio < 1 || arm.ratio > kMaxRatio)
            return invalid("the arm '" + arm.name + "' needs a ratio from 1 to " +
                           std::to_string(kMaxRatio));
    }
    if (study.factors.size() > kMaxFactors)
        return invalid("a study has at most " + std::to_string(kMaxFactors) + " factors");
    names.clear();
    for (const auto& f : study.factors) {
        if (!validName(f.name)) return invalid("the factor '" + f.name + "' is not a valid name");
        if (!names.insert(f.name).second) return invalid("the factor '" + f.name + "' is twice");
        if (f.levels.empty() || f.levels.size() > kMaxLevels)
            return invalid("the factor '" + f.name + "' needs 1 to " + std::to_string(kMaxLevels) +
                           " levels");
        std::set<std::string_view> levels;
        for (const auto& l : f.levels) {
            if (!validChoiceName(l) || !levels.insert(l).second)
                return invalid("the factor '" + f.name + "' has a level '" + l +
                               "' that is not a valid, unique name");
        }
    }
    if (study.blockSizes.empty()) return invalid("a study needs at least one block size");
    const std::uint32_t sum = ratioSum(study);
    std::set<std::uint32_t> sizes;
    for (auto size : study.blockSizes) {
        if (size == 0 || size % sum != 0 || size > kMaxBlockSize)
            return invalid("the block size " + std::to_string(size) +
                           " is not a multiple of the sum of the ratios (" + std::to_string(sum) +
                           ") up to " + std::to_string(kMaxBlockSize));
        if (!sizes.insert(size).second)
            return invalid("the block size " + std::to_string(size) + " is twice");
    }
    return {};
}

std::string stratumKey(const std::vector<std::pair<std::string, std::string>>& levels) {
    std::string out;
    for (const auto& [factor, level] : levels) {
        if (!out.empty()) out += ';';
        out += factor;
        out += '=';
        out += level;
    }
    return out;
}

std::vector<std::string> strata(const Study& study) {
    std::vector<std::vector<std::pair<std::string, std::string>>> combos{{}};
    for (const auto& f : study.factors) {
        std::vector<std::vector<std::pair<std::string, std::string>>> next;
        for (const auto& combo : combos) {
            for (const auto& level : f.levels) {
                auto c = combo;
                c.emplace_back(f.name, level);
                next.push_back(std::move(c));
            }
        }
        combos = std::move(next);
    }
    std::vector<std::string> out;
    out.reserve(combos.size());
    for (const auto& c : combos)
        out.push_back(stratumKey(c));
    return out;
}

Block generateBlock(const Study& study, std::string_view stratum, std::uint32_t number) {
    (void)sodiumReady();
    const Key secret = stratumSecret(study, stratum);
    std::vector<std::uint8_t> message{'b', 'l', 'o', 'c', 'k'};
    putU32(message, number);
    Key blockSeed{};
    crypto_generichash(blockSeed.data(), blockSeed.size(), message.data(), message.size(),
                       secret.data(), secret.size());
    Words words(blockSeed);

    Block block;
    block.number = number;
    const std::uint32_t sum = ratioSum(study);
    const std::uint32_t size =
        study.blockSizes[words.below(static_cast<std::uint32_t>(study.blockSizes.size()))];
    const std::uint32_t times = size / sum;
    for (const auto& arm : study.arms) {
        for (std::uint32_t i = 0; i < arm.ratio * times; ++i)
            block.arms.push_back(arm.name);
    }
    // Fisher-Yates: every order equally likely.
    for (std::size_t i = block.arms.size(); i > 1; --i) {
        const std::uint32_t j = words.below(static_cast<std::uint32_t>(i));
        std::swap(block.arms[i - 1], block.arms[j]);
    }
    block.tokens.resize(block.arms.size());
    for (std::uint32_t p = 0; p < block.arms.size(); ++p) {
        std::vector<std::uint8_t> t{'t', 'o', 'k', 'e', 'n'};
        putU32(t, number);
        putU32(t, p);
        crypto_generichash(block.tokens[p].data(), kTokenBytes, t.data(), t.size(), secret.data(),
                           secret.size());
    }
    return block;
}

Allocation allocationOf(const Slot& slot, std::uint64_t logSeq, std::int64_t takenUtcMs) {
    return Allocation{slot.study,    slot.stratum, slot.block,
                      slot.position, slot.arm,     {slot.token.begin(), slot.token.end()},
                      logSeq,        takenUtcMs};
}

std::vector<std::uint8_t> sealSlot(const Slot& slot,
                                   const std::array<std::uint8_t, kBoxKeyBytes>& devicePublicKey) {
    (void)sodiumReady();
    std::vector<std::uint8_t> plain(kSlotMagic.begin(), kSlotMagic.end());
    putU32(plain, slot.block);
    putU32(plain, slot.position);
    plain.insert(plain.end(), slot.token.begin(), slot.token.end());
    const auto text = [&](std::string_view s) {
        putU32(plain, static_cast<std::uint32_t>(s.size()));
        plain.insert(plain.end(), s.begin(), s.end());
    };
    text(slot.study);
    text(slot.stratum);
    text(slot.arm);
    std::vector<std::uint8_t> box(plain.size() + crypto_box_SEALBYTES);
    crypto_box_seal(box.data(), plain.data(), plain.size(), devicePublicKey.data());
    sodium_memzero(plain.data(), plain.size());
    return box;
}

Result<Slot> openSlot(std::span<const std::uint8_t> box,
                      const std::array<std::uint8_t, kBoxKeyBytes>& publicKey,
                      const std::array<std::uint8_t, kBoxKeyBytes>& secretKey) {
    (void)sodiumReady();
    const auto corrupt = [](const char* why) {
        return Error{ErrorCode::Corrupt, std::string("an allocation slot ") + why};
    };
    if (box.size() < crypto_box_SEALBYTES + kSlotMagic.size() + 8 + kTokenBytes + 12 ||
        box.size() > 4096)
        return corrupt("has the wrong size");
    std::vector<std::uint8_t> plain(box.size() - crypto_box_SEALBYTES);
    if (crypto_box_seal_open(plain.data(), box.data(), box.size(), publicKey.data(),
                             secretKey.data()) != 0)
        return corrupt("does not open with this device's key (sealed to another device?)");
    if (std::memcmp(plain.data(), kSlotMagic.data(), kSlotMagic.size()) != 0)
        return corrupt("is not a slot");
    Slot slot;
    std::size_t at = kSlotMagic.size();
    slot.block = getU32(plain.data() + at);
    slot.position = getU32(plain.data() + at + 4);
    at += 8;
    std::memcpy(slot.token.data(), plain.data() + at, kTokenBytes);
    at += kTokenBytes;
    for (std::string* s : {&slot.study, &slot.stratum, &slot.arm}) {
        if (at + 4 > plain.size()) return corrupt("is cut short");
        const std::uint32_t n = getU32(plain.data() + at);
        at += 4;
        if (n > plain.size() - at) return corrupt("is cut short");
        s->assign(reinterpret_cast<const char*>(plain.data() + at), n);
        at += n;
    }
    if (at != plain.size()) return corrupt("has bytes after its end");
    sodium_memzero(plain.data(), plain.size());
    return slot;
}

std::pair<std::array<std::uint8_t, kBoxKeyBytes>, std::array<std::uint8_t, kBoxKeyBytes>>
newBoxKeyPair() {
    (void)sodiumReady();
    std::array<std::uint8_t, kBoxKeyBytes> pub{};
    std::array<std::uint8_t, kBoxKeyBytes> sec{};
    crypto_box_keypair(pub.data(), sec.data());
    return {pub, sec};
}

}  // namespace veld::alloc
