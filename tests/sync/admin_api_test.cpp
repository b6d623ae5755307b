// The admin API that central staff's console uses, against a real collector: only a staff
// member's credential opens it (not a device's, not a revoked one), and what staff do through
// it lands in the collector's store and its audit log.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <veld/clock.hpp>
#include <veld/form.hpp>
#include <veld/record.hpp>
#include <veld/sync/admin_api.hpp>
#include <veld/sync/admin_client.hpp>

#include "support/sync_support.hpp"
#include "veldctl/demo.hpp"

using namespace veld;

namespace {

test::Headers adminHeaders(const std::string& credential) {
    test::Headers h{{"Content-Type", sync::admin::kContentType}};
    if (!credential.empty()) h.emplace_back("Authorization", "Bearer " + credential);
    return h;
}

test::HttpReply call(const test::CollectorProcess& collector, const char* path,
                     const std::vector<std::uint8_t>& body, const std::string& credential) {
    return test::httpExchange(collector.port(),
                              test::postBytes(path, body, adminHeaders(credential)));
}

sync::AdminClient console(const test::CollectorProcess& collector, const std::string& credential) {
    sync::Connection c;
    c.collector = collector.url();
    c.credential = credential;
    return sync::AdminClient(c);
}

// Polls a job until it is no longer running (a minute at most).
sync::admin::ExportJob waitForJob(sync::AdminClient& client, const std::string& job) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
        auto state = client.exportJob(job);
        REQUIRE_MESSAGE(state, state.error().describe());
        if (state->state != sync::admin::ExportJob::State::Running) return state.value();
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the export did not finish");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// The folder the collector (started with its default --export-dir) keeps a job's files in.
std::string jobFolder(const test::CollectorProcess& collector, const std::string& job) {
    return collector.exportDir() + "/" + job;
}

// Every file in a folder, by name, with its bytes.
std::map<std::string, std::string> filesIn(const std::string& folder) {
    std::map<std::string, std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        out[entry.path().filename().string()] = test::readFile(entry.path().string());
    return out;
}

// Runs `check` until it holds, for up to ten seconds.
template <class Check>
bool eventually(Check check) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (check()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return check();
}

}  // namespace

TEST_CASE("the admin API opens only to a staff member's credential, on every endpoint") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    // Every endpoint is tried with every wrong credential from this one address, far more than
    // the collector lets an address guess (that limit is tested on its own).
    collector.start({"--auth-failures", "0"});
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    const std::string anna = test::addAdmin(collector, "anna");
    const std::string bram = test::addAdmin(collector, "bram");
    REQUIRE(test::veldctl({"collector", "admin-revoke", collector.storePath(), "bram"}).exitCode ==
            0);

    const std::vector<std::pair<const char*, std::vector<std::uint8_t>>> endpoints{
        {sync::admin::kStatusPath, sync::admin::encodeRequest(sync::admin::Request::Status)},
        {sync::admin::kDevicesPath, sync::admin::encodeRequest(sync::admin::Request::Devices)},
        {sync::admin::kConflictsPath, sync::admin::encodeRequest(sync::admin::Request::Conflicts)},
        {sync::admin::kReviewPath,
         sync::admin::encodeReviewRequest(
             {makeUuidV7(SystemClock::instance()), sync::ReviewState::Approved, "x"})},
        {sync::admin::kResolvePath, sync::admin::encodeResolveRequest({1, {}})},
        {sync::admin::kDuplicatesPath,
         sync::admin::encodeRequest(sync::admin::Request::Duplicates)},
        {sync::admin::kDecidePath,
         sync::admin::encodeDecideRequest(
             {std::string(64, 'a'), sync::DuplicateDecision::SamePerson, ""})},
        {sync::admin::kFormsPath, sync::admin::encodeRequest(sync::admin::Request::Forms)},
        {sync::admin::kRecordPath,
         sync::admin::encodeRecordRequest(makeUuidV7(SystemClock::instance()))},
        {sync::admin::kQueuePath,
         sync::admin::encodeQueueRequest({sync::ReviewState::HasIssues, 10})},
        {sync::admin::kExportPath, sync::admin::encodeExportRequest({"no_such_form"})},
        {sync::admin::kExportJobPath,
         sync::admin::encodeExportJobRequest({std::string(32, 'a'), false})},
        {sync::admin::kExportFilePath,
         sync::admin::encodeExportFileRequest({std::string(32, 'a'), "x.csv", 0})},
    };
    // These name a record, conflict, form or export job that does not exist: 404.
    const std::set<std::string> unknown{sync::admin::kReviewPath,    sync::admin::kResolvePath,
                                        sync::admin::kRecordPath,    sync::admin::kExportPath,
                                        sync::admin::kExportJobPath, sync::admin::kExportFilePath};
    std::string wrong = anna;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    for (const auto& entry : endpoints) {
        const auto& path = entry.first;
        const auto& body = entry.second;
        CAPTURE(path);
        CHECK(call(collector, path, body, "").status == 401);
        CHECK(call(collector, path, body, connection.credential).status == 401);  // a device
        CHECK(call(collector, path, body, wrong).status == 401);
        CHECK(call(collector, path, body, bram).status == 403);  // revoked
        CHECK(call(collector, path, body, "veld-admin.anna").status == 401);
        const int status = call(collector, path, body, anna).status;
        // An export job id made up of 'a's carries another process's tag: 409, naming it.
        const bool job = std::string(path) == sync::admin::kExportJobPath ||
                         std::string(path) == sync::admin::kExportFilePath;
        CHECK(status == (job ? 409 : unknown.count(path) ? 404 : 200));
    }
    // A device credential still cannot reach the admin API, and an admin one cannot push.
    CHECK(test::httpExchange(collector.port(),
                             test::postBytes(sync::kPullPath, sync::encodePullRequest({}),
                                             test::protocolHeaders(anna)))
              .status == 401);
    // A request body for another endpoint, and bytes that are not a message: 400.
    CHECK(call(collector, sync::admin::kStatusPath,
               sync::admin::encodeRequest(sync::admin::Request::Devices), anna)
              .status == 400);
    CHECK(
        call(collector, sync::admin::kStatusPath, std::vector<std::uint8_t>(40, 7), anna).status ==
        400);
    // Nothing secret in the log: no credential, in whole or in part.
    const std::string log = collector.log();
    CHECK(log.find(anna.substr(anna.rfind('.') + 1)) == std::string::npos);
    CHECK(log.find(connection.credential.substr(connection.credential.find('.') + 1)) ==
          std::string::npos);
}

