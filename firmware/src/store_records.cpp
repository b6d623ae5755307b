// The device store's records: drafts, finalize, reading and listing, and the outbox.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/clock.hpp>
#include <veld/sealed_record.hpp>
#include <veld/store.hpp>

#include "store_internal.hpp"

namespace veld {

using namespace store_detail;

namespace {

// Binds what inserting and updating a record both start with: its id, form, form version and
// case (parameters 1 to 4).
void bindRecordHead(sql::Statement& st, const Uuid& id, const RecordContent& content) {
    st.bindBlobStatic(1, idBytes(id))
        .bind(2, std::string_view(content.formId))
        .bind(3, static_cast<std::int64_t>(content.formVersion));
    if (content.caseId) {
        st.bindBlob(4, idBytes(*content.caseId));
    } else {
        st.bindNull(4);
    }
}

// Summaries name a record in lists; longer text is cut at a character boundary so a careless
// caller cannot bloat every list row.
std::string_view shortSummary(std::string_view summary) {
    if (summary.size() <= kMaxSummaryBytes) return summary;
    std::size_t end = kMaxSummaryBytes;
    while (end > 0 && (static_cast<unsigned char>(summary[end]) & 0xC0) == 0x80)
        --end;
    return summary.substr(0, end);
}

// Allocations are made only by the store, at finalize: one handed in could be made up.
Status refuseGivenAllocation(const RecordContent& content) {
    if (!content.allocation) return {};
    return makeError(ErrorCode::InvalidArgument,
                     "a record cannot bring its own allocation: the store takes one when it "
                     "finalizes a record that asks for it (allocate)");
}

}  // namespace

// ---- Writing --------------------------------------------------------------------------------

Result<bool> Store::Impl::formSealed(const std::string& formId, std::uint32_t version) {
    const auto key = std::make_pair(formId, version);
    if (auto it = sealedForms.find(key); it != sealedForms.end()) return it->second;
    auto st = db.prepare("SELECT binary FROM forms WHERE form_id = ?1 AND version = ?2");
    if (!st) return st.error();
    st->bind(1, std::string_view(formId)).bind(2, static_cast<std::int64_t>(version));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return false;
    const bool sealed = formIsSealed(st->columnBlob(0));
    sealedForms.emplace(key, sealed);
    return sealed;
}

Status Store::Impl::refuseSealedDraft(const RecordContent& content) {
    auto sealed = formSealed(content.formId, content.formVersion);
    if (!sealed) return sealed.error();
    if (*sealed) {
        return makeError(ErrorCode::WrongState,
                         "form " + content.formId +
                             " is sealed: its answers are kept in memory until finalized, never "
                             "saved as a draft");
    }
    return {};
}

Result<Record> Store::Impl::sealIfNeeded(Record record, std::string_view& summary) {
    auto sealed = formSealed(record.content.formId, record.content.formVersion);
    if (!sealed) return sealed.error();
    if (!*sealed) return record;
    auto st = db.prepare("SELECT value FROM settings WHERE key = ?1");
    if (!st) return st.error();
    st->bind(1, projectkey::kKeySetting);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) {
        return makeError(ErrorCode::WrongState,
                         "form " + record.content.formId +
                             " is sealed and this device has no project key yet: synchronise "
                             "with the collector first");
    }
    auto key = projectkey::parsePublicKey(st->columnText(0));
    if (!key) {
        return makeError(ErrorCode::Corrupt,
                         "the project key on this device cannot be read: synchronise with the "
                         "collector again");
    }
    summary = {};  // a summary may quote an answer
    return sealRecord(record, key.value());
}

