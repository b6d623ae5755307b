// The sync messages at both ends (docs/protocol.md): request decoders are what the collector
// runs on a device's body, response decoders what a device runs on the collector's answer. What
// a decoder accepts must encode again to a body that decodes to the same values.
#include <veld/allocation.hpp>
#include <veld/form.hpp>
#include <veld/project_key.hpp>
#include <veld/sync/protocol.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"

namespace veld::fuzz {

using namespace veld::sync;

int syncEnrol(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> body(data, size);
    if (auto request = decodeEnrolRequest(body)) {
        auto again = decodeEnrolRequest(encodeEnrolRequest(request.value()));
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(again->code == request->code && again->deviceId == request->deviceId &&
                   again->devicePublicKey == request->devicePublicKey &&
                   again->protocolVersion == request->protocolVersion);
    }
    if (auto reply = decodeEnrolResponse(body)) {
        // The device keeps these in its settings: the project key must be usable as it is.
        if (!reply->projectKey.empty()) FUZZ_CHECK(projectkey::parsePublicKey(reply->projectKey));
        auto again = decodeEnrolResponse(encodeEnrolResponse(reply.value()));
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(
            again->credential == reply->credential && again->projectKey == reply->projectKey &&
            again->pseudonymKey == reply->pseudonymKey && again->collectorId == reply->collectorId);
    }
    return 0;
}

int syncPush(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> body(data, size);
    if (auto batch = decodePushRequest(body)) {
        std::vector<OutboxEntry> entries;
        for (const auto& r : batch->revisions) {
            FUZZ_CHECK(r.seq > 0);
            // A readable body is the revision's record; an unreadable one is set aside alone.
            if (!r.damaged && r.unreadable.empty()) {
                auto header = inspectRecord(r.body);
                FUZZ_CHECK(header.ok());
                FUZZ_CHECK(header->id == r.recordId && header->deviceId == batch->deviceId);
            }
            entries.push_back({r.seq, r.recordId, r.hlc, r.body, r.damaged, r.damageReason});
        }
        auto again =
            decodePushRequest(encodePushRequest(batch->deviceId, entries, batch->waitingAfter));
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(again->revisions.size() == batch->revisions.size());
    }
    if (auto reply = decodePushResponse(body)) {
        auto again = decodePushResponse(encodePushResponse(reply.value()));
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(again->receivedThrough == reply->receivedThrough &&
                   again->results.size() == reply->results.size());
    }
    return 0;
}

int syncPull(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    const std::span<const std::uint8_t> body(data, size);
    if (auto request = decodePullRequest(body)) {
        auto again = decodePullRequest(encodePullRequest(request.value()));
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(again->formCursor == request->formCursor &&
                   again->caseCursor == request->caseCursor &&
                   again->allocationCursor == request->allocationCursor &&
                   again->deviceBoxKey == request->deviceBoxKey &&
                   again->stock.size() == request->stock.size());
    }
    if (auto reply = decodePullResponse(body)) {
        // What a device does next (uploader.cpp): check each form before installing it, take
        // the project key, keep the sealed slots (opened when a participant is enrolled).
        for (const auto& f : reply->forms)
            (void)forms::checkFormBinary(f.binary, "pulled");
        if (!reply->projectKey.empty()) FUZZ_CHECK(projectkey::parsePublicKey(reply->projectKey));
        const auto& keys = deviceBoxKeys();
        for (const auto& b : reply->blocks) {
            for (const auto& slot : b.slots)
                (void)alloc::openSlot(slot.box, keys.publicKey, keys.secretKey);
        }
        auto again = decodePullResponse(encodePullResponse(reply.value()));
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(again->forms.size() == reply->forms.size() &&
                   again->cases.size() == reply->cases.size() &&
                   again->blocks.size() == reply->blocks.size() &&
                   again->studies == reply->studies && again->more == reply->more);
    }
    return 0;
}

}  // namespace veld::fuzz
