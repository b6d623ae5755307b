// The admin API's bodies (schemas/admin.fbs): requests as the collector reads them from staff's
// console (requestKind, then the request's decoder), answers as the console reads them from the
// collector. Every decoder sees every input: each must refuse what is not its message.
#include <veld/form.hpp>
#include <veld/sync/admin_api.hpp>

#include "fuzz.hpp"

namespace veld::fuzz {

using namespace veld::sync;
using namespace veld::sync::admin;

int admin(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> body(data, size);
    const auto kind = requestKind(body);

    // The collector's end.
    if (auto r = decodeReviewRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::Review);
        auto again = decodeReviewRequest(encodeReviewRequest(r.value()));
        FUZZ_CHECK(again.ok() && again->recordId == r->recordId && again->set == r->set &&
                   again->comment == r->comment);
    }
    if (auto r = decodeResolveRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::Resolve);
        auto again = decodeResolveRequest(encodeResolveRequest(r.value()));
        FUZZ_CHECK(again.ok() && again->conflictId == r->conflictId &&
                   again->resolution.kind == r->resolution.kind &&
                   again->resolution.fromB == r->resolution.fromB);
    }
    if (auto r = decodeDecideRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::Decide);
        auto again = decodeDecideRequest(encodeDecideRequest(r.value()));
        FUZZ_CHECK(again.ok() && again->key == r->key && again->decision == r->decision);
    }
    if (auto r = decodeRecordRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::Record);
        auto again = decodeRecordRequest(encodeRecordRequest(r.value()));
        FUZZ_CHECK(again.ok() && again.value() == r.value());
    }
    if (auto r = decodeQueueRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::Queue);
        FUZZ_CHECK(r->limit >= 1 && r->limit <= kMaxQueue);
        auto again = decodeQueueRequest(encodeQueueRequest(r.value()));
        FUZZ_CHECK(again.ok() && again->state == r->state && again->limit == r->limit);
    }
    if (auto r = decodeExportRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::Export);
        auto again = decodeExportRequest(encodeExportRequest(r.value()));
        FUZZ_CHECK(again.ok() && again->formId == r->formId && again->format == r->format &&
                   again->language == r->language);
    }
    if (auto r = decodeExportJobRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::ExportJob);
        auto again = decodeExportJobRequest(encodeExportJobRequest(r.value()));
        FUZZ_CHECK(again.ok() && again->job == r->job && again->discard == r->discard);
    }
    if (auto r = decodeExportFileRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::ExportFile);
        // The collector joins the name to a job's folder: it must not lead out of it.
        FUZZ_CHECK(!r->name.empty() && r->name.find('/') == std::string::npos &&
                   r->name.find("..") == std::string::npos);
        FUZZ_CHECK(r->offset >= 0);
        auto again = decodeExportFileRequest(encodeExportFileRequest(r.value()));
        FUZZ_CHECK(again.ok() && again->job == r->job && again->name == r->name &&
                   again->offset == r->offset);
    }
    if (auto r = decodeCaseConflictsRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::CaseConflicts);
    }
    if (auto r = decodeCaseResolveRequest(body)) {
        FUZZ_CHECK(kind.ok() && kind.value() == Request::CaseResolve);
        auto again = decodeCaseResolveRequest(encodeCaseResolveRequest(r.value()));
        FUZZ_CHECK(again.ok() && again->conflictId == r->conflictId &&
                   again->choice.kind == r->choice.kind && again->choice.value == r->choice.value);
    }
    for (Request study : {Request::StudyBalance, Request::StudyVerify}) {
        if (auto r = decodeStudyRequest(body, study)) {
            FUZZ_CHECK(kind.ok() && kind.value() == study);
            auto again = decodeStudyRequest(encodeStudyRequest(study, r.value()), study);
            FUZZ_CHECK(again.ok() && again.value() == r.value());
        }
    }
    if (kind) {
        switch (kind.value()) {
            case Request::Status:
            case Request::Devices:
            case Request::Conflicts:
            case Request::Duplicates:
            case Request::Forms:
            case Request::Studies:
                FUZZ_CHECK(requestKind(encodeRequest(kind.value())).value() == kind.value());
                break;
            default:
                break;
        }
    }

    // The console's end.
    (void)decodeStatus(body);
    (void)decodeDevices(body);
    (void)decodeReview(body);
    (void)decodeConflicts(body);
    (void)decodeResolved(body);
    (void)decodeDuplicates(body);
    if (auto record = admin::decodeRecord(body)) {
        FUZZ_CHECK(record->current >= -1 &&
                   record->current < static_cast<int>(record->revisions.size()));
    }
    if (auto forms = decodeForms(body)) {
        // The console compiles columns from these.
        for (const auto& f : forms.value())
            (void)veld::forms::checkFormBinary(f.binary, f.formId);
    }
    (void)decodeQueue(body);
    if (auto job = decodeExportJob(body)) {
        // The console writes each file under its name in a folder of its own.
        for (const auto& f : job->files)
            FUZZ_CHECK(!f.name.empty() && f.name.find('/') == std::string::npos &&
                       f.name.find("..") == std::string::npos);
    }
    (void)decodeCaseConflicts(body);
    (void)decodeStudies(body);
    (void)decodeStudyBalance(body);
    (void)decodeStudyVerification(body);
    return 0;
}

}  // namespace veld::fuzz
