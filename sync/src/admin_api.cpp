#include <algorithm>

#include <veld/fb/admin_generated.h>
#include <veld/form.hpp>
#include <veld/sync/admin_api.hpp>

namespace veld::sync::admin {

namespace {

using Builder = flatbuffers::FlatBufferBuilder;

fb::Uuid toFb(const Uuid& id) {
    return fb::Uuid(flatbuffers::span<const std::uint8_t, 16>(id.bytes.data(), 16));
}

Uuid fromFb(const fb::Uuid* id) {
    Uuid out;
    if (id) std::copy_n(id->bytes()->data(), 16, out.bytes.begin());
    return out;
}

Error malformed(const std::string& what) {
    return makeError(ErrorCode::Corrupt, "malformed admin message: " + what);
}

std::vector<std::uint8_t> finish(Builder& b, fb::AdminMessage type, flatbuffers::Offset<void> m) {
    fb::FinishAdminEnvelopeBuffer(b, fb::CreateAdminEnvelope(b, type, m));
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

// Requests are small; answers (forms with their binaries, a record with every revision) may be
// as large as the HTTP client takes in.
constexpr std::size_t kMaxRequestBytes = 4u << 20;

Result<const fb::AdminEnvelope*> verify(std::span<const std::uint8_t> body,
                                        std::size_t limit = kMaxRequestBytes) {
    if (body.size() > limit) return malformed("too large");
    if (body.size() < 8 || !fb::AdminEnvelopeBufferHasIdentifier(body.data()))
        return malformed("not a Veld admin message");
    flatbuffers::Verifier verifier(body.data(), body.size(), 32, 1000000);
    if (!fb::VerifyAdminEnvelopeBuffer(verifier))
        return malformed("fails the FlatBuffers verifier");
    const auto* env = fb::GetAdminEnvelope(body.data());
    // The Verifier accepts a union whose type is set but whose value is missing.
    if (env->message_type() != fb::AdminMessage::NONE && !env->message())
        return malformed("a message type without its message");
    return env;
}

template <class T>
Result<const T*> verifyAs(std::span<const std::uint8_t> body, fb::AdminMessage type,
                          std::size_t limit = kMaxRequestBytes) {
    auto env = verify(body, limit);
    if (!env) return env.error();
    if ((*env)->message_type() != type) return malformed("unexpected message type");
    return static_cast<const T*>((*env)->message());
}

// The verifier for an answer: as large as the HTTP client accepts.
template <class T>
Result<const T*> verifyAnswer(std::span<const std::uint8_t> body, fb::AdminMessage type) {
    return verifyAs<T>(body, type, kMaxMessageBytes);
}

std::optional<ReviewState> reviewState(std::uint8_t v) {
    return reviewStateFromCode(v);
}

std::string text(const flatbuffers::String* s) {
    return s ? s->str() : std::string();
}

// A job id as the collector makes them: 32 lowercase hex digits.
bool isJobId(std::string_view job) {
    return job.size() == 32 && std::all_of(job.begin(), job.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// A file name without any folder: nothing that could lead out of a job's folder.
bool isPlainName(std::string_view name) {
    return !name.empty() && name.size() <= 255 && name.find('/') == std::string_view::npos &&
           name.find('\\') == std::string_view::npos && name.find('\0') == std::string_view::npos &&
           name.find("..") == std::string_view::npos;
}

flatbuffers::Offset<fb::AdminReview> reviewTable(Builder& b, const RecordReview& review) {
    std::vector<flatbuffers::Offset<fb::AdminReviewChange>> changes;
    for (const auto& h : review.history)
        changes.push_back(fb::CreateAdminReviewChange(b, static_cast<std::uint8_t>(h.state),
                                                      b.CreateString(h.comment), h.utcMs,
                                                      b.CreateString(h.actor), h.revisionHlc));
    auto vec = b.CreateVector(changes);
    return fb::CreateAdminReview(b, static_cast<std::uint8_t>(review.state), vec);
}

Result<RecordReview> reviewFrom(const fb::AdminReview* m) {
    RecordReview out;
    if (!m) return out;
    const auto state = reviewState(m->state());
    if (!state) return malformed("unknown review state");
    out.state = *state;
    if (m->history()) {
        for (const auto* h : *m->history()) {
            const auto s = reviewState(h->state());
            if (!s) return malformed("unknown review state");
            out.history.push_back(
                {*s, text(h->comment()), h->utc_ms(), text(h->actor()), h->revision_hlc()});
        }
    }
    return out;
}

}  // namespace

std::vector<std::uint8_t> encodeRequest(Request plain) {
    Builder b(64);
    switch (plain) {
        case Request::Devices:
            return finish(b, fb::AdminMessage::AdminDevicesRequest,
                          fb::CreateAdminDevicesRequest(b).Union());
        case Request::Conflicts:
            return finish(b, fb::AdminMessage::AdminConflictsRequest,
                          fb::CreateAdminConflictsRequest(b).Union());
        case Request::Duplicates:
            return finish(b, fb::AdminMessage::AdminDuplicatesRequest,
                          fb::CreateAdminDuplicatesRequest(b).Union());
        case Request::Forms:
            return finish(b, fb::AdminMessage::AdminFormsRequest,
                          fb::CreateAdminFormsRequest(b).Union());
        case Request::Studies:
            return finish(b, fb::AdminMessage::AdminStudiesRequest,
                          fb::CreateAdminStudiesRequest(b).Union());
        default:
            return finish(b, fb::AdminMessage::AdminStatusRequest,
                          fb::CreateAdminStatusRequest(b).Union());
    }
}

std::vector<std::uint8_t> encodeReviewRequest(const ReviewRequest& request) {
    Builder b(256);
    const fb::Uuid id = toFb(request.recordId);
    auto comment = b.CreateString(request.comment);
    return finish(
        b, fb::AdminMessage::AdminReviewRequest,
        fb::CreateAdminReviewRequest(
            b, &id, request.set.has_value(),
            static_cast<std::uint8_t>(request.set.value_or(ReviewState::Received)), comment)
            .Union());
}

std::vector<std::uint8_t> encodeResolveRequest(const ResolveRequest& request) {
    Builder b(256);
    std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    for (const auto& n : request.resolution.fromB)
        names.push_back(b.CreateString(n));
    auto fromB = b.CreateVector(names);
    auto comment = b.CreateString(request.resolution.comment);
    return finish(b, fb::AdminMessage::AdminResolveRequest,
                  fb::CreateAdminResolveRequest(b, request.conflictId,
                                                static_cast<std::uint8_t>(request.resolution.kind),
                                                fromB, comment)
                      .Union());
}

Result<Request> requestKind(std::span<const std::uint8_t> body) {
    auto env = verify(body);
    if (!env) return env.error();
    switch ((*env)->message_type()) {
        case fb::AdminMessage::AdminStatusRequest:
            return Request::Status;
        case fb::AdminMessage::AdminDevicesRequest:
            return Request::Devices;
        case fb::AdminMessage::AdminReviewRequest:
            return Request::Review;
        case fb::AdminMessage::AdminConflictsRequest:
            return Request::Conflicts;
        case fb::AdminMessage::AdminResolveRequest:
            return Request::Resolve;
        case fb::AdminMessage::AdminDuplicatesRequest:
            return Request::Duplicates;
        case fb::AdminMessage::AdminDecideRequest:
            return Request::Decide;
        case fb::AdminMessage::AdminFormsRequest:
            return Request::Forms;
        case fb::AdminMessage::AdminRecordRequest:
            return Request::Record;
        case fb::AdminMessage::AdminQueueRequest:
            return Request::Queue;
        case fb::AdminMessage::AdminExportRequest:
            return Request::Export;
        case fb::AdminMessage::AdminExportJobRequest:
            return Request::ExportJob;
        case fb::AdminMessage::AdminExportFileRequest:
            return Request::ExportFile;
        case fb::AdminMessage::AdminCaseConflictsRequest:
            return Request::CaseConflicts;
        case fb::AdminMessage::AdminCaseResolveRequest:
            return Request::CaseResolve;
        case fb::AdminMessage::AdminStudiesRequest:
            return Request::Studies;
        case fb::AdminMessage::AdminStudyBalanceRequest:
            return Request::StudyBalance;
        case fb::AdminMessage::AdminStudyVerifyRequest:
            return Request::StudyVerify;
        case fb::AdminMessage::AdminPublishRequest:
            return Request::Publish;
        default:
            return malformed("not a request");
    }
}

Result<ReviewRequest> decodeReviewRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminReviewRequest>(body, fb::AdminMessage::AdminReviewRequest);
    if (!m) return m.error();
    ReviewRequest out;
    out.recordId = fromFb((*m)->record_id());
    if ((*m)->set()) {
        out.set = reviewState((*m)->state());
        if (!out.set) return malformed("unknown review state");
    }
    if ((*m)->comment()) out.comment = (*m)->comment()->str();
    return out;
}

Result<ResolveRequest> decodeResolveRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminResolveRequest>(body, fb::AdminMessage::AdminResolveRequest);
    if (!m) return m.error();
    ResolveRequest out;
    out.conflictId = (*m)->conflict_id();
    if ((*m)->keep() > 3) return malformed("unknown way to resolve");
    out.resolution.kind = static_cast<ConflictResolution::Kind>((*m)->keep());
    if ((*m)->from_b()) {
        for (const auto* n : *(*m)->from_b())
            if (n) out.resolution.fromB.push_back(n->str());
    }
    if ((*m)->comment()) out.resolution.comment = (*m)->comment()->str();
    return out;
}

std::vector<std::uint8_t> encodeStatus(const StatusInfo& status) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::DayCount>> days;
    for (const auto& d : status.perDay)
        days.push_back(fb::CreateDayCount(b, b.CreateString(d.formId), b.CreateString(d.pilot),
                                          d.day, d.records));
    auto perDay = b.CreateVector(days);
    auto id = b.CreateString(status.collectorId);
    const auto& s = status.stats;
    return finish(b, fb::AdminMessage::AdminStatus,
                  fb::CreateAdminStatus(b, id, s.devices, s.records, s.revisions, s.rejected,
                                        s.conflicts, s.flaggedClocks, s.forms, perDay)
                      .Union());
}

Result<StatusInfo> decodeStatus(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminStatus>(body, fb::AdminMessage::AdminStatus);
    if (!m) return m.error();
    const auto* s = *m;
    StatusInfo out;
    if (s->collector_id()) out.collectorId = s->collector_id()->str();
    out.stats = {s->devices(),        s->records(),        s->revisions(), s->rejected(),
                 s->open_conflicts(), s->flagged_clocks(), s->forms()};
    for (std::int64_t v : {s->devices(), s->records(), s->revisions(), s->rejected(),
                           s->open_conflicts(), s->flagged_clocks(), s->forms()}) {
        if (v < 0) return malformed("a negative count");
    }
    if (s->per_day()) {
        for (const auto* d : *s->per_day()) {
            // Counts of records a collector can hold (at most 2^53 is far beyond any pilot).
            if (d->records() < 0 || d->records() > (std::int64_t{1} << 53))
                return malformed("a day's count out of range");
            out.perDay.push_back({d->form_id() ? d->form_id()->str() : std::string(),
                                  d->pilot() ? d->pilot()->str() : std::string(), d->day(),
                                  d->records()});
        }
    }
    return out;
}

std::vector<std::uint8_t> encodeDevices(const std::vector<DeviceInfo>& devices) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminDevice>> list;
    for (const auto& d : devices) {
        const fb::Uuid id = toFb(d.deviceId);
        list.push_back(fb::CreateAdminDevice(
            b, &id, b.CreateString(d.label), d.enrolledUtcMs, d.revokedUtcMs.value_or(0),
            d.receivedThrough, d.lastContactUtcMs.value_or(0), d.revisions, d.waiting.value_or(-1),
            b.CreateString(d.team), d.hasBoxKey, d.staff, d.lastBundle.value_or(0)));
    }
    auto vec = b.CreateVector(list);
    return finish(b, fb::AdminMessage::AdminDevices, fb::CreateAdminDevices(b, vec).Union());
}

