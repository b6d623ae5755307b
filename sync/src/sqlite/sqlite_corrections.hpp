// Internal to the SQLite store: corrections (records staff sent back to the field), used by the
// review domain (setReview), intake (a correcting revision) and pull. Every function runs with
// ctx.mutex held, inside the caller's transaction.
#pragma once

#include <optional>

#include <veld/sync/collector_store.hpp>

#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

/// Staff set the record's review to `state`: opens its correction (HasIssues) or withdraws an
/// open one (Approved, Rejected), each with a new change number.
Status reviewChangesCorrection(SqliteContext& ctx, const Uuid& recordId, ReviewState state,
                               const std::string& comment, std::int64_t nowMs);

/// A device's revision was stored: when it corrects the record's open correction, the
/// correction and the review become Corrected (history kept, audited).
Status noteCorrectingRevision(SqliteContext& ctx, const Uuid& deviceId, const PushRevision& rev,
                              std::int64_t nowMs);

/// The correction part of a pull: the corrections of the device (named, or through a case
/// assigned to it or its team) changed after its correction cursor.
Status pullCorrections(SqliteContext& ctx, const Uuid& deviceId, const std::string& team,
                       const PullRequest& request, PullReply& reply);

Result<std::optional<CorrectionInfo>> readCorrection(SqliteContext& ctx, const Uuid& recordId);

}  // namespace veld::sync::sqlite