TEST_CASE("staff see the dashboard, review a record and settle a conflict through the admin API") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string anna = test::addAdmin(collector, "anna");
    auto first = test::openDevice(dir.file("first.veld"));
    auto second = test::openDevice(dir.file("second.veld"));
    test::addFinalized(first, 4);
    test::enrolDevice(first, collector);
    test::enrolDevice(second, collector);
    REQUIRE(sync::syncOnce(first, sync::loadConnection(first).value(), {}));

    // The console's client, as a staff member's console uses it.
    sync::Connection console;
    console.collector = collector.url();
    console.credential = anna;
    sync::AdminClient client(console);

    // The dashboard: counts and records per form per day.
    auto status = client.status();
    REQUIRE_MESSAGE(status, status.error().describe());
    CHECK(status->stats.records == 4);
    CHECK(status->stats.devices == 2);
    std::int64_t perDay = 0;
    for (const auto& d : status->perDay)
        perDay += d.records;
    CHECK(perDay == 4);
    auto devices = client.devices();
    REQUIRE(devices);
    CHECK(devices->size() == 2);

    // A review, recorded under the staff member's name.
    const Uuid record = collector.open()->recordIds()->front();
    auto review = client.review({record, sync::ReviewState::HasIssues, "age looks wrong"});
    REQUIRE(review);
    CHECK(review->state == sync::ReviewState::HasIssues);
    REQUIRE(review->history.size() == 1);
    CHECK(review->history[0].actor == "admin:anna");
    CHECK(review->history[0].comment == "age looks wrong");

    // A conflict: the second device edits the same record without having seen the first's.
    {
        auto held = collector.open();
        const auto current = held->current(record).value().value();
        Record edited = decodeRecord(current.body).value();
        edited.deviceId = second.deviceId();
        edited.hlc = HlcTimestamp::make(edited.hlc.millis() + 1, 0);
        sync::PushBatch batch;
        batch.deviceId = second.deviceId();
        sync::PushRevision rev;
        rev.seq = 1;
        rev.recordId = record;
        rev.hlc = edited.hlc;
        rev.body = encodeRecord(edited).value();
        rev.formId = edited.content.formId;
        batch.revisions.push_back(rev);
        REQUIRE(held->push(second.deviceId(), batch, SystemClock::instance().nowMillis()));
    }
    auto conflicts = client.conflicts();
    REQUIRE(conflicts);
    REQUIRE(conflicts->size() == 1);
    CHECK(conflicts->front().recordId == record);
    auto resolved =
        client.resolve({conflicts->front().id, {sync::ConflictResolution::Kind::KeepA, {}, ""}});
    REQUIRE(resolved);
    CHECK(resolved->recordId == record);
    // Likely duplicates: two records with the same pseudonym, decided on through the API.
    {
        auto held = collector.open();
        sync::PushBatch batch;
        batch.deviceId = second.deviceId();
        for (std::uint64_t seq = 2; seq <= 3; ++seq) {
            Record r;
            r.id = makeUuidV7(SystemClock::instance());
            r.deviceId = second.deviceId();
            r.hlc =
                HlcTimestamp::make(static_cast<std::uint64_t>(SystemClock::instance().nowMillis()),
                                   static_cast<std::uint32_t>(seq));
            r.createdHlc = r.hlc;
            r.finalized = true;
            r.content = test::sampleContent(77);
            sync::PushRevision rev;
            rev.seq = seq;
            rev.recordId = r.id;
            rev.hlc = r.hlc;
            rev.body = encodeRecord(r).value();
            rev.formId = r.content.formId;
            batch.revisions.push_back(rev);
        }
        REQUIRE(held->push(second.deviceId(), batch, SystemClock::instance().nowMillis()));
    }
    auto groups = client.duplicates();
    REQUIRE(groups);
    REQUIRE(groups->size() == 1);
    CHECK(groups->front().records.size() == 2);
    CHECK(groups->front().decision == sync::DuplicateDecision::Undecided);
    groups =
        client.decide({groups->front().key, sync::DuplicateDecision::DifferentPeople, "twins"});
    REQUIRE(groups);
    REQUIRE(groups->size() == 1);
    CHECK(groups->front().decision == sync::DuplicateDecision::DifferentPeople);
    CHECK(groups->front().decidedBy == "admin:anna");

    // A revoked staff member's console is refused at once, with a clear error.
    REQUIRE(test::veldctl({"collector", "admin-revoke", collector.storePath(), "anna"}).exitCode ==
            0);
    auto refused = client.status();
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::Refused);
    CHECK(refused.error().message.find("403") != std::string::npos);

    auto held = collector.open();
    CHECK(held->conflicts()->empty());
    CHECK(held->revisionsOf(record)->size() == 3);
    bool audited = false;
    const auto audit = held->audit();
    REQUIRE(audit);
    for (const auto& e : *audit)
        audited = audited || (e.action == "resolve" && e.actor == "admin:anna");
    CHECK(audited);
}

