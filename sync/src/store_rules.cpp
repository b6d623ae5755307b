// The rules every collector backend applies alike: see store_rules.hpp.
#include "store_rules.hpp"

#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <type_traits>
#include <variant>

#include <sodium.h>

#include <veld/case_merge.hpp>
#include <veld/fb/form_generated.h>
#include <veld/hex.hpp>
#include <veld/sync/study_json.hpp>

#include "enrolment.hpp"

namespace veld::sync::rules {

// ---- Records ----------------------------------------------------------------------------------

RevisionPlacement placeRevision(std::uint64_t currentHlc, bool currentSameDevice,
                                std::uint64_t incomingHlc, std::uint64_t incomingBaseHlc) {
    RevisionPlacement out;
    out.conflict = !currentSameDevice && incomingBaseHlc != currentHlc;
    out.becomesCurrent = incomingHlc > currentHlc;
    return out;
}

bool clockFlagged(std::int64_t hlcMillis, std::int64_t nowMs, const CollectorPolicy& policy) {
    // A clock a year off, either way, is accepted and flagged for staff, never dropped.
    return hlcMillis > nowMs + policy.futureToleranceMs ||
           hlcMillis < nowMs - policy.pastToleranceMs;
}

Status mergeFromB(RecordContent& content, const RecordContent& b,
                  const std::vector<std::string>& fromB) {
    for (const auto& name : fromB) {
        const auto sameAnswer = [&](const Answer& x) { return x.name == name; };
        const auto sameRepeat = [&](const Repeat& x) { return x.name == name; };
        const auto inA = std::find_if(content.answers.begin(), content.answers.end(), sameAnswer);
        const auto inB = std::find_if(b.answers.begin(), b.answers.end(), sameAnswer);
        const auto repA = std::find_if(content.repeats.begin(), content.repeats.end(), sameRepeat);
        const auto repB = std::find_if(b.repeats.begin(), b.repeats.end(), sameRepeat);
        if (inA == content.answers.end() && inB == b.answers.end() &&
            repA == content.repeats.end() && repB == b.repeats.end()) {
            return makeError(ErrorCode::InvalidArgument,
                             "neither revision has an answer named '" + name + "'");
        }
        if (inA != content.answers.end()) content.answers.erase(inA);
        if (inB != b.answers.end()) content.answers.push_back(*inB);
        if (repA != content.repeats.end()) content.repeats.erase(repA);
        if (repB != b.repeats.end()) content.repeats.push_back(*repB);
    }
    return {};
}

std::optional<Record> readableRevision(bool damaged, std::span<const std::uint8_t> body) {
    if (damaged) return std::nullopt;
    auto r = decodeRecord(body);
    return r ? std::optional<Record>(std::move(r.value())) : std::nullopt;
}

Result<ConflictSettlement> settleConflict(const ConflictResolution& resolution,
                                          const Uuid& recordId, const std::optional<Record>& a,
                                          const std::optional<Record>& b, const Uuid& deviceA,
                                          const Uuid& deviceB, HlcTimestamp current,
                                          const Uuid& staffDevice, std::uint64_t staffSeq,
                                          std::int64_t nowMs) {
    using Kind = ConflictResolution::Kind;
    const bool needA = resolution.kind != Kind::KeepB;
    const bool needB = resolution.kind != Kind::KeepA;
    if ((needA && !a) || (needB && !b)) {
        return makeError(ErrorCode::InvalidArgument,
                         std::string("revision ") + (needA && !a ? "A" : "B") +
                             " of this conflict cannot be read here; keep the other one");
    }
    // A sealed revision's answers open only with central staff's private key, which never
    // comes here: the collector cannot write a revision made from them.
    if ((needA && a->sealed) || (needB && b->sealed)) {
        return makeError(ErrorCode::InvalidArgument,
                         std::string("revision ") + (needA && a->sealed ? "A" : "B") +
                             " of this conflict is sealed, and the collector cannot open it "
                             "to write a resolution; give the record a review state instead");
    }
    RecordContent content = resolution.kind == Kind::KeepB ? b->content : a->content;
    ConflictSettlement out;
    if (resolution.kind == Kind::KeepA) {
        out.detail = "kept A (device " + deviceA.toString() + ")";
    } else if (resolution.kind == Kind::KeepB) {
        out.detail = "kept B (device " + deviceB.toString() + ")";
    } else {
        if (auto s = mergeFromB(content, b->content, resolution.fromB); !s) return s.error();
        out.detail = "merged; from B:";
        for (const auto& name : resolution.fromB)
            out.detail += " " + name;
    }
    // The collector's own revision: after everything held, based on the current view.
    const auto nowMillis = static_cast<std::uint64_t>(std::max<std::int64_t>(nowMs, 0));
    Record merged;
    merged.id = recordId;
    merged.deviceId = staffDevice;
    merged.hlc = nowMillis > current.millis()
                     ? HlcTimestamp::make(nowMillis, 0)
                     : HlcTimestamp::make(current.millis(), current.counter() + 1);
    merged.createdHlc =
        std::min(a ? a->createdHlc : b->createdHlc, b ? b->createdHlc : a->createdHlc);
    merged.finalized = true;
    merged.content = std::move(content);
    auto body = encodeRecord(merged);
    if (!body) return body.error();
    PushRevision& rev = out.revision;
    rev.seq = staffSeq + 1;
    rev.recordId = recordId;
    rev.hlc = merged.hlc;
    rev.baseHlc = current.value;
    rev.body = std::move(body.value());
    rev.formId = merged.content.formId;
    rev.formVersion = merged.content.formVersion;
    return out;
}

// ---- Cases ------------------------------------------------------------------------------------

bool admitsNewProperty(std::size_t heldNames, std::string_view name) {
    return heldNames < kMaxCaseProperties || name == kCaseStatusProperty ||
           name == kCaseArmProperty;
}

bool impliesStatus(const CaseChange& change) {
    if (change.action != CaseAction::Open && change.action != CaseAction::Close) return false;
    return std::none_of(change.properties.begin(), change.properties.end(),
                        [](const CasePropertyValue& p) { return p.name == kCaseStatusProperty; });
}

std::optional<CasePropertyValue> impliedStatus(const CaseChange& change,
                                               std::optional<std::uint64_t> heldStatusHlc) {
    if (!impliesStatus(change)) return std::nullopt;
    if (change.action == CaseAction::Close)
        return CasePropertyValue{std::string(kCaseStatusProperty), "closed",
                                 HlcTimestamp{heldStatusHlc.value_or(0)}};
    if (!heldStatusHlc) return CasePropertyValue{std::string(kCaseStatusProperty), "open", {}};
    return std::nullopt;
}

PropertyMerge mergeProperty(const HeldProperty& held, std::string_view value, std::uint64_t hlc,
                            std::uint64_t base) {
    PropertyMerge out;
    out.conflict = caseChangesConcurrent(hlc, base, held.hlc, held.base) && value != held.value;
    out.incomingWins = caseValueWins(hlc, value, held.hlc, held.value);
    return out;
}

// ---- Allocations ------------------------------------------------------------------------------

namespace {

std::string slotName(const AllocationRow& r) {
    return "stratum '" + r.stratum + "' block " + std::to_string(r.block) + " position " +
           std::to_string(r.position);
}

std::string whose(const AllocationRow& r) {
    return "device " + r.deviceId.toString() + ", log " + std::to_string(r.logSeq) + ", case " +
           r.caseId.toString();
}

}  // namespace

std::set<Uuid> devicesOf(const std::vector<HeldAllocation>& held) {
    std::set<Uuid> out;
    for (const auto& a : held)
        out.insert(a.row.deviceId);
    return out;
}

StudyVerification verify(const alloc::Study& def, const std::vector<HeldAllocation>& held,
                         const std::vector<DealtBlock>& dealt, const DeviceLogs& logs) {
    using Kind = AllocationProblem::Kind;
    StudyVerification out;
    out.study = def.id;
    out.allocations = static_cast<std::int64_t>(held.size());
    const auto strataList = alloc::strata(def);
    const std::set<std::string> strata(strataList.begin(), strataList.end());
    std::map<std::pair<std::string, std::uint32_t>, alloc::Block> blocks;
    const auto blockOf = [&](const std::string& stratum,
                             std::uint32_t number) -> const alloc::Block& {
        auto it = blocks.find({stratum, number});
        if (it == blocks.end())
            it =
                blocks
                    .emplace(std::pair{stratum, number}, alloc::generateBlock(def, stratum, number))
                    .first;
        return it->second;
    };
    std::map<std::pair<std::string, std::uint32_t>, Uuid> dealtTo;
    for (const auto& b : dealt)
        dealtTo[{b.stratum, b.block}] = b.deviceId;

    std::vector<bool> bad(held.size(), false);
    const auto problem = [&](std::size_t i, Kind kind, std::string detail) {
        if (i < bad.size()) bad[i] = true;
        out.problems.push_back({kind, std::move(detail)});
    };
    std::map<std::tuple<std::string, std::uint32_t, std::uint32_t>, std::vector<std::size_t>>
        bySlot;
    std::map<Uuid, std::vector<std::size_t>> byCase;
    const std::set<Uuid> devices = devicesOf(held);
    for (std::size_t i = 0; i < held.size(); ++i) {
        const AllocationRow& r = held[i].row;
        bySlot[{r.stratum, r.block, r.position}].push_back(i);
        byCase[r.caseId].push_back(i);
        if (!strata.count(r.stratum)) {
            problem(i, Kind::UnknownStratum,
                    "allocation (" + whose(r) + "): stratum '" + r.stratum +
                        "' is not one of the study's");
            continue;
        }
        const alloc::Block& block = blockOf(r.stratum, r.block);
        if (r.position >= block.arms.size()) {
            problem(i, Kind::NoSuchSlot,
                    slotName(r) + " (" + whose(r) + "): the block has no such position");
        } else {
            if (block.arms[r.position] != r.arm) {
                problem(i, Kind::ArmMismatch,
                        slotName(r) + " (" + whose(r) + "): arm '" + r.arm +
                            "' is not the sequence's arm for this slot");
            }
            const auto& token = block.tokens[r.position];
            if (!std::equal(token.begin(), token.end(), held[i].token.begin(),
                            held[i].token.end())) {
                problem(i, Kind::TokenMismatch,
                        slotName(r) + " (" + whose(r) +
                            "): the token is not the slot's, so the slot was not opened "
                            "from its sealed box");
            }
        }
        const auto to = dealtTo.find({r.stratum, r.block});
        if (to == dealtTo.end()) {
            problem(i, Kind::NotDealt,
                    slotName(r) + " (" + whose(r) + "): the block was never dealt");
        } else if (to->second != r.deviceId) {
            problem(i, Kind::NotDealt,
                    slotName(r) + " (" + whose(r) + "): the block was dealt to device " +
                        to->second.toString());
        }
    }
    for (const auto& [slot, uses] : bySlot) {
        if (uses.size() < 2) continue;
        std::string cases;
        for (auto i : uses) {
            cases += (cases.empty() ? "" : "; ") + whose(held[i].row);
            bad[i] = true;
        }
        out.problems.push_back({Kind::SlotReused, slotName(held[uses.front()].row) + " used " +
                                                      std::to_string(uses.size()) +
                                                      " times: " + cases});
    }
    for (const auto& [caseId, uses] : byCase) {
        if (uses.size() < 2) continue;
        std::string slots;
        for (auto i : uses) {
            slots += (slots.empty() ? "" : "; ") + slotName(held[i].row) + " (device " +
                     held[i].row.deviceId.toString() + ")";
            bad[i] = true;
        }
        out.problems.push_back({Kind::CaseTwice, "case " + caseId.toString() + " allocated " +
                                                     std::to_string(uses.size()) +
                                                     " times: " + slots});
    }
    // A device takes its slots of a stratum in (block, position) order: the slots it used must
    // be the first ones dealt to it. An unused slot before a used one was skipped.
    std::map<std::pair<Uuid, std::string>, std::vector<std::uint32_t>> dealtBlocks;
    for (const auto& b : dealt)
        dealtBlocks[{b.deviceId, b.stratum}].push_back(b.block);
    for (const auto& [key, numbers] : dealtBlocks) {
        // Named, not a structured binding: the lambda below captures `device`.
        const auto& device = key.first;
        const auto& stratum = key.second;
        if (!strata.count(stratum)) continue;
        std::vector<std::pair<std::uint32_t, std::uint32_t>> order;
        for (auto number : numbers) {
            const auto size = blockOf(stratum, number).arms.size();
            for (std::uint32_t p = 0; p < size; ++p)
                order.emplace_back(number, p);
        }
        std::vector<bool> usedHere(order.size(), false);
        for (std::size_t k = 0; k < order.size(); ++k) {
            const auto it = bySlot.find({stratum, order[k].first, order[k].second});
            if (it == bySlot.end()) continue;
            usedHere[k] = std::any_of(it->second.begin(), it->second.end(),
                                      [&](auto i) { return held[i].row.deviceId == device; });
        }
        const auto last = std::find(usedHere.rbegin(), usedHere.rend(), true);
        if (last == usedHere.rend()) continue;
        const auto end = static_cast<std::size_t>(usedHere.rend() - last);
        for (std::size_t k = 0; k + 1 < end; ++k) {
            if (usedHere[k]) continue;
            out.problems.push_back(
                {Kind::Skipped, "device " + device.toString() + " left stratum '" + stratum +
                                    "' block " + std::to_string(order[k].first) + " position " +
                                    std::to_string(order[k].second) +
                                    " unused before a later slot it used"});
        }
    }
    // Log numbers: 1..n on each device, each once.
    for (const auto& device : devices) {
        const auto found = logs.find(device);
        if (found == logs.end()) continue;
        std::uint64_t expect = 1;
        for (const auto& [seq, count] : found->second) {
            if (seq > expect) {
                out.problems.push_back(
                    {Kind::LogGap, "device " + device.toString() + ": allocation log " +
                                       (seq - 1 == expect ? "entry " + std::to_string(expect)
                                                          : "entries " + std::to_string(expect) +
                                                                " to " + std::to_string(seq - 1)) +
                                       " not received (not sent yet, or lost)"});
            }
            if (count > 1) {
                out.problems.push_back(
                    {Kind::LogReused, "device " + device.toString() + ": allocation log number " +
                                          std::to_string(seq) + " used by " +
                                          std::to_string(count) + " allocations"});
            }
            expect = std::max(expect, seq + 1);
        }
    }
    out.devices = static_cast<std::int64_t>(devices.size());
    out.problemAllocations = std::count(bad.begin(), bad.end(), true);
    return out;
}

// ---- Duplicates -------------------------------------------------------------------------------

std::string canonicalAnswer(const AnswerValue& value) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                std::string folded;
                for (char c : x)
                    folded += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
                return "t:" + folded;
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                return "i:" + std::to_string(x);
            } else if constexpr (std::is_same_v<T, DecimalAnswer>) {
                return "d:" + x.text;
            } else if constexpr (std::is_same_v<T, bool>) {
                return x ? "b:1" : "b:0";
            } else if constexpr (std::is_same_v<T, ChoiceAnswer>) {
                return "c:" + x.choice;
            } else if constexpr (std::is_same_v<T, ChoicesAnswer>) {
                std::string out = "m:";
                for (const auto& c : x.choices)
                    out += c + ",";
                return out;
            } else if constexpr (std::is_same_v<T, DateAnswer>) {
                return "D:" + std::to_string(x.days);
            } else if constexpr (std::is_same_v<T, TimeAnswer>) {
                return "T:" + std::to_string(x.ms);
            } else if constexpr (std::is_same_v<T, DateTimeAnswer>) {
                return "Z:" + std::to_string(x.utcMs);
            } else {
                return "?";
            }
        },
        value);
}

