#include "scene.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <sodium.h>

#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/project_key.hpp>
#include <veld/pseudonym.hpp>
#include <veld/sealed_record.hpp>

#include "fixtures.hpp"
#include "veldctl/demo.hpp"

namespace veld::fuzz {

namespace {

constexpr const char* kActor = "fuzz";
constexpr std::size_t kMaxFormsPerPull = 16;  // as the collector's server
constexpr int kDemoRecords = 60;
constexpr std::uint32_t kDemoSeed = 7;

template <class T>
T need(Result<T> result, const std::string& what) {
    if (!result) throw std::runtime_error(what + ": " + result.error().describe());
    return std::move(result.value());
}

void need(const Status& status, const std::string& what) {
    if (!status) throw std::runtime_error(what + ": " + status.error().describe());
}

std::vector<std::string> filesIn(const std::string& folder, const std::string& extension) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(folder)) {
        if (e.path().extension() == extension) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw std::runtime_error("no " + extension + " files in " + folder);
    return files;
}

// The i-th revision's fixed record id: a UUIDv7 whose time orders the ids as the device made
// the records, and whose random part is a digest of i.
Uuid fixedRecordId(std::size_t i) {
    Uuid id;
    const std::uint64_t ms = static_cast<std::uint64_t>(Scene::kNowMs) - 86400000 + i;
    for (int k = 0; k < 6; ++k)
        id.bytes[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(ms >> (40 - 8 * k));
    std::array<std::uint8_t, 16> digest{};
    const std::string label = "veld-fuzz-record-" + std::to_string(i);
    crypto_generichash(digest.data(), digest.size(),
                       reinterpret_cast<const unsigned char*>(label.data()), label.size(), nullptr,
                       0);
    std::copy(digest.begin() + 6, digest.end(), id.bytes.begin() + 6);
    id.bytes[6] = static_cast<std::uint8_t>(0x70 | (id.bytes[6] & 0x0F));
    id.bytes[8] = static_cast<std::uint8_t>(0x80 | (id.bytes[8] & 0x3F));
    return id;
}

// The revision as it would have been had the device had the fixed id and made the record under
// the fixed record id: sealed records are opened, changed and sealed again.
OutboxEntry rewritten(const OutboxEntry& entry, std::size_t index, const Uuid& deviceId) {
    if (entry.damaged) throw std::runtime_error("a demo record is damaged");
    Record record = need(decodeRecord(entry.body), "a demo record");
    const bool sealed = record.sealed.has_value();
    if (sealed) record = need(openRecord(record, projectSecretKeys()), "a sealed demo record");
    record.id = fixedRecordId(index);
    record.deviceId = deviceId;
    if (sealed) record = need(sealRecord(record, projectPublicKey()), "sealing a demo record");
    OutboxEntry out = entry;
    out.recordId = record.id;
    out.body = need(encodeRecord(record), "encoding a demo record");
    return out;
}

// What the uploader does with a pull's answer (uploader.cpp), on the device store.
void applyPull(Store& store, const sync::PullReply& reply) {
    for (const auto& f : reply.forms)
        need(store.installForm(f.binary), "installing a pulled form");
    if (!reply.projectKey.empty())
        need(store.setSetting(projectkey::kKeySetting, reply.projectKey), "the project key");
    if (!reply.studies.empty()) need(store.setStudies(reply.studies), "the studies");
    std::vector<CaseUpdateIn> cases;
    for (const auto& c : reply.cases)
        cases.push_back(c.update);
    if (!cases.empty()) need(store.mergeCases(cases), "the cases");
    std::vector<SealedSlotIn> slots;
    for (const auto& b : reply.blocks) {
        for (const auto& slot : b.slots)
            slots.push_back({b.study, b.stratum, b.block, slot.position, slot.box});
    }
    if (!slots.empty()) need(store.addAllocationSlots(slots), "the allocation slots");
}

}  // namespace

std::unique_ptr<Scene> Scene::make(const std::string& sourceDir) {
    restartRandom(1);
    auto scene = std::make_unique<Scene>();
    Scene& s = *scene;
    s.dir = std::make_unique<test::TempDir>();
    s.collectorPath = s.dir->file("collector.db");
    s.collector = need(sync::openSqliteCollector(s.collectorPath, true), "creating a collector");
    sync::CollectorStore& collector = *s.collector;

    for (const auto& file : filesIn(sourceDir + "/schemas/forms", ".json")) {
        const std::string name = std::filesystem::path(file).stem().string();
        s.formJson[name] = test::readFile(file);
        auto check = forms::compileFormJson(s.formJson[name], file);
        if (!check.ok()) throw std::runtime_error(file + " does not compile");
        need(collector.publish(check.binary, kNowMs, kActor), "publishing " + name);
        s.formBinary[name] = std::move(check.binary);
    }
    for (const auto& file : filesIn(sourceDir + "/schemas/studies", ".json")) {
        s.studies.push_back(need(sync::parseStudyJson(test::readFile(file)), file));
        need(collector.defineStudy(s.studies.back(), kNowMs, kActor), "defining " + file);
    }
    need(collector.setProjectKey(projectkey::formatPublicKey(projectPublicKey()), kNowMs, kActor),
         "setting the project key");

    // Credentials first, while everything drawn from libsodium is the same in every process.
    s.deviceId = *Uuid::parse("5eed0000-0000-4000-8000-00000000000a");
    s.slotDeviceId = *Uuid::parse("5eed0000-0000-4000-8000-00000000000b");
    s.spareDeviceId = *Uuid::parse("5eed0000-0000-4000-8000-00000000000c");
    for (const auto& [id, label] : {std::pair{s.deviceId, "fuzz-field-device"},
                                    std::pair{s.slotDeviceId, "fuzz-slot-device"}}) {
        sync::EnrolRequest request;
        request.code = need(collector.createEnrolCode(label, kNowMs, kActor), "an enrol code");
        request.deviceId = id;
        if (id == s.slotDeviceId)
            request.devicePublicKey.assign(deviceBoxKeys().publicKey.begin(),
                                           deviceBoxKeys().publicKey.end());
        s.enrolRequests.push_back(request);
        s.enrolReplies.push_back(
            need(collector.enrol(request, kNowMs), std::string("enrolling ") + label));
    }
    s.deviceCredential = s.enrolReplies[0].credential;
    s.slotDeviceCredential = s.enrolReplies[1].credential;
    s.spareCode = need(collector.createEnrolCode("fuzz-spare", kNowMs, kActor), "an enrol code");
    s.adminCredential = need(collector.addAdmin(kAdminName, kNowMs, kActor), "a staff member");

    // The field device: enrolled as above, pulls, fills the pilots' forms.
    ManualClock clock(kNowMs - 3 * 86400000);
    Store store = need(Store::open(s.dir->file("device.veld"),
                                   {.mode = sql::OpenMode::ReadWriteCreate, .clock = &clock}),
                       "creating a device store");
    need(store.setSetting(pseudonym::kKeySetting, s.enrolReplies[0].pseudonymKey),
         "the pseudonym key");
    need(store.setSetting(projectkey::kKeySetting, s.enrolReplies[0].projectKey),
         "the project key");
    const auto boxKey = need(store.boxPublicKey(), "the device's box key");
    sync::PullRequest pull;
    pull.deviceBoxKey.assign(boxKey.begin(), boxKey.end());
    const auto pullAll = [&](const Uuid& device, sync::PullRequest& request, Store* into) {
        for (;;) {
            auto reply = need(collector.pull(device, request, kMaxFormsPerPull, kNowMs), "a pull");
            s.pullRequests.push_back(request);
            s.pullReplies.push_back(reply);
            if (into) applyPull(*into, reply);
            request.formCursor = reply.formCursor;
            request.caseCursor = std::max(request.caseCursor, reply.caseCursor);
            request.allocationCursor = std::max(request.allocationCursor, reply.allocationCursor);
            request.stock.clear();
            if (!reply.more) break;
        }
    };
    pullAll(s.deviceId, pull, &store);
    need(veldctl::setUpDemo(store, sourceDir + "/schemas/forms"), "setting up the demo");
    need(veldctl::addDemoRecords(store, kDemoRecords, kDemoSeed), "adding demo records");

    for (std::optional<ListCursor> after;;) {
        ListQuery query;
        query.limit = 100;
        query.after = after;
        const auto page = need(store.list(query), "listing the device's records");
        for (const auto& row : page.rows) {
            const auto stored = need(store.get(row.id), "reading a device record");
            s.recordBodies.push_back(need(encodeRecord(stored.record), "encoding a record"));
            if (stored.record.sealed) {
                auto opened = need(openRecord(stored.record, projectSecretKeys()), "opening");
                s.recordBodies.push_back(need(encodeRecord(opened), "encoding a record"));
            }
        }
        if (!page.next) break;
        after = page.next;
    }

    // Its outbox under the fixed ids: the first half pushed, in batches, the rest held back.
    const auto pending = need(store.outboxPending(100000, std::size_t{1} << 30), "the outbox");
    std::vector<OutboxEntry> outbox;
    for (std::size_t i = 0; i < pending.size(); ++i)
        outbox.push_back(rewritten(pending[i], i, s.deviceId));
    const std::size_t pushed = outbox.size() / 2;
    for (std::size_t from = 0; from < pushed; from += 8) {
        const std::size_t to = std::min(pushed, from + 8);
        const std::span<const OutboxEntry> batch(outbox.data() + from, to - from);
        auto body = sync::encodePushRequest(s.deviceId, batch,
                                            static_cast<std::int64_t>(outbox.size() - to));
        auto decoded = need(sync::decodePushRequest(body), "a push body");
        s.pushReplies.push_back(need(collector.push(s.deviceId, decoded, kNowMs), "a push"));
        s.pushBodies.push_back(std::move(body));
    }
    s.heldBack.assign(outbox.begin() + static_cast<std::ptrdiff_t>(pushed), outbox.end());

    // The next round's pull (cases now), with the device's stock; the slot device's first pull.
    for (const auto& stock : need(store.allocationStock(), "the allocation stock"))
        pull.stock.push_back(
            {stock.study, stock.stratum,
             static_cast<std::uint32_t>(std::max<std::int64_t>(0, stock.remaining))});
    pullAll(s.deviceId, pull, &store);
    sync::PullRequest slotPull;
    slotPull.deviceBoxKey.assign(deviceBoxKeys().publicKey.begin(),
                                 deviceBoxKeys().publicKey.end());
    pullAll(s.slotDeviceId, slotPull, nullptr);

    // Staff's work: a conflict from a second device, reviews.
    s.conflictRecord = need(veldctl::addDemoConflict(collector, kNowMs, kActor), "a conflict");
    const auto ids = need(collector.recordIds(), "the records");
    const std::string staff = std::string("admin:") + kAdminName;
    if (ids.size() >= 2) {
        need(collector.setReview(ids[0], sync::ReviewState::HasIssues, "answers look odd", kNowMs,
                                 staff),
             "a review");
        need(collector.setReview(ids[1], sync::ReviewState::Approved, "", kNowMs, staff),
             "a review");
    }
    return scene;
}

}  // namespace veld::fuzz
