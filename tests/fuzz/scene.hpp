// A collector and a device that have done real work, made the same way in every process: the
// seed generator encodes its messages, requests and files as seeds, and the request target
// serves requests against it, so the seeds' credentials are valid there.
//
// What is fixed from run to run: everything libsodium draws (restartRandom), the collector's
// clock (kNowMs), the devices' ids, and the record ids and device id of every revision pushed
// (the device store's own ids come from getrandom(2), so the revisions are rewritten to fixed
// ids before they are pushed). So the credentials, enrolment codes and record ids are the same
// in every process; the records' answers follow the date, as veldctl's demo records do.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <veld/store.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/study_json.hpp>

#include "support/test_support.hpp"

namespace veld::fuzz {

struct Scene {
    /// The collector's clock (2025-11-24), also what its requests are served at.
    static constexpr std::int64_t kNowMs = 1764000000000;
    /// The staff member whose credential `adminCredential` is.
    static constexpr const char* kAdminName = "fuzz";

    std::unique_ptr<test::TempDir> dir;
    std::string collectorPath;
    std::shared_ptr<sync::CollectorStore> collector;

    /// The pilots' forms: file name (without .json) -> JSON text and compiled binary.
    std::map<std::string, std::string> formJson;
    std::map<std::string, std::vector<std::uint8_t>> formBinary;
    std::vector<sync::StudyDefinition> studies;

    /// The field device: enrolled, pulled forms, cases and slots, filled the pilots' forms
    /// (veldctl's demo records), pushed the first half of its outbox.
    Uuid deviceId;
    std::string deviceCredential;
    /// A second device that said the fixed box key (deviceBoxKeys()): its slots open here.
    Uuid slotDeviceId;
    std::string slotDeviceCredential;
    std::string adminCredential;
    /// An enrolment code nobody used, and a device id for it.
    std::string spareCode;
    Uuid spareDeviceId;

    std::vector<sync::EnrolRequest> enrolRequests;
    std::vector<sync::EnrolReply> enrolReplies;
    std::vector<sync::PullRequest> pullRequests;
    std::vector<sync::PullReply> pullReplies;
    /// Push batches as bodies (encodePushRequest), with their answers.
    std::vector<std::vector<std::uint8_t>> pushBodies;
    std::vector<sync::PushReply> pushReplies;
    /// The field device's revisions not pushed yet (sequence numbers after the collector's
    /// received-through), as they would be sent next.
    std::vector<OutboxEntry> heldBack;
    /// Every record body on the field device as stored there (drafts, finalized, sealed), and
    /// the clear record inside every sealed one.
    std::vector<std::vector<std::uint8_t>> recordBodies;
    /// Which conflict the demo made (addDemoConflict), and a record with revisions.
    Uuid conflictRecord;

    /// Builds it all in a fresh temporary folder from the source tree's schemas/forms and
    /// schemas/studies. Throws std::runtime_error when any step fails.
    static std::unique_ptr<Scene> make(const std::string& sourceDir);
};

}  // namespace veld::fuzz
