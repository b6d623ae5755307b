// veldctl: the command-line tool for central staff and developers.
//
// Exit codes: 0 ok, 1 the command failed (the store is damaged, a record is missing, ...),
// 2 usage error (unknown command or option). Errors go to `err`; results to `out`. Participants'
// answers are never printed: `store show` prints the shape of a record, not its values.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/project_key.hpp>
#include <veld/result.hpp>

namespace veld::sync {
class CollectorStore;
}

namespace veld::veldctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

/// Runs veldctl with the arguments after the program name.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// One function per command group.
int storeCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int formCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int enrolCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int syncCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int collectorCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int keysCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int exportCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int studyCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int caseCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `collector backup` and `collector restore` (args[0] is the subcommand).
int collectorBackupCommand(const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err);
/// `collector copy` (args[0] is "copy").
int collectorCopyCommand(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err);
/// `collector verify-chain` (args[0] is "verify-chain").
int collectorChainCommand(const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err);
/// `collector webhook ...` (args[0] is "webhook").
int collectorWebhookCommand(const std::vector<std::string>& args, std::ostream& out,
                            std::ostream& err);
int kioskCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// veldctl collector provision (its arguments after "provision").
int provisionCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int agentCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// veldctl bundle: sync by file, the device's side.
int bundleCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// Outbox numbers first..last as "3..7", or "none" for 0..0 (bundle_commands.cpp).
std::string seqRange(std::uint64_t first, std::uint64_t last);
/// veldctl collector import (its arguments after "import").
int collectorImportCommand(const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err);

/// Opens the collector's store at `location`: an SQLite file or a `postgresql://` database (its
/// password from the file given with the global --store-password-file, else as libpq finds it).
/// Why it failed goes to `err` as "veldctl COMMAND: ...".
Result<std::unique_ptr<sync::CollectorStore>> openCollectorStore(const std::string& location,
                                                                 bool create,
                                                                 std::string_view command,
                                                                 std::ostream& err);

/// The file given with the global --store-password-file ("" when none).
const std::string& storePasswordFileOption();
void setStorePasswordFile(std::string file);

/// Who a change made with veldctl is audited as: "veldctl:USER".
std::string commandActor();

/// The public key ("KEYID:HEX") of key `id` in a project key ring, or of its newest key when
/// `id` is empty. No passphrase is needed: public halves are in the clear.
Result<std::string> ringPublicKey(const std::string& ringPath, const std::string& id);

/// A project key ring file (veldctl keys); an empty ring when it is missing and `mayBeMissing`,
/// else NotFound.
Result<std::vector<projectkey::LockedKey>> readKeyRing(const std::string& path, bool mayBeMissing);

/// A key ring's passphrase: from the file `file` names (its first line), else the environment
/// variable VELD_KEY_PASSPHRASE, else asked for on the terminal without echo (`twice`: asked
/// again to confirm). Nothing when there is none; why goes to `err` as "veldctl COMMAND: ...".
/// The passphrase itself is never printed.
/// Asks on the terminal (prompt on stderr) and reads a line from stdin without echoing it.
std::string askHidden(const char* prompt);

std::optional<std::string> passphrase(const std::string& file, bool twice, std::string_view command,
                                      std::ostream& err);

/// The wall clock in ms since 1970, and a time as "2026-11-25T10:15:02Z" (UTC).
std::int64_t nowMs();
std::string utcTime(std::int64_t ms);

/// Small argument parser shared by the command groups: positional words and --name [value].
/// A progress line for a long command, drawn on `err` only when it is a terminal (a script or a
/// log gets nothing): "PREFIX: DONE of TOTAL records", redrawn in place at most once per
/// `intervalMs` (and always for the first and the last count).
class ProgressLine {
  public:
    ProgressLine(std::ostream& err, std::string prefix, bool terminal,
                 std::function<std::int64_t()> clockMs, std::int64_t intervalMs = 250);
    /// The count so far.
    void update(std::int64_t done, std::int64_t total);
    /// Ends the line, if one was drawn.
    void finish();

  private:
    std::ostream& m_err;
    std::string m_prefix;
    bool m_terminal;
    std::function<std::int64_t()> m_clock;
    std::int64_t m_interval;
    std::int64_t m_last = 0;
    bool m_drawn = false;
};

class Args {
  public:
    explicit Args(std::vector<std::string> args) : m_args(std::move(args)) {}
    /// Takes `--name VALUE`; false if absent. Sets `error` when the value is missing.
    bool option(const std::string& name, std::string& value);
    /// Takes `--name`; true if it was given.
    bool flag(const std::string& name);
    /// What remains after options were taken; any leftover `--x` is reported by unknownOption().
    std::vector<std::string> positionals() const;
    std::string unknownOption() const;
    std::string error;

  private:
    std::vector<std::string> m_args;
};

/// `store receipts` (its arguments after "receipts").
int storeReceiptsCommand(Args& args, std::ostream& out, std::ostream& err);

}  // namespace veld::veldctl
