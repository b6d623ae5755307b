#include <algorithm>

#include <veld/fb/admin_generated.h>
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

Result<const fb::AdminEnvelope*> verify(std::span<const std::uint8_t> body) {
    if (body.size() > (4u << 20)) return malformed("larger than 4 MiB");
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
Result<const T*> verifyAs(std::span<const std::uint8_t> body, fb::AdminMessage type) {
    auto env = verify(body);
    if (!env) return env.error();
    if ((*env)->message_type() != type) return malformed("unexpected message type");
    return static_cast<const T*>((*env)->message());
}

std::optional<ReviewState> reviewState(std::uint8_t v) {
    if (v > static_cast<std::uint8_t>(ReviewState::Rejected)) return std::nullopt;
    return static_cast<ReviewState>(v);
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
    if ((*m)->keep() > 2) return malformed("unknown way to resolve");
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
    auto m = verifyAs<fb::AdminStatus>(body, fb::AdminMessage::AdminStatus);
    if (!m) return m.error();
    const auto* s = *m;
    StatusInfo out;
    if (s->collector_id()) out.collectorId = s->collector_id()->str();
    out.stats = {s->devices(),        s->records(),        s->revisions(), s->rejected(),
                 s->open_conflicts(), s->flagged_clocks(), s->forms()};
    if (s->per_day()) {
        for (const auto* d : *s->per_day())
            out.perDay.push_back({d->form_id() ? d->form_id()->str() : std::string(),
                                  d->pilot() ? d->pilot()->str() : std::string(), d->day(),
                                  d->records()});
    }
    return out;
}

std::vector<std::uint8_t> encodeDevices(const std::vector<DeviceInfo>& devices) {
    Builder b(1024);
    std::vector<flatbuffers::Offset<fb::AdminDevice>> list;
    for (const auto& d : devices) {
        const fb::Uuid id = toFb(d.deviceId);
        list.push_back(fb::CreateAdminDevice(b, &id, b.CreateString(d.label), d.enrolledUtcMs,
                                             d.revokedUtcMs.value_or(0), d.receivedThrough,
                                             d.lastContactUtcMs.value_or(0), d.revisions));
    }
    auto vec = b.CreateVector(list);
    return finish(b, fb::AdminMessage::AdminDevices, fb::CreateAdminDevices(b, vec).Union());
}

Result<std::vector<DeviceInfo>> decodeDevices(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminDevices>(body, fb::AdminMessage::AdminDevices);
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
            out.push_back(std::move(info));
        }
    }
    return out;
}

std::vector<std::uint8_t> encodeReview(const RecordReview& review) {
    Builder b(512);
    std::vector<flatbuffers::Offset<fb::AdminReviewChange>> changes;
    for (const auto& h : review.history)
        changes.push_back(fb::CreateAdminReviewChange(b, static_cast<std::uint8_t>(h.state),
                                                      b.CreateString(h.comment), h.utcMs,
                                                      b.CreateString(h.actor)));
    auto vec = b.CreateVector(changes);
    return finish(b, fb::AdminMessage::AdminReview,
                  fb::CreateAdminReview(b, static_cast<std::uint8_t>(review.state), vec).Union());
}

Result<RecordReview> decodeReview(std::span<const std::uint8_t> body) {
    auto m = verifyAs<fb::AdminReview>(body, fb::AdminMessage::AdminReview);
    if (!m) return m.error();
    RecordReview out;
    const auto state = reviewState((*m)->state());
    if (!state) return malformed("unknown review state");
    out.state = *state;
    if ((*m)->history()) {
        for (const auto* h : *(*m)->history()) {
            const auto s = reviewState(h->state());
            if (!s) return malformed("unknown review state");
            out.history.push_back({*s, h->comment() ? h->comment()->str() : std::string(),
                                   h->utc_ms(), h->actor() ? h->actor()->str() : std::string()});
        }
    }
    return out;
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
    auto m = verifyAs<fb::AdminConflicts>(body, fb::AdminMessage::AdminConflicts);
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
    auto m = verifyAs<fb::AdminResolved>(body, fb::AdminMessage::AdminResolved);
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
    auto m = verifyAs<fb::AdminDuplicates>(body, fb::AdminMessage::AdminDuplicates);
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

}  // namespace veld::sync::admin