Result<std::vector<DeviceInfo>> decodeDevices(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminDevices>(body, fb::AdminMessage::AdminDevices);
    if (!m) return m.error();
    std::vector<DeviceInfo> out;
    if ((*m)->devices()) {
        for (const auto* d : *(*m)->devices()) {
            DeviceInfo info;
            info.deviceId = fromFb(d->device_id());
            if (d->label()) info.label = d->label()->str();
            info.enrolledUtcMs = d->enrolled_utc_ms();
            if (d->revoked_utc_ms() != 0) info.revokedUtcMs = d->revoked_utc_ms();
            info.receivedThrough = d->received_through();
            if (d->last_contact_utc_ms() != 0) info.lastContactUtcMs = d->last_contact_utc_ms();
            info.revisions = d->revisions();
            if (d->waiting() >= 0) info.waiting = d->waiting();
            info.team = text(d->team());
            info.hasBoxKey = d->has_box_key();
            info.staff = d->staff();
            if (d->last_bundle() != 0) info.lastBundle = d->last_bundle();
            out.push_back(std::move(info));
        }
    }
    return out;
}

std::vector<std::uint8_t> encodeReview(const RecordReview& review) {
    Builder b(512);
    return finish(b, fb::AdminMessage::AdminReview, reviewTable(b, review).Union());
}