Result<Finalized> Store::Impl::writeFinalized(const std::optional<Uuid>& draftId,
                                              const RecordContent& given,
                                              std::string_view summary) {
    if (Status s = requireWritable("finalizing a record"); !s) return s.error();
    if (Status s = refuseGivenAllocation(given); !s) return s.error();
    // A correction draft (store_corrections.cpp) is a new revision of a record sent before: it
    // goes up with the revision it was made from, and changes answers only (the case change and
    // the allocation were applied when the record was first finalized).
    std::uint64_t base = 0;
    if (draftId) {
        auto b = correctionBase(*draftId);
        if (!b) return b.error();
        base = b.value();
    }
    RecordContent corrected;
    if (base != 0) {
        corrected = given;
        corrected.caseChange.reset();
        corrected.allocate.reset();
    }
    const RecordContent& content = base != 0 ? corrected : given;
    const bool changesCase =
        (content.caseChange && content.caseChange->action != CaseAction::None) ||
        content.allocate.has_value();
    if (changesCase) {
        // Checked before any slot is looked at, so a bad record never reads as a bad slot.
        if (Status s = checkRecordContent(content); !s) return s.error();
        if (!content.caseId)
            return makeError(ErrorCode::InvalidArgument,
                             "randomising a record needs the record's case id");
        if (content.allocate && content.allocate->study.empty())
            return makeError(ErrorCode::InvalidArgument, "randomising a record needs a study");
    }
    if (Status s = setSync(true); !s) return s.error();

    auto tx = sql::Transaction::begin(db);
    if (!tx) return tx.error();
    if (changesCase) {
        if (Status s = raiseClockForCase(*content.caseId); !s) return s.error();
    }

    Record record;
    record.deviceId = deviceId;
    record.finalized = true;
    record.content = content;
    if (draftId) {
        auto existing = findSummary(*draftId);
        if (!existing) return existing.error();
        if (!*existing)
            return makeError(ErrorCode::NotFound,
                             "no record " + draftId->toString() + " to finalize");
        if ((*existing)->status != RecordStatus::Draft)
            return makeError(ErrorCode::WrongState,
                             "record " + draftId->toString() + " is " +
                                 std::string(recordStatusName((*existing)->status)) +
                                 ", not a draft");
        record.id = *draftId;
        record.createdHlc = (*existing)->createdHlc;
    } else {
        record.id = makeUuidV7(*clock);
    }
    auto ts = stamp();
    if (!ts) return ts.error();
    record.hlc = *ts;
    if (!draftId) record.createdHlc = record.hlc;
    auto seq = nextSeq();
    if (!seq) return seq.error();
    record.content.allocate.reset();  // input only
    if (changesCase) {
        if (Status s = applyCaseChange(record, content.allocate); !s) return s.error();
    }

    auto written = sealIfNeeded(std::move(record), summary);
    if (!written) return written.error();
    record = std::move(written.value());
    auto body = encodeRecord(record);
    if (!body) return body.error();
    // The revision's link in the device's hash chain (veld/chain.hpp), over the bytes that are
    // sent (sealed ones sealed), in this transaction.
    auto step = chainStep(*seq, record.id, record.hlc, *body);
    if (!step) return step.error();

    sql::Statement& st = draftId ? updateRecord : insertRecord;
    int p = 1;
    st.bindBlobStatic(p++, idBytes(record.id));
    st.bind(p++, std::string_view(content.formId));
    st.bind(p++, static_cast<std::int64_t>(content.formVersion));
    if (content.caseId) {
        st.bindBlob(p++, idBytes(*content.caseId));
    } else {
        st.bindNull(p++);
    }
    st.bind(p++, static_cast<std::int64_t>(RecordStatus::Finalized));
    st.bind(p++, static_cast<std::int64_t>(record.hlc.value));
    if (!draftId) st.bind(p++, static_cast<std::int64_t>(record.createdHlc.value));
    st.bind(p++, shortSummary(summary));
    st.bindBlobStatic(p++, *body);
    if (Status s = st.run(); !s) return s.error();

    insertOutbox.bind(1, static_cast<std::int64_t>(*seq))
        .bindBlobStatic(2, idBytes(record.id))
        .bind(3, static_cast<std::int64_t>(record.hlc.value))
        .bind(4, clock->nowMillis())
        .bindBlob(5, step->previous)
        .bindBlob(6, step->link)
        .bind(7, static_cast<std::int64_t>(base));
    if (Status s = insertOutbox.run(); !s) return s.error();
    // The record keeps its current revision's place in the chain after the outbox row goes.
    auto placed = db.prepare("UPDATE records SET chain_seq = ?1, chain_link = ?2 WHERE id = ?3");
    if (!placed) return placed.error();
    placed->bind(1, static_cast<std::int64_t>(*seq))
        .bindBlob(2, step->link)
        .bindBlobStatic(3, idBytes(record.id));
    if (Status s = placed->run(); !s) return s.error();
    if (base != 0) {
        if (Status s = correctionFinalized(record.id, record.hlc); !s) return s.error();
    }

    if (Status s = tx->commit(); !s) return s.error();
    return Finalized{record.id, *seq, record.hlc};
}

