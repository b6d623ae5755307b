#include "store_tables.hpp"

#include <array>

namespace veld::sync::tables {

namespace {

using K = Kind;
constexpr bool N = true;   // nullable
constexpr bool R = false;  // required (NOT NULL)

constexpr Column kMeta[] = {{"key", K::Text, R}, {"value", K::Any, N}};
constexpr std::string_view kMetaKey[] = {"key"};

constexpr Column kEnrolCodes[] = {
    {"code_hash", K::Bytes, R},        {"label", K::Text, R},
    {"created_utc_ms", K::Integer, R}, {"expires_utc_ms", K::Integer, R},
    {"used_utc_ms", K::Integer, N},    {"used_by", K::Bytes, N},
    {"for_device", K::Bytes, N}};
constexpr std::string_view kEnrolCodesKey[] = {"code_hash"};

constexpr Column kDevices[] = {{"device_id", K::Bytes, R},
                               {"label", K::Text, R},
                               {"credential_hash", K::Bytes, R},
                               {"public_key", K::Bytes, N},
                               {"enrolled_utc_ms", K::Integer, R},
                               {"revoked_utc_ms", K::Integer, N},
                               {"received_through", K::Integer, R},
                               {"last_contact_utc_ms", K::Integer, N},
                               {"waiting", K::Integer, N},
                               {"team", K::Text, R},
                               {"box_key", K::Bytes, N}};
constexpr std::string_view kDevicesKey[] = {"device_id"};

constexpr Column kRevisions[] = {{"rid", K::Integer, R},
                                 {"device_id", K::Bytes, R},
                                 {"seq", K::Integer, R},
                                 {"record_id", K::Bytes, R},
                                 {"hlc", K::Integer, R},
                                 {"base_hlc", K::Integer, R},
                                 {"form_id", K::Text, R},
                                 {"form_version", K::Integer, R},
                                 {"body", K::Bytes, N},
                                 {"damaged", K::Integer, R},
                                 {"damage_reason", K::Text, N},
                                 {"clock_flagged", K::Integer, R},
                                 {"received_utc_ms", K::Integer, R},
                                 {"chain_prev", K::Bytes, N},
                                 {"chain_link", K::Bytes, N},
                                 {"chain_note", K::Text, N}};
constexpr std::string_view kRidKey[] = {"rid"};

constexpr Column kRejected[] = {{"device_id", K::Bytes, R}, {"seq", K::Integer, R},
                                {"record_id", K::Bytes, R}, {"reason", K::Text, R},
                                {"body", K::Bytes, N},      {"received_utc_ms", K::Integer, R}};
constexpr std::string_view kRejectedKey[] = {"device_id", "seq"};

constexpr Column kRecords[] = {{"record_id", K::Bytes, R},
                               {"current_rid", K::Integer, R},
                               {"hlc", K::Integer, R},
                               {"first_device", K::Bytes, R},
                               {"form_id", K::Text, R}};
constexpr std::string_view kRecordKey[] = {"record_id"};

constexpr Column kConflicts[] = {{"cid", K::Integer, R},
                                 {"record_id", K::Bytes, R},
                                 {"rid_a", K::Integer, R},
                                 {"rid_b", K::Integer, R},
                                 {"detected_utc_ms", K::Integer, R},
                                 {"resolved_utc_ms", K::Integer, N},
                                 {"resolution", K::Text, N}};
constexpr std::string_view kCidKey[] = {"cid"};

constexpr Column kForms[] = {{"pub_seq", K::Integer, R}, {"form_id", K::Text, R},
                             {"version", K::Integer, R}, {"pilot", K::Text, R},
                             {"binary", K::Bytes, R},    {"published_utc_ms", K::Integer, R}};
constexpr std::string_view kFormsKey[] = {"pub_seq"};

constexpr Column kAudit[] = {{"aid", K::Integer, R},  {"utc_ms", K::Integer, R},
                             {"actor", K::Text, R},   {"action", K::Text, R},
                             {"subject", K::Text, R}, {"detail", K::Text, R}};
constexpr std::string_view kAidKey[] = {"aid"};

constexpr Column kReviews[] = {{"record_id", K::Bytes, R},
                               {"state", K::Integer, R},
                               {"changed_utc_ms", K::Integer, R},
                               {"changed_by", K::Text, R}};

constexpr Column kReviewHistory[] = {{"hid", K::Integer, R},         {"record_id", K::Bytes, R},
                                     {"state", K::Integer, R},       {"comment", K::Text, R},
                                     {"utc_ms", K::Integer, R},      {"actor", K::Text, R},
                                     {"revision_hlc", K::Integer, R}};
constexpr std::string_view kHidKey[] = {"hid"};

constexpr Column kDuplicateDecisions[] = {{"group_key", K::Bytes, R},
                                          {"decision", K::Integer, R},
                                          {"comment", K::Text, R},
                                          {"utc_ms", K::Integer, R},
                                          {"actor", K::Text, R}};
constexpr std::string_view kGroupKey[] = {"group_key"};

constexpr Column kAdmins[] = {{"name", K::Text, R},
                              {"credential_hash", K::Bytes, R},
                              {"created_utc_ms", K::Integer, R},
                              {"revoked_utc_ms", K::Integer, N}};
constexpr std::string_view kNameKey[] = {"name"};

constexpr Column kCases[] = {{"case_id", K::Bytes, R},
                             {"case_type", K::Text, R},
                             {"pseudonym", K::Text, R},
                             {"opened_device", K::Bytes, N},
                             {"assigned_device", K::Bytes, N},
                             {"assigned_team", K::Text, R},
                             {"last_contact_utc_ms", K::Integer, N},
                             {"change_seq", K::Integer, R}};
constexpr std::string_view kCaseKey[] = {"case_id"};

constexpr Column kCaseHolders[] = {
    {"case_id", K::Bytes, R}, {"device_id", K::Bytes, R}, {"released_seq", K::Integer, N}};
constexpr std::string_view kCaseHoldersKey[] = {"case_id", "device_id"};

constexpr Column kCaseProperties[] = {{"case_id", K::Bytes, R},    {"name", K::Text, R},
                                      {"value", K::Text, R},       {"hlc", K::Integer, R},
                                      {"base_hlc", K::Integer, R}, {"device_id", K::Bytes, R},
                                      {"rid", K::Integer, N}};
constexpr std::string_view kCasePropertiesKey[] = {"case_id", "name"};

constexpr Column kCaseConflicts[] = {{"cid", K::Integer, R},
                                     {"case_id", K::Bytes, R},
                                     {"name", K::Text, R},
                                     {"value_a", K::Text, R},
                                     {"hlc_a", K::Integer, R},
                                     {"device_a", K::Bytes, R},
                                     {"value_b", K::Text, R},
                                     {"hlc_b", K::Integer, R},
                                     {"device_b", K::Bytes, R},
                                     {"detected_utc_ms", K::Integer, R},
                                     {"resolved_utc_ms", K::Integer, N},
                                     {"resolution", K::Text, N},
                                     {"resolved_by", K::Text, N}};

constexpr Column kStudies[] = {{"id", K::Text, R},
                               {"pilot", K::Text, R},
                               {"definition", K::Text, R},
                               {"seed", K::Bytes, R},
                               {"created_utc_ms", K::Integer, R}};
constexpr std::string_view kIdKey[] = {"id"};

constexpr Column kStudyBlocks[] = {
    {"study", K::Text, R},      {"stratum", K::Text, R},       {"block", K::Integer, R},
    {"device_id", K::Bytes, R}, {"assign_seq", K::Integer, R}, {"assigned_utc_ms", K::Integer, R}};
constexpr std::string_view kStudyBlocksKey[] = {"study", "stratum", "block"};

constexpr Column kAllocations[] = {
    {"aid", K::Integer, R},          {"study", K::Text, R},
    {"stratum", K::Text, R},         {"block", K::Integer, R},
    {"position", K::Integer, R},     {"arm", K::Text, R},
    {"token", K::Bytes, N},          {"device_id", K::Bytes, R},
    {"log_seq", K::Integer, R},      {"case_id", K::Bytes, N},
    {"record_id", K::Bytes, R},      {"rid", K::Integer, N},
    {"taken_utc_ms", K::Integer, N}, {"received_utc_ms", K::Integer, R}};

constexpr Column kCorrections[] = {
    {"record_id", K::Bytes, R}, {"seq", K::Integer, R},           {"state", K::Integer, R},
    {"comment", K::Text, R},    {"review_utc_ms", K::Integer, R}, {"about_hlc", K::Integer, R},
    {"case_id", K::Bytes, N},   {"sealed", K::Integer, R},        {"corrected_hlc", K::Integer, R}};

constexpr Column kCorrectionDevices[] = {{"record_id", K::Bytes, R}, {"device_id", K::Bytes, R}};
constexpr std::string_view kCorrectionDevicesKey[] = {"record_id", "device_id"};
constexpr Column kWebhooks[] = {{"hook_id", K::Integer, R}, {"url", K::Text, R},
                                {"events", K::Text, R},     {"data_forms", K::Text, R},
                                {"secret", K::Text, R},     {"created_utc_ms", K::Integer, R},
                                {"created_by", K::Text, R}};
constexpr std::string_view kHookKey[] = {"hook_id"};

constexpr Column kWebhookDeliveries[] = {{"did", K::Integer, R},
                                         {"hook_id", K::Integer, R},
                                         {"event_id", K::Text, R},
                                         {"event_type", K::Text, R},
                                         {"record_id", K::Bytes, N},
                                         {"payload", K::Text, R},
                                         {"created_utc_ms", K::Integer, R},
                                         {"state", K::Integer, R},
                                         {"attempts", K::Integer, R},
                                         {"next_attempt_utc_ms", K::Integer, R},
                                         {"lease_owner", K::Text, R},
                                         {"lease_until_utc_ms", K::Integer, R},
                                         {"last_attempt_utc_ms", K::Integer, N},
                                         {"last_status", K::Integer, N},
                                         {"last_error", K::Text, R},
                                         {"delivered_utc_ms", K::Integer, N}};
constexpr std::string_view kDidKey[] = {"did"};

const Table kTables[] = {
    {"meta", kMeta, kMetaKey, ""},
    {"enrol_codes", kEnrolCodes, kEnrolCodesKey, ""},
    {"devices", kDevices, kDevicesKey, ""},
    {"revisions", kRevisions, kRidKey, "rid"},
    {"rejected", kRejected, kRejectedKey, ""},
    {"records", kRecords, kRecordKey, ""},
    {"conflicts", kConflicts, kCidKey, "cid"},
    {"forms", kForms, kFormsKey, "pub_seq"},
    {"audit", kAudit, kAidKey, "aid"},
    {"reviews", kReviews, kRecordKey, ""},
    {"review_history", kReviewHistory, kHidKey, "hid"},
    {"duplicate_decisions", kDuplicateDecisions, kGroupKey, ""},
    {"admins", kAdmins, kNameKey, ""},
    {"cases", kCases, kCaseKey, ""},
    {"case_holders", kCaseHolders, kCaseHoldersKey, ""},
    {"case_properties", kCaseProperties, kCasePropertiesKey, ""},
    {"case_conflicts", kCaseConflicts, kCidKey, "cid"},
    {"studies", kStudies, kIdKey, ""},
    {"study_blocks", kStudyBlocks, kStudyBlocksKey, ""},
    {"allocations", kAllocations, kAidKey, "aid"},
    {"corrections", kCorrections, kRecordKey, ""},
    {"correction_devices", kCorrectionDevices, kCorrectionDevicesKey, ""},
    {"webhooks", kWebhooks, kHookKey, "hook_id"},
    {"webhook_deliveries", kWebhookDeliveries, kDidKey, "did"},
};

}  // namespace

std::span<const Table> collectorTables() {
    return kTables;
}

const Table* findTable(std::string_view name) {
    for (const auto& t : kTables) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

std::string quoted(std::string_view name) {
    return "\"" + std::string(name) + "\"";
}

std::string columnList(const Table& table) {
    std::string out;
    for (const auto& c : table.columns) {
        if (!out.empty()) out += ", ";
        out += quoted(c.name);
    }
    return out;
}

bool marksStoreInUse(const Table& table) {
    return table.name != "meta";
}

}  // namespace veld::sync::tables
