// The device store's corrections: records central staff sent back (veld/correction.hpp). The
// collector's changes are merged here; reopening makes a correction draft (a new revision of the
// record whose base is its current revision), which finalize (store_records.cpp) queues like any
// other revision, with its base, marking the correction done.
#include <veld/record.hpp>
#include <veld/store.hpp>

#include "store_internal.hpp"

namespace veld {

using store_detail::idBytes;
using store_detail::uuidFromBlob;

Result<std::uint64_t> Store::Impl::correctionBase(const Uuid& id) {
    auto st = db.prepare("SELECT base_hlc FROM records WHERE id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(id));
    auto row = st->step();
    if (!row) return row.error();
    return *row ? static_cast<std::uint64_t>(st->columnInt(0)) : std::uint64_t{0};
}

Status Store::Impl::correctionFinalized(const Uuid& id, HlcTimestamp revision) {
    auto st = db.prepare("UPDATE corrections SET done_hlc = ?2 WHERE record_id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(id)).bind(2, static_cast<std::int64_t>(revision.value));
    if (Status s = st->run(); !s) return s;
    // The record is an ordinary finalized one from now on.
    auto plain = db.prepare("UPDATE records SET base_hlc = 0 WHERE id = ?1");
    if (!plain) return plain.error();
    plain->bindBlob(1, idBytes(id));
    return plain->run();
}

namespace {

constexpr const char* kCorrectionColumns =
    "k.record_id, k.form_id, k.form_version, k.state, k.comment, k.review_utc_ms, k.case_id, "
    "k.sealed, k.done_hlc, r.status, r.base_hlc, r.summary";

DeviceCorrection readDeviceCorrection(const sql::Statement& st) {
    DeviceCorrection c;
    c.recordId = uuidFromBlob(st.columnBlob(0)).value_or(Uuid{});
    c.formId = std::string(st.columnText(1));
    c.formVersion = static_cast<std::uint32_t>(st.columnInt(2));
    c.state = static_cast<CorrectionState>(st.columnInt(3));
    c.comment = std::string(st.columnText(4));
    c.reviewUtcMs = st.columnInt(5);
    if (!st.columnIsNull(6)) c.caseId = uuidFromBlob(st.columnBlob(6));
    c.sealed = st.columnInt(7) != 0;
    c.sent = st.columnInt(8) != 0 || c.state == CorrectionState::Corrected;
    const bool held = !st.columnIsNull(9);
    c.editing =
        held && st.columnInt(9) == static_cast<int>(RecordStatus::Draft) && st.columnInt(10) != 0;
    if (held) c.summary = std::string(st.columnText(11));
    return c;
}

}  // namespace

Status Store::mergeCorrections(std::span<const CorrectionIn> corrections) {
    Impl& d = impl();
    if (Status s = d.requireWritable("storing corrections"); !s) return s;
    auto tx = sql::Transaction::begin(d.db);
    if (!tx) return tx.error();
    auto drop = d.db.prepare("DELETE FROM corrections WHERE record_id = ?1 AND seq < ?2");
    auto put = d.db.prepare(
        "INSERT INTO corrections (record_id, seq, state, form_id, form_version, comment, "
        "review_utc_ms, case_id, sealed, body, done_hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
        "?9, ?10, 0) ON CONFLICT (record_id) DO UPDATE SET seq = ?2, state = ?3, form_id = ?4, "
        "form_version = ?5, comment = ?6, review_utc_ms = ?7, case_id = ?8, sealed = ?9, body = "
        "CASE WHEN length(?10) > 0 THEN ?10 ELSE body END, done_hlc = CASE WHEN ?3 = 0 THEN 0 "
        "ELSE done_hlc END WHERE excluded.seq > corrections.seq");
    if (!drop) return drop.error();
    if (!put) return put.error();
    for (const CorrectionIn& c : corrections) {
        const auto seq = static_cast<std::int64_t>(c.seq);
        if (c.state == CorrectionState::Withdrawn) {
            drop->bindBlob(1, idBytes(c.recordId)).bind(2, seq);
            if (Status s = drop->run(); !s) return s;
            drop->reset();
            continue;
        }
        // The collector's copy of the record, checked as any body from the network.
        std::span<const std::uint8_t> body;
        if (!c.body.empty()) {
            auto header = inspectRecord(c.body);
            if (header && header->id == c.recordId && !header->sealed) body = c.body;
        }
        put->bindBlob(1, idBytes(c.recordId))
            .bind(2, seq)
            .bind(3, static_cast<std::int64_t>(c.state))
            .bind(4, std::string_view(c.formId))
            .bind(5, static_cast<std::int64_t>(c.formVersion))
            .bind(6, std::string_view(c.comment))
            .bind(7, c.reviewUtcMs);
        if (c.caseId) {
            put->bindBlob(8, idBytes(*c.caseId));
        } else {
            put->bindNull(8);
        }
        put->bind(9, std::int64_t{c.sealed ? 1 : 0}).bindBlob(10, body);
        if (Status s = put->run(); !s) return s;
        put->reset();
    }
    return tx->commit();
}

Result<std::vector<DeviceCorrection>> Store::corrections(std::optional<Uuid> caseId) {
    Impl& d = impl();
    auto st = d.db.prepare(std::string("SELECT ") + kCorrectionColumns +
                           " FROM corrections k LEFT JOIN records r ON r.id = k.record_id WHERE "
                           "?1 IS NULL OR k.case_id = ?1 ORDER BY k.review_utc_ms DESC, k.seq "
                           "DESC");
    if (!st) return st.error();
    if (caseId) {
        st->bindBlob(1, idBytes(*caseId));
    } else {
        st->bindNull(1);
    }
    std::vector<DeviceCorrection> out;
    if (auto stepped = st->forEachRow([&] { out.push_back(readDeviceCorrection(st.value())); });
        !stepped)
        return stepped.error();
    return out;
}

Result<std::optional<DeviceCorrection>> Store::correction(const Uuid& recordId) {
    Impl& d = impl();
    auto st = d.db.prepare(std::string("SELECT ") + kCorrectionColumns +
                           " FROM corrections k LEFT JOIN records r ON r.id = k.record_id WHERE "
                           "k.record_id = ?1");
    if (!st) return st.error();
    st->bindBlob(1, idBytes(recordId));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<DeviceCorrection>();
    return std::optional<DeviceCorrection>(readDeviceCorrection(st.value()));
}

Result<Uuid> Store::reopenForCorrection(const Uuid& recordId) {
    Impl& d = impl();
    if (Status s = d.requireWritable("reopening a record for correction"); !s) return s.error();
    if (Status s = d.setSync(true); !s) return s.error();
    auto tx = sql::Transaction::begin(d.db);
    if (!tx) return tx.error();
    auto k =
        d.db.prepare("SELECT state, sealed, done_hlc, body FROM corrections WHERE record_id = ?1");
    if (!k) return k.error();
    k->bindBlob(1, idBytes(recordId));
    auto found = k->step();
    if (!found) return found.error();
    if (!*found || k->columnInt(0) != static_cast<int>(CorrectionState::Open))
        return makeError(ErrorCode::NotFound,
                         "central staff have not sent record " + recordId.toString() + " back");
    if (k->columnInt(1) != 0)
        return makeError(ErrorCode::WrongState,
                         "a sealed record cannot be reopened on a device: start a new record");
    if (k->columnInt(2) != 0)
        return makeError(ErrorCode::WrongState,
                         "the correction of this record has been finalized already");
    const auto given = k->columnBlob(3);
    const std::vector<std::uint8_t> collectorBody(given.begin(), given.end());
    k.value().reset();

    auto held = d.db.prepare("SELECT status, base_hlc, body FROM records WHERE id = ?1");
    if (!held) return held.error();
    held->bindBlob(1, idBytes(recordId));
    auto row = held->step();
    if (!row) return row.error();
    std::vector<std::uint8_t> body;
    if (*row) {
        const auto status = static_cast<RecordStatus>(held->columnInt(0));
        if (status == RecordStatus::Draft && held->columnInt(1) != 0) return recordId;  // again
        if (status != RecordStatus::Sent)
            return makeError(ErrorCode::WrongState,
                             "record " + recordId.toString() + " is " +
                                 std::string(recordStatusName(status)) +
                                 ": only a sent record can be corrected (synchronise first)");
        const auto b = held->columnBlob(2);
        body.assign(b.begin(), b.end());
    } else {
        // A record of the case's team this device never held: the collector's copy.
        if (collectorBody.empty())
            return makeError(ErrorCode::NotFound,
                             "record " + recordId.toString() +
                                 " is not on this device and came back without its answers");
        body = collectorBody;
    }
    held.value().reset();
    auto current = decodeRecord(body);
    if (!current) return current.error();
    if (current->id != recordId)
        return makeError(ErrorCode::Corrupt, "the record sent back is another record");
    if (current->sealed)
        return makeError(ErrorCode::WrongState,
                         "a sealed record cannot be reopened on a device: start a new record");
    if (!*row) {
        // Held from now on as the collector has it (sent), so the draft below replaces it.
        const RecordContent& c = current->content;
        d.insertRecord.bindBlob(1, idBytes(recordId))
            .bind(2, std::string_view(c.formId))
            .bind(3, static_cast<std::int64_t>(c.formVersion));
        if (c.caseId) {
            d.insertRecord.bindBlob(4, idBytes(*c.caseId));
        } else {
            d.insertRecord.bindNull(4);
        }
        d.insertRecord.bind(5, static_cast<std::int64_t>(RecordStatus::Sent))
            .bind(6, static_cast<std::int64_t>(current->hlc.value))
            .bind(7, static_cast<std::int64_t>(current->createdHlc.value))
            .bind(8, std::string_view())
            .bindBlobStatic(9, body);
        if (Status s = d.insertRecord.run(); !s) return s.error();
    }
    // The draft: the current answers, made here, from the current revision. A correction changes
    // answers, never the case (its case change was applied when the record first came) or an
    // allocation (taken once, when the record was first finalized).
    Record draft;
    draft.id = recordId;
    draft.deviceId = d.deviceId;
    draft.createdHlc = current->createdHlc;
    draft.finalized = false;
    draft.content = current->content;
    draft.content.caseChange.reset();
    draft.content.allocation.reset();
    draft.content.allocate.reset();
    auto ts = d.stamp();
    if (!ts) return ts.error();
    draft.hlc = *ts;
    auto encoded = encodeRecord(draft);
    if (!encoded) return encoded.error();
    auto up = d.db.prepare(
        "UPDATE records SET status = 0, hlc = ?2, body = ?3, base_hlc = ?4 WHERE id = ?1");
    if (!up) return up.error();
    up->bindBlob(1, idBytes(recordId))
        .bind(2, static_cast<std::int64_t>(draft.hlc.value))
        .bindBlobStatic(3, *encoded)
        .bind(4, static_cast<std::int64_t>(current->hlc.value));
    if (Status s = up->run(); !s) return s.error();
    if (Status s = tx->commit(); !s) return s.error();
    return recordId;
}

}  // namespace veld
