// veld-fuzz-seeds OUTDIR: writes OUTDIR/<target>/<name> seed inputs for every fuzz target, made
// from real data by Veld's own code: the pilots' forms (schemas/forms) and their compiled
// binaries, XLSForm workbooks written by libxlsxwriter, the expressions in them, records filled in
// through form sessions (veldctl's demo records, sealed ones included), sync messages and admin API
// bodies encoded from a collector and a device that did real work (scene.hpp), records files from
// the real writer, the studies in schemas/studies, key rings made by project_key.cpp, and
// allocation slots dealt by the collector.
//
//   veld-fuzz-seeds [--source DIR] OUTDIR
//
// --source is Veld's source tree (default: the tree this program was built from).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include <sodium.h>
#include <zstd.h>

#include <veld/fb/form_generated.h>
#include <veld/hex.hpp>
#include <veld/project_key.hpp>
#include <veld/sync/admin_api.hpp>
#include <veld/sync/export.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/records_file.hpp>
#include <veld/sync/study_json.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"
#include "scene.hpp"
#include "support/sync_support.hpp"

namespace fs = std::filesystem;
using namespace veld;
using namespace veld::fuzz;

namespace {

template <class T>
T need(Result<T> result, const std::string& what) {
    if (!result) throw std::runtime_error(what + ": " + result.error().describe());
    return std::move(result.value());
}

class SeedWriter {
  public:
    explicit SeedWriter(std::string out) : m_out(std::move(out)) {}

    void write(const std::string& target, const std::string& name, std::string_view bytes) {
        const fs::path folder = fs::path(m_out) / target;
        fs::create_directories(folder);
        std::ofstream file(folder / name, std::ios::binary | std::ios::trunc);
        file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!file) throw std::runtime_error("cannot write " + (folder / name).string());
        ++m_counts[target];
    }
    void write(const std::string& target, const std::string& name,
               const std::vector<std::uint8_t>& bytes) {
        write(target, name, asText(bytes.data(), bytes.size()));
    }
    [[nodiscard]] const std::map<std::string, int>& counts() const { return m_counts; }

  private:
    std::string m_out;
    std::map<std::string, int> m_counts;
};

// The `count` smallest of `items` by `size`, in their order.
template <class T, class Size>
std::vector<T> smallest(std::vector<T> items, Size size, std::size_t count) {
    std::vector<std::size_t> order(items.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return size(items[a]) < size(items[b]); });
    order.resize(std::min(count, order.size()));
    std::sort(order.begin(), order.end());
    std::vector<T> out;
    for (std::size_t i : order)
        out.push_back(std::move(items[i]));
    return out;
}

// Every expression and pattern of a form's items, depth first.
void collectExpressions(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items,
                        std::set<std::string>& out) {
    if (!items) return;
    for (const auto* item : *items) {
        for (const auto* text :
             {item->relevance(), item->constraint(), item->calculation(), item->pattern()}) {
            if (text && text->size() > 0) out.insert(text->str());
        }
        collectExpressions(item->children(), out);
    }
}

void formSeeds(const Scene& scene, SeedWriter& seeds) {
    std::set<std::string> expressions;
    for (const auto& [name, json] : scene.formJson)
        seeds.write("form-json", name + ".json", json);
    for (const auto& [name, binary] : scene.formBinary) {
        seeds.write("form-binary", name + ".vfrm", binary);
        const fb::Form* form = fb::GetForm(binary.data());
        collectExpressions(form->items(), expressions);
        const auto* settings = form->settings();
        if (settings && settings->randomisation() && settings->randomisation()->when())
            expressions.insert(settings->randomisation()->when()->str());
    }
    int n = 0;
    for (const auto& e : expressions)
        seeds.write("expression", "expression-" + std::to_string(++n), e);
}

void recordSeeds(const Scene& scene, SeedWriter& seeds) {
    int n = 0;
    for (const auto& body : scene.recordBodies)
        seeds.write("record", "device-record-" + std::to_string(++n), body);
    n = 0;
    for (const auto& entry : scene.heldBack)
        seeds.write("record", "outbox-record-" + std::to_string(++n), entry.body);
}