namespace {

void collectIdentifying(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items,
                        std::set<std::string>& names) {
    if (!items) return;
    for (const auto* item : *items) {
        // Only the record's own level: answers inside repeats describe others (children).
        if (item->kind() == fb::ItemKind::Group) collectIdentifying(item->children(), names);
        if (item->kind() == fb::ItemKind::Question && item->identifying())
            names.insert(item->name()->str());
    }
}

std::string keyOf(std::string_view text) {
    const auto d = secretDigest(text);
    return std::string(d.begin(), d.end());
}

}  // namespace

IdentifyingQuestions identifyingQuestions(const std::vector<PublishedFormInfo>& forms) {
    IdentifyingQuestions out;
    for (const auto& f : forms) {
        auto& names = out[{f.formId, f.version}];
        collectIdentifying(fb::GetForm(f.binary.data())->items(), names);
    }
    return out;
}

DuplicateGrouping::DuplicateGrouping(IdentifyingQuestions identifying)
    : m_identifying(std::move(identifying)) {}

void DuplicateGrouping::add(const Uuid& recordId, const std::string& formId,
                            std::uint32_t formVersion, const RecordContent& content) {
    const auto names = m_identifying.find({formId, formVersion});
    std::string identity;
    for (const auto& a : content.answers) {
        if (const auto* p = std::get_if<PseudonymAnswer>(&a.value)) {
            // The same person on any form: one scheme, one key, one digest.
            std::string text = "pseudonym\n" + p->scheme + "\n" + p->keyId + "\n";
            text.append(p->digest.begin(), p->digest.end());
            auto& g = m_groups[keyOf(text)];
            g.kind = DuplicateGroup::Kind::SamePseudonym;
            g.question = a.name;
            g.records.push_back(recordId);
        } else if (names != m_identifying.end() && names->second.count(a.name)) {
            identity += a.name + "=" + canonicalAnswer(a.value) + "\n";
        }
    }
    if (!identity.empty()) {
        auto& g = m_groups[keyOf("form\n" + formId + "\n" + identity)];
        g.kind = DuplicateGroup::Kind::SameIdentifyingAnswers;
        g.question = formId;
        g.records.push_back(recordId);
    }
}