Result<RecordReview> decodeReview(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminReview>(body, fb::AdminMessage::AdminReview);
    if (!m) return m.error();
    return reviewFrom(*m);
}

std::vector<std::uint8_t> encodeConflicts(const std::vector<ConflictInfo>& conflicts) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminConflict>> list;
    for (const auto& c : conflicts) {
        const fb::Uuid record = toFb(c.recordId);
        const fb::Uuid a = toFb(c.deviceA);
        const fb::Uuid bb = toFb(c.deviceB);
        list.push_back(fb::CreateAdminConflict(b, c.id, &record, &a, c.hlcA.value, &bb,
                                               c.hlcB.value, c.detectedUtcMs));
    }
    auto vec = b.CreateVector(list);
    return finish(b, fb::AdminMessage::AdminConflicts, fb::CreateAdminConflicts(b, vec).Union());
}

Result<std::vector<ConflictInfo>> decodeConflicts(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminConflicts>(body, fb::AdminMessage::AdminConflicts);
    if (!m) return m.error();
    std::vector<ConflictInfo> out;
    if ((*m)->conflicts()) {
        for (const auto* c : *(*m)->conflicts()) {
            ConflictInfo info;
            info.id = c->id();
            info.recordId = fromFb(c->record_id());
            info.deviceA = fromFb(c->device_a());
            info.hlcA = HlcTimestamp{c->hlc_a()};
            info.deviceB = fromFb(c->device_b());
            info.hlcB = HlcTimestamp{c->hlc_b()};
            info.detectedUtcMs = c->detected_utc_ms();
            out.push_back(info);
        }
    }
    return out;
}

std::vector<std::uint8_t> encodeResolved(const Resolved& resolved) {
    Builder b(128);
    const fb::Uuid id = toFb(resolved.recordId);
    return finish(b, fb::AdminMessage::AdminResolved,
                  fb::CreateAdminResolved(b, &id, resolved.hlc.value).Union());
}

Result<Resolved> decodeResolved(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminResolved>(body, fb::AdminMessage::AdminResolved);
    if (!m) return m.error();
    return Resolved{fromFb((*m)->record_id()), HlcTimestamp{(*m)->hlc()}};
}

std::vector<std::uint8_t> encodeDecideRequest(const DecideRequest& request) {
    Builder b(256);
    auto key = b.CreateString(request.key);
    auto comment = b.CreateString(request.comment);
    return finish(
        b, fb::AdminMessage::AdminDecideRequest,
        fb::CreateAdminDecideRequest(b, key, static_cast<std::uint8_t>(request.decision), comment)
            .Union());
}

Result<DecideRequest> decodeDecideRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminDecideRequest>(body, fb::AdminMessage::AdminDecideRequest);
    if (!m) return m.error();
    DecideRequest out;
    out.key = (*m)->key()->str();
    if ((*m)->decision() < 1 || (*m)->decision() > 2) return malformed("unknown decision");
    out.decision = static_cast<DuplicateDecision>((*m)->decision());
    if ((*m)->comment()) out.comment = (*m)->comment()->str();
    return out;
}