void syncSeeds(const Scene& scene, SeedWriter& seeds) {
    int n = 0;
    for (const auto& r : scene.enrolRequests)
        seeds.write("sync-enrol", "request-" + std::to_string(++n), sync::encodeEnrolRequest(r));
    n = 0;
    for (const auto& r : scene.enrolReplies)
        seeds.write("sync-enrol", "response-" + std::to_string(++n), sync::encodeEnrolResponse(r));
    n = 0;
    for (const auto& body : scene.pushBodies)
        seeds.write("sync-push", "request-" + std::to_string(++n), body);
    seeds.write("sync-push", "request-held-back",
                sync::encodePushRequest(scene.deviceId, scene.heldBack, 0));
    n = 0;
    for (const auto& r : scene.pushReplies)
        seeds.write("sync-push", "response-" + std::to_string(++n), sync::encodePushResponse(r));
    n = 0;
    for (const auto& r : scene.pullRequests)
        seeds.write("sync-pull", "request-" + std::to_string(++n), sync::encodePullRequest(r));
    n = 0;
    for (auto r : scene.pullReplies) {
        // The first answers carry every pilot form (a third of a megabyte): libFuzzer's corpus
        // of their mutations would outgrow the memory limit, so the seeds keep the smallest.
        r.forms = smallest(
            r.forms, [](const auto& f) { return f.binary.size(); }, 1);
        seeds.write("sync-pull", "response-" + std::to_string(++n), sync::encodePullResponse(r));
    }
}

struct AdminRequest {
    std::string name;
    std::string path;
    std::vector<std::uint8_t> body;
};

// Every admin request, naming what the scene's collector holds.
std::vector<AdminRequest> adminRequests(Scene& scene) {
    namespace admin = sync::admin;
    sync::CollectorStore& collector = *scene.collector;
    std::vector<AdminRequest> out;
    for (auto [kind, name, path] :
         {std::tuple{admin::Request::Status, "status", admin::kStatusPath},
          {admin::Request::Devices, "devices", admin::kDevicesPath},
          {admin::Request::Conflicts, "conflicts", admin::kConflictsPath},
          {admin::Request::Duplicates, "duplicates", admin::kDuplicatesPath},
          {admin::Request::Forms, "forms", admin::kFormsPath},
          {admin::Request::Studies, "studies", admin::kStudiesPath}})
        out.push_back({name, path, admin::encodeRequest(kind)});
    const auto ids = need(collector.recordIds(), "record ids");
    const Uuid record = ids.empty() ? scene.conflictRecord : ids.front();
    out.push_back({"review-read", admin::kReviewPath,
                   admin::encodeReviewRequest({record, std::nullopt, ""})});
    out.push_back(
        {"review-set", admin::kReviewPath,
         admin::encodeReviewRequest({record, sync::ReviewState::HasIssues, "please check"})});
    const auto conflicts = need(collector.conflicts(), "conflicts");
    const std::int64_t conflict = conflicts.empty() ? 1 : conflicts.front().id;
    sync::ConflictResolution merge;
    merge.kind = sync::ConflictResolution::Kind::Merge;
    merge.comment = "merged";
    if (auto current = need(collector.current(scene.conflictRecord), "the current revision")) {
        if (auto decoded = decodeRecord(current->body)) {
            for (const auto& a : decoded->content.answers) {
                if (merge.fromB.size() < 2) merge.fromB.push_back(a.name);
            }
        }
    }
    out.push_back(
        {"resolve-merge", admin::kResolvePath, admin::encodeResolveRequest({conflict, merge})});
    out.push_back({"resolve-close", admin::kResolvePath,
                   admin::encodeResolveRequest(
                       {conflict, {sync::ConflictResolution::Kind::Close, {}, "checked"}})});
    const auto duplicates = need(collector.duplicates(), "duplicates");
    out.push_back(
        {"decide", admin::kDecidePath,
         admin::encodeDecideRequest({duplicates.empty() ? std::string(64, 'a') : duplicates[0].key,
                                     sync::DuplicateDecision::DifferentPeople, "twins"})});
    out.push_back({"record", admin::kRecordPath, admin::encodeRecordRequest(scene.conflictRecord)});
    out.push_back(
        {"queue", admin::kQueuePath, admin::encodeQueueRequest({sync::ReviewState::Received, 50})});
    std::string formId;
    for (const auto& [name, binary] : scene.formBinary) {
        sync::RecordQuery q;
        q.formId = fb::GetForm(binary.data())->id()->str();
        if (need(collector.countRecords(q), "a count") > 0) formId = q.formId;
    }
    admin::ExportRequest exportCsv;
    exportCsv.formId = formId;
    exportCsv.language = "nl";
    exportCsv.filter.review = sync::ReviewState::Received;
    out.push_back({"export-csv", admin::kExportPath, admin::encodeExportRequest(exportCsv)});
    admin::ExportRequest exportRecords;
    exportRecords.formId = formId;
    exportRecords.format = sync::ExportFormat::Records;
    out.push_back(
        {"export-records", admin::kExportPath, admin::encodeExportRequest(exportRecords)});
    const std::string job = "0123456789abcdef0123456789abcdef";
    out.push_back(
        {"export-job", admin::kExportJobPath, admin::encodeExportJobRequest({job, false})});
    out.push_back(
        {"export-job-discard", admin::kExportJobPath, admin::encodeExportJobRequest({job, true})});
    out.push_back({"export-file", admin::kExportFilePath,
                   admin::encodeExportFileRequest({job, formId + ".csv", 0})});
    out.push_back(
        {"case-conflicts", admin::kCaseConflictsPath, admin::encodeCaseConflictsRequest(true)});
    const auto caseConflicts = need(collector.caseConflicts(true), "case conflicts");
    out.push_back(
        {"case-resolve", admin::kCaseResolvePath,
         admin::encodeCaseResolveRequest({caseConflicts.empty() ? 1 : caseConflicts.front().id,
                                          {sync::CaseChoice::Kind::Value, "utrecht"},
                                          "called the office"})});
    for (const auto& study : scene.studies) {
        out.push_back({"balance-" + study.study.id, admin::kStudyBalancePath,
                       admin::encodeStudyRequest(admin::Request::StudyBalance, study.study.id)});
        out.push_back({"verify-" + study.study.id, admin::kStudyVerifyPath,
                       admin::encodeStudyRequest(admin::Request::StudyVerify, study.study.id)});
    }
    return out;
}