std::vector<DuplicateGroup> DuplicateGrouping::groups() const {
    std::vector<DuplicateGroup> out;
    for (const auto& [key, group] : m_groups) {
        if (group.records.size() < 2) continue;
        out.push_back(group);
        out.back().key = toHex(std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
    }
    return out;
}

Result<std::vector<std::uint8_t>> parseGroupKey(std::string_view key) {
    std::vector<std::uint8_t> out;
    if (key.size() != 64) return makeError(ErrorCode::InvalidArgument, "not a group key");
    const auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < key.size(); i += 2) {
        const int hi = nibble(key[i]);
        const int lo = nibble(key[i + 1]);
        if (hi < 0 || lo < 0) return makeError(ErrorCode::InvalidArgument, "not a group key");
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

// ---- Staff and devices ------------------------------------------------------------------------

std::vector<std::uint8_t> secretDigest(std::string_view secret) {
    return detail::storedDigest(secret);
}

std::vector<std::uint8_t> enrolCodeDigest(std::string_view code) {
    return detail::storedDigest(detail::normalizeEnrolCode(code));
}

bool sameDigest(std::span<const std::uint8_t> stored, std::span<const std::uint8_t> presented) {
    return stored.size() == presented.size() &&
           sodium_memcmp(stored.data(), presented.data(), presented.size()) == 0;
}

Result<PresentedDevice> parseDeviceCredential(std::string_view credential) {
    const auto dot = credential.find('.');
    if (dot == std::string_view::npos || credential.size() - dot - 1 != 64)
        return makeError(ErrorCode::NotFound, "not a device credential");
    const auto id = Uuid::parse(credential.substr(0, dot));
    if (!id) return makeError(ErrorCode::NotFound, "not a device credential");
    return PresentedDevice{*id, secretDigest(credential.substr(dot + 1))};
}

namespace {

bool plainWord(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    });
}

}  // namespace