std::vector<std::uint8_t> encodeDuplicates(const std::vector<DuplicateGroup>& groups) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminDuplicateGroup>> list;
    for (const auto& g : groups) {
        std::vector<fb::Uuid> ids;
        for (const auto& id : g.records)
            ids.push_back(toFb(id));
        auto records = b.CreateVectorOfStructs(ids);
        list.push_back(fb::CreateAdminDuplicateGroup(
            b, b.CreateString(g.key), g.kind == DuplicateGroup::Kind::SamePseudonym,
            b.CreateString(g.question), records, static_cast<std::uint8_t>(g.decision),
            b.CreateString(g.comment), g.decidedUtcMs, b.CreateString(g.decidedBy)));
    }
    auto vec = b.CreateVector(list);
    return finish(b, fb::AdminMessage::AdminDuplicates, fb::CreateAdminDuplicates(b, vec).Union());
}

Result<std::vector<DuplicateGroup>> decodeDuplicates(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminDuplicates>(body, fb::AdminMessage::AdminDuplicates);
    if (!m) return m.error();
    std::vector<DuplicateGroup> out;
    if ((*m)->groups()) {
        for (const auto* g : *(*m)->groups()) {
            DuplicateGroup group;
            if (g->key()) group.key = g->key()->str();
            group.kind = g->same_pseudonym() ? DuplicateGroup::Kind::SamePseudonym
                                             : DuplicateGroup::Kind::SameIdentifyingAnswers;
            if (g->question()) group.question = g->question()->str();
            if (g->records()) {
                for (const auto* id : *g->records())
                    group.records.push_back(fromFb(id));
            }
            if (g->decision() > 2) return malformed("unknown decision");
            group.decision = static_cast<DuplicateDecision>(g->decision());
            if (g->comment()) group.comment = g->comment()->str();
            group.decidedUtcMs = g->decided_utc_ms();
            if (g->decided_by()) group.decidedBy = g->decided_by()->str();
            out.push_back(std::move(group));
        }
    }
    return out;
}

std::vector<std::uint8_t> encodeRecordRequest(const Uuid& recordId) {
    Builder b(64);
    const fb::Uuid id = toFb(recordId);
    return finish(b, fb::AdminMessage::AdminRecordRequest,
                  fb::CreateAdminRecordRequest(b, &id).Union());
}

Result<Uuid> decodeRecordRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminRecordRequest>(body, fb::AdminMessage::AdminRecordRequest);
    if (!m) return m.error();
    return fromFb((*m)->record_id());
}

std::vector<std::uint8_t> encodeRecord(const RecordDetail& record) {
    Builder b(4096);
    std::vector<flatbuffers::Offset<fb::AdminRevision>> list;
    for (const auto& r : record.revisions) {
        const fb::Uuid device = toFb(r.deviceId);
        auto formId = b.CreateString(r.formId);
        auto body = b.CreateVector(r.body);
        list.push_back(fb::CreateAdminRevision(b, &device, r.seq, r.hlc.value, formId, body,
                                               r.damaged, r.clockFlagged));
    }
    auto revisions = b.CreateVector(list);
    auto review = reviewTable(b, record.review);
    return finish(b, fb::AdminMessage::AdminRecord,
                  fb::CreateAdminRecord(b, revisions, record.current, review).Union());
}

// The revisions' record id is not in the answer (the request names the record): it is left
// empty here, for the caller to fill in.
Result<RecordDetail> decodeRecord(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminRecord>(body, fb::AdminMessage::AdminRecord);
    if (!m) return m.error();
    RecordDetail out;
    if ((*m)->revisions()) {
        for (const auto* r : *(*m)->revisions()) {
            StoredRevision rev;
            rev.deviceId = fromFb(r->device_id());
            rev.seq = r->seq();
            rev.hlc = HlcTimestamp{r->hlc()};
            rev.formId = text(r->form_id());
            if (r->body()) rev.body.assign(r->body()->begin(), r->body()->end());
            rev.damaged = r->damaged();
            rev.clockFlagged = r->clock_flagged();
            out.revisions.push_back(std::move(rev));
        }
    }
    out.current = (*m)->current();
    if (out.current < -1 || out.current >= static_cast<int>(out.revisions.size()))
        return malformed("the current revision is not one of the revisions");
    auto review = reviewFrom((*m)->review());
    if (!review) return review.error();
    out.review = std::move(review.value());
    return out;
}

std::vector<std::uint8_t> encodeForms(const std::vector<PublishedFormInfo>& forms) {
    Builder b(64 * 1024);
    std::vector<flatbuffers::Offset<fb::AdminForm>> list;
    for (const auto& f : forms) {
        auto id = b.CreateString(f.formId);
        auto pilot = b.CreateString(f.pilot);
        auto binary = b.CreateVector(f.binary);
        list.push_back(fb::CreateAdminForm(b, id, f.version, pilot, binary));
    }
    auto vec = b.CreateVector(list);
    return finish(b, fb::AdminMessage::AdminForms, fb::CreateAdminForms(b, vec).Union());
}

Result<std::vector<PublishedFormInfo>> decodeForms(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminForms>(body, fb::AdminMessage::AdminForms);
    if (!m) return m.error();
    std::vector<PublishedFormInfo> out;
    if ((*m)->forms()) {
        for (const auto* f : *(*m)->forms()) {
            PublishedFormInfo info;
            info.formId = text(f->form_id());
            info.version = f->version();
            info.pilot = text(f->pilot());
            if (f->binary()) info.binary.assign(f->binary()->begin(), f->binary()->end());
            // The console reads questions from these: each must be a compiled form (verified).
            const auto problems = forms::checkFormBinary(info.binary, info.formId);
            const bool broken = std::any_of(problems.begin(), problems.end(), [](const auto& p) {
                return p.severity == forms::FormProblem::Severity::Error;
            });
            // One form this program cannot read (a newer Veld's, say) is left out; the rest of
            // the list is still of use.
            if (info.formId.empty() || broken) continue;
            out.push_back(std::move(info));
        }
    }
    return out;
}