// Whole requests as a device, a console or a monitor sends them to the collector, with the
// scene's real credentials and enrolment code (the request target's collector has the same).
void requestSeeds(Scene& scene, SeedWriter& seeds) {
    using test::postBytes;
    using test::protocolHeaders;
    const auto write = [&](const std::string& name, const std::string& bytes) {
        seeds.write("request", name, bytes);
    };
    // The same, compressed as the uploader sends large bodies.
    const auto zstd = [](const std::vector<std::uint8_t>& body) {
        std::string out(ZSTD_compressBound(body.size()), '\0');
        const std::size_t n = ZSTD_compress(out.data(), out.size(), body.data(), body.size(), 3);
        if (ZSTD_isError(n)) throw std::runtime_error("zstd failed");
        out.resize(n);
        return out;
    };
    const auto keepAlive = [](std::string request) {
        const std::string close = "Connection: close";
        request.replace(request.find(close), close.size(), "Connection: keep-alive");
        return request;
    };

    sync::EnrolRequest enrol;
    enrol.code = scene.spareCode;
    enrol.deviceId = scene.spareDeviceId;
    write("enrol", postBytes(sync::kEnrolPath, sync::encodeEnrolRequest(enrol), protocolHeaders()));
    sync::EnrolRequest again = scene.enrolRequests.front();
    again.code = scene.spareCode;
    again.previousCredential = scene.deviceCredential;
    write("enrol-again",
          postBytes(sync::kEnrolPath, sync::encodeEnrolRequest(again), protocolHeaders()));

    const auto device = protocolHeaders(scene.deviceCredential);
    const std::size_t batch = std::min<std::size_t>(scene.heldBack.size(), 8);
    const auto push = sync::encodePushRequest(
        scene.deviceId, std::span<const OutboxEntry>(scene.heldBack.data(), batch),
        static_cast<std::int64_t>(scene.heldBack.size() - batch));
    write("push", postBytes(sync::kPushPath, push, device));
    auto compressed = device;
    compressed.emplace_back("Content-Encoding", "zstd");
    compressed.emplace_back("Accept-Encoding", "zstd");
    write("push-zstd", postBytes(sync::kPushPath, zstd(push), compressed));
    write("push-resend", postBytes(sync::kPushPath, scene.pushBodies.front(), device));
    int n = 0;
    for (const auto& pull : scene.pullRequests) {
        const bool slots = !pull.deviceBoxKey.empty() &&
                           std::equal(pull.deviceBoxKey.begin(), pull.deviceBoxKey.end(),
                                      deviceBoxKeys().publicKey.begin());
        write("pull-" + std::to_string(++n),
              postBytes(
                  sync::kPullPath, sync::encodePullRequest(pull),
                  protocolHeaders(slots ? scene.slotDeviceCredential : scene.deviceCredential)));
    }
    write("health", "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");

    const test::Headers staff{{"Content-Type", sync::admin::kContentType},
                              {"Authorization", "Bearer " + scene.adminCredential}};
    std::string statusRequest;
    for (const auto& r : adminRequests(scene)) {
        write("admin-" + r.name, postBytes(r.path, r.body, staff));
        if (r.name == "status") statusRequest = postBytes(r.path, r.body, staff);
    }
    // Two requests on one connection: a device's round, and a console's polling.
    write(
        "keep-alive-round",
        keepAlive(postBytes(sync::kPushPath, push, device)) +
            postBytes(sync::kPullPath, sync::encodePullRequest(scene.pullRequests.back()), device));
    write("keep-alive-console", keepAlive(statusRequest) + statusRequest);
}

