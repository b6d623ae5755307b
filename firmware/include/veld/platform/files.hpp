// Files and folders, the same on Linux and Windows.
//
// Paths are UTF-8 std::string everywhere in Veld. On Windows these functions convert them to
// UTF-16 and use the wide (W) system calls, so Arabic and accented names work; std::fstream
// with a std::string path does not (it uses the ANSI code page there): open streams on
// `fsPath(path)` instead.
//
// "Private" is the equivalent of mode 0600 (folders 0700): on Linux the mode, on Windows a
// protected DACL that grants the current user (and nobody else) full access and inherits nothing.
// "Public" is 0644 on Linux and the folder's inherited ACL on Windows.
//
// The implementation is chosen by CMake: files_posix.cpp or files_windows.cpp; atomic_file.cpp
// is shared.
//
// Thread-safety: plain functions over the file system; a File is used by one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <veld/result.hpp>

namespace veld::platform {

/// The std::filesystem::path of a UTF-8 path (Unicode-safe on Windows too).
std::filesystem::path fsPath(std::string_view utf8);

/// The UTF-8 text of a path (Unicode-safe on Windows too).
std::string utf8Path(const std::filesystem::path& path);

enum class Access {
    Private,  // readable by the owner only: answers, keys, records files
    Public,   // readable by every user of the machine: settings, certificates
};

/// An open file. Moves; closes when it goes.
class File {
  public:
    enum class Create {
        Exclusive,  // fails (WrongState) when the file exists
        Truncate,   // made or emptied
        Keep,       // made when missing, otherwise opened as it is
    };

    /// Opens `path` for writing (and reading). A file it makes gets `access`; Truncate also
    /// narrows an existing file to `access`. Errors: NotFound (no folder), ReadOnly,
    /// StorageFull, WrongState (Exclusive and the file exists), Io.
    static Result<File> create(const std::string& path, Create how, Access access);

    /// Opens an existing regular file for reading: NotFound when missing, InvalidArgument when
    /// it is not a regular file.
    static Result<File> openRead(const std::string& path);

    File() = default;
    File(File&& other) noexcept;
    File& operator=(File&& other) noexcept;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    ~File();

    [[nodiscard]] bool isOpen() const { return m_handle != kNone; }
    [[nodiscard]] const std::string& path() const { return m_path; }

    /// Writes all of `bytes` at the current position.
    Status write(std::span<const std::uint8_t> bytes);
    Status write(std::string_view text);

    /// Reads up to `size` bytes at the current position; 0 at the end.
    Result<std::size_t> read(void* out, std::size_t size);

    /// The file's size in bytes.
    [[nodiscard]] Result<std::uint64_t> size() const;

    /// Flushes what was written to the disk (fsync; FlushFileBuffers on Windows).
    Status sync();

    /// Takes an exclusive lock on the file without waiting: true when taken, false when another
    /// holder (another program, or another File in this one) has it. The system lets go of it
    /// when the file is closed, however its program ends.
    Result<bool> tryLock();

    /// Closes the file, reporting a failed close (some file systems report write errors here).
    Status close();

  private:
    static constexpr std::intptr_t kNone = -1;
    File(std::intptr_t handle, std::string path) : m_handle(handle), m_path(std::move(path)) {}
    std::intptr_t m_handle = kNone;  // a descriptor on Linux, a HANDLE on Windows
    std::string m_path;
};

/// Renames `from` over `to` durably: when it returns, the new name survives a power cut
/// (rename and fsync of the folder; MoveFileExW with REPLACE_EXISTING | WRITE_THROUGH).
Status replaceFile(const std::string& from, const std::string& to);

/// Removes a file; a missing file is not an error.
Status removeFile(const std::string& path);

/// Makes the folder `path` private when it is missing (its parents too, also private); an
/// existing folder is left as it is. InvalidArgument when `path` is something else.
Status makePrivateFolder(const std::string& path);

/// Why a file or folder is not private: what is wrong ("may be read by others (mode 0644)")
/// and the command that fixes it ("chmod 600 PATH", or an icacls command on Windows).
struct PrivacyProblem {
    std::string what;
    std::string fix;
};

/// Why `path` (a file or a folder) is not private; nullopt when it is. NotFound when it is
/// missing. On Windows, access for SYSTEM and Administrators is allowed.
Result<std::optional<PrivacyProblem>> privacyProblem(const std::string& path);

/// Makes a new private folder in `parent` named `prefix` and six random letters, and returns
/// its path.
Result<std::string> makeUniquePrivateFolder(const std::string& parent, const std::string& prefix);

/// The user's home folder ($HOME; %USERPROFILE% on Windows); "." when unknown.
std::string homeFolder();

/// Run by root on Linux: gives the regular file `path` to the owner of its folder when they
/// differ, so what an administrator sets up in a user's folder stays usable by that user.
/// Nothing when not run by root, for a missing file, or on Windows.
Status giveToFolderOwner(const std::string& path);

/// Where Veld keeps its users' data: $XDG_DATA_HOME/veld (~/.local/share/veld when unset or
/// empty) on Linux, %LOCALAPPDATA%\Veld on Windows. Not made here.
std::string dataFolder();

/// Where an administrator or an installer leaves files for every user of the machine: /etc/veld
/// on Linux, %ProgramData%\Veld on Windows. Not made here.
std::string machineFolder();

/// Whether `path` belongs to the machine's administrators or to the user running the program:
/// root or this user on Linux; SYSTEM, Administrators, TrustedInstaller or this user on Windows.
/// A file another ordinary user made does not (nor one that cannot be looked at).
bool trustedOwner(const std::string& path);

/// Where the programs find the fonts they draw text with: /usr/share/fonts on Linux (Debian's
/// font packages); on Windows the folder `fonts` next to the program, where the installer puts
/// them.
std::string fontFolder();

/// A file written whole or not at all: it is written as `PATH.part`, and commit() flushes it
/// to disk and renames it over PATH (durably). Until then PATH is untouched; an AtomicFile that
/// goes without commit() (a failure, an exception) removes its .part.
class AtomicFile {
  public:
    /// Starts writing `path` (an old PATH.part is replaced). With `durable` false, commit()
    /// skips the flushes (for files that are rewritten many times a second and may be lost).
    static Result<AtomicFile> begin(const std::string& path, Access access, bool durable = true);

    AtomicFile(AtomicFile&& other) noexcept;
    AtomicFile& operator=(AtomicFile&&) = delete;
    AtomicFile(const AtomicFile&) = delete;
    ~AtomicFile();

    Status write(std::span<const std::uint8_t> bytes) { return m_file.write(bytes); }
    Status write(std::string_view text) { return m_file.write(text); }

    /// Flushes, closes and renames over the target; on failure the .part is removed.
    Status commit();

    [[nodiscard]] const std::string& partPath() const { return m_file.path(); }

  private:
    AtomicFile(File file, std::string target, bool durable)
        : m_file(std::move(file)), m_target(std::move(target)), m_durable(durable) {}
    File m_file;
    std::string m_target;
    bool m_durable = true;
    bool m_done = false;
};

/// Writes `bytes` to `path` whole or not at all (see AtomicFile).
Status writeFileAtomically(const std::string& path, std::string_view bytes, Access access);

/// Reads a regular file, at most `limit` + 1 bytes of it (so a caller sees that it is larger
/// than `limit` without reading all of a huge file).
Result<std::string> readFile(const std::string& path, std::size_t limit);

}  // namespace veld::platform