bool validAdminName(std::string_view name) {
    return !name.empty() && name.size() <= 64 && plainWord(name);
}

std::string adminCredential(std::string_view name, std::string_view secretHex) {
    std::string out(kAdminPrefix);
    out.append(name).append(".").append(secretHex);
    return out;
}

Result<PresentedAdmin> parseAdminCredential(std::string_view credential) {
    if (credential.rfind(kAdminPrefix, 0) != 0)
        return makeError(ErrorCode::NotFound, "not an admin credential");
    const auto rest = credential.substr(kAdminPrefix.size());
    const auto dot = rest.rfind('.');
    if (dot == std::string_view::npos || rest.size() - dot - 1 != 64)
        return makeError(ErrorCode::NotFound, "not an admin credential");
    return PresentedAdmin{std::string(rest.substr(0, dot)), secretDigest(rest.substr(dot + 1))};
}

Status checkCaseChoice(const CaseChoice& choice, std::string_view comment) {
    if (choice.kind == CaseChoice::Kind::Value && choice.value.size() > 4096)
        return makeError(ErrorCode::InvalidArgument, "a case property holds at most 4096 bytes");
    if (comment.size() > kMaxReviewCommentBytes)
        return makeError(ErrorCode::InvalidArgument, "the comment is too long");
    return {};
}