Result<Uuid> Store::saveDraft(const RecordContent& content, std::string_view summary) {
    Impl& m = impl();
    if (Status s = m.requireWritable("saving a draft"); !s) return s.error();
    if (Status s = refuseGivenAllocation(content); !s) return s.error();
    if (Status s = m.refuseSealedDraft(content); !s) return s.error();
    if (Status s = m.setSync(false); !s) return s.error();
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();

    Record record;
    record.id = makeUuidV7(*m.clock);
    record.deviceId = m.deviceId;
    record.content = content;
    auto ts = m.stamp();
    if (!ts) return ts.error();
    record.hlc = record.createdHlc = *ts;
    auto body = encodeRecord(record);
    if (!body) return body.error();

    auto& st = m.insertRecord;
    bindRecordHead(st, record.id, content);
    st.bind(5, static_cast<std::int64_t>(RecordStatus::Draft))
        .bind(6, static_cast<std::int64_t>(record.hlc.value))
        .bind(7, static_cast<std::int64_t>(record.createdHlc.value))
        .bind(8, shortSummary(summary))
        .bindBlobStatic(9, *body);
    if (Status s = st.run(); !s) return s.error();
    if (Status s = tx->commit(); !s) return s.error();
    return record.id;
}

Status Store::updateDraft(const Uuid& id, const RecordContent& content, std::string_view summary) {
    Impl& m = impl();
    if (Status s = m.requireWritable("updating a draft"); !s) return s;
    if (Status s = refuseGivenAllocation(content); !s) return s;
    if (Status s = m.refuseSealedDraft(content); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto existing = m.findSummary(id);
    if (!existing) return existing.error();
    if (!*existing) return makeError(ErrorCode::NotFound, "no record " + id.toString());
    if ((*existing)->status != RecordStatus::Draft)
        return makeError(ErrorCode::WrongState,
                         "record " + id.toString() + " is " +
                             std::string(recordStatusName((*existing)->status)) + ", not a draft");

    Record record;
    record.id = id;
    record.deviceId = m.deviceId;
    record.content = content;
    record.createdHlc = (*existing)->createdHlc;
    auto ts = m.stamp();
    if (!ts) return ts.error();
    record.hlc = *ts;
    auto body = encodeRecord(record);
    if (!body) return body.error();

    auto& st = m.updateRecord;
    bindRecordHead(st, id, content);
    st.bind(5, static_cast<std::int64_t>(RecordStatus::Draft))
        .bind(6, static_cast<std::int64_t>(record.hlc.value))
        .bind(7, shortSummary(summary))
        .bindBlobStatic(8, *body);
    if (Status s = st.run(); !s) return s;
    return tx->commit();
}

Result<Finalized> Store::finalize(const Uuid& id, const RecordContent& content,
                                  std::string_view summary) {
    return impl().writeFinalized(id, content, summary);
}

Result<Finalized> Store::finalizeNew(const RecordContent& content, std::string_view summary) {
    return impl().writeFinalized(std::nullopt, content, summary);
}

Status Store::deleteDraft(const Uuid& id) {
    Impl& m = impl();
    if (Status s = m.requireWritable("deleting a draft"); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto existing = m.findSummary(id);
    if (!existing) return existing.error();
    if (!*existing) return makeError(ErrorCode::NotFound, "no record " + id.toString());
    if ((*existing)->status != RecordStatus::Draft)
        return makeError(ErrorCode::WrongState,
                         "record " + id.toString() + " is " +
                             std::string(recordStatusName((*existing)->status)) +
                             "; only drafts can be deleted");
    auto base = m.correctionBase(id);
    if (!base) return base.error();
    if (base.value() != 0)
        return makeError(ErrorCode::WrongState,
                         "record " + id.toString() +
                             " is a correction of a record sent before: finalize it, it cannot "
                             "be deleted");
    m.deleteRecord.bindBlob(1, idBytes(id));
    if (Status s = m.deleteRecord.run(); !s) return s;
    return tx->commit();
}

// ---- Reading --------------------------------------------------------------------------------

Result<StoredRecord> Store::get(const Uuid& id) {
    return getRecord(id, 2);
}

Result<StoredRecord> Store::getRecord(const Uuid& id, int retriesLeft) {
    Impl& m = impl();
    auto& st = m.selectBody;
    st.bindBlob(1, idBytes(id));
    auto row = st.step();
    if (!row) {
        st.reset();
        return row.error();
    }
    if (!*row) {
        st.reset();
        return makeError(ErrorCode::NotFound, "no record " + id.toString());
    }
    RecordSummary meta = readSummary(st);
    auto blob = st.columnBlob(10);
    std::vector<std::uint8_t> body(blob.begin(), blob.end());
    st.reset();

    if (meta.status == RecordStatus::Quarantined) {
        auto reason = m.reasonFor(id);
        if (!reason) return reason.error();
        return makeError(ErrorCode::Corrupt,
                         "record " + id.toString() + " is quarantined: " + *reason);
    }
    auto record = m.verifyRow(meta, body);
    if (record) return StoredRecord{std::move(meta), std::move(record.value())};
    // A body from a newer Veld is not damaged: say so and leave it where it is.
    if (record.error().code == ErrorCode::TooNew) return record.error();
    std::string reason = record.error().message;
    auto moved = m.quarantineRecord(meta, body, reason);
    if (!moved) {
        return makeError(ErrorCode::Corrupt, reason + " (moving it to the quarantine failed: " +
                                                 moved.error().message + ")");
    }
    if (!*moved && !m.readOnly && retriesLeft > 0) {
        // Another process rewrote the record meanwhile: read the new revision.
        return getRecord(id, retriesLeft - 1);
    }
    return makeError(ErrorCode::Corrupt,
                     reason + (*moved ? "; the record was moved to the quarantine" : ""));
}

Result<ListPage> Store::list(const ListQuery& query) {
    Impl& m = impl();
    std::string sql = std::string("SELECT ") + kRecordColumns + " FROM records";
    // With both a form and a status, SQLite cannot know which index finds rows sooner. On a device
    // the sent records are the bulk and the other states are few: walk the (few) rows of a rare
    // status, but walk the form's rows when asking for sent ones.
    if (query.formId && query.status) {
        sql += *query.status == RecordStatus::Sent ? " INDEXED BY records_by_form"
                                                   : " INDEXED BY records_by_status";
    }
    std::vector<std::string> where;
    if (query.formId) where.emplace_back("form_id = :form");
    if (query.status) where.emplace_back("status = :status");
    if (query.caseId) where.emplace_back("case_id = :case");
    if (!query.text.empty()) where.emplace_back("summary LIKE :text ESCAPE '\\'");
    if (query.after) where.emplace_back("(hlc, rowid) < (:hlc, :rowid)");
    for (std::size_t i = 0; i < where.size(); ++i)
        sql += (i == 0 ? " WHERE " : " AND ") + where[i];
    sql += " ORDER BY hlc DESC, rowid DESC LIMIT :limit";

    auto st = m.db.prepare(sql);
    if (!st) return st.error();
    int p = 1;
    if (query.formId) st->bind(p++, std::string_view(*query.formId));
    if (query.status) st->bind(p++, static_cast<std::int64_t>(*query.status));
    if (query.caseId) st->bindBlob(p++, idBytes(*query.caseId));
    const std::string pattern = likePattern(query.text);
    if (!query.text.empty()) st->bind(p++, std::string_view(pattern));
    if (query.after) {
        st->bind(p++, static_cast<std::int64_t>(query.after->hlc.value));
        st->bind(p++, query.after->rowid);
    }
    std::size_t limit = std::clamp<std::size_t>(query.limit, 1, 10000);
    st->bind(p++, static_cast<std::int64_t>(limit + 1));

    ListPage page;
    std::int64_t lastRowid = 0;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        if (page.rows.size() == limit) {
            page.next = ListCursor{page.rows.back().hlc, lastRowid};
            break;
        }
        page.rows.push_back(readSummary(*st));
        lastRowid = st->columnInt(0);
    }
    return page;
}

Result<std::vector<StatusCount>> Store::counts() {
    auto st = impl().db.prepare(
        "SELECT form_id, status, n FROM record_counts WHERE n > 0 ORDER BY form_id, status");
    if (!st) return st.error();
    std::vector<StatusCount> out;
    if (auto stepped = st->forEachRow([&] {
            out.push_back({std::string(st->columnText(0)),
                           static_cast<RecordStatus>(st->columnInt(1)), st->columnInt(2)});
        });
        !stepped)
        return stepped.error();
    return out;
}

// ---- Outbox ---------------------------------------------------------------------------------

Result<std::vector<OutboxEntry>> Store::outboxPending(std::size_t maxEntries, std::size_t maxBytes,
                                                      std::uint64_t afterSeq) {
    Impl& m = impl();
    std::vector<OutboxEntry> out;
    if (maxEntries == 0) return out;

    // Read first; quarantine bad bodies after the read statement is reset.
    struct Bad {
        RecordSummary meta;
        std::vector<std::uint8_t> body;
        std::string reason;
        std::size_t index;
    };
    std::vector<Bad> bad;
    auto& st = m.outboxPending;
    st.bind(1, static_cast<std::int64_t>(maxEntries))
        .bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(afterSeq, INT64_MAX)));
    std::size_t bytes = 0;
    for (;;) {
        auto row = st.step();
        if (!row) {
            st.reset();
            return row.error();
        }
        if (!*row) break;
        auto blob = st.columnBlob(13);
        // The byte limit is decided before anything else, so that every entry looked at below is
        // one that is returned.
        if (!out.empty() && bytes + blob.size() > maxBytes) break;

        OutboxEntry entry;
        entry.seq = static_cast<std::uint64_t>(st.columnInt(0));
        // Its chain link (none for revisions finalized before the chain), damaged or not.
        const auto prev = st.columnBlob(14);
        const auto link = st.columnBlob(15);
        entry.chainPrev.assign(prev.begin(), prev.end());
        entry.chainLink.assign(link.begin(), link.end());
        entry.recordId = uuidFromBlob(st.columnBlob(1)).value_or(Uuid{});
        entry.hlc = HlcTimestamp{static_cast<std::uint64_t>(st.columnInt(2))};
        entry.baseHlc = static_cast<std::uint64_t>(st.columnInt(16));
        if (st.columnIsNull(3)) {
            // The foreign key makes this impossible unless the file was damaged.
            entry.damaged = true;
            entry.damageReason = "the record of this outbox entry is missing from the store";
            out.push_back(std::move(entry));
            continue;
        }
        RecordSummary meta = readSummary(st, 3);  // the record's columns follow the outbox's three
        if (meta.status == RecordStatus::Quarantined) {
            entry.damaged = true;
        } else if (meta.hlc != entry.hlc) {
            // Finalized records never change on a device, so the revision must still be there.
            entry.damaged = true;
            entry.damageReason = "the outbox revision is no longer in the store";
        } else {
            entry.body.assign(blob.begin(), blob.end());
            bytes += entry.body.size();
            auto decoded = m.verifyRowHeader(meta, entry.body);
            // A body from a newer Veld is sent as it is: the collector can read it.
            if (!decoded && decoded.error().code != ErrorCode::TooNew)
                bad.push_back({meta, entry.body, decoded.error().message, out.size()});
        }
        out.push_back(std::move(entry));
    }
    st.reset();

    for (auto& b : bad) {
        if (auto moved = m.quarantineRecord(b.meta, b.body, b.reason); !moved) return moved.error();
        auto& entry = out.at(b.index);
        entry.body.clear();
        entry.damaged = true;
        entry.damageReason = b.reason;
    }
    for (auto& entry : out) {
        if (entry.damaged && entry.damageReason.empty()) {
            auto reason = m.reasonFor(entry.recordId);
            if (!reason) return reason.error();
            entry.damageReason = *reason;
        }
    }
    return out;
}