std::vector<std::uint8_t> encodeQueueRequest(const QueueRequest& request) {
    Builder b(128);
    const auto formId = request.formId.empty() ? 0 : b.CreateString(request.formId);
    return finish(b, fb::AdminMessage::AdminQueueRequest,
                  fb::CreateAdminQueueRequest(b, static_cast<std::uint8_t>(request.state),
                                              request.limit, formId)
                      .Union());
}

Result<QueueRequest> decodeQueueRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminQueueRequest>(body, fb::AdminMessage::AdminQueueRequest);
    if (!m) return m.error();
    QueueRequest out;
    const auto state = reviewState((*m)->state());
    if (!state) return malformed("unknown review state");
    out.state = *state;
    out.limit = (*m)->limit();
    if (out.limit < 1 || out.limit > kMaxQueue)
        return malformed("the queue's limit must be from 1 to " + std::to_string(kMaxQueue));
    out.formId = text((*m)->form_id());
    if (out.formId.size() > 200) return malformed("a form id of more than 200 bytes");
    return out;
}

std::vector<std::uint8_t> encodeQueue(const ReviewQueue& queue) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminQueueEntry>> list;
    for (const auto& e : queue.records) {
        const fb::Uuid record = toFb(e.recordId);
        const fb::Uuid device = toFb(e.deviceId);
        list.push_back(
            fb::CreateAdminQueueEntry(b, &record, b.CreateString(e.formId), &device, e.hlc.value));
    }
    auto vec = b.CreateVector(list);
    return finish(
        b, fb::AdminMessage::AdminQueue,
        fb::CreateAdminQueue(b, static_cast<std::uint8_t>(queue.state), queue.total, vec).Union());
}

Result<ReviewQueue> decodeQueue(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminQueue>(body, fb::AdminMessage::AdminQueue);
    if (!m) return m.error();
    ReviewQueue out;
    const auto state = reviewState((*m)->state());
    if (!state) return malformed("unknown review state");
    out.state = *state;
    out.total = (*m)->total();
    if (out.total < 0) return malformed("a negative count");
    if ((*m)->records()) {
        if ((*m)->records()->size() > static_cast<flatbuffers::uoffset_t>(kMaxQueue))
            return malformed("more queue entries than an answer holds");
        for (const auto* e : *(*m)->records())
            out.records.push_back({fromFb(e->record_id()), text(e->form_id()),
                                   fromFb(e->device_id()), HlcTimestamp{e->hlc()}});
    }
    return out;
}

std::vector<std::uint8_t> encodeExportRequest(const ExportRequest& request) {
    Builder b(256);
    auto formId = b.CreateString(request.formId);
    auto language = b.CreateString(request.language);
    const RecordQuery& f = request.filter;
    return finish(b, fb::AdminMessage::AdminExportRequest,
                  fb::CreateAdminExportRequest(
                      b, formId, static_cast<std::uint8_t>(request.format), language,
                      f.formVersion.has_value(), f.formVersion.value_or(0), f.fromUtcMs.has_value(),
                      f.fromUtcMs.value_or(0), f.untilUtcMs.has_value(), f.untilUtcMs.value_or(0),
                      f.review.has_value(),
                      static_cast<std::uint8_t>(f.review.value_or(ReviewState::Received)),
                      request.values == ExportValues::Labels)
                      .Union());
}

Result<ExportRequest> decodeExportRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminExportRequest>(body, fb::AdminMessage::AdminExportRequest);
    if (!m) return m.error();
    const auto* r = *m;
    ExportRequest out;
    out.formId = r->form_id()->str();
    if (out.formId.empty() || out.formId.size() > 200) return malformed("no form to export");
    if (r->format() > static_cast<std::uint8_t>(ExportFormat::Xlsx))
        return malformed("unknown export format");
    out.format = static_cast<ExportFormat>(r->format());
    out.values = r->labels() ? ExportValues::Labels : ExportValues::Codes;
    out.language = text(r->language());
    if (out.language.size() > 64) return malformed("a language tag that is too long");
    out.filter.formId = out.formId;
    if (r->has_version()) out.filter.formVersion = r->version();
    if (r->has_from()) out.filter.fromUtcMs = r->from_utc_ms();
    if (r->has_until()) out.filter.untilUtcMs = r->until_utc_ms();
    if (r->has_review()) {
        out.filter.review = reviewState(r->review());
        if (!out.filter.review) return malformed("unknown review state");
    }
    return out;
}

std::vector<std::uint8_t> encodeExportJobRequest(const ExportJobRequest& request) {
    Builder b(128);
    auto job = b.CreateString(request.job);
    return finish(b, fb::AdminMessage::AdminExportJobRequest,
                  fb::CreateAdminExportJobRequest(b, job, request.discard).Union());
}

Result<ExportJobRequest> decodeExportJobRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminExportJobRequest>(body, fb::AdminMessage::AdminExportJobRequest);
    if (!m) return m.error();
    ExportJobRequest out;
    out.job = (*m)->job()->str();
    if (!isJobId(out.job)) return malformed("not an export job id");
    out.discard = (*m)->discard();
    return out;
}

