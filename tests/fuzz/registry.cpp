#include "fuzz.hpp"

namespace veld::fuzz {

std::span<const Target> targets() {
    static constexpr Target kTargets[] = {
        {"admin", admin, "admin API requests and answers: requestKind and every decoder"},
        {"allocation-slot", allocationSlot, "sealed allocation slots opened with a device key"},
        {"expression", expression, "form expressions parsed and evaluated; regex patterns"},
        {"form-binary", formBinary, "compiled forms checked, loaded and filled in"},
        {"form-json", formJson, "form JSON compiled, checked, described, loaded and filled in"},
        {"key-ring", keyRing, "project key rings parsed, written and unlocked"},
        {"record", record, "record bodies verified, decoded, encoded, sealed and opened"},
        {"records-file", recordsFile, "records files opened, read and exported"},
        {"request", request, "the collector's requests end to end, from raw bytes"},
        {"study-json", studyJson, "study definitions read, written, and their blocks made"},
        {"sync-enrol", syncEnrol, "enrol requests (collector) and answers (device)"},
        {"sync-pull", syncPull, "pull requests (collector) and answers (device)"},
        {"sync-push", syncPush, "push requests (collector) and answers (device)"},
        {"workbook", workbook, "XLSForm workbooks unzipped, read, imported, loaded and filled in"},
    };
    return kTargets;
}

}  // namespace veld::fuzz
