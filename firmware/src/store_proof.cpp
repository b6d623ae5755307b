// The device store's proof of what was sent: each finalized revision's link in the device's hash
// chain (veld/chain.hpp), and the collector's receipts, kept append-only.
#include <algorithm>

#include <veld/chain.hpp>
#include <veld/clock.hpp>
#include <veld/store.hpp>

#include "store_internal.hpp"

namespace veld {

using store_detail::idBytes;

namespace {

// The meta row holding the newest link (32 bytes); absent before the first chained revision.
constexpr const char* kLastLinkKey = "chain_last_link";

}  // namespace

// Inside the finalize's transaction: the link of revision `seq`, after the newest one so far,
// which it becomes. A crash before the commit leaves neither.
Result<Store::Impl::ChainStep> Store::Impl::chainStep(std::uint64_t seq, const Uuid& recordId,
                                                      HlcTimestamp revisionHlc,
                                                      std::span<const std::uint8_t> body) {
    ChainStep step;
    step.previous = chain::kFirstPrevious;
    {
        auto st = db.prepare("SELECT value FROM meta WHERE key = ?1");
        if (!st) return st.error();
        st->bind(1, std::string_view(kLastLinkKey));
        auto row = st->step();
        if (!row) return row.error();
        if (*row) {
            const auto held = st->columnBlob(0);
            if (held.size() != chain::kDigestBytes)
                return makeError(ErrorCode::Corrupt, "the device's hash chain link is damaged");
            std::copy(held.begin(), held.end(), step.previous.begin());
        }
    }
    step.link = chain::nextLink(step.previous, seq, recordId, revisionHlc, chain::bodyDigest(body));
    auto put = db.prepare(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!put) return put.error();
    put->bind(1, std::string_view(kLastLinkKey)).bindBlob(2, step.link);
    if (Status s = put->run(); !s) return s.error();
    return step;
}

Status Store::keepReceipt(const KeptReceipt& receipt) {
    Impl& m = impl();
    if (Status s = m.requireWritable("keeping the collector's receipt"); !s) return s;
    // Durable at once: it is the device's proof of what the collector took.
    if (Status s = m.setSync(true); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto st = m.db.prepare(
        "INSERT INTO receipts (kept_utc_ms, first_seq, last_seq, status, reason, receipt) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st) return st.error();
    st->bind(1, m.clock->nowMillis())
        .bind(2, static_cast<std::int64_t>(receipt.firstSeq))
        .bind(3, static_cast<std::int64_t>(receipt.lastSeq))
        .bind(4, static_cast<std::int64_t>(receipt.status))
        .bind(5, std::string_view(receipt.reason));
    if (receipt.bytes.empty()) {
        st->bindNull(6);
    } else {
        st->bindBlob(6, receipt.bytes);
    }
    if (Status s = st->run(); !s) return s;
    return tx->commit();
}

Result<std::vector<KeptReceipt>> Store::receipts() {
    auto st = impl().db.prepare(
        "SELECT id, kept_utc_ms, first_seq, last_seq, status, reason, receipt FROM receipts "
        "ORDER BY id");
    if (!st) return st.error();
    std::vector<KeptReceipt> out;
    auto stepped = st->forEachRow([&] {
        KeptReceipt r;
        r.id = st->columnInt(0);
        r.keptUtcMs = st->columnInt(1);
        r.firstSeq = static_cast<std::uint64_t>(st->columnInt(2));
        r.lastSeq = static_cast<std::uint64_t>(st->columnInt(3));
        r.status = static_cast<ReceiptStatus>(st->columnInt(4));
        r.reason = std::string(st->columnText(5));
        const auto bytes = st->columnBlob(6);
        r.bytes.assign(bytes.begin(), bytes.end());
        out.push_back(std::move(r));
    });
    if (!stepped) return stepped.error();
    return out;
}

Result<std::optional<std::vector<std::uint8_t>>> Store::revisionBody(const Uuid& recordId,
                                                                     HlcTimestamp hlc) {
    auto st = impl().db.prepare(
        "SELECT body FROM records WHERE id = ?1 AND hlc = ?2 AND status "
        "IN (1, 2)");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(recordId)).bind(2, static_cast<std::int64_t>(hlc.value));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<std::vector<std::uint8_t>>();
    const auto body = st->columnBlob(0);
    return std::optional<std::vector<std::uint8_t>>(
        std::vector<std::uint8_t>(body.begin(), body.end()));
}

}  // namespace veld