std::vector<std::uint8_t> encodeExportJob(const ExportJob& job) {
    Builder b(512);
    std::vector<flatbuffers::Offset<fb::AdminExportFile>> files;
    for (const auto& f : job.files)
        files.push_back(fb::CreateAdminExportFile(b, b.CreateString(f.name), f.bytes));
    auto fileVec = b.CreateVector(files);
    auto id = b.CreateString(job.job);
    auto error = b.CreateString(job.error);
    return finish(
        b, fb::AdminMessage::AdminExportJob,
        fb::CreateAdminExportJob(b, id, static_cast<std::uint8_t>(job.state), job.done, job.total,
                                 fileVec, job.records, job.unreadable, error, job.sealedUnopened)
            .Union());
}

Result<ExportJob> decodeExportJob(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminExportJob>(body, fb::AdminMessage::AdminExportJob);
    if (!m) return m.error();
    const auto* j = *m;
    ExportJob out;
    out.job = text(j->job());
    if (!isJobId(out.job)) return malformed("not an export job id");
    if (j->state() > static_cast<std::uint8_t>(ExportJob::State::Discarded))
        return malformed("unknown export job state");
    out.state = static_cast<ExportJob::State>(j->state());
    out.done = j->done();
    out.total = j->total();
    out.records = j->records();
    out.unreadable = j->unreadable();
    out.sealedUnopened = j->sealed_unopened();
    if (out.done < 0 || out.total < 0 || out.records < 0 || out.unreadable < 0 ||
        out.sealedUnopened < 0)
        return malformed("a negative count");
    if (j->files()) {
        for (const auto* f : *j->files()) {
            ExportFileInfo info{text(f->name()), f->bytes()};
            if (!isPlainName(info.name)) return malformed("an export file name with a folder");
            if (info.bytes < 0) return malformed("a negative file size");
            out.files.push_back(std::move(info));
        }
    }
    out.error = text(j->error());
    return out;
}

std::vector<std::uint8_t> encodeExportFileRequest(const ExportFileRequest& request) {
    Builder b(128);
    auto job = b.CreateString(request.job);
    auto name = b.CreateString(request.name);
    return finish(b, fb::AdminMessage::AdminExportFileRequest,
                  fb::CreateAdminExportFileRequest(b, job, name, request.offset).Union());
}

Result<ExportFileRequest> decodeExportFileRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminExportFileRequest>(body, fb::AdminMessage::AdminExportFileRequest);
    if (!m) return m.error();
    ExportFileRequest out;
    out.job = (*m)->job()->str();
    if (!isJobId(out.job)) return malformed("not an export job id");
    out.name = (*m)->name()->str();
    if (!isPlainName(out.name)) return malformed("not a plain file name");
    out.offset = (*m)->offset();
    if (out.offset < 0) return malformed("a negative offset");
    return out;
}

// ---- cases ----------------------------------------------------------------------------------

std::vector<std::uint8_t> encodeCaseConflictsRequest(bool includeResolved) {
    Builder b(64);
    return finish(b, fb::AdminMessage::AdminCaseConflictsRequest,
                  fb::CreateAdminCaseConflictsRequest(b, includeResolved).Union());
}

Result<bool> decodeCaseConflictsRequest(std::span<const std::uint8_t> body) {
    auto m =
        verifyAs<fb::AdminCaseConflictsRequest>(body, fb::AdminMessage::AdminCaseConflictsRequest);
    if (!m) return m.error();
    return (*m)->include_resolved();
}

std::vector<std::uint8_t> encodeCaseConflicts(const std::vector<CaseConflictInfo>& conflicts) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminCaseConflict>> list;
    for (const auto& c : conflicts) {
        const fb::Uuid caseId = toFb(c.caseId);
        const fb::Uuid a = toFb(c.deviceA);
        const fb::Uuid bb = toFb(c.deviceB);
        auto property = b.CreateString(c.property);
        auto valueA = b.CreateString(c.valueA);
        auto valueB = b.CreateString(c.valueB);
        auto resolution = b.CreateString(c.resolution);
        auto resolvedBy = b.CreateString(c.resolvedBy);
        list.push_back(fb::CreateAdminCaseConflict(
            b, c.id, &caseId, property, valueA, c.hlcA.value, &a, valueB, c.hlcB.value, &bb,
            c.detectedUtcMs, c.resolvedUtcMs.value_or(0), resolution, resolvedBy));
    }
    auto vec = b.CreateVector(list);
    return finish(b, fb::AdminMessage::AdminCaseConflicts,
                  fb::CreateAdminCaseConflicts(b, vec).Union());
}

Result<std::vector<CaseConflictInfo>> decodeCaseConflicts(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminCaseConflicts>(body, fb::AdminMessage::AdminCaseConflicts);
    if (!m) return m.error();
    std::vector<CaseConflictInfo> out;
    if ((*m)->conflicts()) {
        for (const auto* c : *(*m)->conflicts()) {
            CaseConflictInfo info;
            info.id = c->id();
            info.caseId = fromFb(c->case_id());
            info.property = text(c->property());
            info.valueA = text(c->value_a());
            info.hlcA = HlcTimestamp{c->hlc_a()};
            info.deviceA = fromFb(c->device_a());
            info.valueB = text(c->value_b());
            info.hlcB = HlcTimestamp{c->hlc_b()};
            info.deviceB = fromFb(c->device_b());
            info.detectedUtcMs = c->detected_utc_ms();
            if (c->resolved_utc_ms() != 0) info.resolvedUtcMs = c->resolved_utc_ms();
            info.resolution = text(c->resolution());
            info.resolvedBy = text(c->resolved_by());
            out.push_back(std::move(info));
        }
    }
    return out;
}