TEST_CASE("admin messages round-trip, and their decoders refuse what makes no sense") {
    namespace admin = sync::admin;
    auto queue =
        admin::decodeQueueRequest(admin::encodeQueueRequest({sync::ReviewState::Approved, 7}));
    REQUIRE(queue);
    CHECK(queue->state == sync::ReviewState::Approved);
    CHECK(queue->limit == 7);
    CHECK(queue->formId.empty());
    auto ofForm = admin::decodeQueueRequest(
        admin::encodeQueueRequest({sync::ReviewState::Received, 9, "ips_guidance"}));
    REQUIRE(ofForm);
    CHECK(ofForm->formId == "ips_guidance");
    CHECK_FALSE(admin::decodeQueueRequest(
        admin::encodeQueueRequest({sync::ReviewState::Received, 9, std::string(201, 'f')})));
    CHECK_FALSE(
        admin::decodeQueueRequest(admin::encodeQueueRequest({sync::ReviewState::Approved, 0})));
    CHECK_FALSE(admin::decodeQueueRequest(
        admin::encodeQueueRequest({sync::ReviewState::Approved, admin::kMaxQueue + 1})));
    CHECK_FALSE(admin::decodeQueueRequest(
        admin::encodeQueueRequest({static_cast<sync::ReviewState>(5), 10})));

    admin::ExportRequest request;
    request.formId = "ips_guidance";
    request.format = sync::ExportFormat::Dta;
    request.language = "en";
    request.filter.formVersion = 3;
    request.filter.untilUtcMs = 1234;
    request.filter.review = sync::ReviewState::Rejected;
    auto exported = admin::decodeExportRequest(admin::encodeExportRequest(request));
    REQUIRE(exported);
    CHECK(exported->formId == "ips_guidance");
    CHECK(exported->format == sync::ExportFormat::Dta);
    CHECK(exported->language == "en");
    CHECK(exported->filter.formVersion == 3u);
    CHECK_FALSE(exported->filter.fromUtcMs);
    CHECK(exported->filter.untilUtcMs == 1234);
    CHECK(exported->filter.review == sync::ReviewState::Rejected);
    request.format = sync::ExportFormat::Records;
    CHECK(admin::decodeExportRequest(admin::encodeExportRequest(request))->format ==
          sync::ExportFormat::Records);
    request.format = sync::ExportFormat::Xlsx;
    request.values = sync::ExportValues::Labels;
    const auto excel = admin::decodeExportRequest(admin::encodeExportRequest(request));
    REQUIRE(excel);
    CHECK(excel->format == sync::ExportFormat::Xlsx);
    CHECK(excel->values == sync::ExportValues::Labels);
    request.values = sync::ExportValues::Codes;
    CHECK(admin::decodeExportRequest(admin::encodeExportRequest(request))->values ==
          sync::ExportValues::Codes);
    request.format = static_cast<sync::ExportFormat>(5);
    CHECK_FALSE(admin::decodeExportRequest(admin::encodeExportRequest(request)));
    request.format = sync::ExportFormat::Csv;
    request.filter.review = static_cast<sync::ReviewState>(9);
    CHECK_FALSE(admin::decodeExportRequest(admin::encodeExportRequest(request)));
    CHECK_FALSE(admin::decodeExportRequest(admin::encodeExportRequest({""})));

    const std::string job(32, 'f');
    CHECK(admin::decodeExportJobRequest(admin::encodeExportJobRequest({job, true}))->discard);
    for (const std::string& bad : {std::string(32, 'F'), std::string(31, 'a'), std::string(33, 'a'),
                                   std::string(31, 'a') + "g", std::string()}) {
        CAPTURE(bad);
        CHECK_FALSE(admin::decodeExportJobRequest(admin::encodeExportJobRequest({bad, false})));
        CHECK_FALSE(admin::decodeExportFileRequest(admin::encodeExportFileRequest({bad, "a", 0})));
    }
    auto file = admin::decodeExportFileRequest(admin::encodeExportFileRequest({job, "t.csv", 9}));
    REQUIRE(file);
    CHECK(file->name == "t.csv");
    CHECK(file->offset == 9);
    for (const std::string bad : {"", "..", "../x", "a/b", "/etc/passwd", "x\\y"}) {
        CAPTURE(bad);
        CHECK_FALSE(admin::decodeExportFileRequest(admin::encodeExportFileRequest({job, bad, 0})));
    }
    CHECK_FALSE(admin::decodeExportFileRequest(admin::encodeExportFileRequest({job, "a", -1})));

    admin::ExportJob state;
    state.job = job;
    state.state = admin::ExportJob::State::Done;
    state.done = state.total = state.records = 5;
    state.unreadable = 2;
    state.sealedUnopened = 1;
    state.files = {{"f.csv", 10}, {"f-codebook.csv", 20}};
    auto back = admin::decodeExportJob(admin::encodeExportJob(state));
    REQUIRE(back);
    CHECK(back->state == admin::ExportJob::State::Done);
    CHECK(back->unreadable == 2);
    CHECK(back->sealedUnopened == 1);
    REQUIRE(back->files.size() == 2);
    CHECK(back->files[1].name == "f-codebook.csv");
    CHECK(back->files[1].bytes == 20);
    state.files = {{"../f.csv", 10}};
    CHECK_FALSE(admin::decodeExportJob(admin::encodeExportJob(state)));

    // A record's current index must name one of its revisions.
    admin::RecordDetail detail;
    detail.revisions.resize(2);
    detail.current = 1;
    detail.review.state = sync::ReviewState::HasIssues;
    auto record = admin::decodeRecord(admin::encodeRecord(detail));
    REQUIRE(record);
    CHECK(record->current == 1);
    CHECK(record->review.state == sync::ReviewState::HasIssues);
    detail.current = 2;
    CHECK_FALSE(admin::decodeRecord(admin::encodeRecord(detail)));

    // A form whose binary is not a compiled form is left out by the console's side; the rest of
    // the list is kept.
    const auto valid =
        forms::loadFormFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json");
    REQUIRE(valid.ok());
    auto listed = admin::decodeForms(admin::encodeForms(
        {{"f", 1, "p", {1, 2, 3, 4, 5, 6, 7, 8}}, {"ok", 1, "p", valid.binary}}));
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().formId == "ok");

    // The request kinds the server routes on.
    CHECK(admin::requestKind(admin::encodeRequest(admin::Request::Forms)).value() ==
          admin::Request::Forms);
    CHECK(admin::requestKind(admin::encodeExportFileRequest({job, "a", 0})).value() ==
          admin::Request::ExportFile);
    CHECK_FALSE(admin::requestKind(admin::encodeExportJob(state)));  // an answer
}