void adminSeeds(Scene& scene, SeedWriter& seeds) {
    namespace admin = sync::admin;
    sync::CollectorStore& collector = *scene.collector;
    const auto write = [&](const std::string& name, const std::vector<std::uint8_t>& body) {
        seeds.write("admin", name, body);
    };
    for (const auto& r : adminRequests(scene))
        write("request-" + r.name, r.body);

    const auto ids = need(collector.recordIds(), "record ids");
    write("answer-status",
          admin::encodeStatus({need(collector.collectorId(), "the collector id"),
                               need(collector.stats(), "stats"),
                               need(collector.recordsPerDay(), "records per day")}));
    write("answer-devices", admin::encodeDevices(need(collector.devices(), "devices")));
    if (!ids.empty())
        write("answer-review", admin::encodeReview(need(collector.review(ids[0]), "a review")));
    const auto conflicts = need(collector.conflicts(), "conflicts");
    write("answer-conflicts", admin::encodeConflicts(conflicts));
    write("answer-duplicates", admin::encodeDuplicates(need(collector.duplicates(), "dups")));
    {
        admin::RecordDetail detail;
        detail.revisions = need(collector.revisionsOf(scene.conflictRecord), "revisions");
        const auto current = need(collector.current(scene.conflictRecord), "the current one");
        for (std::size_t i = 0; i < detail.revisions.size(); ++i) {
            if (current && current->hlc == detail.revisions[i].hlc &&
                current->deviceId == detail.revisions[i].deviceId)
                detail.current = static_cast<int>(i);
        }
        detail.review = need(collector.review(scene.conflictRecord), "a review");
        write("answer-record", admin::encodeRecord(detail));
    }
    write("answer-forms", admin::encodeForms(smallest(
                              need(collector.publishedForms(), "forms"),
                              [](const auto& f) { return f.binary.size(); }, 2)));
    write("answer-queue", admin::encodeQueue(need(
                              collector.reviewQueue(sync::ReviewState::Received, 50, {}), "q")));
    write("answer-case-conflicts",
          admin::encodeCaseConflicts(need(collector.caseConflicts(true), "case conflicts")));
    write("answer-studies", admin::encodeStudies(need(collector.studies(), "studies")));
    for (const auto& study : scene.studies) {
        const std::string& id = study.study.id;
        write("answer-balance-" + id,
              admin::encodeStudyBalance(need(collector.balance(id), "a balance")));
        write("answer-verification-" + id,
              admin::encodeStudyVerification(need(collector.verifyAllocations(id), "a check")));
    }

    // An export job as the collector reports a finished one, from a real export.
    {
        test::TempDir out;
        sync::ExportOptions options;
        options.formId = scene.formBinary.begin()->first;
        options.directory = out.path();
        for (const auto& [name, binary] : scene.formBinary) {
            sync::RecordQuery q;
            q.formId = fb::GetForm(binary.data())->id()->str();
            if (need(collector.countRecords(q), "a count") > 0) {
                options.formId = q.formId;
                break;
            }
        }
        const auto result = need(sync::exportForm(collector, options), "an export");
        admin::ExportJob job;
        job.job = "0123456789abcdef0123456789abcdef";
        job.state = admin::ExportJob::State::Done;
        job.done = job.total = job.records = result.records;
        job.unreadable = result.unreadable;
        job.sealedUnopened = result.sealedUnopened;
        for (const auto& f : result.files)
            job.files.push_back(
                {fs::path(f).filename().string(), static_cast<std::int64_t>(fs::file_size(f))});
        write("answer-export-job", admin::encodeExportJob(job));
    }
    // Settling the conflict last: its answer.
    if (!conflicts.empty()) {
        sync::ConflictResolution keep;
        keep.kind = sync::ConflictResolution::Kind::KeepB;
        keep.comment = "the second device's answers";
        const auto resolved =
            need(collector.resolveConflict(conflicts[0].id, keep, Scene::kNowMs, "admin:fuzz"),
                 "resolve");
        write("answer-resolved", admin::encodeResolved({resolved.recordId, resolved.hlc}));
    }
}

