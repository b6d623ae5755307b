#include <algorithm>

#include <veld/fb/sync_generated.h>
#include <veld/project_key.hpp>
#include <veld/sync/protocol.hpp>

namespace veld::sync {

namespace {

fb::Uuid toFb(const Uuid& id) {
    return fb::Uuid(flatbuffers::span<const std::uint8_t, 16>(id.bytes.data(), 16));
}

Uuid fromFb(const fb::Uuid& id) {
    Uuid out;
    std::copy_n(id.bytes()->data(), 16, out.bytes.begin());
    return out;
}

Error malformed(std::string what) {
    return makeError(ErrorCode::Corrupt, "malformed sync message: " + std::move(what));
}

flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> collectorKeyOf(
    flatbuffers::FlatBufferBuilder& b, const std::optional<signing::PublicKey>& key) {
    return key ? b.CreateVector(key->data(), key->size()) : 0;
}

// A collector key as sent: absent (an older collector), or exactly one Ed25519 public key.
Status readCollectorKey(const flatbuffers::Vector<std::uint8_t>* sent,
                        std::optional<signing::PublicKey>& out) {
    if (!sent) return {};
    if (sent->size() != signing::kPublicKeyBytes)
        return malformed("the collector's key is not 32 bytes");
    signing::PublicKey key{};
    std::copy(sent->begin(), sent->end(), key.begin());
    out = key;
    return {};
}

Result<const fb::Envelope*> verifyEnvelope(std::span<const std::uint8_t> body,
                                           fb::Message expected) {
    if (body.size() > kMaxMessageBytes) return malformed("larger than the 32 MiB limit");
    if (body.size() < 8 || !fb::EnvelopeBufferHasIdentifier(body.data()))
        return malformed("not a Veld sync message");
    flatbuffers::Verifier verifier(body.data(), body.size(), 64, 4000000);
    if (!fb::VerifyEnvelopeBuffer(verifier)) return malformed("fails the FlatBuffers verifier");
    const fb::Envelope* env = fb::GetEnvelope(body.data());
    if (env->message_type() != expected) return malformed("unexpected message type");
    return env;
}

std::vector<std::uint8_t> finish(flatbuffers::FlatBufferBuilder& b,
                                 flatbuffers::Offset<fb::Envelope> root) {
    fb::FinishEnvelopeBuffer(b, root);
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

}  // namespace

std::vector<std::uint8_t> encodePushRequest(const Uuid& deviceId,
                                            std::span<const OutboxEntry> entries,
                                            std::optional<std::int64_t> waitingAfter) {
    flatbuffers::FlatBufferBuilder b(1024);
    std::vector<flatbuffers::Offset<fb::Revision>> revisions;
    revisions.reserve(entries.size());
    for (const auto& e : entries) {
        fb::Uuid rid = toFb(e.recordId);
        auto body = e.body.empty() ? 0 : b.CreateVector(e.body);
        auto reason = e.damageReason.empty() ? 0 : b.CreateString(e.damageReason);
        revisions.push_back(
            fb::CreateRevision(b, e.seq, &rid, e.hlc.value, body, e.damaged, reason, 0));
    }
    auto vec = b.CreateVector(revisions);
    fb::Uuid dev = toFb(deviceId);
    auto req = fb::CreatePushRequest(b, kProtocolVersion, &dev, vec, waitingAfter.value_or(-1));
    return finish(b, fb::CreateEnvelope(b, fb::Message::PushRequest, req.Union()));
}

Result<PushBatch> decodePushRequest(std::span<const std::uint8_t> body) {
    auto env = verifyEnvelope(body, fb::Message::PushRequest);
    if (!env) return env.error();
    const auto* req = (*env)->message_as_PushRequest();
    // The Verifier accepts a union whose type is set but whose value is missing.
    if (!req) return malformed("push request without a body");
    PushBatch batch;
    batch.protocolVersion = req->protocol_version();
    batch.deviceId = fromFb(*req->device_id());
    if (req->waiting_after() >= 0) batch.waitingAfter = req->waiting_after();
    if (!req->revisions()) return batch;
    std::uint64_t previous = 0;
    for (const auto* r : *req->revisions()) {
        PushRevision rev;
        rev.seq = r->seq();
        // A device sends its outbox in order and without gaps: "received through N" relies on it.
        if (rev.seq == 0 || (previous != 0 && rev.seq != previous + 1))
            return malformed(
                "revision sequence numbers must be consecutive and start at 1 or more");
        previous = rev.seq;
        rev.recordId = fromFb(*r->record_id());
        rev.hlc = HlcTimestamp{r->hlc()};
        rev.damaged = r->damaged();
        if (r->damage_reason()) rev.damageReason = r->damage_reason()->str();
        rev.baseHlc = r->base_hlc();
        if (r->body()) rev.body.assign(r->body()->begin(), r->body()->end());
        if (!rev.damaged) {
            auto record = inspectRecord(rev.body);
            if (!record) {
                // One unreadable body must not block the device's outbox: it is answered and
                // kept aside on its own.
                rev.unreadable = record.error().describe();
            } else {
                if (record->id != rev.recordId || record->hlc != rev.hlc ||
                    record->deviceId != batch.deviceId)
                    return malformed("revision " + std::to_string(rev.seq) +
                                     " does not match the record it carries");
                rev.formId = std::move(record->formId);
                rev.formVersion = record->formVersion;
            }
        }
        batch.revisions.push_back(std::move(rev));
    }
    return batch;
}

std::vector<std::uint8_t> encodePushResponse(const PushReply& reply) {
    flatbuffers::FlatBufferBuilder b(256);
    std::vector<flatbuffers::Offset<fb::RevisionResult>> results;
    for (const auto& r : reply.results) {
        auto reason = r.reason.empty() ? 0 : b.CreateString(r.reason);
        results.push_back(fb::CreateRevisionResult(
            b, r.seq, static_cast<fb::RevisionOutcome>(r.outcome), reason));
    }
    auto vec = b.CreateVector(results);
    auto resp = fb::CreatePushResponse(b, vec, reply.receivedThrough);
    return finish(b, fb::CreateEnvelope(b, fb::Message::PushResponse, resp.Union()));
}

Result<PushReply> decodePushResponse(std::span<const std::uint8_t> body) {
    auto env = verifyEnvelope(body, fb::Message::PushResponse);
    if (!env) return env.error();
    const auto* resp = (*env)->message_as_PushResponse();
    if (!resp) return malformed("push response without a body");
    PushReply reply;
    reply.receivedThrough = resp->received_through();
    if (resp->results()) {
        for (const auto* r : *resp->results()) {
            auto outcome = static_cast<std::uint8_t>(r->outcome());
            if (outcome > static_cast<std::uint8_t>(fb::RevisionOutcome::MAX))
                return malformed("unknown revision outcome");
            reply.results.push_back({r->seq(), static_cast<RevisionOutcome>(outcome),
                                     r->reason() ? r->reason()->str() : std::string()});
        }
    }
    return reply;
}

std::vector<std::uint8_t> encodeEnrolRequest(const EnrolRequest& request) {
    flatbuffers::FlatBufferBuilder b(256);
    auto code = b.CreateString(request.code);
    auto key = request.devicePublicKey.empty() ? 0 : b.CreateVector(request.devicePublicKey);
    auto previous =
        request.previousCredential.empty() ? 0 : b.CreateString(request.previousCredential);
    fb::Uuid dev = toFb(request.deviceId);
    auto req = fb::CreateEnrolRequest(b, request.protocolVersion, code, &dev, key, previous);
    return finish(b, fb::CreateEnvelope(b, fb::Message::EnrolRequest, req.Union()));
}

Result<EnrolRequest> decodeEnrolRequest(std::span<const std::uint8_t> body) {
    auto env = verifyEnvelope(body, fb::Message::EnrolRequest);
    if (!env) return env.error();
    const auto* req = (*env)->message_as_EnrolRequest();
    if (!req) return malformed("enrol request without a body");
    EnrolRequest out;
    out.protocolVersion = req->protocol_version();
    out.code = req->code()->str();
    out.deviceId = fromFb(*req->device_id());
    if (req->device_public_key()) {
        out.devicePublicKey.assign(req->device_public_key()->begin(),
                                   req->device_public_key()->end());
    }
    if (req->previous_credential()) out.previousCredential = req->previous_credential()->str();
    if (out.code.size() > 256) return malformed("enrolment code too long");
    if (out.previousCredential.size() > 256) return malformed("previous credential too long");
    if (out.deviceId.isNil()) return malformed("nil device id");
    return out;
}

std::vector<std::uint8_t> encodeEnrolResponse(const EnrolReply& reply) {
    flatbuffers::FlatBufferBuilder b(256);
    auto credential = b.CreateString(reply.credential);
    auto key = reply.projectPublicKey.empty() ? 0 : b.CreateVector(reply.projectPublicKey);
    auto id = b.CreateString(reply.collectorId);
    auto pseudonym = reply.pseudonymKey.empty() ? 0 : b.CreateString(reply.pseudonymKey);
    auto project = reply.projectKey.empty() ? 0 : b.CreateString(reply.projectKey);
    auto collectorKey = collectorKeyOf(b, reply.collectorKey);
    auto resp = fb::CreateEnrolResponse(b, credential, key, id, pseudonym, project, collectorKey);
    return finish(b, fb::CreateEnvelope(b, fb::Message::EnrolResponse, resp.Union()));
}

Result<EnrolReply> decodeEnrolResponse(std::span<const std::uint8_t> body) {
    auto env = verifyEnvelope(body, fb::Message::EnrolResponse);
    if (!env) return env.error();
    const auto* resp = (*env)->message_as_EnrolResponse();
    if (!resp || !resp->credential()) return malformed("enrol response without a credential");
    EnrolReply out;
    out.credential = resp->credential()->str();
    if (resp->project_public_key()) {
        out.projectPublicKey.assign(resp->project_public_key()->begin(),
                                    resp->project_public_key()->end());
    }
    if (resp->collector_id()) out.collectorId = resp->collector_id()->str();
    if (resp->pseudonym_key()) out.pseudonymKey = resp->pseudonym_key()->str();
    if (resp->project_key()) out.projectKey = resp->project_key()->str();
    if (!out.projectKey.empty() && !projectkey::parsePublicKey(out.projectKey))
        return malformed("the project key is not KEYID:HEX");
    if (auto s = readCollectorKey(resp->collector_key(), out.collectorKey); !s) return s.error();
    return out;
}

std::vector<std::uint8_t> encodePullRequest(const PullRequest& request) {
    flatbuffers::FlatBufferBuilder b(256);
    auto key = request.deviceBoxKey.empty() ? 0 : b.CreateVector(request.deviceBoxKey);
    std::vector<flatbuffers::Offset<fb::StratumStock>> stock;
    for (const auto& s : request.stock) {
        stock.push_back(fb::CreateStratumStock(b, b.CreateString(s.study),
                                               b.CreateString(s.stratum), s.remaining));
    }
    auto stockVec = stock.empty() ? 0 : b.CreateVector(stock);
    auto req = fb::CreatePullRequest(b, request.protocolVersion, request.formCursor,
                                     request.caseCursor, request.allocationCursor, key, stockVec);
    return finish(b, fb::CreateEnvelope(b, fb::Message::PullRequest, req.Union()));
}

namespace {

// Sizes a collector or a device accepts in a pull; a message beyond them is malformed.
constexpr std::size_t kMaxStock = 1u << 16;  // studies x strata (1,024 at most per study)
constexpr std::size_t kMaxNameBytes = 256;
constexpr std::size_t kMaxValueBytes = 4096;
constexpr std::size_t kMaxSlotBytes = 4096;

bool fits(const flatbuffers::String* s, std::size_t max) {
    return s == nullptr || s->size() <= max;
}

std::string text(const flatbuffers::String* s) {
    return s ? s->str() : std::string();
}

}  // namespace

Result<PullRequest> decodePullRequest(std::span<const std::uint8_t> body) {
    auto env = verifyEnvelope(body, fb::Message::PullRequest);
    if (!env) return env.error();
    const auto* req = (*env)->message_as_PullRequest();
    if (!req) return malformed("pull request without a body");
    PullRequest out;
    out.protocolVersion = req->protocol_version();
    out.formCursor = req->form_cursor();
    out.caseCursor = req->case_cursor();
    out.allocationCursor = req->allocation_cursor();
    if (const auto* key = req->device_box_key()) {
        if (key->size() != 32) return malformed("the device's box key is not 32 bytes");
        out.deviceBoxKey.assign(key->begin(), key->end());
    }
    if (const auto* stock = req->stock()) {
        if (stock->size() > kMaxStock) return malformed("too many strata in the stock");
        for (const auto* s : *stock) {
            if (!fits(s->study(), kMaxNameBytes) || !fits(s->stratum(), kMaxValueBytes))
                return malformed("a stock entry is too long");
            out.stock.push_back({s->study()->str(), s->stratum()->str(), s->remaining()});
        }
    }
    return out;
}

std::vector<std::uint8_t> encodePullResponse(const PullReply& reply) {
    flatbuffers::FlatBufferBuilder b(1024);
    std::vector<flatbuffers::Offset<fb::PublishedForm>> forms;
    for (const auto& f : reply.forms) {
        forms.push_back(fb::CreatePublishedForm(b, f.seq, b.CreateVector(f.binary)));
    }
    auto vec = b.CreateVector(forms);
    auto project = reply.projectKey.empty() ? 0 : b.CreateString(reply.projectKey);

    std::vector<flatbuffers::Offset<fb::CaseState>> cases;
    for (const auto& c : reply.cases) {
        std::vector<flatbuffers::Offset<fb::CasePropertyState>> props;
        for (const auto& p : c.update.properties) {
            props.push_back(fb::CreateCasePropertyState(b, b.CreateString(p.name),
                                                        b.CreateString(p.value), p.hlc.value));
        }
        auto propVec = b.CreateVectorOfSortedTables(&props);
        fb::Uuid id = toFb(c.update.id);
        cases.push_back(fb::CreateCaseState(
            b, &id, b.CreateString(c.update.caseType), b.CreateString(c.update.pseudonym), propVec,
            c.update.lastContactUtcMs.value_or(0), c.update.assigned, c.seq));
    }
    auto caseVec = cases.empty() ? 0 : b.CreateVector(cases);

    std::vector<flatbuffers::Offset<fb::AllocationBlock>> blocks;
    for (const auto& blk : reply.blocks) {
        std::vector<flatbuffers::Offset<fb::SealedSlot>> slots;
        for (const auto& slot : blk.slots)
            slots.push_back(fb::CreateSealedSlot(b, slot.position, b.CreateVector(slot.box)));
        auto slotVec = b.CreateVector(slots);
        blocks.push_back(fb::CreateAllocationBlock(b, b.CreateString(blk.study),
                                                   b.CreateString(blk.stratum), blk.block, slotVec,
                                                   blk.seq));
    }
    auto blockVec = blocks.empty() ? 0 : b.CreateVector(blocks);

    std::vector<flatbuffers::Offset<fb::StudyInfo>> studies;
    for (const auto& st : reply.studies) {
        std::vector<flatbuffers::Offset<flatbuffers::String>> arms;
        for (const auto& a : st.arms)
            arms.push_back(b.CreateString(a));
        auto armVec = b.CreateVector(arms);
        std::vector<flatbuffers::Offset<fb::StudyFactor>> factors;
        for (const auto& [name, levels] : st.factors) {
            std::vector<flatbuffers::Offset<flatbuffers::String>> ls;
            for (const auto& l : levels)
                ls.push_back(b.CreateString(l));
            auto lv = b.CreateVector(ls);
            factors.push_back(fb::CreateStudyFactor(b, b.CreateString(name), lv));
        }
        auto factorVec = b.CreateVector(factors);
        studies.push_back(fb::CreateStudyInfo(b, b.CreateString(st.id), b.CreateString(st.pilot),
                                              armVec, factorVec, st.lowSlots));
    }
    auto studyVec = studies.empty() ? 0 : b.CreateVector(studies);

    auto collectorKey = collectorKeyOf(b, reply.collectorKey);
    auto resp = fb::CreatePullResponse(b, vec, reply.formCursor, reply.more, project, caseVec,
                                       reply.caseCursor, blockVec, reply.allocationCursor, studyVec,
                                       collectorKey);
    return finish(b, fb::CreateEnvelope(b, fb::Message::PullResponse, resp.Union()));
}

Result<PullReply> decodePullResponse(std::span<const std::uint8_t> body) {
    auto env = verifyEnvelope(body, fb::Message::PullResponse);
    if (!env) return env.error();
    const auto* resp = (*env)->message_as_PullResponse();
    if (!resp) return malformed("pull response without a body");
    PullReply out;
    out.formCursor = resp->form_cursor();
    out.more = resp->more();
    if (resp->project_key()) out.projectKey = resp->project_key()->str();
    if (!out.projectKey.empty() && !projectkey::parsePublicKey(out.projectKey))
        return malformed("the project key is not KEYID:HEX");
    if (auto s = readCollectorKey(resp->collector_key(), out.collectorKey); !s) return s.error();
    if (resp->forms()) {
        for (const auto* f : *resp->forms()) {
            PublishedForm form;
            form.seq = f->seq();
            if (f->binary()) form.binary.assign(f->binary()->begin(), f->binary()->end());
            out.forms.push_back(std::move(form));
        }
    }
    out.caseCursor = resp->case_cursor();
    if (const auto* cases = resp->cases()) {
        for (const auto* c : *cases) {
            CaseState state;
            state.seq = c->seq();
            state.update.id = fromFb(*c->case_id());
            if (state.update.id.isNil()) return malformed("a case has a nil id");
            if (!fits(c->case_type(), kMaxNameBytes) || !fits(c->pseudonym(), kMaxValueBytes))
                return malformed("a case's type or pseudonym is too long");
            state.update.caseType = text(c->case_type());
            state.update.pseudonym = text(c->pseudonym());
            if (c->last_contact_utc_ms() > 0)
                state.update.lastContactUtcMs = c->last_contact_utc_ms();
            state.update.assigned = c->assigned();
            if (const auto* props = c->properties()) {
                for (const auto* p : *props) {
                    if (!p->name() || p->name()->size() == 0 || !fits(p->name(), kMaxNameBytes) ||
                        !fits(p->value(), kMaxValueBytes))
                        return malformed("a case property has no name or is too long");
                    state.update.properties.push_back(
                        {p->name()->str(), text(p->value()), HlcTimestamp{p->hlc()}});
                }
            }
            out.cases.push_back(std::move(state));
        }
    }
    out.allocationCursor = resp->allocation_cursor();
    if (const auto* blocks = resp->blocks()) {
        for (const auto* blk : *blocks) {
            AllocationBlock block;
            block.seq = blk->seq();
            if (!fits(blk->study(), kMaxNameBytes) || !fits(blk->stratum(), kMaxValueBytes))
                return malformed("an allocation block's study or stratum is too long");
            block.study = blk->study()->str();
            block.stratum = blk->stratum()->str();
            block.block = blk->block();
            if (const auto* slots = blk->slots()) {
                for (const auto* slot : *slots) {
                    if (slot->box()->size() > kMaxSlotBytes)
                        return malformed("an allocation slot is too long");
                    block.slots.push_back(
                        {slot->position(), {slot->box()->begin(), slot->box()->end()}});
                }
            }
            out.blocks.push_back(std::move(block));
        }
    }
    if (const auto* studies = resp->studies()) {
        for (const auto* st : *studies) {
            DeviceStudy study;
            if (!fits(st->id(), kMaxNameBytes) || !fits(st->pilot(), kMaxNameBytes))
                return malformed("a study's id or pilot is too long");
            study.id = st->id()->str();
            study.pilot = text(st->pilot());
            study.lowSlots = st->low_slots();
            if (const auto* arms = st->arms()) {
                for (const auto* a : *arms)
                    study.arms.push_back(a->str());
            }
            if (const auto* factors = st->factors()) {
                for (const auto* f : *factors) {
                    std::vector<std::string> levels;
                    if (f->levels()) {
                        for (const auto* l : *f->levels())
                            levels.push_back(l->str());
                    }
                    study.factors.emplace_back(f->name()->str(), std::move(levels));
                }
            }
            out.studies.push_back(std::move(study));
        }
    }
    return out;
}

}  // namespace veld::sync