std::vector<std::uint8_t> encodeCaseResolveRequest(const CaseResolveRequest& request) {
    Builder b(256);
    auto value = b.CreateString(request.choice.value);
    auto comment = b.CreateString(request.comment);
    return finish(
        b, fb::AdminMessage::AdminCaseResolveRequest,
        fb::CreateAdminCaseResolveRequest(
            b, request.conflictId, static_cast<std::uint8_t>(request.choice.kind), value, comment)
            .Union());
}

Result<CaseResolveRequest> decodeCaseResolveRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminCaseResolveRequest>(body, fb::AdminMessage::AdminCaseResolveRequest);
    if (!m) return m.error();
    CaseResolveRequest out;
    out.conflictId = (*m)->conflict_id();
    if ((*m)->choice() > static_cast<std::uint8_t>(CaseChoice::Kind::Value))
        return malformed("unknown choice for a case conflict");
    out.choice.kind = static_cast<CaseChoice::Kind>((*m)->choice());
    out.choice.value = text((*m)->value());
    out.comment = text((*m)->comment());
    return out;
}

// ---- randomisation ------------------------------------------------------------------------

std::vector<std::uint8_t> encodeStudies(const std::vector<StudySummary>& studies) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminStudy>> list;
    for (const auto& summary : studies) {
        const alloc::Study& s = summary.definition.study;
        std::vector<flatbuffers::Offset<fb::AdminStudyArm>> arms;
        for (const auto& a : s.arms)
            arms.push_back(fb::CreateAdminStudyArm(b, b.CreateString(a.name), a.ratio));
        std::vector<flatbuffers::Offset<fb::AdminStudyFactor>> factors;
        for (const auto& f : s.factors) {
            std::vector<flatbuffers::Offset<flatbuffers::String>> levels;
            for (const auto& l : f.levels)
                levels.push_back(b.CreateString(l));
            factors.push_back(
                fb::CreateAdminStudyFactor(b, b.CreateString(f.name), b.CreateVector(levels)));
        }
        auto id = b.CreateString(s.id);
        auto pilot = b.CreateString(s.pilot);
        auto armVec = b.CreateVector(arms);
        auto factorVec = b.CreateVector(factors);
        auto sizes = b.CreateVector(s.blockSizes);
        list.push_back(fb::CreateAdminStudy(b, id, pilot, armVec, factorVec, sizes, s.lowSlots,
                                            summary.definition.blocksPerDevice,
                                            summary.createdUtcMs));
    }
    auto vec = b.CreateVector(list);
    return finish(b, fb::AdminMessage::AdminStudies, fb::CreateAdminStudies(b, vec).Union());
}

Result<std::vector<StudySummary>> decodeStudies(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminStudies>(body, fb::AdminMessage::AdminStudies);
    if (!m) return m.error();
    std::vector<StudySummary> out;
    if (!(*m)->studies()) return out;
    for (const auto* s : *(*m)->studies()) {
        StudySummary summary;
        alloc::Study& study = summary.definition.study;
        study.id = s->id()->str();
        study.pilot = text(s->pilot());
        if (s->arms()) {
            for (const auto* a : *s->arms())
                study.arms.push_back({text(a->name()), a->ratio()});
        }
        if (s->factors()) {
            for (const auto* f : *s->factors()) {
                alloc::Factor factor{text(f->name()), {}};
                if (f->levels()) {
                    for (const auto* l : *f->levels())
                        factor.levels.push_back(text(l));
                }
                study.factors.push_back(std::move(factor));
            }
        }
        if (s->block_sizes())
            study.blockSizes.assign(s->block_sizes()->begin(), s->block_sizes()->end());
        study.lowSlots = s->low_slots();
        summary.definition.blocksPerDevice = s->blocks_per_device();
        summary.createdUtcMs = s->created_utc_ms();
        out.push_back(std::move(summary));
    }
    return out;
}

std::vector<std::uint8_t> encodeStudyRequest(Request kind, const std::string& study) {
    Builder b(128);
    auto name = b.CreateString(study);
    if (kind == Request::StudyVerify)
        return finish(b, fb::AdminMessage::AdminStudyVerifyRequest,
                      fb::CreateAdminStudyVerifyRequest(b, name).Union());
    return finish(b, fb::AdminMessage::AdminStudyBalanceRequest,
                  fb::CreateAdminStudyBalanceRequest(b, name).Union());
}

Result<std::string> decodeStudyRequest(std::span<const std::uint8_t> body, Request kind) {
    std::string study;
    if (kind == Request::StudyVerify) {
        auto m =
            verifyAs<fb::AdminStudyVerifyRequest>(body, fb::AdminMessage::AdminStudyVerifyRequest);
        if (!m) return m.error();
        study = (*m)->study()->str();
    } else {
        auto m = verifyAs<fb::AdminStudyBalanceRequest>(body,
                                                        fb::AdminMessage::AdminStudyBalanceRequest);
        if (!m) return m.error();
        study = (*m)->study()->str();
    }
    if (study.empty() || study.size() > 64) return malformed("no study named");
    return study;
}