constexpr std::size_t kMaxRecordsFileSeed = 48 * 1024;

void recordsFileSeeds(Scene& scene, SeedWriter& seeds) {
    sync::CollectorExportSource source(*scene.collector);
    test::TempDir out;
    std::set<std::string> done;
    for (const auto& [name, binary] : scene.formBinary) {
        const std::string formId = fb::GetForm(binary.data())->id()->str();
        if (!done.insert(formId).second) continue;
        sync::RecordQuery query;
        query.formId = formId;
        if (need(scene.collector->countRecords(query), "a count") == 0) continue;
        sync::ExportOptions options;
        options.formId = formId;
        options.format = sync::ExportFormat::Records;
        options.directory = out.path();
        const auto result = need(sync::writeRecordsFile(source, options), "a records file");
        // As for pulls: the largest files would make a corpus beyond the memory limit.
        const std::string bytes = test::readFile(result.files.at(0));
        if (bytes.size() <= kMaxRecordsFileSeed)
            seeds.write("records-file", formId + ".records", bytes);
    }
}

void studySeeds(const std::string& sourceDir, Scene& scene, SeedWriter& seeds) {
    for (const auto& e : fs::directory_iterator(sourceDir + "/schemas/studies")) {
        if (e.path().extension() == ".json")
            seeds.write("study-json", e.path().filename().string(), test::readFile(e.path()));
    }
    for (const auto& study : scene.studies) {
        sync::StudyDefinition withSeed = study;
        withSeed.study.seed =
            need(scene.collector->studySeed(study.study.id, Scene::kNowMs, "admin:fuzz"), "a seed");
        withSeed.seedGiven = true;
        seeds.write("study-json", study.study.id + "-canonical.json",
                    sync::studyJson(withSeed, true));
    }
}

