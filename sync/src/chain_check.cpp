// Checking devices' hash chains (chain_check.hpp).
#include <algorithm>

#include <veld/chain.hpp>
#include <veld/sync/chain_check.hpp>

namespace veld::sync {

namespace {

bool isLink(const std::vector<std::uint8_t>& bytes) {
    return bytes.size() == chain::kDigestBytes;
}

chain::Digest digestOf(const std::vector<std::uint8_t>& bytes) {
    chain::Digest out{};
    std::copy_n(bytes.begin(), std::min(bytes.size(), out.size()), out.begin());
    return out;
}

// Whether a revision's link is the one its previous link, numbers and body make.
bool recomputes(const std::vector<std::uint8_t>& prev, const std::vector<std::uint8_t>& link,
                std::uint64_t seq, const Uuid& recordId, HlcTimestamp hlc,
                const std::vector<std::uint8_t>& body) {
    const chain::Digest expected =
        chain::nextLink(digestOf(prev), seq, recordId, hlc, chain::bodyDigest(body));
    return isLink(link) && std::equal(expected.begin(), expected.end(), link.begin());
}

}  // namespace

std::optional<std::string> chainNoteAtIntake(const PushRevision& revision) {
    if (!isLink(revision.chainLink) || revision.damaged) return std::nullopt;
    if (recomputes(revision.chainPrev, revision.chainLink, revision.seq, revision.recordId,
                   revision.hlc, revision.body))
        return std::nullopt;
    return "the link does not recompute from the revision as received";
}

ChainWalker::ChainWalker(const Uuid& deviceId, std::uint64_t receivedThrough) {
    m_report.deviceId = deviceId;
    m_report.receivedThrough = receivedThrough;
}

void ChainWalker::add(const ChainEntry& e) {
    auto& problems = m_report.problems;
    if (e.seq > m_expected) {
        problems.push_back(
            {ChainProblem::Kind::Missing, m_expected, e.seq - 1, "not held by the collector"});
        m_previousLink.reset();
    }
    ++m_report.revisions;
    m_expected = e.seq + 1;
    if (e.rejected) {
        m_previousLink.reset();
        return;
    }
    if (!isLink(e.chainLink)) {
        if (m_report.hasChain)
            problems.push_back({ChainProblem::Kind::Altered, e.seq, e.seq,
                                "its link is missing, though earlier revisions have one"});
        m_previousLink.reset();
        return;
    }
    if (!m_report.hasChain) {
        m_report.hasChain = true;
        m_report.chainFrom = e.seq;
        // A chain that starts at the device's first revision starts from zeros.
        if (e.seq == 1) m_previousLink = std::vector<std::uint8_t>(chain::kDigestBytes, 0);
    }
    if (!e.damaged && !recomputes(e.chainPrev, e.chainLink, e.seq, e.recordId, e.hlc, e.body))
        problems.push_back({ChainProblem::Kind::Altered, e.seq, e.seq,
                            "its body or link does not recompute (changed after it was sent)"});
    if (m_previousLink && e.chainPrev != *m_previousLink)
        problems.push_back({ChainProblem::Kind::Reordered, e.seq, e.seq,
                            e.seq == 1
                                ? std::string("the first revision does not start the chain")
                                : "it does not follow revision " + std::to_string(e.seq - 1)});
    m_previousLink = e.chainLink;
}

ChainReport ChainWalker::finish() {
    if (m_expected <= m_report.receivedThrough) {
        m_report.problems.push_back({ChainProblem::Kind::Missing, m_expected,
                                     m_report.receivedThrough, "not held by the collector"});
        m_expected = m_report.receivedThrough + 1;
    }
    return m_report;
}

std::string describe(const ChainProblem& p) {
    std::string where = "seq " + std::to_string(p.seq);
    if (p.kind == ChainProblem::Kind::Missing && p.lastSeq > p.seq)
        where = "seq " + std::to_string(p.seq) + "-" + std::to_string(p.lastSeq);
    switch (p.kind) {
        case ChainProblem::Kind::Missing:
            return where + ": missing (" + p.detail + ")";
        case ChainProblem::Kind::Altered:
            return where + ": altered (" + p.detail + ")";
        case ChainProblem::Kind::Reordered:
            return where + ": reordered (" + p.detail + ")";
    }
    return where;
}

}  // namespace veld::sync