std::vector<std::uint8_t> encodeStudyBalance(const StudyBalance& balance) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminStratumBalance>> strata;
    for (const auto& s : balance.strata) {
        std::vector<flatbuffers::Offset<fb::AdminArmBalance>> arms;
        for (const auto& a : s.arms)
            arms.push_back(
                fb::CreateAdminArmBalance(b, b.CreateString(a.arm), a.allocated, a.target));
        auto name = b.CreateString(s.stratum);
        auto armVec = b.CreateVector(arms);
        strata.push_back(fb::CreateAdminStratumBalance(b, name, armVec, s.allocated, s.dealtBlocks,
                                                       s.completeBlocks, s.openBlocks, s.known));
    }
    std::vector<flatbuffers::Offset<fb::AdminDeviceBalance>> devices;
    for (const auto& d : balance.devices) {
        const fb::Uuid id = toFb(d.deviceId);
        devices.push_back(fb::CreateAdminDeviceBalance(b, &id, b.CreateString(d.label),
                                                       d.dealtBlocks, d.dealtSlots, d.allocated));
    }
    auto study = b.CreateString(balance.study);
    auto strataVec = b.CreateVector(strata);
    auto deviceVec = b.CreateVector(devices);
    return finish(
        b, fb::AdminMessage::AdminStudyBalance,
        fb::CreateAdminStudyBalance(b, study, balance.allocated, strataVec, deviceVec).Union());
}

Result<StudyBalance> decodeStudyBalance(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminStudyBalance>(body, fb::AdminMessage::AdminStudyBalance);
    if (!m) return m.error();
    StudyBalance out;
    out.study = text((*m)->study());
    out.allocated = (*m)->allocated();
    if (out.allocated < 0) return malformed("a negative count");
    if ((*m)->strata()) {
        for (const auto* s : *(*m)->strata()) {
            StratumBalance stratum;
            stratum.stratum = text(s->stratum());
            stratum.allocated = s->allocated();
            stratum.dealtBlocks = s->dealt_blocks();
            stratum.completeBlocks = s->complete_blocks();
            stratum.openBlocks = s->open_blocks();
            stratum.known = s->known();
            if (stratum.allocated < 0 || stratum.dealtBlocks < 0 || stratum.completeBlocks < 0 ||
                stratum.openBlocks < 0)
                return malformed("a negative count");
            if (s->arms()) {
                for (const auto* a : *s->arms()) {
                    if (a->allocated() < 0) return malformed("a negative count");
                    stratum.arms.push_back({text(a->arm()), a->allocated(), a->target()});
                }
            }
            out.strata.push_back(std::move(stratum));
        }
    }
    if ((*m)->devices()) {
        for (const auto* d : *(*m)->devices()) {
            DeviceBalance device{fromFb(d->device_id()), text(d->label()), d->dealt_blocks(),
                                 d->dealt_slots(), d->allocated()};
            if (device.dealtBlocks < 0 || device.dealtSlots < 0 || device.allocated < 0)
                return malformed("a negative count");
            out.devices.push_back(std::move(device));
        }
    }
    return out;
}

std::vector<std::uint8_t> encodeStudyVerification(const StudyVerification& verification) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminAllocationProblem>> problems;
    for (const auto& p : verification.problems)
        problems.push_back(fb::CreateAdminAllocationProblem(b, static_cast<std::uint8_t>(p.kind),
                                                            b.CreateString(p.detail)));
    auto study = b.CreateString(verification.study);
    auto vec = b.CreateVector(problems);
    return finish(
        b, fb::AdminMessage::AdminStudyVerification,
        fb::CreateAdminStudyVerification(b, study, verification.allocations, verification.devices,
                                         verification.problemAllocations, vec)
            .Union());
}

Result<StudyVerification> decodeStudyVerification(std::span<const std::uint8_t> body) {
    auto m =
        verifyAnswer<fb::AdminStudyVerification>(body, fb::AdminMessage::AdminStudyVerification);
    if (!m) return m.error();
    StudyVerification out;
    out.study = text((*m)->study());
    out.allocations = (*m)->allocations();
    out.devices = (*m)->devices();
    out.problemAllocations = (*m)->problem_allocations();
    if (out.allocations < 0 || out.devices < 0 || out.problemAllocations < 0)
        return malformed("a negative count");
    if ((*m)->problems()) {
        for (const auto* p : *(*m)->problems()) {
            if (p->kind() > static_cast<std::uint8_t>(AllocationProblem::Kind::LogReused))
                return malformed("an unknown kind of allocation problem");
            out.problems.push_back(
                {static_cast<AllocationProblem::Kind>(p->kind()), text(p->detail())});
        }
    }
    return out;
}

std::vector<std::uint8_t> encodePublishRequest(const std::vector<std::uint8_t>& formBinary) {
    Builder b(formBinary.size() + 256);
    auto binary = b.CreateVector(formBinary);
    return finish(b, fb::AdminMessage::AdminPublishRequest,
                  fb::CreateAdminPublishRequest(b, binary).Union());
}

Result<std::vector<std::uint8_t>> decodePublishRequest(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminPublishRequest>(body, fb::AdminMessage::AdminPublishRequest);
    if (!m) return m.error();
    const auto* binary = (*m)->binary();
    if (!binary || binary->size() == 0) return malformed("no form to publish");
    return std::vector<std::uint8_t>(binary->begin(), binary->end());
}

std::vector<std::uint8_t> encodePublished(const Published& published) {
    Builder b(256);
    auto id = b.CreateString(published.formId);
    return finish(b, fb::AdminMessage::AdminPublished,
                  fb::CreateAdminPublished(b, id, published.version, published.published).Union());
}

Result<Published> decodePublished(std::span<const std::uint8_t> body) {
    auto m = verifyAnswer<fb::AdminPublished>(body, fb::AdminMessage::AdminPublished);
    if (!m) return m.error();
    return Published{text((*m)->form_id()), (*m)->version(), (*m)->published()};
}

}  // namespace veld::sync::admin