HlcTimestamp caseChoiceHlc(std::uint64_t hlcA, std::uint64_t hlcB,
                           std::optional<std::uint64_t> heldHlc, std::int64_t nowMs) {
    const std::uint64_t newest = std::max({hlcA, hlcB, heldHlc.value_or(0)});
    const auto nowMillis = static_cast<std::uint64_t>(std::max<std::int64_t>(nowMs, 0));
    const HlcTimestamp now = HlcTimestamp::make(nowMillis, 0);
    return now.value > newest ? now : HlcTimestamp{newest + 1};
}

std::string_view caseChoiceWords(const CaseChoice& choice) {
    switch (choice.kind) {
        case CaseChoice::Kind::A:
            return "kept A";
        case CaseChoice::Kind::B:
            return "kept B";
        case CaseChoice::Kind::Value:
            break;
    }
    return "typed a value";
}

bool validTeam(std::string_view team) {
    return team.size() <= 64 && plainWord(team);
}

DeviceStudy deviceStudy(const alloc::Study& study) {
    DeviceStudy out;
    out.id = study.id;
    out.pilot = study.pilot;
    for (const auto& a : study.arms)
        out.arms.push_back(a.name);
    for (const auto& f : study.factors)
        out.factors.emplace_back(f.name, f.levels);
    out.lowSlots = effectiveLowSlots(study);
    return out;
}

