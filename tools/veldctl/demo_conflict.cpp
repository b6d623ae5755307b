// The demo's conflict at a collector: a second demo device's blind edit of a record (see
// demo.hpp).
#include <string>
#include <variant>
#include <vector>

#include <veld/record.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/uuid.hpp>

#include "veldctl/demo.hpp"

namespace veld::veldctl {

Result<Uuid> addDemoConflict(sync::CollectorStore& collector, std::int64_t nowMs,
                             const std::string& actor) {
    auto ids = collector.recordIds();
    if (!ids) return ids.error();
    const std::vector<Uuid> records = ids.value();
    for (const Uuid& id : records) {
        auto current = collector.current(id);
        if (!current) return current.error();
        if (!current->has_value() || (*current)->damaged) continue;
        auto record = decodeRecord((*current)->body);
        if (!record) continue;
        Record edit = record.value();
        int changed = 0;
        for (auto& a : edit.content.answers) {
            if (changed < 2 && std::holds_alternative<std::string>(a.value)) {
                a.value = std::string(changed == 0 ? "(demo) gewijzigd op een tweede apparaat"
                                                   : "(demo) ook daar gewijzigd");
                ++changed;
            }
        }
        if (changed == 0) continue;
        auto code = collector.createEnrolCode("demo-second-device", nowMs, actor);
        if (!code) return code.error();
        sync::EnrolRequest enrol;
        enrol.code = code.value();
        enrol.deviceId = makeUuidV4();
        auto enrolled = collector.enrol(enrol, nowMs);
        if (!enrolled) return enrolled.error();
        edit.deviceId = enrol.deviceId;
        edit.hlc = HlcTimestamp::make(record->hlc.millis() + 60'000, 0);
        edit.finalized = true;
        auto body = encodeRecord(edit);
        if (!body) return body.error();
        sync::PushBatch batch;
        batch.deviceId = enrol.deviceId;
        sync::PushRevision revision;
        revision.seq = 1;
        revision.recordId = id;
        revision.hlc = edit.hlc;
        revision.body = std::move(body.value());
        revision.formId = edit.content.formId;
        revision.formVersion = edit.content.formVersion;
        batch.revisions.push_back(std::move(revision));
        batch.waitingAfter = 0;
        auto pushed = collector.push(enrol.deviceId, batch, nowMs);
        if (!pushed) return pushed.error();
        return id;
    }
    return makeError(ErrorCode::NotFound, "no record with a text answer to change");
}

}  // namespace veld::veldctl
