// What a device does with the collector's answers, written once for every way they arrive: over
// the network (the uploader) and in a reply bundle from a USB stick (device_bundle.hpp).
//
// Thread-safety: as the Store passed in (one thread at a time per Store). Errors are values;
// nothing here logs.
#pragma once

#include <cstdint>
#include <string>

#include <veld/result.hpp>
#include <veld/store.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/uploader.hpp>

namespace veld::sync {

/// A device setting's text; empty when it is not set or cannot be read.
std::string settingText(Store& store, std::string_view key);
/// A device setting that holds a number (a cursor, a bundle number); 0 when it is not set.
std::uint64_t settingNumber(Store& store, std::string_view key);

/// Keeps what an enrolment handed out in the store's settings: the credential, the collector's
/// id and key, the pseudonym key and the project key. `collector` (the address), `caFile` and
/// `allowPlainHttp` are kept too when `collector` is not empty (an enrolment by file has no
/// address). Corrupt, with nothing kept, for an unusable pseudonym key. The caller makes it one
/// transaction (Store::beginBatch).
Status keepEnrolment(Store& store, const EnrolReply& reply, const std::string& collector = {},
                     const std::string& caFile = {}, bool allowPlainHttp = false);

/// Through which outbox number a push reply lets the device drop revisions, for a batch that
/// carried `firstSent`..`lastSent`: only what was sent and is held by the collector. WrongState
/// when the collector took none of the batch.
Result<std::uint64_t> acknowledgedThrough(const PushReply& reply, std::uint64_t firstSent,
                                          std::uint64_t lastSent);

/// Checks the collector's signed receipt for a push before anything of it is acknowledged: signed
/// with the key the device keeps, made for this device, saying what the reply says, and naming
/// the very bytes the device sent (`sent`) for every revision it covers. Fills `kept` (status and
/// why) and does not write. No receipt (an older collector), or no collector key kept yet, is
/// no failure. Refused when it does not verify: nothing of the batch may be marked as sent.
Status checkReceipt(Store& store, const std::vector<OutboxEntry>& sent, const PushReply& reply,
                    KeptReceipt& kept);

/// How checkReceipt's error begins (to tell it apart).
inline constexpr std::string_view kReceiptRefusedError = "the collector's receipt was refused";

/// The sync failures a field worker is told about in their own language (the error's words
/// follow as details); Other for the rest.
enum class SyncProblem { Other, CollectorKeyChanged, ReceiptRefused };
SyncProblem syncProblem(std::string_view errorMessage);

/// checkReceipt, and keeps the receipt in the store (a refused one too, with its reason, as the
/// failure it is; `veldctl store receipts`). `sent` is not empty.
Status checkAndKeepReceipt(Store& store, const std::vector<OutboxEntry>& sent,
                           const PushReply& reply);

/// The pull request the device sends: its cursors, its box key (made when missing) and, with
/// `withStock`, what it has left per stratum (said only on a round's first request).
Result<PullRequest> pullRequestFor(Store& store, bool withStock = true);

/// Applies one pull answer: keeps the collector's key (refusing, WrongState, another key than
/// the one kept: nothing of the answer is used then), installs its forms (one the device cannot use
/// is skipped), keeps a new project key, the studies, the cases and the allocation blocks, then
/// moves the cursors (in `request` and the settings) only after what they cover is stored. Counts
/// into `progress`.
Status applyPullReply(Store& store, PullReply& reply, PullRequest& request, Progress& progress);

}  // namespace veld::sync