TEST_CASE(
    "staff read the forms, a record's revisions and the review queue through the admin "
    "API") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::publishPilotForms(collector);
    collector.start();
    const std::string anna = test::addAdmin(collector, "anna");
    auto first = test::openDevice(dir.file("first.veld"));
    auto second = test::openDevice(dir.file("second.veld"));
    test::addFinalized(first, 3);
    test::enrolDevice(first, collector);
    test::enrolDevice(second, collector);
    REQUIRE(sync::syncOnce(first, sync::loadConnection(first).value(), {}));
    auto client = console(collector, anna);

    // Every published form, with its compiled binary.
    auto forms = client.forms();
    REQUIRE_MESSAGE(forms, forms.error().describe());
    const auto published = collector.open()->publishedForms().value();
    REQUIRE(forms->size() == published.size());
    CHECK(forms->size() == test::pilotFormFiles().size());
    for (std::size_t i = 0; i < published.size(); ++i) {
        CHECK((*forms)[i].formId == published[i].formId);
        CHECK((*forms)[i].version == published[i].version);
        CHECK((*forms)[i].pilot == published[i].pilot);
        CHECK_FALSE((*forms)[i].binary.empty());
        CHECK((*forms)[i].binary == published[i].binary);
    }

    // A record the second device edited after seeing the first's revision: two revisions,
    // oldest first, the newer one current.
    const auto ids = collector.open()->recordIds().value();
    REQUIRE(ids.size() == 3);
    const Uuid record = ids[1];
    {
        auto held = collector.open();
        const auto current = held->current(record).value().value();
        Record edited = decodeRecord(current.body).value();
        edited.deviceId = second.deviceId();
        edited.hlc = HlcTimestamp::make(edited.hlc.millis() + 5, 0);
        sync::PushBatch batch;
        batch.deviceId = second.deviceId();
        sync::PushRevision rev;
        rev.seq = 1;
        rev.baseHlc = current.hlc.value;
        rev.recordId = record;
        rev.hlc = edited.hlc;
        rev.body = encodeRecord(edited).value();
        rev.formId = edited.content.formId;
        batch.revisions.push_back(rev);
        REQUIRE(held->push(second.deviceId(), batch, SystemClock::instance().nowMillis()));
        REQUIRE(held->conflicts()->empty());
    }
    auto detail = client.record(record);
    REQUIRE_MESSAGE(detail, detail.error().describe());
    const auto stored = collector.open()->revisionsOf(record).value();
    REQUIRE(detail->revisions.size() == 2);
    CHECK(detail->revisions[0].hlc < detail->revisions[1].hlc);
    CHECK(detail->revisions[0].deviceId == first.deviceId());
    CHECK(detail->revisions[1].deviceId == second.deviceId());
    CHECK(detail->current == 1);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(detail->revisions[i].recordId == record);
        CHECK(detail->revisions[i].seq == stored[i].seq);
        CHECK(detail->revisions[i].formId == stored[i].formId);
        CHECK(detail->revisions[i].body == stored[i].body);
        CHECK_FALSE(detail->revisions[i].damaged);
    }
    CHECK(detail->review.state == sync::ReviewState::Received);
    CHECK(detail->review.history.empty());

    // The review queue, before and after staff flag a record.
    auto received = client.queue({sync::ReviewState::Received, 10});
    REQUIRE_MESSAGE(received, received.error().describe());
    CHECK(received->state == sync::ReviewState::Received);
    CHECK(received->total == 3);
    REQUIRE(received->records.size() == 3);
    for (std::size_t i = 0; i < 3; ++i)
        CHECK(received->records[i].recordId == ids[i]);  // by record id
    REQUIRE(client.review({record, sync::ReviewState::HasIssues, "check the dates"}));
    auto issues = client.queue({sync::ReviewState::HasIssues, 10});
    REQUIRE(issues);
    CHECK(issues->total == 1);
    REQUIRE(issues->records.size() == 1);
    CHECK(issues->records[0].recordId == record);
    CHECK(issues->records[0].deviceId == second.deviceId());  // of the current revision
    CHECK(issues->records[0].hlc == detail->revisions[1].hlc);
    CHECK(issues->records[0].formId == "vmbo_parent_survey");
    received = client.queue({sync::ReviewState::Received, 1});
    REQUIRE(received);
    CHECK(received->total == 2);
    REQUIRE(received->records.size() == 1);
    CHECK(received->records[0].recordId == ids[0]);
    // One form's queue: its records and their count, of that form only.
    auto ofForm = client.queue({sync::ReviewState::Received, 10, "vmbo_parent_survey"});
    REQUIRE(ofForm);
    CHECK(ofForm->total == 2);
    CHECK(ofForm->records.size() == 2);
    auto otherForm = client.queue({sync::ReviewState::Received, 10, "ips_guidance"});
    REQUIRE(otherForm);
    CHECK(otherForm->total == 0);
    CHECK(otherForm->records.empty());
    auto issuesOfForm = client.queue({sync::ReviewState::HasIssues, 10, "vmbo_parent_survey"});
    REQUIRE(issuesOfForm);
    CHECK(issuesOfForm->total == 1);
    REQUIRE(issuesOfForm->records.size() == 1);
    CHECK(issuesOfForm->records[0].recordId == record);
    CHECK(client.queue({sync::ReviewState::HasIssues, 10, "ips_guidance"})->total == 0);
    auto approved = client.queue({sync::ReviewState::Approved, 10});
    REQUIRE(approved);
    CHECK(approved->total == 0);
    CHECK(approved->records.empty());
    detail = client.record(record);
    REQUIRE(detail);
    CHECK(detail->review.state == sync::ReviewState::HasIssues);
    REQUIRE(detail->review.history.size() == 1);
    CHECK(detail->review.history[0].actor == "admin:anna");

    // A record the collector does not hold.
    auto unknown = client.record(makeUuidV7(SystemClock::instance()));
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message.find("404") != std::string::npos);
}