// ---- Corrections ------------------------------------------------------------------------------

CorrectionStep correctionStep(ReviewState newState, bool open) {
    if (newState == ReviewState::HasIssues) return CorrectionStep::Open;
    return open ? CorrectionStep::Withdraw : CorrectionStep::None;
}

std::vector<ReviewChange> unpackReviewHistory(std::string_view packed) {
    std::vector<ReviewChange> out;
    while (!packed.empty()) {
        const auto end = packed.find('\x1e');
        std::string_view entry = packed.substr(0, end);
        packed = end == std::string_view::npos ? std::string_view() : packed.substr(end + 1);
        std::string_view part[5];
        for (int i = 0; i < 4; ++i) {
            const auto cut = entry.find('\x1f');
            if (cut == std::string_view::npos) {
                entry = {};
                part[0] = {};
                break;
            }
            part[i] = entry.substr(0, cut);
            entry = entry.substr(cut + 1);
        }
        part[4] = entry;
        if (part[0].empty()) continue;
        const auto number = [](std::string_view t) {
            return static_cast<std::int64_t>(std::strtoll(std::string(t).c_str(), nullptr, 10));
        };
        const auto state = reviewStateFromCode(static_cast<std::uint8_t>(number(part[0])));
        if (!state) continue;
        out.push_back({*state, std::string(part[4]), number(part[1]), std::string(part[3]),
                       static_cast<std::uint64_t>(number(part[2]))});
    }
    return out;
}