Status Store::acknowledgeThrough(std::uint64_t seq) {
    Impl& m = impl();
    if (Status s = m.requireWritable("recording the collector's acknowledgement"); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto next = m.nextSeq();
    if (!next) return next.error();
    if (seq >= *next) {
        return makeError(ErrorCode::InvalidArgument,
                         "the collector acknowledged revision " + std::to_string(seq) +
                             ", but this device has only made " + std::to_string(*next - 1));
    }
    auto acked = m.metaInt("acked_through", 0);
    if (!acked) return acked.error();
    if (static_cast<std::int64_t>(seq) <= *acked) return {};  // a repeated acknowledgement

    auto n = static_cast<std::int64_t>(seq);
    m.outboxMarkSent.bind(1, n);
    if (Status s = m.outboxMarkSent.run(); !s) return s;
    m.outboxAck.bind(1, n);
    if (Status s = m.outboxAck.run(); !s) return s;
    if (Status s = m.putMeta("acked_through", n); !s) return s;
    return tx->commit();
}

Result<OutboxState> Store::outboxState() {
    Impl& m = impl();
    // One read transaction, so the numbers agree with each other (unless a batch already is one).
    bool ownTransaction = !m.db.inTransaction();
    if (ownTransaction) {
        if (Status s = m.db.exec("BEGIN"); !s) return s.error();
    }
    struct End {
        sql::Database& db;
        bool active;
        ~End() {
            if (active) (void)db.exec("COMMIT");
        }
    } end{m.db, ownTransaction};
    OutboxState state;
    auto next = m.nextSeq();
    if (!next) return next.error();
    state.lastSeq = *next - 1;
    auto acked = m.metaInt("acked_through", 0);
    if (!acked) return acked.error();
    state.ackedThrough = static_cast<std::uint64_t>(*acked);
    auto st = m.db.prepare(
        "SELECT count(*), coalesce(sum(length(r.body)), 0) FROM outbox o "
        "LEFT JOIN records r ON r.id = o.record_id");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    state.pending = st->columnInt(0);
    state.pendingBytes = st->columnInt(1);
    return state;
}

}  // namespace veld