TEST_CASE(
    "an export run at the collector is fetched by its staff member only, byte for byte as "
    "veldctl writes it") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::publishPilotForms(collector);
    collector.start();
    const std::string anna = test::addAdmin(collector, "anna");
    const std::string bram = test::addAdmin(collector, "bram");
    for (int d = 0; d < 2; ++d) {
        auto device = test::openDevice(dir.file("device" + std::to_string(d) + ".veld"));
        REQUIRE(veldctl::setUpDemo(device, std::string(VELD_SOURCE_DIR) + "/schemas/forms"));
        REQUIRE(veldctl::addDemoRecords(device, 80, 3 + static_cast<std::uint32_t>(d)));
        test::enrolDevice(device, collector);
        auto round = sync::syncOnce(device, sync::loadConnection(device).value(), {});
        REQUIRE_MESSAGE(round, round.error().describe());
    }
    // The export folder is made at start, for the collector's user only.
    struct stat folder {};
    REQUIRE(::stat(collector.exportDir().c_str(), &folder) == 0);
    CHECK((folder.st_mode & 0777) == 0700);

    auto client = console(collector, anna);
    sync::admin::ExportRequest request;
    request.formId = "ips_guidance";
    auto started = client.startExport(request);
    REQUIRE_MESSAGE(started, started.error().describe());
    const std::string job = started->job;
    CHECK(job.size() == 32);
    const auto done = waitForJob(client, job);
    REQUIRE_MESSAGE(done.state == sync::admin::ExportJob::State::Done, done.error);
    CHECK(done.records > 0);
    CHECK(done.done == done.records);
    CHECK(done.total == done.records);
    CHECK(done.unreadable == 0);
    REQUIRE(done.files.size() >= 3);  // the main table, its repeats' tables, the codebook
    CHECK(done.files.front().name == "ips_guidance.csv");
    CHECK(done.files.back().name == "ips_guidance-codebook.csv");

    // Every file fetched (in chunks, with progress) matches what veldctl export writes.
    const std::string fetched = dir.file("fetched");
    std::filesystem::create_directory(fetched);
    for (const auto& file : done.files) {
        CAPTURE(file.name);
        std::int64_t last = -1;
        auto got = client.download(job, file, fetched + "/" + file.name,
                                   [&](std::int64_t at, std::int64_t total) {
                                       CHECK(total == file.bytes);
                                       CHECK(at > last);
                                       last = at;
                                   });
        REQUIRE_MESSAGE(got, got.error().describe());
        CHECK(last == file.bytes);
        CHECK_FALSE(std::filesystem::exists(fetched + "/" + file.name + ".part"));
    }
    const std::string own = dir.file("veldctl");
    const auto made =
        test::veldctl({"export", collector.storePath(), "ips_guidance", "--out", own});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    const auto mine = filesIn(fetched);
    const auto theirs = filesIn(own);
    CHECK(mine.size() == done.files.size());
    REQUIRE(mine.size() == theirs.size());
    for (const auto& entry : theirs) {
        const auto& name = entry.first;
        const auto& bytes = entry.second;
        CAPTURE(name);
        REQUIRE(mine.count(name));
        CHECK(static_cast<std::int64_t>(bytes.size()) ==
              std::find_if(done.files.begin(), done.files.end(), [&](const auto& f) {
                  return f.name == name;
              })->bytes);
        CHECK(mine.at(name) == bytes);
    }

    // Another member of staff does not see the job at all.
    auto other = console(collector, bram);
    auto hidden = other.exportJob(job);
    REQUIRE_FALSE(hidden);
    CHECK(hidden.error().message.find("404") != std::string::npos);
    CHECK_FALSE(other.download(job, done.files.front(), dir.file("stolen.csv")));
    CHECK_FALSE(std::filesystem::exists(dir.file("stolen.csv")));
    CHECK_FALSE(std::filesystem::exists(dir.file("stolen.csv.part")));
    CHECK(call(collector, sync::admin::kExportFilePath,
               sync::admin::encodeExportFileRequest({job, done.files.front().name, 0}), bram)
              .status == 404);

    // Names that are not one of the job's files, and an offset past the end, are refused.
    for (const std::string bad : {"../x", "a/b", "..", ""}) {
        CAPTURE(bad);
        CHECK(call(collector, sync::admin::kExportFilePath,
                   sync::admin::encodeExportFileRequest({job, bad, 0}), anna)
                  .status == 400);
    }
    CHECK(call(collector, sync::admin::kExportFilePath,
               sync::admin::encodeExportFileRequest({job, "collector.db", 0}), anna)
              .status == 404);
    const auto& table = done.files.front();
    CHECK(call(collector, sync::admin::kExportFilePath,
               sync::admin::encodeExportFileRequest({job, table.name, table.bytes + 1}), anna)
              .status == 400);
    const auto tail =
        call(collector, sync::admin::kExportFilePath,
             sync::admin::encodeExportFileRequest({job, table.name, table.bytes - 5}), anna);
    CHECK(tail.status == 200);
    CHECK(tail.body == mine.at(table.name).substr(mine.at(table.name).size() - 5));
    auto refused = client.download(job, {"../x", 10}, dir.file("x"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::InvalidArgument);
    CHECK_FALSE(std::filesystem::exists(dir.file("x.part")));

    // Discarding deletes the job's files at the collector; nothing more can be fetched.
    REQUIRE(std::filesystem::is_directory(jobFolder(collector, job)));
    auto discarded = client.exportJob(job, true);
    REQUIRE_MESSAGE(discarded, discarded.error().describe());
    CHECK(discarded->state == sync::admin::ExportJob::State::Discarded);
    CHECK(discarded->files.empty());
    CHECK_FALSE(std::filesystem::exists(jobFolder(collector, job)));
    CHECK(call(collector, sync::admin::kExportFilePath,
               sync::admin::encodeExportFileRequest({job, table.name, 0}), anna)
              .status == 409);

    // An unknown form is refused at once; the start of the export is in the audit log.
    auto unknownForm = client.startExport({"no_such_form"});
    REQUIRE_FALSE(unknownForm);
    CHECK(unknownForm.error().message.find("404") != std::string::npos);
    bool audited = false;
    const auto audit = collector.open()->audit().value();
    for (const auto& e : audit) {
        audited =
            audited || (e.action == "export" && e.actor == "admin:anna" &&
                        e.subject == "ips_guidance" && e.detail.find(job) != std::string::npos);
    }
    CHECK(audited);
}