Status checkStaffReview(ReviewState state, std::size_t commentBytes) {
    if (commentBytes > kMaxReviewCommentBytes) {
        return makeError(
            ErrorCode::InvalidArgument,
            "a review comment is limited to " + std::to_string(kMaxReviewCommentBytes) + " bytes");
    }
    if (state == ReviewState::Corrected) {
        return makeError(ErrorCode::InvalidArgument,
                         "\"corrected\" is set when a correction arrives from the field; approve "
                         "the record or mark it has-issues again");
    }
    return {};
}

bool correctsRecord(std::uint64_t baseHlc, std::uint64_t aboutHlc) {
    return baseHlc != 0 && baseHlc >= aboutHlc;
}

std::string correctionActor(const Uuid& deviceId) {
    return "device " + deviceId.toString();
}

std::string correctionComment(HlcTimestamp hlc) {
    return "corrected in the field: revision " + hlc.toString();
}

std::string bundleMarkKey(const Uuid& deviceId) {
    return std::string(kBundleMarkPrefix) + deviceId.toString();
}

void applyBundleMarks(std::vector<DeviceInfo>& devices,
                      const std::vector<std::pair<std::string, std::string>>& marks) {
    std::map<std::string, std::string, std::less<>> byKey(marks.begin(), marks.end());
    for (auto& d : devices) {
        const auto found = byKey.find(bundleMarkKey(d.deviceId));
        if (found == byKey.end()) continue;
        if (auto mark = parseBundleMark(found->second)) d.lastBundle = mark->number;
    }
}

std::string bundleMarkText(const BundleMark& mark) {
    return std::to_string(mark.number) + " " + toHex(mark.digest);
}

Result<BundleMark> parseBundleMark(std::string_view text) {
    const auto space = text.find(' ');
    BundleMark mark;
    if (space != std::string_view::npos) {
        const std::string number(text.substr(0, space));
        char* end = nullptr;
        mark.number = std::strtoull(number.c_str(), &end, 10);
        auto digest = fromHex(text.substr(space + 1));
        if (end && *end == '\0' && mark.number > 0 && digest) {
            mark.digest = std::move(*digest);
            return mark;
        }
    }
    return makeError(ErrorCode::Corrupt,
                     "the collector's record of a device's last bundle is damaged");
}

}  // namespace veld::sync::rules

namespace veld::sync {

std::string_view allocationProblemName(AllocationProblem::Kind kind) {
    using Kind = AllocationProblem::Kind;
    switch (kind) {
        case Kind::UnknownStratum:
            return "unknown stratum";
        case Kind::NoSuchSlot:
            return "no such slot";
        case Kind::ArmMismatch:
            return "arm mismatch";
        case Kind::TokenMismatch:
            return "token mismatch";
        case Kind::NotDealt:
            return "not dealt to the device";
        case Kind::SlotReused:
            return "slot used twice";
        case Kind::CaseTwice:
            return "case allocated twice";
        case Kind::Skipped:
            return "skipped";
        case Kind::LogGap:
            return "missing log entries";
        case Kind::LogReused:
            return "log number used twice";
    }
    return "problem";
}

}  // namespace veld::sync