// A ring of two keys as `veldctl keys new` makes them (at the interactive cost), and the same
// keys locked again at the least cost Argon2id takes, so that the key-ring target, which only
// unlocks keys that cheap, sees rings that open.
void keyRingSeeds(SeedWriter& seeds) {
    std::vector<projectkey::LockedKey> ring;
    for (const char* id : {"project-2025", "project-2026"}) {
        ring.push_back(need(projectkey::create(id, kRingPassphrase, Scene::kNowMs,
                                               projectkey::Strength::Interactive),
                            "a project key"));
    }
    seeds.write("key-ring", "ring-interactive", projectkey::formatRing(ring));
    std::vector<projectkey::LockedKey> cheap = ring;
    for (auto& key : cheap) {
        const auto secret = need(projectkey::unlock(key, kRingPassphrase), "unlocking a key");
        key.opsLimit = crypto_pwhash_OPSLIMIT_MIN;
        key.memLimit = crypto_pwhash_MEMLIMIT_MIN;
        std::array<std::uint8_t, crypto_secretbox_KEYBYTES> lock{};
        if (crypto_pwhash(lock.data(), lock.size(), kRingPassphrase.data(), kRingPassphrase.size(),
                          key.salt.data(), key.opsLimit, static_cast<std::size_t>(key.memLimit),
                          crypto_pwhash_ALG_ARGON2ID13) != 0)
            throw std::runtime_error("Argon2id failed");
        key.lockedSecret.resize(secret.secretBytes().size() + crypto_secretbox_MACBYTES);
        crypto_secretbox_easy(key.lockedSecret.data(), secret.secretBytes().data(),
                              secret.secretBytes().size(), key.nonce.data(), lock.data());
        need(projectkey::unlock(key, kRingPassphrase), "unlocking a cheap key");
    }
    seeds.write("key-ring", "ring-least-cost", projectkey::formatRing(cheap));
    seeds.write("key-ring", "ring-one-key",
                projectkey::formatRing({cheap.front()}) + "# a comment\n\n");
}

// Slots the collector dealt to the device that said the fixed box key, sealed and opened.
void slotSeeds(const Scene& scene, SeedWriter& seeds) {
    const auto& keys = deviceBoxKeys();
    int n = 0;
    for (const auto& reply : scene.pullReplies) {
        for (const auto& block : reply.blocks) {
            for (const auto& slot : block.slots) {
                std::vector<std::uint8_t> plain(slot.box.size() - crypto_box_SEALBYTES);
                if (crypto_box_seal_open(plain.data(), slot.box.data(), slot.box.size(),
                                         keys.publicKey.data(), keys.secretKey.data()) != 0)
                    continue;  // the field device's own slots
                if (n >= 12) return;
                ++n;
                seeds.write("allocation-slot", "sealed-" + std::to_string(n), slot.box);
                seeds.write("allocation-slot", "opened-" + std::to_string(n), plain);
            }
        }
    }
    if (n == 0) throw std::runtime_error("the collector dealt no slots to the slot device");
}

}  // namespace

int main(int argc, char** argv) {
    std::string source = sourceDir();
    std::string out;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--source" && i + 1 < argc) {
            source = argv[++i];
        } else if (a == "--help" || a == "-h") {
            std::printf("usage: veld-fuzz-seeds [--source DIR] OUTDIR\n");
            return 0;
        } else if (out.empty() && !a.empty() && a[0] != '-') {
            out = a;
        } else {
            std::fprintf(stderr, "usage: veld-fuzz-seeds [--source DIR] OUTDIR\n");
            return 2;
        }
    }
    if (out.empty()) {
        std::fprintf(stderr, "usage: veld-fuzz-seeds [--source DIR] OUTDIR\n");
        return 2;
    }
    try {
        SeedWriter seeds(out);
        auto scene = Scene::make(source);
        formSeeds(*scene, seeds);
        recordSeeds(*scene, seeds);
        syncSeeds(*scene, seeds);
        requestSeeds(*scene, seeds);
        adminSeeds(*scene, seeds);
        recordsFileSeeds(*scene, seeds);
        studySeeds(source, *scene, seeds);
        for (const auto& [name, bytes] : workbookSeeds())
            seeds.write("workbook", name, bytes);
        keyRingSeeds(seeds);
        slotSeeds(*scene, seeds);
        for (const auto& t : targets()) {
            if (!seeds.counts().count(std::string(t.name)))
                throw std::runtime_error("no seeds for " + std::string(t.name));
        }
        for (const auto& [target, count] : seeds.counts())
            std::printf("%-16s %4d seeds\n", target.c_str(), count);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "veld-fuzz-seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