TEST_CASE(
    "at most two exports run at once, a running one can be discarded, and a stopping "
    "collector ends them and leaves no files") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::publishPilotForms(collector);
    // Left by an earlier run: job folders are removed at start, anything else is not touched.
    const std::string exports = collector.exportDir();
    const std::string leftover = exports + "/" + std::string(32, '0');
    std::filesystem::create_directories(leftover);
    std::filesystem::permissions(exports, std::filesystem::perms::owner_all);
    std::ofstream(leftover + "/old.csv") << "old";
    std::ofstream(exports + "/notes.txt") << "not an export";
    // Exports wait before their first record until they are cancelled.
    collector.start({}, {"VELD_TEST_HOLD_EXPORTS=1"});
    CHECK_FALSE(std::filesystem::exists(leftover));
    CHECK(std::filesystem::exists(exports + "/notes.txt"));
    const std::string anna = test::addAdmin(collector, "anna");
    auto client = console(collector, anna);

    std::vector<std::string> jobs;
    for (int i = 0; i < 2; ++i) {
        auto started = client.startExport({"ips_guidance"});
        REQUIRE_MESSAGE(started, started.error().describe());
        CHECK(started->state == sync::admin::ExportJob::State::Running);
        jobs.push_back(started->job);
    }
    CHECK(jobs[0] != jobs[1]);
    const auto third = call(collector, sync::admin::kExportPath,
                            sync::admin::encodeExportRequest({"job_retention_log"}), anna);
    CHECK(third.status == 429);
    CHECK(third.head.find("Retry-After:") != std::string::npos);
    auto refused = client.startExport({"job_retention_log"});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("429") != std::string::npos);

    // Discarding a running job stops it and deletes its folder; then a new one may start.
    auto discarded = client.exportJob(jobs[0], true);
    REQUIRE(discarded);
    CHECK(discarded->state == sync::admin::ExportJob::State::Discarded);
    CHECK(eventually([&] { return !std::filesystem::exists(jobFolder(collector, jobs[0])); }));
    std::optional<sync::admin::ExportJob> next;
    CHECK(eventually([&] {
        auto started = client.startExport({"job_retention_log"});
        if (started) next = started.value();
        return started.ok();
    }));
    REQUIRE(next);
    CHECK(client.exportJob(jobs[0])->state == sync::admin::ExportJob::State::Discarded);
    CHECK(std::filesystem::is_directory(jobFolder(collector, next->job)));

    // SIGTERM: the held exports are cancelled and waited for, and their folders deleted.
    const auto start = std::chrono::steady_clock::now();
    collector.kill(SIGTERM);
    const auto ended = collector.wait();
    CHECK(ended.exitCode == 0);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    CHECK_FALSE(std::filesystem::exists(jobFolder(collector, jobs[1])));
    CHECK_FALSE(std::filesystem::exists(jobFolder(collector, next->job)));
    CHECK(std::filesystem::exists(exports + "/notes.txt"));
}

TEST_CASE("a malformed body on any of the console's newer endpoints is refused with 400") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string anna = test::addAdmin(collector, "anna");
    namespace admin = sync::admin;
    const std::string job(32, 'a');
    const std::vector<std::pair<const char*, std::vector<std::uint8_t>>> bad{
        // Another endpoint's request.
        {admin::kFormsPath, admin::encodeRequest(admin::Request::Status)},
        {admin::kRecordPath, admin::encodeRequest(admin::Request::Forms)},
        {admin::kQueuePath, admin::encodeRecordRequest(makeUuidV7(SystemClock::instance()))},
        {admin::kExportPath, admin::encodeQueueRequest({})},
        {admin::kExportJobPath, admin::encodeExportFileRequest({job, "a.csv", 0})},
        {admin::kExportFilePath, admin::encodeExportJobRequest({job, false})},
        // An answer instead of a request.
        {admin::kExportJobPath, admin::encodeExportJob({})},
        // Values that make no sense.
        {admin::kQueuePath, admin::encodeQueueRequest({sync::ReviewState::Received, 0})},
        {admin::kQueuePath,
         admin::encodeQueueRequest({sync::ReviewState::Received, admin::kMaxQueue + 1})},
        {admin::kQueuePath, admin::encodeQueueRequest({static_cast<sync::ReviewState>(5), 10})},
        {admin::kQueuePath,
         admin::encodeQueueRequest({sync::ReviewState::Received, 10, std::string(201, 'f')})},
        {admin::kExportPath,
         admin::encodeExportRequest({"ips_guidance", static_cast<sync::ExportFormat>(5)})},
        {admin::kExportPath, admin::encodeExportRequest({""})},
        {admin::kExportJobPath, admin::encodeExportJobRequest({"not-a-job", false})},
        {admin::kExportJobPath, admin::encodeExportJobRequest({std::string(32, 'A'), true})},
        {admin::kExportFilePath, admin::encodeExportFileRequest({job, "../collector.db", 0})},
        {admin::kExportFilePath, admin::encodeExportFileRequest({job, "a/b", 0})},
        {admin::kExportFilePath, admin::encodeExportFileRequest({job, "a.csv", -1})},
        {admin::kExportFilePath, admin::encodeExportFileRequest({"x", "a.csv", 0})},
    };
    for (const auto& entry : bad) {
        const auto& path = entry.first;
        const auto& body = entry.second;
        CAPTURE(path);
        CHECK(call(collector, path, body, anna).status == 400);
    }
    for (const char* path : {admin::kFormsPath, admin::kRecordPath, admin::kQueuePath,
                             admin::kExportPath, admin::kExportJobPath, admin::kExportFilePath}) {
        CAPTURE(path);
        // Bytes that are not a message, a truncated message, and nothing at all.
        CHECK(call(collector, path, std::vector<std::uint8_t>(40, 7), anna).status == 400);
        auto truncated = admin::encodeExportRequest({"ips_guidance"});
        truncated.resize(truncated.size() / 2);
        CHECK(call(collector, path, truncated, anna).status == 400);
        CHECK(call(collector, path, {}, anna).status == 400);
    }
    // The collector still serves well-formed requests.
    CHECK(call(collector, admin::kFormsPath, admin::encodeRequest(admin::Request::Forms), anna)
              .status == 200);
}

TEST_CASE("a collector started with an empty --export-dir refuses exports clearly") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    test::publishPilotForms(collector);
    collector.start({"--export-dir", ""});
    const std::string anna = test::addAdmin(collector, "anna");
    const auto refused = call(collector, sync::admin::kExportPath,
                              sync::admin::encodeExportRequest({"ips_guidance"}), anna);
    CHECK(refused.status == 409);
    CHECK(refused.body.find("not enabled") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(collector.exportDir()));
    // Everything else in the admin API works as before.
    CHECK(call(collector, sync::admin::kFormsPath,
               sync::admin::encodeRequest(sync::admin::Request::Forms), anna)
              .status == 200);
}
